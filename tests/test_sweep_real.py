"""scripts/sweep_real.sh passes MODELS, TASKS, METHODS and WORKERS to `idtheory figures` as one
--set each (the CLI adds repeated --set flags up; tests/test_cli.py checks that side)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "sweep_real.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def test_sweep_passes_models_tasks_methods_and_workers(tmp_path):
    fake = tmp_path / "python"  # stands in for the interpreter: prints what it was given
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PYTHON": str(fake),
        "MODELS": '["minilm-l6"]',
        "TASKS": '["sst2"]',
        "METHODS": '["said"]',
        "WORKERS": "1",
        "COMMIT_EVERY": "0",
    }
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    args = done.stdout.splitlines()  # the script's "== sweep start" line, then the arguments
    assert args[1:7] == ["-m", "idtheory.cli", "figures", "--scale", "real", "--compute"]
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert sets == ['models=["minilm-l6"]', 'tasks=["sst2"]', 'methods=["said"]', "workers=1"]
