"""Layer edges in graph networks (issue 19): ``"a -> b : conv8k5s2"``, ``local``, ``avg`` and the
image shapes of ``[graph.shapes]`` (EBANA's Reshape; Join and Stack as several edges into one node).

A graph of layer edges is the layered conv network exactly (same masks, same weight sharing, same
solve); two conv edges from two images into one node are one conv over the stacked channels; stock
``ngspice -b`` = the fast path (free and nudged, with and without line resistance, <= 1e-9 V); the
EqProp gradient of a shared weight and of a dense weight against central finite differences;
training keeps 0 S off the mask, copies equal and pooling cells at g_max; bad layer edges are
refused in one line naming the key.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ebana.backends import create
from ebana.circuit import Circuit, CircuitParams, DiodeParams
from ebana.config import DeviceConfig, TrainConfig, from_dict, load_toml
from ebana.errors import ConfigError
from ebana.gradients import finite_difference_gradients
from ebana.graphnet import GraphConfig
from ebana.local import parse_local
from ebana.phases import PhaseController
from ebana.topology import Topology
from tests.test_local import _shared_fd, fd_setup
from tests.test_netlist import assert_ngspice_matches, needs_ngspice_binary

PARAMS = CircuitParams(bias_input=(0.9, 0.3), bias_hidden=(0.3,), cccs_gain=4.0,
                       diode=DiodeParams(model="ideal", v_th=0.15))

# the layered SPEC of tests/test_local.py as a chain graph
CHAIN = dict(inputs={"img": ["p{0..24}"]}, hidden={"c": 50, "pool": 18, "loc": 8, "d": 4},
             heads={"y": {"column": "y"}}, shapes={"img": "5x5x1"},
             edges=["img -> c : conv2k3s1same", "c -> pool : avg2s2same", "pool -> loc : local2k2valid", "loc -> d",
                    "d -> y"])
# branched: a conv path and a dense path joined in h, a dense skip from the inputs into a head,
# two heads
BRANCHED = dict(inputs={"img": ["p{0..15}"], "aux": ["a0", "a1"]}, hidden={"c": 32, "pool": 8, "h": 5},
                heads={"y": {"column": "y"}, "z": {"column": "z", "loss": "mse"}}, shapes={"img": "4x4x1"},
                edges=["img -> c : conv2k3s1same", "c -> pool : avg2", "pool -> h", "aux -> h", "h -> y",
                       "h -> z", "aux -> z"])


def graph_circuit(rng, graph: dict, classes: dict, params: CircuitParams = PARAMS) -> Circuit:
    t = GraphConfig(**graph).layout(classes, len(params.bias_input), len(params.bias_hidden)).topology
    return Circuit.random(t, params, rng)


def test_chain_graph_is_the_layered_conv_network(rng):
    """Same cells, same sharing (a bijection of parameter ids), same fixed pooling cells: a circuit
    with the same conductances solves to the same node voltages."""
    g = graph_circuit(rng, CHAIN, {"y": 3})
    t = g.topology
    local = parse_local("5x5x1,conv2k3s1same,avg2s2same,local2k2valid", 25)
    lt = Topology(25, tuple(lay.n_out for lay in local) + (4,), 3, n_bias_input=2, n_bias_hidden=1,
                  local=tuple((q + 1, lay) for q, lay in enumerate(local)))
    assert [c.shape for c in t.crossbars] == [c.shape for c in lt.crossbars]
    for k in range(len(lt.crossbars)):
        a, b = t.ties.get(k), lt.ties.get(k)
        assert (a is None) == (b is None), k
        if a is None:
            continue
        assert np.array_equal(a >= 0, b >= 0), k
        pairs = set(zip(a[a >= 0].tolist(), b[b >= 0].tolist()))
        assert len(pairs) == len(set(a[a >= 0].tolist())) == len(set(b[b >= 0].tolist())), k
        fa, fb = t.fixed_cells(k), lt.fixed_cells(k)
        assert (fa is None) == (fb is None) and (fa is None or np.array_equal(fa, fb)), k
    assert t.fixed_cells(1) is not None and np.all(g.conductances[1][t.fixed_cells(1)] == PARAMS.g_max)
    # trained parameters: the conv kernel x+/x- 2 x (3*3*1*2) + 2 bias rows x 2 filters; no pooling
    # parameter; the local layer's 8 neurons (2x2x2) each a 2x2x2 window + 1 bias row
    assert [t.n_parameters(k) for k in range(3)] == [lt.n_parameters(k) for k in range(3)] == [40, 0, 8 * (8 + 1)]
    layered = Circuit(lt, PARAMS, [x.copy() for x in g.conductances])
    x = rng.uniform(-1, 1, (4, 25))
    i_nudge = rng.normal(0, 2e-7, (4, 6))
    a = create("numpy", g).solve(x, i_nudge)
    b = create("numpy", layered).solve(x, i_nudge)
    for q in range(1, t.n_layers):
        assert np.array_equal(a.layers[q], b.layers[q]), q


def _stack_pair(rng):
    """Graph A: images a, b (4x4x1) each a conv edge into c; graph B: one 4x4x2 image ab (pixel
    channels a, b interleaved) and one conv edge. B's conductances are A's with the rows permuted."""
    n = 16
    ga = dict(inputs={"a": [f"a{i}" for i in range(n)], "b": [f"b{i}" for i in range(n)]}, hidden={"c": 32},
              heads={"y": {"column": "y"}}, shapes={"a": "4x4x1", "b": "4x4x1"},
              edges=["a -> c : conv2k3s1same", "b -> c : conv2k3s1same", "c -> y"])
    gb = dict(inputs={"ab": [f"{s}{i}" for i in range(n) for s in "ab"]}, hidden={"c": 32},
              heads={"y": {"column": "y"}}, shapes={"ab": "4x4x2"}, edges=["ab -> c : conv2k3s1same", "c -> y"])
    ca = graph_circuit(rng, ga, {"y": 3})
    tb = GraphConfig(**gb).layout({"y": 3}, 2, 1).topology
    # row of pixel i of image s (0: a, 1: b), sign block z (0: x+, 1: x-): A: z*2n + s*n + i, B: z*2n + 2i + s
    perm = np.empty(4 * n + 2, dtype=int)
    for z in range(2):
        for s in range(2):
            for i in range(n):
                perm[z * 2 * n + 2 * i + s] = z * 2 * n + s * n + i
    perm[4 * n:] = np.arange(4 * n, 4 * n + 2)
    cb = Circuit(tb, PARAMS, [ca.conductances[0][perm], ca.conductances[1].copy()])
    return ca, cb, perm


def test_two_conv_edges_into_one_node_are_a_stacked_conv(rng):
    ca, cb, perm = _stack_pair(rng)
    ta, tb = ca.topology, cb.topology
    a, b = ta.ties[0][perm], tb.ties[0]
    assert np.array_equal(a >= 0, b >= 0)
    pairs = set(zip(a[a >= 0].tolist(), b[b >= 0].tolist()))
    assert len(pairs) == len(set(b[b >= 0].tolist()))          # the same weight sharing
    xa = rng.uniform(-1, 1, (3, 32))
    xb = np.stack([xa[:, :16], xa[:, 16:]], axis=2).reshape(3, 32)   # a0 b0 a1 b1 ...
    sa, sb = create("numpy", ca).solve(xa), create("numpy", cb).solve(xb)
    for q in (1, 2):
        assert np.max(np.abs(sa.layers[q] - sb.layers[q])) < 1e-12, q


@pytest.mark.ngspice
@needs_ngspice_binary
@pytest.mark.parametrize("lines", [{}, dict(r_wordline=200.0, r_bitline=300.0, r_driver=1e3, r_sense=500.0)])
def test_layer_edge_graph_in_stock_ngspice(tmp_path, rng, lines):
    """The branched graph (conv, avg, dense join, input skip, two heads): `ngspice -b` = numpy,
    free and nudged, <= 1e-9 V; with line resistance too."""
    c = graph_circuit(rng, BRANCHED, {"y": 3, "z": 2}, dataclasses.replace(PARAMS, **lines))
    backend = create("numpy", c)
    x = rng.uniform(-1, 1, c.topology.n_inputs)
    assert_ngspice_matches(c, x, None, backend, tmp_path, "free")
    assert_ngspice_matches(c, x, rng.normal(0, 2e-7, 2 * c.topology.n_classes), backend, tmp_path, "nudged")


def test_eqprop_gradient_of_layer_edges_vs_finite_differences(rng):
    c, x, y, loss, backend, mean_loss = fd_setup(rng, graph_circuit(rng, BRANCHED, {"y": 3, "z": 2}))
    t = c.topology
    g0 = [g.copy() for g in c.conductances]
    tie = t.ties[0]                                   # the conv edge's crossbar: shared kernel weights
    pids = [int(tie[tie >= 0][0]), int(tie[tie >= 0][-1])]
    fd = [_shared_fd(mean_loss, g0, tie, 0, pid) for pid in pids]
    k_out = len(t.crossbars) - 1                        # a dense cell of the output crossbar
    i, j = np.argwhere(t.mask(k_out))[0] if t.mask(k_out) is not None else (0, 0)
    fd.append(finite_difference_gradients(mean_loss, g0, 1e-4, [(k_out, i, j)])[(k_out, i, j)])
    backend.load(g0)
    ctl = PhaseController(backend, loss, 1e-10, centered=True)
    grads = ctl.gradients(ctl.run(x, y))
    ep = [grads[0][tuple(np.argwhere(tie == pid)[0])] for pid in pids] + [grads[k_out][i, j]]
    assert np.max(np.abs(np.array(ep) - fd) / np.abs(fd)) < 1e-3, (ep, fd)
    for k, tk in t.ties.items():
        assert np.all(grads[k][tk < 0] == 0)
        for pid in np.unique(tk[tk >= 0]):
            assert np.ptp(grads[k][tk == pid]) == 0


def _write_csv(path, rng, n=48):
    x = rng.uniform(0, 1, (n, 18))
    y = (x[:, :16].mean(axis=1) > 0.5).astype(int) + (x[:, 16] > 0.5)
    z = (x[:, 17] > 0.5).astype(int)
    head = ",".join([f"p{i}" for i in range(16)] + ["a0", "a1", "y", "z"])
    path.write_text(head + "\n" + "".join(",".join(f"{v:.6f}" for v in row) + f",{a},{b}\n"
                                          for row, a, b in zip(x, y, z)))


def test_training_a_layer_edge_graph_keeps_masks_ties_and_pooling(tmp_path, rng):
    """Ideal updates through a config file: 0 S off the masks, shared copies equal, pooling cells
    unchanged at g_max, the kernel learns; the resolved config.toml reads back to the same graph."""
    from ebana.training import Trainer
    _write_csv(tmp_path / "d.csv", rng)
    cfg = TrainConfig(dataset=str(tmp_path / "d.csv"), graph=GraphConfig(**BRANCHED), epochs=2, batch_size=8,
                      seed=2, lr=1e-6)
    tr = Trainer(cfg, tmp_path / "run")
    g_start = [g.copy() for g in tr.updater.conductances()]
    tr.run()
    t = tr.circuit.topology
    g_end = tr.updater.conductances()
    for k, tie in t.ties.items():
        assert np.all(g_end[k][tie < 0] == 0)
        fixed = t.fixed_cells(k)
        if fixed is not None:
            assert np.all(g_end[k][fixed] == cfg.circuit.g_max) and np.all(g_start[k][fixed] == cfg.circuit.g_max)
        for pid in np.unique(tie[tie >= 0]):
            assert np.ptp(g_end[k][tie == pid]) == 0
    assert not np.array_equal(g_end[0], g_start[0])
    again = from_dict(load_toml(tmp_path / "run" / "config.toml"))
    assert again.graph == cfg.graph


@pytest.mark.parametrize("change, words", [
    (dict(edges=["img -> c : conv2k9s1valid", "c -> pool : avg2", "pool -> h", "aux -> h", "h -> y", "h -> z"]),
     ["graph.edges[0]", "kernel 9"]),
    (dict(edges=["img -> c : cnv2k3", "c -> pool : avg2", "pool -> h", "aux -> h", "h -> y", "h -> z"]),
     ["graph.edges[0]", "'cnv2k3'"]),
    (dict(edges=["img -> c : 4x4x1,conv2k3", "c -> pool : avg2", "pool -> h", "aux -> h", "h -> y", "h -> z"]),
     ["graph.edges[0]", "one layer per edge"]),
    (dict(edges=["img -> c : conv2k3 : x", "c -> y"]), ["graph.edges[0]", "source -> target"]),
    (dict(shapes={}), ["graph.edges[0]", "'img' has no image shape", "graph.shapes.img"]),
    (dict(shapes={"img": "4x4"}), ["graph.shapes.img = '4x4'", "HxWxC"]),
    (dict(shapes={"img": "4x2x1"}), ["graph.shapes.img = '4x2x1'", "8 values", "16 feature columns"]),
    (dict(shapes={"img": "4x4x1", "zz": "1x1x1"}), ["graph.shapes.zz", "not an input group or hidden layer"]),
    (dict(shapes={"img": "4x4x1", "c": "4x4x3"}), ["graph.shapes.c = '4x4x3'", "has 48 values"]),
    (dict(shapes={"img": "4x4x1", "c": "2x8x2"}), ["graph.shapes.c = '2x8x2'", "gives 4x4x2"]),
    (dict(hidden={"c": 30, "pool": 8, "h": 5}), ["graph.hidden.c = 30", "gives 4x4x2 = 32 neurons"]),
    (dict(edges=["img -> c : conv2k3s1same", "c -> pool : avg2", "pool -> h", "aux -> h", "h -> y : avg2",
                 "h -> z"]), ["graph.edges[4]", "ends in a hidden layer", "'y' is a head"]),
    (dict(edges=["img -> c : avg2", "c -> pool : avg2", "pool -> h", "aux -> h", "h -> y", "h -> z"]),
     ["graph.edges[0]", "average pooling", "input group 'img'"]),
    (dict(inputs={"img": ["p{3..1}"], "aux": ["a0", "a1"]}), ["graph.inputs.img", "'p{3..1}'", "a <= b"]),
])
def test_bad_layer_edges_name_key_and_value(change, words):
    with pytest.raises(ConfigError) as e:
        GraphConfig(**{**BRANCHED, **change})
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_shared_or_fixed_edges_refuse_device_models_local_edges_take_them():
    with pytest.raises(ConfigError, match=r"\[graph\] with device.model = 'vteam'.*avg or conv edges"):
        TrainConfig(dataset="x.csv", graph=GraphConfig(**BRANCHED), device=DeviceConfig(model="vteam"))
    local = dict(BRANCHED, hidden={"c": 32, "h": 5},
                 edges=["img -> c : local2k3s1same", "c -> h", "aux -> h", "h -> y", "h -> z", "aux -> z"])
    assert TrainConfig(dataset="x.csv", graph=GraphConfig(**local), device=DeviceConfig(model="vteam")).graph.on
    with pytest.raises(ConfigError, match=r"\[graph\] does not support conv = 'conv2k3'.*'img -> c : conv8k5s2'"):
        TrainConfig(dataset="x.csv", graph=GraphConfig(**BRANCHED), conv="conv2k3")


def test_layer_edge_graph_interrupt_and_resume_equals_uninterrupted(tmp_path, rng):
    from tests.conftest import interrupted_and_resumed
    _write_csv(tmp_path / "d.csv", rng)
    cfg = TrainConfig(dataset=str(tmp_path / "d.csv"), graph=GraphConfig(**BRANCHED), epochs=2, batch_size=8,
                      seed=4, lr=1e-6)
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (1, 2))
    for a, b in zip(ref.updater.conductances(), resumed.updater.conductances()):
        assert np.array_equal(a, b)
    assert [r["test_loss"] for r in ref.history] == [r["test_loss"] for r in resumed.history]
