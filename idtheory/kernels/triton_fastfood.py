"""Fused Triton kernels for the Fastfood products, and the hashes of a seed-hashed Fastfood.

Tensor functions only: this module imports nothing from the rest of :mod:`idtheory` except its
sibling :mod:`idtheory.kernels.triton_fwht`. The projection classes that dispatch here are
:class:`idtheory.projections.FastfoodProjection` (stored state, :class:`MaterializedState`)
and :class:`idtheory.projections.HashedFastfoodProjection` (hashed state, :class:`HashKeys`).

Conventions
-----------
Exactly those of :class:`idtheory.projections.FastfoodProjection`::

    P θ = c · R_D · H_L G Π H_L B · E_d θ,      c = 1 / sqrt(D · Σ_i G_i²)

with L = 2^⌈log2 D⌉, b = 2^⌈log2 d⌉ and H unnormalized. Because E_d θ lives on the first b
coordinates and H_L = H_{L/b} ⊗ H_b, the first transform of the forward is the length-b table
t = H_b (B ⊙ θ) tiled L/b times, so (Π H_L B E_d θ)_i = t[σ(i)] with σ(i) = π(i) mod b; by
transposition the last transform of Pᵀ is a scatter-add (*fold*) of G ⊙ H_L g into a length-b
table followed by H_b. Each product is one length-L FWHT plus O(b) work.

Kernels and passes (L = 2^27 as the running example)
----------------------------------------------------
The length-L FWHT uses the pass plan of :func:`idtheory.kernels.triton_fwht.fwht_plan`
(one contiguous pass of ≤ 2^13 elements, then strided passes of ≤ 2^10; 3 passes at 2^27),
with the Fastfood-specific work fused into the first and last pass:

* **forward** — pass 1 does not read an input vector: each program *generates* its tile
  u_i = t[σ(i)] · G_i (σ, G loaded from the materialized ``perm``/``G`` or computed from the
  seed hash), transforms it, and writes it. Middle passes are plain FWHT passes. The last pass
  multiplies by c, keeps the first D coordinates (R_D) and writes the output (a fresh length-D
  tensor; the length-L work buffer is freed on return). A one-program kernel computes the
  table t = H_b(B ⊙ θ) first (b ≤ 2^13; larger tables use :func:`fwht_triton`).
* **transpose** — pass 1 reads g with a mask ``i < D`` (the zero padding R_Dᵀ costs nothing),
  middle passes are plain, and the last pass multiplies its transformed tile by G_i and folds it
  into the length-b accumulator at σ(i) instead of storing it. A one-program kernel then sums
  the accumulator copies, applies H_b, B, c and keeps d coordinates.

Bytes moved through device memory per product (fp32, D = L, p passes; materialized state is
``perm`` int32 + ``G`` fp32 = 8 bytes/coordinate, B is read for d coordinates only):

=================  ===========================================  ==========================
product            materialized                                 hashed (no stored state)
=================  ===========================================  ==========================
forward            8L (π, G) + 4L (write) + (p−1)·8L            4L + (p−1)·8L
transpose          8L (read g, write) + (p−2)·8L + 4L + 8L      8L + (p−2)·8L + 4L
fwd + T, p = 3     56 L                                         40 L
minimum (1 pass)   24 L                                         8 L
=================  ===========================================  ==========================

The "minimum" row is what any implementation must move (read the input and the stored state
once, write the output once); it is the numerator of the *effective* bandwidth reported by
:mod:`idtheory.bench.gpu`, which also reports the bandwidth of the traffic actually generated
(the p-pass numbers above). With three passes the effective bandwidth is bounded by 24/56 of
the traffic bandwidth (materialized) and 8/40 (hashed).

The fold: atomics into an L2-resident accumulator
-------------------------------------------------
The transpose's fold is a scatter-add of L values into b ≪ L slots at pseudo-random
positions. Options considered:

* a private partial table per program + a reduction: Triton cannot index registers
  dynamically, so a partial table would live in global memory (grid × b × 4 bytes, 1 GiB for
  L = 2^27, b = 2^14 at 2^13 elements per program) and still need atomics within a program for
  colliding lanes; a persistent grid only shrinks the table;
* sorting each tile by σ and a segmented sum (tl.sort + associative_scan): ~log² T compare-
  exchange stages of shuffles per tile, several times the cost of the FWHT itself;
* **fp32 atomics (chosen)**: one relaxed ``atomic_add`` per element into an accumulator of
  ``copies × b`` floats, program p adding into copy ``p mod copies``. The accumulator is at most
  a few MB, so every atomic resolves in L2 and adds no DRAM traffic; ``copies`` (default
  ``max(1, min(64, 65536 // b))``) spreads small tables over many addresses so that the
  atomics of concurrent programs rarely serialize on one address. Optionally
  (``local_bins_max`` ≥ b) each program first reduces its tile into b sums (one masked
  reduction per slot) and issues only b atomics.

On an H200 the fold dominates the transpose: more accumulator copies made it several times
faster than one copy, and 64 copies beat both 8 copies and per-program pre-sums for small
tables. Hence the defaults: 64 copies for b ≤ 1024, no pre-sums. Even so the atomics, one per
coordinate, cost several FWHTs, and the fold takes most of a forward + transpose. A fold without
atomics (a slot-sorted index ``order`` and ``G[order]`` stored at construction, then a
gather-reduce of y) would still make one random 4-byte read per coordinate (≈ 32 B of DRAM
sector traffic each) and store 8 L more bytes. The timings behind these statements are in
``benchmarks/2026-11-26-NVIDIA-H200/README.md``.

The 0.70-of-copy goal therefore needs the random permutation itself to change: a permutation
within blocks of ≤ 2^13 coordinates (the original Fastfood's stacked blocks) would
let the fold become an in-tile gather (``tl.gather`` of the inverse block permutation) and a
reshape-sum, with no atomics and no random DRAM access, leaving only the FWHT's passes. That is
a different P for the same seed, so it would be a new ``projection`` kind, not a change of this
one.

The price of atomics is a run-to-run nondeterministic summation order: results agree to fp32
rounding (relative ~1e-7) but are not bitwise reproducible. Accumulation is fp32 throughout.

Hashed Fastfood (``projection='fastfood_hashed'``)
--------------------------------------------------
B, G and Π are functions of (seed, index) evaluated inside the kernels, so the projection
stores O(1) state (instead of 12·L bytes). They define a *different* (equally valid,
seed-determined) random P than :class:`~idtheory.projections.FastfoodProjection`'s
``torch.Generator`` draw. With ``mix(x)`` the 32-bit xorshift–multiply mixer
``x ^= x>>16; x *= 0x21F0AAAD; x ^= x>>15; x *= 0x735A2D97; x ^= x>>15`` (mod 2^32; both
multipliers < 2^31 so that the int64 torch reference never overflows) and 31-bit keys derived
from the seed with splitmix64 (:func:`hash_keys`):

* B_j = 1 − 2·(mix(mix(j ⊕ k_b1) ⊕ k_b2) >> 31);
* G_i = sqrt(−2 ln u1) · cos(2π u2) (Box–Muller), h = mix(((i ⊕ k_g)·0x5851F42D) mod 2^32),
  u1 = (h >> 16 + ½)/2^16, u2 = (h & 0xFFFF)/2^16;
* π = a 3-round Feistel network over the log2 L index bits (alternating unbalanced halves
  of ⌊k/2⌋ and ⌈k/2⌉ bits, round function mix(v ⊕ k_f,r)): a bijection of [0, L) for any
  L = 2^k by construction (each round is invertible, :func:`feistel_inverse`), so no cycle
  walking is needed; σ(i) = π(i) mod b.

The hashes are not cryptographic; they only need to look independent. Every hash has a
pure-torch (int64) reference here, used on the CPU and wherever Triton is unavailable, and the
Triton kernels are tested against it.

The module imports without Triton (``HAS_TRITON`` is then False and only the torch hashes
work; the projections then take their torch paths) and launches nothing at import. CPU
tensors reach the kernels only under ``TRITON_INTERPRET=1`` (set before Triton and this
module are imported).
"""

