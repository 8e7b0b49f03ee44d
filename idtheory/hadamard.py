"""Fast Walsh–Hadamard transform (FWHT) for PyTorch tensors, differentiable and fast.

Convention: ``fwht(x)`` multiplies the last dimension (or ``dim``) of ``x`` by the
**unnormalized** Sylvester Hadamard matrix H_n (entries ±1, H_{2n} = [[H_n, H_n], [H_n, -H_n]],
H_n·H_n = n·I), n = 2^k with k = 0 … 30. ``normalized=True`` multiplies by n^{-1/2}, making the
transform orthogonal and an involution.

Gradient: H is symmetric, so the vector–Jacobian product of x ↦ Hx is g ↦ Hg — the *same*
unnormalized transform of the incoming gradient. (The authors' released CUDA code returned
n^{-1/2}·Hg instead, which re-weights gradients per tensor; see ``docs``/README and
``SubspaceConfig.grad_scale`` for how to reproduce that on purpose.)

Back ends, chosen automatically from the tensor's device:

* CPU — a numba kernel in two passes over memory: pass 1 copies contiguous blocks of
  ``_CPU_BLOCK`` elements (sized for the L2 cache) and runs all their butterfly stages in cache;
  pass 2 runs the remaining stages as one radix-R transform over the strided "columns" of the
  (n/block × block) view, a few adjacent columns at a time so every access is a full cache line.
  Both passes are parallel over blocks/columns, on at most ``torch.get_num_threads()`` numba
  threads (:func:`idtheory.kernels.numba_threads.cap_numba_threads`: numba's own pool ignores
  torch's setting and ``OMP_NUM_THREADS``).
* CUDA — the Triton kernel of :mod:`idtheory.kernels.triton_fwht` for float32 when Triton is
  installed (multi-pass Kronecker factorization, any n up to 2^30), else (float64, or no
  Triton) the reference implementation.
* :func:`fwht_reference` — the obvious log2(n)-stage PyTorch implementation (one reshape and one
  add/sub per stage). Every fast path is tested against it.

bf16/fp16 inputs are computed in fp32 and returned in their own dtype.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from idtheory.kernels.numba_threads import cap_numba_threads

__all__ = ["fwht", "fwht_reference", "is_power_of_two", "next_power_of_two"]

#: Largest supported transform length exponent (n ≤ 2^30).
MAX_LOG2 = 30
#: Elements per contiguous block transformed in cache by the CPU kernel's first pass (128 KiB fp32).
_CPU_BLOCK = 1 << 15
#: Adjacent columns processed together by the strided pass (four 64-byte lines of fp32).
_CPU_COLS = 64


def is_power_of_two(n: int) -> bool:
    """True for n = 1, 2, 4, …"""
    return n > 0 and (n & (n - 1)) == 0


def next_power_of_two(n: int) -> int:
    """The smallest power of two ≥ n (n ≥ 1)."""
    if n < 1:
        raise ValueError(f"next_power_of_two needs n >= 1, got {n}")
    return 1 << (n - 1).bit_length()


def _check_length(n: int) -> None:
    if not is_power_of_two(n):
        raise ValueError(
            f"fwht needs a power-of-two length along the transformed dimension, got {n}; "
            f"zero-pad to {next_power_of_two(max(n, 1))} first"
        )
    if n > 1 << MAX_LOG2:
        raise ValueError(f"fwht supports lengths up to 2^{MAX_LOG2}, got {n}")


# --------------------------------------------------------------------------- reference


def fwht_reference(x: torch.Tensor) -> torch.Tensor:
    """Unnormalized FWHT along the last dimension, log2(n) PyTorch stages (slow, obviously right).

    Stage h (h = 1, 2, 4, …) replaces each pair (x_j, x_{j+h}) inside blocks of 2h by
    (x_j + x_{j+h}, x_j − x_{j+h}). Differentiable through autograd.
    """
    n = x.shape[-1]
    _check_length(n)
    shape = x.shape
    y = x.reshape(-1, n)
    h = 1
    while h < n:
        y = y.view(-1, n // (2 * h), 2, h)
        a, b = y[:, :, 0, :], y[:, :, 1, :]
        y = torch.stack((a + b, a - b), dim=2)
        h *= 2
    return y.reshape(shape)


# --------------------------------------------------------------------------- CPU kernel

try:  # numba is a declared dependency; without it the reference implementation is used
    import numba
except ImportError:  # pragma: no cover
    numba = None

# Kernels live at module level so numba's on-disk cache (cache=True) is hit across processes
# (closures are recompiled every time: ~5 s per process).
if numba is not None:
    u64 = numba.uint64
    # Unsigned indices: numba's negative-index wrap-around on signed ints defeats LLVM's
    # vectoriser (measured 4x slower on the in-cache butterflies).

    @numba.njit(cache=True, inline="always", fastmath=True)
    def _fwht16(a, base, count16):
        """H_16 on each of ``count16`` consecutive 16-element groups (two radix-4 steps)."""
        one, two, three, four = u64(1), u64(2), u64(3), u64(4)
        end = base + count16 * u64(16)
        for i in range(base, end, four):
            x0 = a[i]
            x1 = a[i + one]
            x2 = a[i + two]
            x3 = a[i + three]
            s0, d0, s1, d1 = x0 + x1, x0 - x1, x2 + x3, x2 - x3
            a[i] = s0 + s1
            a[i + one] = d0 + d1
            a[i + two] = s0 - s1
            a[i + three] = d0 - d1
        for i in range(base, end, u64(16)):
            for c in range(u64(0), four):
                k = i + c
                x0 = a[k]
                x1 = a[k + four]
                x2 = a[k + u64(8)]
                x3 = a[k + u64(12)]
                s0, d0, s1, d1 = x0 + x1, x0 - x1, x2 + x3, x2 - x3
                a[k] = s0 + s1
                a[k + four] = d0 + d1
                a[k + u64(8)] = s0 - s1
                a[k + u64(12)] = d0 - d1

    @numba.njit(cache=True, inline="always", fastmath=True)
    def _across_rows(a, base, stride, count, width):
        """H_count ⊗ I_width on rows a[base + r·stride : … + width], r < count (radix-4 steps)."""
        h = u64(1)
        while h < count:
            if u64(4) * h <= count:
                s1, s2, s3 = h * stride, u64(2) * h * stride, u64(3) * h * stride
                for r in range(u64(0), count, u64(4) * h):
                    for rr in range(r, r + h):
                        row = base + rr * stride
                        for c in range(u64(0), width):
                            k = row + c
                            x0 = a[k]
                            x1 = a[k + s1]
                            x2 = a[k + s2]
                            x3 = a[k + s3]
                            p0, m0, p1, m1 = x0 + x1, x0 - x1, x2 + x3, x2 - x3
                            a[k] = p0 + p1
                            a[k + s1] = m0 + m1
                            a[k + s2] = p0 - p1
                            a[k + s3] = m0 - m1
                h *= u64(4)
            else:
                s1 = h * stride
                for r in range(u64(0), count, u64(2) * h):
                    for rr in range(r, r + h):
                        row = base + rr * stride
                        for c in range(u64(0), width):
                            k = row + c
                            x0 = a[k]
                            x1 = a[k + s1]
                            a[k] = x0 + x1
                            a[k + s1] = x0 - x1
                h *= u64(2)

    @numba.njit(cache=True, parallel=True, fastmath=True)
    def pass_blocks(src, dst, blk):
        """dst[b] = H_blk src[b] for every contiguous block b of length blk ≥ 16 (copy fused)."""
        nblk = src.size // blk
        ublk = u64(blk)
        for b in numba.prange(nblk):
            base = u64(b) * ublk
            for i in range(base, base + ublk):
                dst[i] = src[i]
            _fwht16(dst, base, ublk // u64(16))
            _across_rows(dst, base, u64(16), ublk // u64(16), u64(16))

    @numba.njit(cache=True, parallel=True, fastmath=True)
    def pass_columns(a, n, blk, cols):
        """In place: H_{n/blk} across the rows of each (n/blk × blk) row-major slab of length n.

        Columns are processed ``cols`` at a time so each row access touches whole cache lines.
        """
        rows = u64(n // blk)
        groups_per_slab = blk // cols
        ngroups = (a.size // n) * groups_per_slab
        for g in numba.prange(ngroups):
            base = u64(g // groups_per_slab) * u64(n) + u64(g % groups_per_slab) * u64(cols)
            _across_rows(a, base, u64(blk), rows, u64(cols))


def _get_numba_kernels():
    """The two CPU kernels (block pass, column pass), or None when numba is not installed."""
    return None if numba is None else (pass_blocks, pass_columns)


def _fwht_numpy(x: np.ndarray, block: int = _CPU_BLOCK, cols: int = _CPU_COLS) -> np.ndarray:
    """Unnormalized FWHT of the rows of a C-contiguous 2-D float32/float64 array (a new array).

    Pass 1 copies contiguous blocks of ``block`` elements and runs all their stages in cache;
    each further pass transforms across blocks (strided columns of up to ``block`` rows, ``cols``
    adjacent columns at a time). With the default block, n ≤ 2^30 needs at most two passes.
    Rows shorter than 16 use the reference implementation.
    """
    n = x.shape[1]
    kernels = _get_numba_kernels()
    if n < 16 or kernels is None:
        return fwht_reference(torch.from_numpy(x)).numpy()
    pass_blocks, pass_columns = kernels
    cap_numba_threads()
    out = np.empty_like(x)
    flat = out.reshape(-1)
    span = min(n, max(block, 16))
    pass_blocks(x.reshape(-1), flat, span)
    while span < n:
        rows = min(n // span, block)
        pass_columns(flat, span * rows, span, min(cols, span))
        span *= rows
    return out


# --------------------------------------------------------------------------- dispatch


def _fwht_forward(x: torch.Tensor) -> torch.Tensor:
    """Unnormalized FWHT of the last dim of a contiguous fp32/fp64 tensor (no autograd)."""
    n = x.shape[-1]
    if n == 1:
        return x.clone()
    if x.device.type == "cpu" and os.environ.get("IDTHEORY_FWHT_BACKEND", "auto") != "reference":
        arr = x.detach().reshape(-1, n).numpy()
        return torch.from_numpy(_fwht_numpy(arr)).reshape(x.shape)
    if x.device.type == "cuda":
        from idtheory.kernels.triton_fwht import HAS_TRITON, fwht_triton

        if HAS_TRITON and x.dtype == torch.float32:
            return fwht_triton(x)
    return fwht_reference(x.detach())


class _FWHTFunction(torch.autograd.Function):
    """Autograd wrapper: forward y = s·Hx, backward g ↦ s·Hg (H symmetric), s = scale."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        y = _fwht_forward(x)
        return y if scale == 1.0 else y.mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        g = _fwht_forward(grad.contiguous())
        return (g if ctx.scale == 1.0 else g.mul_(ctx.scale)), None


