"""Registry and loaders of the classification tasks of Aghajanyan et al. (2021).

No torch import: this module only needs the standard library and numpy (``datasets`` is
imported lazily, and only when the local files are missing). The rows it returns become a
``datasets.Dataset`` and are tokenized with a cache in :mod:`idtheory.data`.

Conventions
-----------

* **Task names** are case-insensitive; ``-``, ``_``, spaces, ``/`` and ``.`` are ignored when
  matching, so ``"SST-2"``, ``"sst_2"`` and ``"sst2"`` are the same task, as are ``"anli-r1"``,
  ``"ANLI_R1"`` and ``"anlir1"``. Canonical names are the keys of :data:`TASKS`.
* **Splits** are ``"train"``, ``"dev"`` and ``"test"`` (``"validation"`` is accepted for
  ``"dev"``). MNLI ``dev``/``test`` are the *matched* sets. Yelp Polarity has no dev set: its
  ``dev`` is a fixed hold-out of :data:`YELP_DEV_SIZE` training examples (chosen by a
  permutation seeded with :data:`YELP_HOLDOUT_SEED`, independent of ``load_task``'s ``seed``)
  and its ``train`` is the remaining examples, in their original order.
* **Labels** are integers ``0 .. num_labels-1`` numbered as on the Hugging Face hub
  (``nyu-mll/glue``, ``facebook/anli``, ``fancyzhx/yelp_polarity``): RTE/QNLI
  ``entailment=0, not_entailment=1``; MNLI/ANLI ``entailment=0, neutral=1, contradiction=2``
  (ANLI files: ``e/n/c``); Yelp ``negative=0, positive=1`` (original CSV: ``1/2``); MRPC, SST-2,
  CoLA, QQP keep their 0/1 with 1 = paraphrase / positive / acceptable / duplicate.
  Unlabeled GLUE test sets get the hub's hidden label ``-1`` (see :attr:`TaskData.has_labels`).
* **Texts** are kept exactly as stored (no stripping: SST-2 sentences end with a space, as in
  GLUE and on the hub); every example is a tuple of 1 or 2 strings, in the order of
  :attr:`TaskSpec.text_fields`.
* **Sources**, first hit wins: the ``data_dir`` argument, then the directory in the environment
  variable ``IDTHEORY_DATA`` (both with the GLUE TSV / ANLI JSONL layout of ``docs/data.md``: one
  folder per task, e.g. ``MRPC/train.tsv``, ``ANLI/R1/dev.jsonl``), then the Hugging Face hub
  through ``datasets``. :attr:`TaskData.source` records which one was used; when a local
  directory was configured but lacked the files a warning is issued before using the hub, and
  when nothing works :class:`TaskDataNotFound` says where it looked. An offline hub
  (``HF_HUB_OFFLINE`` set and the split not in its cache, or an endpoint that does not answer
  :func:`idtheory.models.hub_unreachable`'s probe) gives a one-line error at once.
* **Your own data**: :func:`file_task` turns a training and a dev file (CSV, TSV or JSON lines;
  one or two text columns and a label column) into a task name that every function here, the
  trainer and the d90 search accept; those files are its only source.
* **Reading**: TSVs with quoting disabled (sentences contain unbalanced ``"``) and encoding
  ``utf-8-sig`` (the MRPC train/dev files start with a byte-order mark).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib
import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DATA_ENV_VAR",
    "DEV_SUBSET_SEED",
    "FILE_TASK_PREFIX",
    "SPLITS",
    "TASKS",
    "YELP_DEV_SIZE",
    "YELP_HOLDOUT_SEED",
    "LocalSplit",
    "TaskData",
    "TaskDataNotFound",
    "TaskSpec",
    "compute_metrics",
    "display_name",
    "file_task",
    "get_task",
    "load_task",
    "majority_rate",
    "majority_score",
    "records_task",
    "scored_dev_majority",
    "task_names",
]

DATA_ENV_VAR = "IDTHEORY_DATA"
"""Environment variable naming a local data directory (GLUE TSV / ANLI JSONL layout)."""

SPLITS = ("train", "dev", "test")

YELP_DEV_SIZE = 10_000
"""Number of Yelp Polarity training examples held out as the ``dev`` split."""

YELP_HOLDOUT_SEED = 0
"""Seed of the permutation that picks the Yelp ``dev`` hold-out (fixed, not ``load_task``'s)."""

DEV_SUBSET_SEED = 0
"""Seed of the random dev subset the trainer scores when ``TrainConfig.max_eval_examples`` is set
(the same subset for every run, whatever its training seed)."""

HIDDEN_LABEL = -1
"""Label of unlabeled (GLUE test) examples, as on the Hugging Face hub."""


class TaskDataNotFound(FileNotFoundError):
    """Neither a local data directory nor the Hugging Face hub could provide a split."""


@dataclass(frozen=True)
class LocalSplit:
    """Where one split lives in a local data directory and how to parse it.

    Attributes:
        paths: file paths relative to the data directory; several files are concatenated in
            order (ANLI all rounds).
        text_columns: column names (files with a header / JSON keys) or 0-based indices
            (headerless files), in the order of :attr:`TaskSpec.text_fields`.
        label_column: column name / index / JSON key of the label; None for unlabeled files.
        fmt: ``"tsv"`` (quoting disabled), ``"csv"`` (standard quoting, no header, Yelp) or
            ``"jsonl"``.
        header: whether a TSV starts with a header line.
        skip_malformed: drop rows whose number of columns differs from the header's (the few
            broken lines of the original GLUE QQP files) instead of raising ``ValueError``.
        backslash_escapes: texts spell newlines and quotes as ``\\n`` and ``\\"`` (the Zhang
            et al. 2015 CSVs, Yelp); they are unescaped.
    """

    paths: tuple[str, ...]
    text_columns: tuple[str | int, ...]
    label_column: str | int | None
    fmt: str = "tsv"
    header: bool = True
    skip_malformed: bool = False
    backslash_escapes: bool = False


@dataclass(frozen=True)
class TaskSpec:
    """Static description of one task.

    Attributes:
        name: canonical (lower-case) name, the key in :data:`TASKS`.
        text_fields: names of the text fields, as on the hub (1 or 2 of them).
        labels: label names; position = integer label (hub convention).
        num_labels: ``len(labels)``.
        metrics: metric names reported by :func:`compute_metrics` (``accuracy`` always first).
        local: split → :class:`LocalSplit` in a local data directory (missing split: hub only).
        label_map: raw label string in the local files → integer label.
        hub_id / hub_config: arguments of ``datasets.load_dataset``.
        hub_splits: split → hub split name(s); several names are concatenated.
        hub_label_field: label column on the hub.
        dev_holdout: if set, ``dev`` is this many examples held out of ``train`` (Yelp).
        majority_note: majority-class rate(s) for reference.
        description: human-readable name and notes.
        aliases: extra accepted names (matched after normalisation).
        files_root: set for a task made of a user's own files (:func:`file_task`): the
            :attr:`local` paths are under this directory, the only source looked at.
    """

    name: str
    text_fields: tuple[str, ...]
    labels: tuple[str, ...]
    num_labels: int
    metrics: tuple[str, ...]
    local: Mapping[str, LocalSplit]
    label_map: Mapping[str, int]
    hub_id: str
    hub_config: str | None
    hub_splits: Mapping[str, tuple[str, ...]]
    hub_label_field: str = "label"
    dev_holdout: int | None = None
    majority_note: str = ""
    description: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)
    files_root: str | None = None

    def __post_init__(self) -> None:
        if self.num_labels != len(self.labels):
            raise ValueError(f"{self.name}: num_labels != len(labels)")
        if not 1 <= len(self.text_fields) <= 2:
            raise ValueError(f"{self.name}: 1 or 2 text fields expected")

    @property
    def is_pair(self) -> bool:
        """True for sentence-pair tasks."""
        return len(self.text_fields) == 2


