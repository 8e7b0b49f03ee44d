"""The search's largest d is the number of projected parameters D of the subspace searched
(``include``/``exclude``/``train_head`` narrow it below the model's ``num_params``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idtheory.config import RunSpec, SubspaceConfig
from idtheory.search import measure_d90, projected_parameters
from idtheory.store import ResultsStore

TINY_BERT_PARAMS = 50_530  # load_model("tiny-bert", 2).num_params
HEAD = 64 + 2  # classifier.weight (2 × 32) and classifier.bias


def _projected(**kwargs: Any) -> int:
    """``SubspaceModel.num_projected`` of tiny-bert on MRPC: the reference count."""
    from idtheory.models import load_model
    from idtheory.subspace import SubspaceModel

    net = load_model("tiny-bert", num_labels=2).model
    config = SubspaceConfig(dim=1, method="did", projection="sparse", **kwargs)
    return SubspaceModel(net, config).num_projected


class NeverPasses:
    """Full fine-tuning 0.9, every subspace training 0.5: the coarse grid runs up to d_max.
    Refuses d > D as the real trainer (SubspaceModel) does."""

    def __init__(self, projected: int) -> None:
        self.projected = projected
        self.dims: list[int] = []

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        if spec.dim is not None:
            assert spec.dim <= self.projected, f"dim={spec.dim} exceeds D={self.projected}"
            self.dims.append(spec.dim)
        acc = 0.9 if spec.subspace is None else 0.5
        return {
            "run_id": spec.config_hash(),
            "spec": spec.to_dict(),
            "status": "ok",
            "metrics": {"dev": {"accuracy": acc}, "train": {"accuracy": acc}},
            "num_trainable": spec.dim or TINY_BERT_PARAMS,
            "num_params": TINY_BERT_PARAMS,
        }


@pytest.mark.parametrize(
    "kwargs",
    [{"train_head": True}, {"include": ("classifier",)}, {"exclude": (r"^bert\.encoder\.",)}],
)
def test_projected_parameters_counts_what_the_subspace_model_projects(kwargs):
    count = projected_parameters("tiny-bert", "mrpc", SubspaceConfig(dim=1, **kwargs))
    assert count == _projected(**kwargs) < TINY_BERT_PARAMS


def test_train_head_leaves_the_head_out():
    config = SubspaceConfig(dim=1, train_head=True)
    assert projected_parameters("tiny-bert", "mrpc", config) == TINY_BERT_PARAMS - HEAD
    assert _projected() == TINY_BERT_PARAMS  # head inside: everything is projected


@pytest.mark.parametrize(
    ("kwargs", "projected"),
    [({"train_head": True}, TINY_BERT_PARAMS - HEAD), ({"include": ("classifier",)}, HEAD)],
)
def test_search_caps_d_at_the_projected_parameters(tmp_path: Path, kwargs, projected):
    trainer = NeverPasses(projected)
    res = _search(tmp_path, trainer, kwargs)
    assert res.status == "never_passes" and max(trainer.dims) == projected
    assert res.settings["d_max_resolved"] == projected


def test_whole_model_subspace_keeps_the_reported_cap(tmp_path: Path):
    trainer = NeverPasses(TINY_BERT_PARAMS)
    res = _search(tmp_path, trainer, {})
    assert max(trainer.dims) == TINY_BERT_PARAMS == res.settings["d_max_resolved"]


def _search(tmp_path: Path, trainer: NeverPasses, subspace_kwargs: dict[str, Any]) -> Any:
    """A DID d90 search of tiny-bert on MRPC, one lr and seed, up to the default d_max."""
    return measure_d90(
        "tiny-bert",
        "mrpc",
        "did",
        store=ResultsStore(tmp_path),
        train_fn=trainer,
        full_lrs=(1e-4,),
        subspace_lrs=(0.1,),
        subspace_kwargs=subspace_kwargs,
        progress=False,
    )
