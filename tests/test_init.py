"""Initial conductances (config key ``init``): statistics of each initialiser, the default unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.builder import build_circuit
from ebana.circuit import CircuitParams, Circuit, initial_conductances
from ebana.config import TrainConfig, apply_overrides, preset
from ebana.errors import ConfigError
from ebana.topology import Topology

LO, HI = 1e-6, 1e-4
SHAPE = (400, 300)


def draw(init: str, seed: int = 0, fan_in: int = SHAPE[0]) -> np.ndarray:
    return initial_conductances(init, SHAPE, LO, HI, np.random.default_rng(seed), fan_in)


def test_uniform_is_the_historical_draw():
    """Default: bit for bit one rng.uniform(g_min, g_max) per crossbar, in crossbar order."""
    p = CircuitParams()
    topo = Topology(4, (5,), 3)
    c = Circuit.random(topo, p, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    for g, spec in zip(c.conductances, topo.crossbars):
        np.testing.assert_array_equal(g, rng.uniform(p.g_min, p.g_max, size=spec.shape))
    assert TrainConfig().init == "uniform"


def test_log_uniform_statistics():
    g = draw("log_uniform")
    assert g.min() >= LO and g.max() <= HI
    u = (np.log(g) - np.log(LO)) / (np.log(HI) - np.log(LO))   # U(0, 1) in log space
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    assert np.median(g) == pytest.approx(np.sqrt(LO * HI), rel=0.05)   # the geometric mean, not (LO+HI)/2


@pytest.mark.parametrize("init, std", [("glorot", np.sqrt(6 / (SHAPE[0] + SHAPE[1])) / np.sqrt(3)),
                                       ("he", np.sqrt(2 / SHAPE[0]))])
def test_glorot_he_statistics(init, std):
    """w = (g - g_c) / h has the initialiser's spread; the differential weight G+ - G- sqrt(2) more."""
    g = draw(init)
    gc, h = (LO + HI) / 2, (HI - LO) / 2
    w = (g - gc) / h
    assert abs(w.mean()) < 3 * std / np.sqrt(w.size) + 1e-12
    assert w.std() == pytest.approx(std, rel=0.01)
    dw = g[:SHAPE[0] // 2] - g[SHAPE[0] // 2:]   # x+ rows minus x- rows
    assert dw.std() == pytest.approx(np.sqrt(2) * h * std, rel=0.02)
    if init == "glorot":
        a = np.sqrt(6 / (SHAPE[0] + SHAPE[1]))
        assert np.abs(w).max() <= a and np.abs(w).max() > 0.99 * a


def test_he_clips_to_range_and_is_seeded():
    g = draw("he", fan_in=1)   # std sqrt(2) > 1: many clipped to the ends
    assert g.min() == LO and g.max() == HI
    np.testing.assert_array_equal(draw("he", 3), draw("he", 3))
    assert not np.array_equal(draw("he", 3), draw("he", 4))


def test_unknown_init_is_one_line_error():
    with pytest.raises(ConfigError, match="unknown init 'xavier'"):
        TrainConfig(init="xavier")
    with pytest.raises(ConfigError, match="unknown init"):
        draw("xavier")


@pytest.mark.parametrize("init", ["glorot", "he", "log_uniform"])
def test_config_init_reaches_the_circuit(init):
    cfg = apply_overrides(preset("iris"), {"init": init, "init_low": 2e-6, "init_high": 8e-6})
    c = build_circuit(cfg, 4, 3, np.random.default_rng(cfg.seed))
    ref = build_circuit(apply_overrides(cfg, {"init": "uniform"}), 4, 3, np.random.default_rng(cfg.seed))
    for g, r in zip(c.conductances, ref.conductances):
        assert g.min() >= 2e-6 and g.max() <= 8e-6 and not np.array_equal(g, r)


@pytest.mark.parametrize("init", ["glorot", "he", "log_uniform"])
def test_local_crossbars_keep_their_mask_and_ties(init):
    """A conv crossbar: 0 S off the mask, every copy of a shared weight alike; fan_in from the mask."""
    cfg = apply_overrides(preset("digits"), {"conv": "8x8x1,conv2k3valid", "hidden": "5", "init": init})
    c = build_circuit(cfg, 64, 10, np.random.default_rng(0))
    topo = c.topology
    tie = topo.ties[0]
    g = c.conductances[0]
    assert np.all(g[tie < 0] == 0) and np.all(g[tie >= 0] > 0)
    for t in np.unique(tie[tie >= 0])[:5]:
        assert np.ptp(g[tie == t]) == 0
    from ebana.circuit import _fan_in
    assert _fan_in(topo, topo.crossbars[0]) == int((tie >= 0).sum(axis=0).max()) < topo.crossbars[0].shape[0]
