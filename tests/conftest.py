"""Shared fixtures: where the task data is, for tests that need some and tests that need GLUE.

Two fixtures, so that a fresh clone runs every test that does not depend on the real files:

* ``data_dir`` — GLUE-layout data for tests that only need *some* examples (training loops,
  the CLI, the figure plumbing): the real data when it is present (``$IDTHEORY_DATA``, else
  ``../shared/data``), otherwise the tiny synthetic fixture in ``tests/data`` (MRPC, SST-2,
  RTE and CoLA; see ``tests/data/README.md``). Never skips.
* ``real_data_dir`` — the real GLUE/ANLI files, for tests that check their exact sizes, label
  counts or particular rows; skipped, with the reason, when they are absent.

And one helper, :func:`load_script`: a script of ``scripts/`` or ``benchmarks/`` (not a package)
imported by its path.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The tiny synthetic GLUE-layout fixture (MRPC, SST-2, RTE, CoLA).
FIXTURE_DATA = REPO / "tests" / "data"


def load_script(relpath: str) -> ModuleType:
    """The script at ``relpath`` (from the repository root) imported as a module named after its
    file, and registered in ``sys.modules`` (dataclasses look their module up there)."""
    path = REPO / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


#: A file every real-data directory has (the fixture has it too, with 25 rows).
_PROBE = Path("MRPC") / "dev.tsv"


def real_data_candidates(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where the real data may be: ``$IDTHEORY_DATA`` if set, else ``../shared/data``."""
    env = os.environ if env is None else env
    value = env.get("IDTHEORY_DATA")
    return [Path(value).expanduser()] if value else [REPO.parent / "shared" / "data"]


def find_real_data(env: Mapping[str, str] | None = None) -> Path | None:
    """The real GLUE data directory, or None when only the fixture (or nothing) is there."""
    for path in real_data_candidates(env):
        probe = path / _PROBE
        if probe.is_file() and probe.resolve() != (FIXTURE_DATA / _PROBE).resolve():
            return path
    return None


def resolve_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The real data when present, else the tiny fixture (see the module docstring)."""
    return find_real_data(env) or FIXTURE_DATA


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    """GLUE-layout data for tests that need some examples; ``$IDTHEORY_DATA`` points at it
    too, for code that reads the environment."""
    path = resolve_data_dir()
    monkeypatch.setenv("IDTHEORY_DATA", str(path))
    return path


@pytest.fixture
def real_data_dir() -> Path:
    """The real GLUE/ANLI files (exact sizes and rows); skipped when they are absent."""
    path = find_real_data()
    if path is None:
        where = ", ".join(str(p) for p in real_data_candidates())
        pytest.skip(
            f"needs the real GLUE data (exact sizes or rows), not found at {where}; "
            "set IDTHEORY_DATA to a GLUE TSV directory to run it"
        )
    return path
