"""Bad input never gives a traceback (issue 12, items 1 and 5-9).

The contract, checked for every row of ``CASES``: exit code 1; stderr is exactly ONE non-empty
line, starting with ``Error: `` and naming the offending key and value (the expected substrings,
matched case-insensitively; a tuple lists alternatives); no ``Traceback`` on stdout or stderr;
and nothing is written where it should not be: the tmp dir's files (names and bytes) are the same
before and after, except for paths a case declares in ``may_create`` / ``may_change``.

Every case runs ``python -m ebana.cli ARGV`` in a subprocess whose cwd is a fresh tmp dir.
``EBANA_SRC=/path/to/tree`` puts that tree on PYTHONPATH, so the same table runs against another
source tree. Every subprocess runs with an 8 GiB address-space limit, so a missing memory
estimate fails fast instead of taking the machine.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import cli_env

ROOT = Path(__file__).resolve().parents[1]
SRC = os.environ.get("EBANA_SRC")
IRIS_CSV = Path(SRC or ROOT) / "ebana" / "datasets" / "data" / "iris.csv"
DIODE_LIB = Path(SRC or ROOT) / "device_models" / "diodes" / "test_card.lib"
MNIST_DIR = Path(os.environ.get("EBANA_DATA_DIR", ROOT.parent / "shared" / "data"))
HAVE_MNIST = any((MNIST_DIR / f"train-images-idx3-ubyte{s}").exists() for s in ("", ".gz"))
IS_ROOT = os.geteuid() == 0
MEMORY_LIMIT = 8 * 2**30
NOWRITE = "/sys/ebana-test-not-writable"   # mkdir fails there even for root (EPERM/EACCES)
FORBIDDEN = ("traceback", "allow_pickle", "unsafely")


# ---------------------------------------------------------------------- running the CLI


@dataclass
class Result:
    rc: int | None      # None: timed out (the process group was killed)
    out: str
    err: str
    seconds: float

    def __str__(self) -> str:
        return f"exit {self.rc} after {self.seconds:.1f} s\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(argv, cwd, timeout: float = 60) -> Result:
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ebana.cli", *argv], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                            errors="replace", start_new_session=True, preexec_fn=_limit_memory)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        rc = None
    return Result(rc, out, err, time.monotonic() - t0)


def assert_one_line_error(res: Result, expect=()) -> str:
    """Exit 1, exactly one non-empty stderr line ``Error: ...`` holding every expected item."""
    assert res.rc is not None, f"timed out:\n{res}"
    assert res.rc == 1, f"expected exit code 1:\n{res}"
    both = (res.out + res.err).lower()
    for bad in FORBIDDEN:
        assert bad not in both, f"{bad!r} in the output:\n{res}"
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected exactly one non-empty stderr line, got {len(lines)}:\n{res}"
    line = lines[0]
    assert line.startswith("Error: "), f"stderr line does not start with 'Error: ':\n{res}"
    msg = line[len("Error: "):].lower()
    for item in expect:
        alts = (item,) if isinstance(item, str) else tuple(item)
        assert any(mentions(msg, a) for a in alts), \
            f"error line does not mention {' or '.join(map(repr, alts))}: {line!r}"
    return line


def mentions(msg: str, token: str) -> bool:
    """``token`` occurs in ``msg`` as a whole token (not inside a longer word or number)."""
    return re.search(rf"(?<![a-z0-9_]){re.escape(token.lower())}(?![a-z0-9_])", msg) is not None


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (files) or 'dir', hidden entries included."""
    out: dict[str, str] = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            out[rel + "/"] = "dir"
        for name in filenames:
            p = Path(dirpath, name)
            try:
                out[os.path.relpath(p, root)] = hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError:
                out[os.path.relpath(p, root)] = "unreadable"
    return out


def _allowed(path: str, patterns) -> bool:
    return any(fnmatch.fnmatch(path.rstrip("/"), pat) for pat in patterns)


def assert_nothing_written(before: dict, after: dict, may_create=(), may_change=()) -> None:
    created = sorted(p for p in after if p not in before and not _allowed(p, may_create))
    removed = sorted(p for p in before if p not in after and not _allowed(p, may_change))
    changed = sorted(p for p in before if p in after and before[p] != after[p] and not _allowed(p, may_change))
    assert not created, f"written where it should not be: {created}"
    assert not removed, f"removed: {removed}"
    assert not changed, f"modified: {changed}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------- shared runs (session)
