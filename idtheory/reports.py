"""What a results store holds, in words and tables: the listings of ``idtheory results``.

Runs (``--format table/csv/json``), the stored d90 searches (``--d90``: :func:`format_d90`, one
block per search; ``--scale`` the scale's searches as its figures find them and the trainings
computing it would start now), the trainings in flight (``--running``: step, best dev score so
far, time left), a merge of another store (``--merge``) and two stores side by side
(``--compare``). Everything here reads; only ``--merge`` writes, through
:meth:`idtheory.store.ResultsStore.merge`. The command line (:mod:`idtheory.cli`) builds its
parser from :func:`add_results_arguments`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from idtheory.config import SUBSPACE_METHODS
from idtheory.scales import SCALE_NAMES, get_scale
from idtheory.store import DEFAULT_ROOT, PARTIAL_MERGE_MAX_MB


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.4f}"


def format_d90(
    r: dict[str, Any], cost: tuple[int, float] | None = None, left: str | None = None
) -> str:
    """A short human-readable summary of a d90 result dict (brackets as ``(lo, hi]``): its
    threshold kind (the paper's, or chance-corrected with the majority-class score it starts
    from), with ``cost`` (:meth:`~idtheory.store.ResultsStore.cost`) the trainings behind it
    and their hours instead of what the call trained, and with ``left`` a line on what a search
    in progress still needs (:func:`left_line`)."""
    from idtheory.curve import format_bracket
    from idtheory.search import result_threshold_kind
    from idtheory.tasks import display_name

    floor = (r.get("settings") or {}).get("floor")
    d90 = "–" if r["d90"] is None else r["d90"]
    rule = f"{r['frac']:.0%}" + (f" of the gain over {floor:.4f}" if floor else "")
    spent = (
        f"trainings: {r['n_trained']} new, {r['n_reused']} reused"
        if cost is None
        else f"trainings behind it: {cost[0]}, {cost[1]:.2f} CPU h"
    )
    lines = [
        f"{r['model']} / {display_name(r['task'])} / {r['method']}: status {r['status']}",
        f"  baseline {r['metric']} {_fmt(r['baseline_score'])} (lr {r['baseline_lr']}) → "
        f"{result_threshold_kind(r)} threshold {_fmt(r['threshold'])} ({rule})",
        f"  d90 = {d90}   bracket {format_bracket(r.get('bracket'))}   {spent}",
        *([f"  {left}"] if left else []),
        *_search_settings(r),
    ]
    pending = set(r.get("pending") or ())
    for p in sorted(r["points"], key=lambda p: p["d"]):
        mark = "pass" if p["passes"] else "fail"
        if p["d"] in pending:
            rates = ", ".join(str(c["lr"]) for c in p["cells"])
            mark += f" (final; score so far, from lr {rates} alone)"
        lines.append(f"    d = {p['d']:>8}  score {p['score']:.4f}  best lr {p['best_lr']}  {mark}")
    if r.get("non_monotone"):
        lines.append(f"  non-monotone observations: {r['non_monotone']}")
    for prob in r.get("problems") or []:
        lines.append(f"  problem: {prob.get('message') or prob}")
    return "\n".join(lines)


def _search_settings(r: dict[str, Any]) -> list[str]:
    """The lines of :func:`format_d90` that tell two searches of one cell apart: the summary's
    id and when it was stored (or that the search is in progress), the training set and recipe,
    the learning rates and the grid — e.g. a quick-scale search on 1,000 examples from a
    real-scale one on 3,668, or a scale's versions before and after its rates changed."""
    from idtheory.search import PARTIAL

    settings = r.get("settings") or {}
    if not settings:
        return []
    if r.get("status") == PARTIAL:
        search = "  search in progress: the store holds part of it (no summary stored yet)"
    elif not r.get("created", "?"):  # a replay of stored runs, its summary not in the store
        search = f"  search {r.get('summary_id', '?')}: its runs are stored, its summary is not"
    else:
        created = str(r.get("created", "?"))[:16].replace("T", " ")
        search = f"  search {r.get('summary_id', '?')}, stored {created}"
    train = settings.get("base_train") or {}
    n = train.get("max_train_examples")
    recipe = [
        "all examples" if n is None else f"{n:,} examples",
        f"{train['epochs']:g} epochs" if train.get("epochs") is not None else "",
        f"{train['max_steps']} steps at most" if train.get("max_steps") else "",
        f"batch {train['batch_size']}" if train.get("batch_size") else "",
        f"length {train['max_length']}" if train.get("max_length") else "",
        "grouped by length" if train.get("group_by_length") else "",
        train.get("precision") or "",
        f"seeds {'/'.join(map(str, settings['seeds']))}" if settings.get("seeds") else "",
    ]
    later = sorted((settings.get("subspace_lrs_from") or {}).items(), key=lambda kv: int(kv[0]))
    lrs = f"full {_lrs(settings.get('full_lrs'))}; subspace {_lrs(settings.get('subspace_lrs'))}"
    if later:
        lrs += " (" + "; ".join(f"{_lrs(v)} from d = {int(d):,}" for d, v in later) + ")"
    sub = dict(settings.get("subspace_kwargs") or {})
    options = [f"{sub.pop(k)} {k}" for k in ("projection", "layout") if sub.get(k)]
    options += [f"{k}={v}" for k, v in sub.items() if k not in ("method", "seed") and v is not None]
    if settings.get("grid"):  # grid mode: these d, no search
        span = "d = " + ", ".join(f"{int(d):,}" for d in settings["grid"])
    else:
        span = f"d from {settings['d_min']:,}" if settings.get("d_min") else "d"
    if settings.get("d_floor"):
        span += f" (down to {settings['d_floor']:,})"
    if settings.get("grid_factor"):
        span += f" ×{settings['grid_factor']:g}"
    if settings.get("d_max"):
        span += f" up to {settings['d_max']:,}"
    if settings.get("bracket_ratio"):
        span += f", bracket {settings['bracket_ratio']:g}"
    if settings.get("candidates"):
        span += f", {settings['candidates']} candidate d per round"
    from idtheory.search import possible_d90s

    try:  # what a bound pays for picking d90 among them (idtheory bound --n-candidate-d)
        n_possible = len(possible_d90s(settings))
        span += f"; {n_possible} possible d90 ({math.log2(n_possible):.1f} bits for a bound)"
    except (KeyError, ValueError, TypeError):  # settings of another version or an open d_max
        pass
    return [
        search,
        f"  training: {', '.join(x for x in recipe if x)}",
        f"  learning rates: {lrs}",
        *([f"  subspace: {', '.join(options)}"] if options else []),
        f"  grid: {span}",
    ]


