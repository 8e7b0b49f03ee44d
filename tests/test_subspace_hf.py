"""SubspaceModel around ``forward()``: generate, device/dtype, half precision, Trainer, copies.

Tiny random models built offline (``from_config``); no download.
"""

from __future__ import annotations

import copy
import inspect
import warnings

import numpy as np
import pytest
import torch
from test_subspace import TINY  # the tiny BERT's sizes (tests/ is on sys.path)
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    LlamaConfig,
    T5Config,
)
from transformers.utils import find_labels

from idtheory.config import SubspaceConfig
from idtheory.subspace import SubspaceModel, get_subspace_model


def tiny_bert(seed: int = 0, dtype: torch.dtype = torch.float32) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(BertConfig(**TINY, num_labels=2)).to(dtype).eval()


def tiny_generator(kind: str) -> torch.nn.Module:
    """A random tiny T5 / GPT-2 / Llama (vocabulary 50, width 16, 2 layers)."""
    torch.manual_seed(0)
    if kind == "t5":
        config = T5Config(
            vocab_size=50, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
            decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
        )  # fmt: skip
        return AutoModelForSeq2SeqLM.from_config(config).eval()
    if kind == "gpt2":
        config = GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=64)
    else:
        config = LlamaConfig(
            vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
        )  # fmt: skip
    return AutoModelForCausalLM.from_config(config).eval()


def batch(n: int = 4, length: int = 7) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 99, (n, length), generator=g)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": torch.randint(0, 2, (n,), generator=g),
    }


def _train_steps(model: SubspaceModel, loss_fn, steps: int = 2) -> None:
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model).backward()
        opt.step()


# ---------------------------------------------------------------------- 1. generate, device, dtype


@pytest.mark.parametrize("kind", ["t5", "gpt2", "llama"])
def test_generate_equals_merged_model_after_an_optimizer_step(kind):
    model = get_subspace_model(tiny_generator(kind), SubspaceConfig(dim=30, seed=2))
    ids = torch.randint(2, 50, (2, 5), generator=torch.Generator().manual_seed(3))
    labels = ids if kind != "t5" else ids.flip(1)
    model.train()
    _train_steps(model, lambda m: m(input_ids=ids, labels=labels).loss)  # θ_d moves
    model.eval()
    kwargs = dict(
        max_new_tokens=4, do_sample=False, pad_token_id=0, output_scores=True,
        return_dict_in_generate=True,
    )  # fmt: skip
    out = model.generate(input_ids=ids, **kwargs)
    merged = copy.deepcopy(model).merge_and_unload().eval()
    expected = merged.generate(input_ids=ids, **kwargs)
    assert out.sequences.equal(expected.sequences)
    # Equal up to BLAS rounding (CPU GEMV results depend on memory alignment: a model's own
    # forward and generate already differ in the last bit).
    for got, want in zip(out.scores, expected.scores):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_device_dtype_and_num_parameters():
    base = tiny_bert()
    n_params = base.num_parameters()
    n_embedding = base.num_parameters() - base.num_parameters(exclude_embeddings=True)
    model = get_subspace_model(base, SubspaceConfig(dim=20))
    assert model.device == torch.device("cpu") and model.dtype == torch.float32
    assert base.device == torch.device("cpu") and base.dtype == torch.float32  # HF properties
    assert model.num_parameters() == n_params
    assert model.num_parameters(only_trainable=True) == 20
    assert model.num_parameters(exclude_embeddings=True) == n_params - n_embedding
    half = get_subspace_model(tiny_bert(dtype=torch.bfloat16), SubspaceConfig(dim=20))
    assert half.dtype == torch.bfloat16 and half.base_model.dtype == torch.bfloat16


def test_merge_and_unload_removes_the_placeholder_parameter():
    base = tiny_bert()
    names = [n for n, _ in base.named_parameters()]
    merged = get_subspace_model(base, SubspaceConfig(dim=20)).merge_and_unload()
    assert [n for n, _ in merged.named_parameters()] == names


