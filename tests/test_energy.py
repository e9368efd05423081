"""Phase energy: closed form, Tellegen (dissipated = delivered) on numpy and ngspice operating points,
the per-epoch metrics (sum of the parts, resume), bad energy keys."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.backends import create
from ebana.config import apply_overrides, preset
from ebana.energy import EnergyConfig, EnergyTally, delivered_power, dissipated_power, periphery_counts
from ebana.netlist import node_names, render, row_node
from tests.conftest import interrupted_and_resumed, make_circuit

CASES = [
    dict(hidden=(4,)),
    dict(hidden=(4, 3), skips=((0, 2),)),
    dict(hidden=(5,), diode="shockley"),
    dict(hidden=(3,), output_diodes=True),
    dict(hidden=(4, 3), cccs_gain=4.0, skips=((1, 3),)),        # reciprocal amplifiers, hidden skip
    dict(hidden=(3,), r_wordline=200.0, r_bitline=300.0, r_driver=1e3, r_sense=500.0),   # line resistance
    dict(hidden=(3,), r_wordline=200.0, r_bitline=300.0, r_driver=1e3, r_sense=500.0,    # ... compensated
         line_compensation="row_drive"),
]
IDS = ["1hidden", "skip", "shockley", "output-diodes", "reciprocal-skip", "lines", "lines-row-drive"]


def _inputs(rng, c, n):
    t = c.topology
    x = rng.uniform(-1, 1, (n, t.n_inputs))
    i_nudge = rng.normal(0, 3e-7, (n, 2 * t.n_classes))
    return x, i_nudge


def test_closed_form_single_crossbar(rng):
    """No hidden layer, unclamped outputs: v_j = (sum_i G_ij u_i + I_j) / sum_i G_ij exactly."""
    c = make_circuit(rng, n_in=2, hidden=(), n_cls=2)
    m = c.compile()
    x, i_nudge = _inputs(rng, c, 3)
    s = c.topology.crossbars[0]
    g = c.conductances[0]
    rows = c.row_voltages(s, c.input_voltages(x), [None])                          # (B, R)
    v = (rows @ g + i_nudge) / g.sum(axis=0)
    layers = [None, v]
    p_hand = np.einsum("ij,bij->b", g, (rows[:, :, None] - v[:, None, :]) ** 2)
    diss = dissipated_power(m, x, layers)
    np.testing.assert_allclose(diss.crossbars[0], p_hand, rtol=1e-12)
    np.testing.assert_allclose(diss.total(), p_hand, rtol=1e-12)
    dl = delivered_power(m, x, layers, i_nudge)
    i_row = np.einsum("ij,bij->bi", g, rows[:, :, None] - v[:, None, :])
    n = s.n_rows
    np.testing.assert_allclose(dl["inputs"], np.sum(rows[:, :n] * i_row[:, :n], 1), rtol=1e-12)
    np.testing.assert_allclose(dl["nudge"], np.sum(v * i_nudge, 1), rtol=1e-12)
    np.testing.assert_allclose(sum(dl.values()), p_hand, rtol=1e-10)
    # numpy's solution of the same circuit is this closed form
    sol = create("numpy", c).solve(x, i_nudge)
    np.testing.assert_allclose(sol.output, v, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tellegen_numpy(case, rng):
    c = make_circuit(rng, n_in=3, n_cls=2, **case)
    m = c.compile()
    x, i_nudge = _inputs(rng, c, 5)
    b = create("numpy", c)
    for inj in (None, i_nudge):
        sol = b.solve(x, inj)
        diss = dissipated_power(m, x, sol.layers).total()
        dl = delivered_power(m, x, sol.layers, inj)
        assert np.all(diss > 0)
        np.testing.assert_allclose(sum(dl.values()), diss, rtol=1e-9)
        if "r_wordline" in case:
            wires = sum(dissipated_power(m, x, sol.layers).wires)
            assert np.all(wires > 1e-6 * diss)      # the lines dissipate, and it is counted


def test_tellegen_fails_off_the_operating_point(rng):
    """The balance is a property of solved states: perturbed voltages violate it (the test can fail)."""
    c = make_circuit(rng, n_in=3, hidden=(4,), n_cls=2)
    m = c.compile()
    x, _ = _inputs(rng, c, 4)
    sol = create("numpy", c).solve(x)
    layers = [None] + [v + 1e-3 for v in sol.layers[1:]]
    diss = dissipated_power(m, x, layers).total()
    assert np.max(np.abs(sum(delivered_power(m, x, layers).values()) / diss - 1)) > 1e-4


def _ngspice_power(c, x, i_nudge):
    """(node voltages by layer, power delivered by every source, from ngspice's own branch currents)."""
    from ebana.backends.ngspice import run_op
    t, p = c.topology, c.params
    m = c.compile()
    text = render(m, x, i_nudge, title="tellegen")
    nodes = {q: node_names(c, q) for q in range(1, t.n_layers)}
    amp = [(q, j) for q in range(1, t.n_layers - 1) for j in range(t.layer_size(q))]
    vsrc = [f"vin{i}{s}" for i in range(t.n_inputs) for s in "pn"]
    vsrc += [f"vb{s.index}_{k}" for s in t.crossbars for k in range(len(c.bias_voltages(s)))]
    clamped = [q for q in range(1, t.n_layers) if q != t.output_layer or p.output_diodes]
    vsrc += [f"vb{h}{q}" for q in clamped for h in "hl"]
    vecs = [n for q in nodes for n in nodes[q]] + [f"{v}#branch" for v in vsrc]
    vecs += [f"a{q}_{j}" for q, j in amp] + [f"va{q}_{j}#branch" for q, j in amp]
    vecs += [f"{v}" for v in {row_node(c, s, i) for s in t.crossbars for i in range(s.shape[0])}
             if not v.startswith("a")]
    got = run_op(text, sorted(set(vecs)))
    layers = [None] + [np.array([[got[n] for n in nodes[q]]]) for q in range(1, t.n_layers)]
    # a voltage source delivers -V * I(branch) (SPICE: branch current into the + terminal)
    v_of = {f"vin{i}{s}": got[f"in{i}{s}"] for i in range(t.n_inputs) for s in "pn"}
    v_of.update({f"vb{s.index}_{k}": vb for s in t.crossbars for k, vb in enumerate(c.bias_voltages(s))})
    v_of.update({f"vbh{q}": p.v_bias_high for q in clamped} | {f"vbl{q}": p.v_bias_low for q in clamped})
    delivered = sum(-v_of[v] * got[f"{v}#branch"] for v in vsrc)
    for q, j in amp:   # E + VA deliver w * I_out, I_out = -I(VA); F injects alpha * I(VA) into the neuron
        i_va = got[f"va{q}_{j}#branch"]
        delivered += got[f"a{q}_{j}"] * -i_va + got[nodes[q][j]] * p.alpha * i_va
    delivered += float(np.dot(layers[-1][0], i_nudge))
    return layers, delivered


@pytest.mark.ngspice
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tellegen_ngspice(case, rng):
    """ngspice's source currents: what they deliver equals what ebana says is dissipated at ngspice's
    node voltages, and equals ebana's own source accounting."""
    c = make_circuit(rng, n_in=3, n_cls=2, **case)
    m = c.compile()
    x, i_nudge = _inputs(rng, c, 2)
    for k in range(2):
        layers, p_ng = _ngspice_power(c, x[k], i_nudge[k])
        diss = dissipated_power(m, x[k:k + 1], layers).total()[0]
        mine = sum(delivered_power(m, x[k:k + 1], layers, i_nudge[k:k + 1]).values())[0]
        assert diss > 0
        assert abs(p_ng - diss) <= 1e-9 * diss, (p_ng, diss)
        assert abs(mine - diss) <= 1e-9 * diss, (mine, diss)


def test_tally_is_phase_power_times_settle_time(rng):
    from ebana.energy import absorbed_power
    c = make_circuit(rng, n_in=3, hidden=(4,), n_cls=2, output_diodes=True)
    m = c.compile()
    x, i_nudge = _inputs(rng, c, 3)
    b = create("numpy", c)
    free, nudged = b.solve(x), b.solve(x, i_nudge)
    cfg = EnergyConfig(t_settle=2e-7)
    tally = EnergyTally()
    tally.add(m, cfg, x, [("free", free, None), ("nudged", nudged, i_nudge)])
    p_free = dissipated_power(m, x, free.layers).total().sum()
    p_nudged = dissipated_power(m, x, nudged.layers).total().sum()
    a_free = sum(a.sum() for a in absorbed_power(m, x, free.layers))
    a_nudged = sum(a.sum() for a in absorbed_power(m, x, nudged.layers, i_nudge))
    assert a_free > 0 and a_nudged > 0           # V_BH sinks the clamped nodes' upper-diode current
    assert tally.free == pytest.approx(2e-7 * (p_free + a_free), rel=1e-12)
    assert tally.nudged == pytest.approx(2e-7 * (p_nudged + a_nudged), rel=1e-12)
    assert tally.sources == pytest.approx(2e-7 * (a_free + a_nudged), rel=1e-12)
    # what the delivering sources supply: dissipated + absorbed = sum of the positive single-source powers
    from ebana.energy import source_powers
    pos = sum(np.maximum(a, 0).sum() for v in source_powers(m, x, nudged.layers, i_nudge).values() for _, a in v)
    assert pos == pytest.approx(p_nudged + a_nudged, rel=1e-9)
    row = tally.metrics(m, cfg, e_write=1e-9)
    cnt = periphery_counts(m, 2)
    assert cnt == {"dac": 2 * 3 + 2 * 2, "adc": (4 + 4) * 2, "amp_phases": 4 * 2}
    assert row["e_adc"] == pytest.approx(3 * cnt["adc"] * cfg.e_adc)
    assert row["e_energy"] == pytest.approx(row["e_read"] + row["e_dac"] + row["e_adc"] + row["e_amp"] + 1e-9)
    assert row["e_read_l0"] + row["e_read_l1"] + row["e_read_l2"] == pytest.approx(row["e_read"], rel=1e-12)


def _metrics(path):
    with open(path) as fh:
        return [{k: float(v) if v else None for k, v in r.items()} for r in csv.DictReader(fh)]


@pytest.mark.parametrize("device", [None, "ideal"])
def test_epoch_energy_is_the_sum_of_its_parts(tmp_path, device):
    from ebana.training import Trainer
    over = {"epochs": 2, "limit_train": 40}
    if device:
        over["device.model"] = device
    t = Trainer(apply_overrides(preset("iris"), over), tmp_path / "r")
    t.run()
    rows = _metrics(tmp_path / "r" / "metrics.csv")
    assert len(rows) == 2
    for r in rows:
        parts = r["e_read"] + r["e_dac"] + r["e_adc"] + r["e_amp"] + (r["e_write"] or 0.0)
        assert r["e_energy"] == pytest.approx(parts, rel=1e-12)
        assert r["e_read"] == pytest.approx(r["e_read_free"] + r["e_read_nudged"], rel=1e-12)
        assert r["e_read"] == pytest.approx(r["e_read_l0"] + r["e_read_l1"] + r["e_read_l2"], rel=1e-12)
        assert 0 <= r["e_read_sources"] < r["e_read"]
        assert r["e_read_nudged"] > r["e_read_free"] > 0       # centered: two nudged phases per free one
        if device:
            assert r["e_write"] > 0
    n = len(t.x_train)
    cnt = periphery_counts(t.circuit.topology, 3)
    assert rows[0]["e_adc"] == pytest.approx(n * cnt["adc"] * t.cfg.energy.e_adc)
    assert rows[0]["t_chip"] == pytest.approx(n * rows[0]["t_sample"]) and rows[0]["e_digital"] > 0


def test_energy_disabled_leaves_the_columns_empty(tmp_path):
    from ebana.training import Trainer
    t = Trainer(apply_overrides(preset("iris"), {"epochs": 1, "limit_train": 20, "energy.enabled": False}),
                tmp_path / "r")
    t.run()
    r = _metrics(tmp_path / "r" / "metrics.csv")[0]
    assert r["e_read"] is None and r["e_energy"] is None


def test_resume_gives_the_same_energy(tmp_path):
    cfg = apply_overrides(preset("iris"), {"epochs": 2, "limit_train": 40})
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (0, 2))
    for a, b in zip(ref.history, resumed.history):
        assert a["e_read"] == b["e_read"] and a["e_energy"] == b["e_energy"]


