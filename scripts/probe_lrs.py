"""Probe the subspace learning rates of a scale's Figure 1 trainings: SAID and DID at one d with
learning rates outside the scale's ``subspace_lrs``, with every other setting the scale's own,
trained into a separate store (``data/probes``), then printed beside the stored runs at the
scale's learning rates (read from the main store, never trained here).

    IDTHEORY_DATA=../shared/data .venv/bin/python scripts/probe_lrs.py \\
        --scale real --model minilm-l6 --task mrpc --dim 2560 --lrs 0.03 1.0

A probe that beats the scale's learning rates at the d where the d90 search decides says that
the grid should widen; one that does not confirms it. Probes are resumable like every training
(their records are in the probe store; partial checkpoints under its ``partial/``).
"""

from __future__ import annotations

import argparse

from idtheory import figures
from idtheory.config import RunSpec
from idtheory.plots import markdown_table
from idtheory.search import StoredRuns


def probe_specs(
    ctx: figures.FigureContext,
    model: str,
    task: str,
    dim: int,
    lrs: list[float],
    methods: list[str],
) -> list[RunSpec]:
    """The trainings of one probe: ``methods`` × ``lrs`` (and the scale's seeds) at ``dim``,
    with the scale's training and subspace settings."""
    return [
        ctx.run_spec(model, task, m, dim, lr=lr, seed=seed)
        for m in methods
        for lr in lrs
        for seed in ctx.params["seeds"]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="real", help="scale preset (default: real)")
    parser.add_argument("--model", default="minilm-l6", help="model alias (default: minilm-l6)")
    parser.add_argument("--task", default="mrpc", help="task (default: mrpc)")
    parser.add_argument("--dim", type=int, default=2560, help="d of the probe (default: 2560)")
    parser.add_argument(
        "--lrs", type=float, nargs="+", default=[0.03, 1.0], help="probed lrs (default: 0.03 1.0)"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["said", "did"],
        choices=["said", "did"],
        help="subspace methods (default: said did)",
    )
    parser.add_argument(
        "--probes-dir", default="data/probes", help="store of the probes (default: data/probes)"
    )
    parser.add_argument(
        "--list", action="store_true", help="only print what is stored, train nothing"
    )
    args = parser.parse_args(argv)

    main_ctx = figures.setup(args.scale, compute=False)
    probe_ctx = figures.setup(args.scale, compute=not args.list, results_dir=args.probes_dir)
    scale_lrs = [float(x) for x in main_ctx.params["subspace_lrs"]]
    rows = []
    for ctx, lrs in ((probe_ctx, args.lrs), (main_ctx, scale_lrs)):
        trainer = ctx.trainer() if ctx is probe_ctx else StoredRuns(ctx.store)
        for spec in probe_specs(ctx, args.model, args.task, args.dim, lrs, args.methods):
            if args.list or ctx is main_ctx:
                record = ctx.store.get(spec.config_hash())
            else:
                record = ctx.store.run(spec, trainer)
            score = (record or {}).get("metrics", {}).get("dev", {}).get(ctx.params["metric"])
            rows.append(
                {
                    "method": spec.method.upper(),
                    "lr": spec.train.lr,
                    "seed": spec.train.seed,
                    "store": "probe" if ctx is probe_ctx else "scale",
                    "dev": "missing" if score is None else f"{score:.4f}",
                    "wall s": "" if record is None else f"{record.get('wall_time_s', 0):.0f}",
                }
            )
    rows.sort(key=lambda r: (r["method"], r["lr"], r["seed"]))
    print(f"{args.model} / {args.task}, d = {args.dim}, scale {args.scale}:")
    print(markdown_table(rows, floatfmt=".3g"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
