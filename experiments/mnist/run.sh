#!/usr/bin/env bash
# MNIST 1568-100-20 (three seeds) and 1568-1024-20 (one seed, 30 epochs), ideal updates, numpy fast path.
# Usage (from the repository root): bash experiments/mnist/run.sh [DATA_DIR]   (~2 min per 100-hidden seed,
# ~15 min for the wide net on a 2-core VM). Writes summary.csv and curves.png here.
set -euo pipefail
here="$(dirname "$0")"
data="${1:-${EBANA_DATA_DIR:-../shared/data}}"
for seed in 0 1 2; do
  ebana train mnist --data-dir "$data" --seed "$seed" --out "$here/h100-seed$seed" --quiet
done
ebana train mnist --data-dir "$data" --hidden 1024 --epochs 30 --seed 0 --out "$here/h1024-seed0" --quiet
rm -f "$here"/*/checkpoint.npz "$here"/*/conductances.npz
python "$here/summarize.py"
