"""Two studies of a scale's Figure 1 trainings (issue 15), each trained into a results store
(resumable; ``--list`` only reads) and printed side by side with the scale's own runs:

``lrs`` — the subspace learning rates re-probed: SAID and DID at one d with rates outside the
scale's ``subspace_lrs``, every other setting the scale's, in a separate store (``data/probes``).
A probe that beats the scale's rates at the d where the d90 search decides says the grid should
widen; one that does not confirms it. Once the scale's rates there change (``subspace_lrs_from``),
``--adopt`` copies the probes now among them into the scale's store, so its search reuses them.

    IDTHEORY_DATA=../shared/data .venv/bin/python scripts/scale_studies.py lrs \\
        --scale real --model minilm-l6 --task mrpc --dim 2560 --lrs 0.03 1.0

``precision`` — the bf16 parity study: the grid trainings (full fine-tuning at the scale's rates;
SAID and DID at several d and the scale's subspace rates) in the scale's fp32 and again under
bf16 autocast, in the scale's store (a bf16 training is another run id). Per training: both dev
scores, their difference, the binomial standard error sqrt(p (1 - p) / n) of the fp32 score on
the n dev examples, whether the difference lies within it (no wall-time ratio: the stored fp32
run may come from another machine; ``python -m idtheory.bench`` measures the speed side by
side); per method and precision, the grid d90 under the paper's threshold (0.9 × that
precision's best full fine-tuning score): the smallest probed d that reaches it. Without
native bf16 (``amx_bf16`` / ``avx512_bf16`` on the CPU, or a bf16-capable GPU with
``--device cuda``) autocast is emulated, about 20× slower on an AVX2-only CPU: it refuses
unless ``--force``.

    IDTHEORY_DATA=../shared/data .venv/bin/python scripts/scale_studies.py precision \\
        --scale real --model minilm-l6 --task sst2 --dims 160 640 2560
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from typing import Any

from idtheory import figures
from idtheory.config import RunSpec
from idtheory.curve import d90_from_curve, d90_threshold
from idtheory.plots import markdown_table


def stored_or_trained(
    ctx: figures.FigureContext, specs: Iterable[RunSpec], *, train: bool
) -> dict[str, dict[str, Any]]:
    """The records of ``specs`` by run id: trained where missing when ``train``, else only
    those the store holds."""
    trainer = ctx.trainer() if train else None
    records = {}
    for spec in specs:
        record = ctx.store.run(spec, trainer) if train else ctx.store.get(spec.config_hash())
        if record is not None:
            records[spec.config_hash()] = record
    return records


def _score(record: dict[str, Any] | None, metric: str) -> float | None:
    if not record or record.get("status") != "ok":
        return None
    return record["metrics"]["dev"].get(metric)


# ============================================================================ lrs


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


def memory_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Scale overrides for ``--gradient-checkpointing``: a training setting that changes the
    memory a training holds, not what it computes (neither the run id nor a checkpoint's
    fingerprint: :data:`idtheory.config.MEMORY_ONLY`), so a study can train beside a sweep."""
    return {"train": {"gradient_checkpointing": True}} if args.gradient_checkpointing else {}


def run_lrs(args: argparse.Namespace) -> None:
    scale = figures.setup(args.scale, compute=False)
    probes = figures.setup(
        args.scale,
        compute=not args.list,
        results_dir=args.probes_dir,
        **memory_overrides(args),
    )
    rows = []
    for ctx, lrs, train in (
        (probes, args.lrs, not args.list),
        (scale, scale.subspace_lrs(args.dim), False),
    ):
        specs = probe_specs(ctx, args.model, args.task, args.dim, lrs, args.methods)
        records = stored_or_trained(ctx, specs, train=train)
        for spec in specs:
            record = records.get(spec.config_hash())
            rows.append(
                {
                    "method": spec.method.upper(),
                    "lr": spec.train.lr,
                    "seed": spec.train.seed,
                    "store": "probe" if ctx is probes else "scale",
                    "dev": _score(record, ctx.params["metric"]),
                    "wall s": None if record is None else record["wall_time_s"],
                }
            )
    rows.sort(key=lambda r: (r["method"], r["lr"], r["seed"]))
    print(f"{args.model} / {args.task}, d = {args.dim}, scale {args.scale}:")
    print(markdown_table(rows, floatfmt=".4g"))
    if args.adopt:
        adopted = adopt(probes, scale, args.model, args.task, args.dim, args.methods)
        print(f"adopted into {scale.store.root}: {', '.join(adopted) or 'nothing'}")