def fwht(x: torch.Tensor, dim: int = -1, normalized: bool = False) -> torch.Tensor:
    """Walsh–Hadamard transform of ``x`` along ``dim`` (length 2^k, k = 0 … 30).

    Args:
        x: tensor of any shape; float32 and float64 are computed in their own precision,
            float16/bfloat16 in float32 (the result is cast back).
        dim: dimension to transform.
        normalized: if True, return n^{-1/2}·H x (orthogonal); else H x with entries ±1.

    Returns:
        A new tensor of the same shape, dtype and device. Differentiable: the gradient is the
        same (un)normalized transform of the incoming gradient.

    Raises:
        ValueError: if the length along ``dim`` is not a power of two or exceeds 2^30.
        TypeError: for non-floating dtypes.
    """
    if not x.is_floating_point():
        raise TypeError(f"fwht needs a floating-point tensor, got {x.dtype}")
    n = x.shape[dim]
    _check_length(n)
    scale = 1.0 / math.sqrt(n) if normalized else 1.0
    in_dtype = x.dtype
    work = x if in_dtype in (torch.float32, torch.float64) else x.float()
    moved = dim not in (-1, x.ndim - 1)
    if moved:
        work = work.movedim(dim, -1)
    y = _FWHTFunction.apply(work.contiguous(), scale)
    if moved:
        y = y.movedim(-1, dim)
    return y if y.dtype == in_dtype else y.to(in_dtype)
