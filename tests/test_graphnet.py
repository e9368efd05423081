"""Graph networks (ebana.graphnet): validation, layout and masks, the multi-head loss, netlist parity
with stock ngspice, EqProp gradient vs finite differences, the logic-gates example."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.backends import create
from ebana.circuit import Circuit, CircuitParams, DiodeParams
from ebana.cli import cli
from ebana.config import DeviceConfig, TrainConfig, dump_toml, from_dict, load_toml, to_dict
from ebana.errors import ConfigError, DatasetError
from ebana.gradients import finite_difference_gradients
from ebana.graphnet import GraphConfig
from ebana.losses import MultiHead, create_loss
from ebana.netlist import node_names, render, resistor_name
from ebana.phases import PhaseController
from tests.test_netlist import assert_ngspice_matches, needs_ngspice_binary, run_ngspice_batch

ROOT = Path(__file__).resolve().parents[1]
GATES = ROOT / "experiments" / "logic_gates" / "gates.toml"

# a graph with every feature: two input groups, parallel hidden layers (h1, h2 at level 1),
# concatenation (h2 <- a, b; p <- h1, h3; q <- h2, b), a skip from the inputs (b -> q) and one
# from a hidden layer (h1 -> p), two heads of 2 and 3 classes
RICH = dict(inputs={"a": ["a1", "a2"], "b": ["b1"]}, hidden={"h1": 3, "h2": 2, "h3": 2},
            heads={"p": {"column": "p"}, "q": {"column": "q", "loss": "mse"}},
            edges=["a -> h1", "a -> h2", "b -> h2", "h1 -> h3", "h3 -> p", "h1 -> p", "h2 -> q", "b -> q"])


def rich_circuit(rng, diode: str = "ideal", graph: dict = RICH) -> tuple[Circuit, object]:
    """A random circuit of ``graph`` (RICH's nodes: heads p, q of 2 and 3 classes) and its layout."""
    lay = GraphConfig(**graph).layout({"p": 2, "q": 3}, 2, 1)
    kw = dict(v_clamp_low=0.5, v_clamp_high=0.7) if diode == "shockley" else {}
    p = CircuitParams(bias_input=(0.9, 0.3), bias_hidden=(0.3,), cccs_gain=4.0,
                      diode=DiodeParams(model=diode, v_th=0.15 if diode == "ideal" else 0.6), **kw)
    t = lay.topology
    gs = [10 ** rng.uniform(-7, -5, c.shape) for c in t.crossbars]
    for c, tie in t.ties.items():
        gs[c] = np.where(tie >= 0, gs[c], 0.0)
    return Circuit(t, p, gs), lay


# ----------------------------------------------------------------------------- validation
def _g(**change):
    return GraphConfig(**{**RICH, **change})


BAD = [
    (dict(edges=RICH["edges"] + ["h3 -> zz"]), ["graph.edges[8]", "'h3 -> zz'", "unknown node 'zz'"]),
    (dict(edges=RICH["edges"] + ["h3 -> h1"]), ["graph.edges", "cycle", "h1 -> h3 -> h1"]),
    (dict(heads={**RICH["heads"], "r": {"column": "r"}}), ["graph.heads.r", "no path from an input"]),
    (dict(inputs={**RICH["inputs"], "c": ["c1"]}), ["graph.inputs.c", "feeds nothing"]),
    (dict(hidden={**RICH["hidden"], "h4": 2}, edges=RICH["edges"] + ["a -> h4"]), ["graph.hidden.h4", "feeds nothing"]),
    (dict(hidden={**RICH["hidden"], "a": 2}), ["graph.hidden.a", "duplicate name"]),
    (dict(heads={**RICH["heads"], "h1": {"column": "z"}}), ["graph.heads.h1", "duplicate name"]),
    (dict(edges=RICH["edges"] + ["h1 => p"]), ["graph.edges[8]", "'h1 => p'", "source -> target"]),
    (dict(edges=RICH["edges"] + ["h1 -> a"]), ["graph.edges[8]", "input group"]),
    (dict(edges=RICH["edges"] + ["p -> q"]), ["graph.edges[8]", "'p -> q'", "is a head"]),
    (dict(edges=RICH["edges"] + ["a -> h1"]), ["graph.edges[8]", "listed twice"]),
    (dict(hidden={**RICH["hidden"], "h1": 0}), ["graph.hidden.h1 = 0", ">= 1"]),
    (dict(heads={**RICH["heads"], "p": {"column": "p", "los": "ce"}}), ["graph.heads.p.los", "unknown key"]),
    (dict(heads={**RICH["heads"], "p": {"column": "p", "loss": "hinge"}}), ["graph.heads.p.loss = 'hinge'"]),
    (dict(heads={**RICH["heads"], "p": {"column": "a1"}}), ["graph.heads.p.column", "'a1'", "used twice"]),
    (dict(heads={**RICH["heads"], "p": {"column": "p", "classes": ["0"]}}), ["graph.heads.p.classes", "2 distinct"]),
    (dict(heads={}), ["graph", "one head"]),
]


@pytest.mark.parametrize("change, words", BAD)
def test_bad_graph_names_key_and_value(change, words):
    with pytest.raises(ConfigError) as err:
        _g(**change)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_graph_with_layered_keys_or_non_csv_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"\[graph\].*dataset = 'iris'"):
        TrainConfig(dataset="iris", graph=_g())
    for kw, what in ((dict(skips=((0, 2),)), "skips"), (dict(conv="conv2k3"), "conv")):
        with pytest.raises(ConfigError, match=what):
            TrainConfig(dataset="x.csv", graph=_g(), **kw)
    assert TrainConfig(dataset="x.csv", graph=_g(), device=DeviceConfig(model="vteam")).device.model == "vteam"


