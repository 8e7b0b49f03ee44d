"""Which device and autocast precision a training uses: ``"auto"`` resolved per machine (no
torch import unless a CUDA device has to be asked). :func:`resolve_device` turns a device name
into a ``torch.device`` (``"auto"``: CUDA when available, else the CPU), refusing a CUDA device
the machine lacks with a ``ValueError`` that says what to pass instead.

Conventions:

* ``"fp32"`` — no autocast. ``"bf16"`` — ``torch.autocast(device, torch.bfloat16)`` for the
  model's forward and backward; parameters, the subspace projection, θ_d, λ and the optimizer
  state stay float32. ``"fp16"`` — float16 autocast with a gradient scaler, CUDA only.
* ``"auto"`` resolves to ``"bf16"`` where the hardware computes bfloat16 natively and to
  ``"fp32"`` elsewhere:

  - CUDA (``device`` ``"cuda"``, or ``"auto"`` with a CUDA device present): bf16 when
    ``torch.cuda.is_bf16_supported()`` (Ampere and newer);
  - CPU: bf16 when the CPU advertises ``amx_bf16`` or ``avx512_bf16`` (Linux: the ``flags`` of
    ``/proc/cpuinfo``; Intel Sapphire Rapids and newer, AMD Zen 4 and newer). Without them
    PyTorch emulates bfloat16 matrix products, many times *slower* than fp32 (measured on an
    AVX2-only CPU: ``benchmarks/cpu-dev-machine.md``), so ``auto`` keeps fp32. Other operating
    systems: fp32.

* :class:`~idtheory.config.TrainConfig` resolves ``"auto"`` when it is created, on the machine
  that creates it: a stored record always names the concrete precision it was trained in, and
  bf16 and fp32 trainings are different runs of the results store. Pin the precision
  explicitly when specs are built on one machine and trained on another of a different kind.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["PRECISIONS", "cpu_supports_bf16", "resolve_device", "resolve_precision"]

#: Accepted values of ``TrainConfig.precision``.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
#: CPU feature flags that mean native bfloat16 arithmetic (x86: AMX tiles or AVX-512 BF16).
BF16_CPU_FLAGS: frozenset[str] = frozenset({"amx_bf16", "avx512_bf16"})


def _cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The feature flags of the first CPU listed in ``cpuinfo`` (empty where unreadable)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@functools.cache
def cpu_supports_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True when this CPU computes bfloat16 natively (see the module docstring)."""
    if not sys.platform.startswith("linux"):
        return False
    return bool(_cpu_flags(cpuinfo) & BF16_CPU_FLAGS)


def _cuda_target(device: str) -> bool:
    """Whether ``device`` means a CUDA device here (``"auto"`` asks torch)."""
    if device.startswith("cuda"):
        return True
    if device != "auto":
        return False
    import torch

    return torch.cuda.is_available()


def resolve_precision(precision: str, device: str = "auto") -> str:
    """The concrete precision (``"fp32"``, ``"bf16"`` or ``"fp16"``) ``precision`` means on
    ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ...).

    Raises:
        ValueError: an unknown precision, or fp16 on a device that is not CUDA.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp16" and device not in ("auto",) and not device.startswith("cuda"):
        raise ValueError(
            f"precision='fp16' needs a CUDA device (got device={device!r}); "
            "use 'bf16' or 'fp32' on the CPU"
        )
    if precision != "auto":
        return precision
    if _cuda_target(device):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_supports_bf16() else "fp32"


def resolve_device(name: str) -> torch.device:
    """``name`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, …) as a ``torch.device``:
    ``"auto"`` is CUDA when a CUDA device is available, else the CPU. A CUDA device on a machine
    without one raises ``ValueError`` (a usage error of the CLI: exit 2)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: no CUDA device is available here; use 'cpu' or 'auto'")
    return device
