"""Classification data sets as numpy arrays with seeded, stratified train/test splits.

- :class:`Dataset` -- frozen container: ``x_train, y_train, x_test, y_test`` plus names.
- :func:`load` -- a registered data set by name, or any ``.csv`` file by path.
- :func:`names` -- registered names: ``digits``, ``fashion-mnist``, ``idx``, ``iris``, ``kmnist``,
  ``mnist``.
- :func:`stratified_split` -- seeded per-class proportional train/test indices.

Modules: :mod:`~ebana.datasets.iris` (shipped), :mod:`~ebana.datasets.mnist` (MNIST,
Fashion-MNIST, Kuzushiji-MNIST from local IDX files, with checksums),
:mod:`~ebana.datasets.idx` (the IDX format; ``idx``: any four IDX files in ``data_dir``),
:mod:`~ebana.datasets.digits` (needs scikit-learn), :mod:`~ebana.datasets.csv` (generic tables).
A new data set registers a loader with ``@DATASETS.register(name)``.

Example::

    ds = load("iris", seed=1)           # 105 train / 45 test
    ds = load("mnist", data_dir="../shared/data", limit_train=1000)
    ds = load("idx", data_dir="data/emnist-letters")   # classes from the labels, size from the header
    ds = load("runs/my_table.csv", label_column="class")
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ebana.datasets import digits as _digits  # noqa: F401  (registers "digits")
from ebana.datasets import idx as _idx  # noqa: F401  (registers "idx")
from ebana.datasets import iris as _iris  # noqa: F401  (registers "iris")
from ebana.datasets import mnist as _mnist  # noqa: F401  (registers "mnist", "fashion-mnist", "kmnist")
from ebana.datasets.base import DATASETS, Dataset, Loader, stratified_split
from ebana.datasets.csv import load_csv
from ebana.errors import DatasetError

__all__ = ["DATASETS", "Dataset", "Loader", "load", "names", "stratified_split", "write_csv"]


def names() -> list[str]:
    """Names of the registered data sets, sorted."""
    return DATASETS.names()


def load(
    spec: str | os.PathLike[str],
    *,
    seed: int = 0,
    test_fraction: float = 0.3,
    data_dir: str | os.PathLike[str] | None = None,
    label_column: str | None = None,
    label_columns: tuple[str, ...] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load a data set by registered name or from a ``.csv`` file.

    Parameters
    ----------
    spec
        A name from :func:`names`, or the path of a CSV file (see :mod:`ebana.datasets.csv`).
    seed
        Seed of the stratified train/test split (unused by the IDX sets' fixed split).
    test_fraction
        Fraction of samples in the test set, in (0, 1) (unused by the IDX sets).
    data_dir
        Directory of downloaded IDX files (``mnist``, ``fashion-mnist``, ``kmnist``, ``idx``);
        default ``$EBANA_DATA_DIR``, else ``./data``.
    label_column
        CSV only: name of the label column; default: the last column.
    label_columns
        CSV only: names of several 0/1 label columns (multi-label, ``y`` of shape (n, k)).
    limit_train, limit_test
        Keep only the first n training / test samples (after the split).

    Raises
    ------
    DatasetError
        Unknown name, missing or malformed data, or bad arguments.
    """
    spec = os.fspath(spec)
    if spec in DATASETS:
        if label_column is not None:
            raise DatasetError(
                f"label_column={label_column!r} applies only to .csv files, not to dataset {spec!r}"
            )
        if label_columns:
            raise DatasetError(
                f"label_columns={','.join(label_columns)!r} applies only to .csv files, not to dataset {spec!r}"
            )
        return DATASETS.get(spec)(
            seed=seed,
            test_fraction=test_fraction,
            data_dir=data_dir,
            limit_train=limit_train,
            limit_test=limit_test,
        )
    path = Path(spec)
    if path.is_file():
        return load_csv(
            path,
            seed=seed,
            test_fraction=test_fraction,
            label_column=label_column,
            label_columns=label_columns,
            limit_train=limit_train,
            limit_test=limit_test,
        )
    if path.is_dir():
        raise DatasetError(f"dataset {spec!r} is a directory, not a .csv file")
    if path.suffix.lower() == ".csv":
        raise DatasetError(f"dataset file {spec!r} not found")
    raise DatasetError(
        f"unknown dataset {spec!r}; known: {', '.join(names())} (or a path to a .csv file)"
    )


def write_csv(name: str, path: str | os.PathLike[str], *, data_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Write every sample of data set ``name`` (its training then its test rows) to ``path`` as a CSV
    file that :func:`load` reads back: feature columns ``f0, f1, ...`` then ``label`` (the class index).
    Returns the feature column names (e.g. for a ``[graph]`` input group)."""
    d = load(name, data_dir=data_dir)
    x, y = np.concatenate([d.x_train, d.x_test]), np.concatenate([d.y_train, d.y_test])
    cols = [f"f{k}" for k in range(x.shape[1])]
    rows = "".join(",".join(repr(float(v)) for v in row) + f",{c}\n" for row, c in zip(x, y))
    Path(path).write_text(",".join(cols + ["label"]) + "\n" + rows)
    return cols
