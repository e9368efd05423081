"""Why the MNIST ADC result is not monotone in the bits: 3 seeds on a subset, and what the ADC does
to the EqProp estimate.

Usage (from the repository root; EBANA_DATA_DIR or --data-dir names the MNIST IDX files)::

    python experiments/nonideal/adc_mnist.py          # 96 runs, ~10 min on one core
    python experiments/nonideal/adc_mnist.py --plot   # table + figure from adc_mnist.csv only

Every run: the MNIST preset through the device (PWM, R_OFF/R_ON = 100), 1 epoch on the first
``limit_train`` (12000) training images, the full 10k test set, ``nonideal.adc_bits`` = bits (4, 6,
8, 10, 16; none: exact), seeds 0-2, and three ADC full scales (``--full-scales OUT:HID``): ebana's
default (the free-phase span per layer), the output layer's widened by 1 V at both ends, and that
plus the hidden layers' widened by 5 mV (set on the run's Readout by this script: the library's
``adc_v_min``/``adc_v_max`` set every layer at once).
During training every batch's exact phases (a, b = +-beta) and measured ones (the ADC's codes) are
compared, per neuron layer q (1: hidden, clamp window +-5 mV; 2: output, drive span):

* ``same_q``: of the (sample, node) readings whose +beta and -beta values both lie inside the full
  scale (not saturated), the fraction that give the same ADC code in both phases: the device drops
  that end on such a node are read identical, so its EqProp term is 0 (a dead zone of one LSB);
* ``v99_q``: 99.9th percentile of |V - mid-scale| (V) over the +-beta readings;
* ``dv_q``: median exact |V_a - V_b| (V) of the layer's nodes, against ``lsb_q`` (V);
* ``clip_q`` / ``clipn_q``: fraction of the free / the +-beta readings outside the ADC's full scale by
  more than LSB/2 (saturated: the code is an end of the scale);
* ``cos_k``: cosine between the measured and the exact EqProp gradient of crossbar k (0: input to
  hidden, 1: hidden to output), over the batch; ``nz_k``: fraction of its entries that are not 0;
* ``pred_ok``: fraction of samples whose predicted class from the measured free outputs equals
  the exact one.

Writes ``adc_mnist.csv`` (one row per run: accuracy, loss, epoch means of the above), ``adc_mnist.md``
and ``adc_mnist.png`` next to this file. Compute: ~5 s per run on one core (12k images).
"""

from __future__ import annotations

import argparse
import csv
import math
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ebana.config import apply_overrides, preset
from ebana.gradients import eqprop_gradients
from ebana.training import Trainer

HERE = Path(__file__).resolve().parent
DEVICES = ("vteam", "linear_ion_drift")
COMMANDS = {"adc_chip": "`python experiments/nonideal/adc_mnist.py --set nonideal.preset=realistic_chip --bits 9 "
                        "--full-scales 0:0 1:0.005 --no-baseline --name adc_chip` (the realistic_chip preset, "
                        "whose ADC has 9 bits; ~5 min of one core)",
            "adc_mnist_full": "`python experiments/nonideal/adc_mnist.py --limit-train 60000 --bits 8 "
                              "--full-scales 0:0 1:0.005 --name adc_mnist_full` (~10 min of one core)"}
"""The command of each committed result set (default: the plain command)."""
STATS = ("same_1", "same_2", "v99_1", "v99_2", "dv_1", "dv_2", "lsb_1", "lsb_2", "clip_1", "clip_2", "clipn_1", "clipn_2", "cos_0", "cos_1",
         "nz_0", "nz_1", "pred_ok")


class Probe:
    """The trainer's phase controller, recording what the ADC does to each batch (module docstring)."""

    def __init__(self, inner) -> None:
        self.inner, self.rows = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def gradients(self, res):
        grads = self.inner.gradients(res)
        ro = self.inner.readout
        if ro is None or res.measured is None:
            return grads
        circuit = self.inner.circuit
        exact = eqprop_gradients(circuit, res.a, res.b, res.beta_a, res.beta_b)
        ma, mb = res.measured
        row: dict[str, float] = {}
        for q in (1, 2):
            lo, hi = ro.span(q)
            a, b = res.a.layers[q], res.b.layers[q]
            inside = (a >= lo) & (a <= hi) & (b >= lo) & (b <= hi)
            row[f"same_{q}"] = float(np.mean((ma.layers[q] == mb.layers[q])[inside])) if inside.any() else math.nan
            row[f"v99_{q}"] = float(np.percentile(np.abs(np.concatenate([a, b]) - (lo + hi) / 2), 99.9))
            row[f"dv_{q}"] = float(np.median(np.abs(res.a.layers[q] - res.b.layers[q])))
            row[f"lsb_{q}"] = ro.lsb(q)
            tol = ro.lsb(q) / 2
            for name, sols in (("clip", (res.free,)), ("clipn", (res.a, res.b))):
                row[f"{name}_{q}"] = float(np.mean([(s.layers[q] < lo - tol) | (s.layers[q] > hi + tol)
                                                    for s in sols]))
        for k, (g, e) in enumerate(zip(grads, exact)):
            n = np.linalg.norm(g) * np.linalg.norm(e)
            row[f"cos_{k}"] = float(np.sum(g * e) / n) if n > 0 else 0.0
            row[f"nz_{k}"] = float(np.mean(g != 0))
        pm = circuit.prediction(ro(res.free, None).output) if ro.sigma == 0 else res.pred
        row["pred_ok"] = float(np.mean(np.argmax(pm, 1) == np.argmax(circuit.prediction(res.free.output), 1)))
        self.rows.append(row)
        return grads


