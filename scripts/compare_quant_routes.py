"""Compare the ways of quantizing a trained subspace run, by the training error of the decoded
model: plain k-means, k-means with the codebook retuned, and straight-through quantization-aware
training (STE), at each level count L. This is the measurement that chooses between the
certificate protocol's ``retune`` and ``ste`` routes (``docs/certificate.md``).

    python scripts/compare_quant_routes.py RUN_ID [--levels 8 16 32] [--train-ste]
        [--results-dir data/results] [--artifacts-dir DIR] [--data-dir DIR]
        [--retune-steps 200] [--retune-lr-factor 0.1]

RUN_ID is a stored float subspace run (θ_d saved under ``<artifacts>/<RUN_ID>``). The STE run
at L is the same spec with ``train.quantize_levels = L``; it is read from the store when present,
trained (and stored) with ``--train-ste``, else reported as missing. Every error count is that
of the model decoded from the coded message, on the run's own training items (its subsample, or
the whole set) and its dev items; the bits are those of the message (``idtheory.certify``).
Prints a Markdown table; nothing else is written unless ``--train-ste`` trains.
"""

from __future__ import annotations

import argparse
from typing import Any

from idtheory.certify import RETUNE_DEFAULTS, decoded_errors, message_bits, retuned
from idtheory.compress import load_subspace_run
from idtheory.plots import markdown_table
from idtheory.quantize import kmeans_float16
from idtheory.store import ResultsStore


def _row(run: Any, route: str, levels: int, q: Any) -> dict[str, Any]:
    _, k_train, k_dev = decoded_errors(run, q)
    bits = message_bits(q, run.model.num_lambdas, 0.0, 16, 16)
    return {
        "L": levels,
        "route": route,
        "train error": f"{k_train / run.m:.4f}",
        "train errors": k_train,
        "dev error": f"{k_dev / len(run.examples['dev']):.4f}",
        "bits": f"{bits.total:,.0f}",
    }


def _ste_run(run: Any, levels: int, store: ResultsStore, args: argparse.Namespace) -> Any:
    """The stored STE run at ``levels`` for ``run``'s spec (trained with ``--train-ste``), or
    None when it is not stored."""
    from idtheory.train import make_train_fn

    spec = run.spec.with_(**{"train.quantize_levels": levels})
    if store.needs_training(spec):
        if not args.train_ste:
            return None
        train = make_train_fn(data_dir=args.data_dir, artifacts_dir=args.artifacts)
        if store.run(spec, train).get("status") != "ok":
            return None
    return load_subspace_run(
        spec.config_hash(), store=store, data_dir=args.data_dir, artifacts_dir=args.artifacts
    )


def compare(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per (L, route): the decoded model's training and dev error and its bits."""
    store = ResultsStore(args.results_dir)
    args.artifacts = str(args.artifacts_dir or store.params_dir)
    run = load_subspace_run(
        args.run_id, store=store, data_dir=args.data_dir, artifacts_dir=args.artifacts
    )
    if run.spec.train.quantize_levels is not None:
        raise SystemExit(f"{args.run_id} is an STE run; pass the float run it was derived from")
    theta = run.model.theta.detach().cpu().double().numpy()
    settings = {
        **RETUNE_DEFAULTS,
        "steps": args.retune_steps,
        "lr": args.retune_lr_factor * run.spec.train.lr,
    }
    rows = []
    for levels in args.levels:
        q = kmeans_float16(theta, levels)
        rows.append(_row(run, "k-means", levels, q))
        rows.append(_row(run, "retuned", levels, retuned(run, q, settings)))
        ste = _ste_run(run, levels, store, args)
        if ste is None:
            rows.append({"L": levels, "route": "ste", "train error": "missing"})
        else:
            q_ste = kmeans_float16(ste.model.theta.detach().cpu().double().numpy(), levels)
            rows.append(_row(ste, "ste", levels, q_ste))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_id")
    parser.add_argument("--levels", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--train-ste", action="store_true", help="train missing STE runs")
    parser.add_argument("--results-dir", default="data/results")
    parser.add_argument("--artifacts-dir", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--retune-steps", type=int, default=RETUNE_DEFAULTS["steps"])
    parser.add_argument("--retune-lr-factor", type=float, default=RETUNE_DEFAULTS["lr_factor"])
    args = parser.parse_args(argv)
    rows = compare(args)
    columns = {c: c for c in ("L", "route", "train error", "train errors", "dev error", "bits")}
    print(markdown_table(rows, columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
