"""Image data sets in the four-file IDX format (MNIST's), named or from any directory.

An IDX file is a big-endian header -- the magic number ``0x0000TTNN`` (``TT`` the element
type code, ``NN`` the number of dimensions), then ``NN`` 32-bit dimensions -- followed by the
elements in C order. ebana reads unsigned-byte files only (type code ``0x08``): images
``(n, rows, cols)`` and labels ``(n,)``. A file may be raw or gzip-compressed (``name.gz``);
when both exist the ``.gz`` is read.

- :class:`IdxFile` -- what one file must hold: dimensions, optional exact shape and checksums.
- :func:`read_idx` -- one file -> its verified uint8 array.
- :func:`find_idx_files` -- the four files of an unnamed set in a directory (name patterns).
- :func:`idx_dataset` -- four files -> a :class:`~ebana.datasets.Dataset` (counts, sizes,
  labels cross-checked).
- :func:`load_idx` -- registered as ``"idx"``: any four IDX files in ``data_dir``; the classes
  are the distinct training labels, the image size comes from the header.

The named sets (``mnist``, ``fashion-mnist``, ``kmnist``) and their checksums are in
:mod:`ebana.datasets.mnist`. Every bad input raises a one-line
:class:`~ebana.errors.DatasetError` naming the directory or file and the bad value.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ebana.datasets.base import DATASETS, Dataset, check_limit, resolve_data_dir
from ebana.errors import DatasetError

__all__ = [
    "IDX_PATTERNS",
    "ROLES",
    "STANDARD_NAMES",
    "IdxFile",
    "find_idx_files",
    "idx_dataset",
    "load_idx",
    "read_idx",
]

logger = logging.getLogger(__name__)

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
"""The four files of a set, in the order they are read."""

STANDARD_NAMES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""MNIST's file names (without ``.gz``), shared by Fashion-MNIST and Kuzushiji-MNIST."""

_SEP = r"[-_.]"
IDX_PATTERNS: dict[str, re.Pattern[str]] = {
    role: re.compile(rf"(?P<prefix>.*?){split}{_SEP}{kind}{_SEP}idx{nd}{_SEP}ubyte(?:\.gz)?")
    for role, split, kind, nd in [
        ("train_images", "train", "images", 3),
        ("train_labels", "train", "labels", 1),
        ("test_images", "(?:t10k|test)", "images", 3),
        ("test_labels", "(?:t10k|test)", "labels", 1),
    ]
}
"""File names an unnamed set may use (whole name, case-sensitive): an optional prefix, then
``train`` or ``t10k``/``test``, ``images``/``labels``, ``idx3``/``idx1``, ``ubyte``, separated by
``-``, ``_`` or ``.``, optionally ``.gz``. Examples: ``train-images-idx3-ubyte.gz``,
``t10k-labels.idx1-ubyte``, ``emnist-letters-test-images-idx3-ubyte``."""

_PATTERN_TEXT = "[PREFIX]{train,t10k,test}-{images-idx3,labels-idx1}-ubyte[.gz] ('-', '_' or '.' between parts)"
_HOW = "pass --data-dir (data_dir=) or set EBANA_DATA_DIR"

_UBYTE = 0x08
_TYPE_CODES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32",
               0x0D: "float32", 0x0E: "float64"}


@dataclass(frozen=True, slots=True, kw_only=True)
class IdxFile:
    """What one IDX file must hold (unsigned bytes).

    A checksum that is ``None`` is not checked. ``sha256`` covers the decompressed bytes, so
    a raw file and any ``.gz`` of it pass; ``gz_md5`` covers the bytes of one published
    ``.gz`` file and is checked only when that ``.gz`` is what is read.
    """

    ndim: int
    """Number of dimensions: 3 for images ``(n, rows, cols)``, 1 for labels ``(n,)``."""
    shape: tuple[int, ...] | None = None
    """The exact dimensions (named sets), or ``None``: any."""
    sha256: str | None = None
    """sha256 of the decompressed file (hex)."""
    gz_md5: str | None = None
    """md5 of the published ``.gz`` file (hex)."""

    @property
    def n_bytes(self) -> int | None:
        """Decompressed size (B) when the shape is known: header plus one byte per element."""
        if self.shape is None:
            return None
        return 4 + 4 * len(self.shape) + math.prod(self.shape)


IMAGES, LABELS = IdxFile(ndim=3), IdxFile(ndim=1)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _corrupt(what: str, path: Path, why: str) -> DatasetError:
    return DatasetError(_one_line(f"{what} file {path} is corrupt: {why}"))


