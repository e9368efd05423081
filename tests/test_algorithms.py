"""Analog update algorithms: drift to the symmetric point, residual learning, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.cli import cli
from ebana.config import AlgorithmConfig, DeviceConfig, apply_overrides, preset
from ebana.errors import ConfigError
from ebana.training import Trainer
from ebana.updates import IdealUpdate
from ebana.updates.algorithms import create_algorithm
from tests.conftest import interrupted_and_resumed

G_MIN, G_MAX = 1e-7, 1e-5
DEV = DeviceConfig(model="soft_bounds_linear", preset="asymmetric")  # w⋄ = +0.18 (x⋄ ≈ 0.59)


def _w(g):
    return 2 * (np.asarray(g) - G_MIN) / (G_MAX - G_MIN) - 1


def _quadratic(updater, w_star, sigma, steps=1500, n=400, seed=0):
    """Noisy SGD on f = ||w - w*||²/4 (w = 2Gn - 1); mean w over the last third of the run."""
    rng = np.random.default_rng(seed)
    g = updater.conductances()
    tail = []
    for k in range(steps):
        grad = (_w(g[0]) - w_star) / 2 + sigma * rng.standard_normal(g[0].shape)
        g = updater.step([grad], 1.0)
        if k >= 2 * steps // 3:
            tail.append(_w(g[0]).mean())
    return float(np.mean(tail))


def _updater(name, w_star, n=400, **kw):
    g0 = [np.full((1, n), G_MIN + (w_star + 1) / 2 * (G_MAX - G_MIN))]
    alg = AlgorithmConfig(name=name, **kw)
    up = create_algorithm(DEV, alg, "sgd", g0, G_MIN, G_MAX, lr_ref=1.0, rng=np.random.default_rng(1))
    up.request.lr_scale = [up.eps]  # one unit of gradient = one pulse step
    return up


def test_analog_sgd_drifts_to_symmetric_point_with_gradient_noise():
    """Seed 001, Thm. 1: the stationary point moves from w* toward w⋄, more with more noise."""
    w_star = -0.5
    up = _updater("analog_sgd", w_star)
    w_sym = up.curve.w_sym
    assert w_sym == pytest.approx(0.18, abs=0.02)
    ideal = IdealUpdate("sgd", [np.full((1, 400), G_MIN + (w_star + 1) / 2 * (G_MAX - G_MIN))], G_MIN, G_MAX,
                        lr_scale=[up.eps])
    w_ideal = _quadratic(ideal, w_star, 1.0)
    w_lo = _quadratic(_updater("analog_sgd", w_star), w_star, 0.3)
    w_hi = _quadratic(_updater("analog_sgd", w_star), w_star, 1.0)
    assert abs(w_ideal - w_star) < 0.02
    assert w_star + 0.03 < w_lo < w_hi < w_sym  # drawn toward w⋄, by more at higher noise
    # linear soft bounds: the implicit penalty is Σ/(2τ)·||w - w⋄||²-like, so the pull is large
    assert w_hi - w_star > 0.3 * (w_sym - w_star)
    # residual learning (W + γP, zero-shifted P) converges much closer to w*
    w_res = _quadratic(_updater("residual", w_star, gamma=0.5), w_star, 1.0, steps=3000)
    assert abs(w_res - w_star) < 0.5 * abs(w_hi - w_star)


def test_residual_transfer_rate_sets_the_damping_of_w_plus_gamma_p():
    """W integrates P, P integrates the gradient: on f = h·||w - w*||²/2 the mixed weight is a
    second-order loop with damping ζ = (γ/2)·√(α·h/β) (config.AlgorithmConfig.transfer_rate).
    Here α·h = ε/range ≈ 0.019 and γ = 0.5, so ζ ≈ 0.11, 0.34, 1.1 at β = 0.1, 0.01, 0.001.
    The linear loop started at P = 0 (the mixed weight moves at once) overshoots a step of 0.5
    by 73 %, 41 %, 12 % of it; the device's soft bounds and rounding give about 44, 23, 5 %."""
    w_star, w0 = -0.3, 0.2

    def overshoot(beta):
        up = _updater("residual", w0, gamma=0.5, transfer_rate=beta)
        g, low = up.conductances(), w0
        for _ in range(1500):
            g = up.step([(_w(g[0]) - w_star) / 2], 1.0)
            low = min(low, float(_w(g[0]).mean()))
        return (w_star - low) / (w0 - w_star)

    o = [overshoot(b) for b in (0.1, 0.01, 0.001)]
    assert o[0] > o[1] > o[2]
    assert o[0] > 0.3 and o[2] < 0.2


