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
    "ignore_stop_signal_before_spawning",
    "install_worker_signals",
    "request_stop",
    "sigterm_as_ctrl_c",
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


def _can_set_stop_signal() -> bool:
    """Whether this process can set :data:`STOP_SIGNAL`'s disposition here: the platform has
    the signal and this is the main thread (Python sets handlers only there)."""
    return STOP_SIGNAL is not None and threading.current_thread() is threading.main_thread()


def install_worker_signals() -> None:
    """A pool worker's start-up: SIGINT ignored — a terminal's Ctrl-C reaches the driver, which
    passes it on as :data:`STOP_SIGNAL`, so an idle worker does not die of it and break the pool
    — and :data:`STOP_SIGNAL` calls :func:`request_stop`. Nothing where the platform lacks the
    signal or off the main thread."""
    if not _can_set_stop_signal():
        return

    def handle(signum: int, frame: Any) -> None:
        request_stop()

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(STOP_SIGNAL, handle)


def ignore_stop_signal_before_spawning() -> None:
    """In a driver about to spawn workers: ignore :data:`STOP_SIGNAL` where it has its default
    action (ending the process), so a worker spawned from here starts with it ignored — not
    killed by a stop that arrives before :func:`install_worker_signals` ran there. A handler
    of the program's own is left alone; nothing off the main thread."""
    if _can_set_stop_signal() and signal.getsignal(STOP_SIGNAL) is signal.SIG_DFL:
        signal.signal(STOP_SIGNAL, signal.SIG_IGN)


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM — what ``kill``, a service manager and a cluster scheduler (SLURM at a job's time
    limit) send, and the only polite stop of a background job, which ignores Ctrl-C — takes the
    Ctrl-C path: ``KeyboardInterrupt``, deferred by a training to its step end, where it saves
    its checkpoint (:func:`idtheory.train.finetune`), passed on by a worker pool's or a notebook
    kernel's driver. What every CLI command runs under. Only where SIGTERM has its default
    action, in the main thread; the disposition is restored after."""
    main_thread = threading.current_thread() is threading.main_thread()
    if not main_thread or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
