"""Tests of idtheory.tasks: registry, local GLUE/ANLI loaders, subsampling, metrics, errors."""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from idtheory import models, tasks
from idtheory.tasks import (
    DATA_ENV_VAR,
    TASKS,
    YELP_DEV_SIZE,
    TaskDataNotFound,
    compute_metrics,
    get_task,
    load_task,
    majority_rate,
    majority_score,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """No $IDTHEORY_DATA and no importable `datasets`."""
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "datasets", None)


def _write_sst2(root: Path, n: int) -> None:
    (root / "SST-2").mkdir(parents=True)
    lines = ["sentence\tlabel"] + [f'sentence "{i} \t{i % 2}' for i in range(n)]
    (root / "SST-2" / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- registry


def test_registry_contents() -> None:
    expected = {
        "mrpc": 2,
        "sst2": 2,
        "rte": 2,
        "cola": 2,
        "qqp": 2,
        "mnli": 3,
        "qnli": 2,
        "yelp": 2,
        "anli-r1": 3,
        "anli-r2": 3,
        "anli-r3": 3,
        "anli": 3,
    }
    assert {k: v.num_labels for k, v in TASKS.items()} == expected
    for spec in TASKS.values():
        assert spec.metrics[0] == "accuracy"
        assert len(spec.labels) == spec.num_labels
        assert spec.majority_note
    assert TASKS["mrpc"].metrics == ("accuracy", "f1")
    assert TASKS["qqp"].metrics == ("accuracy", "f1")
    assert TASKS["cola"].metrics == ("accuracy", "mcc")
    assert TASKS["rte"].labels[0] == "entailment"
    assert TASKS["mnli"].hub_splits["dev"] == ("validation_matched",)
    assert TASKS["anli"].hub_splits["train"] == ("train_r1", "train_r2", "train_r3")
    assert TASKS["sst2"].is_pair is False and TASKS["mrpc"].is_pair is True


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("SST-2", "sst2"),
        ("sst2", "sst2"),
        ("sst-2", "sst2"),
        ("Sst_2", "sst2"),
        ("MRPC", "mrpc"),
        ("anli-r1", "anli-r1"),
        ("ANLI_R2", "anli-r2"),
        ("anli r3", "anli-r3"),
        ("anli-all", "anli"),
        ("ANLI", "anli"),
        ("yelp_polarity", "yelp"),
        ("Yelp-Polarity", "yelp"),
        ("MNLI-m", "mnli"),
        ("qnli", "qnli"),
        ("QQP", "qqp"),
        ("CoLA", "cola"),
    ],
)
def test_aliases(alias: str, name: str) -> None:
    assert get_task(alias).name == name


def test_unknown_task_lists_known() -> None:
    with pytest.raises(ValueError, match="unknown task 'sst5'") as info:
        get_task("sst5")
    for name in ("mrpc", "sst2", "anli-r3", "yelp"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="known tasks"):
        load_task("wnli")