def test_write_pulses_touches_only_pulsed_devices_and_equals_pulsing_all():
    """write_pulses skips devices with n = 0; the result equals one apply_pulse over all devices
    (zero width where n = 0), with and without per-device (d2d) parameters."""
    from ebana import devices
    from ebana.updates.algorithms import write_pulses

    rng = np.random.default_rng(3)
    x = rng.uniform(0.2, 0.8, 500)
    n = rng.integers(-3, 4, 500) * (rng.random(500) < 0.2)
    base = devices.create("soft_bounds_linear", preset="asymmetric").with_range(1e5, 1e7)
    cases = [(base, x, n), (base.with_variability(500, np.random.default_rng(4), 0.1), x, n),
             (base, x.reshape(20, 25), n.reshape(20, 25)),  # any shape, as apply_pulse
             (base.with_variability((20, 25), np.random.default_rng(4), 0.1), x.reshape(20, 25), n.reshape(20, 25))]
    for model, x, n in cases:
        v = np.where(n > 0, 1.0, np.where(n < 0, -1.0, 0.0))
        full = model.apply_pulse(x, v, np.abs(n) * 2e-6)
        x_new, e = write_pulses(model, x, n, 1.0, -1.0, 2e-6)
        np.testing.assert_allclose(x_new, full.x, rtol=0, atol=1e-15)
        np.testing.assert_allclose(e, np.where(n != 0, full.energy, 0.0), rtol=1e-12, atol=0)
        assert np.all(x_new[n == 0] == x[n == 0]) and np.all(e[n == 0] == 0)
        assert np.any(x_new[n != 0] != x[n != 0])


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_requested_change_is_the_ideal_step(optimizer):
    """The algorithms request exactly IdealUpdate's step (Adam: with its bias correction)."""
    n, lr = 50, 1e-8
    g0 = [np.full((1, n), 0.5 * (G_MIN + G_MAX))]
    up = create_algorithm(DEV, AlgorithmConfig(name="analog_sgd"), optimizer, g0, G_MIN, G_MAX, lr_ref=lr,
                          rng=np.random.default_rng(1))
    ideal = IdealUpdate(optimizer, g0, G_MIN, G_MAX)
    rng = np.random.default_rng(2)
    g = g0
    for _ in range(3):
        grad = [rng.standard_normal((1, n))]
        dg = up.request(grad, lr)
        g_new = ideal.step(grad, lr)
        np.testing.assert_allclose(dg, (g_new[0] - g[0]).ravel(), rtol=1e-5, atol=1e-20)
        g = g_new


def test_mixed_precision_writes_whole_pulses_past_threshold():
    up = _updater("mixed_precision", 0.0, n=10, threshold=None)
    g0 = up.conductances()
    g1 = up.step([np.full((1, 10), 0.4)], 1.0)  # 0.4 pulse steps requested: nothing written
    assert np.array_equal(g1[0], g0[0]) and up.report.n_pulses == 0
    g2 = up.step([np.full((1, 10), 0.7)], 1.0)  # 1.1 accumulated -> one pulse down each
    assert up.report.n_pulses == 10 and np.all(g2[0] < g1[0])
    assert np.allclose(up.policy.acc, -0.1 * up.eps)


