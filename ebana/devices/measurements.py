"""Measured pulse-response data of a memristor: the CSV format, its validation and the per-pulse steps.

Public API: :data:`REQUIRED`, :data:`OPTIONAL`, :class:`Steps`, :func:`read_measurements`,
:func:`read_iv`.

**Format** (one header line, comma separated, one row per read; column order free):

======== ======== ===========================================================================
column   unit     meaning
======== ======== ===========================================================================
pulse    –        pulse number, strictly increasing within a train (0 = the initial read)
g        S        conductance read after that pulse (> 0)
polarity –        ``set`` / ``+1`` / ``+`` (potentiating) or ``reset`` / ``-1`` / ``-``;
                  ``none`` / ``0`` only on the first row of a train (no pulse before it)
width    s        pulse width (> 0)
amplitude V       pulse amplitude magnitude (> 0); the sign comes from ``polarity``
train    –        optional: id of the pulse train; default: one train per width
v_read   V        optional (with ``i_read``): read voltage; ``g`` must equal i_read/v_read (1 %)
i_read   A        optional: read current
i_pulse  A        optional: current measured during the write pulse (the measured I(V) for
                  the write energy; blank cells allowed)
======== ======== ===========================================================================

A row's step is ``ΔG = g - g(previous row of its train)`` caused by the row's pulse (its
polarity, width and amplitude), so several widths and amplitudes fit in one file. Bad input
raises :class:`~ebana.errors.MeasurementError` naming the file, row (the file's line number)
and column.

**I-V file** (:func:`read_iv`, optional, for the Schottky fit): columns ``voltage`` (V, > 0),
``current`` (A, > 0) and ``g`` (S, the read conductance of the state swept).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ebana.errors import MeasurementError

__all__ = ["REQUIRED", "OPTIONAL", "Steps", "IVPoints", "read_measurements", "read_iv", "READ_TOL"]

REQUIRED = ("pulse", "g", "polarity", "width", "amplitude")
"""Columns every measurement file must have."""
OPTIONAL = ("train", "v_read", "i_read", "i_pulse")
"""Columns a measurement file may have."""
READ_TOL = 0.01
"""Relative tolerance (–) between ``g`` and ``i_read/v_read``."""
_POL = {"set": 1, "+1": 1, "+": 1, "1": 1, "reset": -1, "-1": -1, "-": -1, "none": 0, "0": 0, "": 0}


@dataclass(frozen=True, slots=True)
class Steps:
    """Per-pulse steps of a measurement file (one entry per pulse, arrays of equal length).

    ``g0``/``g1``: conductance before/after the pulse (S); ``polarity`` ±1; ``width`` (s);
    ``amplitude`` (V, > 0); ``i_pulse`` (A, NaN where not measured); ``row``: file line of the
    pulse; ``g_all``: every read conductance (S), for the range.
    """

    g0: np.ndarray
    g1: np.ndarray
    polarity: np.ndarray
    width: np.ndarray
    amplitude: np.ndarray
    i_pulse: np.ndarray
    row: np.ndarray
    g_all: np.ndarray
    source: str

    @property
    def dg(self) -> np.ndarray:
        """ΔG of every pulse (S)."""
        return self.g1 - self.g0


@dataclass(frozen=True, slots=True)
class IVPoints:
    """Write-current points: voltage (V, > 0), current (A, > 0) and state conductance g (S)."""

    v: np.ndarray
    i: np.ndarray
    g: np.ndarray


def _number(text: str, where: str, col: str, *, positive: bool = True) -> float:
    try:
        val = float(text)
    except ValueError:
        raise MeasurementError(f"{where}, column {col}: {text!r} is not a number") from None
    if not math.isfinite(val):
        raise MeasurementError(f"{where}, column {col}: value {text!r} is not finite")
    if positive and not val > 0:
        raise MeasurementError(f"{where}, column {col}: must be > 0, got {val:g}")
    return val


def _rows(path: Path, required: tuple[str, ...], optional: tuple[str, ...]):
    try:
        fh = path.open(newline="", encoding="utf-8-sig")  # a spreadsheet BOM is not part of the header
    except OSError as err:
        raise MeasurementError(f"{path}: cannot read ({err.strerror})") from None
    with fh:
        try:
            yield from _parse(path, csv.reader(fh), required, optional)
        except (UnicodeDecodeError, csv.Error) as err:
            raise MeasurementError(f"{path}: not a UTF-8 CSV file ({type(err).__name__}: {err})") from None


def _parse(path: Path, reader, required: tuple[str, ...], optional: tuple[str, ...]):
    """(line number, {column: cell}) of every non-empty row after a checked header."""
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise MeasurementError(f"{path} row 1: missing column {missing[0]!r} (need "
                               f"{', '.join(required)}; optional {', '.join(optional)})")
    unknown = [c for c in header if c not in required + optional]
    if unknown:
        raise MeasurementError(f"{path} row 1: unknown column {unknown[0]!r} (known: "
                               f"{', '.join(required + optional)})")
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise MeasurementError(f"{path} row {line}: {len(cells)} cells, header has {len(header)}")
        yield line, dict(zip(header, (c.strip() for c in cells)))


def read_measurements(path: str | Path) -> Steps:
    """Read and validate a measurement CSV (module docstring); return its per-pulse steps."""
    path = Path(path)
    trains: dict[str, list[tuple[int, float, float, int, float, float, float]]] = {}
    g_all: list[float] = []
    for line, r in _rows(path, REQUIRED, OPTIONAL):
        where = f"{path} row {line}"
        pulse = _number(r["pulse"], where, "pulse", positive=False)
        if pulse != int(pulse) or pulse < 0:
            raise MeasurementError(f"{where}, column pulse: must be an integer >= 0, got {r['pulse']!r}")
        g = _number(r["g"], where, "g")
        pol = _POL.get(r["polarity"].lower())
        if pol is None:
            raise MeasurementError(f"{where}, column polarity: {r['polarity']!r} is not set/+1 or reset/-1")
        width = _number(r["width"], where, "width")
        amp = _number(r["amplitude"], where, "amplitude")
        i_pulse = _number(r["i_pulse"], where, "i_pulse") if r.get("i_pulse") else math.nan
        read = ("v_read" in r and r["v_read"] != "") or ("i_read" in r and r["i_read"] != "")
        if read:
            v_read = _number(r.get("v_read", ""), where, "v_read")
            i_read = _number(r.get("i_read", ""), where, "i_read")
            if abs(i_read / v_read - g) > READ_TOL * g:
                raise MeasurementError(f"{where}, column g: {g:g} S differs from i_read/v_read = "
                                       f"{i_read / v_read:g} S by more than {READ_TOL:.0%}")
        key = r.get("train") or f"width={width!r}"
        train = trains.setdefault(key, [])
        if train:
            prev = train[-1]
            if pulse <= prev[1]:
                raise MeasurementError(f"{where}, column pulse: {int(pulse)} does not increase (previous "
                                       f"pulse of train {key!r}: {int(prev[1])} at row {prev[0]})")
            if pol == 0:
                raise MeasurementError(f"{where}, column polarity: {r['polarity']!r} (no pulse) is only "
                                       f"allowed on the first row of a train")
        train.append((line, pulse, g, pol, width, amp, i_pulse))
        g_all.append(g)
    rows = [(a, b) for t in trains.values() for a, b in zip(t[:-1], t[1:])]
    if not rows:
        raise MeasurementError(f"{path}: no pulses (every train needs at least two rows)")
    prev, cur = zip(*rows)
    pol = np.array([c[3] for c in cur])
    if not (np.any(pol > 0) and np.any(pol < 0)):
        which, other = ("set", "reset") if np.all(pol > 0) else ("reset", "set")
        raise MeasurementError(f"{path} rows 2-{max(c[0] for c in cur)}, column polarity: only {which} "
                               f"pulses; a fit needs both set and reset (no {other} pulse found)")
    return Steps(g0=np.array([p[2] for p in prev]), g1=np.array([c[2] for c in cur]), polarity=pol,
                 width=np.array([c[4] for c in cur]), amplitude=np.array([c[5] for c in cur]),
                 i_pulse=np.array([c[6] for c in cur]), row=np.array([c[0] for c in cur]),
                 g_all=np.array(g_all), source=str(path))


def read_iv(path: str | Path) -> IVPoints:
    """Read an I-V CSV (``voltage``, ``current``, ``g``; module docstring)."""
    path = Path(path)
    v, i, g = [], [], []
    for line, r in _rows(path, ("voltage", "current", "g"), ()):
        where = f"{path} row {line}"
        v.append(_number(r["voltage"], where, "voltage"))
        i.append(_number(r["current"], where, "current"))
        g.append(_number(r["g"], where, "g"))
    if len(set(v)) < 2:
        raise MeasurementError(f"{path}: the Schottky fit needs I-V points at >= 2 voltages, got {len(set(v))}")
    return IVPoints(v=np.array(v), i=np.array(i), g=np.array(g))