@dataclass
class TaskData:
    """Examples of one split of one task.

    Attributes:
        texts: one tuple of 1 or 2 strings per example.
        labels: integer labels (hub convention), ``-1`` where hidden (GLUE test sets).
        spec: the task.
        split: ``"train"``, ``"dev"`` or ``"test"``.
        source: the file(s) or hub dataset the examples came from.
    """

    texts: list[tuple[str, ...]]
    labels: list[int]
    spec: TaskSpec
    split: str
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def has_labels(self) -> bool:
        """False when the labels are hidden (``-1``), as for the GLUE test sets."""
        return bool(self.labels) and all(lab != HIDDEN_LABEL for lab in self.labels)


# --------------------------------------------------------------------------- registry

_GLUE = "nyu-mll/glue"
_BIN = {"0": 0, "1": 1}
_ENT2 = {"entailment": 0, "not_entailment": 1}
_NLI3 = {"entailment": 0, "neutral": 1, "contradiction": 2}
_ANLI = {"e": 0, "n": 1, "c": 2}


def _glue_hub(dev: str = "validation", test: str = "test") -> dict[str, tuple[str, ...]]:
    return {"train": ("train",), "dev": (dev,), "test": (test,)}


def _glue_local(
    folder: str,
    columns: tuple[str, ...],
    label: str,
    dev: str = "dev",
    test: str = "test",
    skip_malformed: bool = False,
) -> dict[str, LocalSplit]:
    """The three splits of a GLUE task's TSV files with a header: ``<folder>/train.tsv``,
    ``<folder>/<dev>.tsv`` (labelled in ``label``) and ``<folder>/<test>.tsv`` (unlabelled), the
    texts in ``columns``."""
    files = {"train": "train", "dev": dev, "test": test}
    return {
        split: LocalSplit(
            (f"{folder}/{name}.tsv",),
            columns,
            None if split == "test" else label,
            skip_malformed=skip_malformed,
        )
        for split, name in files.items()
    }


def _anli_local(rounds: Sequence[str]) -> dict[str, LocalSplit]:
    cols = ("context", "hypothesis")
    return {
        split: LocalSplit(
            tuple(f"ANLI/{r}/{split}.jsonl" for r in rounds), cols, "label", fmt="jsonl"
        )
        for split in ("dev", "test")
    }


def _anli_spec(name: str, rounds: Sequence[str], note: str, aliases: tuple[str, ...]) -> TaskSpec:
    suffixes = [r.lower() for r in rounds]
    return TaskSpec(
        name=name,
        text_fields=("premise", "hypothesis"),
        labels=("entailment", "neutral", "contradiction"),
        num_labels=3,
        metrics=("accuracy",),
        local=_anli_local(rounds),
        label_map=_ANLI,
        hub_id="facebook/anli",
        hub_config=None,
        hub_splits={
            "train": tuple(f"train_{s}" for s in suffixes),
            "dev": tuple(f"dev_{s}" for s in suffixes),
            "test": tuple(f"test_{s}" for s in suffixes),
        },
        majority_note=note,
        description=(
            f"Adversarial NLI v1.0, round(s) {', '.join(rounds)}. Local files hold dev/test only; "
            "the training sets come from the hub (facebook/anli). Do not tune on test."
        ),
        aliases=aliases,
    )


