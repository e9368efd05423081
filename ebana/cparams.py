"""Trainable circuit parameters other than the conductances: clamp-diode biases, amplifier gain and
per-neuron DC bias currents.

EqProp for any parameter theta of the energy whose stationary point is the DC operating point
(Scellier & Bengio 2017): with F(v, theta) = E(v, theta) / w_out + beta C(v) (the nudge),

    dL/dtheta = lim (1 / (beta_a - beta_b)) [dF/dtheta(v_a) - dF/dtheta(v_b)],

the partial derivative taken at the solved node voltages v_a, v_b of two nudged states (centered:
+-beta; one-sided: +beta and free), averaged over the batch, as :mod:`ebana.gradients` does for G.
E = sum_q w_q E_q (:mod:`ebana.circuit`): E_q holds the co-content of the crossbars into layer q
(1/2 sum G dV^2, W = V A: half a resistor's power) and of its clamp diodes; the nudge term of the output layer is
beta C after dividing by w_out and does not depend on theta.

Parameters (``train.trainable``; :data:`TRAINABLE` maps each name to its circuit keys):

* ``diode_bias``: the clamp levels ``circuit.v_clamp_high``, ``circuit.v_clamp_low`` (V) shared by
  every clamped neuron; the bias sources V_BH = v_clamp_high - v_th and V_BL = v_clamp_low + v_th
  move with them (dV_BH / dv_clamp_high = 1). The upper diode carries i_up = i_D(x1) out of the node
  at x1 = v - V_BH, co-content D(x1) = int_0^x1 i_D dx; dD/dV_BH = -i_D(x1) = -i_up (A = W/V). The
  lower diode carries i_low = i_D(x2) into the node at x2 = V_BL - v: dD(x2)/dV_BL = +i_low. So
  dF/dv_clamp_high = -sum_q (w_q / w_out) sum_nodes i_up and dF/dv_clamp_low = +sum_q (w_q / w_out)
  sum_nodes i_low (A).
* ``gain``: the VCVS gain g (V/V) of every hidden neuron's amplifier, w = cm + g (v - cm). The CCCS
  gain alpha follows it: alpha = 1/g when ``circuit.cccs_gain`` is unset (EBANA's amplifier), alpha = g
  when cccs_gain == gain (reciprocal, every w_q = 1); another fixed cccs_gain stays fixed. A
  crossbar from a hidden layer has co-content E_c = 1/2 V^T Y V over its terminals (ideal wires:
  1/2 sum G (w_i - v_j)^2) and dw_i/dg = v_i - cm, so dE_c/dg = sum_i (v_i - cm) I_i (W / (V/V)),
  I_i the current amplifier i drives into its row. The layer weights depend on g too: w_q = r^(d_q),
  r = alpha / g, d_q the amplifiers between the inputs and layer q, so
  d(w_q / w_out)/dg = (w_q / w_out) (d_q - d_out) dln r/dg with dln r/dg = -2/g (alpha = 1/g),
  0 (alpha = g) or -1/g (fixed alpha), and
  dF/dg = sum_q (w_q / w_out) [(d_q - d_out) dln r/dg E_q + sum_(c: hidden -> q) dE_c/dg].
  E_q needs the diode co-content itself (:func:`diode_cocontent`) and the bias currents' -I_b v.
* ``bias_current``: one ideal DC current source I_b (A) into every hidden neuron and output node
  (``circuit.i_bias``, its own value per node, 0 A to start). KCL at node j of layer q gains +I_b,j;
  the layer's energy gains -I_b,j v_j (dE/dv_j is w_q times the current out of the node, -I_b,j), so
  dF/dI_b,j = -(w_q / w_out) v_j (V) and the EqProp estimate is
  dL/dI_b,j = -(w_q / w_out) [v_j(beta_a) - v_j(beta_b)] / (beta_a - beta_b), batch mean: a node
  that the nudge raises gets more current (w_q = w_out = 1 for the output layer and with reciprocal
  amplifiers).

Units: dL/dv_clamp_* per volt, dL/dg per unit of gain, dL/dI_b per ampere (the loss is dimensionless). The ideal
(piecewise-linear) diode has a knee: the derivative holds away from it (no node exactly at v_th).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ebana.circuit import GAIN_RANGE, GMIN, MAX_AMPS, Circuit, CircuitParams, CompiledCircuit, DiodeParams, diode_branch
from ebana.energy import _crossbar_power
from ebana.errors import ConfigError, SimulationError, did_you_mean
from ebana.validation import check_fields

__all__ = ["ParamTrainConfig", "TRAINABLE", "VECTOR_KEYS", "param_keys", "param_values", "param_arrays",
           "with_values", "with_bias_currents", "param_metrics", "check_trainable", "diode_cocontent",
           "energy_derivatives", "parameter_gradients", "ParamUpdate"]

TRAINABLE: dict[str, tuple[str, ...]] = {"diode_bias": ("v_clamp_high", "v_clamp_low"), "gain": ("gain",),
                                         "bias_current": ("i_bias",)}
"""Trainable parameter names (``train.trainable``) -> the :class:`CircuitParams` keys they train."""

VECTOR_KEYS = ("i_bias",)
"""Keys holding one value per neuron node (a tuple); the others are scalars."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamTrainConfig:
    """What trains besides the conductances, and per-crossbar learning rates (``[train]`` in TOML).

    Defaults train nothing more and change nothing: every existing run is unchanged."""

    trainable: tuple[str, ...] = ()
    """Circuit parameters trained by EqProp with the conductances: ``diode_bias``, ``gain``,
    ``bias_current`` (:data:`TRAINABLE`)."""
    lr_diode_bias: float = 1e-3
    """Learning rate of the clamp levels (adam: V per step; sgd / momentum: V^2 per unit loss); the
    run's ``lr_schedule`` applies to it as to ``lr``."""
    lr_gain: float = 1e-2
    """Learning rate of the amplifier gain (adam: V/V per step; sgd / momentum: (V/V)^2 per unit loss)."""
    lr_bias_current: float = 1e-7
    """Learning rate of the bias currents (adam: A per step, 0.1 uA: ~1 % of a crossbar column's
    current at the default conductances; sgd / momentum: A^2 per unit loss)."""
    layer_lr: tuple[float, ...] = ()
    """Per crossbar (index as in ``ebana inspect``), a factor (>= 0) on ``lr``; () : every factor 1."""
    freeze: tuple[str, ...] = ()
    """Held fixed: crossbars ``"crossbar<k>"`` (their conductances do not change) and trainable
    parameters by name (the freeze switch: listed in ``trainable`` but not updated)."""

    def __post_init__(self) -> None:
        check_fields(self, "train")
        for name in self.trainable:
            if name not in TRAINABLE:
                raise ConfigError(f"unknown train.trainable {name!r}{did_you_mean(name, list(TRAINABLE))}; "
                                  f"known: {', '.join(TRAINABLE)}")
        if len(set(self.trainable)) != len(self.trainable):
            raise ConfigError(f"train.trainable lists a parameter twice: {list(self.trainable)}")
        for name in ("lr_diode_bias", "lr_gain", "lr_bias_current"):
            v = getattr(self, name)
            if not v > 0:
                raise ConfigError(f"train.{name} must be > 0, got {v!r}")
        for k, f in enumerate(self.layer_lr):
            if not f >= 0:
                raise ConfigError(f"train.layer_lr[{k}] must be a factor >= 0, got {f!r}")
        for item in self.freeze:
            if item not in TRAINABLE and not re.fullmatch(r"crossbar[0-9]+", item):
                raise ConfigError(f"train.freeze entry {item!r} is neither 'crossbar<k>' (e.g. 'crossbar0') nor a "
                                  f"trainable parameter ({', '.join(TRAINABLE)})")

    @property
    def active(self) -> tuple[str, ...]:
        """The trainable parameters that are updated (``trainable`` less ``freeze``)."""
        return tuple(n for n in self.trainable if n not in self.freeze)

    def lr_of(self, key: str) -> float:
        """Learning rate of one circuit key of :func:`param_keys`."""
        return {"gain": self.lr_gain, "i_bias": self.lr_bias_current}.get(key, self.lr_diode_bias)

    def crossbar_scales(self, n_crossbars: int) -> list[float]:
        """Per crossbar the factor on ``lr`` (0 for a frozen crossbar); ConfigError naming the key when
        ``layer_lr`` or ``freeze`` does not fit a network of ``n_crossbars`` crossbars."""
        if self.layer_lr and len(self.layer_lr) != n_crossbars:
            raise ConfigError(f"train.layer_lr has {len(self.layer_lr)} factors, the network has {n_crossbars} "
                              f"crossbars: {list(self.layer_lr)}")
        scale = list(self.layer_lr) if self.layer_lr else [1.0] * n_crossbars
        for item in self.freeze:
            if item.startswith("crossbar"):
                k = int(item[len("crossbar"):])
                if k >= n_crossbars:
                    raise ConfigError(f"train.freeze entry {item!r}: the network has crossbars 0..{n_crossbars - 1}")
                scale[k] = 0.0
        return scale

    def frozen_crossbars(self) -> set[int]:
        return {int(i[len("crossbar"):]) for i in self.freeze if i.startswith("crossbar")}