def test_hidden_skip_sets_reciprocal_amplifiers_or_is_refused():
    cfg = TrainConfig(dataset="x.csv", graph=_g())
    assert cfg.graph.hidden_skips() == [(5, "h1 -> p"), (6, "h2 -> q")]
    assert cfg.circuit_params.cccs_gain == cfg.circuit.gain
    plain = _g(hidden={"h1": 3}, edges=["a -> h1", "b -> h1", "h1 -> p", "h1 -> q", "b -> q"])   # input skip only
    assert plain.hidden_skips() == [] and TrainConfig(dataset="x.csv", graph=plain).circuit_params.cccs_gain is None
    with pytest.raises(ConfigError, match=r"graph.edges\[5\] = 'h1 -> p'.*cccs_gain = 0.25"):
        TrainConfig(dataset="x.csv", graph=_g(), circuit=CircuitParams(cccs_gain=0.25))


def test_cli_bad_graph_is_one_line(tmp_path):
    toml = tmp_path / "g.toml"
    toml.write_text(GATES.read_text().replace('"h -> xor"', '"h -> xor", "xor -> h"'))
    res = CliRunner().invoke(cli, ["train", "--config", str(toml), "--out", str(tmp_path / "run"), "--quiet"])
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "graph.edges" in lines[0] and "'xor -> h'" in lines[0], res.output


def test_missing_column_names_the_key(tmp_path):
    cfg = from_dict(load_toml(GATES))
    data = tmp_path / "g.csv"
    data.write_text("x1,x2,or,and\n0,0,0,0\n1,1,1,1\n")
    from dataclasses import replace
    from ebana.builder import build
    with pytest.raises(DatasetError, match=r"graph.heads.xor.column names column 'xor'"):
        build(replace(cfg, dataset=str(data)))


