"""Benchmarks, printed as ratios measured side by side in one run.

``python -m idtheory.bench`` (or ``... precision``) — wall time of a whole
:func:`~idtheory.train.finetune` (default: ``minilm-l6``, SAID d = 1,000, 512 SST-2 sentences,
one epoch, evaluation on 256 dev sentences, CPU, 2 threads) in fp32 and under bf16 autocast,
alternated, and the ratio bf16 / fp32. On a CPU without native bfloat16 (no ``amx_bf16`` /
``avx512_bf16``, where ``precision="auto"`` keeps fp32) it says so and measures only with
``--force``: emulated bf16 is an order of magnitude slower.

``python -m idtheory.bench fwht`` — median time of :func:`idtheory.hadamard.fwht`, of the naive
per-stage PyTorch implementation and of ``x.clone()`` for n = 2^16 … 2^25 on the CPU (and on
CUDA when present), with the ratios to ``clone``.

``python -m idtheory.bench fastfood`` — the CPU Fastfood projection pass by pass (FWHT, P and
Pᵀ at L = 2^27 as multiples of ``clone``, each next to its traffic floor) and the SAID ÷ full
training-step ratio per model: :mod:`idtheory.bench.fastfood`.

``python -m idtheory.bench step`` — one training step (forward + backward + AdamW) of full
fine-tuning, SAID and DID for a model (default ``minilm-l6``), batch 32, length 128, random
tokens; prints medians and the ratio of each subspace step to the full fine-tuning step.
``--bf16`` runs every variant under autocast (on a CPU without native bf16 only with ``--force``,
as for ``fastfood --bf16``).

Timing rules: warm-up calls first, medians of several repeats, all variants interleaved in one
process so that machine noise hits them alike. No numbers here are asserted by tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial

import torch

from idtheory.hadamard import fwht, fwht_reference


def call_times(
    fn: Callable[[], object],
    repeats: int,
    sync: Callable[[], None] | None = None,
    *,
    warmup: int = 0,
) -> list[float]:
    """Wall-clock seconds of each of ``repeats`` calls of ``fn``, in call order.

    ``fn`` is first called ``warmup`` times untimed (default none: callers that interleave
    variants warm up themselves). ``sync`` (e.g. ``torch.cuda.synchronize``; default: nothing)
    runs before each timed call, untimed, and right after it, timed, so that asynchronous GPU
    work is waited for and counted. The timing loop of :mod:`idtheory.bench` and
    :mod:`idtheory.figures.fastfood`; see :func:`median_time`.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if sync is not None:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - t0)
    return times


def median_time(
    fn: Callable[[], object],
    repeats: int,
    sync: Callable[[], None] | None = None,
    *,
    warmup: int = 0,
) -> float:
    """Median in seconds (:func:`statistics.median`: the mean of the middle two for an even
    count) of ``repeats >= 1`` calls of ``fn`` after ``warmup`` untimed calls, each timed call
    bracketed by ``sync``; see :func:`call_times`."""
    return statistics.median(call_times(fn, repeats, sync, warmup=warmup))


