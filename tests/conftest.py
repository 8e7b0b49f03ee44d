"""Shared fixtures: the local GLUE data directory and small training configurations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("IDTHEORY_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture
def data_dir() -> Path:
    path = shared_data_dir()
    if not (path / "MRPC" / "train.tsv").is_file():
        pytest.skip(f"local GLUE data not found at {path} (set IDTHEORY_DATA)")
    return path
