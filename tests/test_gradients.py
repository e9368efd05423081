"""EqProp gradient vs finite differences of the loss at equilibrium (numpy float64 backend)."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.backends import create
from ebana.gradients import finite_difference_gradients, squared_drop_difference
from ebana.losses import create_loss
from ebana.phases import PhaseController
from tests.conftest import make_circuit


def _setup(rng, loss_name, **case):
    c = make_circuit(rng, **case)
    x = rng.uniform(-1, 1, (8, c.topology.n_inputs))
    y = rng.integers(0, c.topology.n_classes, 8)
    loss = create_loss(loss_name, tau=0.02, target_scale=0.05)
    backend = create("numpy", c)

    def mean_loss(gs):
        backend.load([g.copy() for g in gs])
        return loss.value(c.prediction(backend.solve(x).output), y).mean()

    g0 = [g.copy() for g in c.conductances]
    entries = [(k, i, j) for k, s in enumerate(c.topology.crossbars)
               for i, j in [(0, 0), (1, 1), (s.shape[0] - 1, s.shape[1] - 1)]]
    fd = finite_difference_gradients(mean_loss, g0, 1e-4, entries)
    backend.load(g0)
    return c, backend, loss, x, y, entries, np.array([fd[e] for e in entries])


def _rel_err(controller, x, y, entries, fd):
    r = controller.run(x, y)
    g = controller.gradients(r)
    est = np.array([g[k][i, j] for k, i, j in entries])
    return np.linalg.norm(est - fd) / np.linalg.norm(fd), np.max(np.abs(est - fd) / np.abs(fd))


@pytest.mark.parametrize("loss_name", ["ce", "mse"])
@pytest.mark.parametrize("case", [dict(n_in=3, hidden=(5,), n_cls=3),
                                  dict(n_in=3, hidden=(5, 4), n_cls=3),
                                  dict(n_in=3, hidden=(5, 4), n_cls=3, skips=((0, 2), (0, 3)))],
                         ids=["1hidden", "2hidden", "skips"])
def test_eqprop_matches_finite_differences(rng, loss_name, case):
    c, backend, loss, x, y, entries, fd = _setup(rng, loss_name, **case)
    one = _rel_err(PhaseController(backend, loss, 1e-10), x, y, entries, fd)
    cen = _rel_err(PhaseController(backend, loss, 1e-10, centered=True), x, y, entries, fd)
    assert one[0] < 0.05           # relative error (norm over the checked entries) < 5% at small beta
    assert cen[1] < 1e-3
    assert cen[0] < one[0]         # centered nudging is closer than one-sided


def test_one_sided_error_shrinks_linearly_with_beta(rng):
    c, backend, loss, x, y, entries, fd = _setup(rng, "ce", n_in=3, hidden=(5,), n_cls=3)
    e1 = _rel_err(PhaseController(backend, loss, 1e-8), x, y, entries, fd)[0]
    e2 = _rel_err(PhaseController(backend, loss, 1e-9), x, y, entries, fd)[0]
    assert 5 < e1 / e2 < 20


def test_squared_drop_difference_equals_direct_sum(rng):
    r_a, r_b = rng.normal(size=(7, 4)), rng.normal(size=(7, 4))
    c_a, c_b = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    direct = ((r_a[:, :, None] - c_a[:, None]) ** 2 - (r_b[:, :, None] - c_b[:, None]) ** 2).sum(0)
    assert np.allclose(squared_drop_difference(r_a, c_a, r_b, c_b), direct, atol=1e-12)
    assert np.allclose(squared_drop_difference(r_a, c_a, r_a, c_b, same_rows=True),
                       ((r_a[:, :, None] - c_a[:, None]) ** 2 - (r_a[:, :, None] - c_b[:, None]) ** 2).sum(0))


def test_feature_path_equals_wordline_path(rng):
    """The gradient of an input crossbar formed from the features equals the generic sum of
    squared drops over its wordlines and bias rows."""
    from ebana.gradients import eqprop_gradients
    c = make_circuit(rng, n_in=4, hidden=(5,), n_cls=3, bias_input=(0.9, 0.3, 0.1))
    x = rng.uniform(-1, 1, (6, 4))
    y = rng.integers(0, 3, 6)
    pc = PhaseController(create("numpy", c), create_loss("ce", tau=0.02), 1e-9, centered=True)
    r = pc.run(x, y)
    fast = eqprop_gradients(c, r.a, r.b, r.beta_a, r.beta_b)
    t, w = c.topology, c.layer_weights
    for spec in t.crossbars:
        rows = c.row_voltages(spec, r.a.wordlines(c), r.a.layers)
        if spec.src != 0:
            continue
        slow = squared_drop_difference(rows, r.a.layers[spec.dst], rows, r.b.layers[spec.dst])
        slow *= w[spec.dst] / w[t.output_layer] / (2.0 * (r.beta_a - r.beta_b) * len(x))
        f = fast[spec.index]
        assert np.allclose(f, slow, rtol=1e-9, atol=1e-12 * np.abs(slow).max())


def _mnist_like(rng):
    """A small circuit with the MNIST preset's electrics (+-5 mV clamps, gain 10), ce at tau = 3 mV."""
    from ebana.circuit import Circuit
    from ebana.config import preset
    from ebana.topology import Topology
    p = preset("mnist").circuit
    t = Topology(20, (30,), 10, n_bias_input=len(p.bias_input), n_bias_hidden=len(p.bias_hidden))
    c = Circuit.random(t, p, rng)
    x, y = rng.uniform(0, 1, (64, 20)), rng.integers(0, 10, 64)
    return c, create("numpy", c), create_loss("ce", tau=0.003), x, y


def _cosine(a, b):
    return float(np.sum(a * b) / np.linalg.norm(a) / np.linalg.norm(b))


def test_one_sided_needs_its_own_beta_on_the_mnist_circuit(rng):
    """Issue 14: at the centered preset's beta = 1e-6 A the one-sided estimate of the output crossbar
    is dominated by its delta^2 bias (every entry pushed up: the crossbar collapses to g_min); the
    one-sided default beta is accurate, and the preset beta is refused for one-sided runs."""
    from ebana.config import default_beta
    from ebana.errors import ConfigError
    from ebana.phases import check_nudging, one_sided_bias_ratio
    c, backend, loss, x, y = _mnist_like(rng)
    ref = PhaseController(backend, loss, 1e-11, centered=True)
    ref = ref.gradients(ref.run(x, y))[-1]

    def output_grad(beta, centered):
        pc = PhaseController(backend, loss, beta, centered=centered)
        return pc.gradients(pc.run(x, y))[-1]

    bad = output_grad(1e-6, False)
    assert _cosine(bad, ref) < 0.5 and bad.mean() > 5 * np.abs(ref).mean()   # the bias, not the gradient
    assert _cosine(output_grad(1e-6, True), ref) > 0.999                       # centered cancels it
    beta = default_beta("mnist", centered=False)
    assert beta < 1e-6 == default_beta("mnist", centered=True)
    assert _cosine(output_grad(beta, False), ref) > 0.999
    assert one_sided_bias_ratio(c, loss, 1e-6)[0] > 1 > 0.1 > one_sided_bias_ratio(c, loss, beta)[0]
    with pytest.raises(ConfigError, match=r"beta = 1e-06 A is too large for one-sided nudging \(centered = false\)"):
        check_nudging(c, loss, 1e-6, centered=False)
    check_nudging(c, loss, 1e-6, centered=True)
    check_nudging(c, loss, beta, centered=False)