@pytest.mark.parametrize("key, value", [("energy.t_settle", "-1e-9"), ("energy.e_adc", "nan"),
                                        ("energy.p_amp", "true"), ("energy.nope", "1")])
def test_bad_energy_key_is_one_line(tmp_path, key, value):
    from ebana.cli import cli
    res = CliRunner().invoke(cli, ["train", "iris", "--epochs", "1", "--set", f"{key}={value}",
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 1, res.output
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and key.split(".")[1] in last and "Traceback" not in res.output


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_input_terms_reuse_the_solvers_norton_currents(rng, dtype):
    from ebana.energy import input_terms
    c = make_circuit(rng, n_in=6, hidden=(4, 3), n_cls=2, skips=((0, 2),))
    b = create("numpy", c, dtype=dtype)
    x = rng.uniform(-1, 1, (5, 6)).astype(dtype)
    assert b.cached_input_currents(x) is None
    b.solve(x)
    cached = b.cached_input_currents(x)
    assert set(cached) == {s.index for s in c.topology.crossbars if s.src == 0} and len(cached) == 2
    assert b.cached_input_currents(x.copy()) is None          # another array: no reuse
    for (rg, r2g, _), (rg2, r2g2, _) in zip(input_terms(b.model, x, cached).values(),
                                              input_terms(b.model, x).values()):
        np.testing.assert_allclose(rg, rg2, rtol=1e-6 if dtype == "float32" else 1e-12)
        np.testing.assert_array_equal(r2g, r2g2)
    b.load(c.conductances)
    assert b.cached_input_currents(x) is None                 # new weights: the cache is gone


def test_chip_latency_and_digital_reference_by_hand(rng):
    from ebana.energy import chip_latency, digital_reference
    c = make_circuit(rng, n_in=3, hidden=(5,), n_cls=2)     # crossbars 8x5 (6 wordlines + 2 bias), 6x4
    t = c.topology
    cfg = EnergyConfig(t_settle=1e-7, t_adc=1e-9, t_dac=2e-9, nodes_per_adc=4, t_write=1e-7)
    lat = chip_latency(t, cfg, n_phases=3, batch_size=10)
    assert lat["settle"] == pytest.approx(3e-7) and lat["dac"] == pytest.approx(6e-9)
    assert lat["adc"] == pytest.approx(3 * 4 * 1e-9)                    # min(4 per ADC, widest layer 5)
    assert lat["program"] == pytest.approx(8 * 1e-7 / 10)               # row by row: 8 rows
    assert lat["total"] == pytest.approx(sum(v for k, v in lat.items() if k != "total"))
    par = chip_latency(t, EnergyConfig(program="parallel", t_write=1e-7), 3, 10)
    assert par["program"] == pytest.approx(1e-8)
    pul = chip_latency(t, EnergyConfig(program="pulses"), 3, 10, t_pulses=2.5e-6)
    assert pul["program"] == 2.5e-6 and pul["settle"] == lat["settle"]
    with pytest.raises(ValueError, match="measured write time"):
        chip_latency(t, EnergyConfig(program="pulses"), 3, 10)
    dig = digital_reference(t, EnergyConfig())
    assert dig["weights"] == 8 * 5 + 6 * 4 and dig["flops"] == 6 * 64
    assert dig["e"] == pytest.approx(6 * 64 * 2.3e-12)


def test_bad_program_scheme():
    from ebana.errors import ConfigError
    with pytest.raises(ConfigError, match="energy.program 'column'"):
        apply_overrides(preset("iris"), {"energy.program": "column"})
    with pytest.raises(ConfigError, match="energy.program = 'pulses'.*needs a device model"):
        apply_overrides(preset("iris"), {"energy.program": "pulses"})


@pytest.mark.parametrize("scheme", ["selector", "row_v2"])
def test_program_pulses_uses_the_measured_write_time(tmp_path, scheme):
    """energy.program = "pulses": the chip time per sample carries the write time of the pulses the
    run applied (t_write of the epoch over its samples) instead of the row-slot model."""
    from ebana.training import Trainer
    over = {"epochs": 1, "limit_train": 30, "batch_size": 10, "device.model": "vteam", "device.r_ratio": 100,
            "device.v_reset": -0.035, "device.array_scheme": scheme}
    rows = {}
    for prog in ("row", "pulses"):
        t = Trainer(apply_overrides(preset("iris"), {**over, "energy.program": prog}), tmp_path / prog)
        t.run()
        rows[prog] = t.history[0]
    row, pul = rows["row"], rows["pulses"]
    assert pul["t_write"] == row["t_write"] > 0            # same pulses: the latency model does not change them
    widest = max(s.shape[0] for s in t.backend.model.topology.crossbars)
    assert widest == 12                                     # 10 hidden + 2 bias rows into the output crossbar
    slots = widest * EnergyConfig().t_write / 10            # row model: one slot per row, batch 10
    n = 30
    assert pul["t_sample"] - row["t_sample"] == pytest.approx(pul["t_write"] / n - slots, rel=1e-9, abs=1e-18)
    assert pul["t_chip"] == pytest.approx(n * pul["t_sample"], rel=1e-12)


@pytest.mark.ngspice
def test_ngspice_run_counts_the_same_energy_as_numpy(tmp_path):
    """The energy columns come from the backend's operating points: an ngspice run's equal the numpy
    run's (same seed and batches; the solvers agree to ~1e-9 V)."""
    from ebana.training import Trainer
    base = {"epochs": 1, "limit_train": 20, "batch_size": 10}
    runs = {}
    for backend in ("numpy", "ngspice"):
        t = Trainer(apply_overrides(preset("iris"), {**base, "backend": backend}), tmp_path / backend)
        t.run()
        runs[backend] = t.history[0]
    for k in ("e_read", "e_read_free", "e_read_nudged", "e_read_sources", "e_read_l0", "e_read_l1", "e_read_l2"):
        assert runs["ngspice"][k] == pytest.approx(runs["numpy"][k], rel=1e-6), k
    assert runs["ngspice"]["e_adc"] == runs["numpy"]["e_adc"]


def test_line_resistance_power_in_chunks_equals_at_once(rng, monkeypatch):
    import ebana.energy as energy
    c = make_circuit(rng, n_in=3, hidden=(3,), n_cls=2, r_wordline=200.0, r_sense=500.0)
    m = c.compile()
    x, i_nudge = _inputs(rng, c, 7)
    sol = create("numpy", c).solve(x, i_nudge)
    whole = dissipated_power(m, x, sol.layers)
    monkeypatch.setattr(energy, "_LINE_CHUNK", 1)        # one sample per chunk
    parts = dissipated_power(m, x, sol.layers)
    for a, b in zip(whole.crossbars + whole.wires, parts.crossbars + parts.wires):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)
    np.testing.assert_allclose(sum(delivered_power(m, x, sol.layers, i_nudge).values()), parts.total(), rtol=1e-9)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_absorbed_power_equals_the_single_source_sum(case, rng):
    """absorbed_power (wordlines by the candidate test, no GEMM) = sum of max(-P, 0) over every source."""
    from ebana.energy import absorbed_power, source_powers
    c = make_circuit(rng, n_in=3, n_cls=2, **case)
    m = c.compile()
    x, i_nudge = _inputs(rng, c, 6)
    x[0, 0] = 0.0                                                 # a wordline at exactly the common mode
    sol = create("numpy", c).solve(x, i_nudge)
    fast = absorbed_power(m, x, sol.layers, i_nudge)
    full = [np.zeros(6) for _ in range(c.topology.n_layers)]
    for v in source_powers(m, x, sol.layers, i_nudge).values():
        for q, a in v:
            full[q] += np.maximum(-a, 0).sum(axis=1)
    for a, b in zip(fast, full):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-22)
    assert full[0].max() > 0                                      # some wordlines do absorb here


