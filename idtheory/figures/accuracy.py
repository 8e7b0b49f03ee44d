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
    ctx: FigureContext,
    jobs: Sequence[Mapping[str, Any]],
    grid: Sequence[int] | None,
    *,
    note_needed: bool = True,
) -> list[dict[str, Any]]:
    """:func:`~idtheory.search.measure_d90_many` of ``jobs`` at the scale's settings (grid mode
    over ``grid``, else search mode) with :meth:`FigureContext.trainer`: computed, or read back
    from the store (status ``"partial"`` where the store ends; with ``note_needed`` the runs
    it stops at go to :attr:`FigureContext.needed`)."""
    from idtheory.search import measure_d90_many

    results = measure_d90_many(
        jobs,
        store=ctx.store,
        train_fn=ctx.trainer(note_needed=note_needed),
        executor=(ctx.executor() if ctx.compute else None) or "local",
        progress=ctx.sweep_progress,
        **ctx.search_options(grid),
    )
    return [r.to_dict() for r in results]


def figure1_floor(ctx: FigureContext, floor: float | str | None, task: str) -> float | None:
    """The numeric threshold floor of one entry of the scale's ``floors`` on ``task``: 0 for the
    paper's threshold (0 or None), the number itself, or for ``"majority"`` the majority-class
    score of the dev examples the trainer scores (:func:`majority_line`); None when that score
    needs task data that is not available."""
    from idtheory.search import resolve_floor

    if floor != "majority":
        if isinstance(floor, str):
            raise ValueError(f"floors entries are numbers or 'majority', got {floor!r}")
        return resolve_floor(floor, 0.0, None)
    majority = majority_line(ctx, task)
    return None if majority is None else resolve_floor("majority", majority, None)


def _figure1_jobs(ctx: FigureContext) -> list[dict[str, Any]]:
    """The searches of Figure 1 / Table 1: model × task × method × ``floors`` (numeric floors;
    a chance-corrected one whose majority score cannot be computed is noted as missing)."""
    p = ctx.params
    jobs = []
    for m in p["models"]:
        for t in p["tasks"]:
            floors = [figure1_floor(ctx, f, t) for f in p.get("floors") or [0]]
            for meth in p["methods"]:
                for floor in floors:
                    if floor is None:
                        ctx.note_missing(
                            f"Figure 1 / Table 1: {m} / {t} / {meth.upper()} chance-corrected "
                            f"(no {t} dev data for the majority-class score)"
                        )
                        continue
                    jobs.append({"model": m, "task": t, "method": meth, "floor": floor})
    return jobs


def grid_results(ctx: FigureContext) -> list[dict[str, Any]]:
    """D90Result dicts (grid mode over ``dims``; search mode when ``dims`` is None) for every
    model × task × method, once per threshold of ``floors`` (:func:`figure1_floor`; each
    summary names its ``threshold_kind``).

    ``compute=True`` trains what is missing (:func:`~idtheory.search.measure_d90_many`, all
    searches in one call: a training two searches need is trained once, and stored runs are
    reused — the chance-corrected search continues from the runs of the paper's). Otherwise the
    same searches read the store (:meth:`FigureContext.trainer`):
    the grid's result where the store holds all of it, else the search mode's, else the one of
    the two with the most points stored so far (status ``"partial"``: a sweep in progress
    renders its points); a cell with no point stored is noted as missing.
    """
    from idtheory.search import PARTIAL, threshold_kind

    p = ctx.params
    jobs = _figure1_jobs(ctx)
    if not jobs:
        return []
    found = _d90_results(ctx, jobs, p["dims"])
    if ctx.compute:
        return found
    # computing runs only the first reading: the search mode behind a grid is a fallback
    fallback = [] if p["dims"] is None else [_d90_results(ctx, jobs, None, note_needed=False)]
    tries = [found, *fallback]
    out = []
    for j, results in zip(jobs, zip(*tries, strict=True), strict=True):
        complete = [r for r in results if r["status"] != PARTIAL]
        best = complete[0] if complete else max(results, key=lambda r: len(r["points"]))
        if best["points"] or complete:
            out.append(best)
            continue
        grid = f"on the grid {p['dims']}" if p["dims"] is not None else "(d90 search)"
        kind = "" if not j["floor"] else f", {threshold_kind(j['floor'])} threshold"
        ctx.note_missing(
            f"Figure 1 / Table 1: {j['model']} / {j['task']} / {j['method'].upper()} {grid}{kind}"
        )
    return out


