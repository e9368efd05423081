"""The full 784-input MNIST circuit: numpy vs ngspice (plain and Norton) on a few samples."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.backends import create
from ebana.config import preset
from ebana.losses import create_loss
from ebana.builder import build_circuit
from tests.conftest import SHARED_DATA

pytestmark = [pytest.mark.ngspice, pytest.mark.slow]


@pytest.fixture(scope="module")
def mnist_case():
    if not (SHARED_DATA / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST files not found in {SHARED_DATA}")
    from ebana import datasets
    data = datasets.load("mnist", data_dir=SHARED_DATA, limit_train=10, limit_test=3)
    cfg = preset("mnist")
    c = build_circuit(cfg, 784, 10, np.random.default_rng(0))
    x = data.x_test[:3].astype(np.float64)
    nb = create("numpy", c)
    free = nb.solve(x)
    loss = create_loss("ce", tau=cfg.tau)
    inj = c.nudge_currents(loss.grad(c.prediction(free.output), data.y_test[:3]), cfg.beta)
    nudged = nb.solve(x, inj)
    return c, x, inj, free, nudged


def _max_dv(a, b, c):
    return max(float(np.max(np.abs(a.layers[q] - b.layers[q]))) for q in range(1, c.topology.n_layers))


def test_full_netlist_matches_numpy(mnist_case):
    """159k resistors through ngspice's shared library: ~5-10 s per op (two samples, free + nudged)."""
    c, x, inj, free, nudged = mnist_case
    ng = create("ngspice", c.copy())
    assert _max_dv(ng.solve(x[:1]), free.take(slice(0, 1)), c) < 1e-9
    assert _max_dv(ng.solve(x[:1], inj[:1]), nudged.take(slice(0, 1)), c) < 1e-9
    ng.close()


def test_norton_netlist_matches_numpy(mnist_case):
    c, x, inj, free, nudged = mnist_case
    ng = create("ngspice", c.copy(), norton=True)
    assert _max_dv(ng.solve(x), free, c) < 1e-9
    assert _max_dv(ng.solve(x, inj), nudged, c) < 1e-9


def test_float32_within_1e5(mnist_case):
    c, x, inj, free, nudged = mnist_case
    nb32 = create("numpy", c.copy(), dtype="float32")
    assert _max_dv(nb32.solve(x), free, c) < 1e-5
    assert _max_dv(nb32.solve(x, inj), nudged, c) < 1e-5
