"""MNIST and the two drop-in replacements in its format: Fashion-MNIST and Kuzushiji-MNIST.

Each is 60k train / 10k test 28x28 grey images in 10 classes, in the four standard IDX files
(:data:`~ebana.datasets.idx.STANDARD_NAMES`, raw or ``.gz``; the ``.gz`` is read when both
exist). ebana never downloads anything. The files are looked up in ``data_dir``, else in
``$EBANA_DATA_DIR``, else in ``./data``; if that directory has a subdirectory named after the
set (``mnist/``, ``fashion-mnist/``, ``kmnist/``) the files are read from there, so one data
directory can hold all three (their file names are the same).

What the checksums cover (see :class:`~ebana.datasets.idx.IdxFile`):

- ``mnist``: sha256 of the *decompressed* bytes of each file. A raw file and a ``.gz`` from
  any mirror pass, whatever their compression.
- ``fashion-mnist``, ``kmnist``: md5 of the *published* ``.gz`` files (the values torchvision
  lists; the decompressed checksums are not known here). A ``.gz`` must match it, so a
  recompressed copy fails. A raw file cannot be checked against a ``.gz`` md5: it is accepted
  after the structural checks -- magic number, unsigned bytes, exact shape (60000 or 10000 x
  28 x 28), labels in 0..9 -- and a warning says it was not checksum-verified.

Every file's header, size and labels are checked in all cases (:func:`~ebana.datasets.idx.read_idx`).

- :data:`MNIST_FILES`, :data:`FASHION_MNIST_FILES`, :data:`KMNIST_FILES` -- the expected files.
- :data:`NAMED_SETS` -- the three sets by registered name; loaders :func:`load_mnist`,
  :func:`load_fashion_mnist`, :func:`load_kmnist`: x = pixel/255 as float32, shape (n, 784).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ebana.datasets.base import DATASETS, Dataset, Loader, check_limit, resolve_data_dir
from ebana.datasets.idx import ROLES, STANDARD_NAMES, IdxFile, idx_dataset
from ebana.errors import DatasetError

__all__ = [
    "FASHION_MNIST_FILES",
    "KMNIST_FILES",
    "MNIST_FILES",
    "NAMED_SETS",
    "NamedIdxSet",
    "load_fashion_mnist",
    "load_kmnist",
    "load_mnist",
]

logger = logging.getLogger(__name__)

_TRAIN, _TEST = (60000, 28, 28), (10000, 28, 28)


def _files(shapes_and_sums: list[tuple[tuple[int, ...], dict[str, str]]]) -> dict[str, IdxFile]:
    return {STANDARD_NAMES[role]: IdxFile(ndim=len(shape), shape=shape, **sums)
            for role, (shape, sums) in zip(ROLES, shapes_and_sums)}


MNIST_FILES: dict[str, IdxFile] = _files([
    (_TRAIN, {"sha256": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"}),
    (_TRAIN[:1], {"sha256": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"}),
    (_TEST, {"sha256": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"}),
    (_TEST[:1], {"sha256": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"}),
])
"""MNIST's four files: shape and sha256 of the decompressed bytes (any mirror, raw or gzip)."""

FASHION_MNIST_FILES: dict[str, IdxFile] = _files([
    (_TRAIN, {"gz_md5": "8d4fb7e6c68d591d4c3dfef9ec88bf0d"}),
    (_TRAIN[:1], {"gz_md5": "25c81989df183df01b3e8a0aad5dffbe"}),
    (_TEST, {"gz_md5": "bef4ecab320f06d8554ea6380940ec79"}),
    (_TEST[:1], {"gz_md5": "bb300cfdad3c16e7a12a480ee83cd310"}),
])
"""Fashion-MNIST's four files: shape and md5 of the published ``.gz`` files only."""

