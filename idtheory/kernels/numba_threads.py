"""How many threads the parallel numba kernels may use: never more than torch's.

numba keeps its own thread pool, sized by ``NUMBA_NUM_THREADS`` (default: every core), and it
ignores ``OMP_NUM_THREADS`` and :func:`torch.set_num_threads`. A process told to use one
thread would still run its FWHTs and Fastfood gathers on every core; next to another busy
process that oversubscription made a real SAID training 8× slower. Every parallel numba kernel
of :mod:`idtheory` is therefore launched after :func:`cap_numba_threads`, which sets the
calling thread's numba thread count to ``min(NUMBA_NUM_THREADS, torch.get_num_threads())``.
To change how many threads the kernels use, change torch's (``torch.set_num_threads``).

A second trap, measured with numba 0.68's OpenMP threading layer: the first launch of numba's
pool in a process (any ``numba.get_num_threads()`` or parallel kernel) resets the calling
thread's OpenMP thread count, which torch shares, to ``NUMBA_NUM_THREADS`` — after
``torch.set_num_threads(1)``, ``torch.get_num_threads()`` returns 2 on a 2-core machine.
:func:`cap_numba_threads` reads torch's count before touching numba and restores it.

This module imports nothing from the rest of :mod:`idtheory`.
"""

from __future__ import annotations

import torch

__all__ = ["cap_numba_threads"]

try:  # numba is a declared dependency
    import numba
except ImportError:  # pragma: no cover
    numba = None


def cap_numba_threads() -> int:
    """Make the next numba parallel launch from this thread use at most torch's thread count.

    Returns the number of threads set, min(``numba.config.NUMBA_NUM_THREADS``,
    ``torch.get_num_threads()``) and at least 1 (1 when numba is not installed). numba's
    setting is per calling thread, so this is called right before each launch.
    """
    if numba is None:  # pragma: no cover
        return 1
    torch_threads = torch.get_num_threads()
    n = max(1, min(numba.config.NUMBA_NUM_THREADS, torch_threads))
    if numba.get_num_threads() != n:  # the first call launches the pool
        numba.set_num_threads(n)
    if torch.get_num_threads() != torch_threads:  # the pool's launch reset OpenMP's count
        torch.set_num_threads(torch_threads)
    return n