def _build_registry() -> dict[str, TaskSpec]:
    specs = [
        TaskSpec(
            name="mrpc",
            text_fields=("sentence1", "sentence2"),
            labels=("not_equivalent", "equivalent"),
            num_labels=2,
            metrics=("accuracy", "f1"),
            local=_glue_local("MRPC", ("#1 String", "#2 String"), "Quality"),
            label_map=_BIN,
            hub_id=_GLUE,
            hub_config="mrpc",
            hub_splits=_glue_hub(),
            majority_note="dev 68.4% (279/408, equivalent); train 67.4% (2474/3668)",
            description="Microsoft Research Paraphrase Corpus (GLUE); f1 of class 1.",
            aliases=("msrp", "glue-mrpc"),
        ),
        TaskSpec(
            name="sst2",
            text_fields=("sentence",),
            labels=("negative", "positive"),
            num_labels=2,
            metrics=("accuracy",),
            local=_glue_local("SST-2", ("sentence",), "label"),
            label_map=_BIN,
            hub_id=_GLUE,
            hub_config="sst2",
            hub_splits=_glue_hub(),
            majority_note="dev 50.9% (444/872, positive); train 55.8% (37569/67349)",
            description="Stanford Sentiment Treebank, binary (GLUE).",
            aliases=("sst", "glue-sst2"),
        ),
        TaskSpec(
            name="rte",
            text_fields=("sentence1", "sentence2"),
            labels=("entailment", "not_entailment"),
            num_labels=2,
            metrics=("accuracy",),
            local=_glue_local("RTE", ("sentence1", "sentence2"), "label"),
            label_map=_ENT2,
            hub_id=_GLUE,
            hub_config="rte",
            hub_splits=_glue_hub(),
            majority_note="dev 52.7% (146/277, entailment); train 50.2% (1249/2490)",
            description="Recognizing Textual Entailment (GLUE); entailment=0.",
            aliases=("glue-rte",),
        ),
        TaskSpec(
            name="cola",
            text_fields=("sentence",),
            labels=("unacceptable", "acceptable"),
            num_labels=2,
            metrics=("accuracy", "mcc"),
            local={
                # train/dev: no header; columns source, label, original mark, sentence.
                "train": LocalSplit(("CoLA/train.tsv",), (3,), 1, header=False),
                "dev": LocalSplit(("CoLA/dev.tsv",), (3,), 1, header=False),
                "test": LocalSplit(("CoLA/test.tsv",), ("sentence",), None),
            },
            label_map=_BIN,
            hub_id=_GLUE,
            hub_config="cola",
            hub_splits=_glue_hub(),
            majority_note="dev 69.1% (721/1043, acceptable; mcc 0); train 70.4% (6023/8551)",
            description="Corpus of Linguistic Acceptability (GLUE); Matthews correlation.",
            aliases=("glue-cola",),
        ),
        TaskSpec(
            name="qqp",
            text_fields=("question1", "question2"),
            labels=("not_duplicate", "duplicate"),
            num_labels=2,
            metrics=("accuracy", "f1"),
            local=_glue_local(
                "QQP", ("question1", "question2"), "is_duplicate", skip_malformed=True
            ),
            label_map=_BIN,
            hub_id=_GLUE,
            hub_config="qqp",
            hub_splits=_glue_hub(),
            majority_note="dev ≈63.2% (not_duplicate; 40,430 pairs); not in shared/data",
            description="Quora Question Pairs (GLUE); f1 of class 1 (duplicate). Hub only here.",
            aliases=("quora", "glue-qqp"),
        ),
        TaskSpec(
            name="mnli",
            text_fields=("premise", "hypothesis"),
            labels=("entailment", "neutral", "contradiction"),
            num_labels=3,
            metrics=("accuracy",),
            local=_glue_local(
                "MNLI",
                ("sentence1", "sentence2"),
                "gold_label",
                dev="dev_matched",
                test="test_matched",
            ),
            label_map=_NLI3,
            hub_id=_GLUE,
            hub_config="mnli",
            hub_splits=_glue_hub(dev="validation_matched", test="test_matched"),
            majority_note="dev-matched ≈35.4% (entailment; 9,815 pairs); not in shared/data",
            description="MultiNLI (GLUE), matched dev/test. Hub only here.",
            aliases=("multinli", "mnli-m", "mnli-matched", "glue-mnli"),
        ),
        TaskSpec(
            name="qnli",
            text_fields=("question", "sentence"),
            labels=("entailment", "not_entailment"),
            num_labels=2,
            metrics=("accuracy",),
            local=_glue_local("QNLI", ("question", "sentence"), "label"),
            label_map=_ENT2,
            hub_id=_GLUE,
            hub_config="qnli",
            hub_splits=_glue_hub(),
            majority_note="dev ≈50.5% (5,463 pairs, nearly balanced); not in shared/data",
            description="Question NLI (GLUE); entailment=0. Hub only here.",
            aliases=("glue-qnli",),
        ),
        TaskSpec(
            name="yelp",
            text_fields=("text",),
            labels=("negative", "positive"),
            num_labels=2,
            metrics=("accuracy",),
            local={
                # The original archive yelp_review_polarity_csv.tgz (Zhang et al. 2015),
                # extracted into the data directory: label (1/2), text; standard CSV quoting.
                "train": LocalSplit(
                    ("yelp_review_polarity_csv/train.csv",),
                    (1,),
                    0,
                    fmt="csv",
                    header=False,
                    backslash_escapes=True,
                ),
                "test": LocalSplit(
                    ("yelp_review_polarity_csv/test.csv",),
                    (1,),
                    0,
                    fmt="csv",
                    header=False,
                    backslash_escapes=True,
                ),
            },
            label_map={"1": 0, "2": 1},
            hub_id="fancyzhx/yelp_polarity",
            hub_config=None,
            hub_splits={"train": ("train",), "test": ("test",)},
            dev_holdout=YELP_DEV_SIZE,
            majority_note="balanced: 50% (train 280,000 per class; test 19,000 per class)",
            description=(
                "Yelp Polarity (Zhang et al. 2015). No official dev split: 'dev' is a fixed "
                f"hold-out of {YELP_DEV_SIZE} training reviews (permutation seed "
                f"{YELP_HOLDOUT_SEED}) and 'train' is the rest. Hub only here."
            ),
            aliases=("yelp-polarity", "yelp_polarity", "yelppolarity"),
        ),
        _anli_spec(
            "anli-r1", ("R1",), "dev/test 33.4% (334/1000, entailment)", ("anli1", "anli-round1")
        ),
        _anli_spec(
            "anli-r2", ("R2",), "dev/test 33.4% (334/1000, entailment)", ("anli2", "anli-round2")
        ),
        _anli_spec(
            "anli-r3",
            ("R3",),
            "dev/test 33.5% (402/1200, entailment or neutral)",
            ("anli3", "anli-round3"),
        ),
        _anli_spec(
            "anli",
            ("R1", "R2", "R3"),
            "dev/test 33.4% (1070/3200, entailment)",
            ("anli-all", "anli-r1r2r3", "anli-r123"),
        ),
    ]
    return {s.name: s for s in specs}


