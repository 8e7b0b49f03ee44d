"""Scalar quantization of a subspace vector θ_d: the quantizers (numpy) and the straight-through
hook that lets training see the quantized model (torch, imported lazily).

* :func:`quantize_uniform`, :func:`quantize_kmeans` — L levels by uniform bins (Lotfi et al.
  2022) or 1-d k-means; :func:`kmeans_float16` — the certificate protocol's quantizer: k-means,
  codebook rounded to float16, assignments kept.
* :class:`StraightThrough` — quantization-aware training by a straight-through estimator
  (Bengio et al. 2013): the forward and backward run with θ_d replaced by
  :func:`kmeans_float16` of it (λ rounded to float16), and the gradient computed there is applied
  unchanged to the float θ_d the optimizer holds. :func:`idtheory.train.finetune` uses it when
  ``TrainConfig.quantize_levels`` is set.

This module sits below :mod:`idtheory.train`, :mod:`idtheory.subspace` and
:mod:`idtheory.compress` (which re-exports the quantizers) and imports none of them. Values are
float64 numpy arrays unless stated; ``levels`` is the codebook size L.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "STE_KMEANS_SEED",
    "Quantized",
    "StraightThrough",
    "kmeans_float16",
    "quantize_kmeans",
    "quantize_uniform",
    "round_float16",
]

#: Seed of the straight-through k-means (the protocol's ``kmeans_seed``).
STE_KMEANS_SEED = 0


@dataclass(frozen=True, eq=False)
class Quantized:
    """A vector quantized to ``levels`` levels.

    Attributes:
        codebook: float64 array of shape (levels,), the centroid values (ascending).
        symbols: int64 array with the input's shape; entry i is the codebook index of w_i.
        levels: L, the codebook size (some levels may be unused).
        method: ``"uniform"`` or ``"kmeans"``.
    """

    codebook: NDArray[np.float64]
    symbols: NDArray[np.int64]
    levels: int
    method: str

    @property
    def d(self) -> int:
        """Number of quantized numbers."""
        return int(self.symbols.size)

    def values(self) -> NDArray[np.float64]:
        """The reconstructed (dequantized) vector ``codebook[symbols]``, in the input's shape."""
        return self.codebook[self.symbols]

    def with_float16_codebook(self) -> Quantized:
        """The same assignments with the codebook rounded to float16 (what a message stores
        and its 16 bits per centroid describe)."""
        return Quantized(round_float16(self.codebook), self.symbols, self.levels, self.method)


def _as_numpy(w: Any) -> NDArray[np.float64]:
    """float64 copy of an array-like or a torch tensor (no torch import)."""
    if hasattr(w, "detach") and hasattr(w, "cpu"):
        w = np.asarray(w.detach().cpu().double())
    a = np.asarray(w, dtype=np.float64)
    if a.size == 0:
        raise ValueError("cannot quantize an empty vector")
    if not np.isfinite(a).all():
        raise ValueError("w must be finite (got NaN or inf)")
    return a


def _check_levels(levels: int) -> int:
    if int(levels) != levels or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    return int(levels)