def _only_paper_thresholds(results: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every result searched against the paper's threshold (then the tables keep the
    columns they had before chance-corrected searches existed)."""
    from idtheory.search import result_threshold_kind

    return all(result_threshold_kind(r) == "paper" for r in results)


def curve_rows(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per evaluated d of each D90Result dict (the table behind Figure 1); with
    results of both thresholds, a ``threshold_kind`` column says which search a row is of."""
    from idtheory.search import result_threshold_kind

    plain = _only_paper_thresholds(results)
    rows = []
    for r in results:
        for pt in sorted(r.get("points") or [], key=lambda q: q["d"]):
            row = {
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
            if not plain:
                row["threshold_kind"] = result_threshold_kind(r)
            rows.append(row)
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
    shown under its paper name when ``paper_labels`` maps it). A chance-corrected search's row
    has the source ``"ours (<scale>, chance-corrected)"`` and, as every row then, a
    ``threshold_kind`` (``"reported"`` for the paper's values)."""
    from idtheory.curve import threshold_is_degenerate
    from idtheory.search import result_threshold_kind
    from idtheory.tasks import get_task

    plain = _only_paper_thresholds(results)

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
                **({} if plain else {"threshold_kind": "reported"}),
            }
        )
    majority: dict[str, float | None] = {}
    for r in results:
        if r["task"] not in majority:
            majority[r["task"]] = majority_line(ctx, r["task"])
        chance, thr = majority[r["task"]], r.get("threshold")
        below_chance = threshold_is_degenerate(thr, chance)
        note = f"grid {[p['d'] for p in r.get('points') or []]}"
        kind = result_threshold_kind(r)
        rows.append(
            {
                "source": f"ours ({ctx.scale})"
                if kind == "paper"
                else f"ours ({ctx.scale}, {kind})",
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
                **({} if plain else {"threshold_kind": kind}),
            }
        )
    return rows


BELOW_CHANCE_MARK = " (threshold ≤ majority)"
"""Appended to a d90 in :func:`table1_frame` whose threshold a constant predictor reaches."""


def table1_cell(row: Mapping[str, Any]) -> str:
    """One d90 cell of :func:`table1_frame`, in the words its search's status allows: the d90
    (``"1,810"``) of a finished search; ``"≤ 10"`` where the smallest d tried passed;
    ``"> 100,000"`` where no d up to d_max did; for a search still in progress (``"partial"``)
    the smallest d that passed so far (``"≤ 2,560 …"``) or the largest that failed
    (``"> 640 …"``); ``"–"`` where there is no d90 to state (no baseline, nothing stored). A d90
    read against a threshold at or below the majority class carries :data:`BELOW_CHANCE_MARK`."""
    d90, status = row.get("d90"), row.get("status")
    lo = (row.get("bracket") or (None, None))[0]
    more = " …" if status == "partial" else ""
    if d90 is not None:
        bound = "≤ " if status in ("partial", "passes_at_smallest") else ""
        text = f"{bound}{d90:,}{more}"
    elif lo and status in ("partial", "never_passes"):
        text = f"> {lo:,}{more}"
    else:
        return "–"
    return text + (BELOW_CHANCE_MARK if row.get("below_chance") else "")


