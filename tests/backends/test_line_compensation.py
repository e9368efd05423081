"""Line compensation (issue 15, item 4): ``circuit.line_compensation = "row_drive"`` scales each input
wordline's signal amplitude by a fixed factor from the line-resistance port admittance of a reference
array. Only source values change: the netlist writes them, ngspice and numpy solve the same circuit,
and the EqProp estimate stays the gradient of the compensated circuit."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.backends import create
from ebana.circuit import CircuitParams, row_drive_factors
from ebana.errors import ConfigError
from ebana.lines import CrossbarLines, LineResistance
from ebana.losses import create_loss
from ebana.netlist import input_source_name, render
from ebana.phases import PhaseController
from tests.backends.test_lines import LINES, _max_diff
from tests.backends.test_parity import _inputs
from tests.conftest import make_circuit

IRIS = dict(n_in=4, hidden=(10,), n_cls=3)
STRONG = dict(r_wordline=200.0, r_bitline=300.0, r_driver=2e3, r_sense=1e3)   # ohm: factors ~1.2


@pytest.mark.ngspice
@pytest.mark.parametrize("lines", [LINES, STRONG, dict(r_driver=5e3)], ids=["weak", "strong", "driver-only"])
@pytest.mark.parametrize("case", [IRIS, dict(n_in=4, hidden=(6, 5), n_cls=3, skips=((0, 2),))],
                         ids=["iris", "skip-from-inputs"])
def test_numpy_matches_ngspice_with_compensation(case, lines, rng):
    c = make_circuit(rng, **case, **lines, line_compensation="row_drive")
    assert np.all(c.row_drive > 1.0)
    x, i_nudge = _inputs(rng, c, 4)
    nb, ng = create("numpy", c), create("ngspice", c.copy())
    plain = create("numpy", make_circuit(np.random.default_rng(0), **case, **lines))
    plain.load(c.conductances)
    for inj in (None, i_nudge):
        a = nb.solve(x, inj)
        assert _max_diff(a, ng.solve(x, inj), c.topology) < 1e-9
        assert _max_diff(a, plain.solve(x, inj), c.topology) > 1e-5     # the compensation acts
    ng.close()


def test_netlist_writes_the_scaled_sources(rng):
    c = make_circuit(rng, **IRIS, **STRONG, line_compensation="row_drive")
    x = rng.uniform(-1, 1, 4)
    text = render(c, x)
    p, f = c.params, c.row_drive
    for i in range(4):
        for pos, u in ((True, p.v_shift + p.v_scale * f[i] * x[i]), (False, p.v_shift - p.v_scale * f[4 + i] * x[i])):
            line = next(ln for ln in text.splitlines() if ln.startswith(input_source_name(i, pos) + " "))
            assert float(line.split()[-1]) == pytest.approx(u, rel=1e-15)
    assert "* line compensation row_drive" in text


def test_factors_restore_the_reference_wordline_currents():
    """f_i times the wordline's line-resistance transconductance into the columns (A/V, reference
    array G_ref) is the ideal-wire one, C G_ref; the factors grow with the wordline's distance from
    the sense end (row 0 is the top) and with the line resistance."""
    p = CircuitParams(**STRONG, line_compensation="row_drive")
    c = make_circuit(np.random.default_rng(1), **IRIS, **STRONG, line_compensation="row_drive")
    spec = c.topology.crossbars[0]
    g_ref = 0.5 * (p.g_min + p.g_max)
    n_r, n_c = spec.shape
    y = CrossbarLines(np.full(spec.shape, g_ref), LineResistance(**STRONG)).port_admittance(n_r + np.arange(n_c))
    f = row_drive_factors(c.topology, p)
    assert np.allclose(f * -y[:8].sum(axis=1), n_c * g_ref, rtol=1e-12)
    assert np.all(np.diff(f) < 0)
    weak = row_drive_factors(c.topology, CircuitParams(**LINES, line_compensation="row_drive"))
    assert np.all((1.0 < weak) & (weak < f))


def test_off_by_default_and_unity_without_lines(rng):
    c = make_circuit(rng, **IRIS, **STRONG)
    assert c.params.line_compensation == "none" and np.all(c.row_drive == 1.0)
    ideal = make_circuit(rng, **IRIS, line_compensation="row_drive")
    assert np.all(ideal.row_drive == 1.0)
    x = rng.uniform(-1, 1, (3, 4))
    ref = make_circuit(np.random.default_rng(0), **IRIS)
    assert np.array_equal(ideal.input_voltages(x), ref.input_voltages(x))


def _median_bound(case: dict, lines: dict) -> float:
    """A line_compensation_max that clips about half of the circuit's row_drive factors."""
    return float(np.median(make_circuit(np.random.default_rng(0), **case, **lines, line_compensation="row_drive").row_drive))


