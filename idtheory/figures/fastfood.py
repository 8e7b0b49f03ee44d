"""Data of notebook 05 (the Fastfood tour): projection images, column norms, transform timings
and what SAID and DID train."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from idtheory.config import SubspaceConfig

# =============================================================================== Fastfood tour


def _device(name: str) -> Any:
    import torch

    if name in ("auto", "cuda") or name.startswith("cuda"):
        return torch.device(
            name
            if name != "auto" and torch.cuda.is_available()
            else ("cuda" if torch.cuda.is_available() else "cpu")
        )
    return torch.device(name)


def projection_image(d: int, D: int, seed: int = 0) -> Any:
    """The D × d matrix of a :class:`~idtheory.projections.FastfoodProjection` (numpy)."""
    from idtheory.projections import FastfoodProjection

    return FastfoodProjection(d, D, seed).materialize().numpy()


def projection_column_norms(
    d: int,
    D: int,
    kinds: Sequence[str] = ("fastfood", "dense", "sparse"),
    seed: int = 0,
) -> dict[str, Any]:
    """Column norms ‖P e_j‖ of materialized projections of each kind (skipping a kind whose
    matrix would not fit)."""
    from idtheory.projections import make_projection

    out = {}
    for kind in kinds:
        if D * d > 2**26:
            continue
        try:
            P = make_projection(kind, d, D, seed)
        except ValueError:
            continue
        out[kind] = P.materialize().norm(dim=0).numpy()
    return out


def transform_cost_rows(
    Ds: Sequence[int],
    d: int,
    repeats: int = 3,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Median seconds of one FWHT of length L = 2^⌈log2 D⌉, one Fastfood product P·θ and its
    transpose Pᵀ·g, and (while D·d ≤ 2^24) a dense product, for each D: the median of
    ``max(1, repeats)`` calls after one warm-up call (:func:`idtheory.bench.median_time`)."""
    import torch

    from idtheory.bench import median_time
    from idtheory.hadamard import fwht, next_power_of_two
    from idtheory.projections import DenseProjection, FastfoodProjection

    dev = _device(device)
    sync = partial(torch.cuda.synchronize, dev) if dev.type == "cuda" else None
    rows: list[dict[str, Any]] = []
    with torch.no_grad():
        for D in Ds:
            L = next_power_of_two(int(D))
            dd = min(int(d), int(D))
            x = torch.randn(L, device=dev)
            ops = {f"FWHT (length L = 2^⌈log2 D⌉), {dev.type}": lambda x=x: fwht(x)}
            P = FastfoodProjection(dd, int(D), seed=0, device=dev)
            th, g = torch.randn(dd, device=dev), torch.randn(int(D), device=dev)
            ops[f"Fastfood P·θ (d = {dd}), {dev.type}"] = lambda P=P, th=th: P(th)
            ops[f"Fastfood Pᵀ·g (d = {dd}), {dev.type}"] = lambda P=P, g=g: P.T(g)
            if D * dd <= 2**24:
                Q = DenseProjection(dd, int(D), seed=0, device=dev)
                ops[f"dense P·θ (d = {dd}), {dev.type}"] = lambda Q=Q, th=th: Q(th)
            for op, fn in ops.items():
                rows.append(
                    {
                        "D": int(D),
                        "L": L,
                        "d": dd,
                        "op": op,
                        "device": dev.type,
                        "seconds": median_time(fn, max(1, repeats), sync, warmup=1),
                    }
                )
    return rows


def trainable_rows(
    models: Sequence[str],
    dim: int,
    subspace: Mapping[str, Any] | None = None,
    num_labels: int = 2,
) -> list[dict[str, Any]]:
    """What SAID and DID train for each model at d = ``dim``: θ_d entries, λ scales, directly
    trained head parameters, the projected size D and the number of λ groups."""
    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model

    kw = {k: v for k, v in (subspace or {}).items() if k not in ("dim", "method")}
    rows = []
    for name in models:
        for method in ("said", "did"):
            lm = load_model(name, num_labels=num_labels)
            try:
                sm = get_subspace_model(lm.model, SubspaceConfig(dim=dim, method=method, **kw))
            except ValueError as exc:
                print(f"{name} {method}: {exc}")
                continue
            s = sm.trainable_summary()
            rows.append(
                {
                    "model": name,
                    "method": method,
                    "dim": dim,
                    "theta_d": s["theta_d"],
                    "lambdas": s["lambdas"],
                    "head": s["head"],
                    "trainable": s["trainable"],
                    "projected": s["projected"],
                    "num_params": lm.num_params,
                    "groups": ", ".join(sm.group_names) if method == "said" else "",
                }
            )
    return rows
