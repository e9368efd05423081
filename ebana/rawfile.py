"""Read ngspice ASCII raw files (``SPICE_ASCIIRAWFILE=1 ngspice -b -r out.raw deck.cir``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebana.errors import SimulationError

__all__ = ["read_ascii_raw"]


def read_ascii_raw(path: str | Path) -> dict[str, np.ndarray]:
    """Vectors of the first plot, keyed by lower-case name without ``v()`` (``h1_0``, ``vs#branch``)."""
    lines = Path(path).read_text().splitlines()
    try:
        n_vars = int(next(l for l in lines if l.startswith("No. Variables:")).split(":")[1])
        n_pts = int(next(l for l in lines if l.startswith("No. Points:")).split(":")[1])
        start = lines.index("Variables:") + 1
        names = []
        for l in lines[start:start + n_vars]:
            name = l.split()[1].lower()
            if name.startswith("v(") and name.endswith(")"):
                name = name[2:-1]
            elif name.startswith("i(") and name.endswith(")"):
                name = name[2:-1] + "#branch"
            names.append(name)
        vals_start = lines.index("Values:") + 1
        tokens = " ".join(lines[vals_start:]).split()
    except (StopIteration, ValueError, IndexError) as err:
        raise SimulationError(f"{path}: not an ngspice ASCII raw file ({err})") from None
    data = np.empty((n_pts, n_vars))
    pos = 0
    for p in range(n_pts):
        pos += 1  # point index
        for v in range(n_vars):
            data[p, v] = float(tokens[pos].split(",")[0])
            pos += 1
    return {n: data[:, k] for k, n in enumerate(names)}