# ----------------------------------------------------------------------------- layout and masks
def test_layout_levels_blocks_and_bias_rows():
    lay = GraphConfig(**RICH).layout({"p": 2, "q": 3}, 2, 1)
    t = lay.topology
    assert lay.levels == {"a": 0, "b": 0, "h1": 1, "h2": 1, "h3": 2, "p": 3, "q": 3}
    assert (t.n_inputs, t.hidden, t.n_classes) == (3, (5, 2), 5)
    assert sorted((c.src, c.dst) for c in t.crossbars) == [(0, 1), (0, 3), (1, 2), (1, 3), (2, 3)]
    # the devices of every crossbar, counted from the edges: block sizes plus bias rows of fed columns
    size = {"a": 2, "b": 1, "h1": 3, "h2": 2, "h3": 2, "p": 4, "q": 6}
    for c in t.crossbars:
        edges = [e.split(" -> ") for e in RICH["edges"]]
        mine = [(u, v) for u, v in edges if (lay.levels[u], lay.levels[v]) == (c.src, c.dst)]
        wl = 2 if c.src == 0 else 1       # x+ and x- wordlines per input feature
        fed = {v for _, v in mine}
        want = sum(wl * size[u] * size[v] for u, v in mine) + c.n_bias * sum(size[v] for v in fed)
        mask = t.mask(c.index)
        assert (int(mask.sum()) if mask is not None else c.shape[0] * c.shape[1]) == want, c.label
    # b's x+ and x- rows (2 and 5) reach h2's columns (3, 4) but not h1's (0..2) in crossbar 0 -> 1
    m01 = t.mask(next(c.index for c in t.crossbars if (c.src, c.dst) == (0, 1)))
    assert m01[[2, 5]][:, 3:].all() and not m01[[2, 5]][:, :3].any() and m01[:, :3][[0, 1, 3, 4]].all()
    assert lay.head_slices == (("p", 0, 2), ("q", 2, 3))


def test_chain_graph_has_no_masks_and_trains_like_the_layered_network(tmp_path):
    """inputs -> h -> one head, one input group: the same circuit, data and history as ``hidden``."""
    from ebana import datasets
    from ebana.training import Trainer
    d = datasets.load("iris", seed=0)
    x, y = np.concatenate([d.x_train, d.x_test]), np.concatenate([d.y_train, d.y_test])
    path = tmp_path / "iris.csv"
    cols = [f"f{k}" for k in range(x.shape[1])]
    path.write_text(",".join(cols + ["label"]) + "\n" + "".join(",".join(repr(float(v)) for v in row) + f",{c}\n"
                                                                for row, c in zip(x, y)))
    base = dict(dataset=str(path), epochs=2, hidden=(6,), seed=3)
    layered = Trainer(TrainConfig(**base), tmp_path / "layered").run()
    graph = GraphConfig(inputs={"x": cols}, hidden={"h": 6}, heads={"label": {"column": "label"}},
                        edges=["x -> h", "h -> label"])
    cfg = TrainConfig(**base, graph=graph)
    from ebana.builder import graph_layout
    assert graph_layout(cfg).topology.masks == ()
    hist = Trainer(cfg, tmp_path / "graph").run()
    for a, b in zip(layered, hist):
        for k in ("train_loss", "test_loss", "train_acc", "test_acc"):
            assert a[k] == b[k], k
        assert b["label_test_loss"] == a["test_loss"] and b["label_test_acc"] == a["test_acc"]


# ----------------------------------------------------------------------------- multi-head loss
def test_multihead_loss_sums_heads_and_its_gradient_is_exact(rng):
    heads = [("p", 2, create_loss("ce", tau=0.05)), ("q", 3, create_loss("mse", target_scale=0.1))]
    mh = MultiHead(heads)
    per = [rng.integers(0, 2, 7), rng.integers(0, 3, 7)]
    y = mh.join(per)
    assert mh.n_joint == 6 and all(np.array_equal(a, b) for a, b in zip(mh.split(y), per))
    pred = rng.normal(0, 0.1, (7, 5))
    want = heads[0][2].value(pred[:, :2], per[0]) + heads[1][2].value(pred[:, 2:], per[1])
    assert np.allclose(mh.value(pred, y), want, rtol=1e-14)
    h = 1e-6
    fd = np.zeros_like(pred)
    for k in range(5):
        d = np.zeros_like(pred)
        d[:, k] = h
        fd[:, k] = (mh.value(pred + d, y) - mh.value(pred - d, y)) / (2 * h)
    assert np.allclose(mh.grad(pred, y), fd, rtol=1e-6, atol=1e-8)
    ok = (pred[:, :2].argmax(1) == per[0]) & (pred[:, 2:].argmax(1) == per[1])
    assert np.array_equal(mh.correct(pred, y), ok)


