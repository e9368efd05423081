"""The compiled circuit: its stamps hold KCL at ngspice's operating point, it is immutable, and
every backend reads it (the circuit is never written; Solution has one shape for all)."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.backends import create
from ebana.backends.base import Solution
from ebana.netlist import render
from tests.backends.test_parity import CASES
from tests.conftest import make_circuit


def _relative_kcl(model, x, layers, i_nudge, drop_const=False):
    """max |net current into a node| / (the size of the currents through the node's conductances);
    ``drop_const``: without the constant-current stamps (must then fail)."""
    res = model.kcl_residual(x, layers, i_nudge)
    if drop_const:
        res = [None] + [r - st.const for r, st in zip(res[1:], model.layers[1:])]
    worst = 0.0
    for q in range(1, model.topology.n_layers):
        st = model.layers[q]
        scale = st.k * (np.abs(layers[q]) + 1.0)         # A: the size of the terms that cancel
        worst = max(worst, float(np.max(np.abs(res[q]) / scale)))
    return worst


@pytest.mark.ngspice
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_stamps_hold_kcl_at_the_ngspice_operating_point(case, rng):
    """The stamps are checked against ngspice, not against the solver that reads them."""
    c = make_circuit(rng, **case)
    model = c.compile()
    x = rng.uniform(-8, 8, (4, c.topology.n_inputs))
    i_nudge = rng.normal(0, 3e-7, (4, 2 * c.topology.n_classes))
    ng = create("ngspice", c)
    for inj in (None, i_nudge):
        sol = ng.solve(x, inj)
        assert _relative_kcl(model, x, sol.layers, inj) < 1e-8
        assert _relative_kcl(model, x, sol.layers, inj, drop_const=True) > 1e-3   # a stamp left out is seen
        off = [None] + [v + 1e-3 for v in sol.layers[1:]]
        assert _relative_kcl(model, x, off, inj) > 1e-6
    ng.close()


def test_compiled_circuit_is_immutable_and_private(rng):
    c = make_circuit(rng, hidden=(4, 3), skips=((0, 2),))
    g = [a.copy() for a in c.conductances]
    model = c.compile(g)
    g[0][0, 0] *= 2.0                               # the caller's arrays are not the model's
    assert model.conductances[0][0, 0] == c.conductances[0][0, 0]
    for arr in (model.conductances[0], model.layers[1].k, model.layers[1].const, model.drives[0],
                model.couplings[0].fwd, model.couplings[0].bwd):
        with pytest.raises(ValueError):
            arr[...] = 0.0
    with pytest.raises(AttributeError):
        model.layers = ()


def test_compile_refuses_bad_conductances(rng):
    from ebana.errors import ConfigError
    c = make_circuit(rng)
    with pytest.raises(ConfigError, match="conductance shape"):
        c.compile([np.ones((2, 2)) for _ in c.conductances])
    bad = [a.copy() for a in c.conductances]
    bad[0][0, 0] = -1.0
    with pytest.raises(ConfigError, match="finite and > 0"):
        c.compile(bad)


@pytest.mark.parametrize("name", ["numpy", pytest.param("ngspice", marks=pytest.mark.ngspice)])
def test_backends_never_write_the_circuit(name, rng):
    """``load(G)`` changes what the backend solves, not the circuit it was built for."""
    c = make_circuit(rng, hidden=(4,))
    before = [a.copy() for a in c.conductances]
    b = create(name, c)
    x = rng.uniform(-1, 1, (3, c.topology.n_inputs))
    v0 = b.solve(x).output
    new = [a * rng.uniform(0.5, 2.0, a.shape) for a in c.conductances]   # (a uniform scale changes no voltage)
    b.load(new)
    assert all(np.array_equal(a, o) for a, o in zip(c.conductances, before))
    assert all(np.array_equal(a, n) for a, n in zip(b.model.conductances, new))
    v1 = b.solve(x).output
    ref = create("numpy", make_circuit(np.random.default_rng(0), hidden=(4,)), conductances=new).solve(x).output
    assert np.allclose(v1, ref, atol=1e-9) and not np.allclose(v0, v1, atol=1e-6)
    b.close()


@pytest.mark.ngspice
def test_solution_has_one_shape_for_every_backend(rng):
    c = make_circuit(rng, hidden=(5,))
    x = rng.uniform(-1, 1, (3, c.topology.n_inputs))
    inj = rng.normal(0, 1e-7, (6, 2 * c.topology.n_classes))      # two stacked phases
    sols = [create(n, c).solve(x, inj) for n in ("numpy", "ngspice")]
    for s in sols:
        assert isinstance(s, Solution) and s.layers[0] is None
        assert s.x.shape == x.shape and s.batch == 6
        assert s.wordlines(c).shape == (6, 2 * c.topology.n_inputs)
        half = s.take(slice(3, 6))
        assert half.x.shape == x.shape and np.array_equal(half.wordlines(c), c.input_voltages(x))
    a, b = sols
    assert [v.shape for v in a.layers[1:]] == [v.shape for v in b.layers[1:]]
    with pytest.raises(ValueError, match="layers\\[0\\]"):
        Solution([np.zeros((3, 2))] + a.layers[1:], x)


def test_netlist_writes_the_model_it_is_given(rng):
    c = make_circuit(rng, hidden=(3,))
    new = [a * 2.0 for a in c.conductances]
    text = render(c.compile(new), np.zeros(c.topology.n_inputs))
    r0 = next(line for line in text.splitlines() if line.startswith("R0_0_0 "))
    assert float(r0.split()[-1]) == pytest.approx(1.0 / new[0][0, 0], rel=1e-15)
    assert render(c, np.zeros(c.topology.n_inputs)) == render(c.compile(), np.zeros(c.topology.n_inputs))
