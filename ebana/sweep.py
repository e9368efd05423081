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
rerunning an interrupted sweep finishes only what is missing. A sweep directory whose runs were
made from another resolved config (the experiment was edited since) is refused
(:func:`check_existing_runs`): its results would be reused as if they were the new ones.

**Failures.** A run that raises (anything: a ConvergenceError or a bug) or whose worker process
dies is recorded as failed (run.json ``failed`` with the error, error.txt); the other runs go on
and the tables are written; a rerun retries it. A figure that cannot be drawn is one warning.

**Signals.** SIGINT (Ctrl-C, or ``kill -INT`` of the sweep process alone) starts no further run,
forwards SIGINT to the running workers so that they checkpoint, waits for them up to
:data:`INTERRUPT_GRACE_S`, writes the tables and raises KeyboardInterrupt; a second SIGINT stops
the workers at once. Each worker watches the sweep process and, if it dies (``kill -9``),
checkpoints and exits within about :data:`PARENT_POLL_S` + :data:`ORPHAN_GRACE_S`.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import json
import logging
import math
import multiprocessing
import os
import re
import signal
import threading
import time
import uuid
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ebana import interrupts
from ebana.allocator import tune_malloc
from ebana.config import TrainConfig, config_diff, from_dict, load_toml, to_dict
from ebana.errors import ConfigError, EbanaError, did_you_mean
from ebana.experiments import Experiment, RunSpec, check_figure_file, plan, record_failure, run_safely, run_status, \
    settle_stopped
from ebana.rundir import RunDir

__all__ = ["run_sweep", "write_outputs", "collect", "summarize", "figure", "markdown_table", "write_csv",
           "FinishedRun", "finished_runs",
           "check_scheduler", "check_existing_runs", "SweepEvent", "FINAL_FIELDS"]

logger = logging.getLogger(__name__)

FINAL_FIELDS = ["train_loss", "train_acc", "test_loss", "test_acc", "best_test_acc", "min_test_loss",
                "e_write_total", "pulses_total", "saturated", "dg_ratio", "e_energy", "t_sample", "seconds"]
"""Per-run result columns (final epoch unless named best/min/total; ``e_energy`` J per epoch and
``t_sample`` chip seconds per sample of the final epoch, :mod:`ebana.energy`; empty for runs made
before energy accounting)."""
SUMMARY_METRICS = ["test_acc", "test_loss", "train_loss", "e_write_total", "pulses_total", "saturated",
                   "e_energy", "t_sample"]


INTERRUPT_GRACE_S = 15.0
"""How long (s) an interrupted sweep waits for its running workers to checkpoint before it stops them."""
PARENT_POLL_S = 0.5
"""How often (s) a pool worker checks that the sweep process that started it is still alive."""
ORPHAN_GRACE_S = 10.0
"""How long (s) an orphaned worker (its sweep process died) lets its run checkpoint before it exits."""
SCHEDULER_TIMEOUT_S = 10.0
"""How long (s) a sweep tries to reach its Dask scheduler."""
WORKER_DIED = ("worker process died while this run was in progress (killed, out of memory or crashed); "
               "rerun the sweep to retry it")

_SCHEDULER = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
                        r":(\d{1,5})|inproc://\S+")


@dataclass(frozen=True, slots=True)
class SweepEvent:
    """Progress report: ``done`` of ``total`` runs finished; ``status`` of the last one."""

    done: int
    total: int
    name: str
    status: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class _Job:
    """One run to execute: its spec, its config as a plain (picklable) dict and its directory."""

    spec: RunSpec
    config: dict[str, Any]
    run_dir: str


_Report = Callable[[RunSpec, dict], None]


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


# ---------------------------------------------------------------------- Dask
def check_scheduler(address: Any) -> str:
    """``address`` if it looks like a Dask scheduler address (``tcp://host:8786``, ``host:8786``,
    ``tls://``, ``ucx://``, ``ws(s)://``, ``inproc://``), else ConfigError."""
    addr = address.strip() if isinstance(address, str) else address
    m = _SCHEDULER.fullmatch(addr) if isinstance(addr, str) else None
    if m is None or (m.group(1) is not None and not 0 < int(m.group(1)) < 65536):
        raise ConfigError(f"--scheduler must be a Dask scheduler address like tcp://host:8786 or host:8786 "
                          f"(schemes tcp, tls, ucx, ws, wss, inproc), got {address!r}")
    return addr


