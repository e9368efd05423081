"""Regression goldens: arrays stored in ``tests/golden/NAME.npz``, compared within a relative tolerance.

A bit-for-bit hash of a result is not portable between machines: numpy dispatches exp, log and
power to AVX-512 or AVX2 kernels by CPU, and OpenBLAS picks its GEMM kernel by CPU, and the two
paths differ by an ulp here and there (the same code gave other hashes on an AVX-512 EPYC than
on the AVX2 machine the hashes were taken on). So a golden is the stored arrays, compared at
``rtol`` (default 1e-12: rounding-level, far below any change of formula or order of operations
a refactoring could make unnoticed), and the hash it was checked against when written
(``legacy``) is kept in the test: :func:`check` refuses to write arrays whose fingerprint is
not the legacy hash, so the stored arrays are the results of the code the hash was taken from.

Write (or rewrite) the files, on an x86-64 machine, pinned to the AVX2 paths the legacy hashes
were taken with::

    EBANA_WRITE_GOLDEN=1 OPENBLAS_CORETYPE=Haswell NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL" \\
        python -m pytest -q tests/test_array_schemes.py tests/test_nonideal_runs.py
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def fingerprint(arrays, extra: bytes = b"") -> str:
    """First 16 hex digits of the sha256 of the arrays' float64 bytes (then ``extra``)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    h.update(extra)
    return h.hexdigest()[:16]


def check(name: str, values: dict[str, np.ndarray], legacy: str | None = None, current: str | None = None,
          rtol: float = 1e-12) -> None:
    """Assert that every array of ``values`` equals ``tests/golden/<name>.npz`` within ``rtol``.

    ``legacy``: the hash the result had when the golden was taken, ``current`` its hash now
    (:func:`fingerprint`, computed by the caller); with ``EBANA_WRITE_GOLDEN=1`` the file is
    written only if they agree."""
    path = GOLDEN_DIR / f"{name}.npz"
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
    if os.environ.get("EBANA_WRITE_GOLDEN") == "1":
        assert legacy is None or current == legacy, (
            f"{name}: fingerprint {current} is not the legacy hash {legacy}; not writing {path}")
        GOLDEN_DIR.mkdir(exist_ok=True)
        np.savez(path, **arrays)
    assert path.exists(), f"golden {path} missing (see tests/golden.py for how to write it)"
    with np.load(path) as ref:
        assert sorted(ref.files) == sorted(arrays), (name, sorted(ref.files), sorted(arrays))
        for k, a in arrays.items():
            r = ref[k]
            assert a.shape == r.shape, (name, k, a.shape, r.shape)
            same_nan = np.array_equal(np.isnan(a), np.isnan(r))
            ok = np.isnan(a) | (np.abs(a - r) <= rtol * np.abs(r))
            worst = float(np.nanmax(np.abs(a - r) / np.maximum(np.abs(r), 1e-300))) if a.size else 0.0
            assert same_nan and bool(ok.all()), f"{name}[{k}]: max relative difference {worst:.3g} > {rtol:g}"
