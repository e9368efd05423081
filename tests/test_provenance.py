"""The files a run reads (ebana.provenance): their sha256 is recorded, and a run refuses to resume
after one changed (a CSV data set, a SPICE diode model file); unchanged files resume bit-exactly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ebana.config import TrainConfig, apply_overrides
from ebana.errors import CheckpointError
from ebana.provenance import changed_inputs, input_files, input_sha256
from ebana.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "device_models" / "diodes" / "1n4148.lib"


def _table(path: Path, flip: int | None = None) -> None:
    """A small separable two-class CSV table; ``flip``: the row whose label is changed."""
    rng = np.random.default_rng(0)
    rows = ["a,b,label"]
    for k in range(60):
        x = rng.uniform(-1, 1, 2)
        y = int(x[0] + x[1] > 0)
        rows.append(f"{x[0]:.6f},{x[1]:.6f},{1 - y if k == flip else y}")
    path.write_text("\n".join(rows) + "\n")


def _interrupt_at(cfg, out: Path, stop_at=(0, 2)) -> None:
    def interrupt(p):
        if p.metrics is None and (p.epoch, p.batch) == stop_at:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, out).run(progress=interrupt)


def _csv_config(path: Path) -> TrainConfig:
    return apply_overrides(TrainConfig(), {"dataset": str(path), "label_column": "label", "hidden": (3,),
                                           "epochs": 2, "batch_size": 8})


def test_the_files_of_a_run_are_found_and_hashed(tmp_path):
    csv = tmp_path / "t.csv"
    _table(csv)
    cfg = apply_overrides(_csv_config(csv), {"circuit.diode.model": "shockley", "circuit.diode.v_th": 0.3,
                                            "circuit.diode.lib": str(LIB), "circuit.diode.card": "1N4148"})
    files = input_files(cfg)
    assert files == {"dataset": str(csv), "circuit.diode.lib": str(LIB)}
    sha = input_sha256(cfg)
    assert len(sha["dataset"]) == 64 and sha["dataset"] != sha["circuit.diode.lib"]
    assert input_files(TrainConfig()) == {}                      # iris: a registered data set, no file
    assert changed_inputs(sha, sha) == []
    assert changed_inputs(sha, {**sha, "dataset": "0" * 64}) == ["dataset"]


def test_resume_refuses_a_changed_csv(tmp_path):
    csv = tmp_path / "t.csv"
    _table(csv)
    cfg = _csv_config(csv)
    _interrupt_at(cfg, tmp_path / "run")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["input_files"]["dataset"]["path"] == str(csv)
    _table(csv, flip=5)                                           # one label edited
    with pytest.raises(CheckpointError, match=r"the file of dataset = .* changed since the run started") as err:
        Trainer(None, tmp_path / "run", resume=True)
    assert "\n" not in str(err.value)


def test_resume_refuses_a_changed_diode_library(tmp_path):
    lib = tmp_path / "d.lib"
    shutil.copy(LIB, lib)
    cfg = apply_overrides(TrainConfig(), {"epochs": 2, "hidden": (4,), "circuit.diode.model": "shockley",
                                          "circuit.diode.v_th": 0.3, "circuit.diode.lib": str(lib),
                                          "circuit.diode.card": "1N4148"})
    _interrupt_at(cfg, tmp_path / "run")
    lib.write_text(lib.read_text() + "\n* edited: any byte counts\n")
    with pytest.raises(CheckpointError, match=r"circuit\.diode\.lib = .* changed since the run started"):
        Trainer(None, tmp_path / "run", resume=True)


def test_unchanged_files_resume_bit_exactly(tmp_path):
    from tests.conftest import interrupted_and_resumed
    csv = tmp_path / "t.csv"
    _table(csv)
    ref, resumed = interrupted_and_resumed(_csv_config(csv), tmp_path, (1, 2))
    for a, b in zip(ref.backend.model.conductances, resumed.backend.model.conductances):
        assert np.array_equal(a, b)
