"""Importing and using the library leaves the user's process alone (backend, allocator, threads)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import matplotlib
matplotlib.use("pdf")                       # a user's choice, e.g. a notebook backend
import numpy as np
import ebana.cli, ebana.training, ebana.sweep, ebana.plots, ebana.devices.plots
from ebana.config import apply_overrides, preset
from ebana.training import Trainer
import tempfile, pathlib
d = pathlib.Path(tempfile.mkdtemp())
Trainer(apply_overrides(preset("iris"), {"epochs": 1}), d / "run").run()
from ebana.sweep import figure
figure([{"status": "done", "x": 1, "test_acc": 0.5}], {"x": "x", "y": "test_acc"})
assert matplotlib.get_backend() == "pdf", matplotlib.get_backend()
import ebana.allocator
assert not ebana.allocator._done, "the library tuned the process's malloc"
import matplotlib.pyplot as plt
assert not plt.get_fignums(), plt.get_fignums()   # no figures left in pyplot's registry
print("ok")
"""


def test_library_keeps_the_matplotlib_backend(tmp_path):
    r = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr
