"""The rows of :func:`idtheory.bounds.bound_report`: values attached by name, not position."""

from __future__ import annotations

import math

import pytest

from idtheory import bounds as B


@pytest.mark.parametrize("levels", [None, 16])
def test_lambda_belongs_to_the_catoni_rows_only(levels: int | None) -> None:
    rows = B.bound_report(207, 3668, 0.1, levels=levels)
    with_lam = [r for r in rows if "lam" in r]
    assert with_lam and all(r["name"].startswith("Catoni") for r in with_lam)
    assert len(with_lam) == sum(r["name"].startswith("Catoni") for r in rows)
    for r in with_lam:
        value, lam = B.catoni_bound_opt(0.1, r["complexity_bits"] * B.LN2, 3668, 0.05, union=True)
        assert r["bound"] == pytest.approx(value) and r["lam"] == pytest.approx(lam)
        assert math.isfinite(r["lam"]) and r["lam"] > 0