def table1_frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Table 1 as a pandas frame (source × model by method × task) of :func:`table1_cell` texts:
    each d90 with what its search's status says about it (``≤`` / ``>`` bounds, ``…`` for a
    search in progress) and the caveat of the figure where a constant predictor reaches the
    threshold (:data:`BELOW_CHANCE_MARK`: a subspace that learned nothing passes there)."""
    import pandas as pd

    cells = [{**r, "d90": table1_cell(r)} for r in rows]
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
    "threshold_above_majority": "chance-corrected threshold",
    "d90_above_majority": "d90 above majority",
    "curve": "evaluated d: best dev",
    "trainings": "trainings",
    "cpu_hours": "CPU h",
    "status": "status",
}
"""Columns (key → header) of :func:`d90_rows` as the README shows them."""


def d90_rows(ctx: FigureContext, results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per model × task × method of :func:`grid_results` (complete or ``"partial"``),
    under both thresholds.

    Columns: baseline; the majority-class score of the task's dev set (None without the task's
    data); the paper's threshold (``frac × baseline``), its d90 and bracket (a threshold at or
    below the majority class makes d90 trivially small: flagged in ``status``); the
    chance-corrected threshold ``majority + frac × (baseline − majority)`` and its bracket
    ``d90_above_majority``; the evaluated curve (every d of either search); the cost (the
    distinct trainings behind the cell's results, their summed wall time in hours); ``status``
    (the paper's threshold's search, with "; chance-corrected: partial" while only the other
    is still in progress, "; chance-corrected: baseline_failed" where the baseline does not
    beat the majority class) and ``statuses`` (by threshold kind; ``brackets`` leaves out a
    search's ``(None, None)``: no ratio is read from a search that has no bracket).

    A threshold with a search of its own (``threshold_kind`` of a result) shows that search's
    bisected d90 and bracket; a threshold without one is read off the evaluated points with
    :func:`~idtheory.curve.d90_from_curve` — ``(largest d, ∞]`` when no evaluated d reaches it,
    and only as fine as the points the other search happened to evaluate.
    """
    from idtheory.search import result_threshold_kind

    groups: list[dict[str, Mapping[str, Any]]] = []
    latest: dict[tuple[str, str, str], dict[str, Mapping[str, Any]]] = {}
    for r in results:  # a cell's two kinds share a row; a second result of one kind gets its own
        key, kind = (r["model"], r["task"], r["method"]), result_threshold_kind(r)
        if key not in latest or kind in latest[key]:
            latest[key] = {}
            groups.append(latest[key])
        latest[key][kind] = r
    return [_d90_row(ctx, by_kind) for by_kind in groups]


