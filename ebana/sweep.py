"""Sweeps: run an experiment's grid in parallel, then write tidy tables and figures.

Public API: :func:`run_sweep`, :func:`collect`, :func:`summarize`, :func:`figure`,
:func:`markdown_table`, :class:`SweepEvent`.

Layout of a sweep directory::

    experiment.toml     the experiment as given (plus the command that reproduces it)
    runs/<name>/        one training run each (config.toml, run.json, metrics.csv, ...)
    results.csv         one row per run: overrides, seed, status, final metrics, energy
    curves.csv          one row per run and epoch (tidy)
    summary.csv / .md   mean, std, min, max over seeds per grid point, with per-seed values
    <figure files>      from the experiment's [[figures]]

**Execution.** Runs go to a process pool on this machine (``workers``, default 2; the workers
are started with ``OPENBLAS_NUM_THREADS=1``: runs parallelise, BLAS does not), or to a Dask
cluster when ``scheduler`` is an address (``tcp://host:8786``; needs ``pip install
ebana[dask]``, and the sweep directory must be on a filesystem the workers share). A run
whose run.json says ``done`` is skipped; an interrupted one resumes from its checkpoint, so
rerunning an interrupted sweep finishes only what is missing.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import json
import logging
import math
import multiprocessing
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ebana.config import to_dict
from ebana.errors import ConfigError
from ebana.experiments import Experiment, RunSpec, plan, run_one, run_status

__all__ = ["run_sweep", "collect", "summarize", "figure", "markdown_table", "write_csv", "SweepEvent", "FINAL_FIELDS"]

logger = logging.getLogger(__name__)

FINAL_FIELDS = ["train_loss", "train_acc", "test_loss", "test_acc", "best_test_acc", "min_test_loss",
                "e_write_total", "pulses_total", "saturated", "dg_ratio", "seconds"]
"""Per-run result columns (final epoch unless named best/min/total)."""
SUMMARY_METRICS = ["test_acc", "test_loss", "train_loss", "e_write_total", "pulses_total", "saturated"]


@dataclass(frozen=True, slots=True)
class SweepEvent:
    """Progress report: ``done`` of ``total`` runs finished; ``status`` of the last one."""

    done: int
    total: int
    name: str
    status: str
    error: str = ""


@contextmanager
def _single_thread_blas() -> Iterator[None]:
    keys = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _submit_all(todo: Sequence[RunSpec], runs_dir: Path, workers: int, scheduler: str | None):
    """Yield (spec, result dict) as runs finish."""
    jobs = [(s, json.loads(json.dumps(to_dict(s.config))), str(runs_dir / s.name)) for s in todo]
    if scheduler:
        try:
            from dask.distributed import Client, as_completed
        except ImportError:
            raise ConfigError("--scheduler needs dask.distributed: pip install 'ebana[dask]'") from None
        with Client(scheduler) as client:
            futs = {client.submit(run_one, cfg, d, key=f"ebana-{s.name}", pure=False): s for s, cfg, d in jobs}
            for fut in as_completed(futs):
                yield futs[fut], fut.result()
        return
    if workers <= 1:
        for s, cfg, d in jobs:
            yield s, run_one(cfg, d)
        return
    with _single_thread_blas(), cf.ProcessPoolExecutor(max_workers=workers,
                                                       mp_context=multiprocessing.get_context("spawn")) as pool:
        futs = {pool.submit(run_one, cfg, d): s for s, cfg, d in jobs}
        try:
            for fut in cf.as_completed(futs):
                yield futs[fut], fut.result()
        except BaseException:
            for f in futs:
                f.cancel()
            raise


def run_sweep(exp: Experiment, out_dir: str | os.PathLike, *, workers: int = 2, scheduler: str | None = None,
              source: str | None = None, progress: Callable[[SweepEvent], None] | None = None) -> list[dict]:
    """Run every missing run of ``exp`` in ``out_dir``, then write tables and figures.

    ``source`` is the experiment file's text, copied to ``experiment.toml``. Returns the
    per-run result rows (as in results.csv).
    """
    specs = plan(exp)                       # every config is validated before anything runs
    out = Path(out_dir)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    if source is not None:
        (out / "experiment.toml").write_text(source)
    todo = [s for s in specs if run_status(runs_dir / s.name) != "done"]
    done = len(specs) - len(todo)
    logger.info("sweep %s: %d runs, %d already done", exp.name, len(specs), done)
    if progress:
        progress(SweepEvent(done, len(specs), "", "skipped" if done else "start"))
    for spec, res in _submit_all(todo, runs_dir, workers, scheduler):
        done += 1
        if res["status"] == "failed":
            logger.warning("run %s failed: %s", spec.name, res["error"])
        if progress:
            progress(SweepEvent(done, len(specs), spec.name, res["status"], res["error"]))
    rows, curves = collect(specs, runs_dir)
    write_csv(out / "results.csv", rows)
    write_csv(out / "curves.csv", curves)
    keys = [k for k, _ in exp.grid] + sorted({k for c in exp.cases for k in c} - {k for k, _ in exp.grid})
    summary = summarize(rows, keys)
    write_csv(out / "summary.csv", summary)
    (out / "summary.md").write_text(f"# {exp.name}\n\n{exp.description}\n\n" + markdown_table(summary, keys) + "\n")
    for spec in exp.figures:
        fig = figure(rows, spec)
        fig.savefig(out / spec.get("file", "figure.png"), dpi=120, bbox_inches="tight")
        import matplotlib.pyplot as plt
        plt.close(fig)
    return rows


# ---------------------------------------------------------------------- tables
def _num(v: Any) -> Any:
    if v in (None, ""):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def collect(specs: Sequence[RunSpec], runs_dir: Path) -> tuple[list[dict], list[dict]]:
    """Per-run rows and per-epoch rows from the run directories."""
    rows, curves = [], []
    for s in specs:
        d = runs_dir / s.name
        row: dict[str, Any] = {"run": s.name, **s.overrides}
        try:
            info = json.loads((d / "run.json").read_text())
        except (OSError, ValueError):
            info = {"status": "missing"}
        row["status"] = info.get("status")
        row["error"] = info.get("error", "")
        hist = []
        if (d / "metrics.csv").exists():
            with open(d / "metrics.csv", newline="") as fh:
                hist = [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(fh)]
        for r in hist:
            curves.append({"run": s.name, **s.overrides, **r})
        if hist:
            last = hist[-1]
            row.update({k: last.get(k) for k in ("train_loss", "train_acc", "test_loss", "test_acc",
                                                  "saturated", "dg_ratio")})
            row["best_test_acc"] = max(r["test_acc"] for r in hist)
            row["min_test_loss"] = min(r["test_loss"] for r in hist)
            row["epochs"] = int(last["epoch"])
        dev = info.get("device") or {}
        row["e_write_total"] = dev.get("e_write_total")
        row["pulses_total"] = dev.get("pulses_total")
        row["seconds"] = info.get("train_seconds")
        rows.append(row)
    return rows, curves


def write_csv(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` to ``path`` atomically; columns are the union of the rows' keys in first-seen
    order, None is written as an empty field."""
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    os.replace(tmp, path)