def bench_fwht(
    log2_sizes: range = range(16, 26), device: str = "cpu", repeats: int = 7
) -> list[dict[str, float]]:
    """Median seconds of fwht, the naive implementation and clone for each n = 2^k."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows = []
    for k in log2_sizes:
        x = torch.randn(1 << k, device=device)
        fwht(x), fwht_reference(x), x.clone()  # warm-up (and numba compilation)
        t_fast = median_time(lambda x=x: fwht(x), repeats, sync)
        t_naive = median_time(lambda x=x: fwht_reference(x), max(3, repeats // 2), sync)
        t_clone = median_time(lambda x=x: x.clone(), repeats, sync)
        rows.append(
            {
                "log2_n": k,
                "fwht_s": t_fast,
                "naive_s": t_naive,
                "clone_s": t_clone,
                "fwht/clone": t_fast / t_clone,
                "naive/clone": t_naive / t_clone,
                "naive/fwht": t_naive / t_fast,
            }
        )
    return rows


def _print_fwht(rows: list[dict[str, float]], device: str) -> None:
    print(f"FWHT on {device} (torch threads: {torch.get_num_threads()}), median seconds")
    print(
        f"{'n':>6} {'fwht':>10} {'naive':>10} {'clone':>10} {'fwht/clone':>11} "
        f"{'naive/clone':>12} {'speed-up':>9}"
    )
    for r in rows:
        print(
            f"2^{r['log2_n']:<4} {r['fwht_s']:10.5f} {r['naive_s']:10.5f} {r['clone_s']:10.5f} "
            f"{r['fwht/clone']:11.2f} {r['naive/clone']:12.2f} {r['naive/fwht']:9.1f}"
        )


def bench_step(
    model_name: str | Callable[[], torch.nn.Module] = "minilm-l6",
    dims: tuple[int, ...] = (1000,),
    batch_size: int = 32,
    length: int = 128,
    repeats: int = 5,
    device: str = "cpu",
    methods: tuple[str, ...] = ("said", "did"),
    bf16: bool = False,
    fresh_outputs: bool = False,
    checkpointing: bool = False,
) -> list[dict[str, float]]:
    """Median seconds of one AdamW training step: full fine-tuning vs each subspace method
    (``methods``) at each d, all in fp32 or (``bf16``) all under bf16 autocast. With
    ``fresh_outputs`` each subspace model is timed a second time (``… fresh outputs``) with its
    projections allocating their L-sized outputs per product (``reuse_buffers = False``). With
    ``checkpointing`` every variant is timed a second time (``… checkpointed``) with its
    transformer layers recomputed in the backward (:func:`idtheory.train.checkpointed_layers`).

    Each row also gives ``saved_mb``: the MiB of tensors the forward saved for the backward
    (counted once, in the warm-up step; a tensor saved twice counts twice) — the activation
    memory that gradient checkpointing trades for compute, independent of machine noise.

    ``model_name`` is a :func:`~idtheory.models.load_model` name with a 2-way head, or a
    callable returning a fresh 2-way sequence classifier on each call (one per variant), for
    models loaded outside the registry."""
    from idtheory.config import SubspaceConfig
    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model
    from idtheory.train import checkpointed_layers

    if isinstance(model_name, str):
        name = model_name

        def new_model() -> torch.nn.Module:
            return load_model(name, num_labels=2).model

    else:
        new_model = model_name
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    g = torch.Generator().manual_seed(0)
    variants: dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]] = {}
    full = new_model()
    vocab = full.config.vocab_size
    batch = {
        "input_ids": torch.randint(5, vocab, (batch_size, length), generator=g).to(device),
        "attention_mask": torch.ones(batch_size, length, dtype=torch.long, device=device),
        "labels": torch.randint(0, 2, (batch_size,), generator=g).to(device),
    }
    full = full.to(device).train()
    variants["full"] = (full, torch.optim.AdamW(full.parameters(), lr=1e-5))
    for d in dims:
        for method in methods:
            model = get_subspace_model(new_model(), SubspaceConfig(dim=d, method=method)).to(device)
            model.train()
            opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
            variants[f"{method} d={d}"] = (model, opt)
            if fresh_outputs:
                variants[f"{method} d={d} fresh outputs"] = (model, opt)
    if checkpointing:
        variants.update({f"{name} checkpointed": v for name, v in variants.items()})

    def step(name: str, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        for proj in getattr(model, "projections", ()):
            proj.reuse_buffers = "fresh outputs" not in name  # also "… fresh outputs checkpointed"
        recompute = checkpointed_layers(model) if name.endswith("checkpointed") else nullcontext()
        opt.zero_grad(set_to_none=True)
        with recompute, torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()  # a checkpointed layer recomputes with the forward's autocast state
        opt.step()

    def warm_up(name: str, model: torch.nn.Module, opt: torch.optim.Optimizer) -> float:
        """One step; returns the MiB of tensors its forward saved for the backward."""
        sizes: list[int] = []

        def pack(t: torch.Tensor) -> torch.Tensor:
            sizes.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            step(name, model, opt)
        return sum(sizes) / 2**20

    saved_mb = {name: warm_up(name, *variant) for name, variant in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):  # interleaved
        for name, (model, opt) in variants.items():
            times[name].append(median_time(partial(step, name, model, opt), 1, sync))
    t_full = statistics.median(times["full"])
    return [
        {
            "variant": name,
            "step_s": statistics.median(ts),
            "ratio_to_full": statistics.median(ts) / t_full,
            "saved_mb": saved_mb[name],
        }
        for name, ts in times.items()
    ]


def bench_precision(
    model_name: str = "minilm-l6",
    method: str = "said",
    dim: int = 1000,
    task: str = "sst2",
    train_examples: int = 512,
    eval_examples: int = 256,
    repeats: int = 3,
    precisions: tuple[str, ...] = ("fp32", "bf16"),
) -> list[dict[str, float | str]]:
    """Wall seconds of whole CPU fine-tunings per precision (alternated ``repeats`` times; the
    median), with each one's ratio to the first precision's. The model is rebuilt for every
    training (loading is not timed); the data are tokenized inside :func:`finetune` (timed).
    First, one untimed warm-up training per precision on 32 examples: numba compiles the
    Fastfood kernels and oneDNN builds its bf16 primitives on first use, which would otherwise
    land in the first timed training (measured: fp32's first 26.0 s against 19.3 s later)."""
    from idtheory.config import SubspaceConfig, TrainConfig
    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model
    from idtheory.tasks import TaskData, get_task, load_task
    from idtheory.train import finetune

    spec = get_task(task)
    train = load_task(spec.name, "train", max_examples=train_examples, seed=0)
    dev = load_task(spec.name, "dev", max_examples=eval_examples, seed=0)
    lr = 1e-4 if method == "full" else 0.1

    def timed_finetune(
        precision: str, train_data: TaskData, dev_data: TaskData
    ) -> tuple[float, float]:
        loaded = load_model(model_name, num_labels=spec.num_labels)
        model = loaded.model
        if method != "full":
            model = get_subspace_model(model, SubspaceConfig(dim=dim, method=method))
        config = TrainConfig(lr=lr, epochs=1.0, precision=precision, device="cpu")
        t0 = time.perf_counter()
        result = finetune(
            model,
            loaded.tokenizer,
            spec.name,
            config,
            train_data=train_data,
            dev_data=dev_data,
            progress=False,
        )
        return time.perf_counter() - t0, result.dev.get("accuracy", float("nan"))

    def head(data: TaskData, n: int) -> TaskData:
        return dataclasses.replace(data, texts=data.texts[:n], labels=data.labels[:n])

    for precision in precisions:  # warm-up, untimed
        timed_finetune(precision, head(train, 32), head(dev, 16))
    times: dict[str, list[float]] = {p: [] for p in precisions}
    scores: dict[str, list[float]] = {p: [] for p in precisions}
    for _ in range(repeats):
        for precision in precisions:
            seconds, score = timed_finetune(precision, train, dev)
            times[precision].append(seconds)
            scores[precision].append(score)
    first = statistics.median(times[precisions[0]])
    return [
        {
            "precision": p,
            "finetune_s": statistics.median(times[p]),
            "ratio": statistics.median(times[p]) / first,
            "dev_accuracy": statistics.median(scores[p]),
        }
        for p in precisions
    ]


def _run_precision(args: argparse.Namespace) -> None:
    from idtheory.precision import cpu_supports_bf16

    native = cpu_supports_bf16()
    what = f"{args.model}, {args.method.upper()}" + (
        "" if args.method == "full" else f" d = {args.dim}"
    )
    print(
        f"whole finetune on the CPU: {what}, {args.task} {args.train_examples} train / "
        f"{args.eval_examples} dev examples, 1 epoch, torch threads {torch.get_num_threads()}; "
        f"native bf16 on this CPU: {'yes' if native else 'no'}"
    )
    if _emulated_bf16_refused(args.force):
        return
    rows = bench_precision(
        args.model,
        args.method,
        args.dim,
        args.task,
        args.train_examples,
        args.eval_examples,
        args.repeats,
    )
    for r in rows:
        print(
            f"{r['precision']:>5}  {r['finetune_s']:8.1f} s   ×{r['ratio']:.3f} of fp32   "
            f"dev accuracy {r['dev_accuracy']:.3f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m idtheory.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="what")
    defaults = argparse.ArgumentDefaultsHelpFormatter
    p = sub.add_parser(
        "precision",
        help="whole finetune: bf16 autocast vs fp32 (the default)",
        formatter_class=defaults,
    )
    _precision_options(p)
    p = sub.add_parser(
        "fwht", help="FWHT vs naive vs clone, n = 2^min … 2^max", formatter_class=defaults
    )
    p.add_argument("--min-log2", type=int, default=16, help="smallest n = 2^min-log2")
    p.add_argument("--max-log2", type=int, default=25, help="largest n = 2^max-log2")
    p.add_argument("--repeats", type=int, default=7, help="timed calls per size (median)")
    _threads_option(p)
    p = sub.add_parser(
        "step",
        help="training step: SAID/DID vs full fine-tuning",
        formatter_class=defaults,
    )
    p.add_argument("--model", default="minilm-l6", help="load_model name")
    p.add_argument("--dims", type=int, nargs="+", default=[1000], help="subspace sizes d")
    p.add_argument("--methods", nargs="+", default=["said", "did"], choices=["said", "did"])
    p.add_argument("--batch-size", type=int, default=32, help="sequences per step")
    p.add_argument("--length", type=int, default=128, help="tokens per sequence (random ids)")
    p.add_argument("--repeats", type=int, default=5, help="timed steps per variant (median)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    _threads_option(p)
    p.add_argument("--bf16", action="store_true", help="every variant under bf16 autocast")
    p.add_argument("--force", action="store_true", help="--bf16 on a CPU without native bf16 too")
    p.add_argument(
        "--checkpointing",
        action="store_true",
        help="every variant also with gradient checkpointing (its layers recomputed)",
    )
    p = sub.add_parser(
        "fastfood",
        help="CPU Fastfood pass by pass vs clone; SAID step / full",
        formatter_class=defaults,
    )
    p.add_argument("--log2", type=int, default=27, help="L = D = 2^log2 for the pass table")
    p.add_argument("--dim", type=int, default=1000, help="subspace size d")
    p.add_argument("--fwht-min", type=int, default=20, help="FWHT table from n = 2^fwht-min")
    p.add_argument("--fwht-max", type=int, default=27, help="FWHT table to n = 2^fwht-max")
    p.add_argument("--models", nargs="*", default=["minilm-l6"], help="step ratios (none: skip)")
    p.add_argument("--length", type=int, default=64, help="tokens per sequence of the steps")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per item (median)")
    _threads_option(p)
    p.add_argument("--bf16", action="store_true", help="steps under bf16 autocast")
    p.add_argument("--force", action="store_true", help="--bf16 without native bf16 too")
    args = parser.parse_args(argv)
    if args.what is None:  # the default benchmark
        args = _precision_options(argparse.ArgumentParser()).parse_args([])
        args.what = "precision"
    if args.threads is None and args.what == "precision":
        args.threads = 2
    if args.threads:
        torch.set_num_threads(args.threads)
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    if args.what == "precision":
        _run_precision(args)
    elif args.what == "fastfood":
        _run_fastfood(args)
    elif args.what == "fwht":
        sizes = range(args.min_log2, args.max_log2 + 1)
        _print_fwht(bench_fwht(sizes, "cpu", args.repeats), "cpu")
        if torch.cuda.is_available():
            _print_fwht(bench_fwht(sizes, "cuda", args.repeats), "cuda")
    elif not (args.bf16 and args.device == "cpu" and _emulated_bf16_refused(args.force)):
        rows = bench_step(
            args.model,
            tuple(args.dims),
            args.batch_size,
            args.length,
            args.repeats,
            args.device,
            tuple(args.methods),
            args.bf16,
            checkpointing=args.checkpointing,
        )
        print(
            f"training step on {args.device}, {args.model}, batch {args.batch_size} × "
            f"length {args.length}, {'bf16 autocast' if args.bf16 else 'fp32'} "
            f"(torch threads: {torch.get_num_threads()}); saved: MiB the forward kept for the "
            f"backward"
        )
        width = max(len(r["variant"]) for r in rows)
        for r in rows:
            print(
                f"{r['variant']:>{width}}  {r['step_s']:8.3f} s   ×{r['ratio_to_full']:.3f} of "
                f"full   saved {r['saved_mb']:9.1f} MiB"
            )


def _run_fastfood(args: argparse.Namespace) -> None:
    from idtheory.bench import fastfood

    if args.bf16 and _emulated_bf16_refused(args.force):
        return
    fwht_rows = fastfood.bench_fwht_ratios(range(args.fwht_min, args.fwht_max + 1), args.repeats)
    pass_rows = fastfood.bench_fastfood_passes(args.log2, args.dim, args.repeats)
    fastfood.print_fastfood(fwht_rows, pass_rows, args.log2, args.dim)
    precision = "bf16 autocast" if args.bf16 else "fp32"
    for model in args.models:
        rows = bench_step(
            model, (args.dim,), 32, args.length, args.repeats, "cpu", ("said",), args.bf16, True
        )
        full, said, said_fresh = (r["step_s"] for r in rows)
        print(
            f"\ntraining step, {model}, batch 32 × {args.length}, AdamW, {precision}: full "
            f"{full:.3f} s, SAID d = {args.dim} {said:.3f} s, SAID / full {said / full:.2f} "
            f"(allocating every output: {said_fresh:.3f} s, {said_fresh / full:.2f})"
        )


def _emulated_bf16_refused(force: bool) -> bool:
    """True (after saying why) when this CPU would only emulate bf16 and ``--force`` is absent."""
    from idtheory.precision import cpu_supports_bf16

    if cpu_supports_bf16() or force:
        return False
    print(
        "this CPU has no amx_bf16/avx512_bf16: precision='auto' trains in fp32 here, and "
        "bf16 autocast would be emulated (about 20x slower on an AVX2-only CPU); "
        "--force measures it anyway"
    )
    return True


def _threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads", type=int, default=None, help="torch/numba threads (None: torch's default)"
    )


def _precision_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--model", default="minilm-l6", help="load_model name")
    p.add_argument("--method", default="said", choices=["full", "said", "did"])
    p.add_argument("--dim", type=int, default=1000, help="subspace size d (SAID/DID)")
    p.add_argument("--task", default="sst2", help="GLUE task (read from IDTHEORY_DATA)")
    p.add_argument("--train-examples", type=int, default=512, help="training examples, 1 epoch")
    p.add_argument("--eval-examples", type=int, default=256, help="dev examples evaluated")
    p.add_argument("--repeats", type=int, default=3, help="alternations (median reported)")
    p.add_argument("--threads", type=int, default=None, help="torch/numba threads (None: 2)")
    p.add_argument("--force", action="store_true", help="measure without native bf16 too")
    return p


if __name__ == "__main__":
    main()