def test_unknown_split(real_data_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown split"):
        load_task("mrpc", "valid", data_dir=real_data_dir)
    assert len(load_task("mrpc", "validation", data_dir=real_data_dir)) == 408


# --------------------------------------------------------------------------- shared data


@pytest.mark.parametrize(
    ("task", "split", "n", "counts"),
    [
        ("mrpc", "train", 3668, {1: 2474, 0: 1194}),
        ("mrpc", "dev", 408, {1: 279, 0: 129}),
        ("sst2", "dev", 872, {1: 444, 0: 428}),
        ("rte", "train", 2490, {0: 1249, 1: 1241}),
        ("rte", "dev", 277, {0: 146, 1: 131}),
        ("cola", "train", 8551, {1: 6023, 0: 2528}),
        ("cola", "dev", 1043, {1: 721, 0: 322}),
        ("anli-r1", "dev", 1000, {0: 334, 1: 333, 2: 333}),
        ("anli-r3", "test", 1200, {0: 402, 1: 402, 2: 396}),
        ("anli", "dev", 3200, {0: 1070, 1: 1068, 2: 1062}),
    ],
)
def test_counts_and_labels(
    real_data_dir: Path, task: str, split: str, n: int, counts: dict[int, int]
) -> None:
    d = load_task(task, split, data_dir=real_data_dir)
    assert len(d) == len(d.texts) == n
    assert dict(Counter(d.labels)) == counts
    assert all(isinstance(y, int) for y in d.labels)
    n_fields = len(d.spec.text_fields)
    assert all(len(t) == n_fields and all(isinstance(s, str) and s for s in t) for t in d.texts)
    assert d.split == split and d.has_labels
    assert d.source.startswith(str(real_data_dir))


def test_label_conventions(real_data_dir: Path) -> None:
    rte = load_task("rte", "dev", data_dir=real_data_dir)
    # first RTE dev pair is labelled not_entailment in the file → 1 (hub convention)
    assert rte.texts[0][1] == "Christopher Reeve had an accident."
    assert rte.labels[0] == 1
    anli = load_task("anli-r1", "dev", data_dir=real_data_dir)
    assert anli.texts[0][0].startswith("Linguistics is the scientific study of language")
    assert anli.labels[0] == 2  # "c" → contradiction = 2
    cola = load_task("cola", "dev", data_dir=real_data_dir)
    # no header: the first line is an example, not column names
    assert cola.texts[0] == ("The sailors rode the breeze clear of the rocks.",)
    assert cola.labels[0] == 1


def test_mrpc_bom_and_quotes(real_data_dir: Path) -> None:
    raw = (real_data_dir / "MRPC" / "train.tsv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the case being tested is present
    d = load_task("mrpc", "train", data_dir=real_data_dir)
    assert d.labels[0] == 1 and type(d.labels[0]) is int  # BOM did not corrupt line 1/header
    assert d.texts[0][0].startswith("Amrozi accused his brother")
    # unbalanced quote at the start of a field: read intact, nothing swallowed
    pair = (
        '"We are declaring war on sexual harassment and sexual assault.',
        '"We have declared war on sexual assault and sexual harassment," Rosa said.',
    )
    assert pair in d.texts
    assert sum(t[0].count('"') % 2 for t in d.texts) > 0  # odd quote counts exist ...
    assert not any("\t" in s or "\n" in s for t in d.texts for s in t)  # ... and do not merge rows


def test_glue_test_split_unlabeled(real_data_dir: Path) -> None:
    d = load_task("mrpc", "test", data_dir=real_data_dir)
    assert len(d) == 1725
    assert set(d.labels) == {-1} and not d.has_labels
    assert all(len(t) == 2 for t in d.texts)


def test_env_var_and_precedence(
    real_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(real_data_dir))
    d = load_task("sst2", "dev")
    assert len(d) == 872 and d.source == str(real_data_dir / "SST-2" / "dev.tsv")
    # the data_dir argument wins over the env var when it has the files
    _write_sst2(tmp_path, 7)
    assert len(load_task("sst2", "train", data_dir=tmp_path)) == 7
    # ... and the env var is used when the argument's directory lacks them
    assert load_task("sst2", "dev", data_dir=tmp_path).source.startswith(str(real_data_dir))


def test_fixture_exercises_the_loader_conventions() -> None:
    """The tiny fixture of tests/data keeps the GLUE files' quirks, so a fresh clone tests them:
    MRPC's byte-order mark and unbalanced quotes, RTE's word labels, CoLA's missing header,
    unlabeled test splits."""
    from conftest import FIXTURE_DATA

    raw = (FIXTURE_DATA / "MRPC" / "train.tsv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    mrpc = load_task("mrpc", "train", data_dir=FIXTURE_DATA)
    assert mrpc.labels[0] in (0, 1) and not mrpc.texts[0][0].startswith("\ufeff")
    assert sum(t[0].count('"') % 2 for t in mrpc.texts) > 0  # an unbalanced quote ...
    assert not any("\t" in s or "\n" in s for t in mrpc.texts for s in t)  # ... swallows nothing
    assert len(mrpc) == len(raw.decode("utf-8-sig").splitlines()) - 1
    rte = load_task("rte", "dev", data_dir=FIXTURE_DATA)
    lines = (FIXTURE_DATA / "RTE" / "dev.tsv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines]
    assert rte.labels == [{"entailment": 0, "not_entailment": 1}[r[3]] for r in rows[1:]]
    cola = load_task("cola", "dev", data_dir=FIXTURE_DATA)
    first = (FIXTURE_DATA / "CoLA" / "dev.tsv").read_text().splitlines()[0].split("\t")
    assert cola.texts[0] == (first[3],) and cola.labels[0] == int(first[1])
    test = load_task("sst2", "test", data_dir=FIXTURE_DATA)
    assert len(test) > 0 and set(test.labels) == {-1} and not test.has_labels
    assert majority_rate(load_task("mrpc", "dev", data_dir=FIXTURE_DATA).labels) == 17 / 25


def test_tests_fall_back_to_the_fixture(tmp_path: Path) -> None:
    """Without the real data (IDTHEORY_DATA unset on a fresh clone, or pointing at a missing
    or fixture directory) the data tests use tests/data and the real-data tests skip."""
    from conftest import FIXTURE_DATA, find_real_data, resolve_data_dir

    for env in ({"IDTHEORY_DATA": str(tmp_path / "missing")}, {"IDTHEORY_DATA": str(FIXTURE_DATA)}):
        assert find_real_data(env) is None and resolve_data_dir(env) == FIXTURE_DATA
    (tmp_path / "MRPC").mkdir()
    (tmp_path / "MRPC" / "dev.tsv").write_text("Quality\n", encoding="utf-8")
    assert resolve_data_dir({"IDTHEORY_DATA": str(tmp_path)}) == tmp_path


def test_anli_train_not_local(data_dir: Path, no_sources: None) -> None:
    with pytest.raises(TaskDataNotFound) as info:
        load_task("anli-r1", "train", data_dir=data_dir)
    msg = str(info.value)
    assert "facebook/anli" in msg and "train_r1" in msg and "hub" in msg


def test_majority_rate_shared(real_data_dir: Path) -> None:
    d = load_task("mrpc", "dev", data_dir=real_data_dir)
    assert majority_rate(d.labels) == pytest.approx(279 / 408)


def test_majority_score_is_the_constant_predictor_metric(real_data_dir: Path) -> None:
    """The floor a fine-tuned model must beat, in each metric (MRPC dev: 279 of 408 positive)."""
    assert majority_score("mrpc", "accuracy", real_data_dir) == pytest.approx(279 / 408)
    # F1 of "always paraphrase": precision 279/408, recall 1
    assert majority_score("mrpc", "f1", real_data_dir) == pytest.approx(2 * 279 / (2 * 279 + 129))
    assert majority_score("cola", "mcc", real_data_dir) == 0.0  # a constant predictor has MCC 0
    # RTE dev: the majority is label 0 (entailment, 146 of 277), not the largest label
    assert majority_score("rte", "accuracy", real_data_dir) == pytest.approx(146 / 277)


# --------------------------------------------------------------------------- synthetic data


def test_subsample_deterministic(tmp_path: Path, no_sources: None) -> None:
    _write_sst2(tmp_path, 100)
    full = load_task("sst2", data_dir=tmp_path)
    assert len(full) == 100
    assert full.texts[3] == ('sentence "3 ',)  # unbalanced quote, trailing space kept
    a = load_task("sst2", data_dir=tmp_path, max_examples=20, seed=3)
    b = load_task("sst2", data_dir=tmp_path, max_examples=20, seed=3)
    c = load_task("sst2", data_dir=tmp_path, max_examples=20, seed=4)
    assert a.texts == b.texts and a.labels == b.labels
    assert a.texts != c.texts
    assert len(a) == 20 and len(set(a.texts)) == 20  # without replacement
    pairs = set(zip(full.texts, full.labels))
    assert all(p in pairs for p in zip(a.texts, a.labels))
    small = load_task("sst2", data_dir=tmp_path, max_examples=5, seed=3)
    assert small.texts == a.texts[:5]  # nested draws
    assert len(load_task("sst2", data_dir=tmp_path, max_examples=500)) == 100
    assert len(load_task("sst2", data_dir=tmp_path, max_examples=0)) == 0
    with pytest.raises(ValueError, match="max_examples"):
        load_task("sst2", data_dir=tmp_path, max_examples=-1)


def test_missing_data_error(tmp_path: Path, no_sources: None) -> None:
    with pytest.raises(TaskDataNotFound) as info:
        load_task("mrpc", "train", data_dir=tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    msg = str(info.value)
    assert str(tmp_path) in msg
    assert DATA_ENV_VAR in msg
    assert "datasets" in msg and "nyu-mll/glue" in msg
    assert "MRPC/train.tsv" in msg


def test_malformed_row_raises(tmp_path: Path, no_sources: None) -> None:
    (tmp_path / "RTE").mkdir()
    (tmp_path / "RTE" / "dev.tsv").write_text(
        "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tonly two\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="expected 4 columns"):
        load_task("rte", "dev", data_dir=tmp_path)
    (tmp_path / "RTE" / "dev.tsv").write_text(
        "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="unexpected label 'maybe'"):
        load_task("rte", "dev", data_dir=tmp_path)


def test_yelp_holdout(tmp_path: Path, no_sources: None) -> None:
    n = YELP_DEV_SIZE + 50
    folder = tmp_path / "yelp_review_polarity_csv"
    folder.mkdir()
    rows = [f'"{1 + i % 2}","review {i}\\nline two, ""quoted"""' for i in range(n)]
    (folder / "train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    train = load_task("yelp", "train", data_dir=tmp_path)
    dev = load_task("yelp", "dev", data_dir=tmp_path)
    assert len(train) == 50 and len(dev) == YELP_DEV_SIZE
    assert not set(train.texts) & set(dev.texts)
    assert len(set(train.texts) | set(dev.texts)) == n
    first = sorted(train.texts + dev.texts, key=lambda t: int(t[0].split()[1]))[0]
    assert first == ('review 0\nline two, "quoted"',)
    assert set(train.labels) | set(dev.labels) == {0, 1}  # CSV 1/2 → 0/1
    assert "hold-out" in dev.source
    assert load_task("yelp", "dev", data_dir=tmp_path).texts == dev.texts


class _FakeDatasets:
    """Stands in for the `datasets` module: load_dataset returns columns as a dict."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[Any, ...]] = []

    def load_dataset(self, *args: Any, split: str) -> dict[str, list[Any]]:
        self.calls.append((*args, split))
        if self.fail:
            raise ConnectionError("offline")
        return {"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": [1, 0]}


def test_hub_fallback_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(models, "_hub_answers", lambda endpoint: True)  # the hub is up
    fake = _FakeDatasets()
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.warns(UserWarning, match="Hugging Face hub"):
        d = load_task("mrpc", "dev", data_dir=tmp_path)
    assert fake.calls == [("nyu-mll/glue", "mrpc", "validation")]
    assert d.texts == [("a", "c"), ("b", "d")] and d.labels == [1, 0]
    assert d.source == "hf://nyu-mll/glue/mrpc[validation]"
    monkeypatch.setitem(sys.modules, "datasets", _FakeDatasets(fail=True))
    with pytest.raises(TaskDataNotFound, match="ConnectionError") as info:
        tasks.load_task("mrpc", "dev")
    assert "\n" not in str(info.value)  # a connection error: one line


# --------------------------------------------------------------------------- metrics


def test_metrics_known_values() -> None:
    # tp=2, fp=1, fn=1, tn=2 → precision = recall = 2/3, f1 = 2/3, accuracy = 4/6
    m = compute_metrics("mrpc", [1, 1, 0, 1, 0, 0], [1, 0, 0, 1, 1, 0])
    assert m == pytest.approx({"accuracy": 4 / 6, "f1": 2 / 3})
    # tp=2, fp=1, fn=1, tn=1 → mcc = (2·1 − 1·1) / sqrt(3·3·2·2) = 1/6
    m = compute_metrics("cola", [1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert m == pytest.approx({"accuracy": 0.6, "mcc": 1 / 6})
    # scikit-learn docs example: y_true=[+1,+1,+1,-1], y_pred=[+1,-1,+1,+1] → −1/3
    assert compute_metrics("cola", [1, 0, 1, 1], [1, 1, 1, 0])["mcc"] == pytest.approx(-1 / 3)
    assert compute_metrics("cola", [0, 1, 1], [0, 1, 1])["mcc"] == pytest.approx(1.0)
    assert compute_metrics("cola", [1, 0, 0], [0, 1, 1])["mcc"] == pytest.approx(-1.0)
    assert compute_metrics("cola", [1, 1, 1], [0, 1, 1])["mcc"] == 0.0  # constant predictor
    assert compute_metrics("qqp", [0, 0], [0, 0])["f1"] == 0.0  # no positives anywhere
    assert set(compute_metrics("rte", [0, 1], [0, 0])) == {"accuracy"}
    # 3-class MCC: tp on diag 2 of 4, formula (c·s − Σ p_k t_k) / sqrt((s² − Σp²)(s² − Σt²))
    y, p = [0, 1, 2, 2], [0, 2, 2, 1]
    expected = (2 * 4 - (1 + 1 + 2 * 2)) / np.sqrt((16 - (1 + 1 + 4)) * (16 - (1 + 1 + 4)))
    spec = tasks.TASKS["anli"]
    assert tasks._mcc(np.array(p), np.array(y), spec.num_labels) == pytest.approx(expected)
    # predicted and true class counts differ (5:1 against 4:2): tp 4, fp 1, fn 0, tn 1
    m = compute_metrics("cola", [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0])
    assert m["mcc"] == pytest.approx((4 * 1 - 1 * 0) / math.sqrt(5 * 4 * 2 * 1))


@pytest.mark.parametrize("k", [2, 3])
def test_mcc_is_the_correlation_of_the_one_hot_codes(k: int) -> None:
    """Gorodkin's multi-class MCC as the covariance of the one-hot codes of predictions and
    labels over the square root of their variances (written here from that definition), on
    random labels with unequal predicted and true class counts."""
    rng = np.random.default_rng(k)
    for _ in range(20):
        y = rng.integers(0, k, 40)
        p = np.where(rng.random(40) < 0.6, y, rng.integers(0, k, 40))
        Y, P = np.eye(k)[y], np.eye(k)[p]

        def cov(a: np.ndarray, b: np.ndarray) -> float:
            return float(((a - a.mean(0)) * (b - b.mean(0))).sum())

        expected = cov(Y, P) / math.sqrt(cov(Y, Y) * cov(P, P))
        assert tasks._mcc(p, y, k) == pytest.approx(expected, rel=1e-12)


def test_metrics_inputs() -> None:
    logits = np.array([[0.1, 0.9], [2.0, -1.0], [0.0, 3.0]])
    assert compute_metrics("sst2", logits, [1, 0, 0])["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="differ in length"):
        compute_metrics("sst2", [1, 0], [1])
    with pytest.raises(ValueError, match="hidden"):
        compute_metrics("sst2", [1, 0], [-1, -1])
    with pytest.raises(ValueError, match=r"0\.\.1"):
        compute_metrics("sst2", [2, 0], [1, 0])
    with pytest.raises(ValueError):
        compute_metrics("sst2", [], [])
    assert majority_rate([1, 1, 0]) == pytest.approx(2 / 3)
    assert majority_rate(np.array([2, 2, 2])) == 1.0
    with pytest.raises(ValueError):
        majority_rate([])


def test_no_torch_import() -> None:
    import subprocess

    code = "import sys, idtheory.tasks; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- GLUE stays put


@pytest.mark.parametrize(
    ("task", "split", "n", "seed", "size", "digest"),
    [
        ("mrpc", "train", None, 0, 3668, "11bbbab613ed9755"),
        ("mrpc", "train", 500, 3, 500, "6ca4af798c9e9ce8"),
        ("mrpc", "dev", None, 0, 408, "910cfebaa52f38f1"),
        ("mrpc", "dev", 100, 0, 100, "cf10e80642cd16c9"),
        ("sst2", "train", 500, 3, 500, "7e95709824266acf"),
        ("sst2", "dev", None, 0, 872, "c3f881503145980e"),
        ("sst2", "dev", 100, 0, 100, "c704429cd150f461"),
    ],
)
def test_glue_examples_order_and_subsamples_are_pinned(
    data_dir: Path, task: str, split: str, n: int | None, seed: int, size: int, digest: str
) -> None:
    """Stored run hashes and results depend on exactly these examples, in this order, with
    this seeded subsampling: any change to the data layer must leave them identical."""
    import hashlib
    import json

    d = load_task(task, split, data_dir=data_dir, max_examples=n, seed=seed)
    blob = json.dumps([d.texts, d.labels], ensure_ascii=False).encode()
    assert (len(d), hashlib.sha256(blob).hexdigest()[:16]) == (size, digest)


# --------------------------------------------------------------------------- a user's own files


def _own_files(tmp_path: Path) -> tuple[Path, Path]:
    train = tmp_path / "reviews.csv"
    train.write_text(
        'question,answer,y\n"Is it, really?",yes,pos\nwhy,"because ""x""",neg\nhow,so,pos\n',
        encoding="utf-8",
    )
    dev = tmp_path / "dev.jsonl"
    dev.write_text(
        '{"question": "a", "answer": "b", "y": "neg"}\n\n'
        '{"question": "c", "answer": "d", "y": "pos"}\n',
        encoding="utf-8",
    )
    return train, dev


def test_file_task_loads_csv_and_jsonl(tmp_path: Path) -> None:
    train, dev = _own_files(tmp_path)
    name = tasks.file_task(train, dev, ["question", "answer"], "y")
    spec = get_task(name)
    assert spec.is_pair and spec.labels == ("neg", "pos") and spec.num_labels == 2
    data = load_task(name, "train")
    assert data.texts == [("Is it, really?", "yes"), ("why", 'because "x"'), ("how", "so")]
    assert data.labels == [1, 0, 1]
    assert load_task(name, "dev").labels == [0, 1]
    # the seeded subsample follows load_task's rule for every task
    idx = np.random.default_rng(5).permutation(3)[:2]
    assert load_task(name, "train", max_examples=2, seed=5).labels == [data.labels[i] for i in idx]
    assert tasks.display_name(name) == "reviews" and tasks.display_name("mrpc") == "mrpc"
    assert tasks.majority_score(name, "accuracy") == 0.5
    assert set(tasks.compute_metrics(name, [0, 1], [0, 1])) == {"accuracy", "f1", "mcc"}
    with pytest.raises(tasks.TaskDataNotFound, match="no 'test' file"):
        load_task(name, "test")


def test_file_task_keeps_integer_labels_and_reads_tsv(tmp_path: Path) -> None:
    (tmp_path / "t.tsv").write_text('text\tlabel\na "quote\t2\nb\t0\nc\t1\n', encoding="utf-8")
    name = tasks.file_task(tmp_path / "t.tsv", tmp_path / "t.tsv", ["text"], name="three")
    assert load_task(name, "dev").labels == [2, 0, 1]
    assert load_task(name, "dev").texts[0] == ('a "quote',)  # TSV: no quoting
    assert get_task(name).metrics == ("accuracy", "mcc")


def test_file_task_is_keyed_by_content(tmp_path: Path) -> None:
    train, dev = _own_files(tmp_path)
    name = tasks.file_task(train, dev, ["question", "answer"], "y")
    assert tasks.file_task(train, dev, ["question", "answer"], "y") == name
    train.write_text(train.read_text() + "when,now,neg\n")
    tasks._file_task_spec.cache_clear()
    with pytest.raises(ValueError, match="changed since"):
        load_task(name, "train")
    assert tasks.file_task(train, dev, ["question", "answer"], "y") != name


@pytest.mark.parametrize(
    ("columns", "label", "message"),
    [
        (["question", "nope"], "y", "no column 'nope'"),
        (["question"], "nope", "no column 'nope'"),
        (["question", "answer", "y"], "y", "1 or 2 text columns"),
    ],
)
def test_file_task_errors(tmp_path: Path, columns: list[str], label: str, message: str) -> None:
    train, _ = _own_files(tmp_path)
    with pytest.raises(ValueError, match=message):
        tasks.file_task(train, train, columns, label)


def test_file_task_file_errors(tmp_path: Path) -> None:
    train, _ = _own_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="dev file"):
        tasks.file_task(train, tmp_path / "missing.csv", ["question"], "y")
    (tmp_path / "data.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown file type"):
        tasks.file_task(train, tmp_path / "data.parquet", ["question"], "y")
    (tmp_path / "one.csv").write_text("question,y\na,pos\n")
    with pytest.raises(ValueError, match="fewer than two classes"):
        tasks.file_task(tmp_path / "one.csv", tmp_path / "one.csv", ["question"], "y")


def test_records_task_from_rows_in_memory(tmp_path: Path) -> None:
    """A datasets.Dataset iterates as one dict per row; a list of dicts and a dict of columns
    (Dataset.to_dict()) give the same files and the same task."""
    rows = [{"sentence": f"s{i}", "label": np.int64(i % 3), "extra": i} for i in range(6)]
    columns = {k: [r[k] for r in rows] for k in ("sentence", "label")}
    a = tasks.records_task(rows, rows[:3], ["sentence"], directory=tmp_path, name="mine")
    b = tasks.records_task(columns, rows[:3], ["sentence"], directory=tmp_path, name="mine")
    assert a == b and tasks.display_name(a) == "mine"
    assert sorted(p.name.split("-")[1] for p in tmp_path.glob("mine-*.jsonl")) == ["dev", "train"]
    data = load_task(a, "train")
    assert data.texts == [(f"s{i}",) for i in range(6)] and data.labels == [0, 1, 2, 0, 1, 2]
    assert get_task(a).num_labels == 3
    with pytest.raises(ValueError, match="no column 'text'"):
        tasks.records_task(rows, rows, ["text"], directory=tmp_path)


def test_the_scored_dev_subset_is_the_trainers_whatever_its_training_seed(data_dir: Path) -> None:
    """The trainer's dev subset (`train.load_run_data`) does not move with the training seed,
    and `scored_dev_majority` scores exactly it; the training subset does move."""
    from idtheory.config import TrainConfig
    from idtheory.tasks import majority_rate, scored_dev_majority
    from idtheory.train import load_run_data

    runs = [TrainConfig(max_train_examples=64, max_eval_examples=32, seed=s) for s in (0, 7)]
    devs = [load_run_data("mrpc", "dev", c, data_dir) for c in runs]
    trains = [load_run_data("mrpc", "train", c, data_dir) for c in runs]
    assert devs[0].labels == devs[1].labels and len(devs[0].labels) == 32
    assert trains[0].texts != trains[1].texts and len(trains[0]) == 64
    whole = scored_dev_majority("mrpc", "accuracy", data_dir)
    subset = scored_dev_majority("mrpc", "accuracy", data_dir, 32)
    assert subset == pytest.approx(majority_rate(devs[0].labels)) and subset != pytest.approx(whole)
