"""Data of notebook 01 (Figure 1 and Table 1): accuracy against d and the d90 tables, from the
searches of :mod:`idtheory.search` (computed, or read back from the store)."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from idtheory.figures.context import (
    PAPER_TABLE1,
    FigureContext,
    project_root,
)

# =============================================================================== Figure 1


def _d90_results(
    ctx: FigureContext, jobs: Sequence[Mapping[str, Any]], grid: Sequence[int] | None
) -> list[dict[str, Any]]:
    """:func:`~idtheory.search.measure_d90_many` of ``jobs`` at the scale's settings (grid mode
    over ``grid``, else search mode) with :meth:`FigureContext.trainer`: computed, or read back
    from the store (status ``"partial"`` where the store ends)."""
    from idtheory.search import measure_d90_many

    results = measure_d90_many(
        jobs,
        store=ctx.store,
        train_fn=ctx.trainer(),
        executor=(ctx.executor() if ctx.compute else None) or "local",
        progress=ctx.sweep_progress,
        **ctx.search_options(grid),
    )
    return [r.to_dict() for r in results]


def grid_results(ctx: FigureContext) -> list[dict[str, Any]]:
    """D90Result dicts (grid mode over ``dims``; search mode when ``dims`` is None) for every
    model × task × method.

    ``compute=True`` trains what is missing (:func:`~idtheory.search.measure_d90_many`; stored
    runs are reused). Otherwise the same searches read the store (:meth:`FigureContext.trainer`):
    the grid's result where the store holds all of it, else the search mode's, else the one of
    the two with the most points stored so far (status ``"partial"``: a sweep in progress
    renders its points); a cell with no point stored is noted as missing.
    """
    from idtheory.search import PARTIAL

    p = ctx.params
    jobs = [
        {"model": m, "task": t, "method": meth}
        for m in p["models"]
        for t in p["tasks"]
        for meth in p["methods"]
    ]
    if not jobs:
        return []
    found = _d90_results(ctx, jobs, p["dims"])
    if ctx.compute:
        return found
    tries = [found] if p["dims"] is None else [found, _d90_results(ctx, jobs, None)]
    out = []
    for j, results in zip(jobs, zip(*tries, strict=True), strict=True):
        complete = [r for r in results if r["status"] != PARTIAL]
        best = complete[0] if complete else max(results, key=lambda r: len(r["points"]))
        if best["points"] or complete:
            out.append(best)
            continue
        grid = f"on the grid {p['dims']}" if p["dims"] is not None else "(d90 search)"
        ctx.note_missing(
            f"Figure 1 / Table 1: {j['model']} / {j['task']} / {j['method'].upper()} {grid}"
        )
    return out


def curve_rows(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per evaluated d of each D90Result dict (the table behind Figure 1)."""
    rows = []
    for r in results:
        for pt in sorted(r.get("points") or [], key=lambda q: q["d"]):
            rows.append(
                {
                    "model": r["model"],
                    "task": r["task"],
                    "method": r["method"],
                    "d": pt["d"],
                    "score": pt["score"],
                    "best_lr": pt["best_lr"],
                    "passes": pt["passes"],
                    "baseline": r.get("baseline_score"),
                    "threshold": r.get("threshold"),
                    "d90": r.get("d90"),
                    "status": r.get("status"),
                }
            )
    return rows


def results_by_task(
    ctx: FigureContext, results: Sequence[Mapping[str, Any]]
) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """``(canonical task name, its results)`` for every task of the scale, in the scale's order
    (Figure 1 draws one panel per task; ``"SST-2"`` and ``"sst2"`` are the same task)."""
    from idtheory.tasks import get_task

    out = []
    for task in ctx.params["tasks"]:
        name = get_task(task).name
        out.append((name, [r for r in results if get_task(r["task"]).name == name]))
    return out


