"""Run configuration: frozen dataclasses, presets, TOML load/dump, dotted overrides.

A :class:`TrainConfig` fully describes a training run (data, network, circuit, recipe,
backend, seed). ``to_dict``/``from_dict`` round-trip it through TOML, so every run writes
its resolved config and an experiment file resolves to the same objects as the CLI.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ebana.circuit import INITS, CircuitParams
from ebana.cparams import ParamTrainConfig
from ebana.energy import EnergyConfig
from ebana.errors import ConfigError, did_you_mean
from ebana.graphnet import GraphConfig
from ebana.nonideal import NonIdealConfig, device_spread, pulse_device_config
from ebana.topology import MIN_RESIDUAL_HIDDEN, residual_skips
from ebana.validation import check_fields

__all__ = ["TrainConfig", "DeviceConfig", "AlgorithmConfig", "REFERENCES", "SCHEMES", "PAIR_MODES", "ARRAY_SCHEMES",
           "preset", "PRESETS", "BETA_DEFAULTS", "default_beta", "parse_hidden", "to_dict", "from_dict", "dump_toml",
           "load_toml", "config_diff",
           "apply_overrides"]

MAX_PULSE_VOLTS = 20.0
"""Largest programming amplitude (V): beyond every model's calibrated range (devices.md)."""
MAX_PULSE_SECONDS = 1.0
"""Longest programming pulse or clock period (s)."""
SCHEMES = ("pwm", "pam")
"""Pulse schemes: pulse-width (fixed amplitude) and pulse-amplitude (fixed width) modulation."""
PAIR_MODES = ("device", "split")
"""How requested changes reach the paired devices of a signed weight (see ebana.updates.device_update)."""
EARLY_STOP_METRICS = ("test_loss", "train_loss", "test_acc", "train_acc")
"""Epoch metrics early stopping may watch (losses: lower is better; accuracies: higher)."""

