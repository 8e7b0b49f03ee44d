"""From-scratch RoBERTa-style masked-LM pre-training: the checkpoints of Figure 2 and Figure 3.

Aghajanyan et al. (2021, Figure 2) re-pre-train RoBERTa-Base and measure SAID d90 every 10k
updates. This package makes such checkpoints at a scale a 2-core CPU can run, and with the same
code at paper scale; the trend experiments that measure d90 on them are in
:mod:`idtheory.trends`. One module per concern:

* :mod:`~idtheory.pretrain.tokenizer` — :func:`train_tokenizer`, a byte-level BPE (RoBERTa
  special tokens ``<s> <pad> </s> <unk> <mask>`` = ids 0–4) that loads offline.
* :mod:`~idtheory.pretrain.presets` — :data:`PRESETS` / :func:`model_config`: RoBERTa
  masked-LM sizes with their measured parameter counts.
* :mod:`~idtheory.pretrain.corpus` — :func:`build_corpus` / :func:`check_no_overlap`: a
  pre-training corpus (local text files, the unlabeled sentences of the local GLUE **train**
  splits, or a ``datasets`` hub corpus) that shares no sentence with the evaluated dev/test sets.
* :mod:`~idtheory.pretrain.mlm` — :class:`PretrainConfig` and :func:`pretrain`: the MLM loop
  (units, masking, determinism and optimizer conventions in its docstring).
* :mod:`~idtheory.pretrain.checkpoints` — atomic, resumable Hugging Face checkpoints
  ``out_dir/checkpoint-<step>/`` that :func:`idtheory.models.load_model` loads as classifiers
  (:func:`list_checkpoints`, :func:`checkpoint_step`, :func:`read_log`).
* :mod:`~idtheory.pretrain.cli` — :func:`add_pretrain_arguments` / :func:`run_pretrain_command`:
  the ``idtheory pretrain`` command (also ``python -m idtheory.pretrain``).
"""

from idtheory.pretrain.checkpoints import checkpoint_step, list_checkpoints, read_log
from idtheory.pretrain.cli import add_pretrain_arguments, main, run_pretrain_command
from idtheory.pretrain.corpus import (
    GLUE_CORPUS_TASKS,
    HUB_CORPORA,
    Corpus,
    CorpusOverlapError,
    build_corpus,
    check_no_overlap,
    normalize_text,
)
from idtheory.pretrain.mlm import RESUMABLE_CHANGES, PretrainConfig, PretrainResult, pretrain
from idtheory.pretrain.presets import PRESETS, Preset, model_config, preset_num_params
from idtheory.pretrain.tokenizer import (
    DEFAULT_VOCAB_SIZE,
    MODEL_MAX_LENGTH,
    SPECIAL_TOKENS,
    train_tokenizer,
)

__all__ = [
    "DEFAULT_VOCAB_SIZE",
    "GLUE_CORPUS_TASKS",
    "HUB_CORPORA",
    "MODEL_MAX_LENGTH",
    "PRESETS",
    "RESUMABLE_CHANGES",
    "SPECIAL_TOKENS",
    "Corpus",
    "CorpusOverlapError",
    "Preset",
    "PretrainConfig",
    "PretrainResult",
    "add_pretrain_arguments",
    "build_corpus",
    "check_no_overlap",
    "checkpoint_step",
    "list_checkpoints",
    "main",
    "model_config",
    "normalize_text",
    "preset_num_params",
    "pretrain",
    "read_log",
    "run_pretrain_command",
    "train_tokenizer",
]
