"""The numpy backend's Newton fallback (issue 14, item 1): strongly coupled circuits where BCD
contracts slowly are solved by Newton on the whole KCL, warm-started from the BCD iterate, and
certified by BCD sweeps from the Newton point (the stated bound is BCD's residual bound)."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.backends import create
from ebana.circuit import Circuit, CircuitParams, DiodeParams
from ebana.errors import ConvergenceError
from ebana.gradients import eqprop_gradients
from ebana.losses import create_loss
from ebana.topology import Topology
from tests.backends.test_solver_truth import ISSUE_X, _check_against, _issue_shockley_circuit


def coupled_circuit(model: str = "ideal", gain: float = 60.0, hidden=(4, 8, 12), seed: int = 0) -> Circuit:
    """Strongly coupled: a weak input crossbar (1e-7..3e-7 S) feeding strong hidden crossbars
    (5e-6..1e-5 S) through amplifiers with cccs_gain = gain, a clamp window (0, 1.2) V that
    leaves most nodes unclamped. BCD needs ~330 sweeps (rho ~ 0.9)."""
    diode = DiodeParams(model=model, v_th=0.6 if model == "shockley" else 0.15)
    p = CircuitParams(bias_input=(0.9, 0.3), bias_hidden=(0.3,), output_diodes=True, gain=gain, cccs_gain=gain,
                      diode=diode, v_clamp_low=0.0, v_clamp_high=1.2)
    t = Topology(4, hidden, 3, n_bias_input=2, n_bias_hidden=1)
    rng = np.random.default_rng(seed)
    return Circuit(t, p, [10 ** rng.uniform(-7, -6.5, s.shape) if s.src == 0 else 10 ** rng.uniform(-5.3, -5, s.shape)
                          for s in t.crossbars])


X = np.random.default_rng(5).uniform(-1, 1, (4, 4))
INJ = np.random.default_rng(6).normal(0, 3e-7, (4, 6))


@pytest.mark.parametrize("model", ["ideal", "shockley"])
def test_bcd_alone_exceeds_300_sweeps(model):
    """Today's behaviour (the fallback disabled): ConvergenceError after max_sweeps = 300."""
    with pytest.raises(ConvergenceError, match="did not converge in 300 sweeps"):
        create("numpy", coupled_circuit(model), max_sweeps=300, newton_after=0).solve(X)


@pytest.mark.ngspice
@pytest.mark.parametrize("model", ["ideal", "shockley"])
def test_newton_fallback_solves_within_bound_of_ngspice(model):
    c = coupled_circuit(model)
    nb, ng = create("numpy", c, max_sweeps=300), create("ngspice", c.copy())
    free = nb.solve(X)
    warm = nb.solve(X, INJ, start=free)
    cold = nb.solve(X, INJ)
    for sol in (free, cold):
        assert sol.info["solver"] == "newton" and sol.sweeps < 40, (sol.sweeps, sol.info)
        assert sol.info["sweeps_before_newton"] + sol.info["certifying_sweeps"] == sol.sweeps
    ref_free, ref_nudged = ng.solve(X), ng.solve(X, INJ)
    for sol, ref, inj in ((free, ref_free, None), (warm, ref_nudged, INJ), (cold, ref_nudged, INJ)):
        assert sol.info["error_bound"] < 1e-10
        _check_against(c, sol, ref, X, inj)


@pytest.mark.ngspice
def test_newton_on_the_issue_shockley_circuit():
    """The issue's gain-100 Shockley IRIS circuit (BCD converges there in ~10 sweeps): Newton
    forced after 2 sweeps gives the same operating point, within its bound of ngspice."""
    c = _issue_shockley_circuit()
    nb, ng = create("numpy", c, max_sweeps=300, newton_after=2), create("ngspice", c.copy())
    inj = np.array([[3e-7, -3e-7, -2e-7, 2e-7, 1e-7, -1e-7]])
    free = nb.solve(ISSUE_X)
    assert free.info["solver"] == "newton"
    for i_nudge, sol in ((None, free), (inj, nb.solve(ISSUE_X, inj))):
        ref = ng.solve(ISSUE_X, i_nudge)
        assert np.max(np.abs(np.concatenate([sol.layers[q] - ref.layers[q] for q in (1, 2, 3)], axis=1))) < 1e-9
        _check_against(c, sol, ref, ISSUE_X, i_nudge)


def test_normal_circuits_do_not_use_newton():
    """A weakly coupled gain-10 net converges by BCD alone (the fallback costs nothing there)."""
    p = CircuitParams(gain=10.0)
    t = Topology(4, (8,), 3, n_bias_input=2, n_bias_hidden=2)
    c = Circuit.random(t, p, np.random.default_rng(0))
    sol = create("numpy", c).solve(X)
    assert sol.info["solver"] == "bcd" and "newton_iterations" not in sol.info


def test_gradients_through_newton_match_finite_differences():
    """Centered EqProp from Newton-finished solves vs finite differences of the loss, the latter
    from BCD-only solves (an independent solver) at the rounding floor."""
    c = coupled_circuit("ideal", hidden=(3, 6))
    x, y = X[:2], np.array([0, 2])
    loss = create_loss("mse")
    beta = 1e-9
    nb = create("numpy", c.copy())
    free = nb.solve(x, tol=1e-16)
    assert free.info["solver"] == "newton"
    inj = c.nudge_currents(loss.grad(c.prediction(free.output), y), beta)
    a, b = nb.solve(x, inj, tol=1e-16), nb.solve(x, -inj, tol=1e-16)
    assert a.info["solver"] == b.info["solver"] == "newton"
    grads = eqprop_gradients(c, a, b, beta, -beta)
    ref = create("numpy", c.copy(), newton_after=0)

    def loss_at(gs):
        ref.load(gs)
        sol = ref.solve(x, tol=1e-16)
        assert sol.info["solver"] == "bcd"
        return float(loss.value(c.prediction(sol.output), y).mean())

    for k in range(len(grads)):
        i, j = np.unravel_index(np.argmax(np.abs(grads[k])), grads[k].shape)
        gs = [g.copy() for g in c.conductances]
        h = 1e-2 * gs[k][i, j]   # the solves are rounding-limited (~1e-12 V): a smaller step is noise
        gs[k][i, j] += h
        lp = loss_at(gs)
        gs[k][i, j] -= 2 * h
        lm = loss_at(gs)
        fd = (lp - lm) / (2 * h)
        assert fd == pytest.approx(grads[k][i, j], rel=1e-3), (k, fd, grads[k][i, j])
