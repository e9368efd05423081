"""Command line: ``ebana train | sweep | netlist | inspect | devices | doctor | report``.

A thin shell over the library: every :class:`~ebana.errors.EbanaError` becomes one line on
stderr and exit code 1 (``--debug`` keeps the traceback).
"""

from __future__ import annotations

import os

# One BLAS thread: the solver's GEMMs are small and 2 threads only contend (measured in
# benchmarks/); sweeps parallelise over processes instead. Set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("EBANA_BLAS_THREADS", "1"))

import logging
import math
import re
import sys
from pathlib import Path

import click

from ebana.errors import EbanaError

__all__ = ["main", "cli"]


def _one_line(err: BaseException) -> str:
    """The message of an error as one line (what the user sees after ``Error: ``)."""
    if isinstance(err, EbanaError):
        text = str(err) or type(err).__name__
    elif isinstance(err, OSError):
        where = f": {err.filename}" if err.filename else ""
        text = f"{err.strerror or err}{where}"
    elif isinstance(err, MemoryError):
        text = "out of memory (MemoryError); use a smaller network, batch or dataset"
    else:  # a bug: still one line, with the way to the traceback
        text = f"internal error {type(err).__name__}: {err} (rerun with --debug for the traceback, and report it)"
    return " ".join(text.split("\n")[0].split()) or type(err).__name__


class _Group(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Like click's, but every error is one ``Error: ...`` line with exit code 1 (usage errors
        included, where click uses 2); an interrupt exits 130."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.UsageError as e:
            hint = f" (see: {e.ctx.command_path} --help)" if e.ctx is not None else ""
            click.echo(f"Error: {' '.join(e.format_message().split())}{hint}", err=True)
            sys.exit(1)
        except click.ClickException as e:
            click.echo(f"Error: {e.format_message()}", err=True)
            sys.exit(1)
        except (click.Abort, KeyboardInterrupt):
            from ebana import interrupts
            interrupts.ignore()
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:  # noqa: BLE001 - the CLI boundary: one line, exit 1
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.ClickException(_one_line(err)) from None


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show tracebacks and ngspice's messages.")
@click.version_option(package_name="ebana")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """EqProp training on simulated analog memristor-crossbar circuits (ngspice + exact numpy)."""
    ctx.obj = {"debug": debug}
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def check_out_file(path: str | Path, overwrite: bool, option: str = "--out") -> None:
    """One-line errors before a command writes the file ``path``: it exists (without ``overwrite``),
    or a component of its directory is not a directory."""
    p = Path(path)
    if p.exists() or p.is_symlink():
        if p.is_dir():
            raise click.ClickException(f"{option} {p} is a directory, not a file")
        if not overwrite:
            raise click.ClickException(f"{p} exists; add --overwrite to replace it")
        return
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise click.ClickException(f"cannot write {p}: {parent} is not a directory")
            return


def _parse_hidden(value: str | None) -> tuple[int, ...] | None:
    """``--hidden`` text (``10``, ``100,50``, ``256x6``) -> sizes; None: not given."""
    if value is None:
        return None
    from ebana.config import parse_hidden
    return parse_hidden(value)


def _parse_skips(value: str | None):
    if not value:
        return None
    out = []
    for part in value.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*-\s*>?\s*(\d+)\s*", part)
        if not m:
            raise click.BadParameter(f"expected skips like 0->2,1->3, got {value!r}")
        out.append((int(m.group(1)), int(m.group(2))))
    return tuple(out)


def _parse_value(text: str):
    import tomllib
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _same(key: str, a, b) -> bool:
    """Whether two values of config key ``key`` mean the same (``hidden``: 5, "5" and (5,) do)."""
    def norm(v):
        return tuple(norm(e) for e in v) if isinstance(v, (list, tuple)) else v

    def top(v):
        if key == "hidden" and isinstance(v, (str, int)) and not isinstance(v, bool):
            from ebana.config import parse_hidden
            return parse_hidden(v) if isinstance(v, str) else (v,)
        return norm(v)
    try:
        return top(a) == top(b)
    except EbanaError:
        return False


