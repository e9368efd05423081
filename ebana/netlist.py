"""Render a compiled circuit (:meth:`~ebana.circuit.Circuit.compile`) as SPICE text that stock
``ngspice -b`` runs. Values come from the compiled circuit; this module owns the names.

Names are deterministic and readable (all lower-case in ngspice):

=====================  ==========================================================
``in{i}p / in{i}n``    wordline nodes of feature i (sources ``VIN{i}P/N``)
``b{c}_{k}``           bias row k of crossbar c (source ``VB{c}_{k}``)
``h{l}_{j}``           neuron node j of hidden layer l
``out{k}p / out{k}n``  output nodes of class k (nudge sources ``INUDGE{k}P/N``)
``a{l}_{j}``           amplifier output of hidden neuron (l, j)
``R{c}_{i}_{j}``       crossbar device, row i -> column j of crossbar c
``bh{l} / bl{l}``      clamp bias nodes of layer l (sources ``VBH{l}``, ``VBL{l}``)
``IB{l}_{j}``          bias current source into neuron node j of layer l (``circuit.i_bias``)
=====================  ==========================================================

With line resistance (``circuit.r_wordline``, ``r_bitline``, ``r_driver``, ``r_sense``; see
:mod:`ebana.lines`) device ``R{c}_{i}_{j}`` sits between its own cell nodes:

=====================  ==========================================================
``r{c}_{i}_{j}``       row node of device (i, j) on wordline i of crossbar c
``c{c}_{i}_{j}``       column node of device (i, j) on bitline j
``RD{c}_{i}``          driver resistance: row i's source -> ``r{c}_{i}_0`` (driven from the left)
``RW{c}_{i}_{j}``      wordline segment ``r{c}_{i}_{j-1}`` - ``r{c}_{i}_{j}``
``RB{c}_{i}_{j}``      bitline segment ``c{c}_{i}_{j}`` - ``c{c}_{i+1}_{j}``
``RS{c}_{j}``          sense resistance: ``c{c}_{R-1}_{j}`` (bottom end) -> neuron node of column j
=====================  ==========================================================

A zero resistance is not drawn: its two nodes are one (the lower-numbered cell's name, or the
source / neuron node itself).

With ``norton=True`` every crossbar driven by the input sources is replaced by its exact
Norton/Thevenin equivalent per column: ``VN{c}_{j}`` (V_eq = sum_i G_ij u_i / sum_i G_ij)
in series with ``RN{c}_{j}`` (1/sum_i G_ij). Node voltages are identical; the op is
~1000x faster on MNIST-size circuits because Sparse's reordering of the dense crossbar
dominates ngspice's time. With line resistance the columns are coupled and there is no
per-column equivalent: ``norton`` is then ignored (the full array is written).
"""

from __future__ import annotations

import math
import re

import numpy as np

from ebana.circuit import GMIN, Circuit, CompiledCircuit
from ebana.errors import NetlistError
from ebana.lines import LineResistance, col_cell, row_cell
from ebana.topology import CrossbarSpec

__all__ = ["render", "node_names", "row_node", "comment", "summarize", "control_blocks", "SPICE_OPTIONS",
           "resistor_name", "bias_source_name",
           "norton_names", "norton_columns", "input_source_name", "nudge_source_name", "cell_nodes"]

SPICE_OPTIONS = ".options reltol=1e-9 vntol=1e-12 abstol=1e-15 gmin={gmin:g}"


def comment(text: str) -> str:
    """``text`` as one safe SPICE comment line: ASCII, control characters and newlines escaped
    (a newline in a title would otherwise start a netlist line, e.g. a ``.control`` block)."""
    return "* " + text.encode("unicode_escape").decode("ascii")


def _f(v: float) -> str:
    """A float in full double precision; NetlistError for NaN or inf (never written into a netlist)."""
    v = float(v)
    if not math.isfinite(v):
        raise NetlistError(f"refusing to write the non-finite value {v} into a netlist (a circuit parameter, "
                           f"conductance or input overflowed)")
    return repr(v)


# ---------------------------------------------------------------------- element names
# the one place that names elements: render() writes them, the ngspice backend alters them
def resistor_name(crossbar: int, i: int, j: int) -> str:
    """Crossbar device, row i -> column j."""
    return f"R{crossbar}_{i}_{j}"


