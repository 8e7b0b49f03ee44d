"""From-scratch RoBERTa-style masked-LM pre-training, and the trend experiments of the paper.

Aghajanyan et al. (2021, Figure 2) re-pre-train RoBERTa-Base and measure SAID d90 every 10k
updates; their Figure 3 plots d90 against the parameter count of public checkpoints. This module
supplies both at a scale a 2-core CPU can run, and the same code at paper scale:

* :func:`train_tokenizer` — a byte-level BPE (RoBERTa special tokens ``<s> <pad> </s> <unk>
  <mask>`` = ids 0–4) saved so that ``AutoTokenizer.from_pretrained(dir)`` loads it offline.
* :data:`PRESETS` / :func:`model_config` — RoBERTa masked-LM sizes (see :data:`PRESETS` for the
  measured parameter counts).
* :func:`build_corpus` / :func:`check_no_overlap` — a pre-training corpus (local text files, the
  unlabeled sentences of the local GLUE **train** splits, or a ``datasets`` hub corpus) that is
  guaranteed to share no sentence with the dev/test sets of the evaluated tasks.
* :func:`pretrain` — MLM pre-training with atomic, resumable Hugging Face checkpoints
  ``out_dir/checkpoint-<step>/`` that :func:`idtheory.models.load_model` loads as classifiers.
* :func:`pretraining_trend` (Figure 2), :func:`size_trend` and :func:`fit_loglog` (Figure 3), the
  public model lists :data:`PUBLIC_SIZE_MODELS` / :data:`PUBLIC_CHECKPOINT_SUITES` and
  :func:`check_sequence_classifier`.
* :func:`add_pretrain_arguments` / :func:`run_pretrain_command` — the ``idtheory pretrain`` CLI
  (also ``python -m idtheory.pretrain``).

Conventions (this library's choices; the paper gives no details beyond "following Liu et al."):

* **Units.** A *step* or *update* is one optimizer update of ``batch_size`` sequences (split into
  ``grad_accum`` micro-batches) of ``max_length`` tokens (``<s>`` and ``</s>`` included). Step
  ``k`` of the log / ``checkpoint-k`` is the state *after* ``k`` updates; ``checkpoint-0`` is the
  random initialisation. Losses are natural-log cross-entropies (nats per masked token); times
  are seconds; parameter counts are numbers of scalars.
* **Packing.** By default (``packing=True``) the corpus lines are tokenized, joined with ``</s>``
  and cut into blocks ``<s> … </s>`` of exactly ``max_length`` tokens (RoBERTa's FULL-SENTENCES
  format; no padding). ``packing=False`` makes one truncated, padded sequence per line.
* **Masking.** The standard BERT/RoBERTa scheme of ``DataCollatorForLanguageModeling``: 15 % of
  the non-special tokens are predicted, of which 80 % are replaced by ``<mask>``, 10 % by a random
  token and 10 % left unchanged (masks are re-drawn dynamically at every step). The MLM head is
  evaluated on the predicted positions only (the same loss as ``RobertaForMaskedLM``, several
  times cheaper for small models whose cost is dominated by the vocabulary projection).
* **Determinism and resumption.** Data order is a fixed function of ``(seed, epoch)``, and the
  global torch RNG (masking, dropout) is re-seeded from ``(seed, step)`` before every update, so
  the loss of update ``k`` does not depend on whether the run was interrupted before it. A
  restart continues from the last *complete* checkpoint with its optimizer, scheduler and RNG
  state and, on CPU, reproduces the uninterrupted run's losses exactly.
* **Atomic checkpoints.** A checkpoint is written to a hidden temporary directory
  ``out_dir/.checkpoint-<step>.tmp-<pid>`` and renamed to ``checkpoint-<step>`` only when complete
  (``trainer_state.json`` written last). :func:`list_checkpoints` ignores anything else, and
  stale temporary directories are removed at the next start.
* **Optimizer.** AdamW (β = (0.9, 0.98), ε = 1e-6, decoupled weight decay 0.01, none on biases
  and LayerNorm weights), linear warm-up over ``warmup_ratio × steps`` updates then linear decay
  to 0, gradient-norm clipping at 1.0 (RoBERTa's values except the clipping).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from idtheory.config import RunSpec, TrainConfig
from idtheory.search import (
    DEFAULT_FULL_LRS,
    Executor,
    LocalExecutor,
    default_train_fn,
    measure_d90,
    resolve_floor,
    run_score,
    status_reason,
)
from idtheory.store import ResultsStore, TrainFn, is_finite_number
from idtheory.tasks import get_task, load_task, majority_score

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedTokenizerBase, RobertaConfig

__all__ = [
    "DEFAULT_VOCAB_SIZE",
    "GLUE_CORPUS_TASKS",
    "HUB_CORPORA",
    "PRESETS",
    "PUBLIC_CHECKPOINT_SUITES",
    "PUBLIC_SIZE_MODELS",
    "SPECIAL_TOKENS",
    "UNABLE",
    "CheckpointSuite",
    "Corpus",
    "CorpusOverlapError",
    "LogLogFit",
    "NotASequenceClassifier",
    "Preset",
    "PretrainConfig",
    "PretrainResult",
    "SizeTrend",
    "add_pretrain_arguments",
    "build_corpus",
    "check_no_overlap",
    "check_sequence_classifier",
    "fit_loglog",
    "list_checkpoints",
    "model_config",
    "normalize_text",
    "preset_num_params",
    "pretrain",
    "pretraining_trend",
    "read_log",
    "run_pretrain_command",
    "size_trend",
    "train_tokenizer",
]

# =========================================================================== tokenizer

SPECIAL_TOKENS: tuple[str, ...] = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
"""RoBERTa's special tokens; they get ids 0–4 in this order (``<pad>`` = 1 = RoBERTa's
``padding_idx``)."""

DEFAULT_VOCAB_SIZE = 8192
"""Default BPE vocabulary size (tokens, special tokens included)."""

MODEL_MAX_LENGTH = 512
"""``model_max_length`` of the saved tokenizer; the models get ``MODEL_MAX_LENGTH + 2`` position
embeddings (RoBERTa's positions start after ``padding_idx``)."""


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    min_frequency: int = 2,
) -> PreTrainedTokenizerBase:
    """Train a RoBERTa-style byte-level BPE on ``texts`` and (optionally) save it to ``out_dir``.

    The tokenizer is GPT-2/RoBERTa's: byte-level pre-tokenization without a prefix space, the
    256-byte initial alphabet (any text tokenizes, no ``<unk>`` in practice), special tokens
    :data:`SPECIAL_TOKENS` with ids 0–4 (``<mask>`` strips the space to its left), and the
    ``<s> A </s></s> B </s>`` template. The vocabulary may end smaller than ``vocab_size`` on a
    small corpus (``len(tokenizer)`` is the true size).

    Saved files: ``tokenizer.json``, ``tokenizer_config.json`` (class ``RobertaTokenizer``),
    ``vocab.json`` and ``merges.txt``; ``transformers.AutoTokenizer.from_pretrained(out_dir)``
    loads them offline.

    Args:
        texts: training text (any iterable of strings; consumed once).
        vocab_size: target vocabulary size, special tokens and the 256 bytes included.
        out_dir: directory to save into (created); None keeps it in memory only.
        min_frequency: minimum pair count for a merge.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    from tokenizers import trainers as tok_trainers
    from transformers import RobertaTokenizerFast

    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size must be >= {len(SPECIAL_TOKENS) + 256}, got {vocab_size}")
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS[:-1]]
    mask = AddedToken("<mask>", lstrip=True, special=True, normalized=False)
    trainer = tok_trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[*specials, mask],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    for i, t in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t))
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")),
        ("<s>", tok.token_to_id("<s>")),
        trim_offsets=True,
        add_prefix_space=False,
    )
    fast = RobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token=AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True),
        model_max_length=MODEL_MAX_LENGTH,
        add_prefix_space=False,
        trim_offsets=True,
    )
    if out_dir is not None:
        path = Path(out_dir)
        path.mkdir(parents=True, exist_ok=True)
        fast.save_pretrained(str(path))
        tok.model.save(str(path))  # vocab.json + merges.txt (for slow-tokenizer loaders)
    return fast


def _load_tokenizer(path: str | os.PathLike[str]) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


# =========================================================================== model sizes


@dataclass(frozen=True)
class Preset:
    """A RoBERTa encoder size: ``layers`` blocks of width ``hidden`` with ``heads`` attention
    heads (head dimension ``hidden / heads``) and a feed-forward inner size ``ffn``."""

    layers: int
    hidden: int
    heads: int
    ffn: int


PRESETS: dict[str, Preset] = {
    "xxs": Preset(layers=2, hidden=32, heads=2, ffn=128),
    "xs": Preset(layers=2, hidden=64, heads=2, ffn=256),
    "s": Preset(layers=4, hidden=128, heads=2, ffn=512),
    "m": Preset(layers=4, hidden=256, heads=4, ffn=1024),
    "l": Preset(layers=6, hidden=320, heads=5, ffn=1280),
}
"""Named model sizes, spanning 34× in parameters. Counts from :func:`preset_num_params` at the
default vocabulary of 8192 tokens and 514 positions (pre-training speeds on the development CPU:
``benchmarks/cpu-dev-machine.md``):

