"""d90 search: which trainings to run to measure the intrinsic dimension d90 (no torch import).

d90 (Aghajanyan et al. 2021, §2.7; Li et al. 2018) is the smallest subspace dimension d whose
fine-tuning reaches ``frac`` (0.9) × the full fine-tuning score of the same model on the same task.
This module decides which trainings are needed, submits them through an :class:`Executor` and the
:class:`~idtheory.store.ResultsStore` (so every training is cached and an interrupted search
resumes), and derives d90 from the records. It never touches tensors.

Conventions (the paper leaves them open, §8 items 5–7; these are this library's choices):

* **Run score.** The *score* of one training is its dev-set ``metric`` (default ``"accuracy"``)
  as reported in ``record["metrics"]["dev"]`` — the trainer's best-checkpoint value. A run with
  status ``"diverged"`` or ``"failed"`` scores its dev metric if the record has a finite one,
  else 0; such runs are listed in :attr:`D90Result.problems`.
* **Seeds, then learning rates.** For each learning rate the run scores are **averaged over
  seeds** (mean over ``seeds``; the same seeds for the baseline and every d), and the score of a
  configuration is the **maximum over learning rates** of that mean: "the best learning rate, on
  average over seeds". This is the same rule for the full fine-tuning baseline and for each d.
  ``seeds`` are training seeds (``TrainConfig.seed``: data order, dropout, head init); the random
  projection's seed is ``SubspaceConfig.seed`` (set it in ``subspace_kwargs``, default 0) and the
  **same projection** is used for every lr, seed and training of a given d.
* **Threshold.** ``threshold = frac × baseline``, baseline = best-lr mean-over-seeds dev score of
  full fine-tuning; d *passes* when ``score(d) ≥ threshold`` (with a 1e-12 tolerance for float
  round-off, so 0.9 × 0.85 is reached by an accuracy of 0.765).
* **Search.** A geometric grid ``d_min, d_min·f, d_min·f², …`` (rounded to integers, capped at
  ``d_max``) stops at the first passing d; bisection in log d (geometric midpoint rounded to an
  integer) then narrows the bracket ``(lo, hi)`` (largest failing d below the smallest passing d)
  until ``hi / lo ≤ bracket_ratio`` or ``lo`` and ``hi`` are adjacent integers. d90 = ``hi``.
  Bisection assumes the score is monotone in d; by construction every failing d it evaluates lies
  below every passing one, so non-monotonicity can only be *observed* in grid mode, where all
  violations are reported.
* Each unit of work (the baseline, one d, or a whole grid) is submitted as one round of
  independent trainings through ``executor.map``, so a parallel executor runs the learning rates
  and seeds (and grid points) of a round at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal, Protocol, TypeVar, cast

from idtheory.config import HASH_EXCLUDED, RunSpec, SubspaceConfig, TrainConfig
from idtheory.store import ResultsStore, TrainFn, is_finite_number

#: Default learning rates of the full fine-tuning baseline (to be tuned by experiment).
DEFAULT_FULL_LRS: tuple[float, ...] = (2e-5, 5e-5)
#: Default learning rates of subspace training (θ_d needs far larger steps than full fine-tuning).
DEFAULT_SUBSPACE_LRS: tuple[float, ...] = (1e-3, 1e-2)
#: Default growth factor of the coarse geometric grid (10, 40, 160, 640, …).
DEFAULT_GRID_FACTOR = 4.0
#: Default bracket ratio hi/lo at which the bisection stops.
DEFAULT_BRACKET_RATIO = 1.25
#: Largest d tried when ``d_max`` is None (the paper's binary-search maximum, §3.2); it is further
#: capped by the parameter count reported by the baseline records.
DEFAULT_D_MAX = 4_000_000
#: Tolerance of the comparison ``score >= threshold`` (float round-off only).
PASS_TOL = 1e-12
#: Statuses of :class:`D90Result` / :class:`D90Curve`.
RESULT_STATUSES: tuple[str, ...] = ("ok", "passes_at_smallest", "never_passes", "baseline_failed")

T = TypeVar("T")
R = TypeVar("R")


# ======================================================================== curve → d90


@dataclass(frozen=True)
class D90Curve:
    """d90 read off a score-vs-d curve (see :func:`d90_from_curve`).

    Attributes:
        dims / scores / passes: the curve sorted by increasing d; ``passes[i]`` is
            ``scores[i] >= threshold``.
        threshold: ``frac × full_score``.
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


