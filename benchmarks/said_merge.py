"""SAID merge θ₀ + λ_g · Pθ_d: per tensor (before 2026-11-26) against per run of tensors sharing
a λ (``SubspaceModel.merge`` now), forward + backward, side by side in one process.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/said_merge.py

The model is RoBERTa-Large's layout (24 layers, 393 tensors with the head) at hidden size 64, so
that the arithmetic is negligible and the time is the per-operation overhead — what a GPU pays
per kernel launch. The projection is excluded (θ_d's offset is a fixed tensor here).
"""

from __future__ import annotations

import time

import torch
from transformers import RobertaConfig, RobertaForSequenceClassification

from idtheory.config import SubspaceConfig
from idtheory.subspace import get_subspace_model


def per_tensor(model, off: torch.Tensor) -> list[torch.Tensor]:
    """The former merge: one λ index and one multiply-add per tensor."""
    sizes = [slot.numel for slot in model.slots]
    return [
        torch.addcmul(t0, o, model.lambdas[slot.group])
        for slot, t0, o in zip(model.slots, model.theta0.split(sizes), off.split(sizes))
    ]


def time_merge(fn, model, off: torch.Tensor, repeats: int = 30) -> float:
    grad = torch.ones(model.num_projected)

    def step() -> None:
        torch.cat(fn(model, off)).backward(grad)  # one op in, one split out: the merge dominates

    step()
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=1000,
        hidden_size=64,
        num_hidden_layers=24,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=130,
    )
    base = RobertaForSequenceClassification(config)
    model = get_subspace_model(base, SubspaceConfig(dim=1000, method="said"))
    off = torch.randn(model.num_projected, requires_grad=True)
    a = [p.detach() for p in per_tensor(model, off)]
    b = [p.detach() for p in model.merge(off)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    print(
        f"{len(model.slots)} tensors, {len(model.scaling_segments())} runs, "
        f"{model.num_lambdas} λ, D = {model.num_projected:,}"
    )
    t_tensor = time_merge(per_tensor, model, off)
    t_run = time_merge(lambda m, o: m.merge(o), model, off)
    print(
        f"per tensor {t_tensor * 1e3:.2f} ms, per run {t_run * 1e3:.2f} ms: {t_tensor / t_run:.1f}x"
    )


if __name__ == "__main__":
    main()
