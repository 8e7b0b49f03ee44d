"""Projections against their explicit matrices: values, transpose, gradients, norms, seeds."""

from __future__ import annotations

import math

import pytest
import scipy.linalg
import torch

from idtheory.projection import (
    DenseProjection,
    FastfoodProjection,
    SparseProjection,
    make_projection,
)

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
