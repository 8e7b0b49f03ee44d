"""CPU Fastfood benchmark: every pass of P(θ) and Pᵀ(g) as a multiple of ``clone``.

``python -m idtheory.bench fastfood`` prints three tables, each measured in one process with
the compared items interleaved (medians of ``--repeats``):

1. **FWHT / clone** for n = 2^``--fwht-min`` … 2^``--fwht-max`` (fp32, the numba kernel of
   :func:`idtheory.hadamard.fwht`).
2. **Passes at L** (``--log2``, default 27; d = ``--dim``, D = L): the whole ``P(θ)`` and
   ``P.T(g)`` of :class:`~idtheory.projections.FastfoodProjection` and each pass over L-sized
   memory they make, as time ÷ ``clone`` of L floats (the issue's unit: it allocates, so it
   includes the page faults of L fresh floats) and ÷ a copy into a held buffer (bandwidth),
   next to the pass's *traffic floor*: the bytes it must move at least, in copies (which read
   and write 4·L bytes each). ``/floor`` = 1 means the pass runs at copy bandwidth; the rest is
   what a faster kernel could win. Each product is timed fused (``cpu_fused``, the default)
   and ``plain`` (the separate passes of the stored runs); the fused ones also with a fresh
   L-sized output per product (``fresh outputs``) instead of the projection's reused buffers
   (:mod:`idtheory.kernels.memory`). The wrapper's own passes (the SAID
   merge θ₀ + λ·Pθ_d, and the concatenation that flattens the gradient) are timed too.
3. **Training step** (``--models``; batch 32 × length 64, AdamW): full fine-tuning vs SAID
   (d = ``--dim``), the ratio SAID ÷ full per model, via :func:`idtheory.bench.bench_step`.

The CPU's precision: fp32 unless ``--bf16`` (bf16 autocast for the step, only meaningful on a
CPU with native bf16, see :func:`idtheory.precision.cpu_supports_bf16`; ``--force`` measures
anyway). Timings are printed, never asserted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["bench_fastfood_passes", "bench_fwht_ratios"]

#: Traffic floor of each pass, in clones of L floats (a clone reads 4L and writes 4L bytes).
#: gather: read π (int32) and G, write x; FWHT: two passes over memory, each read + write;
#: scale: read + write; pad: write L zeros, then copy D = L floats in; scatter: read x, π, G.
TRAFFIC_FLOOR: dict[str, float] = {
    "P: gather+FWHT+scale fused": 2.5,
    "P.T: pad+FWHT fused": 2.0,
    "P: gather G·Π·table": 1.5,
    "P: FWHT": 2.0,
    "P: scale c·x[:D]": 1.0,
    "P.T: pad g to L": 1.5,
    "P.T: FWHT": 2.0,
    "P.T: scatter Πᵀ·G": 1.5,
    "merge θ₀ + λ·Pθ": 1.5,
    "flatten gradient (cat)": 1.0,
}
#: Floor of a whole product: the passes above that it runs.
PRODUCT_FLOOR = {
    "P(θ)": 2.5,
    "P.T(g)": 3.5,
}
#: The same products with ``cpu_fused = False`` (the passes the stored runs made).
PLAIN_FLOOR = {"P(θ) plain": 4.5, "P.T(g) plain": 5.0}


def _interleaved(items: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each callable, the items alternated ``repeats`` times after a warm-up."""
    for fn in items.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in items}
    for _ in range(repeats):
        for name, fn in items.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_fwht_ratios(log2_sizes: range, repeats: int = 5) -> list[dict[str, float]]:
    """fwht / clone for fp32 vectors of length 2^k (medians, interleaved per size), and the
    plain passes of the stored runs (``IDTHEORY_FWHT_BACKEND=plain``)."""
    from idtheory.hadamard import fwht
    from idtheory.kernels.fwht_cpu import fwht_plain

    rows = []
    for k in log2_sizes:
        x = torch.randn(1 << k)
        items = {
            "fwht": lambda x=x: fwht(x),
            "plain": lambda x=x: fwht_plain(x.numpy()[None]),
            "clone": x.clone,
        }
        t = _interleaved(items, repeats)
        rows.append({"log2_n": k, **t, "ratio": t["fwht"] / t["clone"]})
    return rows