TASKS: dict[str, TaskSpec] = _build_registry()
"""Canonical task name → :class:`TaskSpec`."""


def _normalise(name: str) -> str:
    """``name`` as task names are matched: lower case, without ``-``, ``_``, spaces, ``/``
    and ``.``."""
    return "".join(ch for ch in name.lower() if ch not in "-_ /.")


_ALIASES: dict[str, str] = {}
for _spec in TASKS.values():
    for _alias in (_spec.name, *_spec.aliases):
        _ALIASES[_normalise(_alias)] = _spec.name


def task_names() -> list[str]:
    """Canonical task names, in registry order."""
    return list(TASKS)


def get_task(name: str | TaskSpec) -> TaskSpec:
    """Look up a task by name or alias (case-insensitive; ``-``, ``_``, spaces, ``/`` and ``.``
    ignored: the module's naming convention).

    Raises:
        ValueError: unknown name; the message lists the known tasks.
    """
    if isinstance(name, TaskSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"task name must be a str, got {type(name).__name__}")
    if name.startswith(FILE_TASK_PREFIX):
        return _file_task_spec(name)
    key = _ALIASES.get(_normalise(name))
    if key is None:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[key]


# --------------------------------------------------------------------------- readers


def _parse_label(raw: str, spec: TaskSpec, where: str) -> int:
    value = raw.strip()
    try:
        return spec.label_map[value]
    except KeyError:
        raise ValueError(
            f"{where}: unexpected label {raw!r} for task {spec.name} "
            f"(expected one of {sorted(spec.label_map)})"
        ) from None


def _read_delimited(
    path: Path, ls: LocalSplit, spec: TaskSpec
) -> tuple[list[tuple[str, ...]], list[int]]:
    texts: list[tuple[str, ...]] = []
    labels: list[int] = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        if ls.fmt == "tsv":
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            reader = csv.reader(f)
        ncols: int | None = None
        name_to_idx: dict[str, int] = {}
        if ls.header:
            head = next(reader, None)
            if head is None:
                raise ValueError(f"{path}: empty file")
            ncols = len(head)
            name_to_idx = {h.strip(): i for i, h in enumerate(head)}

        def col(c: str | int) -> int:
            if isinstance(c, int):
                return c
            if c not in name_to_idx:
                raise ValueError(f"{path}: no column {c!r} in header {list(name_to_idx)}")
            return name_to_idx[c]

        text_idx = [col(c) for c in ls.text_columns]
        label_idx = None if ls.label_column is None else col(ls.label_column)
        needed = max([*text_idx, -1 if label_idx is None else label_idx]) + 1
        for row in reader:
            if not row:
                continue
            lineno = reader.line_num
            if ncols is None:
                ncols = len(row)
            if len(row) != ncols or len(row) < needed:
                if ls.skip_malformed:
                    continue
                raise ValueError(f"{path}:{lineno}: expected {ncols} columns, got {len(row)}")
            fields = tuple(row[i] for i in text_idx)
            if ls.backslash_escapes:
                fields = tuple(t.replace('\\"', '"').replace("\\n", "\n") for t in fields)
            texts.append(fields)
            if label_idx is None:
                labels.append(HIDDEN_LABEL)
            else:
                labels.append(_parse_label(row[label_idx], spec, f"{path}:{lineno}"))
    return texts, labels


