"""Print the README's result tables (Markdown) from the committed results store.

    IDTHEORY_DATA=../shared/data .venv/bin/python scripts/results_tables.py [--tasks sst2 mrpc rte]
    IDTHEORY_DATA=../shared/data .venv/bin/python scripts/results_tables.py --scale real
    IDTHEORY_DATA=../shared/data .venv/bin/python scripts/results_tables.py --scale real \
        --scores mpnet-base

The quick scale prints its d90, pretraining-trend and size-trend tables; the real scale its d90
table (a row per model, task and method, under both thresholds, with trainings and CPU hours),
the paper's Table 1 beside its d90 (:func:`idtheory.figures.table1_frame`: bounds and "…" where
a search has not ended) and the ratios behind the README's verdicts
(:func:`idtheory.figures.d90_ratio_rows`): DID ÷ SAID (the paper's own rows beside ours), MRPC ÷
SST-2, each cell's chance-corrected d90 ÷ its paper's-threshold one
(:func:`~idtheory.figures.threshold_ratio_rows`), each model ÷ the next larger one, and each model
÷ the paper's base-size models (``--paper-models``). ``--scores MODEL`` prints that
model's dev score at every evaluated d and learning rate instead (the README's per-model table).

The tables come from :func:`idtheory.figures.d90_rows`, :func:`~idtheory.figures.trend_rows` and
:func:`~idtheory.figures.size_rows` (store only, nothing is trained); the prose around them in
the README is written by hand.
"""

from __future__ import annotations

import argparse
import itertools
import math
from typing import Any

from idtheory import figures as F
from idtheory.curve import is_chance_corrected
from idtheory.plots import markdown_table
from idtheory.tasks import task_title

TREND_COLUMNS = {
    "step": "updates",
    "task": "task",
    "baseline": "full FT dev acc",
    "majority": "majority class",
    "threshold": "threshold",
    "d90": "d90",
    "bracket": "bracket",
    "status": "status",
}


