"""``ebana devices``: list the memristor models, plot I-V hysteresis loops and pulse trains.

Commands: ``list``, ``iv MODEL``, ``pulse MODEL``, ``response MODEL``. Library errors become one-line
:class:`click.ClickException` messages (exit code 1).
"""

from __future__ import annotations

import functools
from pathlib import Path

import click
import numpy as np

from ebana.errors import EbanaError

__all__ = ["devices"]


def _one_line(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EbanaError as err:
            raise click.ClickException(str(err).splitlines()[0] if str(err) else
                                       type(err).__name__) from None
    return wrapper


_RANGES = {  # option -> (low, high, include low, what); every value must also be finite
    "--amplitude": (0.0, 20.0, False, "V"), "--frequency": (0.0, 1e12, False, "Hz"),
    "--cycles": (1, 10**5, True, ""), "--x0": (0.0, 1.0, True, ""),
    "--v-set": (0.0, 20.0, False, "V"), "--v-reset": (-20.0, 0.0, True, "V"),
    "--width": (0.0, 1.0, False, "s"), "--n-set": (0, 10**6, True, ""), "--n-reset": (0, 10**6, True, ""),
    "--points": (2, 10**6, True, ""),
}


def _check_options(**given) -> None:
    """One-line errors for out-of-range or non-finite numeric options (keys: option names with _)."""
    for key, value in given.items():
        if value is None:
            continue
        opt = "--" + key.replace("_", "-")
        lo, hi, incl, unit = _RANGES[opt]
        ok = np.isfinite(value) and (lo <= value if incl else lo < value) and \
            (value < hi if opt == "--v-reset" else value <= hi)
        if not ok:
            lb, rb = ("[" if incl else "("), (")" if opt == "--v-reset" else "]")
            raise click.ClickException(f"{opt} must be in {lb}{lo:g}, {hi:g}{rb} {unit}".rstrip() + f", got {value!r}")


def _model(name: str, params: tuple[str, ...]):
    from ebana import devices as dev

    kw = {}
    for item in params:
        key, sep, val = item.partition("=")
        if not sep:
            raise click.ClickException(f"--param {item!r} must be NAME=VALUE")
        try:
            kw[key.strip()] = float(val)
        except ValueError:
            kw[key.strip()] = val.strip()
    return dev.create(name, **kw)


def _stem(model: str) -> str:
    """File-name stem of a model name (``fitted:PATH`` -> ``fitted_<file stem>``)."""
    if model.startswith("fitted:"):
        return "fitted_" + Path(model[len("fitted:"):]).stem
    return model


def _fmt_v(v) -> str:
    return "-" if v is None else f"{float(v):+.4g}"


@click.group("devices")
def devices() -> None:
    """Memristor device models: list them, draw I-V loops and pulse responses."""


FITTED_DIR = Path("device_models") / "measured"
"""Where ``ebana devices list`` looks for fitted model files (relative to the working directory)."""


@devices.command("list")
@click.option("--fitted-dir", type=click.Path(file_okay=False, path_type=Path), default=FITTED_DIR,
              show_default=True, help="Directory searched for fitted model files (*.toml of ebana devices fit).")
@_one_line
def list_models(fitted_dir: Path) -> None:
    """List the device models (name, class, thresholds, R_ON/R_OFF at 0.1 V, citation), then the
    fitted model files found in --fitted-dir (any other file trains as ``--device fitted:PATH``).

    Example: ebana devices list --fitted-dir device_models/measured
    """
    from ebana import devices as dev
    from ebana.devices.fitted import load_model
    from ebana.errors import DeviceError

    def row(name: str, m) -> str:
        return (f"{name:20s} {m.kind:12s} {_fmt_v(m.v_th_set):>9s} {_fmt_v(m.v_th_reset):>10s} "
                f"{float(m.r_on):11.5g} {float(m.r_off):12.6g}  {m.citation}")

    click.echo(f"{'name':20s} {'class':12s} {'v_th_set':>9s} {'v_th_reset':>10s} "
               f"{'R_ON (ohm)':>11s} {'R_OFF (ohm)':>12s}  citation")
    for name in dev.names():
        click.echo(row(name, dev.create(name)))
    click.echo(f"\nfitted models (--device fitted:PATH, PATH any model file of ebana devices fit; "
               f"found in {fitted_dir}):")
    found = 0
    for path in sorted(fitted_dir.glob("*.toml")) if fitted_dir.is_dir() else []:
        try:
            load_model(path)
        except DeviceError:
            continue  # not a model file of ebana devices fit
        name = f"fitted:{path.as_posix()}"
        m = dev.create(name)
        click.echo(row(name, m) + f" (widths: {', '.join(sorted(type(m).presets))}; default {m.t_op:g} s)")
        found += 1
    if not found:
        click.echo("  (none)")


_param_option = click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                             help="Override a model parameter (SI units); repeatable.")
_out_option = click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
                           default=Path("."), show_default=True, help="Output directory.")