def run_one(device: str, bits: int | None, seed: int, limit_train: int, data_dir: str | None,
            margin: float = 0.0, hmargin: float = 0.0, extra: dict | None = None) -> dict:
    """One run; ``margin`` (V): the output layer's ADC full scale widened by this much at both ends
    (0: ebana's default, the free-phase drive span); ``hmargin`` (V): the hidden layers' full scale
    (default: the clamp window) likewise. Controls the library has no key for."""
    over = {"epochs": 1, "seed": seed, "limit_train": limit_train, "device.model": device,
            "device.r_ratio": 100, "device.energy": False}
    if bits is not None:
        over["nonideal.adc_bits"] = bits
    if data_dir:
        over["data_dir"] = data_dir
    over.update(extra or {})
    cfg = apply_overrides(preset("mnist"), over)
    with tempfile.TemporaryDirectory() as out:
        t = Trainer(cfg, out)
        ro = t.phases.readout
        if ro is not None:
            ro.spans = [(lo - w, hi + w) for (lo, hi), w in
                        zip(ro.spans, [hmargin] * (len(ro.spans) - 1) + [margin])]
        t.phases = probe = Probe(t.phases)
        hist = t.run()
    row = dict(device=device, adc_bits="none" if bits is None else bits, margin=margin, hmargin=hmargin, seed=seed,
               test_acc=hist[-1]["test_acc"], test_loss=hist[-1]["test_loss"])
    for s in STATS:
        vals = [r[s] for r in probe.rows if not math.isnan(r[s])]
        row[s] = float(np.mean(vals)) if vals else ""
    return row


def _fs(r) -> tuple[float, float]:
    return float(r["margin"]), float(r["hmargin"])


def fs_label(fs: tuple[float, float]) -> str:
    """Human name of a full-scale setting (output margin, hidden margin) in V."""
    out, hid = fs
    if out == 0 and hid == 0:
        return "default"
    parts = ([f"output ±{out:g} V wider"] if out else []) + ([f"hidden ±{hid * 1e3:g} mV wider"] if hid else [])
    return ", ".join(parts)


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["device"], _fs(r), str(r["adc_bits"])) for r in rows},
                  key=lambda k: (DEVICES.index(k[0]), k[2] != "none", k[1], math.inf if k[2] == "none" else int(k[2])))
    for dev, fs, bits in keys:
        rs = [r for r in rows if r["device"] == dev and str(r["adc_bits"]) == bits and _fs(r) == fs]
        acc = np.array([float(r["test_acc"]) for r in rs]) * 100
        s = dict(device=dev, adc_bits=bits, fs=fs, n=len(rs), acc_mean=acc.mean(),
                 acc_std=acc.std(ddof=1) if len(rs) > 1 else 0.0, acc_min=acc.min(), acc_max=acc.max(),
                 loss_mean=float(np.mean([float(r["test_loss"]) for r in rs])))
        for st in STATS:
            v = [float(r[st]) for r in rs if r[st] not in ("", None)]
            s[st] = float(np.mean(v)) if v else math.nan
        out.append(s)
    return out