def _lrs(values: Any) -> str:
    """Learning rates as ``0.1/0.3`` (``–`` when none)."""
    return "/".join(f"{float(v):g}" for v in values or []) or "–"


def cmd_results(args: argparse.Namespace) -> int:
    from idtheory.store import ResultsStore

    read = [("--merge", args.merge)] if args.merge else [("--results-dir", args.results_dir)]
    for flag, where in read:  # a merge may create its target; every other mode reads
        if not Path(where).is_dir():
            raise ValueError(f"{flag} {where}: no results store there (not a directory)")
    store = ResultsStore(args.results_dir)
    filters = {
        k: v
        for k, v in (("model", args.model), ("task", args.task), ("method", args.method))
        if v is not None
    }
    metric = args.metric or "accuracy"
    if args.scale and not args.d90:
        raise ValueError("--scale lists a scale's d90 searches: use it with --d90")
    if args.compare:
        return _compare(store, ResultsStore(args.compare), args, filters, metric)
    if args.merge:
        return _merge(store, ResultsStore(args.merge), args, filters)
    if args.d90:
        return _list_d90(store, args, filters)
    if args.running:
        return _list_running(store, args, filters, metric)
    rows = store.to_rows(metric=metric, **filters)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        _print_csv(rows)
    else:
        from idtheory.tasks import display_name

        print(_table([{**r, "task": display_name(str(r.get("task")))} for r in rows]))
    return 0


