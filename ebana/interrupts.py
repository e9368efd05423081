"""Deferred interrupts: SIGINT / SIGTERM stop a run only at points where its state is consistent.

Inside :func:`deferred`, the two signals set a flag instead of raising. Long work calls
:func:`check` at safe points (before each batch, between ngspice samples, between
evaluation chunks) and :class:`Interrupted` (a ``KeyboardInterrupt``) is raised there, so a
checkpoint never holds half an update. This also makes Ctrl-C work through ngspice: a
``KeyboardInterrupt`` raised inside PySpice's cffi callbacks is swallowed ("Exception
ignored from cffi callback"), a flag is not. Outside ``deferred`` (or off the main thread)
nothing changes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Interrupted", "deferred", "check", "ignore"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_pending: int | None = None
_depth = 0
_exiting = False   # set by ignore(): the process is exiting, handlers stay ignored


class Interrupted(KeyboardInterrupt):
    """Raised at a safe point after SIGINT or SIGTERM; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """Shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


def _handler(signum: int, frame) -> None:  # noqa: ARG001 - signal handler signature
    global _pending
    if _pending is None:
        _pending = signum


def check() -> None:
    """Raise :class:`Interrupted` if a deferred signal arrived; a no-op otherwise."""
    global _pending
    if _pending is not None:
        signum, _pending = _pending, None
        raise Interrupted(signum)


def ignore() -> None:
    """Ignore SIGINT and SIGTERM from now on: for a process that is already exiting because of one
    (a second Ctrl-C must not turn a clean exit into a traceback). Main thread only."""
    global _exiting
    if threading.current_thread() is threading.main_thread():
        _exiting = True
        for s in _SIGNALS:
            signal.signal(s, signal.SIG_IGN)


@contextmanager
def deferred() -> Iterator[None]:
    """Defer SIGINT and SIGTERM to :func:`check` points for the duration of the block.

    Re-entrant; only the main thread can install signal handlers (elsewhere the block
    changes nothing). A signal still pending when the outermost block exits is dropped
    (the work it would have stopped is complete).
    """
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = None
    if _depth == 0:
        old = {s: signal.getsignal(s) for s in _SIGNALS}
        _pending = None
        for s in _SIGNALS:
            signal.signal(s, _handler)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            if not _exiting:   # after ignore() a late signal must not interrupt the exit
                for s, h in old.items():
                    signal.signal(s, h)
            _pending = None