def test_symmetric_reference_and_iris_residual_beats_analog_sgd(tmp_path):
    """IRIS, asymmetric device, noise-dominated pulse SGD (the recipe of experiments/analog_algorithms,
    10 epochs): residual learning's train accuracy is closer to the ideal update's than analog SGD's."""
    base = preset("iris")
    acc = {}
    for name, over in (("ideal", {}),
                       ("analog_sgd", {"algorithm.name": "analog_sgd", "algorithm.reference": "fixed"}),
                       ("residual", {"algorithm.name": "residual"}),
                       ("sp", {"algorithm.name": "analog_sgd", "algorithm.reference": "symmetric"})):
        if name != "ideal":
            over = {"device.model": "soft_bounds_linear", "device.preset": "asymmetric", **over}
        cfg = apply_overrides(base, {"epochs": 10, "optimizer": "sgd", "lr": 1e-10, "batch_size": 2, **over})
        tr = Trainer(cfg, tmp_path / name)
        if name == "sp":  # reference devices sit at the symmetric point, and stay there
            up = tr.updater
            refs = np.concatenate([g.ravel() for g in up.conductances()])[~up.request.trained]
            assert np.all(np.abs(refs - up.curve.g_sym) < up.eps)
        hist = tr.run()
        acc[name] = np.mean([h["train_acc"] for h in hist[-3:]])
    assert abs(acc["residual"] - acc["ideal"]) < abs(acc["analog_sgd"] - acc["ideal"])


@pytest.mark.parametrize("alg", [{"algorithm.name": "analog_sgd", "algorithm.reference": "symmetric"},
                                 {"algorithm.name": "mixed_precision", "algorithm.reference": "fixed"},
                                 {"algorithm.name": "residual"}, {"algorithm.name": "residual_v2"}])
def test_algorithm_run_interrupt_and_resume_equals_uninterrupted(tmp_path, alg):
    """Ctrl-C mid-epoch, then --resume: device states, accumulators (χ, P, H), pulses and energy
    equal the uninterrupted run bit for bit (cycle-to-cycle noise on, so the rng state counts)."""
    over = {"epochs": 2, "optimizer": "sgd", "lr": 1e-10, "batch_size": 8, "device.model": "soft_bounds_linear",
            "device.preset": "asymmetric", "device.c2c": 0.1, "algorithm.sp_max_cycles": 200, **alg}
    ref, resumed = interrupted_and_resumed(apply_overrides(preset("iris"), over), tmp_path, (1, 5))
    a, b = ref.updater.state_dict(), resumed.updater.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k
    assert [r["test_loss"] for r in ref.history] == [r["test_loss"] for r in resumed.history]
    assert [r["e_write"] for r in ref.history] == [r["e_write"] for r in resumed.history]
    assert ref.pulses_total == resumed.pulses_total


@pytest.mark.parametrize("kw,pattern", [
    ({"gamma": 0.0}, "algorithm.gamma must be > 0"),
    ({"gamma": -1.0}, "algorithm.gamma must be > 0"),
    ({"transfer_rate": 0.0}, r"transfer_rate must be in \(0, 1\]"),
    ({"transfer_rate": 1.5}, r"transfer_rate must be in \(0, 1\]"),
    ({"name": "residul"}, "did you mean 'residual'"),
    ({"reference": "mid"}, "unknown algorithm.reference"),
])
def test_bad_algorithm_config(kw, pattern):
    with pytest.raises(ConfigError, match=pattern) as err:
        AlgorithmConfig(**kw)
    assert "\n" not in str(err.value)


def test_threshold_below_one_pulse_step():
    with pytest.raises(ConfigError, match="below one pulse step") as err:
        _updater("mixed_precision", 0.0, n=4, threshold=1e-12)
    assert "\n" not in str(err.value)


