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
  The strided pass copies each group of columns into a contiguous buffer first (a
  power-of-two stride thrashes the cache sets); ``IDTHEORY_FWHT_BACKEND=plain`` transforms in
  place as before (the same bits, slower). Both passes are parallel
  (kernels: :mod:`idtheory.kernels.fwht_cpu`), on at most
  ``torch.get_num_threads()`` numba threads (:mod:`idtheory.kernels.numba_threads`: numba's
  own pool ignores torch's setting and ``OMP_NUM_THREADS``).
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

from idtheory.kernels import fwht_cpu

__all__ = ["fwht", "fwht_reference", "is_power_of_two", "next_power_of_two"]

#: Largest supported transform length exponent (n ≤ 2^30).
MAX_LOG2 = 30
#: Elements per block of the CPU kernel's in-cache pass, and columns per strided group.
_CPU_BLOCK, _CPU_COLS = fwht_cpu.CPU_BLOCK, fwht_cpu.CPU_COLS


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

#: numba is a declared dependency; without it the reference implementation is used.
_HAVE_NUMBA = fwht_cpu.numba is not None


def _fwht_numpy(x: np.ndarray, block: int = _CPU_BLOCK, cols: int = _CPU_COLS) -> np.ndarray:
    """Unnormalized FWHT of the rows of a C-contiguous 2-D float32/float64 array (a new array).

    Pass 1 copies contiguous blocks of ``block`` elements and runs all their stages in cache;
    each further pass transforms across blocks (strided columns of up to ``block`` rows, ``cols``
    adjacent columns at a time). With the default block, n ≤ 2^30 needs at most two passes.
    Rows shorter than 16 use the reference implementation.
    """
    n = x.shape[1]
    if n < 16 or not _HAVE_NUMBA:
        return fwht_reference(torch.from_numpy(x)).numpy()
    return fwht_cpu.fwht_plain(x, block, cols)


# --------------------------------------------------------------------------- dispatch


def _fwht_forward(x: torch.Tensor) -> torch.Tensor:
    """Unnormalized FWHT of the last dim of a contiguous fp32/fp64 tensor (no autograd)."""
    n = x.shape[-1]
    if n == 1:
        return x.clone()
    backend = os.environ.get("IDTHEORY_FWHT_BACKEND", "auto")
    if x.device.type == "cpu" and backend != "reference":
        arr = x.detach().reshape(-1, n).numpy()
        if backend == "plain" or n < 16 or not _HAVE_NUMBA:
            return torch.from_numpy(_fwht_numpy(arr)).reshape(x.shape)
        out = torch.empty_like(x)
        fwht_cpu.fwht_fused(arr, out.view(-1, n).numpy())
        return out
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