def _pass_items(log2_L: int, dim: int) -> dict[str, Callable[[], object]]:
    """The callables timed by :func:`bench_fastfood_passes` (the projection's own steps)."""
    from idtheory.hadamard import fwht
    from idtheory.kernels.fastfood_cpu import (
        fwht_pad_scale,
        gather_fwht_scale,
        gather_table_scale,
        scatter_add_table_scale,
    )
    from idtheory.projections import FastfoodProjection

    L = 1 << log2_L
    P = FastfoodProjection(dim, L, seed=0)
    plain = FastfoodProjection(dim, L, seed=0)
    plain.B, plain.perm, plain.G = P.B, P.perm, P.G  # the same state, held once
    plain.cpu_fused = False
    held = torch.empty(L)
    theta = torch.randn(dim)
    g = torch.randn(L)
    x = torch.randn(L)
    table = fwht(torch.randn(P.b))
    theta0, lam = torch.randn(L), torch.tensor(0.5)
    pieces = list(g.split(L // 64))

    def pad() -> torch.Tensor:
        out = g.new_zeros(L)
        out[: P.D] = g
        return out

    fresh = FastfoodProjection(dim, L, seed=0)
    fresh.B, fresh.perm, fresh.G = P.B, P.perm, P.G
    fresh.reuse_buffers = False

    return {
        "clone": x.clone,
        "copy into held buffer": lambda: held.copy_(x),
        "P(θ)": lambda: P._forward(theta),
        "P(θ) fresh outputs": lambda: fresh._forward(theta),
        "P(θ) plain": lambda: plain._forward(theta),
        "P: gather+FWHT+scale fused": lambda: gather_fwht_scale(table, P.perm, P.G, P.scale),
        "P: gather G·Π·table": lambda: gather_table_scale(table, P.perm, P.G),
        "P: FWHT": lambda: fwht(x),
        "P: scale c·x[:D]": lambda: x[: P.D].mul_(1.0),
        "P.T(g)": lambda: P._transpose(g),
        "P.T(g) fresh outputs": lambda: fresh._transpose(g),
        "P.T(g) plain": lambda: plain._transpose(g),
        "P.T: pad+FWHT fused": lambda: fwht_pad_scale(g, L),
        "P.T: pad g to L": pad,
        "P.T: FWHT": lambda: fwht(g),
        "P.T: scatter Πᵀ·G": lambda: scatter_add_table_scale(x, P.perm, P.G, P.b),
        "merge θ₀ + λ·Pθ": lambda: torch.addcmul(theta0, x, lam),
        "flatten gradient (cat)": lambda: torch.cat(pieces),
    }


def bench_fastfood_passes(log2_L: int = 27, dim: int = 1000, repeats: int = 5) -> list[dict]:
    """Median seconds of P(θ), P.T(g) and each of their passes at L = 2^log2_L (D = L), with
    each one's ratio to ``clone`` of L floats and its traffic floor (in clones)."""
    t = _interleaved(_pass_items(log2_L, dim), repeats)
    t["P(θ) + P.T(g)"] = t["P(θ)"] + t["P.T(g)"]
    t["P(θ) + P.T(g) plain"] = t["P(θ) plain"] + t["P.T(g) plain"]
    t["P(θ) + P.T(g) fresh outputs"] = t["P(θ) fresh outputs"] + t["P.T(g) fresh outputs"]
    floors = {
        "clone": 1.0,
        "copy into held buffer": 1.0,
        **TRAFFIC_FLOOR,
        **PRODUCT_FLOOR,
        **PLAIN_FLOOR,
        "P(θ) + P.T(g)": sum(PRODUCT_FLOOR.values()),
        "P(θ) + P.T(g) plain": sum(PLAIN_FLOOR.values()),
        # allocating the output per product (reuse_buffers = False) moves the same bytes
        **{f"{k} fresh outputs": v for k, v in PRODUCT_FLOOR.items()},
        "P(θ) + P.T(g) fresh outputs": sum(PRODUCT_FLOOR.values()),
    }
    clone, copy = t["clone"], t["copy into held buffer"]
    return [
        {"item": name, "s": s, "ratio": s / clone, "copies": s / copy, "floor": floors[name]}
        for name, s in t.items()
    ]


def print_fastfood(
    fwht_rows: list[dict[str, float]], pass_rows: list[dict], log2_L: int, dim: int
) -> None:
    """The two kernel tables of ``python -m idtheory.bench fastfood``."""
    print(f"FWHT vs clone, fp32, CPU (torch threads {torch.get_num_threads()}), median seconds")
    print(f"{'n':>6} {'fwht':>9} {'plain':>9} {'clone':>9} {'fwht/clone':>11} {'plain/clone':>12}")
    for r in fwht_rows:
        print(
            f"2^{r['log2_n']:<4} {r['fwht']:9.4f} {r['plain']:9.4f} {r['clone']:9.4f} "
            f"{r['ratio']:11.2f} {r['plain'] / r['clone']:12.2f}"
        )
    print(f"\nFastfood pass by pass, L = D = 2^{log2_L}, d = {dim}, fp32, median seconds")
    print(f"{'item':<28} {'seconds':>8} {'/clone':>7} {'/copy':>7} {'floor':>6} {'/floor':>7}")
    for r in pass_rows:
        print(
            f"{r['item']:<28} {r['s']:8.4f} {r['ratio']:7.2f} {r['copies']:7.2f} "
            f"{r['floor']:6.1f} {r['copies'] / r['floor']:7.2f}"
        )
    print(
        "/clone: ÷ x.clone() (allocates, so it pays the page faults of L fresh floats); "
        "/copy: ÷ a copy into a held buffer (bandwidth); floor: bytes the pass must move, in "
        "copies; /floor = /copy ÷ floor (1 = at copy bandwidth)"
    )
