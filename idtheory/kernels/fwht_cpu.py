"""The CPU FWHT as numba kernels over flat numpy arrays: the plain two-pass transform of
:func:`idtheory.hadamard.fwht` and the fused passes of the Fastfood products.

Plain (``pass_blocks`` then ``pass_columns``, unchanged since the stored runs): pass 1 copies
contiguous blocks of ``blk`` elements and runs all their butterfly stages in cache; pass 2 runs
the remaining stages across the blocks, over strided "columns", ``cols`` adjacent ones at a
time so every access is a whole cache line.

Fused (:func:`fwht_fused`, and the gather of :mod:`idtheory.kernels.fastfood_cpu`): the same
butterflies in the same order — so bit-identical results — with fewer passes over memory:

* the first pass reads a shorter source and zero-fills the rest of each block (the
  transpose's zero padding to L), or builds each block from the Fastfood gather
  ``table[π(i) mod b] · G_i`` (:func:`pass_blocks_gather`), instead of a separate pass that
  writes the padded / gathered vector and another that reads it back;
* the column pass copies each group of columns into a contiguous buffer of at most
  ``_LOCAL_BYTES`` before transforming it (a power-of-two stride maps every row of a column to
  the same cache sets, so transforming in place thrashes L1 and L2), and multiplies by the
  final scale there (instead of one more pass ``x.mul_(c)``).

This module imports nothing from the rest of :mod:`idtheory`.
"""

from __future__ import annotations

import numpy as np

from idtheory.kernels.numba_threads import with_capped_threads

__all__ = ["fwht_fused", "fwht_plain", "gather_fwht"]

