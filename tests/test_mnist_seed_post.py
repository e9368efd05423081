"""experiments/mnist_seed/post.py on a tiny fake set of sweep results: every configuration is a row,
missing ones are marked 'not run', PWM/PAM and N = 1 rows are read from the sibling sweeps."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("mnist_seed_post", ROOT / "experiments" / "mnist_seed" / "post.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(path: Path, rows: list[dict]) -> None:
    path.mkdir(parents=True)
    fields = ["run", "device.model", "device.r_ratio", "device.scheme", "device.pam_pulses", "limit_train", "seed",
              "status", "test_acc", "test_loss", "train_loss", "e_write_total", "pulses_total", "e_energy", "saturated",
              "dg_ratio", "seconds"]
    with open(path / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for i, r in enumerate(rows):
            w.writerow({"run": f"r{i}", "seed": 0, "status": "done", "test_loss": 0.2, "train_loss": 0.1,
                        "e_write_total": 1e-6, "pulses_total": 100, "e_energy": 1e-3, "saturated": 0.0,
                        "dg_ratio": 1.0, "seconds": 10, **r})


def test_tables_from_fake_sweeps(tmp_path):
    mod = _module()
    _write(tmp_path / "mnist_ratio", [
        {"device.model": "vteam", "device.r_ratio": 100, "test_acc": 0.95, "e_write_total": 2e-9},
        {"device.model": "vteam", "device.r_ratio": 2, "test_acc": 0.5},
        {"device.model": "vteam", "device.r_ratio": 10, "test_acc": 0.9, "seed": 0},
        {"device.model": "vteam", "device.r_ratio": 10, "test_acc": 0.8, "seed": 1, "e_write_total": 3e-6},
        {"device.model": "team", "device.r_ratio": 100, "test_acc": 0.8, "limit_train": 512},
        {"device.model": "ideal", "device.r_ratio": 100, "test_acc": 0.9, "status": "failed"}])
    _write(tmp_path / "mnist_ratio_seeds", [{"device.model": "vteam", "device.r_ratio": 10, "test_acc": 0.85, "seed": 2,
                                             "e_write_total": 2e-6}])
    _write(tmp_path / "mnist_pwm_pam", [{"device.model": "vteam", "device.r_ratio": 100, "test_acc": 0.9}])
    _write(tmp_path / "mnist_pam_frequency", [
        {"device.model": "vteam", "device.r_ratio": 100, "device.pam_pulses": 3, "test_acc": 0.97}])
    tables = mod.write_all(tmp_path, tmp_path / "out")
    ratio = {(r["model"], r["r_ratio"]): r for r in tables["ratio"]}
    assert len(ratio) == len(mod.MODELS) * len(mod.RATIOS)
    assert abs(ratio["vteam", 100.0]["test_err_pct"] - 5.0) < 1e-9
    assert ratio["vteam", 100.0]["e_write_total"] == 2e-9 and ratio["vteam", 100.0]["train_samples"] == 60000
    assert abs(ratio["vteam", 2.0]["test_err_pct"] - 50.0) < 1e-9
    assert ratio["team", 100.0]["train_samples"] == 512
    three = ratio["vteam", 10.0]                        # three seeds, one from mnist_ratio_seeds: mean, sd, seeds
    assert abs(three["test_err_pct"] - 15.0) < 1e-9 and abs(three["test_err_sd"] - 5.0) < 1e-9
    assert three["seeds"] == "0 1 2" and abs(three["e_write_total"] - 2e-6) < 1e-18
    assert ratio["vteam", 100.0]["test_err_sd"] is None and ratio["vteam", 100.0]["seeds"] == "0"
    assert ratio["ideal", 100.0]["status"].startswith("not run")          # a failed run is not a result
    assert ratio["stanford_pku", 100.0]["status"] == "not run (time)"
    pp = {(r["model"], r["scheme"]): r for r in tables["pwm_pam"]}
    assert abs(pp["vteam", "pwm"]["test_err_pct"] - 5.0) < 1e-9           # PWM = the ratio sweep's run
    assert abs(pp["vteam", "pam"]["test_err_pct"] - 10.0) < 1e-9
    fq = {(r["model"], r["pam_pulses"]): r for r in tables["pam_frequency"]}
    assert abs(fq["vteam", 1]["test_err_pct"] - 10.0) < 1e-9              # N = 1 = the PAM run
    assert abs(fq["vteam", 3]["test_err_pct"] - 3.0) < 1e-9
    assert fq["vteam", 10]["status"].startswith("not run")
    fo = {(r["model"], r["pam_frequency"]): r for r in tables["pam_open_loop"]}
    assert abs(fo["vteam", 1]["test_err_pct"] - 10.0) < 1e-9 and fo["vteam", 3]["status"].startswith("not run")
    for name in ("ratio", "pwm_pam", "pam_frequency", "pam_open_loop"):
        for ext in ("csv", "md", "png"):
            assert (tmp_path / "out" / f"{name}.{ext}").stat().st_size > 0
    md = (tmp_path / "out" / "ratio.md").read_text()
    assert "| vteam | pwm | 100 | 5.00 | – | 0 |" in md and "2e-09" in md
    assert "| vteam | pwm | 10 | 15.00 | 5.00 | 0 1 2 |" in md


def test_nonseparable_sweep_joins_the_three_tables(tmp_path):
    mod = _module()
    for name in ("mnist_ratio", "mnist_pwm_pam", "mnist_pam_frequency"):
        _write(tmp_path / name, [])
    rows = [{"device.model": "team", "device.r_ratio": q, "device.scheme": "pwm", "device.pam_pulses": 1,
             "test_acc": acc} for q, acc in ((100, 0.9), (2, 0.7))]
    rows += [{"device.model": "stanford_pku", "device.r_ratio": 100, "device.scheme": "pam", "device.pam_pulses": n,
              "test_acc": acc} for n, acc in ((1, 0.8), (3, 0.85))]
    _write(tmp_path / "mnist_nonseparable", rows)
    tables = mod.write_all(tmp_path, tmp_path / "out")
    ratio = {(r["model"], r["r_ratio"]): r for r in tables["ratio"]}
    assert abs(ratio["team", 100.0]["test_err_pct"] - 10.0) < 1e-9
    assert abs(ratio["team", 2.0]["test_err_pct"] - 30.0) < 1e-9
    assert ratio["stanford_pku", 100.0]["status"] == "not run (time)"     # its PAM run is not a PWM row
    pp = {(r["model"], r["scheme"]): r for r in tables["pwm_pam"]}
    assert abs(pp["team", "pwm"]["test_err_pct"] - 10.0) < 1e-9
    assert abs(pp["stanford_pku", "pam"]["test_err_pct"] - 20.0) < 1e-9
    fq = {(r["model"], r["pam_pulses"]): r for r in tables["pam_frequency"]}
    assert abs(fq["stanford_pku", 1]["test_err_pct"] - 20.0) < 1e-9
    assert abs(fq["stanford_pku", 3]["test_err_pct"] - 15.0) < 1e-9
    assert fq["team", 3]["status"] == "not run (time)"