@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """A finished and an interrupted ``ebana train iris`` run, made once and copied into cases."""
    base = tmp_path_factory.mktemp("bad-input-runs")
    res = run_cli(["train", "iris", "--epochs", "1", "--quiet", "--out", "done"], base)
    assert res.rc == 0 and (base / "done" / "checkpoint.npz").exists(), f"cannot make a finished run:\n{res}"
    # interrupted run: SIGINT once the first epoch's checkpoint exists
    proc = subprocess.Popen([sys.executable, "-m", "ebana.cli", "train", "iris", "--epochs", "100", "--quiet",
                             "--out", "irun"], cwd=base, env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    t0 = time.monotonic()
    while not (base / "irun" / "checkpoint.npz").exists() and proc.poll() is None and time.monotonic() - t0 < 60:
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    ok = proc.returncode == 130 and (base / "irun" / "checkpoint.npz").exists()
    return {"done": base / "done", "irun": base / "irun" if ok else None, "irun_err": err}


Setup = Callable[[Path, dict], None]


def chain(*steps: Setup) -> Setup:
    def run(tmp: Path, fx: dict) -> None:
        for s in steps:
            s(tmp, fx)
    return run


def write(name: str, content: str | bytes) -> Setup:
    def run(tmp: Path, fx: dict) -> None:
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        data = content.replace("{tmp}", str(tmp)) if isinstance(content, str) else content
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return run


def mkdir(name: str, mode: int | None = None) -> Setup:
    def run(tmp: Path, fx: dict) -> None:
        (tmp / name).mkdir(parents=True, exist_ok=True)
        if mode is not None:
            os.chmod(tmp / name, mode)
    return run


def chmod(name: str, mode: int) -> Setup:
    return lambda tmp, fx: os.chmod(tmp / name, mode)


def iris_csv(name: str = "iris.csv") -> Setup:
    return lambda tmp, fx: shutil.copyfile(IRIS_CSV, tmp / name)


def copy_run(dest: str, which: str = "done") -> Setup:
    def run(tmp: Path, fx: dict) -> None:
        src = fx[which]
        if src is None:
            pytest.fail(f"the session fixture could not make an interrupted run: {fx['irun_err'][-2000:]}")
        (tmp / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, tmp / dest)
    return run


def edit(name: str, old: str, new: str) -> Setup:
    def run(tmp: Path, fx: dict) -> None:
        p = tmp / name
        text = p.read_text()
        assert old in text, f"{old!r} not in {p}"
        p.write_text(text.replace(old, new, 1))
    return run


def bad_checkpoint(kind: str, dest: str) -> Setup:
    """Write a broken checkpoint: zero bytes, truncated, random bytes, a CSV, an npz without keys."""
    def run(tmp: Path, fx: dict) -> None:
        p = tmp / dest
        p.parent.mkdir(parents=True, exist_ok=True)
        good = (fx["done"] / "checkpoint.npz").read_bytes()
        if kind == "zero":
            p.write_bytes(b"")
        elif kind == "truncated":
            p.write_bytes(good[: len(good) // 2])
        elif kind == "random":
            p.write_bytes(random.Random(12).randbytes(4096))
        elif kind == "csv":
            p.write_bytes(IRIS_CSV.read_bytes())
        elif kind == "nokeys":
            import numpy as np
            with open(p, "wb") as fh:
                np.savez(fh, a=np.arange(3))
        elif kind == "nan":   # a real checkpoint whose first conductance is NaN
            import io
            import numpy as np
            with np.load(io.BytesIO(good), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            arrays["g0"] = arrays["g0"].copy()
            arrays["g0"][0, 0] = np.nan
            with open(p, "wb") as fh:
                np.savez(fh, **arrays)
        else:  # pragma: no cover
            raise ValueError(kind)
    return run


def run_with_bad_checkpoint(kind: str, dest: str) -> Setup:
    def run(tmp: Path, fx: dict) -> None:
        copy_run(dest)(tmp, fx)
        (tmp / dest / "checkpoint.npz").unlink()
        bad_checkpoint(kind, f"{dest}/checkpoint.npz")(tmp, fx)
    return run


EXP = 'name = "t"\nseeds = [0]\n\n[base]\ndataset = "iris"\nepochs = 1\n'
"""A valid one-run experiment (top-level keys must be prepended, tables appended)."""
SWEEP = ["sweep", "a/b/exp.toml"]   # the sweep directory is a/b/exp: "../../x.png" is tmp/a/x.png


def experiment(text: str) -> Setup:
    return write("a/b/exp.toml", text)


# ---------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    expect: tuple = ()              # substrings of the error line (str, or tuple of alternatives)
    setup: Setup | None = None
    may_create: tuple[str, ...] = ()
    may_change: tuple[str, ...] = ()
    timeout: float = 60
    max_seconds: float | None = None
    needs: tuple[str, ...] = ()     # "mnist", "nonroot", "dask", "linux"


def C(id: str, argv, *expect, **kw) -> Case:
    return Case(id, tuple(argv), tuple(expect), **kw)


TRAIN = ["train", "iris", "--epochs", "1", "--quiet"]
ML_CSV = "f0,f1,a,b\n0.1,0.2,0,1\n0.3,0.1,1,1\n0.5,0.9,0,0\n0.7,0.4,1,2\n"
"""A multi-label table whose label column b holds a 2 on line 5."""
DEV = [*TRAIN, "--device", "ideal"]
NETLIST = ["netlist", "--phase", "nudged", "--out", "a.cir"]
R_RATIO = ("r_ratio", "r-ratio")
CKPT = ("checkpoint", "checkpoints")

CASES = [
    # --- item 5: run directories are protected; --resume refuses changed options
    C("rundir-finished-out", [*TRAIN, "--out", "done_run"], "done_run", setup=copy_run("done_run")),
    C("rundir-finished-other-seed", [*TRAIN, "--seed", "3", "--out", "done_run"], "done_run",
      setup=copy_run("done_run")),
    C("rundir-finished-default", TRAIN, "iris-seed0", setup=copy_run("runs/iris-seed0")),
    C("rundir-interrupted-no-resume", ["train", "iris", "--epochs", "100", "--quiet", "--out", "irun"], "irun",
      setup=copy_run("irun", "irun")),
    C("resume-changed-lr", ["train", "--resume", "--out", "irun", "--lr", "1e-3"], "lr",
      setup=copy_run("irun", "irun")),
    # --- the [train] section (trainable circuit parameters, per-crossbar lr and freezing)
    C("train-trainable-unknown", [*TRAIN, "--set", 'train.trainable=["bias"]'], "train.trainable", "bias"),
    C("train-trainable-not-a-list", [*TRAIN, "--set", "train.trainable=gain"], "train.trainable", "gain"),
    C("train-layer-lr-length", [*TRAIN, "--set", "train.layer_lr=[1.0]"], "train.layer_lr", "[1.0]"),
    C("train-freeze-crossbar-beyond", [*TRAIN, "--set", 'train.freeze=["crossbar9"]'], "train.freeze", "crossbar9"),
    C("train-lr-gain-negative", [*TRAIN, "--set", "train.lr_gain=-1"], "train.lr_gain", "-1"),
    C("train-lr-bias-current-negative", [*TRAIN, "--set", "train.lr_bias_current=-1e-7"], "train.lr_bias_current",
      "-1e-07"),
    C("train-lr-bias-current-nan", [*TRAIN, "--set", "train.lr_bias_current=nan"], "train.lr_bias_current", "nan"),
    C("train-trainable-bias-currents-typo", [*TRAIN, "--set", 'train.trainable=["bias_currents"]'], "train.trainable",
      "bias_currents"),
    C("circuit-i-bias-length", [*TRAIN, "--set", "circuit.i_bias=[0.0, 1e-6]"], "circuit.i_bias", "2 currents"),
    C("circuit-i-bias-huge", [*TRAIN, "--set", "circuit.i_bias=[5.0]"], "circuit.i_bias[0]", "5.0"),
    C("resume-changed-seed", ["train", "--resume", "--out", "irun", "--seed", "5"], "seed",
      setup=copy_run("irun", "irun")),
    C("resume-changed-set", ["train", "--resume", "--out", "irun", "--set", "circuit.gain=10"], "circuit.gain",
      setup=copy_run("irun", "irun")),
    C("resume-changed-dataset", ["train", "digits", "--resume", "--out", "irun"], ("dataset", "digits"),
      setup=copy_run("irun", "irun")),
    C("resume-edited-config-toml", ["train", "--resume", "--out", "irun", "--quiet"], ("config.toml", "epochs"),
      setup=chain(copy_run("irun", "irun"), edit("irun/config.toml", "epochs = 100", "epochs = 7"))),
    C("resume-no-dir", ["train", "--resume", "--out", "nodir"], "nodir"),
    C("resume-empty-dir", ["train", "--resume", "--out", "emptydir"], "emptydir", setup=mkdir("emptydir")),

    # --- item 6: non-finite and wrongly typed values are refused up front
    C("beta-inf", [*TRAIN, "--beta", "inf"], "beta", "inf"),
    C("beta-nan", [*TRAIN, "--beta", "nan"], "beta", "nan"),
    C("beta-negative", [*TRAIN, "--beta", "-1"], "beta", "-1"),
    C("beta-too-large-one-sided", [*TRAIN, "--one-sided", "--beta", "1e-5"], "beta", "1e-05", "one-sided"),
    C("augment-shift-negative", [*TRAIN, "--augment-shift", "-1"], "augment_shift", "-1"),
    C("augment-shift-tabular", [*TRAIN, "--augment-shift", "1"], "augment_shift", "encoding"),
    C("augment-shift-too-large", ["train", "digits", "--epochs", "1", "--quiet", "--augment-shift", "8"],
      "augment_shift", "8", "8x8"),
    C("gain-nan", [*TRAIN, "--set", "circuit.gain=nan"], "circuit.gain", "nan"),
    C("gain-inf", [*TRAIN, "--set", "circuit.gain=inf"], "circuit.gain", "inf"),
    C("v_th-nan", [*TRAIN, "--set", "circuit.diode.v_th=nan"], "circuit.diode.v_th", "nan"),
    C("bias_input-nan", [*TRAIN, "--set", "circuit.bias_input=[nan, 0.3]"], "circuit.bias_input", "nan"),
    C("epochs-inf", ["train", "iris", "--quiet", "--set", "epochs=inf"], "epochs", "inf", timeout=30),
    C("epochs-float", ["train", "iris", "--quiet", "--set", "epochs=1.5"], "epochs", "1.5"),
    C("epochs-bool", ["train", "iris", "--quiet", "--set", "epochs=true"], "epochs", "true"),
    C("epochs-string", ["train", "iris", "--quiet", "--set", 'epochs="5"'], "epochs", "5"),
    C("epochs-zero", ["train", "iris", "--quiet", "--epochs", "0"], "epochs", "0"),
    C("hidden-float", [*TRAIN, "--set", "hidden=[2.7]"], "hidden", "2.7"),
    C("netlist-beta-nan", [*NETLIST, "--beta", "nan"], "beta", "nan"),
    C("netlist-beta-inf", [*NETLIST, "--beta", "inf"], "beta", "inf"),
    C("netlist-beta-zero", [*NETLIST, "--beta", "0"], "beta", "0"),
    C("netlist-beta-negative", [*NETLIST, "--beta", "-1"], "beta", "-1"),
    C("device-v_set-1000", [*DEV, "--set", "device.v_set=1000"], "device.v_set", "1000"),
    C("device-t_clock-nan", [*DEV, "--set", "device.t_clock=nan"], "device.t_clock", "nan"),
    C("out-empty", [*TRAIN, "--out", ""], "out"),
    C("netlist-out-empty", ["netlist", "--out", ""], "out"),

    # --- more non-finite / wrongly typed keys (added)
    C("lr-nan", [*TRAIN, "--lr", "nan"], "lr", "nan"),
    C("lr-inf", [*TRAIN, "--lr", "inf"], "lr", "inf"),
    C("lr-string", [*TRAIN, "--set", "lr=abc"], "lr", "abc"),
    C("tau-nan", [*TRAIN, "--set", "tau=nan"], "tau", "nan"),
    C("test_fraction-nan", [*TRAIN, "--set", "test_fraction=nan"], "test_fraction", "nan"),
    C("g_min-nan", [*TRAIN, "--set", "circuit.g_min=nan"], "circuit.g_min", "nan"),
    C("g_min-string", [*TRAIN, "--set", "circuit.g_min=abc"], "circuit.g_min", "abc"),
    C("v_scale-inf", [*TRAIN, "--set", "circuit.v_scale=inf"], "circuit.v_scale", "inf"),
    C("v_clamp_low-nan", [*TRAIN, "--set", "circuit.v_clamp_low=nan"], "circuit.v_clamp_low", "nan"),
    C("bias_hidden-string", [*TRAIN, "--set", "circuit.bias_hidden=abc"], "circuit.bias_hidden", "abc"),
    C("diode-table-int", [*TRAIN, "--set", "circuit.diode=5"], "circuit.diode", "5"),
    C("diode-model-int", [*TRAIN, "--set", "circuit.diode.model=5"], "circuit.diode.model", "5"),
    C("diode-lib-missing", [*TRAIN, "--set", "circuit.diode.model=shockley", "--set", "circuit.diode.lib=no.lib",
                            "--set", "circuit.diode.card=d1"], "circuit.diode.lib", "no.lib"),
    C("diode-lib-no-card", [*TRAIN, "--set", "circuit.diode.model=shockley", "--set", "circuit.diode.lib=x.lib"],
      "circuit.diode.card", "x.lib"),
    C("diode-card-unknown", [*TRAIN, "--set", "circuit.diode.model=shockley", "--set",
                             f"circuit.diode.lib={DIODE_LIB}", "--set", "circuit.diode.card=nope"],
      "circuit.diode.card", "nope"),
    C("diode-card-ikf", [*TRAIN, "--set", "circuit.diode.model=shockley", "--set", f"circuit.diode.lib={DIODE_LIB}",
                         "--set", "circuit.diode.card=DBAD"], "DBAD", "IKF"),
    C("diode-lib-ideal", [*TRAIN, "--set", f"circuit.diode.lib={DIODE_LIB}", "--set", "circuit.diode.card=DTEST"],
      "circuit.diode.model", "ideal"),
    C("diode-r_s-negative", [*TRAIN, "--set", "circuit.diode.r_s=-1"], "circuit.diode.r_s", "-1"),
    C("init_high-inf", [*TRAIN, "--set", "init_high=inf"], "init_high", "inf"),
    C("max_sweeps-float", [*TRAIN, "--set", "max_sweeps=1.5"], "max_sweeps", "1.5"),
    C("verify_every-float", [*TRAIN, "--set", "verify_every=1.5"], "verify_every", "1.5"),
    C("verify_every-negative", [*TRAIN, "--verify-every", "-1"], ("verify_every", "verify-every"), "-1"),
    C("verify_tol-nan", [*TRAIN, "--set", "verify_tol=nan"], "verify_tol", "nan"),
    C("limit_train-float", [*TRAIN, "--set", "limit_train=2.5"], "limit_train", "2.5"),
    C("seed-float", [*TRAIN, "--set", "seed=1.5"], "seed", "1.5"),
    C("seed-string", [*TRAIN, "--set", "seed=abc"], "seed", "abc"),
    C("batch_size-bool", [*TRAIN, "--set", "batch_size=true"], "batch_size", "true"),
    C("batch_size-zero", [*TRAIN, "--batch-size", "0"], ("batch_size", "batch-size"), "0"),
    C("centered-string", [*TRAIN, "--set", 'centered="yes"'], "centered", "yes"),
    C("dtype-unknown", [*TRAIN, "--set", "dtype=float16"], "dtype", "float16"),
    C("lr_schedule-int", [*TRAIN, "--set", "lr_schedule=5"], "lr_schedule", "5"),
    C("loss-int", [*TRAIN, "--set", "loss=5"], "loss", "5"),
    C("backend-int", [*TRAIN, "--set", "backend=5"], "backend", "5"),
    C("skips-string", [*TRAIN, "--set", "skips=abc"], "skips", "abc"),
    C("hidden-negative", [*TRAIN, "--set", "hidden=[-3]"], "hidden", "-3"),
    C("device-table-int", [*TRAIN, "--set", "device=5"], "device", "5"),
    C("device-model-int", [*TRAIN, "--set", "device.model=5"], "device.model", "5"),
    C("device-c2c-nan", [*DEV, "--set", "device.c2c=nan"], "device.c2c", "nan"),
    C("device-d2d-inf", [*DEV, "--set", "device.d2d=inf"], "device.d2d", "inf"),
    C("device-t_max-nan", [*DEV, "--set", "device.t_max=nan"], "device.t_max", "nan"),
    C("device-v_reset-minus-inf", [*DEV, "--set", "device.v_reset=-inf"], "device.v_reset", "inf"),
    C("device-pam_levels-float", [*DEV, "--set", "device.pam_levels=2.5"], "device.pam_levels", "2.5"),
    C("device-energy-string", [*DEV, "--set", 'device.energy="yes"'], "device.energy", "yes"),

    # --- issue 15 item 7: programming through a passive array
    C("line-compensation-unknown", [*TRAIN, "--set", "circuit.line_compensation=column_gain"],
      "circuit.line_compensation", "column_gain"),
    C("line-compensation-int", [*TRAIN, "--set", "circuit.line_compensation=1"], "circuit.line_compensation", "1"),
    C("line-compensation-max-below-1", [*TRAIN, "--set", "circuit.r_wordline=1", "--set",
                                        "circuit.line_compensation=row_drive", "--set", "circuit.line_compensation_max=0.5"],
      "circuit.line_compensation_max", "0.5"),
    C("line-compensation-max-nan", [*TRAIN, "--set", "circuit.r_wordline=1", "--set", "circuit.line_compensation=row_drive",
                                    "--set", "circuit.line_compensation_max=nan"], "circuit.line_compensation_max", "nan"),
    C("line-compensation-max-without-row-drive", [*TRAIN, "--set", "circuit.line_compensation_max=4"],
      "circuit.line_compensation_max", "4", "row_drive"),
    C("line-driver-over-segment", [*TRAIN, "--set", "circuit.r_wordline=1", "--set", "circuit.r_driver=1e6"],
      "circuit.r_driver", "1e+06", "circuit.r_wordline"),
    C("line-sense-over-segment", [*TRAIN, "--set", "circuit.r_bitline=0.01", "--set", "circuit.r_sense=1000"],
      "circuit.r_sense", "1000", "circuit.r_bitline"),
    C("array-scheme-unknown", [*DEV, "--set", "device.array_scheme=row_v4"], "device.array_scheme", "row_v4"),
    C("array-scheme-int", [*DEV, "--set", "device.array_scheme=3"], "device.array_scheme", "3"),
    C("array-scheme-no-device", [*TRAIN, "--set", "device.array_scheme=row_v2"], "device.array_scheme", "row_v2",
      "device model"),
    C("array-scheme-outer-pam", [*DEV, "--scheme", "pam", "--set", "device.array_scheme=outer_product"],
      "device.array_scheme", "outer_product", "pam"),
    C("array-bl-zero", [*DEV, "--set", "device.array_scheme=outer_product", "--set", "device.array_bl=0"],
      "device.array_bl", "0"),
    C("array-rank-float", [*DEV, "--set", "device.array_rank=1.5"], "device.array_rank", "1.5"),
    C("config-array-scheme-unknown", ["train", "--quiet", "--config", "c.toml"], "device.array_scheme", "v2",
      setup=write("c.toml", 'dataset = "iris"\nepochs = 1\n[device]\nmodel = "vteam"\narray_scheme = "v2"\n')),
    C("pam_pulses-zero", [*DEV, "--scheme", "pam", "--pam-pulses", "0"], ("pam_pulses", "pam-pulses"), "0"),
    C("pam_frequency-below-one", [*DEV, "--scheme", "pam", "--set", "device.pam_frequency=0.5"],
      "device.pam_frequency", "0.5"),
    C("pam_frequency-with-pwm", [*DEV, "--scheme", "pwm", "--set", "device.pam_frequency=3"],
      "device.pam_frequency", "3"),
    C("gamma-nan", [*DEV, "--algorithm", "residual", "--gamma", "nan"], "gamma", "nan"),
    C("transfer_rate-inf", [*DEV, "--algorithm", "residual", "--transfer-rate", "inf"],
      ("transfer_rate", "transfer-rate"), "inf"),
    C("threshold-nan", [*DEV, "--algorithm", "mixed_precision", "--threshold", "nan"], "threshold", "nan"),

    # --- item 8: values that gave tracebacks
    C("batch_size-float", [*TRAIN, "--set", "batch_size=2.5"], "batch_size", "2.5"),
    C("hidden-string", [*TRAIN, "--set", "hidden=abc"], "hidden", "abc"),
    C("circuit-int", [*TRAIN, "--set", "circuit=5"], "circuit", "5"),
    C("g_max-inf", [*TRAIN, "--set", "circuit.g_max=inf"], "circuit.g_max", "inf"),
    C("seed-negative", [*TRAIN, "--seed", "-1"], "seed", "-1"),
    C("netlist-seed-negative", ["netlist", "--seed", "-1", "--out", "a.cir"], "seed", "-1"),
    C("out-below-a-file", [*TRAIN, "--out", "existing_file/sub"], "existing_file",
      setup=write("existing_file", "x\n")),
    C("netlist-out-below-a-file", ["netlist", "--out", "existing_file/a.cir"], "existing_file",
      setup=write("existing_file", "x\n")),
    C("devices-out-below-a-file", ["devices", "iv", "ideal", "--out", "existing_file/figs"], "existing_file",
      setup=write("existing_file", "x\n")),
    C("sweep-out-below-a-file", [*SWEEP, "--out", "existing_file/sw"], "existing_file",
      setup=chain(write("existing_file", "x\n"), experiment(EXP))),
    C("out-not-writable", [*TRAIN, "--out", "rodir/run"], "rodir", setup=mkdir("rodir", 0o555), needs=("nonroot",)),
    C("resume-not-writable", ["train", "--resume", "--out", "ro_run"], "ro_run",
      setup=chain(copy_run("ro_run", "irun"), chmod("ro_run", 0o555)), needs=("nonroot",)),
    C("netlist-out-not-writable", ["netlist", "--out", "rodir/a.cir"], "rodir", setup=mkdir("rodir", 0o555),
      needs=("nonroot",)),
    C("devices-out-not-writable", ["devices", "iv", "ideal", "--out", "rodir/figs"], "rodir",
      setup=mkdir("rodir", 0o555), needs=("nonroot",)),
    C("out-in-sys", [*TRAIN, "--out", f"{NOWRITE}/run"], NOWRITE, needs=("linux",)),
    C("netlist-out-in-sys", ["netlist", "--out", f"{NOWRITE}/a.cir"], NOWRITE, needs=("linux",)),
    C("devices-out-in-sys", ["devices", "iv", "ideal", "--out", NOWRITE], NOWRITE, needs=("linux",)),
    C("mnist-hidden-1e6", ["train", "mnist", "--data-dir", "{mnist}", "--hidden", "1000000", "--epochs", "1",
                           "--quiet"], "memory", needs=("mnist",)),
    C("netlist-mnist-hidden-1e6", ["netlist", "--dataset", "mnist", "--data-dir", "{mnist}", "--hidden",
                                   "1000000", "--out", "a.cir"], "memory", needs=("mnist",)),
    C("mnist-no-data-dir", ["train", "mnist", "--data-dir", "nodir", "--epochs", "1", "--quiet"], "nodir"),
    C("mnist-empty-files", ["train", "mnist", "--data-dir", "mnbad", "--epochs", "1", "--quiet"], "mnbad",
      setup=chain(*(write(f"mnbad/{n}", b"") for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")))),

    # --- bad --config files
    C("config-binary", [*TRAIN, "--config", "bin.toml"], "bin.toml",
      setup=write("bin.toml", bytes(range(256)) * 4)),
    C("config-not-utf8", [*TRAIN, "--config", "latin1.toml"], "latin1.toml",
      setup=write("latin1.toml", b"epochs = 1 # caf\xe9 \xff\xfe\n")),
    C("config-syntax", [*TRAIN, "--config", "syntax.toml"], "syntax.toml", setup=write("syntax.toml", "epochs = \n")),
    C("config-missing", [*TRAIN, "--config", "missing.toml"], "missing.toml"),
    C("config-is-csv", [*TRAIN, "--config", "iris.csv"], "iris.csv", setup=iris_csv()),
    C("config-dataset-int", ["train", "--quiet", "--config", "c.toml"], "dataset", "5",
      setup=write("c.toml", "dataset = 5\nepochs = 1\n")),
    C("config-epochs-string", ["train", "--quiet", "--config", "c.toml"], "epochs", "ten",
      setup=write("c.toml", 'epochs = "ten"\n')),
    C("config-unknown-key", ["train", "--quiet", "--config", "c.toml"], "epoch",
      setup=write("c.toml", "epoch = 3\n")),
    C("config-circuit-int", ["train", "--quiet", "--config", "c.toml"], "circuit", "5",
      setup=write("c.toml", "epochs = 1\ncircuit = 5\n")),
    C("config-gain-nan", ["train", "--quiet", "--config", "c.toml"], "circuit.gain", "nan",
      setup=write("c.toml", "epochs = 1\n[circuit]\ngain = nan\n")),
    C("config-hidden-string", ["train", "--quiet", "--config", "c.toml"], "hidden", "abc",
      setup=write("c.toml", 'epochs = 1\nhidden = "abc"\n')),
    C("config-batch_size-float", ["train", "--quiet", "--config", "c.toml"], "batch_size", "2.5",
      setup=write("c.toml", "epochs = 1\nbatch_size = 2.5\n")),
    C("config-device-v_set-inf", ["train", "--quiet", "--config", "c.toml"], "device.v_set", "inf",
      setup=write("c.toml", 'epochs = 1\n[device]\nmodel = "ideal"\nv_set = inf\n')),

    # --- item 9: unclear messages
    C("r-ratio-inf", [*TRAIN, "--r-ratio", "inf"], R_RATIO, "inf"),
    C("r-ratio-nan", [*TRAIN, "--r-ratio", "nan"], R_RATIO, "nan"),
    C("dataset-is-directory", ["train", "adir.csv", "--epochs", "1", "--quiet"], "adir.csv",
      ("directory", "not a file"), setup=mkdir("adir.csv")),
    # --- multi-label CSV outputs (label_columns)
    *(C(f"label-columns-{k}", ["train", "m.csv", "--loss", "bce", "--label-columns", cols, "--epochs", "1",
                                "--quiet"], "label_columns", value, setup=write("m.csv", ML_CSV))
      for k, cols, value in (("not-binary", "a,b", "'2'"), ("missing", "a,zz", "'zz'"), ("one", "a", "'a'"))),
    C("label-columns-needs-bce", ["train", "m.csv", "--label-columns", "a,b", "--epochs", "1", "--quiet"],
      "label_columns", "loss", "'ce'", setup=write("m.csv", ML_CSV)),

    # --- bad checkpoints: --resume, netlist --checkpoint, inspect
    *(C(f"resume-checkpoint-{k}", ["train", "--resume", "--out", "r"], CKPT,
        setup=run_with_bad_checkpoint(k, "r")) for k in ("zero", "truncated", "random", "csv", "nokeys")),
    *(C(f"netlist-checkpoint-{k}", ["netlist", "--checkpoint", "bad.npz", "--out", "a.cir"], "bad.npz",
        setup=bad_checkpoint(k, "bad.npz")) for k in ("zero", "truncated", "random", "csv", "nokeys")),
    *(C(f"inspect-checkpoint-{k}", ["inspect", "bad.npz"], "bad.npz", setup=bad_checkpoint(k, "bad.npz"))
      for k in ("zero", "truncated", "random", "csv", "nokeys")),
    C("inspect-checkpoint-nan-conductance", ["inspect", "bad.npz"], ("conductance", "conductances"), setup=bad_checkpoint("nan", "bad.npz")),
    C("netlist-checkpoint-run-dir-zero", ["netlist", "--checkpoint", "r", "--out", "a.cir"], CKPT,
      setup=run_with_bad_checkpoint("zero", "r")),

    # --- inspect on things that are neither netlists nor checkpoints
    C("inspect-binary-cir", ["inspect", "blob.cir"], "blob.cir",
      setup=write("blob.cir", random.Random(3).randbytes(2048) + b"\x00")),
    C("inspect-binary-file", ["inspect", "blob.bin"], "blob.bin", setup=write("blob.bin", random.Random(4).randbytes(2048))),
    C("inspect-csv", ["inspect", "iris.csv"], "iris.csv", setup=iris_csv()),
    C("inspect-empty-dir", ["inspect", "emptydir"], "emptydir", setup=mkdir("emptydir")),

    # --- issue 18: energy keys, ebana report, ebana doctor
    C("energy-t_settle-negative", [*TRAIN, "--set", "energy.t_settle=-1e-9"], "energy.t_settle", "-1e-09"),
    C("energy-e_adc-nan", [*TRAIN, "--set", "energy.e_adc=nan"], "energy.e_adc", "nan"),
    C("energy-program-unknown", [*TRAIN, "--set", "energy.program=column"], "energy.program", "column"),
    C("energy-nodes_per_adc-float", [*TRAIN, "--set", "energy.nodes_per_adc=1.5"], "energy.nodes_per_adc", "1.5"),
    C("energy-unknown-key", [*TRAIN, "--set", "energy.t_setle=1e-7"], "energy.t_setle", "energy.t_settle"),
    C("energy-program-pulses-without-device", [*TRAIN, "--set", "energy.program=pulses"], "energy.program",
      "pulses", "device.model"),
    # --- issue 19: conv layers, initialisers, early stopping
    C("conv-kernel-zero", [*TRAIN, "--set", "conv=conv2k0"], "conv", "conv2k0"),
    C("init-unknown", [*TRAIN, "--set", "init=xavier"], "init", "xavier", "glorot"),
    C("early-stop-patience-negative", [*TRAIN, "--set", "early_stop_patience=-1"], "early_stop_patience", "-1"),
    # --- issue 16: the realistic_chip preset
    C("nonideal-preset-unknown", [*TRAIN, "--set", "nonideal.preset=realistic"], "nonideal.preset", "realistic_chip"),
    # --- issue 16: [nonideal]
    C("nonideal-stuck-fraction-above-1", [*TRAIN, "--set", "nonideal.stuck_on=1.5"], "nonideal.stuck_on", "1.5"),
    C("nonideal-stuck-sum-above-1", [*TRAIN, "--set", "nonideal.stuck_on=0.6", "--set", "nonideal.stuck_off=0.6"],
      "nonideal.stuck_on", "nonideal.stuck_off"),
    C("nonideal-d2d-negative", [*TRAIN, "--set", "device.model=vteam", "--set", "nonideal.d2d=-0.1"],
      "nonideal.d2d", "-0.1"),
    C("nonideal-tau-negative", [*TRAIN, "--set", "nonideal.retention_tau=-1"], "nonideal.retention_tau", "-1"),
    C("nonideal-read-noise-nan", [*TRAIN, "--set", "nonideal.read_noise=nan"], "nonideal.read_noise", "nan"),
    C("nonideal-adc-bits-zero", [*TRAIN, "--set", "nonideal.adc_bits=0"], "nonideal.adc_bits", "0"),
    C("nonideal-c2c-without-device", [*TRAIN, "--set", "nonideal.c2c=0.1"], "nonideal.c2c", "device model"),
    C("nonideal-unknown-key", [*TRAIN, "--set", "nonideal.stuck=0.1"], "nonideal.stuck", "nonideal.stuck_on"),
    C("report-missing-dir", ["report", "nowhere"], "nowhere", "not a directory"),
    C("report-on-a-file", ["report", "iris.csv"], "iris.csv", "not a directory", setup=iris_csv()),
    C("report-out-empty", ["report", "emptydir", "--out", ""], "--out", setup=mkdir("emptydir")),
    C("doctor-data-dir-is-a-file", ["doctor", "--data-dir", "iris.csv"], "iris.csv", setup=iris_csv()),

    # --- devices
    C("devices-unknown-model", ["devices", "iv", "nope", "--out", "figs"], "nope"),
    C("devices-unknown-param", ["devices", "iv", "ideal", "--param", "bogus=1", "--out", "figs"], "bogus"),
    C("devices-amplitude-nan", ["devices", "iv", "ideal", "--amplitude", "nan", "--out", "figs"], "amplitude", "nan"),
    C("devices-frequency-inf", ["devices", "iv", "ideal", "--frequency", "inf", "--out", "figs"], "frequency", "inf"),
    C("devices-cycles-zero", ["devices", "iv", "ideal", "--cycles", "0", "--out", "figs"], "cycles", "0"),
    C("devices-x0-2", ["devices", "iv", "ideal", "--x0", "2", "--out", "figs"], "x0", "2"),
    C("devices-pulse-v-set-nan", ["devices", "pulse", "ideal", "--v-set", "nan", "--out", "figs"],
      ("v_set", "v-set"), "nan"),
    C("devices-pulse-width-negative", ["devices", "pulse", "ideal", "--width", "-1", "--out", "figs"],
      ("width", "t_pulse"), "-1"),
    C("devices-response-unknown-preset", ["devices", "response", "soft_bounds_power", "--preset", "nope",
                                          "--out", "figs"], "nope"),

    # --- item 7 and 8: experiment files for `ebana sweep` (refused before any run starts)
    C("sweep-cases-string", SWEEP, "cases", "abc", setup=experiment('cases = "abc"\n' + EXP)),
    C("sweep-cases-int-list", SWEEP, "cases", "5", setup=experiment("cases = [5]\n" + EXP)),
    C("sweep-base-string", SWEEP, "base", "iris", setup=experiment('name = "t"\nbase = "iris"\n')),
    C("sweep-figures-string", SWEEP, "figures", "abc", setup=experiment('figures = "abc"\n' + EXP)),
    C("sweep-figures-int-list", SWEEP, "figures", "5", setup=experiment("figures = [5]\n" + EXP)),
    C("sweep-figure-without-x", SWEEP, ("figure", "figures"), "x",
      setup=experiment(EXP + '\n[[figures]]\nfile = "f.png"\ny = ["test_acc"]\n')),
    C("sweep-figure-file-parent", SWEEP, "../../x.png",
      setup=experiment(EXP + '\n[[figures]]\nfile = "../../x.png"\nx = "seed"\n')),
    C("sweep-figure-file-absolute", SWEEP, "abs.png",
      setup=experiment(EXP + '\n[[figures]]\nfile = "{tmp}/abs.png"\nx = "seed"\n')),
    C("sweep-grid-batch_size-float", SWEEP, "batch_size", "2.5",
      setup=experiment(EXP + "\n[grid]\nbatch_size = [10, 2.5, 5]\n")),
    C("sweep-grid-gain-nan", SWEEP, "circuit.gain", "nan",
      setup=experiment(EXP + '\n[grid]\n"circuit.gain" = [4, nan]\n')),
    C("sweep-grid-unknown-key", SWEEP, "circuit.gian", setup=experiment(EXP + '\n[grid]\n"circuit.gian" = [1, 2]\n')),
    C("sweep-grid-int", SWEEP, "grid", setup=experiment("grid = 5\n" + EXP)),
    C("sweep-seeds-float", SWEEP, "seeds", "1.5",
      setup=experiment('name = "t"\nseeds = [1.5]\n\n[base]\nepochs = 1\n')),
    C("sweep-base-epochs-nan", SWEEP, "epochs", "nan",
      setup=experiment('name = "t"\nseeds = [0]\n\n[base]\nepochs = nan\n')),
    C("sweep-invalid-toml", SWEEP, "exp.toml", setup=experiment("name = \n")),
    C("sweep-missing-file", ["sweep", "missing.toml"], "missing.toml"),
    C("sweep-scheduler-not-an-address", [*SWEEP, "--scheduler", "notanaddress"], "notanaddress",
      setup=experiment(EXP), may_create=("a/b/exp", "a/b/exp/*"), timeout=30, max_seconds=15, needs=("dask",)),
    C("sweep-scheduler-unused-port", [*SWEEP, "--scheduler", "tcp://127.0.0.1:{port}"], "127.0.0.1", "{port}",
      setup=experiment(EXP), may_create=("a/b/exp", "a/b/exp/*"), timeout=25, max_seconds=15, needs=("dask",)),
]

_ids = [c.id for c in CASES]
assert len(_ids) == len(set(_ids)), "duplicate case ids"


def _have_dask() -> bool:
    try:
        import dask.distributed  # noqa: F401
        return True
    except ImportError:
        return False


def _skip_reason(case: Case) -> str | None:
    for need in case.needs:
        if need == "mnist" and not HAVE_MNIST:
            return f"MNIST files not in {MNIST_DIR}"
        if need == "nonroot" and IS_ROOT:
            return "root ignores directory permissions (the /sys cases cover non-writable output)"
        if need == "linux" and not sys.platform.startswith("linux"):
            return "needs Linux /sys"
        if need == "dask" and not _have_dask():
            return "dask.distributed is not installed"
    return None


@dataclass
class Outcome:
    res: Result
    before: dict
    after: dict
    expect: list
    x_png: bool          # tmp/a/x.png is inside the case dir; this is the case dir's parent


def execute(case: Case, case_dir: Path, fx: dict) -> Outcome:
    """Set up a fresh cwd, run the case's command, snapshot the cwd before and after."""
    work = case_dir / "cwd"
    work.mkdir(parents=True)
    if case.setup:
        case.setup(work, fx)
    subst = {"{port}": str(free_port()), "{mnist}": str(MNIST_DIR), "{tmp}": str(work)}

    def fill(s: str) -> str:
        for k, v in subst.items():
            s = s.replace(k, v)
        return s

    argv = [fill(a) for a in case.argv]
    expect = [fill(e) if isinstance(e, str) else tuple(fill(a) for a in e) for e in case.expect]
    before = snapshot(work)
    try:
        res = run_cli(argv, work, timeout=case.timeout)
        after = snapshot(work)
    finally:
        for dirpath, dirnames, _ in os.walk(work):   # let pytest clean up read-only dirs
            for d in dirnames:
                try:
                    os.chmod(Path(dirpath, d), 0o755)
                except OSError:
                    pass
    return Outcome(res, before, after, expect, (case_dir / "x.png").exists())


WORKERS = int(os.environ.get("EBANA_TEST_WORKERS", min(4, os.cpu_count() or 2)))


@pytest.fixture(scope="session")
def outcomes(request, runs, tmp_path_factory):
    """Run every selected case up front, WORKERS subprocesses at a time (each in its own tmp dir);
    the test of a case then checks its outcome (exceptions from setup re-raise there)."""
    from concurrent.futures import ThreadPoolExecutor
    cases = [it.callspec.params["case"] for it in request.session.items
             if getattr(it, "originalname", None) == "test_bad_input"]
    root = tmp_path_factory.mktemp("bad-input-cases")
    pool = ThreadPoolExecutor(max_workers=max(1, WORKERS))
    futures = {c.id: pool.submit(execute, c, root / c.id, runs) for c in cases if _skip_reason(c) is None}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_bad_input(case: Case, outcomes) -> None:
    reason = _skip_reason(case)
    if reason:
        pytest.skip(reason)
    o = outcomes[case.id].result()
    assert_one_line_error(o.res, o.expect)
    if case.max_seconds is not None:
        assert o.res.seconds <= case.max_seconds, f"took {o.res.seconds:.1f} s > {case.max_seconds} s:\n{o.res}"
    assert_nothing_written(o.before, o.after, case.may_create, case.may_change)
    assert not Path(NOWRITE).exists()
    assert not o.x_png, "the figure was written outside the sweep directory (and the tmp dir)"


# ---------------------------------------------------------------------- not table rows
def test_harness_uses_the_source_tree(tmp_path: Path) -> None:
    """The table runs the CLI of $EBANA_SRC (or the installed one) and a good command passes."""
    out = subprocess.run([sys.executable, "-c", "import ebana; print(ebana.__file__)"], cwd=tmp_path,
                         env=cli_env(), capture_output=True, text=True, check=True).stdout.strip()
    if SRC:
        assert Path(out).resolve().is_relative_to(Path(SRC).resolve()), out
    res = run_cli(["train", "iris", "--epochs", "1", "--quiet", "--out", "ok"], tmp_path)
    assert res.rc == 0, str(res)
    assert (tmp_path / "ok" / "conductances.npz").exists()


INJECT = "x\n.control\nshell touch pwned\n.endc\n* .csv"
"""Item 1: a dataset file name that opens an ngspice control block."""


def _control_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip().lower().startswith((".control", ".endc", "shell"))]


def test_netlist_title_injection(tmp_path: Path) -> None:
    """``ebana netlist --dataset NAME`` refuses the name (one line) or writes a safe title."""
    shutil.copyfile(IRIS_CSV, tmp_path / INJECT)
    shutil.copyfile(IRIS_CSV, tmp_path / "plain.csv")
    ref = run_cli(["netlist", "--dataset", "plain.csv", "--out", "ref.cir"], tmp_path)
    assert ref.rc == 0, str(ref)
    ref_lines = (tmp_path / "ref.cir").read_text().splitlines()
    res = run_cli(["netlist", "--dataset", INJECT, "--out", "a.cir"], tmp_path)
    assert "traceback" not in (res.out + res.err).lower(), str(res)
    cir = tmp_path / "a.cir"
    if res.rc == 1:
        assert_one_line_error(res)
        assert not cir.exists(), "refused, but a.cir was written"
    else:
        assert res.rc == 0, str(res)
        text = cir.read_text()
        if shutil.which("ngspice"):
            subprocess.run(["ngspice", "-b", "a.cir"], cwd=tmp_path, capture_output=True, timeout=120)
            assert not (tmp_path / "pwned").exists(), "ngspice -b ran the shell command from the dataset name"
        assert not _control_lines(text), f"control block in the netlist: {_control_lines(text)}"
        assert len(text.splitlines()) == len(ref_lines), "the dataset name added lines to the netlist"
    assert not any(p.name == "pwned" for p in tmp_path.rglob("*"))


def test_injected_name_keeps_config_toml_valid(tmp_path: Path) -> None:
    """Training on that file refuses the name (one line, no run dir) or writes a config.toml that parses."""
    shutil.copyfile(IRIS_CSV, tmp_path / INJECT)
    res = run_cli(["train", INJECT, "--epochs", "1", "--quiet", "--out", "r"], tmp_path)
    assert "traceback" not in (res.out + res.err).lower(), str(res)
    if res.rc == 1:
        assert_one_line_error(res)
        assert not (tmp_path / "r").exists()
    else:
        assert res.rc == 0, str(res)
        cfg = tomllib.loads((tmp_path / "r" / "config.toml").read_text())
        assert cfg["dataset"] == INJECT
        res = run_cli(["netlist", "--checkpoint", "r", "--out", "b.cir"], tmp_path)
        assert res.rc in (0, 1), str(res)
        if res.rc == 0:
            assert not _control_lines((tmp_path / "b.cir").read_text())
    assert not (tmp_path / "pwned").exists()


def test_inspect_warns_about_control_blocks(tmp_path: Path) -> None:
    """``ebana inspect`` flags a ``.control`` block (any case) in a netlist it did not write."""
    res = run_cli(["netlist", "--out", "own.cir"], tmp_path)
    assert res.rc == 0, str(res)
    own = (tmp_path / "own.cir").read_text()
    res = run_cli(["inspect", "own.cir"], tmp_path)
    assert res.rc == 0, str(res)
    assert ".control" not in (res.out + res.err).lower(), f"warning on ebana's own netlist:\n{res}"
    for name, block in (("evil.cir", ".control\nshell touch pwned\n.endc\n"),
                        ("evil_upper.cir", "  .CONTROL\nshell touch pwned\n.ENDC\n")):
        (tmp_path / name).write_text(own.replace(".end\n", block + ".end\n"))
        res = run_cli(["inspect", name], tmp_path)
        assert res.rc == 0, str(res)
        assert "traceback" not in (res.out + res.err).lower(), str(res)
        lines = [ln for ln in (res.out + res.err).splitlines() if not ln.lower().startswith("title:")]
        assert any(".control" in ln.lower() for ln in lines), f"no warning about .control for {name}:\n{res}"
    assert not (tmp_path / "pwned").exists()


def test_numpy_convergence_error_is_recorded(tmp_path: Path) -> None:
    """A ConvergenceError mid-run: exit 1, last line 'Error: ...', a failing netlist, run.json not 'running'/'done'."""
    res = run_cli(["train", "iris", "--epochs", "1", "--quiet", "--set", "max_sweeps=2", "--out", "r"], tmp_path)
    assert res.rc == 1, str(res)
    assert "traceback" not in (res.out + res.err).lower(), str(res)
    last = [ln for ln in res.err.splitlines() if ln.strip()][-1]
    assert last.startswith("Error: ") and "converge" in last.lower(), last
    run = tmp_path / "r"
    assert list(run.rglob("*.cir")), f"no failing netlist written under {run}: {sorted(p.name for p in run.rglob('*'))}"
    if (run / "run.json").exists():
        import json
        status = json.loads((run / "run.json").read_text()).get("status")
        assert status not in ("running", "done"), f"run.json says {status!r} after a ConvergenceError"
    assert not list(run.rglob(".tmp-*"))


def test_resume_override_accepts_changed_options(tmp_path: Path, runs) -> None:
    """The refusal of ``resume-changed-lr`` is lifted by ``--override``: the run resumes and finishes."""
    copy_run("irun", "irun")(tmp_path, runs)
    res = run_cli(["train", "--resume", "--out", "irun", "--lr", "1e-7", "--override", "--quiet"], tmp_path, timeout=120)
    assert res.rc == 0, str(res)
    assert "traceback" not in (res.out + res.err).lower(), str(res)
    import json
    assert json.loads((tmp_path / "irun" / "run.json").read_text())["status"] == "done"
    assert tomllib.loads((tmp_path / "irun" / "config.toml").read_text())["lr"] == 1e-7