def adopt(
    probes: figures.FigureContext,
    scale: figures.FigureContext,
    model: str,
    task: str,
    dim: int,
    methods: list[str],
) -> list[str]:
    """Copy the finished probe runs at ``dim`` whose rate is among the scale's own rates there
    (``scale.subspace_lrs(dim)``) and that the scale's store lacks into it, with their saved
    parameters; returns their run ids. A probe is the scale's run of its spec (same settings,
    same run id), so the scale's search then reuses it instead of training it again."""
    specs = probe_specs(scale, model, task, dim, scale.subspace_lrs(dim), methods)
    ids = [
        run_id
        for run_id in (s.config_hash() for s in specs)
        if (probes.store.get(run_id) or {}).get("status") == "ok" and run_id not in scale.store
    ]
    if ids:
        scale.store.merge(probes.store, only=ids)
    return ids


# ====================================================================== precision


def parity_pairs(
    ctx: figures.FigureContext,
    model: str,
    task: str,
    dims: list[int],
    methods: list[str],
    precision: str = "bf16",
) -> list[tuple[RunSpec, RunSpec]]:
    """(scale's run, the same run in ``precision``) for full fine-tuning at the scale's
    ``full_lrs`` and ``methods`` × ``dims`` at its ``subspace_lrs`` (each seed of the scale)."""
    p = ctx.params
    cells = [("full", None, lr) for lr in p["full_lrs"]]
    cells += [(m, d, lr) for m in methods for d in dims for lr in ctx.subspace_lrs(d)]
    pairs = []
    for method, dim, lr in cells:
        for seed in p["seeds"]:
            base = ctx.run_spec(model, task, method, dim, lr=lr, seed=seed)
            pairs.append(
                (
                    base,
                    ctx.run_spec(model, task, method, dim, lr=lr, seed=seed, precision=precision),
                )
            )
    return pairs


def compare(
    pairs: list[tuple[RunSpec, RunSpec]],
    records: dict[str, dict[str, Any]],
    metric: str,
    n_dev: int,
) -> list[dict[str, Any]]:
    """One row per pair: both scores, their difference, the fp32 score's binomial standard error
    on ``n_dev`` examples and whether |difference| ≤ it. No wall-time ratio: the stored run may
    come from another machine or another load (the speed is ``python -m idtheory.bench``'s,
    measured side by side)."""
    rows = []
    for a, b in pairs:
        ra, rb = records.get(a.config_hash()), records.get(b.config_hash())
        sa, sb = _score(ra, metric), _score(rb, metric)
        se = None if sa is None else math.sqrt(max(sa * (1 - sa), 0.0) / n_dev)
        both = sa is not None and sb is not None
        rows.append(
            {
                "method": a.method.upper(),
                "d": a.dim,
                "lr": a.train.lr,
                "seed": a.train.seed,
                a.train.precision: sa,
                b.train.precision: sb,
                "difference": sb - sa if both else None,
                "1 SE": se,
                "within 1 SE": ("yes" if abs(sb - sa) <= se else "no") if both else "–",
            }
        )
    return rows


def grid_d90(rows: list[dict[str, Any]], precision: str, frac: float = 0.9) -> dict[str, Any]:
    """Per subspace method: the smallest d whose best score over the rows (learning rates,
    seeds) in ``precision`` reaches ``frac`` × the best full fine-tuning score in it."""
    full = [r[precision] for r in rows if r["method"] == "FULL" and r[precision] is not None]
    if not full:
        return {}
    out: dict[str, Any] = {"threshold": d90_threshold(max(full), frac)}
    for method in sorted({r["method"] for r in rows} - {"FULL"}):
        best: dict[int, float] = {}
        for r in rows:
            if r["method"] == method and r[precision] is not None:
                best[r["d"]] = max(best.get(r["d"], -math.inf), r[precision])
        if not best:
            out[method] = None
            continue
        found = d90_from_curve(list(best), list(best.values()), max(full), frac)
        out[method] = found.d90 if found.d90 is not None else f"> {max(best)}"
    return out


