"""Former home of the projections; kept so ``from idtheory.projection import ...`` still works.

The classes live in :mod:`idtheory.projections` (one module per kind, and the registry of
names); this module forwards every public name there, loading each class on first use (so
importing it still imports neither torch nor Triton).
"""

from __future__ import annotations

from typing import Any

from idtheory import projections as _projections

__all__ = list(_projections.__all__)


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(_projections, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
