"""numpy (float64 / float32) vs ngspice on random circuits, free and nudged; Norton vs full netlists."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.backends import create
from ebana.backends.numpy_solver import shockley_current
from tests.conftest import make_circuit

CASES = [
    dict(n_in=3, hidden=(5,), n_cls=2),
    dict(n_in=4, hidden=(10,), n_cls=3),
    dict(n_in=5, hidden=(6, 4), n_cls=3),
    dict(n_in=4, hidden=(6, 5), n_cls=3, skips=((0, 2), (0, 3))),
    dict(n_in=3, hidden=(4, 4), n_cls=2, skips=((1, 3),), cccs_gain=4.0),
    dict(n_in=4, hidden=(8,), n_cls=3, output_diodes=True),
    dict(n_in=4, hidden=(8,), n_cls=3, diode="shockley", v_clamp_low=0.5, v_clamp_high=0.7),
    dict(n_in=3, hidden=(5, 4), n_cls=2, skips=((0, 2),), diode="shockley", output_diodes=True,
         v_clamp_low=0.5, v_clamp_high=0.7),
]


def _inputs(rng, c, n=6):
    x = rng.uniform(-8, 8, (n, c.topology.n_inputs))  # strong drive: clamps active
    i_nudge = rng.normal(0, 3e-7, (n, 2 * c.topology.n_classes))
    return x, i_nudge


@pytest.mark.ngspice
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_numpy_matches_ngspice(case, rng):
    c = make_circuit(rng, **case)
    x, i_nudge = _inputs(rng, c)
    nb = create("numpy", c)
    ng = create("ngspice", c.copy())
    for inj in (None, i_nudge):
        a, b = nb.solve(x, inj), ng.solve(x, inj)
        for q in range(1, c.topology.n_layers):
            assert np.max(np.abs(a.layers[q] - b.layers[q])) < 1e-9, (q, inj is None)
    # some hidden nodes must actually be clamped for the diode part of the test to bite
    sol, p = nb.solve(x), c.params
    hidden = np.concatenate([sol.layers[q].ravel() for q in range(1, c.topology.output_layer)])
    if p.diode.model == "ideal":
        assert np.any((hidden > p.v_clamp_high - 1e-6) | (hidden < p.v_clamp_low + 1e-6))
    else:  # soft diodes: some must carry a current comparable to the crossbar currents (> 10 nA)
        i_up, _ = shockley_current(hidden - p.v_bias_high, p.diode.i_s, p.diode.n_vt)
        i_low, _ = shockley_current(p.v_bias_low - hidden, p.diode.i_s, p.diode.n_vt)
        assert np.any(np.maximum(i_up, i_low) > 1e-8)


@pytest.mark.ngspice
@pytest.mark.parametrize("case", CASES[:4], ids=str)
def test_norton_netlist_equals_full(case, rng):
    c = make_circuit(rng, **case)
    x, i_nudge = _inputs(rng, c, 4)
    full = create("ngspice", c).solve(x, i_nudge)
    red = create("ngspice", c.copy(), norton=True).solve(x, i_nudge)
    for q in range(1, c.topology.n_layers):
        assert np.max(np.abs(full.layers[q] - red.layers[q])) < 1e-9


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(sorted(c)))
def test_float32_close_to_float64(case, rng):
    c = make_circuit(rng, **case)
    x, i_nudge = _inputs(rng, c)
    a = create("numpy", c).solve(x, i_nudge)
    b = create("numpy", c.copy(), dtype="float32").solve(x, i_nudge)
    for q in range(1, c.topology.n_layers):
        assert np.max(np.abs(a.layers[q] - b.layers[q])) < 1e-5


@pytest.mark.ngspice
def test_conductance_update_reaches_ngspice(rng):
    """After set_conductances the ngspice circuit is altered in place, matching numpy again."""
    c = make_circuit(rng, n_in=4, hidden=(6,), n_cls=3)
    nb, ng = create("numpy", c), create("ngspice", c.copy())
    x, _ = _inputs(rng, c, 3)
    new = [g * rng.uniform(0.5, 1.5, g.shape) for g in c.conductances]
    nb.load([g.copy() for g in new])
    ng.load([g.copy() for g in new])
    a, b = nb.solve(x), ng.solve(x)
    assert np.max(np.abs(a.layers[2] - b.layers[2])) < 1e-9


@pytest.mark.ngspice
def test_ngspice_memory_flat_over_many_solves(rng):
    import resource
    c = make_circuit(rng, n_in=4, hidden=(10,), n_cls=3)
    ng = create("ngspice", c)
    x, _ = _inputs(rng, c, 200)
    ng.solve(x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(10):
        ng.solve(x)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 20_000  # KiB, over 2000 solves
    assert len(ng.ng._stdout) == 0 and len(ng.ng._stderr) == 0


@pytest.mark.ngspice
def test_two_ngspice_backends_share_the_instance_safely(rng):
    """ngspice is one instance per process: a backend whose circuit was replaced reloads it."""
    c1 = make_circuit(rng, n_in=3, hidden=(4,), n_cls=2)
    c2 = make_circuit(rng, n_in=4, hidden=(5,), n_cls=3)
    x1, _ = _inputs(rng, c1, 2)
    x2, _ = _inputs(rng, c2, 2)
    a, b = create("ngspice", c1), create("ngspice", c2, norton=True)
    ref1, ref2 = create("numpy", c1).solve(x1), create("numpy", c2).solve(x2)
    for _ in range(2):
        assert np.max(np.abs(a.solve(x1).layers[2] - ref1.layers[2])) < 1e-9
        assert np.max(np.abs(b.solve(x2).layers[2] - ref2.layers[2])) < 1e-9