# ----------------------------------------------------------------------------- netlist parity
@pytest.mark.ngspice
@needs_ngspice_binary
@pytest.mark.parametrize("norton", [False, True])
@pytest.mark.parametrize("diode", ["ideal", "shockley"])
def test_graph_netlist_matches_numpy_free_and_nudged(tmp_path, rng, diode, norton):
    c, _ = rich_circuit(rng, diode)
    t = c.topology
    text = render(c, np.zeros(3))
    n_dev = sum(int(t.mask(k).sum()) if t.mask(k) is not None else int(np.prod(s.shape))
                for k, s in enumerate(t.crossbars))
    assert sum(line.startswith("R") for line in text.splitlines()) == n_dev
    i, j = np.argwhere(~t.mask(0))[0]
    assert f"\n{resistor_name(0, i, j)} " not in text
    backend = create("numpy", c)
    for phase in ("free", "nudged"):
        x = rng.uniform(-2, 2, 3)
        i_nudge = rng.normal(0, 2e-7, 10) if phase == "nudged" else None
        assert_ngspice_matches(c, x, i_nudge, backend, tmp_path, phase, norton=norton)


@pytest.mark.ngspice
@pytest.mark.parametrize("norton", [False, True])
def test_graph_through_the_ngspice_backend(rng, norton):
    """The shared-library backend (alter, then .op), free and nudged, before and after new G; with
    Norton the q head's columns of the input skip crossbar b -> q are the only ones with sources."""
    c, _ = rich_circuit(rng)
    x = rng.uniform(-2, 2, (2, 3))
    i_nudge = rng.normal(0, 2e-7, (2, 10))
    spice, ref = create("ngspice", c, norton=norton), create("numpy", c)
    try:
        for _ in range(2):
            for inj in (None, i_nudge):
                a, b = spice.solve(x, inj), ref.solve(x, inj)
                for q in range(1, c.topology.n_layers):
                    assert np.max(np.abs(a.layers[q] - b.layers[q])) < 1e-9
            gs = [g * rng.uniform(0.5, 1.5, g.shape) for g in c.conductances]   # 0 S stays 0 S
            spice.load(gs)
            ref.load(gs)
    finally:
        spice.close()


# ----------------------------------------------------------------------------- gradient vs FD
def eqprop_vs_fd(c, loss, x, y, rng, per_crossbar: int = 2, out_columns: int | None = None) -> list[np.ndarray]:
    """Assert: EqProp (β = 1e-10, centered) matches central differences of the mean loss, ≤ 1e-3 relative,
    on ``per_crossbar`` random devices of every crossbar (on its mask; into the output layer only
    columns < ``out_columns`` when given). Returns the EqProp gradients."""
    t = c.topology
    backend = create("numpy", c)

    def mean_loss(gs):
        backend.load([g.copy() for g in gs])
        return loss.value(c.prediction(backend.solve(x).output), y).mean()

    g0 = [g.copy() for g in c.conductances]
    picks = []
    for spec in t.crossbars:          # devices of every crossbar (dense, masked, skips, bias rows)
        mask = t.mask(spec.index)
        cells = np.argwhere(mask) if mask is not None else np.argwhere(np.ones(spec.shape, bool))
        if out_columns is not None and spec.dst == t.n_layers - 1:
            cells = cells[cells[:, 1] < out_columns]
        for i, j in cells[rng.choice(len(cells), min(per_crossbar, len(cells)), replace=False)]:
            picks.append((spec.index, int(i), int(j)))
    fd = finite_difference_gradients(mean_loss, g0, 1e-4, picks)
    backend.load(g0)
    ctl = PhaseController(backend, loss, 1e-10, centered=True)
    grads = ctl.gradients(ctl.run(x, y))
    ep = np.array([grads[k][i, j] for k, i, j in picks])
    want = np.array([fd[p] for p in picks])
    assert np.all(np.abs(want) > 0)
    assert np.max(np.abs(ep - want) / np.abs(want)) < 1e-3, (ep, want)
    return grads


