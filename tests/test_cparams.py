"""Trainable circuit parameters (clamp-diode biases, gain): EqProp gradients vs finite differences of
the equilibrium loss (numpy and ngspice), the co-content, freezing, per-crossbar lr, checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import io
from pathlib import Path

import numpy as np
import pytest

from ebana import cparams as cp
from ebana.backends import create
from ebana.circuit import Circuit, DiodeParams, diode_branch
from ebana.config import apply_overrides, preset
from ebana.errors import ConfigError
from ebana.losses import create_loss
from ebana.phases import PhaseController
from tests.conftest import cli_env, interrupted_and_resumed, make_circuit

NAMES = ("diode_bias", "gain")
ROOT = Path(__file__).resolve().parents[1]


def _loss_of(c, x, y, loss, backend="numpy", names=NAMES):
    """The mean free-phase loss (equilibrium loss) as a function of the circuit values of ``names``."""
    def f(values):
        cc = Circuit(c.topology, cp.with_values(c.params, names, values), c.conductances)
        b = create(backend, cc)
        try:
            return loss.value(cc.prediction(b.solve(x).output), y).mean()
        finally:
            b.close()
    return f


def _central(f, v0, h=1e-5):
    """Central differences of f at v0, step h (a scalar, or one step per entry)."""
    h = np.broadcast_to(np.asarray(h, dtype=float), (len(v0),))
    out = []
    for k in range(len(v0)):
        e = np.zeros(len(v0))
        e[k] = h[k]
        out.append((f(v0 + e) - f(v0 - e)) / (2 * h[k]))
    return np.array(out)


def _eqprop(c, x, y, loss, beta, backend="numpy", centered=True, names=NAMES):
    be = create(backend, c)
    try:
        r = PhaseController(be, loss, beta, centered=centered).run(x, y)
        return cp.parameter_gradients(be.model, r.a, r.b, r.beta_a, r.beta_b, names)
    finally:
        be.close()


CASES = {
    "shockley": dict(diode="shockley"),
    "shockley-2hidden": dict(diode="shockley", hidden=(5, 4)),
    "shockley-rs": dict(diode="shockley", rs=200.0),
    "ideal": dict(diode="ideal"),
    "reciprocal": dict(diode="shockley", cccs_gain=4.0),
    "fixed-cccs": dict(diode="shockley", cccs_gain=0.5),
    "output-diodes": dict(diode="shockley", output_diodes=True),
    "lines": dict(diode="shockley", r_wordline=50.0, r_bitline=30.0),
}


def _case(rng, name):
    kw = dict(CASES[name])
    rs = kw.pop("rs", None)
    hidden = kw.pop("hidden", (5,))
    c = make_circuit(rng, n_in=3, hidden=hidden, n_cls=3, **kw)
    if rs is not None:
        from dataclasses import replace
        c = Circuit(c.topology, replace(c.params, diode=replace(c.params.diode, r_s=rs)), c.conductances)
    x = rng.uniform(-1, 1, (12, 3))
    y = rng.integers(0, 3, 12)
    return c, x, y, create_loss("ce", tau=0.02)


@pytest.mark.parametrize("name", list(CASES))
def test_eqprop_parameter_gradients_match_finite_differences(rng, name):
    c, x, y, loss = _case(rng, name)
    fd = _central(_loss_of(c, x, y, loss), cp.param_values(c.params, NAMES))
    est = _eqprop(c, x, y, loss, 1e-10)
    assert np.any(np.abs(fd[:2]) > 1e-3) and abs(fd[2]) > 1e-3, fd   # the clamps and the gain matter here
    live = np.abs(fd) > 1e-4      # below: no clamp conducts (ideal diodes), fd is solver rounding (~1e-7)
    assert np.all(np.abs(est - fd)[live] <= 1e-3 * np.abs(fd[live])), (est, fd)
    assert np.all(np.abs(est - fd)[~live] < 1e-6), (est, fd)
    if c.params.diode.model == "ideal":
        return   # piecewise linear: a larger nudge moves nodes across the knee (no smooth beta^2 law)
    # the error is the O(beta^2) bias of centered nudging: it grows 100x from beta 1e-8 to 1e-7
    e1, e2 = (np.abs(_eqprop(c, x, y, loss, b) - fd)[live].max() for b in (1e-8, 1e-7))
    assert 30 < e2 / e1 < 300


def test_one_sided_parameter_gradient_has_first_order_bias(rng):
    c, x, y, loss = _case(rng, "shockley")
    fd = _central(_loss_of(c, x, y, loss), cp.param_values(c.params, NAMES))
    e1, e2 = (np.abs(_eqprop(c, x, y, loss, b, centered=False) - fd).max() for b in (1e-8, 1e-7))
    assert 5 < e2 / e1 < 20


@pytest.mark.ngspice
@pytest.mark.parametrize("name", ["shockley", "shockley-2hidden", "lines"])
def test_parameter_gradients_through_ngspice(rng, name):
    """The phases solved by stock ngspice give the same estimate, against ngspice's own finite differences."""
    c, x, y, loss = _case(rng, name)
    x, y = x[:3], y[:3]
    fd = _central(_loss_of(c, x, y, loss, "ngspice"), cp.param_values(c.params, NAMES))
    est = _eqprop(c, x, y, loss, 1e-9, backend="ngspice")
    live = np.abs(fd) > 1e-6
    assert live.sum() >= 2
    assert np.all(np.abs(est - fd)[live] <= 1e-3 * np.abs(fd[live])), (est, fd)


