"""Tests for ``idtheory.kernels.triton_fwht`` (Triton FWHT) without a GPU.

Triton decides at *decoration* time (when ``idtheory.kernels.triton_fwht`` is imported)
whether ``@triton.jit`` builds an interpreted function, from ``TRITON_INTERPRET``. Setting
the variable inside this module would be too late whenever another test module imported
triton or the kernel first, and it would leak interpreter mode into GPU tests. So the checks
run in **fresh subprocesses** of this file:

* ``interp``: ``TRITON_INTERPRET=1``, runs the kernel on CPU tensors and reports errors as
  JSON; the pytest tests below assert on that report (one subprocess for the whole module);
* ``notriton``: ``import triton`` made to fail; the module must still import;
* ``aot``: no interpreter; compiles the kernel ahead of time for sm_90 (no GPU needed, uses
  the ptxas bundled with the triton wheel) for the launch configs of n = 2^27 and 2^30,
  catching errors that only the real compiler sees.

The pytest process itself never imports triton or the kernel module.
"""

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from subprocess_worker import run_worker  # tests/ is on sys.path

pytestmark = [
    pytest.mark.triton,
    pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed"),
]

SIZES = list(range(13))  # n = 2^0 … 2^12
TIMEOUT_S = 300


def numpy_fwht(x: np.ndarray) -> np.ndarray:
    """Unnormalized Sylvester FWHT along the last axis in float64 (reference butterfly)."""
    y = np.array(x, dtype=np.float64, copy=True)
    n = y.shape[-1]
    h = 1
    while h < n:
        v = y.reshape(*y.shape[:-1], n // (2 * h), 2, h)
        a = v[..., 0, :].copy()
        b = v[..., 1, :].copy()
        v[..., 0, :] = a + b
        v[..., 1, :] = a - b
        h *= 2
    return y


def _rel_err(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(np.asarray(y, np.float64) - ref).max() / max(1.0, np.abs(ref).max()))


# --------------------------------------------------------------------------------------------
# subprocess workers


def _worker_interp() -> dict[str, Any]:
    import scipy.linalg
    import torch

    from idtheory.kernels import triton_fwht as F

    assert F.HAS_TRITON and F._interpreting(), "worker must run with TRITON_INTERPRET=1"
    rng = np.random.default_rng(0)
    res: dict[str, Any] = {}

    for k in SIZES:  # every n = 2^k against the dense Sylvester matrix, batch shape (2, 3)
        n = 1 << k
        x = rng.standard_normal((2, 3, n)).astype(np.float32)
        xt = torch.from_numpy(x.copy())
        y = F.fwht_triton(xt)
        res[f"size_{k}"] = {
            "err": _rel_err(y.numpy(), x.astype(np.float64) @ scipy.linalg.hadamard(n)),
            "shape_ok": tuple(y.shape) == (2, 3, n) and y.dtype == torch.float32,
            "input_unchanged": bool(np.array_equal(xt.numpy(), x)),
            "new_tensor": y.data_ptr() != xt.data_ptr(),
            "passes": len(F.fwht_plan(n)),
        }

    # multi-pass: a tiny block forces strided passes (the path n = 2^24 … 2^30 takes)
    n = 1 << 10
    x = rng.standard_normal((2, 3, n)).astype(np.float32)
    ref = x.astype(np.float64) @ scipy.linalg.hadamard(n)
    for block in (16, 4):
        y = F.fwht_triton(torch.from_numpy(x), block=block)
        plan = F.fwht_plan(n, block)
        res[f"multipass_block{block}"] = {
            "err": _rel_err(y.numpy(), ref),
            "passes": len(plan),
            "strides": [p.stride for p in plan],
            "lengths": [p.m for p in plan],
        }
    # default plan with a strided second pass (2^15 = 2^13 contiguous x 2^2 strided)
    x = rng.standard_normal((2, 1 << 15)).astype(np.float32)
    y = F.fwht_triton(torch.from_numpy(x))
    res["default_two_pass"] = {
        "err": _rel_err(y.numpy(), numpy_fwht(x)),
        "passes": len(F.fwht_plan(1 << 15)),
    }
    # small `tile` (more programs, strided tiles narrower than MIN_TILE_COLS x m) + odd batch
    x = rng.standard_normal((5, 1 << 9)).astype(np.float32)
    y = F.fwht_triton(torch.from_numpy(x), block=8, tile=16)
    res["small_tile"] = {"err": _rel_err(y.numpy(), numpy_fwht(x))}

    # H·H = n·I (single pass and multi-pass), and fwht(I) = H
    n = 1 << 8
    eye = torch.eye(n)
    for block in (None, 16):
        h = F.fwht_triton(eye, block=block)
        hh = F.fwht_triton(h, block=block)
        res[f"involution_block{block}"] = {
            "h_err": _rel_err(h.numpy(), scipy.linalg.hadamard(n).astype(np.float64)),
            "hh_err": _rel_err(hh.numpy(), n * np.eye(n)),
        }

    # half precision: computed in fp32, returned in the input dtype
    x = rng.standard_normal((2, 3, 1 << 10)).astype(np.float32)
    for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        xh = torch.from_numpy(x).to(dtype)
        ref = numpy_fwht(xh.float().numpy())
        for block in (None, 16):
            y = F.fwht_triton(xh, block=block)
            res[f"{name}_block{block}"] = {
                "dtype_ok": y.dtype == dtype,
                "err": _rel_err(y.float().numpy(), ref),
                # fp32 result rounded once to the output dtype
                "ref_round_err": _rel_err(torch.from_numpy(ref).to(dtype).float().numpy(), ref),
            }

    # non-contiguous input (transposed view)
    x = torch.from_numpy(rng.standard_normal((1 << 6, 3)).astype(np.float32)).t()
    y = F.fwht_triton(x)
    res["non_contiguous"] = {"err": _rel_err(y.numpy(), numpy_fwht(x.contiguous().numpy()))}

    # argument errors
    def raises(fn: Any, exc: type[BaseException]) -> bool:
        try:
            fn()
        except exc:
            return True
        return False

    res["errors"] = {
        "non_pow2_12": raises(lambda: F.fwht_triton(torch.zeros(2, 12)), ValueError),
        "non_pow2_3": raises(lambda: F.fwht_triton(torch.zeros(3)), ValueError),
        "zero_length": raises(lambda: F.fwht_triton(torch.zeros(2, 0)), ValueError),
        "scalar": raises(lambda: F.fwht_triton(torch.tensor(1.0)), ValueError),
        "too_long": raises(lambda: F.fwht_plan(1 << 31), ValueError),
        "bad_block": raises(lambda: F.fwht_triton(torch.zeros(8), block=3), ValueError),
        "block_one": raises(lambda: F.fwht_triton(torch.zeros(8), block=1), ValueError),
        "float64": raises(lambda: F.fwht_triton(torch.zeros(8, dtype=torch.float64)), TypeError),
    }

    # pass plans for the production sizes (int64 offsets: 2^30 x batch never overflows)
    res["plans"] = {
        str(k): [[p.log_m, p.log_stride] for p in F.fwht_plan(1 << k)] for k in (13, 23, 27, 30)
    }
    return res


def _worker_aot() -> dict[str, Any]:
    import triton
    from triton.backends.compiler import GPUTarget

    from idtheory.kernels import triton_fwht as F

    assert not F._interpreting()
    out: dict[str, Any] = {}
    sig_base = {"n_rows": "i64", "stride": "i64", "chunks": "i64"}
    sig_base |= {"LOG_M": "constexpr", "TILE_R": "constexpr", "STRIDED": "constexpr"}
    for k in (27, 30):
        plan = F.fwht_plan(1 << k)
        for idx, p in enumerate(plan):
            cfg = F._pass_config(p, 1 << k)
            x_t = "*fp16" if idx == 0 else "*fp32"  # half input on pass 1, fp32 afterwards
            y_t = "*fp16" if idx == len(plan) - 1 else "*fp32"
            sig = {"x_ptr": x_t, "y_ptr": y_t} | sig_base
            const = {key: cfg[key] for key in ("LOG_M", "TILE_R", "STRIDED")}
            src = triton.compiler.ASTSource(F._fwht_pass_kernel, sig, const)
            ck = triton.compile(
                src, target=GPUTarget("cuda", 90, 32), options={"num_warps": cfg["num_warps"]}
            )
            out[f"{k}_{idx}"] = {"cubin_bytes": len(ck.asm["cubin"]), "smem": ck.metadata.shared}
    return out


def _worker_notriton() -> dict[str, Any]:
    sys.modules["triton"] = None  # type: ignore[assignment]  # makes `import triton` fail
    import torch

    from idtheory.kernels import triton_fwht as F

    try:
        F.fwht_triton(torch.zeros(4))
        raised = False
    except RuntimeError:
        raised = True
    return {"has_triton": F.HAS_TRITON, "plan": len(F.fwht_plan(1 << 27)), "raised": raised}


def _run_worker(mode: str) -> dict[str, Any]:
    return run_worker(__file__, mode, TIMEOUT_S)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return _run_worker("interp")


# --------------------------------------------------------------------------------------------
# tests (assert on the interpreter report)


@pytest.mark.parametrize("k", SIZES)
def test_matches_dense_hadamard(report: dict[str, Any], k: int) -> None:
    r = report[f"size_{k}"]
    assert r["err"] < 1e-6, r
    assert r["shape_ok"] and r["input_unchanged"] and r["new_tensor"], r
    assert r["passes"] == (1 if k > 0 else 0)


@pytest.mark.parametrize("block", [16, 4])
def test_multipass_small_block(report: dict[str, Any], block: int) -> None:
    r = report[f"multipass_block{block}"]
    assert r["passes"] >= 3, r
    assert r["strides"][0] == 1 and all(s > 1 for s in r["strides"][1:]), r
    assert int(np.prod(r["lengths"])) == 1 << 10 and max(r["lengths"]) <= block, r
    assert r["err"] < 1e-6, r


def test_default_two_pass_and_small_tile(report: dict[str, Any]) -> None:
    assert report["default_two_pass"]["passes"] == 2
    assert report["default_two_pass"]["err"] < 1e-6, report["default_two_pass"]
    assert report["small_tile"]["err"] < 1e-6, report["small_tile"]


@pytest.mark.parametrize("block", [None, 16])
def test_h_times_h_is_n_identity(report: dict[str, Any], block: int | None) -> None:
    r = report[f"involution_block{block}"]
    assert r["h_err"] == 0.0, r  # ±1 sums of exact values: exact in fp32
    assert r["hh_err"] == 0.0, r  # integer sums below 2^24: exact in fp32


@pytest.mark.parametrize(
    "name", ["fp16_blockNone", "fp16_block16", "bf16_blockNone", "bf16_block16"]
)
def test_half_precision(report: dict[str, Any], name: str) -> None:
    r = report[name]
    assert r["dtype_ok"], r
    # one rounding of the fp32 result to the output dtype (plus fp32 error)
    assert r["err"] <= 2 * r["ref_round_err"] + 1e-6, r


def test_non_contiguous_input(report: dict[str, Any]) -> None:
    assert report["non_contiguous"]["err"] < 1e-6


def test_argument_errors(report: dict[str, Any]) -> None:
    failed = [name for name, ok in report["errors"].items() if not ok]
    assert not failed, f"expected exceptions not raised: {failed}"


def test_plans_for_production_sizes(report: dict[str, Any]) -> None:
    plans = report["plans"]
    assert plans["13"] == [[13, 0]]
    assert len(plans["23"]) == 2
    for k in ("27", "30"):
        plan = plans[k]
        assert len(plan) == 3, plan
        assert sum(m for m, _ in plan) == int(k)
        assert plan[0] == [13, 0] and all(m <= 10 for m, _ in plan[1:]), plan


def test_numpy_reference_matches_scipy() -> None:
    import scipy.linalg

    x = np.random.default_rng(1).standard_normal((3, 64))
    np.testing.assert_allclose(numpy_fwht(x), x @ scipy.linalg.hadamard(64), atol=1e-12)


def test_importable_without_triton() -> None:
    assert _run_worker("notriton") == {"has_triton": False, "plan": 3, "raised": True}


def test_aot_compile_sm90() -> None:
    """Compile the n = 2^27 / 2^30 pass kernels for sm_90 (catches non-interpreter errors)."""
    spec = importlib.util.find_spec("triton")
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    if not (root / "backends" / "nvidia").is_dir():
        pytest.skip("triton wheel without the NVIDIA backend")
    out = _run_worker("aot")
    assert len(out) == 6, out
    assert all(v["cubin_bytes"] > 0 for v in out.values()), out


if __name__ == "__main__":
    _mode = sys.argv[1]
    _workers = {"interp": _worker_interp, "aot": _worker_aot, "notriton": _worker_notriton}
    _result = _workers[_mode]()
    print(json.dumps(_result))
