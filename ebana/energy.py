"""Energy of training on the simulated chip: phase (read) power from operating points, periphery.

**Phase power** (exact, from one solved DC operating point; all W):

- crossbar devices: ``P_c = sum_ij G_ij (V_row_i - V_col_j)^2`` (with line resistance: across each
  device's own cell nodes, and the wires' dissipation ``P_wire = sum_t V_t I_t - P_c`` from the
  terminal voltages and currents of the crossbar);
- clamp diodes: ``P_D = x1 i_D(x1) + x2 i_D(x2)`` per clamped node, x1 = v - V_BH (upper diode),
  x2 = V_BL - v (lower diode), i_D the diode model of the circuit (GMIN included for Shockley);
- what the sources deliver (:func:`delivered_power`): the input wordline sources ``u I_row``, the
  bias rows ``V_b I_row``, the clamp bias sources ``-V_BH i_up + V_BL i_low``, the nudging current
  sources ``v I_nudge``, the bias current sources ``v I_b`` (``circuit.i_bias``) and the amplifiers
  ``(w - alpha v) I_out`` (VCVS output w = cm + g (v - cm) driving I_out into its crossbar rows,
  CCCS drawing alpha I_out from the neuron).

By Tellegen's theorem the dissipated power (devices + wires + diodes) equals the delivered power at
any operating point that satisfies KCL; ``tests/test_energy.py`` checks it on the numpy backend's
solutions and on ngspice's, with the source currents read from ngspice itself.

**Phase energy** = (dissipated power + power absorbed by sources) x :attr:`EnergyConfig.t_settle`
per phase: a source that absorbs power (V_BH sinking the upper diodes' current, a wordline below
its columns, an amplifier driving against its load) is counted as dissipating it, since a supply
does not recover it (:func:`absorbed_power`, per single source); by Tellegen the sum is what the
delivering sources supply. The network draws that power while the phase settles and is read (the
power during the transient is not simulated; the DC value is its end point).

**Periphery** per training sample with P phases (free + 1 or 2 nudged), n_in features, K classes,
N neuron nodes (every hidden neuron and output node: the EqProp gradient needs every device's drop)
and A amplifiers (hidden neurons):

- DAC: ``(2 n_in + 2 K (P - 1)) e_dac`` -- the wordlines x+ and x- once per sample (held through the
  phases), the 2K nudging currents once per nudged phase;
- ADC: ``N P e_adc`` -- every neuron node read once per phase;
- amplifiers: ``A P t_settle p_amp`` -- bias power while each phase settles.

Write energy (device runs) is the device physics' own integral of V I dt per pulse
(:mod:`ebana.updates.pulses`). Evaluation passes (the per-epoch train/test loss) are not training
and are not counted.

**Latency** per training sample (:func:`chip_latency`): DAC settling (inputs, then the nudge of each
nudged phase), P phase settle times, P ADC readouts (``nodes_per_adc`` conversions in series), and
the update's programming time shared by the batch (``program``: row by row, all at once, or the
measured write time of the pulses a device run applied). The
**digital reference** (:func:`digital_reference`) is the same network trained by backprop:
6 FLOPs per weight per sample at 2.3 pJ and 19.5 TFLOP/s.

Defaults and their sources (every value a key of ``[energy]``; latency and digital keys cite
their sources in :class:`EnergyConfig`):

- ``t_settle = 100 ns``: ISAAC's crossbar read cycle (Shafiee et al., ISCA 2016, "ISAAC: a CNN
  accelerator with in-situ analog arithmetic in crossbars", pp. 14-26, doi:10.1109/ISCA.2016.12).
- ``e_adc = 2.58 pJ``: an 8-bit 1.2 GS/s SAR ADC at 3.1 mW (Kull et al., ISSCC 2013, "A 3.1mW 8b
  1.2GS/s single-channel asynchronous SAR ADC with alternate comparators for enhanced speed in
  32nm digital SOI CMOS", pp. 468-469, doi:10.1109/ISSCC.2013.6487818; the ADC ISAAC builds on):
  3.1 mW / 1.2 GS/s. (ISAAC's own budget, 16 mW for the 8 ADCs of an IMA, is 1.67 pJ.)
- ``e_dac = 0.39 pJ``: ISAAC's input DACs (1-bit, 8 x 128 per IMA at 4 mW, one conversion per
  100 ns cycle): 4 mW x 100 ns / 1024 (optimistic for multi-level inputs).
- ``p_amp = 4.2 uW``: one bidirectional amplifier sized to settle in t_settle, by the gm/Id method
  (Silveira, Flandre, Jespers, IEEE JSSC 31(9), 1996): unity-gain bandwidth 10/t_settle = 100 MHz
  into 100 fF at gm/Id = 15 /V needs I_d = 2 pi GBW C / (gm/Id) = 4.2 uA, at a 1 V supply.

These are order-of-magnitude periphery figures from the literature, not a circuit design; change
them with ``--set energy.e_adc=...``.

**What was checked** (Dec 2026, against public sources found by search; no value was found wrong,
so no default changed):

- verified: Kull et al.'s 3.1 mW at 1.2 GS/s, 8 bit (the ISSCC 2013 title and DOI, as cited by
  the ISAAC component models of github.com/Accelergy-Project/hwcomponents-library,
  ``hwcomponents_library/library/isaac.py``; its ``newton.py`` uses the same 3.1 mW / 1.2 GS/s =
  2.58 pJ for the ADC of Newton, IEEE Micro 38(5), 2018, by ISAAC's authors); ISAAC's
  4 mW for 8 x 128 1-bit input DACs per IMA and its 8 ADCs per IMA at 1.2 GS/s each (same
  file; it derives 0.42 pJ per DAC conversion, ebana's 0.39 pJ without its 128/100 ADC
  utilisation factor); Horowitz's 45 nm fp32 multiply 3.7 pJ and add 0.9 pJ (his table, as
  reproduced with attribution in PMC8934428, Table 3); the A100's 19.5 TFLOP/s FP32 (NVIDIA's
  datasheet figures as listed on glennklockwood.com and in NVIDIA's launch specifications);
  the bibliographic data of Wong et al. 2012 (Proc. IEEE 100(6), 1951-1970).
- unverified: ISAAC's 100 ns read cycle as a stated figure (the source above derives its DAC rate
  from one crossbar read per ~107 ns, 128 ADC conversions at 1.2 GS/s: consistent, not a quote);
  ``nodes_per_adc = 128`` (one ADC per 128 bitlines: read from 8 ADCs for 8 x 128 DACs per IMA,
  i.e. 8 crossbars of 128 x 128, an inference, not seen stated);
  the journal version of Kull et al. (IEEE JSSC 48(12), 2013) cited before; Wong et al.'s
  sub-100 ns switching figure itself; Kaplan et al.'s 6 FLOPs per weight; the gm/Id design
  estimate of ``p_amp`` and the assumed ``t_dac``. Verify these before quoting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ebana.circuit import CompiledCircuit, diode_branch
from ebana.errors import ConfigError
from ebana.validation import check_fields

__all__ = ["EnergyConfig", "Dissipation", "dissipated_power", "input_terms", "delivered_power", "source_powers",
           "absorbed_power", "wordline_candidates", "phase_power", "SOURCE_KINDS", "EnergyTally",
           "periphery_counts", "chip_latency", "digital_reference", "ENERGY_FIELDS", "PROGRAM_SCHEMES"]

ENERGY_FIELDS = ["e_read", "e_read_free", "e_read_nudged", "e_read_sources", "e_dac", "e_adc", "e_amp", "e_energy",
                 "t_sample", "t_chip", "e_digital", "t_digital"]
"""Per-epoch energy metrics (J): phase (read) energy, split into free and nudged phases (and the part
of it absorbed by sources, ``e_read_sources``); DAC, ADC,
amplifier energy; ``e_energy`` = e_read + e_dac + e_adc + e_amp + e_write (write: device runs; NaN
when a device run does not integrate its write energy, ``device.energy = false``).
Latency (s): ``t_sample`` chip time per training sample, ``t_chip`` per epoch (:func:`chip_latency`).
Digital reference: ``e_digital`` (J) and ``t_digital`` (s) of the same epoch's backprop steps
(:func:`digital_reference`). Per layer q: ``e_read_l{q}`` = its incoming crossbars (devices and
wires) + its clamp diodes + what its sources absorb (bias rows of its incoming crossbars, clamp
biases, amplifiers, nudging sources); ``e_read_l0``: what the wordline sources absorb."""


_LINE_CHUNK = 2_000_000
"""Device drops (floats) held at once for a crossbar with line resistance."""

PROGRAM_SCHEMES = ("row", "parallel", "pulses")
"""How an update is written: one wordline at a time, or every device at once."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyConfig:
    """Energy model of the chip (``[energy]`` in TOML); sources in the module docstring."""

    enabled: bool = True
    """Compute the energy metrics (phase power from every training solve; off: empty columns)."""
    t_settle: float = 100e-9
    """Time (s) each phase settles and is held for reading (ISAAC's 100 ns read cycle; unverified,
    see the module docstring)."""
    e_adc: float = 3.1e-3 / 1.2e9
    """Energy (J) per ADC conversion (8-bit SAR, Kull et al., ISSCC 2013: 3.1 mW at 1.2 GS/s; verified)."""
    e_dac: float = 4e-3 * 100e-9 / 1024
    """Energy (J) per DAC conversion (ISAAC's input DACs: 4 mW for 1024 DACs (verified) at 100 ns
    (unverified); those are 1-bit DACs, so this is optimistic for ebana's multi-level input voltages)."""
    p_amp: float = 2 * np.pi * 100e6 * 100e-15 / 15 * 1.0
    """Static power (W) of one neuron amplifier while a phase settles (gm/Id sizing, see module)."""
    t_adc: float = 1 / 1.2e9
    """Time (s) per ADC conversion (Kull et al., ISSCC 2013: 1.2 GS/s; verified)."""
    t_dac: float = 1 / 1.2e9
    """Time (s) for a DAC output to settle (no cited value: assumed equal to t_adc)."""
    nodes_per_adc: int = 128
    """Neuron nodes sharing one ADC, read one after the other (ISAAC: one ADC per 128 bitlines;
    unverified, inferred from its 8 ADCs and 8 x 128 input DACs per IMA)."""
    t_write: float = 100e-9
    """Time (s) of one programming slot: every device of a row (or of the chip) pulsed at once
    (sub-100 ns switching of metal-oxide RRAM, Wong et al., Proc. IEEE 100(6), 1951 (2012); the
    reference verified, the figure in it unverified)."""
    program: str = "row"
    """Programming scheme: ``row`` (one wordline at a time: R slots per update, R the largest
    crossbar's row count), ``parallel`` (one slot per update, outer-product pulses) or ``pulses``
    (device runs: the write time of the pulses actually applied, under ``device.array_scheme``:
    with selectors every device at once, the longest pulse; passive schemes row/column by row/column
    with their bias phases, :mod:`ebana.updates.array_schemes`)."""
    flops_per_weight: float = 6.0
    """FLOPs per weight per sample of a digital backprop step (forward 2, backward 4; the "6N" rule
    of Kaplan et al., arXiv:2001.08361 (2020); not re-checked)."""
    e_flop: float = (3.7e-12 + 0.9e-12) / 2
    """Energy (J) per FLOP of the digital reference: a 32-bit float multiply (3.7 pJ) and add
    (0.9 pJ) at 45 nm, arithmetic only, no memory access (Horowitz, ISSCC 2014, "Computing's
    energy problem"; verified): a lower bound for a digital chip."""
    flops_rate: float = 19.5e12
    """FLOP/s of the digital reference (NVIDIA A100 FP32 peak, 19.5 TFLOP/s, A100 datasheet; verified)."""

    def __post_init__(self) -> None:
        check_fields(self, "energy")
        for name in ("t_settle", "e_adc", "e_dac", "p_amp", "t_adc", "t_dac", "t_write", "flops_per_weight",
                     "e_flop"):
            v = getattr(self, name)
            if not (v >= 0 and np.isfinite(v)):
                raise ConfigError(f"energy.{name} must be a finite value >= 0, got {v!r}")
        if self.t_settle > 1.0:
            raise ConfigError(f"energy.t_settle must be <= 1 s, got {self.t_settle!r}")
        if not self.flops_rate > 0:
            raise ConfigError(f"energy.flops_rate must be > 0 FLOP/s, got {self.flops_rate!r}")
        if self.nodes_per_adc < 1:
            raise ConfigError(f"energy.nodes_per_adc must be an integer >= 1, got {self.nodes_per_adc!r}")
        if self.program not in PROGRAM_SCHEMES:
            raise ConfigError(f"unknown energy.program {self.program!r}; known: {', '.join(PROGRAM_SCHEMES)}")