def _merge(store: Any, other: Any, args: argparse.Namespace, filters: dict[str, Any]) -> int:
    """``idtheory results --merge DIR``: what ``other`` holds and ``store`` lacks; with
    ``filters`` (--model/--task/--method) only the matching runs and their parameters."""
    only = [r["run_id"] for r in other.records(**filters)] if filters else None
    limit = None if args.partial_max_mb < 0 else args.partial_max_mb
    added = store.merge(other, only=only, partial_max_mb=limit)
    pruned = added.pop("pruned")
    names = {"partial": "checkpoints of trainings in flight"}
    matching = " (runs matching the filters and their parameters only)" if filters else ""
    print(
        f"merged {args.merge} into {args.results_dir}: "
        + ", ".join(f"{n} {names.get(what, what)}" for what, n in added.items())
        + f" added{matching}"
        + (f"; {pruned} finished runs' checkpoints removed" if pruned else "")
    )
    return 0


def _list_running(
    store: Any, args: argparse.Namespace, filters: dict[str, Any], metric: str
) -> int:
    """``idtheory results --running``: the trainings with a checkpoint in the store, how far
    each is, its best dev score so far, its time left at its pace so far and when it last
    saved."""
    from idtheory.store import record_field
    from idtheory.tasks import display_name

    found = store.running(**filters)
    if args.format == "json":
        print(json.dumps(found, indent=2))
        return 0
    rows = []
    for r in found:
        best = r.get("best") or {}
        spec = {k: record_field(r, k) if "spec" in r else None for k in _SPEC_COLUMNS}
        progress = _progress_cells(r)
        rows.append(
            {
                "run_id": r["run_id"],
                **spec,
                "task": spec["task"] and display_name(spec["task"]),
                "step": progress["step"],
                "done": progress["done"],
                f"best_dev_{metric}": (best.get("dev") or {}).get(metric),
                "at_step": best.get("step") if best.get("dev") else None,
                "hours": None if r.get("spent_s") is None else round(r["spent_s"] / 3600, 2),
                "left": progress["left"],
                "saved_utc": progress["saved_utc"],
                "ago": progress["ago"],
                "state": progress["state"],
            }
        )
    if not rows:
        print(f"(no training in progress has a checkpoint in {store.partial_dir})")
    elif args.format == "csv":
        _print_csv(rows)
    else:
        print(_table(rows))
    return 0


def _print_csv(rows: list[dict[str, Any]]) -> None:
    """``rows`` as CSV on stdout, the first row's keys as the header (nothing when empty)."""
    import csv

    if rows:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


_SPEC_COLUMNS = ("model", "task", "method", "dim", "lr")
"""What ``results --running`` shows of each training's spec."""


def _progress_cells(r: dict[str, Any]) -> dict[str, str | None]:
    """How far a checkpointed training is (a row of :meth:`ResultsStore.running`): step of
    total, percent, time left at its pace so far, when it saved (UTC) and how long ago — the
    last two also for a checkpoint without a progress file (older code: its file's time) —
    and whether it still runs (:func:`_run_state`)."""
    step, total = r.get("step"), r.get("total_steps")
    saved = datetime.fromisoformat(r["saved"])
    age = datetime.now(timezone.utc) - saved
    return {
        "step": None if step is None else f"{step}/{total}",
        "done": None if step is None else f"{100 * step / total:.0f}%",
        "left": _time_left(r),
        "saved_utc": saved.strftime("%Y-%m-%d %H:%M"),
        "ago": _ago(age),
        "state": _run_state(r, age),
    }


STALE_SAVES = 3
"""``results --running`` calls a training on another host ``stopped?`` once it has not saved
for this many of its save intervals (an evaluation between two saves adds minutes, not
intervals)."""