# ---------------------------------------------------------------------- 2. half precision


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("projection", ["fastfood", "fastfood_hashed", "dense", "sparse"])
def test_half_precision_model_trains_on_cpu(dtype, projection):
    base = tiny_bert(dtype=dtype)
    b = batch()
    with torch.no_grad():
        expected = base(**b).logits
    model = get_subspace_model(base, SubspaceConfig(dim=20, projection=projection, seed=1))
    assert model.theta.dtype == torch.float32  # projection arithmetic in fp32
    assert model.theta0.dtype == dtype  # θ₀ kept in the model's precision
    with torch.no_grad():
        torch.testing.assert_close(model(**b).logits, expected, rtol=0, atol=0)
    model.train()
    model(**b).loss.backward()
    assert model.theta.grad.dtype == torch.float32 and torch.isfinite(model.theta.grad).all()
    assert model.theta.grad.abs().sum() > 0
    assert model.base_model.classifier.weight.dtype == dtype


def test_merge_keeps_each_parameter_dtype():
    base = tiny_bert()
    for name, param in base.named_parameters():
        if "LayerNorm" not in name:
            param.data = param.data.to(torch.bfloat16)
    dtypes = {n: p.dtype for n, p in base.named_parameters()}
    theta0 = {n: p.detach().clone() for n, p in base.named_parameters()}
    model = get_subspace_model(base, SubspaceConfig(dim=20, method="did", seed=3))
    assert model.theta0.dtype == torch.float32 and model.theta.dtype == torch.float32
    with torch.no_grad():
        model.theta.normal_()
        offset = model.raw_offset()
    slots = list(model.slots)
    merged = model.merge_and_unload()
    for slot in slots:
        param = merged.get_parameter(slot.name)
        assert param.dtype == dtypes[slot.name]
        raw = offset[slot.start : slot.start + slot.numel]
        want = (theta0[slot.name].float().reshape(-1) + raw).to(dtypes[slot.name])
        assert param.detach().reshape(-1).equal(want)


def test_casting_the_wrapper_to_half_keeps_the_subspace_in_fp32():
    b = batch()
    model = get_subspace_model(tiny_bert(), SubspaceConfig(dim=20, seed=4))
    G = model.projections[0].G.clone()
    model.to(torch.bfloat16)
    assert model.theta.dtype == torch.float32 and model.projections[0].G.equal(G)
    assert model.theta0.dtype == torch.bfloat16 and model.dtype == torch.bfloat16
    with torch.no_grad():
        expected = tiny_bert(dtype=torch.bfloat16)(**b).logits
        torch.testing.assert_close(model(**b).logits, expected, rtol=0, atol=0)
    assert model.merge_and_unload().classifier.weight.dtype == torch.bfloat16


# ------------------------------------------------------------------ 3. config, signature, Trainer


def test_config_is_the_base_models_and_signature_is_forwarded():
    base = tiny_bert()
    model = get_subspace_model(base, SubspaceConfig(dim=20))
    assert model.config is base.config
    assert model.subspace_config == SubspaceConfig(dim=20)
    model.config.use_cache = False  # what Trainer does
    assert list(inspect.signature(model.forward).parameters) == list(
        inspect.signature(base.forward).parameters
    )
    assert find_labels(type(model)) == ["labels"]
    assert isinstance(model, SubspaceModel)
    plain = get_subspace_model(torch.nn.Sequential(torch.nn.Linear(4, 3)), SubspaceConfig(dim=5))
    assert list(inspect.signature(plain.forward).parameters) == ["input"]
    assert plain(torch.ones(2, 4)).shape == (2, 3)


def test_pickle_round_trip(tmp_path):
    model = get_subspace_model(tiny_bert(), SubspaceConfig(dim=20))
    with torch.no_grad():
        model.theta.normal_()
    torch.save(model, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=False)
    assert type(loaded) is type(model)
    b = batch()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**b).logits, model(**b).logits, rtol=0, atol=0)


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


