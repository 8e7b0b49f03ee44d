"""Data of notebook 04 (Figures 4-5 and the bounds): accuracies and generalization gaps of
the trend cells, the certified bounds of their runs at d = d90, and the certificates of the
declared protocols (:mod:`idtheory.certify`) as the results store holds them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from idtheory.config import RunSpec
from idtheory.figures.context import (
    FigureContext,
)
from idtheory.search import possible_d90s
from idtheory.store import is_finite_number

# =============================================================================== Figures 4-5


def _train_size(
    task: str, max_examples: int | None, seed: int, data_dir: str | None, cache: dict
) -> int:
    """m: the training examples a run saw (its seeded subsample of ``data_dir``'s task)."""
    key = (task, max_examples, seed, data_dir)
    if key not in cache:
        from idtheory.tasks import load_task

        train = load_task(task, "train", max_examples=max_examples, seed=seed, data_dir=data_dir)
        cache[key] = len(train.labels)
    return cache[key]


def _searched_lrs(settings: Mapping[str, Any]) -> set[float]:
    """Every subspace learning rate a d90 search could train some d at (its ``subspace_lrs``
    and each ``subspace_lrs_from`` entry): the candidates a bound pays ``log2`` of for the
    rate at d90."""
    lr_sets = [settings["subspace_lrs"], *(settings.get("subspace_lrs_from") or {}).values()]
    return {float(lr) for lrs in lr_sets for lr in lrs}


def _mean_metric(records: Sequence[Mapping[str, Any] | None], split: str, metric: str) -> float:
    vals = [((r.get("metrics") or {}).get(split) or {}).get(metric) for r in records if r]
    vals = [float(v) for v in vals if is_finite_number(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def generalization_rows(
    ctx: FigureContext,
    trend: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One row per trend cell with a d90 (Figures 4–5): accuracies of the checkpoint's full
    fine-tuning (best lr, mean over seeds) and of its subspace training at d = d90, both on dev
    and on the training subsample, and their relative generalization gaps.

    Columns: checkpoint, step, task, method, d90, status, majority, full_dev, full_train,
    full_gap, d90_dev, d90_train, d90_gap, m (training examples), n_candidate_d (every d the
    search could have returned, :func:`idtheory.search.possible_d90s`), n_candidate_lr
    (subspace learning rates the search could use), d90_run_ids.
    """
    from idtheory.plots import relative_gap

    metric = ctx.params["metric"]
    sizes: dict = {}
    out: list[dict[str, Any]] = []
    for row in trend:
        if not is_finite_number(row.get("d90")) or not row.get("summary_id"):
            continue
        found = ctx.store.summaries(summary_id=row["summary_id"])
        if not found:
            ctx.note_missing(f"Figures 4-5: summary {row['summary_id']} of {row['checkpoint']}")
            continue
        s = found[-1]
        base = next((c for c in s["baseline"] if c["lr"] == s["baseline_lr"]), None)
        point = next((q for q in s["points"] if q["d"] == s["d90"]), None)
        if base is None or point is None:
            continue
        cell = next(c for c in point["cells"] if c["lr"] == point["best_lr"])
        full_recs = [ctx.store.get(i) for i in base["run_ids"]]
        d90_recs = [ctx.store.get(i) for i in cell["run_ids"]]
        spec = RunSpec.from_dict(d90_recs[0]["spec"]) if d90_recs and d90_recs[0] else None
        m = (
            _train_size(
                spec.task, spec.train.max_train_examples, spec.train.seed, ctx.data_dir, sizes
            )
            if spec is not None
            else None
        )
        g = {
            "checkpoint": row.get("checkpoint", row.get("model")),
            "step": row.get("step"),
            "task": row["task"],
            "method": row.get("method"),
            "d90": row["d90"],
            "status": row.get("status"),
            "majority": row.get("majority"),
            "full_dev": _mean_metric(full_recs, "dev", metric),
            "full_train": _mean_metric(full_recs, "train", metric),
            "d90_dev": _mean_metric(d90_recs, "dev", metric),
            "d90_train": _mean_metric(d90_recs, "train", metric),
            "m": m,
            "n_candidate_d": len(possible_d90s(s["settings"])),
            "n_candidate_lr": len(_searched_lrs(s["settings"])),
            "d90_run_ids": list(cell["run_ids"]),
        }
        g["full_gap"] = relative_gap(g["full_train"], g["full_dev"])
        g["d90_gap"] = relative_gap(g["d90_train"], g["d90_dev"])
        out.append(g)
    return out


#: Bounds of :func:`idtheory.bounds.bound_report` shown in the bound figures (name → label).
BOUNDS_SHOWN: dict[str, str] = {
    "Occam, kl": "Occam kl",
    "Catoni, λ-grid union": "Catoni (Lotfi et al.)",
    "Aghajanyan Thm 1, ê + sqrt(d/m)": "Aghajanyan Thm 1 ê + √(d/m)",
}


def _quantized_bound(
    ctx: FigureContext,
    run_id: str,
    levels: int,
    n_candidate_d: int,
    extra_bits: float,
) -> dict[str, Any] | None:
    from idtheory.compress import bound_for_run

    store = ctx.store
    delta = float(ctx.params["bound_delta"])
    if hasattr(store, "bounds"):
        for b in reversed(store.bounds(run_id=run_id)):
            st = b.get("settings") or {}
            if (
                st.get("levels") == levels
                and st.get("codebook") == "float16"  # earlier records measured float64 centroids
                and st.get("n_candidate_d") == n_candidate_d
                and math.isclose(float(st.get("extra_bits", -1)), extra_bits)
                and math.isclose(float(st.get("delta", -1)), delta)
            ):
                return b
    if not ctx.compute:
        ctx.note_missing(f"quantized ({levels} levels) bound of run {run_id}")
        return None
    try:
        return bound_for_run(
            run_id,
            store=store,
            levels=levels,
            delta=delta,
            n_candidate_d=n_candidate_d,
            extra_bits=extra_bits,
            data_dir=ctx.data_dir,
            save=hasattr(store, "put_bound"),
        )
    except (FileNotFoundError, ValueError) as exc:
        ctx.note_missing(f"quantized bound of run {run_id}: {exc}")
        return None


def bound_rows(ctx: FigureContext, gen: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Certified bounds for every run at d = d90 (each seed of the best lr), one row per run
    × bound (the table behind the bound figures).

    Two codes: the float32 θ_d as trained (``d·32`` bits, its own training error; no
    re-evaluation) and, when ``bound_levels`` is set, θ_d quantized to that many levels and
    arithmetic-coded (:func:`idtheory.compress.bound_for_run`, which measures the quantized
    model). Every bound is charged ``log2(n_candidate_d)`` bits for picking d90 among the d
    its search could have returned (fixed by its settings, not the d its scores led it to) and
    ``log2(n_candidate_lr)`` for the learning rate (every rate the search could
    train any d at, read from its summary).
    Aghajanyan et al.'s ``ê + √(d/m)`` is shown for reference, flagged as not certified.
    """
    from idtheory.bounds import bound_report

    levels = ctx.params.get("bound_levels")
    delta = float(ctx.params["bound_delta"])
    out: list[dict[str, Any]] = []
    for g in gen:
        extra = math.log2(g["n_candidate_lr"])
        for rid in g["d90_run_ids"]:
            rec = ctx.store.get(rid)
            if rec is None or rec.get("status") != "ok" or not g.get("m"):
                continue
            acc_train = ((rec.get("metrics") or {}).get("train") or {}).get("accuracy")
            acc_dev = ((rec.get("metrics") or {}).get("dev") or {}).get("accuracy")
            if not (is_finite_number(acc_train) and is_finite_number(acc_dev)):
                continue
            common = {
                "run_id": rid,
                "checkpoint": g["checkpoint"],
                "step": g["step"],
                "task": g["task"],
                "method": g["method"],
                "d": int(g["d90"]),
                "m": g["m"],
            }
            report = bound_report(
                int(g["d90"]),
                int(g["m"]),
                1.0 - acc_train,
                delta=delta,
                n_candidate_d=int(g["n_candidate_d"]),
                extra_bits=extra,
            )
            for b in report:
                if b["name"] not in BOUNDS_SHOWN or b["code"] not in ("fp32", "-"):
                    continue
                code = "float32" if b["code"] == "fp32" else ""
                out.append(
                    {
                        **common,
                        "code": code or "-",
                        "bound_name": b["name"],
                        "label": BOUNDS_SHOWN[b["name"]] + (f", {code} θ_d" if code else ""),
                        "bound": b["bound"],
                        "certified": b["certified"],
                        "complexity_bits": b["complexity_bits"],
                        "train_error": 1.0 - acc_train,
                        "dev_error": 1.0 - acc_dev,
                    }
                )
            if not levels:
                continue
            q = _quantized_bound(ctx, rid, int(levels), int(g["n_candidate_d"]), extra)
            if q is None:
                continue
            for b in q["rows"]:
                if b["name"] in BOUNDS_SHOWN and b["certified"] and "arith" in str(b["code"]):
                    out.append(
                        {
                            **common,
                            "code": b["code"],
                            "bound_name": b["name"],
                            "label": f"{BOUNDS_SHOWN[b['name']]}, {levels}-level coded θ_d",
                            "bound": b["bound"],
                            "certified": b["certified"],
                            "complexity_bits": b["complexity_bits"],
                            "train_error": 1.0 - q["train_accuracy_quantized"],
                            "dev_error": 1.0 - q["dev_accuracy_quantized"],
                        }
                    )
    return out


# =============================================================================== certificate

#: Parts of a certificate's message length (``record["bits"]``, :class:`idtheory.certify.
#: MessageBits`), in the order of the table: θ_d symbols, symbol counts, codebook, prefix, λ,
#: selection, total. Each is a column ``bits_<part>``.
CERTIFICATE_BITS: tuple[str, ...] = (
    *("theta_symbols", "counts", "codebook", "prefix", "lambdas", "selection", "total"),
)


def certificate_columns() -> tuple[str, ...]:
    """Columns of :func:`certificates` and :func:`certificate_frame`: the candidate, its bits
    part by part (``bits_*``, :data:`CERTIFICATE_BITS`), k errors of m training examples, every
    bound row of :data:`idtheory.certify.ROWS` (fractions), the headline row's name and value
    (``certificate``), the coded model's dev error with its test-set bound on ``dev_m``
    examples, the full fine-tuning dev error (None until stored) and the training run."""
    from idtheory.certify import ROWS  # numpy and scipy: only when certificates are shown

    return (
        *("protocol", "candidate", "method", "dim", "lr", "levels", "route"),
        *(f"bits_{part}" for part in CERTIFICATE_BITS),
        *("k", "m", "train_error", *ROWS, "headline", "certificate"),
        *("dev_error", "dev_m", "dev_test_set_bound", "full_dev_error", "run_id"),
    )


def certificate_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One stored certificate record (:func:`idtheory.certify.certify`) as a flat row of
    :func:`certificate_columns`; values are copied from the record, nothing is recomputed."""
    cand, bits = record["candidate"], record["bits"]
    return {
        "protocol": record["settings"]["protocol"],
        "candidate": record["settings"]["candidate"],
        "method": cand["method"],
        "dim": cand["dim"],
        "lr": cand["lr"],
        "levels": cand["levels"],
        "route": cand["quant_training"],
        **{f"bits_{part}": bits[part] for part in CERTIFICATE_BITS},
        "k": record["train_errors"],
        "m": record["m"],
        "train_error": record["train_error"],
        **{name: row["value"] for name, row in record["rows"].items()},
        "headline": record["headline"],
        "certificate": record["certificate"],
        "dev_error": record["dev_error"],
        "dev_m": record["dev_m"],
        "dev_test_set_bound": record["dev_test_set_bound"],
        "full_dev_error": record.get("full_dev_error"),
        "run_id": record["run_id"],
    }


def certificates(ctx: FigureContext, protocol: Any = None) -> list[dict[str, Any]]:
    """Every certificate of the results store (of ``protocol`` only, an
    :class:`idtheory.certify.Protocol`, when given), best first, as rows of
    :func:`certificate_columns` (:func:`idtheory.certify.stored_certificates`: the full
    fine-tuning dev error is the store's current one). None stored: [] and a note in
    :attr:`FigureContext.missing` naming the command that computes them."""
    from idtheory.certify import no_certificate_message, stored_certificates

    rows = [certificate_row(r) for r in stored_certificates(ctx.store, protocol)]
    if not rows:
        ctx.note_missing(no_certificate_message())
    return rows


def certificate_frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    """:func:`certificates` as a pandas frame with the columns :func:`certificate_columns`
    (empty, with those columns, when no certificate is stored)."""
    import pandas as pd

    return pd.DataFrame([dict(r) for r in rows], columns=list(certificate_columns()))
