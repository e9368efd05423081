#!/usr/bin/env bash
# MNIST 1568-100-20 trained through VTEAM memristors programmed by PWM pulses (numpy fast path,
# write energy on: closed form for the read-mapped VTEAM; chip energy and latency per epoch in metrics.csv).
# Usage (from the repository root): bash experiments/mnist_device/run.sh [DATA_DIR]   (~5 min)
set -euo pipefail
here="$(dirname "$0")"
data="${1:-${EBANA_DATA_DIR:-../shared/data}}"
ebana train mnist --data-dir "$data" --device vteam --scheme pwm --seed 0 \
  --out "$here/vteam-pwm-seed0" --quiet
rm -f "$here"/*/checkpoint.npz "$here"/*/conductances.npz
