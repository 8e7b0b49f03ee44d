"""Reused CPU buffers for the Fastfood products' L-sized outputs.

A fresh CPU tensor of L floats is backed by pages the kernel faults in and zeroes on first
touch. With 4 KiB pages that costs more than the pass that fills it: at L = 2^27 (512 MiB)
``x.clone()`` took 5–6 times a copy into a held buffer on the 2-core development CPU
(``python -m idtheory.bench fastfood``). Huge pages were measured too and rejected: numpy's
allocations (advised ``MADV_HUGEPAGE``) made one product 0.5 s or 1.9 s by turns on that virtual
machine, where freed 2 MiB pages go back to the host and fault in again there.

:class:`ReusableBuffer` avoids the allocation where a product's output is usually dropped before
the next product (the Fastfood transpose's padded vector, the forward's output once autograd
has used it): it hands its buffer out again only when nothing else holds it. Reuse changes no
bit of any result.

This module imports nothing from the rest of :mod:`idtheory`.
"""

from __future__ import annotations

import torch

__all__ = ["ReusableBuffer"]


def _storage_users(t: torch.Tensor) -> int:
    """References to ``t``'s storage (tensors, views, numpy arrays, autograd's saved tensors)."""
    return torch._C._storage_Use_Count(t.untyped_storage()._cdata) - 1  # minus the temporary


class ReusableBuffer:
    """A 1-D CPU buffer handed out again once nothing but this object holds its storage.

    :meth:`take` returns a view of the held buffer when no tensor, view, numpy array or saved
    autograd tensor still shares its storage, else a fresh ``torch.empty`` (which it then
    holds). So an output that is still in use is never overwritten, and a training loop, whose
    backward releases the previous output, writes into the same memory every step instead of
    faulting in fresh pages. It holds one buffer between calls (not copied by
    ``copy.deepcopy`` or pickled).
    """

    def __init__(self) -> None:
        self._buffer: torch.Tensor | None = None

    def take(self, n: int, dtype: torch.dtype) -> torch.Tensor:
        """An uninitialized contiguous CPU tensor of ``n`` elements of ``dtype``."""
        buf = self._buffer
        if buf is None or buf.numel() != n or buf.dtype != dtype or _storage_users(buf) > 1:
            buf = self._buffer = torch.empty(n, dtype=dtype)
        return buf.view(-1)  # a new tensor on the storage: counted while the caller holds it

    def __deepcopy__(self, memo: dict) -> ReusableBuffer:
        return ReusableBuffer()

    def __getstate__(self) -> dict:
        return {"_buffer": None}