def cell_nodes(lines: LineResistance, spec: CrossbarSpec, rows: list[str], cols: list[str],
               i: int, j: int) -> tuple[str, str]:
    """(row node, column node) of device (i, j) of a crossbar with line resistance; ``rows``: the
    nodes driving its wordlines, ``cols``: its neuron nodes (zero resistances join nodes)."""
    c = spec.index
    kind, a, b = row_cell(lines, i, j)
    rn = rows[i] if kind == "terminal" else f"r{c}_{a}_{b}"
    kind, a, b = col_cell(lines, spec.shape[0], i, j)
    cn = cols[j] if kind == "terminal" else f"c{c}_{a}_{b}"
    return rn, cn


def norton_names(crossbar: int, j: int) -> tuple[str, str]:
    """(source, resistor) of the Norton/Thevenin equivalent of column j of an input crossbar."""
    return f"VN{crossbar}_{j}", f"RN{crossbar}_{j}"


def norton_columns(topology, spec) -> np.ndarray:
    """Columns of an input crossbar that have a Norton equivalent: those with a device (a masked
    crossbar of a graph network may leave a column unconnected: no source, no resistor)."""
    mask = topology.mask(spec.index)
    return np.arange(spec.n_cols) if mask is None else np.flatnonzero(mask.any(axis=0))


def input_source_name(i: int, positive: bool) -> str:
    """DC source of wordline x+ (positive) or x- of feature i."""
    return f"VIN{i}{'P' if positive else 'N'}"


def nudge_source_name(k: int) -> str:
    """Nudging current source of output node k (interleaved V+, V- per class)."""
    return f"INUDGE{k // 2}{'PN'[k % 2]}"


def bias_source_name(layer: int, j: int) -> str:
    """DC bias current source into neuron node j of ``layer`` (only with ``circuit.i_bias``)."""
    return f"IB{layer}_{j}"


def node_names(circuit: Circuit, layer: int) -> list[str]:
    """Names of the neuron nodes of ``layer`` (>= 1), in solution order."""
    t = circuit.topology
    if layer == t.output_layer:
        return [f"out{k}{s}" for k in range(t.n_classes) for s in "pn"]
    return [f"h{layer}_{j}" for j in range(t.layer_size(layer))]


def row_node(circuit: Circuit, spec: CrossbarSpec, i: int) -> str:
    """Node driving row i of a crossbar."""
    t = circuit.topology
    if i >= spec.n_rows:
        return f"b{spec.index}_{i - spec.n_rows}"
    if spec.src == 0:
        n = t.n_inputs
        return f"in{i % n}{'p' if i < n else 'n'}"
    return f"a{spec.src}_{i}"