ARRAY_SCHEMES = ("selector", "row_v2", "row_v3", "column_v2", "column_v3", "outer_product")
"""How the pulses reach the devices (ebana.updates.array_schemes): a selector per cell (each device on
its own), row-/column-wise V/2 and V/3 half-select biasing of a passive array, or the parallel
stochastic outer product (coincident row/column pulse trains)."""
MAX_ARRAY_BL = 10_000
"""Longest outer-product pulse train (slots per quadrant)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceConfig:
    """Programming the crossbar through a memristor model (``[device]`` in TOML).

    With ``model = None`` (default) the training loop applies the ideal update to G. Otherwise
    every crossbar conductance is one device of ``model``, read-mapped to the circuit's
    [g_min, g_max], and each update becomes programming pulses (:mod:`ebana.updates.pulses`).
    """

    model: str | None = None
    """Registered device model (``ebana devices list``); None: ideal update of G, no device."""
    preset: str | None = None
    """Named parameter set of the model (None: its default)."""
    scheme: str = "pwm"
    """``pwm``: amplitude fixed, width ∝ |ΔG|; ``pam``: width fixed, amplitude ∝ |ΔG|."""
    r_ratio: float | None = None
    """R_OFF/R_ON (> 1). Sets the circuit's g_min = g_max / r_ratio (R_ON = 1/g_max kept);
    None: the circuit's own g_max/g_min. Applies to ideal runs too (the linear baseline)."""
    pairs: str = "device"
    """``device``: every device gets its own EqProp change (EBANA rule); ``split``: each
    x+/x- (or V+/V-) pair gets +-ΔW/2 of its weight change ΔW = ΔG+ - ΔG-."""
    v_set: float | None = None
    """Potentiating amplitude (V, > 0): PWM amplitude, PAM reference amplitude; None: model demo."""
    v_reset: float | None = None
    """Depressing amplitude (V, < 0); None: the model's demo value."""
    t_clock: float = 0.0
    """PWM width quantum (s); widths round to whole clock periods (0: continuous)."""
    t_min: float = 0.0
    """Shortest PWM pulse (s); shorter requested widths send no pulse."""
    t_max: float | None = None
    """Longest PWM pulse (s); longer requested widths are cut to it (None: no limit)."""
    pam_pulses: int = 1
    """PAM: the update window is split into this many pulses of t_pam/N with a read between
    (write-verify); 1 = one open-loop pulse. Higher = the seed study's "higher frequency"."""
    pam_frequency: float = 1.0
    """PAM, open loop: the seed study's "higher frequency" as it ran it, shorter pulses at the same
    amplitude with nothing read back. Every PAM pulse lasts t_pam/(pam_pulses·f) instead of
    t_pam/pam_pulses (f >= 1; 1 = the calibrated window). Unlike ``pam_pulses`` (a read between
    pulses), a device whose rate is linear in V then gets 1/f of its request."""
    pam_dg_ref: float | None = None
    """PAM: requested |ΔG| (S) that maps to v_set / v_reset; None: the run's lr (Adam: S/step)."""
    v_max: float | None = None
    """PAM amplitude limit (V, > 0) for both polarities; None: 2 x max(|v_set|, |v_reset|)."""
    pam_levels: int = 0
    """PAM: DAC levels in (0, v_max] (0: continuous amplitudes)."""
    energy: bool = True
    """Integrate the write energy of every pulse (J); False is faster for slow models."""
    c2c: float = 0.0
    """Cycle-to-cycle noise: relative std of every state change (–)."""
    d2d: float = 0.0
    """Device-to-device spread of the model's d2d parameters (lognormal sigma, –)."""
    array_scheme: str = "selector"
    """How the pulses reach the devices: ``selector`` (a selector per cell: every device gets its
    own pulse, nothing else moves), ``row_v2``/``row_v3``/``column_v2``/``column_v3`` (a passive
    array written row by row or column by column with V/2 or V/3 half-select biasing) or
    ``outer_product`` (all lines at once, coincident stochastic pulse trains; PWM only)."""
    array_bl: int = 31
    """Outer product: time slots per sign quadrant (aihwkit's desired_BL = 31)."""
    array_rank: int = 1
    """Outer product: SVD terms of the requested pulse-time matrix written per update (>= 1)."""

    def __post_init__(self) -> None:
        check_fields(self, "device")
        if self.array_scheme not in ARRAY_SCHEMES:
            raise ConfigError(f"unknown device.array_scheme {self.array_scheme!r}"
                              f"{did_you_mean(self.array_scheme, ARRAY_SCHEMES)}; known: {', '.join(ARRAY_SCHEMES)}")
        if self.array_scheme != "selector" and self.model is None:
            raise ConfigError(f"device.array_scheme = {self.array_scheme!r} needs a device model (device.model / "
                              "--device): without one the ideal update writes G directly, with no voltages to "
                              "half-select")
        if self.array_scheme == "outer_product" and self.scheme != "pwm":
            raise ConfigError(f"device.array_scheme = 'outer_product' needs device.scheme = 'pwm' (coincident "
                              f"pulses of one amplitude per polarity), got device.scheme = {self.scheme!r}")
        if not 1 <= self.array_bl <= MAX_ARRAY_BL:
            raise ConfigError(f"device.array_bl must be an integer in [1, {MAX_ARRAY_BL}], got {self.array_bl!r}")
        if self.array_rank < 1:
            raise ConfigError(f"device.array_rank must be an integer >= 1, got {self.array_rank!r}")
        if self.scheme not in SCHEMES:
            raise ConfigError(f"unknown device.scheme {self.scheme!r}{did_you_mean(self.scheme, SCHEMES)}; "
                              f"known: {', '.join(SCHEMES)}")
        if self.pairs not in PAIR_MODES:
            raise ConfigError(f"unknown device.pairs {self.pairs!r}; known: {', '.join(PAIR_MODES)}")
        if self.r_ratio is not None and not 1 < self.r_ratio <= 1e9:
            raise ConfigError(f"device.r_ratio = R_OFF/R_ON must be in (1, 1e9], got {self.r_ratio!r}")
        if self.v_set is not None and not 0 < self.v_set <= MAX_PULSE_VOLTS:
            raise ConfigError(f"device.v_set must be in (0, {MAX_PULSE_VOLTS:g}] V (potentiating), got {self.v_set!r}")
        if self.v_reset is not None and not -MAX_PULSE_VOLTS <= self.v_reset < 0:
            raise ConfigError(f"device.v_reset must be in [-{MAX_PULSE_VOLTS:g}, 0) V (depressing), "
                              f"got {self.v_reset!r}")
        if self.v_max is not None and not 0 < self.v_max <= MAX_PULSE_VOLTS:
            raise ConfigError(f"device.v_max must be in (0, {MAX_PULSE_VOLTS:g}] V, got {self.v_max!r}")
        for name in ("t_clock", "t_min"):
            if not 0 <= getattr(self, name) <= MAX_PULSE_SECONDS:
                raise ConfigError(f"device.{name} must be in [0, {MAX_PULSE_SECONDS:g}] s, got {getattr(self, name)!r}")
        if self.t_max is not None and not self.t_min < self.t_max <= MAX_PULSE_SECONDS:
            raise ConfigError(f"device.t_max must be in (device.t_min = {self.t_min!r}, {MAX_PULSE_SECONDS:g}] s, "
                              f"got {self.t_max!r}")
        if self.pam_pulses < 1:
            raise ConfigError(f"device.pam_pulses must be an integer >= 1, got {self.pam_pulses!r}")
        if not (isinstance(self.pam_frequency, (int, float)) and 1 <= self.pam_frequency <= 1e6):
            raise ConfigError(f"device.pam_frequency must be a number in [1, 1e6] (the PAM pulse width is "
                              f"t_pam/f), got {self.pam_frequency!r}")
        if self.pam_frequency != 1 and self.scheme != "pam":
            raise ConfigError(f"device.pam_frequency = {self.pam_frequency!r} needs device.scheme = 'pam', "
                              f"got {self.scheme!r}")
        if self.pam_dg_ref is not None and not self.pam_dg_ref > 0:
            raise ConfigError(f"device.pam_dg_ref must be > 0 S, got {self.pam_dg_ref!r}")
        for name in ("c2c", "d2d"):
            if getattr(self, name) < 0:
                raise ConfigError(f"device.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.d2d > 3.0:
            raise ConfigError(f"device.d2d must be <= 3 (a lognormal sigma; e^3 = 20x spread), got {self.d2d!r}")
        if self.pam_levels < 0:
            raise ConfigError(f"device.pam_levels must be >= 0, got {self.pam_levels!r}")


REFERENCES = ("none", "fixed", "symmetric")
"""Second device of each differential pair: trained, fixed at mid-range, or at the symmetric point."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlgorithmConfig:
    """Analog training algorithm (``[algorithm]`` in TOML; needs ``device.model``).

    See :mod:`ebana.updates.algorithms` (seeds 001 and 004, devices.md §8).
    """

    name: str = "device"
    """device | analog_sgd | mixed_precision | residual | residual_v2."""
    reference: str = "none"
    """none (both pair devices trained) | fixed (reference at mid-range) | symmetric (reference
    programmed to the symmetric point: symmetry-point shifting)."""
    t_pulse: float | None = None
    """Width (s) of one standard pulse (amplitudes: device.v_set / v_reset); None: model demo."""
    gamma: float = 0.5
    """Residual learning: weight of P in G = W + γP (> 0; γ = 0 fails, seed 001)."""
    transfer_rate: float = 0.01
    """Residual learning: β in (0, 1], fraction of P written to W per transfer. W and P form a
    second-order loop (P integrates the gradient, W integrates P); on a quadratic of curvature h
    its damping ratio is ζ = (γ/2)·√(α·h/β), so β must be ≪ γ²·α·h/4 per step or the mixed weight
    oscillates (seed 001: β much smaller than α). W follows P with time constant γ/β steps."""
    transfer_every: int = 1
    """Residual learning: steps between transfers (>= 1)."""
    threshold: float | None = None
    """Mixed precision / residual v2: |accumulator| (S) that triggers a write; >= one pulse
    step (checked against the device); None: one pulse step."""
    sp_max_cycles: int = 10000
    """Symmetric-point search: most SET/RESET cycles per device."""

    def __post_init__(self) -> None:
        check_fields(self, "algorithm")
        from ebana.updates.algorithms import ALGORITHMS
        known = ALGORITHMS.names()
        if self.name not in known:
            raise ConfigError(f"unknown algorithm.name {self.name!r}{did_you_mean(self.name, known)}; "
                              f"known: {', '.join(known)}")
        if self.reference not in REFERENCES:
            raise ConfigError(f"unknown algorithm.reference {self.reference!r}; known: {', '.join(REFERENCES)}")
        if not (isinstance(self.gamma, (int, float)) and self.gamma > 0):
            raise ConfigError(f"algorithm.gamma must be > 0 (gamma = 0 fails, seed 001), got {self.gamma!r}")
        if not (isinstance(self.transfer_rate, (int, float)) and 0 < self.transfer_rate <= 1):
            raise ConfigError(f"algorithm.transfer_rate must be in (0, 1], got {self.transfer_rate!r}")
        if not (isinstance(self.transfer_every, int) and self.transfer_every >= 1):
            raise ConfigError(f"algorithm.transfer_every must be an integer >= 1, got {self.transfer_every!r}")
        if self.threshold is not None and not self.threshold > 0:
            raise ConfigError(f"algorithm.threshold must be > 0 S (at least one pulse step), got {self.threshold!r}")
        if self.t_pulse is not None and not self.t_pulse > 0:
            raise ConfigError(f"algorithm.t_pulse must be > 0 s, got {self.t_pulse!r}")
        if not (isinstance(self.sp_max_cycles, int) and self.sp_max_cycles >= 1):
            raise ConfigError(f"algorithm.sp_max_cycles must be an integer >= 1, got {self.sp_max_cycles!r}")


_HIDDEN_ITEM = re.compile(r"\s*(\d+)\s*(?:[xX*]\s*(\d+)\s*)?")


def parse_hidden(value: str) -> tuple[int, ...]:
    """Hidden layer sizes from text: ``"100,50"``, ``"256x6"`` (6 layers of 256), ``"256x2,128"``;
    ``""`` or ``"none"``: no hidden layer. ConfigError naming ``hidden`` and the text otherwise."""
    text = value.strip()
    if text.lower() in ("", "none"):
        return ()
    sizes: list[int] = []
    for item in text.split(","):
        m = _HIDDEN_ITEM.fullmatch(item)
        if not m:
            raise ConfigError(f"hidden {value!r}: expected layer sizes like 10, 100,50 or 256x6 "
                              f"(6 layers of 256), got {item.strip()!r}")
        size, count = int(m.group(1)), int(m.group(2) or 1)
        if size < 1:
            raise ConfigError(f"hidden {value!r}: layer size {size} in {item.strip()!r} must be >= 1")
        if not 1 <= count <= MAX_HIDDEN_LAYERS:
            raise ConfigError(f"hidden {value!r}: layer count {count} in {item.strip()!r} must be in "
                              f"[1, {MAX_HIDDEN_LAYERS}]")
        sizes += [size] * count
    if len(sizes) > MAX_HIDDEN_LAYERS:
        raise ConfigError(f"hidden {value!r}: {len(sizes)} hidden layers, at most {MAX_HIDDEN_LAYERS}")
    return tuple(sizes)


LOSS_VOLTS = (1e-6, 1e3)
"""Range (V) of the loss voltages ``tau`` (ce/bce/sparsemax temperature) and ``target_scale`` (mse
target): 1 uV to the largest circuit voltage; beyond it pred / tau and the nudge currents overflow."""

MAX_HIDDEN_LAYERS = 1000
"""Most hidden layers a network may have (a sanity bound on typed counts like 256x100000)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Everything a training run depends on (SI units)."""

    dataset: str = "iris"                   # registered name or path to a .csv file
    data_dir: str | None = None             # IDX files (default $EBANA_DATA_DIR)
    label_column: str | None = None         # CSV label column (default: last)
    label_columns: str = ""
    """CSV multi-label outputs: several 0/1 label columns, ``"a,b,c"`` (each an independent binary
    output, trained with ``loss = "bce"``; metrics add per-label accuracy and hamming loss); "" : off."""
    test_fraction: float = 0.3
    limit_train: int | None = None
    limit_test: int | None = None
    encoding: str = "minmax"                # minmax (tabular) | none (images in [0, 1])
    augment_shift: int = 0                  # pixels: random translation of training images (0: off)
    hidden: tuple[int, ...] = (10,)         # sizes; TOML/--set also take text ("256x6", "100,50") or one size (5)
    skips: tuple[tuple[int, int], ...] = ()
    residual: bool = False                  # add ResNet-block skips (p, p+2) between hidden layers
    conv: str = ""
    """Locally connected / convolutional / pooling layers between the inputs and ``hidden``
    (:mod:`ebana.local`), e.g. ``"conv8k5s2"``, ``"28x28x1,local4k3same,avg2"``; "" : none."""
    epochs: int = 40
    batch_size: int = 10
    beta: float | None = None
    """Nudging strength (A per unit of dL/dpred). None (not given): the dataset's default for the
    nudging mode, :data:`BETA_DEFAULTS` (MNIST: 1e-6 centered, 1e-9 one-sided); the resolved value
    is what the config holds and writes. One-sided nudging refuses a beta whose estimated O(beta)
    bias exceeds 0.1 of the gradient (:func:`ebana.phases.check_nudging`)."""
    centered: bool = True
    """+-beta phases (O(beta^2) bias, the default); false: one-sided (+beta vs free, O(beta) bias)."""
    loss: str = "ce"                        # ce | mse | bce | sparsemax
    tau: float = 0.05                       # V, softmax temperature of ce
    target_scale: float = 0.1               # V, mse target for the true class
    optimizer: str = "adam"                 # sgd | momentum | adam
    lr: float = 2e-7                        # S per step (adam) / S^2 per unit loss (sgd)
    lr_schedule: str = "cosine"             # cosine | constant
    early_stop_patience: int = 0            # stop when early_stop_metric has not improved for N epochs (0: off)
    early_stop_metric: str = "test_loss"    # train_loss | test_loss (lower is better) | train_acc | test_acc
    record: str = ""                        # training sample ids "0,5,7": every phase to record.npz (ebana.recording)
    record_currents: bool = False           # record also every device's current (rows x cols per crossbar)
    init: str = "uniform"                   # uniform | glorot | he | log_uniform (ebana.circuit.initial_conductances)
    init_low: float | None = None           # S, initial conductances in [init_low, init_high]
    init_high: float | None = None
    backend: str = "auto"                   # auto (numpy) | numpy | ngspice
    norton: bool = False                    # ngspice: Norton-reduce input crossbars
    dtype: str = "float64"                  # numpy backend precision
    max_sweeps: int = 5000                  # numpy backend: sweep budget before ConvergenceError
    verify_every: int = 0                   # re-solve a few samples with ngspice every N batches (0: off)
    verify_samples: int = 2                 # samples per verification
    verify_tol: float | None = None         # V; default 1e-9 (float64) / 1e-5 (float32)
    seed: int = 0
    circuit: CircuitParams = field(default_factory=CircuitParams)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    """Energy model of the chip (:mod:`ebana.energy`): phase settle time, converter and amplifier figures."""
    nonideal: NonIdealConfig = field(default_factory=NonIdealConfig)
    """Imperfect devices and periphery (:mod:`ebana.nonideal`); every effect off by default."""
    graph: GraphConfig = field(default_factory=GraphConfig)
    """Graph network (:mod:`ebana.graphnet`): named input groups, hidden layers, heads and edges;
    empty (the default): the layered network of ``hidden``/``skips``."""
    train: ParamTrainConfig = field(default_factory=ParamTrainConfig)
    """Trainable circuit parameters (clamp-diode biases, gain), per-crossbar learning rates and freezing
    (:mod:`ebana.cparams`); nothing by default."""
    beta_is_default: bool = field(default=False, init=False, repr=False, compare=False)
    """True when ``beta`` was not given and came from :data:`BETA_DEFAULTS` (not a config key:
    overrides that change ``centered`` or ``dataset`` then pick that mode's default again)."""

    def __post_init__(self) -> None:
        if isinstance(self.hidden, str):
            object.__setattr__(self, "hidden", parse_hidden(self.hidden))
        elif isinstance(self.hidden, int) and not isinstance(self.hidden, bool):
            object.__setattr__(self, "hidden", (self.hidden,))   # --set hidden=5: one layer, as --hidden 5
        check_fields(self)
        if self.beta is None:
            object.__setattr__(self, "beta", default_beta(self.dataset, self.centered))
            object.__setattr__(self, "beta_is_default", True)
        if self.device.r_ratio is not None:   # R_ON = 1/g_max fixed, R_OFF = r_ratio/g_max
            object.__setattr__(self, "circuit", replace(self.circuit, g_min=self.circuit.g_max / self.device.r_ratio))
        checks = [("epochs", 1 <= self.epochs <= 10**6, "an integer in [1, 1e6]"),
                  ("batch_size", 1 <= self.batch_size <= 10**7, "an integer in [1, 1e7]"),
                  ("beta", 0 < self.beta <= 1.0, "in (0, 1] A"), ("lr", self.lr > 0, "> 0"),
                  ("tau", LOSS_VOLTS[0] <= self.tau <= LOSS_VOLTS[1], "in [1e-06, 1000] V"),
                  ("test_fraction", 0 < self.test_fraction < 1, "in (0, 1)"),
                  ("target_scale", LOSS_VOLTS[0] <= self.target_scale <= LOSS_VOLTS[1], "in [1e-06, 1000] V"),
                  ("max_sweeps", 1 <= self.max_sweeps <= 10**7, "an integer in [1, 1e7]"),
                  ("verify_every", self.verify_every >= 0, ">= 0 (0: off)"),
                  ("early_stop_patience", 0 <= self.early_stop_patience <= 10**6,
                   "an integer in [0, 1e6] epochs (0: off)"),
                  ("verify_samples", self.verify_samples >= 1, ">= 1"),
                  ("verify_tol", self.verify_tol is None or self.verify_tol > 0, "> 0 V"),
                  ("seed", 0 <= self.seed < 2**63, "an integer in [0, 2**63)"),
                  ("limit_train", self.limit_train is None or self.limit_train >= 1, ">= 1"),
                  ("limit_test", self.limit_test is None or self.limit_test >= 1, ">= 1"),
                  ("augment_shift", 0 <= self.augment_shift <= 64, "an integer in [0, 64] pixels (0: off)")]
        for name, ok, want in checks:
            if not ok:
                raise ConfigError(f"{name} must be {want}, got {getattr(self, name)!r}")
        for k, h in enumerate(self.hidden):
            if h < 1:
                raise ConfigError(f"hidden layer {k + 1} has size {h}; sizes must be >= 1 "
                                  f"(hidden = {list(self.hidden)})")
        from ebana.backends import BACKENDS
        from ebana.losses import LOSSES
        from ebana.updates.ideal import OPTIMIZERS
        choices = [("loss", LOSSES.names()), ("optimizer", OPTIMIZERS.names()),
                   ("lr_schedule", ["constant", "cosine"]), ("backend", ["auto", *BACKENDS.names()]),
                   ("dtype", ["float32", "float64"]), ("encoding", ["minmax", "none"]), ("init", list(INITS)),
                   ("early_stop_metric", list(EARLY_STOP_METRICS))]
        for name, known in choices:
            v = getattr(self, name)
            if v not in known:
                raise ConfigError(f"unknown {name} {v!r}{did_you_mean(v, known)}; known: {', '.join(known)}")
        if self.energy.program == "pulses" and self.device.model is None:
            raise ConfigError("energy.program = 'pulses' (the measured write time of the applied pulses) "
                              "needs a device model (device.model)")
        if self.algorithm.name != "device" and self.device.model is None:
            raise ConfigError(f"algorithm.name = {self.algorithm.name!r} needs a device model (device.model)")
        self._check_init_range()
        from ebana.recording import parse_record
        parse_record(self.record)
        self._check_label_columns()
        if self.data_dir is not None and not self.data_dir:
            raise ConfigError("data_dir must be a directory path, got ''")
        if not self.dataset:
            raise ConfigError("dataset must be a name or a .csv path, got ''")
        if self.residual:
            self._check_residual()
        if self.conv:
            self._check_conv()
        if self.graph.on:
            self._check_graph()
        self._check_nonideal()

    def _check_init_range(self) -> None:
        """``init_low`` < ``init_high``, both in [circuit.g_min, circuit.g_max] (programmable conductances)."""
        g_min, g_max = self.circuit.g_min, self.circuit.g_max
        for name in ("init_low", "init_high"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ConfigError(f"{name} must be a positive conductance (S), got {v!r}")
            if v is not None and not g_min <= v <= g_max:
                raise ConfigError(f"{name} = {v:g} S: must be in [circuit.g_min, circuit.g_max] = "
                                  f"[{g_min:g}, {g_max:g}] S (the programmable conductances)")
        low = g_min if self.init_low is None else self.init_low
        high = g_max if self.init_high is None else self.init_high
        if not low < high:
            raise ConfigError(f"init_low = {low:g} S, init_high = {high:g} S: need init_low < init_high")

    @property
    def label_names(self) -> tuple[str, ...] | None:
        """The multi-label columns of ``label_columns`` (None: single-label)."""
        return tuple(c.strip() for c in self.label_columns.split(",")) if self.label_columns.strip() else None

    def _check_label_columns(self) -> None:
        """``label_columns``: named, distinct, at least 2; with loss = "bce"; not with label_column."""
        names = self.label_names
        if names is None:
            return
        if any(not c for c in names) or len(set(names)) != len(names) or len(names) < 2:
            raise ConfigError(f"label_columns {self.label_columns!r}: expected 2 or more distinct column names "
                              f"like a,b,c")
        if self.label_column is not None:
            raise ConfigError(f"label_columns {self.label_columns!r} and label_column {self.label_column!r}: "
                              f"give one of them")
        if self.loss != "bce":
            raise ConfigError(f"label_columns {self.label_columns!r} (multi-label outputs) needs loss = 'bce', "
                              f"got loss = {self.loss!r}")
    def _check_graph(self) -> None:
        """``[graph]``: a .csv data set; not with the layered-network keys (device models program the
        mask cells only, :class:`ebana.updates.device_update.DeviceArray`; line resistance: the wires
        run across every cell, the devices sit on the mask cells only)."""
        if not self.dataset.lower().endswith(".csv"):
            raise ConfigError(f"[graph] reads its input and head columns from a .csv file; dataset = {self.dataset!r}")
        for what, bad in (("skips (list each skip as an edge in graph.edges)", bool(self.skips)),
                          ("residual = true (list the skips as edges in graph.edges)", self.residual),
                          (f"conv = {self.conv!r} (put the layer on an edge: 'img -> c : conv8k5s2', and the image "
                           f"shape in graph.shapes)", bool(self.conv)),
                          ("label_column (each head names its column)", self.label_column is not None),
                          ("label_columns (each head names its column)", self.label_names is not None)):
            if bad:
                raise ConfigError(f"[graph] does not support {what}")
        shared = sorted({lay.kind for lay in self.graph.local_edges().values() if lay.kind != "local"})
        if self.device.model is not None and shared:
            raise ConfigError(f"[graph] with device.model = {self.device.model!r}: device models program dense and "
                              f"local edges only, not {' or '.join(shared)} edges (shared weights and fixed pooling "
                              f"conductances; ideal updates only)")
        for h in self.graph.head_list:   # one score: a sigmoid or a 0/1 target (ebana.losses.SingleOutput)
            loss = h.loss or self.loss
            if h.outputs == 1 and loss not in ("bce", "mse"):
                key = f"graph.heads.{h.name}.loss" if h.loss else "loss"
                raise ConfigError(f"graph.heads.{h.name}.outputs = 1 needs loss 'bce' or 'mse' (one V+ - V- score), "
                                  f"got {key} = {loss!r}")
        c = self.circuit
        skips = self.graph.hidden_skips()
        if skips and c.cccs_gain is not None and c.cccs_gain != c.gain:
            k, text = skips[0]
            raise ConfigError(f"graph.edges[{k}] = {text!r} skips from a hidden layer past the next layer: it "
                              f"needs reciprocal amplifiers, circuit.cccs_gain = circuit.gain; got circuit.cccs_gain = "
                              f"{c.cccs_gain!r} with circuit.gain = {c.gain!r} (leave cccs_gain unset: it follows "
                              f"gain)")

    def _check_conv(self) -> None:
        """``conv``: readable layer items; no residual skips; device models with ``local`` layers only
        (a shared ``conv`` weight is one parameter in many devices, ``avg`` a fixed-conductance
        crossbar). Line resistance is allowed: the wires run across every cell of a masked crossbar."""
        from ebana.local import parse_items
        _, items = parse_items(self.conv)
        if self.residual:
            raise ConfigError(f"conv = {self.conv!r} does not support residual = true yet")
        shared = sorted({kind for kind, *_ in items if kind != "local"})
        if self.device.model is not None and shared:
            raise ConfigError(f"conv = {self.conv!r} with device.model = {self.device.model!r}: device models "
                              f"program local layers only, not {' or '.join(shared)} layers (shared weights and "
                              f"fixed pooling conductances; ideal updates only)")

    def _check_nonideal(self) -> None:
        """``[nonideal]`` against the rest: device-side effects need a model; one d2d/c2c place."""
        ni = self.nonideal
        if self.device.model is None:
            for name in ("d2d", "c2c", "t_read", "t_read_eval"):
                if getattr(ni, name):
                    raise ConfigError(f"nonideal.{name} = {getattr(ni, name)!r} needs a device model (device.model; "
                                      f"'ideal' is the linear device): the ideal update has no device parameters")
        for name in ("t_read", "t_read_eval"):
            if getattr(ni, name) and self.circuit.lines.on:
                raise ConfigError(f"nonideal.{name} = {getattr(ni, name)!r} s with line resistance (circuit.r_wordline/"
                                  f"r_bitline/r_driver/r_sense) is not implemented: the devices' own cell voltages "
                                  f"are not read out")
        device_spread(self.device.d2d, self.device.c2c, ni)
        pulse_device_config(self.device, ni)

    def _check_residual(self) -> None:
        """``residual = true``: enough hidden layers, reciprocal amplifiers, no skip listed twice."""
        if len(self.hidden) < MIN_RESIDUAL_HIDDEN:
            raise ConfigError(f"residual = true needs at least {MIN_RESIDUAL_HIDDEN} hidden layers (skips join "
                              f"hidden layers p -> p+2), got hidden = {list(self.hidden)}")
        c = self.circuit
        if c.cccs_gain is not None and c.cccs_gain != c.gain:
            raise ConfigError(f"residual = true needs reciprocal amplifiers, circuit.cccs_gain = circuit.gain "
                              f"(skips from hidden layers); got circuit.cccs_gain = {c.cccs_gain!r} with "
                              f"circuit.gain = {c.gain!r} (leave cccs_gain unset: it follows gain)")
        both = sorted(set(self.skips) & set(residual_skips(len(self.hidden))))
        if both:
            p, q = both[0]
            raise ConfigError(f"skips lists {p}->{q}, which residual = true already adds "
                              f"(residual skips: {_skip_text(residual_skips(len(self.hidden)))})")

    @property
    def all_skips(self) -> tuple[tuple[int, int], ...]:
        """The skip crossbars of the network: ``skips`` plus, with ``residual``, the ResNet-block
        skips of :func:`ebana.topology.residual_skips` (e.g. 2->4, 4->6 for 6 hidden layers)."""
        if not self.residual:
            return self.skips
        return self.skips + residual_skips(len(self.hidden))

    @property
    def device_used(self) -> DeviceConfig:
        """The device section a run programs with: ``device`` with ``nonideal``'s d2d, c2c and
        programming-DAC resolution folded in (:func:`ebana.nonideal.pulse_device_config`)."""
        ni = self.nonideal
        if ni.d2d == 0 and ni.c2c == 0 and ni.dac_pulse_bits is None:
            return self.device
        d2d, c2c = device_spread(self.device.d2d, self.device.c2c, ni)
        return replace(pulse_device_config(self.device, ni), d2d=d2d, c2c=c2c)

    @property
    def circuit_params(self) -> CircuitParams:
        """The circuit the run builds: ``circuit``, with reciprocal amplifiers (cccs_gain = gain)
        when ``residual`` (or a ``[graph]`` skip from a hidden layer) leaves cccs_gain unset.
        Reciprocal means the amplifier is an ideal transformer (V_out = g V_in, I_in = g I_out,
        power in = power out), so every layer has energy weight 1 and every skip from a hidden
        layer keeps the circuit energy-based."""
        c = self.circuit
        if (self.residual or (self.graph.on and self.graph.hidden_skips())) and c.cccs_gain is None:
            return replace(c, cccs_gain=c.gain)
        return c


def _skip_text(skips) -> str:
    return ",".join(f"{p}->{q}" for p, q in skips)


def _mnist_circuit() -> CircuitParams:
    """The MNIST recipe of reference/performance.md §6 (s = 0, a = 1 V, +-5 mV clamps, gain 10)."""
    return CircuitParams(v_shift=0.0, v_scale=1.0, bias_input=(1.0, -1.0), bias_hidden=(),
                         v_clamp_low=-0.005, v_clamp_high=0.005, gain=10.0, v_cm=0.0)


_MNIST: dict[str, Any] = dict(encoding="none", hidden=(100,), epochs=10, batch_size=256, tau=0.003,
                              lr=2e-7, dtype="float32", circuit=_mnist_circuit())

PRESETS: dict[str, dict[str, Any]] = {
    "iris": {},
    "mnist": dict(_MNIST),
    # Fashion-MNIST, Kuzushiji-MNIST and unnamed IDX images: MNIST's recipe (same pixel range and
    # encoding; the input layer follows the image size). Not tuned for them.
    "fashion-mnist": dict(_MNIST),
    "kmnist": dict(_MNIST),
    "idx": dict(_MNIST),
    "digits": dict(encoding="none", hidden=(64,), epochs=20, batch_size=16, tau=0.003,
                   lr=5e-8, dtype="float32", circuit=_mnist_circuit()),
}

BETA_DEFAULTS: dict[str, tuple[float, float]] = {
    "iris": (1e-8, 1e-8),
    "mnist": (1e-6, 1e-9),
    "fashion-mnist": (1e-6, 1e-9),
    "kmnist": (1e-6, 1e-9),
    "idx": (1e-6, 1e-9),
    "digits": (1e-6, 1e-9),
}
"""(centered, one-sided) beta (A) when ``beta`` is not given, per dataset (others: iris's).

One-sided nudging needs a smaller beta than centered: its estimate has an O(beta) bias, the
delta^2 term of the output devices (:mod:`ebana.phases`), while a centered estimate cancels it.
Measured on the MNIST circuit (1568-100-20, tau = 3 mV, 256 samples, against finite differences):
at beta = 1e-6 the one-sided output-crossbar gradient has cosine 0.19 and 14x relative error
(every entry biased upwards: one epoch collapses the crossbar to g_min, 9.8 %, loss ln 10),
centered 1.0000; one-sided relative error is 1.47e7/A * beta (0.15 at 1e-8, 0.015 at 1e-9); one
epoch trains at 1e-8 (95.2 %), 3e-9 and 1e-9 (94.8 %, centered 94.7 %) and collapses at >= 3e-8.
1e-9 keeps a 30x margin to the collapse; float32 solves resolve it (gradient within 1e-4)."""


def default_beta(dataset: str, centered: bool) -> float:
    """The beta (A) a config of ``dataset`` uses when none is given (:data:`BETA_DEFAULTS`)."""
    pair = BETA_DEFAULTS.get(dataset, BETA_DEFAULTS["iris"])
    return pair[0] if centered else pair[1]


def preset(dataset: str) -> TrainConfig:
    """Default config for a dataset (tabular data and CSV files use the IRIS circuit)."""
    return TrainConfig(dataset=dataset, **PRESETS.get(dataset, {}))


# ---------------------------------------------------------------------- dict / TOML
def _keys(cls) -> list:
    """The config keys of a dataclass: its init fields (derived fields like beta_is_default are not keys)."""
    return [f for f in fields(cls) if f.init]


def to_dict(obj: Any, *, defaults: bool = True) -> dict[str, Any]:
    """Dataclass -> plain dict (None values dropped, tuples -> lists) for TOML.

    ``defaults=False`` leaves out a ``beta`` the config filled in itself (not given), so a dict
    that changes the nudging mode or the dataset picks that mode's default again."""
    out: dict[str, Any] = {}
    for f in _keys(obj):
        if not defaults and f.name == "beta" and getattr(obj, "beta_is_default", False):
            continue
        v = getattr(obj, f.name)
        if isinstance(v, GraphConfig) and not v.on:
            continue     # no [graph]: the layered network (config files stay as they were)
        if dataclasses.is_dataclass(v):
            out[f.name] = to_dict(v)
        elif v is None:
            continue
        elif isinstance(v, tuple):
            out[f.name] = [list(e) if isinstance(e, tuple) else e for e in v]
        else:
            out[f.name] = v
    return out


def _subconfig(cls, name: str):
    """The dataclass of field ``name`` of ``cls`` when it is a nested config section, else None."""
    for f in _keys(cls):
        if f.name == name and f.default_factory is not dataclasses.MISSING \
                and dataclasses.is_dataclass(f.default_factory):
            return f.default_factory
    return None


def _build(cls, data: dict[str, Any], where: str):
    known = {f.name: f for f in _keys(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"unknown config key {where}{key}{did_you_mean(key, known, quote=False, prefix=where)}")
        sub = _subconfig(cls, key)
        if sub is not None and isinstance(value, dict):
            value = _build(sub, value, f"{where}{key}.")
        elif isinstance(value, list):
            value = tuple(tuple(e) if isinstance(e, list) else e for e in value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"bad config {where or 'root'}: {err}") from None


def from_dict(data: dict[str, Any]) -> TrainConfig:
    """Dict (e.g. parsed TOML) -> TrainConfig; dataset presets fill what is not given."""
    base = to_dict(preset(data.get("dataset", "iris")), defaults=False)
    return _build(TrainConfig, _merge(base, data), "")


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """Set dotted keys, e.g. {"circuit.gain": 10, "lr": 1e-7}; unknown keys -> ConfigError.

    A beta that ``cfg`` took from :data:`BETA_DEFAULTS` follows a change of ``centered``
    (e.g. ``--one-sided``) or ``dataset``; a given beta is kept."""
    data = to_dict(cfg, defaults=False)
    for dotted, value in overrides.items():
        node, parts = data, dotted.split(".")
        if not all(p.strip() for p in parts):
            raise ConfigError(f"config key {dotted!r} = {value!r}: an empty key or key part; expected keys like "
                              f"epochs or circuit.gain")
        cls = TrainConfig
        for depth, part in enumerate(parts):
            names = [f.name for f in _keys(cls)]
            if part not in names:
                prefix = "".join(f"{p}." for p in parts[:depth])
                raise ConfigError(f"unknown config key {dotted}{did_you_mean(part, names, quote=False, prefix=prefix)}")
            if depth < len(parts) - 1:
                cls = _subconfig(cls, part)
                if cls is None:
                    raise ConfigError(f"config key {'.'.join(parts[:depth + 1])} has no sub-keys")
                node = node.setdefault(part, {})
            else:
                node[part] = value
    return _build(TrainConfig, data, "")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_diff(a: TrainConfig, b: TrainConfig) -> list[tuple[str, Any, Any]]:
    """Dotted keys where two configs differ: (key, value in a, value in b), sorted by key."""
    fa, fb = _flatten(to_dict(a)), _flatten(to_dict(b))
    return [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(v: str) -> str:
    """A TOML basic string: quotes, backslashes and every control character escaped."""
    out = []
    for c in v:
        if c in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[c])
        elif ord(c) < 32 or ord(c) == 127:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(e) for e in v) + "]"
    raise ConfigError(f"cannot write {v!r} to TOML")


def _toml_key(k: str) -> str:
    """A bare TOML key when it is one, else a quoted key."""
    return k if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k) else _toml_string(k)


def dump_toml(data: dict[str, Any]) -> str:
    """Minimal TOML writer for nested dicts of scalars and lists."""
    lines: list[str] = []

    def emit(d: dict, prefix: str) -> None:
        subs = []
        for k, v in d.items():
            if isinstance(v, dict):
                subs.append((k, v))
            else:
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in subs:
            name = f"{prefix}{_toml_key(k)}"
            lines.append(f"\n[{name}]")
            emit(v, name + ".")

    emit(data, "")
    return "\n".join(lines).lstrip("\n") + "\n"


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {p} is a directory") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {p} is not UTF-8 text (byte {err.start}); is it a TOML file?") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {p}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: invalid TOML: {err}") from None
