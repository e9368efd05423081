"""Diode models from a SPICE model file (ebana.diode_card, circuit.diode.lib / card): parsing,
refusals, the implicit series-resistance branch, config round trip, and numpy vs stock ngspice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ebana.backends import create
from ebana.circuit import Circuit, CircuitParams, DiodeParams, diode_branch, shockley_current
from ebana.config import TrainConfig, apply_overrides, from_dict, to_dict
from ebana.diode_card import parse_cards, parse_value
from ebana.errors import ConfigError, NetlistError
from ebana.netlist import render
from ebana.topology import Topology

ROOT = Path(__file__).resolve().parents[1]
LIB_1N4148 = ROOT / "device_models" / "diodes" / "1n4148.lib"
LIB_TEST = ROOT / "device_models" / "diodes" / "test_card.lib"


@pytest.mark.parametrize("text, value", [("1f", 1e-15), ("10n", 1e-8), ("2.5MEG", 2.5e6), ("2.5meg", 2.5e6),
                                         ("3m", 3e-3), ("4.352E-9", 4.352e-9), ("10nA", 1e-8), ("1k", 1e3),
                                         (".5u", 5e-7), ("-2", -2.0)])
def test_parse_value_suffixes(text, value):
    assert parse_value(text, "x") == pytest.approx(value, rel=1e-15)


def test_parse_value_refuses_garbage():
    with pytest.raises(ConfigError, match="not a SPICE number"):
        parse_value("abc", "x")


def test_parse_cards_continuation_comments_case():
    text = ("* a comment\n.MODEL Dx D (IS=1n ; trailing\n+ N=1.8 $ another\n+ rs=3)\n"
            ".model other NPN(BF=100)\n.model dy d is=2f\n")
    cards = parse_cards(text, "t.lib")
    assert set(cards) == {"dx", "dy"}
    assert cards["dx"].params == {"is": 1e-9, "n": 1.8, "rs": 3.0}
    assert cards["dx"].dc_parameters() == {"i_s": 1e-9, "n": 1.8, "r_s": 3.0}
    assert cards["dy"].dc_parameters() == {"i_s": 2e-15, "n": 1.0, "r_s": 0.0}


def test_1n4148_card():
    d = DiodeParams(model="shockley", lib=str(LIB_1N4148), card="1n4148")
    assert (d.i_s, d.n, d.r_s, d.v_breakdown) == (4.352e-9, 1.906, 0.6458, 110.0)


@pytest.mark.parametrize("card, word", [("IKF=10m", "IKF"), ("ISR=1n", "ISR"), ("NR=2", "NR"), ("LEVEL=3", "LEVEL"),
                                        ("TNOM=50", "TNOM"), ("FOO=1", "FOO"), ("JTUN=1p", "JTUN")])
def test_refuses_unimplemented_dc_parameters(card, word):
    c = parse_cards(f".model dq D(IS=1n {card})", "t.lib")["dq"]
    with pytest.raises(ConfigError, match=rf"parameter {word}=") as err:
        c.dc_parameters()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("card", ["CJO=1p VJ=0.7 M=0.4 TT=5n FC=0.5", "BV=100 IBV=100u", "EG=1.11 XTI=3 TNOM=27",
                                  "KF=0 AF=1 LEVEL=1"])
def test_accepts_dc_neutral_parameters(card):
    parse_cards(f".model dq D(IS=1n {card})", "t.lib")["dq"].dc_parameters()


@pytest.mark.parametrize("kw, key", [(dict(lib=str(LIB_TEST)), "circuit.diode.lib and circuit.diode.card"),
                                     (dict(lib=str(LIB_TEST), card="nope"), "circuit.diode.card = 'nope'"),
                                     (dict(lib="no/such.lib", card="x"), "circuit.diode.lib = 'no/such.lib'"),
                                     (dict(lib=str(LIB_TEST), card="DBAD"), "IKF"),
                                     (dict(lib='a"b.lib', card="x"), "double quote"),
                                     (dict(lib=str(LIB_TEST), card="a b"), "circuit.diode.card"),
                                     (dict(r_s=-1.0), "circuit.diode.r_s")])
def test_bad_diode_keys(kw, key):
    with pytest.raises(ConfigError, match=None) as err:
        DiodeParams(model="shockley", **kw)
    assert key in str(err.value) and "\n" not in str(err.value)


def test_lib_needs_shockley():
    with pytest.raises(ConfigError, match="circuit.diode.model = 'shockley'"):
        DiodeParams(lib=str(LIB_TEST), card="dtest")


def test_config_round_trip():
    cfg = apply_overrides(TrainConfig(), {"circuit.diode.model": "shockley", "circuit.diode.lib": str(LIB_TEST),
                                          "circuit.diode.card": "DTEST"})
    assert cfg.circuit.diode.r_s == 2500.0 and cfg.circuit.diode.n == 1.5
    assert from_dict(to_dict(cfg)) == cfg


def test_series_branch_solves_the_junction():
    """diode_branch: x = x_j + r_s i(x_j) to rounding, and g = di/dx (centred differences)."""
    d = DiodeParams(model="shockley", i_s=4.352e-9, n=1.906, r_s=0.6458)
    x = np.linspace(-2.0, 1.5, 2001)
    i, g = diode_branch(x, d)
    # invert: the junction voltage from the current, where forward (i > 0) and the exponential is resolvable
    fwd = i > 1e-6
    xj = d.n_vt * np.log((i[fwd] - 0.0) / d.i_s + 1.0)     # GMIN*x_j is < 1e-12 A here: within 1e-6 relative
    assert np.max(np.abs(xj + d.r_s * i[fwd] - x[fwd])) < 1e-5
    h = 1e-6
    num = (diode_branch(x + h, d)[0] - diode_branch(x - h, d)[0]) / (2 * h)
    assert np.max(np.abs(num - g) / g) < 1e-4
    # r_s = 0 is exactly the plain junction
    d0 = DiodeParams(model="shockley", i_s=4.352e-9, n=1.906)
    assert np.array_equal(diode_branch(x, d0)[0], shockley_current(x, d0.i_s, d0.n_vt)[0])
    # large r_s: nearly a resistor at strong forward bias
    dr = DiodeParams(model="shockley", i_s=1e-9, n=1.0, r_s=1e3)
    assert diode_branch(np.array([10.0]), dr)[0][0] == pytest.approx((10.0 - 0.35) / 1e3, rel=0.05)


def _circuit(rng, diode: DiodeParams, v_lo: float, v_hi: float) -> Circuit:
    p = CircuitParams(bias_input=(0.9, 0.3), bias_hidden=(0.3,), output_diodes=True, diode=diode,
                      v_clamp_low=v_lo, v_clamp_high=v_hi)
    t = Topology(4, (6, 4), 3, n_bias_input=2, n_bias_hidden=1)
    return Circuit(t, p, [10 ** rng.uniform(-7, -5, c.shape) for c in t.crossbars])


CARDS = [
    ("test_card", lambda: DiodeParams(model="shockley", v_th=0.6, lib=str(LIB_TEST), card="DTEST"), 0.5, 0.7),
    ("1n4148", lambda: DiodeParams(model="shockley", v_th=0.3, lib=str(LIB_1N4148), card="1N4148"), 0.45, 0.75),
    ("inline_rs", lambda: DiodeParams(model="shockley", v_th=0.5, i_s=1e-12, n=1.3, r_s=5e3), 0.5, 0.7),
]


@pytest.mark.ngspice
@pytest.mark.parametrize("name, make, lo, hi", CARDS, ids=[c[0] for c in CARDS])
def test_numpy_matches_ngspice_with_card(name, make, lo, hi, rng):
    c = _circuit(rng, make(), lo, hi)
    x = rng.uniform(-8, 8, (6, 4))
    i_nudge = rng.normal(0, 3e-7, (6, 6))
    nb, ng = create("numpy", c), create("ngspice", c.copy())
    for inj in (None, i_nudge):
        a, b = nb.solve(x, inj), ng.solve(x, inj)
        for q in range(1, c.topology.n_layers):
            assert np.max(np.abs(a.layers[q] - b.layers[q])) < 1e-9, (q, inj is None)
    sol, p = nb.solve(x), c.params
    v = np.concatenate([sol.layers[q].ravel() for q in range(1, c.topology.n_layers)])
    i_up = diode_branch(v - p.v_bias_high, p.diode)[0]
    i_low = diode_branch(p.v_bias_low - v, p.diode)[0]
    assert np.max(np.maximum(i_up, i_low)) > 1e-7            # the diodes (and their RS) carry current
    if p.diode.r_s:
        assert np.max(np.maximum(i_up, i_low)) * p.diode.r_s > 1e-6   # RS drop well above the tolerance


def test_netlist_carries_the_card_not_the_file(rng):
    c = _circuit(rng, DiodeParams(model="shockley", v_th=0.6, lib=str(LIB_TEST), card="DTEST"), 0.5, 0.7)
    text = render(c, np.zeros(4))
    card = next(ln for ln in text.splitlines() if ln.startswith(".model "))
    assert card.startswith(".model DTEST d(") and ".include" not in text and ".model dclamp" not in text
    for k, v in c.params.diode.card_params:          # every parameter, in full precision
        assert f"{k}={float(v)!r}" in card
    assert " DTEST" in text


HOSTILE_LIB = """* a model file with more than a diode card in it
.model DX D (IS=2n N=1.8 RS=3)
.options gmin=1e-3
.control
shell touch {flag}
.endc
.model DOTHER D (IS=1f)
"""


@pytest.mark.ngspice
def test_a_model_file_with_control_blocks_never_runs(rng, tmp_path):
    """Only the chosen card's parameters reach ngspice: the file's .control block (a shell command),
    its options and its other cards are not in the netlist, and the ngspice solve runs none of them."""
    flag = tmp_path / "PWNED"
    lib = tmp_path / "hostile.lib"
    lib.write_text(HOSTILE_LIB.format(flag=flag))
    d = DiodeParams(model="shockley", v_th=0.6, lib=str(lib), card="DX")
    assert (d.i_s, d.n, d.r_s) == (2e-9, 1.8, 3.0)
    c = _circuit(rng, d, 0.5, 0.7)
    text = render(c, np.zeros(4)).lower()
    for bad in (".control", "shell", ".endc", "gmin=1e-3", "dother", ".include", str(flag).lower()):
        assert bad not in text, bad
    ng = create("ngspice", c)
    x = rng.uniform(-1, 1, (2, 4))
    v_ng = ng.solve(x).layers
    v_np = create("numpy", c).solve(x).layers
    assert max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(v_ng[1:], v_np[1:])) < 1e-9
    ng.close()
    assert not flag.exists()


def test_netlist_refuses_an_unsafe_card(rng):
    c = _circuit(rng, DiodeParams(model="shockley", v_th=0.6, lib=str(LIB_TEST), card="DTEST"), 0.5, 0.7)
    object.__setattr__(c.params.diode, "card", "DTEST\n.control")
    with pytest.raises(NetlistError, match="circuit.diode.card"):
        render(c, np.zeros(4))


def test_resume_is_bit_exact_with_a_card(tmp_path):
    """A run with a diode card interrupted and resumed ends with the uninterrupted run's conductances."""
    from tests.conftest import interrupted_and_resumed
    cfg = apply_overrides(TrainConfig(), {"epochs": 2, "hidden": (4,), "circuit.diode.model": "shockley",
                                          "circuit.diode.v_th": 0.3, "circuit.diode.lib": str(LIB_1N4148),
                                          "circuit.diode.card": "1N4148"})
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (1, 3))
    for a, b in zip(ref.backend.model.conductances, resumed.backend.model.conductances):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name, make, lo, hi", CARDS[:2], ids=[c[0] for c in CARDS[:2]])
