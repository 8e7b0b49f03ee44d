"""Triton fast Walsh–Hadamard transform (FWHT) for lengths 2^0 … 2^30.

Convention
----------
``fwht_triton(x)`` returns ``x @ H_n`` along the **last** dimension, where ``H_n`` is the
**unnormalized** Sylvester Hadamard matrix (``H_1 = [1]``, ``H_2n = [[H_n, H_n], [H_n, -H_n]]``,
entries ±1, ``H_n @ H_n = n·I``, symmetric). All leading dimensions are batch dimensions.
No ``1/sqrt(n)`` scaling is applied; scale in the caller if an orthonormal transform is wanted.

Pass structure (multi-pass Kronecker factorization)
---------------------------------------------------
For ``n = 2^k`` split ``k = k_1 + k_2 + … + k_p``; then ``H_n = H_{2^k_p} ⊗ … ⊗ H_{2^k_1}``
and the transform is a product of ``p`` commuting factors. Viewing each length-``n`` row as
an array of shape ``(…, 2^k_2, 2^k_1)`` (row major):

* pass 1 transforms every **contiguous** block of ``m_1 = 2^k_1`` elements
  (``m_1 ≤ 2^13`` by default), many rows per program;
* pass ``j > 1`` transforms, with **stride** ``s_j = m_1·…·m_{j-1}``, the ``m_j`` elements
  ``base + i·s_j`` (``m_j ≤ 2^10`` by default). Each program holds a tile of
  ``m_j × J`` elements, ``J`` (≥ 16) consecutive columns, so every memory access is a
  contiguous run of ``4·J`` bytes (fp32).

Each program loads its tile into registers, applies the in-tile Hadamard transform (radix-2
butterflies built from ``tl.reshape``/``tl.split``/``tl.join``, or optionally small Hadamard
matrices multiplied with ``tl.dot``), and stores it. Every pass reads and writes each element
once: **memory traffic per pass = 2·4·n bytes for fp32** (per batch row), i.e. one pass for
``n ≤ 2^13``, two for ``n ≤ 2^23`` and three for ``2^24 ≤ n ≤ 2^30`` (``fwht_plan`` gives
the exact plan). Passes after the first run in place on the output buffer.

fp16/bf16 inputs are computed in fp32 (the intermediate between passes is an fp32 buffer)
and the result is cast back to the input dtype. All element offsets are int64, so
``batch × 2^30`` elements are safe.

The module imports without Triton (``HAS_TRITON`` is then ``False`` and calling
``fwht_triton`` raises ``RuntimeError``) and launches nothing at import. CPU tensors are
accepted only when Triton runs in interpreter mode (``TRITON_INTERPRET=1`` set before
Triton is imported), which is how the tests run. There is no autograd here: ``H`` is
symmetric, so a caller's backward is ``fwht_triton(grad)``.
"""

import contextlib
import math
from dataclasses import dataclass

import torch

try:  # Triton is optional (``pip install idtheory[gpu]``).
    import triton
    import triton.language as tl

    HAS_TRITON: bool = True
except Exception:  # pragma: no cover - exercised only where triton is missing/broken
    triton = None
    tl = None
    HAS_TRITON = False

__all__ = ["HAS_TRITON", "FWHTPass", "fwht_plan", "fwht_triton"]

#: Largest contiguous block transformed by pass 1 (log2). Tile = 2^13 fp32 = 32 KiB.
LOG_BLOCK_CONTIG = 13
#: Largest strided factor of passes 2, 3, … (log2); tile = 2^10 × 16 fp32 = 64 KiB.
LOG_BLOCK_STRIDED = 10
#: Target elements per program in the contiguous pass (rows are stacked up to this).
CONTIG_TILE = 1 << 13
#: Target elements per program in strided passes.
STRIDED_TILE = 1 << 14
#: Minimum number of consecutive columns per strided tile (16 fp32 = 64-byte runs).
MIN_TILE_COLS = 16
#: Largest supported transform length (log2).
MAX_LOG_N = 30

_METHODS = ("butterfly", "dot")
_DOT_PRECISIONS = ("ieee", "tf32x3", "tf32")
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
        """Distance (in elements) between consecutive transformed elements; 1 = contiguous."""
        return 1 << self.log_stride


def _log2_exact(value: int, what: str) -> int:
    if value < 1 or value & (value - 1):
        raise ValueError(f"{what} must be a power of two >= 1, got {value}")
    return value.bit_length() - 1


