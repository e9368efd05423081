#!/usr/bin/env bash
# MNIST 1568-100-20 trained through VTEAM memristors programmed by PWM pulses (numpy fast path,
# energy integration off, as committed: VTEAM's energy then needed the adaptive integrator; it is now closed-form).
# Usage (from the repository root): bash experiments/mnist_device/run.sh [DATA_DIR]   (~3 min)
set -euo pipefail
here="$(dirname "$0")"
data="${1:-${EBANA_DATA_DIR:-../shared/data}}"
ebana train mnist --data-dir "$data" --device vteam --scheme pwm --set device.energy=false --seed 0 \
  --out "$here/vteam-pwm-seed0" --quiet
rm -f "$here"/*/checkpoint.npz "$here"/*/conductances.npz
