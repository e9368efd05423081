"""Any four-file IDX set: synthetic files, name patterns, and one-line errors for every bad input."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest

from ebana import datasets
from ebana.datasets.idx import IMAGES, STANDARD_NAMES, IdxFile, read_idx
from ebana.datasets.mnist import NamedIdxSet, load_named
from ebana.errors import DatasetError
from tests.conftest import SHARED_DATA
from tests.datasets.idx_files import idx_bytes, tiny_arrays, write_idx, write_set


@pytest.fixture
def arrays(rng):
    return tiny_arrays(rng)


def _error(directory: Path, name: str = "idx") -> str:
    with pytest.raises(DatasetError) as err:
        datasets.load(name, data_dir=directory)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# ------------------------------------------------------------------ good sets
@pytest.mark.parametrize("gz", [False, True])
def test_loads_sizes_and_classes_from_the_files(tmp_path, arrays, gz):
    write_set(tmp_path, arrays, gz=gz)
    ds = datasets.load("idx", data_dir=tmp_path)
    assert ds.name == "idx" and ds.x_train.shape == (30, 20) and ds.x_test.shape == (12, 20)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert (ds.n_features, ds.n_classes, ds.class_names) == (20, 3, ("0", "1", "2"))
    assert ds.feature_names[:2] == ("pixel_0_0", "pixel_0_1") and ds.feature_names[-1] == "pixel_3_4"
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"].reshape(30, 20) / np.float32(255))
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])


def test_limits(tmp_path, arrays):
    write_set(tmp_path, arrays)
    ds = datasets.load("idx", data_dir=tmp_path, limit_train=7, limit_test=2)
    assert ds.x_train.shape == (7, 20) and ds.y_test.tolist() == arrays["test_labels"][:2].tolist()
    assert ds.n_classes == 3   # classes come from the whole training file


def test_env_var(tmp_path, arrays, monkeypatch):
    write_set(tmp_path, arrays)
    monkeypatch.setenv("EBANA_DATA_DIR", str(tmp_path))
    assert datasets.load("idx").n_classes == 3


def test_label_values_with_gaps_become_classes(tmp_path, rng):
    write_set(tmp_path, tiny_arrays(rng, labels=(1, 3, 26)))
    ds = datasets.load("idx", data_dir=tmp_path)
    assert ds.class_names == ("1", "3", "26") and sorted(set(ds.y_train.tolist())) == [0, 1, 2]


@pytest.mark.parametrize("names", [
    {"train_images": "train-images.idx3-ubyte", "train_labels": "train-labels.idx1-ubyte",
     "test_images": "t10k-images.idx3-ubyte", "test_labels": "t10k-labels.idx1-ubyte"},
    {"train_images": "emnist-letters-train-images-idx3-ubyte", "train_labels": "emnist-letters-train-labels-idx1-ubyte",
     "test_images": "emnist-letters-test-images-idx3-ubyte", "test_labels": "emnist-letters-test-labels-idx1-ubyte"},
])
def test_name_patterns(tmp_path, arrays, names):
    write_set(tmp_path, arrays, names=names)
    (tmp_path / "README.txt").write_text("not an IDX file\n")
    assert datasets.load("idx", data_dir=tmp_path).x_test.shape == (12, 20)


def test_gz_read_when_raw_is_also_there(tmp_path, arrays):
    write_set(tmp_path, arrays, gz=True)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"broken")
    assert datasets.load("idx", data_dir=tmp_path).y_train.shape == (30,)


def test_read_idx_keeps_the_header_shape(tmp_path, arrays):
    path = write_idx(tmp_path / "x.gz", arrays["train_images"])
    assert read_idx(path, IMAGES).shape == (30, 4, 5)


# ------------------------------------------------------------------ bad sets
def _replace(directory: Path, arrays, role: str, data) -> Path:
    paths = write_set(directory, arrays)
    return write_idx(paths[role], data)


def _images(n=30, rows=4, cols=5):
    return np.zeros((n, rows, cols), np.uint8)


BAD_FILES = [  # (role, content, words the message must contain)
    ("train_images", idx_bytes(_images(), magic_prefix=b"\x01\x02"), ["bad IDX magic number 0x01020803"]),
    ("train_images", idx_bytes(_images(), type_code=0x0D), ["IDX type code 0x0d (float32)", "0x08"]),
    ("test_labels", idx_bytes(np.zeros(12), type_code=0x42), ["IDX type code 0x42 (not an IDX type)"]),
    ("train_labels", idx_bytes(np.zeros((30, 2))), ["IDX magic number 0x00000802, expected 0x00000801"]),
    ("test_images", idx_bytes(np.zeros((12, 20))), ["2 dimensions, need 3"]),
    ("train_images", idx_bytes(_images())[:-7], ["truncated: 609 bytes", "(30, 4, 5) need 616"]),
    ("train_images", idx_bytes(_images())[:9], ["truncated: 9 bytes, shorter than its 16-byte IDX header"]),
    ("train_labels", b"", ["truncated: 0 bytes"]),
    ("train_labels", idx_bytes(np.zeros(30)) + b"xyz", ["41 bytes", "(3 trailing bytes)"]),
    ("train_labels", idx_bytes(np.zeros(29)), ["holds 30 images but", "holds 29 labels"]),
    ("test_images", idx_bytes(_images(12, 5, 4)), ["4x5 images but", "5x4"]),
    ("train_images", idx_bytes(_images(0)), ["holds 0 images but"]),
    ("test_labels", idx_bytes(np.full(12, 7)), ["label 7 (sample 0) is out of range", "training labels", "0..2"]),
    ("train_labels", idx_bytes(np.full(30, 4)), ["every label is 4; need at least two classes"]),
]


@pytest.mark.parametrize("role, content, words", BAD_FILES)
def test_bad_file_is_one_line_naming_it(tmp_path, arrays, role, content, words):
    path = _replace(tmp_path, arrays, role, content)
    message = _error(tmp_path)
    assert str(path) in message, message
    for word in words:
        assert word in message, message


def test_no_images_at_all(tmp_path, arrays):
    arrays = {**arrays, "train_images": _images(0), "train_labels": np.zeros(0, np.uint8)}
    write_set(tmp_path, arrays)
    assert "holds no images" in _error(tmp_path)


def test_truncated_and_corrupt_gzip(tmp_path, arrays):
    paths = write_set(tmp_path, arrays, gz=True)
    data = paths["test_images"].read_bytes()
    paths["test_images"].write_bytes(data[: len(data) // 2])
    assert f"{paths['test_images']} is corrupt: truncated gzip stream" in _error(tmp_path)
    paths["test_images"].write_bytes(b"this is not gzip at all")
    assert f"{paths['test_images']} is corrupt: bad gzip data" in _error(tmp_path)


def test_missing_directory(tmp_path):
    message = _error(tmp_path / "nowhere")
    assert f"IDX data directory {tmp_path / 'nowhere'} does not exist" in message
    assert "{train,t10k,test}-{images-idx3,labels-idx1}-ubyte[.gz]" in message and "EBANA_DATA_DIR" in message


@pytest.mark.parametrize("role", list(STANDARD_NAMES))
def test_missing_file(tmp_path, arrays, role):
    write_set(tmp_path, arrays)[role].unlink()
    message = _error(tmp_path)
    assert f"IDX data directory {tmp_path} has no {role.replace('_', ' ')} file" in message
    assert STANDARD_NAMES[role] in message


def test_two_sets_in_one_directory(tmp_path, arrays):
    write_set(tmp_path, arrays)
    write_idx(tmp_path / "other-train-images-idx3-ubyte.gz", arrays["train_images"])
    message = _error(tmp_path)
    assert "has 2 train images files (other-train-images-idx3-ubyte, train-images-idx3-ubyte)" in message


def test_unreadable_path_is_a_directory(tmp_path, arrays):
    write_set(tmp_path, arrays)
    assert "IDX data directory" in _error(tmp_path / "train-images-idx3-ubyte")


# ------------------------------------------------------------------ named sets (checksum rules)
def _tiny_named(directory: Path, arrays, *, gz: bool, md5: bool = True, name: str = "tiny") -> NamedIdxSet:
    """A named set over synthetic files: exact shapes and (for .gz) their md5s."""
    paths = write_set(directory, arrays, gz=gz)
    files = {STANDARD_NAMES[role]: IdxFile(ndim=arrays[role].ndim, shape=arrays[role].shape,
                                           gz_md5=hashlib.md5(p.read_bytes()).hexdigest() if md5 and gz else
                                           "0" * 32)
             for role, p in paths.items()}
    return NamedIdxSet(name=name, title="Tiny", files=files, class_names=("a", "b", "c"), source="tests")


def test_named_gz_with_matching_md5(tmp_path, arrays, caplog):
    spec = _tiny_named(tmp_path, arrays, gz=True)
    with caplog.at_level(logging.WARNING):
        ds = load_named(spec, tmp_path, None, None)
    assert ds.class_names == ("a", "b", "c") and ds.x_train.shape == (30, 20)
    assert "not checksum-verified" not in caplog.text


def test_named_gz_md5_mismatch(tmp_path, arrays):
    spec = _tiny_named(tmp_path, arrays, gz=True, md5=False)
    with pytest.raises(DatasetError) as err:
        load_named(spec, tmp_path, None, None)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    assert f"Tiny file {path} fails its checksum: md5 of the .gz file is {digest}, expected {'0' * 32}" in str(
        err.value)


def test_named_raw_files_checked_by_structure_and_warned(tmp_path, arrays, caplog):
    spec = _tiny_named(tmp_path, arrays, gz=False)   # md5s cannot apply to raw files
    with caplog.at_level(logging.WARNING):
        assert load_named(spec, tmp_path, None, None).n_classes == 3
    assert "raw files train-images-idx3-ubyte" in caplog.text and "not checksum-verified" in caplog.text
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(12, 3))
    with pytest.raises(DatasetError, match=r"label 3 \(sample 0\) is out of range 0..2"):
        load_named(spec, tmp_path, None, None)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(11))
    with pytest.raises(DatasetError, match=r"IDX dimensions \(11,\), expected \(12,\)"):
        load_named(spec, tmp_path, None, None)


def test_named_subdirectory_is_preferred(tmp_path, arrays):
    spec = _tiny_named(tmp_path / "tiny", arrays, gz=True)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"another set's file")
    assert load_named(spec, tmp_path, None, None).x_train.shape == (30, 20)


@pytest.mark.parametrize("name", ["fashion-mnist", "kmnist"])
def test_md5_sets_refuse_mnist_files(name, tmp_path):
    """MNIST's files are not Fashion-MNIST's or KMNIST's: their .gz fails the published md5."""
    if not (SHARED_DATA / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST files not found in {SHARED_DATA}")
    message = _error(SHARED_DATA, name)
    assert "fails its checksum: md5 of the .gz file is" in message
    assert str(SHARED_DATA / "train-images-idx3-ubyte.gz") in message


@pytest.mark.parametrize("name", ["fashion-mnist", "kmnist"])
def test_md5_sets_missing(name, tmp_path):
    message = _error(tmp_path, name)
    assert "train-images-idx3-ubyte (or train-images-idx3-ubyte.gz) not found in" in message


def test_md5_set_accepts_raw_files_of_the_right_shape(tmp_path, caplog):
    """A decompressed Fashion-MNIST set (synthetic here, full size) loads with a warning."""
    rng = np.random.default_rng(0)
    for role, name in STANDARD_NAMES.items():
        n = 60000 if role.startswith("train") else 10000
        data = rng.integers(0, 10, n) if role.endswith("labels") else np.zeros((n, 28, 28))
        write_idx(tmp_path / "fashion-mnist" / name, data)
    with caplog.at_level(logging.WARNING):
        ds = datasets.load("fashion-mnist", data_dir=tmp_path, limit_train=5, limit_test=5)
    assert ds.class_names[0] == "T-shirt/top" and ds.x_train.shape == (5, 784)
    assert "not checksum-verified" in caplog.text