def test_eqprop_gradient_matches_finite_differences_with_card(name, make, lo, hi, rng):
    """The diode + RS branch is a monotone two-terminal element, so the circuit keeps its energy and the
    centred EqProp estimate matches finite differences of the loss."""
    from ebana.gradients import finite_difference_gradients
    from ebana.losses import create_loss
    from ebana.phases import PhaseController
    c = _circuit(rng, make(), lo, hi)
    x = rng.uniform(-3, 3, (8, 4))
    y = rng.integers(0, 3, 8)
    loss = create_loss("ce", tau=0.02, target_scale=0.05)
    backend = create("numpy", c)

    def mean_loss(gs):
        backend.load([g.copy() for g in gs])
        return loss.value(c.prediction(backend.solve(x).output), y).mean()

    g0 = [g.copy() for g in c.conductances]
    entries = [(k, i, j) for k, s in enumerate(c.topology.crossbars)
               for i, j in [(0, 0), (1, 1), (s.shape[0] - 1, s.shape[1] - 1)]]
    fd = finite_difference_gradients(mean_loss, g0, 1e-4, entries)
    backend.load(g0)
    ctl = PhaseController(backend, loss, 1e-10, centered=True)
    g = ctl.gradients(ctl.run(x, y))
    est = np.array([g[k][i, j] for k, i, j in entries])
    ref = np.array([fd[e] for e in entries])
    assert np.max(np.abs(est - ref) / np.abs(ref)) < 1e-3
    v = np.concatenate([s.ravel() for s in backend.solve(x).layers[1:]])
    p = c.params
    assert np.max(np.maximum(diode_branch(v - p.v_bias_high, p.diode)[0],
                             diode_branch(p.v_bias_low - v, p.diode)[0])) > 1e-7   # diodes conduct
