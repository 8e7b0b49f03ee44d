"""How many threads the parallel numba kernels may use: never more than torch's.

numba keeps its own thread pool, sized by ``NUMBA_NUM_THREADS`` (default: every core), and it
ignores ``OMP_NUM_THREADS`` and :func:`torch.set_num_threads`. A process told to use one
thread would still run its FWHTs and Fastfood gathers on every core; next to another busy
process that oversubscription made a real SAID training 8× slower. Every parallel numba launch
of :mod:`idtheory` therefore runs inside :func:`capped_numba_threads`, which lowers the calling
thread's numba thread count to ``min(numba.get_num_threads(), torch.get_num_threads())`` for
the launch and puts it back afterwards (so ``numba.set_num_threads`` still lowers it further,
and what the caller set is never changed). To change how many threads the kernels use, change
torch's (``torch.set_num_threads``) or numba's.

A second trap, measured with numba 0.68's OpenMP threading layer: the first launch of numba's
pool in a process (any ``numba.get_num_threads()`` or parallel kernel) resets the calling
thread's OpenMP thread count, which torch shares, to ``NUMBA_NUM_THREADS`` — after
``torch.set_num_threads(1)``, ``torch.get_num_threads()`` returns 2 on a 2-core machine.
:func:`capped_numba_threads` reads torch's count before touching numba and restores it.

This module imports nothing from the rest of :mod:`idtheory`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

__all__ = ["NumbaThreads", "capped_numba_threads", "with_capped_threads"]

F = TypeVar("F", bound=Callable[..., Any])

try:  # numba is a declared dependency
    import numba
except ImportError:  # pragma: no cover
    numba = None


@dataclass(frozen=True)
class NumbaThreads:
    """``used``: threads of the launches inside the block; ``requested``: numba's own setting
    for the calling thread (``numba.get_num_threads()`` outside the block)."""

    used: int
    requested: int


@contextlib.contextmanager
def capped_numba_threads() -> Iterator[NumbaThreads]:
    """Run the numba launches of the block on at most ``torch.get_num_threads()`` threads.

    Yields the :class:`NumbaThreads` in effect (1 and 1 without numba). Kernels that split work
    into per-thread chunks should size the chunks from ``requested`` (what they always saw), so
    that the cap changes the speed and never the bits.
    """
    if numba is None:  # pragma: no cover
        yield NumbaThreads(1, 1)
        return
    torch_threads = torch.get_num_threads()
    requested = numba.get_num_threads()  # the first call launches the pool
    if torch.get_num_threads() != torch_threads:  # the pool's launch reset OpenMP's count
        torch.set_num_threads(torch_threads)
    used = max(1, min(requested, torch_threads))
    if used != requested:
        numba.set_num_threads(used)
    try:
        yield NumbaThreads(used, requested)
    finally:
        if used != requested:
            numba.set_num_threads(requested)


def with_capped_threads(fn: F) -> F:
    """Decorator: run ``fn`` (which launches numba kernels) inside :func:`capped_numba_threads`."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with capped_numba_threads():
            return fn(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