def _run_state(r: Mapping[str, Any], age: timedelta) -> str | None:
    """Whether a checkpointed training still runs: on this host, its writer process alive
    (``running``) or gone (``stopped``); on another, ``running?`` until it has missed
    :data:`STALE_SAVES` save intervals, then ``stopped?``; None for a checkpoint whose progress
    file predates writers and intervals."""
    import socket

    host, pid, every = r.get("host"), r.get("pid"), r.get("every_s")
    if host is not None and host == socket.gethostname() and pid:
        return "running" if _process_alive(int(pid)) else "stopped"
    if not every:
        return None
    return "stopped?" if age.total_seconds() > STALE_SAVES * float(every) else "running?"


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (signal 0 probes without signalling)."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _time_left(progress: dict[str, Any]) -> str | None:
    """A training's time to its last step at its pace so far (its training hours per step,
    evaluations included), in words; None before its first step or without progress."""
    step, total, spent = (progress.get(k) for k in ("step", "total_steps", "spent_s"))
    if not step or total is None or spent is None:
        return None
    return _ago(timedelta(seconds=spent / step * max(0, total - step)))


def _ago(delta: timedelta) -> str:
    """A time span in words: ``45 s``, ``12 min``, ``3.4 h``, ``2.1 d``."""
    s = max(0.0, delta.total_seconds())
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h" if s < 48 * 3600 else f"{s / 86400:.1f} d"


def _list_d90(store: Any, args: argparse.Namespace, filters: dict[str, Any]) -> int:
    """``idtheory results --d90``: the stored d90 summaries (of ``--metric`` when given), a
    cell's together, oldest first; with ``--scale`` the scale's searches as its figures find
    them and the trainings computing it would start now (json: ``searches``, ``next_trainings``)."""
    if args.format == "csv":
        raise ValueError(
            "--d90 prints a table or json, not csv (use --format table or --format json)"
        )
    missing: list[str] = []
    needed: dict[str, Any] = {}
    if args.scale:
        rows, missing, needed = _scale_searches(args, filters)
    else:
        rows = store.summaries(
            **filters, **({} if args.metric is None else {"metric": args.metric})
        )
        rows.sort(key=lambda r: (r["model"], r["task"], r["method"], r.get("created") or ""))
    from idtheory.search import PARTIAL

    left = {
        i: found
        for i, r in enumerate(rows)
        if r.get("status") == PARTIAL and (found := search_left(store, r)) is not None
    }
    if args.format == "json":
        if args.scale:  # the searches, what each still needs, and what they need next
            for i, (lo, hi, hours) in left.items():
                rows[i] = {**rows[i], "trainings_left": [lo, hi], "hours_per_training": hours}
            out: Any = {"searches": rows, "next_trainings": _next_rows(store, needed)}
        else:
            out = rows
        print(json.dumps(out, indent=2))
    else:
        for i, r in enumerate(rows):
            line = left_line(*left[i]) if i in left else None
            print(format_d90(r, store.cost(r.get("run_ids") or []), line))
        if not rows and not missing:
            print("(no stored d90 searches match)")
        if len(left) > 1:
            print("\n" + total_left_line(list(left.values())))
        if needed:
            print(
                f"\nnext trainings of the {args.scale} scale (what computing it would start now):"
            )
            print(_table(_next_rows(store, needed)))
    for line in missing:
        print(f"missing: {line}", file=sys.stderr)
    return 0


def search_left(store: Any, r: Mapping[str, Any]) -> tuple[int, int, float | None] | None:
    """What the search ``r`` (a partial read's dict) still needs before it ends: the fewest and
    the most trainings (:func:`idtheory.search.trainings_left`, against the runs ``store``
    holds), and the mean wall hours of its subspace trainings stored so far (None before the
    first). None while its grid is not known yet (d_max resolved from the baseline's runs)."""
    from idtheory.search import settings_d_max, settings_specs, trainings_left

    settings = r.get("settings") or {}
    if settings.get("grid") is None and settings_d_max(settings) is None:
        return None

    def missing(d: int) -> int:
        specs = settings_specs(r["model"], r["task"], r["method"], d, settings)
        return sum(store.needs_training(spec) for spec in specs)

    lo, hi = trainings_left(settings, {p["d"]: p["passes"] for p in r["points"]}, missing)
    baseline = {i for cell in r.get("baseline") or [] for i in cell["run_ids"]}
    n, hours = store.cost(i for i in r.get("run_ids") or [] if i not in baseline)
    return lo, hi, (hours / n if n else None)


