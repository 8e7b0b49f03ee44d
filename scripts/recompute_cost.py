"""What a full recompute of a scale (``compute=True`` into an empty store) costs, from the
measured wall times in the committed store and pre-training logs.

    IDTHEORY_DATA=../shared/data .venv/bin/python scripts/recompute_cost.py [--scale real]

Figures 2-3 recompute exactly the stored trend searches (same settings, same trainings), so their
cost is the sum of their stored wall times. Figure 1 recomputes a grid (``dims`` × subspace lrs ×
methods, plus the baselines), not the searches whose runs the store holds, so its cost is that
number of trainings times the measured mean time per training of the task. Pre-training is the
last ``elapsed_s`` of each ``data/pretrain/<name>.log.jsonl``. Wall times were taken at one
thread with two to four jobs sharing two cores, so the totals are upper bounds of the CPU time;
"wall, 2 workers" divides by the quick scale's two worker processes.

The real scale recomputes its searches (the same trainings the store holds for them), so a
cell's cost is the distinct trainings behind its searches under both thresholds
(:func:`idtheory.figures.grid_results`, as Figure 1 finds them) and their stored wall time; a
model's total counts each training once (the baselines its SAID and DID cells share). A cell
whose searches the store holds only part of is marked "in progress": its cost so far.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from idtheory import figures as F
from idtheory.search import PARTIAL

ROOT = Path(__file__).resolve().parent.parent


def _hours(records: list[dict]) -> float:
    return sum(float(r.get("wall_time_s") or 0.0) for r in records) / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", choices=("quick", "real"), default="quick", help="preset (default: quick)"
    )
    scale = parser.parse_args().scale
    ctx = F.setup(scale, chdir=False, compute=False)
    rows = quick_rows(ctx) if scale == "quick" else real_rows(ctx)
    width = max(len(name) for name, _, _ in rows)
    print(f"{'part':<{width}}  trainings  CPU h")
    for name, n, h in rows:
        print(f"{name:<{width}}  {n:>9}  {h:5.2f}")
    totals = [(n, h) for name, n, h in rows if not name.startswith("  ")]  # not the subtotals
    total = sum(h for _, h in totals if h == h)
    print(f"{'total':<{width}}  {sum(n for n, _ in totals):>9}  {total:5.2f}")
    print(f"wall, 2 workers: ≈ {total / 2:.1f} h")


def real_rows(ctx: F.FigureContext) -> list[tuple[str, int, float]]:
    """Per model: each cell's trainings and hours (indented), then the model's distinct total."""
    ids: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    measuring: set[tuple[str, str, str]] = set()
    for r in F.grid_results(ctx):
        key = (r["model"], r["task"], r["method"])
        ids[key] |= set(r.get("run_ids") or [])
        if r["status"] == PARTIAL:
            measuring.add(key)
    rows: list[tuple[str, int, float]] = []
    for model in ctx.params["models"]:
        cells = sorted(k for k in ids if k[0] == model)
        for key in cells:
            note = " (in progress)" if key in measuring else ""
            rows.append(
                (f"  {model} / {key[1]} / {key[2].upper()}{note}", *ctx.store.cost(ids[key]))
            )
        every = set().union(*(ids[k] for k in cells)) if cells else set()
        note = " (in progress)" if measuring & set(cells) else ""
        rows.append((f"{model}: every cell, each training once{note}", *ctx.store.cost(every)))
    return rows


def quick_rows(ctx: F.FigureContext) -> list[tuple[str, int, float]]:
    """Figure 1's grid at the measured mean time per training, the stored trend searches and
    the pre-training logs."""
    p = ctx.params
    runs = list(ctx.store.records())
    rows: list[tuple[str, int, float]] = []

    # Figure 1: the grid the quick scale computes, costed at each task's measured mean
    for model in p["models"]:
        for task in p["tasks"]:
            stored = [r for r in runs if r["spec"]["model"] == model and r["spec"]["task"] == task]
            stored = [r for r in stored if r.get("wall_time_s")]
            if not stored:
                rows.append((f"Figure 1: {model} / {task} (nothing stored)", 0, float("nan")))
                continue
            n_sub = sum(len(ctx.subspace_lrs(d)) for d in p["dims"])
            n = (len(p["full_lrs"]) + len(p["methods"]) * n_sub) * len(p["seeds"])
            rows.append((f"Figure 1: {model} / {task} (grid)", n, n * _hours(stored) / len(stored)))

    # Figures 2-3: every stored run of the trend and size models
    trend_models = {name for _, name in F.trend_checkpoints(ctx)} | set(F.size_models(ctx))
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        if r["spec"]["model"] in trend_models:
            family = r["spec"]["model"].split("/checkpoint-")[0].replace("checkpoints/", "")
            groups[f"Figures 2-3: {family} / {r['spec']['task']}"].append(r)
    rows += [(name, len(recs), _hours(recs)) for name, recs in sorted(groups.items())]

    # pre-training
    for log in sorted((ROOT / "data" / "pretrain").glob("family-*.log.jsonl")):
        elapsed = [json.loads(line).get("elapsed_s") for line in log.read_text().splitlines()]
        seconds = max((e for e in elapsed if e is not None), default=0.0)
        rows.append((f"pre-training: {log.name.split('.')[0]}", 1, seconds / 3600))

    return rows


if __name__ == "__main__":
    main()
