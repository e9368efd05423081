"""Imperfect devices and periphery (``[nonideal]`` in TOML): configuration and pure physics.

Every effect is off by default; with all of them off a run is bit-identical to one without
this section (nothing below is even constructed). Where each effect acts:

* ``d2d``, ``c2c`` (device side, need ``device.model``): device-to-device lognormal spread of the
  model's parameters (:meth:`ebana.devices.base.DeviceModel.with_variability`) and the relative
  cycle-to-cycle noise of every state change (``DeviceParams.c2c``). ``device.d2d``/``device.c2c``
  are the same two numbers (kept for older configs); set one of the two places.
* ``stuck_on``, ``stuck_off``: fractions of crossbar devices stuck at their most / least
  conductive state (drawn once per run, :func:`draw_stuck`); they never move under any update
  rule or array scheme (:mod:`ebana.updates.faults`).
* ``retention_tau``, ``retention_x_rest``, ``drift_nu``, ``drift_t0``, ``t_batch``: between two
  updates (``t_batch`` s apart) states relax exponentially towards ``retention_x_rest``
  (:func:`relax`) and/or conductances follow the PCM power law G(t) = G(t0)·(t/t0)^-ν since each
  device's last programming (:func:`power_law_factor`) (:mod:`ebana.updates.faults`).
* ``t_read`` (read disturb, needs ``device.model``): every training phase of every sample holds
  its operating point for ``t_read`` s and each device's state integrates its own drop
  V_row - V_col through the model (:meth:`ebana.updates.faults.FaultyUpdate.read_disturb`);
  residual learning's P devices too (read with the same row and column voltages as W).
* ``t_read_eval`` (read disturb at inference, needs ``device.model``): every evaluation free phase
  of every sample (train and test sets after each epoch) holds its operating point for
  ``t_read_eval`` s, with the same device integration; the moved states are the ones training
  continues from.
* ``read_noise``, ``adc_bits``, ``adc_v_min``, ``adc_v_max`` (measurement side, one place:
  :mod:`ebana.measurement`): Gaussian noise (V) on every node voltage the periphery reads in
  training, then an ``adc_bits`` ADC over [adc_v_min, adc_v_max] (V; default each layer's span).
* ``dac_bits``: the input DAC, wordline voltages on a 2^bits-level grid over
  [v_shift - v_scale, v_shift + v_scale], or over each polarity's half [v_shift, v_shift ± v_scale]
  for non-negative features such as images (:func:`dac_features`, :func:`dac_grid_low`; applied
  once to the data set).
* ``dac_pulse_bits``: the programming DAC: PAM amplitudes on 2^bits - 1 levels in (0, v_max]
  (``device.pam_levels``), PWM widths on 2^bits - 1 clock periods up to ``device.t_max``
  (``device.t_clock``) (:func:`pulse_device_config`).

Public API: :class:`NonIdealConfig`, :func:`quantize`, :func:`lsb`, :func:`dac_features`,
:func:`dac_grid_low`, :func:`draw_stuck`, :func:`relax`, :func:`power_law_factor`, :func:`pulse_device_config`,
:func:`device_spread`, :data:`STREAMS`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from ebana.errors import ConfigError, did_you_mean
from ebana.validation import check_fields

__all__ = ["NonIdealConfig", "PRESETS", "quantize", "lsb", "dac_features", "dac_grid_low", "draw_stuck", "relax",
           "power_law_factor", "pulse_device_config", "device_spread", "STREAMS", "MAX_BITS"]

MAX_BITS = 32
"""Most converter bits accepted (beyond float64's resolution of a volt-range signal)."""

STREAMS = {"stuck": 1601, "read": 1602}
"""Spawn keys of the random streams of :class:`numpy.random.SeedSequence` (seed, key): separate
from the run's other generators, so switching an effect on changes no other draw."""


PRESETS: dict[str, dict[str, float | int]] = {
    # A realistic RRAM EqProp chip (issue 16). Every number's source, and whether it was read in
    # the source or inferred from it: README "A realistic chip (nonideal.preset = 'realistic_chip')".
    "realistic_chip": dict(
        d2d=0.3,            # aihwkit ReRamSBPresetDevice dw_min_dtod = 0.3 (Gong et al. 2018 fit)
        c2c=0.3,            # aihwkit GokmenVlasov/Idealized preset dw_min_std = 0.3
        stuck_on=0.05,      # ~10 % faulty devices in a HfO2 RRAM test chip (Aguirre et al. 2021,
        stuck_off=0.05,     #   citing Chen et al. 2015), split evenly (the split is assumed)
        drift_nu=0.0022,    # aihwkit ReRamCMONoiseModel decay -0.089 uS per ln t, / 40 uS
        read_noise=7.5e-4,  # aihwkit PresetIOParameters out_noise/out_bound = 0.1/20 of +-0.15 V
        adc_bits=9,         # aihwkit PresetIOParameters out_res = 1/(2^9 - 2): "9 bit ADC"
        dac_bits=7,         # aihwkit PresetIOParameters inp_res = 1/(2^7 - 2): "7 bit DAC"
    ),
}
"""Named ``[nonideal]`` parameter sets (``nonideal.preset``); keys given beside the preset win."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NonIdealConfig:
    """Imperfect devices and periphery (``[nonideal]``); every effect off by default (module docstring)."""

    d2d: float = 0.0
    """Device-to-device spread (lognormal sigma, –) of the device model's ``d2d_fields``; needs a model."""
    c2c: float = 0.0
    """Cycle-to-cycle write noise: relative std (–) of every pulse's state change; needs a model."""
    stuck_on: float = 0.0
    """Fraction (–, [0, 1]) of crossbar devices stuck at their most conductive state (g_max / R_ON)."""
    stuck_off: float = 0.0
    """Fraction (–, [0, 1]) stuck at their least conductive state (g_min / R_OFF)."""
    t_batch: float = 1.0
    """Time (s) between two updates (one batch) during which retention drift acts."""
    retention_tau: float = 0.0
    """Time constant (s) of the state's exponential relaxation towards ``retention_x_rest`` (0: off)."""
    retention_x_rest: float = 0.0
    """Normalised state (–, [0, 1]; 0 = g_min / R_OFF) the devices relax towards."""
    drift_nu: float = 0.0
    """PCM power-law drift exponent ν (–; 0: off): G(t) = G(t0)·(t/t0)^-ν since programming."""
    drift_t0: float = 1.0
    """Reference time t0 (s) of the power law: the read time right after programming."""
    t_read: float = 0.0
    """Read disturb: time (s) each training phase (free, nudged) holds its voltages on the devices,
    whose states move through the device model meanwhile (0: off, states frozen); needs a model."""
    t_read_eval: float = 0.0
    """Read disturb at inference: time (s) each evaluation free phase (train and test accuracy after
    every epoch) holds its voltages on the devices, which move as under ``t_read`` and stay moved
    (0: off, evaluation leaves the states alone); needs a model."""
    read_noise: float = 0.0
    """Standard deviation (V) of Gaussian noise on every node voltage read in training (0: off)."""
    adc_bits: int | None = None
    """ADC resolution of the node voltages read in training (bits; None: no quantisation)."""
    adc_v_min: float | None = None
    """ADC full-scale lower end (V) of every layer; None: each layer's own free-phase span
    (clamped layers: ``circuit.v_clamp_low``; the unclamped output: its drive voltages' minimum)."""
    adc_v_max: float | None = None
    """ADC full-scale upper end (V) of every layer; None: each layer's own span (as adc_v_min)."""
    dac_bits: int | None = None
    """Input DAC resolution (bits) over [v_shift - v_scale, v_shift + v_scale] (None: exact)."""
    dac_pulse_bits: int | None = None
    """Programming DAC (bits): PAM amplitude levels, PWM width steps up to device.t_max (None: exact)."""
    preset: str | None = None
    """Named parameter set (:data:`PRESETS`, e.g. ``realistic_chip``): fills every key of it still at
    its default; keys given with a non-default value keep theirs (None: no preset)."""

    def __post_init__(self) -> None:
        check_fields(self, "nonideal")
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise ConfigError(f"unknown nonideal.preset {self.preset!r}{did_you_mean(self.preset, PRESETS)}; "
                                  f"known: {', '.join(PRESETS)}")
            defaults = {f.name: f.default for f in fields(self)}
            for name, value in PRESETS[self.preset].items():
                if getattr(self, name) == defaults[name]:
                    object.__setattr__(self, name, value)
        for name in ("stuck_on", "stuck_off", "retention_x_rest"):
            _need(name, getattr(self, name), 0.0 <= getattr(self, name) <= 1.0, "a fraction in [0, 1]")
        if self.stuck_on + self.stuck_off > 1.0:
            raise ConfigError(f"nonideal.stuck_on + nonideal.stuck_off must be <= 1, got {self.stuck_on!r} + "
                              f"{self.stuck_off!r}")
        for name in ("d2d", "c2c", "read_noise", "retention_tau", "drift_nu", "t_read", "t_read_eval"):
            _need(name, getattr(self, name), getattr(self, name) >= 0, ">= 0 (0: off)")
        _need("d2d", self.d2d, self.d2d <= 3.0, "<= 3 (a lognormal sigma; e^3 = 20x spread)")
        _need("read_noise", self.read_noise, self.read_noise <= 1.0, "<= 1 V (a noise sigma; 0: off)")
        _need("drift_nu", self.drift_nu, self.drift_nu <= 1.0, "<= 1 (a PCM drift exponent, ~0.005-0.1; 0: off)")
        for name in ("adc_v_min", "adc_v_max"):
            v = getattr(self, name)
            if v is not None:
                _need(name, v, abs(v) <= MAX_ADC_VOLTS, f"within +-{MAX_ADC_VOLTS:g} V (or unset: the layer's span)")
        for name in ("t_read", "t_read_eval"):
            _need(name, getattr(self, name), getattr(self, name) <= 1.0, "<= 1 s (0: off)")
        for name in ("t_batch", "drift_t0"):
            _need(name, getattr(self, name), 0 < getattr(self, name) <= 1e9, "a time in (0, 1e9] s")
        for name in ("adc_bits", "dac_bits", "dac_pulse_bits"):
            v = getattr(self, name)
            if v is not None:
                _need(name, v, 1 <= v <= MAX_BITS, f"an integer in [1, {MAX_BITS}] bits (or unset: off)")
        if self.adc_v_min is not None and self.adc_v_max is not None and not self.adc_v_min < self.adc_v_max:
            raise ConfigError(f"nonideal.adc_v_min must be < nonideal.adc_v_max, got {self.adc_v_min!r} >= "
                              f"{self.adc_v_max!r} V")

    @property
    def measured(self) -> bool:
        """A measurement-side effect is on (read noise or ADC)."""
        return self.read_noise > 0 or self.adc_bits is not None

    @property
    def faulty(self) -> bool:
        """An updater-side effect is on (stuck devices or retention drift)."""
        return (self.stuck_on > 0 or self.stuck_off > 0 or self.retention_tau > 0 or self.drift_nu > 0
                or self.t_read > 0 or self.t_read_eval > 0)


MAX_ADC_VOLTS = 1e3
"""Largest |adc_v_min|, |adc_v_max| (V): the largest circuit voltage (:data:`ebana.circuit.MAX_VOLTS`)."""


def _need(name: str, value, ok: bool, want: str) -> None:
    if not ok:
        raise ConfigError(f"nonideal.{name} must be {want}, got {value!r}")


# ---------------------------------------------------------------------- converters
def lsb(bits: int, v_min: float, v_max: float) -> float:
    """Step (V) of a ``bits``-bit converter with 2^bits levels spanning [v_min, v_max] end to end."""
    return (v_max - v_min) / (2 ** bits - 1)


def quantize(v: np.ndarray, bits: int, v_min: float, v_max: float) -> np.ndarray:
    """Nearest of the 2^bits levels v_min + k·LSB, k = 0..2^bits - 1 (V); out of range saturates.

    Within [v_min, v_max] the error is at most LSB/2 (:func:`lsb`)."""
    step = lsb(bits, v_min, v_max)
    k = np.clip(np.rint((np.asarray(v, dtype=np.float64) - v_min) / step), 0, 2 ** bits - 1)
    return v_min + k * step


def dac_grid_low(*features: np.ndarray) -> float:
    """Lower end of the input DAC's grid of x: 0 for non-negative features (images in [0, 1]),
    else -1.

    Signed features (minmax, [-1, 1]): one DAC spans [v_shift - v_scale, v_shift + v_scale] with
    2^bits levels symmetric about v_shift. Non-negative features: u+ only rises from v_shift and u-
    only falls, so each polarity's DAC spans its half, [v_shift, v_shift ± v_scale], with 2^bits
    levels from v_shift. A symmetric grid with an even number of levels has no level at v_shift:
    it would drive every black pixel (x = 0) to x = ±1/(2^bits - 1), a common-mode offset on most
    MNIST wordlines (3 bits: 0.14·v_scale on ~80 % of the 784 inputs)."""
    return 0.0 if all(float(np.min(f)) >= 0.0 for f in features if np.size(f)) else -1.0


def dac_features(x: np.ndarray, bits: int, lo: float = -1.0) -> np.ndarray:
    """Features whose wordline voltages u± = v_shift ± v_scale·x lie on the input DAC's grid:
    x on 2^bits levels over [lo, 1] (``lo`` from :func:`dac_grid_low`; u+ and u- then both land
    on levels), error ≤ LSB/2 inside, saturating outside."""
    return quantize(x, bits, lo, 1.0).astype(np.asarray(x).dtype, copy=False)


# ---------------------------------------------------------------------- devices
def draw_stuck(n: int, p_on: float, p_off: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (n,) of the devices stuck ON and stuck OFF: exactly round(p·n) of each,
    disjoint, chosen uniformly without replacement."""
    n_on, n_off = int(round(p_on * n)), int(round(p_off * n))
    n_off = min(n_off, n - n_on)
    pick = rng.permutation(n)
    on, off = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    on[pick[:n_on]] = True
    off[pick[n_on:n_on + n_off]] = True
    return on, off


def relax(x: np.ndarray, x_rest: float | np.ndarray, dt: float, tau: float) -> np.ndarray:
    """State after ``dt`` s of exponential relaxation dx/dt = -(x - x_rest)/tau (exact, –)."""
    return x_rest + (np.asarray(x, dtype=np.float64) - x_rest) * np.exp(-dt / tau)


def power_law_factor(age: np.ndarray, dt: float, nu: float) -> np.ndarray:
    """G(age + dt)/G(age) = ((age + dt)/age)^-ν of the PCM drift law G(t) = G(t0)(t/t0)^-ν.

    Applied every ``dt`` with ``age`` (s) the time since programming (t0 right after), the
    product telescopes to (t/t0)^-ν exactly."""
    age = np.asarray(age, dtype=np.float64)
    return ((age + dt) / age) ** (-nu)


def device_spread(device_d2d: float, device_c2c: float, cfg: NonIdealConfig) -> tuple[float, float]:
    """The (d2d, c2c) a run uses: ``nonideal.*`` or the older ``device.*`` keys (one may be set)."""
    out = []
    for name, old, new in (("d2d", device_d2d, cfg.d2d), ("c2c", device_c2c, cfg.c2c)):
        if old and new and old != new:
            raise ConfigError(f"nonideal.{name} = {new!r} and device.{name} = {old!r} are the same setting; "
                              f"set one of them")
        out.append(new or old)
    return out[0], out[1]


def pulse_device_config(device, cfg: NonIdealConfig):
    """The ``device`` config with the programming DAC of ``dac_pulse_bits`` (returns it unchanged if off).

    PAM: ``pam_levels = 2^bits - 1`` amplitude levels in (0, v_max]. PWM: ``t_clock = t_max /
    (2^bits - 1)`` (needs ``device.t_max``). Refuses an explicit, different level or clock."""
    bits = cfg.dac_pulse_bits
    if bits is None:
        return device
    if device.model is None:
        raise ConfigError(f"nonideal.dac_pulse_bits = {bits} needs a device model (device.model): the ideal "
                          f"update sends no pulses")
    levels = 2 ** bits - 1
    if device.scheme == "pam":
        if device.pam_levels not in (0, levels):
            raise ConfigError(f"nonideal.dac_pulse_bits = {bits} ({levels} PAM levels) conflicts with "
                              f"device.pam_levels = {device.pam_levels}; set one of them")
        return replace(device, pam_levels=levels)
    if device.t_max is None:
        raise ConfigError(f"nonideal.dac_pulse_bits = {bits} with PWM needs device.t_max (s): the widths are "
                          f"quantised to t_max / {levels}")
    clock = device.t_max / levels
    if device.t_clock not in (0.0, clock):
        raise ConfigError(f"nonideal.dac_pulse_bits = {bits} (t_clock = {clock:g} s) conflicts with "
                          f"device.t_clock = {device.t_clock!r}; set one of them")
    return replace(device, t_clock=clock)
