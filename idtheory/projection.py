"""Former home of the projections; kept so ``from idtheory.projection import ...`` still works.

The classes live in :mod:`idtheory.projections` (one module per kind, and the registry of
names); this module forwards every public name there, loading each class on first use (so
importing it still imports neither torch nor Triton).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idtheory import projections as _projections
from idtheory.projections import make_projection, projection_class

if TYPE_CHECKING:  # the same names for type checkers; at run time __getattr__ loads them
    from idtheory.projections.base import Projection
    from idtheory.projections.dense import DENSE_MAX_ENTRIES, DenseProjection
    from idtheory.projections.fastfood import FastfoodProjection
    from idtheory.projections.hashed import HashedFastfoodProjection
    from idtheory.projections.sparse import SparseProjection

__all__ = [
    "DENSE_MAX_ENTRIES",
    "DenseProjection",
    "FastfoodProjection",
    "HashedFastfoodProjection",
    "Projection",
    "SparseProjection",
    "make_projection",
    "projection_class",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(_projections, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
