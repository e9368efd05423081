"""``ebana report RUN_DIR``: one self-contained HTML page of a training run, and its figures as PNG.

:func:`write_report` reads whatever the run directory holds (:mod:`ebana.rundir`) and writes
``report.html`` (every figure embedded as a base64 PNG, so the page is one file) and the same
figures as ``report/*.png``. Sections:

- run: status, dataset, topology, seed, versions and timing (``run.json``);
- configuration: the resolved ``config.toml``;
- training: loss and accuracy per epoch (``metrics.csv``);
- energy and latency: per epoch, the phase (read) energy and the periphery (DAC, ADC, amplifiers)
  and write energy, per layer, free vs nudged phases; chip time per sample; the digital backprop
  reference and the ratio (:mod:`ebana.energy`);
- device: saturation and requested vs achieved ΔG over the epochs (device runs);
- conductances: a histogram per crossbar (``conductances.npz``, else ``checkpoint.npz``), and the
  device states x when the checkpoint has them;
- verification: the ngspice re-solves (``verify.csv``).

It works on every run directory, old ones included: a missing or unreadable file turns its
section into one sentence saying which file is missing and what would produce it. Only a path
that is not a directory is an error (:class:`~ebana.errors.CheckpointError`).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from matplotlib.figure import Figure

from ebana.errors import CheckpointError, EbanaError

__all__ = ["write_report", "Report", "build_report"]

_CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}pre{background:#f7f7f7;padding:.8em;overflow:auto;max-height:30em}
img{max-width:100%;display:block;margin:.5em 0}.missing{color:#a33;font-style:italic}"""

_ENERGY_PARTS = [("e_read", "phase (read)"), ("e_dac", "DAC"), ("e_adc", "ADC"), ("e_amp", "amplifiers"),
                 ("e_write", "write")]


@dataclass
class Report:
    """The page being built: HTML fragments and the figures (name -> PNG bytes)."""

    title: str
    parts: list[str] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)

    def h2(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def p(self, text: str, missing: bool = False) -> None:
        cls = ' class="missing"' if missing else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def pre(self, text: str) -> None:
        self.parts.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        head = "".join(f'<th class="l">{html.escape(h)}</th>' if k == 0 else f"<th>{html.escape(h)}</th>"
                       for k, h in enumerate(header))
        body = "".join("<tr>" + "".join(f'<td class="l">{html.escape(_fmt(v))}</td>' if k == 0 else
                                        f"<td>{html.escape(_fmt(v))}</td>" for k, v in enumerate(r)) + "</tr>"
                       for r in rows)
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def figure(self, name: str, fig: Figure, alt: str) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        data = buf.getvalue()
        self.figures[name] = data
        b64 = base64.b64encode(data).decode("ascii")
        self.parts.append(f'<img id="fig-{html.escape(name)}" alt="{html.escape(alt)}" '
                          f'src="data:image/png;base64,{b64}">')

    def html(self) -> str:
        t = html.escape(self.title)
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{t}</title>'
                f"<style>{_CSS}</style></head><body><h1>{t}</h1>\n" + "\n".join(self.parts) + "\n</body></html>\n")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _num(v: str | None) -> float | None:
    if v is None or v == "":
        return None
    try:
        return float(v)
    except ValueError:
        return None


def _read_metrics(path: Path) -> list[dict[str, float | None]]:
    with open(path, newline="") as fh:
        return [{k: _num(v) for k, v in r.items() if k is not None} for r in csv.DictReader(fh)]


def _col(rows: list[dict], key: str) -> list[float]:
    return [r.get(key) if r.get(key) is not None else math.nan for r in rows]


def _has(rows: list[dict], key: str) -> bool:
    return any(r.get(key) is not None for r in rows)


# ---------------------------------------------------------------------- sections
def _run_section(rep: Report, d: Path) -> dict:
    rep.h2("Run")
    path = d / "run.json"
    if not path.exists():
        rep.p("run.json is missing: this directory holds no finished or running ebana run record.", missing=True)
        return {}
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        rep.p(f"run.json is unreadable ({err}).", missing=True)
        return {}
    if not isinstance(info, dict):
        rep.p("run.json does not hold a run record.", missing=True)
        return {}
    rows = [[k, info.get(k)] for k in ("status", "dataset", "topology", "seed", "n_train", "n_test",
                                       "epochs_done", "train_seconds") if k in info]
    if info.get("error"):
        rows.append(["error", info["error"]])
    versions = info.get("versions")
    if isinstance(versions, dict):
        rows.append(["versions", ", ".join(f"{k} {v}" for k, v in versions.items())])
    dev = info.get("device")
    if isinstance(dev, dict):
        rows.append(["device", ", ".join(f"{k} {v}" for k, v in dev.items())])
    rep.table(["field", "value"], rows)
    return info