def test_absorbed_wordlines_mnist_like(rng):
    """The MNIST circuit's wordlines (s = 0, a = 1 V, columns within +-5 mV): exact on the rare candidates."""
    from ebana.energy import absorbed_power, source_powers
    c = make_circuit(rng, n_in=20, hidden=(6,), n_cls=2, v_shift=0.0, v_scale=1.0, bias_input=(1.0, -1.0),
                     bias_hidden=(), v_clamp_low=-0.005, v_clamp_high=0.005, gain=10.0, v_cm=0.0)
    m = c.compile()
    x = rng.choice([0.0, 1 / 255, 2 / 255, 0.5, 1.0], size=(8, 20))
    sol = create("numpy", c).solve(x)
    fast = absorbed_power(m, x, sol.layers)[0]
    full = np.maximum(-source_powers(m, x, sol.layers)["inputs"][0][1], 0).sum(axis=1)
    np.testing.assert_allclose(fast, full, rtol=1e-9, atol=1e-22)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fused_phase_power_equals_its_parts(case, rng):
    from ebana.energy import absorbed_power, phase_power
    c = make_circuit(rng, n_in=3, n_cls=2, **case)
    m = c.compile()
    x, i_nudge = _inputs(rng, c, 5)
    sol = create("numpy", c).solve(x, i_nudge)
    per, absorbed = phase_power(m, x, sol.layers, i_nudge)
    diss = dissipated_power(m, x, sol.layers).per_layer(m)
    ab = absorbed_power(m, x, sol.layers, i_nudge)
    for q in range(c.topology.n_layers):
        ref = ab[q] if diss[q] is None else diss[q] + ab[q]
        np.testing.assert_allclose(per[q], ref, rtol=1e-10, atol=1e-22)
    np.testing.assert_allclose(absorbed, sum(ab), rtol=1e-10, atol=1e-22)


