#!/usr/bin/env bash
# Regenerate the example netlists in place (--overwrite: they are committed). Each runs in stock `ngspice -b`.
set -euo pipefail
cd "$(dirname "$0")"
ebana netlist --dataset iris --hidden 2 --sample 0 --out tiny.cir --overwrite
ebana netlist --dataset iris --sample 0 --out iris.cir --overwrite
ebana netlist --dataset iris --sample 0 --phase nudged --beta 1e-8 --out iris_nudged.cir --overwrite
ebana netlist --dataset iris --sample 0 --norton --out iris_norton.cir --overwrite