def _centroids(
    x: NDArray[np.float64], sym: NDArray[np.int64], fallback: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Mean of each cluster; ``fallback`` for empty clusters. Returns (centroids, counts)."""
    n = fallback.size
    counts = np.bincount(sym, minlength=n)
    sums = np.bincount(sym, weights=x, minlength=n)
    return np.where(counts > 0, sums / np.maximum(counts, 1), fallback), counts


def _nearest(x: NDArray[np.float64], sorted_centers: NDArray[np.float64]) -> NDArray[np.int64]:
    """Index of the nearest of the (ascending) centers for each x (1-d Voronoi cells)."""
    mids = 0.5 * (sorted_centers[1:] + sorted_centers[:-1])
    return np.searchsorted(mids, x).astype(np.int64)


def quantize_uniform(w: ArrayLike, levels: int) -> Quantized:
    """Uniform-bin quantization (Lotfi et al. 2022): L equal bins on [−max|w|, max|w|] (edges
    widened by 1e-6); each centroid is the mean of the values in its bin (the bin centre when
    the bin is empty)."""
    a, n = _as_numpy(w), _check_levels(levels)
    x = a.ravel()
    r = float(np.max(np.abs(x)))
    edges = np.linspace(-r - 1e-6, r + 1e-6, n + 1)
    sym = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n - 1).astype(np.int64)
    codebook, _ = _centroids(x, sym, 0.5 * (edges[1:] + edges[:-1]))
    return Quantized(codebook, sym.reshape(a.shape), n, "uniform")


def _lloyd(
    x: NDArray[np.float64], centers: NDArray[np.float64], iters: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], float]:
    """Lloyd iterations from ``centers``; returns (sorted centers, sum of squared errors)."""
    uniq = np.unique(x)
    for _ in range(iters):
        centers = np.sort(centers)
        new, counts = _centroids(x, _nearest(x, centers), centers)
        empty = counts == 0
        if empty.any():
            new[empty] = rng.choice(uniq, size=int(empty.sum()), replace=False)
        moved = np.max(np.abs(new - centers))
        centers = new
        if moved <= 1e-12 * (1.0 + np.max(np.abs(centers))):
            break
    centers = np.sort(centers)
    return centers, float(np.sum((x - centers[_nearest(x, centers)]) ** 2))


def _kmeans_pp(x: NDArray[np.float64], n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """k-means++ seeding (Arthur & Vassilvitskii 2007) on 1-d data."""
    centers = [x[rng.integers(x.size)]]
    d2 = (x - centers[0]) ** 2
    for _ in range(1, n):
        tot = d2.sum()
        nxt = x[rng.choice(x.size, p=d2 / tot)] if tot > 0 else x[rng.integers(x.size)]
        centers.append(nxt)
        d2 = np.minimum(d2, (x - nxt) ** 2)
    return np.asarray(centers)


def quantize_kmeans(w: ArrayLike, levels: int, seed: int = 0, iters: int = 100) -> Quantized:
    """1-d k-means (Lloyd) quantization to L levels, minimizing the squared reconstruction error.

    Lloyd is run (at most ``iters`` steps each) from three initializations — the centroids of
    :func:`quantize_uniform` (so the result is never worse than uniform quantization), the
    (i + ½)/L quantiles, and k-means++ seeding drawn with ``seed`` — and the lowest-error
    codebook is kept; ``seed`` also drives the re-seeding of clusters that become empty. If w
    has at most L distinct values they become the codebook (padded by repeating the largest)
    and the quantization is exact.
    """
    a, n = _as_numpy(w), _check_levels(levels)
    x = a.ravel()
    uniq = np.unique(x)
    if uniq.size <= n:
        codebook = np.concatenate([uniq, np.full(n - uniq.size, uniq[-1])])
        sym = np.searchsorted(uniq, x).astype(np.int64)
        return Quantized(codebook, sym.reshape(a.shape), n, "kmeans")
    rng = np.random.default_rng(seed)
    inits = [
        quantize_uniform(x, n).codebook,
        np.quantile(x, (np.arange(n) + 0.5) / n),
        _kmeans_pp(x, n, rng),
    ]
    centers, _ = min((_lloyd(x, c, iters, rng) for c in inits), key=lambda r: r[1])
    return Quantized(centers, _nearest(x, centers).reshape(a.shape), n, "kmeans")


def round_float16(a: ArrayLike) -> NDArray[np.float64]:
    """``a`` rounded to the nearest float16 (round-to-nearest-even), returned as float64."""
    return np.asarray(a, dtype=np.float64).astype(np.float16).astype(np.float64)


def kmeans_float16(w: ArrayLike, levels: int, seed: int = STE_KMEANS_SEED) -> Quantized:
    """The certificate protocol's quantizer: :func:`quantize_kmeans` with ``seed``, then the
    codebook rounded to float16 (what the message stores); the assignments are kept."""
    return quantize_kmeans(w, levels, seed=seed).with_float16_codebook()


class StraightThrough:
    """Straight-through quantization of a subspace model's θ_d (and λ) during training.

    ``model`` has a trainable ``theta`` (θ_d) and ``lambdas`` (SAID's λ, or None), as
    :class:`idtheory.subspace.SubspaceModel`. Inside :meth:`swapped`, θ_d holds
    :meth:`quantized` (the :func:`kmeans_float16` of the float θ_d, refit at every call) and λ
    holds its float16 rounding; on exit the float values come
    back while the gradients computed inside stay in ``.grad``: the optimizer then updates the
    float values with the gradient taken at the quantized point (the identity straight-through
    estimator of the rounding). :meth:`finalize` makes the quantization permanent, so that the
    model saved afterwards *is* the quantized model (θ_d with at most L distinct float16
    values): :func:`kmeans_float16` of it returns the same values and assignments.

    Why the codebook is refit at every step rather than every N or learned: at the protocol's
    subspace learning rates (0.1, 0.3) Adam moves each θ_d entry by up to about lr per step,
    comparable to the spacing of 8–32 centroids over θ_d's range, so a codebook kept for N > 1
    steps goes stale (entries drift past the outer centroids and snap onto them). A refit costs
    about 5–10 ms of CPU for d = 2000 (three Lloyd runs), and it makes the quantized θ_d a
    function of the float θ_d alone: a checkpoint of the float θ_d fixes the quantized model
    exactly, with no codebook state to carry.
    """

    def __init__(self, model: Any, levels: int) -> None:
        if getattr(model, "theta", None) is None:
            raise ValueError(
                "quantization-aware training needs a subspace model (θ_d): set "
                "TrainConfig.quantize_levels only for SAID/DID runs"
            )
        if int(levels) != levels or levels < 2:
            raise ValueError(f"quantize_levels must be an integer >= 2, got {levels!r}")
        self.model = model
        self.levels = int(levels)

    def quantized(self) -> tuple[Any, Any]:
        """(Q(θ_d), fp16(λ) or None) as tensors of θ_d's dtype and device (no gradient)."""
        import torch

        theta = self.model.theta.detach()
        q = kmeans_float16(theta.double().cpu().numpy(), self.levels)
        q_theta = torch.from_numpy(q.values()).to(dtype=theta.dtype, device=theta.device)
        lambdas = self.model.lambdas
        q_lambdas = None if lambdas is None else lambdas.detach().half().to(lambdas.dtype)
        return q_theta, q_lambdas

    def _set(self, theta: Any, lambdas: Any) -> None:
        import torch

        with torch.no_grad():
            self.model.theta.copy_(theta)
            if lambdas is not None:
                self.model.lambdas.copy_(lambdas)

    @contextmanager
    def swapped(self) -> Iterator[None]:
        """Within the block the model is quantized; the float θ_d and λ are restored on exit
        (gradients accumulated inside are kept)."""
        lambdas = self.model.lambdas
        saved = (
            self.model.theta.detach().clone(),
            None if lambdas is None else lambdas.detach().clone(),
        )
        self._set(*self.quantized())
        try:
            yield
        finally:
            self._set(*saved)

    def finalize(self) -> None:
        """Replace the float θ_d and λ by their quantized values, for good."""
        self._set(*self.quantized())
