#!/usr/bin/env bash
# MNIST, ideal updates, numpy fast path. Writes summary.csv and curves.png here.
#   h100      1568-100-20, the mnist preset (batch 256, lr 2e-7), seeds 0-2      (~30 s per seed)
#   h100b128  1568-100-20, batch 128, lr 1e-7, seeds 0-2                          (~40 s per seed)
#   h1024     1568-1024-20, batch 256, lr 2e-7, 30 epochs, seed 0               (~12 min)
#   h1024shift2  the same net, 40 epochs, training images shifted by up to 2 px, seeds 0-1  (~12 min each unloaded)
# Usage (from the repository root): bash experiments/mnist/run.sh [DATA_DIR] [all|h100|h100b128|h1024|h1024shift2]
set -euo pipefail
here="$(dirname "$0")"
data="${1:-${EBANA_DATA_DIR:-../shared/data}}"
what="${2:-all}"
if [ "$what" = all ] || [ "$what" = h100 ]; then
  for seed in 0 1 2; do
    ebana train mnist --data-dir "$data" --seed "$seed" --out "$here/h100-seed$seed" --quiet
  done
fi
if [ "$what" = all ] || [ "$what" = h100b128 ]; then
  for seed in 0 1 2; do
    ebana train mnist --data-dir "$data" --batch-size 128 --lr 1e-7 --seed "$seed" \
      --out "$here/h100-b128-seed$seed" --quiet
  done
fi
if [ "$what" = all ] || [ "$what" = h1024 ]; then
  ebana train mnist --data-dir "$data" --hidden 1024 --epochs 30 --batch-size 256 --lr 2e-7 --seed 0 \
    --out "$here/h1024-seed0" --quiet
fi
if [ "$what" = all ] || [ "$what" = h1024shift2 ]; then
  for seed in 0 1; do
    ebana train mnist --data-dir "$data" --hidden 1024 --epochs 40 --augment-shift 2 --seed "$seed" \
      --out "$here/h1024-shift2-seed$seed" --quiet
  done
fi
rm -f "$here"/*/checkpoint.npz "$here"/*/conductances.npz
python "$here/summarize.py"
