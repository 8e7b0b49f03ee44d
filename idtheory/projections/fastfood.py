"""Fastfood projections: the shared structure (:class:`FastfoodBase`) and the stored-state kind.

:class:`FastfoodProjection` is the structured transform of Le, Sarlós & Smola (2013) as used by
Li et al. (2018) and Aghajanyan et al. (2021)::

    P θ = c · R_D · H G Π H B · E_d θ,        c = 1 / sqrt(D · Σ_j G_j²)

with L = 2^⌈log2 max(D, d)⌉, E_d the zero-padding ℝ^d → ℝ^L, B = diag(±1), H the unnormalized
L×L Walsh–Hadamard matrix, Π a permutation ((Πx)_i = x_{π(i)}), G = diag(N(0, 1)), and R_D
keeping the first D coordinates. Each full column of H G Π H B has squared norm L·ΣG², so
after keeping D of L rows every column of P has squared norm ≈ 1 (exactly 1 when D = L).
This is the normalisation of Li et al.'s and the authors' code (``paper.md`` §2.3).
Memory: B and G in the compute dtype and π as int32 — 12·L bytes for fp32 (1.5 GiB at
L = 2^27). Cost per product: one FWHT of length L, one of length b = 2^⌈log2 d⌉ and one
sequential pass.

How a product is computed (both Fastfood kinds): θ_d is supported on the first b coordinates,
and H_L = H_{L/b} ⊗ H_b (Sylvester order, index i·b + j), so H_L·pad(x) is H_b·x tiled L/b
times. The first transform of the forward therefore collapses to a length-b FWHT followed by a
gather from that tiny table at π(i) mod b; by transposition, the last transform of Pᵀ
collapses to a scatter-add into a length-b table followed by a length-b FWHT. The gather and
scatter are :mod:`idtheory.kernels.fastfood_cpu` (on the CPU the gather runs inside the FWHT's
first pass, ``cpu_fused``); on CUDA (or on the CPU under
``TRITON_INTERPRET=1``) the whole product instead runs the fused kernels of
:mod:`idtheory.kernels.triton_fastfood` (``backend``).
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from idtheory.hadamard import fwht, next_power_of_two
from idtheory.kernels.fastfood_cpu import (
    fused_fwht_usable,
    fwht_pad_scale,
    gather_fwht_scale,
    gather_table_scale,
    scatter_add_table_scale,
)
from idtheory.kernels.memory import ReusableBuffer
from idtheory.projections.base import Projection, cpu_generator

__all__ = ["BACKENDS", "FastfoodBase", "FastfoodProjection"]

#: Values of a Fastfood projection's ``backend``.
BACKENDS: tuple[str, ...] = ("auto", "torch", "triton")


def _triton_kernels() -> Any:
    """The fused kernels module (imports Triton if installed; launches nothing)."""
    from idtheory.kernels import triton_fastfood

    return triton_fastfood


class FastfoodBase(Projection):
    """P = c · R_D H_L G Π H_L B E_d, whatever holds B, Π and G (see the module docstring).

    Subclasses set ``self.scale`` (c) and provide the random state through three hooks:
    :meth:`_signs` (B_0 … B_{d−1}), :meth:`_tables` (π or σ = π mod b, and G, for all L
    coordinates) and :meth:`_kernel_state` (what the fused kernels read).

    Args:
        d, D, seed, grad_scale: as for :class:`~idtheory.projections.base.Projection`.
        backend: ``"auto"`` (the fused Triton kernels when the input is a CUDA tensor — or a CPU
            tensor under ``TRITON_INTERPRET=1`` — and neither it nor the state is float64;
            else torch), ``"torch"`` (always the torch path) or ``"triton"`` (always the fused
            kernels; an input they cannot take raises ``ValueError``).
        knobs: launch knobs of the fused kernels (``block``, ``tile``, ``num_warps``,
            ``copies``, ``local_bins_max``; see
            :func:`idtheory.kernels.triton_fastfood.fastfood_transpose_triton`). They change
            speed only, never P.

    Attribute ``cpu_fused`` (default True): on the CPU torch path, fuse the gather and the
    final scale into the forward's FWHT and the zero padding into the transpose's
    (:func:`~idtheory.kernels.fastfood_cpu.gather_fwht_scale`,
    :func:`~idtheory.kernels.fastfood_cpu.fwht_pad_scale`): two to three fewer passes over L
    floats, the same bits. False runs the separate passes, as the stored runs did.

    Attribute ``reuse_buffers`` (default True): the fused CPU passes write their L-sized
    outputs into buffers this projection keeps (:class:`~idtheory.kernels.memory.ReusableBuffer`)
    and hands out again once nothing holds the previous output — in a training loop, every
    step — instead of faulting in 4·L fresh bytes per product. It keeps up to 8·L bytes (fp32)
    between steps, memory a step allocates anyway; False allocates per product.
    """

    def __init__(
        self,
        d: int,
        D: int,
        seed: int = 0,
        grad_scale: float = 1.0,
        backend: str = "auto",
        **knobs: Any,
    ) -> None:
        super().__init__(d, D, seed, grad_scale)
        self.L = next_power_of_two(D)
        self.b = next_power_of_two(d)
        self.backend = backend
        self.knobs = knobs
        self.cpu_fused = True
        self.reuse_buffers = True
        self._forward_out = ReusableBuffer()
        self._transpose_pad = ReusableBuffer()

    # ------------------------------------------------------------------ rules for the wrapper

    @classmethod
    def authors_grad_scale(cls, D: int) -> float:
        """1/L with L = 2^⌈log2 D⌉: the released code's backward scaled each of a product's
        two FWHTs by 1/√L."""
        return 1.0 / next_power_of_two(D)

    @classmethod
    def per_tensor_sizes(cls, d: int, numel: int) -> tuple[int, int]:
        """A Fastfood onto ``numel`` entries pads to L = 2^⌈log2 numel⌉ and, as in the
        authors' code, reads θ_d[:L]: d_i = min(d, L), D_i = max(numel, d_i) ≤ L."""
        d_i = min(d, next_power_of_two(numel))
        return d_i, max(numel, d_i)

    # ------------------------------------------------------------------ settings

    @property
    def backend(self) -> str:
        """``"auto"``, ``"torch"`` or ``"triton"`` (settable; see the class docstring)."""
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {value!r}")
        if value == "triton" and not _triton_kernels().HAS_TRITON:
            raise RuntimeError("backend='triton' needs the `triton` package")
        self._backend = value

    @property
    def knobs(self) -> dict[str, Any]:
        """Launch knobs of the fused kernels (settable; unknown names raise ``TypeError``)."""
        return self._knobs

    @knobs.setter
    def knobs(self, value: dict[str, Any]) -> None:
        self._knobs = _triton_kernels().check_knobs(value) if value else {}

    # ------------------------------------------------------------------ random state (hooks)

    def _signs(self, device: torch.device) -> torch.Tensor:  # pragma: no cover - abstract
        """B_0 … B_{d−1} in the compute dtype on ``device``."""
        raise NotImplementedError

    def _tables(
        self, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        """(π or σ as int32, G in ``dtype``) for all L coordinates, on ``device``."""
        raise NotImplementedError

    def _kernel_state(self) -> Any:  # pragma: no cover - abstract
        """A ``MaterializedState`` or ``HashKeys`` of :mod:`idtheory.kernels.triton_fastfood`."""
        raise NotImplementedError

    # ------------------------------------------------------------------ products

    def _use_triton(self, x: torch.Tensor) -> bool:
        """Whether the product of ``x`` runs the fused kernels (raises for an impossible
        ``backend='triton'``)."""
        if self.backend == "torch":
            return False
        if self.backend == "auto" and not x.is_cuda and not os.environ.get("TRITON_INTERPRET"):
            return False  # decided without importing Triton
        ok = _triton_kernels().triton_usable(x) and self._dtype() != torch.float64
        if self.backend == "triton" and not ok:
            raise ValueError(
                "backend='triton' needs a CUDA tensor (or TRITON_INTERPRET=1) of dtype "
                f"float32/float16/bfloat16, got {x.device} {x.dtype} (compute {self._dtype()})"
            )
        return ok

    def _cpu_fused(self, x: torch.Tensor) -> bool:
        """Whether the torch path runs the fused numba passes on ``x`` (see ``cpu_fused``)."""
        return self.cpu_fused and self.L >= 16 and fused_fwht_usable(x)

    def _forward(self, theta: torch.Tensor) -> torch.Tensor:
        if self._use_triton(theta):
            tf = _triton_kernels()
            knobs = {k: v for k, v in self.knobs.items() if k in tf.FORWARD_KNOBS}
            return tf.fastfood_forward_triton(
                theta, self._kernel_state(), self.D, self.scale, out_dtype=theta.dtype, **knobs
            )
        dtype = self._dtype()
        table = theta.new_zeros(self.b, dtype=dtype)
        table[: self.d] = theta * self._signs(theta.device)
        perm, gain = self._tables(theta.device, dtype)
        if self._cpu_fused(table):
            out = self._forward_out.take(self.L, dtype) if self.reuse_buffers else None
            x = gather_fwht_scale(fwht(table), perm, gain, self.scale, out)
            return x[: self.D].to(theta.dtype)
        x = fwht(gather_table_scale(fwht(table), perm, gain))
        return x[: self.D].mul_(self.scale).to(theta.dtype)

    def _transpose(self, g: torch.Tensor) -> torch.Tensor:
        if self._use_triton(g):
            return _triton_kernels().fastfood_transpose_triton(
                g, self._kernel_state(), self.d, self.scale, out_dtype=g.dtype, **self.knobs
            )
        dtype = self._dtype()
        perm, gain = self._tables(g.device, dtype)
        if self._cpu_fused(gain):
            out = self._transpose_pad.take(self.L, dtype) if self.reuse_buffers else None
            x = fwht_pad_scale(g.to(dtype), self.L, out=out)
        else:
            x = g.new_zeros(self.L, dtype=dtype)
            x[: self.D] = g
            x = fwht(x)
        table = fwht(scatter_add_table_scale(x, perm, gain, self.b))
        return (table[: self.d] * self._signs(g.device)).mul_(self.scale).to(g.dtype)

    def extra_repr(self) -> str:
        return f"d={self.d}, D={self.D}, L={self.L}, seed={self.seed}, backend={self.backend}"


class FastfoodProjection(FastfoodBase):
    """Fastfood with B, Π, G drawn from a CPU ``torch.Generator`` and stored (12·L bytes fp32).

    Args:
        d: subspace dimension (input size).
        D: number of target coordinates (output size), d ≤ D; padded internally to
            L = 2^⌈log2 D⌉.
        seed: regenerates B, Π and G (CPU generator, identical on every device).
        device, dtype: where and in which precision the state lives and products are computed.
        grad_scale: multiplier of the backward (1 = exact gradient).
        backend, knobs: how products run (see :class:`FastfoodBase`); never change P.
    """

    def __init__(
        self,
        d: int,
        D: int,
        seed: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        grad_scale: float = 1.0,
        backend: str = "auto",
        **knobs: Any,
    ) -> None:
        super().__init__(d, D, seed, grad_scale, backend, **knobs)
        L = self.L
        gen = cpu_generator(seed)
        B = torch.randint(0, 2, (L,), generator=gen).to(dtype).mul_(2).sub_(1)
        perm = torch.randperm(L, generator=gen).to(torch.int32)
        G = torch.randn(L, generator=gen, dtype=torch.float64)
        self.scale = 1.0 / math.sqrt(D * float(G.square().sum()))
        self.register_buffer("B", B.to(device), persistent=False)
        self.register_buffer("perm", perm.to(device), persistent=False)
        self.register_buffer("G", G.to(dtype).to(device), persistent=False)

    def _signs(self, device: torch.device) -> torch.Tensor:
        return self.B[: self.d]

    def _tables(
        self, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.perm, self.G

    def _kernel_state(self) -> Any:
        return _triton_kernels().MaterializedState(self.B, self.perm, self.G)