_spice_option = click.option("--spice", is_flag=True,
                             help="Also simulate with ngspice (.tran) on the same axes.")


@devices.command("iv")
@click.argument("model")
@click.option("--amplitude", type=float, help="Sinusoid amplitude (V); default per model.")
@click.option("--frequency", type=float, help="Sinusoid frequency (Hz); default per model.")
@click.option("--cycles", type=int, help="Number of periods; default per model.")
@click.option("--x0", type=float, help="Initial state in [0, 1]; default per model.")
@_param_option
@_out_option
@_spice_option
@_one_line
def iv_command(model, amplitude, frequency, cycles, x0, params, out, spice) -> None:
    """Drive MODEL with a sinusoid; write MODEL_iv.png (linear and log |I|) and MODEL_iv.csv.

    Example: ebana devices iv vteam --amplitude 0.3 --frequency 1e6 --spice --out figs
    """
    from ebana.devices import iv, plots
    from ebana.devices import spice as sp

    _check_options(amplitude=amplitude, frequency=frequency, cycles=cycles, x0=x0)
    m = _model(model, params)
    d = m.demo
    amplitude = d.amplitude if amplitude is None else amplitude
    frequency = d.frequency if frequency is None else frequency
    cycles = d.cycles if cycles is None else cycles
    x0 = d.x0 if x0 is None else x0
    trace = iv.sinusoid(m, amplitude, frequency, cycles, x0)
    sp_trace = None
    out.mkdir(parents=True, exist_ok=True)
    if spice:
        period = 1.0 / frequency
        tr = sp.run_transient(m, f"SIN(0 {amplitude!r} {frequency!r})", cycles * period,
                              period / 2000, x0)
        sp_trace = iv.IVTrace(t=tr.t, v=tr.v, x=tr.x, i=tr.i)
        np.savetxt(out / f"{_stem(model)}_iv_spice.csv", np.c_[tr.t, tr.v, tr.x, tr.i], delimiter=",",
                   header="t_s,v_V,x,i_A", comments="")
    np.savetxt(out / f"{_stem(model)}_iv.csv", np.c_[trace.t, trace.v, trace.x, trace.i],
               delimiter=",", header="t_s,v_V,x,i_A", comments="")
    fig = plots.iv_figure(trace, sp_trace,
                          f"{model}: {amplitude:g} V, {frequency:g} Hz, x0 = {x0:g}")
    fig.savefig(out / f"{_stem(model)}_iv.png", dpi=120)
    click.echo(f"wrote {out / f'{_stem(model)}_iv.png'} and {out / f'{_stem(model)}_iv.csv'}"
               + (f" and {out / f'{_stem(model)}_iv_spice.csv'}" if spice else ""))