def test_bounded_factors_are_the_factors_clipped(rng):
    free = make_circuit(rng, **IRIS, **STRONG, line_compensation="row_drive")
    bound = _median_bound(IRIS, STRONG)
    c = make_circuit(rng, **IRIS, **STRONG, line_compensation="row_drive", line_compensation_max=bound)
    assert np.array_equal(c.row_drive, np.minimum(free.row_drive, bound))
    assert np.any(free.row_drive > bound) and np.any(free.row_drive < bound)
    loose = make_circuit(rng, **IRIS, **STRONG, line_compensation="row_drive", line_compensation_max=1e6)
    assert np.array_equal(loose.row_drive, free.row_drive)
    text = render(c, rng.uniform(-1, 1, 4))
    assert f"at most {bound:.6g}" in text


@pytest.mark.ngspice
def test_bounded_compensation_matches_ngspice(rng):
    bound = _median_bound(IRIS, STRONG)
    c = make_circuit(rng, **IRIS, **STRONG, line_compensation="row_drive", line_compensation_max=bound)
    x, i_nudge = _inputs(rng, c, 4)
    nb, ng = create("numpy", c), create("ngspice", c.copy())
    for inj in (None, i_nudge):
        assert _max_diff(nb.solve(x, inj), ng.solve(x, inj), c.topology) < 1e-9
    ng.close()


@pytest.mark.ngspice
@pytest.mark.parametrize("bounded", [False, True], ids=["unbounded", "bounded"])
def test_compensated_gradient_matches_ngspice_finite_differences(rng, bounded):
    """The factors are fixed (reference array, not the trained G; clipped by a fixed bound), so
    centered EqProp on the compensated circuit is the gradient of its loss: vs central differences
    through ngspice, <= 1e-3."""
    case = dict(n_in=3, hidden=(4,), n_cls=2)
    extra = dict(line_compensation_max=_median_bound(case, STRONG)) if bounded else {}
    c = make_circuit(rng, **case, **STRONG, line_compensation="row_drive", **extra)
    x = rng.uniform(-1, 1, (4, 3))
    y = rng.integers(0, 2, 4)
    loss = create_loss("ce", tau=0.05)
    pc = PhaseController(create("numpy", c.copy(), tol=1e-16), loss, 1e-9, centered=True)
    grads = pc.gradients(pc.run(x, y))
    ng = create("ngspice", c.copy())

    def loss_at(gs):
        ng.load([g.copy() for g in gs])
        return float(loss.value(c.prediction(ng.solve(x).output), y).mean())

    k = 0                                    # the input crossbar: the rows the compensation scales
    for i, j in zip(*np.unravel_index(np.argsort(-np.abs(grads[k]), axis=None)[:3], grads[k].shape)):
        gs = [g.copy() for g in c.conductances]
        h = 1e-3 * gs[k][i, j]
        gs[k][i, j] += h
        lp = loss_at(gs)
        gs[k][i, j] -= 2 * h
        fd = (lp - loss_at(gs)) / (2 * h)
        assert fd == pytest.approx(grads[k][i, j], rel=1e-3), (i, j, fd, grads[k][i, j])
    ng.close()


@pytest.mark.parametrize("value", ["column_gain", "", "ROW_DRIVE"])
def test_unknown_compensation_is_one_line_error(value):
    with pytest.raises(ConfigError, match=r"circuit\.line_compensation") as err:
        CircuitParams(line_compensation=value)
    msg = str(err.value)
    assert "\n" not in msg and msg.endswith(f"got {value!r}") and "'row_drive'" in msg


@pytest.mark.parametrize("value", [0.5, 0.0, -2.0, float("nan"), float("inf"), "big"])
def test_bad_compensation_bound_is_one_line_error(value):
    with pytest.raises(ConfigError, match=r"circuit\.line_compensation_max") as err:
        CircuitParams(**STRONG, line_compensation="row_drive", line_compensation_max=value)
    assert "\n" not in str(err.value) and repr(value) in str(err.value)


def test_compensation_bound_without_row_drive_is_refused():
    with pytest.raises(ConfigError, match=r"circuit\.line_compensation_max = 4\.0 .* needs "
                                          r"circuit\.line_compensation = 'row_drive', got 'none'"):
        CircuitParams(**STRONG, line_compensation_max=4.0)
