"""d90 search: which trainings to run to measure the intrinsic dimension d90 (no torch import).

d90 (Aghajanyan et al. 2021; Li et al. 2018; see docs/method.md) is the smallest subspace
dimension d whose fine-tuning reaches ``frac`` (0.9) × the full fine-tuning score of the same
model on the same task. This module decides which trainings are needed, submits them through an
:class:`Executor` and the :class:`~idtheory.store.ResultsStore` (so every training is cached and
an interrupted search resumes), and derives d90 from the records. It never touches tensors
(one exception, imported lazily: :func:`projected_parameters` loads the model to count the
parameters a narrowed subspace projects, the cap of d).

Conventions (the paper leaves them open, ``docs/method.md`` items 5–7; these are ours):

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
  ``d_max``) stops at the first passing d; k-section in log d then narrows the bracket
  ``(lo, hi)`` (largest failing d below the smallest passing d) until ``hi / lo ≤
  bracket_ratio`` or ``lo`` and ``hi`` are adjacent integers. d90 = ``hi``. With k = 1 (the
  local executor) this is bisection: the geometric midpoint ``round(√(lo·hi))``. With k > 1
  (a parallel executor, k ≈ its parallelism / trainings per d) a round evaluates k grid points
  at once, then k points splitting ``[log lo, log hi]`` into k + 1 equal parts (fewer in the
  last round when fewer suffice, :func:`section_points`), so the bracket shrinks by a factor
  ``(hi/lo)^(1/(k+1))`` per round instead of ``^(1/2)``: about ``log₂(k+1)`` times fewer
  rounds, for somewhat more trainings. The search assumes the score is monotone in d; by
  construction every failing d it evaluates lies below every passing one, so non-monotonicity
  can only be *observed* in grid mode, where all violations are reported.
* **Rounds.** Each unit of work (the baseline, the candidate d of one step, or a whole grid) is
  submitted as one round of independent trainings, so a parallel executor runs the learning
  rates, seeds, candidate d (and grid points) of a round at once; :func:`measure_d90_many` runs
  the rounds of several searches (models, tasks, methods) concurrently. Executors are in
  :mod:`idtheory.executors` (``"local"``, ``"ray"``).
* **Reading instead of training.** With the trainer :class:`StoredRuns` (the one figures
  render with) the same searches only read the store: every run comes from its record, a run
  the store lacks raises :class:`NotStored` inside the trainer, and the search stops at the
  first round with a missing run, returning status ``"partial"`` (d90 read off the points
  whose runs are all stored; none when the baseline is missing). Nothing is written. The
  read-only search evaluates the d the computing one would have (``candidates``: else the k of
  a stored k-section of the same settings, as a cluster's executor runs them, else 1 with the
  local executor), so it finds exactly the runs of a search made at the same settings.
"""

from __future__ import annotations

import concurrent.futures
import functools
import itertools
import math
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal, cast

from idtheory.config import (
    HASH_EXCLUDED,
    RunSpec,
    SubspaceConfig,
    TrainConfig,
    canonical_json,
    content_id,
)
from idtheory.curve import (
    DEFAULT_FRAC,
    d90_from_curve,
    d90_threshold,
    passes,
    threshold_is_degenerate,
)
from idtheory.executors import (
    Executor,
    FutureExecutor,
    LocalExecutor,
    executor_parallelism,
    get_executor,
    stop_on_interrupt,
)
from idtheory.store import ResultsStore, TrainFn, is_finite_number

#: Default learning rates of the full fine-tuning baseline (AdamW). Measured on MiniLM-L6 /
#: SST-2 (1000 examples, 3 epochs): 1e-4 → 0.818 dev accuracy, 5e-5 → 0.797
#: (data/results/README.md).
DEFAULT_FULL_LRS: tuple[float, ...] = (5e-5, 1e-4)
#: Default learning rates of subspace training (AdamW on θ_d and λ). θ_d needs steps ~10³× those
#: of full fine-tuning: on MiniLM-L6 / SST-2, SAID at d = 1000 (global layout, head in the
#: subspace) stays at the majority class for lr ≤ 3e-2 and reaches 0.719 at lr 0.1.
DEFAULT_SUBSPACE_LRS: tuple[float, ...] = (0.1, 0.3)
#: Default first d of the search's grid.
DEFAULT_D_MIN = 10
#: Default training seeds (a d's score is the mean over seeds of the best over learning rates).
DEFAULT_SEEDS: tuple[int, ...] = (0,)
#: Default growth factor of the coarse geometric grid (10, 40, 160, 640, …).
DEFAULT_GRID_FACTOR = 4.0
#: Default bracket ratio hi/lo at which the bisection stops.
DEFAULT_BRACKET_RATIO = 1.25
#: Largest d tried when ``d_max`` is None (the paper's binary-search maximum for Figure 2); it is
#: further capped by the number of projected parameters (:meth:`_Search.projected_cap`).
DEFAULT_D_MAX = 4_000_000
#: Status of a read-only search that the store holds only part of (:class:`StoredRuns`).
PARTIAL = "partial"
#: Statuses of :class:`D90Result` (:class:`~idtheory.curve.D90Curve` has the first three).
RESULT_STATUSES: tuple[str, ...] = (
    "ok",
    "passes_at_smallest",
    "never_passes",
    "baseline_failed",
    PARTIAL,
)
_STATUS_REASONS = {
    PARTIAL: "the store holds only part of this search: d90 from the points stored so far",
    "passes_at_smallest": "the smallest d tried already passes: d90 is at most that d (d_floor "
    "/ --d-floor searches below it)",
    "never_passes": "no d up to d_max reaches the threshold: d90 is larger than d_max",
    "baseline_failed": "no full fine-tuning run succeeded",
}


def status_reason(status: str | None) -> str:
    """What a d90 result's ``status`` means for its d90, in words ("" for ``"ok"`` and for
    statuses other than :data:`RESULT_STATUSES`)."""
    return _STATUS_REASONS.get(status or "", "")


# ======================================================================== units


class NotStored(LookupError):
    """Raised by a read-only trainer (:class:`StoredRuns`) for a spec the store has no run of."""


class StoredRuns:
    """The trainer that only reads: ``StoredRuns(store)(spec)`` is the stored record of
    ``spec``, else :class:`NotStored` is raised — also for a record computing would train again
    (status ``"failed"``: :meth:`ResultsStore.needs_training`), which a read must not store
    a second time.

    Searches and trend experiments driven by it run exactly as when computing, stop where the
    store ends (status ``"partial"``) and write nothing (:attr:`read_only`). ``on_missing``
    hears of every spec asked for and not stored: the trainings computing would start next.
    """

    #: Tells :func:`measure_d90_many` to write no summary and to stop at a missing run.
    read_only: bool = True

    def __init__(
        self, store: ResultsStore, on_missing: Callable[[RunSpec], None] | None = None
    ) -> None:
        self.store = store
        self.on_missing = on_missing

    def __repr__(self) -> str:
        return f"StoredRuns({self.store!r})"

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        if self.store.needs_training(spec):  # absent, or failed: computing would train it
            if self.on_missing is not None:
                self.on_missing(spec)
            raise NotStored(f"no stored run of {spec.model} / {spec.task} ({spec.config_hash()})")
        return cast(dict[str, Any], self.store.get(spec.config_hash()))


