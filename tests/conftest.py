"""Shared fixtures: seeded RNG, small circuits, ngspice availability."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: small GEMMs, no thread contention

from pathlib import Path

import numpy as np
import pytest

from ebana.circuit import Circuit, CircuitParams, DiodeParams
from ebana.topology import Topology

# MNIST for tests: $EBANA_DATA_DIR, else the workspace's ../shared/data beside the repository
SHARED_DATA = Path(os.environ.get("EBANA_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _ngspice_available() -> bool:
    try:
        from ebana.backends.ngspice import ngspice_shared
        ngspice_shared()
        return True
    except Exception:
        return False


HAVE_NGSPICE = _ngspice_available()


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="ngspice shared library not available")
    for item in items:
        if "ngspice" in item.keywords and not HAVE_NGSPICE:
            item.add_marker(skip)


def cli_env() -> dict[str, str]:
    """Environment for ``python -m ebana.cli`` subprocesses: ``$EBANA_SRC`` (another source tree, e.g.
    an older checkout to count what failed before a fix) first on PYTHONPATH; headless matplotlib."""
    env = dict(os.environ)
    if os.environ.get("EBANA_SRC"):
        env["PYTHONPATH"] = os.environ["EBANA_SRC"]
    env.setdefault("MPLBACKEND", "Agg")
    return env


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def make_circuit(rng, n_in=3, hidden=(5,), n_cls=2, skips=(), diode="ideal", output_diodes=False,
                 bias_input=(0.9, 0.3), bias_hidden=(0.3,), **params) -> Circuit:
    """A random circuit with the IRIS-like electrical parameters."""
    p = CircuitParams(bias_input=bias_input, bias_hidden=bias_hidden, output_diodes=output_diodes,
                      diode=DiodeParams(model=diode, v_th=0.15 if diode == "ideal" else 0.6), **params)
    t = Topology(n_in, hidden, n_cls, skips=skips, n_bias_input=len(bias_input), n_bias_hidden=len(bias_hidden))
    # log-uniform conductances: strongly unbalanced rows drive neurons into their clamps
    return Circuit(t, p, [10 ** rng.uniform(-7, -5, c.shape) for c in t.crossbars])


def interrupted_and_resumed(cfg, tmp_path: Path, stop_at: tuple[int, int]):
    """(uninterrupted run, run interrupted by Ctrl-C at ``stop_at`` = (epoch, batch) and then resumed)."""
    from ebana.training import Trainer
    ref = Trainer(cfg, tmp_path / "ref")
    ref.run()
    run = Trainer(cfg, tmp_path / "run")

    def interrupt(p):
        if p.metrics is None and (p.epoch, p.batch) == stop_at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.run(progress=interrupt)
    resumed = Trainer(None, tmp_path / "run", resume=True)
    resumed.run()
    return ref, resumed
