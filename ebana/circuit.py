"""Backend-neutral description of an EqProp crossbar circuit.

The circuit (all values SI: V, A, S, ohm):

* inputs: each normalised feature x becomes two wordlines driven by ideal DC sources,
  ``x+ = v_shift + v_scale*x`` and ``x- = v_shift - v_scale*x``; crossbars leaving the
  input layer get ``bias_input`` rows, crossbars leaving a hidden layer ``bias_hidden`` rows;
* a crossbar is one conductance ``G[i, j]`` (S) between row i and column node j; with line
  resistance (``r_wordline``, ``r_bitline``, ``r_driver``, ``r_sense`` > 0) between its own cell
  nodes r(i, j) and c(i, j) on resistive lines: wordlines driven from the left through the driver
  resistance, bitlines joined to their neuron node at the bottom through the sense resistance
  (:mod:`ebana.lines`; a hidden neuron is read at the bottom end of the bitline that feeds it
  and drives, through its amplifier, the left end of its wordline in every crossbar it feeds);
* with ``line_compensation = "row_drive"`` (and line resistance) each input wordline's signal
  amplitude is scaled by a fixed factor f_i, x+- = v_shift +- f_i v_scale x (:func:`row_drive_factors`);
* each neuron node is clamped by two diodes: an "upper" diode from the node to a bias
  source ``V_BH = v_clamp_high - v_th`` (conducts when v > v_clamp_high) and a "lower"
  diode from ``V_BL = v_clamp_low + v_th`` into the node (conducts when v < v_clamp_low);
* a hidden neuron drives the next crossbars through a bidirectional amplifier: a VCVS
  ``w = v_cm + gain*(v - v_cm)`` and a CCCS drawing ``cccs_gain * I_out`` out of the node;
* the output layer has two nodes per class (interleaved +, -); prediction ``V+ - V-``;
  a current source on every output node injects the nudging current (0 when free);
* with ``i_bias`` (``CircuitParams``) an ideal DC current source injects I_b into every hidden
  neuron and output node (KCL gains +I_b, the energy -I_b v; :mod:`ebana.cparams` trains them).

The DC operating point minimises the energy
``E = sum_layers w_q [sum_in 1/2 G dV^2 + diode co-contents - sum I v]`` with layer
weights ``w_q = w_p * cccs_gain / gain`` along every crossbar p -> q leaving a hidden layer
(``layer_weights``); it is unique because E is strictly convex.

Reciprocal amplifiers, ``cccs_gain == gain`` (A/A = V/V), make the amplifier an ideal
transformer of ratio g: w = g v forward, g I_out drawn from the neuron, so the power into the
input port equals the power out (v * g I_out = (g v) * I_out). Then every layer weight is 1, a
hidden layer may drive crossbars into several later layers (skip connections, residual
networks: ``TrainConfig.residual``), and the EqProp estimate needs no per-layer factor. With the
EBANA amplifier (cccs_gain = 1/g) the weight falls by 1/g^2 per amplifier, so a layer reached
along paths with different numbers of amplifiers has no consistent weight (no energy; refused).

:meth:`Circuit.compile` turns the circuit and a set of conductances into a
:class:`CompiledCircuit`: the immutable per-layer stamps every solver and the netlist read
(nothing else derives circuit physics; see ``docs/architecture.md``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping, Sequence

import numpy as np

from ebana.errors import ConfigError, SimulationError, TopologyError
from ebana.lines import CrossbarLines, LineResistance
from ebana.local import share
from ebana.validation import check_fields
from ebana.topology import CrossbarSpec, Topology

__all__ = ["DiodeParams", "CircuitParams", "Circuit", "CompiledCircuit", "LayerStamp", "Coupling",
           "THERMAL_VOLTAGE_27C", "GMIN", "shockley_current", "diode_branch", "ideal_diode_current",
           "row_drive_factors",
           "INITS", "initial_conductances"]

# ngspice defaults: kT/q at 27 C (CONSTboltz*300.15/CHARGE) and the junction gmin (S).
THERMAL_VOLTAGE_27C = 1.38064852e-23 * 300.15 / 1.6021766208e-19
GMIN = 1e-12
MAX_VOLTS = 1e3
"""Largest |voltage| (V) a circuit parameter may have: far beyond any crossbar, small enough
that squared drops and diode currents stay finite in float64."""
MAX_AMPS = 1.0
"""Largest |current| (A) of a bias current source (``circuit.i_bias``): far beyond any crossbar's."""
GAIN_RANGE = (1e-6, 1e6)
"""Range of the amplifier gains ``circuit.gain`` (V/V) and ``circuit.cccs_gain`` (A/A): beyond it the
nodal equations overflow or lose every digit in float64 (a real amplifier's open-loop gain is < 1e6)."""
MAX_LINE_OHMS = 1e6
"""Largest line resistance (ohm) per wire segment, driver or sense resistor (``circuit.r_wordline``, ...):
ten times a 100 kohm device; far above it the line network is ill-conditioned or does not converge."""
MAX_END_TO_SEGMENT = 1e4
"""Largest r_driver / r_wordline and r_sense / r_bitline (with a segment > 0): a line of segments far
smaller than the resistor that ends it is ill-conditioned. A randomized check against exact
(rational) solutions found float64 errors up to ~1e-13 V times that ratio, numpy's and ngspice's
alike (ngspice's larger), so above 1e4 neither can be held to 1e-9 V: refused."""
MIN_V_SCALE = 1e-6
"""Smallest |circuit.v_scale| (V per unit of feature): below 1 uV the inputs carry no signal."""
G_RANGE = (1e-18, 1.0)
"""Range (S) of ``circuit.g_min`` and ``circuit.g_max``: 1 S (a 1 ohm device) is far beyond any
memristor's on-conductance, 1e-18 S (1e18 ohm) below any off-conductance (and below g_max / 1e9,
the largest ``device.r_ratio``, for g_max >= 1e-9 S)."""
_E = np.e


