"""Fisher's IRIS flowers: 150 samples, 4 features (cm), 3 classes of 50.

The table ships inside the package as ``ebana/datasets/data/iris.csv``. Its values are
scikit-learn's bundled copy: the UCI data with the two known UCI transcription errors
corrected to Fisher's 1936 values (sample 35: petal width 0.2; sample 38: sepal width 3.6,
petal length 1.4). Classes, in index order: setosa, versicolor, virginica.

- :func:`load_iris` -- registered as ``"iris"``; default split 105 train / 45 test.
"""

from __future__ import annotations

import logging
import os
from importlib import resources

from ebana.datasets.base import DATASETS, Dataset, split_dataset
from ebana.datasets.csv import parse_csv
from ebana.errors import DatasetError

__all__ = ["IRIS_RESOURCE", "load_iris"]

logger = logging.getLogger(__name__)

IRIS_RESOURCE = "data/iris.csv"
"""Path of the shipped table inside the ``ebana.datasets`` package."""


@DATASETS.register("iris")
def load_iris(
    *,
    seed: int = 0,
    test_fraction: float = 0.3,
    data_dir: str | os.PathLike[str] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load IRIS with a seeded stratified split (``data_dir`` is unused: the data ships)."""
    resource = resources.files("ebana.datasets").joinpath(IRIS_RESOURCE)
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as err:
        raise DatasetError(
            f"iris: cannot read the shipped table {resource} ({err})"
        ) from None
    table = parse_csv(text, source=str(resource), label_column="species")
    return split_dataset(
        "iris",
        table.x,
        table.y,
        table.class_names,
        table.feature_names,
        seed=seed,
        test_fraction=test_fraction,
        limit_train=limit_train,
        limit_test=limit_test,
    )
