"""Tests for ``idtheory.kernels.triton_fastfood`` (fused Fastfood kernels, the hashes), for the
Fastfood projections that dispatch to them (``FastfoodProjection`` with ``backend='triton'``,
``HashedFastfoodProjection``) and for ``idtheory.bench.gpu``.

Three kinds of checks:

* **CPU, in process** — :class:`HashedFastfoodProjection` on its torch reference path against
  the dense matrix built from its definition (values, transpose, gradcheck, column norms,
  determinism), the Feistel permutation (a bijection, with its inverse), hash statistics,
  byte accounting, and the benchmark's report on a quick CPU run. These import the module
  (and Triton if installed) but never launch a Triton kernel.
* **Triton, in subprocesses** (as in ``test_triton_fwht.py``: ``TRITON_INTERPRET`` is read when
  the kernels are decorated, so it must be set before import, in a fresh process): the fused
  kernels on CPU tensors under the interpreter against ``FastfoodProjection`` (float64) and the
  hashed torch reference, L ≤ 2^12, multi-pass plans, every fold strategy; an ahead-of-time
  compile for sm_90 of the launch configurations that L = 2^27 / 2^29 use; and an import with
  Triton made unavailable.
* **GPU** (``@pytest.mark.gpu``, skipped without CUDA): the same comparisons on the real CUDA
  path at larger sizes.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__" and sys.argv[1:2] == ["notriton"]:
    sys.modules["triton"] = None  # type: ignore[assignment]  # makes `import triton` fail

import numpy as np
import pytest
import scipy.linalg
import torch
from subprocess_worker import run_worker  # tests/ is on sys.path

from idtheory.kernels import triton_fastfood as F
from idtheory.projections import FastfoodProjection, HashedFastfoodProjection

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 600
HAS_TRITON = importlib.util.find_spec("triton") is not None
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton not installed")
needs_cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and F.HAS_TRITON), reason="needs CUDA and Triton"
)


def dense_hashed(P: HashedFastfoodProjection) -> np.ndarray:
    """c · R_D H_L diag(G) Π H_L diag(B) E_d built from the hash definitions (float64)."""
    L, d, D = P.L, P.d, P.D
    H = scipy.linalg.hadamard(L).astype(np.float64)
    G = F.hashed_gaussian(L, P.keys).numpy()
    B = F.hashed_sign(L, P.keys).numpy().astype(np.float64)
    pi = F.feistel_permute(L, P.keys).numpy()
    Pi = np.zeros((L, L))
    Pi[np.arange(L), pi] = 1.0  # (Πx)_i = x_{π(i)}
    c = 1.0 / math.sqrt(D * float(np.sum(G**2)))
    M = c * H @ np.diag(G) @ Pi @ H @ np.diag(B)
    return M[:D, :d]


def rel(a: Any, b: Any) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


# ============================================================================ hashes (CPU)


@pytest.mark.parametrize("k", list(range(15)))
def test_feistel_is_a_bijection(k: int) -> None:
    keys = F.hash_keys(123, k)
    pi = F.feistel_permute(1 << k, keys)
    assert torch.equal(torch.sort(pi).values, torch.arange(1 << k))
    assert torch.equal(F.feistel_inverse(pi, keys), torch.arange(1 << k))


def test_feistel_depends_on_seed_and_mixes() -> None:
    a = F.feistel_permute(1 << 12, F.hash_keys(0, 12))
    b = F.feistel_permute(1 << 12, F.hash_keys(1, 12))
    assert not torch.equal(a, b)
    assert (a == torch.arange(1 << 12)).float().mean() < 0.01  # few fixed points
    # neighbouring indices land far apart (no locality): mean |π(i+1) − π(i)| ≈ L/3
    assert (a[1:] - a[:-1]).abs().float().mean() > (1 << 12) / 6


def test_hash_statistics() -> None:
    keys = F.hash_keys(7, 16)
    G = F.hashed_gaussian(1 << 16, keys)
    assert abs(float(G.mean())) < 0.02 and abs(float(G.var()) - 1.0) < 0.03
    assert abs(float((G.abs() < 1).double().mean()) - 0.6827) < 0.01
    B = F.hashed_sign(1 << 16, keys)
    assert set(B.unique().tolist()) == {-1, 1} and abs(float(B.double().mean())) < 0.02
    # σ = π mod b is exactly balanced (π is a bijection)
    sigma = F.hashed_sigma(1 << 16, keys, 64)
    assert torch.equal(torch.bincount(sigma, minlength=64), torch.full((64,), 1 << 10))
    # streams are not correlated with each other
    assert abs(float(np.corrcoef(G.numpy(), B[: G.numel()].double().numpy())[0, 1])) < 0.02


def test_hash_keys_deterministic_31_bit() -> None:
    a, b = F.hash_keys(5, 20), F.hash_keys(5, 20)
    assert a == b and F.hash_keys(6, 20) != a
    keys = [a.k_sign1, a.k_sign2, a.k_gauss, *a.k_feistel]
    assert all(0 <= k < 2**31 for k in keys) and len(set(keys)) == len(keys)
    assert F.hash_keys(2**70 + 5, 3).log_l == 3
    with pytest.raises(ValueError):
        F.hash_keys(0, 31)


def test_mix32_is_a_bijection_on_16_bit_slices() -> None:
    x = torch.arange(1 << 16, dtype=torch.int64) << 16  # high halves
    assert torch.unique(F.mix32(x)).numel() == 1 << 16
    assert int(F.mix32(torch.tensor([2**32 - 1])).max()) < 2**32


# ======================================================================= hashed projection (CPU)

CASES = [(1, 1), (1, 2), (3, 16), (5, 37), (7, 64), (16, 16), (33, 100), (20, 128)]


@pytest.fixture(params=["numba", "plain torch"])
def cpu_path(request, monkeypatch) -> str:
    """Both CPU paths of the gather/scatter: numba's kernels and the plain torch indexing (what
    CUDA runs without Triton, and float64 there)."""
    if request.param == "plain torch":
        from idtheory.kernels import fastfood_cpu

        monkeypatch.setattr(fastfood_cpu, "_use_numba", lambda x: False)
    return request.param


@pytest.mark.parametrize(("d", "D"), CASES)
def test_hashed_matches_dense_definition(d: int, D: int, cpu_path: str) -> None:
    P = HashedFastfoodProjection(d, D, seed=11, dtype=torch.float64, backend="torch")
    M = dense_hashed(P)
    assert rel(P.materialize().numpy(), M) < 1e-12
    theta = torch.randn(d, dtype=torch.float64)
    g = torch.randn(D, dtype=torch.float64)
    assert rel(P(theta).numpy(), M @ theta.numpy()) < 1e-12
    assert rel(P.T(g).numpy(), M.T @ g.numpy()) < 1e-12


def test_hashed_gradcheck() -> None:
    P = HashedFastfoodProjection(6, 40, seed=2, dtype=torch.float64, backend="torch")
    theta = torch.randn(6, dtype=torch.float64, requires_grad=True)
    g = torch.randn(40, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(P, (theta,))
    assert torch.autograd.gradcheck(P.T, (g,))


def test_hashed_column_norms() -> None:
    P = HashedFastfoodProjection(10, 256, seed=3, dtype=torch.float64, backend="torch")
    norms = P.materialize().norm(dim=0)
    assert torch.allclose(norms, torch.ones(10, dtype=torch.float64), atol=1e-12)  # D = L
    P = HashedFastfoodProjection(50, 3000, seed=3, dtype=torch.float64, backend="torch")
    norms = P.materialize().norm(dim=0)
    assert abs(float(norms.mean()) - 1.0) < 0.05 and float((norms - 1).abs().max()) < 0.2


def test_hashed_determinism_and_seed() -> None:
    a = HashedFastfoodProjection(8, 100, seed=9, backend="torch").materialize()
    b = HashedFastfoodProjection(8, 100, seed=9, backend="torch", cache=False).materialize()
    c = HashedFastfoodProjection(8, 100, seed=10, backend="torch").materialize()
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    # differs from the torch.Generator Fastfood of the same seed (a different, valid P)
    assert not torch.allclose(a, FastfoodProjection(8, 100, seed=9).materialize())


def test_hashed_module_state_is_o1() -> None:
    P = HashedFastfoodProjection(100, 1 << 16, seed=1, backend="torch", cache=False)
    assert P.nbytes == 0 and len(P.state_dict()) == 0
    assert P._dtype() == torch.float32 and P._device().type == "cpu"
    P64 = P.to(torch.float64)
    assert P64._dtype() == torch.float64
    y = P(torch.randn(100, dtype=torch.float64))
    assert y.dtype == torch.float64 and y.shape == (1 << 16,)
    assert "backend=torch" in repr(P)


def test_hashed_float32_close_to_float64() -> None:
    P32 = HashedFastfoodProjection(30, 1000, seed=4, backend="torch")
    P64 = HashedFastfoodProjection(30, 1000, seed=4, backend="torch", dtype=torch.float64)
    theta = torch.randn(30)
    assert rel(P32(theta), P64(theta.double())) < 1e-5
    g = torch.randn(1000)
    assert rel(P32.T(g), P64.T(g.double())) < 1e-5


def test_hashed_argument_errors() -> None:
    with pytest.raises(ValueError):
        HashedFastfoodProjection(10, 5)
    with pytest.raises(ValueError):
        HashedFastfoodProjection(2, 5, backend="cuda")
    with pytest.raises(TypeError):
        HashedFastfoodProjection(2, 5, warps=4)
    P = HashedFastfoodProjection(2, 5, backend="torch")
    with pytest.raises(ValueError):
        P(torch.zeros(3))


@needs_triton
def test_backend_triton_refuses_plain_cpu_tensors() -> None:
    if F._interpreting():
        pytest.skip("interpreter mode accepts CPU tensors")
    P = HashedFastfoodProjection(2, 8, backend="triton")
    with pytest.raises(ValueError):
        P(torch.zeros(2))


def test_fastfood_bytes() -> None:
    L = 1 << 27
    mat = F.fastfood_bytes(L, L, 1000, hashed=False)
    hsh = F.fastfood_bytes(L, L, 1000, hashed=True)
    assert mat["passes"] == 3 and hsh["passes"] == 3
    assert mat["traffic"] == 56 * L and hsh["traffic"] == 40 * L
    assert mat["min"] == 24 * L + 16 * 1000 and hsh["min"] == 8 * L + 8 * 1000
    one = F.fastfood_bytes(1 << 12, 1 << 12, 10, hashed=True)
    assert one["passes"] == 1 and one["traffic"] == 8 * (1 << 12)


def test_default_copies() -> None:
    assert F.default_copies(1) == F.MAX_COPIES
    assert F.default_copies(1024) == F.MAX_COPIES  # 64 copies measured fastest at b = 1024
    assert F.default_copies(1 << 15) == 2
    assert F.default_copies(1 << 20) == 1


def test_triton_projection_falls_back_on_cpu() -> None:
    """On a CPU tensor (no interpreter) the Triton path is not taken, so backend and knobs
    cannot change P here; that they never change it on Triton is checked in the interpreter
    (:func:`test_fused_matches_references`). Knobs are fixed at construction."""
    P = FastfoodProjection(9, 300, seed=5, block=16)
    R = FastfoodProjection(9, 300, seed=5, backend="torch")
    theta = torch.randn(9)
    if not (HAS_TRITON and F._interpreting()):
        assert not P._use_triton(theta)
        assert torch.equal(P(theta), R(theta))
    assert P.knobs == {"block": 16} and R.knobs == {}
    with pytest.raises(TypeError, match="colour"):
        FastfoodProjection(9, 300, colour="red")
    with pytest.raises(TypeError, match="knobs"):
        P.knobs = {"warps": 4}
    with pytest.raises(ValueError, match="backend"):
        FastfoodProjection(9, 300, backend="cuda")


# ============================================================================ Triton subprocesses


def _worker_interp() -> dict[str, Any]:
    assert F.HAS_TRITON and F._interpreting(), "worker must run with TRITON_INTERPRET=1"
    torch.manual_seed(0)
    res: dict[str, Any] = {}

    # σ, G, B exactly as the kernels evaluate them
    for k, b in ((0, 1), (5, 8), (12, 1024), (13, 8192)):
        keys = F.hash_keys(77, k)
        n = 1 << k
        sig, gain, sign = F.hashes_triton(n, keys, b, device="cpu")
        res[f"hash_{k}"] = {
            "sigma_equal": bool(torch.equal(sig.long(), F.hashed_sigma(n, keys, b))),
            "gauss_err": float((gain.double() - F.hashed_gaussian(n, keys)).abs().max()),
            "sign_equal": bool(torch.equal(sign.long(), F.hashed_sign(n, keys))),
        }

    # fused materialized and hashed products vs the float64 references
    cases = [
        # (d, D, knobs): b ≤ 16 → per-program pre-sums; larger b → atomics with copies
        (1, 1, {}),
        (1, 2, {}),
        (3, 16, {}),
        (5, 1000, {}),
        (16, 16, {}),
        (17, 64, {}),
        (100, 4096, {}),
        (300, 3000, {}),
        (7, 700, {"block": 16, "local_bins_max": 16}),  # multi-pass, local bins
        (100, 4096, {"block": 16}),  # 3 passes, atomics
        (40, 1024, {"block": 4}),  # 5 passes
        (64, 64, {"block": 2}),  # 6 passes of length 2
        (20, 2048, {"copies": 1}),
        (20, 2048, {"copies": 3}),
        (5, 500, {"local_bins_max": 16}),  # per-program pre-sums (off by default)
        (5, 500, {"local_bins_max": 0, "copies": 1}),
        (9, 1500, {"tile": 64, "num_warps": 2}),
    ]
    for idx, (d, D, knobs) in enumerate(cases):
        ref = FastfoodProjection(d, D, seed=idx, dtype=torch.float64)
        fused = FastfoodProjection(d, D, seed=idx, backend="triton", **knobs)
        href = HashedFastfoodProjection(d, D, seed=idx, dtype=torch.float64, backend="torch")
        hashed = HashedFastfoodProjection(d, D, seed=idx, backend="triton", **knobs)
        theta, g = torch.randn(d), torch.randn(D)
        y, z = fused._forward(theta), fused._transpose(g)
        hy, hz = hashed._forward(theta), hashed._transpose(g)
        res[f"case_{idx}"] = {
            "d": d,
            "D": D,
            "knobs": knobs,
            "fwd": rel(y, ref._forward(theta.double())),
            "T": rel(z, ref._transpose(g.double())),
            "h_fwd": rel(hy, href._forward(theta.double())),
            "h_T": rel(hz, href._transpose(g.double())),
            "shapes": [list(y.shape), list(z.shape), list(hy.shape), list(hz.shape)],
            "dtypes": [str(t.dtype) for t in (y, z, hy, hz)],
            "finite": bool(all(torch.isfinite(t).all() for t in (y, z, hy, hz))),
        }

    # materialize() through the Triton path == dense definition of the hashes
    P = HashedFastfoodProjection(6, 50, seed=8, backend="triton")
    res["materialize_dense"] = rel(P.materialize(), dense_hashed(P))

    # tables larger than one program (MAX_TABLE_LOG lowered to exercise the fwht_triton path)
    saved = F.MAX_TABLE_LOG
    F.MAX_TABLE_LOG = 4
    try:
        for idx, d in enumerate((40, 200)):
            ref = FastfoodProjection(d, 1024, seed=idx, dtype=torch.float64)
            fused = FastfoodProjection(d, 1024, seed=idx, backend="triton")
            href = HashedFastfoodProjection(d, 1024, seed=idx, dtype=torch.float64)
            hashed = HashedFastfoodProjection(d, 1024, seed=idx, backend="triton")
            theta, g = torch.randn(d), torch.randn(1024)
            res[f"big_table_{d}"] = {
                "fwd": rel(fused._forward(theta), ref._forward(theta.double())),
                "T": rel(fused._transpose(g), ref._transpose(g.double())),
                "h_fwd": rel(hashed._forward(theta), href._forward(theta.double())),
                "h_T": rel(hashed._transpose(g), href._transpose(g.double())),
            }
    finally:
        F.MAX_TABLE_LOG = saved

    # half-precision inputs, non-contiguous inputs, autograd through the fused path
    P = FastfoodProjection(12, 500, seed=1, backend="triton")
    ref = FastfoodProjection(12, 500, seed=1, dtype=torch.float64)
    theta, g = torch.randn(12), torch.randn(500)
    for name, dt in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        y, z = P._forward(theta.to(dt)), P._transpose(g.to(dt))
        res[name] = {
            "dtypes": [str(y.dtype), str(z.dtype)],
            "fwd": rel(y.float(), ref._forward(theta.to(dt).double())),
            "T": rel(z.float(), ref._transpose(g.to(dt).double())),
        }
    big = torch.randn(12, 2)
    res["non_contiguous"] = rel(P._forward(big[:, 1]), ref._forward(big[:, 1].double()))
    th = torch.randn(12, requires_grad=True)
    gg = torch.randn(500)
    (P(th) * gg).sum().backward()
    res["autograd"] = rel(th.grad, ref._transpose(gg.double()))

    # linearity / adjointness of the hashed Triton path: <Pθ, g> = <θ, Pᵀg>
    H = HashedFastfoodProjection(30, 3000, seed=3, backend="triton", block=32)
    theta, g = torch.randn(30, dtype=torch.float64), torch.randn(3000, dtype=torch.float64)
    lhs = float(torch.dot(H._forward(theta.float()).double(), g))
    rhs = float(torch.dot(theta, H._transpose(g.float()).double()))
    res["adjoint"] = abs(lhs - rhs) / max(abs(lhs), 1e-12)

    def raises(fn: Any, exc: type[BaseException]) -> bool:
        try:
            fn()
        except exc:
            return True
        return False

    keys = F.hash_keys(0, 4)
    res["errors"] = {
        "d_gt_D": raises(
            lambda: F.fastfood_forward_triton(torch.zeros(8), keys, 4, 1.0), ValueError
        ),
        "D_gt_L": raises(
            lambda: F.fastfood_transpose_triton(torch.zeros(32), keys, 2, 1.0), ValueError
        ),
        "float64": raises(
            lambda: HashedFastfoodProjection(2, 8, backend="triton", dtype=torch.float64)(
                torch.zeros(2, dtype=torch.float64)
            ),
            ValueError,
        ),
    }
    return res


def _aot_compile(kernel: Any, sig: dict[str, str], const: dict[str, Any], warps: int) -> dict:
    import triton
    from triton.backends.compiler import GPUTarget

    for key in const:
        sig[key] = "constexpr"
    src = triton.compiler.ASTSource(kernel, sig, const)
    ck = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": warps})
    return {"cubin_bytes": len(ck.asm["cubin"]), "smem": ck.metadata.shared}


def _worker_aot() -> dict[str, Any]:
    from idtheory.kernels import triton_fwht as W

    assert not F._interpreting()
    out: dict[str, Any] = {}
    scalars = {"n_rows": "i64", "stride": "i64", "chunks": "i64", "n_src": "i32", "n_dst": "i32"}
    scalars |= {"out_scale": "fp32", "b_mask": "i32", "copies": "i32", "k_g": "i32"}
    scalars |= {"kf0": "i32", "kf1": "i32", "kf2": "i32", "s_e": "i32", "s_o": "i32"}
    for k in (27, 29):
        plan = W.fwht_plan(1 << k)
        for idx, p in enumerate(plan):
            cfg = W._pass_config(p, 1 << k)
            first, last = idx == 0, idx == len(plan) - 1
            modes = []
            if first:
                modes += [(True, False, h, 0) for h in (False, True)]  # forward generation
                modes.append((False, False, False, 0))  # transpose input (masked load)
            elif last:
                modes += [(False, True, h, 0) for h in (False, True)]  # fold, atomics
                modes.append((False, False, False, 0))  # forward output
                if k == 27:
                    modes.append((False, True, True, 16))  # fold, per-program pre-sums
            else:
                modes.append((False, False, False, 0))
            for gen, fold, hashed, bins in modes:
                sig = {"src_ptr": "*bf16" if first else "*fp32", "dst_ptr": "*fp32"}
                sig |= {"perm_ptr": "*i32", "gain_ptr": "*fp32", "table_ptr": "*fp32"} | scalars
                const = {"LOG_M": cfg["LOG_M"], "TILE_R": cfg["TILE_R"]}
                const |= {"STRIDED": cfg["STRIDED"], "GEN": gen, "FOLD": fold}
                const |= {"HASHED": hashed, "LOCAL_BINS": bins}
                name = f"{k}_{idx}_g{int(gen)}f{int(fold)}h{int(hashed)}b{bins}"
                out[name] = _aot_compile(F._ff_pass_kernel, sig, const, cfg["num_warps"])
    table_sig = {"x_ptr": "*fp32", "sign_ptr": "*fp32", "out_ptr": "*fp32", "n_in": "i32"}
    table_sig |= {"n_out": "i32", "copies": "i32", "scale": "fp32", "kb1": "i32", "kb2": "i32"}
    for log_b in (0, 10, 13):
        for hashed in (False, True):
            for epi in (False, True):
                const = {"LOG_B": log_b, "HASHED": hashed, "EPILOGUE": epi}
                out[f"table_{log_b}_{int(hashed)}{int(epi)}"] = _aot_compile(
                    F._table_kernel, dict(table_sig), const, F._default_num_warps(1 << log_b)
                )
    return out


def _worker_notriton() -> dict[str, Any]:
    # F was imported with `triton` made unavailable (top of this file)
    P = HashedFastfoodProjection(4, 50, seed=1)
    y = P(torch.randn(4))
    Q = FastfoodProjection(4, 50, seed=1, block=16)
    same = torch.equal(Q(torch.ones(4)), FastfoodProjection(4, 50, seed=1)(torch.ones(4)))
    raised = True
    for cls in (HashedFastfoodProjection, FastfoodProjection):
        try:
            cls(4, 50, backend="triton")
            raised = False
        except RuntimeError:
            pass
    return {"has_triton": F.HAS_TRITON, "shape": list(y.shape), "fallback": same, "raised": raised}


def _run_worker(mode: str) -> dict[str, Any]:
    return run_worker(__file__, mode, TIMEOUT_S)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return _run_worker("interp")


N_CASES = 17


@pytest.mark.triton
@needs_triton
@pytest.mark.parametrize("k", [0, 5, 12, 13])
def test_kernel_hashes_match_torch(report: dict[str, Any], k: int) -> None:
    r = report[f"hash_{k}"]
    assert r["sigma_equal"] and r["sign_equal"], r
    assert r["gauss_err"] < 1e-5, r


@pytest.mark.triton
@needs_triton
@pytest.mark.parametrize("idx", list(range(N_CASES)))
def test_fused_matches_references(report: dict[str, Any], idx: int) -> None:
    r = report[f"case_{idx}"]
    assert r["fwd"] < 1e-5 and r["T"] < 1e-5, r
    assert r["h_fwd"] < 1e-5 and r["h_T"] < 1e-5, r
    assert r["shapes"] == [[r["D"]], [r["d"]], [r["D"]], [r["d"]]], r
    assert r["dtypes"] == ["torch.float32"] * 4 and r["finite"], r


@pytest.mark.triton
@needs_triton
def test_fused_extras(report: dict[str, Any]) -> None:
    assert report["materialize_dense"] < 1e-5
    for d in (40, 200):
        r = report[f"big_table_{d}"]
        assert max(r.values()) < 1e-5, r
    for name, dt in (("bf16", "torch.bfloat16"), ("fp16", "torch.float16")):
        r = report[name]
        assert r["dtypes"] == [dt, dt], r
        assert r["fwd"] < 1e-2 and r["T"] < 1e-2, r  # one rounding to the half output dtype
    assert report["non_contiguous"] < 1e-5
    assert report["autograd"] < 1e-5
    assert report["adjoint"] < 1e-5
    failed = [k for k, ok in report["errors"].items() if not ok]
    assert not failed, failed


@pytest.mark.triton
@needs_triton
def test_importable_without_triton() -> None:
    r = _run_worker("notriton")
    assert r == {"has_triton": False, "shape": [50], "fallback": True, "raised": True}


@pytest.mark.triton
@needs_triton
def test_aot_compile_sm90() -> None:
    """Compile every pass configuration of L = 2^27 and 2^29 for sm_90 (no GPU needed)."""
    spec = importlib.util.find_spec("triton")
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    if not (root / "backends" / "nvidia").is_dir():
        pytest.skip("triton wheel without the NVIDIA backend")
    out = _run_worker("aot")
    assert len(out) >= 20, out
    assert all(v["cubin_bytes"] > 0 for v in out.values()), out


# ============================================================================ benchmark (CPU)


def _synthetic_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    L = 1 << 27
    for name, t, traffic in (("copy", 0.36e-3, 8 * L), ("ff_fused", 2.0e-3, 56 * L)):
        minimum = 8 * L if name == "copy" else 24 * L
        items.append(
            {
                "section": "kernels",
                "name": name,
                "log2": 27,
                "L": L,
                "status": "ok",
                "time_s": t,
                "bytes_min": minimum,
                "bytes_traffic": traffic,
            }
        )
    items.append(
        {
            "section": "kernels",
            "name": "ff_hashed",
            "log2": 27,
            "L": L,
            "status": "error",
            "error": "RuntimeError: boom",
        }
    )
    for name, t, peak in (("full", 0.1, 10), ("said-current", 0.104, 9), ("said-fused", 0.2, 12)):
        items.append(
            {
                "section": "step",
                "model": "large",
                "name": name,
                "status": "ok",
                "time_s": t,
                "peak_bytes": peak,
                "batch": 32,
                "length": 128,
                "dim": 1000,
            }
        )
    return items


def test_make_report_goals_and_markdown() -> None:
    from idtheory.bench.gpu import make_report

    doc, md = make_report({"gpu": "Test GPU", "date": "2026-01-01"}, _synthetic_items(), [])
    goals = {g["goal"]: g for g in doc["goals"]}
    fused = next(g for k, g in goals.items() if k.startswith("ff_fused"))
    assert fused["value"] == pytest.approx((24 / 2.0e-3) / (8 / 0.36e-3))
    assert fused["met"] is False
    assert next(g for k, g in goals.items() if k.startswith("ff_hashed"))["met"] is None
    cur = [g for k, g in goals.items() if "(current)" in k]
    assert cur[0]["value"] == pytest.approx(1.04) and cur[0]["met"] is True
    assert cur[1]["value"] == pytest.approx(0.9) and cur[1]["met"] is True
    assert "## Goals" in md and "| 2^27 |" in md and "RuntimeError: boom" in md
    json.dumps(doc)


def test_fwht_backend_switch() -> None:
    import idtheory.hadamard as H
    from idtheory.bench.gpu import fwht_backend

    original = H._fwht_forward
    x = torch.randn(64)
    with fwht_backend("reference"):
        assert H._fwht_forward is not original
        assert torch.allclose(H.fwht(x), H.fwht_reference(x), atol=1e-5)
    assert H._fwht_forward is original
    with pytest.raises(ValueError):
        with fwht_backend("magic"):
            pass


def test_bench_quick_kernels_inline(tmp_path: Path) -> None:
    """The kernel section in-process on the CPU (tiny sizes): both reports are written."""
    from idtheory.bench.gpu import main

    args = ["--quick", "--inline", "--sections", "kernels", "--out", str(tmp_path)]
    assert main([*args, "--max-log2", "11", "--device", "cpu", "--budget-s", "120"]) == 0
    (js,) = tmp_path.glob("*.json")
    (md,) = tmp_path.glob("*.md")
    doc = json.loads(js.read_text())
    names = {(i["name"], i.get("log2")) for i in doc["items"] if i.get("status") == "ok"}
    assert {("copy", 10), ("fwht", 11), ("ff_current", 10), ("ff_hashed", 11)} <= names
    assert doc["meta"]["quick"] is True and "## Kernels" in md.read_text()


@pytest.mark.slow
def test_bench_quick_cli(tmp_path: Path) -> None:
    """``python -m idtheory.bench.gpu --quick`` (child processes, kernels + tiny RoBERTa step)."""
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "idtheory.bench.gpu",
            "--quick",
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            "--budget-s",
            "240",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "## Training step: RoBERTa-tiny" in proc.stdout
    (js,) = tmp_path.glob("*-cpu.json")
    assert (tmp_path / js.name.replace(".json", ".md")).is_file()
    doc = json.loads(js.read_text())
    steps = {i["name"]: i for i in doc["items"] if i.get("section") == "step"}
    assert steps["full"]["status"] == "ok", steps["full"]
    for name in ("said-current", "said-fused", "said-hashed", "did-hashed", "said-naive-fwht"):
        assert steps[name]["status"] == "ok", steps[name]
    assert [s["status"] for s in doc["sections"]] == ["ok", "ok"]


# ============================================================================ GPU


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize(
    ("d", "D", "knobs"),
    [
        (5, 1000, {}),
        (1000, 1 << 15, {}),  # two passes
        (300, (1 << 24) - 12345, {}),  # three passes, D < L
        (10000, 1 << 20, {}),  # table larger than one program
        (1000, 1 << 20, {"copies": 1, "local_bins_max": 0}),
        (7, 1 << 20, {}),  # per-program pre-sums
    ],
)
def test_gpu_fused_matches_reference(d: int, D: int, knobs: dict[str, Any]) -> None:
    ref = FastfoodProjection(d, D, seed=1, dtype=torch.float64)  # CPU float64
    P = FastfoodProjection(d, D, seed=1, device="cuda", backend="triton", **knobs)
    theta, g = torch.randn(d), torch.randn(D)
    y = P._forward(theta.cuda())
    z = P._transpose(g.cuda())
    assert torch.isfinite(y).all() and torch.isfinite(z).all()
    assert rel(y.cpu(), ref._forward(theta.double())) < 1e-4
    assert rel(z.cpu(), ref._transpose(g.double())) < 1e-4
    # run to run: atomics reorder the fold's sums, nothing else changes
    assert rel(P._transpose(g.cuda()).cpu(), z.cpu()) < 1e-5
    assert torch.equal(P._forward(theta.cuda()), y)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize(("d", "D"), [(3, 100), (1000, 1 << 20), (20000, (1 << 22) + 1)])
def test_gpu_hashed_matches_torch_reference(d: int, D: int) -> None:
    H = HashedFastfoodProjection(d, D, seed=5, device="cuda")
    R = HashedFastfoodProjection(d, D, seed=5, device="cpu", dtype=torch.float64)
    assert H._use_triton(torch.zeros(1, device="cuda"))
    assert H.scale == pytest.approx(R.scale, rel=1e-12)
    theta, g = torch.randn(d), torch.randn(D)
    assert rel(H(theta.cuda()).cpu(), R(theta.double())) < 1e-4
    assert rel(H.T(g.cuda()).cpu(), R.T(g.double())) < 1e-4
    keys = H.keys
    n = min(H.L, 1 << 20)
    sig, gain, sign = F.hashes_triton(n, keys, H.b)
    assert torch.equal(sig.long().cpu(), F.hashed_sigma(n, keys, H.b))
    assert torch.equal(sign.long().cpu(), F.hashed_sign(n, keys))
    assert float((gain.double().cpu() - F.hashed_gaussian(n, keys)).abs().max()) < 1e-4


@pytest.mark.gpu
@needs_cuda
def test_gpu_subspace_step_with_hashed_projection() -> None:
    """Autograd through the fused kernels inside a training step: the gradient of θ_d is Pᵀg,
    with Pᵀ computed independently of the kernels (the CPU float64 projection, same seed)."""
    H = HashedFastfoodProjection(64, 5000, seed=0, device="cuda")
    R = HashedFastfoodProjection(64, 5000, seed=0, device="cpu", dtype=torch.float64)
    theta = torch.zeros(64, device="cuda", requires_grad=True)
    w0 = torch.randn(5000, device="cuda")
    target = torch.randn(5000, device="cuda")
    loss = ((w0 + H(theta) - target) ** 2).sum()
    loss.backward()
    expected = R.T(2 * (w0 - target).double().cpu())
    assert rel(theta.grad.cpu(), expected) < 1e-4


if __name__ == "__main__":
    _mode = sys.argv[1]
    _workers = {"interp": _worker_interp, "aot": _worker_aot, "notriton": _worker_notriton}
    _result = _workers[_mode]()
    print(json.dumps(_result))
