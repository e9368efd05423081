"""Ctrl-C, SIGTERM and kill -9 at random moments of a run; ``--resume`` reaches exactly the
result of an uninterrupted run (issue 12, items 2-4).

Each run is ``python -m ebana.cli train ...`` in a subprocess (its own process group, so a
signal goes to the group as Ctrl-C in a terminal does), cwd = a tmp dir; ``EBANA_SRC`` puts
another source tree on PYTHONPATH. The interrupt moments are drawn from a seeded RNG: the seed is
printed and named in every failure; ``EBANA_SIGNAL_SEED=N`` replays one.

Exactness: every array of conductances.npz equal (np.array_equal), metrics.csv identical in every
column except ``seconds``, run.json status ``done``, curves.png present, no ``.tmp-*`` files.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli_env

pytestmark = pytest.mark.slow

SRC = os.environ.get("EBANA_SRC")
SEED = int(os.environ.get("EBANA_SIGNAL_SEED") or random.SystemRandom().randrange(1 << 31))
print(f"test_signals: interrupt-moment seed {SEED} (replay with EBANA_SIGNAL_SEED={SEED})")

NUMPY = ["train", "iris", "--seed", "1", "--epochs", "40"]
NGSPICE = ["train", "iris", "--seed", "1", "--backend", "ngspice", "--epochs", "6"]
VTEAM = ["train", "iris", "--seed", "1", "--device", "vteam", "--epochs", "10"]
IDEAL = ["train", "iris", "--seed", "1", "--device", "ideal", "--epochs", "10"]




def rng_for(name: str) -> random.Random:
    return random.Random(f"{SEED}-{name}")


class Run:
    """One ``ebana`` subprocess with stdout/stderr in files beside (not inside) the run dir."""

    def __init__(self, argv: list[str], cwd: Path, out: str, log: str | None = None) -> None:
        self.cwd, self.out = cwd, cwd / out
        self.err_path = cwd / f"{log or out}.stderr.txt"
        self.out_path = cwd / f"{log or out}.stdout.txt"
        with open(self.out_path, "w") as fo, open(self.err_path, "w") as fe:
            self.p = subprocess.Popen([sys.executable, "-m", "ebana.cli", *argv, "--out", out], cwd=cwd,
                                      env=cli_env(), stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        self.t0 = time.monotonic()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def text(self) -> str:
        return (f"seed {SEED}; exit {self.p.returncode}\n--- stdout\n{self.out_path.read_text(errors='replace')[-2000:]}"
                f"\n--- stderr\n{self.stderr[-3000:]}")

    def training(self) -> bool:
        """Past setup: a checkpoint exists, or the start line is out and the run wrote its config."""
        return (self.out / "checkpoint.npz").exists() or (
            bool(self.stderr.strip()) and (self.out / "config.toml").exists())

    def wait_training(self, timeout: float = 60, checkpoint: bool = False) -> float:
        while time.monotonic() - self.t0 < timeout:
            if (self.out / "checkpoint.npz").exists() if checkpoint else self.training():
                return time.monotonic()
            if self.p.poll() is not None:
                pytest.fail(f"the run ended before it was seen training:\n{self.text()}")
            time.sleep(0.005)
        self.kill()
        pytest.fail(f"not training after {timeout} s:\n{self.text()}")

    def signal(self, sig: int) -> None:
        os.killpg(self.p.pid, sig)

    def wait(self, timeout: float, what: str = "exit") -> int:
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"no {what} within {timeout} s (signal swallowed?):\n{self.text()}")

    def kill(self) -> None:
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()


def resume(cwd: Path, out: str, timeout: float = 120) -> Run:
    r = Run(["train", "--resume", "--quiet"], cwd, out, log=f"{out}-resume")
    rc = r.wait(timeout, "end of the resumed run")
    assert rc == 0, f"--resume failed:\n{r.text()}"
    assert "Traceback" not in r.stderr, r.text()
    return r


# ---------------------------------------------------------------------- reference runs
_REFS: dict[tuple, tuple[Path, float]] = {}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(run dir, seconds from 'training' to exit) of an uninterrupted run, one per command."""
    def get(argv: list[str]) -> tuple[Path, float]:
        key = tuple(argv)
        if key not in _REFS:
            cwd = tmp_path_factory.mktemp("ref")
            r = Run(argv, cwd, "ref")
            t = r.wait_training()
            rc = r.wait(300, "end of the reference run")
            assert rc == 0, f"reference run failed:\n{r.text()}"
            assert_complete(r.out)
            _REFS[key] = (r.out, time.monotonic() - t)
        return _REFS[key]
    return get