@pytest.mark.parametrize("d", [DiodeParams(model="ideal"), DiodeParams(model="shockley", v_th=0.6),
                               DiodeParams(model="shockley", n=1.8, r_s=500.0)], ids=["ideal", "shockley", "rs"])
def test_diode_cocontent_derivative_is_the_current(d):
    x = np.concatenate([np.linspace(-1.0, -0.01, 41), np.linspace(0.013, 0.9, 41)])   # reverse tail and forward
    h = 1e-6
    num = (cp.diode_cocontent(x + h, d) - cp.diode_cocontent(x - h, d)) / (2 * h)
    i = cp._branch_current(x, d)
    if d.model == "shockley":
        assert np.allclose(i, diode_branch(x, d)[0], rtol=0, atol=0)
    assert np.allclose(num, i, rtol=1e-6, atol=1e-15)
    assert cp.diode_cocontent(np.zeros(1), d)[0] == pytest.approx(0.0, abs=1e-30)


def _cfg(**over):
    return apply_overrides(preset("iris"), {"epochs": 2, "limit_train": 40, **over})


def test_freeze_keeps_values_bit_exact(tmp_path):
    from ebana.training import Trainer
    cfg = _cfg(**{"train.trainable": ["diode_bias", "gain"], "train.freeze": ["crossbar0", "gain"],
                  "train.lr_diode_bias": 0.05})
    tr = Trainer(cfg, tmp_path / "run")
    g0 = [g.copy() for g in tr.circuit.conductances]
    p0 = tr.circuit.params
    tr.run()
    g1 = tr.backend.model.conductances   # (tr.circuit keeps the drawn conductances of a run without trainables)
    assert np.array_equal(g0[0], g1[0]) and not np.array_equal(g0[1], g1[1])
    assert tr.circuit.params.gain == p0.gain
    assert tr.circuit.params.v_clamp_high != p0.v_clamp_high   # diode_bias is trained
    assert tr.cparams.keys == ("v_clamp_high", "v_clamp_low")


def test_freeze_in_a_device_run_sends_no_pulse_to_the_crossbar(tmp_path):
    from ebana.training import Trainer
    cfg = apply_overrides(preset("iris"), {"epochs": 1, "limit_train": 40, "device.model": "vteam",
                                           "device.r_ratio": 100, "train.freeze": ["crossbar1"]})
    tr = Trainer(cfg, tmp_path / "run")
    g0 = [g.copy() for g in tr.backend.model.conductances]
    tr.run()
    g1 = tr.backend.model.conductances
    assert np.array_equal(g0[1], g1[1]) and not np.array_equal(g0[0], g1[0])