from dataclasses import dataclass
from typing import Any

import torch

# Triton is optional: triton_fwht imports it (``triton``/``tl`` are None without it) and owns
# the launch helpers (interpreter check, device check, device context, default warps).
from idtheory.kernels.triton_fwht import (
    HAS_TRITON,
    _check_device,
    _default_num_warps,
    _device_ctx,
    _interpreting,
    _pass_config,
    fwht_plan,
    fwht_triton,
    tl,
    triton,
)

if HAS_TRITON:
    from idtheory.kernels.triton_fwht import _butterfly_last

__all__ = [
    "FORWARD_KNOBS",
    "HAS_TRITON",
    "KNOBS",
    "LOCAL_BINS_MAX",
    "MAX_TABLE_LOG",
    "HashKeys",
    "MaterializedState",
    "check_knobs",
    "default_copies",
    "fastfood_bytes",
    "fastfood_forward_triton",
    "fastfood_transpose_triton",
    "feistel_inverse",
    "feistel_permute",
    "hash_keys",
    "hashed_gaussian",
    "hashed_sigma",
    "hashed_sign",
    "hashes_triton",
    "mix32",
    "triton_usable",
]

#: Tables up to 2^13 entries are built/finished by one program (larger ones use fwht_triton).
MAX_TABLE_LOG = 13
#: Tables with at most this many slots are folded per program before the atomics (0: never;
#: slower than 64 accumulator copies on an H200, see the module docstring).
LOCAL_BINS_MAX = 0
#: Largest number of accumulator copies of the transpose's fold.
MAX_COPIES = 64
#: The accumulator copies aim at this many distinct addresses (copies × b).
COPIES_TARGET = 65536
#: Rounds of the Feistel permutation.
FEISTEL_ROUNDS = 3