@devices.command("pulse")
@click.argument("model")
@click.option("--v-set", type=float, help="SET (potentiating) amplitude (V, > 0).")
@click.option("--v-reset", type=float, help="RESET (depressing) amplitude (V, < 0).")
@click.option("--width", type=float, help="Pulse width (s).")
@click.option("--n-set", type=int, help="Number of SET pulses.")
@click.option("--n-reset", type=int, help="Number of RESET pulses.")
@click.option("--x0", type=float, help="Initial state in [0, 1].")
@_param_option
@_out_option
@_spice_option
@_one_line
def pulse_command(model, v_set, v_reset, width, n_set, n_reset, x0, params, out, spice) -> None:
    """Apply SET then RESET pulse trains to MODEL; write MODEL_pulse.png and MODEL_pulse.csv.

    Example: ebana devices pulse yakopcic --v-set 0.3 --v-reset -0.3 --width 2e-5 --n-set 20
    """
    from ebana.devices import iv, plots
    from ebana.devices import spice as sp

    _check_options(v_set=v_set, v_reset=v_reset, width=width, n_set=n_set, n_reset=n_reset, x0=x0)
    m = _model(model, params)
    train = iv.pulse_train(m, v_set, v_reset, width, n_set, n_reset, x0)
    out.mkdir(parents=True, exist_ok=True)
    g_sp = None
    cols, header = [train.n, train.v, train.x, train.g, train.energy], "n,v_V,x,g_S,energy_J"
    if spice:
        set_n = int(np.sum(train.v > 0))
        reset_n = int(np.sum(train.v < 0))
        w = m.demo.t_pulse if width is None else width
        tp, vp, ends = iv.pulse_waveform(float(train.v[1]) if set_n else 1.0,
                                         float(train.v[-1]) if reset_n else -1.0, w,
                                         set_n, reset_n, t_edge=1e-3 * w)
        tr = sp.run_transient(m, sp.pwl_source("Vd", "in", tp, vp), float(tp[-1]), w / 20,
                              float(train.x[0]))
        x_sp = np.r_[train.x[0], np.interp(ends, tr.t, tr.x)]
        g_sp = m.conductance(x_sp)
        cols += [x_sp, g_sp]
        header += ",x_spice,g_spice_S"
    np.savetxt(out / f"{_stem(model)}_pulse.csv", np.column_stack(cols), delimiter=",", header=header,
               comments="")
    fig = plots.pulse_figure(train, g_sp, f"{model}: pulses of {train.v.max():g} V / "
                             f"{train.v.min():g} V")
    fig.savefig(out / f"{_stem(model)}_pulse.png", dpi=120)
    click.echo(f"wrote {out / f'{_stem(model)}_pulse.png'} and {out / f'{_stem(model)}_pulse.csv'}")


@devices.command("response")
@click.argument("model")
@click.option("--preset", help="Named parameter set of the model.")
@click.option("--v-set", type=float, help="SET amplitude (V, > 0); default per model.")
@click.option("--v-reset", type=float, help="RESET amplitude (V, < 0); default per model.")
@click.option("--width", type=float, help="Pulse width (s); default per model.")
@click.option("--points", type=int, default=201, show_default=True, help="States tabulated.")
@_param_option
@_out_option
@_one_line
def response_command(model, preset, v_set, v_reset, width, points, params, out) -> None:
    """Per-pulse response ΔG⁺(G), ΔG⁻(G), symmetric point and F, G of seed 001 for MODEL.

    Writes MODEL_response.png and MODEL_response.csv.

    Example: ebana devices response soft_bounds_linear --preset asymmetric --out figs
    """
    from ebana.devices import plots, response

    _check_options(v_set=v_set, v_reset=v_reset, width=width, points=points)
    m = _model(model, params + ((f"preset={preset}",) if preset else ()))
    curve = response.response_curve(m, v_set, v_reset, width, n=points)
    out.mkdir(parents=True, exist_ok=True)
    cols, header = curve.table()
    np.savetxt(out / f"{_stem(model)}_response.csv", cols, delimiter=",", header=header, comments="")
    sym = ("none (responses never cross)" if curve.x_sym is None else
           f"x = {curve.x_sym:.4f}, w = {curve.w_sym:+.4f}, G = {curve.g_sym:.5g} S")
    fig = plots.response_figure(curve, f"{model}: {curve.v_set:g} V / {curve.v_reset:g} V, "
                                f"{curve.t_pulse:g} s; symmetric point {sym}")
    fig.savefig(out / f"{_stem(model)}_response.png", dpi=120)
    click.echo(f"symmetric point: {sym}; step there {curve.dg_min:.4g} S")
    click.echo(f"wrote {out / f'{_stem(model)}_response.png'} and {out / f'{_stem(model)}_response.csv'}")


