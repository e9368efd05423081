"""Closed-form circuits solved by both backends (exact within 1e-9 V)."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.backends import create
from ebana.circuit import Circuit, CircuitParams
from ebana.topology import Topology

BACKENDS = ["numpy", pytest.param("ngspice", marks=pytest.mark.ngspice)]


def _solve(backend, circuit, x, i_nudge=None):
    return create(backend, circuit).solve(np.atleast_2d(x), i_nudge)


@pytest.mark.parametrize("backend", BACKENDS)
def test_divider(backend, rng):
    """One feature, no hidden layer: each output node divides x+ and x- by its two conductances."""
    p = CircuitParams(bias_input=(), bias_hidden=())
    c = Circuit.random(Topology(1, (), 2), p, rng)
    x = np.array([0.7])
    u_p, u_n = p.v_shift + p.v_scale * x[0], p.v_shift - p.v_scale * x[0]
    g = c.conductances[0]
    expect = (g[0] * u_p + g[1] * u_n) / (g[0] + g[1])
    got = _solve(backend, c, x).layers[1][0]
    assert np.max(np.abs(got - expect)) < 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
def test_parallel_conductances_with_bias_rows_and_nudge(backend, rng):
    """Output node = (sum_i G_i u_i + I) / sum_i G_i, with bias rows and an injected current."""
    p = CircuitParams(bias_input=(0.9, 0.3, 1.1), bias_hidden=())
    c = Circuit.random(Topology(3, (), 3, n_bias_input=3), p, rng)
    x = np.array([0.2, -0.8, 1.0])
    u = np.concatenate([p.v_shift + p.v_scale * x, p.v_shift - p.v_scale * x, p.bias_input])
    i_nudge = np.array([1e-7, -2e-7, 3e-7, 0.0, -1e-7, 5e-8])
    g = c.conductances[0]
    expect = (u @ g + i_nudge) / g.sum(axis=0)
    got = _solve(backend, c, x, i_nudge[None]).layers[1][0]
    assert np.max(np.abs(got - expect)) < 1e-9


def _one_neuron(c: Circuit, x: np.ndarray, segment: int) -> tuple[float, np.ndarray]:
    """Closed form of a 1-neuron hidden layer whose diodes are on `segment` (-1 low, 0 off, +1 high).

    Output nodes are linear in h: o_k = (G2_k w + G2b_k vb) / (G2_k + G2b_k), w = cm + g (h - cm).
    KCL at h: G1.(u - h) - alpha sum_k G2_k (w - o_k) - i_up(h) + i_low(h) = 0 is then linear in h.
    """
    p, d = c.params, c.params.diode
    u = np.concatenate([p.v_shift + p.v_scale * x, p.v_shift - p.v_scale * x, p.bias_input])
    g1, g2 = c.conductances[0][:, 0], c.conductances[1]
    vb = np.asarray(p.bias_hidden)
    s2 = g2.sum(axis=0)
    # w = a0 + a1 h ; o_k = (g2[0,k] w + vb.g2[1:,k]) / s2_k = b0_k + b1_k h
    a0, a1 = p.cm * (1 - p.gain), p.gain
    b0 = (g2[0] * a0 + vb @ g2[1:]) / s2
    b1 = g2[0] * a1 / s2
    # current leaving h into the amplifier: alpha sum_k G2_k (w - o_k) = c0 + c1 h
    c0 = p.alpha * np.sum(g2[0] * (a0 - b0))
    c1 = p.alpha * np.sum(g2[0] * (a1 - b1))
    # diode currents: up diode leaves h: g_off (h - V_BH) [+ dG (h - v_hi) if on]
    #                 low diode enters h: g_off (V_BL - h) [+ dG (v_lo - h) if on]
    dg = d.g_on - d.g_off
    k = g1.sum() + c1 + 2 * d.g_off
    r = g1 @ u - c0 + d.g_off * (p.v_bias_high + p.v_bias_low)
    if segment > 0:
        k, r = k + dg, r + dg * p.v_clamp_high
    elif segment < 0:
        k, r = k + dg, r + dg * p.v_clamp_low
    h = r / k
    return h, b0 + b1 * h


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("x, g_plus, segment", [(1.0, 1e-5, +1), (1.0, 1e-7, -1), (0.05, 5e-6, 0)])
def test_diode_clamp_and_amplifier_stage(backend, x, g_plus, segment):
    """A single hidden neuron: clamped high, clamped low, or free (the amplifier stage)."""
    p = CircuitParams(bias_input=(0.6,), bias_hidden=(0.6,))
    t = Topology(1, (1,), 2, n_bias_input=1, n_bias_hidden=1)
    g1 = np.array([[g_plus], [1e-5 if g_plus < 1e-6 else 1e-7], [2e-6]])
    g2 = np.array([[3e-6, 1e-6, 2e-6, 5e-6], [1e-6, 4e-6, 2e-6, 1e-6]])
    c = Circuit(t, p, [g1, g2])
    h, o = _one_neuron(c, np.array([x]), segment)
    lo, hi = p.v_clamp_low, p.v_clamp_high
    assert {+1: h > hi, -1: h < lo, 0: lo < h < hi}[segment]  # the assumed segment is consistent
    sol = _solve(backend, c, np.array([x]))
    assert abs(sol.layers[1][0, 0] - h) < 1e-9
    assert np.max(np.abs(sol.layers[2][0] - o)) < 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
def test_unit_gain_amplifier_is_a_wire(backend):
    """gain = cccs = 1: the amplifier is exactly a wire, so nudging currents flow back into h.

    Plain resistor network: o_k = h + I_k / G2_k and KCL at h gives h = (G1.u + sum I) / sum G1.
    """
    p = CircuitParams(bias_input=(), bias_hidden=(), gain=1.0, v_clamp_low=-10, v_clamp_high=10)
    c = Circuit(Topology(1, (1,), 2), p, [np.array([[2e-6], [1e-6]]), np.array([[1e-6, 3e-6, 2e-6, 4e-6]])])
    u = np.array([p.v_shift + p.v_scale * 0.5, p.v_shift - p.v_scale * 0.5])
    i_nudge = np.array([2e-7, -1e-7, 5e-8, 3e-7])
    h = (c.conductances[0][:, 0] @ u + i_nudge.sum()) / c.conductances[0].sum()
    sol = _solve(backend, c, np.array([0.5]), i_nudge[None])
    assert abs(sol.layers[1][0, 0] - h) < 1e-9
    assert np.max(np.abs(sol.layers[2][0] - (h + i_nudge / c.conductances[1][0]))) < 1e-9
