"""Branch currents of every element at one DC operating point, from the node voltages.

:func:`branch_currents` gives, for a batch of solved states (the wordline voltages and the neuron
node voltages of every layer), the current (A) through every crossbar device, clamp diode,
amplifier port and voltage source of the circuit (:mod:`ebana.circuit`, names as in
:mod:`ebana.netlist`). Every current is a function of the node voltages alone; at an operating
point they satisfy Kirchhoff's current law at every neuron node (:func:`kcl_at_neurons`):

    sum_(c -> q) sum_i I_dev[c][i, j] - I_up[j] + I_low[j] - I_amp_in[j] + I_nudge[j] + I_b[j] = 0.

Sign conventions (keys of the returned dict; ``q`` a layer >= 1, ``c`` a crossbar index):

- ``i{c}`` (B, rows, cols): device (i, j), from its row into its column, G (row - column) (with
  line resistance across its own cell nodes).
- ``i_diode_up_l{q}`` (B, n_q): upper clamp diode, from the neuron node into V_BH
  (ngspice ``@bdh{q}_{j}[i]``, Shockley ``@dh{q}_{j}[id]``); ``i_diode_low_l{q}``: lower clamp
  diode, from V_BL into the node (``@bdl..``, ``@dl..``). Only for clamped layers.
- ``i_amp_out_l{q}`` (B, n_q), hidden layers: the amplifier's output current I_out, out of its
  output ``a{q}_{j}`` into the wordlines it drives (every crossbar leaving layer q); it flows
  through the offset source, ngspice ``i(VA{q}_{j}) = -I_out``. ``i_amp_in_l{q}``: the current
  the CCCS draws out of the neuron node, alpha I_out (the amplifier's input-side current).
- ``i_vin`` (B, 2 n_inputs): the wordline sources [x+ block, x- block], the current each drives
  out of its + terminal into the circuit (all crossbars leaving the inputs);
  ngspice ``i(VIN{i}P/N)`` is its negative.
- ``i_vbias{c}`` (B, n_bias): each bias-row source of crossbar c, out of its + terminal
  (ngspice ``i(VB{c}_{k})`` is its negative).
- ``i_vbh_l{q}``, ``i_vbl_l{q}`` (B,): the clamp bias sources of layer q, out of their + terminal:
  -sum_j I_up and +sum_j I_low (ngspice ``i(VBH{q})``, ``i(VBL{q})``: their negatives).
- ``i_bias_l{q}`` (B, n_q), only with ``circuit.i_bias``: the bias current source into each node
  (ngspice ``IB{q}_{j}``, from ground into the node).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ebana.circuit import CompiledCircuit, diode_branch, ideal_diode_current

__all__ = ["branch_currents", "kcl_at_neurons"]


def _diodes(model: CompiledCircuit, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) clamp diode currents (A) at node voltages v (V), as :meth:`diode_currents`."""
    p = model.params
    d = p.diode
    x1, x2 = v - p.v_bias_high, p.v_bias_low - v
    if d.model == "ideal":
        return ideal_diode_current(x1, d), ideal_diode_current(x2, d)
    return diode_branch(x1, d)[0], diode_branch(x2, d)[0]


def branch_currents(model: CompiledCircuit, wordlines: np.ndarray,
                    layers: Sequence[np.ndarray | None]) -> dict[str, np.ndarray]:
    """Every branch current (A) of a batch of states (module docstring for keys and signs).

    ``wordlines`` (B, 2 n_inputs) V: the input source voltages (:meth:`Circuit.input_voltages`);
    ``layers[q]`` (B, n_q) V the neuron node voltages, q >= 1 (``layers[0]`` is ignored)."""
    circuit, t, p = model.circuit, model.topology, model.params
    wordlines = np.atleast_2d(np.asarray(wordlines, dtype=np.float64))
    layers = [None] + [np.asarray(v, dtype=np.float64) for v in layers[1:]]
    b = wordlines.shape[0]
    out: dict[str, np.ndarray] = {"i_vin": np.zeros((b, 2 * t.n_inputs))}
    amp_out = {q: np.zeros((b, t.layer_size(q))) for q in range(1, t.n_layers) if q != t.output_layer}
    for s in t.crossbars:
        rows = circuit.row_voltages(s, wordlines, layers)
        i_dev = model.conductances[s.index] * model.device_drops(s, rows, layers[s.dst])
        out[f"i{s.index}"] = i_dev
        i_row = i_dev.sum(axis=2)       # each row's current into the crossbar (the wires conserve it)
        if s.src == 0:
            out["i_vin"] += i_row[:, :s.n_rows]
        else:
            amp_out[s.src] += i_row[:, :s.n_rows]
        out[f"i_vbias{s.index}"] = i_row[:, s.n_rows:]
    for q in range(1, t.n_layers):
        if model.layers[q].clamped:
            up, low = _diodes(model, layers[q])
            out[f"i_diode_up_l{q}"], out[f"i_diode_low_l{q}"] = up, low
            out[f"i_vbh_l{q}"], out[f"i_vbl_l{q}"] = -up.sum(axis=1), low.sum(axis=1)
        if circuit.has_bias_currents:
            out[f"i_bias_l{q}"] = np.broadcast_to(circuit.bias_currents(q), (b, t.layer_size(q))).copy()
        if q in amp_out:
            out[f"i_amp_out_l{q}"] = amp_out[q]
            out[f"i_amp_in_l{q}"] = p.alpha * amp_out[q]
    return out


def kcl_at_neurons(model: CompiledCircuit, currents: dict[str, np.ndarray],
                   i_nudge: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer q >= 1, (net current into each neuron node (B, n_q) A, the sum of the magnitudes
    of the currents meeting there (B, n_q) A) from :func:`branch_currents` output (``i_nudge``
    (B, 2K) A: the output nodes' current sources). The net is 0 at an operating point."""
    t = model.topology
    out = []
    for q in range(1, t.n_layers):
        dev = [currents[f"i{s.index}"] for s in t.incoming(q)]
        terms = [d.sum(axis=1) for d in dev]
        scale = sum(np.abs(d).sum(axis=1) for d in dev)
        other = []
        if f"i_diode_up_l{q}" in currents:
            other += [-currents[f"i_diode_up_l{q}"], currents[f"i_diode_low_l{q}"]]
        if f"i_amp_in_l{q}" in currents:
            other.append(-currents[f"i_amp_in_l{q}"])
        if f"i_bias_l{q}" in currents:
            other.append(currents[f"i_bias_l{q}"])
        if q == t.output_layer and i_nudge is not None:
            other.append(np.asarray(i_nudge, dtype=np.float64))
        out.append((sum(terms + other), scale + sum(np.abs(x) for x in other)))
    return out
