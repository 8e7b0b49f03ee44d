"""Reused CPU buffers (idtheory.kernels.memory) and the Fastfood products that use them."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from idtheory.kernels import memory
from idtheory.projections import FastfoodProjection, HashedFastfoodProjection


def test_reusable_buffer_is_handed_out_again_only_when_free():
    buf = memory.ReusableBuffer()
    a = buf.take(8, torch.float32)
    ptr = a.data_ptr()
    a.fill_(1)
    held = buf.take(8, torch.float32)  # `a` still alive: a new buffer
    assert held.data_ptr() != ptr and torch.equal(a, torch.ones(8))
    del a, held
    assert buf.take(8, torch.float32).data_ptr() != ptr  # it now holds the second one
    first = buf.take(8, torch.float32)
    again = first.data_ptr()
    del first
    assert buf.take(8, torch.float32).data_ptr() == again  # free: reused
    assert buf.take(4, torch.float32).data_ptr() != again  # another size: new


@pytest.mark.parametrize("holder", ["view", "numpy", "saved by autograd"])
def test_reusable_buffer_sees_every_kind_of_holder(holder):
    buf = memory.ReusableBuffer()
    out = buf.take(16, torch.float32).fill_(2.0)
    x = torch.randn(16, requires_grad=True)
    if holder == "view":
        keep = out[3:]
    elif holder == "numpy":
        keep = out.numpy()
    else:
        keep = x * out
    ptr = out.data_ptr()
    del out
    assert buf.take(16, torch.float32).data_ptr() != ptr
    del keep


def test_reusable_buffer_is_not_copied():
    buf = memory.ReusableBuffer()
    buf.take(1 << 10, torch.float32)
    assert copy.deepcopy(buf)._buffer is None
    assert pickle.loads(pickle.dumps(buf))._buffer is None


@pytest.mark.parametrize("cls", [FastfoodProjection, HashedFastfoodProjection])
def test_reused_outputs_never_overwrite_a_held_result(cls):
    """Products computed while an earlier one is held leave it intact, and equal the products
    of a projection that allocates every output."""
    d, D = 20, 5000
    P = cls(d, D, seed=3)
    fresh = copy.deepcopy(P)
    fresh.reuse_buffers = False
    thetas = [torch.randn(d) for _ in range(3)]
    outs = [P(t) for t in thetas]  # all held at once
    for t, out in zip(thetas, outs):
        assert torch.equal(out, fresh(t))
    g = torch.randn(D)
    assert torch.equal(P.T(g), fresh.T(g))
    assert torch.equal(P.T(g), fresh.T(g))  # the transpose's padded vector reused


def test_training_steps_reuse_the_forward_buffer_and_match_fresh_allocation():
    """In a loop whose backward releases the output, the forward writes into the same memory
    each step; θ after a few SGD steps is bit-identical to allocating every output."""
    d, D = 30, 1 << 12
    target = torch.randn(D)

    def run(reuse: bool) -> tuple[torch.Tensor, set[int]]:
        P = FastfoodProjection(d, D, seed=1)
        P.reuse_buffers = reuse
        theta = torch.zeros(d, requires_grad=True)
        opt = torch.optim.SGD([theta], lr=0.1)
        ptrs = set()
        for _ in range(4):
            out = P(theta)
            ptrs.add(out.data_ptr())
            loss = ((out - target) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            del out, loss
        return theta.detach(), ptrs

    reused, ptrs = run(True)
    fresh, _ = run(False)
    assert torch.equal(reused, fresh)
    assert len(ptrs) == 1
