"""Per-sample recordings of every EqProp phase (config key ``record``, CLI ``train --record``).

record.npz in the run directory; one row per (epoch, training sample seen in a batch), in the
order the samples were trained:

- ``sample_id`` (R,) int: index into the training set; ``epoch`` (R,), ``batch`` (R,) int (0-based).
- ``wordlines`` (R, 2*n_inputs) V: the source voltages [x+ block, x- block] of the sample's batch.
- ``free_l{q}``, ``a_l{q}``, ``b_l{q}`` (R, n_q) V, q = 1 .. n_layers-1: the neuron node voltages of
  layer q in the free phase and in the two nudged phases the gradient contrasts (output layer
  interleaved V+, V- per class). Centered nudging: a at +beta, b at -beta; one-sided: a at +beta,
  b is the free phase. ``beta_a``, ``beta_b`` (scalars, A per unit dL/dpred) say which.
- ``i_nudge`` (R, n_out) A: the nudge currents of phase a (b: their negative, or 0).
- with ``record_currents = true``, every branch current (A) of each phase ``{p}`` in free, a, b
  (:mod:`ebana.branches` for the signs and the ngspice element each one is):

  - ``{p}_i{c}`` (R, rows, cols), c the crossbar index (:attr:`Topology.crossbars` order): the
    current through every device from its row into its column, G (row - column) (with line
    resistance: across the device's own cell nodes);
  - ``{p}_i_diode_up_l{q}``, ``{p}_i_diode_low_l{q}`` (R, n_q), clamped layers: the upper diode
    (node -> V_BH) and the lower diode (V_BL -> node);
  - ``{p}_i_amp_out_l{q}``, ``{p}_i_amp_in_l{q}`` (R, n_q), hidden layers: the amplifier's output
    current I_out into its wordlines and the current alpha I_out its CCCS draws from the neuron;
  - ``{p}_i_vin`` (R, 2*n_inputs), ``{p}_i_vbias{c}`` (R, n_bias), ``{p}_i_vbh_l{q}``,
    ``{p}_i_vbl_l{q}`` (R,): the current each voltage source (wordline drivers, bias rows of
    crossbar c, clamp biases of layer q) drives out of its + terminal (ngspice's ``i(V...)`` is
    its negative);
  - ``{p}_i_bias_l{q}`` (R, n_q), only with bias current sources (``circuit.i_bias``): each node's
    bias current I_b, from ground into the node.

  At every neuron node these sum to zero with the nudge current (``i_nudge`` in phase a; in
  phase b times beta_b / beta_a), :func:`ebana.branches.kcl_at_neurons`.

The node voltages are the operating points the gradient was computed from, before the batch's
update. The file is written with every checkpoint; on resume rows after the checkpoint are dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebana.branches import branch_currents
from ebana.errors import ConfigError

__all__ = ["parse_record", "Recorder"]

PHASES = ("free", "a", "b")


def parse_record(text: str, n_train: int | None = None) -> tuple[int, ...]:
    """Sample ids from ``"0,5,7"`` ("" : none); each an integer in [0, n_train)."""
    if not text.strip():
        return ()
    try:
        ids = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ConfigError(f"record {text!r}: expected training sample ids like 0,5,7") from None
    for i in ids:
        if i < 0 or (n_train is not None and i >= n_train):
            raise ConfigError(f"record: sample id {i} is not in [0, {n_train if n_train is not None else 'n_train'})")
    if len(set(ids)) != len(ids):
        raise ConfigError(f"record {text!r}: sample ids repeat")
    return ids


class Recorder:
    """Collects the phases of the chosen training samples (:mod:`ebana.recording` layout)."""

    def __init__(self, ids: tuple[int, ...]) -> None:
        self.ids = np.array(ids, dtype=np.int64)
        self.rows: list[dict[str, np.ndarray]] = []
        self.beta = (0.0, 0.0)

    def add(self, epoch: int, batch: int, idx: np.ndarray, wordlines: np.ndarray, res, model=None) -> None:
        """Rows for the recorded samples among the batch's ``idx`` (res: its PhaseResult); ``model``
        (the CompiledCircuit the phases were solved with): also the device currents."""
        where = np.flatnonzero(np.isin(idx, self.ids))
        if not len(where):
            return
        self.beta = (float(res.beta_a), float(res.beta_b))
        row = {"sample_id": np.asarray(idx)[where], "epoch": np.full(len(where), epoch),
               "batch": np.full(len(where), batch), "wordlines": wordlines[where],
               "i_nudge": np.asarray(res.i_nudge)[where]}
        for name, sol in zip(PHASES, (res.free, res.a, res.b)):
            for q, v in enumerate(sol.layers[1:], start=1):
                row[f"{name}_l{q}"] = np.asarray(v, dtype=np.float64)[where]
            if model is not None:
                layers = [None] + [row[f"{name}_l{q}"] for q in range(1, len(sol.layers))]
                for key, cur in branch_currents(model, row["wordlines"], layers).items():
                    row[f"{name}_{key}"] = cur
        self.rows.append(row)

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"beta_a": np.array(self.beta[0]), "beta_b": np.array(self.beta[1])}
        if self.rows:
            for k in self.rows[0]:
                out[k] = np.concatenate([r[k] for r in self.rows])
        return out

    def load(self, path: Path, epoch: int, batch: int) -> None:
        """Rows of ``path`` trained before (epoch, batch), the checkpoint's position."""
        if not path.exists():
            return
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
        self.beta = (float(d.pop("beta_a")), float(d.pop("beta_b")))
        if "sample_id" not in d:
            return
        keep = (d["epoch"] < epoch) | ((d["epoch"] == epoch) & (d["batch"] < batch))
        self.rows = [{k: v[keep] for k, v in d.items()}]
