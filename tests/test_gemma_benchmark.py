"""benchmarks/gemma_270m.py, the evaluation of a third real model: its step timer trains, and
without the packages it stops with a one-line error that points at the install lines."""

from __future__ import annotations

import pytest
import torch
from conftest import load_script


@pytest.fixture(scope="module")
def gemma_bench():
    return load_script("benchmarks/gemma_270m.py")


def test_step_seconds_takes_real_optimizer_steps(gemma_bench):
    from idtheory.models import load_model

    model = load_model("tiny-bert", num_labels=2).model
    before = [p.detach().clone() for p in model.parameters()]
    seconds = gemma_bench.step_seconds(model, None, repeats=1)
    assert seconds > 0
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_missing_packages_say_how_to_install(gemma_bench, tmp_path, capsys):
    with pytest.raises(SystemExit):
        gemma_bench.main(["--site", str(tmp_path)])
    assert "see the install lines" in capsys.readouterr().err
