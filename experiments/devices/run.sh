#!/usr/bin/env bash
# I-V hysteresis loops (numpy and ngspice on the same axes) and pulse responses of every device model.
# Usage (from the repository root): bash experiments/devices/run.sh
set -euo pipefail
here="$(dirname "$0")"
for model in $(ebana devices list | awk 'NR > 1 && NF == 0 {exit} NR > 1 {print $1}'); do   # the built-in models (the list ends at a blank line)
  ebana devices iv "$model" --spice --out "$here"
  ebana devices pulse "$model" --out "$here"
done
