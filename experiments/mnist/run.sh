#!/usr/bin/env bash
# MNIST 1568-100-20 (three seeds, the mnist preset) and 1568-1024-20 (one seed, 30 epochs, batch 256),
# ideal updates, numpy fast path. Writes summary.csv and curves.png here.
# Usage (from the repository root): bash experiments/mnist/run.sh [DATA_DIR] [all|h100|h1024]
# (~1 min per 100-hidden seed, ~12 min for the wide net on a 2-core VM)
set -euo pipefail
here="$(dirname "$0")"
data="${1:-${EBANA_DATA_DIR:-../shared/data}}"
what="${2:-all}"
if [ "$what" != h1024 ]; then
  for seed in 0 1 2; do
    ebana train mnist --data-dir "$data" --seed "$seed" --out "$here/h100-seed$seed" --quiet
  done
fi
if [ "$what" != h100 ]; then
  ebana train mnist --data-dir "$data" --hidden 1024 --epochs 30 --batch-size 256 --lr 2e-7 --seed 0 \
    --out "$here/h1024-seed0" --quiet
fi
rm -f "$here"/*/checkpoint.npz "$here"/*/conductances.npz
python "$here/summarize.py"