def search_run_spec(
    model: str,
    task: str,
    method: str = "full",
    dim: int | None = None,
    *,
    base_train: TrainConfig,
    lr: float,
    seed: int = 0,
    subspace_kwargs: Mapping[str, Any] | None = None,
) -> RunSpec:
    """The one training a d90 search runs of ``model`` on ``task``: full fine-tuning
    (``method="full"``) or ``method`` ("said"/"did") at ``dim``, with ``base_train``'s settings
    at learning rate ``lr`` and training seed ``seed``; ``subspace_kwargs`` are the other
    :class:`SubspaceConfig` fields. Every search builds its runs here, so a spec built here
    with the search's settings has the run id of the search's run (studies beside a search —
    lr probes, precision parity — use it to find or extend the search's runs).

    Raises:
        ValueError: a subspace ``method`` without ``dim``.
    """
    sub = None
    if method != "full":
        if dim is None:
            raise ValueError(f"a {method.upper()} training needs dim")
        sub = SubspaceConfig(dim=int(dim), method=method, **dict(subspace_kwargs or {}))
    spec = RunSpec(model=model, task=task, train=base_train, subspace=sub)
    return spec.with_(**{"train.lr": float(lr), "train.seed": int(seed)})


def record_of(store: ResultsStore, train_fn: TrainFn, spec: RunSpec) -> dict[str, Any] | None:
    """The record of ``spec``: stored, else trained by ``train_fn`` and stored; None when the
    trainer signals :class:`NotStored` (a read-only trainer and a run the store lacks)."""
    try:
        return store.run(spec, train_fn)
    except NotStored:
        return None


def train_unit(train_fn: TrainFn, spec: RunSpec) -> dict[str, Any]:
    """Train ``spec`` only (the unit of executors whose driver records the runs)."""
    return dict(train_fn(spec))


def train_records(
    store: ResultsStore, train_fn: TrainFn, executor: Executor, specs: Sequence[RunSpec]
) -> list[dict[str, Any] | None]:
    """The records of ``specs`` (one round of trainings), trained on ``executor`` where the store
    lacks them; None for a run the store lacks when ``train_fn`` only reads.

    With the executor's ``driver_records`` (worker processes or Ray) the workers only train and
    this process writes each record as its training ends, so a failure loses none of the others
    (the first error is raised once every other training is recorded). Otherwise each unit
    reads, or trains and stores, its own record (:func:`record_of`).
    """
    if not getattr(executor, "driver_records", False):
        return executor.map(functools.partial(record_of, store, train_fn), list(specs))
    read_only = bool(getattr(train_fn, "read_only", False))
    todo = [] if read_only else [s for s in specs if store.needs_training(s)]
    unit = functools.partial(train_unit, train_fn)
    if hasattr(executor, "submit"):
        futures = {executor.submit(unit, s): s for s in todo}
        errors = []
        # A Ctrl-C, or a training interrupted in a worker: stop the workers, keep what ended.
        with stop_on_interrupt(executor, then=lambda: _store_completed(store, futures)):
            for done in concurrent.futures.as_completed(futures):
                if isinstance(error := done.exception(), KeyboardInterrupt):
                    raise error
                if error is not None:
                    errors.append(error)
                else:
                    store.put_result(futures[done], done.result())
        if errors:
            raise errors[0]
    else:
        for spec, record in zip(todo, executor.map(unit, todo), strict=True):
            store.put_result(spec, record)
    return [store.get(s.config_hash()) for s in specs]


def default_train_fn(
    store: ResultsStore | None = None,
    progress: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    artifacts_dir: str | os.PathLike[str] | None = None,
) -> TrainFn:
    """The real trainer (:func:`idtheory.train.make_train_fn`; torch imported lazily), reading
    the task data from ``data_dir`` (else ``$IDTHEORY_DATA``, else the hub). With a ``store``
    it keeps what the command line keeps: θ_d and λ of subspace runs in ``<store>/params``
    (what :func:`idtheory.compress.bound_for_run` reads; ``artifacts_dir`` puts them elsewhere)
    and the checkpoints of unfinished trainings in ``<store>/partial``; ``progress``:
    per-training progress bars."""
    from idtheory.train import make_train_fn

    if store is None:
        return make_train_fn(data_dir=data_dir, progress=progress, artifacts_dir=artifacts_dir)
    return make_train_fn(
        data_dir=data_dir,
        progress=progress,
        artifacts_dir=str(artifacts_dir or store.params_dir),
        checkpoint_dir=str(store.partial_dir),
        keep_checkpoint=True,  # the store removes it with the record stored (put)
    )


@functools.cache
def projected_parameters(model: str, task: str, subspace: SubspaceConfig) -> int:
    """The number of parameters D that ``subspace`` projects on ``model`` fine-tuned for ``task``
    (its :class:`~idtheory.subspace.SubspaceModel`'s ``num_projected``, the largest valid
    ``dim``): those selected by ``include``/``exclude``, the task head left out when
    ``train_head``. Loads the model (torch, lazily; cached per process) without building a
    projection; only ``include``, ``exclude`` and ``train_head`` of ``subspace`` matter.
    """
    from idtheory.models import load_model
    from idtheory.subspace import _head_prefix, _select
    from idtheory.tasks import get_task

    net = load_model(model, num_labels=get_task(task).num_labels).model
    return sum(
        p.numel()
        for name, p in net.named_parameters()
        if not (subspace.train_head and _head_prefix(net, name)) and _select(name, subspace)
    )


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
            passes: ``d90`` is None), ``"baseline_failed"`` (no full fine-tuning run succeeded,
            or the best does not beat ``floor``, e.g. MCC 0: no threshold, no search) or
            ``"partial"`` (a store-only read of a search the store holds part of: d90 and
            bracket from the points stored so far). All: :data:`RESULT_STATUSES`.
        d90: the smallest evaluated passing d (None unless a d passes).
        bracket: ``(lo, hi)`` as in :class:`D90Curve`: the crossing lies in ``(lo, hi]``.
        baseline_score / baseline_lr: best-lr mean-over-seeds dev score of full fine-tuning.
        threshold: ``frac × baseline_score``.
        points: every evaluated d, sorted by d (a ``pending`` d's score, best lr and cells
            from its stored rates only); ``search_path``: the d's in evaluation order.
        baseline: the full fine-tuning cells, one per lr.
        non_monotone: ``(d_pass, d_fail)`` pairs, d_pass < d_fail (see :class:`D90Curve`).
        d90_stable: the smallest d from which every larger evaluated d passes.
        problems: one entry per run whose status is not "ok" (run_id, d, lr, seed, status,
            message).
        run_ids: every training behind the result (baseline first).
        n_trained / n_reused: trainings run by this call vs found in the store.
        settings: the search settings; ``summary_id`` is their hash (with model/task/method).
        created: when the summary was stored (UTC, ISO 8601): a search the store already
            holds in the same words keeps its stored time; a finished store-only replay whose
            summary the store lacks has ``""``; a ``"partial"`` read the time of the read.
        threshold_kind: which threshold the search bisected against, derived from
            ``settings["floor"]`` (:func:`threshold_kind`): ``"paper"`` (``frac × baseline``)
            or ``"chance-corrected"`` (``floor + frac × (baseline − floor)``, floor > 0). Not
            hashed, and ignored when the store compares summaries (it adds no information).
        pending: only in a ``"partial"`` read: the evaluated d whose runs the store holds only
            part of, listed among ``points`` because a learning rate whose runs are all stored
            already passes — the pass is final (a d scores its best rate), the point's score a
            lower bound. Never in a stored summary (``to_dict`` omits it when empty).
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
    threshold_kind: str = ""
    pending: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.threshold_kind:  # built by a search, or read from an older summary
            self.threshold_kind = result_threshold_kind({"settings": self.settings})

    @property
    def scores(self) -> dict[int, float]:
        """Score per evaluated d (sorted by d)."""
        return {p.d: p.score for p in self.points}

    @property
    def bracket_ratio(self) -> float | None:
        lo, hi = self.bracket
        return None if lo is None or hi is None else hi / lo

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not d["pending"]:  # stored summaries keep the format they always had
            del d["pending"]
        return d

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


