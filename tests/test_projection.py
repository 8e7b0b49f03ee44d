"""Projections against their explicit matrices: values, transpose, gradients, norms, seeds;
the registry of projection kinds and the rules each class owns."""

from __future__ import annotations

import math

import pytest
import scipy.linalg
import torch

from idtheory.projections import (
    PROJECTION_NAMES,
    REGISTRY,
    DenseProjection,
    FastfoodProjection,
    HashedFastfoodProjection,
    SparseProjection,
    make_projection,
    projection_class,
)
from idtheory.projections.base import Projection

KINDS = [FastfoodProjection, DenseProjection, SparseProjection]
F64 = torch.float64


@pytest.mark.parametrize("cls", KINDS)
@pytest.mark.parametrize("d,D", [(1, 1), (3, 20), (7, 64), (16, 100)])
def test_forward_and_transpose_match_materialized(cls, d, D):
    P = cls(d, D, seed=3, dtype=F64)
    M = P.materialize()
    assert M.shape == (D, d)
    theta, g = torch.randn(d, dtype=F64), torch.randn(D, dtype=F64)
    torch.testing.assert_close(P(theta), M @ theta)
    torch.testing.assert_close(P.T(g), M.T @ g)


def test_fastfood_equals_explicit_formula():
    """P = R_D H G Π H B E_d / sqrt(D ΣG²), built from scipy's Hadamard matrix."""
    d, D = 5, 27
    P = FastfoodProjection(d, D, seed=11, dtype=F64)
    L = P.L
    assert L == 32
    H = torch.from_numpy(scipy.linalg.hadamard(L)).to(F64)
    Pi = torch.eye(L, dtype=F64)[P.perm.long()]  # (Πx)_i = x_{π(i)}
    M = H @ torch.diag(P.G) @ Pi @ H @ torch.diag(P.B)
    M = M[:D, :d] / math.sqrt(D * float(P.G.square().sum()))
    torch.testing.assert_close(P.materialize(), M)


def test_dense_is_its_stored_gaussian_matrix():
    """Dense: the products are those of the stored matrix (built here, not through the
    products), whose entries are i.i.d. N(0, 1/D): mean 0, variance 1/D, columns of norm ≈ 1."""
    d, D = 50, 4000
    P = DenseProjection(d, D, seed=5, dtype=F64)
    M = P.matrix.clone()
    assert M.shape == (D, d)
    theta, g = torch.randn(d, dtype=F64), torch.randn(D, dtype=F64)
    torch.testing.assert_close(P(theta), M @ theta)
    torch.testing.assert_close(P.T(g), M.T @ g)
    z = M * math.sqrt(D)  # standard normal entries: 200,000 of them
    assert abs(float(z.mean())) < 0.01 and abs(float(z.var()) - 1) < 0.02
    torch.testing.assert_close(M.norm(dim=0), torch.ones(d, dtype=F64), atol=0.05, rtol=0)


def test_sparse_is_its_stored_entries():
    """Sparse: the products are those of the matrix its (rows, cols, values) describe, built
    here; each column has ⌈√D⌉ entries ±1/√nnz at distinct rows (unit norm), signs balanced."""
    d, D = 40, 900
    P = SparseProjection(d, D, seed=2, dtype=F64)
    nnz = math.ceil(math.sqrt(D))
    M = torch.zeros(D, d, dtype=F64)
    M[P.rows, P.cols] = P.values
    theta, g = torch.randn(d, dtype=F64), torch.randn(D, dtype=F64)
    torch.testing.assert_close(P(theta), M @ theta)
    torch.testing.assert_close(P.T(g), M.T @ g)
    assert ((M != 0).sum(dim=0) == nnz).all()  # distinct rows: no entry written twice
    assert set(P.values.abs().unique().tolist()) == {1 / math.sqrt(nnz)}
    torch.testing.assert_close(M.norm(dim=0), torch.ones(d, dtype=F64))
    assert abs(float((P.values > 0).double().mean()) - 0.5) < 0.05  # 1,200 signs


