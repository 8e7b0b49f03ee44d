"""Data of notebooks 02 and 03 (Figures 2 and 3): the checkpoints and models of the trends and
the rows of :mod:`idtheory.trends` (computed, or read back from the store)."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from idtheory.figures.context import (
    FigureContext,
    _model_name,
    resolve_path,
)

# =============================================================================== pretrain


def pretrain_command(
    ctx: FigureContext, preset: str, out_dir: Path, stop_at: int | None = None
) -> str:
    """The ``idtheory pretrain`` command that creates a scale's checkpoint run by hand
    (``stop_at``: pause after that many updates of the scale's schedule)."""
    from idtheory.pretrain.cli import config_option_words

    schedule = {k: v for k, v in (ctx.params.get("pretrain") or {}).items() if k != "preset"}
    parts = ["idtheory pretrain", f"--preset {preset}", *config_option_words(schedule)]
    if stop_at is not None:
        parts.append(f"--stop-at {stop_at}")
    corpus = dict(ctx.params.get("corpus") or {})
    if corpus.get("source", "glue") != "glue":
        parts.append(f"--corpus {corpus['source']}")
    if corpus.get("max_lines"):
        parts.append(f"--max-lines {corpus['max_lines']}")
    try:
        out = out_dir.resolve().relative_to(ctx.root.resolve()).as_posix()
    except ValueError:
        out = str(out_dir)
    parts.append(f"--out {out}")
    return " ".join(parts)


def _source_steps(source: Mapping[str, Any]) -> list[int] | None:
    """The checkpoint steps a source selects (``"steps": [...]`` or ``"step": N``), or None."""
    if source.get("steps") is not None:
        return sorted(int(x) for x in source["steps"])
    if source.get("step") is not None:
        return [int(source["step"])]
    return None


def _stored_checkpoints(ctx: FigureContext, out_dir: Path) -> list[tuple[int, Path]]:
    """The checkpoints of ``out_dir`` that the results store holds runs of: a fresh clone has
    the committed store but not the (uncommitted) checkpoints, and still renders from it."""
    prefix = _model_name(out_dir, ctx.root) + "/checkpoint-"
    from idtheory.pretrain import checkpoint_step

    steps = {
        step
        for r in ctx.store.records(model=lambda name: str(name).startswith(prefix))
        if (step := checkpoint_step(r["spec"]["model"])) is not None
    }
    return [(step, out_dir / f"checkpoint-{step}") for step in sorted(steps)]


def _ensure_pretrained(ctx: FigureContext, source: Mapping[str, Any]) -> list[tuple[int, Path]]:
    """Checkpoints of a ``{"pretrain_dir", "preset"}`` source (only those of its ``steps`` /
    ``step`` when given), pre-training them first when ``compute`` is True and some are missing
    (up to the last selected step, on the scale's ``pretrain`` schedule). Without ``compute``
    and without the directory, the checkpoints the results store has runs of stand in."""
    from idtheory import pretrain

    out_dir = resolve_path(source["pretrain_dir"], ctx.params, ctx.root)
    found = pretrain.list_checkpoints(out_dir)
    preset = source.get("preset", "xs")
    cfg_kwargs = {**ctx.params.get("pretrain", {}), **(source.get("pretrain") or {})}
    wanted = _source_steps(source)
    target = wanted[-1] if wanted else cfg_kwargs.get("steps")
    if ctx.compute and (not found or (target is not None and found[-1][0] < int(target))):
        corpus_kw = dict(ctx.params.get("corpus") or {"source": "glue"})
        corpus = pretrain.build_corpus(corpus_kw.pop("source"), data_dir=ctx.data_dir, **corpus_kw)
        config = pretrain.PretrainConfig(**{**cfg_kwargs, "preset": preset})
        t0 = time.perf_counter()
        pretrain.pretrain(config, corpus, out_dir, progress=ctx.sweep_progress, stop_at=target)
        print(f"pre-trained {preset!r} in {out_dir} ({time.perf_counter() - t0:.0f} s)")
        found = pretrain.list_checkpoints(out_dir)
    if not found and not ctx.compute:
        found = _stored_checkpoints(ctx, out_dir)
    if wanted is not None and found:
        have = {step for step, _ in found}
        absent = [w for w in wanted if w not in have]
        if absent:
            ctx.note_missing(f"checkpoint step(s) {absent} in {out_dir}")
        found = [(step, path) for step, path in found if step in wanted]
    if not found:
        ctx.note_missing(
            f"checkpoints in {out_dir}: pre-train them with `"
            f"{pretrain_command(ctx, preset, out_dir, target if wanted else None)}`, or run "
            "with compute=True"
        )
    return found


def trend_checkpoints(ctx: FigureContext) -> list[tuple[int | None, str]]:
    """The checkpoints of Figure 2 as ``(step, name)``, from the scale's ``checkpoints``
    source, filtered by ``trend_max_step`` and thinned to every ``trend_stride``-th (the last
    one is always kept)."""
    from idtheory.pretrain import checkpoint_step

    src = ctx.params["checkpoints"]
    items: list[tuple[int | None, str]] = []
    if isinstance(src, Mapping) and "pretrain_dir" in src:
        items = [(s, _model_name(p, ctx.root)) for s, p in _ensure_pretrained(ctx, src)]
    elif isinstance(src, Mapping) and "suite" in src:
        from idtheory.trends import PUBLIC_CHECKPOINT_SUITES as suites

        if src["suite"] not in suites:
            ctx.note_missing(f"public checkpoint suite {src['suite']!r} (idtheory.trends)")
        else:
            for step, repo, rev in suites[src["suite"]].references(int(src.get("repo_index", 0))):
                if rev is None:
                    items.append((step, repo))
            if src.get("max_step") is not None:
                items = [it for it in items if it[0] is None or it[0] <= int(src["max_step"])]
    else:
        for it in src or []:
            if isinstance(it, (list, tuple)):
                items.append((None if it[0] is None else int(it[0]), str(it[1])))
            else:
                items.append((checkpoint_step(str(it)), str(it)))
    max_step = ctx.params.get("trend_max_step")
    if max_step is not None:
        items = [it for it in items if it[0] is None or it[0] <= int(max_step)]
    stride = max(1, int(ctx.params.get("trend_stride") or 1))
    if stride > 1 and items:
        items = [it for i, it in enumerate(items) if i % stride == 0 or i == len(items) - 1]
    return items


# =============================================================================== trends


def _trend_kwargs(ctx: FigureContext) -> dict[str, Any]:
    """Keyword arguments of the trend functions of :mod:`idtheory.trends` for this scale: the
    store, :meth:`FigureContext.trainer` (so reading runs the same code as computing) and the
    trend search options."""
    kw: dict[str, Any] = dict(
        store=ctx.store,
        train_fn=ctx.trainer(),
        majority_margin=float(ctx.params["majority_margin"]),
        data_dir=ctx.data_dir,
        progress=ctx.sweep_progress,
        **ctx.search_options(trend=True),
    )
    ex = ctx.executor() if ctx.compute else None
    if ex is not None:
        kw["executor"] = ex
    return kw


def trend_rows(
    ctx: FigureContext,
    checkpoints: Sequence[tuple[int | None, str]],
) -> list[dict[str, Any]]:
    """d90 of every checkpoint × trend task (Figure 2), one row each, none dropped
    (:func:`idtheory.trends.pretraining_trend`, computed or read back from the store).

    Columns: checkpoint, step, task, method, metric, d90, bracket, baseline, majority,
    threshold, status (``ok``, ``passes_at_smallest``, ``never_passes``, ``unable to compute``
    or ``missing``), reason, summary_id.
    """
    from idtheory.tasks import get_task
    from idtheory.trends import MISSING, pretraining_trend

    p = ctx.params
    tasks = [get_task(t).name for t in p["trend_tasks"]]
    if not checkpoints:
        return []
    rows = pretraining_trend(list(checkpoints), tasks, p["trend_method"], **_trend_kwargs(ctx))
    for row in rows:
        if row["status"] == MISSING:
            ctx.note_missing(f"Figure 2: {row['checkpoint']} / {row['task']} ({row['reason']})")
    return [dict(r) for r in rows]


def floor_label(rows: Sequence[Mapping[str, Any]], frac: float) -> str:
    """What a trend figure's d90 axis must say of its thresholds (``trend_floor = "auto"``
    raises only some): ``""`` when every cell with a threshold used the paper's
    ``frac × baseline``, ``" (chance-corrected)"`` when all were raised by the majority class,
    ``" (chance-corrected where needed)"`` when some were."""
    from idtheory.curve import is_chance_corrected

    kinds = {
        is_chance_corrected(r["threshold"], r.get("baseline"), frac)
        for r in rows
        if r.get("threshold") is not None and r.get("baseline") is not None
    }
    if kinds == {True}:
        return " (chance-corrected)"
    return " (chance-corrected where needed)" if True in kinds else ""


def size_models(ctx: FigureContext) -> list[str]:
    """The models of Figure 3: names as given, the last checkpoint of each
    ``{"pretrain_dir", "preset"}`` run (pre-trained first when ``compute``), and
    ``"@public"`` expanded to :data:`idtheory.trends.PUBLIC_SIZE_MODELS`."""
    out: list[str] = []
    for entry in ctx.params["size_models"]:
        if isinstance(entry, Mapping):
            found = _ensure_pretrained(ctx, entry)
            if found:
                out.append(_model_name(found[-1][1], ctx.root))
        elif entry == "@public":
            from idtheory.trends import PUBLIC_SIZE_MODELS

            out.extend(PUBLIC_SIZE_MODELS)
        else:
            out.append(str(entry))
    return list(dict.fromkeys(out))


def fit_size(rows: Sequence[Mapping[str, Any]], statuses: Sequence[str]) -> dict[str, Any] | None:
    """Log-log fit of d90 on the parameter count over rows with a status in ``statuses``
    (:func:`idtheory.trends.fit_rows`; None with fewer than 3 usable rows or a single count)."""
    from idtheory.trends import fit_rows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = fit_rows(rows, statuses)
    return None if fit is None else fit.to_dict()


def size_rows(
    ctx: FigureContext,
    models: Sequence[str],
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """d90 of every model on ``size_task`` (Figure 3; :func:`idtheory.trends.size_trend`,
    computed or read back from the store) and the log-log fit (:func:`fit_size`).

    Row columns: model, n_params, task, method, metric, d90, bracket, baseline, majority,
    threshold, status, reason, summary_id.
    """
    from idtheory.tasks import get_task
    from idtheory.trends import MISSING, size_trend

    p = ctx.params
    task = get_task(p["size_task"]).name
    statuses = list(p["fit_statuses"])
    if not models:
        return [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no log-log fit": reported by the notebook
        res = size_trend(
            list(models), task, p["trend_method"], fit_statuses=statuses, **_trend_kwargs(ctx)
        )
    rows = [dict(r) for r in res.rows]
    for row in rows:
        if row["status"] == MISSING:
            ctx.note_missing(f"Figure 3: {row['model']} / {task} ({row['reason']})")
    return rows, fit_size(rows, statuses)


# =============================================================================== Figure 3's
# further series: the real pretrained models

#: Figure 3's label of its own models when a reference series is drawn beside them.
SIZE_SERIES = "from scratch"


def size_references(ctx: FigureContext) -> list[dict[str, Any]]:
    """The scale's ``size_reference`` as a list of ``{"scale", "task", "method"}`` (one dict
    is one series; None, {} or [] none)."""
    ref = ctx.params.get("size_reference")
    refs = [ref] if isinstance(ref, Mapping) else list(ref or [])
    return [dict(r) for r in refs if r and r.get("scale")]


def _reference_series(ref: Mapping[str, Any]) -> str:
    from idtheory.tasks import task_title

    return f"pretrained, {task_title(ref['task'])} {ref['method'].upper()} ({ref['scale']} scale)"


def size_reference_series(ctx: FigureContext) -> list[str]:
    """The names of Figure 3's further series (:func:`size_references`), in the configured
    order (``plots.size_trend(series=...)`` gives them their styles in it)."""
    return [_reference_series(ref) for ref in size_references(ctx)]


def size_reference_rows(ctx: FigureContext) -> list[dict[str, Any]]:
    """Figure 3's further series (scale key ``size_reference``, :func:`size_references`): for
    each, the d90 of the reference scale's models on its task with its method, under the
    paper's threshold, against each model's parameter count — read from this store by the
    reference scale's own Figure 1 searches (:func:`~idtheory.figures.grid_results`, store-only
    trainer), finished searches only (a search in progress or a failed baseline gives no row).
    [] when the scale sets no reference or nothing is finished.

    Row columns: series (e.g. ``"pretrained, MRPC SAID (real scale)"``), model, n_params (the
    ``num_params`` of its baseline runs), task, method, metric, d90, bracket, baseline,
    threshold, status, summary_id.
    """
    return [row for ref in size_references(ctx) for row in _reference_rows(ctx, ref)]


def _reference_rows(ctx: FigureContext, ref: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of one series of :func:`size_reference_rows`."""
    from idtheory.figures.accuracy import grid_results
    from idtheory.figures.context import setup
    from idtheory.search import PARTIAL

    rctx = setup(
        ref["scale"],
        figures_dir=ctx.figures_dir,
        data_dir=ctx.data_dir,
        chdir=False,
        results_dir=str(ctx.results_dir),
        compute=False,
        tasks=[ref["task"]],
        methods=[ref["method"]],
        floors=[0],
    )
    rows = []
    for r in grid_results(rctx):
        if r["status"] in (PARTIAL, "baseline_failed"):
            continue
        counts = [
            int(rec["num_params"])
            for cell in r["baseline"]
            for i in cell["run_ids"]
            if (rec := ctx.store.get(i)) is not None and rec.get("num_params")
        ]
        rows.append(
            {
                "series": _reference_series(ref),
                "model": r["model"],
                "n_params": min(counts) if counts else None,
                "task": r["task"],
                "method": r["method"],
                "metric": r["metric"],
                "d90": r["d90"],
                "bracket": list(r["bracket"]),
                "baseline": r["baseline_score"],
                "threshold": r["threshold"],
                "status": r["status"],
                "summary_id": r["summary_id"],
            }
        )
    return rows


def size_table(
    rows: Sequence[Mapping[str, Any]], reference: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The table behind Figure 3: its rows, then the reference series' rows, each with its
    ``series`` — the rows unchanged when there is no reference series."""
    if not reference:
        return [dict(r) for r in rows]
    return [{"series": SIZE_SERIES, **r} for r in rows] + [dict(r) for r in reference]


def size_reference_note(ctx: FigureContext, reference: Sequence[Mapping[str, Any]]) -> str:
    """Figure 3's caption lines about its reference series, one per series ("" when the scale
    sets none)."""
    from idtheory.tasks import task_title

    lines = []
    for ref in size_references(ctx):
        what = (
            f"{ref['method'].upper()} d90 on {task_title(ref['task'])} of the {ref['scale']!r} "
            "scale's pretrained models (the paper's threshold, outside the fit)"
        )
        drawn = [r for r in reference if r.get("series") == _reference_series(ref)]
        if not drawn:
            where = os.path.relpath(ctx.results_dir, ctx.root)
            lines.append(f"Not drawn: {what} — no finished search in {where} yet.")
            continue
        shown = ", ".join(f"{r['model']} ({r['n_params'] or 0:,} parameters)" for r in drawn)
        lines.append(f"Drawn as {_reference_series(ref)!r}: {what}: {shown}.")
    return "\n".join(lines)
