"""Summarise the MNIST runs of run.sh: summary.csv and curves.png (test error per epoch)."""

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

here = Path(__file__).resolve().parent
rows, fig = [], plt.figure(figsize=(7, 4.5))
for run in sorted(p for p in here.iterdir() if p.is_dir() and (p / "metrics.csv").exists()):
    m = list(csv.DictReader(open(run / "metrics.csv")))
    info = json.loads((run / "run.json").read_text())
    err = [100 * (1 - float(r["test_acc"])) for r in m]
    secs = [float(r["seconds"]) for r in m]
    rows.append(dict(run=run.name, topology=info["topology"], seed=info["seed"], epochs=len(m),
                     final_test_error_pct=round(err[-1], 2), best_test_error_pct=round(min(err), 2),
                     final_train_error_pct=round(100 * (1 - float(m[-1]["train_acc"])), 2),
                     mean_epoch_s_incl_eval=round(sum(secs) / len(secs), 2)))
    plt.plot(range(1, len(err) + 1), err, "o-", ms=3, label=run.name)
plt.yscale("log")
plt.xlabel("epoch")
plt.ylabel("test error (%)")
plt.grid(alpha=0.3, which="both")
plt.legend()
plt.title("MNIST, EqProp on the exact circuit (ideal updates)")
fig.tight_layout()
fig.savefig(here / "curves.png", dpi=120)
with open(here / "summary.csv", "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
for r in rows:
    print(r)
