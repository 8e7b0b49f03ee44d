"""GPU benchmark: Fastfood kernels and subspace training steps, side by side in one run.

``python -m idtheory.bench.gpu [--out DIR] [--budget-s S] [--quick]`` measures

1. **kernels** — for L = 2^20 … 2^29 (sizes that do not fit in device memory are skipped):
   a device-to-device copy (the bandwidth ceiling, measured in the same run), the Triton FWHT,
   the naive per-stage PyTorch FWHT (:func:`idtheory.hadamard.fwht_reference`), and one
   Fastfood forward + transpose (d = ``--dim``, D = L) in four implementations: ``fused``
   (:class:`~idtheory.projections.FastfoodProjection` on its fused Triton kernels), ``hashed``
   (:class:`~idtheory.projections.HashedFastfoodProjection`), ``current`` (the same
   ``FastfoodProjection`` with ``backend='torch'``: torch gather/index_add + Triton FWHT) and
   ``naive`` (the same with the naive FWHT). Each is reported as time,
   *effective* bandwidth (bytes that must move ÷ time: inputs, outputs and stored state read
   once) and, for the Triton kernels, the bandwidth of the traffic the passes really generate;
   both as a fraction of the copy. A check compares fused/hashed results with the references.
   A few transposes at one size compare fold strategies (accumulator copies, per-program
   pre-sums), and a few launch configurations are tried at L = 2^27.
2. **step** — one training step (forward + backward + AdamW, batch 32 × length 128, bf16
   autocast, random tokens) of RoBERTa-Base and RoBERTa-Large configurations with random
   weights (``transformers.RobertaConfig`` built in code, nothing downloaded): full
   fine-tuning against SAID and DID (d = ``--dim``) with the Fastfood torch path
   (``current``), with the fused kernels, with the hashed projection, and (SAID) with the naive
   FWHT — median step
   time and peak memory (``torch.cuda.max_memory_allocated``, reset per variant), as ratios to
   full fine-tuning.

Each section runs in a child process with its share of ``--budget-s`` (a crash or hang —
even a CUDA error that poisons the context — loses only that section); each measured item is
recorded as soon as it finishes, and a failing item records its error and the run goes on.
The reports ``<date>-<gpu>.json`` and ``.md`` go to ``--out`` (default ``benchmarks/``) and the
Markdown is printed. ``--quick`` runs tiny sizes and a tiny RoBERTa on whatever device is
there (CPU included: Triton-only items then fall back or are skipped) for tests.

Every projection is built by the library (:func:`idtheory.subspace.get_subspace_model`, or the
class itself for the kernel items), so it is the P of the seed; only its ``backend`` and
launch ``knobs`` are set per variant. The CPU draw of π takes seconds at L = 2^29 (outside the
timed region, inside the budget).

``--fwht-backend reference`` (or ``IDTHEORY_FWHT_BACKEND=reference``) makes *every* FWHT of the
run the naive one, on CUDA too (it patches :func:`idtheory.hadamard._fwht_forward`).

Goals recorded in the report (not asserted): Fastfood forward + transpose at ≥ 70 % of copy
bandwidth at L = 2^27; SAID step time ≤ 1.05 × and SAID peak memory ≤ 1 × full fine-tuning
(AdamW) for RoBERTa-Large.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import torch

from idtheory.bench import call_times, median_time

__all__ = ["fwht_backend", "main", "make_report", "roberta_config"]

#: Share of the budget given to each section (renormalised over the sections that run).
SECTION_SHARES = {"kernels": 0.45, "step:base": 0.2, "step:large": 0.35, "step:tiny": 0.3}
#: Seconds a child keeps in reserve before its deadline to write its last record.
CHILD_MARGIN_S = 8.0
GOAL_LOG2 = 27
GOAL_COPY_FRACTION = 0.70
GOAL_STEP_RATIO = 1.05
GOAL_MEMORY_RATIO = 1.0

_ROBERTA_PRESETS: dict[str, dict[str, int]] = {
    "base": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
    "large": {
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
    },
    "tiny": {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "vocab_size": 1000,
    },
}


# ============================================================================ helpers


def roberta_config(name: str) -> Any:
    """A ``transformers.RobertaConfig`` for ``base``, ``large`` or ``tiny`` (2 labels)."""
    from transformers import RobertaConfig

    kwargs: dict[str, Any] = {
        "vocab_size": 50265,
        "max_position_embeddings": 514,
        "type_vocab_size": 1,
        "layer_norm_eps": 1e-5,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "num_labels": 2,
    }
    kwargs.update(_ROBERTA_PRESETS[name])
    return RobertaConfig(**kwargs)


@contextlib.contextmanager
def fwht_backend(name: str) -> Iterator[None]:
    """Within the block, ``name == "reference"`` routes every FWHT (CPU and CUDA) through the
    naive :func:`idtheory.hadamard.fwht_reference`; ``"auto"`` changes nothing."""
    if name == "auto":
        yield
        return
    if name != "reference":
        raise ValueError(f"unknown FWHT backend {name!r}; use 'auto' or 'reference'")
    import idtheory.hadamard as H

    original = H._fwht_forward

    def _reference(x: torch.Tensor) -> torch.Tensor:
        return x.clone() if x.shape[-1] == 1 else H.fwht_reference(x.detach())

    H._fwht_forward = _reference
    try:
        yield
    finally:
        H._fwht_forward = original


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time_s(fn: Callable[[], object], device: str, repeats: int) -> float:
    """Median seconds of ``fn`` after one warm-up call: on CUDA with Triton,
    ``triton.testing.do_bench`` (L2 flushed between calls; ``repeats`` unused), otherwise
    :func:`idtheory.bench.median_time` of ``repeats`` calls synchronized with the device."""
    fn()
    _sync(device)
    if device.startswith("cuda"):
        with contextlib.suppress(ImportError):
            from triton.testing import do_bench

            return do_bench(fn, warmup=5, rep=40, return_mode="median") / 1e3
    return median_time(fn, repeats, partial(_sync, device))


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _free_bytes(device: str) -> int | None:
    if device.startswith("cuda"):
        return int(torch.cuda.mem_get_info()[0])
    return None


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().cpu(), b.double().cpu()
    return float((a - b).norm() / max(float(b.norm()), 1e-300))


@contextlib.contextmanager
def _backend(projections: Any, backend: str) -> Iterator[None]:
    """Within the block, every Fastfood projection in ``projections`` runs on ``backend``."""
    saved = [p.backend for p in projections]
    for p in projections:
        p.backend = backend
    try:
        yield
    finally:
        for p, b in zip(projections, saved):
            p.backend = b


# ============================================================================ child: recording


class _Recorder:
    """Appends one JSON line per item to a file (so items survive a killed child)."""

    def __init__(self, path: str | None, deadline: float) -> None:
        self.path, self.deadline = path, deadline
        self.items: list[dict[str, Any]] = []

    def left_s(self) -> float:
        return self.deadline - time.time()

    def add(self, item: dict[str, Any]) -> dict[str, Any]:
        self.items.append(item)
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(item, default=str) + "\n")
        return item

    def run(self, base: dict[str, Any], fn: Callable[[], dict[str, Any]], need_s: float = 1.0):
        """Run ``fn`` unless the budget is spent; record its result or its error."""
        item = dict(base)
        if self.left_s() < need_s:
            item.update(status="skipped", reason="budget")
            return self.add(item)
        t0 = time.time()
        try:
            item.update(fn())
            item.setdefault("status", "ok")
        except Exception as exc:  # record and go on
            item.update(
                status="error",
                error=f"{type(exc).__name__}: {exc}"[:2000],
                traceback=traceback.format_exc(limit=6)[-3000:],
            )
            if isinstance(exc, torch.cuda.OutOfMemoryError):
                item["status"] = "skipped"
                item["reason"] = "out of memory"
        item["wall_s"] = round(time.time() - t0, 3)
        return self.add(item)


def _meta(device: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "kind": "meta",
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "host": platform.node(),
    }
    for mod in ("triton", "transformers", "numba"):
        with contextlib.suppress(Exception):
            meta[mod] = __import__(mod).__version__
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        meta.update(
            gpu=props.name,
            capability=f"{props.major}.{props.minor}",
            sms=props.multi_processor_count,
            memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
        )
    else:
        meta.update(gpu="cpu", cpu_threads=torch.get_num_threads())
    with contextlib.suppress(Exception):
        from idtheory.kernels.triton_fwht import _interpreting

        meta["triton_interpret"] = _interpreting()
    return meta


# ============================================================================ kernels section


def _size_order(lo: int, hi: int) -> list[int]:
    """Sizes in measuring order: the goal size and the ends first (a short budget keeps them)."""
    sizes = list(range(lo, hi + 1))
    first = [k for k in (GOAL_LOG2, lo, hi) if k in sizes]
    return list(dict.fromkeys(first + sizes))


def _kernel_items(rec: _Recorder, args: argparse.Namespace, device: str) -> None:
    for k in _size_order(args.min_log2, args.max_log2):
        L = 1 << k
        free = _free_bytes(device)
        # fwd+T of the materialized projection: state 12L, vectors + work buffers ≈ 16L
        if free is not None and 30 * L > 0.9 * free:
            reason = f"needs ~{30 * L / 2**30:.1f} GiB, {free / 2**30:.1f} free"
        elif rec.left_s() < 5:
            reason = "budget"
        else:
            _kernel_size(rec, args, device, k)
            _free(device)
            continue
        rec.add(
            {
                "section": "kernels",
                "name": "all",
                "log2": k,
                "L": L,
                "status": "skipped",
                "reason": reason,
            }
        )
    _fold_items(rec, args, device)
    _tuning_items(rec, args, device)


def _kernel_size(rec: _Recorder, args: argparse.Namespace, device: str, k: int) -> None:
    """Copy, FWHTs and Fastfood fwd+T at L = 2^k."""
    from idtheory.hadamard import fwht, fwht_reference
    from idtheory.kernels.triton_fastfood import fastfood_bytes, triton_usable
    from idtheory.kernels.triton_fwht import fwht_plan, fwht_triton
    from idtheory.projections import FastfoodProjection, HashedFastfoodProjection

    L, d, reps = 1 << k, args.dim, args.repeats
    base = {"section": "kernels", "log2": k, "L": L}
    x = torch.randn(L, device=device)
    y = torch.empty_like(x)
    rec.run(
        base | {"name": "copy"},
        lambda: {
            "time_s": _time_s(lambda: y.copy_(x), device, reps),
            "bytes_min": 8 * L,
            "bytes_traffic": 8 * L,
        },
    )

    def fwht_fast() -> dict[str, Any]:
        if triton_usable(x):
            passes = len(fwht_plan(L))
            return {
                "time_s": _time_s(lambda: fwht_triton(x), device, reps),
                "bytes_min": 8 * L,
                "bytes_traffic": 8 * L * passes,
                "passes": passes,
                "backend": "triton",
            }
        return {
            "time_s": _time_s(lambda: fwht(x), device, reps),
            "bytes_min": 8 * L,
            "backend": "default",
        }

    rec.run(base | {"name": "fwht"}, fwht_fast)
    rec.run(
        base | {"name": "fwht_naive"},
        lambda: {"time_s": _time_s(lambda: fwht_reference(x), device, reps), "bytes_min": 8 * L},
        need_s=3.0,
    )
    x = y = torch.empty(0)
    _free(device)

    # Fastfood forward + transpose, D = L
    theta = torch.randn(d, device=device)
    g = torch.randn(L, device=device)
    mat = fastfood_bytes(L, L, d, hashed=False)
    hsh = fastfood_bytes(L, L, d, hashed=True)
    holder: dict[str, Any] = {}
    ref_out: dict[str, torch.Tensor] = {}

    def build() -> dict[str, Any]:
        t0 = time.time()
        holder["P"] = FastfoodProjection(d, L, seed=0, device=device)
        return {"build_s": time.time() - t0}

    if rec.run(base | {"name": "ff_build"}, build)["status"] == "ok":
        P = holder["P"]

        def current_products() -> tuple[torch.Tensor, torch.Tensor]:
            # the plain torch path: FastfoodProjection dispatches to the fused kernels on CUDA
            # unless its backend is 'torch' (before 2026-11-26 this column timed the kernels)
            with _backend([P], "torch"):
                return P._forward(theta), P._transpose(g)

        def ff_current() -> dict[str, Any]:
            ref_out["fwd"], ref_out["T"] = current_products()
            return {
                "time_s": _time_s(current_products, device, reps),
                "bytes_min": mat["min"],
                "d": d,
            }

        def ff_naive() -> dict[str, Any]:
            with fwht_backend("reference"):
                return {
                    "time_s": _time_s(current_products, device, reps),
                    "bytes_min": mat["min"],
                    "d": d,
                }

        def ff_fused() -> dict[str, Any]:
            if not triton_usable(P.G):
                return {"status": "skipped", "reason": "needs CUDA + Triton"}
            out = {
                "time_s": _time_s(lambda: (P._forward(theta), P._transpose(g)), device, reps),
                "bytes_min": mat["min"],
                "bytes_traffic": mat["traffic"],
                "passes": mat["passes"],
                "d": d,
            }
            if "fwd" in ref_out:
                out["err_fwd"] = _rel_err(P._forward(theta), ref_out["fwd"])
                out["err_T"] = _rel_err(P._transpose(g), ref_out["T"])
            return out

        rec.run(base | {"name": "ff_current"}, ff_current)
        rec.run(base | {"name": "ff_fused"}, ff_fused)
        rec.run(base | {"name": "ff_naive"}, ff_naive, need_s=3.0)
        ref_out.clear()
        holder.clear()
        P = None
        _free(device)

    def ff_hashed() -> dict[str, Any]:
        H = HashedFastfoodProjection(d, L, seed=0, device=device)
        fast = H._use_triton(g)
        out = {
            "time_s": _time_s(lambda: (H._forward(theta), H._transpose(g)), device, reps),
            "bytes_min": hsh["min"],
            "d": d,
            "backend": "triton" if fast else "torch",
        }
        if fast:
            out.update(bytes_traffic=hsh["traffic"], passes=hsh["passes"])
            if L <= 1 << 25:  # against the torch reference of the same hashes
                R = HashedFastfoodProjection(d, L, seed=0, device=device, backend="torch")
                out["err_fwd"] = _rel_err(H._forward(theta), R._forward(theta))
                out["err_T"] = _rel_err(H._transpose(g), R._transpose(g))
        return out

    rec.run(base | {"name": "ff_hashed"}, ff_hashed)


def _fold_items(rec: _Recorder, args: argparse.Namespace, device: str) -> None:
    """Transpose only, at one size: accumulator copies and per-program pre-sums."""
    from idtheory.hadamard import next_power_of_two
    from idtheory.kernels.triton_fastfood import default_copies, triton_usable
    from idtheory.projections import FastfoodProjection

    k = min(args.max_log2, args.fold_log2)
    L = 1 << k
    g = torch.randn(L, device=device)
    if not triton_usable(g):
        rec.add(
            {
                "section": "fold",
                "name": "fold",
                "status": "skipped",
                "reason": "needs CUDA + Triton",
            }
        )
        return
    for d in (10, 1000, 20000):
        if d > L:
            continue
        b = next_power_of_two(d)
        P = FastfoodProjection(d, L, seed=0, device=device)
        variants = [(f"default (copies={default_copies(b)})", {})]
        variants += [
            (f"copies={c}", {"copies": c, "local_bins_max": 0})
            for c in (1, 8, 64, 256)
            if c != default_copies(b) and c * b <= 1 << 22
        ]
        if b <= 16:
            variants.append(("local-bins", {"local_bins_max": 16}))
        for name, knobs in variants:

            def fold(P: Any = P, knobs: dict = knobs) -> dict[str, Any]:
                P.knobs = knobs
                return {"time_s": _time_s(lambda: P._transpose(g), device, args.repeats)}

            rec.run({"section": "fold", "name": name, "log2": k, "L": L, "d": d}, fold)
        del P
        _free(device)


def _tuning_items(rec: _Recorder, args: argparse.Namespace, device: str) -> None:
    """Fused fwd+T at L = 2^GOAL_LOG2 with a few launch configurations."""
    from idtheory.kernels.triton_fastfood import fastfood_bytes, triton_usable
    from idtheory.projections import FastfoodProjection

    k = min(args.max_log2, GOAL_LOG2)
    L = 1 << k
    theta = torch.randn(args.dim, device=device)
    g = torch.randn(L, device=device)
    if not triton_usable(g):
        return
    P = FastfoodProjection(args.dim, L, seed=0, device=device)
    for name, knobs in (
        ("num_warps=8", {"num_warps": 8}),
        ("tile=4096", {"tile": 4096}),
        ("tile=16384", {"tile": 16384}),
    ):

        def tune(knobs: dict = knobs) -> dict[str, Any]:
            P.knobs = knobs
            mat = fastfood_bytes(L, L, args.dim, hashed=False)
            t = _time_s(lambda: (P._forward(theta), P._transpose(g)), device, args.repeats)
            return {"time_s": t, "bytes_min": mat["min"], "bytes_traffic": mat["traffic"]}

        rec.run({"section": "tuning", "name": name, "log2": k, "L": L, "d": args.dim}, tune)


# ============================================================================ step section


def _step_items(rec: _Recorder, args: argparse.Namespace, device: str, model_name: str) -> None:
    cfg = roberta_config(model_name)
    gen = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(
            5, cfg.vocab_size, (args.batch_size, args.length), generator=gen
        ).to(device),
        "attention_mask": torch.ones(args.batch_size, args.length, dtype=torch.long, device=device),
        "labels": torch.randint(0, 2, (args.batch_size,), generator=gen).to(device),
    }
    variants: list[tuple[str, str | None, str, str]] = [("full", None, "", "auto")]
    for method in ("said", "did"):
        for kind in ("current", "fused", "hashed"):
            variants.append((f"{method}-{kind}", method, kind, "auto"))
    variants.append(("said-naive-fwht", "said", "current", "reference"))
    for name, method, kind, backend in variants:
        rec.run(
            {
                "section": "step",
                "model": model_name,
                "name": name,
                "dim": args.dim,
                "batch": args.batch_size,
                "length": args.length,
            },
            lambda method=method, kind=kind, backend=backend: _measure_step(
                cfg, batch, args, device, method, kind, backend
            ),
            need_s=4.0,
        )
        _free(device)


def _measure_step(
    cfg: Any,
    batch: dict[str, torch.Tensor],
    args: argparse.Namespace,
    device: str,
    method: str | None,
    kind: str,
    backend: str,
) -> dict[str, Any]:
    """Median time and peak memory of one AdamW step of a freshly built model variant."""
    from transformers import RobertaForSequenceClassification

    from idtheory.config import SubspaceConfig
    from idtheory.subspace import get_subspace_model

    cuda = device.startswith("cuda")
    _free(device)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with torch.device(device):
        torch.manual_seed(0)
        model: torch.nn.Module = RobertaForSequenceClassification(cfg).train()
    num_params = sum(p.numel() for p in model.parameters())
    out: dict[str, Any] = {"num_params": num_params}
    if method is None:
        params = list(model.parameters())
        lr = 1e-5
    else:
        projection = "fastfood_hashed" if kind == "hashed" else "fastfood"
        config = SubspaceConfig(dim=args.dim, method=method, projection=projection)
        model = get_subspace_model(model, config)
        if kind == "current":  # the Fastfood torch path (gather/index_add + FWHT)
            for p in model.projections:
                p.backend = "torch"
        params = [p for p in model.parameters() if p.requires_grad]
        lr = 1e-3
        proj = model.projections[0]
        out.update(
            projection=type(proj).__name__,
            L=int(getattr(proj, "L", 0)),
            projection_bytes=int(proj.nbytes),
        )
    opt = torch.optim.AdamW(params, lr=lr)
    dev_type = "cuda" if cuda else "cpu"

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev_type, dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        opt.step()

    with fwht_backend(backend):
        for _ in range(1 if args.quick else 2):
            step()
        _sync(device)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        times = call_times(step, args.repeats, partial(_sync, device))
    out.update(
        time_s=statistics.median(times), times_s=times, trainable=sum(p.numel() for p in params)
    )
    if cuda:
        out["peak_bytes"] = int(torch.cuda.max_memory_allocated())
    return out


# ============================================================================ child entry


def _child(args: argparse.Namespace) -> int:
    device = args.device
    rec = _Recorder(args.child_out, args.deadline - CHILD_MARGIN_S)
    rec.add(_meta(device))
    with fwht_backend(args.fwht_backend):
        if args.child == "kernels":
            _kernel_items(rec, args, device)
        elif args.child.startswith("step:"):
            _step_items(rec, args, device, args.child.split(":", 1)[1])
        else:
            raise SystemExit(f"unknown section {args.child!r}")
    return 0


# ============================================================================ report


def _fmt(v: Any, spec: str = ".3g") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def _ms(item: dict[str, Any] | None) -> str:
    if not item:
        return "–"
    if item.get("status") != "ok":
        return item.get("status", "?") + (f" ({item.get('reason')})" if item.get("reason") else "")
    return f"{item['time_s'] * 1e3:.3f}"


def _derive(items: list[dict[str, Any]]) -> None:
    """Add bandwidths and fractions of the same-size copy to kernel items."""
    copy = {
        i["log2"]: i
        for i in items
        if i.get("section") == "kernels" and i.get("name") == "copy" and i.get("status") == "ok"
    }
    best_copy = max((8 * c["L"] / c["time_s"] for c in copy.values()), default=None)
    for it in items:
        if it.get("status") != "ok" or "time_s" not in it or "bytes_min" not in it:
            continue
        it["gbps_eff"] = it["bytes_min"] / it["time_s"] / 1e9
        c = copy.get(it.get("log2"))
        ref_bw = 8 * c["L"] / c["time_s"] if c else best_copy
        if ref_bw:
            it["copy_frac_eff"] = it["bytes_min"] / it["time_s"] / ref_bw
        if "bytes_traffic" in it:
            it["gbps_traffic"] = it["bytes_traffic"] / it["time_s"] / 1e9
            if ref_bw:
                it["copy_frac_traffic"] = it["bytes_traffic"] / it["time_s"] / ref_bw


def _goals(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    goals = []

    def find(**kw: Any) -> dict[str, Any] | None:
        for it in items:
            if all(it.get(k) == v for k, v in kw.items()):
                return it
        return None

    for name in ("ff_fused", "ff_hashed"):
        it = find(section="kernels", name=name, log2=GOAL_LOG2)
        value = it.get("copy_frac_eff") if it and it.get("status") == "ok" else None
        goals.append(
            {
                "goal": f"{name} forward+transpose ≥ {GOAL_COPY_FRACTION:.0%} of copy bandwidth "
                f"at L = 2^{GOAL_LOG2} (effective bytes)",
                "value": value,
                "traffic_fraction": it.get("copy_frac_traffic") if it else None,
                "met": None if value is None else value >= GOAL_COPY_FRACTION,
            }
        )
    full = find(section="step", model="large", name="full", status="ok")
    for kind in ("current", "fused", "hashed"):
        said = find(section="step", model="large", name=f"said-{kind}", status="ok")
        t_ratio = said["time_s"] / full["time_s"] if said and full else None
        m_ratio = (
            said["peak_bytes"] / full["peak_bytes"]
            if said and full and "peak_bytes" in said and "peak_bytes" in full
            else None
        )
        goals.append(
            {
                "goal": f"RoBERTa-Large SAID ({kind}) step time ≤ {GOAL_STEP_RATIO}× full "
                "fine-tuning",
                "value": t_ratio,
                "met": None if t_ratio is None else t_ratio <= GOAL_STEP_RATIO,
            }
        )
        goals.append(
            {
                "goal": f"RoBERTa-Large SAID ({kind}) peak memory ≤ full fine-tuning (AdamW)",
                "value": m_ratio,
                "met": None if m_ratio is None else m_ratio <= GOAL_MEMORY_RATIO,
            }
        )
    return goals


def make_report(
    meta: dict[str, Any], items: list[dict[str, Any]], sections: list[dict[str, Any]]
) -> tuple[dict[str, Any], str]:
    """Build the JSON document and the Markdown text from the recorded items."""
    _derive(items)
    goals = _goals(items)
    doc = {"meta": meta, "sections": sections, "goals": goals, "items": items}
    md: list[str] = []
    gpu = meta.get("gpu", "unknown device")
    md.append(f"# idtheory GPU benchmark — {gpu} — {meta.get('date', '')}")
    md.append("")
    keys = (
        "device",
        "gpu",
        "capability",
        "sms",
        "memory_gib",
        "torch",
        "triton",
        "cuda",
        "transformers",
        "fwht_backend",
        "quick",
        "budget_s",
        "elapsed_s",
        "triton_interpret",
    )
    md.append(" · ".join(f"{k}: {meta[k]}" for k in keys if k in meta))
    md.append("")
    md.append(
        "Sections: "
        + ", ".join(f"{s['name']} ({s['status']}, {s['wall_s']:.0f} s)" for s in sections)
    )
    md.append("")
    md.append("## Goals (recorded, not asserted)")
    md.append("")
    md.append("| goal | value | met |")
    md.append("|---|---|---|")
    for g in goals:
        extra = ""
        if g.get("traffic_fraction") is not None:
            extra = f" (traffic: {g['traffic_fraction']:.2f})"
        met = {True: "yes", False: "no", None: "not measured"}[g["met"]]
        md.append(f"| {g['goal']} | {_fmt(g['value'])}{extra} | {met} |")
    md.append("")

    kern = [i for i in items if i.get("section") == "kernels"]
    if kern:
        md.append("## Kernels: time (ms) and fraction of copy bandwidth")
        md.append("")
        md.append(
            "Effective fraction = bytes that must move ÷ time ÷ copy bandwidth (same L); "
            "traffic fraction counts the bytes the passes really move. Fastfood: d = "
            f"{next((i.get('d') for i in kern if i.get('d')), '?')}, D = L, one forward "
            "+ one transpose."
        )
        md.append("")
        names = ["copy", "fwht", "fwht_naive", "ff_fused", "ff_hashed", "ff_current", "ff_naive"]
        md.append("| L | " + " | ".join(names) + " |")
        md.append("|---" * (len(names) + 1) + "|")
        for k in sorted({i["log2"] for i in kern if "log2" in i}):
            row = [f"2^{k}"]
            for n in names:
                it = next((i for i in kern if i.get("log2") == k and i.get("name") == n), None)
                if it is None:
                    it = next(
                        (i for i in kern if i.get("log2") == k and i.get("name") == "all"), None
                    )
                cell = _ms(it)
                if it and it.get("status") == "ok":
                    if n == "copy":
                        cell += f" ({8 * it['L'] / it['time_s'] / 1e9:.0f} GB/s)"
                    elif "copy_frac_eff" in it:
                        cell += f" · {it['copy_frac_eff']:.2f}"
                        if "copy_frac_traffic" in it:
                            cell += f" / {it['copy_frac_traffic']:.2f}"
                    if "err_fwd" in it:
                        cell += f" · err {max(it['err_fwd'], it['err_T']):.1e}"
                row.append(cell)
            md.append("| " + " | ".join(row) + " |")
        md.append("")
        md.append(
            "Cells: ms · effective fraction / traffic fraction · max relative error "
            "against the reference (fused: FastfoodProjection; hashed: its torch path)."
        )
        md.append("")
    for sec, title in (("fold", "Transpose fold strategies"), ("tuning", "Launch tuning")):
        rows = [i for i in items if i.get("section") == sec]
        if rows:
            md.append(f"## {title}")
            md.append("")
            md.append("| L | d | variant | ms | eff. fraction | traffic fraction |")
            md.append("|---|---|---|---|---|---|")
            for i in rows:
                md.append(
                    f"| 2^{i.get('log2', '?')} | {i.get('d', '')} | {i.get('name')} | "
                    f"{_ms(i)} | {_fmt(i.get('copy_frac_eff'), '.2f')} | "
                    f"{_fmt(i.get('copy_frac_traffic'), '.2f')} |"
                )
            md.append("")
    steps = [i for i in items if i.get("section") == "step"]
    for model in dict.fromkeys(i["model"] for i in steps):
        rows = [i for i in steps if i["model"] == model]
        full = next((i for i in rows if i["name"] == "full" and i.get("status") == "ok"), None)
        md.append(f"## Training step: RoBERTa-{model} (random weights)")
        md.append("")
        r0 = rows[0]
        md.append(
            f"batch {r0.get('batch')} × length {r0.get('length')}, bf16 autocast, AdamW; "
            f"d = {r0.get('dim')}"
        )
        md.append("")
        md.append("| variant | step ms | × full | peak GiB | × full | projection | error |")
        md.append("|---|---|---|---|---|---|---|")
        for i in rows:
            ok = i.get("status") == "ok"
            t_ratio = i["time_s"] / full["time_s"] if ok and full else None
            peak = i.get("peak_bytes")
            m_ratio = (
                peak / full["peak_bytes"] if ok and full and peak and "peak_bytes" in full else None
            )
            md.append(
                f"| {i['name']} | {_ms(i)} | {_fmt(t_ratio, '.3f')} | "
                f"{_fmt(peak / 2**30 if peak else None, '.2f')} | {_fmt(m_ratio, '.3f')} | "
                f"{i.get('projection', '')} | {(i.get('error') or '')[:80]} |"
            )
        md.append("")
    errors = [i for i in items if i.get("status") == "error"]
    if errors:
        md.append("## Errors")
        md.append("")
        for i in errors:
            where = f"{i.get('section')}/{i.get('model', '')}{i.get('name')} 2^{i.get('log2', '')}"
            md.append(f"- {where}: {str(i.get('error'))[:300]}")
        md.append("")
    return doc, "\n".join(md)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "device"


# ============================================================================ parent


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m idtheory.bench.gpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="benchmarks", help="directory for the reports")
    p.add_argument("--quick", action="store_true", help="tiny sizes and model (CPU test)")
    p.add_argument("--budget-s", type=float, default=300.0, help="wall-clock budget, seconds")
    p.add_argument(
        "--sections",
        nargs="+",
        default=["kernels", "step"],
        help="kernels, step (all models) or step:MODEL",
    )
    p.add_argument("--models", nargs="+", default=None, help="base, large, tiny")
    p.add_argument("--min-log2", type=int, default=None)
    p.add_argument("--max-log2", type=int, default=None)
    p.add_argument("--fold-log2", type=int, default=25, help="size of the fold comparison")
    p.add_argument("--dim", type=int, default=1000, help="d of the projections")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--length", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument(
        "--fwht-backend",
        choices=["auto", "reference"],
        default=os.environ.get("IDTHEORY_FWHT_BACKEND", "auto"),
    )
    p.add_argument("--inline", action="store_true", help="run sections in this process")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    return p


def _fill_defaults(args: argparse.Namespace) -> None:
    quick = args.quick
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.fwht_backend not in ("auto", "reference"):
        args.fwht_backend = "auto"
    defaults = {
        "models": ["tiny"] if quick else ["base", "large"],
        "min_log2": 10 if quick else 20,
        "max_log2": 12 if quick else 29,
        "batch_size": 4 if quick else 32,
        "length": 16 if quick else 128,
        "repeats": 2 if quick else 5,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if quick:
        args.fold_log2 = min(args.fold_log2, args.max_log2)
        args.dim = min(args.dim, 100)


def _section_list(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for s in args.sections:
        if s == "step":
            out += [f"step:{m}" for m in args.models]
        else:
            out.append(s)
    return list(dict.fromkeys(out))


def _forward_args(args: argparse.Namespace) -> list[str]:
    flags = [
        "--min-log2",
        str(args.min_log2),
        "--max-log2",
        str(args.max_log2),
        "--fold-log2",
        str(args.fold_log2),
        "--dim",
        str(args.dim),
        "--batch-size",
        str(args.batch_size),
        "--length",
        str(args.length),
        "--repeats",
        str(args.repeats),
        "--device",
        args.device,
        "--fwht-backend",
        args.fwht_backend,
    ]
    return flags + (["--quick"] if args.quick else [])


def _run_section(
    name: str, args: argparse.Namespace, timeout: float, tmp: Path
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out_file = tmp / f"{_slug(name)}.jsonl"
    deadline = time.time() + timeout
    t0 = time.time()
    status = "ok"
    detail = ""
    if args.inline:
        ns = argparse.Namespace(**vars(args))
        ns.child, ns.child_out, ns.deadline = name, str(out_file), deadline
        try:
            _child(ns)
        except Exception as exc:
            status, detail = "error", f"{type(exc).__name__}: {exc}"
    else:
        cmd = [
            sys.executable,
            "-m",
            "idtheory.bench.gpu",
            "--child",
            name,
            "--child-out",
            str(out_file),
            "--deadline",
            str(deadline),
            *_forward_args(args),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 5)
            if proc.returncode != 0:
                status = "error"
                detail = f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}"
        except subprocess.TimeoutExpired:
            status, detail = "timeout", f"killed after {timeout:.0f} s"
    items = []
    if out_file.exists():
        for line in out_file.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                items.append(json.loads(line))
    info = {
        "name": name,
        "status": status,
        "wall_s": time.time() - t0,
        "detail": detail,
        "timeout_s": timeout,
    }
    return info, items


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    args = _parser().parse_args(argv)
    _fill_defaults(args)
    if args.child:
        return _child(args)
    t_start = time.time()
    names = _section_list(args)
    shares = [SECTION_SHARES.get(n, 0.3) for n in names]
    sections: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="idtheory-bench-") as tmp:
        for idx, name in enumerate(names):
            left = args.budget_s - (time.time() - t_start)
            timeout = max(10.0, left * shares[idx] / sum(shares[idx:]))
            if left < 10.0:
                sections.append(
                    {"name": name, "status": "skipped", "wall_s": 0.0, "detail": "budget"}
                )
                continue
            info, got = _run_section(name, args, timeout, Path(tmp))
            sections.append(info)
            for it in got:
                if it.get("kind") == "meta":
                    meta = meta or it
                else:
                    items.append(it)
            print(
                f"[bench_gpu] {name}: {info['status']} in {info['wall_s']:.0f} s, "
                f"{len(got)} records {info['detail'][:300]}",
                file=sys.stderr,
                flush=True,
            )
    meta = dict(meta) or {"gpu": "unknown-device", "device": args.device}
    meta.pop("kind", None)
    now = _dt.datetime.now(_dt.timezone.utc)
    meta.update(
        date=now.strftime("%Y-%m-%d"),
        time_utc=now.strftime("%H:%M:%S"),
        quick=args.quick,
        budget_s=args.budget_s,
        elapsed_s=round(time.time() - t_start, 1),
        fwht_backend=args.fwht_backend,
        argv=sys.argv[1:] if argv is None else list(argv),
    )
    doc, md = make_report(meta, items, sections)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{meta['date']}-{_slug(str(meta.get('gpu', 'device')))}"
    (out_dir / f"{stem}.json").write_text(json.dumps(doc, indent=1, default=str))
    (out_dir / f"{stem}.md").write_text(md + "\n")
    print(md)
    print(f"\n[bench_gpu] wrote {out_dir / stem}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
