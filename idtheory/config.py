"""Plain configuration records shared by every layer (no torch import).

* :class:`SubspaceConfig` — how a model is re-parameterised as θ = θ₀ + P·θ_d.
* :class:`TrainConfig` — optimisation hyper-parameters of one training.
* :class:`RunSpec` — everything that determines one training run (model, task, subspace,
  training); its :meth:`RunSpec.config_hash` is the key of the results store, so two runs with
  equal specs are the same run and are never trained twice.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from idtheory.precision import PRECISIONS
from idtheory.projections import PROJECTION_NAMES


def canonical_json(obj: Any) -> str:
    """``obj`` as canonical JSON text: keys sorted, no spaces, tuples written as lists, NaN as
    ``NaN`` (so equal to itself) — the form every id of the store is computed from and records
    are compared in."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def content_id(obj: Any) -> str:
    """The 16-hex-digit id of ``obj``: the first 16 hex digits of the SHA-256 of its
    :func:`canonical_json` (run ids: :meth:`RunSpec.config_hash`; d90 summary ids)."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:16]


Method = Literal["full", "said", "did"]

#: Choices of :class:`SubspaceConfig` fields (checked in ``__post_init__``, offered by the CLI).
SUBSPACE_METHODS: tuple[str, ...] = ("said", "did")
LAYOUTS: tuple[str, ...] = ("global", "per_tensor")
SCALINGS: tuple[str, ...] = ("block", "module", "tensor")
GRAD_SCALES: tuple[str, ...] = ("exact", "authors")
#: Dev metrics :func:`idtheory.tasks.compute_metrics` reports (``TrainConfig.metric``).
METRICS: tuple[str, ...] = ("accuracy", "f1", "mcc")

# Field metadata (read by the command line, :func:`idtheory.cli.add_config_options`):
#   "help": the option's help text (the docstrings say more);
#   "choices": the accepted values; "positive": True when only values > 0 make sense;
#   "flag": the option's name where it is not ``--field-name`` (``--proj-seed``).


@dataclass(frozen=True)
class SubspaceConfig:
    """Configuration of a subspace (intrinsic-dimension) model.

    Attributes:
        dim: d, the total number of trainable parameters. For SAID the λ scales are counted
            inside ``dim`` (Aghajanyan et al. 2021, Eq. 3), so θ_d has ``dim - n_groups`` entries.
        method: ``"said"`` (structure-aware: learned per-group scale λ) or ``"did"`` (direct).
        projection: a name in :data:`idtheory.projections.REGISTRY`: ``"fastfood"`` (the
            paper), ``"fastfood_hashed"`` (the same structure with B, Π, G regenerated from
            counter-based hashes of the seed: O(1) state, a different but equally
            seed-determined P), ``"dense"`` or ``"sparse"`` (Li et al. 2018).
        layout: ``"global"`` — one projection over the concatenated parameter vector (the paper's
            description, Li et al.'s code); ``"per_tensor"`` — one independent projection per
            tensor, all fed the same θ_d (the authors' released code).
        scaling: SAID λ granularity: ``"block"`` (one λ per transformer block plus one per other
            backbone part — embeddings, pooler — and one for the head; the default, since
            per-tensor λ cannot give the paper's d = 207 on RoBERTa-Large), ``"module"`` (one per
            ``nn.Module`` owning parameters) or ``"tensor"`` (one per named tensor, the authors'
            code).
        seed: seed of the random projection (B, Π, G regenerated from it).
        include / exclude: regular expressions on parameter names; a parameter is projected
            when it matches some ``include`` (or ``include`` is None) and no ``exclude``.
        train_head: if True the classification head is trained directly, outside the subspace
            (PEFT's convention); default False puts it inside (the paper's and authors' choice).
        grad_scale: ``"exact"`` (autograd's exact gradient) or ``"authors"`` (reproduces the
            released CUDA code, whose backward scales each FWHT's gradient by 1/√L).
    """

    dim: int = field(
        metadata={
            "help": "d, required for --method said/did (SAID: λ counted in d)",
            "positive": True,
        }
    )
    method: Literal["said", "did"] = field(
        default="said",
        metadata={"help": "SAID (learned λ per group) or DID", "choices": SUBSPACE_METHODS},
    )
    projection: str = field(
        default="fastfood",
        metadata={
            "help": "random projection P (the names of idtheory.projections.REGISTRY)",
            "choices": PROJECTION_NAMES,
        },
    )
    layout: Literal["global", "per_tensor"] = field(
        default="global",
        metadata={
            "help": "one projection of all parameters, or one per tensor",
            "choices": LAYOUTS,
        },
    )
    scaling: Literal["block", "module", "tensor"] = field(
        default="block", metadata={"help": "SAID λ granularity", "choices": SCALINGS}
    )
    seed: int = field(
        default=0, metadata={"help": "seed of the random projection", "flag": "--proj-seed"}
    )
    include: tuple[str, ...] | None = field(
        default=None,
        metadata={"help": "project only parameters whose name matches one of these regexes"},
    )
    exclude: tuple[str, ...] | None = field(
        default=None,
        metadata={"help": "leave out parameters whose name matches one of these regexes"},
    )
    train_head: bool = field(
        default=False,
        metadata={"help": "train the classification head directly, outside the subspace"},
    )
    grad_scale: Literal["exact", "authors"] = field(
        default="exact",
        metadata={
            "help": "'authors' reproduces the released code's 1/L-scaled gradient",
            "choices": GRAD_SCALES,
        },
    )

    def __post_init__(self) -> None:
        dim = _as_int(self.dim)
        if dim is None or dim <= 0:
            raise ValueError(f"SubspaceConfig.dim must be a positive integer, got {self.dim!r}")
        object.__setattr__(self, "dim", dim)
        seed = _as_int(self.seed)
        if seed is None:
            raise ValueError(f"SubspaceConfig.seed must be an integer, got {self.seed!r}")
        object.__setattr__(self, "seed", seed)
        for f in fields(self):
            if "choices" in f.metadata:
                _check_choice(f.name, getattr(self, f.name), f.metadata["choices"])
        for name in ("include", "exclude"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif value is not None:
                object.__setattr__(self, name, tuple(value))
            for pattern in getattr(self, name) or ():
                try:
                    re.compile(pattern)
                except re.error as err:
                    raise ValueError(
                        f"SubspaceConfig.{name}: {pattern!r} is not a regular expression ({err})"
                    ) from None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("include", "exclude"):
            if d[name] is not None:
                d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubspaceConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"unknown SubspaceConfig fields {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**d)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training (full fine-tuning or subspace training).

    Attributes:
        lr: peak learning rate of AdamW (linear warm-up then linear decay to 0).
        epochs: number of passes over the (possibly subsampled) training set; ignored when
            ``max_steps`` is set.
        max_steps: total optimizer steps, overriding ``epochs``.
        batch_size: examples per optimizer step.
        max_length: tokens per example after truncation (dynamic padding within a batch).
        warmup_ratio: fraction of the total steps used for linear warm-up.
        weight_decay: AdamW decoupled weight decay (applied to θ_d too in subspace training).
        grad_clip: max global gradient norm (0 disables clipping).
        seed: seed of data order, dropout and head initialisation.
        eval_every: evaluate every this many steps; 0 means once per epoch.
        max_train_examples / max_eval_examples: subsample the splits with a fixed seed (None = all).
        metric: dev metric used for best-checkpoint selection and d90 (``"accuracy"``, ``"f1"``,
            ``"mcc"``).
        precision: autocast precision of the model: ``"auto"`` (default; bf16 where the CPU or
            GPU computes bfloat16 natively, else fp32 — resolved when the config is created,
            see :mod:`idtheory.precision`), ``"fp32"``, ``"bf16"`` (CPU or CUDA) or ``"fp16"``
            (CUDA only). Projection, θ_d, λ and optimizer state stay float32; evaluation runs
            in the same precision.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        group_by_length: batch examples of similar length (as ``transformers.Trainer``'s
            option of that name): each epoch's shuffled order is cut into mega-batches of
            :data:`LENGTH_GROUP_BATCHES` batches, each sorted by length, and the batches are
            then shuffled. Fewer pad tokens (MRPC: 1.09× the real tokens instead of 1.51×;
            SST-2: 1.26× instead of 3.03×), a different data order.
        quantize_levels: None (default) trains θ_d in float; an integer L ≥ 2 trains it
            quantization-aware, by a straight-through estimator (:class:`idtheory.quantize.
            StraightThrough`): every forward and backward, and every evaluation, sees θ_d
            replaced by its L-level k-means quantization (codebook rounded to float16, refit
            every step) and λ rounded to float16, and the trained model is left quantized.
            Subspace runs only.
        gradient_checkpointing: keep only each transformer layer's inputs during the forward
            and recompute the layer in the backward (:func:`idtheory.train.checkpointed_layers`):
            activation memory falls from all layers' to about one layer's, for about one more
            forward pass of compute. The same numbers (random state restored for dropout): it
            enters neither the config hash nor a checkpoint's fingerprint (:data:`MEMORY_ONLY`),
            so a training may resume with it switched.
    """

    lr: float = field(default=2e-5, metadata={"help": "peak learning rate", "positive": True})
    epochs: float = field(default=3.0, metadata={"help": "passes over the data", "positive": True})
    max_steps: int | None = field(
        default=None, metadata={"help": "stop after this many updates", "positive": True}
    )
    batch_size: int = field(default=32, metadata={"help": "examples per update", "positive": True})
    max_length: int = field(
        default=128, metadata={"help": "tokens per example (truncated)", "positive": True}
    )
    warmup_ratio: float = field(
        default=0.06, metadata={"help": "fraction of updates of linear warm-up"}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    grad_clip: float = field(default=1.0, metadata={"help": "gradient norm clip"})
    seed: int = field(default=0, metadata={"help": "training seed (data order, head init)"})
    eval_every: int = field(default=0, metadata={"help": "steps (0 = once per epoch)"})
    max_train_examples: int | None = field(
        default=None,
        metadata={
            "help": "train on a seeded random subset of this size (default: all)",
            "positive": True,
        },
    )
    max_eval_examples: int | None = field(
        default=None,
        metadata={
            "help": "evaluate on a seeded random subset of the dev set of this size (default: all)",
            "positive": True,
        },
    )
    metric: str = field(
        default="accuracy",
        metadata={
            "help": "dev metric that picks the best step and decides d90",
            "choices": METRICS,
        },
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = field(
        default="auto",
        metadata={
            "help": "autocast precision; auto: bf16 where the CPU/GPU computes it natively, else "
            "fp32",
            "choices": PRECISIONS,
        },
    )
    device: str = field(
        default="auto", metadata={"help": "auto, cpu or cuda (auto: cuda if present)"}
    )
    group_by_length: bool = field(
        default=False,
        metadata={
            "help": "batches of similar length (mega-batches of 50 batches sorted by length)"
        },
    )
    quantize_levels: int | None = field(
        default=None,
        metadata={
            "help": "train θ_d quantized to this many k-means levels (straight-through; "
            "default: float)"
        },
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata={
            "help": "recompute each transformer layer's activations in the backward instead of "
            "keeping them (less memory, one more forward pass per step; same results)"
        },
    )

    def __post_init__(self) -> None:
        for f in fields(self):  # epochs=3 is epochs=3.0: one run, one run id (records hold floats)
            value = getattr(self, f.name)
            if (
                f.type in ("float", float)
                and isinstance(value, int)
                and not isinstance(value, bool)
            ):
                object.__setattr__(self, f.name, float(value))
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        for name in ("max_train_examples", "max_eval_examples"):
            n = getattr(self, name)
            if n is not None and not n >= 1:
                raise ValueError(f"TrainConfig.{name} must be None (all) or >= 1, got {n}")
        if self.batch_size <= 0:
            raise ValueError(f"TrainConfig.batch_size must be > 0, got {self.batch_size}")
        if self.max_steps is None and not self.epochs > 0:
            raise ValueError("TrainConfig needs epochs > 0 or max_steps")
        levels = self.quantize_levels
        bad = isinstance(levels, bool) or not isinstance(levels, int) or levels < 2
        if levels is not None and bad:
            raise ValueError(f"TrainConfig.quantize_levels must be None or an int >= 2: {levels!r}")
        from idtheory.precision import resolve_precision

        for f in fields(self):
            if "choices" in f.metadata:
                _check_choice(f.name, getattr(self, f.name), f.metadata["choices"])
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(self.device)):
            raise ValueError(
                f"TrainConfig.device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}"
            )
        object.__setattr__(self, "precision", resolve_precision(self.precision, self.device))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; fields added after the store's first runs are left out while
        they hold their default (:data:`LATER_FIELDS`), so older specs keep their hash."""
        d = asdict(self)
        for name, default in LATER_FIELDS.items():
            if d[name] == default:
                del d[name]
        return d


#: TrainConfig fields added after runs were stored, with the default that leaves them out of
#: :meth:`TrainConfig.to_dict` (and so out of the config hash and of search settings).
LATER_FIELDS: dict[str, Any] = {
    "group_by_length": False,
    "quantize_levels": None,
    "gradient_checkpointing": False,
}
#: Batches per length-sorted mega-batch of ``group_by_length`` (transformers uses 50 too).
LENGTH_GROUP_BATCHES = 50


@dataclass(frozen=True)
class RunSpec:
    """One training run: model × task × (subspace or full) × hyper-parameters.

    ``subspace`` is None for full fine-tuning. ``device`` and similar execution details that do
    not change the result in exact arithmetic are part of :class:`TrainConfig` but are excluded
    from the hash (see :data:`HASH_EXCLUDED`), so a run measured on CPU is reused on GPU.
    """

    model: str
    task: str
    train: TrainConfig = field(default_factory=TrainConfig)
    subspace: SubspaceConfig | None = None

    @property
    def method(self) -> Method:
        return "full" if self.subspace is None else self.subspace.method

    @property
    def dim(self) -> int | None:
        return None if self.subspace is None else self.subspace.dim

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "task": self.task,
            "train": self.train.to_dict(),
            "subspace": None if self.subspace is None else self.subspace.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        sub = d.get("subspace")
        return cls(
            model=d["model"],
            task=d["task"],
            train=TrainConfig(**d.get("train", {})),
            subspace=None if sub is None else SubspaceConfig.from_dict(sub),
        )

    def config_hash(self) -> str:
        """A 16-hex-digit SHA-256 of the canonical JSON of the spec (execution details excluded)."""
        d = self.to_dict()
        for key in HASH_EXCLUDED:
            d["train"].pop(key, None)
        return content_id(d)

    def with_(self, **changes: Any) -> RunSpec:
        """A copy with top-level fields, or ``train.*``/``subspace.*`` fields, replaced.

        Example: ``spec.with_(**{"train.lr": 1e-3, "subspace.dim": 100})``.
        """
        top: dict[str, Any] = {}
        train: dict[str, Any] = {}
        sub: dict[str, Any] = {}
        for key, value in changes.items():
            if key.startswith("train."):
                train[key[6:]] = value
            elif key.startswith("subspace."):
                sub[key[9:]] = value
            else:
                top[key] = value
        new = replace(self, **top)
        if train:
            new = replace(new, train=replace(new.train, **train))
        if sub:
            if new.subspace is None:
                raise ValueError("cannot set subspace fields on a full fine-tuning spec")
            new = replace(new, subspace=replace(new.subspace, **sub))
        return new


#: TrainConfig fields that change how much memory a training holds, not what it computes: they
#: enter neither the config hash nor a training checkpoint's fingerprint.
MEMORY_ONLY: tuple[str, ...] = ("gradient_checkpointing",)
#: TrainConfig fields that do not enter the config hash (they do not change what is computed),
#: nor a training checkpoint's fingerprint: a run checkpointed on one device resumes on another.
HASH_EXCLUDED: tuple[str, ...] = ("device", *MEMORY_ONLY)


def _as_int(value: Any) -> int | None:
    """``value`` as a Python int if it is an integer (int, NumPy integer, anything with
    ``__index__``) and not a boolean; else None (NumPy booleans have no ``__index__``)."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