def _d90_row(ctx: FigureContext, by_kind: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """:func:`d90_rows`' row of one cell from its results by threshold kind."""
    from idtheory.curve import d90_from_curve, d90_threshold, format_bracket, passes
    from idtheory.search import PARTIAL

    paper, corrected = by_kind.get("paper"), by_kind.get("chance-corrected")
    r = paper or corrected
    assert r is not None
    metric = r.get("metric") or ctx.params["metric"]
    majority = majority_line(ctx, r["task"])
    points = {p["d"]: p for res in by_kind.values() for p in res.get("points") or []}
    pts = [points[d] for d in sorted(points)]
    # d scored from part of their rates (a search in progress): their scores are lower bounds
    pending = {d for res in by_kind.values() for d in res.get("pending") or ()}
    base = r.get("baseline_score")
    frac = float(r.get("frac") or ctx.params["frac"])

    def read_off(floor: float) -> tuple[int | None, Any, str] | None:
        """d90 read off the points against the threshold from ``floor``; a pending d counts
        only where it already passes that threshold (a lower bound that fails decides nothing)."""
        if not pts or base is None or not base > floor:
            return None
        threshold = d90_threshold(base, frac, floor)
        known = [p for p in pts if p["d"] not in pending or passes(p["score"], threshold)]
        if not known:
            return None
        dims, scores = [p["d"] for p in known], [p["score"] for p in known]
        curve = d90_from_curve(dims, scores, base, frac, floor)
        return curve.d90, curve.bracket, curve.status

    # a bracket read off the other search's points is as provisional as that search
    read_off_partial = any(res.get("status") == PARTIAL for res in by_kind.values())
    status = (paper or {}).get("status") or ""
    threshold, d90, bracket = None, None, None
    if paper is not None:
        threshold, d90, bracket = paper.get("threshold"), paper.get("d90"), paper.get("bracket")
    elif base is not None:
        threshold = d90_threshold(base, frac)
        d90, bracket, status = read_off(0.0) or (None, None, corrected.get("status") or "")
        status = PARTIAL if read_off_partial else status
    corrected_threshold, corrected_bracket, corrected_raw = None, None, None
    corrected_status = None
    if corrected is not None:
        corrected_threshold = corrected.get("threshold")
        corrected_raw = _known(corrected.get("bracket"))
        corrected_bracket = None if corrected_raw is None else format_bracket(corrected_raw)
        corrected_status = corrected.get("status") or ""
    elif majority is not None and (found := read_off(majority)) is not None:
        corrected_threshold = d90_threshold(base, frac, majority)
        corrected_raw = found[1]
        corrected_bracket = format_bracket(corrected_raw)
        corrected_status = PARTIAL if read_off_partial else found[2]
    statuses = {"paper": status, "chance-corrected": corrected_status}
    if threshold is not None and majority is not None and threshold <= majority:
        status += " (threshold ≤ majority class)"
    # the paper's search ended, the chance-corrected one did not, or found no baseline above m
    if corrected_status in (PARTIAL, "baseline_failed") and not status.startswith(corrected_status):
        status += f"; chance-corrected: {corrected_status}"
    trainings, hours = ctx.store.cost(
        i for res in by_kind.values() for i in res.get("run_ids") or []
    )
    return {
        "model": r["model"],
        "task": r["task"],
        "method": r["method"].upper(),
        "metric": metric,
        "baseline": base,
        "majority": majority,
        "threshold": threshold,
        "d90": d90,
        "bracket": None if _known(bracket) is None else format_bracket(bracket),
        "threshold_above_majority": corrected_threshold,
        "d90_above_majority": corrected_bracket,
        "curve": ", ".join(
            f"{p['d']}: {'≥ ' if p['d'] in pending else ''}{p['score']:.3f}" for p in pts
        ),
        "trainings": trainings,
        "cpu_hours": round(hours, 2),
        "status": status,
        "brackets": {
            kind: tuple(b)
            for kind, b in (("paper", _known(bracket)), ("chance-corrected", corrected_raw))
            if b is not None
        },
        "statuses": {kind: s for kind, s in statuses.items() if s is not None},
    }


D90_RATIO_COLUMNS: dict[str, str] = {
    "model": "model",
    "task": "task",
    "method": "method",
    "threshold": "threshold",
    "ratio": "d90 ratio (what the brackets allow)",
    "note": "note",
}
"""Columns (key → header) of :func:`d90_ratio_rows` (the compared key shows ``a / b``)."""

_RATIO_KEYS = ("model", "task", "method")


def paper_d90_rows(paper: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The paper's Table 1 (:func:`load_paper_table1`) as rows :func:`d90_ratio_rows` compares
    with ours: each published d90 ``v`` an exact bracket ``(v, v)`` under the paper's threshold,
    methods upper-case as in :func:`d90_rows`."""
    return [
        {
            "model": r["model"],
            "task": r["task"],
            "method": r["method"].upper(),
            "status": "reported",
            "brackets": {"paper": (r["d90"], r["d90"])},
        }
        for r in (load_paper_table1() if paper is None else paper)
    ]


def d90_ratio_rows(
    rows: Sequence[Mapping[str, Any]], vary: str, numerator: str, denominator: str
) -> list[dict[str, Any]]:
    """How many times one d90 is another's, between rows of :func:`d90_rows` (and
    :func:`paper_d90_rows`) that differ only in ``vary`` (``"model"``, ``"task"`` or
    ``"method"``): ``numerator``'s d90 ÷ ``denominator``'s, for every value of the other two keys
    and every threshold (``"paper"``, ``"chance-corrected"``) both rows have a bracket for.

    ``ratio`` is a :class:`~idtheory.curve.D90Ratio` (the ratio of the two d90 and the range
    their brackets allow; ``str()`` prints both). ``note`` says ``"provisional"`` when either
    search behind the two brackets of that threshold is still partial (its bracket then is
    what the store holds so far; a bracket read off another search's points counts as that
    search's)."""
    from idtheory.curve import d90_ratio
    from idtheory.search import PARTIAL

    if vary not in _RATIO_KEYS:
        raise ValueError(f"vary must be one of {_RATIO_KEYS}, not {vary!r}")
    others = [k for k in _RATIO_KEYS if k != vary]

    def index(value: str) -> dict[tuple[str, ...], Mapping[str, Any]]:
        return {tuple(r[k] for k in others): r for r in rows if r[vary] == value}

    tops, bottoms = index(numerator), index(denominator)
    out: list[dict[str, Any]] = []
    for key, top in tops.items():
        bottom = bottoms.get(key)
        if bottom is None:
            continue
        for kind in ("paper", "chance-corrected"):
            a, b = top["brackets"].get(kind), bottom["brackets"].get(kind)
            if a is None or b is None:
                continue
            partial = any(_threshold_status(r, kind).startswith(PARTIAL) for r in (top, bottom))
            out.append(
                {
                    **dict(zip(others, key)),
                    vary: f"{numerator} / {denominator}",
                    "threshold": kind,
                    "ratio": d90_ratio(a, b),
                    "note": "provisional" if partial else "",
                }
            )
    return out


def _known(bracket: Sequence[int | None] | None) -> Sequence[int | None] | None:
    """``bracket``, or None where it says nothing (``(None, None)``: a search whose baseline
    failed, or one with no d evaluated yet), so that no ratio or bracket is read from it."""
    return None if bracket is None or all(b is None for b in bracket) else bracket


def threshold_ratio_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What the chance-corrected threshold costs: for every row of :func:`d90_rows` with a
    bracket under both thresholds, its chance-corrected d90 ÷ its paper's-threshold d90
    (``threshold`` ``"chance-corrected / paper"``; ``ratio`` and ``note`` as in
    :func:`d90_ratio_rows`, the same columns)."""
    from idtheory.curve import d90_ratio
    from idtheory.search import PARTIAL

    out: list[dict[str, Any]] = []
    for r in rows:
        corrected, paper = (r["brackets"].get(k) for k in ("chance-corrected", "paper"))
        if corrected is None or paper is None:
            continue
        partial = any(_threshold_status(r, k).startswith(PARTIAL) for k in r["brackets"])
        out.append(
            {
                **{k: r[k] for k in _RATIO_KEYS},
                "threshold": "chance-corrected / paper",
                "ratio": d90_ratio(corrected, paper),
                "note": "provisional" if partial else "",
            }
        )
    return out


def _threshold_status(row: Mapping[str, Any], kind: str) -> str:
    """The status of the search behind ``row``'s bracket under threshold ``kind``
    (:func:`d90_rows`' ``statuses``; the row's ``status`` for rows without them)."""
    return str((row.get("statuses") or {}).get(kind, row.get("status", "")))


def majority_line(ctx: FigureContext, task: str) -> float | None:
    """The constant majority-class predictor's dev score on ``task`` in the scale's metric
    (Figure 1's chance line, the floor of its chance-corrected d90), on the dev examples the
    trainer scores (:func:`idtheory.tasks.scored_dev_majority`), or None where the task's dev
    data is not available."""
    from idtheory.tasks import TaskDataNotFound, scored_dev_majority

    try:
        return scored_dev_majority(
            task, ctx.params["metric"], ctx.data_dir, ctx.params["train"].get("max_eval_examples")
        )
    except TaskDataNotFound:
        return None
