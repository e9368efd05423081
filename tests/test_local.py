"""Locally connected, convolutional and pooling crossbars (ebana.local): masks, ties, netlist
parity with stock ngspice, EqProp gradient vs finite differences, training invariants."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.backends import create
from ebana.circuit import Circuit, CircuitParams, DiodeParams
from ebana.cli import cli
from ebana.config import DeviceConfig, TrainConfig
from ebana.errors import ConfigError
from ebana.gradients import finite_difference_gradients
from ebana.local import parse_items, parse_local, share, tie_gradient
from ebana.losses import create_loss
from ebana.netlist import node_names, render, resistor_name
from ebana.phases import PhaseController
from ebana.topology import Topology
from tests.test_netlist import needs_ngspice_binary, run_ngspice_batch

SPEC = "5x5x1,conv2k3s1same,avg2s2same,local2k2valid"


def conv_circuit(rng, spec: str = SPEC, dense: tuple[int, ...] = (4,), n_cls: int = 3,
                 diode: str = "ideal") -> Circuit:
    """A small conv net, conductances log-uniform in [1e-7, 1e-5] S, copies equal, 0 S off the mask."""
    n_in = int(np.prod([int(v) for v in spec.split(",")[0].split("x")]))
    local = parse_local(spec, n_in)
    bias_in, bias_h = (0.9, 0.3), (0.3,)
    kw = dict(v_clamp_low=0.5, v_clamp_high=0.7) if diode == "shockley" else {}
    p = CircuitParams(bias_input=bias_in, bias_hidden=bias_h,
                      diode=DiodeParams(model=diode, v_th=0.15 if diode == "ideal" else 0.6), **kw)
    t = Topology(n_in, tuple(lay.n_out for lay in local) + dense, n_cls, n_bias_input=2, n_bias_hidden=1,
                 local=tuple((q + 1, lay) for q, lay in enumerate(local)))
    gs = [10 ** rng.uniform(-7, -5, c.shape) for c in t.crossbars]
    for c, tie in t.ties.items():
        gs[c] = share(tie, gs[c]) if t.trainable(c) else (tie >= 0) * 3e-6
    return Circuit(t, p, gs)


# ----------------------------------------------------------------------------- masks and ties
def test_receptive_fields_and_shared_ids():
    conv, pool, loc = parse_local(SPEC, 25)
    assert (conv.out_shape, pool.out_shape, loc.out_shape) == ((5, 5, 2), (3, 3, 2), (2, 2, 2))
    tie = conv.ties(2)
    m = tie >= 0
    # column (y=0, x=0, f=0): 2x2 pixels inside the same-padded 3x3 window, x+ and x- rows, 2 bias rows
    assert m[:, 0].sum() == 2 * 4 + 2
    assert m[:, 2 * (2 * 5 + 2)].sum() == 2 * 9 + 2          # centre pixel (2, 2), filter 0
    # every tile position uses the same 2 x 9 kernel ids (+ 2 bias ids) per filter
    assert tie.max() + 1 == 2 * 9 * 2 + 2 * 2
    for f in range(2):
        cols = np.arange(f, 50, 2)
        inner = [(y * 5 + x) * 2 + f for y in range(1, 4) for x in range(1, 4)]   # full 3x3 windows
        assert len({tuple(sorted(tie[:, j][tie[:, j] >= 0])) for j in inner}) == 1
        ids = set(tie[:, cols][tie[:, cols] >= 0].tolist())
        assert len(ids) == 2 * 9 + 2
    # locally connected: every device its own parameter
    lt = loc.ties(1)
    assert len(np.unique(lt[lt >= 0])) == (lt >= 0).sum() == 4 * 2 * (2 * 2 * 2) + 8
    # pooling: channel to channel, no bias row
    pt = pool.ties(1)
    per_position = [4, 4, 2, 4, 4, 2, 2, 2, 1]          # same padding of 5 by 2: windows [0,1], [2,3], [4]
    assert (pt >= 0).sum(axis=0).tolist() == [n for n in per_position for _ in range(2)]
    assert np.all(pt[pt >= 0] == 0)
    r, c = np.nonzero(pt >= 0)
    assert np.all(r % 2 == c % 2)                        # channel c to channel c only
    assert not (pt[-1] >= 0).any()


def test_tie_gradient_and_share():
    tie = np.array([[0, -1, 1], [1, 0, -1]])
    g = np.array([[1.0, 5.0, 2.0], [3.0, 4.0, 7.0]])
    assert tie_gradient(tie, g).tolist() == [[5.0, 0.0, 5.0], [5.0, 5.0, 0.0]]
    assert share(tie, g).tolist() == [[1.0, 0.0, 2.0], [2.0, 1.0, 0.0]]


@pytest.mark.parametrize("text, words", [
    ("conv8k0", ["conv", "'conv8k0'", "kernel 0"]), ("conv8k3s0", ["stride 0"]), ("conv0k3", ["filters 0"]),
    ("conv8k3full", ["cannot read", "'conv8k3full'"]), ("", ["no layer"]), ("7x7x1", ["no layer"]),
    ("pool2", ["cannot read 'pool2'"])])
def test_bad_spec_names_key_and_value(text, words):
    with pytest.raises(ConfigError) as err:
        parse_items(text) if text else parse_items(",")
    assert all(w in str(err.value) for w in words), str(err.value)


def test_bad_shapes_name_key_and_value():
    with pytest.raises(ConfigError, match="kernel 7 is larger than its 5x5 input"):
        parse_local("5x5x1,conv2k7", 25)
    with pytest.raises(ConfigError, match="not a square image"):
        parse_local("conv2k3", 30)
    with pytest.raises(ConfigError, match="has 49 values, the data has 25"):
        parse_local("7x7x1,conv2k3", 25)
    with pytest.raises(ConfigError, match="average pooling cannot read the input"):
        parse_local("avg2", 25)


def test_masked_cells_must_be_zero(rng):
    c = conv_circuit(rng)
    gs = [g.copy() for g in c.conductances]
    i, j = np.argwhere(~c.topology.mask(0))[0]
    gs[0][i, j] = 1e-6
    with pytest.raises(ConfigError, match="no device outside its receptive"):
        Circuit(c.topology, c.params, gs)
    with pytest.raises(ConfigError, match="no device outside its receptive"):
        c.compile(gs, validate=False)


def test_cli_rejects_bad_conv_in_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["train", "digits", "--conv", "conv4k9", "--epochs", "1",
                                 "--out", str(tmp_path / "r")])
    assert r.exit_code == 1
    msg = r.output.strip().splitlines()
    assert len(msg) == 1 and "kernel 9 is larger than its 8x8 input" in msg[0] and "conv" in msg[0], r.output
    r = CliRunner().invoke(cli, ["train", "digits", "--set", "conv=conv4k3s0", "--epochs", "1",
                                 "--out", str(tmp_path / "r2")])
    assert r.exit_code == 1 and "stride 0" in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_conv_and_avg_refuse_device_models_local_takes_them():
    for conv, what in (("conv2k3", "not conv layers"), ("local2k3,avg2", "not avg layers"),
                       ("conv2k3,avg2", "not avg or conv layers")):
        with pytest.raises(ConfigError, match=rf"conv = '{conv}' with device.model = 'vteam'.*{what}"):
            TrainConfig(conv=conv, device=DeviceConfig(model="vteam"))
    assert TrainConfig(conv="local2k3,local2k3", device=DeviceConfig(model="vteam")).device.model == "vteam"


# ----------------------------------------------------------------------------- netlist parity
@pytest.mark.ngspice
@needs_ngspice_binary
@pytest.mark.parametrize("norton", [False, True])
@pytest.mark.parametrize("diode", ["ideal", "shockley"])
def test_conv_netlist_matches_numpy_free_and_nudged(tmp_path, rng, norton, diode):
    c = conv_circuit(rng, diode=diode)
    text = render(c, np.zeros(25))
    # no resistor for an absent cell; one per device
    mask = c.topology.mask(0)
    i, j = np.argwhere(~mask)[0]
    assert f"\n{resistor_name(0, i, j)} " not in text
    n_dev = sum(int(c.topology.mask(k).sum()) if k in c.topology.ties else int(np.prod(s.shape))
                for k, s in enumerate(c.topology.crossbars))
    assert sum(line.startswith("R") for line in text.splitlines()) == n_dev
    backend = create("numpy", c)
    for phase in ("free", "nudged"):
        x = rng.uniform(-3, 3, 25)
        i_nudge = rng.normal(0, 2e-7, 6) if phase == "nudged" else None
        path = tmp_path / f"{phase}.cir"
        path.write_text(render(c, x, i_nudge, norton=norton))
        spice = run_ngspice_batch(path, tmp_path)
        sol = backend.solve(x[None], None if i_nudge is None else i_nudge[None])
        for q in range(1, c.topology.n_layers):
            got = np.array([spice[n] for n in node_names(c, q)])
            assert np.max(np.abs(got - sol.layers[q][0])) < 1e-9, (phase, q)


@pytest.mark.ngspice
@pytest.mark.parametrize("norton", [False, True])
def test_conv_through_the_ngspice_backend(rng, norton):
    """The shared-library backend (alter, then .op) on a conv net, free and nudged, after new G."""
    c = conv_circuit(rng)
    x = rng.uniform(-3, 3, (2, 25))
    i_nudge = rng.normal(0, 2e-7, (2, 6))
    spice, ref = create("ngspice", c, norton=norton), create("numpy", c)
    try:
        for _ in range(2):
            for inj in (None, i_nudge):
                a, b = spice.solve(x, inj), ref.solve(x, inj)
                for q in range(1, c.topology.n_layers):
                    assert np.max(np.abs(a.layers[q] - b.layers[q])) < 1e-9
            gs = [g * np.where(g > 0, rng.uniform(0.5, 1.5), 1.0) for g in c.conductances]   # copies alike
            spice.load(gs)
            ref.load(gs)
    finally:
        spice.close()


@pytest.mark.ngspice
@needs_ngspice_binary
def test_cli_conv_netlist_runs_and_matches(tmp_path):
    """``ebana netlist --set conv=...`` (the README command) on digits: stock ngspice = numpy."""
    from ebana.builder import build
    from ebana.config import apply_overrides, preset
    out = tmp_path / "conv.cir"
    sets = ["conv=conv2k3s1same,avg2", "hidden=none"]
    res = CliRunner().invoke(cli, ["netlist", "--dataset", "digits", "--sample", "3", "--out", str(out)]
                             + [a for kv in sets for a in ("--set", kv)])
    assert res.exit_code == 0, res.output
    spice = run_ngspice_batch(out, tmp_path)
    parts = build(apply_overrides(preset("digits"), dict(kv.split("=") for kv in sets)))
    c = parts.circuit
    sol = create("numpy", c).solve(parts.x_test[3:4].astype(np.float64))
    for q in range(1, c.topology.n_layers):
        got = np.array([spice[n] for n in node_names(c, q)])
        assert np.max(np.abs(got - sol.layers[q][0])) < 1e-9


# ----------------------------------------------------------------------------- gradient vs FD
def _fd_setup(rng, spec):
    return fd_setup(rng, conv_circuit(rng, spec=spec))


def fd_setup(rng, c):
    """(c, x, y, loss, backend, mean_loss) for an EqProp-vs-FD check of circuit ``c``: 6 random
    samples and labels, CE at tau 0.02, and the mean loss as a function of the conductances."""
    x = rng.uniform(-1, 1, (6, c.topology.n_inputs))
    y = rng.integers(0, c.topology.n_classes, 6)
    loss = create_loss("ce", tau=0.02)
    backend = create("numpy", c)

    def mean_loss(gs):
        backend.load([g.copy() for g in gs])
        return loss.value(c.prediction(backend.solve(x).output), y).mean()

    return c, x, y, loss, backend, mean_loss


def _shared_fd(mean_loss, gs, tie, c, pid, rel=1e-4):
    """Central difference of the loss in the parameter ``pid``: every copy moved together."""
    sel = tie == pid
    h = rel * gs[c][sel][0]
    plus, minus = [g.copy() for g in gs], [g.copy() for g in gs]
    plus[c][sel] += h
    minus[c][sel] -= h
    return (mean_loss(plus) - mean_loss(minus)) / (2 * h)


@pytest.mark.parametrize("spec", ["5x5x1,conv2k3s2same,conv2k2", "5x5x1,local2k3s1valid,avg2s1"])
def test_eqprop_gradient_of_masked_and_shared_weights(rng, spec):
    c, x, y, loss, backend, mean_loss = _fd_setup(rng, spec)
    g0 = [g.copy() for g in c.conductances]
    est_fd, est_ep = [], []
    for k, tie in c.topology.ties.items():
        if not c.topology.trainable(k):
            continue
        layer = c.topology.local_layer(k)
        for pid in rng.choice(int(tie.max()) + 1, 4, replace=False):
            if layer.kind == "conv":
                est_fd.append(_shared_fd(mean_loss, g0, tie, k, pid))
            else:
                i, j = np.argwhere(tie == pid)[0]
                est_fd.append(finite_difference_gradients(mean_loss, g0, 1e-4, [(k, i, j)])[(k, i, j)])
            est_ep.append((k, pid))
    # dense crossbars after the local ones: the output crossbar too
    out = len(c.topology.crossbars) - 1
    est_fd += [finite_difference_gradients(mean_loss, g0, 1e-4, [(out, 0, 0)])[(out, 0, 0)]]
    backend.load(g0)
    ctl = PhaseController(backend, loss, 1e-10, centered=True)
    grads = ctl.gradients(ctl.run(x, y))
    ep = [grads[k][np.argwhere(c.topology.ties[k] == pid)[0][0], np.argwhere(c.topology.ties[k] == pid)[0][1]]
          for k, pid in est_ep] + [grads[out][0, 0]]
    ep, fd = np.array(ep), np.array(est_fd)
    assert np.max(np.abs(ep - fd) / np.abs(fd)) < 1e-3, (ep, fd)
    for k, tie in c.topology.ties.items():
        assert np.all(grads[k][tie < 0] == 0)          # no device, no gradient
        for pid in range(int(tie.max()) + 1):          # every copy carries the parameter's gradient
            assert np.ptp(grads[k][tie == pid]) == 0


# ----------------------------------------------------------------------------- training invariants
def assert_masks_and_ties_kept(t, g_start, g_end) -> None:
    """After training: 0 S off every mask, every copy of a shared weight equal, fixed crossbars as they were."""
    for k, tie in t.ties.items():
        assert np.all(g_end[k][tie < 0] == 0)
        if t.trainable(k):
            for pid in range(int(tie.max()) + 1):
                assert np.ptp(g_end[k][tie == pid]) == 0
        else:
            assert np.array_equal(g_end[k], g_start[k])


def test_training_keeps_masks_ties_and_pooling(tmp_path):
    from ebana.training import Trainer
    from ebana.config import apply_overrides, preset
    cfg = apply_overrides(preset("digits"), {"conv": "conv3k3s1same,avg2,local2k2", "hidden": (8,), "epochs": 2,
                                             "batch_size": 16, "limit_train": 64, "limit_test": 32, "seed": 3,
                                             "lr": 1e-6})
    tr = Trainer(cfg, tmp_path / "run")
    g_start = [g.copy() for g in tr.updater.conductances()]
    tr.run()
    t = tr.circuit.topology
    g_end = tr.updater.conductances()
    assert_masks_and_ties_kept(t, g_start, g_end)
    assert not np.array_equal(g_end[0], g_start[0])       # the conv kernel did learn


def test_conv_run_interrupt_and_resume_equals_uninterrupted(tmp_path):
    """Ctrl-C mid-epoch, then --resume: the conv net's conductances equal the uninterrupted run's
    (IRIS as a 2x2 image, and 8x8 digits)."""
    from ebana.config import apply_overrides, preset
    from tests.conftest import interrupted_and_resumed
    cfgs = {"iris": TrainConfig(dataset="iris", conv="2x2x1,conv3k2s1same,local2k2", hidden=(), epochs=2,
                                batch_size=8, seed=1),
            "digits": apply_overrides(preset("digits"), {"conv": "conv2k3s1same,avg2", "hidden": (8,), "epochs": 2,
                                                         "batch_size": 16, "limit_train": 64, "limit_test": 32,
                                                         "seed": 1, "lr": 1e-6})}
    for name, cfg in cfgs.items():
        ref, resumed = interrupted_and_resumed(cfg, tmp_path / name, (1, 2))
        for a, b in zip(ref.updater.conductances(), resumed.updater.conductances()):
            assert np.array_equal(a, b), name
        assert [r["test_loss"] for r in ref.history] == [r["test_loss"] for r in resumed.history], name


def test_device_counts_and_statistics_are_those_of_the_mask(rng):
    """inspect's statistics and the digital reference's weight count see the devices, not the 0 S cells."""
    from ebana.energy import EnergyConfig, digital_reference
    c = conv_circuit(rng)
    t = c.topology
    mask = t.mask(0)
    assert mask is not None and 0 < mask.sum() < mask.size
    s = c.summary()
    n = [t.n_devices(k.index) for k in t.crossbars]
    assert n[0] == int(mask.sum()) and s["crossbars"][0]["devices"] == n[0] and s["resistors"] == sum(n)
    g = c.conductances[0][mask]
    assert s["crossbars"][0]["g_min"] == g.min() > 0 and s["crossbars"][0]["g_mean"] == pytest.approx(g.mean())
    at_min = np.mean(g <= c.params.g_min * (1 + 1e-9))
    assert s["crossbars"][0]["at_g_min"] == pytest.approx(at_min)
    assert digital_reference(t, EnergyConfig())["weights"] == sum(n)
