"""Generic CSV classification tables.

- :func:`parse_csv` -- text -> :class:`Table` (float64 features, int64 labels, names).
- :func:`load_csv` -- a ``.csv`` file -> :class:`~ebana.datasets.Dataset` with a seeded
  stratified split; this is what ``ebana.datasets.load("path/to/file.csv")`` calls.

The format: a header row is required; every column except the label column is a numeric
feature; the label column (by name, default: the last column) holds strings or integers.
The sorted unique labels become classes ``0 .. k-1`` (integers sort numerically), and
their text is kept as the class names. Every malformed input raises a one-line
:class:`~ebana.errors.DatasetError` naming the file, the 1-based line number and the column.

Multi-label tables (``label_columns``, config key ``label_columns = "a,b,c"``): several label
columns, each holding 0 or 1 (an independent binary output per column, trained with BCE); every
other column is a feature. ``y`` is then ``(n, k)`` int64 of 0/1 and the class names are the
label columns' names, in the order given.
"""

from __future__ import annotations

import csv as _csv
import io
import logging
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from ebana.datasets.base import Dataset, split_dataset
from ebana.errors import DatasetError

__all__ = ["MISSING_TOKENS", "Table", "load_csv", "parse_csv", "parse_columns"]

logger = logging.getLogger(__name__)

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
"""Feature cells (stripped, case-insensitive) read as a missing value."""

_MAX_SHOWN = 40  # characters of a bad cell quoted in an error message


class Table(NamedTuple):
    """A parsed CSV classification table."""

    x: NDArray[np.float64]
    """Features, shape ``(n, d)``."""
    y: NDArray[np.int64]
    """Class indices, shape ``(n,)``; multi-label: 0/1, shape ``(n, k)``."""
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]


def _show(cell: str) -> str:
    """Quote a cell for an error message: repr (so newlines stay escaped), shortened."""
    return repr(cell if len(cell) <= _MAX_SHOWN else cell[:_MAX_SHOWN] + "...")


def _cell_problem(cell: str) -> str | None:
    """Why a feature cell is unusable, or ``None`` if it is a finite number."""
    if cell.strip().lower() in MISSING_TOKENS:
        return f"missing value {_show(cell)}"
    try:
        value = float(cell)
    except ValueError:
        return f"non-numeric feature value {_show(cell)}"
    if not np.isfinite(value):
        return f"non-finite feature value {_show(cell)}"
    return None


def _read_rows(text: str, source: str) -> list[tuple[int, list[str]]]:
    """Non-blank CSV records with the 1-based line number on which each one ends.

    Quoting is strict: a stray quote or an unterminated quoted field is an error rather
    than silently swallowing the rest of the file into one field.
    """
    reader = _csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rows.append((reader.line_num, row))
    except _csv.Error as err:
        raise DatasetError(
            f"{source}, line {reader.line_num}: malformed CSV ({err})"
        ) from None
    return rows


def _header(
    source: str, line: int, row: list[str], label_column: str | None
) -> tuple[list[str], int]:
    """Validate the header; return the stripped column names and the label column index."""
    names = [c.strip() for c in row]
    for j, name in enumerate(names):
        if not name:
            raise DatasetError(
                f"{source}, line {line}, column {j + 1}: empty column name in the header"
            )
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if name in seen:
            raise DatasetError(
                f"{source}, line {line}, column {j + 1}: duplicate column name {name!r} "
                f"(also column {seen[name] + 1})"
            )
        seen[name] = j
    if all(_cell_problem(name) is None for name in names):
        raise DatasetError(
            f"{source}, line {line}: the first row is all numbers; a header row with column names is required"
        )
    if len(names) < 2:
        raise DatasetError(
            f"{source}, line {line}: the header has {len(names)} column; need feature columns and a label column"
        )
    if label_column is None:
        return names, len(names) - 1
    if label_column not in seen:
        raise DatasetError(
            f"{source}, line {line}: unknown label column {label_column!r}; columns: {', '.join(names)}"
        )
    return names, seen[label_column]


def _label_indices(source: str, line: int, names: list[str], label_columns: tuple[str, ...]) -> list[int]:
    """Indices of the multi-label columns in the header (each named once, at least 2, a feature left)."""
    if len(label_columns) < 2:
        raise DatasetError(f"label_columns {','.join(label_columns)!r}: need at least 2 label columns "
                           f"(one label column: label_column)")
    if len(set(label_columns)) != len(label_columns):
        raise DatasetError(f"label_columns {','.join(label_columns)!r}: a column is named twice")
    for c in label_columns:
        if c not in names:
            raise DatasetError(f"{source}, line {line}: label_columns names {c!r}, which is not a column; "
                               f"columns: {', '.join(names)}")
    if len(label_columns) >= len(names):
        raise DatasetError(f"{source}, line {line}: label_columns {','.join(label_columns)!r} leave no feature column")
    return [names.index(c) for c in label_columns]


