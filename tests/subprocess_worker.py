"""Running a test file as a fresh worker process, for the Triton tests: Triton reads
``TRITON_INTERPRET`` when a kernel is decorated, so interpreter checks need a process that sets it
before anything imports the kernels (and the pytest process must not be left in that mode)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import REPO  # tests/ is on sys.path


def run_worker(test_file: str | Path, mode: str, timeout_s: float) -> dict[str, Any]:
    """Run ``python <test_file> <mode>`` from the repository root and return the JSON object its
    last stdout line holds. ``mode == "interp"`` sets ``TRITON_INTERPRET=1``; every other mode
    runs without it. Raises ``AssertionError`` with the worker's output tails when it fails."""
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    if mode == "interp":
        env["TRITON_INTERPRET"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(Path(test_file).resolve()), mode],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{mode} worker failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