def summarize(rows: list[dict], keys: Sequence[str]) -> list[dict]:
    """Group runs by ``keys`` (seeds pooled): n, mean/std/min/max and per-seed values of metrics."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    out = []
    for gk, rs in groups.items():
        rec: dict[str, Any] = dict(zip(keys, gk))
        ok = [r for r in rs if r.get("status") == "done"]
        rec["n"], rec["failed"] = len(ok), len(rs) - len(ok)
        for m in SUMMARY_METRICS:
            vals = np.array([r[m] for r in ok if isinstance(r.get(m), (int, float)) and r.get(m) is not None],
                            dtype=float)
            vals = vals[np.isfinite(vals)]
            if vals.size:
                rec[f"{m}_mean"], rec[f"{m}_std"] = float(vals.mean()), float(vals.std())
                rec[f"{m}_min"], rec[f"{m}_max"] = float(vals.min()), float(vals.max())
        rec["test_acc_seeds"] = " ".join(f"{r.get('seed')}:{r['test_acc']:.3f}" for r in ok if r.get("test_acc") is not None)
        out.append(rec)
    return out


def markdown_table(summary: list[dict], keys: Sequence[str]) -> str:
    """Markdown table of a summary: keys, test accuracy (%), test loss, energy."""
    head = [*keys, "n", "test acc % (mean ± std)", "per seed", "test loss", "write energy (J)", "pulses"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def f(r, m, fmt, scale=1.0):
        v = r.get(f"{m}_mean")
        if v is None:
            return ""
        return fmt.format(v * scale, r.get(f"{m}_std", 0.0) * scale)

    for r in summary:
        seeds = " ".join(f"{float(p.split(':')[1]) * 100:.1f}" for p in r["test_acc_seeds"].split()) \
            if r.get("test_acc_seeds") else ""
        cells = [str(r.get(k)) for k in keys] + [f"{r['n']}" + (f" ({r['failed']} failed)" if r["failed"] else ""),
                                                 f(r, "test_acc", "{:.1f} ± {:.1f}", 100), seeds,
                                                 f(r, "test_loss", "{:.3f} ± {:.3f}"),
                                                 f(r, "e_write_total", "{:.3g}"), f(r, "pulses_total", "{:.0f}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- figures
def figure(rows: list[dict], spec: dict[str, Any]):
    """Figure of metrics ``spec["y"]`` vs ``spec["x"]``, one line per ``spec["hue"]`` value.

    Lines are means over seeds with a min-max band; ``where`` filters rows ({key: value});
    ``logx`` uses a log x axis. Non-numeric x values are placed at equal spacing.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x_key, hue = spec["x"], spec.get("hue")
    ys = spec.get("y", ["test_acc", "test_loss"])
    ys = [ys] if isinstance(ys, str) else list(ys)
    where = spec.get("where", {})
    sel = [r for r in rows if r.get("status") == "done" and all(r.get(k) == v for k, v in where.items())]
    fig, axes = plt.subplots(1, len(ys), figsize=(5.2 * len(ys), 3.8), squeeze=False)
    xs_all = sorted({r.get(x_key) for r in sel}, key=lambda v: (isinstance(v, str), v))
    numeric = all(isinstance(v, (int, float)) for v in xs_all)
    pos = {v: (v if numeric else i) for i, v in enumerate(xs_all)}
    hues = sorted({r.get(hue) for r in sel}, key=str) if hue else [None]
    for ax, y in zip(axes[0], ys):
        for h in hues:
            pts = {}
            for r in sel:
                if (hue is None or r.get(hue) == h) and isinstance(r.get(y), (int, float)) \
                        and math.isfinite(r[y]):
                    pts.setdefault(r.get(x_key), []).append(float(r[y]))
            if not pts:
                continue
            xv = sorted(pts, key=lambda v: pos[v])
            px = np.array([pos[v] for v in xv], dtype=float)
            mean = np.array([np.mean(pts[v]) for v in xv])
            ax.plot(px, mean, "o-", ms=3, label=str(h) if hue else None)
            ax.fill_between(px, [min(pts[v]) for v in xv], [max(pts[v]) for v in xv], alpha=0.15)
        if spec.get("logx") and numeric:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(xs_all)), [str(v) for v in xs_all])
        if spec.get("logy"):
            ax.set_yscale("log")
        ax.set_xlabel(spec.get("xlabel", x_key))
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
    if hue and len(hues) > 1:
        axes[0][-1].legend(fontsize=7, title=hue, title_fontsize=7, loc="best")
    if spec.get("title"):
        fig.suptitle(spec["title"])
    fig.tight_layout()
    return fig