# ---------------------------------------------------------------------- checks
def read_metrics(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        rd = csv.DictReader(fh)
        return list(rd.fieldnames or []), list(rd)


def tmp_files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob(".tmp-*"))


def assert_consistent(run: Path, ctx: str = "") -> None:
    """What must hold at any time: run.json never says done without curves.png."""
    rj = run / "run.json"
    if rj.exists():
        status = json.loads(rj.read_text()).get("status")
        if status == "done":
            assert (run / "curves.png").exists(), f"run.json says done but curves.png is missing ({ctx}, seed {SEED})"


def assert_valid_checkpoint(run: Path, ctx: str = "") -> None:
    ck = run / "checkpoint.npz"
    assert ck.exists(), f"no checkpoint.npz after the interrupt ({ctx}, seed {SEED})"
    with np.load(ck, allow_pickle=False) as z:
        assert "config_json" in z.files and len(z.files) > 3, f"checkpoint holds only {z.files} ({ctx})"
        for k in z.files:
            z[k]   # every member decompresses


def assert_complete(run: Path, ctx: str = "") -> None:
    info = json.loads((run / "run.json").read_text())
    assert info.get("status") == "done", f"run.json status {info.get('status')!r} ({ctx}, seed {SEED})"
    assert (run / "curves.png").exists(), f"curves.png missing ({ctx}, seed {SEED})"
    assert (run / "conductances.npz").exists()
    assert not tmp_files(run), f".tmp-* files left: {tmp_files(run)} ({ctx}, seed {SEED})"


def assert_same_result(ref: Path, run: Path, ctx: str) -> None:
    assert_complete(run, ctx)
    with np.load(ref / "conductances.npz", allow_pickle=False) as a, \
            np.load(run / "conductances.npz", allow_pickle=False) as b:
        assert sorted(a.files) == sorted(b.files), f"conductances.npz members differ ({ctx})"
        for k in a.files:
            x, y = a[k], b[k]
            if not np.array_equal(x, y):
                diff = (f"max |diff| {np.max(np.abs(x.astype(float) - y.astype(float))):.3e}"
                        if x.dtype.kind == "f" and x.shape == y.shape else f"{x!r} vs {y!r}"[:300])
                pytest.fail(f"conductances.npz[{k}] differs from the uninterrupted run: {diff} ({ctx}, seed {SEED})")
    fa, ra = read_metrics(ref / "metrics.csv")
    fb, rb = read_metrics(run / "metrics.csv")
    assert fa == fb, f"metrics.csv columns differ ({ctx})"
    assert len(ra) == len(rb), f"metrics.csv has {len(rb)} rows, uninterrupted {len(ra)} ({ctx}, seed {SEED})"
    for i, (x, y) in enumerate(zip(ra, rb)):
        bad = [k for k in fa if k != "seconds" and x[k] != y[k]]
        assert not bad, (f"metrics.csv row {i + 1} differs in {bad}: {[x[k] for k in bad]} vs {[y[k] for k in bad]}"
                         f" ({ctx}, seed {SEED})")


def _epochs_done(out: Path) -> int:
    try:
        return max(0, len((out / "metrics.csv").read_text().splitlines()) - 1)
    except OSError:
        return 0


def interrupt(cwd: Path, argv: list[str], name: str, sig: int, delay: float, *, twice: bool = False,
              gap: float = 0.0, after_checkpoint: bool = False, total: float | None = None) -> Run | None:
    """Start a run, send ``sig`` ``delay`` s after it is training; None if it had already finished.

    With ``total`` (the reference run's seconds) the moment is placed by progress, not by the clock
    (a loaded machine runs slower or faster than the reference): after the epoch the fraction
    delay/total points to has been written, plus a random part of one epoch's time."""
    r = Run(argv, cwd, name)
    t = r.wait_training(checkpoint=after_checkpoint)
    if total is not None:
        n_epochs = int(argv[argv.index("--epochs") + 1])
        frac = delay / total
        target = int(frac * n_epochs)
        while _epochs_done(r.out) < target and r.p.poll() is None:
            time.sleep(0.002)
        t, delay = time.monotonic(), (frac * n_epochs - target) * total / n_epochs
    while time.monotonic() < t + delay:
        time.sleep(0.002)
    if r.p.poll() is not None:
        return None
    r.signal(sig)
    if twice:
        time.sleep(gap)
        if r.p.poll() is None:
            r.signal(sig)
    r.wait(60, f"exit after {signal.Signals(sig).name}")
    return r