@pytest.mark.parametrize("cls", KINDS)
def test_gradient_is_explicit_transpose(cls):
    d, D = 6, 50
    P = cls(d, D, seed=0, dtype=F64)
    M = P.materialize()
    theta = torch.randn(d, dtype=F64, requires_grad=True)
    g = torch.randn(D, dtype=F64)
    P(theta).backward(g)
    torch.testing.assert_close(theta.grad, M.T @ g)
    assert torch.autograd.gradcheck(P, (torch.randn(d, dtype=F64, requires_grad=True),))
    assert torch.autograd.gradcheck(P.T, (torch.randn(D, dtype=F64, requires_grad=True),))


def test_grad_scale_multiplies_backward_only():
    P = FastfoodProjection(4, 16, seed=1, dtype=F64, grad_scale=1 / 16)
    Q = FastfoodProjection(4, 16, seed=1, dtype=F64)
    theta = torch.randn(4, dtype=F64, requires_grad=True)
    g = torch.randn(16, dtype=F64)
    torch.testing.assert_close(P(theta), Q(theta))
    P(theta).backward(g)
    torch.testing.assert_close(theta.grad, Q.T(g) / 16)


def test_fastfood_column_norms():
    # Exactly 1 when D = L; close to 1 (mean over columns) when D < L.
    P = FastfoodProjection(8, 256, seed=2, dtype=F64)
    torch.testing.assert_close(P.materialize().norm(dim=0), torch.ones(8, dtype=F64))
    P = FastfoodProjection(64, 3000, seed=2, dtype=F64)
    norms = P.materialize().norm(dim=0)
    assert abs(norms.square().mean().item() - 1) < 0.1
    assert norms.min() > 0.7 and norms.max() < 1.3


@pytest.mark.parametrize("cls", KINDS)
def test_deterministic_from_seed(cls):
    a = cls(4, 40, seed=5).materialize()
    b = cls(4, 40, seed=5).materialize()
    c = cls(4, 40, seed=6).materialize()
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_global_rng_untouched():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    FastfoodProjection(4, 40, seed=9)
    torch.testing.assert_close(torch.rand(3), expected)


def test_errors():
    with pytest.raises(ValueError, match="exceeds"):
        FastfoodProjection(10, 5)
    with pytest.raises(ValueError, match="positive"):
        FastfoodProjection(0, 5)
    with pytest.raises(ValueError, match="dense"):
        DenseProjection(1 << 10, 1 << 19)
    with pytest.raises(ValueError, match="unknown projection"):
        make_projection("gaussian", 2, 4)
    with pytest.raises(ValueError, match="shape"):
        FastfoodProjection(3, 8)(torch.zeros(4))


def test_memory_accounting():
    P = FastfoodProjection(10, 1000)
    assert P.L == 1024
    assert P.nbytes == 1024 * (4 + 4 + 4)  # B, G in fp32; π as int32


def test_hashed_fastfood_through_make_projection():
    P = make_projection("fastfood_hashed", 4, 40, seed=3, dtype=F64)
    M = P.materialize()
    theta = torch.randn(4, dtype=F64)
    torch.testing.assert_close(P(theta), M @ theta)
    torch.testing.assert_close(
        make_projection("fastfood_hashed", 4, 40, seed=3, dtype=F64).materialize(), M
    )


# ----------------------------------------------------------------------------- seeds are pinned


def test_random_state_of_a_seed_is_pinned():
    """The values stored results were computed with: a refactoring must not change them."""
    P = FastfoodProjection(5, 27, seed=11)
    assert P.B[:8].tolist() == [1, 1, -1, 1, 1, 1, 1, -1]
    assert P.perm[:8].tolist() == [24, 29, 15, 13, 27, 18, 16, 28]
    torch.testing.assert_close(P.G[:3], torch.tensor([-0.570933, 0.93197, 0.311779]))
    assert P.scale == pytest.approx(0.03442241449803588, rel=1e-12)
    Q = DenseProjection(3, 10, seed=2)
    expected = torch.tensor([-0.248569, -0.138791, 0.432085, -0.1611, -0.510573, 0.137631])
    torch.testing.assert_close(Q.matrix[:2].flatten(), expected)
    S = SparseProjection(3, 10, seed=2)
    assert S.rows.tolist() == [4, 2, 5, 0, 9, 3, 6, 5, 3, 5, 6, 1]
    assert (S.values * 2).tolist() == [1, -1, -1, 1, -1, -1, 1, 1, 1, -1, -1, -1]
    H = HashedFastfoodProjection(5, 27, seed=11)
    assert (H.keys.k_sign1, H.keys.k_gauss, H.keys.k_feistel[0]) == (
        1217083089,
        2061238640,
        912454625,
    )
    assert H.scale == pytest.approx(0.032760478368377234, rel=1e-12)


