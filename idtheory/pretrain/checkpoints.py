"""The files of a pre-training run: atomic checkpoints, their listing, the log.

* **Atomic checkpoints.** A checkpoint is written to a hidden temporary directory
  ``out_dir/.checkpoint-<step>.tmp-<pid>`` and renamed to ``checkpoint-<step>`` only when complete
  (``trainer_state.json`` written last). :func:`list_checkpoints` ignores anything else, and
  stale temporary directories are removed at the next start. ``checkpoint-k`` is the state
  *after* ``k`` updates; ``checkpoint-0`` is the random initialisation.
* **Log.** ``out_dir/log.jsonl``: one JSON object per logged update or evaluation
  (:func:`read_log`; losses in nats per masked token, times in seconds).
* **Names.** :func:`checkpoint_step` reads the step of a ``…/checkpoint-<step>`` name (a
  directory or a model name in the results store): the one pattern of the library.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")
_TMP_RE = re.compile(r"^\.(checkpoint-\d+|tokenizer)\.(tmp|old)-\d+$")
TRAINER_STATE = "trainer_state.json"
TOKENIZER_META = "idtheory_tokenizer.json"
LOG_FILE = "log.jsonl"


def checkpoint_step(name: str | os.PathLike[str]) -> int | None:
    """The step of a checkpoint name whose last path component is ``checkpoint-<step>``
    (``runs/xs/checkpoint-500`` → 500), else None."""
    m = _CKPT_RE.match(Path(os.fspath(name)).name)
    return int(m.group(1)) if m else None


def list_checkpoints(out_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, ``[(step, path), …]`` sorted by step.

    A checkpoint is a directory named ``checkpoint-<step>`` containing ``trainer_state.json``
    (written last, before the atomic rename); temporary directories are ignored. A missing
    ``out_dir`` has no checkpoints.
    """
    root = Path(out_dir)
    if not root.is_dir():
        return []
    found: list[tuple[int, Path]] = []
    for child in root.iterdir():
        step = checkpoint_step(child)
        if step is not None and child.is_dir() and (child / TRAINER_STATE).is_file():
            found.append((step, child))
    return sorted(found)


def read_log(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The entries of ``out_dir/log.jsonl``: training entries ``{"step", "loss", "lr", "epoch",
    "tokens", "elapsed_s"}`` and eval entries ``{"step", "eval_loss"}`` (losses in nats)."""
    path = Path(out_dir) / LOG_FILE
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@contextlib.contextmanager
def _quiet_hf_progress() -> Iterator[None]:
    """Hide transformers' "Writing model shards" bar while saving, restoring the setting after."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    if enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _fsync_tree(path: Path) -> None:
    for p in path.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _rng_state(device: torch.device) -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(
    out: Path,
    step: int,
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    optimizer: Any,
    scheduler: Any,
    device: torch.device,
    state: dict[str, Any],
    keep_optimizer_states: int,
) -> Path:
    """Write ``checkpoint-<step>`` atomically (temporary directory, then rename)."""
    import torch

    final = out / f"checkpoint-{step}"
    tmp = out / f".checkpoint-{step}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    with _quiet_hf_progress():
        model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(_rng_state(device), tmp / "rng_state.pt")
    with open(tmp / TRAINER_STATE, "w", encoding="utf-8") as fh:  # last: marks completeness
        json.dump(state, fh, indent=1, sort_keys=True)
    _fsync_tree(tmp)
    old: Path | None = None
    if final.exists():
        old = out / f".checkpoint-{step}.old-{os.getpid()}"
        final.rename(old)
    tmp.rename(final)
    _fsync_dir(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    for _, path in list_checkpoints(out)[:-keep_optimizer_states]:
        for name in ("optimizer.pt", "scheduler.pt"):
            with contextlib.suppress(FileNotFoundError):
                (path / name).unlink()
    return final


def _truncate_log(path: Path, step: int) -> None:
    """Keep only log entries of steps ≤ ``step`` (drops what an interrupted session logged
    after its last checkpoint)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        lines = [ln for ln in fh if ln.strip()]
    kept = []
    for ln in lines:
        try:
            entry = json.loads(ln)
        except json.JSONDecodeError:
            continue  # a line truncated by the interruption
        if entry.get("step", 0) <= step:
            kept.append(json.dumps(entry, sort_keys=True) + "\n")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(kept)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
