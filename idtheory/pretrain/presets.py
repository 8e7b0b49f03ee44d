"""Model sizes of from-scratch pre-training: RoBERTa masked-LM presets (:data:`PRESETS`,
:func:`model_config`, :func:`preset_num_params`; parameter counts are numbers of scalars)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from idtheory.pretrain.tokenizer import DEFAULT_VOCAB_SIZE, MODEL_MAX_LENGTH

if TYPE_CHECKING:
    from transformers import RobertaConfig

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
