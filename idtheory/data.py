"""The ``datasets`` layer: tasks as :class:`datasets.Dataset`, tokenization cached on disk,
and a user's own ``Dataset`` as a task.

:mod:`idtheory.tasks` reads the examples (its own readers keep the GLUE files' quirks: no
quoting, byte-order marks, the headerless CoLA files, word labels; the hub path returns the
same lists); this module puts them in a :class:`datasets.Dataset` and tokenizes them with
``Dataset.map(batched=True)``, whose result is written to an Arrow file and read back by the
next run that asks for the same tokens.

Conventions:

* **Columns** of :func:`to_dataset` / :func:`task_dataset`: the task's text fields, named as on
  the hub (``sentence1``, ``sentence2``, ...; a file task's own column names) in
  :attr:`~idtheory.tasks.TaskSpec.text_fields` order, then ``label`` (integers, ``-1`` where
  hidden). Rows keep :func:`~idtheory.tasks.load_task`'s order, subsample included.
* **Tokenized** rows (:func:`tokenize`): ``input_ids``, ``attention_mask`` and, when the
  tokenizer returns them, ``token_type_ids`` (truncated to ``max_length`` tokens, unpadded),
  then ``labels`` — the same values, example for example, as one tokenizer call over the
  whole list (no padding, so batching does not change any example's tokens).
* **Cache**: ``<cache>/tokenized/<key>.arrow``, where ``<cache>`` is ``$IDTHEORY_CACHE``, else
  ``$XDG_CACHE_HOME/idtheory``, else ``~/.cache/idtheory`` (:func:`idtheory.packaged.cache_dir`)
  and ``key`` is a SHA-256 of the tokenizer (its vocabulary, rules and special tokens, not its
  padding/truncation state), ``max_length``, the column names and every text and label. Any
  change to those is a new file; the files can be deleted at any time. A directory that cannot
  be written turns the cache off (a warning), not the run.
* **Own data** (:func:`dataset_task`): a ``Dataset`` becomes a task name through
  :func:`idtheory.tasks.records_task`: its text and label columns are written as JSON lines
  named by their SHA-256 (default directory ``<cache>/own-tasks``), so the stored runs are
  keyed by the data's content, as for ``--train-file``.

``datasets`` is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from idtheory.packaged import cache_dir
from idtheory.tasks import TaskData, load_task, records_task

if TYPE_CHECKING:
    import datasets

__all__ = [
    "TOKEN_KEYS",
    "dataset_task",
    "encode_rows",
    "own_tasks_dir",
    "task_dataset",
    "to_dataset",
    "tokenize",
    "tokenized_cache_dir",
]

TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")
"""Tokenizer outputs kept, in this order, when the tokenizer returns them."""

LABEL_COLUMN = "label"
"""Label column of :func:`to_dataset`'s datasets."""

_CACHE_FORMAT = "idtheory-tokenize-1"
"""Enters every cache key: bump it when the tokenized rows change meaning."""


def tokenized_cache_dir() -> Path:
    """Directory of the tokenized Arrow files (see the module docstring)."""
    return cache_dir() / "tokenized"


def own_tasks_dir() -> Path:
    """Default directory of the JSON lines :func:`dataset_task` writes."""
    return cache_dir() / "own-tasks"


def to_dataset(data: TaskData) -> datasets.Dataset:
    """The examples of ``data`` as a ``Dataset`` (columns: text fields, then ``label``)."""
    import datasets
    import pyarrow as pa
    from datasets.table import InMemoryTable

    fields = data.spec.text_fields
    if LABEL_COLUMN in fields:
        raise ValueError(f"a text column may not be called {LABEL_COLUMN!r}: {list(fields)}")
    columns = {f: pa.array([t[i] for t in data.texts], pa.string()) for i, f in enumerate(fields)}
    columns[LABEL_COLUMN] = pa.array(data.labels, pa.int64())
    # Straight from Arrow arrays: Dataset.from_dict would check every value in Python.
    return datasets.Dataset(InMemoryTable(pa.table(columns)))


def task_dataset(
    task: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    max_examples: int | None = None,
    seed: int = 0,
) -> datasets.Dataset:
    """One split of a task as a ``Dataset``: :func:`~idtheory.tasks.load_task` (same sources,
    same seeded subsample, same order), then :func:`to_dataset`."""
    return to_dataset(
        load_task(task, split, data_dir=data_dir, max_examples=max_examples, seed=seed)
    )