def _read_bytes(path: Path, expected: IdxFile, what: str) -> bytes:
    """The file's decompressed bytes; the ``.gz`` md5 is checked before decompressing."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"{what} file {path}: cannot read ({err.strerror or err})") from None
    if path.suffix != ".gz":
        return data
    if expected.gz_md5 is not None:
        digest = hashlib.md5(data).hexdigest()
        if digest != expected.gz_md5:
            raise DatasetError(f"{what} file {path} fails its checksum: md5 of the .gz file is {digest}, "
                               f"expected {expected.gz_md5}, the published file's (a recompressed copy differs "
                               "too: decompress it to use the raw file, which is checked by structure only)")
    try:
        return gzip.decompress(data)
    except EOFError:
        raise _corrupt(what, path, "truncated gzip stream") from None
    except (OSError, zlib.error) as err:
        raise _corrupt(what, path, f"bad gzip data ({err})") from None


def read_idx(path: str | os.PathLike[str], expected: IdxFile, *, what: str = "IDX") -> NDArray[np.uint8]:
    """Read one IDX file (raw, or gzip if its name ends in ``.gz``) and verify it.

    Checked in this order: the ``.gz`` md5 (if ``expected.gz_md5`` and a ``.gz``), the gzip
    stream, the magic number (two zero bytes, type code ``0x08``, ``expected.ndim``), the
    dimensions (``expected.shape`` if given), the size against the dimensions, and the
    sha256 of the decompressed bytes (if ``expected.sha256``).

    Parameters
    ----------
    path
        The file.
    expected
        What it must hold.
    what
        Name of the data set, for messages (``"MNIST"``; default ``"IDX"``).

    Returns
    -------
    The elements, shape as in the header, uint8 (a read-only view of the file's bytes).

    Raises
    ------
    DatasetError
        One line naming the file and the bad value.
    """
    path = Path(path)
    raw = _read_bytes(path, expected, what)
    if len(raw) < 4:
        raise _corrupt(what, path, f"truncated: {len(raw)} bytes, shorter than the 4-byte IDX magic number")
    magic = int.from_bytes(raw[:4], "big")
    code, ndim = raw[2], raw[3]
    want_magic = (_UBYTE << 8) | expected.ndim
    if raw[0] or raw[1]:
        raise _corrupt(what, path, f"bad IDX magic number 0x{magic:08x} (the first two bytes must be 0), "
                       f"expected 0x{want_magic:08x}")
    if code != _UBYTE:
        name = _TYPE_CODES.get(code, "not an IDX type")
        raise _corrupt(what, path, f"IDX type code 0x{code:02x} ({name}) in magic number 0x{magic:08x}; "
                       f"only 0x{_UBYTE:02x} (unsigned byte) is supported")
    if ndim != expected.ndim:
        kind = "images (n, rows, cols)" if expected.ndim == 3 else f"{expected.ndim}-D"
        raise _corrupt(what, path, f"IDX magic number 0x{magic:08x}, expected 0x{want_magic:08x}: "
                       f"{ndim} dimensions, need {expected.ndim} for {'labels (n,)' if expected.ndim == 1 else kind}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _corrupt(what, path, f"truncated: {len(raw)} bytes, shorter than its {header}-byte IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if expected.shape is not None and dims != expected.shape:
        raise _corrupt(what, path, f"IDX dimensions {dims}, expected {expected.shape}")
    need = header + math.prod(dims)
    if len(raw) < need:
        raise _corrupt(what, path, f"truncated: {len(raw)} bytes, its header's dimensions {dims} need {need}")
    if len(raw) > need:
        raise _corrupt(what, path, f"{len(raw)} bytes, its header's dimensions {dims} need {need} "
                       f"({len(raw) - need} trailing bytes)")
    if expected.sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != expected.sha256:
            raise _corrupt(what, path, f"sha256 of the decompressed bytes is {digest}, expected {expected.sha256} "
                           "(checksum mismatch)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def find_idx_files(directory: str | os.PathLike[str]) -> dict[str, Path]:
    """The four files of the unnamed set in ``directory``, by role (see :data:`IDX_PATTERNS`).

    Each role needs exactly one file name stem (``name`` and ``name.gz`` are one stem; the
    ``.gz`` is read when both exist).

    Raises
    ------
    DatasetError
        The directory does not exist, or a role has no file or more than one.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"IDX data directory {directory} does not exist; expected four files named "
                           f"{_PATTERN_TEXT}; {_HOW}")
    try:
        entries = sorted(e.name for e in os.scandir(directory) if e.is_file())
    except OSError as err:
        raise DatasetError(f"IDX data directory {directory}: cannot list ({err.strerror or err})") from None
    found: dict[str, Path] = {}
    for role in ROLES:
        stems = sorted({n.removesuffix(".gz") for n in entries if IDX_PATTERNS[role].fullmatch(n)})
        label = role.replace("_", " ")
        if not stems:
            raise DatasetError(f"IDX data directory {directory} has no {label} file; expected names like "
                               f"{STANDARD_NAMES[role]}[.gz], i.e. {_PATTERN_TEXT}")
        if len(stems) > 1:
            raise DatasetError(f"IDX data directory {directory} has {len(stems)} {label} files "
                               f"({', '.join(stems)}); keep one set of four files per directory")
        stem = stems[0]
        found[role] = directory / (f"{stem}.gz" if f"{stem}.gz" in entries else stem)
    return found