def d90_from_curve(
    dims: Sequence[int], scores: Sequence[float], full_score: float, frac: float = 0.9
) -> D90Curve:
    """d90 of a curve: the smallest ``d`` with ``score ≥ frac × full_score``.

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
    threshold = frac * full_score
    passes = tuple(math.isfinite(s) and s >= threshold - PASS_TOL for s in ss)

    d90 = next((d for d, p in zip(ds, passes, strict=True) if p), None)
    if d90 is None:
        bracket: tuple[int | None, int | None] = (ds[-1], None)
    else:
        below = [d for d, p in zip(ds, passes, strict=True) if d < d90 and not p]
        bracket = (below[-1] if below else None, d90)
    violations = tuple(
        (dp, df)
        for dp, pp in zip(ds, passes, strict=True)
        if pp
        for df, pf in zip(ds, passes, strict=True)
        if df > dp and not pf
    )
    d90_stable: int | None = None
    for d, p in zip(reversed(ds), reversed(passes), strict=True):
        if not p:
            break
        d90_stable = d
    return D90Curve(
        dims=ds,
        scores=ss,
        passes=passes,
        full_score=float(full_score),
        frac=float(frac),
        threshold=threshold,
        d90=d90,
        bracket=bracket,
        violations=violations,
        d90_stable=d90_stable,
    )


# ======================================================================== executors


class Executor(Protocol):
    """Runs independent units of work; the search submits one round at a time.

    ``map(fn, items)`` must return ``[fn(x) for x in items]`` in order; it may run the calls in
    any order or in parallel (a future Ray executor: ``ray.get([remote(fn).remote(x) ...])``).
    ``fn`` is picklable when the store and the trainer are (a ``functools.partial`` of a
    module-level function), and each call writes its record to the store itself, so a round
    interrupted half-way keeps the trainings already finished.
    """

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...


class LocalExecutor:
    """In-process, sequential executor with a tqdm progress bar."""

    def __init__(self, progress: bool = True, desc: str = "trainings") -> None:
        self.progress = progress
        self.desc = desc

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        from tqdm.auto import tqdm

        items = list(items)
        return [
            fn(x) for x in tqdm(items, desc=self.desc, disable=not self.progress or len(items) == 0)
        ]


def _run_unit(store: ResultsStore, train_fn: TrainFn, spec: RunSpec) -> dict[str, Any]:
    return store.run(spec, train_fn)


def default_train_fn() -> TrainFn:
    """The real trainer, ``idtheory.train.run_spec`` (imported lazily: it imports torch)."""
    from idtheory.train import run_spec

    return run_spec


# ======================================================================== result


@dataclass
class LrCell:
    """The runs of one (d, lr) — or (baseline, lr) — over all seeds.

    ``score`` is the mean over seeds of the run scores; ``n_ok`` counts runs with status "ok".
    """

    lr: float
    score: float
    run_scores: list[float]
    run_ids: list[str]
    n_ok: int


@dataclass
class D90Point:
    """One evaluated d: ``score`` = max over lr of the mean over seeds; ``best_lr`` its argmax."""

    d: int
    score: float
    best_lr: float
    passes: bool
    cells: list[LrCell]


@dataclass
class D90Result:
    """Outcome of :func:`measure_d90` (saved with :meth:`ResultsStore.put_summary`).

    Attributes:
        status: ``"ok"`` (d90 bracketed to ``bracket_ratio``, or to adjacent integers, or read
            off the grid), ``"passes_at_smallest"`` (the smallest d passes: d90 ≤ that d, and
            ``d90`` is set to it), ``"never_passes"`` (no d up to ``d_max`` / the grid's largest
            passes: ``d90`` is None) or ``"baseline_failed"`` (no full fine-tuning run succeeded:
            no threshold, no search).
        d90: the smallest evaluated passing d (None unless a d passes).
        bracket: ``(lo, hi)`` as in :class:`D90Curve`: the crossing lies in ``(lo, hi]``.
        baseline_score / baseline_lr: best-lr mean-over-seeds dev score of full fine-tuning.
        threshold: ``frac × baseline_score``.
        points: every evaluated d, sorted by d; ``search_path``: the d's in evaluation order.
        baseline: the full fine-tuning cells, one per lr.
        non_monotone: ``(d_pass, d_fail)`` pairs, d_pass < d_fail (see :class:`D90Curve`).
        d90_stable: the smallest d from which every larger evaluated d passes.
        problems: one entry per run whose status is not "ok" (run_id, d, lr, seed, status,
            message).
        run_ids: every training behind the result (baseline first).
        n_trained / n_reused: trainings run by this call vs found in the store.
        settings: the search settings; ``summary_id`` is their hash (with model/task/method).
    """

    model: str
    task: str
    method: str
    mode: str
    metric: str
    frac: float
    status: str
    d90: int | None
    bracket: tuple[int | None, int | None]
    baseline_score: float | None
    baseline_lr: float | None
    threshold: float | None
    points: list[D90Point] = field(default_factory=list)
    search_path: list[int] = field(default_factory=list)
    baseline: list[LrCell] = field(default_factory=list)
    non_monotone: list[tuple[int, int]] = field(default_factory=list)
    d90_stable: int | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    n_trained: int = 0
    n_reused: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    summary_id: str = ""
    created: str = ""

    @property
    def scores(self) -> dict[int, float]:
        """Score per evaluated d (sorted by d)."""
        return {p.d: p.score for p in self.points}

    @property
    def bracket_ratio(self) -> float | None:
        lo, hi = self.bracket
        return None if lo is None or hi is None else hi / lo

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> D90Result:
        d = dict(d)
        d["points"] = [
            D90Point(**{**p, "cells": [LrCell(**c) for c in p["cells"]]}) for p in d["points"]
        ]
        d["baseline"] = [LrCell(**c) for c in d["baseline"]]
        d["bracket"] = tuple(d["bracket"])
        d["non_monotone"] = [tuple(v) for v in d["non_monotone"]]
        return cls(**d)


# ======================================================================== search


def run_score(record: dict[str, Any], metric: str = "accuracy") -> float:
    """Score of one training: its dev ``metric``; 0 for a non-ok run without a finite metric.

    Raises ``ValueError`` when an "ok" record lacks the metric (a trainer/metric mismatch
    that must not be silently scored 0).
    """
    value = ((record.get("metrics") or {}).get("dev") or {}).get(metric)
    if record.get("status") == "ok":
        if not is_finite_number(value):
            raise ValueError(
                f"run {record.get('run_id')} has status 'ok' but no finite dev {metric!r} "
                f"(dev metrics: {sorted((record.get('metrics') or {}).get('dev') or {})})"
            )
        return float(value)
    return float(value) if is_finite_number(value) else 0.0


def measure_d90(
    model: str,
    task: str,
    method: str = "said",
    *,
    store: ResultsStore,
    train_fn: TrainFn | None = None,
    executor: Executor | None = None,
    full_lrs: Iterable[float] = DEFAULT_FULL_LRS,
    subspace_lrs: Iterable[float] = DEFAULT_SUBSPACE_LRS,
    seeds: Iterable[int] = (0,),
    base_train: TrainConfig | None = None,
    subspace_kwargs: dict[str, Any] | None = None,
    frac: float = 0.9,
    d_min: int = 10,
    d_max: int | None = None,
    grid_factor: float = DEFAULT_GRID_FACTOR,
    bracket_ratio: float = DEFAULT_BRACKET_RATIO,
    grid: Iterable[int] | None = None,
    metric: str = "accuracy",
    progress: bool = True,
) -> D90Result:
    """Measure d90 of fine-tuning ``model`` on ``task`` with ``method`` ("said" or "did").

    Steps (conventions in the module docstring):

    1. Full fine-tuning baseline: one run per ``full_lrs`` × ``seeds`` (``subspace=None``);
       baseline = max over lr of the mean over seeds; ``threshold = frac × baseline``.
    2. Search mode (``grid=None``): coarse geometric grid ``d_min·grid_factor^k`` (capped at
       ``d_max``) until the first passing d, then log-d bisection until ``hi/lo ≤
       bracket_ratio``. Each d is trained at every ``subspace_lrs`` × ``seeds``.
       Grid mode (``grid=[...]``): every listed d is trained (one round) and d90 is read off the
       curve with :func:`d90_from_curve` (``d_min``, ``d_max``, ``grid_factor`` and
       ``bracket_ratio`` are then unused).

    Every training goes through ``store.run(spec, train_fn)``: runs already stored are reused,
    so calling again after an interruption trains only what is missing. ``d_max=None`` means
    :data:`DEFAULT_D_MAX`, capped by the ``num_params`` the baseline records report.
    ``base_train`` supplies every other hyper-parameter (its ``lr`` and ``seed`` are replaced;
    its ``metric`` must equal ``metric``). ``subspace_kwargs`` are passed to
    :class:`~idtheory.config.SubspaceConfig` (all but ``dim`` and ``method``).

    The result is saved with ``store.put_summary`` and returned.
    """
    if method not in ("said", "did"):
        raise ValueError(f"method must be 'said' or 'did', got {method!r}")
    full_lrs_t = _unique_floats(full_lrs, "full_lrs")
    sub_lrs_t = _unique_floats(subspace_lrs, "subspace_lrs")
    seeds_t = tuple(dict.fromkeys(int(s) for s in seeds))
    if not seeds_t:
        raise ValueError("seeds must not be empty")
    if not 0 < frac <= 1:
        raise ValueError(f"frac must be in (0, 1], got {frac}")
    if base_train is None:
        base_train = TrainConfig(metric=metric)
    elif base_train.metric != metric:
        raise ValueError(
            f"base_train.metric={base_train.metric!r} differs from metric={metric!r}: the "
            "checkpoint-selection metric and the d90 metric must agree"
        )
    sub_kwargs = dict(subspace_kwargs or {})
    if {"dim", "method"} & set(sub_kwargs):
        raise ValueError("subspace_kwargs must not set 'dim' or 'method'")
    method_l = cast(Literal["said", "did"], method)
    SubspaceConfig(dim=1, method=method_l, **sub_kwargs)  # validate early
    grid_t: tuple[int, ...] | None = None
    if grid is not None:
        grid_t = tuple(sorted({_positive_int(d, "grid entries") for d in grid}))
        if not grid_t:
            raise ValueError("grid must not be empty")
    else:
        _positive_int(d_min, "d_min")
        if d_max is not None and _positive_int(d_max, "d_max") < d_min:
            raise ValueError(f"d_max={d_max} < d_min={d_min}")
        if not grid_factor > 1:
            raise ValueError(f"grid_factor must be > 1, got {grid_factor}")
        if not bracket_ratio > 1:
            raise ValueError(f"bracket_ratio must be > 1, got {bracket_ratio}")

    if train_fn is None:
        train_fn = default_train_fn()
    if executor is None:
        executor = LocalExecutor(progress=progress)
    unit = functools.partial(_run_unit, store, train_fn)

    settings: dict[str, Any] = {
        "full_lrs": list(full_lrs_t),
        "subspace_lrs": list(sub_lrs_t),
        "seeds": list(seeds_t),
        "base_train": {k: v for k, v in base_train.to_dict().items() if k not in HASH_EXCLUDED},
        "subspace_kwargs": SubspaceConfig(dim=1, method=method_l, **sub_kwargs).to_dict(),
        "frac": frac,
        "metric": metric,
    }
    settings["subspace_kwargs"].pop("dim")
    if grid_t is not None:
        settings["grid"] = list(grid_t)
    else:
        settings.update(
            d_min=d_min, d_max=d_max, grid_factor=grid_factor, bracket_ratio=bracket_ratio
        )

    counts = {"trained": 0, "reused": 0}
    run_ids: list[str] = []
    problems: list[dict[str, Any]] = []

    def run_round(specs: list[RunSpec], label: str) -> list[dict[str, Any]]:
        for s in specs:
            counts["trained" if store.needs_training(s) else "reused"] += 1
        if isinstance(executor, LocalExecutor):
            executor.desc = f"{model}/{task} {label}"
        records = executor.map(unit, specs)
        for s, r in zip(specs, records, strict=True):
            run_ids.append(r["run_id"])
            if r.get("status") != "ok":
                problems.append(
                    {
                        "run_id": r["run_id"],
                        "d": s.dim,
                        "lr": s.train.lr,
                        "seed": s.train.seed,
                        "status": r.get("status"),
                        "message": r.get("message", ""),
                    }
                )
        return records

    def cells_of(specs: list[RunSpec], records: list[dict[str, Any]]) -> list[LrCell]:
        by_lr: dict[float, list[tuple[str, float, bool]]] = {}
        for s, r in zip(specs, records, strict=True):
            by_lr.setdefault(s.train.lr, []).append(
                (r["run_id"], run_score(r, metric), r.get("status") == "ok")
            )
        return [
            LrCell(
                lr=lr,
                score=sum(x[1] for x in runs) / len(runs),
                run_scores=[x[1] for x in runs],
                run_ids=[x[0] for x in runs],
                n_ok=sum(x[2] for x in runs),
            )
            for lr, runs in by_lr.items()
        ]

    # ---- 1. full fine-tuning baseline
    base_spec = RunSpec(model=model, task=task, train=base_train)
    full_specs = [
        base_spec.with_(**{"train.lr": lr, "train.seed": seed})
        for lr in full_lrs_t
        for seed in seeds_t
    ]
    full_records = run_round(full_specs, "full fine-tuning")
    baseline_cells = cells_of(full_specs, full_records)
    result = D90Result(
        model=model,
        task=task,
        method=method,
        mode="grid" if grid_t is not None else "search",
        metric=metric,
        frac=frac,
        status="baseline_failed",
        d90=None,
        bracket=(None, None),
        baseline_score=None,
        baseline_lr=None,
        threshold=None,
        baseline=baseline_cells,
        settings=settings,
    )
    if not any(r.get("status") == "ok" for r in full_records):
        return _finish(result, store, run_ids, problems, counts)
    best = max(baseline_cells, key=lambda c: c.score)
    baseline_score, threshold = best.score, frac * best.score
    result = replace(
        result, baseline_score=baseline_score, baseline_lr=best.lr, threshold=threshold
    )
    if d_max is None and grid_t is None:
        reported = [r["num_params"] for r in full_records if is_finite_number(r.get("num_params"))]
        d_max = max(d_min, min([DEFAULT_D_MAX, *(int(n) for n in reported)]))
        settings["d_max_resolved"] = d_max

    # ---- 2. subspace trainings
    points: dict[int, D90Point] = {}
    path: list[int] = []

    def sub_specs(d: int) -> list[RunSpec]:
        sub = SubspaceConfig(dim=d, method=method_l, **sub_kwargs)
        return [
            replace(base_spec, subspace=sub).with_(**{"train.lr": lr, "train.seed": seed})
            for lr in sub_lrs_t
            for seed in seeds_t
        ]

    def evaluate(ds: list[int]) -> None:
        """One round: train every lr × seed of every d in ``ds`` (none evaluated before)."""
        ds = [d for d in ds if d not in points]
        specs_per_d = [sub_specs(d) for d in ds]
        flat = [s for specs in specs_per_d for s in specs]
        records = run_round(flat, f"{method} d=" + ",".join(map(str, ds)))
        i = 0
        for d, specs in zip(ds, specs_per_d, strict=True):
            cells = cells_of(specs, records[i : i + len(specs)])
            i += len(specs)
            top = max(cells, key=lambda c: c.score)
            passes = top.score >= threshold - PASS_TOL
            points[d] = D90Point(d=d, score=top.score, best_lr=top.lr, passes=passes, cells=cells)
            path.append(d)

    if grid_t is not None:
        evaluate(list(grid_t))
    else:
        assert d_max is not None
        for d in _geometric_grid(d_min, d_max, grid_factor):
            evaluate([d])
            if points[d].passes:
                break
        while True:
            lo, hi = _bracket(points)
            if lo is None or hi is None or hi / lo <= bracket_ratio:
                break
            mid = math.floor(math.sqrt(lo * hi) + 0.5)
            mid = min(max(mid, lo + 1), hi - 1)
            if mid <= lo:  # adjacent integers: the bracket is exact
                break
            evaluate([mid])

    ordered = sorted(points.values(), key=lambda p: p.d)
    curve = d90_from_curve([p.d for p in ordered], [p.score for p in ordered], baseline_score, frac)
    result = replace(
        result,
        status=curve.status,
        d90=curve.d90,
        bracket=curve.bracket,
        points=ordered,
        search_path=path,
        non_monotone=list(curve.violations),
        d90_stable=curve.d90_stable,
    )
    return _finish(result, store, run_ids, problems, counts)


# ======================================================================== helpers


def _finish(
    result: D90Result,
    store: ResultsStore,
    run_ids: list[str],
    problems: list[dict[str, Any]],
    counts: dict[str, int],
) -> D90Result:
    ident = {
        "model": result.model,
        "task": result.task,
        "method": result.method,
        "mode": result.mode,
        "settings": {k: v for k, v in result.settings.items() if k != "d_max_resolved"},
    }
    blob = json.dumps(ident, sort_keys=True, separators=(",", ":"))
    result = replace(
        result,
        run_ids=list(run_ids),
        problems=list(problems),
        n_trained=counts["trained"],
        n_reused=counts["reused"],
        summary_id=hashlib.sha256(blob.encode()).hexdigest()[:16],
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    store.put_summary(result)
    return result


def _bracket(points: dict[int, D90Point]) -> tuple[int | None, int | None]:
    """(largest failing d below the smallest passing d, smallest passing d)."""
    passing = [d for d, p in points.items() if p.passes]
    hi = min(passing) if passing else None
    failing = [d for d, p in points.items() if not p.passes and (hi is None or d < hi)]
    return (max(failing) if failing else None, hi)


def _geometric_grid(d_min: int, d_max: int, factor: float) -> list[int]:
    """``round(d_min·factor^k)``, strictly increasing, the last entry capped at ``d_max``."""
    out: list[int] = []
    k = 0
    while True:
        d = max(math.floor(d_min * factor**k + 0.5), out[-1] + 1 if out else d_min)
        if d >= d_max:
            out.append(d_max)
            return out
        out.append(d)
        k += 1


def _unique_floats(values: Iterable[float], name: str) -> tuple[float, ...]:
    out = tuple(dict.fromkeys(float(v) for v in values))
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be positive integers, got {value!r}")
    return value