======  ======  ======  =====  =====  ===========================  ===========
preset  layers  hidden  heads  FFN    D (sequence classification)  masked LM
======  ======  ======  =====  =====  ===========================  ===========
xxs     2       32      2      128    305,218                      313,408
xs      2       64      2      256    661,634                      669,824
s       4       128     2      512    1,924,610                    1,932,800
m       4       256     4      1024   5,454,850                    5,463,040
l       6       320     5      1280   10,288,002                   10,296,192
======  ======  ======  =====  =====  ===========================  ===========

D is what :func:`idtheory.models.load_model` reports for a checkpoint loaded with
``num_labels=2`` (RoBERTa's two-layer classification head, no pooler); the masked LM counts its
decoder once (tied to the word embeddings). The embeddings (8192 × hidden) are 86 % of ``xxs``,
79 % of ``xs`` and 25 % of ``l``. On a CPU shared with other jobs, more threads can be slower
(OpenMP oversubscription), hence ``num_threads=1`` for reproducible checkpoints.
"""


def model_config(
    preset: str | Preset | None = None,
    *,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    layers: int | None = None,
    hidden: int | None = None,
    heads: int | None = None,
    ffn: int | None = None,
    dropout: float = 0.1,
    max_position_embeddings: int = MODEL_MAX_LENGTH + 2,
) -> RobertaConfig:
    """A ``RobertaConfig`` for a preset name (:data:`PRESETS`) or explicit sizes.

    Explicit ``layers`` / ``hidden`` / ``heads`` / ``ffn`` override the preset's; without a preset
    all four are required (``ffn`` defaults to ``4 × hidden``). Special-token ids follow
    :data:`SPECIAL_TOKENS` (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2); one token type, as RoBERTa.
    """
    from transformers import RobertaConfig

    base: Preset | None
    if preset is None:
        base = None
    elif isinstance(preset, Preset):
        base = preset
    else:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        base = PRESETS[preset]
    n_layers = layers if layers is not None else (base.layers if base else None)
    width = hidden if hidden is not None else (base.hidden if base else None)
    n_heads = heads if heads is not None else (base.heads if base else None)
    if n_layers is None or width is None or n_heads is None:
        raise ValueError("model_config needs a preset or explicit layers, hidden and heads")
    inner = ffn if ffn is not None else (base.ffn if base else 4 * width)
    if width % n_heads:
        raise ValueError(f"hidden={width} is not divisible by heads={n_heads}")
    for name, value in (("layers", n_layers), ("hidden", width), ("ffn", inner)):
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    return RobertaConfig(
        vocab_size=vocab_size,
        hidden_size=width,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        intermediate_size=inner,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        max_position_embeddings=max_position_embeddings,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        layer_norm_eps=1e-5,
    )


def preset_num_params(
    preset: str | Preset,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    head: Literal["classifier", "mlm"] = "classifier",
    num_labels: int = 2,
) -> int:
    """Parameter count of a preset (built on the ``meta`` device: no memory, milliseconds).

    ``head="classifier"``: ``RobertaForSequenceClassification`` with ``num_labels`` (the D of
    :func:`idtheory.models.load_model`); ``"mlm"``: ``RobertaForMaskedLM`` (decoder tied to the
    word embeddings, counted once).
    """
    import torch
    from transformers import RobertaForMaskedLM, RobertaForSequenceClassification

    from idtheory.models import count_parameters

    cfg = model_config(preset, vocab_size=vocab_size)
    cfg.num_labels = num_labels
    with torch.device("meta"):
        model = RobertaForMaskedLM(cfg) if head == "mlm" else RobertaForSequenceClassification(cfg)
    if head == "mlm":
        # On meta tensors tying cannot be seen through storage: count the tied decoder once.
        return sum(p.numel() for n, p in model.named_parameters() if n != "lm_head.decoder.weight")
    return count_parameters(model)


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


# =========================================================================== pre-training

PrecisionChoice = Literal["auto", "fp32", "bf16"]


@dataclass(frozen=True)
class PretrainConfig:
    """Hyper-parameters of one masked-LM pre-training run (units in the module docstring).

    Attributes:
        preset: a :data:`PRESETS` name; ``layers`` / ``hidden`` / ``heads`` / ``ffn`` override it.
        vocab_size: BPE vocabulary size requested from :func:`train_tokenizer`.
        max_length: tokens per sequence, ``<s>``/``</s>`` included (≤ 512).
        batch_size: sequences per update (split into ``grad_accum`` equal micro-batches).
        steps: total number of updates (it sets the learning-rate schedule).
        lr: peak learning rate; warmup_ratio: fraction of ``steps`` of linear warm-up.
        weight_decay, adam_betas, adam_eps, grad_clip: AdamW and clipping (0 disables it).
        mlm_probability: fraction of non-special tokens predicted (15 %).
        dropout: hidden and attention dropout.
        packing: FULL-SENTENCES blocks (True) or one padded sequence per line (False).
        eval_blocks: sequences held out of training for the eval MLM loss logged at each
            checkpoint (0 disables; only held out when the corpus has ≥ 4× as many sequences).
        save_every: checkpoint every this many updates (and at the last update).
        save_initial: also save ``checkpoint-0`` (the random initialisation).
        log_every: log the mean training loss of the last ``log_every`` updates.
        keep_optimizer_states: newest checkpoints that keep ``optimizer.pt`` / ``scheduler.pt``
            (older ones keep only model + tokenizer; resuming needs the newest one).
        min_frequency: tokenizer merge threshold.
        seed: model initialisation, data order, masking and dropout.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``.
        precision: ``"auto"`` (bf16 autocast on CUDA, fp32 on CPU), ``"fp32"`` or ``"bf16"``.
        num_threads: torch CPU threads during the run (None leaves torch's setting). On a CPU
            shared with other jobs, 1 avoids OpenMP oversubscription, which can slow small
            models down by one or two orders of magnitude.
    """

    preset: str | None = "xs"
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    ffn: int | None = None
    vocab_size: int = DEFAULT_VOCAB_SIZE
    max_length: int = 128
    batch_size: int = 32
    grad_accum: int = 1
    steps: int = 2000
    lr: float = 5e-4
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-6
    grad_clip: float = 1.0
    mlm_probability: float = 0.15
    dropout: float = 0.1
    packing: bool = True
    eval_blocks: int = 64
    save_every: int = 200
    save_initial: bool = True
    log_every: int = 10
    keep_optimizer_states: int = 1
    min_frequency: int = 2
    seed: int = 0
    device: str = "auto"
    precision: PrecisionChoice = "auto"
    num_threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))
        if not 3 <= self.max_length <= MODEL_MAX_LENGTH:
            raise ValueError(
                f"max_length must be in [3, {MODEL_MAX_LENGTH}], got {self.max_length}"
            )
        for name in ("batch_size", "grad_accum", "steps", "save_every", "log_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_size % self.grad_accum:
            raise ValueError(
                f"batch_size={self.batch_size} must be divisible by grad_accum={self.grad_accum}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0 < self.mlm_probability < 1:
            raise ValueError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        if self.keep_optimizer_states < 1:
            raise ValueError("keep_optimizer_states must be >= 1 (resuming needs the newest)")
        self.model_config(self.vocab_size)  # validates the sizes

    def model_config(self, vocab_size: int) -> RobertaConfig:
        """The ``RobertaConfig`` of this run for a tokenizer of ``vocab_size`` tokens."""
        return model_config(
            self.preset,
            vocab_size=vocab_size,
            layers=self.layers,
            hidden=self.hidden,
            heads=self.heads,
            ffn=self.ffn,
            dropout=self.dropout,
        )

    @property
    def warmup_steps(self) -> int:
        return round(self.warmup_ratio * self.steps)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["adam_betas"] = list(self.adam_betas)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PretrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


#: PretrainConfig fields that may differ between an interrupted run and its continuation
#: (they do not change the trained weights; precision does, but moving a CPU run to a GPU is
#: allowed at the price of exactness).
RESUMABLE_CHANGES: tuple[str, ...] = (
    "save_every",
    "save_initial",
    "log_every",
    "keep_optimizer_states",
    "device",
    "precision",
    "num_threads",
)


@dataclass
class PretrainResult:
    """What :func:`pretrain` did.

    Attributes:
        out_dir: the run directory.
        step: updates done when it returned (``config.steps`` unless stopped early).
        checkpoints: :func:`list_checkpoints` of ``out_dir``.
        resumed_from: step of the checkpoint the run continued from (None for a fresh start).
        num_params: parameters of the masked LM (tied decoder counted once).
        vocab_size: ``len(tokenizer)``.
        n_train_sequences / n_eval_sequences: sequences of the training and held-out sets.
        train_tokens: tokens per epoch of the training set (``n_train_sequences × max_length``
            when packed).
        elapsed_s: wall-clock seconds of training, summed over all sessions of the run.
        log_path: ``out_dir/log.jsonl``.
    """

    out_dir: Path
    step: int
    checkpoints: list[tuple[int, Path]]
    resumed_from: int | None
    num_params: int
    vocab_size: int
    n_train_sequences: int
    n_eval_sequences: int
    train_tokens: int
    elapsed_s: float
    log_path: Path


_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")
_TMP_RE = re.compile(r"^\.(checkpoint-\d+|tokenizer)\.(tmp|old)-\d+$")
TRAINER_STATE = "trainer_state.json"
TOKENIZER_META = "idtheory_tokenizer.json"
LOG_FILE = "log.jsonl"


def list_checkpoints(out_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, ``[(step, path), …]`` sorted by step.

    A checkpoint is a directory named ``checkpoint-<step>`` containing ``trainer_state.json``
    (written last, before the atomic rename); temporary directories are ignored. A missing
    ``out_dir`` has no checkpoints.
    """
    root = Path(out_dir)
    if not root.is_dir():
        return []
    found: list[tuple[int, Path]] = []
    for child in root.iterdir():
        m = _CKPT_RE.match(child.name)
        if m and child.is_dir() and (child / TRAINER_STATE).is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def read_log(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The entries of ``out_dir/log.jsonl``: training entries ``{"step", "loss", "lr", "epoch",
    "tokens", "elapsed_s"}`` and eval entries ``{"step", "eval_loss"}`` (losses in nats)."""
    path = Path(out_dir) / LOG_FILE
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _step_seed(seed: int, step: int, stream: int = 0) -> int:
    """Seed of the global torch RNG for update ``step`` (stream 0) or the evaluation (stream 1)."""
    state = np.random.SeedSequence([seed, 7919, stream, step]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def _fingerprint(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", errors="replace"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def _resolve_device(device: str) -> torch.device:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return dev


class _Data:
    """Tokenized sequences of a corpus: packed blocks or per-line sequences, with a held-out
    eval set and a deterministic epoch-wise order."""

    def __init__(
        self, texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, cfg: PretrainConfig
    ) -> None:
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id
        self.special_ids = np.array(tokenizer.all_special_ids, dtype=np.int64)
        body = cfg.max_length - 2
        ids: list[list[int]] = []
        for i in range(0, len(texts), 4096):
            ids.extend(tokenizer(list(texts[i : i + 4096]), add_special_tokens=False)["input_ids"])
        if cfg.packing:
            stream = np.fromiter((tok for seq in ids for tok in (*seq, eos)), dtype=np.int64)
            n_blocks = len(stream) // body
            if n_blocks == 0:
                raise ValueError(
                    f"corpus too small: {len(stream)} tokens, fewer than one block of {body}"
                )
            blocks = stream[: n_blocks * body].reshape(n_blocks, body)
            full = np.concatenate(
                [np.full((n_blocks, 1), bos), blocks, np.full((n_blocks, 1), eos)], axis=1
            )
            seqs: list[np.ndarray] = list(full)
        else:
            seqs = [np.array([bos, *seq[:body], eos], dtype=np.int64) for seq in ids if seq]
            if not seqs:
                raise ValueError("corpus has no non-empty line")
        n = len(seqs)
        perm = np.random.default_rng([cfg.seed, 1]).permutation(n)
        n_eval = cfg.eval_blocks if cfg.eval_blocks and n >= 4 * cfg.eval_blocks else 0
        eval_idx = np.sort(perm[:n_eval])
        train_idx = np.sort(perm[n_eval:])
        self.train = [seqs[i] for i in train_idx]
        self.eval = [seqs[i] for i in eval_idx]
        self.seed = cfg.seed
        self._perms: dict[int, np.ndarray] = {}

    def order(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            self._perms[epoch] = np.random.default_rng([self.seed, 2, epoch]).permutation(
                len(self.train)
            )
        return self._perms[epoch]

    def batch_indices(self, step: int, batch_size: int) -> list[int]:
        """Training-set indices of update ``step`` (1-based): samples ``(step-1)·B … step·B-1``
        of the infinite stream of epoch-wise permutations."""
        n = len(self.train)
        out = []
        for s in range((step - 1) * batch_size, step * batch_size):
            out.append(int(self.order(s // n)[s % n]))
        return out

    def examples(self, seqs: Sequence[np.ndarray]) -> list[dict[str, list[int]]]:
        return [
            {
                "input_ids": s.tolist(),
                "special_tokens_mask": np.isin(s, self.special_ids).astype(np.int64).tolist(),
            }
            for s in seqs
        ]


def _mlm_loss(model: Any, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over the predicted (label ≠ -100) positions; the LM head is applied to
    those positions only (same value as ``RobertaForMaskedLM(...).loss``)."""
    import torch.nn.functional as F

    hidden = model.roberta(
        input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")
    )[0]
    labels = batch["labels"]
    sel = labels != -100
    if not bool(sel.any()):
        return hidden.sum() * 0.0
    logits = model.lm_head(hidden[sel])
    return F.cross_entropy(logits.float(), labels[sel])


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    import torch

    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if use_bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _quiet_hf_progress() -> Iterator[None]:
    """Hide transformers' "Writing model shards" bar while saving, restoring the setting after."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    if enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _fsync_tree(path: Path) -> None:
    for p in path.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _rng_state(device: torch.device) -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(
    out: Path,
    step: int,
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    optimizer: Any,
    scheduler: Any,
    device: torch.device,
    state: dict[str, Any],
    keep_optimizer_states: int,
) -> Path:
    """Write ``checkpoint-<step>`` atomically (temporary directory, then rename)."""
    import torch

    final = out / f"checkpoint-{step}"
    tmp = out / f".checkpoint-{step}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    with _quiet_hf_progress():
        model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(_rng_state(device), tmp / "rng_state.pt")
    with open(tmp / TRAINER_STATE, "w", encoding="utf-8") as fh:  # last: marks completeness
        json.dump(state, fh, indent=1, sort_keys=True)
    _fsync_tree(tmp)
    old: Path | None = None
    if final.exists():
        old = out / f".checkpoint-{step}.old-{os.getpid()}"
        final.rename(old)
    tmp.rename(final)
    _fsync_dir(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    for _, path in list_checkpoints(out)[:-keep_optimizer_states]:
        for name in ("optimizer.pt", "scheduler.pt"):
            with contextlib.suppress(FileNotFoundError):
                (path / name).unlink()
    return final


def _truncate_log(path: Path, step: int) -> None:
    """Keep only log entries of steps ≤ ``step`` (drops what an interrupted session logged
    after its last checkpoint)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        lines = [ln for ln in fh if ln.strip()]
    kept = []
    for ln in lines:
        try:
            entry = json.loads(ln)
        except json.JSONDecodeError:
            continue  # a line truncated by the interruption
        if entry.get("step", 0) <= step:
            kept.append(json.dumps(entry, sort_keys=True) + "\n")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(kept)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _evaluate(model: Any, data: _Data, collator: Any, cfg: PretrainConfig, device: Any) -> float:
    """Mean MLM loss of the held-out sequences with a fixed masking seed (nats per token)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(_step_seed(cfg.seed, 0, stream=1))
        for i in range(0, len(data.eval), cfg.batch_size):
            batch = collator(data.examples(data.eval[i : i + cfg.batch_size]))
            batch = {k: v.to(device) for k, v in batch.items()}
            n = int((batch["labels"] != -100).sum())
            with _autocast(device, cfg.precision):
                loss = _mlm_loss(model, batch)
            total += float(loss) * n
            count += n
    model.train()
    return total / max(count, 1)


def pretrain(
    config: PretrainConfig,
    corpus: Corpus | Sequence[str],
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    *,
    callback: Callable[[int, float], None] | None = None,
    stop_at: int | None = None,
    max_seconds: float | None = None,
) -> PretrainResult:
    """Pre-train a RoBERTa masked LM from scratch on ``corpus`` (resumable).

    Layout of ``out_dir``::

        tokenizer/                 the BPE (trained on the corpus at the first start, then reused)
        checkpoint-<step>/         config.json, model.safetensors, tokenizer files (Hugging Face
                                   format: load_model(path, num_labels=2) works), optimizer.pt,
                                   scheduler.pt, rng_state.pt, trainer_state.json
        log.jsonl                  one JSON object per log entry (see :func:`read_log`)

    If ``out_dir`` already has checkpoints the run continues from the newest one (its optimizer,
    scheduler, RNG state, loss window and elapsed time), after checking that the configuration
    (except :data:`RESUMABLE_CHANGES`) and the corpus fingerprint are the same; log entries
    after that step (written by the interrupted session) are dropped. A run already at
    ``config.steps`` returns at once.

    Args:
        config: hyper-parameters.
        corpus: a :class:`Corpus` or a sequence of lines.
        out_dir: run directory (created).
        progress: show a tqdm progress bar.
        callback: called as ``callback(step, loss)`` after every update (after logging, before
            checkpointing); an exception raised there interrupts the run like a crash would.
        stop_at: return after this many updates (a checkpoint is saved there), to split a run
            into sessions; the schedule still runs over ``config.steps``.
        max_seconds: return (after saving a checkpoint) once this session has trained this long.
    """
    import torch

    previous = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        return _pretrain(
            config,
            corpus,
            out_dir,
            progress,
            callback=callback,
            stop_at=stop_at,
            max_seconds=max_seconds,
        )
    finally:
        if config.num_threads:
            torch.set_num_threads(previous)


def _pretrain(
    config: PretrainConfig,
    corpus: Corpus | Sequence[str],
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    *,
    callback: Callable[[int, float], None] | None = None,
    stop_at: int | None = None,
    max_seconds: float | None = None,
) -> PretrainResult:
    import torch
    from tqdm.auto import tqdm
    from transformers import (
        DataCollatorForLanguageModeling,
        RobertaForMaskedLM,
        get_linear_schedule_with_warmup,
    )

    from idtheory.models import count_parameters

    texts = _texts_of(corpus)
    if not texts:
        raise ValueError("empty corpus")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():
        if _TMP_RE.match(child.name) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
    fingerprint = _fingerprint(texts)
    device = _resolve_device(config.device)

    # ---- tokenizer
    # Reused when it was trained on the same corpus with the same settings (or, once checkpoints
    # exist, always: _check_resume then rejects a different corpus or configuration).
    tok_dir = out / "tokenizer"
    tok_meta = {
        "corpus_fingerprint": fingerprint,
        "vocab_size": config.vocab_size,
        "min_frequency": config.min_frequency,
    }
    meta_path = tok_dir / TOKENIZER_META
    reuse = (tok_dir / "tokenizer.json").is_file() and (
        bool(list_checkpoints(out))
        or (meta_path.is_file() and json.loads(meta_path.read_text()) == tok_meta)
    )
    if reuse:
        tokenizer = _load_tokenizer(tok_dir)
    else:
        tmp_tok = out / f".tokenizer.tmp-{os.getpid()}"
        shutil.rmtree(tmp_tok, ignore_errors=True)
        tokenizer = train_tokenizer(
            texts, config.vocab_size, tmp_tok, min_frequency=config.min_frequency
        )
        (tmp_tok / TOKENIZER_META).write_text(json.dumps(tok_meta, sort_keys=True))
        shutil.rmtree(tok_dir, ignore_errors=True)
        tmp_tok.rename(tok_dir)
    data = _Data(texts, tokenizer, config)
    collator = DataCollatorForLanguageModeling(
        tokenizer=tokenizer, mlm=True, mlm_probability=config.mlm_probability
    )

    # ---- model, optimizer, schedule (fresh or resumed)
    ckpts = list_checkpoints(out)
    resumed_from: int | None = None
    state: dict[str, Any] = {}
    if ckpts:
        resumed_from, ckpt = ckpts[-1]
        state = json.loads((ckpt / TRAINER_STATE).read_text(encoding="utf-8"))
        _check_resume(config, state, fingerprint, ckpt)
        model = RobertaForMaskedLM.from_pretrained(str(ckpt), dtype=torch.float32)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = RobertaForMaskedLM(config.model_config(len(tokenizer)))
    model.to(device)
    model.train()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        exempt = p.ndim < 2 or "LayerNorm" in name or name.endswith("bias")
        (no_decay if exempt else decay).append(p)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=config.adam_betas,
        eps=config.adam_eps,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
    step = 0
    window = [0.0, 0]  # sum and count of losses since the last log entry
    elapsed = 0.0
    tokens = 0
    if resumed_from is not None:
        ckpt = ckpts[-1][1]
        if not (ckpt / "optimizer.pt").is_file():
            raise RuntimeError(
                f"cannot resume from {ckpt}: its optimizer state was pruned (only the newest "
                f"{config.keep_optimizer_states} checkpoint(s) keep it); delete newer incomplete "
                "runs or start a new out_dir"
            )
        optimizer.load_state_dict(
            torch.load(ckpt / "optimizer.pt", map_location=device, weights_only=True)
        )
        scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=True))
        _set_rng_state(torch.load(ckpt / "rng_state.pt", weights_only=True), device)
        step = int(state["step"])
        window = [float(state["window"][0]), int(state["window"][1])]
        elapsed = float(state["elapsed_s"])
        tokens = int(state["tokens"])
        _truncate_log(out / LOG_FILE, step)

    num_params = count_parameters(model)
    result_base = {
        "out_dir": out,
        "resumed_from": resumed_from,
        "num_params": num_params,
        "vocab_size": len(tokenizer),
        "n_train_sequences": len(data.train),
        "n_eval_sequences": len(data.eval),
        "train_tokens": int(sum(len(s) for s in data.train)),
        "log_path": out / LOG_FILE,
    }

    def trainer_state() -> dict[str, Any]:
        return {
            "step": step,
            "window": window,
            "elapsed_s": elapsed,
            "tokens": tokens,
            "config": config.to_dict(),
            "corpus_fingerprint": fingerprint,
            "corpus_lines": len(texts),
            "num_params": num_params,
            "vocab_size": len(tokenizer),
            "n_train_sequences": len(data.train),
            "n_eval_sequences": len(data.eval),
        }

    log_fh = open(out / LOG_FILE, "a", encoding="utf-8")  # closed in the finally below

    def log(entry: dict[str, Any]) -> None:
        log_fh.write(json.dumps(entry, sort_keys=True) + "\n")
        log_fh.flush()

    def save() -> None:
        if data.eval:
            log({"step": step, "eval_loss": _evaluate(model, data, collator, config, device)})
        _save_checkpoint(
            out,
            step,
            model,
            tokenizer,
            optimizer,
            scheduler,
            device,
            trainer_state(),
            config.keep_optimizer_states,
        )

    target = config.steps if stop_at is None else min(config.steps, stop_at)
    try:
        if resumed_from is None and config.save_initial:
            save()
        session_start = time.perf_counter()
        bar = tqdm(
            total=config.steps,
            initial=step,
            desc=f"pretrain {out.name}",
            disable=not progress or step >= target,
            unit="upd",
        )
        micro = config.batch_size // config.grad_accum
        while step < target:
            t0 = time.perf_counter()
            step += 1
            torch.manual_seed(_step_seed(config.seed, step))
            idx = data.batch_indices(step, config.batch_size)
            lr_now = optimizer.param_groups[0]["lr"]
            loss_sum = 0.0
            for j in range(config.grad_accum):
                seqs = [data.train[i] for i in idx[j * micro : (j + 1) * micro]]
                batch = collator(data.examples(seqs))
                batch = {k: v.to(device) for k, v in batch.items()}
                tokens += int(batch["input_ids"].numel())
                with _autocast(device, config.precision):
                    loss = _mlm_loss(model, batch) / config.grad_accum
                loss.backward()
                loss_sum += float(loss.detach())
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            elapsed += time.perf_counter() - t0
            window[0] += loss_sum
            window[1] += 1
            if not math.isfinite(loss_sum):
                warnings.warn(f"pretrain: non-finite loss at step {step}", stacklevel=2)
            if step % config.log_every == 0 or step == config.steps:
                log(
                    {
                        "step": step,
                        "loss": window[0] / window[1],
                        "lr": lr_now,
                        "epoch": step * config.batch_size / len(data.train),
                        "tokens": tokens,
                        "elapsed_s": round(elapsed, 3),
                    }
                )
                window = [0.0, 0]
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum:.3f}")
            if callback is not None:
                callback(step, loss_sum)
            out_of_time = (
                max_seconds is not None and time.perf_counter() - session_start >= max_seconds
            )
            if step % config.save_every == 0 or step == target or out_of_time:
                save()
            if out_of_time:
                break
        bar.close()
    finally:
        log_fh.close()
    return PretrainResult(
        step=step, checkpoints=list_checkpoints(out), elapsed_s=elapsed, **result_base
    )


def _check_resume(
    config: PretrainConfig, state: Mapping[str, Any], fingerprint: str, ckpt: Path
) -> None:
    saved = PretrainConfig.from_dict(state["config"]).to_dict()
    now = config.to_dict()
    diff = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
    if diff:
        details = ", ".join(f"{k}: {saved.get(k)!r} → {now[k]!r}" for k in diff)
        raise ValueError(
            f"cannot resume from {ckpt}: the configuration differs ({details}). Use the same "
            "configuration to continue, or a new out_dir for a new run."
        )
    if state.get("corpus_fingerprint") != fingerprint:
        raise ValueError(
            f"cannot resume from {ckpt}: the corpus differs from the one it was trained on "
            f"(fingerprint {state.get('corpus_fingerprint')} vs {fingerprint})"
        )


# =========================================================================== trend experiments

UNABLE = "unable to compute"
"""Row status of a checkpoint whose full fine-tuning does not beat the majority-class dev score
(or fails altogether): no d90 is measured (Figure 2's missing early points)."""


def _run_baseline(
    model: str,
    task: str,
    *,
    store: ResultsStore,
    train_fn: TrainFn,
    executor: Executor | None,
    full_lrs: Iterable[float],
    seeds: Iterable[int],
    base_train: TrainConfig | None,
    metric: str,
    progress: bool,
) -> tuple[float | None, list[dict[str, Any]]]:
    """The full fine-tuning baseline exactly as :func:`idtheory.search.measure_d90` runs it (same
    specs, so its records are reused by the d90 search): best lr of the mean over seeds, or
    None when no run has status "ok"."""
    base = base_train if base_train is not None else TrainConfig(metric=metric)
    lrs = tuple(dict.fromkeys(float(lr) for lr in full_lrs))
    seeds_t = tuple(dict.fromkeys(int(s) for s in seeds))
    spec0 = RunSpec(model=model, task=task, train=base)
    specs = [spec0.with_(**{"train.lr": lr, "train.seed": s}) for lr in lrs for s in seeds_t]
    ex = executor if executor is not None else LocalExecutor(progress=progress)
    if isinstance(ex, LocalExecutor):
        ex.desc = f"{model}/{task} full fine-tuning"
    records = ex.map(functools.partial(_store_run, store, train_fn), specs)
    if not any(r.get("status") == "ok" for r in records):
        return None, records
    by_lr: dict[float, list[float]] = {}
    for s, r in zip(specs, records, strict=True):
        by_lr.setdefault(s.train.lr, []).append(run_score(r, metric))
    return max(sum(v) / len(v) for v in by_lr.values()), records


def _store_run(store: ResultsStore, train_fn: TrainFn, spec: RunSpec) -> dict[str, Any]:
    return store.run(spec, train_fn)


def _measure_row(
    model: str,
    task: str,
    method: str,
    *,
    store: ResultsStore,
    train_fn: TrainFn | None,
    majority: float,
    majority_margin: float,
    progress: bool,
    search_kwargs: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One (model, task) cell of a trend: baseline, majority check, then d90 if computable."""
    metric = search_kwargs.get("metric", "accuracy")
    fn = train_fn if train_fn is not None else default_train_fn()
    baseline, records = _run_baseline(
        model,
        task,
        store=store,
        train_fn=fn,
        executor=search_kwargs.get("executor"),
        full_lrs=search_kwargs.get("full_lrs", DEFAULT_FULL_LRS),
        seeds=search_kwargs.get("seeds", (0,)),
        base_train=search_kwargs.get("base_train"),
        metric=metric,
        progress=progress,
    )
    row: dict[str, Any] = {
        "task": task,
        "method": method,
        "metric": metric,
        "d90": None,
        "bracket": None,
        "baseline": baseline,
        "majority": majority,
        "threshold": None,
        "status": UNABLE,
        "reason": "",
        "summary_id": None,
    }
    if baseline is None:
        row["reason"] = "no full fine-tuning run succeeded"
        return row, records
    if not baseline > majority + majority_margin:
        row["reason"] = (
            f"full fine-tuning dev {metric} {baseline:.4f} does not beat the majority class "
            f"({majority:.4f}{f' + margin {majority_margin}' if majority_margin else ''})"
        )
        return row, records
    if isinstance(search_kwargs.get("floor"), str):
        floor = resolve_floor(
            search_kwargs["floor"], majority, baseline, search_kwargs.get("frac", 0.9)
        )
        search_kwargs = {**search_kwargs, "floor": floor}
    res = measure_d90(
        model, task, method, store=store, train_fn=fn, progress=progress, **search_kwargs
    )
    row.update(
        d90=res.d90,
        bracket=list(res.bracket),
        baseline=res.baseline_score,
        threshold=res.threshold,
        status=res.status,
        reason=status_reason(res.status),
        summary_id=res.summary_id,
    )
    return row, records


def _infer_step(name: str) -> int | None:
    """Update count from a checkpoint name: ``checkpoint-2000`` → 2000, MultiBERTs
    ``…step_20k`` → 20000, Pythia ``step143000`` → 143000; None if absent."""
    base = Path(name).name if os.sep in name or "/" in name else name
    for text in (base, name):
        m = re.search(r"checkpoint-(\d+)$", text)
        if m:
            return int(m.group(1))
        m = re.search(r"step[_-]?(\d+)(k?)\b", text)
        if m:
            return int(m.group(1)) * (1000 if m.group(2) else 1)
    return None


def _normalize_checkpoints(
    checkpoints: str | os.PathLike[str] | Iterable[str | os.PathLike[str] | tuple[int, Any]],
) -> list[tuple[int | None, str]]:
    if isinstance(checkpoints, (str, os.PathLike)):
        found = list_checkpoints(checkpoints)
        if not found:
            raise ValueError(f"no complete checkpoint-<step> directory in {checkpoints}")
        return [(s, str(p)) for s, p in found]
    out: list[tuple[int | None, str]] = []
    for item in checkpoints:
        if isinstance(item, tuple):
            step, name = item
            out.append((None if step is None else int(step), os.fspath(name)))
        else:
            name = os.fspath(item)
            out.append((_infer_step(name), name))
    return out


def _majorities(
    tasks: Sequence[str],
    metric: str,
    majority: Mapping[str, float] | None,
    data_dir: str | os.PathLike[str] | None,
) -> dict[str, float]:
    given = {get_task(k).name: float(v) for k, v in (majority or {}).items()}
    return {t: given[t] if t in given else majority_score(t, metric, data_dir) for t in tasks}


def pretraining_trend(
    checkpoints: str | os.PathLike[str] | Iterable[str | os.PathLike[str] | tuple[int, Any]],
    tasks: str | Iterable[str],
    method: str = "said",
    *,
    store: ResultsStore,
    train_fn: TrainFn | None = None,
    majority_margin: float = 0.0,
    majority: Mapping[str, float] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **search_kwargs: Any,
) -> list[dict[str, Any]]:
    """d90 at every checkpoint × task (Figure 2): one tidy row per cell, none dropped.

    For each cell the full fine-tuning baseline is run first (the same runs as
    :func:`~idtheory.search.measure_d90`'s step 1, cached in ``store``); if it does not beat the
    majority-class dev score by more than ``majority_margin`` (or no baseline run succeeds) the
    row gets status :data:`UNABLE` and no subspace training is spent on it; otherwise
    ``measure_d90(checkpoint, task, method, store=store, train_fn=train_fn, **search_kwargs)``
    gives d90 (statuses ``"ok"``, ``"passes_at_smallest"``, ``"never_passes"``).

    Args:
        checkpoints: a pre-training ``out_dir`` (its :func:`list_checkpoints`), or a list of
            checkpoint directories / hub ids (step read from ``checkpoint-<n>``, ``step_<n>k`` or
            ``step<n>`` in the name, else None), or of ``(step, name)`` pairs.
        tasks: task name(s); rows use canonical names.
        method: ``"said"`` or ``"did"``.
        store / train_fn / search_kwargs: as for :func:`~idtheory.search.measure_d90`;
            ``floor="majority"`` / ``"auto"`` are resolved per task by
            :func:`~idtheory.search.resolve_floor` (chance-corrected d90: the threshold is
            ``majority + frac × (baseline − majority)``; "auto" only where the paper's
            ``frac × baseline`` is at or below the majority score).
        majority_margin: required margin over the majority score (same units as the metric).
        majority: task → majority score, overriding the one computed from the dev labels.
        data_dir: local task data (for the majority score).

    Returns:
        Rows ``{"checkpoint", "step", "task", "method", "metric", "d90", "bracket" ([lo, hi] or
        None), "baseline", "majority", "threshold", "status", "reason", "summary_id"}`` in
        checkpoint-major order (sorted by step when ``checkpoints`` is a directory).
    """
    task_list = (
        [get_task(tasks).name] if isinstance(tasks, str) else [get_task(t).name for t in tasks]
    )
    metric = search_kwargs.get("metric", "accuracy")
    cells = _normalize_checkpoints(checkpoints)
    majorities = _majorities(task_list, metric, majority, data_dir)
    rows: list[dict[str, Any]] = []
    for step, name in cells:
        for task in task_list:
            row, _ = _measure_row(
                name,
                task,
                method,
                store=store,
                train_fn=train_fn,
                majority=majorities[task],
                majority_margin=majority_margin,
                progress=progress,
                search_kwargs=search_kwargs,
            )
            rows.append({"checkpoint": name, "step": step, **row})
    return rows


@dataclass(frozen=True)
class LogLogFit:
    """Least-squares line ``log10(d90) = intercept + slope · log10(n_params)``.

    Attributes:
        slope / intercept: the fitted line (decimal logs; ``10**intercept`` is the d90 predicted
            at one parameter).
        slope_stderr / intercept_stderr: their standard errors.
        r2: coefficient of determination; pvalue: two-sided test of slope = 0.
        slope_ci95: 95 % confidence interval of the slope (Student t, n − 2 degrees of freedom).
        n: number of points.
    """

    slope: float
    intercept: float
    slope_stderr: float
    intercept_stderr: float
    r2: float
    pvalue: float
    slope_ci95: tuple[float, float]
    n: int

    def predict(self, n_params: float | np.ndarray) -> float | np.ndarray:
        """d90 predicted by the line at ``n_params``."""
        return 10.0 ** (self.intercept + self.slope * np.log10(n_params))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["slope_ci95"] = list(self.slope_ci95)
        return d


def fit_loglog(n_params: Sequence[float], d90: Sequence[float]) -> LogLogFit:
    """Fit ``log10 d90`` against ``log10 n_params`` (``scipy.stats.linregress``).

    Raises:
        ValueError: fewer than 3 points, lengths differ, non-positive or non-finite values, or
            all ``n_params`` equal.
    """
    from scipy import stats

    x = np.asarray(n_params, dtype=np.float64)
    y = np.asarray(d90, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"n_params and d90 must be 1-D of equal length, got {x.shape}, {y.shape}")
    if x.size < 3:
        raise ValueError(f"fit_loglog needs at least 3 points, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("n_params and d90 must be finite and positive")
    lx, ly = np.log10(x), np.log10(y)
    if np.ptp(lx) == 0:
        raise ValueError("all n_params are equal: the slope is undefined")
    res = stats.linregress(lx, ly)
    t = float(stats.t.ppf(0.975, x.size - 2))
    slope, se = float(res.slope), float(res.stderr)
    return LogLogFit(
        slope=slope,
        intercept=float(res.intercept),
        slope_stderr=se,
        intercept_stderr=float(res.intercept_stderr),
        r2=float(res.rvalue) ** 2,
        pvalue=float(res.pvalue),
        slope_ci95=(slope - t * se, slope + t * se),
        n=int(x.size),
    )


class SizeTrend(NamedTuple):
    """Result of :func:`size_trend`: the rows and the log-log fit (None with < 3 usable rows)."""

    rows: list[dict[str, Any]]
    fit: LogLogFit | None


def size_trend(
    models: Iterable[str] | Mapping[str, int | None],
    task: str = "mrpc",
    method: str = "said",
    *,
    store: ResultsStore,
    train_fn: TrainFn | None = None,
    majority_margin: float = 0.0,
    majority: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    check_classifiers: bool = False,
    fit_statuses: Sequence[str] = ("ok",),
    progress: bool = True,
    **search_kwargs: Any,
) -> SizeTrend:
    """d90 against parameter count (Figure 3): one row per model, and a log-log fit.

    Each model is measured as in :func:`pretraining_trend` (baseline, majority check, then
    :func:`~idtheory.search.measure_d90`). The parameter count is the value given in ``models``
    (a mapping name → count) or else the ``num_params`` reported by the baseline records (the
    trainer's D of the sequence-classification model).

    Args:
        models: names / directories / hub ids, or a mapping to known parameter counts.
        task, method, store, train_fn, search_kwargs: as for :func:`pretraining_trend`.
        majority: majority score of ``task`` (default: computed from its dev labels).
        check_classifiers: run :func:`check_sequence_classifier` on every model first (needs
            each model's config: a local directory, the hub cache or network).
        fit_statuses: row statuses used by the fit (default only ``"ok"``: a
            ``"passes_at_smallest"`` d90 is only an upper bound).

    Returns:
        ``SizeTrend(rows, fit)``; rows ``{"model", "n_params", "task", "method", "metric", "d90",
        "bracket", "baseline", "majority", "threshold", "status", "reason", "summary_id"}``.
    """
    items = list(models.items()) if isinstance(models, Mapping) else [(m, None) for m in models]
    if check_classifiers:
        for name, _ in items:
            check_sequence_classifier(name)
    task_name = get_task(task).name
    metric = search_kwargs.get("metric", "accuracy")
    maj = float(majority) if majority is not None else majority_score(task_name, metric, data_dir)
    rows: list[dict[str, Any]] = []
    for name, count in items:
        row, records = _measure_row(
            name,
            task_name,
            method,
            store=store,
            train_fn=train_fn,
            majority=maj,
            majority_margin=majority_margin,
            progress=progress,
            search_kwargs=search_kwargs,
        )
        if count is None:
            reported = [
                int(r["num_params"]) for r in records if is_finite_number(r.get("num_params"))
            ]
            count = max(reported) if reported else None
        rows.append({"model": name, "n_params": count, **row})
    usable = [
        r
        for r in rows
        if r["status"] in fit_statuses and r["d90"] is not None and r["n_params"] is not None
    ]
    fit: LogLogFit | None = None
    if len(usable) >= 3:
        fit = fit_loglog([r["n_params"] for r in usable], [r["d90"] for r in usable])
    else:
        warnings.warn(
            f"size_trend: only {len(usable)} model(s) with a d90 of status {list(fit_statuses)}; "
            "no log-log fit (needs 3)",
            stacklevel=2,
        )
    return SizeTrend(rows=rows, fit=fit)


# =========================================================================== public models

PUBLIC_SIZE_MODELS: tuple[str, ...] = (
    "google-bert/bert-base-uncased",
    "google-bert/bert-large-uncased",
    "FacebookAI/roberta-base",
    "FacebookAI/roberta-large",
    "google/electra-small-discriminator",
    "google/electra-base-discriminator",
    "google/electra-large-discriminator",
    "albert/albert-base-v2",
    "albert/albert-large-v2",
    "albert/albert-xlarge-v2",
    "facebook/bart-base",
    "facebook/bart-large",
    "xlnet/xlnet-base-cased",
    "xlnet/xlnet-large-cased",
    "google-t5/t5-small",
    "google-t5/t5-base",
    "google-t5/t5-large",
    "FacebookAI/xlm-roberta-base",
    "FacebookAI/xlm-roberta-large",
    "microsoft/deberta-v3-small",
    "microsoft/deberta-v3-base",
    "microsoft/deberta-v3-large",
    "answerdotai/ModernBERT-base",
    "answerdotai/ModernBERT-large",
)
"""Hugging Face hub ids for the paper-scale Figure 3 (the paper's families BERT, RoBERTa, BART,
ELECTRA, ALBERT, XLNet, T5, XLM-R, plus DeBERTa-v3 and ModernBERT), ≈ 12 M (ALBERT-base) to
≈ 740 M (T5-large) parameters. Every one loads with ``AutoModelForSequenceClassification``
(ELECTRA: the discriminators; T5: ``T5ForSequenceClassification``, encoder-decoder with an EOS
pooled head; BART likewise; XLNet: last-token summary). Use their true counts from the trainer's
records, not nominal sizes. Needs network or a filled hub cache."""


@dataclass(frozen=True)
class CheckpointSuite:
    """A public series of intermediate pre-training checkpoints (Figure 2 at paper scale).

    Attributes:
        name: short name.
        repos: hub repository id per seed / model size (``{seed}`` / ``{step}`` templates filled
            by :meth:`references`).
        steps: the available updates.
        revision_template: ``None`` when each step is its own repository, else the git revision
            name of a step (``"step{step}"`` for Pythia).
        description: provenance and caveats.
    """

    name: str
    repos: tuple[str, ...]
    steps: tuple[int, ...]
    revision_template: str | None
    description: str

    def references(self, repo_index: int = 0) -> list[tuple[int, str, str | None]]:
        """``[(step, repo_id, revision or None), …]`` for one repository template.

        When ``revision`` is not None, download the snapshot first
        (``huggingface_hub.snapshot_download(repo_id, revision=revision)``) and pass its local
        directory to :func:`pretraining_trend`; :func:`idtheory.models.load_model` takes no
        revision.
        """
        template = self.repos[repo_index]
        out: list[tuple[int, str, str | None]] = []
        for step in self.steps:
            if self.revision_template is None:
                out.append((step, template.format(step_k=step // 1000), None))
            else:
                out.append((step, template, self.revision_template.format(step=step)))
        return out


_MULTIBERTS_STEPS = tuple(range(0, 200_001, 20_000)) + tuple(range(300_000, 2_000_001, 100_000))
_PYTHIA_STEPS = (0, *(2**i for i in range(10)), *range(1000, 143_001, 1000))

PUBLIC_CHECKPOINT_SUITES: dict[str, CheckpointSuite] = {
    "multiberts": CheckpointSuite(
        name="multiberts",
        repos=tuple(f"google/multiberts-seed_{s}-step_{{step_k}}k" for s in range(5)),
        steps=_MULTIBERTS_STEPS,
        revision_template=None,
        description=(
            "MultiBERTs (Sellam et al. 2022): BERT-base uncased reproductions (MLM + NSP, 2M "
            "steps, batch 256, seq. 512); seeds 0–4 have intermediate checkpoints, one "
            "repository each (google/multiberts-seed_<s>-step_<k>k), every 20k steps up to 200k "
            "then every 100k to 2000k. The model cards count 28 intermediate checkpoints per "
            "seed; check the exact list on the hub. BertForPreTraining weights: the "
            "classification head is new."
        ),
    ),
    "pythia": CheckpointSuite(
        name="pythia",
        repos=tuple(
            f"EleutherAI/pythia-{size}"
            for size in ("14m", "70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b")
        ),
        steps=_PYTHIA_STEPS,
        revision_template="step{step}",
        description=(
            "Pythia (Biderman et al. 2023): GPT-NeoX decoder-only LMs on the Pile; 154 revisions "
            "per model (step0, log-spaced step1…step512, then every 1000 to step143000), as git "
            "revisions of one repository. GPTNeoXForSequenceClassification pools the last "
            "non-pad token and needs a pad token (set tokenizer.pad_token = eos_token). A "
            "causal LM, not the paper's masked-LM setting; '-deduped' variants also exist."
        ),
    ),
}
"""Public intermediate-checkpoint suites usable with :func:`pretraining_trend`."""


class NotASequenceClassifier(ValueError):
    """A model has no ``AutoModelForSequenceClassification`` class in transformers."""


def check_sequence_classifier(name_or_config: str | os.PathLike[str] | PretrainedConfig) -> str:
    """Check that a model loads with ``AutoModelForSequenceClassification``; return the class
    name (e.g. ``"RobertaForSequenceClassification"``).

    Accepts a ``PretrainedConfig``, an alias of :func:`idtheory.models.model_aliases` (always
    fine), a local directory with a ``config.json``, or a hub id (its config is fetched, or read
    from the cache when ``HF_HUB_OFFLINE`` is set).

    Raises:
        NotASequenceClassifier: the architecture has no sequence-classification head in
            transformers (e.g. ViT, CLIP, Marian, Pegasus); the message names the model type.
        idtheory.models.ModelNotFound: the config cannot be obtained.
    """
    from transformers import AutoConfig, PretrainedConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    from idtheory.models import ModelNotFound, hub_offline, model_aliases

    if isinstance(name_or_config, PretrainedConfig):
        config = name_or_config
        label = f"config of type {type(config).__name__}"
    else:
        name = os.fspath(name_or_config)
        aliases = {a.lower() for a in model_aliases()}
        if name.strip().lower() in aliases:
            return "AutoModelForSequenceClassification (built-in alias)"
        label = repr(name)
        try:
            config = AutoConfig.from_pretrained(name, local_files_only=hub_offline())
        except (OSError, ValueError) as exc:
            raise ModelNotFound(
                f"cannot read the config of {name!r} to check its head ({type(exc).__name__}: "
                f"{exc})"
            ) from exc
    model_type = getattr(config, "model_type", None)
    cls = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES.get(model_type or "")
    if cls is None:
        raise NotASequenceClassifier(
            f"{label} (model_type {model_type!r}) has no sequence-classification head in "
            "transformers (AutoModelForSequenceClassification does not support it), so its "
            "d90 cannot be measured by fine-tuning a classifier. Pick an encoder, "
            "encoder-decoder or decoder model with a *ForSequenceClassification class (see "
            "PUBLIC_SIZE_MODELS)."
        )
    return cls


# =========================================================================== CLI


def add_pretrain_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``idtheory pretrain`` to ``parser`` (returned for chaining)."""
    d = PretrainConfig()
    g = parser.add_argument_group("model")
    g.add_argument("--preset", default=d.preset, choices=list(PRESETS), help="model size")
    g.add_argument("--layers", type=int, help="override the preset's number of layers")
    g.add_argument("--hidden", type=int, help="override the preset's hidden size")
    g.add_argument("--heads", type=int, help="override the preset's attention heads")
    g.add_argument("--ffn", type=int, help="override the preset's feed-forward size")
    g.add_argument("--vocab-size", type=int, default=d.vocab_size, help="BPE vocabulary size")
    g = parser.add_argument_group("corpus")
    g.add_argument(
        "--corpus",
        default="glue",
        nargs="+",
        help="'glue', a hub corpus (e.g. wikitext-103-raw-v1, hf:owner/name[:config]), or "
        "text files / directories (one document per line)",
    )
    g.add_argument(
        "--exclude-tasks",
        default=",".join(GLUE_CORPUS_TASKS),
        help="comma-separated tasks whose dev/test text must not be in the corpus ('' for none)",
    )
    g.add_argument("--data-dir", help="local task data (default $IDTHEORY_DATA)")
    g.add_argument(
        "--keep-overlap",
        action="store_true",
        help="do not drop overlapping corpus lines (then any overlap is an error)",
    )
    g.add_argument("--dedupe", action="store_true", help="drop repeated corpus lines")
    g.add_argument("--max-lines", type=int, help="use only the first N corpus lines")
    g = parser.add_argument_group("training")
    g.add_argument("--steps", type=int, default=d.steps, help="total updates")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="sequences per update")
    g.add_argument("--grad-accum", type=int, default=d.grad_accum, help="micro-batches/update")
    g.add_argument("--max-length", type=int, default=d.max_length, help="tokens per sequence")
    g.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    g.add_argument("--warmup-ratio", type=float, default=d.warmup_ratio)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--dropout", type=float, default=d.dropout)
    g.add_argument("--no-packing", action="store_true", help="one padded sequence per line")
    g.add_argument("--eval-blocks", type=int, default=d.eval_blocks, help="held-out sequences")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1 ...")
    g.add_argument("--precision", default=d.precision, choices=("auto", "fp32", "bf16"))
    g.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's; 1 is fastest on a CPU shared with other jobs)",
    )
    g = parser.add_argument_group("checkpoints")
    g.add_argument("--out", required=True, help="run directory (resumed if it has checkpoints)")
    g.add_argument("--save-every", type=int, default=d.save_every, help="updates/checkpoint")
    g.add_argument("--log-every", type=int, default=d.log_every, help="updates per log entry")
    g.add_argument("--no-initial", action="store_true", help="do not save checkpoint-0")
    g.add_argument("--stop-at", type=int, help="stop this session after this many updates")
    g.add_argument("--max-seconds", type=float, help="stop this session after this long")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run_pretrain_command(args: argparse.Namespace) -> int:
    """Run ``idtheory pretrain`` from parsed arguments; returns the exit status (0)."""
    corpus_arg = args.corpus if isinstance(args.corpus, str) else list(args.corpus)
    source: Any = (
        corpus_arg[0] if isinstance(corpus_arg, list) and len(corpus_arg) == 1 else corpus_arg
    )
    exclude = [t for t in (args.exclude_tasks or "").split(",") if t.strip()]
    corpus = build_corpus(
        source,
        tasks_to_exclude=exclude,
        data_dir=args.data_dir,
        drop_overlap=not args.keep_overlap,
        dedupe=args.dedupe,
        max_lines=args.max_lines,
    )
    print(
        f"corpus: {len(corpus)} lines, {corpus.num_words} words from {corpus.source}; "
        f"{corpus.n_dropped} line(s) dropped for overlap with {list(corpus.excluded_tasks)}"
    )
    config = PretrainConfig(
        preset=args.preset,
        layers=args.layers,
        hidden=args.hidden,
        heads=args.heads,
        ffn=args.ffn,
        vocab_size=args.vocab_size,
        max_length=args.max_length,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        steps=args.steps,
        lr=args.lr,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        dropout=args.dropout,
        packing=not args.no_packing,
        eval_blocks=args.eval_blocks,
        save_every=args.save_every,
        save_initial=not args.no_initial,
        log_every=args.log_every,
        seed=args.seed,
        device=args.device,
        precision=args.precision,
        num_threads=args.threads,
    )
    res = pretrain(
        config,
        corpus,
        args.out,
        progress=not args.no_progress,
        stop_at=args.stop_at,
        max_seconds=args.max_seconds,
    )
    start = "fresh start" if res.resumed_from is None else f"resumed from step {res.resumed_from}"
    print(
        f"pretrain: {res.out_dir} at step {res.step}/{config.steps} ({start}); "
        f"{res.num_params:,} parameters, vocab {res.vocab_size}, "
        f"{res.n_train_sequences} training sequences; {res.elapsed_s:.0f} s of training; "
        f"{len(res.checkpoints)} checkpoint(s), log {res.log_path}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m idtheory.pretrain``."""
    parser = argparse.ArgumentParser(
        prog="python -m idtheory.pretrain",
        description="Pre-train a RoBERTa-style masked LM from scratch (resumable checkpoints).",
    )
    add_pretrain_arguments(parser)
    return run_pretrain_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
