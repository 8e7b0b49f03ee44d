"""Pre-training corpora (:func:`build_corpus`) that share no sentence with the dev/test sets
of the evaluated tasks (:func:`check_no_overlap`): local text files, the unlabeled sentences of
the local GLUE **train** splits, or a ``datasets`` hub corpus."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idtheory.tasks import get_task, load_task

if TYPE_CHECKING:
    pass

# =========================================================================== corpus

GLUE_CORPUS_TASKS: tuple[str, ...] = ("mrpc", "sst2", "rte", "cola")
"""GLUE tasks available locally (``$IDTHEORY_DATA``, see ``docs/data.md``): their train
sentences form the ``"glue"`` corpus, and their dev/test sentences are excluded from every
corpus by default."""

HUB_CORPORA: dict[str, tuple[str, str | None]] = {
    "wikitext-103-raw-v1": ("Salesforce/wikitext", "wikitext-103-raw-v1"),
    "wikitext-103-v1": ("Salesforce/wikitext", "wikitext-103-v1"),
    "wikitext-2-raw-v1": ("Salesforce/wikitext", "wikitext-2-raw-v1"),
    "wikitext-2-v1": ("Salesforce/wikitext", "wikitext-2-v1"),
    "bookcorpus": ("bookcorpus/bookcorpus", None),
}
"""Short names of ``datasets`` hub corpora accepted by :func:`build_corpus` (any other hub
dataset with a ``text`` column: ``"hf:owner/name"`` or ``"hf:owner/name:config"``)."""

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_WIKITEXT_HEADING = re.compile(r"^\s*=+\s.*\s=+\s*$")


def normalize_text(text: str) -> str:
    """The key used to compare texts for overlap: lower-cased, whitespace runs collapsed to one
    space, stripped (so ``"The  cat\\n"`` and ``"the cat"`` are the same sentence)."""
    return " ".join(text.lower().split())


class CorpusOverlapError(ValueError):
    """A pre-training corpus contains dev/test sentences of an evaluated task."""


@dataclass
class Corpus:
    """A pre-training corpus: one document (or sentence) per entry of ``texts``.

    Attributes:
        texts: the lines, stripped, empty lines removed.
        source: where they came from.
        excluded_tasks: tasks whose dev/test sentences were removed and checked absent.
        n_dropped: corpus lines removed because they contained such a sentence.
        dropped: the first few removed lines (for inspection).
    """

    texts: list[str]
    source: str
    excluded_tasks: tuple[str, ...] = ()
    n_dropped: int = 0
    dropped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def __iter__(self) -> Iterator[str]:
        return iter(self.texts)

    def __getitem__(self, i: int) -> str:
        return self.texts[i]

    @property
    def num_words(self) -> int:
        """Whitespace-separated words (a rough size; tokens are ≈ 1.3× more)."""
        return sum(len(t.split()) for t in self.texts)


def _texts_of(corpus: Corpus | Iterable[str]) -> list[str]:
    if isinstance(corpus, Corpus):
        return corpus.texts
    if isinstance(corpus, str):
        raise TypeError("corpus must be a Corpus or a sequence of strings, not one string")
    return list(corpus)


def _keys(text: str, min_sentence_chars: int) -> list[str]:
    """Overlap keys of a text: the whole text first, then each sentence of ≥
    ``min_sentence_chars`` characters when it has several (all normalized, no duplicates)."""
    whole = normalize_text(text)
    keys = [whole] if whole else []
    parts = _SENTENCE_SPLIT.split(text.strip())
    if len(parts) > 1:
        for part in parts:
            key = normalize_text(part)
            if len(key) >= min_sentence_chars and key not in keys:
                keys.append(key)
    return keys


def _eval_index(
    tasks: Iterable[str],
    splits: Sequence[str],
    data_dir: str | os.PathLike[str] | None,
    min_sentence_chars: int,
) -> dict[str, tuple[str, str, str]]:
    """Overlap key → (task, split, original text) over every text field of the given splits."""
    index: dict[str, tuple[str, str, str]] = {}
    for task in tasks:
        spec = get_task(task)
        for split in splits:
            data = load_task(spec, split, data_dir=data_dir)
            for example in data.texts:
                for text in example:
                    for key in _keys(text, min_sentence_chars):
                        index.setdefault(key, (spec.name, data.split, text))
    return index


def check_no_overlap(
    corpus: Corpus | Iterable[str],
    tasks: Iterable[str] = GLUE_CORPUS_TASKS,
    splits: Sequence[str] = ("dev", "test"),
    *,
    data_dir: str | os.PathLike[str] | None = None,
    min_sentence_chars: int = 20,
    max_listed: int = 10,
) -> dict[str, Any]:
    """Raise :class:`CorpusOverlapError` if a dev/test text of ``tasks`` appears in ``corpus``.

    Matching is on :func:`normalize_text` keys: a dev/test text (each field of a pair separately)
    overlaps when it equals a corpus line, or when one of its sentences — or the whole text —
    equals a sentence of a corpus line (sentences split after ``.``, ``!``, ``?``; split sentences
    shorter than ``min_sentence_chars`` characters are ignored, whole texts never are). This
    catches a dev sentence copied verbatim into a longer document, not paraphrases.

    Returns:
        A summary ``{"tasks", "splits", "n_corpus_lines", "n_eval_keys"}`` when clean.

    Raises:
        CorpusOverlapError: listing the number of overlapping corpus lines and up to
            ``max_listed`` examples (task, split, the dev/test text and the corpus line).
        TaskDataNotFound: a dev/test split of a task is not available.
    """
    task_names = [get_task(t).name for t in tasks]
    index = _eval_index(task_names, splits, data_dir, min_sentence_chars)
    texts = _texts_of(corpus)
    hits: list[tuple[tuple[str, str, str], str]] = []
    n_hits = 0
    for line in texts:
        found = next((index[k] for k in _keys(line, min_sentence_chars) if k in index), None)
        if found is not None:
            n_hits += 1
            if len(hits) < max_listed:
                hits.append((found, line))
    if n_hits:
        lines = [
            f"the pre-training corpus contains {n_hits} line(s) with dev/test text of the "
            f"evaluated tasks {task_names} (splits {list(splits)}); fine-tuning results on them "
            "would be contaminated. Examples:"
        ]
        for (task, split, text), line in hits:
            lines.append(f"  - {task}/{split}: «{_clip(text, 300)}»")
            lines.append(f"      in corpus line: «{_clip(line, 300)}»")
        lines.append(
            "Remove these lines (build_corpus(..., drop_overlap=True) does it) or evaluate on "
            "other tasks."
        )
        raise CorpusOverlapError("\n".join(lines))
    return {
        "tasks": task_names,
        "splits": list(splits),
        "n_corpus_lines": len(texts),
        "n_eval_keys": len(index),
    }


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _read_text_files(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> tuple[list[str], str]:
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    paths: list[Path] = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.txt") if q.is_file())
            if not found:
                raise FileNotFoundError(f"corpus directory {p} contains no *.txt file")
            paths.extend(found)
        elif p.is_file():
            paths.append(p)
        else:
            raise FileNotFoundError(
                f"corpus source {str(item)!r} is neither 'glue', a hub corpus "
                f"({', '.join(HUB_CORPORA)} or 'hf:owner/name[:config]'), nor an existing file "
                "or directory"
            )
    lines: list[str] = []
    for p in paths:
        with p.open(encoding="utf-8", errors="replace") as fh:
            lines.extend(fh.read().splitlines())
    return lines, " + ".join(str(p) for p in paths)


def _read_glue(
    tasks: Sequence[str], data_dir: str | os.PathLike[str] | None
) -> tuple[list[str], str]:
    lines: list[str] = []
    sources: list[str] = []
    for task in tasks:
        data = load_task(task, "train", data_dir=data_dir)
        for example in data.texts:
            lines.extend(example)  # each sentence of a pair is its own line; labels are unused
        sources.append(data.source)
    return lines, "glue train: " + " + ".join(sources)


def _read_hub(name: str, split: str) -> tuple[list[str], str]:
    if name in HUB_CORPORA:
        hub_id, config = HUB_CORPORA[name]
    else:
        ref = name.removeprefix("hf:")
        hub_id, _, cfg = ref.partition(":")
        config = cfg or None
    try:
        import datasets
    except ImportError:
        raise ImportError(
            f"corpus {name!r} comes from the Hugging Face hub and needs the `datasets` package "
            "(pip install 'idtheory[hub]') and network access; use 'glue' or local text files "
            "otherwise"
        ) from None
    ds = (
        datasets.load_dataset(hub_id, config, split=split)
        if config
        else datasets.load_dataset(hub_id, split=split)
    )
    if "text" not in ds.column_names:
        raise ValueError(f"hub corpus {hub_id} has no 'text' column (columns: {ds.column_names})")
    lines = [t for t in ds["text"] if not _WIKITEXT_HEADING.match(t)]
    cfg_s = f"/{config}" if config else ""
    return lines, f"hf://{hub_id}{cfg_s}[{split}]"


def build_corpus(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    tasks_to_exclude: Iterable[str] = GLUE_CORPUS_TASKS,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    splits: Sequence[str] = ("dev", "test"),
    drop_overlap: bool = True,
    dedupe: bool = False,
    glue_tasks: Sequence[str] = GLUE_CORPUS_TASKS,
    hub_split: str = "train",
    max_lines: int | None = None,
    min_sentence_chars: int = 20,
) -> Corpus:
    """Build a pre-training corpus that shares no dev/test text with ``tasks_to_exclude``.

    Sources:

    * ``"glue"``: the sentences of the local GLUE **train** splits of ``glue_tasks`` (MRPC,
      SST-2, RTE, CoLA by default; via :func:`idtheory.tasks.load_task`, so ``data_dir`` or
      ``$IDTHEORY_DATA``), one sentence per line, labels discarded. ≈ 88k lines, ≈ 0.97 M words.
    * a hub corpus: a name of :data:`HUB_CORPORA` (e.g. ``"wikitext-103-raw-v1"``) or
      ``"hf:owner/name[:config]"`` (a ``text`` column), split ``hub_split``; needs ``datasets``
      (imported lazily) and network access. Wikitext headings (``= Title =``) are skipped.
    * a local text file, a directory (every ``*.txt`` below it, sorted) or a list of them: one
      document or sentence per line (UTF-8).

    Lines are stripped and empty lines dropped; ``dedupe`` keeps the first of identical lines;
    ``max_lines`` keeps the first lines after that. Lines containing a dev/test text of
    ``tasks_to_exclude`` (same rule as :func:`check_no_overlap`) are removed when
    ``drop_overlap`` (the GLUE train files themselves contain a few hundred MRPC/RTE dev/test
    sentences); :func:`check_no_overlap` is then run on the result and raises if any remains
    (always the case with ``drop_overlap=False`` and an overlapping source).
    """
    excluded = tuple(get_task(t).name for t in tasks_to_exclude)
    if isinstance(source, (str, os.PathLike)) and str(source).lower() == "glue":
        raw, desc = _read_glue(glue_tasks, data_dir)
    elif isinstance(source, str) and (source in HUB_CORPORA or source.startswith("hf:")):
        raw, desc = _read_hub(source, hub_split)
    else:
        raw, desc = _read_text_files(source)
    lines = [s for s in (line.strip() for line in raw) if s]
    if dedupe:
        lines = list(dict.fromkeys(lines))
    if max_lines is not None:
        lines = lines[:max_lines]
    n_dropped = 0
    dropped: list[str] = []
    if drop_overlap and excluded:
        index = _eval_index(excluded, splits, data_dir, min_sentence_chars)
        kept: list[str] = []
        for line in lines:
            if any(k in index for k in _keys(line, min_sentence_chars)):
                n_dropped += 1
                if len(dropped) < 20:
                    dropped.append(line)
            else:
                kept.append(line)
        lines = kept
    corpus = Corpus(
        texts=lines, source=desc, excluded_tasks=excluded, n_dropped=n_dropped, dropped=dropped
    )
    if excluded:
        check_no_overlap(
            corpus, excluded, splits, data_dir=data_dir, min_sentence_chars=min_sentence_chars
        )
    return corpus
