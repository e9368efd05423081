"""--record: every phase of chosen training samples in record.npz, equal to a fresh solve."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.branches import branch_currents, kcl_at_neurons
from ebana.cli import cli
from ebana.config import TrainConfig, apply_overrides, preset
from ebana.errors import ConfigError
from ebana.training import Trainer
from tests.conftest import interrupted_and_resumed, make_circuit

OVER = {"epochs": 2, "batch_size": 8, "limit_train": 40, "limit_test": 10, "record": "3,17,39"}


def load(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("centered", [True, False])
def test_recorded_phases_equal_a_fresh_solve(tmp_path, centered):
    cfg = apply_overrides(preset("iris"), {**OVER, "centered": centered})
    tr = Trainer(cfg, tmp_path / "run")
    tr.run()
    rec = load(tmp_path / "run" / "record.npz")
    assert sorted(rec["sample_id"].tolist()) == [3, 3, 17, 17, 39, 39]
    assert not [k for k in rec if re.fullmatch(r"(free|a|b)_i\d+", k)]   # no device currents unless asked
    assert rec["epoch"].tolist() == sorted(rec["epoch"].tolist()) and set(rec["epoch"]) == {0, 1}
    assert rec["beta_a"] == cfg.beta and rec["beta_b"] == (-cfg.beta if centered else 0.0)
    # a fresh trainer holds the initial conductances: re-solve the epoch-0 rows of batch 0 .. k
    # with the conductances they were trained with by replaying the batches up to theirs
    fresh = Trainer(cfg, tmp_path / "fresh")
    fresh.perm = fresh.rng.permutation(len(fresh.x_train))
    first = rec["epoch"] == 0
    last, checked = int(rec["batch"][first].max()), 0
    for b in range(last + 1):
        idx = fresh.perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
        rows = np.flatnonzero(first & (rec["batch"] == b))
        if len(rows):
            x = fresh.x_train[rec["sample_id"][rows]]
            res = fresh.phases.run(x, fresh.data.y_train[rec["sample_id"][rows]])
            np.testing.assert_allclose(rec["wordlines"][rows], fresh.circuit.input_voltages(x), rtol=0, atol=0)
            for q in range(1, fresh.circuit.topology.n_layers):
                np.testing.assert_allclose(rec[f"free_l{q}"][rows], res.free.layers[q], rtol=0, atol=1e-9)
                np.testing.assert_allclose(rec[f"a_l{q}"][rows], res.a.layers[q], rtol=0, atol=1e-9)
                np.testing.assert_allclose(rec[f"b_l{q}"][rows], res.b.layers[q], rtol=0, atol=1e-9)
            assert np.all(np.isin(rec["sample_id"][rows], idx))
            checked += len(rows)
        fresh._train_batch(idx)
    assert checked == 3 and last > 0   # every epoch-0 row, some after an update


def test_record_survives_resume(tmp_path):
    cfg = apply_overrides(preset("iris"), OVER)
    interrupted_and_resumed(cfg, tmp_path, (1, 2))
    a, b = load(tmp_path / "ref" / "record.npz"), load(tmp_path / "run" / "record.npz")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_cli_record_and_errors(tmp_path):
    r = CliRunner().invoke(cli, ["train", "iris", "--epochs", "1", "--record", "0,1", "--set", "limit_train=20",
                                 "--set", "limit_test=10", "--out", str(tmp_path / "r"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert sorted(load(tmp_path / "r" / "record.npz")["sample_id"].tolist()) == [0, 1]
    with pytest.raises(ConfigError, match="expected training sample ids"):
        TrainConfig(record="a,b")
    with pytest.raises(ConfigError, match=r"sample id 20 is not in \[0, 20\)"):
        Trainer(apply_overrides(preset("iris"), {"limit_train": 20, "record": "20"}), tmp_path / "bad")


def test_recorded_device_currents(tmp_path):
    """record_currents: G (row - column) per device with the conductances of the row's batch
    (replayed from the initial ones), for every phase and crossbar; absent unless asked for."""
    cfg = apply_overrides(preset("iris"), {**OVER, "epochs": 1, "record_currents": True})
    Trainer(cfg, tmp_path / "run").run()
    rec = load(tmp_path / "run" / "record.npz")
    fresh = Trainer(cfg, tmp_path / "fresh")
    fresh.perm = fresh.rng.permutation(len(fresh.x_train))
    for b in range(int(rec["batch"].max()) + 1):
        model = fresh.backend.model   # the conductances batch b was solved with
        for r in np.flatnonzero(rec["batch"] == b):
            for name in ("free", "a", "b"):
                layers = [None] + [rec[f"{name}_l{q}"][r:r + 1] for q in range(1, fresh.circuit.topology.n_layers)]
                for spec in fresh.circuit.topology.crossbars:
                    rv = fresh.circuit.row_voltages(spec, rec["wordlines"][r:r + 1], layers)
                    want = model.conductances[spec.index] * (rv[0][:, None] - layers[spec.dst][0][None, :])
                    got = rec[f"{name}_i{spec.index}"][r]
                    assert got.shape == spec.shape
                    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-18)
        fresh._train_batch(fresh.perm[b * cfg.batch_size:(b + 1) * cfg.batch_size])


def _phase_currents(rec, name):
    """The branch currents of phase ``name`` of a recording, keyed as :func:`branch_currents` does."""
    return {k[len(name) + 1:]: v for k, v in rec.items() if k.startswith(f"{name}_i")}


def _phase_nudge(rec, name):
    if name == "free":
        return None
    return rec["i_nudge"] * (1.0 if name == "a" else float(rec["beta_b"] / rec["beta_a"]))


@pytest.mark.parametrize("centered", [True, False])
def test_recorded_branch_currents_satisfy_kcl(tmp_path, centered):
    """record_currents: devices, diodes, amplifiers and sources of every phase; at every neuron node
    device + diode + amplifier (+ nudge) currents sum to 0 (fast path, relative to the currents met)."""
    cfg = apply_overrides(preset("iris"), {**OVER, "epochs": 1, "record_currents": True, "centered": centered})
    tr = Trainer(cfg, tmp_path / "run")
    tr.run()
    rec = load(tmp_path / "run" / "record.npz")
    t = tr.circuit.topology
    for key in ("i_vin", "i_vbias0", "i_vbias1", "i_diode_up_l1", "i_diode_low_l1", "i_vbh_l1", "i_vbl_l1",
                "i_amp_out_l1", "i_amp_in_l1"):
        for name in ("free", "a", "b"):
            assert f"{name}_{key}" in rec, f"{name}_{key}"
    assert rec["free_i_vin"].shape == (len(rec["sample_id"]), 2 * t.n_inputs)
    assert rec["free_i_amp_out_l1"].shape == (len(rec["sample_id"]), t.layer_size(1))
    assert "free_i_diode_up_l2" not in rec        # the output nodes are not clamped in this preset
    model = tr.backend.model
    worst = 0.0
    for name in ("free", "a", "b"):
        cur = _phase_currents(rec, name)
        for net, scale in kcl_at_neurons(model, cur, _phase_nudge(rec, name)):
            assert np.all(scale > 1e-7)
            worst = max(worst, float(np.max(np.abs(net) / scale)))
        # the sources deliver what the devices carry: each wordline's current = its devices' row sum
        np.testing.assert_allclose(cur["i_vin"], cur["i0"][:, :2 * t.n_inputs].sum(axis=2), rtol=1e-12)
        np.testing.assert_allclose(cur["i_amp_in_l1"], tr.circuit.params.alpha * cur["i_amp_out_l1"], rtol=1e-12)
    assert worst < 1e-12, worst
    # the check can fail: without the amplifiers' back-currents (or the nudge) KCL is violated
    cur = _phase_currents(rec, "a")
    cur.pop("i_amp_in_l1")
    net, scale = kcl_at_neurons(model, cur, _phase_nudge(rec, "a"))[0]
    assert np.max(np.abs(net) / scale) > 1e-3
    net, scale = kcl_at_neurons(model, _phase_currents(rec, "a"), None)[1]
    assert np.max(np.abs(net) / scale) > 1e-6


def _ngspice_branches(c, x, i_nudge):
    """(node voltages by layer, ngspice's branch currents keyed as :func:`branch_currents`) of one
    sample's ``.op``: V sources from their branches, diodes, CCCS and devices from ``@element[i]``."""
    from ebana.backends.ngspice import run_op
    from ebana.netlist import node_names, render
    t, p = c.topology, c.params
    m = c.compile()
    nodes = {q: node_names(c, q) for q in range(1, t.n_layers)}
    clamped = [q for q in range(1, t.n_layers) if m.layers[q].clamped]
    hidden = range(1, t.n_layers - 1)
    di, dj = ("@bd", "[i]") if p.diode.model == "ideal" else ("@d", "[id]")
    dev = [f"@r{s.index}_{i}_{j}[i]" for s in t.crossbars for i in range(s.shape[0]) for j in range(s.shape[1])]
    diodes = [f"{di}{h}{q}_{j}{dj}" for q in clamped for j in range(t.layer_size(q)) for h in "hl"]
    cccs = [f"@f{q}_{j}[i]" for q in hidden for j in range(t.layer_size(q))]
    vsrc = [f"vin{i}{s}#branch" for s in "pn" for i in range(t.n_inputs)]
    vsrc += [f"vb{s.index}_{k}#branch" for s in t.crossbars for k in range(len(c.bias_voltages(s)))]
    vsrc += [f"vb{h}{q}#branch" for q in clamped for h in "hl"]
    vsrc += [f"va{q}_{j}#branch" for q in hidden for j in range(t.layer_size(q))]
    text = render(m, x, i_nudge, title="branch currents").replace(".op\n", ".save all " + " ".join(
        dev + diodes + cccs) + "\n.op\n")
    got = run_op(text, [n for q in nodes for n in nodes[q]] + dev + diodes + cccs + vsrc)
    layers = [None] + [np.array([[got[n] for n in nodes[q]]]) for q in range(1, t.n_layers)]
    want = {"i_vin": -np.array([[got[f"vin{i}{s}#branch"] for s in "pn" for i in range(t.n_inputs)]])}
    for s in t.crossbars:
        want[f"i{s.index}"] = np.array([[[got[f"@r{s.index}_{i}_{j}[i]"] for j in range(s.shape[1])]
                                         for i in range(s.shape[0])]])
        want[f"i_vbias{s.index}"] = -np.array([[got[f"vb{s.index}_{k}#branch"]
                                                for k in range(len(c.bias_voltages(s)))]])
    for q in clamped:
        n = t.layer_size(q)
        want[f"i_diode_up_l{q}"] = np.array([[got[f"{di}h{q}_{j}{dj}"] for j in range(n)]])
        want[f"i_diode_low_l{q}"] = np.array([[got[f"{di}l{q}_{j}{dj}"] for j in range(n)]])
        want[f"i_vbh_l{q}"], want[f"i_vbl_l{q}"] = -np.array([got[f"vbh{q}#branch"]]), -np.array([got[f"vbl{q}#branch"]])
    for q in hidden:
        n = t.layer_size(q)
        want[f"i_amp_out_l{q}"] = -np.array([[got[f"va{q}_{j}#branch"] for j in range(n)]])
        # F from ground into the neuron node carries alpha I(VA) = -alpha I_out: the CCCS draws alpha I_out
        want[f"i_amp_in_l{q}"] = -np.array([[got[f"@f{q}_{j}[i]"] for j in range(n)]])
    return layers, want


ABSTOL = 1e-15
"""A (ngspice's abstol, :data:`ebana.netlist.SPICE_OPTIONS`): the current to which ngspice's KCL
converges; an ideal clamp diode at 1 S also turns the float64 spacing of its node voltage
(~1e-16 V) into ~1e-16 A."""

BRANCH_CASES = {
    "ideal": dict(hidden=(3,)),
    "shockley-output-diodes": dict(hidden=(3,), diode="shockley", output_diodes=True),
    "two-hidden-skip": dict(hidden=(3, 2), skips=((0, 2),)),
    "line-resistance": dict(hidden=(3,), r_wordline=200.0, r_bitline=300.0, r_driver=1e3, r_sense=500.0),
    "reciprocal-hidden-skip": dict(hidden=(3, 2), cccs_gain=4.0, skips=((1, 3),), v_clamp_low=0.58, v_clamp_high=0.62),
}


@pytest.mark.ngspice
@pytest.mark.parametrize("case", BRANCH_CASES.values(), ids=BRANCH_CASES.keys())
def test_branch_currents_equal_ngspice(case, rng):
    """branch_currents at ngspice's node voltages equal ngspice's own branch currents of the same
    netlist's .op (V-source branches, @element[i] of devices, diodes, CCCS) to 1e-9 relative
    (or ngspice's abstol)."""
    c = make_circuit(rng, n_in=2, n_cls=2, **case)
    m = c.compile()
    conducting = 0
    for k in range(4):
        x = rng.uniform(-1, 1, c.topology.n_inputs)
        i_nudge = rng.normal(0, 3e-7, 2 * c.topology.n_classes) if k else None
        layers, want = _ngspice_branches(c, x, i_nudge)
        got = branch_currents(m, c.input_voltages(x[None, :]), layers)
        assert got.keys() == want.keys()
        for key in want:
            assert got[key].shape == want[key].shape, key
            np.testing.assert_allclose(got[key], want[key], rtol=1e-9, atol=ABSTOL, err_msg=key)
        conducting += sum(int(np.sum(np.abs(want[n]) > 1e-8)) for n in want if n.startswith("i_diode"))
    assert conducting > 0       # the diode currents are compared where they matter too


@pytest.mark.ngspice
def test_recorded_ngspice_run_equals_ngspice_branches(tmp_path):
    """A recorded training run through ngspice: every recorded branch current of every phase equals
    ngspice's own for that sample and phase (the netlist re-solved with the batch's conductances)."""
    cfg = apply_overrides(preset("iris"), {"epochs": 1, "batch_size": 5, "limit_train": 5, "limit_test": 5,
                                           "hidden": (3,), "record": "1,4", "record_currents": True,
                                           "backend": "ngspice"})
    Trainer(cfg, tmp_path / "run").run()
    rec = load(tmp_path / "run" / "record.npz")
    fresh = Trainer(cfg, tmp_path / "fresh")      # the initial conductances: the only batch's
    c = fresh.circuit
    assert len(rec["sample_id"]) == 2
    for r, sid in enumerate(rec["sample_id"]):
        x = fresh.x_train[sid]
        for name in ("free", "a", "b"):
            nudge = _phase_nudge(rec, name)
            _, want = _ngspice_branches(c, x, None if nudge is None else nudge[r])
            got = _phase_currents(rec, name)
            assert got.keys() == want.keys()
            for key in want:
                np.testing.assert_allclose(got[key][r:r + 1], want[key], rtol=1e-9, atol=ABSTOL,
                                           err_msg=f"{name} {key}")