#: Kinds of d90 threshold (:func:`threshold_kind`): the paper's ``frac × baseline`` and the
#: chance-corrected ``floor + frac × (baseline − floor)``.
THRESHOLD_KINDS: tuple[str, ...] = ("paper", "chance-corrected")


def threshold_kind(floor: float | None) -> str:
    """The kind of threshold a search with numeric ``floor`` uses: ``"paper"`` for 0 or None
    (``frac × baseline``), else ``"chance-corrected"`` (the floor is the score counted as no
    progress: in this project always the majority-class score of the dev examples)."""
    return THRESHOLD_KINDS[1] if floor else THRESHOLD_KINDS[0]


def result_threshold_kind(result: Mapping[str, Any]) -> str:
    """:func:`threshold_kind` of a D90Result dict, read from its ``settings["floor"]`` (absent:
    the paper's threshold), so summaries written before the kind was recorded read the same."""
    return threshold_kind((result.get("settings") or {}).get("floor"))


FLOOR_MODES = ("majority", "auto")
"""Named threshold floors (:func:`resolve_floor`) besides plain numbers."""


def resolve_floor(
    floor: float | str | None, majority: float, baseline: float | None, frac: float = DEFAULT_FRAC
) -> float:
    """The numeric threshold floor of one (model, task) search.

    ``floor``: a number (0 or None: the paper's ``frac × baseline``); ``"majority"``: the
    majority-class score ``majority`` (chance-corrected d90); ``"auto"``: the paper's threshold
    unless it is degenerate — ``majority`` when ``frac × baseline ≤ majority`` (a constant
    predictor would pass), else 0. ``"auto"`` needs the ``baseline``.
    """
    if floor is None:
        return 0.0
    if floor == "majority":
        return float(majority)
    if floor == "auto":
        if baseline is None:
            raise ValueError("floor='auto' needs the baseline score")
        return float(majority) if threshold_is_degenerate(frac * baseline, majority) else 0.0
    if isinstance(floor, str):
        raise ValueError(f"floor must be a number or one of {FLOOR_MODES}, got {floor!r}")
    return float(floor)


# ======================================================================== scoring


