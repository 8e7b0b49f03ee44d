"""Tests of idtheory.pretrain: tokenizer, MLM pre-training with resumable atomic checkpoints,
corpus overlap check, trend experiments with fake trainers, log-log fit, classifier check, CLI."""

from __future__ import annotations

import argparse
import math
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from idtheory.config import RunSpec  # noqa: E402
from idtheory.models import load_model  # noqa: E402
from idtheory.pretrain import (  # noqa: E402
    GLUE_CORPUS_TASKS,
    PRESETS,
    SPECIAL_TOKENS,
    Corpus,
    CorpusOverlapError,
    PretrainConfig,
    add_pretrain_arguments,
    build_corpus,
    check_no_overlap,
    checkpoint_step,
    list_checkpoints,
    model_config,
    normalize_text,
    preset_num_params,
    pretrain,
    read_log,
    run_pretrain_command,
    train_tokenizer,
)
from idtheory.search import StoredRuns  # noqa: E402
from idtheory.store import ResultsStore  # noqa: E402
from idtheory.tasks import load_task  # noqa: E402
from idtheory.trends import (  # noqa: E402
    MISSING,
    PUBLIC_CHECKPOINT_SUITES,
    PUBLIC_SIZE_MODELS,
    UNABLE,
    NotASequenceClassifier,
    check_sequence_classifier,
    fit_loglog,
    fit_rows,
    pretraining_trend,
    size_trend,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def synthetic_corpus(n: int = 300, seed: int = 0) -> list[str]:
    """A small repetitive corpus (a 14-word vocabulary) on which the MLM loss falls fast."""
    rng = random.Random(seed)
    words = "the cat dog sat ran on under a mat log big small red blue".split()
    return [" ".join(rng.choice(words) for _ in range(8)) + "." for _ in range(n)]


def tiny_config(**kw: Any) -> PretrainConfig:
    base: dict[str, Any] = dict(
        preset=None,
        layers=2,
        hidden=32,
        heads=2,
        ffn=64,
        vocab_size=300,
        max_length=32,
        batch_size=8,
        steps=40,
        lr=3e-3,
        warmup_ratio=0.1,
        save_every=20,
        log_every=1,
        eval_blocks=4,
        num_threads=1,
    )
    base.update(kw)
    return PretrainConfig(**base)


def losses(out_dir: Path) -> list[tuple[int, float]]:
    return [(e["step"], e["loss"]) for e in read_log(out_dir) if "loss" in e]


# ---------------------------------------------------------------- tokenizer and sizes


def test_tokenizer_saved_and_loaded_offline(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    train_tokenizer(synthetic_corpus(), vocab_size=300, out_dir=tmp_path / "tok")
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tok"), local_files_only=True)
    assert [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.mask_token == "<mask>" and tok.model_max_length == 512
    assert len(tok) <= 300
    enc = tok("the cat sat", "on the <mask> mat")["input_ids"]
    assert enc[0] == 0 and enc[-1] == 2 and enc.count(2) == 3  # <s> A </s></s> B </s>
    assert tok.mask_token_id in enc
    text = "Zürich — naïve ☃ text"  # unseen bytes still tokenize losslessly
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    with pytest.raises(ValueError):
        train_tokenizer(["a"], vocab_size=100)


def test_presets_span_ten_times_and_config() -> None:
    counts = {name: preset_num_params(name) for name in PRESETS}
    assert list(counts.values()) == sorted(counts.values())
    assert max(counts.values()) / min(counts.values()) >= 10
    assert preset_num_params("xs", head="mlm") > 0
    cfg = model_config("s", vocab_size=1000)
    assert (cfg.num_hidden_layers, cfg.hidden_size) == (PRESETS["s"].layers, PRESETS["s"].hidden)
    assert cfg.vocab_size == 1000 and cfg.pad_token_id == 1 and cfg.max_position_embeddings == 514
    assert model_config("s", layers=1).num_hidden_layers == 1
    assert model_config(layers=1, hidden=16, heads=2).intermediate_size == 64
    with pytest.raises(ValueError, match="unknown preset"):
        model_config("xxl")
    with pytest.raises(ValueError, match="divisible"):
        model_config(layers=1, hidden=30, heads=4)
    with pytest.raises(ValueError):
        PretrainConfig(batch_size=10, grad_accum=3)


# ---------------------------------------------------------------- pre-training


def test_pretrain_loss_falls_and_checkpoints_load(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = pretrain(tiny_config(), synthetic_corpus(), out, progress=False)
    assert res.step == 40 and res.resumed_from is None
    assert [s for s, _ in res.checkpoints] == [0, 20, 40]
    assert list_checkpoints(out) == res.checkpoints
    log = losses(out)
    assert [s for s, _ in log] == list(range(1, 41))
    first = np.mean([v for _, v in log[:5]])
    last = np.mean([v for _, v in log[-5:]])
    assert first > math.log(200) and last < first - 1.0, (first, last)
    evals = [e["eval_loss"] for e in read_log(out) if "eval_loss" in e]
    assert len(evals) == 3 and evals[-1] < evals[0] - 1.0
    # Only the newest checkpoint keeps the optimizer state; no temporary directory is left.
    assert (out / "checkpoint-40" / "optimizer.pt").is_file()
    assert not (out / "checkpoint-20" / "optimizer.pt").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    # Hugging Face format, loadable as a classifier by idtheory.models.load_model.
    lm = load_model(out / "checkpoint-40", num_labels=2)
    assert type(lm.model).__name__ == "RobertaForSequenceClassification"
    enc = lm.tokenizer(["the cat sat", "a dog ran"], ["on the mat", "under a log"], padding=True)
    with torch.no_grad():
        logits = lm.model(**{k: torch.tensor(v) for k, v in enc.items()}).logits
    assert logits.shape == (2, 2)
    # The encoder weights are those of the masked LM.
    from transformers import RobertaForMaskedLM

    mlm = RobertaForMaskedLM.from_pretrained(str(out / "checkpoint-40"))
    w = "embeddings.word_embeddings.weight"
    assert torch.equal(lm.model.roberta.state_dict()[w], mlm.roberta.state_dict()[w])
    # Calling again on a finished run trains nothing.
    again = pretrain(tiny_config(), synthetic_corpus(), out, progress=False)
    assert again.step == 40 and again.resumed_from == 40 and losses(out) == log


def test_resume_after_interruption_matches_uninterrupted(tmp_path: Path) -> None:
    cfg = tiny_config(steps=12, save_every=4, eval_blocks=0, save_initial=False)
    corpus = synthetic_corpus()
    ref = tmp_path / "ref"
    pretrain(cfg, corpus, ref, progress=False)

    def crash_at_6(step: int, loss: float) -> None:
        if step == 6:
            raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, corpus, run, progress=False, callback=crash_at_6)
    assert [s for s, _ in list_checkpoints(run)] == [4]
    assert [s for s, _ in losses(run)] == [1, 2, 3, 4, 5, 6]
    # An interrupted write leaves a temporary or an incomplete directory: never a checkpoint.
    (run / ".checkpoint-8.tmp-12345").mkdir()
    (run / "checkpoint-8").mkdir()
    (run / "checkpoint-8" / "config.json").write_text("{}")
    assert [s for s, _ in list_checkpoints(run)] == [4]

    with pytest.raises(ValueError, match="configuration differs"):
        pretrain(tiny_config(steps=12, save_every=4, eval_blocks=0, lr=1e-3), corpus, run)
    with pytest.raises(ValueError, match="corpus differs"):
        pretrain(cfg, corpus[:-1], run, progress=False)

    res = pretrain(cfg, corpus, run, progress=False)
    assert res.resumed_from == 4 and res.step == 12
    assert not (run / ".checkpoint-8.tmp-12345").exists()
    assert [s for s, _ in list_checkpoints(run)] == [4, 8, 12]  # the incomplete 8 was replaced
    assert losses(run) == losses(ref)  # bit-identical on CPU, steps 5..12 included
    from safetensors.torch import load_file

    a = load_file(str(ref / "checkpoint-12" / "model.safetensors"))
    b = load_file(str(run / "checkpoint-12" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_stop_at_splits_a_run_into_sessions(tmp_path: Path) -> None:
    cfg = tiny_config(steps=8, save_every=100, eval_blocks=0, packing=False)
    first = pretrain(cfg, synthetic_corpus(), tmp_path, progress=False, stop_at=3)
    assert first.step == 3 and [s for s, _ in first.checkpoints] == [0, 3]
    second = pretrain(cfg, synthetic_corpus(), tmp_path, progress=False)
    assert second.resumed_from == 3 and [s for s, _ in second.checkpoints] == [0, 3, 8]


# ---------------------------------------------------------------- corpus and overlap


def test_overlap_check_fires_on_planted_sentence(tmp_path: Path, data_dir: Path) -> None:
    rte_dev = load_task("rte", "dev", data_dir=data_dir)
    planted = next(t[0] for t in rte_dev.texts if 80 < len(t[0]) < 250 and "'" in t[0])
    clean = synthetic_corpus(50)
    assert check_no_overlap(clean, ["rte"], data_dir=data_dir)["n_corpus_lines"] == 50

    mangled = "  " + planted.upper().replace(" ", "   ") + " "
    with pytest.raises(CorpusOverlapError) as err:
        check_no_overlap([*clean, mangled], ["rte"], data_dir=data_dir)
    assert "rte/dev" in str(err.value) and planted in str(err.value)

    sentence = rte_dev.texts[0][1]  # a hypothesis inside a longer document
    doc = f"Some unrelated opening sentence here. {sentence} And another closing sentence."
    with pytest.raises(CorpusOverlapError):
        check_no_overlap([doc], ["rte"], splits=("dev",), data_dir=data_dir)

    path = tmp_path / "corpus.txt"
    path.write_text("\n".join([*clean[:10], planted, "", *clean[10:20]]) + "\n", encoding="utf-8")
    corpus = build_corpus(path, ["rte"], data_dir=data_dir)
    assert isinstance(corpus, Corpus) and len(corpus) == 20 and corpus.n_dropped == 1
    assert corpus.dropped == [planted] and corpus.excluded_tasks == ("rte",)
    with pytest.raises(CorpusOverlapError):
        build_corpus(path, ["rte"], data_dir=data_dir, drop_overlap=False)
    assert len(build_corpus(path, [], data_dir=data_dir, drop_overlap=False)) == 21
    with pytest.raises(FileNotFoundError):
        build_corpus(tmp_path / "missing.txt", [])
    assert normalize_text("  The\tCat \n sat ") == "the cat sat"


def test_glue_corpus_excludes_dev_and_test(real_data_dir: Path) -> None:
    data_dir = real_data_dir
    corpus = build_corpus("glue", GLUE_CORPUS_TASKS, data_dir=data_dir)
    assert len(corpus) > 80_000 and corpus.num_words > 800_000
    assert corpus.n_dropped > 100  # MRPC and RTE dev/test sentences recur in the train files
    assert "glue train" in corpus.source
    sst2_train = load_task("sst2", "train", data_dir=data_dir)
    assert sst2_train.texts[0][0].strip() in corpus.texts


def test_hub_corpus_needs_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError, match="datasets"):
        build_corpus("wikitext-103-raw-v1", [])


# ---------------------------------------------------------------- trend experiments (fake)


def fake_record(spec: RunSpec, acc: float, num_params: int = 100_000) -> dict[str, Any]:
    return {
        "run_id": spec.config_hash(),
        "spec": spec.to_dict(),
        "status": "ok",
        "message": "",
        "metrics": {"dev": {"accuracy": acc}, "train": {"accuracy": acc}},
        "best_step": 1,
        "history": [],
        "num_trainable": spec.dim or num_params,
        "num_params": num_params,
        "wall_time_s": 0.0,
        "peak_mem_mb": 0.0,
        "versions": {},
        "created": "2024-01-01T00:00:00+00:00",
        "host": "test",
    }


def sigmoid(d: float, d0: float) -> float:
    """Accuracy 0.5 … 0.95 rising around d0 (log scale)."""
    return 0.5 + 0.45 / (1.0 + math.exp(-3.0 * (math.log(d) - math.log(d0))))


class FakeTrainer:
    """Full fine-tuning accuracy ``full(model)``; subspace accuracy a sigmoid centred on
    ``d0(model)``; reports ``params(model)`` parameters."""

    def __init__(
        self,
        full: Callable[[str], float],
        d0: Callable[[str], float],
        params: Callable[[str], int] = lambda m: 100_000,
    ) -> None:
        self.full, self.d0, self.params = full, d0, params
        self.calls: list[RunSpec] = []

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        self.calls.append(spec)
        n = self.params(spec.model)
        if spec.subspace is None:
            return fake_record(spec, self.full(spec.model), n)
        return fake_record(spec, sigmoid(spec.subspace.dim, self.d0(spec.model)), n)


SEARCH = dict(full_lrs=(5e-5,), subspace_lrs=(1e-2,), bracket_ratio=1.1)


def test_pretraining_trend_end_to_end(tmp_path: Path) -> None:
    ckpts = [f"runs/xs/checkpoint-{s}" for s in (0, 1000, 2000, 4000)]

    def step_of(model: str) -> int:
        return int(model.rsplit("-", 1)[1])

    trainer = FakeTrainer(
        full=lambda m: 0.60 if step_of(m) == 0 else 0.90,  # step 0: below MRPC's majority
        d0=lambda m: 20_000 / (1 + step_of(m) / 1000),
    )
    rows = pretraining_trend(
        ckpts,
        ["MRPC", "sst-2"],
        store=ResultsStore(tmp_path),
        train_fn=trainer,
        majority={"mrpc": 279 / 408, "sst2": 444 / 872},
        progress=False,
        **SEARCH,
    )
    assert [(r["step"], r["task"]) for r in rows] == [
        (s, t) for s in (0, 1000, 2000, 4000) for t in ("mrpc", "sst2")
    ]
    first = {r["task"]: r for r in rows if r["step"] == 0}
    assert first["mrpc"]["status"] == UNABLE and first["mrpc"]["d90"] is None
    assert "majority" in first["mrpc"]["reason"] and first["mrpc"]["baseline"] == 0.60
    assert first["sst2"]["status"] == "ok"  # 0.60 beats SST-2's 0.509
    mrpc = [r for r in rows if r["task"] == "mrpc" and r["step"] > 0]
    assert all(r["status"] == "ok" for r in mrpc)
    d90s = [r["d90"] for r in mrpc]
    assert d90s == sorted(d90s, reverse=True) and d90s[0] > d90s[-1] * 2
    assert all(r["bracket"][0] < r["d90"] == r["bracket"][1] for r in mrpc)
    assert all(r["threshold"] == pytest.approx(0.81) for r in mrpc)
    # No subspace training is spent on the "unable to compute" cell.
    unable_subspace = [s for s in trainer.calls if s.model == ckpts[0] and s.task == "mrpc"]
    assert [s.subspace for s in unable_subspace] == [None]
    # A second call reuses every stored run.
    n_calls = len(trainer.calls)
    again = pretraining_trend(
        ckpts,
        ["mrpc", "sst2"],
        store=ResultsStore(tmp_path),
        train_fn=trainer,
        majority={"mrpc": 279 / 408, "sst2": 444 / 872},
        progress=False,
        **SEARCH,
    )
    assert again == rows and len(trainer.calls) == n_calls
    # majority_margin turns a marginal baseline into "unable to compute".
    strict = pretraining_trend(
        ckpts[1:2],
        "mrpc",
        store=ResultsStore(tmp_path),
        train_fn=trainer,
        majority={"mrpc": 0.80},
        majority_margin=0.15,
        progress=False,
        **SEARCH,
    )
    assert strict[0]["status"] == UNABLE
    # floor="majority": each task's threshold counts only the gain over its majority class
    corrected = pretraining_trend(
        ckpts[1:2],
        ["mrpc", "sst2"],
        store=ResultsStore(tmp_path),
        train_fn=trainer,
        majority={"mrpc": 279 / 408, "sst2": 444 / 872},
        floor="majority",
        progress=False,
        **SEARCH,
    )
    for row, maj in zip(corrected, (279 / 408, 444 / 872), strict=True):
        assert row["threshold"] == pytest.approx(maj + 0.9 * (0.90 - maj))
        plain = next(r for r in rows if r["step"] == 1000 and r["task"] == row["task"])
        assert row["d90"] >= plain["d90"] and row["summary_id"] != plain["summary_id"]


def test_checkpoint_names_have_one_pattern(tmp_path: Path) -> None:
    """checkpoint_step reads directories and the model names of the results store alike;
    list_checkpoints lists only complete checkpoint-<step> directories through it."""
    assert checkpoint_step("checkpoints/family-xs/checkpoint-500") == 500
    assert checkpoint_step(tmp_path / "checkpoint-0") == 0
    assert checkpoint_step("checkpoint-12/config.json") is None
    assert checkpoint_step(".checkpoint-3.tmp-77") is None
    assert checkpoint_step("google/multiberts-seed_0-step_20k") is None
    for name in ("checkpoint-7", "checkpoint-3", ".checkpoint-9.tmp-1", "checkpoint-x"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-11").mkdir()  # incomplete: no trainer_state.json
    assert list_checkpoints(tmp_path) == [
        (3, tmp_path / "checkpoint-3"),
        (7, tmp_path / "checkpoint-7"),
    ]


def test_trends_read_back_from_the_store(tmp_path: Path) -> None:
    """The trend functions with the store-only trainer give the computed rows (the same
    baseline, majority check and search) and name the cells the store lacks."""
    ckpts = [(0, "runs/xs/checkpoint-0"), (1000, "runs/xs/checkpoint-1000")]
    trainer = FakeTrainer(full=lambda m: 0.6 if m.endswith("-0") else 0.9, d0=lambda m: 300.0)
    kw: dict[str, Any] = dict(majority={"mrpc": 279 / 408}, progress=False, **SEARCH)
    store = ResultsStore(tmp_path)
    computed = pretraining_trend(ckpts, "mrpc", store=store, train_fn=trainer, **kw)
    read = pretraining_trend(ckpts, "mrpc", store=store, train_fn=StoredRuns(store), **kw)
    assert read == computed and [r["status"] for r in read] == [UNABLE, "ok"]

    fresh = ResultsStore(tmp_path / "fresh")
    half = pretraining_trend(ckpts[1:], "mrpc", store=fresh, train_fn=trainer, d_max=100, **kw)
    assert half[0]["status"] == "never_passes"  # baseline stored, search at other settings
    rows = pretraining_trend(ckpts, "mrpc", store=fresh, train_fn=StoredRuns(fresh), **kw)
    assert [(r["status"], r["reason"]) for r in rows] == [
        (MISSING, "full fine-tuning baseline not in the store"),
        (MISSING, "d90 search not in the store"),
    ]
    assert rows[1]["baseline"] == pytest.approx(0.9) and rows[1]["d90"] is None

    with pytest.warns(UserWarning, match="no log-log fit"):
        sized = size_trend(
            ["runs/xs/checkpoint-1000"] * 3, "mrpc", store=store, train_fn=StoredRuns(store),
            majority=279 / 408, progress=False, **SEARCH,
        )  # fmt: skip
    assert sized.fit is None and fit_rows(sized.rows, ["ok"]) is None  # one parameter count


def test_pretraining_trend_reads_a_run_directory(tmp_path: Path, data_dir: Path) -> None:
    run = tmp_path / "run"
    for step in (0, 50, 100):
        (run / f"checkpoint-{step}").mkdir(parents=True)
        (run / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    trainer = FakeTrainer(full=lambda m: 0.9, d0=lambda m: 500.0)
    rows = pretraining_trend(
        run,
        "rte",
        store=ResultsStore(tmp_path / "s"),
        train_fn=trainer,
        progress=False,
        data_dir=data_dir,
        **SEARCH,
    )
    assert [r["step"] for r in rows] == [0, 50, 100]
    assert rows[0]["checkpoint"] == str(run / "checkpoint-0")
    labels = load_task("rte", "dev", data_dir=data_dir).labels
    majority = max(Counter(labels).values()) / len(labels)  # 146 / 277 on GLUE's RTE dev
    assert rows[0]["majority"] == pytest.approx(majority)  # read from the data
    with pytest.raises(ValueError, match="no complete checkpoint"):
        pretraining_trend(tmp_path / "empty", "rte", store=ResultsStore(tmp_path / "s"))


def test_size_trend_recovers_slope(tmp_path: Path) -> None:
    sizes = {f"model-{i}": int(1e6 * 4**i) for i in range(5)}
    sizes["tiny-broken"] = 500_000

    trainer = FakeTrainer(
        full=lambda m: 0.5 if m == "tiny-broken" else 0.9,
        d0=lambda m: 1e4 * (sizes[m] / 1e6) ** -0.5,
        params=lambda m: sizes[m],
    )
    with pytest.warns(UserWarning, match="no log-log fit"):
        size_trend(
            ["model-0"],
            "mrpc",
            store=ResultsStore(tmp_path),
            train_fn=trainer,
            majority=0.684,
            progress=False,
            **SEARCH,
        )
    res = size_trend(
        list(sizes),
        "mrpc",
        store=ResultsStore(tmp_path),
        train_fn=trainer,
        majority=0.684,
        progress=False,
        **SEARCH,
    )
    rows, fit = res
    assert [r["model"] for r in rows] == list(sizes)
    assert [r["n_params"] for r in rows] == list(sizes.values())  # read from the records
    broken = rows[-1]
    assert broken["status"] == UNABLE and broken["d90"] is None
    assert fit is not None and fit.n == 5
    assert fit.slope == pytest.approx(-0.5, abs=0.05)
    assert fit.slope_ci95[0] < -0.5 < fit.slope_ci95[1] and fit.r2 > 0.99
    # Explicit counts override the records.
    explicit = size_trend(
        {"model-0": 123, "model-1": 456, "model-2": 789},
        "mrpc",
        store=ResultsStore(tmp_path),
        train_fn=trainer,
        majority=0.684,
        progress=False,
        **SEARCH,
    )
    assert [r["n_params"] for r in explicit.rows] == [123, 456, 789]


def test_fit_loglog_known_slope() -> None:
    rng = np.random.default_rng(0)
    x = np.logspace(6, 9, 20)
    y = 1e3 * x**-0.5 * 10 ** rng.normal(0.0, 0.03, x.size)
    fit = fit_loglog(x, y)
    assert fit.n == 20 and fit.slope == pytest.approx(-0.5, abs=0.03)
    assert fit.slope_ci95[0] < -0.5 < fit.slope_ci95[1]
    assert fit.slope_ci95[1] - fit.slope_ci95[0] == pytest.approx(
        2 * 2.100922 * fit.slope_stderr, rel=1e-5
    )  # t(0.975, 18 dof)
    assert fit.intercept == pytest.approx(3.0, abs=0.15) and fit.r2 > 0.95
    assert fit.predict(1e8) == pytest.approx(0.1, rel=0.1)
    exact = fit_loglog([1e6, 1e7, 1e8], [1.0, 10**-0.5, 0.1])
    assert exact.slope == pytest.approx(-0.5) and exact.slope_stderr == pytest.approx(0, abs=1e-9)
    assert exact.to_dict()["slope_ci95"][0] == pytest.approx(-0.5)
    for bad in (([1, 2], [1, 2]), ([1, 2, -3], [1, 2, 3]), ([5, 5, 5], [1, 2, 3])):
        with pytest.raises(ValueError):
            fit_loglog(*bad)


# ---------------------------------------------------------------- public models


def test_sequence_classifier_check(tmp_path: Path) -> None:
    from transformers import MarianConfig, RobertaConfig, ViTConfig

    assert check_sequence_classifier(RobertaConfig()) == "RobertaForSequenceClassification"
    with pytest.raises(NotASequenceClassifier, match="'vit'"):
        check_sequence_classifier(ViTConfig())
    with pytest.raises(NotASequenceClassifier, match="marian"):
        check_sequence_classifier(MarianConfig())
    assert "alias" in check_sequence_classifier("tiny-roberta")
    model_config("xs", vocab_size=300).save_pretrained(str(tmp_path / "xs"))
    assert check_sequence_classifier(tmp_path / "xs") == "RobertaForSequenceClassification"
    ViTConfig().save_pretrained(str(tmp_path / "vit"))
    with pytest.raises(NotASequenceClassifier):
        check_sequence_classifier(str(tmp_path / "vit"))
    with pytest.raises(NotASequenceClassifier):
        size_trend(
            [str(tmp_path / "vit")],
            "mrpc",
            store=ResultsStore(tmp_path),
            check_classifiers=True,
            majority=0.5,
        )


def test_public_model_lists() -> None:
    assert len(PUBLIC_SIZE_MODELS) == len(set(PUBLIC_SIZE_MODELS)) >= 20
    joined = " ".join(PUBLIC_SIZE_MODELS).lower()
    for family in (
        "bert-base",
        "roberta-large",
        "electra-small",
        "albert-xlarge",
        "bart-large",
        "xlnet-base",
        "t5-small",
        "xlm-roberta-large",
        "deberta-v3-small",
        "modernbert-large",
    ):
        assert family in joined, family
    multi = PUBLIC_CHECKPOINT_SUITES["multiberts"].references(0)
    assert multi[1] == (20_000, "google/multiberts-seed_0-step_20k", None)
    assert multi[-1][0] == 2_000_000
    pythia = PUBLIC_CHECKPOINT_SUITES["pythia"].references(2)
    assert len(pythia) == 154 and pythia[-1] == (143_000, "EleutherAI/pythia-160m", "step143000")


# ---------------------------------------------------------------- CLI


def test_cli_runs_a_tiny_pretraining(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(synthetic_corpus(100)) + "\n", encoding="utf-8")
    parser = add_pretrain_arguments(argparse.ArgumentParser())
    args = parser.parse_args(
        [
            "--corpus", str(corpus), "--exclude-tasks", "", "--preset", "xs", "--layers", "1",
            "--hidden", "32", "--heads", "2", "--ffn", "64", "--vocab-size", "300",
            "--max-length", "32", "--batch-size", "4", "--steps", "3", "--save-every", "2",
            "--threads", "1", "--no-progress", "--out", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    assert run_pretrain_command(args) == 0
    assert [s for s, _ in list_checkpoints(tmp_path / "out")] == [0, 2, 3]
    assert "step 3/3" in capsys.readouterr().out


def test_module_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "idtheory.pretrain", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=60,
    ).stdout
    assert "--preset" in out and "--save-every" in out and "--corpus" in out


def test_the_command_line_covers_every_pretrain_config_field():
    """Every PretrainConfig field is an option, a switch, or API-only; the defaults of the
    parsed command line are PretrainConfig's; the options printed for a config parse back to
    it (figures print them: `figures.pretrain_command`)."""
    import argparse
    import dataclasses

    from idtheory.pretrain import cli as pcli

    fields = {f.name for f in dataclasses.fields(PretrainConfig)}
    named = set(pcli.CONFIG_OPTIONS) | set(pcli.CONFIG_SWITCHES) | pcli.CONFIG_ONLY
    assert named == fields
    parser = pcli.add_pretrain_arguments(argparse.ArgumentParser())
    assert pcli.config_from_args(parser.parse_args(["--out", "x"])) == PretrainConfig()
    config = PretrainConfig(
        preset="s", layers=3, steps=7, lr=1e-3, packing=False, save_initial=False, num_threads=1
    )
    chosen = {f: getattr(config, f) for f in (*pcli.CONFIG_OPTIONS, *pcli.CONFIG_SWITCHES)}
    words = " ".join(pcli.config_option_words(chosen)).split()
    assert "--no-packing" in words and "--no-initial" in words
    assert pcli.config_from_args(parser.parse_args([*words, "--out", "x"])) == config
