"""The :class:`Dataset` container, the seeded stratified split and the dataset registry.

Public names are re-exported by :mod:`ebana.datasets`; the loader modules
(``iris``, ``mnist``, ``idx``, ``digits``) register themselves in :data:`DATASETS`.

- :class:`Dataset` -- frozen train/test arrays plus class and feature names.
- :func:`stratified_split` -- per-class proportional, seeded train/test indices.
- :data:`DATASETS` -- ``Registry`` of loader functions (see :class:`Loader`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from ebana.errors import DatasetError
from ebana.registry import Registry

__all__ = [
    "DATASETS",
    "Dataset",
    "Loader",
    "apply_limits",
    "check_limit",
    "resolve_data_dir",
    "split_dataset",
    "stratified_split",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A classification data set with a fixed train/test split.

    Features are raw (not standardised); images are scaled to [0, 1].
    """

    name: str
    """Short name, e.g. ``"iris"`` or the stem of a CSV file."""
    x_train: NDArray[np.floating]
    """Training features, shape ``(n_train, n_features)``, float64 (float32 for IDX images)."""
    y_train: NDArray[np.int64]
    """Training class indices in ``0 .. n_classes - 1``, shape ``(n_train,)``, int64; multi-label
    sets (:attr:`multi_label`): 0/1 per label, shape ``(n_train, n_classes)``."""
    x_test: NDArray[np.floating]
    """Test features, shape ``(n_test, n_features)``."""
    y_test: NDArray[np.int64]
    """Test class indices, shape ``(n_test,)`` (multi-label: ``(n_test, n_classes)`` of 0/1)."""
    class_names: tuple[str, ...]
    """Name of each class; ``class_names[k]`` is the label of class index ``k`` (multi-label: the
    name of label column ``k``, one independent binary output each)."""
    feature_names: tuple[str, ...]
    """Name of each feature column."""

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            k = len(self.class_names)
            if x.ndim != 2 or y.ndim not in (1, 2) or x.shape[0] != y.shape[0] or (y.ndim == 2 and y.shape[1] != k):
                raise DatasetError(
                    f"dataset {self.name!r}: {part} arrays have shapes x={x.shape}, y={y.shape}; "
                    f"need x (n, d) and y (n,) (multi-label: (n, {k}))"
                )
            if not np.issubdtype(y.dtype, np.integer):
                raise DatasetError(
                    f"dataset {self.name!r}: y_{part} has dtype {y.dtype}, need int64"
                )
            if y.ndim == 2:
                if y.size and (y.min() < 0 or y.max() > 1):
                    raise DatasetError(f"dataset {self.name!r}: multi-label y_{part} has values other than 0/1")
            elif y.size and (y.min() < 0 or y.max() >= len(self.class_names)):
                raise DatasetError(
                    f"dataset {self.name!r}: y_{part} has labels outside 0..{len(self.class_names) - 1}"
                )
            if x.shape[1] != len(self.feature_names):
                raise DatasetError(
                    f"dataset {self.name!r}: x_{part} has {x.shape[1]} features "
                    f"but {len(self.feature_names)} feature names"
                )

    @property
    def n_features(self) -> int:
        """Number of input features ``d``."""
        return len(self.feature_names)

    @property
    def n_classes(self) -> int:
        """Number of classes ``k`` (multi-label: of labels, each a binary output)."""
        return len(self.class_names)

    @property
    def multi_label(self) -> bool:
        """True when ``y_*`` are (n, k) 0/1 label rows rather than class indices."""
        return self.y_train.ndim == 2


class Loader(Protocol):
    """Signature of a registered dataset loader (arguments as in :func:`ebana.datasets.load`)."""

    def __call__(
        self,
        *,
        seed: int,
        test_fraction: float,
        data_dir: str | os.PathLike[str] | None,
        limit_train: int | None,
        limit_test: int | None,
    ) -> Dataset: ...


DATASETS: Registry[Loader] = Registry("dataset", DatasetError)
"""Registered dataset loaders by name."""


