"""The interface every projection implements: a fixed linear map P: ℝ^d → ℝ^D.

A subclass implements ``_forward`` (θ ↦ Pθ) and ``_transpose`` (g ↦ Pᵀg) without autograd;
:class:`Projection` makes both differentiable (the backward of one is the other), checks
shapes, and gives ``materialize`` and ``nbytes``. Two class methods carry the rules that
:mod:`idtheory.subspace` applies per projection kind, so the wrapper never asks which kind it
holds:

* :meth:`Projection.authors_grad_scale` — the backward multiplier that reproduces the released
  code's gradient (``SubspaceConfig.grad_scale='authors'``); 1 unless a kind overrides it;
* :meth:`Projection.per_tensor_sizes` — (d_i, D_i) of the projection onto one tensor in the
  ``per_tensor`` layout.

All random state is drawn on the CPU from ``seed`` with a private ``torch.Generator``
(:func:`cpu_generator`) and then moved to the target device, so the same seed gives the same P
on every device and a checkpoint needs only the seed.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Projection", "cpu_generator"]


def cpu_generator(seed: int) -> torch.Generator:
    """A fresh CPU ``torch.Generator`` seeded with ``seed`` (the global RNG is untouched)."""
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    return g


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

    Subclasses implement ``_forward`` (θ ↦ Pθ) and ``_transpose`` (g ↦ Pᵀg) without autograd
    and take the constructor arguments ``(d, D, seed, device=, dtype=, grad_scale=)``.
    Buffers are non-persistent: a projection is saved as its constructor arguments (the seed).

    Args:
        d: subspace dimension (input size), 1 ≤ d ≤ D.
        D: number of target coordinates (output size).
        seed: determines the random map.
        grad_scale: multiplier of the backward of ``P(θ)`` (1 = the exact gradient).
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

    # ------------------------------------------------------------------ rules for the wrapper

    @classmethod
    def authors_grad_scale(cls, D: int) -> float:
        """Backward multiplier reproducing the released code's gradient for a map onto D
        coordinates (``grad_scale='authors'``). 1: only Fastfood kinds mis-scaled it."""
        return 1.0

    @classmethod
    def per_tensor_sizes(cls, d: int, numel: int) -> tuple[int, int]:
        """(d_i, D_i) of the projection onto one tensor of ``numel`` entries, fed θ_d[:d_i]
        (``layout='per_tensor'``); the wrapper keeps the first ``numel`` outputs.

        Default: d_i = min(d, numel), D_i = numel (a map never has more inputs than outputs).
        """
        return min(d, numel), numel

    # ------------------------------------------------------------------ products

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
