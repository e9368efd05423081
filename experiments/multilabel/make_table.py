"""Write labels3.csv: a synthetic multi-label table (300 rows, 4 features, 3 labels of 0/1).

Features f0..f3 ~ U(-1, 1) (seed 0); labels a: f0 > 0, b: f1 + f2 > 0, c: f3 > f0 (each a
different linear threshold, so each output is its own binary problem); rows within 0.15 of any
threshold are left out. Run from the repository root:

    python experiments/multilabel/make_table.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def table(n: int = 300, seed: int = 0, margin: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, 4), labels (n, 3) of 0/1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (20 * n, 4))
    m = np.stack([x[:, 0], x[:, 1] + x[:, 2], x[:, 3] - x[:, 0]], axis=1)
    keep = np.all(np.abs(m) > margin, axis=1)
    return x[keep][:n], (m[keep][:n] > 0).astype(int)


def main() -> None:
    x, y = table()
    lines = ["f0,f1,f2,f3,a,b,c"] + [",".join(f"{v:.4f}" for v in r) + "," + ",".join(map(str, t))
                                      for r, t in zip(x, y)]
    out = Path(__file__).with_name("labels3.csv")
    out.write_text("\n".join(lines) + "\n")
    print(f"{out}: {len(y)} rows, label means {', '.join(f'{m:.2f}' for m in y.mean(axis=0))}")


if __name__ == "__main__":
    main()