def interrupt_and_resume(tmp_path: Path, reference, argv: list[str], label: str, moments: int,
                         sig: int = signal.SIGINT, codes=(130,), **kw) -> None:
    ref, seconds = reference(argv)
    rng = rng_for(label)
    done = 0
    for k in range(moments):
        frac = rng.uniform(0.02, 0.9)
        r = None
        for attempt in range(3):   # the run may be faster than the reference: move the moment earlier
            ctx = f"{label} #{k}, signal at {frac:.3f} of {seconds:.2f} s"
            r = interrupt(tmp_path, argv, f"int{k}-{attempt}", sig, frac * seconds,
                          gap=rng.uniform(0.0, 0.03), total=seconds, **kw)
            if r is not None:
                break
            frac /= 2
        assert r is not None, f"the run always finished before the signal ({label}, seed {SEED})"
        print(ctx)
        rc = r.p.returncode
        assert rc in codes, (f"exit code {rc}, expected {' or '.join(map(str, codes))} ({ctx})"
                             f"{'; exit 0 = the signal was ignored' if rc == 0 else ''}:\n{r.text()}")
        assert "Traceback" not in r.stderr, f"{ctx}:\n{r.text()}"
        if sig == signal.SIGINT:
            assert "--resume" in r.stderr, f"the interrupt message does not mention --resume ({ctx}):\n{r.text()}"
        assert_consistent(r.out, ctx)
        assert_valid_checkpoint(r.out, ctx)
        resume(tmp_path, r.out.name)
        assert_same_result(ref, r.out, ctx)
        done += 1
    assert done == moments


# ---------------------------------------------------------------------- tests
def test_sigint_numpy(tmp_path, reference):
    interrupt_and_resume(tmp_path, reference, NUMPY, "numpy", moments=3)


@pytest.mark.ngspice
def test_sigint_ngspice(tmp_path, reference):
    """Ctrl-C must get through ngspice's callbacks (one SIGINT stops the run)."""
    interrupt_and_resume(tmp_path, reference, NGSPICE, "ngspice", moments=2)


def test_sigint_device_vteam(tmp_path, reference):
    interrupt_and_resume(tmp_path, reference, VTEAM, "vteam", moments=1)


def test_sigint_device_ideal(tmp_path, reference):
    interrupt_and_resume(tmp_path, reference, IDEAL, "ideal", moments=2)


def test_sigint_twice(tmp_path, reference):
    """A second Ctrl-C right after the first (while the checkpoint is written) still exits 130
    with a valid checkpoint that resumes exactly."""
    interrupt_and_resume(tmp_path, reference, NUMPY, "numpy-twice", moments=2, twice=True)


def test_sigterm(tmp_path, reference):
    interrupt_and_resume(tmp_path, reference, NUMPY, "numpy-sigterm", moments=1, sig=signal.SIGTERM,
                         codes=(130, 143))


def test_kill9_then_resume(tmp_path, reference):
    """After kill -9 (once a checkpoint exists) --resume works, reaches the uninterrupted result and
    leaves no .tmp-* files; run.json never says done without curves.png."""
    ref, seconds = reference(NUMPY)
    rng = rng_for("kill9")
    for k in range(2):
        frac = rng.uniform(0.05, 0.8)
        ctx = f"kill -9 #{k} at {frac:.3f} of {seconds:.2f} s after the first checkpoint"
        r = None
        for attempt in range(3):
            r = interrupt(tmp_path, NUMPY, f"kill{k}-{attempt}", signal.SIGKILL, frac * seconds,
                          after_checkpoint=True)
            if r is not None:
                break
            frac /= 2
        assert r is not None, f"the run always finished before kill -9 (seed {SEED})"
        print(ctx)
        assert r.p.returncode == -signal.SIGKILL
        assert_consistent(r.out, ctx)
        assert_valid_checkpoint(r.out, ctx)
        resume(tmp_path, r.out.name)
        assert_consistent(r.out, ctx)
        assert_same_result(ref, r.out, ctx)