def score_cells(
    specs: Sequence[RunSpec], records: Sequence[Mapping[str, Any]], metric: str = "accuracy"
) -> list[LrCell]:
    """The runs of one configuration (the baseline, or one d) grouped by learning rate: one
    :class:`LrCell` per lr (in order of first appearance) whose ``score`` is the mean over
    seeds of :func:`run_score`. ``records[i]`` is the record of ``specs[i]``."""
    by_lr: dict[float, list[tuple[str, float, bool]]] = {}
    for s, r in zip(specs, records, strict=True):
        by_lr.setdefault(s.train.lr, []).append(
            (r["run_id"], run_score(dict(r), metric), r.get("status") == "ok")
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


def whole_lrs(
    specs: Sequence[RunSpec], records: Sequence[Mapping[str, Any] | None]
) -> tuple[list[RunSpec], list[Mapping[str, Any]]]:
    """The runs of one configuration whose learning rate has every seed's record (``None``:
    not stored), in their order: the part of a d a store-only read can already score."""
    missing = {s.train.lr for s, r in zip(specs, records, strict=True) if r is None}
    kept = [(s, r) for s, r in zip(specs, records, strict=True) if s.train.lr not in missing]
    return [s for s, _ in kept], [r for _, r in kept if r is not None]


def best_cell(cells: Sequence[LrCell]) -> LrCell:
    """The cell of the best learning rate (max over lr of the mean over seeds; the first of
    equal scores): the score of a configuration, baseline or d."""
    return max(cells, key=lambda c: c.score)


def run_score(record: dict[str, Any], metric: str = "accuracy") -> float:
    """Score of one training: its dev ``metric``; 0 for a non-ok run without a finite metric.

    Raises ``ValueError`` when an "ok" record lacks the metric (a trainer/metric mismatch
    that must not be silently scored 0).
    """
    value: Any = ((record.get("metrics") or {}).get("dev") or {}).get(metric)
    if record.get("status") == "ok":
        if not is_finite_number(value):
            raise ValueError(
                f"run {record.get('run_id')} has status 'ok' but no finite dev {metric!r} "
                f"(dev metrics: {sorted((record.get('metrics') or {}).get('dev') or {})})"
            )
        return float(value)
    return float(value) if is_finite_number(value) else 0.0


#: Keyword arguments of :func:`measure_d90` that describe one search (per job in
#: :func:`measure_d90_many`); the others (store, trainer, executor) are shared by all jobs.
SEARCH_OPTIONS: tuple[str, ...] = (
    "full_lrs",
    "subspace_lrs",
    "subspace_lrs_from",
    "seeds",
    "base_train",
    "subspace_kwargs",
    "frac",
    "d_min",
    "d_max",
    "d_floor",
    "grid_factor",
    "bracket_ratio",
    "grid",
    "metric",
    "candidates",
    "floor",
)


def subspace_lrs_at(
    d: int,
    subspace_lrs: Iterable[float],
    subspace_lrs_from: Mapping[int | str, Iterable[float]] | None = None,
) -> list[float]:
    """The learning rates a search trains dimension ``d`` at: those of the largest key of
    ``subspace_lrs_from`` (``{d_from: lrs}``; string keys, as JSON gives them, are read as
    integers) that is ≤ ``d``, else ``subspace_lrs``."""
    chosen, best = list(subspace_lrs), 0
    for d_from, lrs in (subspace_lrs_from or {}).items():
        if best < int(d_from) <= d:
            chosen, best = list(lrs), int(d_from)
    return [float(x) for x in chosen]


def measure_d90(
    model: str,
    task: str,
    method: str = "said",
    *,
    store: ResultsStore,
    train_fn: TrainFn | None = None,
    executor: Executor | str | None = "local",
    max_parallel: int | None = None,
    full_lrs: Iterable[float] = DEFAULT_FULL_LRS,
    subspace_lrs: Iterable[float] = DEFAULT_SUBSPACE_LRS,
    subspace_lrs_from: Mapping[int, Iterable[float]] | None = None,
    seeds: Iterable[int] = DEFAULT_SEEDS,
    base_train: TrainConfig | None = None,
    subspace_kwargs: dict[str, Any] | None = None,
    frac: float = DEFAULT_FRAC,
    d_min: int = DEFAULT_D_MIN,
    d_max: int | None = None,
    d_floor: int | None = None,
    grid_factor: float = DEFAULT_GRID_FACTOR,
    bracket_ratio: float = DEFAULT_BRACKET_RATIO,
    grid: Iterable[int] | None = None,
    metric: str = "accuracy",
    candidates: int | None = None,
    floor: float = 0.0,
    progress: bool = True,
) -> D90Result:
    """Measure d90 of fine-tuning ``model`` on ``task`` with ``method`` ("said" or "did").

    Steps (conventions in the module docstring):

    1. Full fine-tuning baseline: one run per ``full_lrs`` × ``seeds`` (``subspace=None``);
       baseline = max over lr of the mean over seeds; ``threshold = frac × baseline``.
    2. Search mode (``grid=None``): coarse geometric grid ``d_min·grid_factor^k`` (capped at
       ``d_max``) until the first passing d, then k-section in log d (bisection when k = 1)
       until ``hi/lo ≤ bracket_ratio``. With ``d_floor``, a ``d_min`` that already passes sends
       the grid downwards, ``d_min/grid_factor^k`` (the last clamped at ``d_floor``), until a d
       fails, so the bracket closes from below; without it (or when ``d_floor`` passes too) the
       status is ``"passes_at_smallest"``. For SAID ``d_floor`` must exceed the model's number of
       λ (they are counted in d). Each d is trained at every ``subspace_lrs`` × ``seeds``
       — or, with ``subspace_lrs_from`` (``{d_from: lrs, ...}``), at the ``lrs`` of the largest
       ``d_from`` ≤ d: subspace training with Adam moves θ_D by about lr·√d per step, so rates
       that train at small d diverge at large d (measured: MiniLM-L6 on MRPC at d = 40,960
       scores 0.797 at lr 0.03, 0.696 at 0.1 and the majority class, 0.684, at 0.3).
       Grid mode (``grid=[...]``): every listed d is trained (one round) and d90 is read off the
       curve with :func:`d90_from_curve` (``d_min``, ``d_max``, ``d_floor``, ``grid_factor``,
       ``bracket_ratio`` and ``candidates`` are then unused).

    ``executor`` is ``"local"`` (default; in-process, sequential), ``"process"`` (a
    :class:`~idtheory.executors.ProcessExecutor`: one single-threaded training per CPU core in
    worker processes), ``"ray"`` (a :class:`~idtheory.executors.RayExecutor` with default
    options: ``$RAY_ADDRESS`` or a local Ray instance) or an executor object
    (:mod:`idtheory.executors`); ``max_parallel`` caps the
    trainings in flight. ``candidates`` is the number k of d evaluated per round (None: as many
    as fill the executor, ``max(1, parallelism // (len(subspace_lrs)·len(seeds)))``, so 1 with
    the local executor); k > 1 enters the settings (and so the summary id) because it changes
    which d are evaluated.

    ``train_fn`` None trains for real (:func:`default_train_fn`: θ_d kept in ``<store>/params``,
    checkpoints in ``<store>/partial``, per-training bars only with ``progress``).
    Every training goes through the store: runs already stored are reused (never resubmitted),
    so calling again after an interruption trains only what is missing. ``d_max=None`` means
    :data:`DEFAULT_D_MAX`, capped by the number of projected parameters D: the ``num_params``
    the baseline records report, or with ``include``/``exclude``/``train_head`` in
    ``subspace_kwargs`` the count of :func:`projected_parameters` (which loads the model).
    ``floor`` > 0 (e.g. :func:`idtheory.tasks.majority_score`) makes the threshold
    ``floor + frac × (baseline − floor)`` (chance-corrected, see :func:`d90_from_curve`); a
    baseline at or below the floor (with the default 0: an MCC ≤ 0, a model no better than
    chance) ends the search with status ``"baseline_failed"``.
    ``base_train`` supplies every other hyper-parameter (its ``lr`` and ``seed`` are replaced;
    its ``metric`` must equal ``metric``). ``subspace_kwargs`` are passed to
    :class:`~idtheory.config.SubspaceConfig` (all but ``dim`` and ``method``).

    The result is saved with ``store.put_summary`` and returned.
    """
    given = locals()
    options = {name: given[name] for name in SEARCH_OPTIONS}  # this signature lists them all
    (result,) = measure_d90_many(
        [{"model": model, "task": task, "method": method, **options}],
        store=store,
        train_fn=train_fn,
        executor=executor,
        max_parallel=max_parallel,
        progress=progress,
    )
    return result


def measure_d90_many(
    jobs: Iterable[Mapping[str, Any]],
    *,
    store: ResultsStore,
    train_fn: TrainFn | None = None,
    executor: Executor | str | None = "local",
    max_parallel: int | None = None,
    progress: bool = True,
    **common: Any,
) -> list[D90Result]:
    """Run several d90 searches at once (a sweep, a trend experiment); results in job order.

    Each job is a mapping with ``model``, ``task``, optionally ``method`` (default "said") and
    any of :data:`SEARCH_OPTIONS`, which override ``common`` (the same options for every job).
    The searches are independent, so their rounds run concurrently: with an executor that has
    ``submit`` (worker processes, Ray) each search submits its next round as soon as its
    previous one is complete,
    and each training is recorded as soon as it finishes; with a ``map``-only executor the
    current rounds of all searches are merged into one ``map`` call. A training shared by
    several jobs (the full fine-tuning baseline of "said" and "did" on the same model and task)
    is trained once. The number of candidate d per round is, unless a job sets ``candidates``,
    ``max(1, parallelism // (jobs × trainings per d))``: fixed for the whole call, so the
    evaluated d depend on the executor's parallelism but not on the timing of the trainings.

    If a training raises (or its Ray worker dies more than ``max_retries`` times), no new
    training is started, the ones in flight are awaited and recorded, and the first exception
    is raised; calling again resumes from the store.
    """
    jobs = [dict(j) for j in jobs]
    unknown_common = set(common) - set(SEARCH_OPTIONS)
    if unknown_common:
        raise TypeError(f"unknown options {sorted(unknown_common)}; known: {SEARCH_OPTIONS}")
    searches: list[_Search] = []
    for job in jobs:
        job = {**common, **job}
        try:
            model, task = job.pop("model"), job.pop("task")
        except KeyError as exc:
            raise ValueError(f"a job needs 'model' and 'task', got {sorted(job)}") from exc
        method = job.pop("method", "said")
        unknown = set(job) - set(SEARCH_OPTIONS)
        if unknown:
            raise TypeError(f"unknown job options {sorted(unknown)}; known: {SEARCH_OPTIONS}")
        searches.append(_Search(model, task, method, **job))
    if max_parallel is not None and max_parallel < 1:
        raise ValueError(f"max_parallel must be >= 1 or None, got {max_parallel}")
    if not searches:
        return []

    if train_fn is None:
        train_fn = default_train_fn(store, progress)
    if executor is None or isinstance(executor, str):
        name = executor or "local"
        executor = get_executor(name, progress=progress) if name == "local" else get_executor(name)
    parallelism = executor_parallelism(executor, max_parallel)
    read_only = bool(getattr(train_fn, "read_only", False))
    for s in searches:
        if s.candidates is not None:
            s.k = s.candidates
        else:  # a replay evaluates the d of the stored search (a cluster's k-section included)
            stored_k = _stored_candidates(store, s) if read_only else None
            s.k = stored_k or max(1, parallelism // (len(searches) * s.units_per_d))
        s.save = not read_only
    gens = [s.steps(store) for s in searches]
    if read_only:  # reads are instant: in this process, whatever would have trained
        return _drive_map(searches, gens, store, train_fn, LocalExecutor(progress=False))
    if callable(getattr(executor, "submit", None)):
        return _drive_futures(searches, gens, store, train_fn, executor, max_parallel, progress)
    return _drive_map(searches, gens, store, train_fn, executor)


@dataclass
class _Round:
    """One round of a search: independent trainings submitted together."""

    specs: list[RunSpec]
    label: str


SearchSteps = Generator[_Round, list[dict[str, Any]], D90Result]


class _Search:
    """One d90 measurement: validated settings and the search as a generator of rounds.

    :meth:`steps` yields a :class:`_Round` and receives the records of its specs (in order); it
    returns the :class:`D90Result` (already saved to the store). The driver fills ``counts``.
    """

    def __init__(
        self,
        model: str,
        task: str,
        method: str = "said",
        *,
        full_lrs: Iterable[float] = DEFAULT_FULL_LRS,
        subspace_lrs: Iterable[float] = DEFAULT_SUBSPACE_LRS,
        subspace_lrs_from: Mapping[int, Iterable[float]] | None = None,
        seeds: Iterable[int] = DEFAULT_SEEDS,
        base_train: TrainConfig | None = None,
        subspace_kwargs: dict[str, Any] | None = None,
        frac: float = DEFAULT_FRAC,
        d_min: int = DEFAULT_D_MIN,
        d_max: int | None = None,
        d_floor: int | None = None,
        grid_factor: float = DEFAULT_GRID_FACTOR,
        bracket_ratio: float = DEFAULT_BRACKET_RATIO,
        grid: Iterable[int] | None = None,
        metric: str = "accuracy",
        candidates: int | None = None,
        floor: float = 0.0,
    ) -> None:
        if method not in ("said", "did"):
            raise ValueError(f"method must be 'said' or 'did', got {method!r}")
        self.full_lrs = _unique_floats(full_lrs, "full_lrs")
        self.sub_lrs = _unique_floats(subspace_lrs, "subspace_lrs")
        self.sub_lrs_from = {
            _positive_int(int(d), "subspace_lrs_from keys"): _unique_floats(
                lrs, f"subspace_lrs_from[{d}]"
            )
            for d, lrs in sorted((subspace_lrs_from or {}).items(), key=lambda kv: int(kv[0]))
        }
        self.seeds = tuple(dict.fromkeys(int(s) for s in seeds))
        if not self.seeds:
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
        self.sub_kwargs = dict(subspace_kwargs or {})
        if {"dim", "method"} & set(self.sub_kwargs):
            raise ValueError("subspace_kwargs must not set 'dim' or 'method'")
        self.method = cast(Literal["said", "did"], method)
        SubspaceConfig(dim=1, method=self.method, **self.sub_kwargs)  # validate early
        self.grid: tuple[int, ...] | None = None
        if grid is not None:
            self.grid = tuple(sorted({_positive_int(d, "grid entries") for d in grid}))
            if not self.grid:
                raise ValueError("grid must not be empty")
        else:
            _positive_int(d_min, "d_min")
            if d_max is not None and _positive_int(d_max, "d_max") < d_min:
                raise ValueError(f"d_max={d_max} < d_min={d_min}")
            if d_floor is not None and _positive_int(d_floor, "d_floor") > d_min:
                raise ValueError(f"d_floor={d_floor} > d_min={d_min}")
            if not grid_factor > 1:
                raise ValueError(f"grid_factor must be > 1, got {grid_factor}")
            if not bracket_ratio > 1:
                raise ValueError(f"bracket_ratio must be > 1, got {bracket_ratio}")
        if candidates is not None:
            _positive_int(candidates, "candidates")
        self.model, self.task = model, task
        self.base_train, self.frac, self.metric = base_train, frac, metric
        self.d_min, self.d_max, self.d_floor = d_min, d_max, d_floor
        self.grid_factor, self.bracket_ratio = grid_factor, bracket_ratio
        self.candidates = candidates
        self.floor = float(floor)
        self.k = candidates or 1  # candidate d per round; set by the driver
        self.counts = {"trained": 0, "reused": 0}
        self.save = True  # store the summary (the driver turns it off for read-only trainers)

    @property
    def units_per_d(self) -> int:
        """Trainings behind one evaluated d (learning rates × seeds; the most of any d)."""
        lr_counts = [len(self.sub_lrs), *map(len, self.sub_lrs_from.values())]
        return max(lr_counts) * len(self.seeds)

    def lrs_at(self, d: int) -> tuple[float, ...]:
        """The subspace learning rates of dimension ``d`` (:func:`subspace_lrs_at`)."""
        return tuple(subspace_lrs_at(d, self.sub_lrs, self.sub_lrs_from))

    def settings(self) -> dict[str, Any]:
        """The search settings recorded in (and hashed into) the summary."""
        sub = SubspaceConfig(dim=1, method=self.method, **self.sub_kwargs).to_dict()
        sub.pop("dim")
        settings: dict[str, Any] = {
            "full_lrs": list(self.full_lrs),
            "subspace_lrs": list(self.sub_lrs),
            "seeds": list(self.seeds),
            "base_train": {
                k: v for k, v in self.base_train.to_dict().items() if k not in HASH_EXCLUDED
            },
            "subspace_kwargs": sub,
            "frac": self.frac,
            "metric": self.metric,
        }
        if self.floor:  # the paper's threshold (floor 0) keeps earlier summary ids
            settings["floor"] = self.floor
        if self.sub_lrs_from:  # unset keeps earlier summary ids
            settings["subspace_lrs_from"] = {str(d): list(v) for d, v in self.sub_lrs_from.items()}
        if self.grid is not None:
            settings["grid"] = list(self.grid)
        else:
            settings.update(
                d_min=self.d_min,
                d_max=self.d_max,
                grid_factor=self.grid_factor,
                bracket_ratio=self.bracket_ratio,
            )
            if self.k > 1:  # k = 1 (bisection) keeps the summary ids of earlier versions
                settings["candidates"] = self.k
            if self.d_floor is not None:  # unset keeps earlier summary ids
                settings["d_floor"] = self.d_floor
        return settings

    def run_spec(self, method: str, dim: int | None, lr: float, seed: int) -> RunSpec:
        """This search's training at (``method``, ``dim``, ``lr``, ``seed``)."""
        return search_run_spec(
            self.model,
            self.task,
            method,
            dim,
            base_train=self.base_train,
            lr=lr,
            seed=seed,
            subspace_kwargs=self.sub_kwargs,
        )

    def projected_cap(self, full_records: Sequence[dict[str, Any]]) -> int | None:
        """D of the searched subspace: the number of parameters the projection reaches, the
        largest d a subspace training accepts (None when unknown).

        The whole model (the ``num_params`` the baseline records report) unless
        ``subspace_kwargs`` narrow it (``include``, ``exclude``, ``train_head``); then
        :func:`projected_parameters` counts it on the loaded model.
        """
        sub = SubspaceConfig(dim=1, method=self.method, **self.sub_kwargs)
        if sub.include is not None or sub.exclude is not None or sub.train_head:
            return projected_parameters(self.model, self.task, sub)
        reported = [r["num_params"] for r in full_records if is_finite_number(r.get("num_params"))]
        return min(int(n) for n in reported) if reported else None

    def steps(self, store: ResultsStore) -> SearchSteps:
        """The search, one round per ``yield`` (see the class docstring)."""
        model, task, metric, method = self.model, self.task, self.metric, self.method
        settings = self.settings()
        run_ids: list[str] = []
        problems: list[dict[str, Any]] = []

        def run_round(
            specs: list[RunSpec], label: str
        ) -> Generator[_Round, list[dict[str, Any]], list[dict[str, Any]]]:
            records = yield _Round(specs, f"{model}/{task} {label}")
            for s, r in zip(specs, records, strict=True):
                if r is None:  # not stored (read-only trainer)
                    continue
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

        def finish(result: D90Result) -> D90Result:
            return _finish(result, store, run_ids, problems, self.counts, save=self.save)

        # ---- 1. full fine-tuning baseline
        full_specs = [
            self.run_spec("full", None, lr, seed) for lr in self.full_lrs for seed in self.seeds
        ]
        full_records = yield from run_round(full_specs, "full fine-tuning")
        result = D90Result(
            model=model,
            task=task,
            method=method,
            mode="grid" if self.grid is not None else "search",
            metric=metric,
            frac=self.frac,
            status="baseline_failed",
            d90=None,
            bracket=(None, None),
            baseline_score=None,
            baseline_lr=None,
            threshold=None,
            settings=settings,
        )
        if any(r is None for r in full_records):
            return finish(replace(result, status=PARTIAL))
        baseline_cells = score_cells(full_specs, full_records, metric)
        result = replace(result, baseline=baseline_cells)
        if not any(r.get("status") == "ok" for r in full_records):
            return finish(result)
        best = best_cell(baseline_cells)
        baseline_score = best.score
        if not baseline_score > self.floor:  # e.g. MCC 0 (constant predictor) with floor 0
            problems.append(
                {"message": f"baseline {baseline_score:.4f} does not beat floor {self.floor:.4f}"}
            )
            return finish(replace(result, baseline_score=baseline_score, baseline_lr=best.lr))
        threshold = d90_threshold(baseline_score, self.frac, self.floor)
        result = replace(
            result, baseline_score=baseline_score, baseline_lr=best.lr, threshold=threshold
        )
        d_max = self.d_max
        if d_max is None and self.grid is None:
            cap = self.projected_cap(full_records)
            d_max = max(self.d_min, DEFAULT_D_MAX if cap is None else min(DEFAULT_D_MAX, cap))
            settings["d_max_resolved"] = d_max

        # ---- 2. subspace trainings
        points: dict[int, D90Point] = {}
        path: list[int] = []
        pending: list[int] = []  # d evaluated from part of their runs (store-only reads)

        def sub_specs(d: int) -> list[RunSpec]:
            return [
                self.run_spec(method, d, lr, seed) for lr in self.lrs_at(d) for seed in self.seeds
            ]

        def evaluate(ds: list[int]) -> Generator[_Round, list[dict[str, Any]], bool]:
            """One round: train every lr × seed of every d in ``ds`` (none evaluated before);
            False when a run is not stored (read-only): the d whose runs are all stored are
            evaluated, and so is a d whose rates stored whole already pass (``pending``: its
            score a lower bound); the others not."""
            ds = [d for d in ds if d not in points]
            specs_per_d = [sub_specs(d) for d in ds]
            flat = [s for specs in specs_per_d for s in specs]
            records = yield from run_round(flat, f"{method} d=" + ",".join(map(str, ds)))
            i, complete = 0, True
            for d, specs in zip(ds, specs_per_d, strict=True):
                recs = records[i : i + len(specs)]
                i += len(specs)
                whole = all(r is not None for r in recs)
                if not whole:
                    complete = False
                    specs, recs = whole_lrs(specs, recs)
                    if not specs:
                        continue
                top = best_cell(cells := score_cells(specs, recs, metric))
                passing = passes(top.score, threshold)
                if not whole:
                    if not passing:  # a rate still training may yet pass: undecided
                        continue
                    pending.append(d)
                points[d] = D90Point(
                    d=d, score=top.score, best_lr=top.lr, passes=passing, cells=cells
                )
                path.append(d)
            return complete

        complete = True
        if self.grid is not None:
            complete = yield from evaluate(list(self.grid))
        else:
            assert d_max is not None
            rounds = d_rounds(
                self.d_min, d_max, self.grid_factor, self.bracket_ratio, self.k, self.d_floor
            )
            ds = next(rounds)
            while complete := (yield from evaluate(ds)):
                try:
                    ds = rounds.send({d: points[d].passes for d in ds})
                except StopIteration:
                    break

        ordered = sorted(points.values(), key=lambda p: p.d)
        if not ordered:  # read-only, and not one d is stored yet
            return finish(replace(result, status=PARTIAL))
        curve = d90_from_curve(
            [p.d for p in ordered],
            [p.score for p in ordered],
            baseline_score,
            self.frac,
            self.floor,
        )
        result = replace(
            result,
            status=curve.status if complete else PARTIAL,
            d90=curve.d90,
            bracket=curve.bracket,
            points=ordered,
            search_path=path,
            non_monotone=list(curve.violations),
            d90_stable=curve.d90_stable,
            pending=sorted(pending),
        )
        return finish(result)


#: The rounds of a search's d: yields each round's d, receives whether each of them passed.
DRounds = Generator[list[int], dict[int, bool], None]


def d_rounds(
    d_min: int,
    d_max: int,
    grid_factor: float,
    bracket_ratio: float,
    k: int = 1,
    d_floor: int | None = None,
) -> DRounds:
    """Which d a search evaluates, round by round, as a function of the outcomes alone.

    Yields the d of a round (none yielded before) and receives ``{d: passes}`` for them:
    first the ×``grid_factor`` grid from ``d_min`` up to ``d_max``, ``k`` points a round, until
    a round holds a passing d; then, with ``d_floor`` and a passing ``d_min``, the grid down
    from ``d_min`` to ``d_floor`` until a round holds a failing d; then k-section rounds
    (:func:`section_points`) of the bracket (largest failing d below the smallest passing d,
    smallest passing d) until its ratio is at most ``bracket_ratio``. The one schedule both
    :class:`_Search` (which trains each round) and :func:`possible_d90s` (which explores every
    outcome) follow.
    """
    passes: dict[int, bool] = {}
    coarse = _geometric_grid(d_min, d_max, grid_factor)
    for start in range(0, len(coarse), k):  # up, until a round holds a passing d
        chunk = coarse[start : start + k]
        passes.update((yield chunk))
        if any(passes[d] for d in chunk):
            break
    if d_floor is not None and passes[d_min]:
        below = _downward_grid(d_min, d_floor, grid_factor)
        for start in range(0, len(below), k):  # down, until a round holds a failing d
            chunk = below[start : start + k]
            passes.update((yield chunk))
            if not all(passes[d] for d in chunk):
                break
    while True:
        lo, hi = _bracket(passes)
        if lo is None or hi is None or hi / lo <= bracket_ratio:
            return
        ds = section_points(lo, hi, k, bracket_ratio)
        if not ds:  # adjacent integers: the bracket is exact
            return
        passes.update((yield ds))


def section_points(lo: int, hi: int, k: int, bracket_ratio: float) -> list[int]:
    """The candidate d of one k-section round of the bracket ``(lo, hi)``, in increasing order.

    ``j ≤ k`` points split ``[log lo, log hi]`` into ``j + 1`` equal parts (rounded to distinct
    integers strictly inside the bracket), with ``j`` the fewest that bring the ratio of each
    part down to ``bracket_ratio`` (at most ``k``): the last round spends no more trainings than
    it needs. ``k = 1`` is the bisection ``round(√(lo·hi))``. Every integer in between when
    there are at most ``j`` of them; none when ``hi = lo + 1``.
    """
    if hi - lo <= 1:
        return []
    ratio = hi / lo
    j = 1
    while j < k and ratio ** (1.0 / (j + 1)) > bracket_ratio:
        j += 1
    if j == 1:
        mid = math.floor(math.sqrt(lo * hi) + 0.5)
        return [min(max(mid, lo + 1), hi - 1)]
    if hi - lo - 1 <= j:
        return list(range(lo + 1, hi))
    out: list[int] = []
    for i in range(1, j + 1):
        x = math.sqrt(lo * hi) if 2 * i == j + 1 else lo * ratio ** (i / (j + 1))
        d = max(math.floor(x + 0.5), (out[-1] if out else lo) + 1)
        out.append(min(d, hi - (j - i + 1)))
    return out


def possible_d90s(settings: Mapping[str, Any]) -> list[int]:
    """Every d a search with these ``settings`` (a summary's) could return as its d90, whatever
    its scores turn out to be: each d it could evaluate under some sequence of pass/fail
    outcomes (monotone or not), in increasing order. Grid mode: the grid.

    This is the set a generalization bound must put its prior on when it pays for choosing d90
    after seeing the data (``log2(len(...))`` bits, ``n_candidate_d``): it is fixed by the
    settings before any training, where the d a search happened to evaluate were chosen by its
    scores. Bisection keeps it small: 29 values for the quick scale's 10 … 100,000 (×4 grid,
    bracket 1.5) against 99,991 integers. Computed by following :func:`d_rounds`, the schedule
    the search itself runs, through every outcome of every round.
    """
    if settings.get("grid") is not None:
        return sorted({int(d) for d in settings["grid"]})
    return sorted({d for path in _schedule_paths(settings) for ds in path for d in ds})


def settings_d_max(settings: Mapping[str, Any]) -> int | None:
    """The largest d a search with these settings climbs to: ``d_max``, or the one it resolved
    from its baseline's runs (``d_max_resolved``, a partial read's); None while unresolved."""
    d_max = settings.get("d_max_resolved", settings.get("d_max"))
    return None if d_max is None else int(d_max)


def _schedule_paths(
    settings: Mapping[str, Any], decided: Mapping[int, bool] | None = None
) -> Iterator[list[list[int]]]:
    """Every way a search with these (non-grid) ``settings`` can run to its end: the d of each
    of its rounds, along every sequence of pass/fail outcomes of the d not in ``decided`` (those
    in it keep their outcome). Follows :func:`d_rounds`, replayed for each branch (a generator
    cannot fork)."""
    d_max = settings_d_max(settings)
    if d_max is None:
        raise ValueError(
            "the settings leave d_max unresolved: pass a search's (summary's) settings"
        )
    schedule = functools.partial(
        d_rounds,
        int(settings["d_min"]),
        int(d_max),
        float(settings["grid_factor"]),
        float(settings["bracket_ratio"]),
        int(settings.get("candidates", 1)),
        settings.get("d_floor"),
    )
    known = dict(decided or {})

    def explore(history: list[dict[int, bool]], path: list[list[int]]) -> Iterator[list[list[int]]]:
        rounds = schedule()
        try:
            ds = next(rounds)
            for outcome in history:
                ds = rounds.send(outcome)
        except StopIteration:
            yield path
            return
        open_ds = [d for d in ds if d not in known]
        for guess in _outcomes(len(open_ds)):
            outcome = {d: known[d] for d in ds if d in known} | dict(zip(open_ds, guess))
            yield from explore([*history, outcome], [*path, ds])

    return explore([], [])


def settings_specs(
    model: str, task: str, method: str, d: int, settings: Mapping[str, Any]
) -> list[RunSpec]:
    """The trainings (learning rates × seeds) a search with these ``settings`` (a summary's, or
    a partial read's) runs of ``method`` at dimension ``d`` — the specs, and so the run ids, its
    own :meth:`_Search.run_spec` builds, for code that holds a search's settings but not the
    search (:func:`trainings_left`'s callers)."""
    train = TrainConfig(**settings["base_train"])
    sub = {
        k: v
        for k, v in (settings.get("subspace_kwargs") or {}).items()
        if k not in ("method", "dim")
    }
    lrs = subspace_lrs_at(d, settings["subspace_lrs"], settings.get("subspace_lrs_from"))
    return [
        search_run_spec(
            model, task, method, d, base_train=train, lr=lr, seed=seed, subspace_kwargs=sub
        )
        for lr in lrs
        for seed in settings["seeds"]
    ]


def trainings_left(
    settings: Mapping[str, Any],
    passes: Mapping[int, bool],
    missing_runs: Callable[[int], int],
) -> tuple[int, int]:
    """The fewest and the most trainings a search with these ``settings`` still needs before it
    ends, whatever the scores still to come: ``passes`` holds the outcome of every d decided so
    far (pending d included: their pass is final), ``missing_runs(d)`` how many of d's runs
    (rates × seeds) the store lacks.

    Follows :func:`d_rounds` as the search will: through the rounds the decided outcomes
    settle, then through every outcome of the undecided d (as :func:`possible_d90s` does),
    summing ``missing_runs`` over the d of every round on the way — so a d some other search
    already trained costs nothing, and a decided d still missing a rate counts that rate. The
    range is over outcomes: (4, 6) means at least 4 and at most 6 more trainings. Grid mode:
    the grid's missing runs, one number.
    """
    if settings.get("grid") is not None:
        n = sum(missing_runs(int(d)) for d in settings["grid"])
        return n, n
    cost = functools.cache(missing_runs)
    totals = [sum(cost(d) for ds in path for d in ds) for path in _schedule_paths(settings, passes)]
    return min(totals), max(totals)


def _outcomes(n: int) -> Iterable[tuple[bool, ...]]:
    """Every pass/fail outcome of n candidate d."""
    return itertools.product((False, True), repeat=n)


# ======================================================================== drivers


def _advance(
    gen: SearchSteps, records: list[dict[str, Any]] | None
) -> tuple[_Round | None, D90Result | None]:
    """Send ``records`` (None: start) to a search; its next round, or its result when done."""
    try:
        rnd = next(gen) if records is None else gen.send(records)
    except StopIteration as stop:
        return None, cast(D90Result, stop.value)
    return rnd, None


def _drive_map(
    searches: list[_Search],
    gens: list[SearchSteps],
    store: ResultsStore,
    train_fn: TrainFn,
    executor: Executor,
) -> list[D90Result]:
    """Lockstep driver for ``map``-only executors: the current rounds of all searches form one
    round of trainings (:func:`train_records`)."""
    results: list[D90Result | None] = [None] * len(gens)
    current: dict[int, _Round] = {}
    for i, gen in enumerate(gens):
        rnd, res = _advance(gen, None)
        if rnd is None:
            results[i] = res
        else:
            current[i] = rnd
    while current:
        unique: dict[str, RunSpec] = {}
        for i, rnd in current.items():
            for s in rnd.specs:
                h = s.config_hash()
                if h in unique:  # the same training in two searches: trained once
                    searches[i].counts["reused"] += 1
                    continue
                unique[h] = s
                searches[i].counts["trained" if store.needs_training(s) else "reused"] += 1
        if isinstance(executor, LocalExecutor):
            executor.desc = _round_desc([rnd.label for rnd in current.values()])
        records = train_records(store, train_fn, executor, list(unique.values()))
        by_id = dict(zip(unique, records, strict=True))
        for i in list(current):
            rnd = current.pop(i)
            nxt, res = _advance(gens[i], [by_id[s.config_hash()] for s in rnd.specs])
            if nxt is None:
                results[i] = res
            else:
                current[i] = nxt
    return [cast(D90Result, r) for r in results]


def _round_desc(labels: Sequence[str], width: int = 60) -> str:
    """A progress-bar title for one round of several searches, at most about ``width`` chars."""
    text = "; ".join(labels)
    if len(labels) <= 1 or len(text) <= width:
        return text
    return f"{len(labels)} searches: {labels[0][: width - 20]}; …"


def _drive_futures(
    searches: list[_Search],
    gens: list[SearchSteps],
    store: ResultsStore,
    train_fn: TrainFn,
    executor: FutureExecutor,
    max_parallel: int | None,
    progress: bool,
) -> list[D90Result]:
    """Asynchronous driver for executors with ``submit``: every search advances as soon as its
    round is complete; each training is recorded (by the driver when the executor has
    ``driver_records``, else by the unit itself) as soon as it finishes."""
    from tqdm.auto import tqdm

    driver_records = bool(getattr(executor, "driver_records", False))
    unit: Callable[[RunSpec], dict[str, Any]] = (
        functools.partial(train_unit, train_fn)
        if driver_records
        else functools.partial(record_of, store, train_fn)
    )
    caps = [c for c in (max_parallel, getattr(executor, "max_parallel", None)) if c is not None]
    limit = min(caps) if caps else None

    results: list[D90Result | None] = [None] * len(gens)
    current: dict[int, _Round] = {}
    waiting: dict[int, set[str]] = {}  # search → run_ids its current round still waits for
    ready: deque[int] = deque()  # searches whose current round is complete
    queue: deque[RunSpec] = deque()  # trainings not yet submitted
    pending: set[str] = set()  # run_ids queued or in flight
    in_flight: dict[concurrent.futures.Future[dict[str, Any]], RunSpec] = {}
    finished: dict[str, dict[str, Any]] = {}  # records of trainings run by this call
    error: BaseException | None = None
    bar = tqdm(total=0, desc="trainings", disable=not progress, unit="run")

    def start(i: int, records: list[dict[str, Any]] | None) -> None:
        rnd, res = _advance(gens[i], records)
        if rnd is None:
            results[i] = res
            current.pop(i, None)
            return
        current[i] = rnd
        missing: set[str] = set()
        for s in rnd.specs:
            h = s.config_hash()
            if h in pending:  # being trained for another search
                searches[i].counts["reused"] += 1
                missing.add(h)
            elif h in finished or not store.needs_training(s):
                searches[i].counts["reused"] += 1
            else:
                searches[i].counts["trained"] += 1
                queue.append(s)
                pending.add(h)
                missing.add(h)
        waiting[i] = missing
        if not missing:
            ready.append(i)

    def stored(s: RunSpec) -> dict[str, Any]:
        h = s.config_hash()
        rec = finished.get(h) or store.get(h)
        assert rec is not None, f"no record for {h}"
        return rec

    # A Ctrl-C anywhere in the loop, or a training interrupted in its worker (its future holds
    # the KeyboardInterrupt, which `except Exception` lets through), stops the executor's
    # trainings at their step end; the driver then stores those that ended meanwhile.
    keep_completed = (lambda: _store_completed(store, in_flight)) if driver_records else None
    try:
        with stop_on_interrupt(executor, then=keep_completed):
            for i in range(len(gens)):
                start(i, None)
            while True:
                while ready and error is None:
                    i = ready.popleft()
                    start(i, [stored(s) for s in current[i].specs])
                while error is None and queue and (limit is None or len(in_flight) < limit):
                    s = queue.popleft()
                    in_flight[executor.submit(unit, s)] = s
                    bar.total += 1
                    bar.refresh()
                if not in_flight:
                    break
                done, _ = concurrent.futures.wait(
                    in_flight, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for fut in done:
                    s = in_flight.pop(fut)
                    h = s.config_hash()
                    pending.discard(h)
                    bar.update(1)
                    try:
                        rec = fut.result()
                        if driver_records:
                            rec = store.put_result(s, rec)
                    except Exception as exc:  # stop submitting, drain what runs, then raise
                        if error is None:
                            error = exc
                            queue.clear()
                        continue
                    finished[h] = rec
                    for i, missing in waiting.items():
                        if h in missing:
                            missing.discard(h)
                            if not missing:
                                ready.append(i)
    finally:
        bar.close()
    if error is not None:
        raise error
    assert all(r is not None for r in results), "a search did not finish"
    return [cast(D90Result, r) for r in results]


# ======================================================================== helpers


def _store_completed(
    store: ResultsStore, futures: Mapping[concurrent.futures.Future, RunSpec]
) -> None:
    """After an interrupt (the executor's workers stopped): store the records of the trainings
    whose futures completed meanwhile — a training past its last step when asked to stop
    finishes — instead of training them again (storing one twice writes nothing)."""
    for fut, spec in futures.items():
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            store.put_result(spec, fut.result())


def _stored_candidates(store: ResultsStore, search: _Search) -> int | None:
    """The k of a finished search in ``store`` with ``search``'s settings but for ``candidates``
    (a k-section run by an executor with more trainings at once than a replay has), else None:
    a store-only replay then evaluates the d that search did. None too where the store holds
    the bisection (k = 1) of those settings; of several k-sections, the latest stored."""
    if search.grid is not None:
        return None
    ignored = ("candidates", "d_max_resolved")

    def core(settings: Mapping[str, Any]) -> str:
        return canonical_json({k: v for k, v in settings.items() if k not in ignored})

    mine = core(search.settings())
    found = [
        int((summary["settings"]).get("candidates", 1))
        for summary in store.summaries(model=search.model, task=search.task, method=search.method)
        if summary.get("mode") == "search" and core(summary.get("settings") or {}) == mine
    ]
    return None if not found or 1 in found else found[-1]


def _finish(
    result: D90Result,
    store: ResultsStore,
    run_ids: list[str],
    problems: list[dict[str, Any]],
    counts: dict[str, int],
    *,
    save: bool = True,
) -> D90Result:
    ident = {
        "model": result.model,
        "task": result.task,
        "method": result.method,
        "mode": result.mode,
        "settings": {k: v for k, v in result.settings.items() if k != "d_max_resolved"},
    }
    result = replace(
        result,
        run_ids=list(run_ids),
        problems=list(problems),
        n_trained=counts["trained"],
        n_reused=counts["reused"],
        summary_id=content_id(ident),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    if result.status != PARTIAL:  # a search the store already holds: when it was measured
        stored = store.put_summary(result) if save else store.stored_summary(result)
        # a replay of runs whose summary the store lacks (merged without it): no time to tell
        result = replace(result, created="" if stored is None else stored["created"])
    return result


def _bracket(passes: Mapping[int, bool]) -> tuple[int | None, int | None]:
    """(largest failing d below the smallest passing d, smallest passing d)."""
    hi = min((d for d, p in passes.items() if p), default=None)
    failing = [d for d, p in passes.items() if not p and (hi is None or d < hi)]
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


def _downward_grid(d_min: int, d_floor: int, factor: float) -> list[int]:
    """``round(d_min / factor^k)`` for k = 1, 2, …, strictly decreasing, the last entry clamped
    at ``d_floor`` (empty when ``d_floor = d_min``)."""
    out: list[int] = []
    k = 1
    while (out[-1] if out else d_min) > d_floor:
        d = min(math.floor(d_min / factor**k + 0.5), (out[-1] if out else d_min) - 1)
        out.append(max(d, d_floor))
        k += 1
    return out


def _unique_floats(values: Iterable[float], name: str) -> tuple[float, ...]:
    out = tuple(dict.fromkeys(float(v) for v in values))
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be positive integers, got {value!r}")
    return value
