"""Dense Gaussian projection: i.i.d. N(0, 1/D) entries (columns of norm ≈ 1), D·d stored values."""

from __future__ import annotations

import math

import torch

from idtheory.projections.base import Projection, cpu_generator

__all__ = ["DENSE_MAX_ENTRIES", "DenseProjection"]

#: Largest D·d that DenseProjection will store (2^28 values = 1 GiB in fp32).
DENSE_MAX_ENTRIES = 1 << 28


class DenseProjection(Projection):
    """Dense Gaussian P with i.i.d. N(0, 1/D) entries, stored as a D×d matrix.

    Raises ``ValueError`` above :data:`DENSE_MAX_ENTRIES` entries.
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
        if D * d > DENSE_MAX_ENTRIES:
            raise ValueError(
                f"a dense {D}x{d} projection has {D * d:,} entries (> {DENSE_MAX_ENTRIES:,}); "
                "use projection='fastfood' (or 'sparse') for a model of this size"
            )
        gen = cpu_generator(seed)
        M = torch.randn(D, d, generator=gen, dtype=torch.float64) / math.sqrt(D)
        self.register_buffer("matrix", M.to(dtype).to(device), persistent=False)

    def _forward(self, theta: torch.Tensor) -> torch.Tensor:
        return (self.matrix @ theta.to(self.matrix.dtype)).to(theta.dtype)

    def _transpose(self, g: torch.Tensor) -> torch.Tensor:
        return (self.matrix.T @ g.to(self.matrix.dtype)).to(g.dtype)