def _rows(n: int = 16) -> list[dict]:
    b = batch(n=n)
    return [
        {
            "input_ids": b["input_ids"][i],
            "attention_mask": b["attention_mask"][i],
            "label": int(b["labels"][i]),
            "text": "a column the model does not take",
        }
        for i in range(n)
    ]


def test_trainer_train_evaluate_save_and_resume(tmp_path):
    pytest.importorskip("accelerate")
    from safetensors.torch import load_file
    from transformers import Trainer, TrainingArguments

    def trainer(model, out, **kw):
        args = TrainingArguments(
            output_dir=str(out), max_steps=4, per_device_train_batch_size=4,
            per_device_eval_batch_size=8, learning_rate=0.05, save_strategy="steps",
            save_steps=2, logging_steps=1, report_to=[], use_cpu=True, seed=5,
            dataloader_num_workers=0, remove_unused_columns=True, **kw,
        )  # fmt: skip
        return Trainer(model=model, args=args, train_dataset=_ListDataset(_rows()),
                       eval_dataset=_ListDataset(_rows(8)))  # fmt: skip

    model = get_subspace_model(tiny_bert(), SubspaceConfig(dim=20, seed=1))
    t = trainer(model, tmp_path / "run")
    t.train()
    assert model.theta.abs().sum() > 0
    metrics = t.evaluate()
    assert np.isfinite(metrics["eval_loss"])
    t.save_model(str(tmp_path / "final"))
    state = load_file(str(tmp_path / "final" / "model.safetensors"))
    restored = get_subspace_model(tiny_bert(), SubspaceConfig(dim=20, seed=1))
    restored.load_state_dict(state, strict=False)
    assert restored.theta.equal(model.theta)

    resumed = get_subspace_model(tiny_bert(), SubspaceConfig(dim=20, seed=1))
    t2 = trainer(resumed, tmp_path / "run2")
    t2.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    torch.testing.assert_close(resumed.theta, model.theta)


def test_the_readme_trainer_example_runs_as_written(tmp_path, data_dir):
    """The README's Trainer snippet, with the tiny model and a few steps: the task's own
    Dataset, tokenized by the library (rows of unequal length: the tokenizer pads them)."""
    pytest.importorskip("accelerate")
    from transformers import Trainer, TrainingArguments

    from idtheory.data import task_dataset, tokenize
    from idtheory.models import load_model

    loaded = load_model("tiny-bert", num_labels=2)
    model = get_subspace_model(loaded.model, SubspaceConfig(dim=20))
    train, dev = (
        tokenize(task_dataset("sst2", split, max_examples=16), loaded.tokenizer, 64,
                 text_columns="sentence", cache=False)
        for split in ("train", "dev")
    )  # fmt: skip
    args = TrainingArguments(str(tmp_path), learning_rate=0.1, max_steps=2, report_to=[],
                             per_device_train_batch_size=8, use_cpu=True)  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                      processing_class=loaded.tokenizer)  # fmt: skip
    trainer.train()
    assert np.isfinite(trainer.evaluate()["eval_loss"]) and model.theta.abs().sum() > 0


# ---------------------------------------------------------------------- 4. copies and caches


def test_deepcopy_and_averaged_model_after_a_forward_with_autograd():
    b = batch()
    model = get_subspace_model(tiny_bert(), SubspaceConfig(dim=20, seed=1))
    model.train()
    model(**b).loss.backward()
    clone = copy.deepcopy(model)
    assert clone.theta is not model.theta and clone.theta.equal(model.theta)
    averaged = torch.optim.swa_utils.AveragedModel(model)
    with torch.no_grad():
        model.theta.add_(1.0)
    averaged.update_parameters(model)
    model.eval()
    averaged.eval()
    with torch.no_grad():
        torch.testing.assert_close(averaged(**b).logits, model(**b).logits)
        clone.eval()
        assert not torch.allclose(clone(**b).logits, model(**b).logits)


