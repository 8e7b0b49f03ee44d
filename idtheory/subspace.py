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
"""

from __future__ import annotations

import json
import os
import re
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


@dataclass
class _Slot:
    """One projected tensor: its name, shape, location in the flat vector and owners."""

    name: str
    shape: torch.Size
    start: int
    numel: int
    owners: list[tuple[nn.Module, str]]  # every (module, attribute) that held this parameter
    group: int = 0


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


class SubspaceModel(nn.Module):
    """A model trained only through θ_d (and SAID λ); see the module docstring.

    Attributes:
        base_model: the wrapped model (its projected parameters replaced by merged tensors).
        config: the :class:`SubspaceConfig`.
        theta: trainable θ_d, shape (dim − n_groups,) for SAID, (dim,) for DID; initialised to 0.
        lambdas: SAID scales, one per group, initialised to 1 (None for DID).
        num_projected: D, the number of parameters reached by the projection.
    """

    def __init__(self, model: nn.Module, config: SubspaceConfig) -> None:
        super().__init__()
        _disable_hub_kernels(model)
        self.base_model = model
        self.config = config
        owners = _parameter_owners(model)
        selected: list[tuple[str, nn.Parameter]] = []
        for name, param in model.named_parameters():
            head = _head_prefix(model, name)
            if config.train_head and head:
                param.requires_grad_(True)
                continue
            param.requires_grad_(False)
            if _select(name, config):
                selected.append((name, param))
        if not selected:
            raise ValueError(
                "no parameter matched include/exclude patterns "
                f"(include={config.include}, exclude={config.exclude}); "
                f"first names are {[n for n, _ in list(model.named_parameters())[:5]]}"
            )
        device, dtype = selected[0][1].device, selected[0][1].dtype
        self.num_projected = sum(p.numel() for _, p in selected)
        group_keys = scaling_groups(model, [n for n, _ in selected], config.scaling)
        self.group_names = list(OrderedDict.fromkeys(group_keys))
        n_lambda = len(self.group_names) if config.method == "said" else 0
        d_theta = config.dim - n_lambda
        if d_theta <= 0:
            raise ValueError(
                f"SAID with scaling={config.scaling!r} needs dim > {n_lambda} (the number of λ "
                f"groups, which are counted inside dim), got dim={config.dim}; increase dim or "
                "use a coarser scaling ('block')"
            )
        if config.dim > self.num_projected:
            raise ValueError(
                f"dim={config.dim} exceeds the number of projected parameters "
                f"D={self.num_projected}; choose dim <= D"
            )
        self.slots: list[_Slot] = []
        start = 0
        for (name, param), key in zip(selected, group_keys):
            self.slots.append(
                _Slot(
                    name,
                    param.shape,
                    start,
                    param.numel(),
                    owners[id(param)],
                    self.group_names.index(key),
                )
            )
            start += param.numel()
        theta0 = torch.cat([p.detach().reshape(-1) for _, p in selected])
        for slot in self.slots:
            for module, attr in slot.owners:
                del module._parameters[attr]
        self.register_buffer("theta0", theta0, persistent=False)
        self.theta = nn.Parameter(torch.zeros(d_theta, device=device, dtype=dtype))
        self.lambdas = (
            nn.Parameter(torch.ones(n_lambda, device=device, dtype=dtype)) if n_lambda else None
        )
        self.projections = nn.ModuleList(self._build_projections(d_theta, device, dtype))
        self._cache_key: tuple | None = None
        self._write_weights(list(self.theta0.split([s.numel for s in self.slots])))

    # ------------------------------------------------------------------ construction

    def _build_projections(self, d: int, device, dtype) -> list[Projection]:
        """One projection over all D parameters (``global``) or one per tensor (``per_tensor``,
        seed ``seed + i``, sizes from the class's ``per_tensor_sizes``)."""
        cfg = self.config
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
        """P θ_d as one flat tensor of length D (before the SAID scales)."""
        if self.config.layout == "global":
            return self.projections[0](self.theta)
        pieces = []
        for slot, proj in zip(self.slots, self.projections):
            pieces.append(proj(self.theta[: proj.d])[: slot.numel])
        return torch.cat(pieces)

    def scaling_segments(self) -> list[tuple[int, list[int]]]:
        """Runs of consecutive projected tensors in one SAID group: ``(group, [numel, ...])``.

        With ``scaling="block"`` a transformer has about one run per block (RoBERTa-Large: 27
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
        # backward would materialize a zero tensor of the full length D for each parameter).
        for slot, piece in zip(self.slots, pieces):
            view = piece.view(slot.shape)
            for module, attr in slot.owners:
                setattr(module, attr, view)

    def _refresh(self) -> None:
        caching = not self.training and not torch.is_grad_enabled()
        if caching:
            key = (
                self.theta._version,
                self.theta.data_ptr(),
                None if self.lambdas is None else (self.lambdas._version, self.lambdas.data_ptr()),
                self.theta.device,
            )
            if key == self._cache_key:
                return
            self._cache_key = key
        else:
            self._cache_key = None
        # The projection and the merge stay float32 under an autocast region (a dense P's
        # matmul would otherwise run in bf16): only the model's own operations are autocast.
        with torch.autocast(device_type=self.theta.device.type, enabled=False):
            self._write_weights(self.merged_pieces())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Merge θ₀ + offset into the base model, then call it with unchanged arguments."""
        self._refresh()
        return self.base_model(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "base_model":
                raise
            return getattr(self.base_model, name)

    # ------------------------------------------------------------------ bookkeeping

    @property
    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def num_lambdas(self) -> int:
        return 0 if self.lambdas is None else self.lambdas.numel()

    def trainable_summary(self) -> dict[str, int]:
        head = self.num_trainable - self.theta.numel() - self.num_lambdas
        return {
            "trainable": self.num_trainable,
            "theta_d": self.theta.numel(),
            "lambdas": self.num_lambdas,
            "head": head,
            "projected": self.num_projected,
            "total": self.num_projected + sum(p.numel() for p in self.base_model.parameters()),
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

    def projection_nbytes(self) -> int:
        """Bytes of random projection state held (B, Π, G or the matrix)."""
        return sum(p.nbytes for p in self.projections)

    # ------------------------------------------------------------------ export

    def merge_and_unload(self) -> nn.Module:
        """Fold θ₀ + offset into ordinary ``nn.Parameter``s and return the plain base model.

        The returned model no longer depends on this wrapper; tied weights stay tied.
        """
        with torch.no_grad():
            flat = self.merged_flat().detach()
        for slot in self.slots:
            param = nn.Parameter(
                flat[slot.start : slot.start + slot.numel].view(slot.shape).clone()
            )
            for module, attr in slot.owners:
                if attr in module.__dict__:
                    del module.__dict__[attr]
                module._parameters[attr] = param
        model = self.base_model
        for p in model.parameters():
            p.requires_grad_(True)
        self.slots = []
        return model

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """θ_d, λ and (with ``train_head``) the head parameters — everything that was trained."""
        return {
            n: p.detach().cpu().contiguous() for n, p in self.named_parameters() if p.requires_grad
        }

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write ``subspace_config.json`` and ``subspace_model.safetensors`` (kilobytes).

        The projection itself is not stored: it is regenerated from ``config.seed``.
        """
        from safetensors.torch import save_file

        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "subspace_config": self.config.to_dict(),
            "num_projected": self.num_projected,
            "projected_names": [s.name for s in self.slots],
            "group_names": self.group_names,
            "base_model": getattr(getattr(self.base_model, "config", None), "_name_or_path", None),
            "idtheory_version": _version(),
        }
        (out / CONFIG_NAME).write_text(json.dumps(meta, indent=2))
        save_file(self.trainable_state_dict(), str(out / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(cls, base_model: nn.Module, directory: str | os.PathLike) -> SubspaceModel:
        """Rebuild a saved subspace model on top of the same pretrained ``base_model``."""
        from safetensors.torch import load_file

        directory = Path(directory)
        cfg_path = directory / CONFIG_NAME
        if not cfg_path.exists():
            raise FileNotFoundError(
                f"{cfg_path} not found: not a directory written by save_pretrained"
            )
        meta = json.loads(cfg_path.read_text())
        model = cls(base_model, SubspaceConfig.from_dict(meta["subspace_config"]))
        if [s.name for s in model.slots] != meta["projected_names"]:
            raise ValueError(
                "the base model's parameters differ from those the subspace model was saved with; "
                "load the same pretrained model (and head size) as when saving"
            )
        state = load_file(str(directory / WEIGHTS_NAME))
        missing = set(model.trainable_state_dict()) - set(state)
        if missing:
            raise ValueError(f"{directory / WEIGHTS_NAME} lacks tensors {sorted(missing)}")
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)
        model._cache_key = None
        return model


def _disable_hub_kernels(model: nn.Module) -> None:
    """Turn off transformers' hub kernels (on by default since transformers 5): they
    re-kernelize the model at every ``train()``/``eval()`` and look up ``model.device`` from its
    parameters, which a wrapped model no longer has (StopIteration)."""
    if getattr(model, "use_kernels", False) and hasattr(model, "set_use_kernels"):
        model.set_use_kernels(False)


def _version() -> str:
    from idtheory import __version__

    return __version__


def get_subspace_model(model: nn.Module, config: SubspaceConfig) -> SubspaceModel:
    """Wrap ``model`` for subspace training (PEFT-style entry point)."""
    return SubspaceModel(model, config)
