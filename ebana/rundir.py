"""A run directory: an exclusive lock, atomic writes, and a status that is always true.

Layout (written by :mod:`ebana.training`)::

    .lock              flock'ed by the process that trains here (holds its pid)
    config.toml        the resolved configuration
    run.json           status (running | interrupted | failed | done), seed, versions, metrics
    metrics.csv        one row per epoch
    checkpoint.npz     the state at the last finished batch
    conductances.npz   final conductances (S)
    curves.png         written before run.json says done

The lock is an ``flock`` on ``.lock``: the kernel drops it when the process ends, however it
ends (SIGKILL included), so a run.json that still says ``running`` with nobody holding the
lock reads as ``interrupted``. Temporary files (``.tmp-*``) have unique names; a killed
writer's leftovers are removed when the next process takes the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ebana.errors import CheckpointError

__all__ = ["RunDir", "ARTIFACTS", "run_status"]

ARTIFACTS = ("config.toml", "run.json", "metrics.csv", "checkpoint.npz", "conductances.npz", "curves.png",
             "verify.csv", "error.txt")
"""Files a run writes (``--overwrite`` removes exactly these, plus ``failures/``)."""


def _file_mode() -> int:
    """Mode of new files under the process umask (mkstemp would make them 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _io_error(what: str, path: Path, err: OSError) -> CheckpointError:
    return CheckpointError(f"cannot {what} {path}: {err.strerror or err}")


class RunDir:
    """The directory of one training run (see the module docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        if str(path).strip() == "":
            raise CheckpointError("run directory (--out) must not be empty, got ''")
        self.path = Path(path)
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ lock
    def lock(self) -> None:
        """Take the exclusive lock (creating the directory); idempotent.

        Raises :class:`~ebana.errors.CheckpointError` if another process trains here.
        """
        if self._lock_fd is not None:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise _io_error("create run directory", self.path, err) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            raise CheckpointError(f"run directory {self.path} is in use by another ebana process "
                                  f"(pid {owner}); wait for it or choose another --out") from None
        self._lock_fd = fd
        self._remove_temporaries()

    def mark_owner(self) -> None:
        """Write our pid into the lock file (for the "in use" message of other processes)."""
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, f"{os.getpid()}\n".encode(), 0)

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)   # closing the descriptor releases the flock
            self._lock_fd = None

    def owner_pid(self) -> int | None:
        """The pid the last process that trained here wrote into the lock file (None if none)."""
        try:
            text = (self.path / ".lock").read_text(errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def held_by_other(self) -> bool:
        """Whether another process holds the lock (False if nobody, or we, hold it)."""
        if self._lock_fd is not None:
            return False
        return _lock_held(self.path)

    def _remove_temporaries(self) -> None:
        for tmp in self.path.glob(".tmp-*"):
            try:
                tmp.unlink()
            except OSError:
                pass

    # ------------------------------------------------------------------ contents
    def has_run(self) -> bool:
        """Whether a run has written anything here."""
        return any((self.path / name).exists() for name in ARTIFACTS)

    def status(self) -> str | None:
        """See :func:`run_status`."""
        return run_status(self.path)

    def clear(self) -> None:
        """Remove a previous run's files (only the files a run writes, its ``failures/`` and the
        ``ebana report`` page made from it, ``report.html`` and ``report/``; needs the lock)."""
        assert self.locked, "clear() needs the lock"
        for name in ARTIFACTS:
            try:
                (self.path / name).unlink(missing_ok=True)
            except OSError as err:
                raise _io_error("remove", self.path / name, err) from None
        shutil.rmtree(self.path / "failures", ignore_errors=True)
        (self.path / "report.html").unlink(missing_ok=True)   # a report of the replaced run would mislead
        shutil.rmtree(self.path / "report", ignore_errors=True)

    # ------------------------------------------------------------------ atomic writes
    def _atomic(self, name: str, write) -> None:
        target = self.path / name
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-", suffix="-" + name)
        except OSError as err:
            raise _io_error("write", target, err) from None
        try:
            os.fchmod(fd, _file_mode())
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException as err:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(err, OSError):
                raise _io_error("write", target, err) from None
            raise

    def write_text(self, name: str, text: str) -> None:
        """Write ``name`` atomically (a reader sees the old or the new file, never a part)."""
        self._atomic(name, lambda fh: fh.write(text.encode()))

    def save_npz(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """``np.savez`` to ``name`` atomically."""
        self._atomic(name, lambda fh: np.savez(fh, **arrays))

    def save_figure(self, name: str, fig, dpi: int = 120) -> None:
        """Save a matplotlib figure atomically (PNG)."""
        self._atomic(name, lambda fh: fig.savefig(fh, dpi=dpi, format="png"))


def _lock_held(path: Path) -> bool:
    try:
        fd = os.open(path / ".lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def run_status(path: str | os.PathLike) -> str | None:
    """``done`` / ``running`` / ``interrupted`` / ``failed`` from run.json, None if absent.

    A run.json that says ``running`` while no process holds the lock belongs to a process that
    was killed: it reads as ``interrupted``. ``done`` needs curves.png and conductances.npz.
    """
    p = Path(path)
    try:
        status = json.loads((p / "run.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None
    if status == "running" and not _lock_held(p):
        return "interrupted"
    if status == "done" and not ((p / "conductances.npz").exists() and (p / "curves.png").exists()):
        return "interrupted"
    return status