@contextmanager
def _dask_client(address: str) -> Iterator[Any]:
    """A Dask client of the scheduler at ``address``; ConfigError if dask is missing or the
    scheduler cannot be reached within :data:`SCHEDULER_TIMEOUT_S`."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs dask.distributed: pip install 'ebana[dask]'") from None
    try:
        client = Client(address, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"cannot reach Dask scheduler {address} within {SCHEDULER_TIMEOUT_S:g} s: {why}") from None
    with client:
        yield client


def _run_dask(jobs: Sequence[_Job], client: Any, report: _Report) -> None:
    """Run ``jobs`` on a Dask cluster. On KeyboardInterrupt the runs not yet started are cancelled
    (a cluster cannot interrupt a running task: those finish on their workers)."""
    from dask.distributed import as_completed
    token = uuid.uuid4().hex[:8]   # two sweeps with equal run names must not share results
    futs = {client.submit(run_safely, j.config, j.run_dir, key=f"ebana-{j.spec.name}-{token}", pure=False): j
            for j in jobs}
    try:
        for fut in as_completed(futs):
            job = futs[fut]
            try:
                res = fut.result()
            except Exception as err:  # noqa: BLE001 - e.g. KilledWorker: the run failed, the sweep goes on
                res = _failed(job, f"{type(err).__name__}: {err}")
            report(job.spec, res)
    except KeyboardInterrupt:
        client.cancel([f for f in futs if not f.done()])
        raise


# ---------------------------------------------------------------------- worker processes
_IDLE = threading.Event()
"""Set in a pool worker while it runs no job (read by its parent watch)."""
_IDLE.set()
_PARENT_PID: int | None = None
"""Pool worker: pid of the sweep process that started it."""
_INTERRUPTIBLE = True
"""Pool worker: whether SIGINT interrupts its runs (False when the sweep process ignores SIGINT)."""


def _worker_init(parent_pid: int, interruptible: bool) -> None:
    """Pool-worker initializer: ignore SIGINT while idle (the sweep process forwards it to the
    runs), and watch the sweep process (pid ``parent_pid``) so that a worker never outlives it.
    ``interruptible`` is False when the sweep process does not act on SIGINT: its runs then
    ignore it too, unless the sweep process died."""
    global _PARENT_PID, _INTERRUPTIBLE
    _PARENT_PID, _INTERRUPTIBLE = parent_pid, interruptible
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_malloc()   # the worker process is ebana's own (see ebana/allocator.py)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="ebana-watch-parent", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    """Poll every :data:`PARENT_POLL_S` whether the parent is ``parent_pid``; once it is not (the
    sweep process died, e.g. ``kill -9``), interrupt the current run so that it checkpoints, give
    it :data:`ORPHAN_GRACE_S` and exit."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    for wait_s in (ORPHAN_GRACE_S / 2, ORPHAN_GRACE_S / 2):
        if _IDLE.is_set():
            break
        os.kill(os.getpid(), signal.SIGINT)   # handled by the run: checkpoint, run.json interrupted
        _IDLE.wait(wait_s)
    os._exit(1)