_MASK32 = 0xFFFFFFFF
_MIX_M1 = 0x21F0AAAD
_MIX_M2 = 0x735A2D97
_G_MUL = 0x5851F42D
_TWO_PI = 6.283185307179586
# stream constants (arbitrary, distinct) for the key derivation
_STREAM_SIGN1, _STREAM_SIGN2, _STREAM_GAUSS = 0x5B1, 0x5B2, 0x6A0
_STREAM_FEISTEL = 0xFE0


# ============================================================================ hashing (host)


def _splitmix64(x: int) -> int:
    """splitmix64 finalizer of a 64-bit integer (Python ints)."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


@dataclass(frozen=True)
class HashKeys:
    """Keys of the hashed Fastfood for one (seed, L = 2^log_l); see :func:`hash_keys`.

    All keys are 31-bit non-negative integers (they travel to the kernels as int32).
    """

    log_l: int
    k_sign1: int
    k_sign2: int
    k_gauss: int
    k_feistel: tuple[int, ...]

    @property
    def L(self) -> int:
        """Padded length 2^log_l."""
        return 1 << self.log_l

    @property
    def s_even(self) -> int:
        """Width of the low half entering even Feistel rounds (⌊k/2⌋ bits)."""
        return self.log_l // 2

    @property
    def s_odd(self) -> int:
        """Width of the low half entering odd Feistel rounds (⌈k/2⌉ bits)."""
        return self.log_l - self.log_l // 2


def hash_keys(seed: int, log_l: int) -> HashKeys:
    """Derive the hash keys of the hashed Fastfood of length 2^log_l from ``seed``.

    Args:
        seed: any Python integer (reduced mod 2^64).
        log_l: log2 of the padded length, 0 ≤ log_l ≤ 30.
    """
    if not 0 <= log_l <= 30:
        raise ValueError(f"log_l must be in [0, 30], got {log_l}")
    base = _splitmix64(int(seed) & 0xFFFFFFFFFFFFFFFF)

    def key(stream: int) -> int:
        return _splitmix64(base ^ (stream * 0xD1B54A32D192ED03 & 0xFFFFFFFFFFFFFFFF)) >> 33

    return HashKeys(
        log_l=log_l,
        k_sign1=key(_STREAM_SIGN1),
        k_sign2=key(_STREAM_SIGN2),
        k_gauss=key(_STREAM_GAUSS),
        k_feistel=tuple(key(_STREAM_FEISTEL + r) for r in range(FEISTEL_ROUNDS)),
    )


# ============================================================================ hashing (torch)


def mix32(x: torch.Tensor) -> torch.Tensor:
    """The 32-bit mixer on an int64 tensor of values in [0, 2^32) (a bijection of 32 bits)."""
    x = x ^ (x >> 16)
    x = (x * _MIX_M1) & _MASK32
    x = x ^ (x >> 15)
    x = (x * _MIX_M2) & _MASK32
    return x ^ (x >> 15)


def _as_index(i: torch.Tensor | int, device: torch.device | str | None = None) -> torch.Tensor:
    if isinstance(i, int):
        return torch.arange(i, dtype=torch.int64, device=device)
    return i.to(torch.int64)


def hashed_sign(j: torch.Tensor | int, keys: HashKeys) -> torch.Tensor:
    """B_j ∈ {−1, +1} (int64) for indices ``j`` (a tensor, or ``int n`` for j = 0 … n−1)."""
    j = _as_index(j)
    h = mix32(mix32(j ^ keys.k_sign1) ^ keys.k_sign2)
    return 1 - 2 * (h >> 31)


def hashed_gaussian(i: torch.Tensor | int, keys: HashKeys) -> torch.Tensor:
    """G_i ~ N(0, 1) (float64, Box–Muller from one 32-bit hash) for indices ``i``."""
    i = _as_index(i)
    h = mix32(((i ^ keys.k_gauss) * _G_MUL) & _MASK32)
    u1 = ((h >> 16).to(torch.float64) + 0.5) * (1.0 / 65536.0)
    u2 = (h & 0xFFFF).to(torch.float64) * (1.0 / 65536.0)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(_TWO_PI * u2)


def _round_params(keys: HashKeys, r: int) -> tuple[int, int, int, int]:
    """(s_lo, s_hi, m_lo, m_hi) of Feistel round r (low half of s_lo bits enters F)."""
    s_lo, s_hi = (keys.s_even, keys.s_odd) if r % 2 == 0 else (keys.s_odd, keys.s_even)
    return s_lo, s_hi, (1 << s_lo) - 1, (1 << s_hi) - 1


def feistel_permute(i: torch.Tensor | int, keys: HashKeys) -> torch.Tensor:
    """π(i): the keyed Feistel bijection of [0, 2^log_l) (int64 in, int64 out).

    Round r splits x into lo (low s_lo bits) and hi, sets hi ^= mix(lo ⊕ k_r) mod 2^s_hi and
    returns (lo << s_hi) | hi; the halves' widths alternate between ⌊k/2⌋ and ⌈k/2⌉.
    """
    x = _as_index(i)
    for r in range(FEISTEL_ROUNDS):
        s_lo, s_hi, m_lo, m_hi = _round_params(keys, r)
        lo, hi = x & m_lo, x >> s_lo
        hi = hi ^ (mix32(lo ^ keys.k_feistel[r]) & m_hi)
        x = (lo << s_hi) | hi
    return x


def feistel_inverse(y: torch.Tensor | int, keys: HashKeys) -> torch.Tensor:
    """π⁻¹(y), the inverse of :func:`feistel_permute`."""
    x = _as_index(y)
    for r in reversed(range(FEISTEL_ROUNDS)):
        s_lo, s_hi, _m_lo, m_hi = _round_params(keys, r)
        lo, hi = x >> s_hi, x & m_hi
        hi = hi ^ (mix32(lo ^ keys.k_feistel[r]) & m_hi)
        x = (hi << s_lo) | lo
    return x


def hashed_sigma(i: torch.Tensor | int, keys: HashKeys, b: int) -> torch.Tensor:
    """σ(i) = π(i) mod b (int64), the table slot read by coordinate i (b a power of two)."""
    return feistel_permute(i, keys) & (b - 1)


# ============================================================================ Triton kernels

if HAS_TRITON:

    @triton.jit
    def _mix32_tl(x):
        """The 32-bit mixer on a uint32 tensor (multiplication wraps mod 2^32)."""
        x = x ^ (x >> 16)
        x = x * 0x21F0AAAD
        x = x ^ (x >> 15)
        x = x * 0x735A2D97
        x = x ^ (x >> 15)
        return x

    @triton.jit
    def _feistel_round_tl(x, key, s_lo, s_hi, m_lo, m_hi):
        lo = x & m_lo
        hi = (x >> s_lo) ^ (_mix32_tl(lo ^ key) & m_hi)
        return (lo << s_hi) | hi

    @triton.jit
    def _sigma_tl(idx, b_mask, kf0, kf1, kf2, s_e, s_o):
        """σ(i) = feistel(i) & b_mask for a uint32 index tensor (3 rounds), as int32."""
        s_e = s_e.to(tl.uint32)
        s_o = s_o.to(tl.uint32)
        m_e = (tl.full((), 1, tl.uint32) << s_e) - 1
        m_o = (tl.full((), 1, tl.uint32) << s_o) - 1
        x = _feistel_round_tl(idx, kf0.to(tl.uint32), s_e, s_o, m_e, m_o)
        x = _feistel_round_tl(x, kf1.to(tl.uint32), s_o, s_e, m_o, m_e)
        x = _feistel_round_tl(x, kf2.to(tl.uint32), s_e, s_o, m_e, m_o)
        return (x & b_mask.to(tl.uint32)).to(tl.int32)

    @triton.jit
    def _gauss_tl(idx, k_g):
        """G_i (fp32 Box–Muller) for a uint32 index tensor."""
        h = _mix32_tl((idx ^ k_g.to(tl.uint32)) * 0x5851F42D)
        u1 = ((h >> 16).to(tl.float32) + 0.5) * (1.0 / 65536.0)
        u2 = (h & 0xFFFF).to(tl.float32) * (1.0 / 65536.0)
        return tl.sqrt(-2.0 * tl.log(u1)) * tl.cos(6.283185307179586 * u2)

    @triton.jit
    def _sign_tl(idx, kb1, kb2):
        """B_j ∈ {−1, +1} (fp32) for a uint32 index tensor."""
        h = _mix32_tl(_mix32_tl(idx ^ kb1.to(tl.uint32)) ^ kb2.to(tl.uint32))
        return 1.0 - 2.0 * (h >> 31).to(tl.float32)

    @triton.jit
    def _slot_and_gain(
        offs, mask, perm_ptr, gain_ptr, b_mask, k_g, kf0, kf1, kf2, s_e, s_o, HASHED: tl.constexpr
    ):
        """(σ(i), G_i) at element offsets ``offs``: loaded (materialized) or hashed."""
        if HASHED:
            idx = offs.to(tl.uint32)
            sig = _sigma_tl(idx, b_mask, kf0, kf1, kf2, s_e, s_o)
            gain = _gauss_tl(idx, k_g)
        else:
            sig = tl.load(perm_ptr + offs, mask=mask, other=0) & b_mask
            gain = tl.load(gain_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        return sig, gain

    @triton.jit(
        do_not_specialize=[
            "n_src",
            "n_dst",
            "out_scale",
            "b_mask",
            "copies",
            "k_g",
            "kf0",
            "kf1",
            "kf2",
            "s_e",
            "s_o",
        ]
    )
    def _ff_pass_kernel(
        src_ptr,
        dst_ptr,
        perm_ptr,
        gain_ptr,
        table_ptr,
        n_rows,
        stride,
        chunks,
        n_src,
        n_dst,
        out_scale,
        b_mask,
        copies,
        k_g,
        kf0,
        kf1,
        kf2,
        s_e,
        s_o,
        LOG_M: tl.constexpr,
        TILE_R: tl.constexpr,
        STRIDED: tl.constexpr,
        GEN: tl.constexpr,
        FOLD: tl.constexpr,
        HASHED: tl.constexpr,
        LOCAL_BINS: tl.constexpr,
    ):
        """One FWHT pass over a length-L fp32 vector with the Fastfood stages fused in.

        Tile geometry as in ``triton_fwht._fwht_pass_kernel`` (contiguous: TILE_R rows of
        M = 2^LOG_M consecutive elements; strided: TILE_R consecutive columns × M elements
        ``stride`` apart). Input: GEN → u_i = table[σ(i)]·G_i generated in registers, else
        src[i] for i < n_src (0 beyond: the padding of Pᵀ's input). Output: FOLD → y_i·G_i is
        atomically added to table[(pid mod copies)·(b_mask+1) + σ(i)] (per-program pre-sums
        over LOCAL_BINS slots when LOCAL_BINS > 0), else out_scale·y_i is stored to dst[i] for
        i < n_dst. Offsets are int64.
        """
        M: tl.constexpr = 1 << LOG_M
        pid = tl.program_id(0).to(tl.int64)
        r = tl.arange(0, TILE_R).to(tl.int64)
        i = tl.arange(0, M).to(tl.int64)
        if STRIDED:
            outer = pid // chunks
            v0 = (pid - outer * chunks) * TILE_R
            offs = (outer * M * stride + v0) + r[:, None] + i[None, :] * stride
            mask = (r[:, None] < TILE_R) & (i[None, :] < M)
        else:
            rows = pid * TILE_R + r
            offs = rows[:, None] * M + i[None, :]
            mask = (rows[:, None] < n_rows) & (i[None, :] < M)
        if GEN:
            sig, gain = _slot_and_gain(
                offs, mask, perm_ptr, gain_ptr, b_mask, k_g, kf0, kf1, kf2, s_e, s_o, HASHED
            )
            x = tl.load(table_ptr + sig, mask=mask, other=0.0) * gain
        else:
            x = tl.load(src_ptr + offs, mask=mask & (offs < n_src), other=0.0).to(tl.float32)
        y = _butterfly_last(x, TILE_R, LOG_M)
        if FOLD:
            sig, gain = _slot_and_gain(
                offs, mask, perm_ptr, gain_ptr, b_mask, k_g, kf0, kf1, kf2, s_e, s_o, HASHED
            )
            v = tl.where(mask, y * gain, 0.0)
            base = table_ptr + (pid % copies) * (b_mask + 1)
            if LOCAL_BINS > 0:
                slots = tl.arange(0, LOCAL_BINS)
                acc = tl.zeros([LOCAL_BINS], dtype=tl.float32)
                for j in tl.static_range(LOCAL_BINS):
                    s = tl.sum(tl.sum(tl.where(sig == j, v, 0.0), axis=1), axis=0)
                    acc = tl.where(slots == j, s, acc)
                tl.atomic_add(base + slots, acc, sem="relaxed")
            else:
                tl.atomic_add(base + sig, v, mask=mask, sem="relaxed")
        else:
            tl.store(
                dst_ptr + offs,
                (y * out_scale).to(dst_ptr.dtype.element_ty),
                mask=mask & (offs < n_dst),
            )

    @triton.jit(do_not_specialize=["n_in", "n_out", "copies", "scale", "kb1", "kb2"])
    def _table_kernel(
        x_ptr,
        sign_ptr,
        out_ptr,
        n_in,
        n_out,
        copies,
        scale,
        kb1,
        kb2,
        LOG_B: tl.constexpr,
        HASHED: tl.constexpr,
        EPILOGUE: tl.constexpr,
    ):
        """The O(b) ends of a product, one program, b = 2^LOG_B ≤ 2^13.

        Prologue (EPILOGUE=False): out[j] = (H_b (B ⊙ x))_j, x read for j < n_in (zero-padded).
        Epilogue (EPILOGUE=True): t = Σ_c x[c·b + j] over ``copies`` accumulator copies, then
        out[j] = scale · B_j · (H_b t)_j for j < n_out. B loaded from sign_ptr or hashed.
        """
        NB: tl.constexpr = 1 << LOG_B
        j = tl.arange(0, NB)
        if EPILOGUE:
            t = tl.load(x_ptr + j)
            for c in range(1, copies):
                t += tl.load(x_ptr + c * NB + j)
            y = tl.reshape(_butterfly_last(tl.reshape(t, (1, NB)), 1, LOG_B), (NB,))
            valid = j < n_out
        else:
            valid = j < n_in
        if HASHED:
            sign = _sign_tl(j.to(tl.uint32), kb1, kb2)
        else:
            sign = tl.load(sign_ptr + j, mask=valid, other=0.0).to(tl.float32)
        if EPILOGUE:
            tl.store(out_ptr + j, (y * sign * scale).to(out_ptr.dtype.element_ty), mask=valid)
        else:
            x = tl.load(x_ptr + j, mask=valid, other=0.0).to(tl.float32) * sign
            y = tl.reshape(_butterfly_last(tl.reshape(x, (1, NB)), 1, LOG_B), (NB,))
            tl.store(out_ptr + j, y)

    @triton.jit(
        do_not_specialize=["n", "b_mask", "k_g", "kf0", "kf1", "kf2", "s_e", "s_o", "kb1", "kb2"]
    )
    def _hash_probe_kernel(
        sig_ptr,
        gain_ptr,
        sign_ptr,
        n,
        b_mask,
        k_g,
        kf0,
        kf1,
        kf2,
        s_e,
        s_o,
        kb1,
        kb2,
        BLOCK: tl.constexpr,
    ):
        """Write σ(i), G_i and B_i for i < n exactly as the pass kernels compute them."""
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        idx = offs.to(tl.uint32)
        tl.store(sig_ptr + offs, _sigma_tl(idx, b_mask, kf0, kf1, kf2, s_e, s_o), mask=mask)
        tl.store(gain_ptr + offs, _gauss_tl(idx, k_g), mask=mask)
        tl.store(sign_ptr + offs, _sign_tl(idx, kb1, kb2), mask=mask)


def hashes_triton(
    n: int, keys: HashKeys, b: int, device: torch.device | str = "cuda"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(σ, G, B) for indices 0 … n−1 as evaluated by the Triton kernels (σ int32, G and B
    fp32) — to check them against :func:`hashed_sigma`, :func:`hashed_gaussian` and
    :func:`hashed_sign`."""
    if not HAS_TRITON:
        raise RuntimeError("hashes_triton needs the `triton` package")
    sig = torch.empty(n, dtype=torch.int32, device=device)
    _check_tensor(sig, "hashes_triton")
    gain = torch.empty(n, dtype=torch.float32, device=device)
    sign = torch.empty(n, dtype=torch.float32, device=device)
    block = 1024
    with _device_ctx(sig):
        _hash_probe_kernel[(max(1, -(-n // block)),)](
            sig,
            gain,
            sign,
            n,
            b - 1,
            **_hash_args(keys),
            kb1=keys.k_sign1,
            kb2=keys.k_sign2,
            BLOCK=block,
        )
    return sig, gain, sign


def triton_usable(t: torch.Tensor) -> bool:
    """True if the fused kernels can run on tensor ``t`` (CUDA, or CPU under the interpreter)
    in a dtype they compute in fp32 (float32/float16/bfloat16)."""
    return (
        HAS_TRITON
        and (t.is_cuda or (t.device.type == "cpu" and _interpreting()))
        and t.dtype in (torch.float32, torch.float16, torch.bfloat16)
    )


# ============================================================================ launch wrappers


@dataclass(frozen=True)
class MaterializedState:
    """Stored Fastfood state: B (±1, length ≥ d), perm (int32, length L), G (length L)."""

    B: torch.Tensor
    perm: torch.Tensor
    G: torch.Tensor

    @property
    def L(self) -> int:
        """Padded length."""
        return self.G.numel()


_State = MaterializedState | HashKeys


def default_copies(b: int) -> int:
    """Accumulator copies of the fold for a table of b slots (see the module docstring)."""
    return max(1, min(MAX_COPIES, COPIES_TARGET // b))


def _check_tensor(x: torch.Tensor, what: str) -> None:
    if not HAS_TRITON:
        raise RuntimeError("the fused Fastfood kernels need the `triton` package")
    _check_device(x, what)


def _hash_args(state: _State) -> dict[str, int]:
    if isinstance(state, HashKeys):
        kf = state.k_feistel
        return {
            "k_g": state.k_gauss,
            "kf0": kf[0],
            "kf1": kf[1],
            "kf2": kf[2],
            "s_e": state.s_even,
            "s_o": state.s_odd,
        }
    return {"k_g": 0, "kf0": 0, "kf1": 0, "kf2": 0, "s_e": 0, "s_o": 0}


def _table_prologue(theta: torch.Tensor, state: _State, b: int) -> torch.Tensor:
    """t = H_b (B ⊙ pad_b(θ)) in fp32."""
    d = theta.numel()
    hashed = isinstance(state, HashKeys)
    if b > 1 << MAX_TABLE_LOG:
        sign = (
            hashed_sign(d, state).to(theta.device, torch.float32) if hashed else state.B[:d].float()
        )
        t = torch.zeros(b, dtype=torch.float32, device=theta.device)
        t[:d] = theta.float() * sign
        return fwht_triton(t)
    out = torch.empty(b, dtype=torch.float32, device=theta.device)
    kb1, kb2 = (state.k_sign1, state.k_sign2) if hashed else (0, 0)
    sign_t = out if hashed else state.B
    _table_kernel[(1,)](
        theta,
        sign_t,
        out,
        d,
        d,
        1,
        1.0,
        kb1,
        kb2,
        LOG_B=b.bit_length() - 1,
        HASHED=hashed,
        EPILOGUE=False,
        num_warps=_default_num_warps(b),
    )
    return out


def _table_epilogue(
    acc: torch.Tensor, copies: int, state: _State, d: int, b: int, scale: float, dtype: torch.dtype
) -> torch.Tensor:
    """out = scale · B[:d] ⊙ (H_b Σ_copies acc)[:d] in ``dtype``."""
    hashed = isinstance(state, HashKeys)
    if b > 1 << MAX_TABLE_LOG:
        t = fwht_triton(acc.view(copies, b).sum(0))[:d]
        sign = hashed_sign(d, state).to(acc.device, torch.float32) if hashed else state.B[:d]
        return (t * sign.float()).mul_(scale).to(dtype)
    out = torch.empty(d, dtype=dtype, device=acc.device)
    kb1, kb2 = (state.k_sign1, state.k_sign2) if hashed else (0, 0)
    _table_kernel[(1,)](
        acc,
        acc if hashed else state.B,
        out,
        b,
        d,
        copies,
        float(scale),
        kb1,
        kb2,
        LOG_B=b.bit_length() - 1,
        HASHED=hashed,
        EPILOGUE=True,
        num_warps=_default_num_warps(b),
    )
    return out


def _launch(
    cfg: dict[str, Any],
    src: torch.Tensor,
    dst: torch.Tensor,
    state: _State,
    table: torch.Tensor,
    *,
    n_src: int,
    n_dst: int,
    out_scale: float,
    b: int,
    copies: int,
    gen: bool,
    fold: bool,
    local_bins: int,
    num_warps: int | None,
) -> None:
    hashed = isinstance(state, HashKeys)
    perm = table if hashed else state.perm
    gain = table if hashed else state.G
    _ff_pass_kernel[(cfg["grid"],)](
        src,
        dst,
        perm,
        gain,
        table,
        cfg["n_rows"],
        cfg["stride"],
        cfg["chunks"],
        n_src,
        n_dst,
        float(out_scale),
        b - 1,
        copies,
        **_hash_args(state),
        LOG_M=cfg["LOG_M"],
        TILE_R=cfg["TILE_R"],
        STRIDED=cfg["STRIDED"],
        GEN=gen,
        FOLD=fold,
        HASHED=hashed,
        LOCAL_BINS=local_bins,
        num_warps=num_warps or cfg["num_warps"],
    )


def _tiny_state(state: _State, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(σ(0) before mod, G_0) for L = 1 (no FWHT pass)."""
    if isinstance(state, HashKeys):
        return torch.zeros(1, dtype=torch.int64, device=device), hashed_gaussian(1, state).to(
            device, torch.float32
        )
    return state.perm[:1].long(), state.G[:1].float()


def fastfood_forward_triton(
    theta: torch.Tensor,
    state: _State,
    D: int,
    scale: float,
    *,
    out_dtype: torch.dtype | None = None,
    block: int | None = None,
    tile: int | None = None,
    num_warps: int | None = None,
) -> torch.Tensor:
    """P θ with the fused kernels: c · R_D H_L G Π H_L B E_d θ.

    Args:
        theta: shape (d,), float32/float16/bfloat16 on CUDA (CPU under the interpreter).
        state: :class:`MaterializedState` (B, perm, G on theta's device) or :class:`HashKeys`.
        D: output length (D ≤ L, L = state.L a power of two, d ≤ D).
        scale: c.
        out_dtype: dtype of the result (default: theta's).
        block, tile, num_warps: pass-plan and launch knobs as in :func:`fwht_triton`.

    Returns:
        A new length-D tensor. Passes: ``len(fwht_plan(L, block))`` (plus one tiny table pass).
    """
    _check_tensor(theta, "fastfood_forward_triton")
    theta = theta.contiguous()
    d, L = theta.numel(), state.L
    b = 1 << (d - 1).bit_length()  # the table length, 2^⌈log2 d⌉
    if not (d <= D <= L and b <= L):
        raise ValueError(f"need d <= D <= L with L = {L}, got d={d}, D={D}")
    out_dtype = out_dtype or theta.dtype
    with _device_ctx(theta):
        table = _table_prologue(theta, state, b)
        plan = fwht_plan(L, block)
        if not plan:  # L = 1
            slot, gain = _tiny_state(state, theta.device)
            return (table[slot & (b - 1)] * gain * scale).to(out_dtype)
        out = torch.empty(D, dtype=out_dtype, device=theta.device)
        work = torch.empty(L, dtype=torch.float32, device=theta.device) if len(plan) > 1 else out
        for idx, p in enumerate(plan):
            first, last = idx == 0, idx == len(plan) - 1
            cfg = _pass_config(p, L, tile, num_warps)
            _launch(
                cfg,
                work,
                out if last else work,
                state,
                table,
                n_src=L,
                n_dst=D if last else L,
                out_scale=scale if last else 1.0,
                b=b,
                copies=1,
                gen=first,
                fold=False,
                local_bins=0,
                num_warps=num_warps,
            )
    return out


def fastfood_transpose_triton(
    g: torch.Tensor,
    state: _State,
    d: int,
    scale: float,
    *,
    out_dtype: torch.dtype | None = None,
    block: int | None = None,
    tile: int | None = None,
    num_warps: int | None = None,
    copies: int | None = None,
    local_bins_max: int = LOCAL_BINS_MAX,
) -> torch.Tensor:
    """Pᵀ g with the fused kernels: c · E_dᵀ B H_L Πᵀ G H_L R_Dᵀ g.

    Args:
        g: shape (D,), float32/float16/bfloat16 on CUDA (CPU under the interpreter).
        state: :class:`MaterializedState` or :class:`HashKeys` (see the forward).
        d: output length.
        scale: c.
        out_dtype: dtype of the result (default: g's).
        block, tile, num_warps: pass-plan and launch knobs as in :func:`fwht_triton`.
        copies: accumulator copies of the fold (default :func:`default_copies`).
        local_bins_max: tables with b ≤ this are pre-summed per program (0 disables).

    Returns:
        A new length-d tensor. The fold's atomics make the summation order, and so the last
        bits of the result, vary between runs.
    """
    _check_tensor(g, "fastfood_transpose_triton")
    g = g.contiguous()
    D, L = g.numel(), state.L
    b = 1 << (d - 1).bit_length()  # the table length, 2^⌈log2 d⌉
    if not (d <= D <= L and b <= L):
        raise ValueError(f"need d <= D <= L with L = {L}, got d={d}, D={D}")
    out_dtype = out_dtype or g.dtype
    copies = copies or default_copies(b)
    local_bins = b if b <= local_bins_max else 0
    if local_bins:
        copies = 1  # one atomic per slot and program: no contention to spread
    with _device_ctx(g):
        plan = fwht_plan(L, block)
        acc = torch.zeros(copies * b, dtype=torch.float32, device=g.device)
        if not plan:  # L = 1
            slot, gain = _tiny_state(state, g.device)
            acc[slot & (b - 1)] += g.float() * gain
        else:
            work = torch.empty(L, dtype=torch.float32, device=g.device) if len(plan) > 1 else acc
            for idx, p in enumerate(plan):
                first, last = idx == 0, idx == len(plan) - 1
                cfg = _pass_config(p, L, tile, num_warps)
                _launch(
                    cfg,
                    g if first else work,
                    work,
                    state,
                    acc if last else work,
                    n_src=D if first else L,
                    n_dst=L,
                    out_scale=1.0,
                    b=b,
                    copies=copies,
                    gen=False,
                    fold=last,
                    local_bins=local_bins,
                    num_warps=num_warps,
                )
        return _table_epilogue(acc, copies, state, d, b, scale, out_dtype)


def fastfood_bytes(L: int, D: int, d: int, hashed: bool, block: int | None = None) -> dict:
    """Device-memory bytes of one forward + one transpose (fp32, see the module docstring).

    Returns ``{"min": ..., "traffic": ..., "passes": p}``: ``min`` is what any implementation
    must move (input and output vectors once, stored state once), ``traffic`` what the fused
    p-pass kernels move (ignoring the O(b) table work and L2-resident atomics).
    """
    p = len(fwht_plan(L, block))
    state = 0 if hashed else 8 * L + 4 * d  # perm + G per product, B for d coordinates
    minimum = 2 * (4 * d + 4 * D + state)
    fwd = 4 * D + (0 if hashed else 8 * L) + max(0, p - 1) * 8 * L
    tr = 4 * D + (0 if hashed else 8 * L) + (4 * L if p > 1 else 0) + max(0, p - 1) * 8 * L
    if p > 1:
        fwd += 4 * L - 4 * D  # pass 1 writes the full padded work buffer
        tr -= 4 * L  # the last pass reads but does not write
    return {"min": minimum, "traffic": fwd + tr, "passes": p}


# ============================================================================ knobs

#: Launch knobs of :func:`fastfood_transpose_triton`; the forward takes :data:`FORWARD_KNOBS`.
KNOBS: tuple[str, ...] = ("block", "tile", "num_warps", "copies", "local_bins_max")
FORWARD_KNOBS: tuple[str, ...] = ("block", "tile", "num_warps")


def check_knobs(knobs: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``knobs`` after checking that every name is one of :data:`KNOBS`.

    Raises:
        TypeError: for an unknown name (as an unexpected keyword argument would).
    """
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise TypeError(f"unknown kernel knobs {unknown}; allowed: {list(KNOBS)}")
    return dict(knobs)
