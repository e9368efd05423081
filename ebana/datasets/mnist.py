"""MNIST handwritten digits from the four standard IDX files (60k train / 10k test).

ebana never downloads anything. The files are looked up in ``data_dir``, else in the
directory named by the ``EBANA_DATA_DIR`` environment variable, else in ``./data``. Each
file may be raw or gzip-compressed (``name`` or ``name.gz``). The sha256 of the
*decompressed* bytes is checked against :data:`MNIST_FILES`, so files from any mirror pass
whatever their compression, and the IDX header (magic number, dimensions) is validated.

- :func:`load_mnist` -- registered as ``"mnist"``; x = pixel/255 as float32, shape (n, 784).
- :func:`read_idx` -- one verified IDX file -> uint8 array.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from ebana.datasets.base import DATASETS, Dataset, check_limit, resolve_data_dir
from ebana.errors import DatasetError

__all__ = ["MNIST_FILES", "MnistFile", "load_mnist", "read_idx"]

logger = logging.getLogger(__name__)


class MnistFile(NamedTuple):
    """Expected content of one standard MNIST IDX file (decompressed)."""

    n_bytes: int
    sha256: str
    shape: tuple[int, ...]
    """Array shape after the header: (n, 28, 28) for images, (n,) for labels."""


MNIST_FILES: dict[str, MnistFile] = {
    "train-images-idx3-ubyte": MnistFile(
        47040016,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        (60000, 28, 28),
    ),
    "train-labels-idx1-ubyte": MnistFile(
        60008,
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        (60000,),
    ),
    "t10k-images-idx3-ubyte": MnistFile(
        7840016,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        (10000, 28, 28),
    ),
    "t10k-labels-idx1-ubyte": MnistFile(
        10008,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        (10000,),
    ),
}
"""The four standard files: decompressed size (bytes), sha256 of the decompressed bytes, shape."""

_IDX_UBYTE = 0x08  # IDX type code for unsigned bytes
_EXPECTED = ", ".join(MNIST_FILES) + " (each raw or .gz)"
_HOW = "pass --data-dir (data_dir=) or set EBANA_DATA_DIR"


def _corrupt(path: Path, why: str) -> DatasetError:
    why = " ".join(why.split())  # one line whatever the underlying exception says
    return DatasetError(
        f"MNIST file {path} is corrupt: {why}; expected the standard files {_EXPECTED}"
    )


def _find(directory: Path, name: str) -> Path:
    """The raw file if present, else the ``.gz`` one."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"MNIST file {name} (or {name}.gz) not found in {directory}; expected {_EXPECTED}; {_HOW}"
    )


def read_idx(path: Path, expected: MnistFile) -> NDArray[np.uint8]:
    """Read one IDX file (raw or gzip), verify size, header and sha256; return its array.

    Raises
    ------
    DatasetError
        The file cannot be read or decompressed, has the wrong size, a bad magic number
        or dimensions, or a sha256 that differs from ``expected``.
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DatasetError(
            f"MNIST file {path}: cannot read ({err.strerror or err})"
        ) from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            raise _corrupt(path, "truncated gzip stream") from None
        except (OSError, zlib.error) as err:
            raise _corrupt(path, f"bad gzip data ({err})") from None
    if len(raw) != expected.n_bytes:
        raise _corrupt(
            path, f"{len(raw)} bytes after decompression, expected {expected.n_bytes}"
        )
    magic = int.from_bytes(raw[:4], "big")
    want_magic = (_IDX_UBYTE << 8) | len(expected.shape)
    if magic != want_magic:
        raise _corrupt(
            path, f"IDX magic number 0x{magic:08x}, expected 0x{want_magic:08x}"
        )
    header = 4 + 4 * len(expected.shape)
    dims = tuple(
        int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big")
        for i in range(len(expected.shape))
    )
    if dims != expected.shape:
        raise _corrupt(path, f"IDX dimensions {dims}, expected {expected.shape}")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected.sha256:
        raise _corrupt(
            path,
            f"sha256 of the decompressed bytes is {digest}, expected {expected.sha256}",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(expected.shape)


def _images(pixels: NDArray[np.uint8], limit: int | None) -> NDArray[np.float32]:
    """First ``limit`` images as float32 pixel/255, shape (n, 784)."""
    x = pixels[:limit].reshape(-1, 28 * 28).astype(np.float32)
    x /= np.float32(255.0)
    return x


@DATASETS.register("mnist")
def load_mnist(
    *,
    seed: int = 0,
    test_fraction: float = 0.3,
    data_dir: str | os.PathLike[str] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load the standard MNIST split from local IDX files.

    ``seed`` and ``test_fraction`` are unused: MNIST has a fixed 60k/10k split.
    ``limit_train``/``limit_test`` keep the first n samples of each part.

    Raises
    ------
    DatasetError
        The directory or a file is missing, or a file is corrupt (the message names the
        directory or file, the expected file names and the reason).
    """
    limit_train = check_limit("limit_train", limit_train)
    limit_test = check_limit("limit_test", limit_test)
    directory = resolve_data_dir(data_dir)
    if not directory.is_dir():
        raise DatasetError(
            f"MNIST data directory {directory} does not exist; expected {_EXPECTED}; {_HOW}"
        )
    paths = {
        name: _find(directory, name) for name in MNIST_FILES
    }  # all present before slow reads
    arrays = {name: read_idx(paths[name], spec) for name, spec in MNIST_FILES.items()}
    logger.debug("mnist loaded from %s", directory)
    return Dataset(
        name="mnist",
        x_train=_images(arrays["train-images-idx3-ubyte"], limit_train),
        y_train=arrays["train-labels-idx1-ubyte"][:limit_train].astype(np.int64),
        x_test=_images(arrays["t10k-images-idx3-ubyte"], limit_test),
        y_test=arrays["t10k-labels-idx1-ubyte"][:limit_test].astype(np.int64),
        class_names=tuple(str(k) for k in range(10)),
        feature_names=tuple(f"pixel_{r}_{c}" for r in range(28) for c in range(28)),
    )
