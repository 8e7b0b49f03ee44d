"""Random linear maps P: ℝ^d → ℝ^D for subspace training θ = θ₀ + P·θ_d, and their registry.

:data:`REGISTRY` maps each ``SubspaceConfig.projection`` name to the class that implements it,
as a ``"module:Class"`` path. It is the one list of projection kinds: the config validates
against it, the CLI offers its names, and :mod:`idtheory.subspace` builds through
:func:`make_projection`. This module imports neither torch nor any projection (the config stays
torch-free); a class is imported the first time it is asked for.

=====================  ============================================  ============================
name                   class (module)                                random state
=====================  ============================================  ============================
``fastfood``           ``FastfoodProjection`` (``fastfood``)         B, Π, G drawn and stored
``fastfood_hashed``    ``HashedFastfoodProjection`` (``hashed``)     B, Π, G hashed from the seed
``dense``              ``DenseProjection`` (``dense``)               D×d Gaussian matrix
``sparse``             ``SparseProjection`` (``sparse``)             ⌈√D⌉ ±1 entries per column
=====================  ============================================  ============================

Every class shares the interface of :class:`~idtheory.projections.base.Projection`
(``P(theta_d)``, ``P.T(g)``, ``P.materialize()``, ``P.nbytes``) and the constructor
``cls(d, D, seed, device=, dtype=, grad_scale=)``. All random state is generated on the CPU
from ``seed`` with a private ``torch.Generator`` (or hashed from it) and then moved to the
target device, so the same seed gives the same P on every device and a checkpoint needs only
the seed. To add a projection, see ``docs/architecture.md`` (section *Projections*).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the lazily loaded names, for type checkers (see __getattr__)
    from idtheory.projections.base import Projection
    from idtheory.projections.dense import DENSE_MAX_ENTRIES, DenseProjection
    from idtheory.projections.fastfood import FastfoodProjection
    from idtheory.projections.hashed import HashedFastfoodProjection
    from idtheory.projections.sparse import SparseProjection

__all__ = [
    "DENSE_MAX_ENTRIES",
    "PROJECTION_NAMES",
    "REGISTRY",
    "DenseProjection",
    "FastfoodProjection",
    "HashedFastfoodProjection",
    "Projection",
    "SparseProjection",
    "make_projection",
    "projection_class",
]

#: ``SubspaceConfig.projection`` name → ``"module:Class"`` of its implementation.
REGISTRY: dict[str, str] = {
    "fastfood": "idtheory.projections.fastfood:FastfoodProjection",
    "fastfood_hashed": "idtheory.projections.hashed:HashedFastfoodProjection",
    "dense": "idtheory.projections.dense:DenseProjection",
    "sparse": "idtheory.projections.sparse:SparseProjection",
}

#: The registered names, in registry order (the choices of the config and the CLI).
PROJECTION_NAMES: tuple[str, ...] = tuple(REGISTRY)

# Public names loaded on first access (PEP 562), so that importing this package stays cheap.
_LAZY: dict[str, str] = {
    "Projection": "idtheory.projections.base:Projection",
    "DENSE_MAX_ENTRIES": "idtheory.projections.dense:DENSE_MAX_ENTRIES",
    **{path.rpartition(":")[2]: path for path in REGISTRY.values()},
}


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def projection_class(name: str) -> type[Projection]:
    """The class registered under ``name``.

    Raises:
        ValueError: for a name not in :data:`REGISTRY` (the message lists the choices).
    """
    try:
        path = REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown projection {name!r}; choose one of {list(PROJECTION_NAMES)}"
        ) from None
    return _load(path)


def make_projection(kind: str, d: int, D: int, seed: int = 0, **kwargs: Any) -> Projection:
    """Construct the projection registered as ``kind`` (``cls(d, D, seed, **kwargs)``)."""
    return projection_class(kind)(d, D, seed, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return _load(_LAZY[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