#: Elements per contiguous block transformed in cache by the first pass (128 KiB fp32).
CPU_BLOCK = 1 << 15
#: Adjacent columns processed together by the plain strided pass (four 64-byte lines of fp32).
CPU_COLS = 64
#: Largest contiguous buffer the fused column pass transforms a column group in (bytes). 1 MiB
#: lets the 4,096 rows of L = 2^27 keep 64 columns (256-byte reads per row): measured 6.1 copies
#: against 8.1 with 256 KiB (16 columns) at 2^27, and 5.9 against 6.9 at 2^25 (1 thread).
_LOCAL_BYTES = 1 << 20

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
    def _radix4(a, k, s):
        """H_4 on a[k], a[k + s], a[k + 2s], a[k + 3s] (two butterfly stages at once)."""
        s2 = s + s
        s3 = s2 + s
        x0 = a[k]
        x1 = a[k + s]
        x2 = a[k + s2]
        x3 = a[k + s3]
        p0, m0, p1, m1 = x0 + x1, x0 - x1, x2 + x3, x2 - x3
        a[k] = p0 + p1
        a[k + s] = m0 + m1
        a[k + s2] = p0 - p1
        a[k + s3] = m0 - m1

    @numba.njit(cache=True, inline="always", fastmath=True)
    def _fwht16(a, base, count16):
        """H_16 on each of ``count16`` consecutive 16-element groups (two radix-4 steps)."""
        one, four = u64(1), u64(4)
        end = base + count16 * u64(16)
        for i in range(base, end, four):
            _radix4(a, i, one)
        for i in range(base, end, u64(16)):
            for c in range(u64(0), four):
                _radix4(a, i + c, four)

    @numba.njit(cache=True, inline="always", fastmath=True)
    def _across_rows(a, base, stride, count, width):
        """H_count ⊗ I_width on rows a[base + r·stride : … + width], r < count (radix-4 steps)."""
        h = u64(1)
        while h < count:
            if u64(4) * h <= count:
                s1 = h * stride
                for r in range(u64(0), count, u64(4) * h):
                    for rr in range(r, r + h):
                        row = base + rr * stride
                        for c in range(u64(0), width):
                            _radix4(a, row + c, s1)
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

    @numba.njit(cache=True, inline="always", fastmath=True)
    def _in_cache(dst, base, blk):
        """H_blk on the contiguous block dst[base : base + blk] (blk ≥ 16), as pass_blocks."""
        _fwht16(dst, base, blk // u64(16))
        _across_rows(dst, base, u64(16), blk // u64(16), u64(16))

    @numba.njit(cache=True, inline="always")
    def _scale(a, base, count, scale):
        for i in range(base, base + count):
            a[i] *= scale

    @numba.njit(cache=True, parallel=True, fastmath=True)
    def pass_blocks_padded(src, dst, blk, scale):
        """dst[b] = scale · H_blk pad(src)[b] per block b of dst, src zero-padded to dst.size."""
        nblk = dst.size // blk
        ublk = u64(blk)
        m = u64(src.size)
        for b in numba.prange(nblk):
            base = u64(b) * ublk
            stop = min(base + ublk, m)
            for i in range(base, stop):
                dst[i] = src[i]
            for i in range(max(stop, base), base + ublk):
                dst[i] = 0
            _in_cache(dst, base, ublk)
            if scale != 1:
                _scale(dst, base, ublk, scale)

    @numba.njit(cache=True, parallel=True, fastmath=True)
    def pass_blocks_gather(table, perm, g, dst, blk, scale):
        """dst[b] = scale · H_blk (table[π mod b'] · G)[b] per block (b' = table.size)."""
        nblk = dst.size // blk
        ublk = u64(blk)
        mask = table.size - 1
        for b in numba.prange(nblk):
            base = u64(b) * ublk
            for i in range(base, base + ublk):
                dst[i] = table[perm[i] & mask] * g[i]
            _in_cache(dst, base, ublk)
            if scale != 1:
                _scale(dst, base, ublk, scale)

    @numba.njit(cache=True, parallel=True, fastmath=True)
    def pass_columns_local(a, n, blk, cols, scale):
        """In place: scale · H_{n/blk} across the rows of each (n/blk × blk) slab of length n,
        ``cols`` columns at a time through a contiguous buffer (rows × cols)."""
        rows = n // blk
        groups_per_slab = blk // cols
        ngroups = (a.size // n) * groups_per_slab
        ucols = u64(cols)
        for g in numba.prange(ngroups):
            base = u64(g // groups_per_slab) * u64(n) + u64(g % groups_per_slab) * ucols
            buf = np.empty(rows * cols, a.dtype)
            for r in range(u64(0), u64(rows)):
                src = base + r * u64(blk)
                dst = r * ucols
                for c in range(u64(0), ucols):
                    buf[dst + c] = a[src + c]
            _across_rows(buf, u64(0), ucols, u64(rows), ucols)
            if scale != 1:
                _scale(buf, u64(0), u64(rows * cols), scale)
            for r in range(u64(0), u64(rows)):
                src = base + r * u64(blk)
                dst = r * ucols
                for c in range(u64(0), ucols):
                    a[src + c] = buf[dst + c]


def _column_plan(n: int, span: int, block: int) -> int:
    """Rows of the next column pass over a transform already done on ``span``-long blocks."""
    return min(n // span, block)


@with_capped_threads
def fwht_plain(x: np.ndarray, block: int = CPU_BLOCK, cols: int = CPU_COLS) -> np.ndarray:
    """Unnormalized FWHT of the rows of a C-contiguous 2-D float array (n ≥ 16), a new array:
    the plain passes (the stored runs' kernels)."""
    n = x.shape[1]
    out = np.empty_like(x)
    flat = out.reshape(-1)
    span = min(n, max(block, 16))
    pass_blocks(x.reshape(-1), flat, span)
    while span < n:
        rows = _column_plan(n, span, block)
        pass_columns(flat, span * rows, span, min(cols, span))
        span *= rows
    return out


def _local_cols(rows: int, span: int, itemsize: int) -> int:
    """Columns per group of the fused column pass: a buffer of ≤ _LOCAL_BYTES, ≥ 16 columns."""
    cols = max(16, _LOCAL_BYTES // (rows * itemsize))
    return min(span, 1 << (cols.bit_length() - 1), CPU_COLS)


def _columns_fused(flat: np.ndarray, n: int, span: int, block: int, scale: np.floating) -> None:
    """The column passes after a first pass on ``span``-long blocks; the last one scales."""
    one = flat.dtype.type(1)
    while span < n:
        rows = _column_plan(n, span, block)
        last = span * rows == n
        cols = _local_cols(rows, span, flat.itemsize)
        pass_columns_local(flat, span * rows, span, cols, scale if last else one)
        span *= rows


@with_capped_threads
def fwht_fused(
    x: np.ndarray, out: np.ndarray, scale: float = 1.0, block: int = CPU_BLOCK
) -> np.ndarray:
    """out = scale · H_n x row by row, for C-contiguous 2-D float arrays x (rows × m) and out
    (rows × n), n ≥ 16 a power of two; with one row, m ≤ n (x zero-padded to n). Returns
    ``out``. Bit-identical to :func:`fwht_plain` followed by ``*= scale``. ``out`` is the
    caller's, so the caller chooses its allocator (torch's can use huge pages)."""
    rows, m = x.shape
    n = out.shape[1]
    if m != n and (rows != 1 or m > n):
        raise ValueError(f"can zero-pad only a single row, and only to a longer one ({m} -> {n})")
    c = out.dtype.type(scale)  # multiplied in the array's precision, as torch's x.mul_(scale)
    flat = out.reshape(-1)
    span = min(n, max(block, 16))
    pass_blocks_padded(x.reshape(-1), flat, span, c if span == n else out.dtype.type(1))
    _columns_fused(flat, n, span, block, c)
    return out


@with_capped_threads
def gather_fwht(
    table: np.ndarray,
    perm: np.ndarray,
    g: np.ndarray,
    out: np.ndarray,
    scale: float = 1.0,
    block: int = CPU_BLOCK,
) -> np.ndarray:
    """out = scale · H_L (table[π(i) mod b] · G_i)_i, L = len(g) = len(out) ≥ 16, b = len(table):
    the Fastfood forward's gather fused into the FWHT's first pass. Returns ``out``.
    Bit-identical to the gather, then :func:`fwht_plain`, then ``*= scale``."""
    n = g.size
    c = out.dtype.type(scale)
    span = min(n, max(block, 16))
    pass_blocks_gather(table, perm, g, out, span, c if span == n else out.dtype.type(1))
    _columns_fused(out, n, span, block, c)
    return out