def load_paper_table1(path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The paper's Table 1 (``data/paper/table1.csv``): model, task, method, d90, source,
    confidence."""
    p = Path(path) if path is not None else project_root() / PAPER_TABLE1
    with p.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["d90"] = int(r["d90"])
    return rows


def table1_rows(ctx: FigureContext, results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the Table 1 comparison: every paper value, then every d90 we measured (model
    shown under its paper name when ``paper_labels`` maps it)."""
    from idtheory.curve import threshold_is_degenerate
    from idtheory.tasks import get_task

    labels = ctx.params.get("paper_labels") or {}
    rows: list[dict[str, Any]] = []
    for r in load_paper_table1(ctx.root / PAPER_TABLE1):
        rows.append(
            {
                "source": "paper",
                "model": r["model"],
                "task": r["task"],
                "method": r["method"],
                "d90": r["d90"],
                "status": "reported",
                "bracket": None,
                "baseline": None,
                "our_model": None,
                "note": f"{r['source']}; confidence: {r['confidence']}",
            }
        )
    majority: dict[str, float | None] = {}
    for r in results:
        if r["task"] not in majority:
            majority[r["task"]] = majority_line(ctx, r["task"])
        chance, thr = majority[r["task"]], r.get("threshold")
        below_chance = threshold_is_degenerate(thr, chance)
        note = f"grid {[p['d'] for p in r.get('points') or []]}"
        rows.append(
            {
                "source": f"ours ({ctx.scale})",
                "model": labels.get(r["model"], r["model"]),
                "task": get_task(r["task"]).name,
                "method": r["method"],
                "d90": r.get("d90"),
                "status": r.get("status"),
                "bracket": r.get("bracket"),
                "baseline": r.get("baseline_score"),
                "our_model": r["model"],
                "below_chance": below_chance,
                "note": note
                + (f"; threshold {thr:.4f} ≤ majority class {chance:.4f}" if below_chance else ""),
            }
        )
    return rows


BELOW_CHANCE_MARK = " (threshold ≤ majority)"
"""Appended to a d90 in :func:`table1_frame` whose threshold a constant predictor reaches."""


def table1_frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Table 1 as a pandas frame (source × model by method × task) whose d90 cells carry the
    caveat of the figure: a d90 read against a threshold at or below the majority class is shown
    with :data:`BELOW_CHANCE_MARK` (a subspace that learned nothing passes there)."""
    import pandas as pd

    cells = [
        {
            **r,
            "d90": "–"
            if r.get("d90") is None
            else f"{r['d90']:,}" + (BELOW_CHANCE_MARK if r.get("below_chance") else ""),
        }
        for r in rows
    ]
    return pd.DataFrame(cells).pivot_table(
        index=["source", "model"], columns=["method", "task"], values="d90", aggfunc="first"
    )


D90_TABLE_COLUMNS: dict[str, str] = {
    "task": "task",
    "method": "method",
    "baseline": "full FT dev",
    "majority": "majority class",
    "threshold": "threshold",
    "d90": "d90",
    "bracket": "bracket",
    "d90_above_majority": "d90 above majority",
    "curve": "evaluated d: best dev",
    "trainings": "trainings",
    "cpu_hours": "CPU h",
    "status": "status",
}
"""Columns (key → header) of :func:`d90_rows` as the README shows them."""


def d90_rows(ctx: FigureContext, results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per d90 result of :func:`grid_results` (complete or ``"partial"``), under both
    thresholds.

    Columns: baseline; the majority-class score of the task's dev set; the paper's threshold
    (``frac × baseline``), its d90 and bracket (a threshold at or below the majority class makes
    d90 trivially small: flagged in ``status``); the chance-corrected bracket
    ``d90_above_majority`` (threshold ``majority + frac × (baseline − majority)``); the
    evaluated curve; the cost (trainings behind the result, their summed wall time in hours).

    The search behind a summary stopped at *one* threshold (``settings["floor"]``): that
    threshold's bracket is the bisected one of the summary, the other is read off the evaluated
    points with :func:`~idtheory.curve.d90_from_curve` — ``(largest d, ∞]`` when no evaluated
    d reaches it, and only as fine as the points the search happened to evaluate.
    """
    from idtheory.curve import d90_from_curve, d90_threshold, format_bracket

    cache: dict[str, float] = {}
    rows = []
    for r in results:
        metric = r.get("metric") or ctx.params["metric"]
        majority = _majority_score(r["task"], metric, cache)
        recs = [ctx.store.get(i) for i in r.get("run_ids") or []]
        recs = [x for x in recs if x is not None]
        status = r.get("status") or ""
        pts = sorted(r.get("points") or [], key=lambda q: q["d"])
        base = r.get("baseline_score")
        frac = float(r.get("frac") or ctx.params["frac"])
        searched_floor = float((r.get("settings") or {}).get("floor") or 0.0)

        dims, scores = [p["d"] for p in pts], [p["score"] for p in pts]
        threshold, d90, bracket = r.get("threshold"), r.get("d90"), r.get("bracket")
        corrected = None
        if searched_floor > 0 and base is not None:  # a chance-corrected search
            corrected = format_bracket(bracket)
            threshold = d90_threshold(base, frac)
            d90, bracket = None, None
            if pts and base > 0:
                paper = d90_from_curve(dims, scores, base, frac, 0.0)
                d90, bracket, status = paper.d90, paper.bracket, paper.status
        elif pts and base is not None and base > majority:
            corrected = format_bracket(d90_from_curve(dims, scores, base, frac, majority).bracket)
        if threshold is not None and threshold <= majority:
            status += " (threshold ≤ majority class)"
        rows.append(
            {
                "model": r["model"],
                "task": r["task"],
                "method": r["method"].upper(),
                "metric": metric,
                "baseline": base,
                "majority": majority,
                "threshold": threshold,
                "d90": d90,
                "bracket": format_bracket(bracket),
                "d90_above_majority": corrected,
                "curve": ", ".join(f"{p['d']}: {p['score']:.3f}" for p in pts),
                "trainings": len(recs),
                "cpu_hours": round(sum(x.get("wall_time_s") or 0.0 for x in recs) / 3600, 2),
                "status": status,
            }
        )
    return rows


def majority_line(ctx: FigureContext, task: str) -> float | None:
    """The constant majority-class predictor's dev score on ``task`` in the scale's metric
    (Figure 1's chance line), or None where the task's dev data is not available."""
    from idtheory.tasks import TaskDataNotFound, majority_score

    try:
        return majority_score(task, ctx.params["metric"], ctx.data_dir)
    except TaskDataNotFound:
        return None


def _majority_score(task: str, metric: str, cache: dict[str, float]) -> float:
    """:func:`idtheory.tasks.majority_score` on the dev split, memoised in ``cache``."""
    if task not in cache:
        from idtheory.tasks import majority_score

        cache[task] = majority_score(task, metric)
    return cache[task]
