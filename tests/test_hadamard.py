"""FWHT: against scipy's explicit Hadamard matrix, algebraic identities, gradients, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from idtheory.hadamard import _fwht_numpy, fwht, fwht_reference, next_power_of_two


def _explicit(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    H = torch.from_numpy(scipy.linalg.hadamard(n)).to(x.dtype)
    return x @ H.T


@pytest.mark.parametrize("k", range(13))
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_fwht_matches_explicit_matrix(k, batch):
    n = 1 << k
    x = torch.randn(*batch, n, dtype=torch.float64)
    torch.testing.assert_close(fwht(x), _explicit(x))
    torch.testing.assert_close(fwht_reference(x), _explicit(x))


@pytest.mark.parametrize("k", [5, 10, 14])
def test_fwht_float32(k):
    x = torch.randn(4, 1 << k)
    expected = fwht_reference(x.double()).float()
    torch.testing.assert_close(fwht(x), expected, rtol=1e-5, atol=1e-4 * (1 << (k // 2)))


def test_involution_and_normalization():
    x = torch.randn(5, 256, dtype=torch.float64)
    torch.testing.assert_close(fwht(fwht(x)), 256 * x)
    torch.testing.assert_close(fwht(fwht(x, normalized=True), normalized=True), x)
    y = fwht(x, normalized=True)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))


def test_other_dim_and_input_untouched():
    x = torch.randn(16, 3, 4, dtype=torch.float64)
    x_copy = x.clone()
    y = fwht(x, dim=0)
    torch.testing.assert_close(y, _explicit(x.movedim(0, -1)).movedim(-1, 0))
    torch.testing.assert_close(x, x_copy)


@pytest.mark.parametrize("block,cols", [(16, 2), (32, 4), (64, 16)])
def test_multi_pass_cpu_kernel(block, cols):
    """Tiny blocks force 2–3 strided passes: the path used for n up to 2^30."""
    x = np.random.default_rng(0).standard_normal((3, 1 << 12))
    expected = fwht_reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_fwht_numpy(x, block=block, cols=cols), expected, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_computed_in_fp32(dtype):
    """Half-precision input: the transform runs in fp32 and is rounded once, at the end (an
    FWHT computed in the half type itself differs: it rounds after every butterfly)."""
    x = torch.randn(2, 64).to(dtype)
    y = fwht(x)
    assert y.dtype == dtype
    assert torch.equal(y, fwht(x.float()).to(dtype))
    torch.testing.assert_close(fwht(x.float()), _explicit(x.float()))


def test_gradcheck_unnormalized_and_normalized():
    x = torch.randn(2, 32, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fwht, (x,))
    assert torch.autograd.gradcheck(lambda t: fwht(t, normalized=True), (x,))


def test_backward_is_exact_transform_not_scaled():
    """The vjp of x ↦ Hx is g ↦ Hg (H symmetric), not n^{-1/2}·Hg as in the authors' kernel."""
    n = 1024
    x = torch.randn(n, dtype=torch.float64, requires_grad=True)
    g = torch.randn(n, dtype=torch.float64)
    fwht(x).backward(g)
    torch.testing.assert_close(x.grad, _explicit(g))


@pytest.mark.parametrize("n", [0, 3, 12, 1000])
def test_non_power_of_two_raises(n):
    with pytest.raises(ValueError, match="power-of-two"):
        fwht(torch.randn(2, n))


def test_integer_input_raises():
    with pytest.raises(TypeError):
        fwht(torch.ones(4, dtype=torch.int64))


def test_next_power_of_two():
    assert [next_power_of_two(n) for n in (1, 2, 3, 5, 1024, 1025)] == [1, 2, 4, 8, 1024, 2048]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block", [16, 64, 1 << 15])
@pytest.mark.parametrize("k", [4, 6, 12, 16])
def test_fused_cpu_passes_bit_identical_to_plain(dtype, block, k):
    """fwht_fused (zero padding, in-buffer column pass, final scale) and gather_fwht give the
    bits of the plain passes, also with 2–3 column passes (small blocks)."""
    from idtheory.kernels import fwht_cpu

    n = 1 << k
    rng = np.random.default_rng(k)
    x = rng.standard_normal((1, n)).astype(dtype)
    c = 0.123456789
    scaled = torch.from_numpy(fwht_cpu.fwht_plain(x, block)).mul_(c).numpy()
    out = np.empty_like(x)
    assert np.array_equal(fwht_cpu.fwht_fused(x, out, c, block), scaled)
    m = n // 2 + 3
    padded = x.copy()
    padded[:, m:] = 0
    short = fwht_cpu.fwht_fused(x[:, :m].copy(), np.empty_like(x), 1.0, block)
    assert np.array_equal(short, fwht_cpu.fwht_plain(padded, block))
    table = rng.standard_normal(8).astype(dtype)
    perm = rng.permutation(n).astype(np.int32)
    gain = rng.standard_normal(n).astype(dtype)
    gathered = (table[perm & 7] * gain)[None]
    expected = torch.from_numpy(fwht_cpu.fwht_plain(gathered, block)).mul_(c).numpy()[0]
    got = fwht_cpu.gather_fwht(table, perm, gain, np.empty(n, dtype), c, block)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("shape", [(1 << 16,), (3, 1 << 12), (2, 16)])
def test_fwht_default_cpu_path_matches_plain_bits(monkeypatch, shape):
    """fwht's CPU path (column pass through a buffer) gives the bits of the plain passes
    (IDTHEORY_FWHT_BACKEND=plain, the kernels of the stored runs)."""
    x = torch.randn(*shape)
    fast = fwht(x)
    monkeypatch.setenv("IDTHEORY_FWHT_BACKEND", "plain")
    assert torch.equal(fast, fwht(x))