def test_layer_lr_scales_the_crossbar_steps(tmp_path):
    from ebana.training import Trainer
    runs = {}
    for name, f in (("one", [1.0, 1.0]), ("zero", [1.0, 0.0])):
        tr = Trainer(_cfg(epochs=1, **{"train.layer_lr": f}), tmp_path / name)
        g0 = [g.copy() for g in tr.circuit.conductances]
        tr.run()
        runs[name] = (g0, tr.backend.model.conductances)
    ref = Trainer(_cfg(epochs=1), tmp_path / "ref")
    ref.run()
    assert all(np.array_equal(a, b) for a, b in zip(runs["one"][1], ref.backend.model.conductances))   # 1 = none
    assert np.array_equal(runs["zero"][0][1], runs["zero"][1][1])
    assert not np.array_equal(runs["zero"][0][0], runs["zero"][1][0])


def test_bad_train_keys_are_one_line_errors():
    from ebana.builder import build
    with pytest.raises(ConfigError, match=r"train.layer_lr has 3 factors, the network has 2 crossbars"):
        build(_cfg(**{"train.layer_lr": [1.0, 1.0, 1.0]}))
    with pytest.raises(ConfigError, match=r"train.freeze entry 'crossbar5'"):
        build(_cfg(**{"train.freeze": ["crossbar5"]}))
    with pytest.raises(ConfigError, match=r"unknown train.trainable 'bias'"):
        _cfg(**{"train.trainable": ["bias"]})
    with pytest.raises(ConfigError, match=r"train.lr_gain must be > 0, got -1.0"):
        _cfg(**{"train.lr_gain": -1.0})
    with pytest.raises(ConfigError, match=r"train.layer_lr\[1\] must be a factor >= 0"):
        _cfg(**{"train.layer_lr": [1.0, -0.5]})
    c = make_circuit(np.random.default_rng(0), hidden=())
    with pytest.raises(ConfigError, match="'gain' needs a hidden layer"):
        cp.check_trainable(c, ["gain"])
    with pytest.raises(ConfigError, match="'diode_bias' needs clamped neurons"):
        cp.check_trainable(c, ["diode_bias"])


def test_resume_with_trainable_parameters_is_bit_exact(tmp_path):
    cfg = _cfg(epochs=3, **{"train.trainable": ["diode_bias", "gain"], "train.lr_diode_bias": 0.02})
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (1, 2))
    for a, b in zip(ref.backend.model.conductances, resumed.backend.model.conductances):
        assert np.array_equal(a, b)
    assert ref.circuit.params == resumed.circuit.params
    assert ref.circuit.params.gain != preset("iris").circuit.gain
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in ref.history] == \
        [{k: v for k, v in r.items() if k not in drop} for r in resumed.history]


@pytest.mark.ngspice
def test_trained_values_reach_the_netlist_and_ngspice(tmp_path):
    """The checkpoint's circuit carries the trained values; ngspice solves it as numpy does (1e-9 V)."""
    from ebana.checkpoint import load_checkpoint_circuit
    from ebana.netlist import render
    from ebana.training import Trainer
    cfg = _cfg(**{"train.trainable": ["diode_bias", "gain"], "train.lr_diode_bias": 0.02})
    tr = Trainer(cfg, tmp_path / "run")
    tr.run()
    _, c = load_checkpoint_circuit(tmp_path / "run")
    assert c.params == tr.circuit.params and c.params.gain != cfg.circuit.gain
    assert c.params.v_clamp_high != cfg.circuit.v_clamp_high
    text = render(c.compile(), tr.x_test[0], None)
    assert f"{c.params.v_bias_high:.17g}"[:10] in text.replace("+", "")
    x = tr.x_test[:4]
    sols = [create(n, c).solve(x) for n in ("numpy", "ngspice")]
    assert max(np.abs(a - b).max() for a, b in zip(sols[0].layers[1:], sols[1].layers[1:])) <= 1e-9


