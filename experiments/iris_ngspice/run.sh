#!/usr/bin/env bash
# IRIS through ngspice, default recipe, three seeds; writes summary.csv beside the runs.
# Usage: bash experiments/iris_ngspice/run.sh   (from the repository root, ~10 s per seed)
set -euo pipefail
here="$(dirname "$0")"
echo "seed,test_acc,test_loss,train_acc,wall_s" > "$here/summary.csv"
for seed in 0 1 2; do
  start=$(date +%s.%N)
  ebana train iris --backend ngspice --seed "$seed" --out "$here/seed$seed" --quiet
  end=$(date +%s.%N)
  rm -f "$here/seed$seed/checkpoint.npz"
  python - "$here/seed$seed" "$seed" "$(echo "$end - $start" | bc)" >> "$here/summary.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/metrics.csv")))
r = rows[-1]
print(f"{sys.argv[2]},{float(r['test_acc']):.4f},{float(r['test_loss']):.4f},{float(r['train_acc']):.4f},{float(sys.argv[3]):.1f}")
PY
done
cat "$here/summary.csv"
