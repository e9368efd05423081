"""EqProp gradient from squared voltage drops across every crossbar device (pure).

For the circuit energy E (see :mod:`ebana.circuit`), dE/dG_ij = w_q * (dV_ij)^2 / 2 with
dV_ij = V_row(i) - V_col(j). Nudging the outputs with I = -beta dL/dV gives, to first order,
F = E + w_L beta L, hence the EqProp estimate

    dL/dG_ij = (w_q / w_L) * mean_batch[(dV^a_ij)^2 - (dV^b_ij)^2] / (2 (beta_a - beta_b))

one-sided: (a, b) = (+beta, 0); centered: (+beta, -beta), bias O(beta^2). The factor
w_q / w_L is the amplifier scaling (gain^2 per amplifier between crossbar and output when
cccs_gain = 1/gain; EBANA absorbed it into per-layer learning rates, lr1 = 10 lr2 at gain 4
where 16 is exact). The factor is applied here, exactly, so the learning rate is one number for
every crossbar. With reciprocal amplifiers (cccs_gain = gain, required by skip crossbars from
hidden layers and so by residual networks) every w_q = 1 and the factor is 1 for every crossbar,
skips included. The batch sum is formed with GEMMs, without (B, rows, cols) arrays.

With line resistance dV_ij is the drop across the device's own cell nodes, r(i, j) - c(i, j),
not across the line ends (the wires' co-content does not depend on G): the compiled circuit
forms the batch sum from the linear map terminal voltages -> device drops
(``CompiledCircuit.squared_drop_difference``: at most 2 (rows + cols) solves of the crossbar's
internal network, whatever the batch, without (B, rows, cols) arrays).

Locally connected and convolutional crossbars (:mod:`ebana.local`) and graph masks: 0 where there
is no device; a kernel weight shared by identical devices gets the sum over its copies at every
copy. With line resistance too: each copy's term is the squared drop across its own cell nodes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ebana.local import tie_gradient

__all__ = ["squared_drop_difference", "eqprop_gradients"]

def squared_drop_difference(r_a: np.ndarray, c_a: np.ndarray, r_b: np.ndarray, c_b: np.ndarray,
                            same_rows: bool = False, gemm_dtype=np.float64) -> np.ndarray:
    """sum_batch [(r_a - c_a)^2 - (r_b - c_b)^2] as a (rows, cols) array (V^2).

    r_*: row voltages (B, rows); c_*: column voltages (B, cols). Written as
    (dr - dc)(sr - sc) with d = a - b and s = a + b, so the tiny phase difference is never
    formed from large squares (no cancellation in float32). ``gemm_dtype`` is the precision of
    the (rows x batch) @ (batch x cols) product, the only O(rows) work.
    """
    dc, sc = c_a - c_b, c_a + c_b
    rs = (r_a if same_rows else r_a + r_b).astype(gemm_dtype, copy=False)
    out = (rs.T @ dc.astype(gemm_dtype, copy=False)).astype(np.float64, copy=False)
    out *= -2.0 if same_rows else -1.0
    out += np.sum(dc * sc, axis=0)[None, :]
    if not same_rows:
        dr, sr = r_a - r_b, r_a + r_b
        out += np.sum(dr * sr, axis=0)[:, None] - dr.T @ sc
    return out


def eqprop_gradients(circuit, sol_a, sol_b, beta_a: float, beta_b: float,
                     gemm_dtype=np.float64, model=None) -> list[np.ndarray]:
    """dL/dG (S^-1 * loss units) per crossbar, averaged over the batch.

    ``sol_a``, ``sol_b``: the two nudged states (:class:`~ebana.backends.base.Solution`, any
    backend) of the same inputs. Crossbars driven by the input sources are formed from the
    features (their rows are identical in both phases), the others from the row voltages.
    ``model``: the compiled circuit the states were solved with; needed with line resistance
    (its crossbars' cell voltages), default ``circuit.compile()``."""
    t = circuit.topology
    if circuit.params.lines.on:
        return _line_gradients(circuit, sol_a, sol_b, beta_a, beta_b, model or circuit.compile())
    w = circuit.layer_weights
    batch = sol_a.batch
    denom = 2.0 * (beta_a - beta_b) * batch
    x = sol_a.inputs()
    grads = []
    for spec in t.crossbars:
        c_a, c_b = sol_a.layers[spec.dst], sol_b.layers[spec.dst]
        scale = w[spec.dst] / w[t.output_layer] / denom
        if spec.src == 0:
            grads.append(_input_crossbar_difference(circuit, spec, x, c_a, c_b, gemm_dtype, scale))
            continue
        r_a = circuit.row_voltages(spec, None, sol_a.layers)
        r_b = circuit.row_voltages(spec, None, sol_b.layers)
        diff = squared_drop_difference(r_a, c_a, r_b, c_b, gemm_dtype=gemm_dtype)
        diff *= scale
        grads.append(diff)
    for c, tie in t.ties.items():       # local crossbars: no device off the mask; shared: sum of copies
        grads[c] = tie_gradient(tie, grads[c])
    return grads


def _line_gradients(circuit, sol_a, sol_b, beta_a: float, beta_b: float, model) -> list[np.ndarray]:
    """The estimate from the drops across every device's own cell nodes (line resistance)."""
    t = circuit.topology
    w = circuit.layer_weights
    denom = 2.0 * (beta_a - beta_b) * sol_a.batch
    xv = sol_a.wordlines(circuit)
    grads = []
    for spec in t.crossbars:
        r_a, r_b = circuit.row_voltages(spec, xv, sol_a.layers), circuit.row_voltages(spec, xv, sol_b.layers)
        diff = model.squared_drop_difference(spec, r_a, sol_a.layers[spec.dst], r_b, sol_b.layers[spec.dst])
        diff *= w[spec.dst] / w[t.output_layer] / denom
        grads.append(diff)
    for c, tie in t.ties.items():       # masked crossbars: the wires span every cell, the devices the mask
        grads[c] = tie_gradient(tie, grads[c])
    return grads


def _input_crossbar_difference(circuit, spec, x, c_a, c_b, gemm_dtype, scale: float) -> np.ndarray:
    """``scale * squared_drop_difference`` for a crossbar driven by the input sources, from x.

    Rows are u+ = s + a x, u- = s - a x and the bias rows, identical in both phases, so
    sum_b [...] = -2 u^T dc + col with col = sum_b dc*sc and u+-^T dc = s sum_b dc +- a x^T dc:
    one (features x batch) @ (batch x cols) GEMM serves both wordline blocks.
    """
    p = circuit.params
    dc = c_a - c_b
    sdc = dc.sum(axis=0)
    col = np.einsum("bj,bj->j", dc, c_a + c_b)
    m = np.asarray(x, dtype=gemm_dtype).T @ dc.astype(gemm_dtype, copy=False)
    n = m.shape[0]
    out = np.empty(spec.shape)
    base = (col - 2.0 * p.v_shift * sdc) * scale
    np.multiply(m, -2.0 * p.v_scale * scale, out=out[:n])
    out[:n] += base
    np.multiply(m, 2.0 * p.v_scale * scale, out=out[n:2 * n])
    out[n:2 * n] += base
    bias = circuit.bias_voltages(spec)
    out[2 * n:] = (col[None, :] - 2.0 * bias[:, None] * sdc[None, :]) * scale
    return out


def finite_difference_gradients(loss_fn, conductances: Sequence[np.ndarray], rel_step: float = 1e-4,
                                entries: Sequence[tuple[int, int, int]] | None = None) -> dict:
    """Central finite differences of ``loss_fn(conductances)`` at chosen (crossbar, i, j) entries."""
    out = {}
    for c, i, j in entries:
        gs = [g.copy() for g in conductances]
        h = rel_step * gs[c][i, j]
        gs[c][i, j] += h
        lp = loss_fn(gs)
        gs[c][i, j] -= 2 * h
        lm = loss_fn(gs)
        out[(c, i, j)] = (lp - lm) / (2 * h)
    return out
