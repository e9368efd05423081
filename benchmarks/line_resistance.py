"""MNIST 1568-100-20 training batches with ideal wires vs with line resistance, side by side (one run).

    OMP_NUM_THREADS=1 EBANA_DATA_DIR=DIR python benchmarks/line_resistance.py [--limit-train 768]

Both runs train the MNIST preset (batch 256, centered nudging, Adam) from the same seed on the same
slice of the training set; the line-resistance run sets ``circuit.r_wordline = circuit.r_bitline =
R_SEG`` (1 ohm per cell segment; ideal drivers and sense, ``r_driver = r_sense = 0``). Each batch is
timed (phases, gradient, update and the next weights' compile); the line run also splits a batch
into the compile (the crossbars' sparse LU and port admittances, ``backend.load``), the phases and the
gradient. Prints JSON and writes ``benchmarks/line_resistance.md``. Not a test; nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from ebana.config import apply_overrides, preset
from ebana.training import Trainer

R_SEG = 1.0   # ohm per cell segment, wordlines and bitlines


class _TimedTrainer(Trainer):
    """A trainer that records the wall time of every training batch (s)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batch_seconds: list[float] = []

    def _train_batch(self, idx):
        t0 = time.perf_counter()
        res = super()._train_batch(idx)
        self.batch_seconds.append(time.perf_counter() - t0)
        return res


def _timed(fn, store: list[float]):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        store.append(time.perf_counter() - t0)
        return out
    return wrapper


def run(overrides: dict, epochs: int, split: bool = False) -> dict:
    """Train ``epochs`` epochs of the MNIST preset with ``overrides``; per-batch seconds and parts."""
    cfg = apply_overrides(preset("mnist"), {"epochs": epochs, **overrides})
    with tempfile.TemporaryDirectory() as tmp:
        tr = _TimedTrainer(cfg, os.path.join(tmp, "run"))
        parts: dict[str, list[float]] = {"load": [], "phases": [], "gradients": []}
        if split:
            tr.backend.load = _timed(tr.backend.load, parts["load"])
            tr.phases.run = _timed(tr.phases.run, parts["phases"])
            tr.phases.gradients = _timed(tr.phases.gradients, parts["gradients"])
        tr.run()
        shapes = [s.shape for s in tr.backend.circuit.topology.crossbars]
        out = {"batches": len(tr.batch_seconds), "batch_seconds": [round(s, 4) for s in tr.batch_seconds],
               "median_batch_s": statistics.median(tr.batch_seconds), "crossbars": shapes,
               "train_acc": tr.history[-1]["train_acc"]}
        if split:
            out["parts_median_s"] = {k: statistics.median(v) for k, v in parts.items() if v}
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit-train", type=int, default=768, help="training images (batches of 256)")
    ap.add_argument("--ideal-epochs", type=int, default=10, help="epochs of the ideal run over the slice")
    ap.add_argument("--out", default=str(Path(__file__).with_name("line_resistance.md")))
    args = ap.parse_args()
    data = os.environ.get("EBANA_DATA_DIR", "../shared/data")
    common = {"data_dir": data, "limit_train": args.limit_train, "limit_test": 256}
    ideal = run(common, args.ideal_epochs)
    lines = run({**common, "circuit.r_wordline": R_SEG, "circuit.r_bitline": R_SEG}, 1, split=True)
    cfg = preset("mnist")
    r_on = 1.0 / cfg.circuit.g_max
    (n_rows, n_cols) = lines["crossbars"][0]
    ratio = lines["median_batch_s"] / ideal["median_batch_s"]
    report = {"machine": f"{platform.platform()}, {os.cpu_count()} CPUs, BLAS threads "
                         f"{os.environ.get('OPENBLAS_NUM_THREADS')}",
              "r_segment_ohm": R_SEG, "r_on_ohm": r_on,
              "bitline_total_over_r_on": (n_rows - 1) * R_SEG / r_on,
              "wordline_total_over_r_on": (n_cols - 1) * R_SEG / r_on,
              "ideal": ideal, "lines": lines, "ratio_batch": ratio,
              "epoch_60k_ideal_s": ideal["median_batch_s"] * 60000 / 256,
              "epoch_60k_lines_s": lines["median_batch_s"] * 60000 / 256}
    print(json.dumps(report, indent=1))
    Path(args.out).write_text(_markdown(report, args))


def _markdown(r: dict, args) -> str:
    i, l = r["ideal"], r["lines"]
    p = l["parts_median_s"]
    return f"""# Line resistance vs ideal wires, MNIST 1568-100-20 (python benchmarks/line_resistance.py)

Machine: {r['machine']}. Same run, same seed, same {args.limit_train} training images (the MNIST preset:
batches of 256, centered nudging, Adam, the numpy backend with float32 input GEMMs and float64 node
solves; with line resistance the crossbars' internal networks are eliminated in float64). Line
resistance: r_wordline = r_bitline = {r['r_segment_ohm']:g} ohm per cell segment, r_driver = r_sense = 0;
R_ON = 1/g_max = {r['r_on_ohm']:g} ohm.
Total line resistance over R_ON: bitline ({l['crossbars'][0][0]} rows) {r['bitline_total_over_r_on']:.4f},
wordline ({l['crossbars'][0][1]} columns) {r['wordline_total_over_r_on']:.5f}.

| wires | batches timed | median batch (s) | 60k epoch, extrapolated (s) | ratio |
|---|---|---|---|---|
| ideal | {i['batches']} | {i['median_batch_s']:.4f} | {r['epoch_60k_ideal_s']:.1f} | 1 |
| 1 ohm segments | {l['batches']} | {l['median_batch_s']:.3f} | {r['epoch_60k_lines_s']:.0f} | {r['ratio_batch']:.0f}x |

Line-resistance batch, medians (s): compile of the new weights (each crossbar's internal network
eliminated, its port admittance) {p.get('load', float('nan')):.3f}, phases (free + stacked +-beta)
{p.get('phases', float('nan')):.3f}, EqProp gradient from the cell nodes {p.get('gradients', float('nan')):.3f}.

Batch seconds: ideal {i['batch_seconds']}; lines {l['batch_seconds']}.
The issue's target (line-resistance epoch <= 5x the ideal epoch) is {'met' if r['ratio_batch'] <= 5 else 'not met'}.
"""


if __name__ == "__main__":
    main()