def _binary_labels(source: str, lines: NDArray[np.int64], cells: NDArray[np.str_],
                   cols: list[int], names: list[str]) -> NDArray[np.int64]:
    """0/1 label cells (n, k) -> int64; anything else names the line, column and value."""
    labels = np.char.strip(cells)
    ok = (labels == "0") | (labels == "1")
    if not ok.all():
        i, k = np.argwhere(~ok)[0]
        raise DatasetError(f"{source}, line {lines[i]}, column {cols[k] + 1} {names[cols[k]]!r}: label_columns "
                           f"value {_show(str(cells[i, k]))} is not 0 or 1")
    return (labels == "1").astype(np.int64)


def _labels(
    source: str, lines: NDArray[np.int64], cells: NDArray[np.str_], column: str
) -> tuple:
    """Map label cells to class indices 0..k-1 (sorted; integers numerically) and class names."""
    labels = np.char.strip(cells)
    empty = np.flatnonzero(labels == "")
    if empty.size:
        raise DatasetError(
            f"{source}, line {lines[empty[0]]}, column {column}: missing label"
        )
    uniq, inverse = np.unique(labels, return_inverse=True)
    try:
        ints = [int(u) for u in uniq]
    except ValueError:
        y, class_names = inverse, tuple(str(u) for u in uniq)
    else:
        ordered = sorted(set(ints))
        position = {v: i for i, v in enumerate(ordered)}
        y = np.array([position[v] for v in ints], dtype=np.int64)[inverse]
        class_names = tuple(str(v) for v in ordered)
    if len(class_names) < 2:
        raise DatasetError(
            f"{source}, lines {lines[0]}-{lines[-1]}, column {column}: need at least 2 classes, "
            f"found {len(class_names)} ({', '.join(repr(c) for c in class_names)})"
        )
    return np.asarray(y, dtype=np.int64).reshape(-1), class_names


def parse_csv(
    text: str, source: str = "<csv>", label_column: str | None = None,
    label_columns: tuple[str, ...] | None = None,
) -> Table:
    """Parse CSV text into a classification :class:`Table`.

    Parameters
    ----------
    text
        The file's content.
    source
        Name used in error messages (usually the file path).
    label_column
        Name of the label column; default: the last column.
    label_columns
        Names of several 0/1 label columns (multi-label; excludes ``label_column``).

    Raises
    ------
    DatasetError
        Empty input, a bad header or unknown label column, a ragged row, a missing,
        non-numeric or non-finite feature value, a missing label, or fewer than 2 classes.
    """
    rows = _read_rows(text, source)
    if not rows:
        raise DatasetError(f"{source}: empty file; need a header row and data rows")
    header_line, header_row = rows[0]
    if label_columns and label_column is not None:
        raise DatasetError(f"label_column {label_column!r} and label_columns {','.join(label_columns)!r}: "
                           f"give one of them")
    names, label_idx = _header(source, header_line, header_row, label_column)
    label_cols = _label_indices(source, header_line, names, label_columns) if label_columns else [label_idx]
    data = rows[1:]
    if not data:
        raise DatasetError(
            f"{source}, line {header_line}: empty file: no data rows after the header"
        )
    n_cols = len(names)
    for line, row in data:
        if len(row) != n_cols:
            raise DatasetError(
                f"{source}, line {line}: ragged row with {len(row)} fields; the header has {n_cols}"
            )

    lines = np.array([line for line, _ in data], dtype=np.int64)
    cells = np.array([row for _, row in data], dtype=str).reshape(len(data), n_cols)
    feature_cols = [j for j in range(n_cols) if j not in label_cols]
    feature_cells = cells[:, feature_cols]
    try:  # fast path: numpy parses the whole block at once
        x = feature_cells.astype(np.float64)
        ok = bool(np.isfinite(x).all())
    except ValueError:
        ok = False
    if not ok:  # slow path: report the first bad cell in reading order
        for i, row in enumerate(feature_cells):
            for k, cell in enumerate(row):
                problem = _cell_problem(str(cell))
                if problem:
                    j = feature_cols[k]
                    raise DatasetError(
                        f"{source}, line {lines[i]}, column {j + 1} {names[j]!r}: {problem}"
                    )
        raise AssertionError(
            "unreachable: numpy rejected a cell that float() accepts"
        )  # pragma: no cover

    if label_columns:
        y = _binary_labels(source, lines, cells[:, label_cols], label_cols, names)
        class_names = tuple(label_columns)
    else:
        column = f"{label_idx + 1} {names[label_idx]!r}"
        y, class_names = _labels(source, lines, cells[:, label_idx], column)
    feature_names = tuple(names[j] for j in feature_cols)
    return Table(np.ascontiguousarray(x), y, feature_names, class_names)


