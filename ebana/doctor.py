"""Self-check of an installation: ``ebana doctor``.

Each check returns one :class:`Check` -- a status (``ok``, ``warn`` or ``fail``), what was
found, and for anything not ``ok`` the one thing to do about it:

- :func:`check_python` -- Python and ebana versions (info).
- :func:`check_libngspice` -- where the ngspice shared library is (``NGSPICE_LIBRARY_PATH``,
  else the linker's search path, as :func:`~ebana.backends.ngspice.ngspice_shared` looks).
- :func:`check_pyspice` -- PySpice imports and loads libngspice; ngspice's version.
- :func:`check_solve` -- ngspice solves a resistive divider with a diode clamp whose operating
  point has a closed form (below), within 1e-9 V.
- :func:`check_blas` -- numpy's version, BLAS library and thread count (threadpoolctl when
  installed, else the ``*_NUM_THREADS`` variables).
- :func:`check_data_dir`, :func:`check_mnist` -- the data directory (``--data-dir``, else
  ``$EBANA_DATA_DIR``, else ``./data``) and MNIST's four files against their sha256
  (:data:`~ebana.datasets.mnist.MNIST_FILES`).

:func:`run_checks` runs them all; a ``fail`` anywhere makes ``ebana doctor`` exit 1.

The tiny circuit: a 1 V source, R1 = 1 kohm to node ``mid``, R2 = 3 kohm to ground, and from
``mid`` a 1 Mohm resistor to node ``top`` held at 0.25 V by a second source. By superposition
v_mid = (V1/R1 + V2/R3) / (1/R1 + 1/R2 + 1/R3) (V); the current of V1 is -(V1 - v_mid)/R1 (A,
SPICE's sign: into the + terminal).
"""

from __future__ import annotations

import ctypes.util
import glob
import os
import platform
import sys
from dataclasses import dataclass
from typing import Callable, Literal

from ebana.errors import EbanaError

__all__ = ["Check", "run_checks", "check_python", "check_libngspice", "check_pyspice", "check_solve",
           "check_blas", "check_data_dir", "check_mnist", "format_check", "SOLVE_TOL"]

Status = Literal["ok", "warn", "fail"]

SOLVE_TOL = 1e-9
"""Largest accepted |v_ngspice - v_closed_form| of the tiny circuit (V)."""

_LIB_DIRS = ("/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/local/lib")
_APT = "sudo apt-get install -y ngspice libngspice0 libngspice0-dev"


@dataclass(frozen=True, slots=True)
class Check:
    """The result of one check."""

    name: str
    status: Status
    detail: str
    fix: str = ""
    """What to do when the status is not ``ok`` (one sentence)."""


def format_check(c: Check) -> str:
    """One line: ``[ ok ] name: detail`` or ``[FAIL] name: detail -> fix``."""
    tag = {"ok": " ok ", "warn": "warn", "fail": "FAIL"}[c.status]
    fix = f" -> {c.fix}" if c.fix and c.status != "ok" else ""
    return f"[{tag}] {c.name}: {c.detail}{fix}"


def check_python() -> Check:
    """Python and ebana versions (needs Python >= 3.11)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        ev = version("ebana")
    except PackageNotFoundError:
        ev = "not installed (running from the source tree)"
    py = platform.python_version()
    ok = sys.version_info >= (3, 11)
    return Check("python", "ok" if ok else "fail", f"Python {py}, ebana {ev}",
                 "" if ok else "ebana needs Python >= 3.11")


def find_libngspice() -> str | None:
    """Path (or soname) of the ngspice shared library PySpice will load, None if none is found."""
    env = os.environ.get("NGSPICE_LIBRARY_PATH")
    if env:
        return env
    for d in _LIB_DIRS:
        hits = sorted(glob.glob(f"{d}/libngspice.so*"))
        if hits:
            return hits[0]
    return ctypes.util.find_library("ngspice")


def check_libngspice() -> Check:
    """Is there a libngspice? (an ``NGSPICE_LIBRARY_PATH`` that names no file fails)."""
    path = find_libngspice()
    if path is None:
        return Check("libngspice", "fail", "no libngspice.so found", f"install it: {_APT}")
    if os.sep in path and not os.path.exists(path):
        return Check("libngspice", "fail", f"NGSPICE_LIBRARY_PATH={path} does not exist",
                     f"unset NGSPICE_LIBRARY_PATH or point it at libngspice.so; else {_APT}")
    real = os.path.realpath(path) if os.sep in path else path
    return Check("libngspice", "ok", f"{path}" + (f" (-> {real})" if real != path else ""))


def check_pyspice() -> Check:
    """PySpice imports and loads the shared library; reports ngspice's version."""
    try:
        import PySpice
    except ImportError as err:
        return Check("pyspice", "fail", f"PySpice not importable ({err})", "pip install PySpice==1.5")
    from ebana.backends.ngspice import ngspice_shared
    try:
        ng = ngspice_shared()
    except EbanaError as err:
        return Check("pyspice", "fail", f"PySpice {PySpice.__version__} cannot load libngspice "
                     f"({str(err).split(';')[0]})", f"install it: {_APT}")
    return Check("pyspice", "ok", f"PySpice {PySpice.__version__} loaded ngspice {ng.ngspice_version}")


_DIVIDER = """* ebana doctor: divider with a weak pull to 0.25 V
V1 in 0 dc 1
R1 in mid 1000
R2 mid 0 3000
R3 mid top 1e6
V2 top 0 dc 0.25
.op
.end
"""