# ----------------------------------------------------------------------------- the registry


def test_registry_names_classes_one_module_each():
    assert PROJECTION_NAMES == ("fastfood", "fastfood_hashed", "dense", "sparse")
    modules = set()
    for name in PROJECTION_NAMES:
        cls = projection_class(name)
        assert issubclass(cls, Projection)
        assert f"{cls.__module__}:{cls.__name__}" == REGISTRY[name]
        modules.add(cls.__module__)
        P = make_projection(name, 3, 20, seed=1, dtype=F64)
        assert type(P) is cls and (P.d, P.D, P.seed) == (3, 20, 1)
    assert len(modules) == len(PROJECTION_NAMES)
    with pytest.raises(ValueError, match="fastfood_hashed"):
        projection_class("gaussian")


def test_config_and_cli_offer_the_registry():
    from idtheory.cli import build_parser
    from idtheory.config import SubspaceConfig

    for name in PROJECTION_NAMES:
        assert SubspaceConfig(dim=2, projection=name).projection == name
    with pytest.raises(ValueError, match="projection must be one of"):
        SubspaceConfig(dim=2, projection="gaussian")
    parser = build_parser()
    choices = {
        tuple(action.choices)
        for sub in parser._subparsers._group_actions[0].choices.values()
        for action in sub._actions
        if "--projection" in action.option_strings
    }
    assert choices == {PROJECTION_NAMES}


def test_old_module_names_still_work():
    import idtheory.projection as old

    assert old.FastfoodProjection is FastfoodProjection
    assert old.HashedFastfoodProjection is HashedFastfoodProjection
    assert old.make_projection is make_projection and old.DENSE_MAX_ENTRIES == 1 << 28
    assert {"Projection", "DenseProjection", "SparseProjection"} <= set(old.__all__)
    with pytest.raises(AttributeError):
        old.TritonFastfoodProjection  # noqa: B018  (folded into FastfoodProjection's knobs)


# ----------------------------------------------------------------------------- per-class rules


@pytest.mark.parametrize("cls", [FastfoodProjection, HashedFastfoodProjection])
def test_fastfood_rules(cls):
    assert cls.authors_grad_scale(1000) == 1 / 1024 and cls.authors_grad_scale(1024) == 1 / 1024
    # a tensor of 5 entries pads to L = 8: θ_d[:8] is read, 8 outputs of which 5 are kept
    assert cls.per_tensor_sizes(20, 5) == (8, 8)
    assert cls.per_tensor_sizes(3, 5) == (3, 5)
    assert cls.per_tensor_sizes(20, 64) == (20, 64)


@pytest.mark.parametrize("cls", [DenseProjection, SparseProjection])
def test_default_rules(cls):
    assert cls.authors_grad_scale(1000) == 1.0
    assert cls.per_tensor_sizes(20, 5) == (5, 5)
    assert cls.per_tensor_sizes(3, 5) == (3, 5)


@pytest.mark.parametrize("cls", [FastfoodProjection, HashedFastfoodProjection])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("d,D", [(3, 16), (20, 1000), (100, 1 << 16), (37, (1 << 17) - 5)])
def test_cpu_fused_passes_are_bit_identical(cls, dtype, d, D):
    """The fused CPU passes (gather and scale inside the FWHT, padding inside Pᵀ's FWHT) give
    the very bits of the separate passes the stored runs used (2^16, 2^17: two-pass FWHTs)."""
    P = cls(d, D, seed=5, dtype=dtype)
    theta, g = torch.randn(d, dtype=dtype), torch.randn(D, dtype=dtype)
    fused = P(theta), P.T(g)
    P.cpu_fused = False
    plain = P(theta), P.T(g)
    assert torch.equal(fused[0], plain[0]) and torch.equal(fused[1], plain[1])