def test_eval_cache_sees_data_edits():
    model = get_subspace_model(tiny_bert(), SubspaceConfig(dim=20)).eval()
    b = batch()
    with torch.no_grad():
        first = model(**b).logits
        model.theta.data.add_(1.0)
        assert not torch.allclose(model(**b).logits, first)
        model.lambdas.data.mul_(3.0)
        second = model(**b).logits
    model._cache_key = None
    with torch.no_grad():
        torch.testing.assert_close(model(**b).logits, second, rtol=0, atol=0)


@pytest.mark.parametrize(
    "config",
    [SubspaceConfig(dim=10**7, method="did"), SubspaceConfig(dim=3)],
    ids=["d>D", "lambda"],
)
def test_failed_wrap_leaves_the_model_untouched(config):
    base = tiny_bert()
    names = [n for n, _ in base.named_parameters()]
    with pytest.raises(ValueError):
        get_subspace_model(base, config)
    assert [n for n, p in base.named_parameters() if p.requires_grad] == names


def test_numpy_integer_dim():
    config = SubspaceConfig(dim=np.int64(100), seed=np.int32(3))
    assert type(config.dim) is int and type(config.seed) is int
    assert config == SubspaceConfig(dim=100, seed=3)
    with pytest.raises(ValueError, match="positive integer"):
        SubspaceConfig(dim=np.float64(100))
    with pytest.raises(ValueError, match="positive integer"):
        SubspaceConfig(dim=np.bool_(True))


def test_from_pretrained_checks_the_base_model(tmp_path):
    model = get_subspace_model(tiny_bert(seed=0), SubspaceConfig(dim=20))
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="fingerprint"):
        SubspaceModel.from_pretrained(tiny_bert(seed=1), tmp_path)
    with pytest.warns(UserWarning, match="fingerprint"):
        SubspaceModel.from_pretrained(tiny_bert(seed=1), tmp_path, allow_base_mismatch=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SubspaceModel.from_pretrained(tiny_bert(seed=0), tmp_path)  # the same base
        # the same weights in bf16 (a precision change, not a different model)
        SubspaceModel.from_pretrained(tiny_bert(seed=0, dtype=torch.bfloat16), tmp_path)


def test_from_pretrained_of_a_save_without_fingerprint(tmp_path):
    """Saves written before fingerprints existed load silently (not checked)."""
    import json

    from safetensors.torch import load_file, save_file

    model = get_subspace_model(tiny_bert(seed=0), SubspaceConfig(dim=20))
    model.save_pretrained(tmp_path)
    meta = json.loads((tmp_path / "subspace_config.json").read_text())
    meta.pop("theta0_fingerprint", None)
    (tmp_path / "subspace_config.json").write_text(json.dumps(meta))
    weights = tmp_path / "subspace_model.safetensors"
    state = {k: v for k, v in load_file(str(weights)).items() if "fingerprint" not in k}
    save_file(state, str(weights))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SubspaceModel.from_pretrained(tiny_bert(seed=1), tmp_path)


def test_wrapping_mistakes_say_what_to_pass():
    from idtheory.config import SubspaceConfig
    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model

    loaded = load_model("tiny-bert", num_labels=2)
    with pytest.raises(TypeError, match=r"pass loaded\.model"):
        get_subspace_model(loaded, SubspaceConfig(dim=10))
    with pytest.raises(TypeError, match="config must be a SubspaceConfig"):
        get_subspace_model(loaded.model, {"dim": 10})
    wrapped = get_subspace_model(loaded.model, SubspaceConfig(dim=10))
    with pytest.raises(ValueError, match="already a SubspaceModel"):
        get_subspace_model(wrapped, SubspaceConfig(dim=10))


def test_bad_device_and_pattern_are_config_errors():
    from idtheory.config import SubspaceConfig, TrainConfig

    with pytest.raises(ValueError, match="device must be auto, cpu, cuda"):
        TrainConfig(device="gpu")
    with pytest.raises(ValueError, match="is not a regular expression"):
        SubspaceConfig(dim=10, include="[")
