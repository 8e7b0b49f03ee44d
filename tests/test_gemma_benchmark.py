"""benchmarks/gemma_270m.py, the evaluation of a third real model: without the packages it stops
with a one-line error that points at the install lines (its timing is
``idtheory.bench.bench_step`` with a model factory, tested in test_bench.py)."""

from __future__ import annotations

import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def gemma_bench():
    return load_script("benchmarks/gemma_270m.py")


def test_missing_packages_say_how_to_install(gemma_bench, tmp_path, capsys):
    with pytest.raises(SystemExit):
        gemma_bench.main(["--site", str(tmp_path)])
    assert "see the install lines" in capsys.readouterr().err