def left_line(lo: int, hi: int, hours: float | None) -> str:
    """:func:`search_left` in words: ``to end: 6–10 more trainings (≈ 9.5–15.8 CPU h at the
    1.58 h its subspace trainings took on average)``."""
    text = f"to end: {_span(lo, hi)} more training{'' if hi == 1 else 's'}"
    if hours is not None and hi:
        text += (
            f" (≈ {_span(round(lo * hours, 1), round(hi * hours, 1))} CPU h at the "
            f"{hours:.2f} h its subspace trainings took on average)"
        )
    return text


def total_left_line(lefts: Sequence[tuple[int, int, float | None]]) -> str:
    """What several searches in progress (each :func:`search_left`'s tuple) need in all: ``the 4
    searches in progress need 16–24 more trainings in all (≈ 20.2–33.7 CPU h at each search's
    mean; fewer where two searches of a cell share a d)``; the hours only when every search has
    a mean to price its trainings with."""
    lo, hi = sum(x[0] for x in lefts), sum(x[1] for x in lefts)
    text = f"the {len(lefts)} searches in progress need {_span(lo, hi)} more trainings in all ("
    priced = [(n_lo, n_hi, hours) for n_lo, n_hi, hours in lefts if hours is not None]
    if len(priced) == len(lefts):
        lo_h = round(sum(n_lo * hours for n_lo, _, hours in priced), 1)
        hi_h = round(sum(n_hi * hours for _, n_hi, hours in priced), 1)
        text += f"≈ {_span(lo_h, hi_h)} CPU h at each search's mean; "
    return text + "fewer where two searches of a cell share a d)"


def _span(lo: float, hi: float) -> str:
    """``4`` or ``6–10``."""
    return f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"


def _scale_searches(
    args: argparse.Namespace, filters: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str], dict[str, Any]]:
    """``results --d90 --scale NAME``: the scale's Figure 1 / Table 1 searches as its figures
    find them (:func:`idtheory.figures.grid_results`, store only — ``compute`` off even for a
    scale that trains, such as ``smoke`` —: complete, else in progress), narrowed by
    ``filters``; the notes on what the store lacks; and the trainings the searches stopped at
    (:attr:`~idtheory.figures.FigureContext.needed`, by run id)."""
    from idtheory import figures

    preset = get_scale(args.scale)
    keys = {"model": "models", "task": "tasks", "method": "methods"}
    for key, value in filters.items():  # narrow the scale, never change it
        if value not in preset[keys[key]]:
            raise ValueError(
                f"--{key} {value}: not one of the {args.scale} scale's {keys[key]} "
                f"({', '.join(preset[keys[key]])}); leave it out or pick one of those"
            )
    if args.metric is not None and args.metric != preset["metric"]:
        raise ValueError(
            f"--metric {args.metric}: the {args.scale} scale measures {preset['metric']}"
        )
    overrides: dict[str, Any] = {keys[k]: [v] for k, v in filters.items()}
    ctx = figures.setup(
        args.scale,
        chdir=False,
        results_dir=str(Path(args.results_dir).resolve()),
        compute=False,  # a listing never trains
        **overrides,
    )
    return figures.grid_results(ctx), list(ctx.missing), dict(ctx.needed)


def _next_rows(store: Any, needed: dict[str, Any]) -> list[dict[str, Any]]:
    """``results --d90 --scale``'s table of the next trainings: run id, what it trains, and its
    checkpoint in the store if it has one (:func:`_progress_cells`; "-": not started)."""
    from idtheory.tasks import display_name

    running = {r["run_id"]: r for r in store.running()}
    rows = []
    for run_id, spec in needed.items():
        sub = spec.subspace
        progress = _progress_cells(running[run_id]) if run_id in running else {}
        rows.append(
            {
                "run_id": run_id,
                "model": spec.model,
                "task": display_name(spec.task),
                "method": "full" if sub is None else sub.method,
                "dim": None if sub is None else sub.dim,
                "lr": spec.train.lr,
                "checkpoint": "yes" if progress else "not started",
                **{
                    k: progress.get(k)
                    for k in ("step", "done", "left", "saved_utc", "ago", "state")
                },
            }
        )
    return rows


