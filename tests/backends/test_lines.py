"""Line resistance (issue 15, items 1-3): the cell-node netlist in stock ngspice, the numpy fast path
against ngspice (free and nudged), the stamps against ngspice's operating point, the EqProp
gradient from each device's own cell nodes against ngspice finite differences, and bad values."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.backends import create
from ebana.circuit import CircuitParams
from ebana.errors import ConfigError
from ebana.losses import create_loss
from ebana.netlist import node_names, render
from ebana.phases import PhaseController
from tests.backends.test_parity import _inputs
from tests.conftest import make_circuit
from tests.test_compiled import _relative_kcl
from tests.test_netlist import needs_ngspice_binary, run_ngspice_batch

LINES = dict(r_wordline=2.0, r_bitline=3.0, r_driver=50.0, r_sense=20.0)   # ohm; devices 100 k - 10 M

CASES = [
    dict(n_in=4, hidden=(10,), n_cls=3),                                   # the IRIS network
    dict(n_in=4, hidden=(6, 5), n_cls=3, skips=((0, 2),)),
    dict(n_in=3, hidden=(4, 4), n_cls=2, skips=((1, 3),), cccs_gain=4.0),
    dict(n_in=4, hidden=(8,), n_cls=3, output_diodes=True, diode="shockley", v_clamp_low=0.5,
         v_clamp_high=0.7),
]
VARIANTS = [LINES, dict(r_wordline=500.0), dict(r_bitline=500.0), dict(r_driver=2e3), dict(r_sense=2e3),
            dict(r_wordline=20.0, r_sense=100.0)]


def _max_diff(a, b, t) -> float:
    return max(float(np.max(np.abs(a.layers[q] - b.layers[q]))) for q in range(1, t.n_layers))


@pytest.mark.ngspice
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("lines", VARIANTS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_numpy_matches_ngspice_with_line_resistance(case, lines, rng):
    c = make_circuit(rng, **case, **lines)
    x, i_nudge = _inputs(rng, c, 4)
    nb, ng = create("numpy", c), create("ngspice", c.copy(), norton=True)   # norton: ignored with lines
    for inj in (None, i_nudge):
        assert _max_diff(nb.solve(x, inj), ng.solve(x, inj), c.topology) < 1e-9
    ng.close()


@pytest.mark.ngspice
@pytest.mark.parametrize("n_in, n_cls, n", [(15, 16, 2), pytest.param(63, 32, 1, marks=pytest.mark.slow)],
                         ids=["32x32", "128x64"])
def test_isolated_crossbar_matches_ngspice(n_in, n_cls, n, rng):
    """One crossbar (2 n_in wordlines + 2 bias rows) x (2 n_cls bitlines), clamped outputs. 128x64
    (16k cell nodes) takes ngspice ~30 s CPU per op (Sparse's reordering): one sample."""
    c = make_circuit(rng, n_in=n_in, hidden=(), n_cls=n_cls, output_diodes=True, **LINES)
    assert c.topology.crossbars[0].shape == (2 * n_in + 2, 2 * n_cls)
    x, i_nudge = _inputs(rng, c, n)
    x *= 0.2
    nb, ng = create("numpy", c), create("ngspice", c.copy())
    ideal = create("numpy", make_circuit(np.random.default_rng(0), n_in=n_in, hidden=(), n_cls=n_cls,
                                         output_diodes=True))
    ideal.load(c.conductances)
    for inj in (None, i_nudge):
        a = nb.solve(x, inj)
        assert _max_diff(a, ng.solve(x, inj), c.topology) < 1e-9
        assert _max_diff(a, ideal.solve(x, inj), c.topology) > 1e-4      # the lines matter
    ng.close()


@pytest.mark.ngspice
@pytest.mark.parametrize("case", CASES[:2], ids=str)
def test_line_stamps_hold_kcl_at_the_ngspice_operating_point(case, rng):
    c = make_circuit(rng, **case, **LINES)
    model = c.compile()
    x, i_nudge = _inputs(rng, c, 3)
    ng = create("ngspice", c)
    for inj in (None, i_nudge):
        sol = ng.solve(x, inj)
        assert _relative_kcl(model, x, sol.layers, inj) < 1e-8
        ideal = c.__class__(c.topology, CircuitParams(**{**_params(c), **dict.fromkeys(LINES, 0.0)}),
                            c.conductances).compile()
        assert _relative_kcl(ideal, x, sol.layers, inj) > 1e-4           # the ideal stamps do not hold
    ng.close()


def _params(c) -> dict:
    p = c.params
    return {f: getattr(p, f) for f in p.__dataclass_fields__}


@pytest.mark.ngspice
@needs_ngspice_binary
def test_line_netlist_in_stock_ngspice(tmp_path, rng):
    """Every device has its own row and column node; `ngspice -b` solves the netlist as ebana does."""
    c = make_circuit(rng, n_in=3, hidden=(4,), n_cls=2, **LINES)
    x = rng.uniform(-3, 3, 3)
    i_nudge = rng.normal(0, 2e-7, 4)
    text = render(c, x, i_nudge, norton=True)
    for line in ("RD0_0 in0p r0_0_0", "RW0_0_1 r0_0_0 r0_0_1", "R0_0_1 r0_0_1 c0_0_1", "RB0_0_1 c0_0_1 c0_1_1",
                 "RS1_0 c1_4_0 out0p", "RD1_0 a1_0 r1_0_0", "* wordline 0 of crossbar 0, driven by in0p"):
        assert line in text, line
    path = tmp_path / "net.cir"
    path.write_text(text)
    spice = run_ngspice_batch(path, tmp_path)
    sol = create("numpy", c).solve(x[None], i_nudge[None])
    for q in range(1, c.topology.n_layers):
        got = np.array([spice[n] for n in node_names(c, q)])
        assert np.max(np.abs(got - sol.layers[q][0])) < 1e-9
    # the cell voltages the gradient uses are ngspice's cell node voltages
    model = c.compile()
    spec = c.topology.crossbars[0]
    rows = c.row_voltages(spec, c.input_voltages(x[None]), sol.layers)
    vr, vc = model.lines[0].cell_voltages(rows, sol.layers[spec.dst])
    assert abs(vr[0, 1, 2] - spice["r0_1_2"]) < 1e-9 and abs(vc[0, 1, 2] - spice["c0_1_2"]) < 1e-9


def test_zero_resistances_join_nodes(rng):
    """Zero resistances draw no resistor: the cell nodes are the source / neuron node itself."""
    c = make_circuit(rng, n_in=2, hidden=(3,), n_cls=2, r_wordline=1.0)
    text = render(c, np.zeros(2))
    assert "R0_0_1 r0_0_1 h1_1" in text and "RD" not in text and "RB" not in text and "RS" not in text
    c = make_circuit(rng, n_in=2, hidden=(3,), n_cls=2, r_sense=1.0)
    text = render(c, np.zeros(2))
    assert "R0_0_1 in0p c0_5_1" in text and "RS0_1 c0_5_1 h1_1" in text


def test_tiny_line_resistance_approaches_ideal_wires(rng):
    c = make_circuit(rng, n_in=4, hidden=(6, 5), n_cls=3, skips=((0, 2),))
    tiny = c.__class__(c.topology, CircuitParams(**{**_params(c), **dict.fromkeys(LINES, 1e-3)}),
                       c.conductances)
    x, i_nudge = _inputs(rng, c, 4)
    for inj in (None, i_nudge):
        a, b = create("numpy", c).solve(x, inj), create("numpy", tiny).solve(x, inj)
        assert _max_diff(a, b, c.topology) < 1e-6


def test_off_by_default_and_identical_when_zero(rng):
    c = make_circuit(rng, n_in=4, hidden=(6,), n_cls=3)
    assert not c.params.lines.on and not c.compile().lines
    assert all(st.lateral is None for st in c.compile().layers[1:])


@pytest.mark.parametrize("key", ["r_wordline", "r_bitline", "r_driver", "r_sense"])
@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_bad_line_resistance_is_one_line_error(key, value):
    with pytest.raises(ConfigError, match=rf"circuit\.{key}") as err:
        CircuitParams(**{key: value})
    assert "\n" not in str(err.value)
    assert repr(value) in str(err.value) or str(value) in str(err.value)


def test_bad_line_resistance_from_overrides():
    from ebana.config import apply_overrides, preset
    with pytest.raises(ConfigError, match=r"circuit\.r_sense.*-5"):
        apply_overrides(preset("iris"), {"circuit.r_sense": -5.0})


@pytest.mark.parametrize("batch", [5, 24], ids=["per-state-drops", "terminal-map"])
def test_eqprop_gradient_uses_the_device_drops(batch, rng):
    """With line resistance the estimate is the difference of squared drops across each device's
    own cell nodes (formed here from the (B, rows, cols) drops directly), not across the line ends.
    Batch 24 exceeds the differing terminals of both crossbars (the terminals -> drops map runs)."""
    c = make_circuit(rng, n_in=3, hidden=(4,), n_cls=2, **LINES)
    x = rng.uniform(-1, 1, (batch, 3))
    y = rng.integers(0, 2, batch)
    pc = PhaseController(create("numpy", c), create_loss("ce", tau=0.02), 1e-8, centered=True)
    r = pc.run(x, y)
    grads = pc.gradients(r)
    model, t, w = c.compile(), c.topology, c.layer_weights
    for spec in t.crossbars:
        ends = []
        for s in (r.a, r.b):
            rows = c.row_voltages(spec, s.wordlines(c), s.layers)
            ends.append((model.lines[spec.index].cell_voltages(rows, s.layers[spec.dst]),
                         rows[:, :, None] - s.layers[spec.dst][:, None, :]))
        (va, ua), (vb, ub) = ends
        scale = w[spec.dst] / w[t.output_layer] / (2.0 * (r.beta_a - r.beta_b) * len(x))
        cell = (((va[0] - va[1]) ** 2 - (vb[0] - vb[1]) ** 2).sum(0)) * scale
        line_ends = ((ua ** 2 - ub ** 2).sum(0)) * scale
        assert np.allclose(grads[spec.index], cell, rtol=1e-9, atol=1e-12 * np.abs(cell).max())
        assert not np.allclose(grads[spec.index], line_ends, rtol=1e-3)


@pytest.mark.ngspice
def test_line_gradient_matches_ngspice_finite_differences(rng):
    """Centered EqProp (beta 1e-9 A) with line resistance vs central finite differences of the
    mean loss through ngspice, at the largest entries of each crossbar: relative error <= 1e-3."""
    c = make_circuit(rng, n_in=3, hidden=(4,), n_cls=2, r_wordline=200.0, r_bitline=300.0, r_driver=2e3,
                     r_sense=1e3)
    x = rng.uniform(-1, 1, (4, 3))
    y = rng.integers(0, 2, 4)
    loss = create_loss("ce", tau=0.05)
    nb = create("numpy", c.copy(), tol=1e-16)
    pc = PhaseController(nb, loss, 1e-9, centered=True)
    grads = pc.gradients(pc.run(x, y))
    ng = create("ngspice", c.copy())

    def loss_at(gs):
        ng.load([g.copy() for g in gs])
        return float(loss.value(c.prediction(ng.solve(x).output), y).mean())

    for k in range(len(grads)):
        for i, j in zip(*np.unravel_index(np.argsort(-np.abs(grads[k]), axis=None)[:2], grads[k].shape)):
            gs = [g.copy() for g in c.conductances]
            h = 1e-3 * gs[k][i, j]
            gs[k][i, j] += h
            lp = loss_at(gs)
            gs[k][i, j] -= 2 * h
            lm = loss_at(gs)
            fd = (lp - lm) / (2 * h)
            assert fd == pytest.approx(grads[k][i, j], rel=1e-3), (k, i, j, fd, grads[k][i, j])
    ng.close()


@pytest.mark.parametrize("method", ["auto", "lu"], ids=["rungs", "sparse-lu"])
@pytest.mark.parametrize("cached", [True, False], ids=["kept-responses", "no-cache"])
@pytest.mark.parametrize("rows_differ", [False, True], ids=["input-crossbar", "hidden-crossbar"])
@pytest.mark.parametrize("batch", [3, 40])
def test_squared_drop_difference_from_the_unit_responses(rows_differ, batch, cached, method, rng, monkeypatch):
    """The batch sum sum_b d_a^2 - d_b^2 from the terminals -> drops map (few terminals differ, large
    batch; with the unit responses port_admittance kept, or solved again) and from every state's drops
    (small batch) equals the sum of the states' squared drops."""
    import ebana.lines
    from ebana.lines import CrossbarLines, LineResistance

    if not cached:
        monkeypatch.setattr(ebana.lines, "_UNIT_CACHE_BYTES", 0)
    g = rng.uniform(1e-7, 1e-5, (9, 5))
    net = CrossbarLines(g, LineResistance(**LINES), method=method)
    net.port_admittance(9 + np.arange(5))            # the sparse LU keeps the column unit responses
    assert (net._unit_cache is not None) == (cached and method == "lu")
    va = rng.uniform(-1, 1, (batch, 14))
    vb = va.copy()
    vb[:, 9:] += rng.normal(0, 1e-3, (batch, 5))
    if rows_differ:
        vb[:, :7] += rng.normal(0, 1e-3, (batch, 7))  # rows 7, 8 (bias rows) stay
    direct = (net.terminal_drops(va) ** 2 - net.terminal_drops(vb) ** 2).sum(axis=0)
    got = net.squared_drop_difference(va, vb)
    assert np.allclose(got, direct, rtol=1e-9, atol=1e-12 * np.abs(direct).max())
    assert np.abs(direct).max() > 1e-6


@pytest.mark.parametrize("shape", [(1, 1), (2, 1), (1, 3), (9, 5), (40, 16)])
@pytest.mark.parametrize("ends", [(0.0, 0.0), (0.0, 20.0), (50.0, 0.0), (50.0, 20.0)], ids=str)
@pytest.mark.parametrize("segments", [(2.0, 3.0), (500.0, 0.5)], ids=str)
def test_rung_elimination_matches_the_sparse_lu(shape, ends, segments, rng):
    """The rung-by-rung elimination (ebana.rungs) and the sparse LU give the same port admittance
    (the columns at the column ends, and all of Y), cell voltages and drops, to rounding."""
    from ebana.lines import CrossbarLines, LineResistance

    lines = LineResistance(*segments, *ends)
    g = rng.uniform(1e-7, 1e-5, shape)
    fast, ref = CrossbarLines(g, lines), CrossbarLines(g, lines, method="lu")
    assert fast._rungs is not None and ref._rungs is None
    n_r, n_c = shape
    cols = n_r + np.arange(n_c)
    for need in (cols, None):
        y, y_ref = fast.port_admittance(need), ref.port_admittance(need)
        assert np.abs(y - y_ref).max() <= 1e-12 * np.abs(y_ref).max()
    vt = rng.uniform(-1, 1, (4, n_r + n_c))
    for a, b in zip(fast.cell_voltages(vt[:, :n_r], vt[:, n_r:]), ref.cell_voltages(vt[:, :n_r], vt[:, n_r:])):
        assert a.shape == b.shape == (4, n_r, n_c)
        assert np.abs(a - b).max() < 1e-12
    assert np.abs(fast.unit_drops(cols) - ref.unit_drops(cols)).max() < 1e-12
    assert np.abs(fast.unit_drops(np.arange(n_r)) - ref.unit_drops(np.arange(n_r))).max() < 1e-12


def test_rung_elimination_only_within_its_memory_budget(rng, monkeypatch):
    """Over the R C^2 budget (or with an ideal wordline or bitline) the sparse LU serves the crossbar."""
    import ebana.lines
    from ebana.lines import CrossbarLines, LineResistance

    g = rng.uniform(1e-7, 1e-5, (6, 4))
    assert CrossbarLines(g, LineResistance(**LINES))._rungs is not None
    assert CrossbarLines(g, LineResistance(r_wordline=2.0, r_sense=20.0))._rungs is None
    monkeypatch.setattr(ebana.lines, "_RUNG_BYTES", 2 * 6 * 4 * 4 * 8 - 1)
    assert CrossbarLines(g, LineResistance(**LINES))._rungs is None


@pytest.mark.slow
def test_rung_elimination_on_the_mnist_input_crossbar(rng):
    """The MNIST input crossbar (1570 x 100 devices, 1 ohm segments, ideal drivers and sense, the
    benchmark's case): port admittance columns and state drops of the rung elimination equal the
    sparse LU's to rounding."""
    from ebana.lines import CrossbarLines, LineResistance

    g = rng.uniform(1e-7, 1e-5, (1570, 100))
    lines = LineResistance(r_wordline=1.0, r_bitline=1.0)
    fast, ref = CrossbarLines(g, lines), CrossbarLines(g, lines, method="lu")
    cols = 1570 + np.arange(100)
    y, y_ref = fast.port_admittance(cols), ref.port_admittance(cols)
    assert np.abs(y - y_ref).max() <= 1e-11 * np.abs(y_ref).max()
    vt = np.concatenate([rng.uniform(-1, 1, (8, 1570)), rng.uniform(-5e-3, 5e-3, (8, 100))], axis=1)
    assert np.abs(fast.terminal_drops(vt) - ref.terminal_drops(vt)).max() < 1e-11


@pytest.mark.parametrize("seg, end", [("r_wordline", "r_driver"), ("r_bitline", "r_sense")])
def test_ill_conditioned_line_is_refused(seg, end):
    """Segments 1e6x smaller than the driver / sense resistor: float64 loses ~1e-13 V x ratio (found by a
    randomized check against exact solutions: 1.3e-4 V at ratio 1.2e11, in ngspice too), so refused;
    the limit ratio itself and a zero segment (ideal wire) are accepted."""
    with pytest.raises(ConfigError, match=rf"circuit\.{end} = 1e\+06 ohm with circuit\.{seg} = 1 ohm") as err:
        CircuitParams(**{seg: 1.0, end: 1e6})
    assert "\n" not in str(err.value)
    CircuitParams(**{seg: 1.0, end: 1e4})
    CircuitParams(**{seg: 0.0, end: 1e6})


@pytest.mark.ngspice
def test_line_at_the_conditioning_limit_meets_the_bound(rng):
    """At the largest accepted ratio (1e4) numpy still agrees with ngspice within 1e-9 V."""
    c = make_circuit(rng, n_in=4, hidden=(10,), n_cls=3, r_wordline=0.05, r_driver=500.0, r_bitline=0.05,
                     r_sense=500.0)
    x, i_nudge = _inputs(rng, c, 3)
    nb, ng = create("numpy", c), create("ngspice", c.copy())
    for inj in (None, i_nudge):
        assert _max_diff(nb.solve(x, inj), ng.solve(x, inj), c.topology) < 1e-9
    ng.close()
