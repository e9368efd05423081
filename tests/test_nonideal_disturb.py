"""Read disturb (nonideal.t_read): the phases' voltages move device states through the device model."""

from __future__ import annotations

import numpy as np
import pytest

from ebana import devices
from ebana.backends import create
from ebana.builder import build
from ebana.config import apply_overrides, preset
from ebana.errors import ConfigError
from ebana.phases import PhaseController
from ebana.training import Trainer
from ebana.updates.faults import device_drops
from tests.test_array_schemes import hp_exact, hp_none


def _batch(cfg, n=3):
    parts = build(cfg)
    ph = PhaseController(create("numpy", parts.circuit, conductances=parts.updater.conductances()), parts.loss,
                         cfg.beta, cfg.centered)
    res = ph.run(parts.x_train[:n], parts.data.y_train[:n])
    return parts, [res.free, res.a, res.b]


def test_continuous_drift_device_moves_by_the_closed_form():
    """HP without a window under each phase's drop V for t: R_OFF x + (R_ON - R_OFF) x^2/2 grows by k V t."""
    t = 2e-5   # short enough that no device reaches a bound (where the oracle no longer applies)
    cfg = apply_overrides(preset("iris"), {"device.model": "linear_ion_drift", "nonideal.t_read": t})
    parts, sols = _batch(cfg)
    up = parts.updater
    c = parts.circuit
    up.inner.array.model = hp_none().with_range(1 / c.params.g_max, 1 / c.params.g_min)
    up.inner.array.x = np.random.default_rng(2).uniform(0.3, 0.7, up.array.x.size)   # away from the bounds
    x0 = up.array.x.copy()
    up.read_disturb(c, sols)
    want = x0.copy()
    drops = []
    for s in sols:   # the drops by hand: wordlines / amplifier outputs / bias rows minus the column node
        xv = c.input_voltages(s.inputs())
        per = []
        for spec in c.topology.crossbars:
            rows = xv if spec.src == 0 else c.amplifier_out(s.layers[spec.src])
            rows = np.concatenate([rows, np.broadcast_to(c.bias_voltages(spec), (rows.shape[0], spec.shape[0] -
                                                                               rows.shape[1]))], axis=1)
            per.append(rows[:, :, None] - s.layers[spec.dst][:, None, :])
        drops.append(per)
    for b in range(sols[0].batch):
        for per in drops:
            want = hp_exact(want, np.concatenate([d[b].ravel() for d in per]), t)
    np.testing.assert_allclose(up.array.x, want, rtol=1e-12, atol=1e-15)
    assert np.max(np.abs(up.array.x - x0)) > 1e-4     # it did move: continuous drift
    for mine, ref in zip(device_drops(c, sols[1]), drops[1]):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-15)


def test_thresholded_device_below_threshold_stays():
    """VTEAM (dead zone -0.02 V < v < +0.2 V): devices whose every phase drop is inside never move."""
    cfg = apply_overrides(preset("iris"), {"device.model": "vteam", "nonideal.t_read": 1e-6})
    parts, sols = _batch(cfg)
    up, c = parts.updater, parts.circuit
    m = up.array.model
    lo, hi = m.v_th_reset, m.v_th_set
    v = np.stack([np.concatenate([d.reshape(d.shape[0], -1) for d in device_drops(c, s)], axis=1) for s in sols])
    inside = np.all((v > lo) & (v < hi), axis=(0, 1))
    x0 = up.array.x.copy()
    up.read_disturb(c, sols)
    assert inside.sum() > 10 and (~inside).sum() > 10
    assert np.array_equal(up.array.x[inside], x0[inside])
    assert np.any(up.array.x[~inside] != x0[~inside])


def test_read_disturb_changes_training_and_needs_a_device(tmp_path):
    base = {"epochs": 1, "device.model": "linear_ion_drift"}
    a = Trainer(apply_overrides(preset("iris"), base), tmp_path / "a").run()
    b = Trainer(apply_overrides(preset("iris"), {**base, "nonideal.t_read": 1e-2}), tmp_path / "b").run()
    assert a[-1]["test_loss"] != b[-1]["test_loss"]
    with pytest.raises(ConfigError, match="nonideal.t_read.*device model"):
        apply_overrides(preset("iris"), {"nonideal.t_read": 1e-6})
    with pytest.raises(ConfigError, match="nonideal.t_read"):
        apply_overrides(preset("iris"), {**base, "nonideal.t_read": -1.0})