def _split_balanced(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` integers differing by at most one, largest first."""
    return sorted(((total + p) // parts for p in range(parts)), reverse=True)


def fwht_plan(n: int, block: int | None = None) -> tuple[FWHTPass, ...]:
    """Pass plan for a length-``n`` transform.

    Args:
        n: transform length, a power of two ``2^k`` with ``0 <= k <= 30``.
        block: optional cap (power of two ``>= 2``) on the transform length of **every** pass;
            small values force many passes (used by the tests to exercise the strided path).
            Default: ``2^13`` for the contiguous pass and ``2^10`` for strided passes.

    Returns:
        The passes in execution order; empty for ``n == 1``. Pass 1 is contiguous
        (``log_stride == 0``); pass ``j`` has stride equal to the product of earlier lengths.
    """
    k = _log2_exact(n, "n")
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
    if tile_elems <= 1024:
        return 4
    if tile_elems <= 4096:
        return 8
    return 16


if HAS_TRITON:

    @triton.jit
    def _butterfly_last(x, R: tl.constexpr, LOG_M: tl.constexpr):
        """Unnormalized Hadamard transform along axis 1 of an (R, 2^LOG_M) fp32 tile."""
        M: tl.constexpr = 1 << LOG_M
        for j in tl.static_range(LOG_M):
            h = 1 << j  # constexpr (static_range index)
            # (R, M) -> (R*M/(2h), 2, h): axis 1 is bit j of the in-row index.
            x = tl.reshape(x, (R * M // (2 * h), 2, h))
            a, b = tl.split(tl.permute(x, (0, 2, 1)))
            x = tl.permute(tl.join(a + b, a - b), (0, 2, 1))
            x = tl.reshape(x, (R, M))
        return x

    @triton.jit
    def _hadamard_matrix(LOG_F: tl.constexpr):
        """Sylvester H_{2^LOG_F} as fp32: H[i, j] = (-1)^popcount(i & j)."""
        F: tl.constexpr = 1 << LOG_F
        idx = tl.arange(0, F)
        a = idx[:, None] & idx[None, :]
        parity = a & 1
        for bit in tl.static_range(1, LOG_F):
            parity = parity ^ ((a >> bit) & 1)
        return (1 - 2 * parity).to(tl.float32)

    @triton.jit
    def _dot_last(x, R: tl.constexpr, LOG_M: tl.constexpr, PRECISION: tl.constexpr):
        """Hadamard along axis 1 of an (R, 2^LOG_M) tile via tl.dot with H_16 … H_128.

        The in-row index bits are split into PARTS groups of 4–7 bits. Each step multiplies
        the lowest group by H_F (F = 2^bits) and rotates that group to the top of the index;
        after all steps the rotation is complete and the order is restored.
        Requires LOG_M >= 8, or 4 <= LOG_M <= 7 and R >= 16 (tl.dot needs dims >= 16).
        """
        M: tl.constexpr = 1 << LOG_M
        PARTS: tl.constexpr = LOG_M // 4
        for p in tl.static_range(PARTS):
            LOG_F = (LOG_M + p) // PARTS  # constexpr arithmetic
            F = 1 << LOG_F
            A = M // F
            x = tl.reshape(x, (R * A, F))
            x = tl.dot(x, _hadamard_matrix(LOG_F), input_precision=PRECISION)
            x = tl.permute(tl.reshape(x, (R, A, F)), (0, 2, 1))
            x = tl.reshape(x, (R, M))
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
        USE_DOT: tl.constexpr,
        PRECISION: tl.constexpr,
    ):
        """One FWHT pass: each program transforms a (TILE_R, 2^LOG_M) tile along axis 1.

        Contiguous pass (STRIDED=False): tile row r is the length-M block starting at element
        (pid*TILE_R + r)*M; rows >= n_rows are masked.
        Strided pass (STRIDED=True): data viewed as (outer, M, stride); the program owns
        columns [v0, v0+TILE_R) of one outer block (TILE_R divides stride, chunks =
        stride // TILE_R), tile element (r, i) sits at outer*M*stride + v0 + r + i*stride.
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
        else:
            rows = pid * TILE_R + r
            offs = rows[:, None] * M + i[None, :]
            mask = (rows[:, None] < n_rows) & (i[None, :] < M)
            x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        if USE_DOT:
            y = _dot_last(x, TILE_R, LOG_M, PRECISION)
        else:
            y = _butterfly_last(x, TILE_R, LOG_M)
        y = y.to(y_ptr.dtype.element_ty)
        if STRIDED:
            tl.store(y_ptr + offs, y)
        else:
            tl.store(y_ptr + offs, y, mask=mask)


def _interpreting() -> bool:
    return HAS_TRITON and type(_fwht_pass_kernel).__name__ == "InterpretedFunction"


def _launch_pass(
    src: torch.Tensor,
    dst: torch.Tensor,
    p: FWHTPass,
    *,
    method: str,
    dot_precision: str,
    tile: int | None,
    num_warps: int | None,
) -> None:
    numel = src.numel()
    m = p.m
    if p.log_stride == 0:
        n_rows = numel // m
        tile_r = max(1, (tile or CONTIG_TILE) // m)
        tile_r = min(tile_r, triton.next_power_of_2(n_rows))
        grid = triton.cdiv(n_rows, tile_r)
        stride, chunks = 1, 1
    else:
        n_rows = numel // m
        stride = p.stride
        tile_r = min(stride, max(MIN_TILE_COLS, (tile or STRIDED_TILE) // m))
        chunks = stride // tile_r
        grid = numel // (m * tile_r)
    if grid > 2**31 - 1:
        raise ValueError(f"grid of {grid} programs is too large; increase `tile`")
    use_dot = method == "dot" and p.log_m >= 4 and (p.log_m >= 8 or tile_r >= 16)
    _fwht_pass_kernel[(grid,)](
        src,
        dst,
        n_rows,
        stride,
        chunks,
        LOG_M=p.log_m,
        TILE_R=tile_r,
        STRIDED=p.log_stride > 0,
        USE_DOT=use_dot,
        PRECISION=dot_precision,
        num_warps=num_warps or _default_num_warps(tile_r * m),
    )


def fwht_triton(
    x: torch.Tensor,
    block: int | None = None,
    *,
    method: str = "butterfly",
    dot_precision: str = "ieee",
    tile: int | None = None,
    num_warps: int | None = None,
) -> torch.Tensor:
    """Unnormalized Sylvester Walsh–Hadamard transform along the last dimension.

    ``y[..., j] = sum_i x[..., i] * (-1)^popcount(i & j)``, i.e. ``y = x @ H_n`` with entries
    ±1 (no ``1/sqrt(n)``), so ``fwht_triton(fwht_triton(x)) == n * x``.

    Args:
        x: tensor of shape ``(..., n)``, ``n = 2^k`` with ``0 <= k <= 30``; float32, float16 or
            bfloat16 (half types are computed in fp32 and returned in the input dtype).
            CUDA tensor, or CPU tensor under ``TRITON_INTERPRET=1``. Not modified.
        block: cap on the transform length per pass (power of two >= 2); default ``2^13``
            contiguous / ``2^10`` strided. See :func:`fwht_plan`.
        method: in-tile algorithm, ``"butterfly"`` (radix-2 stages, exact fp32 adds) or
            ``"dot"`` (``tl.dot`` with generated H_16 … H_128; falls back to butterflies for
            tiles too small for ``tl.dot``).
        dot_precision: ``tl.dot`` input precision for ``method="dot"``: ``"ieee"`` (exact fp32),
            ``"tf32x3"`` (tensor cores, ~fp32 accuracy) or ``"tf32"`` (~1e-3 relative error).
        tile: target elements per program (tuning knob; defaults 2^13 contiguous, 2^14 strided).
        num_warps: warps per program (tuning knob; default from the tile size).

    Returns:
        A new contiguous tensor with the shape and dtype of ``x``.

    Memory traffic: ``len(fwht_plan(n, block))`` passes of ``2·4·numel`` bytes (fp32).
    """
    if not HAS_TRITON:
        raise RuntimeError("fwht_triton needs the `triton` package (pip install triton)")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if dot_precision not in _DOT_PRECISIONS:
        raise ValueError(f"dot_precision must be one of {_DOT_PRECISIONS}, got {dot_precision!r}")
    if x.dim() == 0:
        raise ValueError("fwht_triton needs at least one dimension")
    if x.dtype not in _SUPPORTED_DTYPES:
        raise TypeError(f"unsupported dtype {x.dtype}; use float32, float16 or bfloat16")
    plan = fwht_plan(x.shape[-1], block)
    if tile is not None:
        _log2_exact(tile, "tile")
    if not x.is_cuda and not _interpreting():
        raise ValueError(
            "fwht_triton needs a CUDA tensor (CPU tensors only under TRITON_INTERPRET=1, "
            "set before triton is imported)"
        )
    x = x.contiguous()
    if not plan or x.numel() == 0:
        return x.clone()
    out = torch.empty_like(x)
    if x.dtype == torch.float32 or len(plan) == 1:
        work = out
    else:  # fp32 intermediate between passes for half-precision inputs
        work = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    device_ctx = torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()
    with device_ctx:
        src = x
        for idx, p in enumerate(plan):
            dst = out if idx == len(plan) - 1 else work
            _launch_pass(
                src,
                dst,
                p,
                method=method,
                dot_precision=dot_precision,
                tile=tile,
                num_warps=num_warps,
            )
            src = dst
    return out