def test_eqprop_gradient_of_a_graph_net_matches_finite_differences(rng):
    c, lay = rich_circuit(rng)
    x = rng.uniform(-1, 1, (6, 3))
    loss = MultiHead([("p", 2, create_loss("ce", tau=0.02)), ("q", 3, create_loss("mse", target_scale=0.1))])
    y = loss.join([rng.integers(0, 2, 6), rng.integers(0, 3, 6)])
    grads = eqprop_vs_fd(c, loss, x, y, rng)
    for k, tie in c.topology.ties.items():
        assert np.all(grads[k][tie < 0] == 0)          # no device, no gradient


# ----------------------------------------------------------------------------- config and training
def test_graph_config_round_trips_and_is_absent_when_off(tmp_path):
    cfg = from_dict(load_toml(GATES))
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(to_dict(cfg)))
    assert from_dict(load_toml(path)) == cfg
    assert "graph" not in to_dict(TrainConfig())
    assert "[graph.heads.xor]" in path.read_text()


def test_logic_gates_reach_100_percent_on_every_head(tmp_path, monkeypatch):
    """The EBANA digital-gates example: OR, AND, XOR heads on one hidden layer, fast path, seed 0."""
    from ebana.training import Trainer
    monkeypatch.chdir(ROOT)
    cfg = from_dict(load_toml(GATES))
    tr = Trainer(cfg, tmp_path / "run")
    hist = tr.run()
    assert len(hist) <= cfg.epochs
    last = hist[-1]
    for h in ("or", "and", "xor"):
        assert last[f"{h}_train_acc"] == 1.0 and last[f"{h}_test_acc"] == 1.0
    assert last["train_acc"] == 1.0
    # the four truth-table rows, solved once more on the trained circuit
    truth = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    sol = tr.phases.free(tr.encoder(truth))
    pred = tr.circuit.prediction(sol.output)
    want = [truth[:, 0].astype(int) | truth[:, 1].astype(int), truth[:, 0].astype(int) & truth[:, 1].astype(int),
            truth[:, 0].astype(int) ^ truth[:, 1].astype(int)]
    assert np.all(tr.loss.correct(pred, tr.loss.join(want)))
    with open(tmp_path / "run" / "metrics.csv") as fh:
        header = next(csv.reader(fh))
    assert {"or_train_acc", "and_test_loss", "xor_test_acc"} <= set(header)
    written = load_toml(tmp_path / "run" / "config.toml")
    assert written["graph"]["edges"][0] == "a -> h" and written["graph"]["heads"]["xor"]["loss"] == "mse"


SPLIT = ROOT / "experiments" / "logic_gates" / "gates_split.toml"


def test_graph_run_interrupt_and_resume_equals_uninterrupted(tmp_path, monkeypatch):
    from dataclasses import replace
    from tests.conftest import interrupted_and_resumed
    monkeypatch.chdir(ROOT)
    cfg = replace(from_dict(load_toml(SPLIT)), epochs=2)
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (1, 1))
    for a, b in zip(ref.updater.conductances(), resumed.updater.conductances()):
        assert np.array_equal(a, b)
    assert [r["xor_test_loss"] for r in ref.history] == [r["xor_test_loss"] for r in resumed.history]


@pytest.mark.ngspice
def test_graph_training_verified_by_ngspice_every_batch(tmp_path, monkeypatch):
    """The masked graph trained on the fast path, every batch re-solved by ngspice: <= 1e-9 V."""
    from dataclasses import replace
    from ebana.training import Trainer
    monkeypatch.chdir(ROOT)
    cfg = replace(from_dict(load_toml(SPLIT)), epochs=1, verify_every=1)
    hist = Trainer(cfg, tmp_path / "run").run()
    assert 0 < hist[0]["verify_max_dv"] < 1e-9


