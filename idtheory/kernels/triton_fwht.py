"""Triton fast Walsh–Hadamard transform (FWHT) for lengths 2^0 … 2^30.

Convention
----------
``fwht_triton(x)`` returns ``x @ H_n`` along the **last** dimension, where ``H_n`` is the
**unnormalized** Sylvester Hadamard matrix (``H_1 = [1]``, ``H_2n = [[H_n, H_n], [H_n, -H_n]]``,
``H[i, j] = (-1)^popcount(i & j)``, symmetric, ``H_n @ H_n = n·I``). All leading dimensions
are batch dimensions. No ``1/sqrt(n)`` scaling; scale in the caller for an orthonormal map.

Pass structure (multi-pass Kronecker factorization)
---------------------------------------------------
For ``n = 2^k`` split ``k = k_1 + … + k_p`` and let ``m_j = 2^k_j``. Then
``H_n = H_{m_p} ⊗ … ⊗ H_{m_1}``: viewing a length-``n`` row as a row-major array of shape
``(m_p, …, m_2, m_1)``, the transform is a Hadamard transform along each axis, in any order.

* **pass 1** transforms every *contiguous* block of ``m_1 ≤ 2^13`` elements; one program
  holds ``max(1, 2^13 / m_1)`` such rows;
* **pass j > 1** transforms the ``m_j ≤ 2^10`` elements ``base + i·s_j`` spaced by the
  *stride* ``s_j = m_1·…·m_{j-1}``; one program holds a ``J × m_j`` tile whose ``J ≥ 16``
  columns are consecutive in memory (contiguous runs of ``4·J`` bytes for fp32).

A program loads its tile into registers, applies ``log2(m_j)`` radix-2 butterfly stages in
constant geometry (each stage combines the two halves selected by the lowest index bit and
rotates that bit to the top, so all stages have the same shape; after ``log2(m_j)`` rotations
the natural order is restored), and stores the tile. Each pass reads and writes every element
once: **memory traffic per pass = 2·4·n bytes (fp32) per batch row**. Default plans: one
pass for ``n ≤ 2^13``, two for ``n ≤ 2^23``, three for ``2^24 ≤ n ≤ 2^30`` (see
:func:`fwht_plan`). Passes after the first work in place on the output buffer.

fp16/bf16 inputs are computed in fp32 (an fp32 buffer holds the intermediate between passes)
and the result is cast back to the input dtype. Element offsets are int64, so
``batch × 2^30`` elements are safe.

The module imports without Triton (``HAS_TRITON`` is then ``False`` and ``fwht_triton``
raises ``RuntimeError``) and launches nothing at import. CPU tensors are accepted only in
Triton interpreter mode (``TRITON_INTERPRET=1`` set before this module is imported). No
autograd: ``H`` is symmetric, so a caller's backward is ``fwht_triton(grad)``.
"""

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import torch

try:  # Triton is optional (``pip install idtheory[gpu]``).
    import triton
    import triton.language as tl

    HAS_TRITON: bool = True
except Exception:  # pragma: no cover - exercised only where triton is missing or broken
    triton = None
    tl = None
    HAS_TRITON = False

__all__ = ["HAS_TRITON", "FWHTPass", "fwht_plan", "fwht_triton"]

#: Largest contiguous block transformed by pass 1 (log2); 2^13 fp32 = 32 KiB per tile.
LOG_BLOCK_CONTIG = 13
#: Largest strided factor of passes 2, 3, … (log2).
LOG_BLOCK_STRIDED = 10
#: Target elements per program (contiguous pass: rows are stacked up to this size).
CONTIG_TILE = 1 << 13
#: Target elements per program in strided passes (more columns when ``m_j`` is small).
STRIDED_TILE = 1 << 13
#: Minimum consecutive columns per strided tile (16 fp32 = 64-byte contiguous runs).
MIN_TILE_COLS = 16
#: Largest supported transform length (log2).
MAX_LOG_N = 30

_SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class FWHTPass:
    """One pass over memory: transform ``2**log_m`` elements spaced ``2**log_stride`` apart."""

    log_m: int
    log_stride: int

    @property
    def m(self) -> int:
        """Transform length of this pass."""
        return 1 << self.log_m

    @property
    def stride(self) -> int:
        """Distance in elements between consecutive transformed elements (1 = contiguous)."""
        return 1 << self.log_stride


def _log2_exact(value: int, what: str) -> int:
    if not isinstance(value, int) or value < 1 or value & (value - 1):
        raise ValueError(f"{what} must be a power of two >= 1, got {value!r}")
    return value.bit_length() - 1