@dataclass
class Dissipation:
    """Power (W) dissipated at one operating point of a batch, each entry shape (B,)."""

    crossbars: list[np.ndarray]
    """Per crossbar: its devices."""
    wires: list[np.ndarray]
    """Per crossbar: its line resistance (zeros with ideal wires)."""
    diodes: list[np.ndarray | None]
    """Per layer (index 0 None): its clamp diodes (zeros for an unclamped layer)."""

    def total(self) -> np.ndarray:
        out = sum(self.crossbars) + sum(self.wires)
        return out + sum(d for d in self.diodes if d is not None)

    def per_layer(self, model: CompiledCircuit) -> list[np.ndarray | None]:
        """Per layer q >= 1: its incoming crossbars (devices + wires) and its diodes (W, (B,))."""
        t = model.topology
        out: list[np.ndarray | None] = [None] + [d.copy() for d in self.diodes[1:]]
        for s in t.crossbars:
            out[s.dst] = out[s.dst] + self.crossbars[s.index] + self.wires[s.index]
        return out


def _rows_cols(model: CompiledCircuit, x: np.ndarray, layers: Sequence[np.ndarray | None]):
    circuit = model.circuit
    xv = circuit.input_voltages(x)
    for s in model.topology.crossbars:
        yield s, circuit.row_voltages(s, xv, layers), np.asarray(layers[s.dst], dtype=np.float64)


