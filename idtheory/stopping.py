"""Cooperative stops: a process-wide request that a training loop honours at the end of a step.

A training killed mid-step loses everything since its last checkpoint; one stopped at the end
of a step saves a checkpoint there, from which the rerun resumes exactly. A first Ctrl-C in the
training's own process does that for that training (:func:`idtheory.train.finetune` handles
SIGINT itself); this module is how other processes ask the same of a worker: the driver of a
:class:`~idtheory.executors.ProcessExecutor` when it is interrupted (it sends
:data:`STOP_SIGNAL` to its workers), and a worker's watcher when its driver dies. A request
stays set for the rest of the process: every training that would start there afterwards stops
at once or at its first step end.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "STOP_SIGNAL",
    "clear_stop",
    "install_stop_signal",
    "request_stop",
    "stop_requested",
    "stoppable",
    "stoppable_running",
]

STOP_SIGNAL: signal.Signals | None = getattr(signal, "SIGUSR1", None)
"""The signal a process pool's driver sends to ask its workers to stop at a step end (POSIX
only: None where the platform has no SIGUSR1)."""

_requested = threading.Event()
_running = 0
_lock = threading.Lock()


def request_stop() -> None:
    """Ask every stoppable loop of this process, running or yet to start, to stop at the end of
    its current step. Safe from signal handlers and other threads."""
    _requested.set()


def stop_requested() -> bool:
    """Whether :func:`request_stop` was called in this process (and not cleared)."""
    return _requested.is_set()


def clear_stop() -> None:
    """Withdraw a request (for a process that goes on to train after an interrupted training)."""
    _requested.clear()


@contextmanager
def stoppable() -> Iterator[None]:
    """Mark a loop that checks :func:`stop_requested` at its step ends as running (a dying
    driver's worker waits for such loops to save before it exits)."""
    global _running
    with _lock:
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1


def stoppable_running() -> bool:
    """Whether a :func:`stoppable` loop is running in this process."""
    return _running > 0


def install_stop_signal() -> None:
    """Make :data:`STOP_SIGNAL` call :func:`request_stop` in this process (a pool worker's
    start-up); nothing where the platform lacks it or off the main thread."""
    if STOP_SIGNAL is None or threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, frame: Any) -> None:
        request_stop()

    signal.signal(STOP_SIGNAL, handle)
