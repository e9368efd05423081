"""CLI on IDX data: ``ebana train idx --data-dir DIR`` trains; every bad file is one line, exit 1."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.cli import cli
from tests.datasets.idx_files import idx_bytes, tiny_arrays, write_idx, write_set


def _run(*args):
    return CliRunner().invoke(cli, list(args))


def _one_line_error(res, *needles):
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert lines[-1].startswith("Error: "), res.output
    for needle in needles:
        assert needle in lines[-1], res.output
    assert "Traceback" not in res.output


@pytest.fixture
def idx_dir(tmp_path, rng):
    write_set(tmp_path / "data", tiny_arrays(rng, n_train=40, n_test=12), gz=True)
    return tmp_path / "data"


def test_idx_trains_with_the_input_size_of_the_images(tmp_path, idx_dir):
    out = tmp_path / "run"
    res = _run("train", "idx", "--data-dir", str(idx_dir), "--hidden", "4", "--epochs", "1", "--batch-size", "8",
               "--out", str(out), "--quiet")
    assert res.exit_code == 0, res.output
    assert "idx 20x2-4-3x2" in res.output and "40 train / 12 test" in res.output   # 4x5 images, 3 classes
    assert "test accuracy" in res.output
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert cfg["dataset"] == "idx" and cfg["data_dir"] == str(idx_dir) and cfg["encoding"] == "none"
    assert cfg["hidden"] == [4] and cfg["epochs"] == 1


@pytest.mark.parametrize("name, content, needle", [
    ("train-images-idx3-ubyte.gz", idx_bytes(np.zeros((40, 4, 5)), magic_prefix=b"\x12\x34"),
     "bad IDX magic number 0x12340803"),
    ("t10k-labels-idx1-ubyte.gz", idx_bytes(np.full(12, 9)), "label 9 (sample 0) is out of range"),
    ("train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(39)), "holds 39 labels"),
    ("t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((12, 4, 5)), type_code=0x0C), "IDX type code 0x0c (int32)"),
    ("t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((12, 4, 5)))[:-1], "truncated: 255 bytes"),
])
def test_bad_idx_file_is_one_line(tmp_path, idx_dir, name, content, needle):
    write_idx(idx_dir / name, content)
    res = _run("train", "idx", "--data-dir", str(idx_dir), "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet")
    _one_line_error(res, str(idx_dir / name), needle)


def test_corrupt_gzip_and_missing_file(tmp_path, idx_dir):
    (idx_dir / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    args = ("train", "idx", "--data-dir", str(idx_dir), "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet")
    _one_line_error(_run(*args), str(idx_dir / "train-labels-idx1-ubyte.gz"), "bad gzip data")
    (idx_dir / "train-labels-idx1-ubyte.gz").unlink()
    _one_line_error(_run(*args), f"IDX data directory {idx_dir} has no train labels file")


@pytest.mark.parametrize("name", ["fashion-mnist", "kmnist"])
def test_named_set_missing_is_one_line(tmp_path, name):
    res = _run("train", name, "--data-dir", str(tmp_path), "--out", str(tmp_path / "r"))
    _one_line_error(res, f"train-images-idx3-ubyte (or train-images-idx3-ubyte.gz) not found in {tmp_path}")


def test_named_presets_follow_mnist():
    from ebana.config import preset
    base = preset("mnist")
    for name in ("fashion-mnist", "kmnist", "idx"):
        cfg = preset(name)
        assert cfg.dataset == name and cfg.circuit == base.circuit and cfg.encoding == "none"
        assert (cfg.hidden, cfg.dtype, cfg.beta) == (base.hidden, base.dtype, base.beta)