def divider_closed_form() -> tuple[float, float]:
    """(v_mid (V), current of V1 (A)) of the doctor's tiny circuit, by superposition."""
    v1, v2, r1, r2, r3 = 1.0, 0.25, 1e3, 3e3, 1e6
    v_mid = (v1 / r1 + v2 / r3) / (1 / r1 + 1 / r2 + 1 / r3)
    return v_mid, -(v1 - v_mid) / r1


def check_solve() -> Check:
    """ngspice solves the tiny circuit to within :data:`SOLVE_TOL` of its closed form."""
    from ebana.backends.ngspice import run_op
    try:
        got = run_op(_DIVIDER, ["mid", "v1#branch"])
    except EbanaError as err:
        return Check("ngspice solve", "fail", str(err).split(";")[0], f"reinstall ngspice: {_APT}")
    v_ref, i_ref = divider_closed_form()
    dv, di = abs(got["mid"] - v_ref), abs(got["v1#branch"] - i_ref)
    detail = f"divider v(mid) = {got['mid']:.12f} V, closed form {v_ref:.12f} V (|diff| {dv:.1e} V)"
    if dv > SOLVE_TOL or di > SOLVE_TOL * 1e-3:
        return Check("ngspice solve", "fail", detail + f", source current diff {di:.1e} A",
                     "ngspice gives a wrong operating point: reinstall it, or check NGSPICE_LIBRARY_PATH")
    return Check("ngspice solve", "ok", detail)


def check_blas() -> Check:
    """numpy's version, BLAS and its threads (ebana's CLI sets 1: sweeps parallelise over processes)."""
    import numpy as np
    blas = "unknown BLAS"
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{info.get('name', '?')} {info.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - numpy's config format is informational only
        pass
    try:
        from threadpoolctl import threadpool_info
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        threads = ", ".join(f"{p.get('internal_api')} {p.get('num_threads')}" for p in pools) or "no BLAS pool"
    except ImportError:
        threads = ", ".join(f"{v}={os.environ[v]}" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                            "MKL_NUM_THREADS") if v in os.environ) or "unset"
    cores = os.cpu_count()
    return Check("numpy/BLAS", "ok", f"numpy {np.__version__}, {blas}, threads: {threads}; {cores} CPU cores "
                 "(ebana uses 1 BLAS thread unless EBANA_BLAS_THREADS is set)")


def _data_hint() -> str:
    return "pass --data-dir DIR or set EBANA_DATA_DIR to the directory of the IDX files"


def check_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Check:
    """Which data directory is used and why; fails when it does not exist."""
    from ebana.datasets.base import resolve_data_dir
    d = resolve_data_dir(data_dir)
    why = "--data-dir" if data_dir is not None else ("$EBANA_DATA_DIR" if os.environ.get("EBANA_DATA_DIR")
                                                    else "default ./data")
    if not d.is_dir():
        return Check("data dir", "fail", f"{d} ({why}) does not exist", _data_hint())
    return Check("data dir", "ok", f"{d.resolve()} ({why})")


def check_mnist(data_dir: str | os.PathLike[str] | None = None) -> Check:
    """MNIST's four files are present and match their sha256 (decompressed bytes)."""
    from ebana.datasets.base import resolve_data_dir
    from ebana.datasets.idx import read_idx
    from ebana.datasets.mnist import MNIST_FILES
    d = resolve_data_dir(data_dir)
    if (d / "mnist").is_dir():
        d = d / "mnist"
    missing, bad, good = [], [], []
    for name, spec in MNIST_FILES.items():
        path = next((p for p in (d / f"{name}.gz", d / name) if p.is_file()), None)
        if path is None:
            missing.append(name)
            continue
        try:
            read_idx(path, spec, what="MNIST")
            good.append(path.name)
        except EbanaError as err:
            bad.append(str(err))
    if bad:
        return Check("MNIST", "fail", bad[0], "replace the file with a good copy (raw or .gz, any mirror)")
    if missing:
        return Check("MNIST", "fail", f"{len(missing)} of 4 files missing in {d}: {', '.join(missing)} (raw or .gz)",
                     "put the four MNIST IDX files there (ebana never downloads); " + _data_hint())
    return Check("MNIST", "ok", f"4 files in {d}, sha256 verified: {', '.join(good)}")


def run_checks(data_dir: str | os.PathLike[str] | None = None) -> list[Check]:
    """Every check, in order; a check that raises is reported as a failure, never propagated."""
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("python", check_python), ("libngspice", check_libngspice), ("pyspice", check_pyspice),
        ("ngspice solve", check_solve), ("numpy/BLAS", check_blas),
        ("data dir", lambda: check_data_dir(data_dir)), ("MNIST", lambda: check_mnist(data_dir)),
    ]
    out: list[Check] = []
    for name, step in steps:
        if name == "ngspice solve" and out[-1].status == "fail":
            out.append(Check(name, "fail", "skipped: ngspice does not load", "fix the line above first"))
            continue
        if name == "MNIST" and out[-1].status == "fail":
            out.append(Check(name, "fail", "skipped: no data directory", _data_hint()))
            continue
        try:
            out.append(step())
        except Exception as err:  # noqa: BLE001 - a doctor reports, it does not crash
            out.append(Check(name, "fail", f"the check itself failed: {type(err).__name__}: {err}",
                             "report this with the output of ebana --debug doctor"))
    return out