def _split_balanced(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` integers differing by at most one, largest first."""
    return sorted(((total + p) // parts for p in range(parts)), reverse=True)


def fwht_plan(n: int, block: int | None = None) -> tuple[FWHTPass, ...]:
    """Pass plan for a length-``n`` transform.

    Args:
        n: transform length ``2^k`` with ``0 <= k <= 30``.
        block: optional cap (power of two ``>= 2``) on the transform length of **every**
            pass; small values force many passes (the tests use this to exercise the strided
            path that large ``n`` takes). Default caps: ``2^13`` contiguous, ``2^10`` strided.

    Returns:
        Passes in execution order (empty for ``n == 1``): pass 1 is contiguous
        (``log_stride == 0``), pass ``j`` has stride equal to the product of earlier lengths.

    Raises:
        ValueError: ``n`` or ``block`` is not a power of two, ``block < 2``, or ``n > 2^30``.
    """
    k = _log2_exact(n, "transform length n")
    if k > MAX_LOG_N:
        raise ValueError(f"n = 2^{k} exceeds the supported maximum 2^{MAX_LOG_N}")
    log_contig, log_strided = LOG_BLOCK_CONTIG, LOG_BLOCK_STRIDED
    if block is not None:
        log_block = _log2_exact(block, "block")
        if log_block < 1:
            raise ValueError("block must be >= 2")
        log_contig, log_strided = min(log_contig, log_block), min(log_strided, log_block)
    if k == 0:
        return ()
    first = min(k, log_contig)
    rest = k - first
    sizes = [first]
    if rest:
        sizes += _split_balanced(rest, math.ceil(rest / log_strided))
    plan, done = [], 0
    for log_m in sizes:
        plan.append(FWHTPass(log_m=log_m, log_stride=done))
        done += log_m
    return tuple(plan)


def _default_num_warps(tile_elems: int) -> int:
    """Warps per program for a tile of ``tile_elems`` elements: 4 up to 1024, 8 up to 4096,
    else 16 (shared with the Fastfood kernels)."""
    if tile_elems <= 1024:
        return 4
    if tile_elems <= 4096:
        return 8
    return 16


def _pass_config(
    p: FWHTPass, numel: int, tile: int | None = None, num_warps: int | None = None
) -> dict[str, Any]:
    """Launch parameters of one pass over a contiguous buffer of ``numel`` elements.

    Returns a dict with ``grid`` (number of programs), the runtime scalars ``n_rows``,
    ``stride``, ``chunks``, the kernel constexprs ``LOG_M``, ``TILE_R``, ``STRIDED`` and
    ``num_warps``. Used by :func:`fwht_triton` and by the ahead-of-time compile test.
    """
    m = p.m
    n_rows = numel // m
    if p.log_stride == 0:
        tile_r = max(1, (tile or CONTIG_TILE) // m)
        tile_r = min(tile_r, 1 << max(0, (n_rows - 1).bit_length()))  # next power of two
        grid = -(-n_rows // tile_r)
        stride, chunks = 1, 1
    else:
        stride = p.stride
        tile_r = min(stride, max(MIN_TILE_COLS, (tile or STRIDED_TILE) // m))
        chunks = stride // tile_r
        grid = numel // (m * tile_r)
    if grid > 2**31 - 1:
        raise ValueError(f"grid of {grid} programs is too large; increase `tile`")
    return {
        "grid": grid,
        "n_rows": n_rows,
        "stride": stride,
        "chunks": chunks,
        "LOG_M": p.log_m,
        "TILE_R": tile_r,
        "STRIDED": p.log_stride > 0,
        "num_warps": num_warps or _default_num_warps(tile_r * m),
    }


if HAS_TRITON:

    @triton.jit
    def _butterfly_last(x, R: tl.constexpr, LOG_M: tl.constexpr):
        """Unnormalized Hadamard transform along axis 1 of an (R, 2^LOG_M) fp32 tile.

        Constant-geometry radix-2 stages: y[:, r] = x[:, 2r] + x[:, 2r+1] and
        y[:, M/2 + r] = x[:, 2r] - x[:, 2r+1]. Each stage applies H_2 to the lowest index
        bit and rotates it to the top; after LOG_M stages the order is natural again.
        """
        M: tl.constexpr = 1 << LOG_M
        for _ in tl.static_range(LOG_M):
            a, b = tl.split(tl.reshape(x, (R, M // 2, 2)))
            x = tl.reshape(tl.permute(tl.join(a + b, a - b), (0, 2, 1)), (R, M))
        return x

    @triton.jit
    def _fwht_pass_kernel(
        x_ptr,
        y_ptr,
        n_rows,
        stride,
        chunks,
        LOG_M: tl.constexpr,
        TILE_R: tl.constexpr,
        STRIDED: tl.constexpr,
    ):
        """One FWHT pass: each program transforms a (TILE_R, 2^LOG_M) tile along axis 1.

        Contiguous pass (STRIDED=False): tile row r is the length-M block starting at element
        (pid*TILE_R + r)*M; rows >= n_rows are masked.
        Strided pass (STRIDED=True): data viewed as (outer, M, stride); the program owns the
        columns [v0, v0 + TILE_R) of one outer block (TILE_R divides stride and
        chunks = stride // TILE_R); tile element (r, i) is at outer*M*stride + v0 + r + i*stride.
        Loads convert to fp32; stores convert to y's element type. Offsets are int64.
        """
        M: tl.constexpr = 1 << LOG_M
        pid = tl.program_id(0).to(tl.int64)
        r = tl.arange(0, TILE_R).to(tl.int64)
        i = tl.arange(0, M).to(tl.int64)
        if STRIDED:
            outer = pid // chunks
            v0 = (pid - outer * chunks) * TILE_R
            offs = (outer * M * stride + v0) + r[:, None] + i[None, :] * stride
            x = tl.load(x_ptr + offs).to(tl.float32)
            y = _butterfly_last(x, TILE_R, LOG_M)
            tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty))
        else:
            rows = pid * TILE_R + r
            offs = rows[:, None] * M + i[None, :]
            mask = (rows[:, None] < n_rows) & (i[None, :] < M)
            x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
            y = _butterfly_last(x, TILE_R, LOG_M)
            tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


# Helpers shared with :mod:`idtheory.kernels.triton_fastfood` (which imports them from here).


def _interpreting() -> bool:
    """True when the kernels were built by Triton's interpreter (TRITON_INTERPRET=1).

    ``TRITON_INTERPRET`` is read when ``@triton.jit`` decorates a kernel, i.e. at import. Both
    this module and :mod:`idtheory.kernels.triton_fastfood` require it to be set before they
    are imported (and the Fastfood kernels call :func:`fwht_triton`), so this one check, on
    the FWHT kernel, answers for both.
    """
    return HAS_TRITON and type(_fwht_pass_kernel).__name__ == "InterpretedFunction"


def _check_device(x: torch.Tensor, what: str) -> None:
    """Raise ``ValueError`` unless ``x`` is a CUDA tensor or the kernels are interpreted."""
    if not x.is_cuda and not _interpreting():
        raise ValueError(
            f"{what} needs a CUDA tensor (CPU tensors only when TRITON_INTERPRET=1 was set "
            "before triton and this module were imported)"
        )


def _device_ctx(x: torch.Tensor) -> Any:
    """``torch.cuda.device(x.device)`` for a CUDA tensor (launch on x's GPU), else a no-op."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


def fwht_triton(
    x: torch.Tensor,
    block: int | None = None,
    *,
    tile: int | None = None,
    num_warps: int | None = None,
) -> torch.Tensor:
    """Unnormalized Sylvester Walsh–Hadamard transform along the last dimension.

    ``y[..., j] = sum_i x[..., i] * (-1)^popcount(i & j)``, i.e. ``y = x @ H_n`` with ±1
    entries and no ``1/sqrt(n)``; hence ``fwht_triton(fwht_triton(x)) == n * x``.

    Args:
        x: tensor of shape ``(..., n)``, ``n = 2^k`` with ``0 <= k <= 30``; float32, float16
            or bfloat16 (half types are computed in fp32 and returned in the input dtype).
            A CUDA tensor, or a CPU tensor under ``TRITON_INTERPRET=1``. Not modified.
        block: cap on the transform length per pass (power of two ``>= 2``); default
            ``2^13`` contiguous / ``2^10`` strided. See :func:`fwht_plan`.
        tile: tuning knob, target elements per program (power of two; default ``2^13``).
        num_warps: tuning knob, warps per program (default 4/8/16 by tile size).

    Returns:
        A new contiguous tensor with the shape and dtype of ``x``.

    Raises:
        RuntimeError: Triton is not installed.
        ValueError: ``n`` is not a power of two in ``[1, 2^30]``, bad ``block``/``tile``,
            ``x`` is 0-d, or ``x`` is on the CPU outside interpreter mode.
        TypeError: unsupported dtype.

    Cost: ``len(fwht_plan(n, block))`` passes, each reading and writing ``4·numel`` bytes
    (fp32); ``log2(n)`` additions per element in total.
    """
    if not HAS_TRITON:
        raise RuntimeError("fwht_triton needs the `triton` package (pip install triton)")
    if x.dim() == 0:
        raise ValueError("fwht_triton needs at least one dimension")
    if x.dtype not in _SUPPORTED_DTYPES:
        raise TypeError(f"unsupported dtype {x.dtype}; use float32, float16 or bfloat16")
    plan = fwht_plan(x.shape[-1], block)
    if tile is not None:
        _log2_exact(tile, "tile")
    _check_device(x, "fwht_triton")
    x = x.contiguous()
    if not plan or x.numel() == 0:
        return x.clone()
    out = torch.empty_like(x)
    if x.dtype == torch.float32 or len(plan) == 1:
        work = out
    else:  # fp32 intermediate between passes for half-precision inputs
        work = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    with _device_ctx(x):
        src = x
        for idx, p in enumerate(plan):
            dst = out if idx == len(plan) - 1 else work
            cfg = _pass_config(p, x.numel(), tile, num_warps)
            _fwht_pass_kernel[(cfg["grid"],)](
                src,
                dst,
                cfg["n_rows"],
                cfg["stride"],
                cfg["chunks"],
                LOG_M=cfg["LOG_M"],
                TILE_R=cfg["TILE_R"],
                STRIDED=cfg["STRIDED"],
                num_warps=cfg["num_warps"],
            )
            src = dst
    return out