@devices.command("fit")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Model file to write (default: DATA with .toml); the figure goes beside it (.png).")
@click.option("--iv", "iv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="I-V points (voltage,current,g) for the Schottky write-current fit.")
@click.option("--overwrite", is_flag=True, help="Replace the model file and its figure if they exist.")
@_one_line
def fit_command(data, out, iv_path, overwrite) -> None:
    """Fit a pulse-response model to measured pulse trains (CSV format: ebana/devices/measurements.py).

    Per (polarity, width, amplitude): the 5th-degree polynomial and a monotone table of ΔG per
    pulse vs G, cycle-to-cycle noise, the symmetric point per width, write energy per pulse.
    Train through it with --device fitted:MODEL.toml (presets: the measured widths).

    Example: ebana devices fit device_models/measured/example_fefet.csv --out fefet.toml
    """
    from ebana.cli import check_out_file
    from ebana.devices import fit, plots
    from ebana.devices.fitted import fitted_class, preset_name
    from ebana.devices.measurements import read_iv, read_measurements

    out = data.with_suffix(".toml") if out is None else out
    if out.suffix.lower() == ".png":
        raise click.ClickException(f"--out {out}: the model file cannot be a .png (the figure goes beside it)")
    for path in (out, out.with_suffix(".png")):
        check_out_file(path, overwrite)
    steps = read_measurements(data)
    model = fit.fit_measurements(steps, read_iv(iv_path) if iv_path is not None else None)
    text = fit.dump_model_toml(model)
    fig = plots.fit_figure(steps, model, f"{data.name}: ΔG per pulse, polynomial (solid) and monotone "
                           "table (dashed)")
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        fig.savefig(out.with_suffix(".png"), dpi=120)
    except OSError as err:
        raise click.ClickException(f"cannot write {err.filename or out}: {err.strerror}") from None
    fitted_class(f"fitted:{out}")  # the written file loads as a device model
    for c in model["condition"]:
        click.echo(f"{'set  ' if c['polarity'] > 0 else 'reset'} {c['width']:9.3g} s {c['amplitude']:5.3g} V: "
                   f"{c['n_pulses']:4d} pulses, rms {c['rms']:.3g}, c2c {c['c2c']:.3f}, "
                   f"E/pulse {c['e_pulse']:.3g} J ({c['e_source']})")
    for s in model["symmetric"]:
        where = f"G = {s['g']:.4g} S (x = {s['x']:.3f})" if "g" in s else "none"
        click.echo(f"symmetric point at {s['width']:g} s: {where}")
    iv = model["iv"]
    click.echo(f"write current: {iv['kind']}" + (f", Schottky c = {iv['c']:.4g} V, beta = {iv['beta']:.4g} V^-1/2"
                                                 if "beta" in iv else f" ({iv.get('note', '')})"))
    presets = ", ".join(preset_name(w) for w in sorted({s["width"] for s in model["symmetric"]}))
    click.echo(f"c2c (pooled) {model['c2c']:.3f} (train with it: --set device.c2c=...); presets {presets}")
    click.echo(f"wrote {out} and {out.with_suffix('.png')}")
