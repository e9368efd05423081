"""Line resistance on masked crossbars (issue 19): graph networks and local / conv layers.

The wires run over every cell of a masked crossbar; only the device between a cell's row and
column node is absent (0 S, no resistor). Stock ``ngspice -b`` and the shared-library backend
against the fast path (free and nudged, <= 1e-9 V), the rung elimination and the sparse LU on masks
(also whole rows and columns without a device), the EqProp gradient against central finite
differences (shared conv weights: every copy moved together), and training keeping 0 S off the mask.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ebana.backends import create
from ebana.circuit import Circuit
from ebana.gradients import finite_difference_gradients
from ebana.lines import CrossbarLines, LineResistance
from ebana.losses import create_loss
from ebana.netlist import render, resistor_name
from ebana.phases import PhaseController
from tests.test_graphnet import rich_circuit
from tests.test_local import _shared_fd, assert_masks_and_ties_kept, conv_circuit
from tests.test_netlist import assert_ngspice_matches, needs_ngspice_binary

ROOT = Path(__file__).resolve().parents[1]
LINES = dict(r_wordline=200.0, r_bitline=300.0, r_driver=1e3, r_sense=500.0)   # ohm; devices 100 k - 10 M
VARIANTS = [LINES, dict(r_wordline=500.0), dict(r_bitline=500.0, r_sense=100.0)]


def with_lines(c: Circuit, **lines) -> Circuit:
    return Circuit(c.topology, dataclasses.replace(c.params, **lines), c.conductances)


def _nets(rng, lines) -> dict[str, Circuit]:
    return {"graph": with_lines(rich_circuit(rng)[0], **lines),
            "conv": with_lines(conv_circuit(rng, spec="4x4x1,conv2k3s1same,avg2,local2k2valid"), **lines)}


def _max_diff(a, b, t) -> float:
    return max(float(np.max(np.abs(a.layers[q] - b.layers[q]))) for q in range(1, t.n_layers))


@pytest.mark.ngspice
@needs_ngspice_binary
@pytest.mark.parametrize("net", ["graph", "conv"])
def test_masked_line_netlist_in_stock_ngspice(tmp_path, rng, net):
    """Every cell has its wire segments, only mask cells a device; `ngspice -b` = numpy, free and
    nudged, and the lines matter (ideal wires differ by > 1e-4 V)."""
    c = _nets(rng, LINES)[net]
    t = c.topology
    n_out = 2 * t.n_classes
    k = next(iter(t.ties))
    i, j = np.argwhere(~t.mask(k))[0]
    text = render(c, np.zeros(t.n_inputs))
    assert f"\n{resistor_name(k, i, j)} " not in text                         # no device off the mask
    assert f"\nRW{k}_{i}_{max(j, 1)} " in text and f"\nRB{k}_{min(i, t.crossbars[k].shape[0] - 2)}_{j} " in text
    n_dev = sum(int(t.mask(s.index).sum()) if t.mask(s.index) is not None else int(np.prod(s.shape))
                for s in t.crossbars)
    assert sum(line.startswith("R") and line[1].isdigit() for line in text.splitlines()) == n_dev
    nb = create("numpy", c)
    ideal = create("numpy", with_lines(c, **dict.fromkeys(LINES, 0.0)))
    for phase in ("free", "nudged"):
        x = rng.uniform(-2, 2, t.n_inputs)
        i_nudge = rng.normal(0, 2e-7, n_out) if phase == "nudged" else None
        _, sol = assert_ngspice_matches(c, x, i_nudge, nb, tmp_path, phase)
        ref = ideal.solve(x[None], None if i_nudge is None else i_nudge[None])
        assert _max_diff(sol, ref, t) > 1e-4
    # a cell node off the mask hangs on its wires only: it carries the voltage of its wire neighbours
    model = c.compile()
    spec = t.crossbars[k]
    sol = nb.solve(np.zeros((1, t.n_inputs)))
    rows = c.row_voltages(spec, c.input_voltages(np.zeros((1, t.n_inputs))), sol.layers)
    vr, vc = model.lines[k].cell_voltages(rows, sol.layers[spec.dst])
    assert np.all(np.isfinite(vr)) and np.all(np.isfinite(vc))


@pytest.mark.ngspice
@pytest.mark.parametrize("lines", VARIANTS, ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()))
@pytest.mark.parametrize("net", ["graph", "conv"])
def test_masked_lines_through_the_ngspice_backend(rng, net, lines):
    """The shared-library backend (alter on the mask cells, then .op), free and nudged, after new G."""
    c = _nets(rng, lines)[net]
    t = c.topology
    x = rng.uniform(-2, 2, (2, t.n_inputs))
    i_nudge = rng.normal(0, 2e-7, (2, 2 * t.n_classes))
    spice, ref = create("ngspice", c.copy()), create("numpy", c)
    try:
        for _ in range(2):
            for inj in (None, i_nudge):
                assert _max_diff(spice.solve(x, inj), ref.solve(x, inj), t) < 1e-9
            gs = [g * rng.uniform(0.5, 1.5) for g in c.conductances]   # copies alike, 0 S stays 0 S
            spice.load(gs)
            ref.load(gs)
    finally:
        spice.close()


@pytest.mark.parametrize("ends", [dict(r_driver=50.0, r_sense=20.0), dict(r_driver=0.0, r_sense=0.0)])
def test_rung_elimination_and_sparse_lu_on_a_mask(rng, ends):
    """Absent devices (whole rows and columns included) make neither factorisation singular; both
    give the same port admittance and drops; the admittance is a Laplacian (rows sum to 0)."""
    g = 10 ** rng.uniform(-7, -5, (7, 5)) * (rng.uniform(size=(7, 5)) < 0.4)
    g[2] = 0.0
    g[:, 3] = 0.0
    lr = LineResistance(r_wordline=2.0, r_bitline=3.0, **ends)
    auto, lu = CrossbarLines(g, lr), CrossbarLines(g, lr, method="lu")
    assert auto._rungs is not None
    y_a, y_l = auto.port_admittance(), lu.port_admittance()
    assert np.allclose(y_a, y_l, rtol=1e-10, atol=1e-12 * np.abs(y_l).max())
    assert np.allclose(y_l.sum(axis=0), 0.0, atol=1e-12 * np.abs(y_l).max())
    assert np.all(y_l[2] == 0.0) or np.max(np.abs(y_l[2])) < 1e-15 * np.abs(y_l).max()   # no device on row 2
    vt = rng.uniform(-1, 1, (3, 12))
    assert np.allclose(auto.terminal_drops(vt), lu.terminal_drops(vt), rtol=0, atol=1e-12)


def _fd_case(rng, net):
    c = _nets(rng, dict(r_wordline=200.0, r_bitline=300.0, r_driver=2e3, r_sense=1e3))[net]
    t = c.topology
    n = 4
    x = rng.uniform(-1, 1, (n, t.n_inputs))
    if net == "graph":
        from ebana.losses import MultiHead
        loss = MultiHead([("p", 2, create_loss("ce", tau=0.05)), ("q", 3, create_loss("mse", target_scale=0.1))])
        y = loss.join([rng.integers(0, 2, n), rng.integers(0, 3, n)])
    else:
        loss = create_loss("ce", tau=0.05)
        y = rng.integers(0, t.n_classes, n)
    return c, x, y, loss


@pytest.mark.parametrize("net", ["graph", "conv"])
def test_masked_line_gradient_matches_finite_differences(rng, net):
    """Centred EqProp (beta 1e-10 A) vs central finite differences of the mean loss, fast path at
    tol 1e-16: masked (graph, local) cells one at a time, a shared conv weight with all its copies
    moved together; <= 1e-3 relative. No gradient off the mask, equal gradients on the copies."""
    c, x, y, loss = _fd_case(rng, net)
    t = c.topology
    backend = create("numpy", c.copy(), tol=1e-16)

    def mean_loss(gs):
        backend.load([g.copy() for g in gs])
        return float(np.mean(loss.value(c.prediction(backend.solve(x).output), y)))

    g0 = [g.copy() for g in c.conductances]
    backend.load(g0)
    pc = PhaseController(backend, loss, 1e-10, centered=True)
    grads = pc.gradients(pc.run(x, y))
    ep, fd = [], []
    for k, tie in t.ties.items():
        assert np.all(grads[k][tie < 0] == 0)
        if not t.trainable(k):
            continue
        layer = t.local_layer(k)
        for pid in np.unique(tie[tie >= 0]):
            assert np.ptp(grads[k][tie == pid]) == 0
        on = np.argwhere(tie >= 0)
        order = np.argsort(-np.abs(grads[k][tie >= 0]))[:2]          # the largest entries
        for i, j in on[order]:
            if layer is not None and layer.kind == "conv":
                fd.append(_shared_fd(mean_loss, g0, tie, k, tie[i, j], rel=1e-3))
            else:
                fd.append(finite_difference_gradients(mean_loss, g0, 1e-3, [(k, i, j)])[(k, i, j)])
            ep.append(grads[k][i, j])
    ep, fd = np.array(ep), np.array(fd)
    assert ep.size >= 4
    assert np.max(np.abs(ep - fd) / np.abs(fd)) < 1e-3, (ep, fd)


@pytest.mark.parametrize("model", [None, "vteam"], ids=["ideal-update", "vteam"])
def test_graph_training_with_lines_keeps_off_mask_cells_at_zero(tmp_path, monkeypatch, model):
    """gates_split.toml with line resistance, ideal updates and VTEAM devices: trains (the loss
    falls), every off-mask cell stays 0 S, every mask cell > 0 S."""
    from ebana.config import from_dict, load_toml
    from ebana.training import Trainer
    monkeypatch.chdir(ROOT)
    cfg = from_dict(load_toml(ROOT / "experiments" / "logic_gates" / "gates_split.toml"))
    cfg = dataclasses.replace(cfg, epochs=3, circuit=dataclasses.replace(cfg.circuit, **LINES),
                              device=dataclasses.replace(cfg.device, model=model))
    tr = Trainer(cfg, tmp_path / "run")
    g_start = [g.copy() for g in tr.updater.conductances()]
    hist = tr.run()
    t = tr.circuit.topology
    assert t.ties and tr.circuit.params.lines.on
    g_end = tr.updater.conductances()
    for k, tie in t.ties.items():
        assert np.all(g_end[k][tie < 0] == 0) and np.all(g_end[k][tie >= 0] > 0)
    assert any(not np.array_equal(a, b) for a, b in zip(g_start, g_end))
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]


def test_conv_training_with_lines_keeps_masks_and_ties(tmp_path):
    from ebana.config import apply_overrides, preset
    from ebana.training import Trainer
    cfg = apply_overrides(preset("digits"), {"conv": "conv2k3s2same,local2k2", "hidden": (4,), "epochs": 1,
                                             "batch_size": 16, "limit_train": 32, "limit_test": 16, "seed": 3,
                                             "lr": 1e-6, **{f"circuit.{k}": v for k, v in LINES.items()}})
    tr = Trainer(cfg, tmp_path / "run")
    g_start = [g.copy() for g in tr.updater.conductances()]
    tr.run()
    t = tr.circuit.topology
    g_end = tr.updater.conductances()
    assert_masks_and_ties_kept(t, g_start, g_end)
    assert not np.array_equal(g_end[0], g_start[0])


@pytest.mark.ngspice
@pytest.mark.parametrize("net", ["graph", "conv"])
def test_line_compensation_counts_the_mask_devices(rng, net):
    """``line_compensation = "row_drive"`` on a masked input crossbar: f_i times wordline i's
    transconductance into the columns of the reference array (G_ref on the mask cells only) is the
    ideal-wire one, G_ref times its device count; ngspice and numpy solve the compensated circuit alike."""
    from ebana.circuit import row_drive_factors
    c = _nets(rng, LINES)[net]
    p = dataclasses.replace(c.params, line_compensation="row_drive")
    c = Circuit(c.topology, p, c.conductances)
    t, n2 = c.topology, 2 * c.topology.n_inputs
    g_ref = 0.5 * (p.g_min + p.g_max)
    ideal, line = np.zeros(n2), np.zeros(n2)
    for s in t.crossbars:
        if s.src != 0:
            continue
        m = t.mask(s.index)
        y = CrossbarLines(g_ref * m, p.lines, method="lu").port_admittance(s.shape[0] + np.arange(s.shape[1]))
        ideal += g_ref * m[:n2].sum(axis=1)
        line += -y[:n2].sum(axis=1)
    f = row_drive_factors(t, p)
    assert np.all(f > 1.0) and np.allclose(f * line, ideal, rtol=1e-12)
    dense = CrossbarLines(np.full(t.crossbars[0].shape, g_ref), p.lines).port_admittance(
        t.crossbars[0].shape[0] + np.arange(t.crossbars[0].shape[1]))
    if net == "conv":    # one input crossbar: the mask-aware factors differ from a dense reference's
        assert not np.allclose(f, t.crossbars[0].shape[1] * g_ref / -dense[:n2].sum(axis=1), rtol=1e-3)
    x = rng.uniform(-2, 2, (2, t.n_inputs))
    i_nudge = rng.normal(0, 2e-7, (2, 2 * t.n_classes))
    nb, ng = create("numpy", c), create("ngspice", c.copy())
    try:
        for inj in (None, i_nudge):
            assert _max_diff(nb.solve(x, inj), ng.solve(x, inj), t) < 1e-9
    finally:
        ng.close()
