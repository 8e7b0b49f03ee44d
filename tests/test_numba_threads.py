"""The parallel numba kernels use at most torch's thread count (numba's pool ignores it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

# Runs in a child with a 2-thread numba pool: wraps each parallel kernel so the call records
# numba.get_num_threads() as seen by the launching thread (the count the launch will use).
_PASSES = (
    "pass_blocks",
    "pass_columns",
    "pass_blocks_padded",
    "pass_blocks_gather",
    "pass_columns_local",
)
_CHILD = (
    f"PASSES = {_PASSES!r}\n"
    + r"""
import json, sys
import numba, torch
import idtheory.hadamard as hd
import idtheory.kernels.fastfood_cpu as ff
import idtheory.kernels.fwht_cpu as fc
from idtheory.projections import FastfoodProjection

seen = {}
def spy(module, name):
    real = getattr(module, name)
    def wrapped(*args):
        if name == "_scatter_add_nb":
            seen.setdefault("chunks", []).append(args[3].shape[0])
        seen.setdefault(name, []).append(numba.get_num_threads())
        seen.setdefault("torch", []).append(torch.get_num_threads())
        return real(*args)
    setattr(module, name, wrapped)
for name in PASSES:
    spy(fc, name)
for name in ("_gather_nb", "_scatter_add_nb"):
    spy(ff, name)

torch.set_num_threads(int(sys.argv[1]))
x = torch.randn(1 << 16)
hd.fwht(x)
hd._fwht_numpy(x.numpy()[None])  # the plain passes
perm = torch.randperm(1 << 16).to(torch.int32)
table = hd.fwht(torch.randn(64))
ff.gather_table_scale(table, perm, x)
ff.scatter_add_table_scale(x, perm, x, 64)
P = FastfoodProjection(8, 1 << 16, seed=0)
P.T(P(torch.randn(8)))
chunks = seen.pop("chunks")
print(json.dumps({"pool": numba.config.NUMBA_NUM_THREADS, "seen": seen, "chunks": chunks,
                  "after": numba.get_num_threads()}))
"""
)


def _threads_seen(torch_threads: int) -> dict:
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(torch_threads)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_kernels_follow_torch_set_num_threads_1():
    """With a 2-thread pool, torch.set_num_threads(1) makes every kernel launch use 1 thread,
    and launching numba's pool leaves torch's own count at 1 (the OpenMP layer resets it)."""
    result = _threads_seen(1)
    assert result["pool"] == 2
    kernels = {*_PASSES, "_gather_nb", "_scatter_add_nb"}
    assert set(result["seen"]) == kernels | {"torch"}
    assert all(n == 1 for counts in result["seen"].values() for n in counts), result
    # numba's own setting is back after the launches, and the scatter's chunks (its summation
    # order) still follow that setting, 4 × 2, as before the cap: the bits do not change.
    assert result["after"] == 2
    assert set(result["chunks"]) == {8}, result


def test_kernels_use_the_pool_when_torch_has_the_threads():
    result = _threads_seen(2)
    assert all(n == 2 for counts in result["seen"].values() for n in counts), result
