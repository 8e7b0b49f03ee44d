"""Subspace (intrinsic-dimension) re-parameterisation of any PyTorch / Hugging Face model.

``get_subspace_model(model, SubspaceConfig(dim=d))`` returns a :class:`SubspaceModel` in which

* DID:  θ = θ₀ + P θ_d                         (Aghajanyan et al. 2021, Eq. 1–2)
* SAID: θ_i = θ₀_i + λ_{g(i)} · (P θ_d)_i      (Eq. 3; one λ per scaling group g, init 1)

θ₀ (the pretrained weights) is frozen and stored once as a flat buffer; θ_d starts at 0, so the
wrapped model starts exactly at the pretrained one; only θ_d (and λ) are trainable, and for SAID
the λ are counted inside ``dim`` (θ_d has ``dim − n_groups`` entries), so
``num_trainable == dim`` unless ``train_head=True``.

How it works: the projected ``nn.Parameter`` objects are removed from their modules and replaced,
at every forward, by plain tensors that are views into θ₀ + offset (tied weights are set at every
location that shared the parameter). The tensors stay in place after the forward, so gradient
checkpointing's recomputation sees the same weights. In eval mode without autograd the merged
weights are cached until θ_d or λ change.

Layouts (``SubspaceConfig.layout``):

* ``"global"`` — one projection over the concatenation of all projected tensors in
  ``named_parameters()`` order (the paper's description of DID; Li et al. 2018).
* ``"per_tensor"`` — tensor i gets its own projection (seed ``seed + i``) of the same θ_d; a
  Fastfood for a tensor with fewer padded entries L_i than d sees only θ_d[:L_i], as in the
  authors' released code.

SAID scaling groups (``SubspaceConfig.scaling``): ``"block"`` (default) — one λ per transformer
block (the path prefix up to the first integer component, e.g. ``bert.encoder.layer.3``), one for
each other top-level component of the backbone (``bert.embeddings``, ``bert.pooler``) and one
for the task head; ``"module"`` — one per module owning projected parameters; ``"tensor"`` — one
per named tensor (the authors' code). Per-tensor λ cannot reproduce the paper's d = 207 for
RoBERTa-Large: its 393 named tensors already exceed 207 trainable parameters.

Precision: θ_d, λ and the projection are float32 (float64 when the model has float64 weights);
θ₀ is stored in the model's own precision (the widest one for a mixed-precision model); the
merge θ₀ + offset runs in float32 and each tensor is cast back to its parameter's dtype, so a
bf16/fp16 model keeps its dtypes through the forward and :meth:`SubspaceModel.merge_and_unload`.
Casting the wrapper (``model.to(torch.bfloat16)``) casts the model's weights only.

Hugging Face integration (as PEFT's ``PeftModel``): ``model.config`` is the base model's config
(the subspace configuration is ``model.subspace_config``), ``forward`` has the base model's
signature (each wrapped class gets a subclass ``Subspace<BaseClass>``, so that
``transformers.Trainer`` finds the label and input columns), ``generate`` merges before
generating, and ``device``/``dtype`` work on the wrapper and on the base model (a zero-size frozen
placeholder parameter, ``_subspace_anchor``, stays in the base model in place of the removed
ones). ``copy.deepcopy``, pickling and ``torch.optim.swa_utils.AveragedModel`` work at any time.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import os
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from idtheory.config import SubspaceConfig
from idtheory.projections import projection_class
from idtheory.projections.base import Projection

__all__ = ["SubspaceConfig", "SubspaceModel", "get_subspace_model", "scaling_groups"]

CONFIG_NAME = "subspace_config.json"
WEIGHTS_NAME = "subspace_model.safetensors"
#: Key of θ₀'s fingerprint in ``WEIGHTS_NAME`` (absent in saves older than fingerprints).
FINGERPRINT_KEY = "theta0_fingerprint"
#: Entries of θ₀ sampled per projected tensor for the fingerprint.
FINGERPRINT_SAMPLES = 8
#: Relative tolerance of the fingerprint comparison: a bf16/fp16 copy of the same weights
#: (relative rounding ≤ 2⁻⁸) matches, independently drawn weights do not.
FINGERPRINT_RTOL = 1 / 64
#: Name of the zero-size placeholder parameter left in a wrapped base model.
ANCHOR_NAME = "_subspace_anchor"


@dataclass
class _Slot:
    """One projected tensor: its name, shape, location in the flat vector and owners."""

    name: str
    shape: torch.Size
    start: int
    numel: int
    owners: list[tuple[nn.Module, str]]  # every (module, attribute) that held this parameter
    group: int = 0
    dtype: torch.dtype = torch.float32  # the parameter's dtype (the merged tensor is cast to it)


def _head_prefix(model: nn.Module, name: str) -> bool:
    """True if ``name`` belongs to the task head (outside the HF backbone)."""
    prefix = getattr(model, "base_model_prefix", None)
    if not prefix or not hasattr(model, prefix):
        return False
    return not name.startswith(prefix + ".")


def _group_key(model: nn.Module, name: str, scaling: str) -> str:
    parts = name.split(".")
    if scaling == "tensor":
        return name
    if scaling == "module":
        return ".".join(parts[:-1]) or name
    for i, part in enumerate(parts[:-1]):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    prefix = getattr(model, "base_model_prefix", None)
    if prefix and parts[0] == prefix and len(parts) > 2:
        return ".".join(parts[:2])
    return parts[0]


def scaling_groups(model: nn.Module, names: list[str], scaling: str) -> list[str]:
    """The SAID scaling group of each parameter name (see the module docstring)."""
    return [_group_key(model, n, scaling) for n in names]


def _parameter_owners(model: nn.Module) -> dict[int, list[tuple[nn.Module, str]]]:
    owners: dict[int, list[tuple[nn.Module, str]]] = {}
    for module in model.modules():
        for attr, param in module._parameters.items():
            if param is not None:
                owners.setdefault(id(param), []).append((module, attr))
    return owners


def _select(name: str, config: SubspaceConfig) -> bool:
    if config.include is not None and not any(re.search(p, name) for p in config.include):
        return False
    return not (config.exclude is not None and any(re.search(p, name) for p in config.exclude))


def _select_parameters(
    model: nn.Module, config: SubspaceConfig
) -> tuple[list[tuple[str, nn.Parameter]], list[nn.Parameter]]:
    """(projected ``(name, parameter)`` pairs, directly trained head parameters); no changes."""
    selected: list[tuple[str, nn.Parameter]] = []
    head: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if config.train_head and _head_prefix(model, name):
            head.append(param)
        elif _select(name, config):
            selected.append((name, param))
    if not selected:
        raise ValueError(
            "no parameter matched include/exclude patterns "
            f"(include={config.include}, exclude={config.exclude}); "
            f"first names are {[n for n, _ in list(model.named_parameters())[:5]]}"
        )
    return selected, head


def _check_dims(config: SubspaceConfig, n_lambda: int, num_projected: int) -> int:
    """The length of θ_d (``dim − n_lambda``); raises ``ValueError`` for an impossible ``dim``."""
    d_theta = config.dim - n_lambda
    if d_theta <= 0:
        raise ValueError(
            f"SAID with scaling={config.scaling!r} needs dim > {n_lambda} (the number of λ "
            f"groups, which are counted inside dim), got dim={config.dim}; increase dim"
            + (", use a coarser scaling ('block')" if config.scaling != "block" else "")
            + " or method='did' (no λ)"
        )
    if config.dim > num_projected:
        raise ValueError(
            f"dim={config.dim} exceeds the number of projected parameters "
            f"D={num_projected}; choose dim <= D"
        )
    return d_theta


def _widest(dtypes: list[torch.dtype]) -> torch.dtype:
    """The dtype every one of ``dtypes`` converts to exactly (torch's type promotion)."""
    return functools.reduce(torch.promote_types, dtypes)


def _is_narrow_float(dtype: torch.dtype) -> bool:
    """True for floating dtypes narrower than float32 (bf16, fp16, fp8)."""
    return dtype.is_floating_point and dtype.itemsize < 4


def _spread(n: int, k: int) -> torch.Tensor:
    """min(k, n) distinct, evenly spaced indices in [0, n): ⌊(j + ½)·n / m⌋, j < m."""
    m = min(k, n)
    return ((2 * torch.arange(m) + 1) * n) // (2 * m)


class SubspaceModel(nn.Module):
    """A model trained only through θ_d (and SAID λ); see the module docstring.

    ``SubspaceModel(model, config)`` returns an instance of ``Subspace<type(model).__name__>``,
    a subclass whose ``forward`` carries the signature of ``type(model).forward``.

    Attributes:
        base_model: the wrapped model (its projected parameters replaced by merged tensors).
        subspace_config: the :class:`SubspaceConfig`. (``config`` is the base model's config.)
        theta: trainable θ_d, shape (dim − n_groups,) for SAID, (dim,) for DID; initialised to 0;
            float32 (float64 for a float64 model).
        lambdas: SAID scales, one per group, initialised to 1 (None for DID); θ_d's dtype.
        theta0: θ₀, flat, in the model's precision (the widest one for mixed precision).
        num_projected: D, the number of parameters reached by the projection.
    """

    def __new__(cls, model: nn.Module | None = None, *args: Any, **kwargs: Any) -> SubspaceModel:
        if cls is SubspaceModel and model is not None:
            _check_wrappable(model, *args, **kwargs)
            cls = _signature_class(type(model))
        return super().__new__(cls)

    def __init__(self, model: nn.Module, config: SubspaceConfig) -> None:
        super().__init__()
        # Everything that can fail runs before the caller's model is changed.
        selected, head = _select_parameters(model, config)
        names = [n for n, _ in selected]
        group_keys = scaling_groups(model, names, config.scaling)
        group_names = list(OrderedDict.fromkeys(group_keys))
        n_lambda = len(group_names) if config.method == "said" else 0
        num_projected = sum(p.numel() for _, p in selected)
        d_theta = _check_dims(config, n_lambda, num_projected)

        first = next((p for p in model.parameters() if p.is_floating_point()), selected[0][1])
        device = selected[0][1].device
        storage = _widest([p.dtype for _, p in selected])
        compute = torch.promote_types(storage, torch.float32)
        _disable_hub_kernels(model)
        for p in model.parameters():
            p.requires_grad_(False)
        for p in head:
            p.requires_grad_(True)
        self.base_model = model
        self.subspace_config = config
        self.num_projected = num_projected
        self.group_names = group_names
        owners = _parameter_owners(model)
        self.slots: list[_Slot] = []
        start = 0
        for (name, param), key in zip(selected, group_keys):
            group = group_names.index(key)
            self.slots.append(
                _Slot(
                    name, param.shape, start, param.numel(), owners[id(param)], group, param.dtype
                )
            )
            start += param.numel()
        theta0 = torch.cat([p.detach().reshape(-1).to(storage) for _, p in selected])
        for slot in self.slots:
            for module, attr in slot.owners:
                del module._parameters[attr]
        anchor = nn.Parameter(torch.empty(0, device=first.device, dtype=first.dtype), False)
        model.register_parameter(ANCHOR_NAME, anchor)
        self.register_buffer("theta0", theta0, persistent=False)
        self.theta = nn.Parameter(torch.zeros(d_theta, device=device, dtype=compute))
        self.lambdas = (
            nn.Parameter(torch.ones(n_lambda, device=device, dtype=compute)) if n_lambda else None
        )
        self.projections = nn.ModuleList(self._build_projections(d_theta, device, compute))
        self._cache_key: tuple | None = None
        self._write_weights(list(self.theta0.split([s.numel for s in self.slots])))

    # ------------------------------------------------------------------ construction

    def _build_projections(self, d: int, device, dtype) -> list[Projection]:
        """One projection over all D parameters (``global``) or one per tensor (``per_tensor``,
        seed ``seed + i``, sizes from the class's ``per_tensor_sizes``)."""
        cfg = self.subspace_config
        cls = projection_class(cfg.projection)

        def build(d_i: int, D_i: int, seed: int) -> Projection:
            scale = cls.authors_grad_scale(D_i) if cfg.grad_scale == "authors" else 1.0
            return cls(d_i, D_i, seed, device=device, dtype=dtype, grad_scale=scale)

        if cfg.layout == "global":
            return [build(d, self.num_projected, cfg.seed)]
        return [
            build(*cls.per_tensor_sizes(d, slot.numel), cfg.seed + i)
            for i, slot in enumerate(self.slots)
        ]

    # ------------------------------------------------------------------ forward

    def raw_offset(self) -> torch.Tensor:
        """P θ_d as one flat tensor of length D (before the SAID scales), in θ_d's dtype."""
        if self.subspace_config.layout == "global":
            return self.projections[0](self.theta)
        pieces = []
        for slot, proj in zip(self.slots, self.projections):
            pieces.append(proj(self.theta[: proj.d])[: slot.numel])
        return torch.cat(pieces)

    def scaling_segments(self) -> list[tuple[int, list[int]]]:
        """Runs of consecutive projected tensors in one SAID group: ``(group, [numel, ...])``.

        With ``scaling="block"`` a transformer has about one run per block (RoBERTa-Large: 26
        runs for 393 tensors), so the merge costs O(groups) operations, not O(tensors).
        """
        runs: list[tuple[int, list[int]]] = []
        for slot in self.slots:
            if runs and runs[-1][0] == slot.group:
                runs[-1][1].append(slot.numel)
            else:
                runs.append((slot.group, [slot.numel]))
        return runs

    def merged_pieces(self) -> list[torch.Tensor]:
        """θ₀_i + λ_{g(i)}·(P θ_d)_i for every projected tensor i, flat (differentiable)."""
        return self.merge(self.raw_offset())

    def merge(self, off: torch.Tensor) -> list[torch.Tensor]:
        """θ₀ + off (DID) or θ₀_i + λ_{g(i)}·off_i (SAID), split into the projected tensors.

        One split of ``off`` into runs of tensors that share a λ (:meth:`scaling_segments`; its
        backward is a single concatenation), one fused multiply-add per run, then views per
        tensor; no length-D expansion of λ. The operation count matters on a GPU, where a
        kernel launch per tensor (several per tensor in the backward) costs more than the
        arithmetic.
        """
        if self.lambdas is None:
            return list((self.theta0 + off).split([slot.numel for slot in self.slots]))
        runs = self.scaling_segments()
        run_sizes = [sum(sizes) for _, sizes in runs]
        lambdas = self.lambdas.unbind()  # views: one backward stack, not one index per tensor
        pieces: list[torch.Tensor] = []
        for (group, sizes), t0, o in zip(runs, self.theta0.split(run_sizes), off.split(run_sizes)):
            pieces.extend(torch.addcmul(t0, o, lambdas[group]).split(sizes))
        return pieces

    def offset(self) -> torch.Tensor:
        """The flat offset added to θ₀ (length D): P θ_d, scaled by λ per group for SAID."""
        return self.merged_flat() - self.theta0

    def merged_flat(self) -> torch.Tensor:
        """θ₀ + offset as one flat tensor (differentiable in θ_d and λ)."""
        return torch.cat(self.merged_pieces())

    def _write_weights(self, pieces: list[torch.Tensor]) -> None:
        # Views of per-tensor pieces (never a slice of a flat tensor per parameter: a slice's
        # backward would materialize a zero tensor of the full length D for each parameter),
        # cast to the parameter's dtype where the merge ran wider (a no-op otherwise).
        for slot, piece in zip(self.slots, pieces):
            view = piece.view(slot.shape).to(slot.dtype)
            for module, attr in slot.owners:
                setattr(module, attr, view)

    def _merged_tensors(self) -> list[torch.Tensor]:
        """The tensors the last merge wrote into the base model (one per projected tensor)."""
        found = (module.__dict__.get(attr) for s in self.slots for module, attr in s.owners[:1])
        return [t for t in found if isinstance(t, torch.Tensor)]

    def _cache_state(self) -> tuple:
        """What the merged weights depend on, compared by value (so that ``.data`` edits and
        ``copy_`` of θ_d or λ are seen): θ_d, λ, θ₀'s storage, device and the target dtypes."""
        lam = None if self.lambdas is None else self.lambdas.detach().clone()
        static = (
            self.theta0.data_ptr(),
            self.theta0._version,
            self.theta.device,
            self.theta.dtype,
            tuple(s.dtype for s in self.slots),
        )
        return static, self.theta.detach().clone(), lam

    def _cache_hit(self) -> bool:
        if self._cache_key is None:
            return False
        static, theta, lam = self._cache_key
        now = self._cache_state()[0]
        if static != now or not torch.equal(theta, self.theta):
            return False
        return lam is None or torch.equal(lam, self.lambdas)

    def _refresh(self) -> None:
        """Write θ₀ + offset into the base model; in eval mode without autograd, only when θ_d,
        λ, θ₀, the device or the dtypes changed since the last write."""
        caching = not self.training and not torch.is_grad_enabled()
        if caching and self._cache_hit():
            return
        # The projection and the merge stay float32 under an autocast region (a dense P's
        # matmul would otherwise run in bf16): only the model's own operations are autocast.
        with torch.autocast(device_type=self.theta.device.type, enabled=False):
            self._write_weights(self.merged_pieces())
        self._cache_key = self._cache_state() if caching else None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Merge θ₀ + offset into the base model, then call it with unchanged arguments."""
        self._refresh()
        return self.base_model(*args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """Merge θ₀ + offset (without autograd), then call the base model's ``generate``."""
        with torch.no_grad():
            self._refresh()
        return self.base_model.generate(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "base_model":
                raise
            return getattr(self.base_model, name)

    @property
    def device(self) -> torch.device:
        """The device of θ₀ (and of the model's merged weights)."""
        return self.theta0.device

    @property
    def dtype(self) -> torch.dtype:
        """The model's dtype as transformers reports it: that of its first floating parameter
        before wrapping (θ_d's own dtype is ``theta.dtype``)."""
        return self.base_model.get_parameter(ANCHOR_NAME).dtype

    # ------------------------------------------------------------------ copies and casts

    def _apply(self, fn: Any, recurse: bool = True) -> SubspaceModel:
        """``to``/``cuda``/``half``…: the base model and θ₀ follow ``fn``; θ_d, λ (and their
        gradients) and the projection only change device when ``fn`` narrows floats below
        float32, so the arithmetic stays in float32 and P stays the seed's P."""
        probe_device = self.theta0.device
        for slot in self.slots:
            slot.dtype = fn(torch.empty(0, dtype=slot.dtype, device=probe_device)).dtype
        keep = {id(t) for t in self.projections.buffers()}
        for p in (self.theta, self.lambdas):
            if p is not None:
                keep.update((id(p), id(p.grad)) if p.grad is not None else (id(p),))

        def guarded(t: torch.Tensor) -> torch.Tensor:
            if id(t) in keep and t.is_floating_point():
                target = fn(t.new_empty(0))
                if _is_narrow_float(target.dtype):
                    return t.to(device=target.device)
            return fn(t)

        self._cache_key = None
        return super()._apply(guarded, recurse)

    def __deepcopy__(self, memo: dict[int, Any]) -> SubspaceModel:
        """A deep copy; the merged weights in the base model (non-leaf tensors after a forward
        with autograd, which ``copy.deepcopy`` refuses) are copied detached."""
        for t in self._merged_tensors():
            if id(t) not in memo:
                memo[id(t)] = t.detach().clone()
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__dict__, memo))
        return new

    def __reduce_ex__(self, protocol: Any) -> Any:
        base_cls = type(self).__dict__.get("_base_class")
        if base_cls is None:  # a user's own subclass: the default (its class is importable)
            return super().__reduce_ex__(protocol)
        return (_new_subspace_model, (base_cls,), self.__dict__)

    # ------------------------------------------------------------------ bookkeeping

    @property
    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def num_lambdas(self) -> int:
        return 0 if self.lambdas is None else self.lambdas.numel()

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Parameters of the model this represents (transformers' ``num_parameters``): D plus
        the base model's unprojected ones; with ``only_trainable``, θ_d, λ and a trained head.
        ``exclude_embeddings`` leaves out ``nn.Embedding`` weights."""
        skip: set[str] = set()
        if exclude_embeddings:
            skip = {
                f"{n}.weight" if n else "weight"
                for n, m in self.base_model.named_modules()
                if isinstance(m, nn.Embedding)
            }
        rest = [(n, p) for n, p in self.base_model.named_parameters() if n not in skip]
        if only_trainable:
            own = sum(p.numel() for p in (self.theta, self.lambdas) if p is not None)
            return own + sum(p.numel() for _, p in rest if p.requires_grad)
        projected = sum(s.numel for s in self.slots if s.name not in skip)
        return projected + sum(p.numel() for _, p in rest)

    def trainable_summary(self) -> dict[str, int]:
        head = self.num_trainable - self.theta.numel() - self.num_lambdas
        return {
            "trainable": self.num_trainable,
            "theta_d": self.theta.numel(),
            "lambdas": self.num_lambdas,
            "head": head,
            "projected": self.num_projected,
            "total": self.num_parameters(),
        }

    def print_trainable_parameters(self) -> None:
        """Print trainable vs total parameter counts (PEFT style)."""
        s = self.trainable_summary()
        print(
            f"trainable params: {s['trainable']:,} || all params: {s['total']:,} || "
            f"trainable%: {100 * s['trainable'] / s['total']:.6f} "
            f"(θ_d: {s['theta_d']:,}, λ: {s['lambdas']:,}, head: {s['head']:,}; "
            f"projected D: {s['projected']:,})"
        )

    # ------------------------------------------------------------------ export

    def merge_and_unload(self) -> nn.Module:
        """Fold θ₀ + offset into ordinary ``nn.Parameter``s and return the plain base model.

        The returned model no longer depends on this wrapper; tied weights stay tied, every
        parameter keeps its dtype and the placeholder parameter is removed.
        """
        with torch.no_grad():
            flat = self.merged_flat().detach()
        for slot in self.slots:
            value = flat[slot.start : slot.start + slot.numel].view(slot.shape)
            param = nn.Parameter(value.to(slot.dtype, copy=True))
            for module, attr in slot.owners:
                if attr in module.__dict__:
                    del module.__dict__[attr]
                module._parameters[attr] = param
        model = self.base_model
        model._parameters.pop(ANCHOR_NAME, None)
        for p in model.parameters():
            p.requires_grad_(True)
        self.slots = []
        return model

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """θ_d, λ and (with ``train_head``) the head parameters — everything that was trained."""
        return {
            n: p.detach().cpu().contiguous() for n, p in self.named_parameters() if p.requires_grad
        }

    def theta0_fingerprint(self) -> torch.Tensor:
        """θ₀ at up to :data:`FINGERPRINT_SAMPLES` evenly spaced entries of every projected
        tensor, float32 on the CPU (what :meth:`save_pretrained` stores to recognise θ₀)."""
        return _fingerprint(list(self.theta0.split([s.numel for s in self.slots])))

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write ``subspace_config.json`` and ``subspace_model.safetensors`` (kilobytes): the
        trained tensors and θ₀'s fingerprint (:meth:`theta0_fingerprint`).

        The projection itself is not stored: it is regenerated from ``subspace_config.seed``.
        """
        from safetensors.torch import save_file

        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "subspace_config": self.subspace_config.to_dict(),
            "num_projected": self.num_projected,
            "projected_names": [s.name for s in self.slots],
            "group_names": self.group_names,
            "base_model": getattr(getattr(self.base_model, "config", None), "_name_or_path", None),
            "idtheory_version": _version(),
        }
        (out / CONFIG_NAME).write_text(json.dumps(meta, indent=2))
        tensors = {**self.trainable_state_dict(), FINGERPRINT_KEY: self.theta0_fingerprint()}
        save_file(tensors, str(out / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(
        cls,
        base_model: nn.Module,
        directory: str | os.PathLike,
        *,
        allow_base_mismatch: bool = False,
    ) -> SubspaceModel:
        """Rebuild a saved subspace model on top of the same pretrained ``base_model``.

        The base model's projected weights are compared with the saved fingerprint of θ₀
        (entries equal up to a relative :data:`FINGERPRINT_RTOL`, so the same weights in bf16
        or fp16 match). On a mismatch, θ_d would move a different model: ``ValueError``, or
        with ``allow_base_mismatch=True`` a warning. Saves without a fingerprint (older
        versions) are not checked. Nothing is changed in ``base_model`` before the checks pass.
        """
        from safetensors.torch import load_file

        directory = Path(directory)
        cfg_path = directory / CONFIG_NAME
        if not cfg_path.exists():
            raise FileNotFoundError(
                f"{cfg_path} not found: not a directory written by save_pretrained"
            )
        meta = json.loads(cfg_path.read_text())
        config = SubspaceConfig.from_dict(meta["subspace_config"])
        selected, _ = _select_parameters(base_model, config)
        if [n for n, _ in selected] != meta["projected_names"]:
            raise ValueError(
                "the base model's parameters differ from those the subspace model was saved with; "
                "load the same pretrained model (and head size) as when saving"
            )
        state = load_file(str(directory / WEIGHTS_NAME))
        saved = state.pop(FINGERPRINT_KEY, None)
        if saved is not None:
            _check_fingerprint(selected, saved, directory, allow_base_mismatch)
        model = cls(base_model, config)
        missing = set(model.trainable_state_dict()) - set(state)
        if missing:
            raise ValueError(f"{directory / WEIGHTS_NAME} lacks tensors {sorted(missing)}")
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)
        model._cache_key = None
        return model


def _fingerprint(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The entries at :func:`_spread` positions of each tensor (flattened), float32 on the CPU."""
    samples = []
    for t in tensors:
        flat = t.detach().reshape(-1)
        samples.append(flat[_spread(flat.numel(), FINGERPRINT_SAMPLES).to(flat.device)])
    return torch.cat(samples).float().cpu()


def _check_fingerprint(
    selected: list[tuple[str, nn.Parameter]],
    saved: torch.Tensor,
    directory: Path,
    allow: bool,
) -> None:
    """Compare ``selected``'s fingerprint with ``saved``; raise (or warn if ``allow``)."""
    now = _fingerprint([p for _, p in selected])
    sizes = [min(FINGERPRINT_SAMPLES, p.numel()) for _, p in selected]
    if now.shape == saved.shape:
        close = torch.isclose(now, saved.float(), rtol=FINGERPRINT_RTOL, atol=1e-6)
        differing = [n for (n, _), ok in zip(selected, close.split(sizes)) if not ok.all()]
    else:
        differing = [n for n, _ in selected]
    if not differing:
        return
    message = (
        f"the base model's weights do not match the θ₀ fingerprint saved in {directory} "
        f"({len(differing)} of {len(selected)} projected tensors differ, e.g. {differing[:3]}): "
        "θ_d was trained on a different model (another checkpoint, or a head initialised with "
        "another seed)"
    )
    if not allow:
        raise ValueError(message + "; pass allow_base_mismatch=True to load it anyway")
    warnings.warn(message, UserWarning, stacklevel=3)


@functools.cache
def _signature_class(base_cls: type) -> type[SubspaceModel]:
    """The subclass of :class:`SubspaceModel` for models of class ``base_cls``: ``forward`` with
    ``base_cls.forward``'s signature (``transformers.Trainer`` reads it from the class to keep
    input columns and find label names). One class per base class, cached."""

    def forward(self: SubspaceModel, *args: Any, **kwargs: Any) -> Any:
        return SubspaceModel.forward(self, *args, **kwargs)

    try:
        forward.__signature__ = inspect.signature(base_cls.forward)  # type: ignore[attr-defined]
    except (TypeError, ValueError):  # no Python signature: keep (*args, **kwargs)
        pass
    forward.__doc__ = SubspaceModel.forward.__doc__
    name = f"Subspace{base_cls.__name__}"
    forward.__qualname__ = f"{name}.forward"
    attrs = {"forward": forward, "_base_class": base_cls, "__module__": __name__}
    return type(name, (SubspaceModel,), attrs)


def _new_subspace_model(base_cls: type) -> SubspaceModel:
    """An uninitialised instance of ``_signature_class(base_cls)`` (for unpickling)."""
    return nn.Module.__new__(_signature_class(base_cls))


def _disable_hub_kernels(model: nn.Module) -> None:
    """Turn off transformers' hub kernels (on by default since transformers 5): they
    re-kernelize the model at every ``train()``/``eval()`` and look up ``model.device`` from its
    parameters, which a wrapped model no longer has (StopIteration)."""
    if getattr(model, "use_kernels", False) and hasattr(model, "set_use_kernels"):
        model.set_use_kernels(False)


def _version() -> str:
    from idtheory import __version__

    return __version__


def _check_wrappable(model: Any, config: Any = None, *args: Any, **kwargs: Any) -> None:
    """The mistakes of wrapping, each as one error that says what to pass instead."""
    if isinstance(model, SubspaceModel):
        raise ValueError(
            "the model is already a SubspaceModel: wrap the base model (or merge_and_unload() "
            "this one first)"
        )
    if not isinstance(model, nn.Module):
        hint = (
            "; pass loaded.model, not what load_model returned" if hasattr(model, "model") else ""
        )
        raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__}{hint}")
    config = kwargs.get("config", config)
    if config is not None and not isinstance(config, SubspaceConfig):
        raise TypeError(
            f"config must be a SubspaceConfig (e.g. SubspaceConfig(dim=1000, method='said')), "
            f"got {type(config).__name__}"
        )


def get_subspace_model(model: nn.Module, config: SubspaceConfig) -> SubspaceModel:
    """Wrap ``model`` for subspace training (PEFT-style entry point)."""
    return SubspaceModel(model, config)