def _changes(overrides: dict, sets) -> dict:
    """Dotted config keys -> values from the given options (None: not given) and ``--set key=value``.

    A key given twice with different values (an option and ``--set``, or two ``--set``) is refused."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    given = {k: _option_of(k) for k in changes}
    for item in sets:
        if "=" not in item:
            raise click.BadParameter(f"--set expects key=value, got {item!r}")
        k, v = (part.strip() for part in item.split("=", 1))
        if not k:
            raise click.BadParameter(f"--set {item!r}: no config key before '='; expected key=value")
        value = _parse_value(v)
        if k in changes and not _same(k, changes[k], value):
            raise click.UsageError(f"{k} is given twice with different values: {changes[k]!r} by {given[k]} and "
                                   f"{value!r} by --set {item!r}; give it once")
        changes[k], given[k] = value, f"--set {item!r}"
    return changes


def _resolve_config(dataset, config_file, overrides, sets):
    from ebana.config import PRESETS, apply_overrides, from_dict, load_toml, preset, to_dict
    if config_file:
        data = load_toml(config_file)
        if dataset:
            data["dataset"] = dataset
        cfg = from_dict(data)
    else:
        cfg = preset(dataset or "iris")
        if dataset and dataset not in PRESETS:
            cfg = from_dict({**to_dict(cfg, defaults=False), "dataset": dataset})
    changes = _changes(overrides, sets)
    return apply_overrides(cfg, changes) if changes else cfg


TRAIN_OPTIONS = {
    "hidden": "hidden", "conv": "conv", "skips": "skips", "residual": "residual",
    "epochs": "epochs", "batch_size": "batch_size",
    "beta": "beta", "lr": "lr", "loss": "loss", "optimizer": "optimizer", "centered": "centered", "backend": "backend",
    "norton": "norton", "seed": "seed", "verify_every": "verify_every", "data_dir": "data_dir",
    "augment_shift": "augment_shift", "record": "record", "label_columns": "label_columns",
    "device_model": "device.model", "scheme": "device.scheme", "pam_pulses": "device.pam_pulses",
    "r_ratio": "device.r_ratio", "algorithm": "algorithm.name", "reference": "algorithm.reference",
    "gamma": "algorithm.gamma", "transfer_rate": "algorithm.transfer_rate", "threshold": "algorithm.threshold",
}
"""``ebana train`` options -> the config keys they set (None: not given, the config's value stays)."""


_FLAG_PAIRS = {"centered": "--centered/--one-sided", "residual": "--residual/--no-residual",
               "norton": "--norton/--no-norton", "device.model": "--device"}


def _option_of(key: str) -> str:
    """The command-line option that sets config key ``key`` (for messages)."""
    name = next((n for n, k in TRAIN_OPTIONS.items() if k == key), key)
    return _FLAG_PAIRS.get(key, "--" + name.replace("_", "-"))


@cli.command()
@click.argument("dataset", required=False)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML config file.")
@click.option("--hidden", help="Hidden layer sizes, e.g. 10, 100,50 or 256x6 (6 layers of 256).")
@click.option("--conv", help="Conv / locally connected / pooling layers before --hidden, e.g. conv8k5s2, "
              "28x28x1,local4k3same,avg2 (config key conv).")
@click.option("--skips", help="Skip crossbars between layers, e.g. 0->2.")
@click.option("--residual/--no-residual", default=None,
              help="ResNet blocks: skip crossbars p -> p+2 between hidden layers (2->4,4->6 for 6 hidden), "
                   "reciprocal amplifiers (cccs_gain = gain).")
@click.option("--epochs", type=int)
@click.option("--batch-size", type=int)
@click.option("--beta", type=float, help="Nudging strength (A per unit dL/dpred); default per dataset "
              "and mode (MNIST: 1e-6 centered, 1e-9 one-sided).")
@click.option("--lr", type=float, help="Learning rate (Adam: S per step).")
@click.option("--loss", type=str, help="ce | mse | bce | sparsemax")
@click.option("--optimizer", type=str, help="sgd | momentum | adam")
@click.option("--centered/--one-sided", default=None, help="Centered (+-beta) or one-sided nudging.")
@click.option("--backend", type=str, help="auto | numpy | ngspice")
@click.option("--norton/--no-norton", default=None, help="ngspice: Norton-reduce input crossbars.")
@click.option("--seed", type=int)
@click.option("--augment-shift", type=int,
              help="Shift each training image by random whole pixels in [-N, N]^2 per batch (0: off; square images).")
@click.option("--verify-every", type=int, help="Every N batches re-solve a few samples with ngspice and compare.")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Directory of the IDX files (mnist, fashion-mnist, kmnist, idx).")
@click.option("--device", "device_model", help="Program the crossbar through this device model (ebana devices list).")
@click.option("--scheme", help="Device pulse scheme: pwm | pam.")
@click.option("--pam-pulses", type=int, help="PAM: pulses per update (write-verify; 'higher frequency').")
@click.option("--r-ratio", type=float, help="R_OFF/R_ON of the devices (> 1); g_min = g_max / ratio.")
@click.option("--algorithm", help="Analog update algorithm (needs a device): device | analog_sgd | "
              "mixed_precision | residual | residual_v2.")
@click.option("--reference", help="Second device of each pair: none | fixed | symmetric (symmetry-point shifting).")
@click.option("--gamma", type=float, help="Residual learning: weight of P in W + gamma P (> 0).")
@click.option("--transfer-rate", type=float,
              help="Residual learning: fraction β of P written to W per transfer, in (0, 1] (default 0.01; keep "
                   "β ≪ γ²·α·h/4 so W + γP does not oscillate; long runs want ≈ 0.001).")
@click.option("--threshold", type=float, help="Mixed precision / residual_v2: write threshold (S, >= one pulse step).")
@click.option("--label-columns", help="CSV: several 0/1 label columns, e.g. a,b,c: multi-label outputs "
              "(needs --loss bce; config key label_columns).")
@click.option("--record", help="Training sample ids, e.g. 0,5,7: every phase's node voltages to record.npz.")
@click.option("--set", "sets", multiple=True, help="Override any config key: --set circuit.gain=10.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/<dataset>-seed<seed>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint (its own config).")
@click.option("--override", is_flag=True, help="With --resume: apply the given options to the resumed run's config.")
@click.option("--overwrite", is_flag=True, help="Replace the run already in --out (its files are removed).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def train(ctx, dataset, config_file, sets, out_dir, resume, override, overwrite, quiet, **options):
    """Train a network with EqProp; writes metrics, plot, conductances and a checkpoint.

    Example: ebana train iris --backend ngspice --epochs 40 --seed 1 --out runs/iris1

    Deep residual: ebana train mnist --config experiments/deep_residual/recipe.toml --hidden 256x6 --residual

    Through memristors: ebana train iris --device vteam --scheme pam --pam-pulses 10 --r-ratio 10
    """
    from ebana import interrupts
    from ebana.training import Trainer

    options["hidden"], options["skips"] = _parse_hidden(options["hidden"]), _parse_skips(options["skips"])
    overrides = {TRAIN_OPTIONS[name]: value for name, value in options.items()}
    scheme, pam_pulses = options["scheme"], options["pam_pulses"]
    if out_dir is not None and not out_dir.strip():
        raise click.BadParameter("--out must name a directory, got ''")
    if override and not resume:
        raise click.UsageError("--override only applies with --resume")
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite contradict each other: choose one")
    with interrupts.deferred():   # Ctrl-C while loading stops cleanly (and works inside ngspice)
        if resume:
            if not out_dir:
                raise click.UsageError("--resume needs --out DIR of the interrupted run")
            cfg = _resume_config(out_dir, dataset, config_file, overrides, sets, override)
            trainer = Trainer(cfg, out_dir, resume=True)
        else:
            cfg = _resolve_config(dataset, config_file, overrides, sets)
            if (scheme or pam_pulses) and cfg.device.model is None:
                raise click.UsageError("--scheme/--pam-pulses need --device MODEL")
            from ebana.updates import check_device_config
            check_device_config(cfg.device)
            if out_dir is None:
                out_dir = f"runs/{Path(cfg.dataset).stem}-seed{cfg.seed}"
            trainer = Trainer(cfg, out_dir, overwrite=overwrite)
        try:
            interrupts.check()
        except interrupts.Interrupted as sig:
            interrupts.ignore()
            trainer.dir.unlock()
            click.echo("interrupted before training started", err=True)
            sys.exit(sig.exit_code)
        _train(trainer, quiet)


def _resume_config(out_dir, dataset, config_file, overrides, sets, override):
    """The config a resumed run continues with: its checkpoint's, unless options change it.

    Options that would change it are refused unless ``override`` (then they apply)."""
    from ebana.config import apply_overrides, config_diff, from_dict, load_toml
    from ebana.checkpoint import checkpoint_config
    ckpt = Path(out_dir) / "checkpoint.npz"
    if not ckpt.exists():
        raise click.UsageError(f"--resume: no checkpoint in {out_dir}")
    saved = checkpoint_config(ckpt)
    changes = _changes(overrides, sets)
    if dataset:
        changes["dataset"] = dataset
    base = from_dict(load_toml(config_file)) if config_file else saved
    cfg = apply_overrides(base, changes) if changes else base
    diff = config_diff(saved, cfg)
    if not diff:
        return None          # the checkpoint's own config
    if not override:
        k, old, new = diff[0]
        more = f" and {len(diff) - 1} more" if len(diff) > 1 else ""
        raise click.UsageError(f"--resume continues {out_dir} with its saved config, but the options change "
                               f"{k} from {old!r} to {new!r}{more}; drop them, or add --override to apply them")
    return cfg


def _train(trainer, quiet: bool) -> None:
    """Run a trainer with a progress bar (or per-epoch lines) and the closing summary."""
    from ebana import interrupts
    from ebana.allocator import tune_malloc
    tune_malloc()   # this process is ebana's, data loaded: keep the step's temporaries for reuse
    cfg = trainer.cfg
    click.echo(f"ebana: {cfg.dataset} {trainer.circuit.topology.describe()}, backend {cfg.backend}, "
               f"seed {cfg.seed}, {len(trainer.x_train)} train / {len(trainer.x_test)} test -> {trainer.out}",
               err=True)
    total = cfg.epochs * trainer.n_batches
    done = trainer.epoch * trainer.n_batches + trainer.batch
    show = not quiet and sys.stderr.isatty()
    state = {"text": ""}

    def line(m: dict) -> str:
        return (f"epoch {m['epoch']:3d}  train loss {m['train_loss']:.4f} acc {100 * m['train_acc']:.1f}%"
                f"  test loss {m['test_loss']:.4f} acc {100 * m['test_acc']:.1f}%  ({m['seconds']:.2f} s)")

    try:
        if not show:
            trainer.run(progress=lambda p: p.metrics is not None and not quiet
                        and click.echo(line(p.metrics), err=True))
        else:
            with click.progressbar(length=total, label="training", file=sys.stderr, show_pos=True,
                                   width=24, item_show_func=lambda _: state["text"]) as bar:
                bar.update(done)

                def report(p):
                    if p.metrics is not None:
                        state["text"] = f"epoch {p.metrics['epoch']} test acc {100 * p.metrics['test_acc']:.1f}%"
                    else:
                        state["text"] = f"ep {p.epoch + 1} loss {p.loss:.3f} acc {100 * p.acc:.0f}%"
                        bar.update(1)

                trainer.run(progress=report)
    except KeyboardInterrupt as err:
        interrupts.ignore()   # exiting: a second Ctrl-C must not interrupt the exit
        code = err.exit_code if isinstance(err, interrupts.Interrupted) else 130
        click.echo(f"\ninterrupted: checkpoint saved; continue with: ebana train --resume --out {trainer.out}",
                   err=True)
        sys.exit(code)
    interrupts.ignore()   # the run is complete: a late Ctrl-C must not turn exit 0 into a traceback
    last = trainer.history[-1]
    extra = ""
    if cfg.device.model is not None:
        energy = (f"write energy {trainer.e_write_total:.3g} J" if cfg.device.energy
                  else "write energy not integrated (device.energy = false)")
        extra = f"; {energy}, {trainer.pulses_total} pulses"
    click.echo(f"done: test accuracy {100 * last['test_acc']:.2f}%, test loss {last['test_loss']:.4f}{extra}; "
               f"results in {trainer.out}")


@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Sweep directory (default: beside CONFIG, named after it).")
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes on this machine.")
@click.option("--scheduler", help="Dask scheduler address (tcp://host:8786) instead of local processes.")
@click.option("--dry-run", is_flag=True, help="Validate and list the runs; run nothing.")
@click.option("--quiet", is_flag=True, help="No per-run lines.")
def sweep(config_file, out_dir, workers, scheduler, dry_run, quiet):
    """Run an experiment TOML: its grid of dotted-key overrides x seeds, in parallel.

    Rerunning skips finished runs and resumes interrupted ones (a sweep directory of runs made
    from another configuration is refused). Writes results.csv, curves.csv, summary.csv/.md and
    the experiment's figures; exits 1 if a run did not finish.

    Example: ebana sweep experiments/iris_ratio.toml --workers 2
    """
    from ebana.experiments import load_experiment, plan
    from ebana.sweep import check_existing_runs, check_scheduler, run_sweep

    if workers < 1:
        raise click.BadParameter(f"--workers must be >= 1, got {workers}")
    if scheduler is not None:
        check_scheduler(scheduler)
    exp = load_experiment(config_file)
    specs = plan(exp)
    path = Path(config_file)
    out = Path(out_dir) if out_dir else path.parent / path.stem
    if dry_run:
        check_existing_runs(specs, out)
        for s in specs:
            click.echo(s.name)
        click.echo(f"{len(specs)} runs -> {out}", err=True)
        return
    header = (f"ebana sweep {exp.name}: {len(specs)} runs -> {out} "
              f"({'dask ' + scheduler if scheduler else f'{workers} workers'})")

    def report(ev):
        if not ev.name:  # the start event: plan and scheduler are fine (their errors stay one line)
            click.echo(header, err=True)
        elif not quiet:
            msg = f" ({ev.error})" if ev.error else ""
            click.echo(f"[{ev.done}/{ev.total}] {ev.status}: {ev.name}{msg}", err=True)

    try:
        rows = run_sweep(exp, out, workers=workers, scheduler=scheduler, source=path.read_text(), progress=report)
    except KeyboardInterrupt:
        from ebana import interrupts
        interrupts.ignore()
        click.echo(f"\ninterrupted; rerun the same command to finish: ebana sweep {config_file}", err=True)
        sys.exit(130)
    failed = [r for r in rows if r.get("status") != "done"]
    click.echo(f"done: {len(rows) - len(failed)}/{len(rows)} runs finished; tables and figures in {out}")
    if failed:
        first = failed[0]
        raise click.ClickException(
            f"{len(failed)} of {len(rows)} runs did not finish (first: {first['run']}, {first.get('status')}); "
            f"their errors are in {out / 'results.csv'} (column error) and {out / 'runs'}/<run>/error.txt; "
            f"rerun the same command to retry them")


@cli.command()
@click.option("--checkpoint", type=click.Path(exists=True), help="Checkpoint, conductances.npz or run dir.")
@click.option("--dataset", help="Fresh network for this dataset (default: iris).")
@click.option("--hidden", help="Hidden layer sizes of a fresh network (10, 100,50, 6x4).")
@click.option("--residual", is_flag=True, default=None, help="Fresh network with ResNet-block skips (see train).")
@click.option("--set", "sets", multiple=True, help="Override a config key of a fresh network: --set circuit.gain=3.")
@click.option("--seed", type=int, help="Seed of a fresh network (default: 0).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="IDX files directory (default: the config's).")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("--sample", type=int, default=0, show_default=True, help="Index of the sample in the split.")
@click.option("--phase", type=click.Choice(["free", "nudged", "nudged-"]), default="free", show_default=True)
@click.option("--beta", type=float, help="Nudging strength for the nudged phases (default: the config's).")
@click.option("--norton", is_flag=True, help="Write the Norton-reduced input crossbars.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), required=True, help="Output .cir file.")
@click.option("--overwrite", is_flag=True, help="Replace the --out file if it exists.")
def netlist(checkpoint, dataset, hidden, residual, sets, seed, data_dir, split, sample, phase, beta, norton, out_file,
            overwrite):
    """Write the SPICE netlist of a network for one sample and phase (runs in stock ngspice -b).

    Example: ebana netlist --checkpoint runs/iris-seed0 --sample 3 --phase nudged --out iris.cir
    """
    from ebana.backends import create
    from ebana.builder import build
    from ebana.checkpoint import load_checkpoint_circuit
    from ebana.netlist import render

    if beta is not None and not (math.isfinite(beta) and 0 < beta <= 1):
        raise click.BadParameter(f"--beta must be a finite current in (0, 1] A, got {beta!r}")
    if not out_file.strip():
        raise click.BadParameter("--out must name a .cir file, got ''")
    circuit = None
    fresh = [opt for opt, v in (("--dataset", dataset), ("--hidden", hidden), ("--residual", residual),
                                ("--seed", seed), ("--set", sets or None)) if v is not None]
    if checkpoint and fresh:
        raise click.UsageError(f"{', '.join(fresh)} describe{'s' if len(fresh) == 1 else ''} a fresh network; "
                               f"a --checkpoint brings its own")
    check_out_file(out_file, overwrite)
    if checkpoint:
        cfg, circuit = load_checkpoint_circuit(checkpoint)
        if data_dir is not None:   # where the data are, not what the network is
            from ebana.config import apply_overrides
            cfg = apply_overrides(cfg, {"data_dir": data_dir})
    else:
        cfg = _resolve_config(dataset, None, dict(hidden=_parse_hidden(hidden), residual=residual, seed=seed,
                                                  data_dir=data_dir), sets)
    parts = build(cfg)           # the data, encoding and fresh circuit exactly as training builds them
    circuit = parts.circuit if circuit is None else circuit
    xs, ys = (parts.x_train, parts.data.y_train) if split == "train" else (parts.x_test, parts.data.y_test)
    if not 0 <= sample < len(xs):
        raise click.BadParameter(f"sample {sample} is outside 0..{len(xs) - 1} of the {split} split")
    x = xs[sample:sample + 1]
    i_nudge = None
    if phase != "free":
        sol = create("numpy", circuit).solve(x)
        pred = circuit.prediction(sol.output)
        b = (cfg.beta if beta is None else beta) * (1 if phase == "nudged" else -1)
        i_nudge = circuit.nudge_currents(parts.loss.grad(pred, ys[sample:sample + 1]), b)[0]
    text = render(circuit, x[0], i_nudge, norton=norton,
                  title=f"ebana {cfg.dataset} {split} sample {sample} (label {ys[sample]}), {phase} phase")
    try:
        Path(out_file).parent.mkdir(parents=True, exist_ok=True)
        Path(out_file).write_text(text)
    except OSError as err:
        raise click.ClickException(f"cannot write {out_file}: {err.strerror}") from None
    click.echo(f"wrote {out_file}: {text.count(chr(10))} lines ({circuit.topology.describe()})")


@cli.command()
@click.argument("path", type=click.Path(exists=True))
def inspect(path):
    """Summarise a netlist (.cir) or a checkpoint / run directory.

    Example: ebana inspect netlists/iris.cir
    """
    p = Path(path)
    if p.suffix.lower() in (".cir", ".sp", ".net", ".spice"):
        from ebana.netlist import summarize
        try:
            data = p.read_bytes()
        except OSError as err:
            raise click.ClickException(f"cannot read {p}: {err.strerror}") from None
        if b"\0" in data:
            raise click.ClickException(f"{p} is a binary file, not a SPICE netlist")
        for line in summarize(data.decode("utf-8", errors="replace")):
            click.echo(line)
        return
    from ebana.checkpoint import load_checkpoint_circuit
    cfg, circuit = load_checkpoint_circuit(p)
    s = circuit.summary()
    click.echo(f"{p}: dataset {cfg.dataset}, topology {s['topology']}, {s['resistors']} crossbar devices, "
               f"{s['nodes']} nodes")
    for c in s["crossbars"]:
        cells = c['shape'][0] * c['shape'][1]
        masked = f" ({c['devices']} devices)" if c['devices'] != cells else ""
        click.echo(f"  crossbar {c['crossbar']} (layer {c['src']} -> {c['dst']}) "
                   f"{c['shape'][0]}x{c['shape'][1]}{masked}: "
                   f"G mean {c['g_mean']:.3e} S, min {c['g_min']:.3e}, max {c['g_max']:.3e}; "
                   f"{100 * c['at_g_min']:.1f}% at g_min, {100 * c['at_g_max']:.1f}% at g_max")


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Data directory to check (default: $EBANA_DATA_DIR, else ./data).")
def doctor(data_dir):
    """Check the installation: libngspice, PySpice, a tiny ngspice solve, numpy/BLAS, MNIST.

    One line per check; what to do follows '->' on a line that is not ok. Exit code 1 when a
    check fails.

    Example: ebana doctor --data-dir /data/mnist
    """
    from ebana.doctor import format_check, run_checks
    checks = run_checks(data_dir)
    for c in checks:
        click.echo(format_check(c))
    failed = [c.name for c in checks if c.status == "fail"]
    if failed:
        click.echo(f"Error: {len(failed)} check(s) failed: {', '.join(failed)}", err=True)
        sys.exit(1)
    click.echo("all checks passed")


@cli.command()
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("--set", "sets", multiple=True,
              help="Change a config key of the deployed circuit: --set circuit.r_wordline=500 (only keys that "
                   "change a read-out: data, network, loss, solver, circuit.*, nonideal.dac_bits).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Directory of the IDX files (default: the run's).")
@click.option("--split", type=click.Choice(["test", "train", "both"]), default="test", show_default=True)
def evaluate(checkpoint, sets, data_dir, split):
    """Evaluate a trained network's conductances on a changed circuit (free phase only, no training).

    Example: ebana evaluate runs/iris-seed0 --set circuit.r_wordline=500 --set circuit.line_compensation=row_drive
    """
    from ebana.deploy import evaluate_checkpoint
    changes = _changes({"data_dir": data_dir}, sets)
    splits = ("train", "test") if split == "both" else (split,)
    m = evaluate_checkpoint(checkpoint, changes, splits)
    what = ", ".join(f"{k}={v}" for k, v in changes.items() if k != "data_dir") or "the trained circuit"
    click.echo("; ".join(f"{s} accuracy {100 * m[f'{s}_acc']:.2f}%, {s} loss {m[f'{s}_loss']:.4f}" for s in splits)
               + f" ({what})")


@cli.command()
@click.argument("run_dir", type=click.Path())
@click.option("--out", "out_file", type=click.Path(dir_okay=False),
              help="HTML file to write (default RUN_DIR/report.html; the PNGs go to report/ beside it).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file (RUN_DIR/report.html is always "
              "rewritten).")
def report(run_dir, out_file, overwrite):
    """Write one self-contained HTML page of a run: config, curves, energy, conductances, verification.

    Works on old run directories too: a missing file makes its section say so.

    Example: ebana report runs/iris-seed0
    """
    from ebana.report import write_report
    if out_file is not None and not out_file.strip():
        raise click.BadParameter("--out must name an .html file, got ''")
    if out_file is not None:
        check_out_file(out_file, overwrite)
    path, pngs = write_report(run_dir, out_file)
    click.echo(f"wrote {path} ({len(pngs)} figures, also as PNG in {path.parent / 'report'})")


@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--param", "params", multiple=True, required=True,
              help="Search dimension KEY=LOW:HIGH, KEY=log:LOW:HIGH or KEY=int:LOW:HIGH (any dotted config key).")
@click.option("--trials", type=int, default=20, show_default=True, help="Completed trials the study should hold.")
@click.option("--metric", default="test_acc", show_default=True,
              help="Last-epoch metric: test_acc | train_acc (maximised), test_loss | train_loss (minimised).")
@click.option("--study", "study_dir", type=click.Path(file_okay=False), required=True,
              help="Study directory: study.db (optuna SQLite), trial-NNNN run dirs, trials.csv, trials.png.")
@click.option("--set", "sets", multiple=True, help="Override a base config key: --set epochs=5.")
def tune(config_file, params, trials, metric, study_dir, sets):
    """Hyperparameter search with optuna (pip install 'ebana[tune]'); rerunning continues the study.

    Example: ebana tune experiments/tune/iris.toml --param lr=log:1e-8:1e-5 --param beta=log:1e-9:1e-7
    --trials 20 --metric test_acc --study runs/tune-iris
    """
    from ebana.tune import parse_param, tune as run_tune
    cfg = _resolve_config(None, config_file, {}, sets)
    space = [parse_param(p) for p in params]

    def echo(row):
        click.echo(f"trial {row['trial']}: {row['state']} {metric} = {row['value']}")

    rows = run_tune(cfg, space, trials=trials, metric=metric, study_dir=study_dir, on_trial=echo)
    done = [r for r in rows if r["state"] == "COMPLETE"]
    if done:
        best = (max if metric.endswith("acc") else min)(done, key=lambda r: r["value"])
        values = ", ".join(f"{p.key}={best[p.key]:.6g}" for p in space if best.get(p.key) is not None)
        click.echo(f"best: trial {best['trial']} {metric} = {best['value']:.6g} ({values}); "
                   f"table in {study_dir}/trials.csv")


def _register_optional() -> None:
    try:
        from ebana.cli_devices import devices
    except ImportError:  # pragma: no cover - the device library is optional while it is built
        return
    cli.add_command(devices)


_register_optional()


def main() -> None:
    cli(prog_name="ebana")


if __name__ == "__main__":  # pragma: no cover
    main()