def test_cli_algorithm_errors_are_one_line(tmp_path):
    r = CliRunner()
    for args in (["--algorithm", "residual", "--gamma", "0"], ["--algorithm", "residual_v2", "--transfer-rate", "2"],
                 ["--algorithm", "mixed_precision", "--threshold", "1e-12"], ["--algorithm", "residual"]):
        extra = [] if args == ["--algorithm", "residual"] else ["--set", 'device.model="soft_bounds_linear"']
        res = r.invoke(cli, ["train", "iris", "--epochs", "1", "--quiet", "--out", str(tmp_path), *extra, *args])
        assert res.exit_code == 1, res.output
        assert len(res.output.strip().splitlines()) == 1, res.output


def test_split_pairs_apply_to_every_algorithm_and_refuse_a_reference():
    """``pairs = "split"`` reaches the composed Request of the pulse algorithms too (it was ignored by
    analog SGD); with a reference device, which is never programmed, it is refused."""
    from ebana.topology import Topology
    from ebana.updates import pair_index
    topo = Topology(2, (3,), 2, n_bias_input=1, n_bias_hidden=1)
    pairs = pair_index(topo)
    g = [np.full(c.shape, 0.5 * (G_MIN + G_MAX)) for c in topo.crossbars]
    split = DeviceConfig(model="soft_bounds_linear", preset="asymmetric", pairs="split")
    up = create_algorithm(split, AlgorithmConfig(name="mixed_precision"), "sgd", g, G_MIN, G_MAX, lr_ref=1.0,
                          pairs=pairs, rng=np.random.default_rng(0))
    grads = [np.random.default_rng(k).normal(size=c.shape) for k, c in enumerate(topo.crossbars)]
    dg = up.request(grads, 1e-7)[: g[0].size].reshape(g[0].shape)
    assert np.allclose(dg[:2] + dg[2:4], 0, atol=1e-20)               # ±ΔW/2 on the input pairs
    with pytest.raises(ConfigError, match="device.pairs = 'split' with algorithm.reference"):
        create_algorithm(split, AlgorithmConfig(name="analog_sgd", reference="fixed"), "sgd", g, G_MIN, G_MAX,
                         lr_ref=1.0, pairs=pairs)


def test_algorithms_are_compositions_of_request_policy_and_writer():
    """Each registered algorithm is a DeviceUpdate of the expected parts; their checkpoint entries
    together are the updater's state, and a fresh updater loaded with it continues identically."""
    from ebana.updates.algorithms import ResidualDevices, StandardPulses, StochasticPulses, ThresholdPulses
    from ebana.updates.device_update import Direct, Programmer
    g0 = [np.full((3, 8), 0.5 * (G_MIN + G_MAX))]
    expect = {"device": (Direct, Programmer, None), "analog_sgd": (StochasticPulses, StandardPulses, None),
              "mixed_precision": (ThresholdPulses, StandardPulses, None),
              "residual": (StochasticPulses, StandardPulses, StochasticPulses),
              "residual_v2": (StochasticPulses, StandardPulses, ThresholdPulses)}
    for name, (policy, writer, transfer) in expect.items():
        def make():
            return create_algorithm(DEV, AlgorithmConfig(name=name, transfer_every=1), "adam", g0, G_MIN, G_MAX,
                                    lr_ref=1e-7, rng=np.random.default_rng(4))
        up = make()
        assert isinstance(up.policy, policy) and isinstance(up.writer, writer), name
        assert (up.residual is None) == (transfer is None), name
        if transfer is not None:
            assert isinstance(up.residual, ResidualDevices) and isinstance(up.residual.transfer, transfer)
        rng = np.random.default_rng(0)
        for _ in range(3):
            up.step([rng.normal(size=(3, 8))], 3e-7)
        other = make()
        other.load_state_dict(up.state_dict())
        grad = [rng.normal(size=(3, 8))]
        a, b = up.step(grad, 3e-7), other.step(grad, 3e-7)
        assert np.array_equal(a[0], b[0]) and up.report == other.report, name
