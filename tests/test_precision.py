"""Precision resolution: ``auto`` per device, CPU feature detection, refusals."""

from __future__ import annotations

import pytest

from idtheory import precision
from idtheory.precision import _cpu_flags, resolve_precision


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: {flags}\n\n")
    return path


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    path = _cpuinfo(tmp_path, "fpu sse avx2 avx512f avx512_bf16 amx_tile amx_bf16")
    assert {"avx512_bf16", "amx_bf16", "avx2"} <= _cpu_flags(path)
    assert _cpu_flags(tmp_path / "absent") == frozenset()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("fpu sse avx2 fma", False),  # AMD Zen 3, Intel Ice Lake client: no native bf16
        ("avx2 avx512f avx512_bf16", True),  # Zen 4, Cooper Lake
        ("avx2 avx512f amx_tile amx_bf16 amx_int8", True),  # Sapphire Rapids
    ],
)
def test_cpu_bf16_detection(tmp_path, monkeypatch, flags, expected):
    monkeypatch.setattr(precision.sys, "platform", "linux")
    precision.cpu_supports_bf16.cache_clear()
    try:
        assert precision.cpu_supports_bf16(_cpuinfo(tmp_path, flags)) is expected
    finally:
        precision.cpu_supports_bf16.cache_clear()


def test_auto_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda *a: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda *a: False)
    assert resolve_precision("auto", "cpu") == "fp32"


@pytest.mark.parametrize("bf16", [True, False])
def test_auto_on_cuda_follows_the_gpu(monkeypatch, bf16):
    """ "cuda", "cuda:1" and "auto" on a CUDA machine: bf16 where the GPU computes it (A100 and
    later), fp32 elsewhere (V100, T4), whatever the CPU."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda *a: not bf16)
    for device in ("cuda", "cuda:1", "auto"):
        assert resolve_precision("auto", device) == ("bf16" if bf16 else "fp32"), device
    assert resolve_precision("auto", "cpu") == ("fp32" if bf16 else "bf16")


def test_explicit_precisions_are_kept():
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("fp16", "cuda") == "fp16"


def test_refusals():
    with pytest.raises(ValueError, match="CUDA"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int8", "cpu")


def test_projection_stays_fp32_under_autocast():
    """A dense projection's matmul is not autocast: the merged weights are the fp32 ones."""
    import torch

    from idtheory.config import SubspaceConfig
    from idtheory.subspace import get_subspace_model

    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Linear(16, 2))
    model = get_subspace_model(base, SubspaceConfig(dim=8, method="did", projection="dense"))
    with torch.no_grad():
        model.theta.normal_()
    x = torch.randn(4, 16)
    model.train()
    model(x)
    ref = [p.detach().clone() for p in model.merged_pieces()]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
    weight = model.base_model[0].weight
    assert weight.dtype == torch.float32
    assert torch.equal(weight.detach().flatten(), ref[0])


def test_resolve_device(monkeypatch):
    """One device resolution for training, pre-training and re-measuring: "auto" follows CUDA's
    availability; a CUDA device the machine lacks is a usage error (ValueError → CLI exit 2;
    pre-training raised RuntimeError, a traceback)."""
    import torch

    from idtheory.precision import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA device is available here; use 'cpu' or 'auto'"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_training_pretraining_and_remeasuring_share_the_device_resolution():
    from idtheory import compress, train
    from idtheory.pretrain import mlm

    assert mlm.resolve_device is train.resolve_device is precision.resolve_device
    assert "resolve_device" in compress.run_device.__code__.co_names
