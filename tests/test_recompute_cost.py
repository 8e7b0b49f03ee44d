"""scripts/recompute_cost.py: what recomputing a scale costs, from the committed store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "recompute_cost.py"


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_real_scale_cost_per_cell_and_per_model(real_data_dir, monkeypatch):
    """MiniLM-L6's four real-scale cells are final: 18 trainings each (both thresholds, the
    two baselines included), 68 distinct ones in all (the baselines shared by SAID and DID of
    a task counted once) — the README's figures; the sum of the cells' hours exceeds the
    model's by the baselines' (counted twice there)."""
    monkeypatch.setenv("IDTHEORY_DATA", str(real_data_dir))
    lines = {
        ln.rsplit(None, 2)[0].strip(): ln.split()[-2:]
        for ln in _run("--scale", "real").splitlines()[1:-2]
    }
    cells = [lines[f"minilm-l6 / {t} / {m}"] for t in ("mrpc", "sst2") for m in ("DID", "SAID")]
    assert [int(n) for n, _ in cells] == [18, 18, 18, 18]
    total_n, total_h = lines["minilm-l6: every cell, each training once"]
    assert int(total_n) == 68
    assert float(total_h) < sum(float(h) for _, h in cells)
    assert any(k.startswith("mpnet-base") for k in lines)


def test_quick_scale_cost_is_the_default(data_dir):
    out = _run()
    assert "Figure 1: minilm-l6 / sst2 (grid)" in out and "pre-training: family-m" in out
    assert out.splitlines()[-1].startswith("wall, 2 workers: ≈ ")
