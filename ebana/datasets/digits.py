"""scikit-learn's bundled 8x8 handwritten digits: 1797 images, 64 features, 10 classes.

A small image task between IRIS and MNIST. scikit-learn is an optional dependency and is
imported only when this data set is loaded.

- :func:`load_digits` -- registered as ``"digits"``; x = pixel/16 in [0, 1], float64.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from ebana.datasets.base import DATASETS, Dataset, split_dataset
from ebana.errors import DatasetError

__all__ = ["load_digits"]

logger = logging.getLogger(__name__)


@DATASETS.register("digits")
def load_digits(
    *,
    seed: int = 0,
    test_fraction: float = 0.3,
    data_dir: str | os.PathLike[str] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load the 8x8 digits with a seeded stratified split (``data_dir`` is unused).

    Raises
    ------
    DatasetError
        scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError:
        raise DatasetError(
            "the 'digits' dataset needs scikit-learn: pip install scikit-learn"
        ) from None
    bunch = sklearn_load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    return split_dataset(
        "digits",
        x,
        y,
        tuple(str(k) for k in bunch.target_names),
        tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8)),
        seed=seed,
        test_fraction=test_fraction,
        limit_train=limit_train,
        limit_test=limit_test,
    )