def test_stuck_devices_are_not_disturbed():
    cfg = apply_overrides(preset("iris"), {"device.model": "linear_ion_drift", "nonideal.t_read": 1e-1,
                                           "nonideal.stuck_on": 0.2, "nonideal.stuck_off": 0.2})
    parts, sols = _batch(cfg)
    up = parts.updater
    x0 = up.array.x.copy()
    up.read_disturb(parts.circuit, sols)
    assert np.array_equal(up.array.x[up.stuck], x0[up.stuck]) and np.any(up.array.x[~up.stuck] != x0[~up.stuck])


def test_linear_ion_drift_default_window_is_what_runs():
    assert devices.create("linear_ion_drift").params.window == "biolek"   # the oracle test swaps in window none


def _hand_drops(c, s):
    """Every device's drop of solution ``s`` by hand: wordlines / amplifier outputs / bias rows minus the column."""
    xv = c.input_voltages(s.inputs())
    per = []
    for spec in c.topology.crossbars:
        rows = xv if spec.src == 0 else c.amplifier_out(s.layers[spec.src])
        rows = np.concatenate([rows, np.broadcast_to(c.bias_voltages(spec), (rows.shape[0], spec.shape[0] -
                                                                           rows.shape[1]))], axis=1)
        per.append(rows[:, :, None] - s.layers[spec.dst][:, None, :])
    return per


