"""Settings users sweep must act: each test fails when its setting is ignored.

Found by planting one-line faults (issue 13): γ replaced by 1 in W + γP, ``pam_levels``
ignored, the cosine schedule made constant, device-to-device spread never applied,
``transfer_every`` ignored, the ``dg_error`` metric zeroed. Each test below names the fault
it catches.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from ebana.config import AlgorithmConfig, DeviceConfig, apply_overrides, preset
from ebana.training import Trainer
from ebana.updates import device_update
from ebana.updates.algorithms import create_algorithm

G_MIN, G_MAX = 1e-7, 1e-5
ASYM = DeviceConfig(model="soft_bounds_linear", preset="asymmetric")


def _residual(**alg):
    g0 = [np.full((4, 50), 0.5 * (G_MIN + G_MAX))]
    up = create_algorithm(ASYM, AlgorithmConfig(name="residual", **alg), "sgd", g0, G_MIN, G_MAX,
                          lr_ref=1.0, rng=np.random.default_rng(3))
    up.request.lr_scale = [up.eps]   # one unit of gradient = one pulse step
    return up, g0


def _grads(rng, shape=(4, 50)):
    return [rng.normal(0.0, 3.0, shape)]


def test_residual_mixes_w_and_gamma_p():
    """Fault: γ replaced by 1 in G = W + γP."""
    for gamma in (0.25, 2.0):
        up, g = _residual(gamma=gamma, transfer_rate=0.01)
        rng = np.random.default_rng(0)
        for _ in range(20):
            g = up.step(_grads(rng), 1.0)
        p = up.residual.p(up.model, up.request.trained)
        assert np.abs(p).max() > 0.05 * (G_MAX - G_MIN)   # P has moved
        w = up.model.conductance(up.x)
        expect = np.clip(w + gamma * p, G_MIN, G_MAX)
        assert np.allclose(np.ravel(g[0]), expect, rtol=0, atol=1e-15)
        assert not np.allclose(np.ravel(g[0]), np.clip(w + p, G_MIN, G_MAX), rtol=0, atol=1e-12)


def test_transfer_every_spaces_the_writes_to_w():
    """Fault: ``transfer_every`` ignored (W written every step)."""
    up, g = _residual(transfer_every=3, transfer_rate=0.5)
    rng = np.random.default_rng(1)
    changed = []
    for _ in range(9):
        x_before = up.x.copy()
        up.step(_grads(rng), 1.0)
        changed.append(not np.array_equal(up.x, x_before))
    assert changed == [False, False, True] * 3


def _device(**cfg):
    base = dict(model="ideal", scheme="pam", v_set=1.0, v_reset=-1.0)
    base.update(cfg)
    g0 = [np.full((20, 30), 0.5 * (G_MIN + G_MAX))]
    return device_update(DeviceConfig(**base), "sgd", g0, G_MIN, G_MAX, lr_ref=1e-7,
                        rng=np.random.default_rng(5)), g0


def test_pam_levels_quantise_the_amplitudes():
    """Fault: ``pam_levels`` ignored (continuous amplitudes)."""
    rng = np.random.default_rng(2)
    grad = [rng.uniform(-1.0, 1.0, (20, 30)) * 1e-7]
    cont, g0 = _device()
    quant, _ = _device(pam_levels=2)
    d_cont = cont.step(grad, 1.0)[0] - g0[0]
    d_quant = quant.step(grad, 1.0)[0] - g0[0]
    # the ideal device moves in proportion to V: two DAC levels leave at most 3 distinct steps (+-, 0 per level)
    assert len(np.unique(np.round(d_cont / 1e-12))) > 100
    levels = np.unique(np.round(np.abs(d_quant) / 1e-12))
    assert len(levels) <= 3, levels
    assert not np.allclose(d_cont, d_quant)


def test_d2d_spread_is_applied():
    """Fault: device-to-device spread never applied (every device nominal)."""
    grad = [np.full((20, 30), -1e-8)]
    same, g0 = _device(scheme="pwm")
    spread, _ = _device(scheme="pwm", d2d=0.3)
    d_same = same.step(grad, 1.0)[0] - g0[0]
    d_spread = spread.step(grad, 1.0)[0] - g0[0]
    assert np.std(d_same) < 1e-6 * np.mean(np.abs(d_same))
    assert np.std(d_spread) > 0.05 * np.mean(np.abs(d_spread))


def test_dg_error_is_achieved_minus_requested():
    """Fault: the ``dg_error`` metric zeroed (updater report and per-epoch metric)."""
    up, g0 = _device(scheme="pwm")
    grad = [np.full((20, 30), -1.0)]       # asks for far more than the range: saturates
    out = up.step(grad, 1e-5)[0]
    achieved = out - g0[0]
    requested = np.full((20, 30), 1e-5)
    assert up.report.dg_error == pytest.approx(np.abs(achieved - requested).sum(), rel=1e-9)
    assert up.report.dg_error > 0.5 * up.report.dg_requested


def _iris(tmp_path, **over):
    cfg = apply_overrides(preset("iris"), {"epochs": 2, "batch_size": 15, **over})
    return Trainer(cfg, tmp_path / "run")


def test_epoch_metric_dg_error_matches_the_reports(tmp_path):
    """Fault: ``dg_error`` zeroed in the epoch metrics (accounting, not the updater)."""
    tr = _iris(tmp_path, **{"device.model": "vteam", "device.energy": False})
    seen = []
    orig = tr._account

    def spy(rep):
        if rep is not None and tr.epoch == 0:
            seen.append((rep.dg_error, rep.dg_requested))
        orig(rep)

    tr._account = spy
    tr.run()
    err, req = map(sum, zip(*seen))
    with open(tmp_path / "run" / "metrics.csv") as fh:
        row = next(csv.DictReader(fh))
    assert err > 0
    assert float(row["dg_error"]) == pytest.approx(err / req, rel=1e-9)


def test_cosine_schedule_reaches_the_updater(tmp_path):
    """Fault: the cosine schedule made constant."""
    for schedule in ("cosine", "constant"):
        tr = _iris(tmp_path / schedule, lr_schedule=schedule)
        lrs = []
        step = tr.updater.step

        def spy(grads, lr, step=step):
            lrs.append(lr)
            return step(grads, lr)

        tr.updater.step = spy
        tr.run()
        n = len(lrs)
        assert n == 2 * tr.n_batches
        lr0 = tr.cfg.lr
        if schedule == "constant":
            assert all(v == lr0 for v in lrs)
        else:
            expect = [lr0 * 0.5 * (1 + math.cos(math.pi * k / n)) for k in range(n)]
            assert np.allclose(lrs, expect, rtol=1e-12)
            assert lrs[n // 2] == pytest.approx(lr0 / 2, rel=0.2)