def tokenize(
    dataset: datasets.Dataset,
    tokenizer: Any,
    max_length: int,
    *,
    text_columns: str | Sequence[str],
    label_column: str = LABEL_COLUMN,
    cache: str | os.PathLike[str] | bool | None = True,
) -> datasets.Dataset:
    """Tokenize ``dataset`` with ``Dataset.map(batched=True)``; rows as in the module docstring.

    Args:
        dataset: one or two text columns and a label column.
        tokenizer: a Hugging Face tokenizer; pairs are tokenized as ``tokenizer(a, b)``.
        max_length: truncation length in tokens.
        text_columns: the text column(s), in the order the model reads them.
        label_column: the integer label column (``labels`` in the result).
        cache: ``True``: :func:`tokenized_cache_dir`; a directory; ``False``/``None``: no file.
    """
    import datasets

    text_columns = _names(text_columns)
    columns = [*text_columns, label_column]
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise ValueError(f"no column {missing} in a dataset with {dataset.column_names}")
    key = _cache_key(dataset, tokenizer, max_length, text_columns, label_column)
    cache_file = _cache_file(key, cache)

    def batch_tokens(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        enc = tokenizer(*(batch[c] for c in text_columns), truncation=True, max_length=max_length)
        out = {k: enc[k] for k in TOKEN_KEYS if k in enc}
        out["labels"] = [int(y) for y in batch[label_column]]
        return out

    hidden = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        return dataset.map(
            batch_tokens,
            batched=True,
            remove_columns=dataset.column_names,
            new_fingerprint=key,
            cache_file_name=None if cache_file is None else str(cache_file),
            load_from_cache_file=cache_file is not None,
        )
    finally:
        if not hidden:
            datasets.enable_progress_bars()


def _names(columns: str | Sequence[str]) -> list[str]:
    """One column name or several, as a list."""
    return [columns] if isinstance(columns, str) else list(columns)


def _cache_file(key: str, cache: str | os.PathLike[str] | bool | None) -> Path | None:
    """``<directory>/<key>.arrow``, or None when the cache is off or not writable."""
    if cache is None or cache is False:
        return None
    root = tokenized_cache_dir() if cache is True else Path(cache).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        warnings.warn(f"tokenization cache off: cannot create {root} ({err})", stacklevel=3)
        return None
    return root / f"{key}.arrow"


def _cache_key(
    dataset: datasets.Dataset,
    tokenizer: Any,
    max_length: int,
    text_columns: list[str],
    label_column: str,
) -> str:
    """SHA-256 (32 hex digits) of what the tokenized rows depend on."""
    h = hashlib.sha256()
    head = [_CACHE_FORMAT, _tokenizer_fingerprint(tokenizer), max_length, text_columns]
    h.update(json.dumps([*head, label_column, len(dataset)]).encode())
    table = dataset.select_columns([*text_columns, label_column]).with_format("arrow")[:]
    for column in text_columns:
        for text in table.column(column).to_pylist():
            raw = str(text).encode()
            h.update(len(raw).to_bytes(8, "little"))
            h.update(raw)
    labels = np.asarray(table.column(label_column).to_pylist(), dtype=np.int64)
    h.update(labels.tobytes())
    return h.hexdigest()[:32]


def _tokenizer_fingerprint(tokenizer: Any) -> str:
    """SHA-256 of a tokenizer's vocabulary, rules and settings that shape its output.

    Fast tokenizers: the backend's JSON without its ``truncation`` and ``padding`` entries
    (a call with ``truncation=True`` sets them, and they do not change the unpadded ids, which
    depend on ``max_length``, keyed separately). Other tokenizers: ``datasets``' own hash."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        from datasets.fingerprint import Hasher

        return Hasher.hash(tokenizer)
    state = json.loads(backend.to_str())
    state.pop("truncation", None)
    state.pop("padding", None)
    python_side = {
        "class": type(tokenizer).__name__,
        "model_input_names": list(tokenizer.model_input_names),
        "truncation_side": getattr(tokenizer, "truncation_side", "right"),
    }
    blob = json.dumps([state, python_side], ensure_ascii=False)  # to_str's order is fixed
    return hashlib.sha256(blob.encode()).hexdigest()


def dataset_task(
    train: datasets.Dataset,
    dev: datasets.Dataset,
    text_columns: str | Sequence[str],
    label_column: str = LABEL_COLUMN,
    *,
    name: str = "dataset",
    directory: str | os.PathLike[str] | None = None,
) -> str:
    """A task name for your own ``Dataset``\\ s, accepted wherever ``"mrpc"`` is:
    ``measure_d90``, ``finetune``, :class:`~idtheory.config.RunSpec`, the worker processes.

    ``text_columns``: one column (single texts) or two (pairs), in the order the model reads
    them; ``label_column``: the class (integers ``0..k-1`` — e.g. a ``ClassLabel`` — keep their
    values; other labels are numbered in sorted order). The columns are written as JSON lines
    under ``directory`` (default :func:`own_tasks_dir`; keep them with your results: the task
    name points at them) and read back by :func:`idtheory.tasks.file_task`.

    Raises:
        ValueError: a missing column, 0 or more than 2 text columns, fewer than two labels.
    """
    texts = _names(text_columns)
    columns = [*texts, label_column]
    for split, ds in (("train", train), ("dev", dev)):
        missing = [c for c in columns if c not in ds.column_names]
        if missing:
            raise ValueError(f"{split}: no column {missing}; the dataset has {ds.column_names}")
    return records_task(
        train.select_columns(columns),
        dev.select_columns(columns),
        texts,
        label_column,
        directory=own_tasks_dir() if directory is None else directory,
        name=name,
    )


def encode_rows(tokenizer: Any, data: TaskData, max_length: int) -> list[dict[str, Any]]:
    """``data`` tokenized through the cache (:func:`tokenize`), as one dict per example
    (:data:`TOKEN_KEYS` present, then ``labels``) — the trainer's input."""
    if len(data) == 0:
        return []
    fields = list(data.spec.text_fields)
    table = tokenize(to_dataset(data), tokenizer, max_length, text_columns=fields)
    keys = [k for k in (*TOKEN_KEYS, "labels") if k in table.column_names]
    columns = table.with_format("arrow")[:]
    values = [_int_lists(columns.column(k)) for k in keys[:-1]]
    values.append(columns.column("labels").to_numpy().tolist())
    return [dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True)]


def _int_lists(column: Any) -> list[list[int]]:
    """A ``list<int>`` Arrow column as Python lists (through numpy: ``to_pylist`` makes one
    Arrow scalar per token and is ~30× slower)."""
    array = column.combine_chunks()
    offsets = array.offsets.to_numpy()
    flat = array.values.to_numpy(zero_copy_only=False).tolist()
    return [flat[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
