"""The two random-access stages of a Fastfood product as tensor functions (numba on the CPU).

With b a power of two, a permutation π of [0, L) and gains G of length L:

* :func:`gather_table_scale` — ``out_i = table[π(i) mod b] · G_i``: the forward's G Π applied
  to the length-b table H_b (B ⊙ θ) tiled L/b times;
* :func:`scatter_add_table_scale` — ``t_j = Σ_{i: π(i) mod b = j} x_i · G_i``: the transpose's
  Πᵀ G followed by the fold of L coordinates onto b slots;
* :func:`gather_fwht_scale` — ``c · H_L (table[π(i) mod b] · G_i)_i``: the gather fused into
  the first pass of the FWHT and the scale c into its last (:mod:`idtheory.kernels.fwht_cpu`),
  bit-identical to the gather, :func:`idtheory.hadamard.fwht` and ``mul_(c)`` in turn;
* :func:`fwht_pad_scale` — ``c · H_n pad(x)``: the zero padding to n fused into the FWHT's
  first pass (bit-identical to padding, then the FWHT, then ``mul_(c)``).

The fused functions need numba and a CPU float32/float64 tensor (:func:`fused_fwht_usable`);
the caller may pass their output (``out``), as the projections do with their reused buffers
(:mod:`idtheory.kernels.memory`).

``perm`` may hold π itself or σ = π mod b (the mask is applied here either way). CPU tensors
go through parallel numba kernels when numba is installed (it is a declared dependency); any
other device, or no numba, takes the plain torch indexing path, which is also the reference
the kernels are tested against. The kernels run on at most ``torch.get_num_threads()``
threads (:func:`~idtheory.kernels.numba_threads.capped_numba_threads`). The numba scatter sums
in 4 × ``numba.get_num_threads()`` chunks (numba's own setting, not the capped count, so the
cap never changes the bits), so its last bits may differ from the torch path's; the gather is
bit-identical on both paths.

This module imports nothing from the rest of :mod:`idtheory`.
"""

from __future__ import annotations

import torch

from idtheory.kernels import fwht_cpu
from idtheory.kernels.numba_threads import capped_numba_threads

__all__ = [
    "fused_fwht_usable",
    "fwht_pad_scale",
    "gather_fwht_scale",
    "gather_table_scale",
    "scatter_add_table_scale",
]

try:  # numba is a declared dependency; without it plain torch indexing is used
    import numba
except ImportError:  # pragma: no cover
    numba = None

if numba is not None:  # module level, so numba's on-disk cache is hit across processes

    @numba.njit(parallel=True, cache=True)
    def _gather_nb(table, perm, g, out):
        mask = table.size - 1
        for i in numba.prange(out.size):
            out[i] = table[perm[i] & mask] * g[i]

    @numba.njit(parallel=True, cache=True)
    def _scatter_add_nb(x, perm, g, partial):
        """partial[c, π(i) mod b] += x_i g_i over chunk c of i (one row per chunk)."""
        n = x.size
        chunks, b = partial.shape
        mask = b - 1
        step = (n + chunks - 1) // chunks
        for c in numba.prange(chunks):
            for i in range(c * step, min(n, (c + 1) * step)):
                partial[c, perm[i] & mask] += x[i] * g[i]


def _use_numba(x: torch.Tensor) -> bool:
    return numba is not None and x.device.type == "cpu"


def gather_table_scale(table: torch.Tensor, perm: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """out_i = table[perm_i mod b] · g_i, b = len(table) (a power of two); len(out) = len(g).

    ``table`` and ``g`` share one dtype; ``perm`` is an integer tensor (int32 for numba).
    """
    if not _use_numba(table):
        return table[(perm & (table.numel() - 1)).long()].mul_(g)
    out = torch.empty_like(g)
    with capped_numba_threads():
        _gather_nb(table.numpy(), perm.numpy(), g.numpy(), out.numpy())
    return out


def scatter_add_table_scale(
    x: torch.Tensor, perm: torch.Tensor, g: torch.Tensor, b: int
) -> torch.Tensor:
    """t_j = Σ_{i: perm_i mod b = j} x_i · g_i for j < b (b a power of two), in x's dtype."""
    if not _use_numba(x):
        return x.new_zeros(b).index_add_(0, (perm & (b - 1)).long(), x * g)
    with capped_numba_threads() as threads:
        # The chunk count fixes the summation order: it follows numba's own setting, as it
        # always has, so capping the threads leaves the bits of every stored run unchanged.
        chunks = max(1, min(4 * threads.requested, x.numel() // 4096))
        partial = torch.zeros(chunks, b, dtype=x.dtype)
        _scatter_add_nb(x.numpy(), perm.numpy(), g.numpy(), partial.numpy())
    return partial.sum(0)


def fused_fwht_usable(x: torch.Tensor) -> bool:
    """Whether the fused functions take ``x``: numba installed, a CPU float32/float64 tensor."""
    return _use_numba(x) and x.dtype in (torch.float32, torch.float64)


def gather_fwht_scale(
    table: torch.Tensor,
    perm: torch.Tensor,
    g: torch.Tensor,
    scale: float = 1.0,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """c · H_L (table[perm_i mod b] · g_i)_i for L = len(g) ≥ 16 a power of two, b = len(table)
    (int32 ``perm``; ``table`` and ``g`` share a dtype); needs :func:`fused_fwht_usable`.
    ``out``: a contiguous tensor like ``g`` to write into (default: a new one)."""
    out = torch.empty_like(g) if out is None else out
    fwht_cpu.gather_fwht(table.contiguous().numpy(), perm.numpy(), g.numpy(), out.numpy(), scale)
    return out


def fwht_pad_scale(
    x: torch.Tensor, n: int, scale: float = 1.0, out: torch.Tensor | None = None
) -> torch.Tensor:
    """c · H_n pad(x) for a 1-D x of length ≤ n (n ≥ 16 a power of two), zero-padded; a tensor
    of length n in x's dtype (``out`` if given, contiguous, else a new one); needs
    :func:`fused_fwht_usable`."""
    out = x.new_empty(n) if out is None else out
    fwht_cpu.fwht_fused(x.contiguous().numpy()[None], out.numpy()[None], scale)
    return out