def stratified_split(
    y: NDArray[np.integer], test_fraction: float, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Split sample indices into train and test sets with the same class proportions.

    The test set holds ``round(n * test_fraction)`` samples. Each class contributes
    ``floor(n_c * test_fraction)`` of them, and the remaining ones go to the classes with
    the largest fractional remainders (ties: lower label first), so per-class counts are
    deterministic and proportional. Which samples are chosen, and the order of both index
    arrays, are drawn from ``rng``: the same labels and a generator in the same state give
    the same split.

    Parameters
    ----------
    y
        Labels, shape ``(n,)``, any integer values.
    test_fraction
        Fraction of samples in the test set, strictly between 0 and 1.
    rng
        Source of randomness, e.g. ``np.random.default_rng(seed)``.

    Returns
    -------
    train_idx, test_idx
        Disjoint int64 index arrays whose union is ``0 .. n-1``, each in shuffled order.
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(
            f"stratified_split: need 1-D integer labels, got shape {y.shape}, dtype {y.dtype}"
        )
    if (
        not isinstance(test_fraction, (int, float))
        or not 0.0 < float(test_fraction) < 1.0
    ):
        raise DatasetError(
            f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}"
        )
    n = y.shape[0]
    n_test = int(np.floor(n * test_fraction + 0.5))
    if n_test < 1 or n_test > n - 1:
        raise DatasetError(
            f"test_fraction {test_fraction} of {n} samples gives {n_test} test samples; "
            "need at least one sample in each of train and test"
        )
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * float(test_fraction)
    per_class = np.floor(quota).astype(np.int64)
    short = n_test - int(per_class.sum())
    order = np.argsort(-(quota - per_class), kind="stable")
    per_class[order[:short]] += 1

    train_parts, test_parts = [], []
    for label, k in zip(classes, per_class):
        members = rng.permutation(np.flatnonzero(y == label))
        test_parts.append(members[:k])
        train_parts.append(members[k:])
    train_idx = rng.permutation(np.concatenate(train_parts)).astype(np.int64)
    test_idx = rng.permutation(np.concatenate(test_parts)).astype(np.int64)
    return train_idx, test_idx


def check_limit(name: str, value: int | None) -> int | None:
    """Validate a ``limit_train``/``limit_test`` argument (``None`` or a positive int)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DatasetError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


def apply_limits(
    ds: Dataset, limit_train: int | None, limit_test: int | None
) -> Dataset:
    """Keep the first ``limit_train`` training and ``limit_test`` test samples (``None``: all)."""
    limit_train = check_limit("limit_train", limit_train)
    limit_test = check_limit("limit_test", limit_test)
    if limit_train is None and limit_test is None:
        return ds
    return dataclasses.replace(
        ds,
        x_train=ds.x_train[:limit_train],
        y_train=ds.y_train[:limit_train],
        x_test=ds.x_test[:limit_test],
        y_test=ds.y_test[:limit_test],
    )


def split_dataset(
    name: str,
    x: NDArray[np.floating],
    y: NDArray[np.int64],
    class_names: tuple[str, ...],
    feature_names: tuple[str, ...],
    *,
    seed: int,
    test_fraction: float,
    limit_train: int | None,
    limit_test: int | None,
) -> Dataset:
    """Build a :class:`Dataset` from one table by a seeded :func:`stratified_split` (multi-label
    ``y`` (n, k): stratified by the label combination of each row)."""
    check_limit("limit_train", limit_train)
    check_limit("limit_test", limit_test)
    strata = y if y.ndim == 1 else np.unique(y, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
    train_idx, test_idx = stratified_split(
        strata, test_fraction, np.random.default_rng(seed)
    )
    ds = Dataset(
        name=name,
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        class_names=class_names,
        feature_names=feature_names,
    )
    logger.debug(
        "dataset %s: %d train, %d test (seed %s)",
        name,
        len(train_idx),
        len(test_idx),
        seed,
    )
    return apply_limits(ds, limit_train, limit_test)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """Directory for downloaded data: ``data_dir``, else ``$EBANA_DATA_DIR``, else ``./data``."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("EBANA_DATA_DIR")
    return Path(env) if env else Path("data")
