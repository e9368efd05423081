"""The README's device-run tables: accuracy, write energy per epoch, chip energy per epoch and chip time per sample (means over the epochs).

Usage (from the repository root, after the sweeps and runs named below)::

    python experiments/device_runs.py            # writes experiments/device_runs.md and .csv
    python experiments/device_runs.py --readme   # and the two tables between README.md's markers

Reads only committed result files (each sweep's ``summary.csv``/``results.csv``, the MNIST device
run's ``metrics.csv`` and ``run.json``); trains nothing. Energies are those of :mod:`ebana.energy`:
``chip energy / epoch`` is ``e_energy`` (J: read, converters, amplifiers and write energy of an epoch),
``write / epoch`` the write energy ∫V·I dt alone (J), ``chip time / sample`` is ``t_sample`` (s on the
simulated chip); each the mean over the run's epochs (from the sweeps' ``curves.csv``), then over
seeds; a run made before energy accounting existed shows "–".
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import tomllib
from pathlib import Path

from ebana.sweep import write_csv
HERE = Path(__file__).resolve().parent
MODELS = ["ideal", "linear_ion_drift", "nonlinear_ion_drift", "messaris", "soft_bounds_linear", "soft_bounds_power",
          "soft_bounds_exp", "vteam", "yakopcic", "team", "stanford_pku"]


@functools.lru_cache(maxsize=None)
def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _f(v: str | None) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _g(v: float, fmt: str = "{:.2g}") -> str:
    return "–" if not math.isfinite(v) else fmt.format(v)


def _epochs(exp: Path) -> int:
    """Epochs of every run of an experiment (``[base] epochs`` of its TOML, or of a sweep directory's copy)."""
    path = exp / "experiment.toml" if exp.is_dir() else exp
    return int(tomllib.loads(path.read_text())["base"]["epochs"])


def _pick(rows: list[dict], **match: str) -> dict | None:
    hit = [r for r in rows if all(str(r.get(k)) == v for k, v in match.items())]
    return hit[0] if hit else None


def _curve_mean(sweep: Path, key: str, match: dict[str, str]) -> float:
    """Mean of a per-epoch metric over every epoch of the sweep's runs that match ``match``."""
    vals = [_f(r.get(key)) for r in _rows(sweep / "curves.csv")
            if all(_same(r.get(k), v) for k, v in match.items())]
    return sum(vals) / len(vals) if vals else math.nan


def _same(a: str | None, b: str) -> bool:
    """Equal as numbers when both parse (curves.csv writes 100 as 100.0), else as text."""
    fa, fb = _f(a), _f(b)
    return fa == fb if math.isfinite(fa) and math.isfinite(fb) else str(a) == b


def _record(source: str, config: str, s: dict | None, epochs: int, sweep: Path | None = None,
            match: dict[str, str] | None = None) -> dict:
    """One table row from a summary.csv row (means over seeds); energy and time per epoch from the
    sweep's curves.csv (the runs matching ``match``)."""
    s = s or {}
    e, t = (_curve_mean(sweep, "e_energy", match), _curve_mean(sweep, "t_sample", match)) \
        if sweep is not None and match is not None and s else (math.nan, math.nan)
    return {"source": source, "configuration": config, "n": s.get("n", "0"),
            "test_acc": 100 * _f(s.get("test_acc_mean")), "e_write_epoch": _f(s.get("e_write_total_mean")) / epochs,
            "e_energy": e, "t_sample": t}


def iris_models() -> list[dict]:
    """Every model on IRIS at R_OFF/R_ON = 100 (PWM and PAM) and at R_OFF/R_ON = 3 (PWM)."""
    pp, n_pp = _rows(HERE / "iris_pwm_pam" / "summary.csv"), _epochs(HERE / "iris_pwm_pam")
    ratio, n_ratio = _rows(HERE / "iris_ratio" / "summary.csv"), _epochs(HERE / "iris_ratio")
    out = []
    for m in MODELS:
        for scheme in ("pwm", "pam"):
            match = {"device.model": m, "device.scheme": scheme}
            s, src, n = _pick(pp, **match), "iris_pwm_pam", n_pp
            if s is None and scheme == "pwm":
                match = {"device.model": m, "device.r_ratio": "100"}
                s, src, n = _pick(ratio, **match), "iris_ratio", n_ratio
            if s is not None:
                out.append(_record(src, f"{m}, {scheme.upper()}, R_OFF/R_ON 100", s, n, HERE / src, match))
        match = {"device.model": m, "device.r_ratio": "3"}
        out.append(_record("iris_ratio", f"{m}, PWM, R_OFF/R_ON 3", _pick(ratio, **match), n_ratio,
                           HERE / "iris_ratio", match))
    return out


def other_runs() -> list[dict]:
    """PAM pulse count, passive-array programming, the analog algorithms and the MNIST device run."""
    out = []
    freq, n_freq = _rows(HERE / "iris_pam_frequency" / "summary.csv"), _epochs(HERE / "iris_pam_frequency")
    for m in ("vteam", "yakopcic", "messaris"):
        for k in ("1", "10"):
            match = {"device.model": m, "device.pam_pulses": k}
            out.append(_record("iris_pam_frequency", f"{m}, PAM × {k} pulses, R_OFF/R_ON 100",
                               _pick(freq, **match), n_freq, HERE / "iris_pam_frequency", match))
    passive, n_pa = _rows(HERE / "passive_array" / "table.csv"), _epochs(HERE / "passive_array" / "passive_array")
    for r in passive:
        if r["array_scheme"] in ("selector", "row_v2", "outer_product"):
            out.append({"source": "passive_array", "configuration": f"{r['device']}, {r['array_scheme']}",
                        "n": r["n"], "test_acc": 100 * _f(r["test_acc_mean"]),
                        "e_write_epoch": _f(r.get("e_write_total_mean")) / n_pa, "e_energy": _f(r.get("e_energy_mean")),
                        "t_sample": _f(r.get("t_sample_mean"))})
    tradeoff = HERE / "pulse_width_tradeoff" / "sweep"
    if (tradeoff / "summary.csv").exists():
        names = {("analog_sgd", "none"): "plain SGD", ("analog_sgd", "symmetric"): "symmetry-point shifting",
                 ("mixed_precision", "none"): "mixed precision"}
        for r in _rows(tradeoff / "summary.csv"):
            alg = names.get((r["algorithm.name"], r["algorithm.reference"]),
                            f"{r['algorithm.name']} ({r['algorithm.reference']})")
            match = {k: r[k] for k in ("device.preset", "algorithm.name", "algorithm.reference")}
            out.append(_record("pulse_width_tradeoff", f"fitted example_fefet, {r['device.preset']} pulses, {alg}",
                               r, _epochs(tradeoff), tradeoff, match))
    for ds in ("iris", "mnist"):
        rows, epochs = _rows(HERE / "analog_algorithms" / f"results_{ds}.csv"), _epochs(HERE / "analog_algorithms" / f"{ds}.toml")
        for v in dict.fromkeys(r["variant"] for r in rows):
            rs = [r for r in rows if r["variant"] == v]
            mean = {k: sum(_f(r.get(k)) for r in rs) / len(rs) for k in ("test_acc", "e_write_J", "e_energy_J", "t_sample_s")}
            out.append({"source": f"analog_algorithms ({ds})", "configuration": "no device (ideal update reference)" if v == "ideal"
                        else f"soft_bounds_linear asymmetric, {v}",
                        "n": str(len(rs)), "test_acc": 100 * mean["test_acc"], "e_write_epoch": mean["e_write_J"] / epochs,
                        "e_energy": mean["e_energy_J"], "t_sample": mean["t_sample_s"]})
    run = HERE / "mnist_device" / "vteam-pwm-seed0"
    hist = _rows(run / "metrics.csv")
    dev = json.loads((run / "run.json").read_text()).get("device", {})
    out.append({"source": "mnist_device", "configuration": "MNIST 1568-100-20, vteam, PWM", "n": "1",
                "test_acc": 100 * _f(hist[-1]["test_acc"]), "e_write_epoch": _f(dev.get("e_write_total")) / len(hist),
                "e_energy": sum(_f(h.get("e_energy")) for h in hist) / len(hist),
                "t_sample": sum(_f(h.get("t_sample")) for h in hist) / len(hist)})
    return out


def markdown(rows: list[dict]) -> str:
    head = ["configuration", "source", "seeds", "test acc %", "write / epoch (J)", "chip energy / epoch (J)",
            "chip time / sample (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([r["configuration"], f"`{r['source']}`", str(r["n"]), _g(r["test_acc"], "{:.1f}"),
                                        _g(r["e_write_epoch"]), _g(r["e_energy"]), _g(r["t_sample"])]) + " |")
    return "\n".join(lines) + "\n"