def _tree_before_feature(dest: Path) -> Path | None:
    """The ebana package of the commit before ``ebana/cparams.py`` was added, extracted to ``dest``."""
    try:
        added = subprocess.run(["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H", "--",
                                "ebana/cparams.py"], capture_output=True, text=True, check=True).stdout.split()
        if not added:
            return None
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", f"{added[-1]}~1", "ebana"], capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(dest, filter="data")
    return dest


def test_nothing_trainable_is_bit_identical_to_before(tmp_path):
    """A run with the default [train] section equals, bit for bit, the same run of the code before it existed."""
    old = _tree_before_feature(tmp_path / "old")
    if old is None:
        pytest.skip("not a git checkout with the commit before ebana/cparams.py")
    # an editable install's import hook (setuptools' __editable__ finder on sys.meta_path) would serve the
    # checkout's ebana.* submodules that the old tree lacks: drop it so that PYTHONPATH alone decides
    own_tree = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path "
                "if not getattr(f, '__module__', '').startswith('__editable__')]; ")
    args = ["-c", own_tree + "from ebana.cli import main; main()", "train", "iris", "--epochs", "2", "--quiet",
            "--set", "limit_train=40"]
    outs = {}
    for name, src in (("old", old), ("new", ROOT)):
        check = subprocess.run([sys.executable, "-c", own_tree + "import ebana.cparams"],
                               env={**cli_env(), "PYTHONPATH": str(src)}, cwd=tmp_path, capture_output=True)
        assert (check.returncode == 0) == (name == "new")    # each run imports its own tree
        env = {**cli_env(), "PYTHONPATH": str(src)}
        out = tmp_path / f"run_{name}"
        subprocess.run([sys.executable, *args, "--out", str(out)], env=env, check=True, capture_output=True,
                       cwd=tmp_path)   # not the repository: python -c puts the working directory first
        with np.load(out / "conductances.npz") as z:
            gs = [z[f"g{k}"] for k in range(int(z["n_crossbars"]))]
        rows = [{k: v for k, v in r.items() if k != "seconds"}
                for r in json.loads(str(np.load(out / "checkpoint.npz")["history"]))]
        outs[name] = (gs, rows)
    assert all(np.array_equal(a, b) for a, b in zip(outs["old"][0], outs["new"][0]))
    assert outs["old"][1] == outs["new"][1]


def test_trained_values_survive_a_resume_that_stops_training_them(tmp_path):
    """Resume with train.trainable emptied: the trained values stay in the circuit and in every later checkpoint."""
    from ebana.checkpoint import load_checkpoint_circuit
    from ebana.training import Trainer
    cfg = _cfg(epochs=1, **{"train.trainable": ["gain"]})
    tr = Trainer(cfg, tmp_path / "run")
    tr.run()
    gain = tr.circuit.params.gain
    assert gain != cfg.circuit.gain
    more = apply_overrides(tr.cfg, {"epochs": 2, "train.trainable": []})
    tr2 = Trainer(more, tmp_path / "run", resume=True)
    assert tr2.circuit.params.gain == gain and tr2.cparams is None
    tr2.run()
    assert tr2.circuit.params.gain == gain
    assert load_checkpoint_circuit(tmp_path / "run")[1].params.gain == gain


# ---------------------------------------------------------------------- bias currents (circuit.i_bias)
ALL = ("diode_bias", "gain", "bias_current")


def _with_bias_currents(rng, c, scale=2e-6):
    """``c`` with a random bias current (A) into every hidden and output node."""
    from dataclasses import replace
    n = sum(c.topology.layer_size(q) for q in range(1, c.topology.n_layers))
    return Circuit(c.topology, replace(c.params, i_bias=tuple(rng.uniform(-scale, scale, n))), c.conductances)


