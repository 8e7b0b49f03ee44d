"""benchmarks/gpu_real.sh, the prepared GPU run of the real scale: it parses, and its dry run
prints the plan without a GPU, without the carried weights and without training anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_real.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PY": sys.executable,
        "PYTHONPATH": str(REPO),
        "IDTHEORY_CACHE": str(cache),
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_dry_run_prints_the_plan_and_skips_mpnet(tmp_path):
    done = _run("--dry-run", cache=tmp_path)  # no assembled mpnet-base there
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "thresholds [0, 'majority']" in out and "candidates 1" in out
    assert "cell minilm-l6 / mrpc: SAID and DID, each under 2 threshold(s)" in out
    assert "cell minilm-l6 / sst2" in out and "cell mpnet-base" not in out
    assert "mpnet-base: skipped" in out and "weights:" in out


def test_unknown_mode_is_refused(tmp_path):
    done = _run("--bogus", cache=tmp_path)
    assert done.returncode == 2 and "usage" in done.stderr