def shockley_current(x: np.ndarray, i_s: float, n_vt: float) -> tuple[np.ndarray, np.ndarray]:
    """ngspice ``D`` model DC current (A) and conductance (S) at junction voltage x (V), incl. GMIN.

    Forward (x >= -3 n Vt): i_s (exp(x / n Vt) - 1); reverse: ngspice's cubic tail
    -i_s (1 + (3 n Vt / (x e))^3). Exponent capped at 600 n Vt (finite in float64)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        fwd = x >= -3.0 * n_vt
        ev = np.exp(np.minimum(x, 600.0 * n_vt) / n_vt)
        arg = (3.0 * n_vt / (x * _E)) ** 3
        i = np.where(fwd, i_s * (ev - 1.0), -i_s * (1.0 + arg))
        g = np.where(fwd, i_s * ev / n_vt, i_s * 3.0 * arg / x)
    return i + GMIN * x, g + GMIN


SERIES_MAX_ITERATIONS = 200
"""Newton iterations of the implicit junction + RS solve (typically < 30)."""


def diode_branch(x: np.ndarray, d: "DiodeParams") -> tuple[np.ndarray, np.ndarray]:
    """Shockley branch current (A) and conductance (S) at branch voltage x (V): the junction
    (:func:`shockley_current`, GMIN across it, as ngspice) in series with d.r_s (ohm).

    r_s = 0: exactly :func:`shockley_current`. Otherwise the junction voltage x_j solves
    x_j + r_s i_j(x_j) = x (strictly increasing in x_j, slope >= 1: one root) by Newton from
    min(x, n Vt ln(1 + x / (r_s i_s))) with a bracket [min(x, 0) - 1, max(x, 0)] kept (bisection
    when a step leaves it), to a few ulps;
    g = g_j / (1 + r_s g_j), i = i_j(x_j) (GMIN included)."""
    if d.v_breakdown is not None and np.any(np.asarray(x) < -d.v_breakdown):
        raise SimulationError(f"a clamp diode is reverse-biased beyond its breakdown voltage BV = {d.v_breakdown:g} V "
                              f"(card {d.card}): breakdown is not implemented")
    if d.r_s == 0:
        return shockley_current(x, d.i_s, d.n_vt)
    x = np.asarray(x, dtype=np.float64)
    rs, nvt = d.r_s, d.n_vt
    hi = np.maximum(x, 0.0)              # f(hi) >= 0: r_s i(x) >= 0 for x >= 0, f(0) = -x > 0 for x < 0
    lo = np.minimum(x, 0.0) - 1.0        # f(lo) = lo - x + r_s i(lo) < 0
    # start at the junction voltage carrying all of x / r_s (an upper bound of the root for x > 0,
    # up to GMIN): Newton then descends the convex exponential in a few steps
    with np.errstate(invalid="ignore"):
        xj = np.minimum(x, nvt * np.log1p(np.maximum(x, 0.0) / (rs * d.i_s)))
    for _ in range(SERIES_MAX_ITERATIONS):
        i, g = shockley_current(xj, d.i_s, nvt)
        f = xj + rs * i - x
        lo = np.where(f < 0, xj, lo)
        hi = np.where(f > 0, xj, hi)
        step = xj - f / (1.0 + rs * g)
        bad = ~((step > lo) & (step < hi))
        new = np.where(bad, 0.5 * (lo + hi), step)
        done = np.all(np.abs(new - xj) <= 4.0 * np.finfo(np.float64).eps * np.maximum(np.abs(xj), nvt))
        xj = new
        if done:
            break
    i, g = shockley_current(xj, d.i_s, nvt)
    return i, g / (1.0 + rs * g)


def ideal_diode_current(x: np.ndarray, d: "DiodeParams") -> np.ndarray:
    """Piecewise-linear clamp diode current (A) at junction voltage x (V): x g_off below v_th,
    then v_th g_off + (x - v_th) g_on (continuous; the netlist's B-source)."""
    return np.where(x < d.v_th, x * d.g_off, d.v_th * d.g_off + (x - d.v_th) * d.g_on)


@dataclass(frozen=True, slots=True, kw_only=True)
class DiodeParams:
    """Clamp diode model.

    ``ideal``: piecewise-linear, i(x) = x/r_off for x < v_th, then slope 1/r_on (continuous).
    ``shockley``: ngspice ``D`` model, i(x) = i_s*(exp(x/(n*Vt)) - 1) + GMIN*x at 27 C, the
    junction in series with ``r_s`` (ohm; the branch is solved implicitly, :func:`diode_branch`).
    With ``lib`` (a SPICE model file) and ``card`` (a ``.model NAME D`` card in it) the card sets
    i_s, n and r_s (:mod:`ebana.diode_card`; a card with a DC parameter the fast path does not
    implement is refused) and the netlist carries that card, re-written from its parsed parameters
    (never the file itself: a model file may hold ``.control`` blocks, options or other cards).
    """

    model: Literal["ideal", "shockley"] = "ideal"
    v_th: float = 0.15      # V, knee voltage (ideal) / nominal turn-on used to place the biases
    r_on: float = 1.0       # ohm, ideal diode on-resistance
    r_off: float = 1e20     # ohm, ideal diode off-resistance
    i_s: float = 1e-14      # A, Shockley saturation current
    n: float = 1.0          # Shockley emission coefficient
    r_s: float = 0.0        # ohm, Shockley series resistance
    lib: str = ""           # SPICE model file with the diode card ("": the inline i_s, n, r_s)
    card: str = ""          # name of the ``.model NAME D (...)`` card in ``lib``
    v_breakdown: float | None = field(default=None, init=False, repr=False, compare=False)
    """BV (V) of the ``lib`` card, or None: junctions reverse-biased beyond it are refused."""
    card_params: tuple[tuple[str, float], ...] = field(default=(), init=False, repr=False, compare=False)
    """The ``lib`` card's parameters (lower-case name, value in SI units), as the netlist writes them."""

    def __post_init__(self) -> None:
        check_fields(self, "circuit.diode")
        if bool(self.lib) != bool(self.card):
            raise ConfigError(f"circuit.diode.lib and circuit.diode.card go together, got lib={self.lib!r}, "
                              f"card={self.card!r}")
        if self.lib:
            self._load_card()
        if not self.r_s >= 0:
            raise ConfigError(f"circuit.diode.r_s (series resistance) must be >= 0 ohm, got {self.r_s!r}")
        if self.model == "ideal" and not (0 < self.r_on < self.r_off):
            raise ConfigError(f"ideal diode needs 0 < circuit.diode.r_on < circuit.diode.r_off, got "
                              f"r_on={self.r_on!r}, r_off={self.r_off!r}")
        if not 0 <= self.v_th <= 10:
            raise ConfigError(f"circuit.diode.v_th must be in [0, 10] V, got {self.v_th!r}")
        if self.i_s <= 0 or self.n <= 0:
            raise ConfigError(f"Shockley diode needs circuit.diode.i_s > 0 and circuit.diode.n > 0, got "
                              f"i_s={self.i_s!r}, n={self.n!r}")

    def _load_card(self) -> None:
        """Set i_s, n, r_s (and v_breakdown) from the ``card`` of ``lib``."""
        from ebana.diode_card import read_card
        if self.model != "shockley":
            raise ConfigError(f"circuit.diode.lib needs circuit.diode.model = 'shockley', got {self.model!r}")
        if '"' in self.lib:
            raise ConfigError(f"circuit.diode.lib must not contain a double quote (it is written into the "
                              f"netlist's .include line), got {self.lib!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", self.card):
            raise ConfigError(f"circuit.diode.card must be a SPICE model name (letters, digits, _ . + -), "
                              f"got {self.card!r}")
        c = read_card(self.lib, self.card)
        for k, v in c.dc_parameters().items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "v_breakdown", c.bv)
        object.__setattr__(self, "card_params", tuple(c.params.items()))

    @property
    def g_on(self) -> float:
        return 1.0 / self.r_on

    @property
    def g_off(self) -> float:
        return 1.0 / self.r_off

    @property
    def n_vt(self) -> float:
        return self.n * THERMAL_VOLTAGE_27C