def _crossbar_power(model: CompiledCircuit, s, rows: np.ndarray, cols: np.ndarray, need_rows: bool = False):
    """(device power (B,), wire power (B,), row currents (B, R) into the crossbar or None unless
    ``need_rows``) (W, W, A)."""
    g = model.conductances[s.index]
    if s.index in model.lines:   # the drops across each device's own cell nodes, a chunk of samples at a time
        b = rows.shape[0]
        p_dev, p_term, i_row = np.empty(b), np.empty(b), np.empty(rows.shape)
        step = max(1, _LINE_CHUNK // g.size)
        for k in range(0, b, step):
            sl = slice(k, k + step)
            d = model.device_drops(s, rows[sl], cols[sl])           # (b, R, C) V
            i_dev = g * d
            p_dev[sl] = np.einsum("brc,brc->b", i_dev, d)
            i_row[sl] = i_dev.sum(axis=2)
            p_term[sl] = (np.einsum("br,br->b", rows[sl], i_row[sl])
                          - np.einsum("bc,bc->b", cols[sl], i_dev.sum(axis=1)))
        return p_dev, p_term - p_dev, i_row
    # sum_ij G (r_i - c_j)^2 = r^2 . rowsum + c^2 . colsum - 2 r G c, without the (B, R, C) drops
    rg = rows @ g                                                    # (B, C)
    p_dev = (rows ** 2) @ g.sum(axis=1) + (cols ** 2) @ g.sum(axis=0) - 2.0 * np.einsum("bc,bc->b", rg, cols)
    i_row = rows * g.sum(axis=1) - cols @ g.T if need_rows else None
    return np.maximum(p_dev, 0.0), np.zeros(rows.shape[0]), i_row


def _diode_branches(model: CompiledCircuit, q: int, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                               np.ndarray]:
    """(x1, i_up, x2, i_low): junction voltages (V) and currents (A) of the upper and lower diodes."""
    p = model.params
    d = p.diode
    x1, x2 = v - p.v_bias_high, p.v_bias_low - v
    if d.model == "ideal":   # ideal_diode_current without np.where: x g_off + max(x - v_th, 0) (g_on - g_off)
        dg = d.g_on - d.g_off
        return (x1, x1 * d.g_off + np.maximum(x1 - d.v_th, 0.0) * dg,
                x2, x2 * d.g_off + np.maximum(x2 - d.v_th, 0.0) * dg)
    return x1, diode_branch(x1, d)[0], x2, diode_branch(x2, d)[0]


_STATIC: list = [None, None]
"""One-slot cache: (compiled circuit, its conductance sums per input crossbar); the trainer asks
for the same model three times per batch (one per phase)."""


def _static_sums(model: CompiledCircuit) -> dict[int, tuple]:
    """Per input crossbar: column sums of the signal rows, row sums of the x+ and x- rows, the bias
    rows' column-sum product with V_b and sum V_b^2 rowsum (S, S, S, A, W), and all column sums."""
    if _STATIC[0] is model:
        return _STATIC[1]
    n = model.topology.n_inputs
    out = {}
    for s in model.topology.crossbars:
        if s.src != 0 or s.index in model.lines:
            continue
        g = model.conductances[s.index]
        vb = model.circuit.bias_voltages(s)
        gp, gm, gb = g[:n], g[n:2 * n], g[2 * n:]
        out[s.index] = (gp.sum(axis=0) + gm.sum(axis=0), gp.sum(axis=1), gm.sum(axis=1), vb @ gb,
                        float((vb ** 2) @ gb.sum(axis=1)), g.sum(axis=0), {})
    _STATIC[0], _STATIC[1] = model, out
    return out


def input_terms(model: CompiledCircuit, x: np.ndarray,
                x_drive: dict[int, np.ndarray] | None = None) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per input crossbar (ideal wires), the parts of its device power that depend on the inputs only:
    ``(sum_i G_ij u_i  (B, C) A,  sum_ij G_ij u_i^2  (B,) W,  sum_i G_ij (C,) S)``, the same for every
    phase of a batch.

    With u = s +- a x on the signal rows (:attr:`CompiledCircuit.drives` = a (G+ - G-)) and the bias
    rows at V_b, one GEMM over the features: sum_i G_ij u_i = s colsum(G_sig) + x @ drive + V_b G_b.
    float32 features (the MNIST preset) run the GEMM in float32, as the solver's Norton currents do
    (relative error ~1e-7 of the energy); others in float64. ``x_drive``: ``x @ drive`` per input
    crossbar when the solver already has it (the numpy backend's Norton currents,
    :meth:`~ebana.backends.numpy_solver.NumpyBackend.cached_input_currents`), which skips the GEMM."""
    p = model.params
    x = np.atleast_2d(np.asarray(x))
    if x.dtype != np.float32:
        x = x.astype(np.float64, copy=False)
    out = {}
    for idx, (g_sig, rp, rm, vb_gb, vb2, gc, typed) in _static_sums(model).items():
        if x.dtype not in typed:
            typed[x.dtype] = (model.drives[idx].astype(x.dtype), (rp - rm).astype(x.dtype),
                              (rp + rm).astype(x.dtype))
        drive, dif, tot = typed[x.dtype]
        if x_drive is not None and idx in x_drive:
            rg = np.array(x_drive[idx], dtype=np.float64)
        else:
            rg = (x @ drive).astype(np.float64)
        rg += p.v_shift * g_sig + vb_gb
        r2g = (p.v_shift ** 2 * float(rp.sum() + rm.sum()) + 2 * p.v_shift * p.v_scale * (x @ dif)
               + p.v_scale ** 2 * ((x * x) @ tot) + vb2)
        out[idx] = (rg, np.asarray(r2g, dtype=np.float64), gc)
    return out


def dissipated_power(model: CompiledCircuit, x: np.ndarray, layers: Sequence[np.ndarray | None],
                     terms: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None) -> Dissipation:
    """Power (W) dissipated in the crossbar devices, the wires and the clamp diodes of a batch.

    ``x`` (B, n_inputs) features (tiled to the batch for stacked phases), ``layers[q]`` (B, n_q) node
    voltages (V) of a solution (:attr:`~ebana.backends.base.Solution.layers`); ``terms``: the
    :func:`input_terms` of ``x`` (computed when not given; pass them to reuse them over phases)."""
    t = model.topology
    terms = input_terms(model, x) if terms is None else terms
    circuit = model.circuit
    xv = None
    xb, wb = [], []
    for s in t.crossbars:
        cols = np.asarray(layers[s.dst], dtype=np.float64)
        if s.index in terms:   # sum_ij G (u_i - c_j)^2 = sum G u^2 - 2 c . (u G) + c^2 . colsum
            rg, r2g, gc = terms[s.index]
            p_dev = r2g - 2.0 * np.einsum("bc,bc->b", rg, cols) + (cols ** 2) @ gc
            xb.append(np.maximum(p_dev, 0.0))
            wb.append(np.zeros(cols.shape[0]))
            continue
        if xv is None and s.src == 0:   # (an input crossbar with line resistance)
            xv = circuit.input_voltages(np.atleast_2d(np.asarray(x, dtype=np.float64)))
        p_dev, p_wire, _ = _crossbar_power(model, s, circuit.row_voltages(s, xv, layers), cols)
        xb.append(p_dev)
        wb.append(p_wire)
    diodes: list[np.ndarray | None] = [None]
    for q in range(1, t.n_layers):
        v = np.asarray(layers[q], dtype=np.float64)
        if not model.layers[q].clamped:
            diodes.append(np.zeros(v.shape[0]))
            continue
        diodes.append(_diode_power(model, v))
    return Dissipation(xb, wb, diodes)


def _diode_power(model: CompiledCircuit, v: np.ndarray) -> np.ndarray:
    """Power (W, (B,)) of the clamp diodes of a layer at node voltages v (B, n) (V)."""
    p = model.params
    d = p.diode
    if d.model != "ideal":
        x1, i1, x2, i2 = _diode_branches(model, 0, v)
        return np.einsum("bj,bj->b", x1, i1) + np.einsum("bj,bj->b", x2, i2)
    # x i(x) = g_off x^2 + (g_on - g_off) x max(x - v_th, 0), for x1 = v - V_BH and x2 = V_BL - v
    x1, x2 = v - p.v_bias_high, p.v_bias_low - v
    on1 = np.maximum(x1 - d.v_th, 0.0)
    on2 = np.maximum(x2 - d.v_th, 0.0)
    ein = np.einsum
    return (d.g_off * (ein("bj,bj->b", x1, x1) + ein("bj,bj->b", x2, x2))
            + (d.g_on - d.g_off) * (ein("bj,bj->b", x1, on1) + ein("bj,bj->b", x2, on2)))


SOURCE_KINDS = ("inputs", "bias", "clamp", "nudge", "amplifiers", "bias_current")
"""Kinds of sources, as :func:`source_powers` groups them."""


def _input_row_currents(model: CompiledCircuit, s, x: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Currents (A, (B, 2 n_in)) the wordline sources drive into input crossbar ``s`` (ideal wires):
    I_i = u_i sum_j G_ij - sum_j G_ij c_j, the GEMM in the features' dtype (float32 stays float32)."""
    p = model.params
    n = model.topology.n_inputs
    g = model.conductances[s.index][:2 * n]
    dt = np.float32 if x.dtype == np.float32 else np.float64
    u = np.concatenate([p.v_shift + p.v_scale * x, p.v_shift - p.v_scale * x], axis=1)
    gc = (cols.astype(dt, copy=False) @ g.T.astype(dt)).astype(np.float64)
    return u * g.sum(axis=1) - gc


def source_powers(model: CompiledCircuit, x: np.ndarray, layers: Sequence[np.ndarray | None],
                  i_nudge: np.ndarray | None = None, *,
                  inputs: bool = True) -> dict[str, list[tuple[int, np.ndarray]]]:
    """Power (W) delivered by every single source at an operating point, by kind
    (:data:`SOURCE_KINDS`): a list of (layer the sources belong to, array (B, n_sources)).

    ``inputs``: the 2 n_in wordline sources (layer 0; each feeds every crossbar leaving the inputs);
    ``bias``: each bias row of each crossbar (the crossbar's destination layer); ``clamp``: V_BH
    and V_BL of each clamped layer (one pair per layer, shared by its diodes; V_BH absorbs the
    upper diodes' current); ``nudge``: the output nodes' current sources; ``amplifiers``: per hidden
    neuron its output stage (VCVS + offset, w I_out) and its CCCS (-alpha v I_out), in that order;
    ``bias_current``: each node's bias current source, v I_b (none without ``circuit.i_bias``).
    A negative entry is power the source absorbs. ``inputs=False`` leaves out the wordline sources
    of the input crossbars with ideal wires (their currents cost a GEMM; :func:`absorbed_power`
    finds the few that can absorb without it)."""
    circuit, t, p = model.circuit, model.topology, model.params
    x = np.atleast_2d(np.asarray(x))
    x64 = x if x.dtype == np.float64 else None     # converted when a wordline current is needed
    b = np.asarray(layers[-1]).shape[0]
    out: dict[str, list[tuple[int, np.ndarray]]] = {k: [] for k in SOURCE_KINDS}
    n = t.n_inputs
    i_in = None
    i_out = {q: np.zeros((b, t.layer_size(q))) for q in range(1, t.n_layers - 1)}
    for s in t.crossbars:
        cols = np.asarray(layers[s.dst], dtype=np.float64)
        vb = circuit.bias_voltages(s)
        g = model.conductances[s.index]
        if s.src == 0 and s.index not in model.lines:
            if inputs:
                i_cur = _input_row_currents(model, s, x, cols)
                i_in = i_cur if i_in is None else i_in + i_cur
            i_bias = vb * g[2 * n:].sum(axis=1) - cols @ g[2 * n:].T
        else:
            if s.src == 0 and x64 is None:
                x64 = x.astype(np.float64)
            rows = circuit.row_voltages(s, circuit.input_voltages(x64) if s.src == 0 else None, layers)
            _, _, i_row = _crossbar_power(model, s, rows, cols, need_rows=True)
            if s.src == 0:
                i_in = i_row[:, :s.n_rows] if i_in is None else i_in + i_row[:, :s.n_rows]
            else:
                i_out[s.src] += i_row[:, :s.n_rows]
            i_bias = i_row[:, s.n_rows:]
        if vb.size:
            out["bias"].append((s.dst, vb * i_bias))
    if i_in is not None:
        x64 = x.astype(np.float64, copy=False)
        out["inputs"].append((0, circuit.input_voltages(x64) * i_in))
    for q, io in i_out.items():
        v = np.asarray(layers[q], dtype=np.float64)
        out["amplifiers"].append((q, np.concatenate([circuit.amplifier_out(v) * io, -p.alpha * v * io], axis=1)))
    for q in range(1, t.n_layers):
        if model.layers[q].clamped:
            _, i1, _, i2 = _diode_branches(model, q, np.asarray(layers[q], dtype=np.float64))
            out["clamp"].append((q, np.stack([-p.v_bias_high * i1.sum(axis=1), p.v_bias_low * i2.sum(axis=1)], 1)))
    if i_nudge is not None:
        v = np.asarray(layers[-1], dtype=np.float64)
        out["nudge"].append((t.output_layer, v * np.asarray(i_nudge, dtype=np.float64)))
    if circuit.has_bias_currents:
        for q in range(1, t.n_layers):
            out["bias_current"].append((q, np.asarray(layers[q], dtype=np.float64) * circuit.bias_currents(q)))
    return out


def delivered_power(model: CompiledCircuit, x: np.ndarray, layers: Sequence[np.ndarray | None],
                    i_nudge: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Net power (W, each (B,)) delivered by each kind of source (:func:`source_powers`, summed).

    Their sum equals :meth:`Dissipation.total` (Tellegen) when ``layers`` satisfy KCL."""
    b = np.asarray(layers[-1]).shape[0]
    return {k: sum((a.sum(axis=1) for _, a in v), np.zeros(b))
            for k, v in source_powers(model, x, layers, i_nudge).items()}


def _input_specs(model: CompiledCircuit) -> list:
    return [s for s in model.topology.crossbars if s.src == 0 and s.index not in model.lines]


def wordline_candidates(model: CompiledCircuit, x: np.ndarray,
                        layer_sets: Sequence[Sequence[np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray]:
    """(sample, wordline) pairs whose source may absorb power in any of the phases ``layer_sets``
    (the input crossbars with ideal wires).

    A wordline at u_i drives I_i = sum_j G_ij (u_i - c_j) over the columns c of every input crossbar:
    if u_i > 0 and u_i >= max c, every term is >= 0 and u_i I_i >= 0; if u_i < 0 and u_i <= min c, every
    term is <= 0 and again u_i I_i >= 0; u_i = 0 gives 0. So only u_i strictly between 0 and the
    columns' extreme on its side can absorb. The window is taken over all phases (a superset) and
    widened by 1e-6 relative (float32 features), then tested on x itself: on MNIST (s = 0, columns
    within +-5 mV) only the few pixels in (0, 5 mV) qualify."""
    p = model.params
    specs = _input_specs(model)
    x = np.atleast_2d(np.asarray(x))
    empty = np.zeros(0, dtype=np.intp)
    if not specs or p.v_scale == 0:
        return empty, empty
    c_max = np.max([np.asarray(ls[s.dst]).max(axis=1) for ls in layer_sets for s in specs], axis=0)
    c_min = np.min([np.asarray(ls[s.dst]).min(axis=1) for ls in layer_sets for s in specs], axis=0)
    hi, lo = np.maximum(c_max, 0.0), np.minimum(c_min, 0.0)
    n = x.shape[1]
    if p.v_shift == 0:   # u = +-a x: both rows of a feature qualify only if 0 < |x| < max|c| / |a| (4 passes)
        lim = float(max(hi.max(), -lo.min())) / abs(p.v_scale)
        lim = x.dtype.type(lim * (1 + 1e-6) + 1e-30)
        # flatnonzero + divmod: the same (row-major) pairs as np.nonzero, ~5x faster on 2-D masks
        bi, fi = np.divmod(np.flatnonzero((np.abs(x) < lim) & (x != 0)), n)
        return np.concatenate([bi, bi]), np.concatenate([fi, fi + n])
    out_b, out_r = [], []
    for sign, offset in ((1.0, 0), (-1.0, n)):      # u = s + a x (x+ rows), u = s - a x (x- rows)
        k = sign * p.v_scale                        # u = s + k x
        a_, b_ = (lo - p.v_shift) / k, (hi - p.v_shift) / k
        x_lo, x_hi = np.minimum(a_, b_), np.maximum(a_, b_)
        pad = 1e-6 * np.maximum(np.abs(x_lo), np.abs(x_hi)) + 1e-30
        x0 = -p.v_shift / k                          # u = 0
        mask = (x > (x_lo - pad)[:, None]) & (x < (x_hi + pad)[:, None]) & (x != x.dtype.type(x0))
        bi, fi = np.divmod(np.flatnonzero(mask), n)
        out_b.append(bi)
        out_r.append(fi + offset)
    return np.concatenate(out_b), np.concatenate(out_r)


def _absorbed_by_wordlines(model: CompiledCircuit, x: np.ndarray, layers: Sequence[np.ndarray | None],
                           candidates: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Power (W, (B,)) absorbed by the wordline sources of the input crossbars with ideal wires:
    exact, evaluated only on the :func:`wordline_candidates` (one dot product of length C each)."""
    p = model.params
    specs = _input_specs(model)
    b = np.asarray(layers[-1]).shape[0]
    out = np.zeros(b)
    if not specs:
        return out
    bi, ri = wordline_candidates(model, x, [layers]) if candidates is None else candidates
    if bi.size == 0:
        return out
    n = model.topology.n_inputs
    xf = np.atleast_2d(np.asarray(x))
    cols = [np.asarray(layers[s.dst], dtype=np.float64) for s in specs]
    step = max(1, _LINE_CHUNK // max(c.shape[1] for c in cols))
    for k in range(0, bi.size, step):
        sb, sr = bi[k:k + step], ri[k:k + step]
        xv = xf[sb % xf.shape[0], sr % n].astype(np.float64)   # (stacked phases: sb counts every block)
        uu = np.where(sr < n, p.v_shift + p.v_scale * xv, p.v_shift - p.v_scale * xv)
        cur = np.zeros(sb.size)
        for s, c in zip(specs, cols):
            g = model.conductances[s.index][:2 * n]
            cur += uu * g[sr].sum(axis=1) - np.einsum("kc,kc->k", g[sr], c[sb])
        np.add.at(out, sb, np.maximum(-uu * cur, 0.0))
    return out


def absorbed_power(model: CompiledCircuit, x: np.ndarray, layers: Sequence[np.ndarray | None],
                   i_nudge: np.ndarray | None = None,
                   candidates: tuple[np.ndarray, np.ndarray] | None = None) -> list[np.ndarray]:
    """Power (W) the sources absorb (sum of max(-P, 0) over single sources), per layer (index 0: the
    wordline sources), each (B,): counted as dissipated (a supply does not recover it).
    ``candidates``: :func:`wordline_candidates` over the batch's phases (computed when None)."""
    b = np.asarray(layers[-1]).shape[0]
    out = [np.zeros(b) for _ in range(model.topology.n_layers)]
    for v in source_powers(model, x, layers, i_nudge, inputs=False).values():
        for q, a in v:
            out[q] += np.maximum(-a, 0.0).sum(axis=1)
    out[0] += _absorbed_by_wordlines(model, x, layers, candidates)
    return out


def phase_power(model: CompiledCircuit, x: np.ndarray, layers: Sequence[np.ndarray | None],
                i_nudge: np.ndarray | None = None, terms: dict | None = None,
                candidates: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """What the training loop counts per phase, in one pass: per layer (index 0: the wordline
    sources) the power (W, (B,)) dissipated in its devices, wires and diodes plus what its sources
    absorb; and the absorbed part alone (W, (B,)). Equal to :func:`dissipated_power` (per layer)
    + :func:`absorbed_power` (tested); it shares the row voltages, row currents and diode currents
    between the two.

    ``layers`` may hold m phases of the same inputs stacked (B = m len(x) rows, phase k in rows
    k len(x) ... (k + 1) len(x)); ``terms`` and ``candidates`` are then those of ``x`` itself (one
    block). Each row's power is the same arithmetic as for that phase alone."""
    circuit, t, p = model.circuit, model.topology, model.params
    b = np.asarray(layers[-1]).shape[0]
    n = t.n_inputs
    nx = np.atleast_2d(np.asarray(x)).shape[0]
    if b % nx:
        raise ValueError(f"{b} operating points for {nx} inputs: not a whole number of stacked phases")
    reps = b // nx
    if candidates is None:
        candidates = wordline_candidates(model, x, [[None if lq is None else lq[k * nx:(k + 1) * nx] for lq in layers]
                                                    for k in range(reps)])
    if reps > 1:
        candidates = (np.concatenate([candidates[0] + k * nx for k in range(reps)]), np.tile(candidates[1], reps))
        x_rows = np.tile(np.asarray(x), (reps, 1)) if any(
            s.src == 0 and s.index in model.lines for s in t.crossbars) else None
    else:
        x_rows = x
    terms = input_terms(model, x, None) if terms is None else terms
    per = [np.zeros(b) for _ in range(t.n_layers)]
    absorbed = np.zeros(b)

    def absorb(q: int, pw: np.ndarray) -> None:
        nonlocal absorbed
        a = np.maximum(-pw, 0.0).sum(axis=1)
        per[q] += a
        absorbed = absorbed + a

    v = [None] + [np.asarray(layers[q], dtype=np.float64) for q in range(1, t.n_layers)]
    w = {q: circuit.amplifier_out(v[q]) for q in range(1, t.n_layers - 1)}
    i_out = {q: None for q in w}
    i_in = None
    for s in t.crossbars:
        cols = v[s.dst]
        g = model.conductances[s.index]
        vb = circuit.bias_voltages(s)
        if s.index in terms:
            rg, r2g, gc = terms[s.index]
            rgc = np.einsum("bc,mbc->mb", rg, cols.reshape(reps, nx, -1)).ravel()
            per[s.dst] += np.maximum(np.tile(r2g, reps) - 2.0 * rgc + (cols ** 2) @ gc, 0.0)
            if vb.size:
                gb = g[2 * n:]
                absorb(s.dst, vb * (vb * gb.sum(axis=1) - cols @ gb.T))
            continue
        if s.src == 0:
            rows = circuit.row_voltages(s, circuit.input_voltages(np.asarray(x_rows, dtype=np.float64)), layers)
        else:
            rows = w[s.src] if vb.size == 0 else np.concatenate(
                [w[s.src], np.broadcast_to(vb, (b, vb.size))], axis=1)
        p_dev, p_wire, i_row = _crossbar_power(model, s, rows, cols, need_rows=True)
        per[s.dst] += p_dev + p_wire
        if vb.size:
            absorb(s.dst, vb * i_row[:, s.n_rows:])
        sig = i_row[:, :s.n_rows]
        if s.src == 0:
            i_in = sig if i_in is None else i_in + sig
        else:
            i_out[s.src] = sig if i_out[s.src] is None else i_out[s.src] + sig
    if i_in is not None:   # input crossbars with line resistance: every wordline's current is known
        absorb(0, circuit.input_voltages(np.asarray(x_rows, dtype=np.float64)) * i_in)
    else:
        a = _absorbed_by_wordlines(model, x, layers, candidates)
        per[0] += a
        absorbed = absorbed + a
    for q, io in i_out.items():
        if io is not None:
            absorb(q, w[q] * io)
            absorb(q, -p.alpha * v[q] * io)
    for q in range(1, t.n_layers):
        if not model.layers[q].clamped:
            continue
        x1, i1, x2, i2 = _diode_branches(model, q, v[q])
        per[q] += np.einsum("bj,bj->b", x1, i1) + np.einsum("bj,bj->b", x2, i2)
        absorb(q, np.stack([-p.v_bias_high * i1.sum(axis=1), p.v_bias_low * i2.sum(axis=1)], axis=1))
    if i_nudge is not None:
        absorb(t.output_layer, v[-1] * np.asarray(i_nudge, dtype=np.float64))
    if circuit.has_bias_currents:
        for q in range(1, t.n_layers):
            absorb(q, v[q] * circuit.bias_currents(q))
    return per, absorbed


def periphery_counts(model_or_topology, n_phases: int) -> dict[str, int]:
    """Per training sample: DAC and ADC conversions and amplifier-phases (see the module docstring)."""
    t = getattr(model_or_topology, "topology", model_or_topology)
    nodes = sum(t.layer_size(q) for q in range(1, t.n_layers))
    amps = sum(t.layer_size(q) for q in range(1, t.n_layers - 1))
    return {"dac": 2 * t.n_inputs + 2 * t.n_classes * (n_phases - 1), "adc": nodes * n_phases,
            "amp_phases": amps * n_phases}


def chip_latency(topology, cfg: EnergyConfig, n_phases: int, batch_size: int,
                 t_pulses: float | None = None) -> dict[str, float]:
    """Time (s) per training sample on the chip, and its parts.

    ``dac`` = t_dac (inputs) + (P - 1) t_dac (nudge currents); ``settle`` = P t_settle; ``adc`` =
    P min(nodes_per_adc, largest layer) t_adc (every layer has its own ADCs, all in parallel);
    ``program`` = slots x t_write / batch (one update per batch; slots = 1 parallel, or the largest
    crossbar's row count row by row), or with ``program = "pulses"`` the measured write time per
    sample ``t_pulses`` (s; the device run's write time over its samples). ``total`` is their sum."""
    t = topology
    widest = max(t.layer_size(q) for q in range(1, t.n_layers))
    if cfg.program == "pulses":
        if t_pulses is None:
            raise ValueError("energy.program = 'pulses' needs the measured write time of a device run")
        program = float(t_pulses)
    else:
        slots = 1 if cfg.program == "parallel" else max(s.shape[0] for s in t.crossbars)
        program = slots * cfg.t_write / max(batch_size, 1)
    out = {"dac": n_phases * cfg.t_dac, "settle": n_phases * cfg.t_settle,
           "adc": n_phases * min(cfg.nodes_per_adc, widest) * cfg.t_adc, "program": program}
    out["total"] = sum(out.values())
    return out


def digital_reference(topology, cfg: EnergyConfig) -> dict[str, float]:
    """FLOPs, energy (J) and time (s) per sample of the same training step on a digital accelerator:
    ``flops_per_weight`` x (crossbar devices: one weight per device; masked crossbars count their mask's
    cells), at ``e_flop`` and ``flops_rate``."""
    n_w = sum(topology.n_devices(s.index) for s in topology.crossbars)
    flops = cfg.flops_per_weight * n_w
    return {"weights": n_w, "flops": flops, "e": flops * cfg.e_flop, "t": flops / cfg.flops_rate}


@dataclass
class EnergyTally:
    """Energy (J) of the training solves of one epoch so far; JSON-serialisable (checkpoints)."""

    free: float = 0.0
    nudged: float = 0.0
    sources: float = 0.0
    """Part of free + nudged absorbed by sources (J)."""
    layers: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    phases: int = 0
    """Phase solves per sample (2 one-sided, 3 centered)."""

    def add(self, model: CompiledCircuit, cfg: EnergyConfig, x: np.ndarray,
            solutions: Sequence[tuple[str, object, np.ndarray | None]],
            x_drive: dict[int, np.ndarray] | None = None) -> None:
        """Add the phase energy of a batch: ``solutions`` = [(``"free"`` | ``"nudged"``, Solution,
        its nudging currents (B, 2K) A or None)]; ``x_drive`` see :func:`input_terms`. Per phase:
        (dissipated power + power absorbed by sources) x t_settle, i.e. what the delivering sources
        supply."""
        t_s = cfg.t_settle
        b = len(x)
        for _, sol, _ in solutions:
            if sol.batch != b:
                raise ValueError(f"a phase of {sol.batch} samples in a batch of {b}")
        terms = input_terms(model, x, x_drive)      # every phase of the batch has the inputs x
        cands = wordline_candidates(model, x, [sol.layers for _, sol, _ in solutions])
        # every phase in one stacked pass (the same per-row arithmetic, a third of the numpy calls)
        n_l = model.topology.n_layers
        stacked = [None] + [np.concatenate([np.asarray(sol.layers[q], dtype=np.float64) for _, sol, _ in solutions])
                            for q in range(1, n_l)]
        i_nudges = [i for _, _, i in solutions]
        i_all = None
        if any(i is not None for i in i_nudges):
            k = next(i for i in i_nudges if i is not None).shape[1]
            i_all = np.concatenate([np.zeros((b, k)) if i is None else np.asarray(i, dtype=np.float64)
                                    for i in i_nudges])
        per, absorbed = phase_power(model, x, stacked, i_all, terms, cands)
        for j, (kind, _, _) in enumerate(solutions):
            rows = slice(j * b, (j + 1) * b)
            e_layers = [float(pq[rows].sum()) * t_s for pq in per]
            self.sources += float(absorbed[rows].sum()) * t_s
            if kind == "free":
                self.free += sum(e_layers)
            else:
                self.nudged += sum(e_layers)
            for q, e in enumerate(e_layers):
                key = f"e_read_l{q}"
                self.layers[key] = self.layers.get(key, 0.0) + e
        self.samples += b
        self.phases = len(solutions)

    def metrics(self, model: CompiledCircuit, cfg: EnergyConfig, e_write: float | None,
                batch_size: int = 1, t_write: float | None = None) -> dict[str, float]:
        """The epoch's energy columns (:data:`ENERGY_FIELDS` and ``e_read_l{q}``); ``t_write``: the
        epoch's measured write time (s, device runs), used by ``program = "pulses"``."""
        c = periphery_counts(model, max(self.phases, 1))
        n = self.samples
        row = {"e_read": self.free + self.nudged, "e_read_free": self.free, "e_read_nudged": self.nudged,
               "e_read_sources": self.sources,
               "e_dac": n * c["dac"] * cfg.e_dac, "e_adc": n * c["adc"] * cfg.e_adc,
               "e_amp": n * c["amp_phases"] * cfg.t_settle * cfg.p_amp}
        # NaN when the write energy is not integrated (device.energy = false): the total is unknown
        w = 0.0 if e_write is None else float(e_write)
        row["e_energy"] = row["e_read"] + row["e_dac"] + row["e_adc"] + row["e_amp"] + w
        t_pulses = None if t_write is None else float(t_write) / max(n, 1)
        lat = chip_latency(model.topology, cfg, max(self.phases, 1), batch_size, t_pulses)
        dig = digital_reference(model.topology, cfg)
        row.update(t_sample=lat["total"], t_chip=n * lat["total"], e_digital=n * dig["e"], t_digital=n * dig["t"])
        row.update(sorted(self.layers.items(), key=lambda kv: int(kv[0][8:])))
        return row