def _steps(c):
    """Finite-difference steps: 1e-5 V (clamps), 1e-5 (gain), 1e-10 A (each bias current)."""
    return np.array([1e-5, 1e-5, 1e-5] + [1e-10] * len(c.params.i_bias))


@pytest.mark.parametrize("name", list(CASES))
def test_bias_current_gradients_match_finite_differences(rng, name):
    """dL/dI_b per node (and the clamps and gain of a circuit with bias currents) vs central differences."""
    c, x, y, loss = _case(rng, name)
    c = _with_bias_currents(rng, c)
    v0 = cp.param_values(c.params, ALL)
    assert v0.size == 3 + len(c.params.i_bias)
    fd = _central(_loss_of(c, x, y, loss, names=ALL), v0, _steps(c))
    est = _eqprop(c, x, y, loss, 1e-10, names=ALL)
    n_hidden = sum(c.topology.layer_size(q) for q in range(1, c.topology.n_layers - 1))
    assert np.sum(np.abs(fd[3:3 + n_hidden]) > 1e2) >= 2 and np.sum(np.abs(fd[3 + n_hidden:]) > 1e2) >= 2, fd
    live = np.abs(fd) * np.concatenate([[1.0, 1.0, 1.0], 1e-6 * np.ones(v0.size - 3)]) > 1e-4   # per V or per uA
    assert np.all(np.abs(est - fd)[live] <= 1e-3 * np.abs(fd[live])), (est, fd)
    if c.params.diode.model == "ideal":
        return
    e1, e2 = (np.abs((_eqprop(c, x, y, loss, b, names=ALL) - fd)[live] / fd[live]).max() for b in (1e-8, 1e-7))
    assert 30 < e2 / e1 < 300      # centered nudging: O(beta^2)


def test_bias_current_gradient_is_minus_the_weighted_voltage_response(rng):
    """The closed form: dL/dI_b,j = -(w_q / w_out) (v_a - v_b) / (beta_a - beta_b), batch mean."""
    c, x, y, loss = _case(rng, "fixed-cccs")
    c = _with_bias_currents(rng, c)
    be = create("numpy", c)
    r = PhaseController(be, loss, 1e-9, centered=True).run(x, y)
    g = cp.parameter_gradients(be.model, r.a, r.b, r.beta_a, r.beta_b, ["bias_current"])
    w = c.layer_weights / c.layer_weights[-1]
    assert w[1] != 1.0
    want = np.concatenate([-w[q] * (r.a.layers[q] - r.b.layers[q]).mean(axis=0) / (r.beta_a - r.beta_b)
                           for q in range(1, c.topology.n_layers)])
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=0)


@pytest.mark.ngspice
@pytest.mark.parametrize("name", ["shockley", "lines"])
def test_bias_current_gradients_through_ngspice(rng, name):
    c, x, y, loss = _case(rng, name)
    c = _with_bias_currents(rng, c)
    x, y = x[:3], y[:3]
    fd = _central(_loss_of(c, x, y, loss, "ngspice", names=ALL), cp.param_values(c.params, ALL), _steps(c))
    est = _eqprop(c, x, y, loss, 1e-9, backend="ngspice", names=ALL)
    live = np.abs(fd) * np.concatenate([[1.0, 1.0, 1.0], 1e-6 * np.ones(fd.size - 3)]) > 1e-6
    assert live[3:].sum() >= 4
    assert np.all(np.abs(est - fd)[live] <= 1e-3 * np.abs(fd[live])), (est, fd)