def _label_classes(y: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Sorted distinct label values."""
    return np.flatnonzero(np.bincount(y, minlength=256)).astype(np.int64)


def _describe(values: NDArray[np.int64]) -> str:
    if len(values) and values[-1] - values[0] + 1 == len(values):
        return f"{values[0]}..{values[-1]}"
    return ", ".join(str(v) for v in values)


def _images(pixels: NDArray[np.uint8], limit: int | None) -> NDArray[np.float32]:
    """First ``limit`` images as float32 pixel/255, shape (n, rows * cols)."""
    part = pixels[:limit]
    x = part.reshape(part.shape[0], -1).astype(np.float32)
    x /= np.float32(255.0)
    return x


def idx_dataset(
    name: str,
    paths: Mapping[str, Path],
    expected: Mapping[str, IdxFile],
    *,
    class_names: tuple[str, ...] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    what: str = "IDX",
) -> Dataset:
    """Read four IDX files (by role, see :data:`ROLES`) into a :class:`Dataset`.

    Images and labels of a split must have the same count, train and test images the same
    size. With ``class_names`` the labels must lie in ``0 .. len(class_names) - 1``; without,
    the classes are the distinct training labels (class ``k`` is the k-th smallest, named by its
    value), at least two, and every test label must be one of them.

    Raises
    ------
    DatasetError
        A file is bad (see :func:`read_idx`) or the files disagree; the message names them.
    """
    limit_train = check_limit("limit_train", limit_train)
    limit_test = check_limit("limit_test", limit_test)
    arrays = {role: read_idx(paths[role], expected[role], what=what) for role in ROLES}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        img, lab = paths[f"{split}_images"], paths[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise DatasetError(f"{what} files disagree: {img} holds {images.shape[0]} images but {lab} holds "
                               f"{labels.shape[0]} labels")
        if images.shape[0] == 0:
            raise DatasetError(f"{what} file {img} holds no images")
        if 0 in images.shape[1:]:
            raise DatasetError(f"{what} file {img}: image size {images.shape[1]}x{images.shape[2]} is empty")
    train_img, test_img = arrays["train_images"], arrays["test_images"]
    if train_img.shape[1:] != test_img.shape[1:]:
        raise DatasetError(f"{what} files disagree: {paths['train_images']} holds {train_img.shape[1]}x"
                           f"{train_img.shape[2]} images but {paths['test_images']} {test_img.shape[1]}x"
                           f"{test_img.shape[2]}")
    y_train, y_test = arrays["train_labels"], arrays["test_labels"]
    if class_names is not None:
        for role, y in (("train_labels", y_train), ("test_labels", y_test)):
            bad = np.flatnonzero(y >= len(class_names))
            if bad.size:
                raise DatasetError(f"{what} file {paths[role]}: label {y[bad[0]]} (sample {bad[0]}) is out of "
                                   f"range 0..{len(class_names) - 1}")
        lut = np.arange(256, dtype=np.int64)
    else:
        classes = _label_classes(y_train)
        if len(classes) < 2:
            raise DatasetError(f"{what} file {paths['train_labels']}: every label is {classes[0]}; need at "
                               "least two classes")
        lut = np.full(256, -1, dtype=np.int64)
        lut[classes] = np.arange(len(classes))
        bad = np.flatnonzero(lut[y_test] < 0)
        if bad.size:
            raise DatasetError(f"{what} file {paths['test_labels']}: label {y_test[bad[0]]} (sample {bad[0]}) is "
                               f"out of range: the training labels in {paths['train_labels']} are "
                               f"{_describe(classes)}")
        class_names = tuple(str(v) for v in classes)
    rows, cols = train_img.shape[1:]
    ds = Dataset(
        name=name,
        x_train=_images(train_img, limit_train),
        y_train=lut[y_train[:limit_train]],
        x_test=_images(test_img, limit_test),
        y_test=lut[y_test[:limit_test]],
        class_names=class_names,
        feature_names=tuple(f"pixel_{r}_{c}" for r in range(rows) for c in range(cols)),
    )
    logger.debug("%s: %d train / %d test %dx%d images, %d classes", name, len(ds.y_train), len(ds.y_test),
                 rows, cols, ds.n_classes)
    return ds


@DATASETS.register("idx")
def load_idx(
    *,
    seed: int = 0,
    test_fraction: float = 0.3,
    data_dir: str | os.PathLike[str] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load the four IDX files in ``data_dir`` (any unsigned-byte image set, no checksums).

    ``seed`` and ``test_fraction`` are unused: the files fix the split. See
    :func:`find_idx_files` for the names and :func:`idx_dataset` for the checks.
    """
    check_limit("limit_train", limit_train)
    check_limit("limit_test", limit_test)
    paths = find_idx_files(resolve_data_dir(data_dir))
    return idx_dataset("idx", paths, {role: IMAGES if role.endswith("images") else LABELS for role in ROLES},
                       limit_train=limit_train, limit_test=limit_test)