def render(model: CompiledCircuit | Circuit, x: np.ndarray, i_nudge: np.ndarray | None = None, *,
           norton: bool = False, title: str = "ebana EqProp crossbar network",
           analysis: bool = True) -> str:
    """SPICE netlist of one sample of a compiled circuit (a :class:`Circuit` is compiled with its
    own conductances).

    ``x``: (n_inputs,) normalised features; ``i_nudge``: (2*n_classes,) currents (A) injected
    into the output nodes (None or zeros for the free phase).
    """
    if isinstance(model, Circuit):
        model = model.compile()
    circuit = model.circuit
    t, p = circuit.topology, circuit.params
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size != t.n_inputs:
        raise NetlistError(f"sample has {x.size} features, the network expects {t.n_inputs}")
    i_nudge = np.zeros(2 * t.n_classes) if i_nudge is None else np.asarray(i_nudge, float).reshape(-1)
    if i_nudge.size != 2 * t.n_classes:
        raise NetlistError(f"nudge has {i_nudge.size} currents, expected {2 * t.n_classes}")
    u = circuit.input_voltages(x[None, :])[0]
    norton = norton and not model.lines     # line resistance couples the columns: no Norton folding
    d = p.diode
    lines = [comment(title), f"* topology {t.describe()}; diode {d.model}; gain {p.gain}, cccs {p.alpha}",
             SPICE_OPTIONS.format(gmin=GMIN)]
    if d.lib:   # the card only, from its parsed parameters: nothing else of the file reaches ngspice
        lines.append(comment(f"diode model card {d.card} of {d.lib}, re-written from its parameters"))
        lines.append(_card_line(d))
    elif d.model == "shockley":
        rs = f" rs={_f(d.r_s)}" if d.r_s else ""
        lines.append(f".model dclamp d(is={_f(d.i_s)} n={_f(d.n)}{rs})")

    if norton:
        lines.append("* ---- layer 0: input wordlines folded into the Norton equivalents below "
                     "(x+ = s + a*x, x- = s - a*x)")
    else:
        lines.append("* ---- layer 0: input wordlines x+ = s + a*x, x- = s - a*x")
        if p.line_compensation != "none" and p.lines.on:
            f = " ".join(f"{v:.6g}" for v in circuit.row_drive)
            bound = "" if p.line_compensation_max is None else f", at most {p.line_compensation_max:.6g}"
            lines.append(f"* line compensation {p.line_compensation}: x+- = s +- f*a*x, f per wordline "
                         f"(x+ block, x- block{bound}) = {f}")
        for i in range(t.n_inputs):
            lines.append(f"{input_source_name(i, True)} in{i}p 0 dc {_f(u[i])}")
            lines.append(f"{input_source_name(i, False)} in{i}n 0 dc {_f(u[t.n_inputs + i])}")

    for layer in range(1, t.n_layers):
        is_out = layer == t.output_layer
        names = node_names(circuit, layer)
        kind = "output layer (V+, V- per class)" if is_out else "hidden layer"
        for spec in t.incoming(layer):
            lines.append(f"* ---- crossbar {spec.index}: layer {spec.src} -> {kind} {layer}, "
                         f"{spec.shape[0]}x{spec.shape[1]} devices")
            if not (norton and spec.src == 0):
                for k, vb in enumerate(circuit.bias_voltages(spec)):
                    lines.append(f"VB{spec.index}_{k} b{spec.index}_{k} 0 dc {_f(vb)}")
            if norton and spec.src == 0:
                veq, req = model.norton_equivalent(spec, u)
                for j in norton_columns(t, spec):
                    nj = names[j]
                    vn, rn = norton_names(spec.index, j)
                    lines.append(f"{vn} n{spec.index}_{j} 0 dc {_f(veq[j])}")
                    lines.append(f"{rn} n{spec.index}_{j} {nj} {_f(req[j])}")
                continue
            rows = [row_node(circuit, spec, i) for i in range(spec.shape[0])]
            mask = t.mask(spec.index)
            if spec.index in model.lines:   # wires over every cell; a masked crossbar's devices on its mask
                with np.errstate(divide="ignore"):
                    res = model.resistances(spec.index)
                lines += _line_crossbar(p.lines, spec, rows, names, res, mask)
                continue
            if mask is not None:        # locally connected / graph: a resistor only where there is a device
                lines += _local_crossbar(t, spec, rows, names, model.conductances[spec.index], mask)
                continue
            res = model.resistances(spec.index)
            for i, ri in enumerate(rows):
                ri_res = res[i]
                for j, nj in enumerate(names):
                    lines.append(f"{resistor_name(spec.index, i, j)} {ri} {nj} {_f(ri_res[j])}")
        if not is_out or p.output_diodes:
            lines.append(f"* ---- {kind} {layer}: clamp diodes to [{p.v_clamp_low}, {p.v_clamp_high}] V")
            lines.append(f"VBH{layer} bh{layer} 0 dc {_f(p.v_bias_high)}")
            lines.append(f"VBL{layer} bl{layer} 0 dc {_f(p.v_bias_low)}")
            for j, nj in enumerate(names):
                lines += _diode(f"H{layer}_{j}", nj, f"bh{layer}", d)
                lines += _diode(f"L{layer}_{j}", f"bl{layer}", nj, d)
        if circuit.has_bias_currents:
            lines.append(f"* ---- {kind} {layer}: bias current sources (A into each node)")
            i_b = circuit.bias_currents(layer)
            for j, nj in enumerate(names):
                lines.append(f"{bias_source_name(layer, j)} 0 {nj} dc {_f(i_b[j])}")
        if not is_out:
            lines.append(f"* ---- hidden layer {layer}: bidirectional amplifiers, "
                         f"w = {p.cm} + {p.gain}*(v - {p.cm}), back-current x{p.alpha}")
            offset = circuit.amplifier_offset
            for j, nj in enumerate(names):
                lines.append(f"E{layer}_{j} a{layer}_{j}e 0 {nj} 0 {_f(p.gain)}")
                lines.append(f"VA{layer}_{j} a{layer}_{j} a{layer}_{j}e dc {_f(offset)}")
                lines.append(f"F{layer}_{j} 0 {nj} VA{layer}_{j} {_f(p.alpha)}")
        else:
            lines.append("* ---- nudging current sources (current into each output node)")
            for j, nj in enumerate(names):
                lines.append(f"{nudge_source_name(j)} 0 {nj} dc {_f(i_nudge[j])}")
    if analysis:
        lines.append(".op")
    lines.append(".end")
    return "\n".join(lines) + "\n"


