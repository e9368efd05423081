#!/usr/bin/env bash
# Energy and chip time of training (ebana/energy.py) on an IRIS device run and an MNIST run, and
# their `ebana report` pages. Writes summary.csv and {iris_vteam,mnist}/report.html + report/*.png
# here; the run directories go to runs/ (not committed).
# Usage: EBANA_DATA_DIR=DIR bash experiments/chip_energy/run.sh   (from the repository root, ~1 min)
set -euo pipefail
here="$(dirname "$0")"
ebana train iris --device vteam --scheme pam --pam-pulses 10 --r-ratio 10 --epochs 10 --seed 1 \
  --quiet --overwrite --out "$here/runs/iris_vteam"
ebana train mnist --epochs 2 --set limit_train=10000 --set limit_test=2000 --verify-every 10 \
  --quiet --overwrite --out "$here/runs/mnist"
for name in iris_vteam mnist; do
  ebana report "$here/runs/$name" --out "$here/$name/report.html"
done
python - "$here" > "$here/summary.csv" <<'PY'
import csv, json, sys
keys = ["e_read", "e_read_free", "e_read_nudged", "e_read_sources", "e_dac", "e_adc", "e_amp", "e_write", "e_energy",
        "t_sample", "t_chip", "e_digital", "t_digital"]
print("run,n_train,test_acc," + ",".join(keys))
for name in ("iris_vteam", "mnist"):
    d = f"{sys.argv[1]}/runs/{name}"
    r = list(csv.DictReader(open(f"{d}/metrics.csv")))[-1]
    n = json.load(open(f"{d}/run.json"))["n_train"]
    print(f"{name},{n},{float(r['test_acc']):.4f}," + ",".join(f"{float(r[k]):.4g}" if r.get(k) else "" for k in keys))
PY
cat "$here/summary.csv"