def param_keys(names: Sequence[str]) -> tuple[str, ...]:
    """The circuit keys of the trainable parameters ``names``, in the order of :data:`TRAINABLE`."""
    return tuple(k for n in TRAINABLE if n in names for k in TRAINABLE[n])


def param_arrays(params: CircuitParams, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Per key of :func:`param_keys` of ``names`` its present value (V, V/V: shape (); A: one per
    neuron node, (n,); empty when ``params.i_bias`` is unset)."""
    out = {}
    for k in param_keys(names):
        v = getattr(params, k)
        out[k] = np.array(v or (), dtype=np.float64) if k in VECTOR_KEYS else np.array(float(v))
    return out


def param_values(params: CircuitParams, names: Sequence[str]) -> np.ndarray:
    """The present values of the keys :func:`param_keys` of ``names``, one flat array (V, V/V, A)."""
    arrays = param_arrays(params, names).values()
    return np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.zeros(0)


def with_values(params: CircuitParams, names: Sequence[str], values: Sequence[float]) -> CircuitParams:
    """``params`` with the keys of ``names`` set to the flat ``values`` (:func:`param_values` order:
    a scalar key takes one value, ``i_bias`` the rest); a reciprocal CCCS (cccs_gain == gain)
    follows a new gain (an unset cccs_gain follows it as 1/g by itself)."""
    keys = param_keys(names)
    values = np.asarray(values, dtype=np.float64).ravel()
    n_vec = values.size - sum(1 for k in keys if k not in VECTOR_KEYS)
    new, at = {}, 0
    for k in keys:
        n = n_vec if k in VECTOR_KEYS else 1
        part = values[at:at + n]
        new[k] = tuple(float(v) for v in part) if k in VECTOR_KEYS else float(part[0])
        at += n
    if "gain" in new and params.cccs_gain is not None and params.cccs_gain == params.gain:
        new["cccs_gain"] = new["gain"]
    return replace(params, **new)


def with_bias_currents(circuit: Circuit, names: Sequence[str]) -> CircuitParams:
    """The circuit's parameters, with bias current sources at 0 A on every neuron node when
    ``bias_current`` is in ``names`` and the circuit has none yet (else unchanged)."""
    p = circuit.params
    if "bias_current" not in names or p.i_bias is not None:
        return p
    t = circuit.topology
    return replace(p, i_bias=(0.0,) * sum(t.layer_size(q) for q in range(1, t.n_layers)))


def param_metrics(params: CircuitParams, names: Sequence[str]) -> dict[str, float]:
    """metrics.csv columns of the trained values: ``param_<key>`` per scalar key (V, V/V), and for
    the bias currents their summary ``param_i_bias_rms`` and ``param_i_bias_max`` (max |I_b|) (A)."""
    out = {}
    for k, v in param_arrays(params, names).items():
        if k in VECTOR_KEYS:
            out[f"param_{k}_rms"] = float(np.sqrt(np.mean(v * v))) if v.size else 0.0
            out[f"param_{k}_max"] = float(np.abs(v).max()) if v.size else 0.0
        else:
            out[f"param_{k}"] = float(v)
    return out


def check_trainable(circuit: Circuit, names: Sequence[str]) -> None:
    """Refuse (ConfigError) a trainable parameter the circuit has nothing to train with."""
    t, p = circuit.topology, circuit.params
    if "diode_bias" in names and t.n_layers <= 2 and not p.output_diodes:
        raise ConfigError("train.trainable = 'diode_bias' needs clamped neurons (a hidden layer or "
                          "circuit.output_diodes = true), the network has none")
    if "gain" in names and not any(s.src > 0 for s in t.crossbars):
        raise ConfigError("train.trainable = 'gain' needs a hidden layer (amplifiers), the network has none")


def _shockley_cocontent(x: np.ndarray, i_s: float, n_vt: float) -> np.ndarray:
    """int_0^x of :func:`~ebana.circuit.shockley_current` (V A), GMIN included:
    forward i_s (n Vt (e^(x/n Vt) - 1) - x), linear beyond the 600 n Vt cap; reverse (x < -3 n Vt)
    J(x0) - i_s [(x - x0) - k^3/2 (x^-2 - x0^-2)], x0 = -3 n Vt, k = 3 n Vt / e."""
    x = np.asarray(x, dtype=np.float64)
    x0, k = -3.0 * n_vt, 3.0 * n_vt / np.e
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        xc = np.clip(x, x0, 600.0 * n_vt)
        fwd = i_s * (n_vt * np.expm1(xc / n_vt) - xc)
        fwd = fwd + np.where(x > xc, i_s * np.expm1(600.0) * (x - xc), 0.0)
        j0 = i_s * (n_vt * np.expm1(-3.0) - x0)
        rev = j0 - i_s * ((x - x0) - 0.5 * k ** 3 * (x ** -2.0 - x0 ** -2.0))
    return np.where(x >= x0, fwd, rev) + 0.5 * GMIN * x * x


def diode_cocontent(x: np.ndarray, d: DiodeParams) -> np.ndarray:
    """Co-content int_0^x i_D (V A) of one clamp diode branch at branch voltage x (V).

    Ideal: 1/2 g_off x^2 + 1/2 (g_on - g_off) max(x - v_th, 0)^2. Shockley: the junction's
    (:func:`_shockley_cocontent`) at x_j = x - r_s i plus 1/2 r_s i^2 (d/dx of it is i)."""
    x = np.asarray(x, dtype=np.float64)
    if d.model == "ideal":
        return 0.5 * d.g_off * x * x + 0.5 * (d.g_on - d.g_off) * np.maximum(x - d.v_th, 0.0) ** 2
    if d.r_s == 0:
        return _shockley_cocontent(x, d.i_s, d.n_vt)
    i = diode_branch(x, d)[0]
    return _shockley_cocontent(x - d.r_s * i, d.i_s, d.n_vt) + 0.5 * d.r_s * i * i


def _log_ratio_slope(p: CircuitParams) -> float:
    """dln(alpha / g)/dg (1/(V/V)) as the CCCS follows the gain (see the module docstring)."""
    if p.cccs_gain is None:
        return -2.0 / p.gain
    return 0.0 if p.cccs_gain == p.gain else -1.0 / p.gain


def _depths(circuit: Circuit) -> np.ndarray:
    """Amplifiers d_q between the inputs and every layer (skips from hidden layers need r = 1)."""
    t = circuit.topology
    d = np.zeros(t.n_layers)
    for q in range(1, t.n_layers):
        for c in t.incoming(q):
            if c.src > 0:
                d[q] = d[c.src] + 1
    return d


def energy_derivatives(model: CompiledCircuit, x: np.ndarray, layers: Sequence[np.ndarray | None],
                       names: Sequence[str]) -> np.ndarray:
    """dF/dtheta (B, n_keys) per sample at node voltages ``layers`` (V) and features ``x`` (B, n_in),
    F = E / w_out without the nudge term, for the flat values :func:`param_values` of ``names`` (A for
    the diode biases, W per unit gain for the gain, V for each bias current)."""
    circuit, t, p = model.circuit, model.topology, model.params
    keys = param_keys(names)
    b = np.asarray(layers[t.output_layer]).shape[0]
    n_nodes = sum(t.layer_size(q) for q in range(1, t.n_layers))
    out = np.zeros((b, len(keys) + (n_nodes - 1 if "i_bias" in keys else 0)))
    w = circuit.layer_weights / circuit.layer_weights[t.output_layer]     # w_q / w_out
    d = p.diode
    if "bias_current" in names:
        if not circuit.has_bias_currents:
            raise ConfigError("train.trainable = 'bias_current': the circuit has no bias current sources "
                              "(circuit.i_bias; cparams.with_bias_currents adds them at 0 A)")
        at = keys.index("i_bias")      # i_bias is the last key (TRAINABLE order): its n_nodes columns
        for q in range(1, t.n_layers):
            n = t.layer_size(q)
            out[:, at:at + n] = -w[q] * np.asarray(layers[q], dtype=np.float64)    # dF/dI_b = -(w_q / w_out) v
            at += n
    if "diode_bias" in names:
        kh, kl = keys.index("v_clamp_high"), keys.index("v_clamp_low")
        for q in range(1, t.n_layers):
            if not model.layers[q].clamped:
                continue
            v = layers[q]
            i_up = _branch_current(v - p.v_bias_high, d)
            i_low = _branch_current(p.v_bias_low - v, d)
            out[:, kh] -= w[q] * i_up.sum(axis=1)
            out[:, kl] += w[q] * i_low.sum(axis=1)
    if "gain" in names:
        out[:, keys.index("gain")] = _gain_derivative(model, x, layers, w)
    return out


def _branch_current(x: np.ndarray, d: DiodeParams) -> np.ndarray:
    if d.model == "ideal":
        return x * d.g_off + np.maximum(x - d.v_th, 0.0) * (d.g_on - d.g_off)
    return diode_branch(x, d)[0]


def _gain_derivative(model: CompiledCircuit, x: np.ndarray, layers: Sequence[np.ndarray | None],
                     w: np.ndarray) -> np.ndarray:
    """dF/dg (B,) (see the module docstring)."""
    circuit, t, p = model.circuit, model.topology, model.params
    xv = circuit.input_voltages(x)
    slope = _log_ratio_slope(p)
    depth = _depths(circuit)
    b = xv.shape[0]
    e_q = [np.zeros(b) for _ in range(t.n_layers)]
    de = np.zeros(b)
    for s in t.crossbars:
        rows, cols = circuit.row_voltages(s, xv, layers), np.asarray(layers[s.dst], dtype=np.float64)
        p_dev, p_wire, i_row = _crossbar_power(model, s, rows, cols, need_rows=s.src > 0 or slope != 0)
        if slope != 0:
            e_q[s.dst] += 0.5 * (p_dev + p_wire)
        if s.src > 0:
            de += w[s.dst] * np.einsum("bi,bi->b", layers[s.src] - p.cm, i_row[:, :s.n_rows])
    if slope == 0:
        return de
    out = t.output_layer
    for q in range(1, t.n_layers):
        if model.layers[q].clamped:
            v = layers[q]
            e_q[q] += (diode_cocontent(v - p.v_bias_high, p.diode) + diode_cocontent(p.v_bias_low - v, p.diode)
                       ).sum(axis=1)
        if circuit.has_bias_currents:      # the bias current sources' -I_b v
            e_q[q] -= np.asarray(layers[q], dtype=np.float64) @ circuit.bias_currents(q)
        de += w[q] * (depth[q] - depth[out]) * slope * e_q[q]
    return de


def parameter_gradients(model: CompiledCircuit, sol_a, sol_b, beta_a: float, beta_b: float,
                        names: Sequence[str]) -> np.ndarray:
    """EqProp estimate of d(mean loss)/dtheta (flat, :func:`param_values` order) for ``names`` from two nudged
    states ``sol_a``, ``sol_b`` (:class:`~ebana.backends.base.Solution`) at beta_a, beta_b (A)."""
    da = energy_derivatives(model, sol_a.inputs(), sol_a.layers, names)
    db = energy_derivatives(model, sol_b.inputs(), sol_b.layers, names)
    return (da - db).sum(axis=0) / ((beta_a - beta_b) * sol_a.batch)


class ParamUpdate:
    """The optimiser of the trainable circuit parameters (``train.trainable`` less ``train.freeze``).

    theta <- theta - lr_k * factor * scale * direction(grad) per key k (the run's optimiser, its own
    moments; elementwise for the bias currents); ``factor`` is the run's learning-rate schedule
    relative to ``lr``. The clamp levels must stay ordered (v_clamp_low < v_clamp_high), the gain
    > 0 and the bias currents within +-:data:`~ebana.circuit.MAX_AMPS`: a step that breaks one is a
    :class:`~ebana.errors.SimulationError` naming the value (lower the learning rate). ``params``
    must hold the bias currents when they train (:func:`with_bias_currents`)."""

    def __init__(self, cfg: ParamTrainConfig, optimizer: str, params: CircuitParams) -> None:
        from ebana.updates.ideal import OPTIMIZERS
        self.names = cfg.active
        self.keys = param_keys(self.names)
        arrays = param_arrays(params, self.names)
        self.sizes = [int(arrays[k].size) for k in self.keys]
        self.lrs = np.array([cfg.lr_of(k) for k in self.keys])
        self.opt = OPTIMIZERS.get(optimizer)([(1,) if k not in VECTOR_KEYS else (n,)
                                              for k, n in zip(self.keys, self.sizes)])
        self.values = param_values(params, self.names)

    def step(self, grads: np.ndarray, factor: float) -> np.ndarray:
        """New flat values after one update with the gradients ``grads`` (same layout)."""
        scale = self.opt.scale()
        ends = np.cumsum([0] + self.sizes)
        new = np.concatenate([self.values[a:b] - lr * factor * scale * np.asarray(
            self.opt.direction(k, np.array(grads[a:b], dtype=np.float64)), dtype=np.float64)
                              for k, (a, b, lr) in enumerate(zip(ends[:-1], ends[1:], self.lrs))]) \
            if self.keys else np.zeros(0)
        self.opt.tick()
        got = {k: new[a] for k, a in zip(self.keys, ends[:-1]) if k not in VECTOR_KEYS}
        if "i_bias" in self.keys:
            a = ends[self.keys.index("i_bias")]
            i_b = new[a:]
            if not np.all(np.abs(i_b) <= MAX_AMPS):
                j = int(np.argmax(~(np.abs(i_b) <= MAX_AMPS)))
                raise SimulationError(f"train.trainable 'bias_current': an update set circuit.i_bias[{j}] = "
                                      f"{float(i_b[j]):g} A (must stay within +-{MAX_AMPS:g} A); lower "
                                      f"train.lr_bias_current")
        if "gain" in got and not GAIN_RANGE[0] <= got["gain"] <= GAIN_RANGE[1]:
            raise SimulationError(f"train.trainable 'gain': an update set circuit.gain = {float(got['gain']):g} (must "
                                  f"stay in [{GAIN_RANGE[0]:g}, {GAIN_RANGE[1]:g}]); lower train.lr_gain")
        if "v_clamp_high" in got and not got["v_clamp_low"] < got["v_clamp_high"]:
            raise SimulationError(f"train.trainable 'diode_bias': an update crossed the clamp levels (circuit."
                                  f"v_clamp_low = {float(got['v_clamp_low']):g} V, v_clamp_high = "
                                  f"{float(got['v_clamp_high']):g} V); lower train.lr_diode_bias")
        self.values = new
        return new

    def apply(self, params: CircuitParams) -> CircuitParams:
        """``params`` with the present values."""
        return with_values(params, self.names, self.values)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"values": self.values.copy(), **{f"opt_{k}": v for k, v in self.opt.state_dict().items()}}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.values = np.array(state["values"], dtype=np.float64)
        self.opt.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("opt_")})