def readme_blocks(a: list[dict], b: list[dict]) -> dict[str, str]:
    """The README's marked blocks (``<!-- device-runs:NAME -->`` ... ``<!-- /device-runs:NAME -->``)."""
    return {"iris": markdown(a), "other": markdown(b)}


def replace_blocks(text: str, blocks: dict[str, str]) -> str:
    """``text`` with every marked block's body replaced; a missing marker raises."""
    for name, body in blocks.items():
        start, end = f"<!-- device-runs:{name} -->\n", f"<!-- /device-runs:{name} -->"
        i, j = text.find(start), text.find(end)
        if i < 0 or j < i:
            raise SystemExit(f"README.md has no {start.strip()} ... {end} block")
        text = text[:i + len(start)] + body + text[j:]
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", action="store_true", help="also rewrite the tables in README.md")
    args = ap.parse_args()
    a, b = iris_models(), other_runs()
    write_csv(HERE / "device_runs.csv", a + b)
    text = ("# Device runs: accuracy, energy and chip time\n\nGenerated by `python experiments/device_runs.py` "
            "from the committed result files.\n\n## IRIS, every model (20 epochs, 3 seeds)\n\n" + markdown(a)
            + "\n## Other device runs\n\n" + markdown(b))
    (HERE / "device_runs.md").write_text(text)
    if args.readme:
        readme = HERE.parent / "README.md"
        readme.write_text(replace_blocks(readme.read_text(), readme_blocks(a, b)))
    print(text)


if __name__ == "__main__":
    main()
