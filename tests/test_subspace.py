"""The subspace wrapper on tiny BERT/RoBERTa models with random weights (no download)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

from idtheory.config import SubspaceConfig
from idtheory.projections import projection_class
from idtheory.subspace import SubspaceModel, get_subspace_model

TINY = dict(
    vocab_size=99,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=40,
)


def tiny(kind: str = "bert", dtype=torch.float64) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "bert":
        model = BertForSequenceClassification(BertConfig(**TINY, num_labels=3))
    else:
        model = RobertaForSequenceClassification(
            RobertaConfig(**TINY, num_labels=3, pad_token_id=1)
        )
    return model.to(dtype).eval()


def batch(n: int = 3, length: int = 9, labels: int = 2):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 99, (n, length), generator=g)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": torch.randint(0, labels, (n,), generator=g),
    }


CONFIGS = [
    dict(method=m, layout=lay, projection=p)
    for m in ("said", "did")
    for lay in ("global", "per_tensor")
    for p in ("fastfood", "dense", "sparse")
]


@pytest.mark.parametrize("kind", ["bert", "roberta"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(c.values()))
def test_starts_exactly_at_pretrained(kind, cfg):
    base = tiny(kind)
    b = batch(labels=3)
    expected = base(**b).logits
    model = get_subspace_model(copy.deepcopy(base), SubspaceConfig(dim=40, **cfg))
    torch.testing.assert_close(model(**b).logits, expected, rtol=0, atol=0)
    assert model.num_trainable == 40
    assert (model.theta == 0).all()


def _flat_grad_of_base(model: SubspaceModel, base: torch.nn.Module, b) -> torch.Tensor:
    """∇_θ L at θ = θ₀ + offset, with the plain base model, flattened in slot order."""
    with torch.no_grad():
        flat = model.merged_flat()
    plain = copy.deepcopy(base)
    params = dict(plain.named_parameters())
    with torch.no_grad():
        for slot in model.slots:
            params[slot.name].copy_(flat[slot.start : slot.start + slot.numel].view(slot.shape))
    plain(**b).loss.backward()
    return torch.cat([params[s.name].grad.reshape(-1) for s in model.slots])


@pytest.mark.parametrize("layout", ["global", "per_tensor"])
@pytest.mark.parametrize("projection", ["fastfood", "dense"])
def test_did_gradient_equals_explicit_transpose(layout, projection):
    base = tiny()
    b = batch()
    model = get_subspace_model(
        copy.deepcopy(base),
        SubspaceConfig(dim=12, method="did", layout=layout, projection=projection, seed=4),
    )
    with torch.no_grad():
        model.theta.normal_(0, 0.5)
    model(**b).loss.backward()
    grad_theta = _flat_grad_of_base(model, base, b)
    if layout == "global":
        P = model.projections[0].materialize()
    else:
        P = torch.cat(_explicit_blocks(model, projection, d=12, seed=4))
    torch.testing.assert_close(model.theta.grad, P.T @ grad_theta)


def _explicit_blocks(model: SubspaceModel, projection: str, d: int, seed: int) -> list:
    """The per-tensor layout's P, block by block, built here from its definition: tensor i gets
    its own projection with seed ``seed + i``, read from θ_d[:d_i] (zero columns beyond)."""
    cls = projection_class(projection)
    blocks = []
    for i, slot in enumerate(model.slots):
        d_i, D_i = cls.per_tensor_sizes(d, slot.numel)
        M = torch.zeros(slot.numel, d, dtype=torch.float64)
        M[:, :d_i] = cls(d_i, D_i, seed + i, dtype=torch.float64).materialize()[: slot.numel]
        blocks.append(M)
    return blocks


@pytest.mark.parametrize("scaling", ["block", "module", "tensor"])
def test_said_gradients_of_theta_and_lambda(scaling):
    """Against the explicit P and the per-coordinate λ (the merge runs per group of tensors)."""
    base = tiny()
    b = batch()
    config = SubspaceConfig(dim=60, method="said", seed=1, scaling=scaling)
    model = get_subspace_model(copy.deepcopy(base), config)
    runs = model.scaling_segments()
    assert [g for g, _ in runs] == sorted({s.group for s in model.slots})  # groups contiguous
    assert sum(len(sizes) for _, sizes in runs) == len(model.slots)
    if scaling == "block":
        assert len(runs) < len(model.slots) / 4
    with torch.no_grad():
        model.theta.normal_(0, 0.5)
        model.lambdas.uniform_(0.5, 1.5)
    model(**b).loss.backward()
    g = _flat_grad_of_base(model, base, b)
    P = model.projections[0].materialize()
    raw = P @ model.theta.detach()
    groups = torch.tensor([s.group for s in model.slots for _ in range(s.numel)])
    lam = model.lambdas.detach()[groups]
    torch.testing.assert_close(model.theta.grad, P.T @ (lam * g))
    expected_lambda = torch.zeros_like(model.lambdas).index_add_(0, groups, raw * g)
    torch.testing.assert_close(model.lambdas.grad, expected_lambda)


def test_authors_grad_scale_is_one_over_L():
    base = tiny()
    b = batch()
    grads = {}
    for mode in ("exact", "authors"):
        model = get_subspace_model(
            copy.deepcopy(base), SubspaceConfig(dim=10, method="did", grad_scale=mode, seed=2)
        )
        with torch.no_grad():
            model.theta.fill_(0.1)
        model(**b).loss.backward()
        grads[mode] = model.theta.grad
        L = model.projections[0].L
    torch.testing.assert_close(grads["authors"], grads["exact"] / L)


def test_authors_grad_scale_per_tensor_is_each_block_s_own_one_over_L():
    """The released code's per-tensor gradient: block i's Pᵢᵀgᵢ scaled by 1/Lᵢ, Lᵢ the power of
    two its tensor pads to (not the L of all D parameters)."""
    base = tiny()
    b = batch()
    config = SubspaceConfig(dim=10, method="did", layout="per_tensor", grad_scale="authors", seed=2)
    model = get_subspace_model(copy.deepcopy(base), config)
    with torch.no_grad():
        model.theta.normal_(0, 0.5)
    model(**b).loss.backward()
    g = _flat_grad_of_base(model, base, b).split([s.numel for s in model.slots])
    blocks = _explicit_blocks(model, "fastfood", d=10, seed=2)
    sizes = {2 ** math.ceil(math.log2(s.numel)) for s in model.slots}
    assert len(sizes) > 1  # tensors of different padded sizes: a single L would differ
    expected = sum(
        M.T @ g_i / 2 ** math.ceil(math.log2(slot.numel))
        for M, g_i, slot in zip(blocks, g, model.slots, strict=True)
    )
    torch.testing.assert_close(model.theta.grad, expected)


@pytest.mark.parametrize(
    "scaling,expected",
    [
        (
            "block",
            [
                "bert.embeddings",
                "bert.encoder.layer.0",
                "bert.encoder.layer.1",
                "bert.pooler",
                "classifier",
            ],
        ),
        ("module", None),
        ("tensor", None),
    ],
)
def test_said_lambda_groups_counted_inside_dim(scaling, expected):
    base = tiny()
    n_tensors = len(list(base.named_parameters()))
    model = get_subspace_model(
        copy.deepcopy(base), SubspaceConfig(dim=60, method="said", scaling=scaling)
    )
    if expected is not None:
        assert model.group_names == expected
    if scaling == "tensor":
        assert model.num_lambdas == n_tensors
    if scaling == "module":
        assert 5 < model.num_lambdas < n_tensors
    assert model.theta.numel() + model.num_lambdas == 60 == model.num_trainable


def test_per_tensor_crops_theta_for_small_tensors():
    base = tiny()
    model = get_subspace_model(
        copy.deepcopy(base), SubspaceConfig(dim=30, method="did", layout="per_tensor")
    )
    by_name = {s.name: p for s, p in zip(model.slots, model.projections)}
    assert by_name["classifier.bias"].d == 4  # 3 labels, L = 4 < d: sees θ_d[:4] (authors' code)
    assert by_name["bert.encoder.layer.0.attention.self.query.weight"].d == 30


def test_train_head_outside_subspace():
    base = tiny()
    model = get_subspace_model(copy.deepcopy(base), SubspaceConfig(dim=20, train_head=True))
    head = sum(p.numel() for n, p in base.named_parameters() if n.startswith("classifier"))
    assert model.num_trainable == 20 + head
    assert all(not s.name.startswith("classifier") for s in model.slots)


def test_save_load_and_merge_round_trip(tmp_path):
    base = tiny("roberta")
    b = batch(labels=3)
    model = get_subspace_model(copy.deepcopy(base), SubspaceConfig(dim=25, seed=7))
    with torch.no_grad():
        model.theta.normal_()
        model.lambdas.uniform_(0.5, 2)
    model.eval()
    with torch.no_grad():
        expected = model(**b).logits
    model.save_pretrained(tmp_path)
    size = sum(f.stat().st_size for f in tmp_path.iterdir())
    assert size < 20_000  # θ_d, λ and config only: kilobytes
    loaded = SubspaceModel.from_pretrained(copy.deepcopy(base), tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**b).logits, expected)
    merged = model.merge_and_unload()
    assert isinstance(merged, RobertaForSequenceClassification)
    assert sum(p.numel() for p in merged.parameters()) == sum(p.numel() for p in base.parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(**b).logits, expected)
    assert not torch.allclose(merged(**b).logits, base(**b).logits)


def test_load_into_wrong_model_fails(tmp_path):
    model = get_subspace_model(tiny(), SubspaceConfig(dim=25))
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="differ"):
        SubspaceModel.from_pretrained(tiny("roberta"), tmp_path)


def test_train_eval_pass_through_and_eval_cache():
    model = get_subspace_model(tiny(), SubspaceConfig(dim=20))
    model.train()
    assert model.base_model.training and model.base_model.bert.encoder.training
    model.eval()
    assert not model.base_model.training
    b = batch()
    with torch.no_grad():
        first = model(**b).logits
        weight = model.base_model.classifier.weight
        assert model(**b).logits.equal(first)
        assert model.base_model.classifier.weight is weight  # cached: not recomputed
        model.theta.add_(1.0)
        changed = model(**b).logits
    assert model.base_model.classifier.weight is not weight
    assert not torch.allclose(changed, first)


def test_tied_weights_projected_once():
    torch.manual_seed(0)
    base = BertForMaskedLM(BertConfig(**TINY)).double().eval()
    emb = base.bert.embeddings.word_embeddings
    assert base.cls.predictions.decoder.weight is emb.weight
    model = get_subspace_model(base, SubspaceConfig(dim=15, method="did"))
    assert sum(s.name.endswith("word_embeddings.weight") for s in model.slots) == 1
    assert model.num_projected == sum(
        p.numel() for p in BertForMaskedLM(BertConfig(**TINY)).parameters()
    )
    with torch.no_grad():
        model.theta.normal_()
    ids = batch()["input_ids"]
    model(input_ids=ids)
    assert base.cls.predictions.decoder.weight is base.bert.embeddings.word_embeddings.weight


def test_gradient_checkpointing_gives_same_gradient():
    """Recomputation in backward must see the merged weights, not θ₀."""
    b = batch()
    grads = []
    for ckpt in (False, True):
        base = tiny()
        for module in base.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        if ckpt:
            base.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        model = get_subspace_model(base, SubspaceConfig(dim=16, seed=3))
        model.train()  # HF checkpoints only in training mode
        with torch.no_grad():
            model.theta.fill_(0.05)
        model(**b).loss.backward()
        grads.append(model.theta.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_include_exclude_patterns():
    base = tiny()
    model = get_subspace_model(
        copy.deepcopy(base),
        SubspaceConfig(dim=10, method="did", include=[r"attention"], exclude=[r"LayerNorm"]),
    )
    assert all("attention" in s.name and "LayerNorm" not in s.name for s in model.slots)
    assert model.num_projected == sum(
        p.numel() for n, p in base.named_parameters() if "attention" in n and "LayerNorm" not in n
    )


def test_errors():
    with pytest.raises(ValueError, match="positive"):
        SubspaceConfig(dim=0)
    with pytest.raises(ValueError, match="method"):
        SubspaceConfig(dim=3, method="lora")
    with pytest.raises(ValueError, match="exceeds"):
        get_subspace_model(tiny(), SubspaceConfig(dim=10**7, method="did"))
    with pytest.raises(ValueError, match="λ"):
        get_subspace_model(tiny(), SubspaceConfig(dim=5, method="said"))
    with pytest.raises(ValueError, match="matched"):
        get_subspace_model(tiny(), SubspaceConfig(dim=5, include=["no_such_parameter"]))


def test_training_step_reduces_loss():
    model = get_subspace_model(tiny(dtype=torch.float32), SubspaceConfig(dim=64, seed=0))
    model.eval()
    b = batch(n=8)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = model(**b).loss
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.slow
def test_torch_compile_matches_eager():
    model = get_subspace_model(tiny(dtype=torch.float32), SubspaceConfig(dim=20, seed=1))
    with torch.no_grad():
        model.theta.normal_()
    b = batch()
    expected = model(**b).logits
    compiled = torch.compile(model)
    out = compiled(**b).logits
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    out.sum().backward()
    assert model.theta.grad is not None and torch.isfinite(model.theta.grad).all()


def test_cpu_autocast_bf16_forward():
    model = get_subspace_model(tiny(dtype=torch.float32), SubspaceConfig(dim=20, seed=1))
    b = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**b).loss
    loss.backward()
    assert model.theta.grad.dtype == torch.float32 and torch.isfinite(model.theta.grad).all()


def test_a_hub_kernel_model_trains_when_wrapped():
    """transformers >= 5 loads models with hub kernels on; they re-kernelize at train()/eval()
    through ``model.device``, which raised StopIteration on a wrapped model."""
    from idtheory.models import load_model

    base = load_model("tiny-bert", 2).model
    if not hasattr(base, "set_use_kernels"):
        pytest.skip("this transformers has no hub kernels")
    try:
        base.set_use_kernels(True)
    except Exception as exc:  # kernels package absent
        pytest.skip(f"hub kernels unavailable: {exc}")
    model = get_subspace_model(base, SubspaceConfig(dim=20))
    model.train()
    model.eval()
    assert not base.use_kernels


def test_said_dim_within_the_lambdas_says_what_to_do():
    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model

    model = load_model("tiny-bert", num_labels=2).model
    with pytest.raises(ValueError, match=r"increase dim or method='did' \(no λ\)"):
        get_subspace_model(model, SubspaceConfig(dim=3, method="said"))  # block: 5 λ
    with pytest.raises(ValueError, match=r"use a coarser scaling \('block'\)"):
        get_subspace_model(model, SubspaceConfig(dim=3, method="said", scaling="tensor"))