@pytest.mark.ngspice
@needs_ngspice_binary
def test_cli_graph_netlist_runs_and_matches(tmp_path, monkeypatch):
    """``ebana netlist --checkpoint RUN`` of a trained masked graph (the README command) in stock
    ngspice = the numpy fast path, free and nudged."""
    from ebana.checkpoint import load_checkpoint_circuit
    monkeypatch.chdir(ROOT)
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train", "--config", str(SPLIT), "--epochs", "2", "--out", str(run), "--quiet"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "g.cir"
    for phase in ("free", "nudged"):
        res = CliRunner().invoke(cli, ["netlist", "--checkpoint", str(run), "--sample", "1", "--phase", phase,
                                       "--out", str(out), "--overwrite"])
        assert res.exit_code == 0, res.output
        spice = run_ngspice_batch(out, tmp_path)
        assert "graph connectivity" in out.read_text()
        if phase == "free":
            from ebana.builder import build
            cfg, c = load_checkpoint_circuit(run)
            parts = build(cfg)
            x = parts.x_test[1:2]
            sol = create("numpy", c).solve(x)
            for q in range(1, c.topology.n_layers):
                got = np.array([spice[n] for n in node_names(c, q)])
                assert np.max(np.abs(got - sol.layers[q][0])) < 1e-9


# ----------------------------------------------------------------------------- per-head loss weights
def test_head_weights_scale_each_heads_loss_and_nudge(rng):
    """graph.heads.NAME.weight = w: L = sum_h w_h L_h, so dL/dpred is each head's gradient times its w;
    the EqProp gradient of the weighted loss matches its central differences."""
    c, _ = rich_circuit(rng)
    x = rng.uniform(-1, 1, (6, 3))
    parts = [("p", 2, create_loss("ce", tau=0.02)), ("q", 3, create_loss("mse", target_scale=0.1))]
    plain, weighted = MultiHead(parts), MultiHead(parts, [3.0, 0.5])
    y = plain.join([rng.integers(0, 2, 6), rng.integers(0, 3, 6)])
    pred = rng.normal(0, 0.01, (6, 5))
    p_grad = [parts[0][2].grad(pred[:, :2], plain.split(y)[0]), parts[1][2].grad(pred[:, 2:], plain.split(y)[1])]
    np.testing.assert_array_equal(weighted.grad(pred, y), np.concatenate([3.0 * p_grad[0], 0.5 * p_grad[1]], 1))
    np.testing.assert_array_equal(MultiHead(parts, [1.0, 1.0]).grad(pred, y), plain.grad(pred, y))
    assert weighted.value(pred, y) == pytest.approx(3.0 * parts[0][2].value(pred[:, :2], plain.split(y)[0])
                                                    + 0.5 * parts[1][2].value(pred[:, 2:], plain.split(y)[1]))
    eqprop_vs_fd(c, weighted, x, y, rng)


@pytest.mark.parametrize("bad", [0, -1.0, "2", True, float("nan"), 1e7])
def test_bad_head_weight_is_one_line_naming_the_key(bad):
    heads = {"p": {"column": "p", "weight": bad}, "q": {"column": "q", "loss": "mse"}}
    with pytest.raises(ConfigError, match=r"graph\.heads\.p\.weight"):
        GraphConfig(**dict(RICH, heads=heads))


def test_head_weight_reaches_the_loss_and_round_trips(tmp_path):
    data = load_toml(GATES)
    data["graph"]["heads"]["xor"]["weight"] = 2.5
    cfg = from_dict(data)
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(to_dict(cfg)))
    assert from_dict(load_toml(path)) == cfg and "weight = 2.5" in path.read_text()
    from ebana.builder import graph_loss
    loss = graph_loss(cfg)
    assert dict(zip([h for h, _, _ in loss.heads], loss.weights)) == {"or": 1.0, "and": 1.0, "xor": 2.5}