def _local_crossbar(t, spec: CrossbarSpec, rows: list[str], cols: list[str], g: np.ndarray,
                    mask: np.ndarray) -> list[str]:
    """A locally connected / convolutional / pooling crossbar, unrolled: one resistor per device
    (absent cells are open circuits and are not written)."""
    layer = t.local_layer(spec.index)
    if layer is None:           # a graph network's crossbar: the blocks of its edges
        fixed, n_par = t.fixed_cells(spec.index), t.n_parameters(spec.index)
        out = [f"* graph connectivity: {int(mask.sum())} devices of {mask.size} cells"
               + (f", {n_par} trained parameters (copies of a shared conv weight programmed alike)"
                  if n_par < int(mask.sum()) - (0 if fixed is None else int(fixed.sum())) else "")
               + ("" if fixed is None else f", {int(fixed.sum())} fixed average-pooling devices at g_max")]
    else:
        out = [f"* {layer.kind} {layer.text}: {'x'.join(map(str, layer.in_shape))} -> "
               f"{'x'.join(map(str, layer.out_shape))}, {int(mask.sum())} devices of {mask.size} cells"
               + (", copies of a kernel weight programmed alike" if layer.kind == "conv" else "")]
    for i, j in zip(*np.nonzero(mask)):
        out.append(f"{resistor_name(spec.index, i, j)} {rows[i]} {cols[j]} {_f(1.0 / g[i, j])}")
    return out


def _line_crossbar(lr: LineResistance, spec: CrossbarSpec, rows: list[str], cols: list[str],
                   res: np.ndarray, mask: np.ndarray | None = None) -> list[str]:
    """A crossbar with line resistance: every device between its own cell nodes. ``mask`` (a locally
    connected / conv / graph crossbar): the wire segments run over every cell, but only the mask
    cells hold a device (absent cells are open circuits; their cell nodes hang on the wires only)."""
    c, (n_r, n_c) = spec.index, spec.shape
    out = [f"* line resistance: wordlines driven from the left (column 0) through r_driver={lr.r_driver!r} "
           f"ohm, r_wordline={lr.r_wordline!r} ohm per cell; bitlines joined to their neuron node at the bottom "
           f"(row {n_r - 1}) through r_sense={lr.r_sense!r} ohm, r_bitline={lr.r_bitline!r} ohm per cell"]
    if mask is not None:
        out.append(f"* masked crossbar: {int(mask.sum())} devices of {mask.size} cells, wires over every cell")
    has = np.ones((n_r, n_c), dtype=bool) if mask is None else mask
    nodes = [[cell_nodes(lr, spec, rows, cols, i, j) for j in range(n_c)] for i in range(n_r)]
    for i in range(n_r):
        out.append(f"* wordline {i} of crossbar {c}, driven by {rows[i]}")
        if lr.r_driver > 0:
            out.append(f"RD{c}_{i} {rows[i]} {nodes[i][0][0]} {_f(lr.r_driver)}")
        if lr.r_wordline > 0:
            out += [f"RW{c}_{i}_{j} {nodes[i][j - 1][0]} {nodes[i][j][0]} {_f(lr.r_wordline)}" for j in range(1, n_c)]
        out += [f"{resistor_name(c, i, j)} {nodes[i][j][0]} {nodes[i][j][1]} {_f(res[i, j])}" for j in range(n_c)
                if has[i, j]]
    for j in range(n_c):
        out.append(f"* bitline {j} of crossbar {c}, sensed at the bottom by {cols[j]}")
        if lr.r_bitline > 0:
            out += [f"RB{c}_{i}_{j} {nodes[i][j][1]} {nodes[i + 1][j][1]} {_f(lr.r_bitline)}" for i in range(n_r - 1)]
        if lr.r_sense > 0:
            out.append(f"RS{c}_{j} {nodes[n_r - 1][j][1]} {cols[j]} {_f(lr.r_sense)}")
    return out


