"""The ngspice backend after an op that needed gmin/source stepping: ngspice then keeps a 1e-12 S
shunt at every node in later ops of the loaded circuit (a KCL error of 1e-12 S x V, 2.5e-7 V here),
so the backend reloads the circuit. Every sample of a batch then equals numpy within 1e-9 V,
whatever came before it. (Found by a randomized numpy/ngspice parity run.)"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ebana.backends import create
from ebana.circuit import Circuit, CircuitParams, DiodeParams
from ebana.topology import Topology


def _stepping_circuit() -> tuple[Circuit, np.ndarray]:
    """2-7-4-3x2 with an input skip, ideal diodes and a 20 mV clamp window: sample 0 needs stepping."""
    t = Topology(2, (7, 4), 3, skips=((0, 3),), n_bias_input=3, n_bias_hidden=0)
    p = CircuitParams(v_shift=-0.3144719895774635, v_scale=0.6, bias_input=(0.4601840127237051, 0.18513951973659082,
                      0.8840064931324461), bias_hidden=(), v_clamp_low=-0.09753080720023921,
                      v_clamp_high=-0.07806746605577909, gain=1.0, v_cm=0.01033438602797676,
                      g_min=4.8319510479265345e-09, g_max=5.1633529786661365e-08,
                      diode=DiodeParams(model="ideal", v_th=0.0, r_on=0.0473569066904577, r_off=1e20))
    rng = np.random.default_rng(1165492775)
    c = Circuit(t, p, [rng.uniform(p.g_min, p.g_max, s.shape) for s in t.crossbars])
    return c, rng.uniform(-1, 1, (4, 2)) * 0.1


@pytest.mark.ngspice
def test_samples_after_a_stepping_op_are_exact(caplog):
    c, x = _stepping_circuit()
    ref = create("numpy", c).solve(x)
    ng = create("ngspice", c.copy())
    with caplog.at_level(logging.DEBUG, logger="ebana.backends.ngspice"):
        got = ng.solve(x)
    ng.close()
    assert any("needed stepping: circuit reloaded" in r.getMessage() for r in caplog.records)   # the case occurs
    for q in range(1, c.topology.n_layers):
        assert np.max(np.abs(got.layers[q] - ref.layers[q])) < 1e-9, q
