#!/usr/bin/env bash
# Install ebana and everything it needs on Debian 12 / Ubuntu: ngspice (with the shared
# library PySpice loads) from the distribution, then the package into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! (ldconfig -p 2>/dev/null | grep -q "libngspice.so ") || ! command -v ngspice >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ngspice libngspice0 libngspice0-dev python3-venv >/dev/null
fi
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test,tune]"
echo "ebana installed in $(pwd)/.venv ($(.venv/bin/ebana --version))"