def _read_jsonl(
    path: Path, ls: LocalSplit, spec: TaskSpec
) -> tuple[list[tuple[str, ...]], list[int]]:
    texts: list[tuple[str, ...]] = []
    labels: list[int] = []
    with path.open(encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            obj = json.loads(line)
            texts.append(tuple(str(obj[str(c)]) for c in ls.text_columns))
            if ls.label_column is None:
                labels.append(HIDDEN_LABEL)
            else:
                labels.append(
                    _parse_label(str(obj[str(ls.label_column)]), spec, f"{path}:{lineno}")
                )
    return texts, labels


def _read_local(
    root: Path, ls: LocalSplit, spec: TaskSpec
) -> tuple[list[tuple[str, ...]], list[int], str]:
    texts: list[tuple[str, ...]] = []
    labels: list[int] = []
    for rel in ls.paths:
        path = root / rel
        if ls.fmt == "jsonl":
            t, y = _read_jsonl(path, ls, spec)
        else:
            t, y = _read_delimited(path, ls, spec)
        texts.extend(t)
        labels.extend(y)
    return texts, labels, " + ".join(str(root / rel) for rel in ls.paths)


def _read_hub(
    spec: TaskSpec, hub_split: str, datasets_mod: Any
) -> tuple[list[tuple[str, ...]], list[int], str]:
    texts: list[tuple[str, ...]] = []
    labels: list[int] = []
    names = spec.hub_splits[hub_split]
    for name in names:
        if spec.hub_config is None:
            ds = datasets_mod.load_dataset(spec.hub_id, split=name)
        else:
            ds = datasets_mod.load_dataset(spec.hub_id, spec.hub_config, split=name)
        columns = [ds[f] for f in spec.text_fields]
        texts.extend(tuple(str(x) for x in row) for row in zip(*columns))
        labels.extend(int(y) for y in ds[spec.hub_label_field])
    cfg = f"/{spec.hub_config}" if spec.hub_config else ""
    return texts, labels, f"hf://{spec.hub_id}{cfg}[{'+'.join(names)}]"


def _hub_hint(spec: TaskSpec, split: str) -> str:
    names = spec.hub_splits.get(split)
    if not names:
        return ""
    cfg = f", {spec.hub_config!r}" if spec.hub_config else ""
    calls = " + ".join(f"load_dataset({spec.hub_id!r}{cfg}, split={n!r})" for n in names)
    return calls


def _resolve_split(split: str) -> str:
    s = split.lower()
    if s == "validation":
        s = "dev"
    if s not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return s


def _load_raw(
    spec: TaskSpec, split: str, data_dir: str | os.PathLike[str] | None
) -> tuple[list[tuple[str, ...]], list[int], str]:
    """Load one physical split (no Yelp hold-out) from the first source that has it."""
    ls = spec.local.get(split)
    if spec.files_root is not None:  # a user's own files: nothing else to look at
        if ls is None:
            raise TaskDataNotFound(f"{display_name(spec.name)}: no {split!r} file was given")
        return _read_local(Path(spec.files_root), ls, spec)
    tried: list[str] = []
    configured: list[Path] = []
    env = os.environ.get(DATA_ENV_VAR)
    candidates: list[tuple[str, Path | None]] = [
        ("data_dir", None if data_dir is None else Path(data_dir).expanduser()),
        (f"${DATA_ENV_VAR}", Path(env).expanduser() if env else None),
    ]
    for label, root in candidates:
        if root is None:
            tried.append(f"{label}: not given" if label == "data_dir" else f"{label}: not set")
            continue
        configured.append(root)
        if ls is None:
            tried.append(
                f"{label}={root}: split {split!r} of {spec.name} is not part of the local "
                "layout (hub only)"
            )
            continue
        missing = [str(root / rel) for rel in ls.paths if not (root / rel).is_file()]
        if not missing:
            return _read_local(root, ls, spec)
        tried.append(f"{label}={root}: missing {', '.join(missing)}")

    hub_names = spec.hub_splits.get(split)
    if not hub_names:
        tried.append(f"Hugging Face hub {spec.hub_id}: has no {split!r} split")
        raise TaskDataNotFound(_not_found_message(spec, split, tried, hub=False))
    try:
        datasets_mod = importlib.import_module("datasets")
    except ImportError:
        tried.append(f"Hugging Face hub {spec.hub_id}: the `datasets` package is not installed")
        raise TaskDataNotFound(_not_found_message(spec, split, tried, hub=True)) from None
    from idtheory.models import hub_offline, hub_unreachable

    offline = hub_offline()  # then datasets reads only its own cache
    if not offline and hub_unreachable():  # fail now, not after the hub client's retries
        reason = "the hub endpoint gives no answer"
        raise TaskDataNotFound(_unreachable_message(spec, split, tried, reason))
    if configured:
        warnings.warn(
            f"{spec.name}/{split} not found locally ({'; '.join(tried)}); "
            f"loading it from the Hugging Face hub ({spec.hub_id})",
            stacklevel=3,
        )
    try:
        return _read_hub(spec, split, datasets_mod)
    except Exception as exc:  # network, auth, unknown dataset ...
        if offline or isinstance(exc, ConnectionError):
            first = (str(exc).splitlines() or [""])[0]
            reason = f"{type(exc).__name__}: {first}"
            reason = f"HF_HUB_OFFLINE is set; {reason}" if offline else reason
            raise TaskDataNotFound(_unreachable_message(spec, split, tried, reason)) from exc
        tried.append(
            f"Hugging Face hub: {_hub_hint(spec, split)} failed: {type(exc).__name__}: {exc}"
        )
        raise TaskDataNotFound(_not_found_message(spec, split, tried, hub=True)) from exc


def _unreachable_message(spec: TaskSpec, split: str, tried: list[str], reason: str) -> str:
    """One line: no local files and no Hugging Face hub (offline mode, or no network)."""
    return (
        f"no data for task {spec.name!r}, split {split!r}: not in a local directory "
        f"({'; '.join(tried)}) and the Hugging Face hub is out of reach ({reason}); pass "
        f"data_dir (--data-dir) or set {DATA_ENV_VAR} to a directory with the files "
        "(docs/data.md), or measure your own files with --train-file/--dev-file"
    )


def _not_found_message(spec: TaskSpec, split: str, tried: list[str], *, hub: bool) -> str:
    lines = [f"no data for task {spec.name!r}, split {split!r}. Looked in:"]
    lines += [f"  - {t}" for t in tried]
    lines.append("To get the data:")
    ls = spec.local.get(split)
    if ls is not None:
        lines.append(
            f"  - put {', '.join(ls.paths)} under a directory and pass data_dir=<dir> or set "
            f"{DATA_ENV_VAR}=<dir> (GLUE TSV / ANLI JSONL layout, see docs/data.md);"
        )
    if hub:
        lines.append(
            "  - with network access, `pip install 'idtheory[hub]'` (the `datasets` "
            f"package) so that {_hub_hint(spec, split)} is used"
        )
    if spec.name.startswith("anli") and split == "train":
        lines.append(
            "  (the ANLI training sets are not distributed with the local files; only the hub "
            "has them)"
        )
    return "\n".join(lines)


def load_task(
    name: str | TaskSpec,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    max_examples: int | None = None,
    seed: int = 0,
) -> TaskData:
    """Load one split of a task (see the module docstring for sources and conventions).

    Args:
        name: task name or alias, or a :class:`TaskSpec`.
        split: ``"train"``, ``"dev"`` (alias ``"validation"``) or ``"test"``.
        data_dir: local data directory, tried before ``$IDTHEORY_DATA`` and the hub.
        max_examples: if given, a uniformly random subset of ``min(max_examples, n)``
            examples drawn without replacement by ``np.random.default_rng(seed).permutation``,
            returned in that permuted order (no stratification; subsets for the same seed are
            nested: the first k examples of a larger draw are the smaller draw).
        seed: seed of that subsample only.

    Raises:
        ValueError: unknown task or split, negative ``max_examples``, malformed file.
        TaskDataNotFound: no source has the split; the message lists what was tried.
    """
    spec = get_task(name)
    split = _resolve_split(split)
    if max_examples is not None and max_examples < 0:
        raise ValueError(f"max_examples must be >= 0, got {max_examples}")

    if spec.dev_holdout is not None and split in ("train", "dev"):
        texts, labels, source = _load_raw(spec, "train", data_dir)
        n = len(labels)
        n_dev = min(spec.dev_holdout, n)
        perm = np.random.default_rng(YELP_HOLDOUT_SEED).permutation(n)
        dev_mask = np.zeros(n, dtype=bool)
        dev_mask[perm[:n_dev]] = True
        keep = np.flatnonzero(dev_mask if split == "dev" else ~dev_mask)
        texts = [texts[i] for i in keep]
        labels = [labels[i] for i in keep]
        source = f"{source} ({split}: hold-out of {n_dev} train examples, seed "
        source += f"{YELP_HOLDOUT_SEED})"
    else:
        texts, labels, source = _load_raw(spec, split, data_dir)

    if max_examples is not None:
        idx = np.random.default_rng(seed).permutation(len(labels))[:max_examples]
        texts = [texts[i] for i in idx]
        labels = [labels[i] for i in idx]
    return TaskData(texts=texts, labels=labels, spec=spec, split=split, source=source)


# --------------------------------------------------------------------------- user files

FILE_TASK_PREFIX = "files:"
"""Start of the task name of a user's own data (:func:`file_task`)."""

_FILE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


def file_task(
    train_file: str | os.PathLike[str],
    dev_file: str | os.PathLike[str],
    text_columns: Sequence[str],
    label_column: str = "label",
    name: str | None = None,
) -> str:
    """Make a user's own classification data a task: returns a task name that
    :func:`get_task`, :func:`load_task`, :class:`~idtheory.config.RunSpec`, ``measure_d90``,
    ``finetune`` and the worker processes all accept, like ``"mrpc"``.

    Files: CSV (header line, standard quoting), TSV (header line, no quoting) or JSON lines,
    told apart by the suffix (``.csv``, ``.tsv``, ``.jsonl``/``.json``). ``text_columns``: one
    column (single-text task) or two (pair task), in the order the model reads them;
    ``label_column``: the class. Labels that are exactly the integers ``0 .. k-1`` keep their
    values; any other labels are numbered in sorted order (see ``TaskSpec.labels``).

    The name is ``"files:"`` + JSON holding the absolute paths, the columns, ``name`` (default:
    the training file's stem; shown in tables) and a SHA-256 of the two files' bytes, so stored
    runs are keyed by the data's content: edited files give new runs, and loading the task
    fails with a clear error once the files differ from the name's digest.

    Raises:
        ValueError: unknown suffix, a missing column, 0 or more than 2 text columns, fewer than
            two labels.
        FileNotFoundError: a file does not exist.
    """
    paths = {"train": Path(train_file).expanduser(), "dev": Path(dev_file).expanduser()}
    for split, path in paths.items():
        if not path.is_file():
            raise FileNotFoundError(f"{split} file {path} does not exist")
    fields = {
        "name": name or paths["train"].stem,
        "train": str(paths["train"].resolve()),
        "dev": str(paths["dev"].resolve()),
        "text": list(text_columns),
        "label": label_column,
    }
    fields["sha256"] = _files_digest(fields)
    task = FILE_TASK_PREFIX + json.dumps(fields, sort_keys=True, separators=(",", ":"))
    get_task(task)  # reads and checks the files now
    return task


def records_task(
    train: Any,
    dev: Any,
    text_columns: Sequence[str],
    label_column: str = "label",
    *,
    directory: str | os.PathLike[str],
    name: str = "records",
) -> str:
    """:func:`file_task` for examples held in memory: a ``datasets.Dataset`` (it iterates as
    one dict per row; :func:`idtheory.data.dataset_task` checks its columns first), a list of
    dicts, ``DataFrame.to_dict("records")``, or a dict of columns (``Dataset.to_dict()``).
    The text and label columns of each split are written as JSON lines to
    ``directory/<name>-<split>-<sha256 of the lines>.jsonl`` (kept: the stored runs point at
    them; the same rows give the same files and the same task name).
    """
    root = Path(directory).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    columns = [*text_columns, label_column]
    paths = []
    for split, rows in (("train", train), ("dev", dev)):
        lines = "".join(
            json.dumps({c: _json_value(row, c) for c in columns}, ensure_ascii=False) + "\n"
            for row in _iter_rows(rows)
        )
        digest = hashlib.sha256(lines.encode()).hexdigest()[:16]
        path = root / f"{name}-{split}-{digest}.jsonl"
        if not path.is_file():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(lines, encoding="utf-8")
            tmp.replace(path)
        paths.append(path)
    return file_task(paths[0], paths[1], text_columns, label_column, name)


def _iter_rows(rows: Any) -> Iterator[Mapping[str, Any]]:
    """Rows of a Dataset / list of dicts, or of a dict of equally long columns."""
    if isinstance(rows, Mapping):
        names = list(rows)
        for values in zip(*(rows[n] for n in names), strict=True):
            yield dict(zip(names, values, strict=True))
    else:
        yield from rows


def _json_value(row: Mapping[str, Any], column: str) -> Any:
    if column not in row:
        raise ValueError(f"no column {column!r} in a row with columns {sorted(row)}")
    value = row[column]
    return value.item() if hasattr(value, "item") else value  # numpy scalars


#: How the literature writes the registry's task names (the rest are their name upper-cased).
TASK_TITLES: dict[str, str] = {
    "sst2": "SST-2",
    "cola": "CoLA",
    "yelp": "Yelp",
    "anli": "ANLI",
    "anli-r1": "ANLI R1",
    "anli-r2": "ANLI R2",
    "anli-r3": "ANLI R3",
}


def task_title(task: str) -> str:
    """A task's name as figure titles write it: ``SST-2``, ``MRPC``, ``CoLA``; a file task's
    short name; an unknown name upper-cased."""
    if task.startswith(FILE_TASK_PREFIX):
        return display_name(task)
    try:
        key = get_task(task).name  # aliases too: "sst-2", "SST_2"
    except ValueError:
        key = task.lower()
    return TASK_TITLES.get(key, key.upper())


def display_name(task: str) -> str:
    """The name to show for a task: a file task's short ``name``, else ``task`` itself."""
    if task.startswith(FILE_TASK_PREFIX):
        return str(_file_fields(task)["name"])
    return task


def _file_fields(task: str) -> dict[str, Any]:
    try:
        fields = json.loads(task[len(FILE_TASK_PREFIX) :])
    except json.JSONDecodeError as err:
        raise ValueError(f"malformed file task name {task!r}: {err}") from None
    missing = {"name", "train", "dev", "text", "label", "sha256"} - set(fields)
    if missing:
        raise ValueError(f"file task name {task!r} lacks {sorted(missing)}")
    return fields


def _files_digest(fields: Mapping[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of the train and dev files' bytes."""
    h = hashlib.sha256()
    for split in ("train", "dev"):
        with open(fields[split], "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _file_format(path: str) -> str:
    fmt = _FILE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(
            f"{path}: unknown file type; expected one of {', '.join(sorted(_FILE_FORMATS))}"
        )
    return fmt


def _raw_labels(ls: LocalSplit) -> list[str]:
    """The label column of a user's file, as the stripped strings :func:`_parse_label` looks
    up. The file is read as if unlabeled, with the label as a last text column, so that every
    column is checked to exist."""
    columns = (*ls.text_columns, ls.label_column)
    as_text = LocalSplit(ls.paths, columns, None, ls.fmt)  # type: ignore[arg-type]
    probe = TaskSpec(
        name=ls.paths[0],
        text_fields=("label",),
        labels=(),
        num_labels=0,
        metrics=(),
        local={},
        label_map={},
        hub_id="",
        hub_config=None,
        hub_splits={},
    )
    try:
        texts, _, _ = _read_local(Path("/"), as_text, probe)
    except KeyError as err:  # JSON lines without that key
        raise ValueError(f"{ls.paths[0]}: no column {err.args[0]!r} in a record") from None
    return [t[-1].strip() for t in texts]


def _label_map(raw: Sequence[str]) -> dict[str, int]:
    """Labels that are exactly the integers 0..k-1 keep their values; other labels are
    numbered in sorted (string) order."""
    values = sorted(set(raw))
    if all(v.isdigit() for v in values) and sorted(map(int, values)) == list(range(len(values))):
        return {v: int(v) for v in values}
    return {v: i for i, v in enumerate(values)}


@functools.cache
def _file_task_spec(task: str) -> TaskSpec:
    """The :class:`TaskSpec` of a :func:`file_task` name (files read once per process)."""
    fields = _file_fields(task)
    for split in ("train", "dev"):
        if not Path(fields[split]).is_file():
            raise TaskDataNotFound(f"{fields['name']}: {split} file {fields[split]} is gone")
    if _files_digest(fields) != fields["sha256"]:
        raise ValueError(
            f"{fields['name']}: {fields['train']} or {fields['dev']} changed since this task "
            "name was made (its SHA-256 differs); make the task again from the files"
        )
    text = tuple(fields["text"])
    if not 1 <= len(text) <= 2:
        raise ValueError(f"{fields['name']}: give 1 or 2 text columns, got {list(text)}")
    local = {
        split: LocalSplit((fields[split],), text, fields["label"], _file_format(fields[split]))
        for split in ("train", "dev")
    }
    raw = [lab for ls in local.values() for lab in _raw_labels(ls)]
    label_map = _label_map(raw)
    if len(label_map) < 2:
        raise ValueError(f"{fields['name']}: the label column has fewer than two classes")
    labels = tuple(sorted(label_map, key=label_map.__getitem__))
    return TaskSpec(
        name=task,
        text_fields=text,
        labels=labels,
        num_labels=len(labels),
        metrics=("accuracy", "f1", "mcc") if len(labels) == 2 else ("accuracy", "mcc"),
        local=local,
        label_map=label_map,
        hub_id="",
        hub_config=None,
        hub_splits={},
        description=f"{fields['name']}: {fields['train']} (train), {fields['dev']} (dev)",
        files_root="/",
    )


# --------------------------------------------------------------------------- metrics


def _as_label_array(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 2 and what == "preds":  # logits / probabilities
        arr = arr.argmax(axis=-1)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D (or 2-D logits for preds), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{what} must be integer class ids")
    return arr.astype(np.int64)


def majority_rate(labels: Sequence[int] | np.ndarray) -> float:
    """Fraction of the most frequent label (accuracy of the constant majority predictor)."""
    arr = np.asarray(labels).ravel()
    if arr.size == 0:
        raise ValueError("majority_rate of an empty label list")
    _, counts = np.unique(arr, return_counts=True)
    return float(counts.max() / arr.size)


def _f1_positive(preds: np.ndarray, labels: np.ndarray, positive: int = 1) -> float:
    tp = int(np.sum((preds == positive) & (labels == positive)))
    fp = int(np.sum((preds == positive) & (labels != positive)))
    fn = int(np.sum((preds != positive) & (labels == positive)))
    denom = 2 * tp + fp + fn
    return 0.0 if denom == 0 else 2.0 * tp / denom


def _mcc(preds: np.ndarray, labels: np.ndarray, num_labels: int) -> float:
    conf = np.zeros((num_labels, num_labels), dtype=np.float64)
    np.add.at(conf, (labels, preds), 1.0)
    t = conf.sum(axis=1)  # true counts
    p = conf.sum(axis=0)  # predicted counts
    c = np.trace(conf)
    s = conf.sum()
    cov_yp = c * s - float(t @ p)
    cov_pp = s * s - float(p @ p)
    cov_yy = s * s - float(t @ t)
    denom = np.sqrt(cov_pp * cov_yy)
    return 0.0 if denom == 0 else float(cov_yp / denom)


def compute_metrics(
    task: str | TaskSpec,
    preds: Sequence[int] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
) -> dict[str, float]:
    """Task metrics (numpy only).

    ``accuracy`` for every task; plus ``f1`` of the positive class 1 (MRPC, QQP; 0.0 when
    there are no positives in both preds and labels, as scikit-learn) and ``mcc``, the Matthews
    correlation (CoLA; 0.0 when undefined, e.g. a constant predictor, as scikit-learn).

    Args:
        task: task name or :class:`TaskSpec`.
        preds: predicted class ids, or 2-D logits/probabilities (argmax is taken).
        labels: true class ids in ``0 .. num_labels-1`` (hidden ``-1`` labels are rejected).
    """
    spec = get_task(task)
    p = _as_label_array(preds, "preds")
    y = _as_label_array(labels, "labels")
    if p.shape != y.shape:
        raise ValueError(f"preds and labels differ in length: {p.size} vs {y.size}")
    if y.size == 0:
        raise ValueError("compute_metrics on zero examples")
    for arr, what in ((p, "preds"), (y, "labels")):
        if arr.min() < 0 or arr.max() >= spec.num_labels:
            raise ValueError(
                f"{what} must lie in 0..{spec.num_labels - 1} for {spec.name} "
                f"(hidden test labels are -1), got range {arr.min()}..{arr.max()}"
            )
    out: dict[str, float] = {"accuracy": float(np.mean(p == y))}
    if "f1" in spec.metrics:
        out["f1"] = _f1_positive(p, y)
    if "mcc" in spec.metrics:
        out["mcc"] = _mcc(p, y, spec.num_labels)
    return out


def majority_score(
    task: str | TaskSpec,
    metric: str = "accuracy",
    data_dir: str | os.PathLike[str] | None = None,
    split: str = "dev",
    max_examples: int | None = None,
    seed: int = 0,
) -> float:
    """The ``metric`` of the constant majority-class predictor on ``split`` (the floor a
    fine-tuned model must beat: accuracy = the majority rate; MCC and F1 of a constant
    predictor as :func:`compute_metrics` defines them). The majority class is the most frequent
    label of the examples scored (ties: the smallest label).

    ``max_examples`` / ``seed``: score the same random subset :func:`load_task` draws with them
    (the trainer evaluates ``TrainConfig.max_eval_examples`` dev examples drawn with
    :data:`DEV_SUBSET_SEED`; :func:`scored_dev_majority` scores those).
    """
    data = load_task(task, split, data_dir=data_dir, max_examples=max_examples, seed=seed)
    labels = np.asarray(data.labels)
    values, counts = np.unique(labels, return_counts=True)
    preds = np.full_like(labels, values[np.argmax(counts)])
    return float(compute_metrics(task, preds, labels)[metric])


def scored_dev_majority(
    task: str | TaskSpec,
    metric: str = "accuracy",
    data_dir: str | os.PathLike[str] | None = None,
    max_eval_examples: int | None = None,
) -> float:
    """:func:`majority_score` on exactly the dev examples the trainer scores: the
    ``max_eval_examples`` drawn with :data:`DEV_SUBSET_SEED`, or the whole dev set (None) — the
    chance line of Figure 1 and the floor of a chance-corrected threshold."""
    return majority_score(task, metric, data_dir, "dev", max_eval_examples, DEV_SUBSET_SEED)