KMNIST_FILES: dict[str, IdxFile] = _files([
    (_TRAIN, {"gz_md5": "bdb82020997e1d708af4cf47b453dcf7"}),
    (_TRAIN[:1], {"gz_md5": "e144d726b3acfaa3e44228e80efcd344"}),
    (_TEST, {"gz_md5": "5c965bf0a639b31b8f53240b1b52f4d7"}),
    (_TEST[:1], {"gz_md5": "7320c461ea6c1c855c0b718fb2a4b134"}),
])
"""Kuzushiji-MNIST's four files: shape and md5 of the published ``.gz`` files only."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedIdxSet:
    """A known data set in the four standard IDX files."""

    name: str
    """Registered name, also the optional subdirectory of the data directory."""
    title: str
    """Name in messages."""
    files: dict[str, IdxFile]
    """Expected content by standard file name (see :data:`STANDARD_NAMES`)."""
    class_names: tuple[str, ...]
    source: str
    """Where the data set is published."""


NAMED_SETS: dict[str, NamedIdxSet] = {s.name: s for s in [
    NamedIdxSet(name="mnist", title="MNIST", files=MNIST_FILES, class_names=tuple("0123456789"),
                source="LeCun, Bottou, Bengio, Haffner, Proc. IEEE 86, 2278 (1998)"),
    NamedIdxSet(name="fashion-mnist", title="Fashion-MNIST", files=FASHION_MNIST_FILES,
                class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                             "Sneaker", "Bag", "Ankle boot"),
                source="Xiao, Rasul, Vollgraf, arXiv:1708.07747 (2017), github.com/zalandoresearch/fashion-mnist"),
    NamedIdxSet(name="kmnist", title="Kuzushiji-MNIST", files=KMNIST_FILES,
                # the ten hiragana o ki su tsu na ha ma ya re wo, romanised (kmnist_classmap.csv)
                class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
                source="Clanuwat et al., arXiv:1812.01718 (2018), github.com/rois-codh/kmnist"),
]}
"""The registered named sets."""

_HOW = "pass --data-dir (data_dir=) or set EBANA_DATA_DIR"


def _expected(spec: NamedIdxSet) -> str:
    return ", ".join(spec.files) + " (each raw or .gz)"


def _find(spec: NamedIdxSet, directory: Path, name: str) -> Path:
    """The ``.gz`` file if present, else the raw one."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{spec.title} file {name} (or {name}.gz) not found in {directory}; "
                       f"expected {_expected(spec)}; {_HOW}")


def load_named(spec: NamedIdxSet, data_dir: str | os.PathLike[str] | None, limit_train: int | None,
               limit_test: int | None) -> Dataset:
    """Load a named set from its data directory (see the module docstring for the rules)."""
    limit_train = check_limit("limit_train", limit_train)
    limit_test = check_limit("limit_test", limit_test)
    directory = resolve_data_dir(data_dir)
    if not directory.is_dir():
        raise DatasetError(f"{spec.title} data directory {directory} does not exist; expected "
                           f"{_expected(spec)}; {_HOW}")
    if (directory / spec.name).is_dir():
        directory = directory / spec.name
    paths = {role: _find(spec, directory, STANDARD_NAMES[role]) for role in ROLES}  # all present first
    expected = {role: spec.files[STANDARD_NAMES[role]] for role in ROLES}
    ds = idx_dataset(spec.name, paths, expected, class_names=spec.class_names, limit_train=limit_train,
                     limit_test=limit_test, what=spec.title)
    unverified = [p.name for role, p in paths.items() if expected[role].sha256 is None and p.suffix != ".gz"]
    if unverified:
        logger.warning("%s: raw files %s in %s are not checksum-verified (the known md5s cover the published "
                       ".gz files); only their headers, shapes and labels were checked",
                       spec.title, ", ".join(unverified), directory)
    logger.debug("%s loaded from %s", spec.name, directory)
    return ds


def _loader(spec: NamedIdxSet) -> Loader:
    def load(*, seed: int = 0, test_fraction: float = 0.3, data_dir: str | os.PathLike[str] | None = None,
             limit_train: int | None = None, limit_test: int | None = None) -> Dataset:
        return load_named(spec, data_dir, limit_train, limit_test)

    load.__name__ = load.__qualname__ = f"load_{spec.name.replace('-', '_')}"
    load.__doc__ = (f"Load {spec.title} ({spec.source}) from local IDX files.\n\n"
                    "``seed`` and ``test_fraction`` are unused (a fixed 60k/10k split);\n"
                    "``limit_train``/``limit_test`` keep the first n samples of each part.\n\n"
                    "Raises\n------\nDatasetError\n    A file is missing, corrupt or fails its checksum "
                    "(the message names the directory or file and the value).\n")
    return DATASETS.register(spec.name)(load)


load_mnist = _loader(NAMED_SETS["mnist"])
load_fashion_mnist = _loader(NAMED_SETS["fashion-mnist"])
load_kmnist = _loader(NAMED_SETS["kmnist"])
