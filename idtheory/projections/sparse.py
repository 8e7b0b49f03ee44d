"""Very sparse random projection (Li, Hastie & Church 2006) as in Li et al. (2018).

Each column has nnz = ⌈√D⌉ non-zeros at distinct random rows with values ±1/√nnz (unit norm).
"""

from __future__ import annotations

import math

import torch

from idtheory.projections.base import Projection, cpu_generator

__all__ = ["SparseProjection"]


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
        gen = cpu_generator(seed)
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