def read_table(path: str | os.PathLike[str], label_column: str | None = None,
               label_columns: tuple[str, ...] | None = None) -> Table:
    """Read and parse a CSV file (UTF-8, optional BOM) into a :class:`Table`."""
    return parse_csv(_read_text(path), str(path), label_column, label_columns)


def _read_text(path: str | os.PathLike[str]) -> str:
    """The text of a CSV file (UTF-8, optional BOM), or a one-line DatasetError."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{source}: is a directory, not a .csv file") from None
    except UnicodeDecodeError as err:
        raise DatasetError(
            f"{source}: not UTF-8 text (bad byte at offset {err.start})"
        ) from None
    except OSError as err:
        raise DatasetError(f"{source}: cannot read ({err.strerror or err})") from None
    return text


def load_csv(
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    test_fraction: float = 0.3,
    label_column: str | None = None,
    label_columns: tuple[str, ...] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load a CSV classification table and split it (seeded, stratified; multi-label: by the
    rows' label combinations).

    The data set is named after the file's stem. See :func:`parse_csv` for the format
    and :func:`ebana.datasets.load` for the arguments.
    """
    table = read_table(path, label_column, label_columns)
    logger.debug(
        "csv %s: %d rows, %d features, %d classes",
        path,
        *table.x.shape,
        len(table.class_names),
    )
    return split_dataset(
        Path(path).stem,
        table.x,
        table.y,
        table.class_names,
        table.feature_names,
        seed=seed,
        test_fraction=test_fraction,
        limit_train=limit_train,
        limit_test=limit_test,
    )


def parse_columns(
    text: str, source: str, features: dict[str, tuple[str, ...]],
    targets: dict[str, tuple[str, tuple[str, ...] | None]],
) -> tuple[NDArray[np.float64], list[NDArray[np.int64]], list[tuple[str, ...]]]:
    """Named feature and target columns of a CSV table (graph networks, :mod:`ebana.graphnet`).

    ``features``: config key -> feature column names (numeric); ``targets``: config key ->
    (column, class labels or None: the sorted distinct labels, integers numerically). Other
    columns are ignored. Returns x (n, d) in the order given, per target the class indices (n,)
    and the class labels. Errors name the file, line, column and the config key.
    """
    rows = _read_rows(text, source)
    if not rows:
        raise DatasetError(f"{source}: empty file; need a header row and data rows")
    header_line, header_row = rows[0]
    names, _ = _header(source, header_line, header_row, None)
    data = rows[1:]
    if not data:
        raise DatasetError(f"{source}, line {header_line}: empty file: no data rows after the header")
    for line, row in data:
        if len(row) != len(names):
            raise DatasetError(f"{source}, line {line}: ragged row with {len(row)} fields; the header has {len(names)}")
    index = {n: j for j, n in enumerate(names)}
    wanted = [(key, c) for key, cols in features.items() for c in cols] + [(key, c) for key, (c, _) in targets.items()]
    for key, c in wanted:
        if c not in index:
            raise DatasetError(f"{source}: {key} names column {c!r}, which the file does not have; "
                               f"columns: {', '.join(names)}")
    lines = np.array([line for line, _ in data], dtype=np.int64)
    cells = np.array([row for _, row in data], dtype=str).reshape(len(data), len(names))
    x = np.empty((len(data), sum(len(v) for v in features.values())))
    k = 0
    for key, cols in features.items():
        for c in cols:
            j = index[c]
            for i, cell in enumerate(cells[:, j]):
                problem = _cell_problem(str(cell))
                if problem:
                    raise DatasetError(f"{source}, line {lines[i]}, column {j + 1} {c!r} ({key}): {problem}")
            x[:, k] = cells[:, j].astype(np.float64)
            k += 1
    ys, labels = [], []
    for key, (c, classes) in targets.items():
        j = index[c]
        col = f"{j + 1} {c!r} ({key})"
        if classes is None:
            y, names_k = _labels(source, lines, cells[:, j], col)
        else:
            pos = {lab: n for n, lab in enumerate(classes)}
            got = np.char.strip(cells[:, j])
            bad = [i for i, v in enumerate(got) if str(v) not in pos]
            if bad:
                raise DatasetError(f"{source}, line {lines[bad[0]]}, column {col}: label {_show(str(got[bad[0]]))} "
                                   f"is not one of the classes {list(classes)}")
            y, names_k = np.array([pos[str(v)] for v in got], dtype=np.int64), tuple(classes)
        ys.append(y)
        labels.append(names_k)
    return x, ys, labels