def _config_section(rep: Report, d: Path) -> dict:
    rep.h2("Configuration (resolved)")
    path = d / "config.toml"
    if not path.exists():
        rep.p("config.toml is missing (the run never started).", missing=True)
        return {}
    text = path.read_text(errors="replace")
    rep.pre(text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        rep.p(f"config.toml is not valid TOML ({err}).", missing=True)
        return {}


def _curves(rows: list[dict]) -> Figure:
    ep = _col(rows, "epoch")
    fig = Figure(figsize=(10, 3.6))
    a1, a2 = fig.subplots(1, 2)
    for key, style, label in (("train", "o-", "train"), ("test", "s-", "test")):
        a1.plot(ep, _col(rows, f"{key}_loss"), style, label=label)
        a2.plot(ep, [100 * v for v in _col(rows, f"{key}_acc")], style, label=label)
    a1.set(xlabel="epoch", ylabel="loss (free phase)")
    a2.set(xlabel="epoch", ylabel="accuracy (%)")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    return fig


def _energy_figure(rows: list[dict]) -> Figure:
    ep = np.array(_col(rows, "epoch"))
    fig = Figure(figsize=(11, 3.8))
    a1, a2 = fig.subplots(1, 2)
    bottom = np.zeros(len(rows))
    for key, label in _ENERGY_PARTS:
        if not _has(rows, key):
            continue
        v = np.nan_to_num(np.array(_col(rows, key)))
        a1.bar(ep, v, bottom=bottom, label=label)
        bottom += v
    a1.set(xlabel="epoch", ylabel="energy per epoch (J)", title="by part")
    a1.legend(fontsize=8)
    layers = sorted((k for k in rows[-1] if k.startswith("e_read_l")), key=lambda k: int(k[8:]))
    for k in layers:
        label = "wordline sources (absorbed)" if k == "e_read_l0" else f"layer {k[8:]}"
        if k == "e_read_l0" and not any((v or 0) > 0 for v in _col(rows, k)):
            continue   # nothing absorbed: a zero line on a log axis
        a2.plot(ep, _col(rows, k), "o-", label=label)
    if _has(rows, "e_read_free"):
        a2.plot(ep, _col(rows, "e_read_free"), "k--", label="free phases")
        a2.plot(ep, _col(rows, "e_read_nudged"), "k:", label="nudged phases")
    a2.set(xlabel="epoch", ylabel="phase (read) energy per epoch (J)", title="per layer and phase")
    a2.set_yscale("log")
    a2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    for a in (a1, a2):
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _latency_parts(d: Path, rows: list[dict]) -> dict[str, float] | None:
    """:func:`ebana.energy.chip_latency` of the run's network and config (None without a checkpoint);
    with ``energy.program = "pulses"`` the last epoch's measured write time per sample (``t_write``
    over its samples, ``t_chip / t_sample``)."""
    from ebana.checkpoint import load_checkpoint_circuit
    from ebana.energy import chip_latency
    if not any((d / n).exists() for n in ("checkpoint.npz", "conductances.npz")):
        return None
    try:
        cfg, circuit = load_checkpoint_circuit(d)
    except EbanaError:
        return None
    t_pulses = None
    if cfg.energy.program == "pulses":
        last = rows[-1] if rows else {}
        try:
            t_pulses = float(last["t_write"]) * float(last["t_sample"]) / float(last["t_chip"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return None
    lat = chip_latency(circuit.topology, cfg.energy, 3 if cfg.centered else 2, cfg.batch_size, t_pulses)
    names = {"dac": "DAC settling (inputs, nudges)", "settle": "phase settling", "adc": "ADC readout",
             "program": f"programming ({cfg.energy.program}), per sample", "total": "total"}
    return {names[k]: v for k, v in lat.items()}


def _energy_section(rep: Report, rows: list[dict], info: dict, d: Path) -> None:
    rep.h2("Energy and latency")
    if not rows:
        rep.p("No metrics.csv rows: no energy to show.", missing=True)
        return
    if not _has(rows, "e_energy"):
        rep.p("metrics.csv has no energy columns: the run was made before ebana counted energy, or with "
              "energy.enabled = false. Retrain it to get them.", missing=True)
        if _has(rows, "e_write"):
            rep.table(["epoch", "write energy (J)"], [[int(r["epoch"]), r.get("e_write")] for r in rows])
        return
    rep.figure("energy", _energy_figure(rows), "energy per epoch by part, and phase energy per layer")
    last = rows[-1]
    n = info.get("n_train")

    def per(v: float | None) -> float | None:
        return v / n if isinstance(n, (int, float)) and n and v is not None else None

    table = [[label, last.get(k), per(last.get(k))] for k, label in _ENERGY_PARTS if last.get(k) is not None]
    table.append(["total (analog chip)", last.get("e_energy"), per(last.get("e_energy"))])
    if last.get("e_digital") is not None:
        table.append(["digital backprop reference", last["e_digital"], per(last["e_digital"])])
    rep.p(f"Last epoch ({_fmt(last.get('epoch'))}), training solves only (evaluation is not counted):")
    rep.table(["energy", "per epoch (J)", "per sample (J)"], table)
    lat = [["chip time per sample", last.get("t_sample")], ["chip time per epoch", last.get("t_chip")],
           ["digital reference per epoch", last.get("t_digital")]]
    rep.table(["latency", "s"], [r for r in lat if r[1] is not None])
    parts = _latency_parts(d, rows)
    if parts:
        rep.p("Chip time per sample by part (from the run's configuration and topology):")
        rep.table(["part", "s per sample"], [[k, v] for k, v in parts.items()])
    e, dig = last.get("e_energy"), last.get("e_digital")
    if e is not None and not math.isfinite(e):
        rep.p("The total is unknown: this device run did not integrate its write energy (device.energy = false).",
              missing=True)
    elif e and dig:
        word = "cheaper" if e < dig else "dearer"
        ratio = dig / e if e < dig else e / dig
        t, td = last.get("t_chip"), last.get("t_digital")
        speed = ""
        if t and td:
            speed = (f" and {td / t:.3g}x faster" if t < td else f" and {t / td:.3g}x slower")
        rep.p(f"The analog chip is {ratio:.3g}x {word} in energy{speed} than the digital reference for this "
              f"epoch (assumptions and sources: ebana/energy.py, [energy] in the configuration).")


def _device_section(rep: Report, rows: list[dict]) -> None:
    keys = [("saturated", "fraction of devices at a state bound"), ("dg_ratio", "achieved / requested |ΔG|"),
            ("dg_error", "|achieved - requested| / |requested|")]
    present = [(k, label) for k, label in keys if _has(rows, k)]
    rep.h2("Device programming")
    if not present:
        rep.p("No device columns in metrics.csv (an ideal run, or no metrics): nothing to show.", missing=True)
        return
    fig = Figure(figsize=(10, 3.4))
    axes = fig.subplots(1, len(present), squeeze=False)[0]
    ep = _col(rows, "epoch")
    for a, (k, label) in zip(axes, present):
        a.plot(ep, _col(rows, k), "o-")
        a.set(xlabel="epoch", title=label)
        a.grid(alpha=0.3)
    fig.tight_layout()
    rep.figure("device", fig, "saturation and requested vs achieved conductance change over epochs")


def _load_npz(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:  # noqa: BLE001 - a damaged or foreign file: the section says so
        return None


def _conductance_section(rep: Report, d: Path, cfg: dict) -> None:
    rep.h2("Conductances")
    src = next((d / n for n in ("conductances.npz", "checkpoint.npz") if (d / n).exists()), None)
    if src is None:
        rep.p("Neither conductances.npz nor checkpoint.npz is in the run directory: no conductances.", missing=True)
        return
    z = _load_npz(src)
    if z is None or "n_crossbars" not in z:
        rep.p(f"{src.name} is not a readable ebana checkpoint.", missing=True)
        return
    gs = [np.asarray(z[f"g{k}"], float) for k in range(int(z["n_crossbars"])) if f"g{k}" in z]
    circ = cfg.get("circuit", {}) if isinstance(cfg.get("circuit"), dict) else {}
    g_min, g_max = circ.get("g_min"), circ.get("g_max")
    fig = Figure(figsize=(10, 3.2 * math.ceil(len(gs) / 3)))
    axes = fig.subplots(math.ceil(len(gs) / 3), min(3, len(gs)), squeeze=False).ravel()
    rows = []
    for k, (a, g) in enumerate(zip(axes, gs)):
        pos = g[g > 0]
        a.hist(np.log10(pos).ravel(), bins=50)
        for lim in (g_min, g_max):
            if isinstance(lim, (int, float)) and lim > 0:
                a.axvline(math.log10(lim), color="k", ls="--", lw=1)
        a.set(xlabel="log10 G (S)", ylabel="devices", title=f"crossbar {k} {g.shape[0]}x{g.shape[1]}")
        lo = np.mean(g <= g_min * (1 + 1e-9)) if isinstance(g_min, (int, float)) else None
        hi = np.mean(g >= g_max * (1 - 1e-9)) if isinstance(g_max, (int, float)) else None
        rows.append([f"crossbar {k}", f"{g.shape[0]}x{g.shape[1]}", float(g.mean()), float(g.min()),
                     float(g.max()), None if lo is None else 100 * float(lo), None if hi is None else 100 * float(hi)])
    for a in axes[len(gs):]:
        a.set_visible(False)
    fig.tight_layout()
    rep.p(f"From {src.name} (dashed: g_min, g_max).")
    rep.figure("conductances", fig, "histogram of conductances per crossbar")
    rep.table(["crossbar", "shape", "mean G (S)", "min", "max", "% at g_min", "% at g_max"], rows)
    ck = _load_npz(d / "checkpoint.npz") if (d / "checkpoint.npz").exists() else None
    xs = [v for k, v in (ck or {}).items() if k.endswith("dev_x")]
    if xs:
        fig = Figure(figsize=(6, 3.2))
        a = fig.subplots()
        a.hist(np.concatenate([np.ravel(x) for x in xs]), bins=60)
        a.set(xlabel="device state x (0 at g_min, 1 at g_max)", ylabel="devices", title="device states (all crossbars)")
        fig.tight_layout()
        rep.figure("device-states", fig, "histogram of device states")


def _verify_section(rep: Report, d: Path) -> None:
    rep.h2("ngspice verification")
    path = d / "verify.csv"
    if not path.exists():
        rep.p("No verify.csv: the run did not re-solve samples in ngspice (train with --verify-every N).",
              missing=True)
        return
    try:
        rows = _read_metrics(path)
    except (OSError, csv.Error) as err:
        rep.p(f"verify.csv is unreadable ({err}).", missing=True)
        return
    if not rows:
        rep.p("verify.csv has no rows.", missing=True)
        return
    dv = np.array(_col(rows, "max_dv"))
    fig = Figure(figsize=(7, 3))
    a = fig.subplots()
    a.semilogy(np.arange(len(rows)), np.maximum(dv, 1e-18), "o-")
    a.set(xlabel="verification (in order)", ylabel="max |V_numpy - V_ngspice| (V)")
    a.grid(alpha=0.3)
    fig.tight_layout()
    rep.figure("verify", fig, "largest numpy vs ngspice node difference per verification")
    rep.p(f"{len(rows)} verifications, largest difference {np.nanmax(dv):.3g} V, "
          f"{int(np.nansum(_col(rows, 'samples')))} samples re-solved.")


def build_report(run_dir: str | Path) -> Report:
    """The report of a run directory (see the module docstring)."""
    d = Path(run_dir)
    if not d.is_dir():
        raise CheckpointError(f"ebana report: {d} is not a directory (give a run directory, e.g. runs/iris-seed0)")
    rep = Report(title=f"ebana run report: {d.resolve().name}")
    info = _run_section(rep, d)
    cfg = _config_section(rep, d)
    rep.h2("Training curves")
    rows: list[dict] = []
    path = d / "metrics.csv"
    if not path.exists():
        rep.p("metrics.csv is missing: no epoch has finished.", missing=True)
    else:
        try:
            rows = _read_metrics(path)
        except (OSError, csv.Error) as err:
            rep.p(f"metrics.csv is unreadable ({err}).", missing=True)
        if rows and _has(rows, "epoch"):
            rep.figure("curves", _curves(rows), "loss and accuracy per epoch")
            rep.table(["epoch", "train loss", "train acc", "test loss", "test acc"],
                      [[int(r["epoch"]), r.get("train_loss"), r.get("train_acc"), r.get("test_loss"),
                        r.get("test_acc")] for r in rows[-5:]])
        elif path.exists():
            rep.p("metrics.csv has no epoch rows.", missing=True)
    sections: list[Callable[[], None]] = [
        lambda: _energy_section(rep, rows, info, d), lambda: _device_section(rep, rows),
        lambda: _conductance_section(rep, d, cfg), lambda: _verify_section(rep, d)]
    for s in sections:
        s()
    return rep


def write_report(run_dir: str | Path, out: str | Path | None = None) -> tuple[Path, list[Path]]:
    """Write ``report.html`` (default: in the run directory) and its figures as PNGs in
    ``report/`` beside it; returns (html path, png paths)."""
    rep = build_report(run_dir)
    html_path = Path(out) if out is not None else Path(run_dir) / "report.html"
    fig_dir = html_path.parent / "report"
    try:
        fig_dir.mkdir(parents=True, exist_ok=True)
        pngs = []
        for name, data in rep.figures.items():
            p = fig_dir / f"{name}.png"
            p.write_bytes(data)
            pngs.append(p)
        html_path.write_text(rep.html(), encoding="utf-8")
    except OSError as err:
        raise CheckpointError(f"cannot write the report to {html_path}: {err.strerror or err}") from None
    return html_path, pngs