def _card_line(d) -> str:
    """``.model NAME d(k=v ...)`` of a ``circuit.diode.lib`` card (:attr:`DiodeParams.card_params`):
    a validated name and numbers only."""
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", d.card) or not all(re.fullmatch(r"[a-z][a-z0-9]*", k)
                                                                  for k, _ in d.card_params):
        raise NetlistError(f"circuit.diode.card = {d.card!r}: cannot be written into a netlist")
    return f".model {d.card} d({' '.join(f'{k}={_f(v)}' for k, v in d.card_params)})"


def _diode(name: str, anode: str, cathode: str, d) -> list[str]:
    """One clamp diode from anode to cathode."""
    if d.model == "shockley":
        return [f"D{name} {anode} {cathode} {d.card or 'dclamp'}"]
    v = f"v({anode},{cathode})"
    return [f"BD{name} {anode} {cathode} I = {v} < {_f(d.v_th)} ? {v}*{_f(d.g_off)} : "
            f"{_f(d.v_th * d.g_off)} + ({v}-{_f(d.v_th)})*{_f(d.g_on)}"]


def control_blocks(text: str) -> list[int]:
    """Line numbers (1-based) of ``.control`` / ``.exec`` blocks: commands ``ngspice -b`` runs,
    shell commands included. ebana never writes one."""
    return [n for n, line in enumerate(text.splitlines(), start=1)
            if line.strip().lower().startswith((".control", ".exec"))]


def include_lines(text: str) -> list[int]:
    """Line numbers (1-based) of ``.include`` / ``.inc`` / ``.lib`` lines: files ngspice reads whose
    content (``.control`` blocks included) this netlist does not show. ebana's circuit netlists hold
    none (its device example decks include their own ``.sub`` files)."""
    return [n for n, line in enumerate(text.splitlines(), start=1)
            if line.strip().lower().split(maxsplit=1)[:1] in ([".include"], [".inc"], [".lib"])]


def summarize(text: str) -> list[str]:
    """Human-readable counts of a SPICE netlist: elements by kind, nodes, layer blocks.

    Starts with a warning when the netlist holds ``.control`` blocks (see :func:`control_blocks`)."""
    kinds = {"R": "resistors", "V": "voltage sources", "I": "current sources", "E": "VCVS", "F": "CCCS",
             "B": "behavioural sources", "D": "diodes"}
    counts: dict[str, int] = {}
    nodes: set[str] = set()
    blocks = []
    title = text.splitlines()[0] if text else ""
    for line in text.splitlines()[1:]:
        s = line.strip()
        if not s:
            continue
        if s.startswith("* ----"):
            blocks.append(s[6:].strip())
            continue
        if s[0] in "*.+":
            continue
        k = s[0].upper()
        counts[k] = counts.get(k, 0) + 1
        parts = s.split()
        if len(parts) >= 3:
            nodes.update(n.lower() for n in parts[1:3])
    nodes.discard("0")
    out = []
    ctl = control_blocks(text)
    if ctl:
        out.append(f"WARNING: .control block at line {', '.join(map(str, ctl[:5]))}: ngspice -b runs its "
                   f"commands (shell commands too); ebana never writes one - do not run this netlist unread")
    inc = include_lines(text)
    if inc:
        out.append(f"WARNING: .include/.lib at line {', '.join(map(str, inc[:5]))}: ngspice reads another file "
                   f"whose content is not shown here (it may hold .control blocks): read that file too")
    out += [f"title: {title.lstrip('* ')}", f"nodes: {len(nodes)}"]
    out += [f"{kinds.get(k, k)}: {n}" for k, n in sorted(counts.items())]
    out += ["blocks:"] + [f"  {b}" for b in blocks]
    return out
