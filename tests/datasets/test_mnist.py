"""MNIST from local IDX files: known facts, raw/gzip, limits, and missing or corrupt files."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from ebana import datasets
from ebana.datasets.idx import read_idx
from ebana.datasets.mnist import MNIST_FILES
from ebana.errors import DatasetError
from tests.conftest import SHARED_DATA as SHARED
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
NAMES = list(MNIST_FILES)


@pytest.fixture(scope="module")
def shared() -> Path:
    if not all((SHARED / f"{name}.gz").is_file() for name in NAMES):
        pytest.skip(f"MNIST files not found in {SHARED}")
    return SHARED


@pytest.fixture(scope="module")
def mnist(shared):
    return datasets.load("mnist", data_dir=shared)


def _mirror(shared: Path, target: Path, skip: str | None = None) -> Path:
    """Link every shared .gz file into ``target`` except ``skip``."""
    target.mkdir(exist_ok=True)
    for name in NAMES:
        if name != skip:
            (target / f"{name}.gz").symlink_to(shared / f"{name}.gz")
    return target


def _one_line_error(directory: Path) -> str:
    with pytest.raises(DatasetError) as err:
        datasets.load("mnist", data_dir=directory)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_shapes_and_dtypes(mnist):
    assert mnist.x_train.shape == (60000, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.x_train.dtype == np.float32 and mnist.y_train.dtype == np.int64
    assert mnist.x_train.min() == 0.0 and mnist.x_train.max() == 1.0
    assert (mnist.n_features, mnist.n_classes) == (784, 10)
    assert mnist.class_names == tuple("0123456789")


def test_known_facts(mnist):
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(mnist.y_train, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.y_test, minlength=10).sum() == 10000


def test_limits_take_the_first_samples(shared, mnist):
    small = datasets.load("mnist", data_dir=shared, limit_train=100, limit_test=7)
    assert np.array_equal(small.x_train, mnist.x_train[:100])
    assert np.array_equal(small.y_test, mnist.y_test[:7])


def test_env_var_and_default_dir(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("EBANA_DATA_DIR", str(shared))
    assert datasets.load("mnist", limit_train=3, limit_test=3).y_train.tolist() == [
        5,
        0,
        4,
    ]
    monkeypatch.delenv("EBANA_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    _mirror(shared, tmp_path / "data")
    assert datasets.load("mnist", limit_train=3, limit_test=3).y_train.tolist() == [
        5,
        0,
        4,
    ]


def test_raw_files_accepted(shared, tmp_path, mnist):
    directory = _mirror(shared, tmp_path / "raw", skip="train-labels-idx1-ubyte")
    raw = gzip.decompress((shared / "train-labels-idx1-ubyte.gz").read_bytes())
    (directory / "train-labels-idx1-ubyte").write_bytes(raw)
    ds = datasets.load("mnist", data_dir=directory, limit_test=1)
    assert np.array_equal(ds.y_train, mnist.y_train)


def test_missing_directory(tmp_path):
    message = _one_line_error(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in message and "does not exist" in message
    assert all(name in message for name in NAMES)


def test_missing_file(shared, tmp_path):
    directory = _mirror(shared, tmp_path / "d", skip="t10k-images-idx3-ubyte")
    message = _one_line_error(directory)
    assert (
        f"t10k-images-idx3-ubyte (or t10k-images-idx3-ubyte.gz) not found in {directory}"
        in message
    )
    assert all(name in message for name in NAMES) and "EBANA_DATA_DIR" in message


def test_truncated_gzip(shared, tmp_path):
    name = "t10k-labels-idx1-ubyte"
    directory = _mirror(shared, tmp_path / "d", skip=name)
    data = (shared / f"{name}.gz").read_bytes()
    (directory / f"{name}.gz").write_bytes(data[: len(data) // 2])
    message = _one_line_error(directory)
    assert f"{directory / name}.gz is corrupt: truncated gzip stream" in message


def test_flipped_byte_in_gzip(shared, tmp_path):
    name = "t10k-labels-idx1-ubyte"
    directory = _mirror(shared, tmp_path / "d", skip=name)
    data = bytearray((shared / f"{name}.gz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (directory / f"{name}.gz").write_bytes(bytes(data))
    assert f"{directory / name}.gz is corrupt:" in _one_line_error(directory)


def test_flipped_byte_in_raw_file_fails_checksum(shared, tmp_path):
    name = "t10k-labels-idx1-ubyte"
    directory = _mirror(shared, tmp_path / "d", skip=name)
    raw = bytearray(gzip.decompress((shared / f"{name}.gz").read_bytes()))
    raw[5000] = (raw[5000] + 1) % 10  # still a valid label: only the checksum can tell
    (directory / name).write_bytes(bytes(raw))
    message = _one_line_error(directory)
    assert (
        f"{directory / name} is corrupt: sha256 of the decompressed bytes is" in message
    )
    assert MNIST_FILES[name].sha256 in message


def test_bad_header(shared, tmp_path):
    name = "t10k-labels-idx1-ubyte"
    raw = gzip.decompress((shared / f"{name}.gz").read_bytes())
    path = tmp_path / name
    path.write_bytes(raw[:3] + b"\x03" + raw[4:])
    with pytest.raises(
        DatasetError, match="IDX magic number 0x00000803, expected 0x00000801"
    ):
        read_idx(path, MNIST_FILES[name])
    path.write_bytes(raw[:4] + (9999).to_bytes(4, "big") + raw[8:])
    with pytest.raises(
        DatasetError, match=r"IDX dimensions \(9999,\), expected \(10000,\)"
    ):
        read_idx(path, MNIST_FILES[name])
    path.write_bytes(raw[:-1])
    with pytest.raises(
        DatasetError, match=r"truncated: 10007 bytes, its header's dimensions \(10000,\) need 10008"
    ):
        read_idx(path, MNIST_FILES[name])


def test_not_gzip_at_all(tmp_path):
    name = "t10k-labels-idx1-ubyte"
    path = tmp_path / f"{name}.gz"
    shutil.copyfile(__file__, path)
    with pytest.raises(DatasetError, match="is corrupt: bad gzip data") as err:
        read_idx(path, MNIST_FILES[name])
    assert "\n" not in str(err.value)
