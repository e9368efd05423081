"""Test helper: write small IDX files (and whole four-file sets) without any downloaded data."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ebana.datasets.idx import ROLES, STANDARD_NAMES


def idx_bytes(array: np.ndarray, *, type_code: int = 0x08, dims: tuple[int, ...] | None = None,
              magic_prefix: bytes = b"\x00\x00") -> bytes:
    """The IDX encoding of ``array`` (uint8 elements); ``type_code``, ``dims`` and the first two
    magic bytes can be overridden to make bad headers."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    dims = array.shape if dims is None else dims
    header = magic_prefix + bytes([type_code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + array.tobytes()


def write_idx(path: Path, data: np.ndarray | bytes, *, gz: bool | None = None) -> Path:
    """Write ``data`` (an array, or ready IDX bytes) to ``path``; gzip it if the name ends in .gz."""
    raw = data if isinstance(data, bytes) else idx_bytes(data)
    gz = path.suffix == ".gz" if gz is None else gz
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    return path


def tiny_arrays(rng: np.random.Generator, *, n_train: int = 30, n_test: int = 12, rows: int = 4, cols: int = 5,
                labels: tuple[int, ...] = (0, 1, 2)) -> dict[str, np.ndarray]:
    """Images whose bright row depends on the class (learnable), plus labels, by role."""
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = np.array([labels[k % len(labels)] for k in range(n)], dtype=np.uint8)
        x = rng.integers(0, 40, (n, rows, cols)).astype(np.uint8)
        for k, label in enumerate(y):
            x[k, labels.index(label) % rows, :] = 255
        out[f"{split}_images"], out[f"{split}_labels"] = x, y
    return out


def write_set(directory: Path, arrays: dict[str, np.ndarray], *, gz: bool = False,
              names: dict[str, str] | None = None) -> dict[str, Path]:
    """Write the four files (standard names unless ``names``) into ``directory``; their paths by role."""
    names = names or STANDARD_NAMES
    return {role: write_idx(directory / (names[role] + (".gz" if gz else "")), arrays[role]) for role in ROLES}