def test_residual_learnings_p_devices_are_disturbed_like_their_w_devices():
    """P is read with W's row and column voltages: each P device integrates the same drop (HP closed form)."""
    t = 2e-5
    cfg = apply_overrides(preset("iris"), {"device.model": "linear_ion_drift", "algorithm.name": "residual",
                                           "nonideal.t_read": t})
    parts, sols = _batch(cfg)
    up, c = parts.updater, parts.circuit
    res = up.inner.residual
    up.inner.array.model = hp_none().with_range(1 / c.params.g_max, 1 / c.params.g_min)
    rng = np.random.default_rng(3)
    up.inner.array.x = rng.uniform(0.3, 0.7, up.array.x.size)
    res.x_p = rng.uniform(0.3, 0.7, res.x_p.size)
    want_w, want_p = up.array.x.copy(), res.x_p.copy()
    drops = [_hand_drops(c, s) for s in sols]
    for b in range(sols[0].batch):
        for per in drops:
            v = np.concatenate([d[b].ravel() for d in per])
            want_w, want_p = hp_exact(want_w, v, t), hp_exact(want_p, v, t)
    p0 = res.x_p.copy()
    g = up.read_disturb(c, sols)
    np.testing.assert_allclose(res.x_p, want_p, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(up.array.x, want_w, rtol=1e-12, atol=1e-15)
    assert np.max(np.abs(res.x_p - p0)) > 1e-4
    mixed = res.mix(up.array.model.conductance(want_w), up.array, up.request.trained)   # the circuit sees W + γP
    np.testing.assert_allclose(np.concatenate([x.ravel() for x in g]), mixed, rtol=1e-12)


def test_inference_read_disturb_moves_devices_chunk_by_chunk(tmp_path):
    """t_read_eval: evaluation reads batch-size chunks (train, then test); each chunk's free phase moves
    every device by the HP closed form before the next chunk is solved."""
    t = 2e-6
    cfg = apply_overrides(preset("iris"), {"device.model": "linear_ion_drift", "nonideal.t_read_eval": t})
    tr, ref = Trainer(cfg, tmp_path / "run"), build(cfg)
    x0 = np.random.default_rng(4).uniform(0.3, 0.7, tr.updater.array.x.size)
    for up in (tr.updater, ref.updater):
        up.inner.array.model = hp_none().with_range(1 / tr.circuit.params.g_max, 1 / tr.circuit.params.g_min)
        up.inner.array.x = x0.copy()
    tr.backend.load(tr.updater.conductances(), validate=False)
    want, c, n = x0.copy(), ref.circuit, cfg.batch_size
    for xs in (ref.x_train, ref.x_test):
        for k in range(0, len(xs), n):
            ref.updater.inner.array.x = want
            sol = create("numpy", c, conductances=ref.updater.conductances()).solve(xs[k:k + n], None)
            per = _hand_drops(c, sol)
            for b in range(sol.batch):
                want = hp_exact(want, np.concatenate([d[b].ravel() for d in per]), t)
    tr.evaluate()
    np.testing.assert_allclose(tr.updater.array.x, want, rtol=1e-12, atol=1e-15)
    assert np.max(np.abs(tr.updater.array.x - x0)) > 1e-5   # it did move
    assert len(ref.x_train) > n                             # more than one chunk: the feedback is tested


def test_inference_read_disturb_off_leaves_evaluation_alone_and_needs_a_device(tmp_path):
    base = {"epochs": 2, "device.model": "linear_ion_drift"}
    tr = Trainer(apply_overrides(preset("iris"), base), tmp_path / "a")
    x0 = tr.updater.array.x.copy()
    tr.evaluate()
    assert np.array_equal(tr.updater.array.x, x0)
    a = Trainer(apply_overrides(preset("iris"), base), tmp_path / "b").run()
    b = Trainer(apply_overrides(preset("iris"), {**base, "nonideal.t_read_eval": 1e-2}), tmp_path / "c").run()
    assert a[0]["test_loss"] != b[0]["test_loss"] and a[1]["test_loss"] != b[1]["test_loss"]
    with pytest.raises(ConfigError, match="nonideal.t_read_eval.*device model"):
        apply_overrides(preset("iris"), {"nonideal.t_read_eval": 1e-6})
    with pytest.raises(ConfigError, match=r"nonideal.t_read_eval.*-1\.0"):
        apply_overrides(preset("iris"), {**base, "nonideal.t_read_eval": -1.0})


def _joglekar_batch(t, **model_kw):
    """IRIS batch of 3 under read disturb, every device a Joglekar (p = 1) HP device inside (0.2, 0.8)."""
    cfg = apply_overrides(preset("iris"), {"device.model": "linear_ion_drift", "device.preset": "memtorch_joglekar",
                                           "nonideal.t_read": t})
    parts, sols = _batch(cfg)
    up, c = parts.updater, parts.circuit
    assert up.array.model.params.window == "joglekar"
    if model_kw:
        up.inner.array.model = devices.create("linear_ion_drift", window="joglekar", **model_kw).with_range(
            1 / c.params.g_max, 1 / c.params.g_min)
    up.inner.array.x = np.random.default_rng(5).uniform(0.2, 0.8, up.array.x.size)
    return up, c, sols


def _reads(c, sols):
    """The batch's reads in time order (sample by sample, its phases in turn): one drop vector each."""
    drops = [_hand_drops(c, s) for s in sols]
    return [np.concatenate([d[b].ravel() for d in per]) for b in range(sols[0].batch) for per in drops]


def test_flux_controlled_device_moves_by_the_flux_of_the_whole_batch():
    """Joglekar p = 1: f = 4x(1 - x), dΦ/dt = k·V with Φ(x) = (R_OFF ln x - R_ON ln(1 - x))/4 (partial
    fractions of R(x)/f(x)); after the batch Φ has grown by k·t·Σ V over its 9 reads, whatever their order."""
    t = 1e-3
    up, c, sols = _joglekar_batch(t)
    assert up.array.model.flux_controlled
    p = up.array.model.params
    x0 = up.array.x.copy()
    up.read_disturb(c, sols)
    phi = lambda x: (p.r_off * np.log(x) - p.r_on * np.log1p(-x)) / 4   # noqa: E731
    flux = t * np.sum(_reads(c, sols), axis=0)
    np.testing.assert_allclose(phi(up.array.x) - phi(x0), p.k * flux, rtol=1e-9, atol=1e-9)
    assert np.max(np.abs(up.array.x - x0)) > 1e-3


def test_one_hold_equals_the_read_by_read_integration():
    """The batch as one hold of N·t at the mean drop gives the states the N reads give one by one."""
    t = 1e-3
    up, c, sols = _joglekar_batch(t)
    want = up.array.x.copy()
    for v in _reads(c, sols):
        want = up.array.model.apply_pulse(want, v, t, energy=False).x
    up.read_disturb(c, sols)
    np.testing.assert_allclose(up.array.x, want, rtol=1e-10, atol=1e-14)


def test_c2c_noise_keeps_one_draw_per_read():
    """With c2c noise every read draws its own noise: no shortcut, the rng stream is read by read."""
    t = 1e-3
    up, c, sols = _joglekar_batch(t, c2c=0.1)
    rng = np.random.default_rng()
    rng.bit_generator.state = up.array.rng.bit_generator.state
    want = up.array.x.copy()
    for v in _reads(c, sols):
        want = up.array.model.apply_pulse(want, v, t, rng=rng, energy=False).x
    up.read_disturb(c, sols)
    np.testing.assert_array_equal(up.array.x, want)


def test_only_symmetric_windows_that_vanish_at_both_bounds_are_flux_controlled():
    for window, want in (("joglekar", True), ("prodromakis", True), ("biolek", False), ("none", False)):
        assert devices.create("linear_ion_drift", window=window).flux_controlled is want
    assert not devices.create("vteam").flux_controlled and not devices.create("ideal").flux_controlled
