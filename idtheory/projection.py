"""Random linear maps P: ℝ^d → ℝ^D for subspace training θ = θ₀ + P·θ_d.

Three families share one interface (``P(theta_d)``, ``P.T(g)``, ``P.materialize()``):

* :class:`FastfoodProjection` — the structured transform of Le, Sarlós & Smola (2013) as used by
  Li et al. (2018) and Aghajanyan et al. (2021):

      P θ = c · R_D · H G Π H B · E_d θ,        c = 1 / sqrt(D · Σ_j G_j²)

  with L = 2^⌈log2 max(D, d)⌉, E_d the zero-padding ℝ^d → ℝ^L, B = diag(±1), H the unnormalized
  L×L Walsh–Hadamard matrix, Π a permutation ((Πx)_i = x_{π(i)}), G = diag(N(0, 1)), and R_D
  keeping the first D coordinates. Each full column of H G Π H B has squared norm L·ΣG², so
  after keeping D of L rows every column of P has squared norm ≈ 1 (exactly 1 when D = L).
  This is the normalisation of Li et al.'s and the authors' code (``docs/method.md``).
  Memory: B and G in the compute dtype and π as int32 — 12·L bytes for fp32 (1.5 GiB at
  L = 2^27). Cost per product: one FWHT of length L, one of length 2^⌈log2 d⌉ and one
  sequential pass (see ``FastfoodProjection._forward``).
* :class:`DenseProjection` — i.i.d. N(0, 1/D) entries (columns of norm ≈ 1); D·d stored values.
* :class:`SparseProjection` — Li, Hastie & Church (2006) very sparse projections as in Li et al.
  (2018): each column has ⌈√D⌉ non-zeros at random rows with values ±1/√nnz (unit norm).

All random state is generated on the CPU from ``seed`` with a private ``torch.Generator`` and
then moved to the target device, so the same seed gives the same P on every device and a
checkpoint needs only the seed. Products are differentiable: the backward of ``P(θ)`` is the
exact transpose ``P.T(g)``, optionally multiplied by ``grad_scale`` (used only to reproduce the
released code's mis-scaled gradient; see :class:`idtheory.config.SubspaceConfig`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from idtheory.hadamard import fwht, next_power_of_two

__all__ = [
    "DenseProjection",
    "FastfoodProjection",
    "Projection",
    "SparseProjection",
    "make_projection",
]

#: Largest D·d that DenseProjection will store (2^28 values = 1 GiB in fp32).
DENSE_MAX_ENTRIES = 1 << 28


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    return g


try:  # numba is a declared dependency; without it plain torch indexing is used
    import numba
except ImportError:  # pragma: no cover
    numba = None

if numba is not None:  # module level, so numba's on-disk cache is hit across processes

    @numba.njit(parallel=True, cache=True)
    def gather_table_scale(table, perm, g, out):
        mask = table.size - 1
        for i in numba.prange(out.size):
            out[i] = table[perm[i] & mask] * g[i]

    @numba.njit(parallel=True, cache=True)
    def scatter_add_table_scale(x, perm, g, partial):
        """partial[c, π(i) mod b] += x_i g_i over chunk c of i (one row per chunk)."""
        n = x.size
        chunks, b = partial.shape
        mask = b - 1
        step = (n + chunks - 1) // chunks
        for c in numba.prange(chunks):
            for i in range(c * step, min(n, (c + 1) * step)):
                partial[c, perm[i] & mask] += x[i] * g[i]


def _perm_kernels():
    """Parallel numba kernels for the table gather / scatter-add fused with G (CPU), or None."""
    return None if numba is None else (gather_table_scale, scatter_add_table_scale)


def _gather_table_scale(table: torch.Tensor, perm: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """out_i = table[π(i) mod b] · g_i (b = len(table), a power of two): G Π (table tiled)."""
    kernels = _perm_kernels() if table.device.type == "cpu" else None
    if kernels is None:
        return table[(perm & (table.numel() - 1)).long()].mul_(g)
    out = torch.empty_like(g)
    kernels[0](table.numpy(), perm.numpy(), g.numpy(), out.numpy())
    return out


def _scatter_add_table_scale(
    x: torch.Tensor, perm: torch.Tensor, g: torch.Tensor, b: int
) -> torch.Tensor:
    """t_j = Σ_{i: π(i) mod b = j} x_i·g_i: the b-periodic fold of Πᵀ G x."""
    kernels = _perm_kernels() if x.device.type == "cpu" else None
    if kernels is None:
        return x.new_zeros(b).index_add_(0, (perm & (b - 1)).long(), x * g)
    chunks = max(1, min(4 * numba.get_num_threads(), x.numel() // 4096))
    partial = torch.zeros(chunks, b, dtype=x.dtype)
    kernels[1](x.numpy(), perm.numpy(), g.numpy(), partial.numpy())
    return partial.sum(0)


class _LinearMap(torch.autograd.Function):
    """y = P x (``transpose=False``) or y = Pᵀ x, whose backward is the other direction.

    The backward of the forward direction is multiplied by ``proj.grad_scale`` (exact when 1);
    autograd already runs ``forward`` without gradient tracking.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, proj: Projection, transpose: bool) -> torch.Tensor:
        ctx.proj, ctx.transpose = proj, transpose
        return proj._transpose(x) if transpose else proj._forward(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        proj = ctx.proj
        if ctx.transpose:
            return proj._forward(grad), None, None
        g = proj._transpose(grad)
        if proj.grad_scale != 1.0:
            g = g * proj.grad_scale
        return g, None, None


class Projection(nn.Module):
    """Base class: a fixed linear map ℝ^d → ℝ^D held as non-persistent buffers.

    Subclasses implement ``_forward`` (θ ↦ Pθ) and ``_transpose`` (g ↦ Pᵀg) without autograd.
    Buffers are non-persistent: a projection is saved as its constructor arguments (the seed).
    """

    def __init__(self, d: int, D: int, seed: int = 0, grad_scale: float = 1.0) -> None:
        super().__init__()
        if not (isinstance(d, int) and d > 0):
            raise ValueError(f"projection dimension d must be a positive integer, got {d!r}")
        if not (isinstance(D, int) and D > 0):
            raise ValueError(f"projection target size D must be a positive integer, got {D!r}")
        if d > D:
            raise ValueError(
                f"subspace dimension d={d} exceeds the number of projected parameters D={D}; "
                f"choose d <= {D} (a subspace larger than the space itself is full fine-tuning)"
            )
        self.d, self.D, self.seed, self.grad_scale = d, D, int(seed), float(grad_scale)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        """P θ for θ of shape (d,), returning shape (D,); differentiable in θ."""
        if theta.shape != (self.d,):
            raise ValueError(f"expected theta of shape ({self.d},), got {tuple(theta.shape)}")
        return _LinearMap.apply(theta, self, False)

    def T(self, g: torch.Tensor) -> torch.Tensor:
        """Pᵀ g for g of shape (D,), returning shape (d,); differentiable in g."""
        if g.shape != (self.D,):
            raise ValueError(f"expected g of shape ({self.D},), got {tuple(g.shape)}")
        return _LinearMap.apply(g, self, True)

    def materialize(self) -> torch.Tensor:
        """The explicit D×d matrix (for tests and small sizes only)."""
        eye = torch.eye(self.d, dtype=self._dtype(), device=self._device())
        with torch.no_grad():
            return torch.stack([self._forward(eye[j]) for j in range(self.d)], dim=1)

    @property
    def nbytes(self) -> int:
        """Bytes held by the projection's random state."""
        return sum(b.numel() * b.element_size() for b in self.buffers())

    def _dtype(self) -> torch.dtype:
        return next(self.buffers()).dtype if any(True for _ in self.buffers()) else torch.float32

    def _device(self) -> torch.device:
        return next(self.buffers()).device

    def _forward(self, theta: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transpose(self, g: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"d={self.d}, D={self.D}, seed={self.seed}"


class FastfoodProjection(Projection):
    """Fastfood P = c · R_D H G Π H B E_d (see the module docstring for every convention).

    Args:
        d: subspace dimension (input size).
        D: number of target coordinates (output size), d ≤ D; padded internally to
            L = 2^⌈log2 D⌉.
        seed: regenerates B, Π and G (CPU generator, identical on every device).
        device, dtype: where and in which precision the state lives and products are computed.
        grad_scale: multiplier of the backward (1 = exact gradient).
    """

    def __init__(
        self,
        d: int,
        D: int,
        seed: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        grad_scale: float = 1.0,
    ) -> None:
        super().__init__(d, D, seed, grad_scale)
        L = next_power_of_two(D)
        self.L = L
        self.b = next_power_of_two(d)
        #: Use the fused Triton kernels on CUDA (False: the plain torch path, for comparisons).
        self.fused = True
        gen = _generator(seed)
        B = torch.randint(0, 2, (L,), generator=gen).to(dtype).mul_(2).sub_(1)
        perm = torch.randperm(L, generator=gen).to(torch.int32)
        G = torch.randn(L, generator=gen, dtype=torch.float64)
        scale = 1.0 / math.sqrt(D * float(G.square().sum()))
        self.register_buffer("B", B.to(device), persistent=False)
        self.register_buffer("perm", perm.to(device), persistent=False)
        self.register_buffer("G", G.to(dtype).to(device), persistent=False)
        self.scale = scale

    # θ_d is supported on the first b = 2^⌈log2 d⌉ coordinates, and H_L = H_{L/b} ⊗ H_b
    # (Sylvester order, index i·b + j), so H_L·pad(x) is H_b·x tiled L/b times. The first
    # transform of the forward therefore collapses to a length-b FWHT followed by a gather from
    # that tiny table at π(i) mod b; by transposition, the last transform of Pᵀ collapses to a
    # scatter-add into a length-b table followed by a length-b FWHT. Each product thus costs one
    # length-L FWHT and one sequential pass, with all random accesses inside a cache-sized table.

    def _fused(self):
        """The fused Triton kernels module when this projection lives on CUDA, else None."""
        if not getattr(self, "fused", True) or not self.G.is_cuda or self.G.dtype == torch.float64:
            return None
        from idtheory.kernels import triton_fastfood as tf

        return tf if tf.triton_usable(self.G) else None

    def _forward(self, theta: torch.Tensor) -> torch.Tensor:
        tf = self._fused()
        if tf is not None:
            state = tf.MaterializedState(self.B, self.perm, self.G)
            return tf.fastfood_forward_triton(
                theta, state, self.D, self.scale, out_dtype=theta.dtype
            )
        table = theta.new_zeros(self.b, dtype=self.G.dtype)
        table[: self.d] = theta * self.B[: self.d]
        table = fwht(table)
        x = fwht(_gather_table_scale(table, self.perm, self.G))
        return x[: self.D].mul_(self.scale).to(theta.dtype)

    def _transpose(self, g: torch.Tensor) -> torch.Tensor:
        tf = self._fused()
        if tf is not None:
            state = tf.MaterializedState(self.B, self.perm, self.G)
            return tf.fastfood_transpose_triton(g, state, self.d, self.scale, out_dtype=g.dtype)
        x = g.new_zeros(self.L, dtype=self.G.dtype)
        x[: self.D] = g
        table = fwht(_scatter_add_table_scale(fwht(x), self.perm, self.G, self.b))
        return (table[: self.d] * self.B[: self.d]).mul_(self.scale).to(g.dtype)

    def extra_repr(self) -> str:
        return f"d={self.d}, D={self.D}, L={self.L}, seed={self.seed}"


class DenseProjection(Projection):
    """Dense Gaussian P with i.i.d. N(0, 1/D) entries, stored as a D×d matrix."""

    def __init__(
        self,
        d: int,
        D: int,
        seed: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        grad_scale: float = 1.0,
    ) -> None:
        super().__init__(d, D, seed, grad_scale)
        if D * d > DENSE_MAX_ENTRIES:
            raise ValueError(
                f"a dense {D}x{d} projection has {D * d:,} entries (> {DENSE_MAX_ENTRIES:,}); "
                "use projection='fastfood' (or 'sparse') for a model of this size"
            )
        gen = _generator(seed)
        M = torch.randn(D, d, generator=gen, dtype=torch.float64) / math.sqrt(D)
        self.register_buffer("matrix", M.to(dtype).to(device), persistent=False)

    def _forward(self, theta: torch.Tensor) -> torch.Tensor:
        return (self.matrix @ theta.to(self.matrix.dtype)).to(theta.dtype)

    def _transpose(self, g: torch.Tensor) -> torch.Tensor:
        return (self.matrix.T @ g.to(self.matrix.dtype)).to(g.dtype)


class SparseProjection(Projection):
    """Very sparse random P: each column has nnz = ⌈√D⌉ entries ±1/√nnz at distinct random rows."""

    def __init__(
        self,
        d: int,
        D: int,
        seed: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        grad_scale: float = 1.0,
    ) -> None:
        super().__init__(d, D, seed, grad_scale)
        gen = _generator(seed)
        nnz = min(D, math.ceil(math.sqrt(D)))
        # Distinct rows per column: the first nnz entries of a random key ordering, drawn per
        # column in chunks to keep memory at O(chunk · D).
        rows = []
        chunk = max(1, (1 << 24) // D)
        for start in range(0, d, chunk):
            k = min(chunk, d - start)
            keys = torch.rand(k, D, generator=gen)
            rows.append(keys.topk(nnz, dim=1).indices)
        row = torch.cat(rows).reshape(-1)
        col = torch.arange(d).repeat_interleave(nnz)
        sign = torch.randint(0, 2, (d * nnz,), generator=gen).to(dtype).mul_(2).sub_(1)
        values = sign / math.sqrt(nnz)
        self.nnz_per_column = nnz
        self.register_buffer("rows", row.to(device), persistent=False)
        self.register_buffer("cols", col.to(device), persistent=False)
        self.register_buffer("values", values.to(device), persistent=False)

    def _dtype(self) -> torch.dtype:
        return self.values.dtype

    def _forward(self, theta: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.D, dtype=self.values.dtype, device=theta.device)
        out.index_add_(0, self.rows, self.values * theta.to(self.values.dtype)[self.cols])
        return out.to(theta.dtype)

    def _transpose(self, g: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.d, dtype=self.values.dtype, device=g.device)
        out.index_add_(0, self.cols, self.values * g.to(self.values.dtype)[self.rows])
        return out.to(g.dtype)


_KINDS: dict[str, type[Projection]] = {
    "fastfood": FastfoodProjection,
    "dense": DenseProjection,
    "sparse": SparseProjection,
}


def make_projection(kind: str, d: int, D: int, seed: int = 0, **kwargs) -> Projection:
    """Construct a projection by name: ``"fastfood"``, ``"dense"`` or ``"sparse"``."""
    if kind == "fastfood_hashed":  # lazy: the kernels module imports this one
        from idtheory.kernels.triton_fastfood import HashedFastfoodProjection

        return HashedFastfoodProjection(d, D, seed, **kwargs)
    try:
        cls = _KINDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown projection {kind!r}; choose one of {[*sorted(_KINDS), 'fastfood_hashed']}"
        ) from None
    return cls(d, D, seed, **kwargs)