INITS = ("uniform", "glorot", "he", "log_uniform")
"""Initialisers of the crossbar conductances (config key ``init``)."""


def _fan_in(topology: Topology, spec: CrossbarSpec) -> int:
    """Devices feeding one column (node) of ``spec``: every row (signal x+/x- rows and bias rows),
    or for a locally connected crossbar the largest number of devices in a column."""
    mask = topology.mask(spec.index)
    return int(spec.shape[0] if mask is None else max(1, mask.sum(axis=0).max()))


def initial_conductances(init: str, shape: tuple[int, int], low: float, high: float,
                         rng: np.random.Generator, fan_in: int) -> np.ndarray:
    """Initial conductances (S) of one crossbar of ``shape`` (rows, columns) in [low, high].

    - ``uniform``: g ~ U(low, high) (one ``rng.uniform`` call: the historical draw, bit for bit).
    - ``log_uniform``: ln g ~ U(ln low, ln high) (resistances spread evenly per decade).
    - ``glorot`` / ``he``: a unitless weight w per device, glorot: w ~ U(-a, a), a = sqrt(6 /
      (fan_in + fan_out)); he: w ~ N(0, 2 / fan_in), fan_in the devices feeding a column (signal
      and bias rows), fan_out the columns. Mapping: g = g_c + h w with g_c = (low + high) / 2 and
      h = (high - low) / 2 (w = +-1 reaches the ends), clipped to [low, high]. Every device draws
      its own w, so a differential pair (the x+ and x- rows of one input, or a bias row against
      the others) has weight G+ - G- with spread sqrt(2) h std(w) (S) around 0, and a column's
      mean conductance stays g_c.
    """
    if init == "uniform":
        return rng.uniform(low, high, size=shape)
    if init == "log_uniform":
        return np.exp(rng.uniform(np.log(low), np.log(high), size=shape))
    if init == "glorot":
        a = np.sqrt(6.0 / (fan_in + shape[1]))
        w = rng.uniform(-a, a, size=shape)
    elif init == "he":
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    else:
        raise ConfigError(f"unknown init {init!r}; known: {', '.join(INITS)}")
    return np.clip(0.5 * (low + high) + 0.5 * (high - low) * w, low, high)


