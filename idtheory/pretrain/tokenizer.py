"""The byte-level BPE tokenizer of from-scratch pre-training (:func:`train_tokenizer`).

RoBERTa's special tokens ``<s> <pad> </s> <unk> <mask>`` get ids 0–4; the tokenizer is saved so
that ``AutoTokenizer.from_pretrained(dir)`` loads it offline.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

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
