"""Hashed Fastfood: B, G and Π are hashes of (seed, index), so the projection stores O(1) state.

Same conventions and normalisation as :class:`~idtheory.projections.fastfood.FastfoodProjection`
(P = c · R_D H_L G Π H_L B E_d, c = 1/sqrt(D ΣG²), unit column norms when D = L), but a
different seed-determined P: the hashes (a 32-bit mixer, Box–Muller, a 3-round Feistel
permutation) are defined, with their torch references, in :mod:`idtheory.kernels.triton_fastfood`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from idtheory.kernels.triton_fastfood import (
    feistel_permute,
    hash_keys,
    hashed_gaussian,
    hashed_sigma,
    hashed_sign,
)
from idtheory.projections.fastfood import FastfoodBase

__all__ = ["HashedFastfoodProjection"]


class HashedFastfoodProjection(FastfoodBase):
    """Fastfood whose B, G, Π are hashes of (seed, index): O(1) stored state.

    Args:
        d, D: subspace dimension and number of projected parameters (d ≤ D).
        seed: determines the hashes (any Python int).
        device, dtype: where products are computed by default and the compute dtype of the
            torch path (the Triton path computes in fp32 for fp32/half dtypes).
        grad_scale: multiplier of the backward (1 = exact gradient).
        backend, knobs: how products run (see :class:`~idtheory.projections.fastfood.FastfoodBase`).
        cache: keep σ and G as tensors after their first torch-path use (8·L bytes per
            device; much faster on the CPU). The Triton path never stores them.

    ``c`` is computed once at construction from ΣG² (float64, on ``device``, in chunks).
    """

    _CHUNK = 1 << 22

    def __init__(
        self,
        d: int,
        D: int,
        seed: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        grad_scale: float = 1.0,
        backend: str = "auto",
        cache: bool = True,
        **knobs: Any,
    ) -> None:
        super().__init__(d, D, seed, grad_scale, backend, **knobs)
        self.keys = hash_keys(self.seed, self.L.bit_length() - 1)
        self.cache = bool(cache)
        # a zero-size buffer carries device and dtype through .to() / .cuda()
        self.register_buffer("_anchor", torch.empty(0, dtype=dtype, device=device), False)
        self.scale = 1.0 / math.sqrt(D * self._sum_g2(self._anchor.device))
        self._cached: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _sum_g2(self, device: torch.device) -> float:
        total = 0.0
        for start in range(0, self.L, self._CHUNK):
            idx = torch.arange(start, min(self.L, start + self._CHUNK), device=device)
            total += float(hashed_gaussian(idx, self.keys).square().sum())
        return total

    def signs(self, n: int | None = None, device: torch.device | None = None) -> torch.Tensor:
        """B_0 … B_{n−1} (default n = d) in the compute dtype."""
        n = self.d if n is None else n
        return hashed_sign(n, self.keys).to(device or self._device(), self._dtype())

    def tables(
        self, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(σ, G) for all L coordinates: σ(i) = π(i) mod b (int32) and G_i (``dtype``)."""
        device = torch.device(device) if device is not None else self._device()
        dtype = dtype or self._dtype()
        key = (str(device), dtype, self.b)
        if key in self._cached:
            return self._cached[key]
        sigma = torch.empty(self.L, dtype=torch.int32, device=device)
        gain = torch.empty(self.L, dtype=dtype, device=device)
        for start in range(0, self.L, self._CHUNK):
            idx = torch.arange(start, min(self.L, start + self._CHUNK), device=device)
            sigma[start : start + idx.numel()] = hashed_sigma(idx, self.keys, self.b).to(
                torch.int32
            )
            gain[start : start + idx.numel()] = hashed_gaussian(idx, self.keys).to(dtype)
        if self.cache:
            self._cached[key] = (sigma, gain)
        return sigma, gain

    def permutation(self) -> torch.Tensor:
        """The full permutation π (int64, length L) — for tests and inspection."""
        return feistel_permute(self.L, self.keys).to(self._device())

    def _signs(self, device: torch.device) -> torch.Tensor:
        return self.signs(device=device)

    def _tables(
        self, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tables(device, dtype)

    def _kernel_state(self) -> Any:
        return self.keys
