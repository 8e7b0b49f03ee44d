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
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from idtheory.projections import PROJECTION_NAMES

Method = Literal["full", "said", "did"]


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
        scaling: SAID λ granularity: ``"block"`` (one λ per transformer block plus one for the
            embeddings and one for the head; the default, since per-tensor λ cannot give the
            paper's d = 207 on RoBERTa-Large), ``"module"`` (one per ``nn.Module`` owning
            parameters) or ``"tensor"`` (one per named tensor, the authors' code).
        seed: seed of the random projection (B, Π, G regenerated from it).
        include / exclude: regular expressions on parameter names; a parameter is projected
            when it matches some ``include`` (or ``include`` is None) and no ``exclude``.
        train_head: if True the classification head is trained directly, outside the subspace
            (PEFT's convention); default False puts it inside (the paper's and authors' choice).
        grad_scale: ``"exact"`` (autograd's exact gradient) or ``"authors"`` (reproduces the
            released CUDA code, whose backward scales each FWHT's gradient by 1/√L).
    """

    dim: int
    method: Literal["said", "did"] = "said"
    projection: str = "fastfood"
    layout: Literal["global", "per_tensor"] = "global"
    scaling: Literal["block", "module", "tensor"] = "block"
    seed: int = 0
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    train_head: bool = False
    grad_scale: Literal["exact", "authors"] = "exact"

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or isinstance(self.dim, bool) or self.dim <= 0:
            raise ValueError(f"SubspaceConfig.dim must be a positive integer, got {self.dim!r}")
        _check_choice("method", self.method, ("said", "did"))
        _check_choice("projection", self.projection, PROJECTION_NAMES)
        _check_choice("layout", self.layout, ("global", "per_tensor"))
        _check_choice("scaling", self.scaling, ("block", "module", "tensor"))
        _check_choice("grad_scale", self.grad_scale, ("exact", "authors"))
        for name in ("include", "exclude"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif value is not None:
                object.__setattr__(self, name, tuple(value))

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
    """

    lr: float = 2e-5
    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 32
    max_length: int = 128
    warmup_ratio: float = 0.06
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    eval_every: int = 0
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    metric: str = "accuracy"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    device: str = "auto"
    group_by_length: bool = False
    quantize_levels: int | None = None

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if self.batch_size <= 0:
            raise ValueError(f"TrainConfig.batch_size must be > 0, got {self.batch_size}")
        if self.max_steps is None and not self.epochs > 0:
            raise ValueError("TrainConfig needs epochs > 0 or max_steps")
        levels = self.quantize_levels
        bad = isinstance(levels, bool) or not isinstance(levels, int) or levels < 2
        if levels is not None and bad:
            raise ValueError(f"TrainConfig.quantize_levels must be None or an int >= 2: {levels!r}")
        from idtheory.precision import PRECISIONS, resolve_precision

        _check_choice("precision", self.precision, PRECISIONS)
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
LATER_FIELDS: dict[str, Any] = {"group_by_length": False, "quantize_levels": None}
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
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

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


#: TrainConfig fields that do not enter the config hash (they do not change what is computed).
HASH_EXCLUDED: tuple[str, ...] = ("device",)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
