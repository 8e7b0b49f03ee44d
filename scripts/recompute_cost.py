"""What a full quick-scale recompute (``compute=True`` into an empty store) costs, from the
measured wall times in the committed store and pre-training logs.

    IDTHEORY_DATA=../shared/data .venv/bin/python scripts/recompute_cost.py

Figures 2-3 recompute exactly the stored trend searches (same settings, same trainings), so their
cost is the sum of their stored wall times. Figure 1 recomputes a grid (``dims`` × subspace lrs ×
methods, plus the baselines), not the searches whose runs the store holds, so its cost is that
number of trainings times the measured mean time per training of the task. Pre-training is the
last ``elapsed_s`` of each ``data/pretrain/<name>.log.jsonl``. Wall times were taken at one
thread with two to four jobs sharing two cores, so the totals are upper bounds of the CPU time;
"wall, 2 workers" divides by the quick scale's two worker processes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from idtheory import figures as F

ROOT = Path(__file__).resolve().parent.parent


def _hours(records: list[dict]) -> float:
    return sum(float(r.get("wall_time_s") or 0.0) for r in records) / 3600


def main() -> None:
    ctx = F.setup("quick", chdir=False)
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

    width = max(len(name) for name, _, _ in rows)
    print(f"{'part':<{width}}  trainings  CPU h")
    for name, n, h in rows:
        print(f"{name:<{width}}  {n:>9}  {h:5.2f}")
    total = sum(h for _, _, h in rows if h == h)
    print(f"{'total':<{width}}  {sum(n for _, n, _ in rows):>9}  {total:5.2f}")
    print(f"wall, 2 workers: ≈ {total / 2:.1f} h")


if __name__ == "__main__":
    main()