def write_md(summary: list[dict], path: Path, limit_train: str, name: str = "adc_mnist") -> None:
    lines = [f"MNIST, first {limit_train} training images, 1 epoch, full 10k test set, PWM, R_OFF/R_ON = 100, "
             f"seeds 0-2. Accuracy: mean ± sd (min–max) over the seeds. ADC columns: means over the epoch's "
             f"batches and the seeds; layer 1 = hidden (default full scale: the clamp window ±5 mV), layer 2 = "
             f"output (default: the free-phase drive span ±50 mV); crossbar 0 = input→hidden, 1 = hidden→output. "
             f"'wider': the ADC full scale widened at both ends (a control set by the script). "
             f"Regenerate: {COMMANDS.get(name, '`python experiments/nonideal/adc_mnist.py`')}.", "",
             "| device | ADC bits | full scale | test accuracy % | test loss | LSB hidden / output (mV) | "
             "±β readings clipped hidden / output | same code ±β (unclipped) hidden / output | "
             "cos(measured, exact) grad 0 / 1 | nonzero grad entries 0 / 1 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        acc = f"{s['acc_mean']:.1f} ± {s['acc_std']:.1f} ({s['acc_min']:.1f}–{s['acc_max']:.1f})"
        if s["adc_bits"] == "none":
            lines.append(f"| {s['device']} | none | – | {acc} | {s['loss_mean']:.3f} | – | 0 / 0 | – | 1 / 1 | – |")
            continue
        lines.append(
            f"| {s['device']} | {s['adc_bits']} | {fs_label(s['fs'])} | {acc} | {s['loss_mean']:.3f} | "
            f"{s['lsb_1'] * 1e3:.2g} / {s['lsb_2'] * 1e3:.2g} | {s['clipn_1']:.3f} / {s['clipn_2']:.3f} | "
            f"{s['same_1']:.3f} / {s['same_2']:.3f} | {s['cos_0']:.3f} / {s['cos_1']:.3f} | "
            f"{s['nz_0']:.3f} / {s['nz_1']:.3f} |")
    path.write_text("\n".join(lines) + "\n")


def plot(rows: list[dict], summary: list[dict], path: Path, limit_train: int = 12000) -> None:
    fig = Figure(figsize=(15, 4), layout="constrained")
    axs = fig.subplots(1, 4)
    settings = sorted({s["fs"] for s in summary if s["adc_bits"] != "none"})
    for dev, colour in zip(DEVICES, ("C0", "C1")):
        base = [s for s in summary if s["device"] == dev and s["adc_bits"] == "none"]
        if base:
            axs[0].axhline(base[0]["acc_mean"], color=colour, ls=":", lw=1)
        for fs, ls in zip(settings, ("-", "--", "-.", ":")):
            ss = [s for s in summary if s["device"] == dev and s["adc_bits"] != "none" and s["fs"] == fs]
            if not ss:
                continue
            b = [int(s["adc_bits"]) for s in ss]
            tag = f"{dev}, {fs_label(fs)}"
            for r in rows:
                if r["device"] == dev and str(r["adc_bits"]) != "none" and _fs(r) == fs:
                    axs[0].plot(int(r["adc_bits"]), float(r["test_acc"]) * 100, ".", color=colour, alpha=0.4)
            axs[0].plot(b, [s["acc_mean"] for s in ss], ls, marker="o", color=colour, label=tag)
            axs[1].plot(b, [s["clipn_2"] for s in ss], ls, marker="o", color=colour, label=tag)
            axs[2].plot(b, [s["cos_1"] for s in ss], ls, marker="o", color=colour, label=tag)
            axs[3].plot(b, [s["nz_0"] for s in ss], ls, marker="o", color=colour, label=tag)
    axs[0].set(xlabel="ADC bits", ylabel="test accuracy (%)", title="accuracy (dots: seeds; dotted: no ADC)")
    axs[1].set(xlabel="ADC bits", ylabel="fraction", title="output ±β readings clipped")
    axs[2].set(xlabel="ADC bits", ylabel="cosine", title="hidden→output gradient: cos(measured, exact)")
    axs[3].set(xlabel="ADC bits", ylabel="fraction", title="input→hidden gradient entries ≠ 0")
    axs[0].legend(fontsize=6)
    for ax in axs:
        ax.grid(alpha=0.3)
    fig.suptitle(f"MNIST {limit_train // 1000}k images, 1 epoch, 3 seeds: ADC of the measured phases")
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit-train", type=int, default=12000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--bits", type=int, nargs="+", default=[4, 6, 8, 10, 16])
    ap.add_argument("--devices", nargs="+", default=list(DEVICES))
    ap.add_argument("--full-scales", nargs="+", default=["0:0", "1:0", "1:0.005"],
                    help="OUT:HID, the output / hidden layers' ADC full scale widened by these (V) at both ends")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-baseline", action="store_true", help="skip the runs without ADC")
    ap.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                    help="a further config override of every run, e.g. nonideal.preset=realistic_chip")
    ap.add_argument("--plot", action="store_true", help="only redo table and figure from NAME.csv")
    ap.add_argument("--name", default="adc_mnist", help="output files NAME.csv, NAME.md, NAME.png (beside this file)")
    a = ap.parse_args()
    csv_path = HERE / f"{a.name}.csv"
    if a.plot:
        with open(csv_path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    else:
        rows = []
        extra = dict(kv.split("=", 1) for kv in a.extra)
        for dev in a.devices:
            fss = [tuple(float(v) for v in f.split(":")) for f in a.full_scales]
            cells = ([] if a.no_baseline else [(None, (0.0, 0.0))]) + [(b, f) for f in fss for b in a.bits]
            for bits, (out, hid) in cells:
                for seed in a.seeds:
                    rows.append(run_one(dev, bits, seed, a.limit_train, a.data_dir, out, hid, extra))
                    with open(csv_path, "w", newline="") as fh:   # after every run: a killed job keeps its rows
                        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                        w.writeheader()
                        w.writerows(rows)
    summary = summarise(rows)
    write_md(summary, HERE / f"{a.name}.md", str(a.limit_train), a.name)
    plot(rows, summary, HERE / f"{a.name}.png", a.limit_train)


if __name__ == "__main__":
    main()