def _compare(
    store: Any, other: Any, args: argparse.Namespace, filters: dict[str, Any], metric: str
) -> int:
    """``idtheory results --compare DIR``: the runs both stores hold, side by side."""
    from idtheory.store import compare_summary

    if not (Path(args.compare) / other.RUNS_FILE).is_file():
        raise ValueError(f"no results store at {args.compare} (no runs.jsonl)")
    rows = store.compare(other, metric=metric, **filters)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    print(_table(rows))
    s = compare_summary(rows, tol=args.tol)
    worst = "–" if s["max_abs_delta"] is None else f"{s['max_abs_delta']:.4g}"
    ratio = "–" if s["time_ratio"] is None else f"{s['time_ratio']:.2f}"
    print(
        f"\n{s['shared']} runs in both stores ({args.results_dir} = a, {args.compare} = b); "
        f"dev {metric} agrees within {args.tol:g} for {s['agree']} of {s['compared']}, "
        f"max |b − a| = {worst}; summed wall time a {s['hours_a']:.2f} h, "
        f"b {s['hours_b']:.2f} h (b / a = {ratio})"
    )
    return 0


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no stored runs match)"
    cols = list(rows[0])
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    head = "  ".join(c.rjust(w) for c, w in zip(cols, widths))
    body = ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join([head, *body])


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def add_results_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``idtheory results`` (its parser's ``func``: :func:`cmd_results`)."""
    p.add_argument("--results-dir", default=str(DEFAULT_ROOT), help="results store directory")
    p.add_argument("--model", help="only this model")
    p.add_argument("--task", help="only this task")
    p.add_argument("--method", choices=["full", *SUBSPACE_METHODS], help="only this method")
    p.add_argument(
        "--metric",
        default=None,
        help="dev metric shown (default: accuracy); with --d90, only the searches on this metric "
        "(default: all)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--d90", action="store_true", help="list d90 summaries instead of runs")
    mode.add_argument(
        "--running",
        action="store_true",
        help="list the trainings with a checkpoint in the store (in progress, or killed and "
        "not yet resumed): step of total, best dev score so far, hours, when last saved, and "
        "whether it still runs (this host: its process; another: running? / stopped? by how "
        "long it has not saved)",
    )
    mode.add_argument(
        "--merge",
        metavar="DIR",
        default=None,
        help="bring another store's runs, d90 summaries, bounds, saved parameters and the "
        "checkpoints of its trainings in flight into this one (those it lacks; final records "
        "are never replaced) — e.g. a sweep's clone; with --model/--task/--method only the "
        "matching runs and their parameters",
    )
    mode.add_argument(
        "--compare",
        metavar="DIR",
        default=None,
        help="another results store: list the runs both hold (same config hash) with both dev "
        "scores and wall times — e.g. a recompute against the committed store",
    )
    p.add_argument(
        "--scale",
        choices=SCALE_NAMES,
        default=None,
        help="with --d90: only the searches this scale's Figure 1 and Table 1 show, found as "
        "its figures find them (complete, else the part stored so far: a sweep in progress), "
        "then the trainings computing the scale would start now; --model/--task/--method "
        "narrow it; nothing is trained (default: every stored summary)",
    )
    p.add_argument(
        "--tol", type=float, default=0.0, help="with --compare: |difference| counted as agreeing"
    )
    p.add_argument(
        "--partial-max-mb",
        type=float,
        default=PARTIAL_MERGE_MAX_MB,
        metavar="MB",
        help="with --merge: the largest checkpoint of a training in flight to copy (MiB; a "
        "subspace training's is kilobytes, a full fine-tuning's gigabytes; negative: any size; "
        "0: none)",
    )
    p.add_argument(
        "--format",
        default="table",
        choices=["table", "csv", "json"],
        help="output format; with --d90 table or json",
    )
    p.set_defaults(func=cmd_results)