def _check_range(key: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    """ConfigError unless ``bounds[0] <= value <= bounds[1]`` (``key = value: why``)."""
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ConfigError(f"{key} = {value:g} {unit}: must be in [{lo:g}, {hi:g}] {unit}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitParams:
    """Electrical parameters of the network (defaults: the EBANA IRIS circuit)."""

    v_shift: float = 0.6              # V, input common mode s
    v_scale: float = 0.6              # V per unit of normalised feature
    bias_input: tuple[float, ...] = (0.9, 0.3)   # V, bias rows on crossbars from the inputs
    bias_hidden: tuple[float, ...] = (0.9, 0.3)  # V, bias rows on crossbars from hidden layers
    v_clamp_low: float = 0.45         # V, lower clamp level of every neuron
    v_clamp_high: float = 0.75        # V, upper clamp level
    output_diodes: bool = False       # clamp the output nodes too
    gain: float = 4.0                 # VCVS gain g
    cccs_gain: float | None = None    # CCCS gain alpha (A/A; default 1/g; = g: reciprocal, see module doc)
    v_cm: float | None = None         # V, amplifier common mode (default v_shift)
    g_min: float = 1e-7               # S, smallest programmable conductance
    g_max: float = 1e-5               # S, largest programmable conductance
    diode: DiodeParams = field(default_factory=DiodeParams)
    r_wordline: float = 0.0           # ohm, wordline resistance per cell segment (0: ideal wire)
    r_bitline: float = 0.0            # ohm, bitline resistance per cell segment
    r_driver: float = 0.0             # ohm, driver (source) resistance at the driven end of a wordline
    r_sense: float = 0.0              # ohm, sense resistance between a bitline's end and its neuron node
    line_compensation: Literal["none", "row_drive"] = "none"
    """Neuron-level compensation of line resistance (:func:`row_drive_factors`): "none", or
    "row_drive" (each input wordline's signal amplitude scaled by its row's ideal-wire over
    line-resistance transconductance). Without line resistance every factor is 1."""
    line_compensation_max: float | None = None
    """Largest row_drive factor (dimensionless, >= 1): f_i = min(f_i, max), a driver of bounded
    gain (a real DAC's range). None: unbounded."""
    i_bias: tuple[float, ...] | None = None
    """A, DC bias current sources: one ideal current source into every hidden neuron and output
    node, in layer order (layer 1 first, output nodes as :meth:`Circuit.nudge_currents` orders them).
    None: no source in the circuit (``train.trainable = ["bias_current"]`` starts them at 0 A)."""

    def __post_init__(self) -> None:
        check_fields(self, "circuit")
        for name in ("r_wordline", "r_bitline", "r_driver", "r_sense"):
            r = getattr(self, name)
            if not r >= 0:
                raise ConfigError(f"circuit.{name} (line resistance) must be >= 0 ohm, got {r!r}")
            if r > MAX_LINE_OHMS:
                raise ConfigError(f"circuit.{name} = {r:g} ohm: a line resistance must be <= {MAX_LINE_OHMS:g} ohm "
                                  f"(beyond it the line network is too ill-conditioned to solve)")
        for seg, end in (("r_wordline", "r_driver"), ("r_bitline", "r_sense")):
            rs, re_ = getattr(self, seg), getattr(self, end)
            if rs > 0 and re_ > MAX_END_TO_SEGMENT * rs:
                raise ConfigError(f"circuit.{end} = {re_:g} ohm with circuit.{seg} = {rs:g} ohm: the ratio "
                                  f"{re_ / rs:.3g} exceeds {MAX_END_TO_SEGMENT:g}; segments that small behind that "
                                  f"resistor make the line ill-conditioned (float64 errors ~1e-13 V x ratio, in "
                                  f"ngspice too): set circuit.{seg} = 0 (an ideal wire) or a larger segment")
        if self.line_compensation_max is not None:
            if not self.line_compensation_max >= 1:
                raise ConfigError(f"circuit.line_compensation_max (largest row_drive factor) must be >= 1, got "
                                  f"{self.line_compensation_max!r}")
            if self.line_compensation != "row_drive":
                raise ConfigError(f"circuit.line_compensation_max = {self.line_compensation_max!r} bounds the "
                                  f"row_drive factors: it needs circuit.line_compensation = 'row_drive', got "
                                  f"{self.line_compensation!r}")
        if not (0 < self.g_min < self.g_max):
            raise ConfigError(f"need 0 < g_min < g_max, got circuit.g_min={self.g_min!r} S, "
                              f"circuit.g_max={self.g_max!r} S")
        for name in ("g_min", "g_max"):
            _check_range(f"circuit.{name}", getattr(self, name), G_RANGE, "S")
        if self.v_clamp_low >= self.v_clamp_high:
            raise ConfigError(f"need v_clamp_low < v_clamp_high, got circuit.v_clamp_low={self.v_clamp_low!r} V "
                              f">= circuit.v_clamp_high={self.v_clamp_high!r} V")
        if self.gain <= 0:
            raise ConfigError(f"circuit.gain (amplifier gain) must be > 0, got {self.gain!r}")
        if self.cccs_gain is not None and self.cccs_gain <= 0:
            raise ConfigError(f"circuit.cccs_gain must be > 0 (0 breaks the energy), got {self.cccs_gain!r}")
        _check_range("circuit.gain", self.gain, GAIN_RANGE, "V/V")
        if self.cccs_gain is not None:
            _check_range("circuit.cccs_gain", self.cccs_gain, GAIN_RANGE, "A/A")
        if abs(self.v_scale) < MIN_V_SCALE:
            raise ConfigError(f"circuit.v_scale = {self.v_scale:g} V: |v_scale| must be >= {MIN_V_SCALE:g} V "
                              f"(the inputs would carry no signal)")
        volts = [("v_shift", self.v_shift), ("v_scale", self.v_scale), ("v_clamp_low", self.v_clamp_low),
                 ("v_clamp_high", self.v_clamp_high), ("v_cm", self.v_cm)]
        volts += [(f"bias_input[{k}]", v) for k, v in enumerate(self.bias_input)]
        volts += [(f"bias_hidden[{k}]", v) for k, v in enumerate(self.bias_hidden)]
        for name, v in volts:
            if v is not None and abs(v) > MAX_VOLTS:
                raise ConfigError(f"circuit.{name} must be within +-{MAX_VOLTS:g} V, got {v!r}")
        for k, i in enumerate(self.i_bias or ()):
            if not abs(i) <= MAX_AMPS:
                raise ConfigError(f"circuit.i_bias[{k}] (bias current) must be within +-{MAX_AMPS:g} A, got {i!r}")

    @property
    def lines(self) -> LineResistance:
        """The wire resistances of every crossbar (``lines.on`` False: ideal wires)."""
        return LineResistance(self.r_wordline, self.r_bitline, self.r_driver, self.r_sense)

    @property
    def alpha(self) -> float:
        """CCCS gain (A/A)."""
        return 1.0 / self.gain if self.cccs_gain is None else self.cccs_gain

    @property
    def cm(self) -> float:
        """Amplifier common mode (V)."""
        return self.v_shift if self.v_cm is None else self.v_cm

    @property
    def v_bias_high(self) -> float:
        """V_BH: bias source of the upper clamp diode (V)."""
        return self.v_clamp_high - self.diode.v_th

    @property
    def v_bias_low(self) -> float:
        """V_BL: bias source of the lower clamp diode (V)."""
        return self.v_clamp_low + self.diode.v_th


@dataclass(frozen=True, slots=True)
class LayerStamp:
    """Linear part of the KCL of the nodes of one layer (q >= 1), without the clamp diodes:
    current into node j = const_j - k_j v_j + (couplings to the other layers) (+ nudge, + x drive).

    ``k`` (S): the conductance of every crossbar device at the node plus, for a hidden neuron,
    alpha * gain * (row sum) of its outgoing crossbars (the CCCS reflects the current its amplifier
    drives); ``const`` (A): the bias rows, the input common mode s * (column sums) and the
    amplifiers' offsets (1 - gain) cm into the destination and reflected into the source.

    ``lateral`` (n, n) A/V, only with line resistance (else None): current into node j per volt at
    node k of the same layer (``v @ lateral``; symmetric, >= 0, zero diagonal): the couplings of
    a layer's nodes through the wires of its crossbars. ``k`` is then the diagonal of the port
    admittances (see :func:`_line_stamps`).
    """

    layer: int
    k: np.ndarray
    const: np.ndarray
    clamped: bool   # clamp diodes at the nodes (hidden layers; the output with output_diodes)
    lateral: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Coupling:
    """A crossbar between two neuron layers through the source layer's amplifiers.

    ``fwd`` (src, dst) A/V: current into destination column j per volt at source neuron i,
    gain * G_ij; ``bwd`` (dst, src) A/V: current the CCCS injects into source neuron i per volt
    at destination node j, alpha * G_ij (transposed, for row-major products)."""

    crossbar: int
    src: int
    dst: int
    fwd: np.ndarray
    bwd: np.ndarray


@dataclass(frozen=True, slots=True)
class CompiledCircuit:
    """A circuit with one set of conductances, compiled into its stamps (immutable).

    The nodal equations of every solver, and the values the netlist and ngspice's ``alter``
    commands write, come from here. ``drives[c]`` (n_inputs, cols) A per unit feature: the input
    crossbar c's current into its columns is ``x @ drives[c]`` on top of ``LayerStamp.const``
    (u+- = s +- a x makes it a (G+ - G-)); ``couplings`` the crossbars between neuron layers.
    """

    circuit: "Circuit"
    conductances: tuple[np.ndarray, ...]
    layers: tuple[LayerStamp | None, ...]        # index 0 (the sources) is None
    drives: Mapping[int, np.ndarray]
    couplings: tuple[Coupling, ...]
    lines: Mapping[int, CrossbarLines] = field(default_factory=lambda: MappingProxyType({}))
    """Per crossbar with line resistance, its internal network (empty with ideal wires)."""

    @property
    def topology(self) -> Topology:
        return self.circuit.topology

    @property
    def params(self) -> CircuitParams:
        return self.circuit.params

    def resistances(self, crossbar: int) -> np.ndarray:
        """Device resistances (ohm) of a crossbar, as the netlist writes them."""
        return 1.0 / self.conductances[crossbar]

    def norton_equivalent(self, spec: CrossbarSpec, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Thevenin equivalent of each column of a crossbar driven by the input sources.

        ``u``: wordline voltages (2*n_inputs,) or (B, 2*n_inputs). Returns (V_eq (V), R_eq (ohm)):
        V_eq = sum_i G_ij u_i / sum_i G_ij over the wordlines and the bias rows, R_eq = 1 / sum_i G_ij.
        """
        if self.lines:
            raise ConfigError("the per-column Norton equivalent needs ideal wires (line resistance couples "
                              "the columns)")
        g = self.conductances[spec.index]
        gs = g.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):   # a column with no device (graph masks): nan, inf
            veq = (np.asarray(u) @ g[: spec.n_rows] + self.circuit.bias_voltages(spec) @ g[spec.n_rows:]) / gs
            return veq, 1.0 / gs

    def diode_currents(self, layer: int, v: np.ndarray) -> np.ndarray:
        """Net current (A) the clamp diodes draw out of the nodes of ``layer`` at voltages v:
        upper diode i_D(v - V_BH) minus lower diode i_D(V_BL - v); 0 for an unclamped layer."""
        p = self.params
        if not self.layers[layer].clamped:
            return np.zeros_like(v)
        x1, x2 = v - p.v_bias_high, p.v_bias_low - v
        d = p.diode
        if d.model == "ideal":
            return ideal_diode_current(x1, d) - ideal_diode_current(x2, d)
        return diode_branch(x1, d)[0] - diode_branch(x2, d)[0]

    def kcl_residual(self, x: np.ndarray, layers: Sequence[np.ndarray | None],
                     i_nudge: np.ndarray | None = None) -> list[np.ndarray | None]:
        """Net current (A) into every node (B, n_q) at node voltages ``layers[q]`` (q >= 1):
        zero at the DC operating point. ``x`` (B, n_inputs) features, ``i_nudge`` (B, 2K) A."""
        t = self.topology
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out: list[np.ndarray | None] = [None]
        for q in range(1, t.n_layers):
            st = self.layers[q]
            r = st.const - st.k * layers[q] - self.diode_currents(q, layers[q])
            r = np.broadcast_to(r, layers[q].shape).copy()
            if st.lateral is not None:
                r += layers[q] @ st.lateral
            out.append(r)
        for c, drive in self.drives.items():
            out[t.crossbars[c].dst] += x @ drive
        for cp in self.couplings:
            out[cp.dst] += layers[cp.src] @ cp.fwd
            out[cp.src] += layers[cp.dst] @ cp.bwd
        if i_nudge is not None:
            out[t.output_layer] += i_nudge
        return out

    def device_drops(self, spec: CrossbarSpec, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Voltage across every device of a crossbar, (B, rows, cols) (V), at line-source voltages
        ``rows`` (B, rows) (:meth:`Circuit.row_voltages`) and neuron voltages ``cols`` (B, cols): with
        line resistance between the device's own cell nodes, else row - column."""
        lines = self.lines.get(spec.index)
        if lines is None:
            return rows[:, :, None] - cols[:, None, :]
        return lines.drops(rows, cols)

    def squared_drop_difference(self, spec: CrossbarSpec, rows_a: np.ndarray, cols_a: np.ndarray,
                                rows_b: np.ndarray, cols_b: np.ndarray) -> np.ndarray:
        """sum_batch [d_a^2 - d_b^2] (rows, cols) (V^2) of two states of a batch, d the drops across
        the crossbar's devices (:meth:`device_drops`) at line-source voltages ``rows_*`` (B, rows) and
        neuron voltages ``cols_*`` (B, cols). Needs line resistance (:class:`~ebana.lines.CrossbarLines`
        forms it exactly from at most 2 (rows + cols) solves, whatever the batch)."""
        lines = self.lines[spec.index]
        return lines.squared_drop_difference(np.concatenate([rows_a, cols_a], axis=1),
                                             np.concatenate([rows_b, cols_b], axis=1))


def _check_masked(spec: CrossbarSpec, g: np.ndarray, mask: np.ndarray, validate: bool) -> None:
    """A local crossbar: 0 S exactly where there is no device (always checked), finite > 0 S on the mask."""
    off = g[~mask]
    if np.any(off != 0):
        raise ConfigError(f"{spec.label}: a locally connected crossbar has no device outside its receptive "
                          f"fields, so G must be 0 S there; found {off[off != 0].flat[0]}")
    on = g[mask]
    if validate and (not np.all(np.isfinite(on)) or np.any(on <= 0)):
        raise ConfigError(f"{spec.label}: conductances must be finite and > 0 S, found "
                          f"{on[~(np.isfinite(on) & (on > 0))].flat[0]}")


def row_drive_factors(topology: Topology, params: CircuitParams) -> np.ndarray:
    """Signal-amplitude factors f (2 n_inputs,) (dimensionless, [x+ block, x- block]) of the input
    wordlines: u+_i = s + f_i a x_i, u-_i = s - f_(n+i) a x_i (see :meth:`Circuit.input_voltages`).

    ``line_compensation = "row_drive"`` with line resistance: per wordline i, the ratio of its
    ideal-wire to its line-resistance transconductance into the neuron columns, summed over every
    crossbar driven by the inputs (the wordline sources are shared):

        f_i = sum_c sum_j G_ref / sum_c sum_j (-Y_c[col j, row i])      (S / S)

    with Y_c the port admittance of crossbar c (:meth:`~ebana.lines.CrossbarLines.port_admittance`,
    A/V) at the reference array G_ref = (g_min + g_max) / 2 S on every device (the mean of the
    uniform initial conductances): -Y[col j, row i] is the current into neuron node j per volt on
    wordline i with every other terminal at 0 V, so f_i restores the current each wordline drives
    into the columns of the reference array (driver and wordline IR drop, and the bitline length to
    the sense end, which grows with the row's distance from it). The factors are a calibration fixed
    by the array geometry and device range, not by the trained G: the sources stay constant while
    the weights learn, so the circuit keeps its energy and the EqProp estimate stays exact. Only
    source values change (a real circuit: the netlist writes the scaled source voltages). Bias rows
    and the wordlines driven by hidden amplifiers are not scaled. Otherwise every factor is 1. A masked
    crossbar (graph edges, ``local`` / ``conv`` layers) counts G_ref on its mask cells only. With
    ``line_compensation_max`` every factor is at most that bound (still fixed: the estimate stays exact).
    """
    f = _unbounded_row_drive(topology, params)
    if params.line_compensation_max is not None:
        f = np.minimum(f, params.line_compensation_max)
    return f


def _unbounded_row_drive(topology: Topology, params: CircuitParams) -> np.ndarray:
    """The factors of :func:`row_drive_factors` before ``line_compensation_max``."""
    n = topology.n_inputs
    specs = [s for s in topology.crossbars if s.src == 0]
    if params.line_compensation == "none" or not params.lines.on or not specs:
        return np.ones(2 * n)
    g_ref = 0.5 * (params.g_min + params.g_max)
    ideal, line = np.zeros(2 * n), np.zeros(2 * n)
    for s in specs:
        mask = topology.mask(s.index)
        if mask is None:
            ideal += g_ref * s.shape[1]
            line += _row_transconductance(s.shape, params.lines, g_ref)[:2 * n]
            continue
        # a masked crossbar: G_ref on its devices only (the wires still span every cell)
        ideal += g_ref * mask[:2 * n].sum(axis=1)
        y = CrossbarLines(g_ref * mask, params.lines).port_admittance(s.shape[0] + np.arange(s.shape[1]))
        line += -y[:2 * n].sum(axis=1)
    if np.all(line > 0):
        return ideal / line
    with np.errstate(divide="ignore", invalid="ignore"):   # a wordline with no device anywhere: factor 1
        return np.where(line > 0, ideal / line, 1.0)


@functools.lru_cache(maxsize=16)
def _row_transconductance(shape: tuple[int, int], lines: LineResistance, g_ref: float) -> np.ndarray:
    """sum_j -Y[col j, row i] (R,) (S) of a (R, C) crossbar of uniform conductance ``g_ref`` (S)."""
    n_r, n_c = shape
    y = CrossbarLines(np.full(shape, g_ref), lines).port_admittance(n_r + np.arange(n_c))   # (R + C, C)
    out = -y[:n_r].sum(axis=1)
    out.setflags(write=False)
    return out


def _line_stamps(circuit: "Circuit", s: CrossbarSpec, g: np.ndarray, k: dict, const: dict, lateral: dict,
                 drives: dict, couplings: list) -> CrossbarLines:
    """The stamps of crossbar ``s`` with line resistance, from its port admittance Y (S).

    Terminals: signal rows (sources / amplifier outputs w = g v + (1 - g) cm), bias rows, columns.
    The crossbar draws I = Y V at its terminals. Columns: K += diag(Y_cc), lateral += -offdiag(Y_cc),
    const += -Y_cb V_b; the signal rows act through -Y_cs (u = s +- a x: drive -a (Y_c+ - Y_c-)^T,
    const -s Y_cs 1; amplifiers: fwd = -gain Y_cs^T, const -(1 - g) cm Y_cs 1). A hidden source layer
    gets -alpha times its amplifiers' currents Y_ss w + Y_sb V_b + Y_sc V_c: K += alpha g diag(Y_ss),
    lateral += -alpha g offdiag(Y_ss), const -= alpha ((1 - g) cm Y_ss 1 + Y_sb V_b), bwd = -alpha Y_cs.
    With ideal wires these are exactly the ideal stamps (Y_cs = -G^T, Y_ss = diag(row sums)).
    """
    p = circuit.params
    t = circuit.topology
    net = CrossbarLines(g, p.lines)
    n_sig, n_all, n_c = s.n_rows, g.shape[0], g.shape[1]
    cols = n_all + np.arange(n_c)
    vb = circuit.bias_voltages(s)
    if s.src == 0:
        y = net.port_admittance(cols)                       # (R + C, C): columns of Y at the column ends
        y_cs, y_cb, y_cc = y[:n_sig].T, y[n_sig:n_all].T, y[n_all:]
    else:
        y = net.port_admittance()
        y_cs, y_cb, y_cc = y[n_all:, :n_sig], y[n_all:, n_sig:n_all], y[n_all:, n_all:]
        y_ss, y_sb = y[:n_sig, :n_sig], y[:n_sig, n_sig:n_all]
    y_cc = 0.5 * (y_cc + y_cc.T)
    k[s.dst] += np.diag(y_cc)
    lateral[s.dst] -= y_cc - np.diag(np.diag(y_cc))
    const[s.dst] -= y_cb @ vb
    if s.src == 0:
        n = t.n_inputs
        f = circuit.row_drive     # line_compensation: the wordlines' signal factors (1: none)
        drive = -p.v_scale * (y_cs[:, :n] * f[:n] - y_cs[:, n:] * f[n:]).T
        drive.setflags(write=False)
        drives[s.index] = drive
        const[s.dst] -= p.v_shift * y_cs.sum(axis=1)
        return net
    gain, a, offset = p.gain, p.alpha, circuit.amplifier_offset
    y_ss = 0.5 * (y_ss + y_ss.T)
    k[s.src] += a * gain * np.diag(y_ss)
    lateral[s.src] -= a * gain * (y_ss - np.diag(np.diag(y_ss)))
    const[s.src] -= a * (offset * y_ss.sum(axis=1) + y_sb @ vb)
    const[s.dst] -= offset * y_cs.sum(axis=1)
    fwd, bwd = np.ascontiguousarray(-gain * y_cs.T), np.ascontiguousarray(-a * y_cs)
    fwd.setflags(write=False)
    bwd.setflags(write=False)
    couplings.append(Coupling(s.index, s.src, s.dst, fwd, bwd))
    return net


def _compile(circuit: "Circuit", conductances: Sequence[np.ndarray]) -> CompiledCircuit:
    """The stamps of ``circuit`` with ``conductances`` (see :class:`LayerStamp`, :class:`Coupling`)."""
    t, p = circuit.topology, circuit.params
    gain, a, cm = p.gain, p.alpha, p.cm
    gs = []
    for g in conductances:
        g = np.array(g, dtype=np.float64)       # a private copy: the model never changes
        g.setflags(write=False)
        gs.append(g)
    k = {q: np.zeros(t.layer_size(q)) for q in range(1, t.n_layers)}
    const = {q: np.zeros(t.layer_size(q)) for q in range(1, t.n_layers)}
    drives, couplings = {}, []
    lateral, nets = {}, {}
    if p.lines.on:
        lateral = {q: np.zeros((t.layer_size(q),) * 2) for q in range(1, t.n_layers)}
    for s in t.crossbars:
        g = gs[s.index]
        if lateral:
            nets[s.index] = _line_stamps(circuit, s, g, k, const, lateral, drives, couplings)
            continue
        sig, bias_rows = g[: s.n_rows], g[s.n_rows:]
        col_sig = sig.sum(axis=0)
        k[s.dst] += col_sig + bias_rows.sum(axis=0)
        const[s.dst] += circuit.bias_voltages(s) @ bias_rows
        if s.src == 0:
            # u+ = s + a x, u- = s - a x  =>  u @ G = s * colsum(G) + x @ (a (G+ - G-))
            n = t.n_inputs
            drive = p.v_scale * (sig[:n] - sig[n:])
            drive.setflags(write=False)
            drives[s.index] = drive
            const[s.dst] += p.v_shift * col_sig
        else:
            s_out = sig.sum(axis=1)
            k[s.src] += a * gain * s_out
            # w = cm + g (v - cm): the constant part (1-g) cm drives the destination ...
            const[s.dst] += circuit.amplifier_offset * col_sig
            # ... and is reflected back into the source neuron
            const[s.src] -= a * (1.0 - gain) * cm * s_out
            fwd, bwd = gain * sig, np.ascontiguousarray(a * sig.T)
            fwd.setflags(write=False)
            bwd.setflags(write=False)
            couplings.append(Coupling(s.index, s.src, s.dst, fwd, bwd))
    if p.i_bias is not None:   # bias current sources: +I_b into each node (nothing added without them)
        for q in range(1, t.n_layers):
            const[q] = const[q] + circuit.bias_currents(q)
    layers: list[LayerStamp | None] = [None]
    for q in range(1, t.n_layers):
        k[q].setflags(write=False)
        const[q].setflags(write=False)
        lat = lateral.get(q)
        if lat is not None:
            lat.setflags(write=False)
        layers.append(LayerStamp(q, k[q], const[q], q != t.output_layer or p.output_diodes, lat))
    return CompiledCircuit(circuit, tuple(gs), tuple(layers), MappingProxyType(drives), tuple(couplings),
                           MappingProxyType(nets))


class Circuit:
    """A topology, its electrical parameters and the crossbar conductances (S).

    Inputs and nudging currents are supplied per solve, as batches:
    ``x`` (B, n_inputs) normalised features and ``i_nudge`` (B, 2*n_classes) currents (A)
    injected into the output nodes.
    """

    def __init__(self, topology: Topology, params: CircuitParams,
                 conductances: Sequence[np.ndarray]) -> None:
        self.topology = topology
        self.params = params
        self.conductances: list[np.ndarray] = []
        self.set_conductances(conductances)
        self.layer_weights = self._layer_weights()
        self.row_drive = row_drive_factors(topology, params)
        """Signal factors (2 n_inputs,) of the input wordlines (:func:`row_drive_factors`; 1: none)."""
        self.row_drive.setflags(write=False)
        self._i_bias = self._bias_current_layers()

    def _bias_current_layers(self) -> list[np.ndarray] | None:
        """``params.i_bias`` split per layer (index 0 empty), or None without bias current sources."""
        t, i_bias = self.topology, self.params.i_bias
        if i_bias is None:
            return None
        n = sum(t.layer_size(q) for q in range(1, t.n_layers))
        if len(i_bias) != n:
            raise ConfigError(f"circuit.i_bias has {len(i_bias)} currents, the network has {n} neuron nodes "
                              f"(hidden neurons and output nodes, in layer order)")
        flat = np.array(i_bias, dtype=np.float64)
        ends = np.cumsum([0] + [t.layer_size(q) for q in range(1, t.n_layers)])
        out = [np.zeros(0)] + [flat[a:b] for a, b in zip(ends[:-1], ends[1:])]
        for v in out:
            v.setflags(write=False)
        return out

    @property
    def has_bias_currents(self) -> bool:
        """The circuit has bias current sources (``circuit.i_bias`` set)."""
        return self._i_bias is not None

    def bias_currents(self, layer: int) -> np.ndarray:
        """The bias currents (A, (n_layer,)) into the nodes of ``layer`` (>= 1); zeros without sources."""
        if self._i_bias is None:
            return np.zeros(self.topology.layer_size(layer))
        return self._i_bias[layer]

    # ----------------------------------------------------------------- construction
    @classmethod
    def random(cls, topology: Topology, params: CircuitParams, rng: np.random.Generator,
               low: float | None = None, high: float | None = None, init: str = "uniform") -> "Circuit":
        """Conductances drawn in [low, high] (default [g_min, g_max]) by the initialiser ``init``
        (:func:`initial_conductances`; "uniform": U(low, high), the default)."""
        lo = params.g_min if low is None else low
        hi = params.g_max if high is None else high
        gs = [initial_conductances(init, c.shape, lo, hi, rng, _fan_in(topology, c)) for c in topology.crossbars]
        for c, tie in topology.ties.items():   # local crossbars: 0 S off the mask, copies alike,
            fixed = topology.fixed_cells(c)    # pooling cells: g_max
            gs[c] = share(tie, gs[c]) if fixed is None else np.where(fixed, params.g_max, share(tie, gs[c]))
        return cls(topology, params, gs)

    def set_conductances(self, conductances: Sequence[np.ndarray], validate: bool = True) -> None:
        """Replace the crossbar conductances (S); ``validate=False`` skips the finite/positive scan
        (for updates already clipped to [g_min, g_max])."""
        self.conductances = self._checked(conductances, validate)

    def _checked(self, conductances: Sequence[np.ndarray], validate: bool = True) -> list[np.ndarray]:
        specs = self.topology.crossbars
        if len(conductances) != len(specs):
            raise ConfigError(f"expected {len(specs)} conductance matrices, got {len(conductances)}")
        out = []
        for spec, g in zip(specs, conductances):
            g = np.asarray(g, dtype=np.float64)
            if g.shape != spec.shape:
                raise ConfigError(f"{spec.label}: conductance shape {g.shape}, expected {spec.shape}")
            mask = self.topology.mask(spec.index)
            if mask is not None:
                _check_masked(spec, g, mask, validate)
            elif validate and (not np.all(np.isfinite(g)) or np.any(g <= 0)):
                bad = g[~(np.isfinite(g) & (g > 0))].flat[0]
                raise ConfigError(f"{spec.label}: conductances must be finite and > 0 S, found {bad}")
            out.append(g)
        return out

    def compile(self, conductances: Sequence[np.ndarray] | None = None, validate: bool = True) -> CompiledCircuit:
        """The stamps of this circuit with ``conductances`` (S; default: the circuit's own).
        ``validate=False`` skips the finite/positive scan (shapes are always checked)."""
        if conductances is None:
            return _compile(self, self.conductances)
        return _compile(self, self._checked(conductances, validate))

    def copy(self) -> "Circuit":
        return Circuit(self.topology, self.params, [g.copy() for g in self.conductances])

    def _layer_weights(self) -> np.ndarray:
        """Energy weight w_q of every layer (w = 1 for layers fed only by sources)."""
        t, p = self.topology, self.params
        w = np.ones(t.n_layers)
        for q in range(1, t.n_layers):
            vals = {w[c.src] * p.alpha / p.gain for c in t.incoming(q) if c.src > 0}
            if len(vals) > 1 and max(vals) - min(vals) > 1e-12 * max(vals):
                raise TopologyError(
                    f"layer {q}: skip connections from hidden layers make the circuit non-reciprocal (no"
                    f" energy) unless cccs_gain == gain; set cccs_gain = gain or skip only from the inputs")
            if vals:
                w[q] = vals.pop()
        return w

    # ----------------------------------------------------------------- sources
    def input_voltages(self, x: np.ndarray) -> np.ndarray:
        """Wordline voltages (B, 2*n_inputs): [x+ block, x- block] (V), x+ = s + f a x and
        x- = s - f a x, f the line-compensation factors :attr:`row_drive` (1 without compensation)."""
        p = self.params
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        n = self.topology.n_inputs
        if x.shape[1] != n:
            raise ConfigError(f"inputs have {x.shape[1]} features, the network expects {n}")
        if self.params.line_compensation == "none" or not p.lines.on:
            return np.concatenate([p.v_shift + p.v_scale * x, p.v_shift - p.v_scale * x], axis=1)
        f = self.row_drive
        return np.concatenate([p.v_shift + p.v_scale * f[:n] * x, p.v_shift - p.v_scale * f[n:] * x], axis=1)

    def bias_voltages(self, spec: CrossbarSpec) -> np.ndarray:
        """Bias-row voltages (V) of a crossbar."""
        p = self.params
        return np.asarray(p.bias_input if spec.src == 0 else p.bias_hidden, dtype=np.float64)

    @property
    def amplifier_offset(self) -> float:
        """Constant part (1 - g) v_cm of the VCVS output w = g v + (1 - g) v_cm (V)."""
        return (1.0 - self.params.gain) * self.params.cm

    def amplifier_out(self, v: np.ndarray) -> np.ndarray:
        """VCVS output w = v_cm + g (v - v_cm) (V)."""
        cm = self.params.cm
        return cm + self.params.gain * (v - cm)

    def row_voltages(self, spec: CrossbarSpec, x_volts: np.ndarray,
                     layers: Sequence[np.ndarray]) -> np.ndarray:
        """Voltages (B, rows) on the rows of a crossbar: sources or amplifier outputs, then bias rows.

        ``x_volts`` are the wordline voltages, ``layers[l]`` the node voltages of layer l (l >= 1).
        """
        src = x_volts if spec.src == 0 else self.amplifier_out(layers[spec.src])
        bias = self.bias_voltages(spec)
        if bias.size == 0:
            return src
        return np.concatenate([src, np.broadcast_to(bias, (src.shape[0], bias.size))], axis=1)

    def prediction(self, out_nodes: np.ndarray) -> np.ndarray:
        """Class scores V+ - V- (B, n_classes) from the output node voltages (B, 2K)."""
        return out_nodes[:, 0::2] - out_nodes[:, 1::2]

    def nudge_currents(self, dloss_dpred: np.ndarray, beta: float) -> np.ndarray:
        """Currents (A) into the output nodes: -beta*dL/dpred on V+, +beta*dL/dpred on V-."""
        d = np.asarray(dloss_dpred, dtype=np.float64)
        out = np.empty((d.shape[0], 2 * d.shape[1]))
        out[:, 0::2] = -beta * d
        out[:, 1::2] = beta * d
        return out

    def voltage_drops(self, x: np.ndarray, layers: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per crossbar, the drop row - column (B, rows, cols) (V). For small nets and tests."""
        xv = self.input_voltages(x)
        drops = []
        for spec in self.topology.crossbars:
            r = self.row_voltages(spec, xv, layers)
            drops.append(r[:, :, None] - layers[spec.dst][:, None, :])
        return drops

    def summary(self) -> dict:
        """Counts and conductance statistics for ``ebana inspect``."""
        t = self.topology
        n_res = sum(t.n_devices(c.index) for c in t.crossbars)
        n_nodes = sum(t.layer_size(l) for l in range(t.n_layers))
        stats = []
        for spec, g in zip(t.crossbars, self.conductances):
            shape = list(g.shape)
            mask = t.mask(spec.index)
            g = g if mask is None else g[mask]   # masked crossbars: the statistics of their devices
            stats.append(dict(crossbar=spec.index, src=spec.src, dst=spec.dst, shape=shape, devices=int(g.size),
                              g_mean=float(g.mean()), g_min=float(g.min()), g_max=float(g.max()),
                              at_g_min=float(np.mean(g <= self.params.g_min * (1 + 1e-9))),
                              at_g_max=float(np.mean(g >= self.params.g_max * (1 - 1e-9)))))
        return dict(topology=t.describe(), resistors=n_res, nodes=n_nodes, crossbars=stats)
