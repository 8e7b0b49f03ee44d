"""scripts/probe_lrs.py: its trainings are the scale's own but for the learning rate."""

import importlib.util
from pathlib import Path

import pytest

from idtheory import figures

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "probe_lrs.py"


def _script():
    spec = importlib.util.spec_from_file_location("probe_lrs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_probe_at_the_scales_lr_is_the_scales_stored_run():
    """At one of the scale's own learning rates a probe spec hashes to the run the real scale's
    MRPC search stored (SAID, d = 640, lr 0.1: run 26ee5ac62e7cd9c6), so only the lr differs."""
    ctx = figures.setup("real", compute=False, chdir=False)
    specs = _script().probe_specs(ctx, "minilm-l6", "mrpc", 640, [0.1, 1.0], ["said", "did"])
    assert [(s.method, s.train.lr) for s in specs] == [
        ("said", 0.1),
        ("said", 1.0),
        ("did", 0.1),
        ("did", 1.0),
    ]
    assert specs[0].config_hash() == "26ee5ac62e7cd9c6"
    assert ctx.store.get(specs[0].config_hash())["metrics"]["dev"]["accuracy"] == pytest.approx(
        0.7132, abs=1e-4
    )
    assert len({s.config_hash() for s in specs}) == 4