def _readable(rows: list[dict[str, Any]], frac: float) -> list[dict[str, Any]]:
    """Brackets as ``(lo, hi]``, the chance-corrected thresholds marked, short model names."""
    out = []
    for r in rows:
        lo, hi = r.get("bracket") or (None, None)
        thr, base = r.get("threshold"), r.get("baseline")
        corrected = is_chance_corrected(thr, base, frac)
        reason = f": {r['reason']}" if r.get("reason") and r["status"] != "ok" else ""
        out.append(
            {
                **r,
                "bracket": None
                if r.get("bracket") is None
                else f"({lo or 0}, {'∞' if hi is None else hi}]",
                "threshold": None
                if thr is None
                else f"{thr:.3f}" + (" (chance-corr.)" if corrected else ""),
                "model": str(r.get("model", ""))
                .replace("checkpoints/", "")
                .replace("/checkpoint-", "@"),
                "status": f"{r['status']}{reason}",
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", nargs="+", default=None, help="d90 table tasks (default: the preset's)"
    )
    parser.add_argument(
        "--scale", choices=("quick", "real"), default="quick", help="preset (default: quick)"
    )
    parser.add_argument(
        "--paper-models",
        nargs="+",
        default=["BERT-Base", "RoBERTa-Base"],
        help="the paper's Table 1 models the real scale's d90 are divided by (default: the "
        "base-size ones)",
    )
    parser.add_argument(
        "--scores",
        metavar="MODEL",
        default=None,
        help="print MODEL's dev score at each evaluated d and learning rate (bold: passes the "
        "paper's threshold; †: the chance-corrected one too) instead of the d90 tables",
    )
    args = parser.parse_args()
    ctx = F.setup(args.scale, tasks=args.tasks)
    frac = float(ctx.params["frac"])
    results = F.grid_results(ctx)  # Figure 1's: summaries, else the stored partial curves
    if args.scores:
        known = sorted({str(r["model"]) for r in results})
        if args.scores not in known:
            parser.error(
                f"--scores: no searches of {args.scores!r} in the store; choose from {known}"
            )
        print(_score_table(results, args.scores))
        return
    if args.scale == "real":
        print("### d90 of the real scale\n")
        columns = {"model": "model", **F.D90_TABLE_COLUMNS}
        rows = F.d90_rows(ctx, results)
        print(markdown_table(rows, columns))
        print("\n### Table 1: the paper's d90 beside ours\n")
        print(_table1_table(F.table1_rows(ctx, results)))
        print("\n### d90 ratios of the real scale\n")
        print(markdown_table(_ratios(ctx, rows, args.paper_models), F.D90_RATIO_COLUMNS))
        _print_missing(ctx)
        return
    print("### d90 of minilm-l6\n")
    print(markdown_table(F.d90_rows(ctx, results), F.D90_TABLE_COLUMNS))
    print("\n### pretraining trend\n")
    trend = F.trend_rows(ctx, F.trend_checkpoints(ctx))
    print(markdown_table(_readable(trend, frac), TREND_COLUMNS))
    print("\n### size trend\n")
    rows, fit = F.size_rows(ctx, F.size_models(ctx))
    size_cols = {"model": "model", "n_params": "D"}
    size_cols.update({k: v for k, v in TREND_COLUMNS.items() if k not in ("step", "task")})
    print(markdown_table(_readable(rows, frac), size_cols))
    print(f"\nlog-log fit: {fit or 'none (fewer than 3 sizes with a d90)'}")
    _print_missing(ctx)


def _score_table(results: list[dict[str, Any]], model: str) -> str:
    """One row per task and method of ``model``'s searches, one column per evaluated d: the dev
    score at each learning rate, lowest rate first (``…``: not stored yet; ``–``: d not
    evaluated), bold where it passes the paper's threshold, † where it passes the
    chance-corrected one too. A d's cells come from every search of its task and method (the
    two thresholds' searches share their runs)."""
    from idtheory.search import THRESHOLD_KINDS, result_threshold_kind, subspace_lrs_at

    paper, corrected = THRESHOLD_KINDS
    mine = [r for r in results if r["model"] == model]
    # (task, method) → d → lr → score (None: not stored yet); → threshold kind → threshold
    scores: dict[tuple[str, str], dict[int, dict[float, float | None]]] = {}
    thresholds: dict[tuple[str, str], dict[str, float]] = {}
    for r in mine:
        key = (r["task"], r["method"])
        if r.get("threshold") is not None:
            thresholds.setdefault(key, {})[result_threshold_kind(r)] = float(r["threshold"])
        settings = r.get("settings") or {}
        by_d = scores.setdefault(key, {})  # a search without points yet still gets its row
        for p in r.get("points") or []:
            at_d = by_d.setdefault(p["d"], {})
            for lr in subspace_lrs_at(
                p["d"], settings.get("subspace_lrs", ()), settings.get("subspace_lrs_from")
            ):
                at_d.setdefault(lr, None)
            for c in p.get("cells") or []:
                if c.get("score") is not None:
                    at_d[float(c["lr"])] = c["score"]

    def cell(score: float | None, passes: dict[str, float]) -> str:
        if score is None:
            return "…"
        text = f"{score:.3f}"
        if paper in passes and score >= passes[paper]:
            text = f"**{text}**" + ("†" if score >= passes.get(corrected, math.inf) else "")
        return text

    dims = sorted({d for by_d in scores.values() for d in by_d})
    rows = [
        {
            "task": task_title(task),
            "method": method.upper(),
            **{
                d: " / ".join(
                    cell(at_d[lr], thresholds.get((task, method), {})) for lr in sorted(at_d)
                )
                for d, at_d in scores[(task, method)].items()
            },
        }
        for task, method in sorted(scores, key=lambda k: (k[0], k[1] != "said"))
    ]
    settings = mine[0].get("settings") or {}
    rates = " / ".join(f"{x:g}" for x in settings.get("subspace_lrs", ()))
    later = "; ".join(
        f"{' / '.join(f'{x:g}' for x in at)} from d = {int(d):,}"
        for d, at in sorted(
            (settings.get("subspace_lrs_from") or {}).items(), key=lambda i: int(i[0])
        )
    )
    caption = f"{model}: dev score at lr {rates}" + (f" ({later})" if later else "")
    columns = {"task": "task", "method": "method", **{d: f"d = {d:,}" for d in dims}}
    return caption + "\n\n" + markdown_table(rows, columns)


def _table1_table(rows: list[dict[str, Any]]) -> str:
    """Notebook 1's Table 1 frame (:func:`idtheory.figures.table1_frame`) as Markdown: the
    paper's rows first, then ours, a column per task and method (tasks in the order the rows
    name them, SAID before DID); cells a row has no search for are "–"."""
    frame = F.table1_frame(rows)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    keys = [(m, t) for t in tasks for m in ("said", "did") if (m, t) in frame.columns]
    order = sorted(frame.index, key=lambda i: (i[0] != "paper", i))

    def text(v: Any) -> str | None:  # NaN, where the row has no search: "–" in the table
        return v if isinstance(v, str) else None

    out = [
        {
            "source": source,
            "model": model,
            **{f"{t} {m}": text(frame.loc[(source, model), (m, t)]) for m, t in keys},
        }
        for source, model in order
    ]
    columns = {"source": "source", "model": "model"}
    columns.update({f"{t} {m}": f"{task_title(t)} {m.upper()}" for m, t in keys})
    return markdown_table(out, columns)


def _ratios(
    ctx: F.FigureContext, rows: list[dict[str, Any]], paper_models: list[str]
) -> list[dict[str, Any]]:
    """The README's comparisons: methods, tasks, thresholds, models (each ÷ the next in the
    scale's list, smallest first) and ours ÷ the paper's ``paper_models``."""
    both = rows + F.paper_d90_rows()
    models = list(ctx.params["models"])
    out = F.d90_ratio_rows(both, "method", "DID", "SAID")
    out += F.d90_ratio_rows(rows, "task", "mrpc", "sst2")
    out += F.threshold_ratio_rows(rows)
    for smaller, larger in itertools.pairwise(models):
        out += F.d90_ratio_rows(rows, "model", smaller, larger)
    for ours in models:
        for theirs in paper_models:
            out += F.d90_ratio_rows(both, "model", ours, theirs)
    return [{**r, "ratio": str(r["ratio"])} for r in out]


def _print_missing(ctx: F.FigureContext) -> None:
    if ctx.missing:
        print("\nmissing from the store:", *ctx.missing, sep="\n  ")


if __name__ == "__main__":
    main()