def test_total_is_nan_when_the_write_energy_is_not_integrated(tmp_path):
    from ebana.training import Trainer
    t = Trainer(apply_overrides(preset("iris"), {"epochs": 1, "limit_train": 20, "device.model": "ideal",
                                                 "device.energy": False}), tmp_path / "r")
    t.run()
    r = t.history[0]
    assert np.isnan(r["e_write"]) and np.isnan(r["e_energy"]) and r["e_read"] > 0


@pytest.mark.parametrize("case", CASES[:5], ids=IDS[:5])
def test_stacked_tally_equals_the_direct_device_sum(case, rng):
    """The tally's one stacked pass over free, +beta and -beta against, per phase, the direct
    sum_ij G_ij (u_i - v_j)^2 over every device drop, plus the diodes and the absorbed power."""
    from ebana.energy import absorbed_power
    c = make_circuit(rng, n_in=3, n_cls=2, **case)
    m = c.compile()
    x, i_nudge = _inputs(rng, c, 4)
    b = create("numpy", c)
    phases = [("free", b.solve(x), None), ("nudged", b.solve(x, i_nudge), i_nudge),
              ("nudged", b.solve(x, -i_nudge), -i_nudge)]
    tally = EnergyTally()
    tally.add(m, EnergyConfig(t_settle=1.0), x, phases)
    direct = []
    for _, sol, inj in phases:
        p = 0.0
        for s in c.topology.crossbars:
            rows = c.row_voltages(s, c.input_voltages(x), sol.layers)
            drop = rows[:, :, None] - np.asarray(sol.layers[s.dst])[:, None, :]
            p += float(np.einsum("ij,bij->", c.conductances[s.index], drop ** 2))
        diss = dissipated_power(m, x, sol.layers)
        p += float(sum(d.sum() for d in diss.diodes if d is not None))
        p += float(sum(a.sum() for a in absorbed_power(m, x, sol.layers, inj)))
        direct.append(p)
    assert tally.free == pytest.approx(direct[0], rel=1e-12)
    assert tally.nudged == pytest.approx(direct[1] + direct[2], rel=1e-12)
    assert sum(tally.layers.values()) == pytest.approx(sum(direct), rel=1e-12)
