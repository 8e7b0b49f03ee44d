"""d90 read off a score-against-d curve: thresholds, brackets, monotonicity (no torch import).

The pure arithmetic behind :mod:`idtheory.search`: given the scores of the evaluated d and the
full fine-tuning score, which d is d90, between which evaluated d the crossing lies, and whether
the curve contradicts the monotonicity the search assumes. :mod:`idtheory.search` decides which
trainings to run and re-exports every name here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: The paper's fraction of the full fine-tuning score that a subspace must reach (d90).
DEFAULT_FRAC = 0.9

__all__ = [
    "PASS_TOL",
    "D90Curve",
    "D90Ratio",
    "d90_from_curve",
    "d90_ratio",
    "d90_threshold",
    "format_bracket",
    "is_chance_corrected",
    "passes",
    "threshold_is_degenerate",
]

#: Tolerance of the comparison ``score >= threshold`` (float round-off only).
PASS_TOL = 1e-12


@dataclass(frozen=True)
class D90Curve:
    """d90 read off a score-vs-d curve (see :func:`d90_from_curve`).

    Attributes:
        dims / scores / passes: the curve sorted by increasing d; ``passes[i]`` is
            ``scores[i] >= threshold``.
        threshold: ``floor + frac × (full_score − floor)`` (the paper's ``frac × full_score``
            with the default ``floor`` 0).
        d90: the smallest evaluated d that passes; None when none passes.
        bracket: ``(lo, hi)``: ``hi = d90`` and ``lo`` the largest *failing* d below it, so the
            true crossing lies in ``(lo, hi]``. ``lo`` is None when the smallest d passes
            (``passes_at_smallest``: d90 ≤ dims[0]); ``hi`` is None when nothing passes
            (``never_passes``: d90 > dims[-1] = lo).
        violations: every pair ``(d_pass, d_fail)`` with ``d_pass < d_fail`` where d_pass passes
            and d_fail fails (evidence that the curve is not monotone); sorted.
        d90_stable: the smallest evaluated d from which *every* larger evaluated d passes
            (equals ``d90`` on a monotone curve; None when the largest d fails).
        status: ``"ok"``, ``"passes_at_smallest"`` or ``"never_passes"``.
        floor: the score counted as zero progress (0: the paper's d90).
    """

    dims: tuple[int, ...]
    scores: tuple[float, ...]
    passes: tuple[bool, ...]
    full_score: float
    frac: float
    threshold: float
    d90: int | None
    bracket: tuple[int | None, int | None]
    violations: tuple[tuple[int, int], ...]
    d90_stable: int | None
    floor: float = 0.0

    @property
    def non_monotone(self) -> bool:
        return bool(self.violations)

    @property
    def never_passes(self) -> bool:
        return self.d90 is None

    @property
    def passes_at_smallest(self) -> bool:
        return bool(self.passes) and self.passes[0]

    @property
    def status(self) -> str:
        if self.never_passes:
            return "never_passes"
        return "passes_at_smallest" if self.passes_at_smallest else "ok"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            non_monotone=self.non_monotone,
            never_passes=self.never_passes,
            passes_at_smallest=self.passes_at_smallest,
            status=self.status,
        )
        return d


def format_bracket(bracket: Sequence[int | None] | None) -> str:
    """A d90 bracket as the half-open interval ``(lo, hi]`` that contains d90: ``lo`` is the
    largest failing d (0 when none failed), ``hi`` the smallest passing d (∞ when none passed).
    The one notation of the command line, the README tables and the figures' tables."""
    lo, hi = bracket if bracket else (None, None)
    return f"({lo if lo is not None else 0}, {hi if hi is not None else '∞'}]"


@dataclass(frozen=True)
class D90Ratio:
    """How many times one d90 is another's (see :func:`d90_ratio`).

    Attributes:
        ratio: the ratio of the two d90 themselves (None when either search never passed).
        least / most: the smallest and largest ratio the two brackets allow (0 and ``inf`` at
            open ends).
    """

    ratio: float | None
    least: float
    most: float

    def __str__(self) -> str:
        """``2.83× (2.00–4.00×)``; ``> 13.8×`` or ``< 0.07×`` when one search never passed."""
        f = _times
        if self.ratio is None:
            if math.isfinite(self.most):
                return f"< {f(self.most)}×"
            return f"> {f(self.least)}×" if self.least > 0 else "– (neither passed)"
        if math.isinf(self.most):
            return f"{f(self.ratio)}× (≥ {f(self.least)}×)"
        if self.least == self.most:
            return f"{f(self.ratio)}×"
        return f"{f(self.ratio)}× ({f(self.least)}–{f(self.most)}×)"


def _times(x: float) -> str:
    """A ratio to two decimals below 10, one above: 2.83, 13.8, 0.07."""
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def d90_ratio(numerator: Sequence[int | None], denominator: Sequence[int | None]) -> D90Ratio:
    """d90 of one search divided by another's, from their brackets ``(lo, hi]`` (``lo`` None: no
    d below ``hi`` failed; ``hi`` None: no d passed). A published d90 ``v`` is the bracket
    ``(v, v)``.

    ``ratio = hi_n / hi_d``; the brackets allow anything in ``(lo_n / hi_d, hi_n / lo_d]``:
    ``least = lo_n / hi_d`` (0 when ``lo_n`` is None) and ``most = hi_n / lo_d`` (``inf`` when
    ``hi_n`` or ``lo_d`` is None). E.g. SST-2's SAID (453, 640] against DID (1280, 1810]:
    DID / SAID = 2.83, between 2.0 and 4.0.
    """
    lo_n, hi_n = numerator
    lo_d, hi_d = denominator
    most = math.inf if hi_n is None or not lo_d else hi_n / lo_d
    if hi_d is None:  # the denominator never passed: only a ratio below hi_n / lo_d is known
        return D90Ratio(None, 0.0, most)
    return D90Ratio(None if hi_n is None else hi_n / hi_d, (lo_n or 0) / hi_d, most)


def passes(score: float, threshold: float) -> bool:
    """Whether a subspace ``score`` reaches ``threshold`` (finite, ``>=`` up to
    :data:`PASS_TOL`): the one pass rule of searches, curves and tables."""
    return math.isfinite(score) and score >= threshold - PASS_TOL


def d90_threshold(full_score: float, frac: float = DEFAULT_FRAC, floor: float = 0.0) -> float:
    """The score a subspace must reach: ``floor + frac × (full_score − floor)`` — the paper's
    ``frac × full_score`` with the default ``floor`` 0 (then computed exactly as that product)."""
    return floor + frac * (full_score - floor) if floor else frac * full_score


def is_chance_corrected(threshold: float | None, full_score: float | None, frac: float) -> bool:
    """Whether a search's ``threshold`` is not the paper's ``frac × full_score`` (it was raised
    by a floor, the majority class for the chance-corrected d90). False when either is None."""
    if threshold is None or full_score is None:
        return False
    return not math.isclose(threshold, d90_threshold(full_score, frac), rel_tol=0, abs_tol=1e-12)


def d90_from_curve(
    dims: Sequence[int],
    scores: Sequence[float],
    full_score: float,
    frac: float = DEFAULT_FRAC,
    floor: float = 0.0,
) -> D90Curve:
    """d90 of a curve: the smallest ``d`` with ``score ≥ floor + frac × (full_score − floor)``.

    With the default ``floor = 0`` this is the paper's definition (``frac × full_score``). On
    an imbalanced dev set that threshold can sit at or below the score of the constant
    majority-class predictor (MRPC: 68.4 % accuracy; 0.9 × a baseline below 76 % is lower), and
    then a subspace that learned nothing "passes". ``floor`` = the majority-class score
    (:func:`idtheory.tasks.majority_score`) gives a chance-corrected d90 instead: the smallest d
    recovering ``frac`` of the *improvement* over that predictor (our addition, not the paper's).

    ``dims`` need not be sorted but must be distinct positive integers; a non-finite score
    (NaN) counts as failing. See :class:`D90Curve` for what is returned in each case
    (bracket, non-monotone violations, never passing, passing at the smallest d).
    """
    if len(dims) != len(scores):
        raise ValueError(f"dims and scores differ in length ({len(dims)} vs {len(scores)})")
    if not dims:
        raise ValueError("d90_from_curve needs at least one point")
    if len(set(dims)) != len(dims):
        raise ValueError(f"dims must be distinct, got {list(dims)}")
    if not 0 < frac <= 1:
        raise ValueError(f"frac must be in (0, 1], got {frac}")
    pairs = sorted((int(d), float(s)) for d, s in zip(dims, scores, strict=True))
    ds = tuple(d for d, _ in pairs)
    ss = tuple(s for _, s in pairs)
    if not full_score > floor:  # also floor 0: an MCC of 0 is the constant predictor's
        raise ValueError(
            f"full_score {full_score} does not exceed floor {floor}: no improvement to recover"
        )
    threshold = d90_threshold(full_score, frac, floor)
    passed = tuple(passes(s, threshold) for s in ss)

    d90 = next((d for d, p in zip(ds, passed, strict=True) if p), None)
    if d90 is None:
        bracket: tuple[int | None, int | None] = (ds[-1], None)
    else:
        below = [d for d, p in zip(ds, passed, strict=True) if d < d90 and not p]
        bracket = (below[-1] if below else None, d90)
    violations = tuple(
        (dp, df)
        for dp, pp in zip(ds, passed, strict=True)
        if pp
        for df, pf in zip(ds, passed, strict=True)
        if df > dp and not pf
    )
    d90_stable: int | None = None
    for d, p in zip(reversed(ds), reversed(passed), strict=True):
        if not p:
            break
        d90_stable = d
    return D90Curve(
        dims=ds,
        scores=ss,
        passes=passed,
        full_score=float(full_score),
        frac=float(frac),
        threshold=threshold,
        d90=d90,
        bracket=bracket,
        violations=violations,
        d90_stable=d90_stable,
        floor=float(floor),
    )


def threshold_is_degenerate(threshold: float | None, majority: float | None) -> bool:
    """Whether a d90 threshold lies at or below the majority-class score ``majority`` (same
    metric, same units): a constant predictor then "passes" and the d90 measures nothing (the
    paper's ``0.9 × baseline`` on MRPC and RTE from small training sets). False when either is
    unknown (None)."""
    return threshold is not None and majority is not None and threshold <= majority