@pytest.mark.ngspice
@pytest.mark.parametrize("name", ["shockley-2hidden", "ideal", "lines", "output-diodes"])
def test_bias_current_sources_in_ngspice_match_numpy(rng, name):
    """One I element per neuron node; stock ngspice solves the netlist as the numpy solver (1e-9 V)."""
    from ebana.netlist import render
    c, x, _, _ = _case(rng, name)
    c = _with_bias_currents(rng, c)
    text = render(c.compile(), x[0], None)
    n = len(c.params.i_bias)
    assert sum(1 for line in text.splitlines() if line.startswith("IB")) == n
    assert "IB1_0 0 h1_0 dc " + repr(c.params.i_bias[0]) in text
    sols = [create(b, c).solve(x[:4]) for b in ("numpy", "ngspice")]
    assert max(np.abs(a - b).max() for a, b in zip(sols[0].layers[1:], sols[1].layers[1:])) <= 1e-9
    ref = create("numpy", Circuit(c.topology, cp.with_values(c.params, ["bias_current"], np.zeros(n)),
                                  c.conductances)).solve(x[:4])
    assert max(np.abs(a - b).max() for a, b in zip(ref.layers[1:], sols[0].layers[1:])) > 1e-3   # they matter


def test_zero_bias_currents_change_nothing_and_absent_ones_write_nothing(rng):
    """Sources at 0 A solve bit-identically to none; without circuit.i_bias no I element is written."""
    from ebana.netlist import render
    c, x, _, _ = _case(rng, "shockley-2hidden")
    z = Circuit(c.topology, cp.with_bias_currents(c, ["bias_current"]), c.conductances)
    assert set(z.params.i_bias) == {0.0} and z.has_bias_currents and not c.has_bias_currents
    a, b = create("numpy", c).solve(x), create("numpy", z).solve(x)
    assert all(np.array_equal(u, v) for u, v in zip(a.layers[1:], b.layers[1:]))
    assert not any(line.startswith("IB") for line in render(c.compile(), x[0]).splitlines())
    assert cp.with_bias_currents(c, ["gain"]) is c.params


def test_bias_currents_keep_tellegen_and_kcl(rng):
    """Energy: delivered (bias current sources included) = dissipated; branch currents: KCL at every node."""
    from ebana.branches import branch_currents, kcl_at_neurons
    from ebana.energy import delivered_power, dissipated_power
    c, x, _, _ = _case(rng, "output-diodes")
    c = _with_bias_currents(rng, c, scale=5e-6)
    m = c.compile()
    sol = create("numpy", c).solve(x)
    dl = delivered_power(m, x, sol.layers)
    assert np.abs(dl["bias_current"]).max() > 1e-7
    np.testing.assert_allclose(sum(dl.values()), dissipated_power(m, x, sol.layers).total(), rtol=1e-9)
    cur = branch_currents(m, c.input_voltages(x), sol.layers)
    for net, scale in kcl_at_neurons(m, cur):
        assert np.all(np.abs(net) <= 1e-9 * scale)


def test_bias_current_train_keys_are_one_line_errors(rng):
    from ebana.builder import build
    with pytest.raises(ConfigError, match=r"^train.lr_bias_current must be > 0, got -1.0$"):
        _cfg(**{"train.lr_bias_current": -1.0})
    with pytest.raises(ConfigError, match=r"train.lr_bias_current.*nan"):
        _cfg(**{"train.lr_bias_current": float("nan")})
    with pytest.raises(ConfigError, match=r"unknown train.trainable 'bias_currents'.*bias_current"):
        _cfg(**{"train.trainable": ["bias_currents"]})
    with pytest.raises(ConfigError, match=r"train.freeze entry 'bias'"):
        _cfg(**{"train.freeze": ["bias"]})
    with pytest.raises(ConfigError, match=r"circuit.i_bias.*nan"):
        _cfg(**{"circuit.i_bias": [float("nan")] * 16})
    with pytest.raises(ConfigError, match=r"^circuit.i_bias\[2\] \(bias current\) must be within \+-1 A, got 5.0$"):
        _cfg(**{"circuit.i_bias": [0.0, 0.0, 5.0] + [0.0] * 13})
    with pytest.raises(ConfigError, match=r"^circuit.i_bias has 3 currents, the network has 16 neuron nodes"):
        build(_cfg(**{"circuit.i_bias": [0.0] * 3}))
    for err in (ConfigError,):
        with pytest.raises(err) as info:
            build(_cfg(**{"circuit.i_bias": [0.0] * 3}))
        assert "\n" not in str(info.value)