def _interrupt_once(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler signature
    """SIGINT during a worker's run: one KeyboardInterrupt (the Trainer checkpoints); repeats
    (the terminal's and the sweep's forwarded copy) are ignored."""
    if not _INTERRUPTIBLE and os.getppid() == _PARENT_PID:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _pool_task(config: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """A pool job: :func:`run_safely`, interruptible by SIGINT (then reported as stopped)."""
    signal.signal(signal.SIGINT, _interrupt_once)
    _IDLE.clear()
    try:
        with interrupts.deferred():   # SIGTERM/SIGINT while the run is being set up: stop at its first batch
            return run_safely(config, run_dir)
    except KeyboardInterrupt:
        return {"run_dir": run_dir, "status": settle_stopped(run_dir), "error": ""}
    finally:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        finally:
            _IDLE.set()


# ---------------------------------------------------------------------- local execution
class _StopRequests:
    """SIGINT handler of the sweep process: counts signals instead of raising."""

    def __init__(self) -> None:
        self.count = 0
        self.active = False   # installed as this process's SIGINT handler

    def __call__(self, signum: int, frame: Any) -> None:  # noqa: ARG002 - signal handler signature
        self.count += 1

    @property
    def stop(self) -> bool:
        """Stop starting runs, let the running ones checkpoint."""
        return self.count > 0

    @property
    def forced(self) -> bool:
        """A second SIGINT: stop the running ones now."""
        return self.count > 1


@contextmanager
def _sigint_requests() -> Iterator[_StopRequests]:
    """Within the block SIGINT is counted, not raised (main thread, unless SIGINT is ignored)."""
    req = _StopRequests()
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield req
        return
    old = signal.signal(signal.SIGINT, req)
    req.active = True
    try:
        yield req
    finally:
        signal.signal(signal.SIGINT, old if old is not None else signal.SIG_DFL)


def _failed(job: _Job, error: str) -> dict[str, Any]:
    return record_failure(job.run_dir, error)


def _stopped(job: _Job) -> dict[str, Any]:
    return {"run_dir": job.run_dir, "status": settle_stopped(job.run_dir), "error": ""}


def _after_broken_pool(job: _Job, stopping: bool, workers: dict[int, Any]) -> dict[str, Any] | None:
    """The outcome of a run whose pool broke, or None if the run was only caught in the break
    (it did not cause it) and should run again in a new pool.

    The pool terminates its other workers (SIGTERM, which a Trainer turns into a checkpoint):
    wait up to :data:`INTERRUPT_GRACE_S` for the run's directory to be released. A finished or
    failed run keeps its status. The run whose worker died on its own is failed. One that
    checkpointed, whose worker the pool terminated (exit by SIGTERM) before it could, or that
    had not started while another worker is known to have died, runs again (resuming its
    checkpoint). While the sweep stops, runs stop as interrupted. ``workers``: the pool's
    worker processes by pid, as seen while it ran."""
    run = RunDir(job.run_dir)
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    while run.held_by_other() and time.monotonic() < deadline:
        time.sleep(0.1)
    status = _recorded_status(job.run_dir)   # as written: a dead worker's run still says running
    if status in ("done", "failed"):
        error = _run_error(job.run_dir) if status == "failed" else ""
        return {"run_dir": job.run_dir, "status": status, "error": error}
    if stopping:
        return _stopped(job)
    if status == "interrupted":
        return None
    proc = workers.get(run.owner_pid()) if status == "running" else None
    if proc is not None:
        proc.join(timeout=max(0.0, deadline - time.monotonic()))
        innocent = proc.exitcode == -signal.SIGTERM
    elif status is None:   # not started: innocent once another worker is seen to have died
        innocent = _worker_died(workers, deadline)
    else:
        innocent = any(p.exitcode not in (None, -signal.SIGTERM) for p in workers.values())
    if not innocent:
        return _failed(job, WORKER_DIED)
    settle_stopped(job.run_dir)
    return None


def _worker_died(workers: dict[int, Any], deadline: float) -> bool:
    """Whether a worker exited other than by the pool's SIGTERM, polling until ``deadline``: the
    break reaches the futures before the dead worker's exit code is collected."""
    while True:
        if any(p.exitcode not in (None, -signal.SIGTERM) for p in workers.values()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _recorded_status(run_dir: str) -> str | None:
    """The status run.json records (unlike :func:`run_status`, a killed run's ``running`` stays)."""
    try:
        status = json.loads((Path(run_dir) / "run.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None
    return status if isinstance(status, str) else None


def _run_error(run_dir: str) -> str:
    try:
        return str(json.loads((Path(run_dir) / "run.json").read_text()).get("error", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _run_serial(jobs: Sequence[_Job], report: _Report) -> None:
    """Run ``jobs`` one after the other in this process; KeyboardInterrupt stops after the
    current run has checkpointed."""
    for job in jobs:
        try:
            res = run_safely(job.config, job.run_dir)
        except KeyboardInterrupt:
            report(job.spec, _stopped(job))
            raise
        report(job.spec, res)


def _pool_processes(pool: cf.ProcessPoolExecutor) -> list[Any]:
    procs = getattr(pool, "_processes", None)   # private, but the only handle on a pool's workers
    return list(procs.values()) if procs else multiprocessing.active_children()


def _signal_workers(pool: cf.ProcessPoolExecutor, signum: int) -> None:
    for proc in _pool_processes(pool):
        try:
            os.kill(proc.pid, signum)
        except (ProcessLookupError, TypeError):
            pass


def _collect(fut: cf.Future, job: _Job, report: _Report, stopping: bool, workers: dict[int, Any],
             retry: Callable[[_Job], None]) -> bool:
    """Report the outcome of ``fut`` (or ``retry`` its job, see :func:`_after_broken_pool`);
    True if its pool broke (a worker died)."""
    broken = False
    try:
        res = fut.result()
        if not stopping and isinstance(res, dict) and res.get("status") == "interrupted":
            # stopped by a signal the sweep did not send as a stop: the pool terminating its workers
            # after another one died, the run checkpointing before the break reached this future.
            # It runs again (resuming its checkpoint), like a run caught in the break.
            retry(job)
            return broken
    except BrokenProcessPool:
        broken = True
        res = _after_broken_pool(job, stopping, workers)
        if res is None:
            retry(job)
            return broken
    except KeyboardInterrupt:
        res = _stopped(job)
    except BaseException as err:  # noqa: BLE001 - the task catches everything: this is transport (pickling)
        res = _failed(job, f"{type(err).__name__}: {err}")
    report(job.spec, res)
    return broken


def _wind_down(pool: cf.ProcessPoolExecutor, running: dict[cf.Future, _Job], req: _StopRequests,
               report: _Report, broken: bool, workers: dict[int, Any], retry: Callable[[_Job], None]) -> None:
    """Shut ``pool`` down. Runs still going are forwarded SIGINT and given
    :data:`INTERRUPT_GRACE_S` to checkpoint (a second SIGINT cuts it short), then killed and
    marked interrupted; after a broken pool see :func:`_after_broken_pool`."""
    try:
        if running and not broken:
            _signal_workers(pool, signal.SIGINT)   # if only this process got it; repeats are ignored
            deadline = time.monotonic() + INTERRUPT_GRACE_S
            while running and time.monotonic() < deadline and not req.forced:
                done, _ = cf.wait(running, timeout=0.2, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    _collect(fut, running.pop(fut), report, stopping=True, workers=workers, retry=retry)
            if running:
                _signal_workers(pool, signal.SIGKILL)
        done, _ = cf.wait(running, timeout=30)     # a broken or killed pool resolves every future
        for fut, job in list(running.items()):
            del running[fut]
            if fut in done:
                _collect(fut, job, report, stopping=not broken, workers=workers, retry=retry)
            else:
                report(job.spec, _failed(job, WORKER_DIED) if broken else _stopped(job))
    finally:
        if running:
            _signal_workers(pool, signal.SIGKILL)
        pool.shutdown(wait=True, cancel_futures=True)


def _drain_pool(queue: deque[_Job], workers: int, req: _StopRequests, report: _Report) -> None:
    """Feed ``queue`` to one process pool until the queue is done, the pool breaks or a stop is
    requested. At most ``workers`` jobs are submitted at a time, so none waits inside the pool."""
    pool = cf.ProcessPoolExecutor(max_workers=min(workers, len(queue)),
                                  mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_worker_init, initargs=(os.getpid(), req.active))
    running: dict[cf.Future, _Job] = {}
    procs: dict[int, Any] = {}   # the pool's processes by pid: who died, who was terminated
    broken = False
    try:
        while (queue or running) and not req.stop and not broken:
            while queue and len(running) < workers:
                job = queue.popleft()
                try:
                    running[pool.submit(_pool_task, job.config, job.run_dir)] = job
                except BrokenProcessPool:
                    queue.appendleft(job)
                    broken = True
                    break
            procs.update((p.pid, p) for p in _pool_processes(pool) if p.pid is not None)
            done, _ = cf.wait(running, timeout=0.2, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                broken |= _collect(fut, running.pop(fut), report, stopping=req.stop, workers=procs,
                                   retry=queue.appendleft)
    finally:
        _wind_down(pool, running, req, report, broken, procs, queue.appendleft)


def _run_pool(jobs: Sequence[_Job], workers: int, report: _Report) -> None:
    """Run ``jobs`` on local worker processes. SIGINT stops starting runs, lets the running ones
    checkpoint, then raises KeyboardInterrupt. When a worker dies its run is recorded as failed;
    the pool's other runs stop (checkpointing if they can) and a new pool takes them, resumed,
    with the rest."""
    queue = deque(jobs)
    with _single_thread_blas(), _sigint_requests() as req:
        while queue and not req.stop:
            _drain_pool(queue, workers, req, report)
    if req.stop:
        raise KeyboardInterrupt


def _execute(jobs: Sequence[_Job], workers: int, client: Any, report: _Report) -> bool:
    """Run ``jobs`` (Dask ``client``, else ``workers`` processes, else this process); True if interrupted."""
    try:
        if client is not None:
            _run_dask(jobs, client, report)
        elif workers <= 1:
            _run_serial(jobs, report)
        else:
            _run_pool(jobs, workers, report)
    except KeyboardInterrupt:
        return True
    return False


# ---------------------------------------------------------------------- stale runs
LOCATION_KEYS = frozenset({"data_dir"})
"""Config keys that say where inputs are read from, not what they are: a finished run made with
another value (the data moved, a relative path) is not stale."""


def config_change(old: TrainConfig, new: TrainConfig) -> str | None:
    """The first key in which ``new`` differs from ``old`` as ``key old -> new`` (plus how many more
    keys differ), :data:`LOCATION_KEYS` ignored; None if they are the same."""
    diff = [d for d in config_diff(old, new) if d[0] not in LOCATION_KEYS]
    if not diff:
        return None
    key, was, now = diff[0]
    return f"{key} {was!r} -> {now!r}" + (f" and {len(diff) - 1} more keys" if len(diff) > 1 else "")


def _stored_config(run_dir: Path) -> TrainConfig | None:
    """The config a run was made with (its checkpoint's, else config.toml's), or None if a rerun
    would not reuse it (not done and no checkpoint: it starts afresh) or it cannot be read."""
    from ebana.checkpoint import checkpoint_config
    ckpt = run_dir / "checkpoint.npz"
    if not ckpt.exists() and run_status(run_dir) != "done":
        return None
    try:
        return checkpoint_config(ckpt) if ckpt.exists() else from_dict(load_toml(run_dir / "config.toml"))
    except EbanaError as err:
        logger.warning("run %s: its configuration cannot be read (%s); not compared", run_dir, err)
        return None


def check_existing_runs(specs: Sequence[RunSpec], out_dir: str | os.PathLike) -> None:
    """ConfigError if a run of ``out_dir/runs`` that a rerun would skip or resume was made from
    another resolved config than its spec's (the experiment changed since): naming the sweep
    directory, the run and the first differing key (old -> new). Comments and formatting of the
    experiment file do not count: configs are compared, not text; nor do :data:`LOCATION_KEYS`."""
    runs_dir = Path(out_dir) / "runs"
    if not runs_dir.is_dir():
        return
    for s in specs:
        old = _stored_config(runs_dir / s.name)
        change = config_change(old, s.config) if old is not None else None
        if change:
            raise ConfigError(f"sweep directory {out_dir} holds runs of another configuration (run {s.name}: "
                              f"{change}); sweep into a new directory (--out DIR), or delete {runs_dir} to start over")


def run_sweep(exp: Experiment, out_dir: str | os.PathLike, *, workers: int = 2, scheduler: str | None = None,
              source: str | None = None, progress: Callable[[SweepEvent], None] | None = None) -> list[dict]:
    """Run every missing run of ``exp`` in ``out_dir``, then write tables and figures.

    ``source`` is the experiment file's text, copied to ``experiment.toml``. Returns the
    per-run result rows (as in results.csv). A run that fails (for any reason, its worker
    process dying included) is recorded as failed and the others go on; a rerun retries it.
    On SIGINT / KeyboardInterrupt no further run starts, the running ones checkpoint, the
    tables of what exists are written and KeyboardInterrupt is raised.
    """
    address = check_scheduler(scheduler) if scheduler else None
    specs = plan(exp)                       # every config is validated before anything runs
    out = Path(out_dir)
    check_existing_runs(specs, out)         # never reuse results of another configuration
    runs_dir = out / "runs"
    with _dask_client(address) if address else nullcontext() as client:
        runs_dir.mkdir(parents=True, exist_ok=True)
        if source is not None:
            (out / "experiment.toml").write_text(source)
        todo = [s for s in specs if run_status(runs_dir / s.name) != "done"]
        done = len(specs) - len(todo)
        logger.info("sweep %s: %d runs, %d already done", exp.name, len(specs), done)
        if progress:
            progress(SweepEvent(done, len(specs), "", "skipped" if done else "start"))

        def report(spec: RunSpec, res: dict) -> None:
            nonlocal done
            if res["status"] not in ("interrupted", "missing"):
                done += 1
            if res["status"] == "failed":
                logger.warning("run %s failed: %s", spec.name, res["error"])
            if progress:
                progress(SweepEvent(done, len(specs), spec.name, res["status"], res.get("error", "")))

        jobs = [_Job(s, json.loads(json.dumps(to_dict(s.config))), str(runs_dir / s.name)) for s in todo]
        interrupted = _execute(jobs, workers, client, report)
    rows = write_outputs(exp, specs, out)
    if interrupted:
        raise KeyboardInterrupt
    return rows


def write_outputs(exp: Experiment, specs: Sequence[RunSpec], out: Path) -> list[dict]:
    """Write results.csv, curves.csv, summary.csv/.md and the figures of what ``out/runs`` holds;
    returns the result rows. A figure that cannot be drawn is a warning, not an error."""
    rows, curves = collect(specs, out / "runs")
    write_csv(out / "results.csv", rows)
    write_csv(out / "curves.csv", curves)
    keys = [k for k, _ in exp.grid] + sorted({k for c in exp.cases for k in c} - {k for k, _ in exp.grid})
    summary = summarize(rows, keys)
    write_csv(out / "summary.csv", summary)
    _write_text(out / "summary.md", f"# {exp.name}\n\n{exp.description}\n\n" + markdown_table(summary, keys) + "\n")
    for spec in exp.figures:
        _write_figure(rows, spec, out)
    return rows


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_figure(rows: list[dict], spec: dict[str, Any], out: Path) -> None:
    """Draw and save one figure (atomically) inside ``out``; log one warning if it cannot be."""
    name = spec.get("file", "figure.png")
    try:
        check_figure_file(name)
        fig = figure(rows, spec)
        tmp = out / f".tmp-{name}"
        try:
            fig.savefig(tmp, dpi=120, bbox_inches="tight", format=Path(name).suffix[1:].lower())
            os.replace(tmp, out / name)
        finally:
            tmp.unlink(missing_ok=True)
    except Exception as err:  # noqa: BLE001 - a figure must never cost the sweep its tables
        logger.warning("figure %s not written: %s", name, err)


# ---------------------------------------------------------------------- tables
def _num(v: Any) -> Any:
    if v in (None, ""):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def _read_info(run_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {"status": "missing"}
    return info if isinstance(info, dict) else {"status": "missing"}


def _read_history(run_dir: Path) -> list[dict]:
    """metrics.csv as numbers ([] if absent; a warning if unreadable)."""
    path = run_dir / "metrics.csv"
    if not path.exists():
        return []
    try:
        with open(path, newline="") as fh:
            return [{k: _num(v) for k, v in r.items() if k is not None} for r in csv.DictReader(fh)]
    except (OSError, ValueError, csv.Error) as err:
        logger.warning("%s is unreadable (%s); its run has no metrics in the tables", path, err)
        return []


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


@dataclass(frozen=True)
class FinishedRun:
    """One finished run of a sweep directory, for post-processing scripts."""

    result: dict[str, str]
    """Its row of the sweep's results.csv."""
    path: Path
    """Its run directory (``runs/NAME``)."""
    config: Any
    """Its resolved :class:`~ebana.config.TrainConfig` (from the checkpoint)."""
    history: list[dict[str, float | None]]
    """metrics.csv, one dict per epoch (empty cells None)."""
    info: dict[str, Any]
    """run.json."""


def finished_runs(sweep: Path) -> list[FinishedRun]:
    """Every run of a sweep directory in results.csv order, with its config, metrics and run.json;
    SystemExit naming the first run that is not done (post-processing needs them all)."""
    from ebana.checkpoint import checkpoint_config
    sweep = Path(sweep)
    with open(sweep / "results.csv", newline="") as fh:
        index = list(csv.DictReader(fh))
    not_done = [r["run"] for r in index if r["status"] != "done"]
    if not_done:
        raise SystemExit(f"{sweep}: {len(not_done)} runs not done (first: {not_done[0]}); rerun the sweep")
    out = []
    for r in index:
        run = sweep / "runs" / r["run"]
        with open(run / "metrics.csv", newline="") as fh:
            hist = [{k: float(v) if v not in ("", None) else None for k, v in h.items()} for h in csv.DictReader(fh)]
        out.append(FinishedRun(r, run, checkpoint_config(run), hist, json.loads((run / "run.json").read_text())))
    return out


def collect(specs: Sequence[RunSpec], runs_dir: Path) -> tuple[list[dict], list[dict]]:
    """Per-run rows and per-epoch rows from the run directories."""
    rows, curves = [], []
    for s in specs:
        d = runs_dir / s.name
        row: dict[str, Any] = {"run": s.name, **s.overrides}
        info = _read_info(d)
        row["status"] = run_status(d) or info.get("status")   # a killed run's "running" reads as interrupted
        row["error"] = info.get("error", "")
        hist = _read_history(d)
        for r in hist:
            curves.append({"run": s.name, **s.overrides, **r})
        if hist:
            last = hist[-1]
            row.update({k: last.get(k) for k in ("train_loss", "train_acc", "test_loss", "test_acc",
                                                  "saturated", "dg_ratio", "e_energy", "t_sample")})
            accs, losses = _finite([r.get("test_acc") for r in hist]), _finite([r.get("test_loss") for r in hist])
            row["best_test_acc"] = max(accs) if accs else None
            row["min_test_loss"] = min(losses) if losses else None
            row["epochs"] = int(last["epoch"]) if isinstance(last.get("epoch"), float) else None
        dev = info.get("device") if isinstance(info.get("device"), dict) else {}
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
        groups.setdefault(tuple(_hashable(r.get(k)) for k in keys), []).append(r)
    out = []
    for rs in groups.values():
        rec: dict[str, Any] = {k: rs[0].get(k) for k in keys}
        ok = [r for r in rs if r.get("status") == "done"]
        rec["n"], rec["failed"] = len(ok), len(rs) - len(ok)
        for m in SUMMARY_METRICS:
            vals = np.array([r[m] for r in ok if isinstance(r.get(m), (int, float)) and r.get(m) is not None],
                            dtype=float)
            vals = vals[np.isfinite(vals)]
            if vals.size:
                rec[f"{m}_mean"], rec[f"{m}_std"] = float(vals.mean()), float(vals.std())
                rec[f"{m}_min"], rec[f"{m}_max"] = float(vals.min()), float(vals.max())
        rec["test_acc_seeds"] = " ".join(f"{r.get('seed')}:{r['test_acc']:.3f}" for r in ok
                                         if isinstance(r.get("test_acc"), (int, float)))
        out.append(rec)
    return out


def markdown_table(summary: list[dict], keys: Sequence[str]) -> str:
    """Markdown table of a summary: keys, test accuracy (%), test loss, write energy and pulses over
    the run, and the final epoch's chip energy (J per epoch) and chip time per sample (s)."""
    head = [*keys, "n", "test acc % (mean ± std)", "per seed", "test loss", "write energy, run (J)", "pulses",
            "chip energy, last epoch (J)", "chip time / sample (s)"]
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
                                                 f(r, "e_write_total", "{:.3g}"), f(r, "pulses_total", "{:.0f}"),
                                                 f(r, "e_energy", "{:.3g}"), f(r, "t_sample", "{:.3g}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- figures
def _hashable(v: Any) -> Any:
    """Lists (TOML arrays such as ``hidden = [10, 5]``) as tuples, so that they can be grouped."""
    return tuple(_hashable(e) for e in v) if isinstance(v, list) else v


def _tick_label(v: Any) -> str:
    """A categorical x value as a tick label: a list (tuple) as its items joined by "+", () as "none"."""
    if isinstance(v, tuple):
        return " + ".join(_tick_label(e) for e in v) if v else "none"
    return str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _order(v: Any) -> tuple:
    return (0, float(v), "") if _is_number(v) else (1, 0.0, str(v))


def _check_columns(sel: list[dict], spec: dict[str, Any], ys: list[str]) -> list[str]:
    """The ``ys`` that are result columns; ConfigError if ``x`` or every y is none (an unknown
    ``hue`` draws one line, as a hue that does not vary)."""
    columns = {k for r in sel for k in r}
    if spec["x"] not in columns:
        raise ConfigError(f"figure x = {spec['x']!r} is not a results column{did_you_mean(spec['x'], columns)}")
    known = [y for y in ys if y in columns]
    for y in ys:
        if y not in columns:
            if not known:
                raise ConfigError(f"figure y = {y!r} is not a results column{did_you_mean(y, columns)}")
            logger.warning("figure %s: y = %r is not a results column%s; its panel is empty",
                           spec.get("file", "figure.png"), y, did_you_mean(y, columns))
    return known


def _select(rows: list[dict], spec: dict[str, Any]) -> list[dict]:
    where = spec.get("where", {})
    sel = [r for r in rows if r.get("status") == "done"
           and all(_hashable(r.get(k)) == _hashable(v) for k, v in where.items())]
    if not sel:
        raise ConfigError("no finished run to plot" + (f" with where = {where!r}" if where else ""))
    return sel


def figure(rows: list[dict], spec: dict[str, Any]):
    """Figure of metrics ``spec["y"]`` vs ``spec["x"]``, one line per ``spec["hue"]`` value.

    Lines are means over seeds with a min-max band; ``where`` filters rows ({key: value});
    ``logx`` uses a log x axis. Non-numeric x values are placed at equal spacing. Raises
    ConfigError when there is nothing to plot or a column is unknown.
    """
    from matplotlib.figure import Figure   # not pyplot: the user's matplotlib backend is left alone
    if not isinstance(spec.get("x"), str):
        raise ConfigError(f"figure needs x = \"<results column>\", got x = {spec.get('x')!r}")
    x_key, hue = spec["x"], spec.get("hue")
    ys = spec.get("y", ["test_acc", "test_loss"])
    ys = [ys] if isinstance(ys, str) else list(ys)
    sel = _select(rows, spec)
    _check_columns(sel, spec, ys)
    sel = [r for r in sel if r.get(x_key) is not None]
    if not sel:
        raise ConfigError(f"no finished run has a value of x = {x_key!r}")
    fig = Figure(figsize=(5.2 * len(ys), 3.8))
    axes = fig.subplots(1, len(ys), squeeze=False)
    xs_all = sorted({_hashable(r.get(x_key)) for r in sel}, key=_order)
    numeric = all(_is_number(v) for v in xs_all)
    pos = {v: (v if numeric else i) for i, v in enumerate(xs_all)}
    hues = sorted({_hashable(r.get(hue)) for r in sel}, key=str) if hue else [None]
    for ax, y in zip(axes[0], ys):
        for h in hues:
            pts: dict[Any, list[float]] = {}
            for r in sel:
                if (hue is None or _hashable(r.get(hue)) == h) and _is_number(r.get(y)) and math.isfinite(r[y]):
                    pts.setdefault(_hashable(r.get(x_key)), []).append(float(r[y]))
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
            labels = [_tick_label(v) for v in xs_all]
            long = sum(map(len, labels)) > 40      # would overlap side by side: slant them
            ax.set_xticks(range(len(xs_all)), labels, rotation=20 if long else 0, ha="right" if long else "center",
                          fontsize=8 if long else None)
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