def run_precision(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    overrides: dict[str, Any] = {
        "compute": not args.list,
        "results_dir": args.results_dir,
        **memory_overrides(args),
    }
    if args.device:
        overrides["device"] = args.device
    ctx = figures.setup(args.scale, **overrides)
    if not args.list and args.precision == "bf16" and not args.force:
        from idtheory.precision import resolve_precision

        if resolve_precision("auto", ctx.params["device"]) != "bf16":
            parser.error(
                f"no native bf16 on device {ctx.params['device']!r}: autocast would be emulated "
                "(about 20x slower); run on a CPU with amx_bf16/avx512_bf16 or a GPU, "
                "or pass --force (or --list to read the store)"
            )
    pairs = parity_pairs(ctx, args.model, args.task, args.dims, args.methods, args.precision)
    records = stored_or_trained(ctx, (s for pair in pairs for s in pair), train=not args.list)
    from idtheory.config import TrainConfig
    from idtheory.train import load_run_data

    scored = TrainConfig(max_eval_examples=ctx.params["train"].get("max_eval_examples"))
    n_dev = len(load_run_data(args.task, "dev", scored, ctx.data_dir))
    rows = compare(pairs, records, ctx.params["metric"], n_dev)
    print(f"{args.model} / {args.task}, scale {args.scale}, {n_dev} dev examples:")
    print(markdown_table(rows, floatfmt=".4g"))
    for precision in (pairs[0][0].train.precision, args.precision):
        print(f"grid d90 ({precision}):", grid_d90(rows, precision, ctx.params["frac"]))


# =========================================================================== main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="study", required=True)
    lrs = sub.add_parser("lrs", help="probe subspace learning rates at one d (data/probes)")
    precision = sub.add_parser("precision", help="bf16 parity of the grid trainings")
    for p, task in ((lrs, "mrpc"), (precision, "sst2")):
        p.add_argument("--scale", default="real", help="scale preset (default: real)")
        p.add_argument("--model", default="minilm-l6", help="model alias (default: minilm-l6)")
        p.add_argument("--task", default=task, help=f"task (default: {task})")
        p.add_argument(
            "--methods",
            nargs="+",
            default=["said", "did"],
            choices=["said", "did"],
            help="subspace methods (default: said did)",
        )
        p.add_argument("--list", action="store_true", help="only read the store, train nothing")
        p.add_argument(
            "--gradient-checkpointing",
            action="store_true",
            help="recompute each layer in the backward: less memory (an MPNet-base full "
            "fine-tuning: 3.5 GiB instead of 8.4 GB), the same numbers and run ids (default: off)",
        )
    lrs.add_argument("--dim", type=int, default=2560, help="d of the probe (default: 2560)")
    lrs.add_argument(
        "--lrs", type=float, nargs="+", default=[0.03, 1.0], help="probed lrs (default: 0.03 1.0)"
    )
    lrs.add_argument("--probes-dir", default="data/probes", help="(default: data/probes)")
    lrs.add_argument(
        "--adopt",
        action="store_true",
        help="copy the finished probe runs at rates the scale itself now trains at this d (after "
        "its subspace_lrs_from changed: same spec, same run id) into the scale's store",
    )
    precision.add_argument(
        "--dims", type=int, nargs="+", default=[160, 640, 2560], help="d (default: 160 640 2560)"
    )
    precision.add_argument("--precision", default="bf16", help="against fp32 (default: bf16)")
    precision.add_argument("--device", default=None, help="cpu or cuda (default: the scale's)")
    precision.add_argument("--results-dir", default=None, help="store (default: the scale's)")
    precision.add_argument("--force", action="store_true", help="train without native bf16 too")
    args = parser.parse_args(argv)
    if args.study == "lrs":
        run_lrs(args)
    else:
        run_precision(args, precision)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