def _iris_bias(**over):
    return _cfg(**{"train.trainable": ["bias_current"], "train.lr_bias_current": 2e-7, **over})


def test_bias_currents_train_and_reach_metrics_and_the_checkpoint(tmp_path):
    import csv
    from ebana.checkpoint import load_checkpoint_circuit
    from ebana.training import Trainer
    tr = Trainer(_iris_bias(), tmp_path / "run")
    tr.run()
    i_b = np.array(tr.circuit.params.i_bias)
    assert i_b.shape == (16,) and np.all(i_b != 0.0) and np.abs(i_b).max() < 1e-5
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    cols = [k for k in rows[0] if k.startswith("param_")]
    assert cols == ["param_i_bias_max", "param_i_bias_rms"]
    assert float(rows[-1]["param_i_bias_rms"]) == pytest.approx(np.sqrt(np.mean(i_b ** 2)), rel=1e-12)
    assert float(rows[-1]["param_i_bias_max"]) == pytest.approx(np.abs(i_b).max(), rel=1e-12)
    _, c = load_checkpoint_circuit(tmp_path / "run")
    assert c.params == tr.circuit.params


def test_frozen_bias_currents_stay_bit_exact(tmp_path):
    """train.freeze = ["bias_current"]: the (nonzero) currents never move, and the run equals, bit for
    bit, the same circuit with nothing trainable; the conductances still train."""
    from ebana.training import Trainer
    i0 = [float(v) for v in np.random.default_rng(3).uniform(-1e-6, 1e-6, 16)]
    frozen = Trainer(_iris_bias(**{"circuit.i_bias": i0, "train.freeze": ["bias_current"]}), tmp_path / "f")
    g0 = [g.copy() for g in frozen.backend.model.conductances]
    frozen.run()
    assert frozen.cparams is None and list(frozen.circuit.params.i_bias) == i0
    assert not np.array_equal(g0[0], frozen.backend.model.conductances[0])
    plain = Trainer(_cfg(**{"circuit.i_bias": i0}), tmp_path / "p")
    plain.run()
    assert all(np.array_equal(a, b) for a, b in zip(frozen.backend.model.conductances, plain.backend.model.conductances))
    drop = ("seconds", "param_i_bias_rms", "param_i_bias_max")
    assert [{k: v for k, v in r.items() if k not in drop} for r in frozen.history] == \
        [{k: v for k, v in r.items() if k not in drop} for r in plain.history]


def test_resume_with_trained_bias_currents_is_bit_exact(tmp_path):
    cfg = _iris_bias(epochs=3, **{"train.trainable": ["bias_current", "gain"]})
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (1, 2))
    for a, b in zip(ref.backend.model.conductances, resumed.backend.model.conductances):
        assert np.array_equal(a, b)
    assert ref.circuit.params == resumed.circuit.params and any(ref.circuit.params.i_bias)
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in ref.history] == \
        [{k: v for k, v in r.items() if k not in drop} for r in resumed.history]


@pytest.mark.ngspice
def test_trained_bias_currents_reach_the_netlist_and_ngspice(tmp_path):
    from ebana.checkpoint import load_checkpoint_circuit
    from ebana.netlist import render
    from ebana.training import Trainer
    tr = Trainer(_iris_bias(), tmp_path / "run")
    tr.run()
    _, c = load_checkpoint_circuit(tmp_path / "run")
    text = render(c.compile(), tr.x_test[0], None)
    assert f"IB1_0 0 h1_0 dc {c.params.i_bias[0]!r}" in text
    assert f"IB2_5 0 out2n dc {c.params.i_bias[15]!r}" in text
    x = tr.x_test[:4]
    sols = [create(n, c).solve(x) for n in ("numpy", "ngspice")]
    assert max(np.abs(a - b).max() for a, b in zip(sols[0].layers[1:], sols[1].layers[1:])) <= 1e-9
