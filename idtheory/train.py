"""One training loop for full fine-tuning and subspace (DID/SAID) training.

:func:`finetune` trains an already-built model on a task; :func:`run_spec` builds everything
from a :class:`~idtheory.config.RunSpec` and returns one results-store **record** (the contract
of :mod:`idtheory.store`). The loop knows nothing of d90: :mod:`idtheory.search` decides which
specs to run.

Conventions:

* Optimiser: AdamW (β = 0.9, 0.999, ε = 1e-8) over the trainable parameters only, linear warm-up
  for ``warmup_ratio`` of the steps then linear decay to 0; gradient clipping at ``grad_clip``.
* Data order: a ``torch.Generator`` seeded with ``TrainConfig.seed`` shuffles each epoch; the
  classification head is initialised from the same seed; dynamic padding within each batch.
* Evaluation: on the dev split once per epoch (or every ``eval_every`` steps) and at the end.
  The **best** evaluation by ``TrainConfig.metric`` is kept; the train-set metrics reported are
  those of the model at that best evaluation (needed for generalization gaps).
* A non-finite loss ends the run with status ``"diverged"``; the metrics of the best evaluation
  before it (if any) are kept. A CUDA out-of-memory error gives status ``"failed"``.
* Quantization-aware training (``TrainConfig.quantize_levels``): every training step and every
  evaluation runs inside :meth:`idtheory.quantize.StraightThrough.swapped`, and the best
  checkpoint is quantized for good before the final evaluation, so the model returned (and
  saved by :func:`run_spec`) is the quantized one that was evaluated. Off by default, and then
  the loop is unchanged.
* ``peak_mem_mb``: on CUDA, the peak allocated device memory of this run; on CPU, the peak
  resident set size of the process so far (an upper bound for this run).
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from idtheory import __version__
from idtheory.config import HASH_EXCLUDED, LENGTH_GROUP_BATCHES, RunSpec, TrainConfig
from idtheory.data import encode_rows
from idtheory.precision import resolve_device
from idtheory.quantize import Quantized, StraightThrough, round_float16
from idtheory.stopping import request_stop, stop_requested, stoppable
from idtheory.tasks import (
    DEV_SUBSET_SEED,
    TaskData,
    compute_metrics,
    display_name,
    get_task,
    load_task,
)

__all__ = [
    "TrainResult",
    "encode",
    "evaluate",
    "finetune",
    "load_run_data",
    "make_train_fn",
    "retune_codebook",
    "run_spec",
]


@dataclass
class TrainResult:
    """Outcome of :func:`finetune` (the record minus its identifying fields)."""

    status: str
    message: str
    dev: dict[str, float]
    train: dict[str, float]
    best_step: int
    history: list[dict[str, Any]]
    steps: int
    wall_time_s: float
    peak_mem_mb: float


# ------------------------------------------------------------------------------ data


def encode(tokenizer, data: TaskData, max_length: int) -> list[dict[str, Any]]:
    """Tokenize every example once (truncated to ``max_length`` tokens, unpadded), through
    ``Dataset.map`` and its on-disk cache (:func:`idtheory.data.encode_rows`): one dict per
    example, in ``data``'s order."""
    return encode_rows(tokenizer, data, max_length)


def _collate(examples: Sequence[dict[str, Any]], pad_id: int, device) -> dict[str, torch.Tensor]:
    length = max(len(e["input_ids"]) for e in examples)
    batch: dict[str, torch.Tensor] = {}
    for key in examples[0]:
        if key == "labels":
            batch[key] = torch.tensor([e[key] for e in examples])
            continue
        fill = pad_id if key == "input_ids" else 0
        rows = [e[key] + [fill] * (length - len(e[key])) for e in examples]
        batch[key] = torch.tensor(rows)
    return {k: v.to(device) for k, v in batch.items()}


def _batches(
    examples: list[dict[str, Any]], batch_size: int, pad_id: int, device, order=None
) -> Iterator[dict[str, torch.Tensor]]:
    idx = range(len(examples)) if order is None else order
    idx = list(idx)
    for start in range(0, len(idx), batch_size):
        yield _collate([examples[i] for i in idx[start : start + batch_size]], pad_id, device)


def _epoch_batches(
    examples: list[dict[str, Any]], config: TrainConfig, gen: torch.Generator
) -> list[list[int]]:
    """One epoch's batches (lists of example indices): consecutive slices of a permutation
    drawn from ``gen``; with ``config.group_by_length``, each mega-batch of that permutation is
    sorted by length before slicing and the batches are then shuffled (see
    :class:`~idtheory.config.TrainConfig`)."""
    order = torch.randperm(len(examples), generator=gen).tolist()
    size = config.batch_size
    if not config.group_by_length:
        return [order[k : k + size] for k in range(0, len(order), size)]
    mega = size * LENGTH_GROUP_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: len(examples[i]["input_ids"]))
        batches += [chunk[k : k + size] for k in range(0, len(chunk), size)]
    return [batches[b] for b in torch.randperm(len(batches), generator=gen).tolist()]


def _length_order(examples: list[dict[str, Any]]) -> list[int]:
    """Indices sorted by length: evaluation batches with little padding."""
    return sorted(range(len(examples)), key=lambda i: len(examples[i]["input_ids"]))


# ------------------------------------------------------------------------------ eval


@torch.no_grad()
def evaluate(
    model: nn.Module,
    examples: list[dict[str, Any]],
    task: str,
    *,
    batch_size: int = 64,
    pad_id: int = 0,
    device: torch.device | str = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Metrics of ``model`` on tokenized ``examples`` (eval mode restored to the previous mode)."""
    was_training = model.training
    model.eval()
    order = _length_order(examples)
    preds = np.empty(len(examples), dtype=np.int64)
    pos = 0
    device = torch.device(device)
    for batch in _batches(examples, batch_size, pad_id, device, order):
        labels = batch.pop("labels")
        with _autocast(device, autocast_dtype):
            logits = model(**batch).logits
        n = len(labels)
        preds[order[pos : pos + n]] = logits.argmax(-1).cpu().numpy()
        pos += n
    model.train(was_training)
    labels = np.array([e["labels"] for e in examples])
    return compute_metrics(task, preds, labels)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=dtype)


# ------------------------------------------------------------------------------ training


def _precision(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``config.precision`` (already concrete) on ``device``."""
    if config.precision == "fp32":
        return None
    if config.precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"precision='fp16' needs a CUDA device (got {device}); use 'bf16' or 'fp32' on CPU"
        )
    return torch.bfloat16 if config.precision == "bf16" else torch.float16


def _lr_lambda(total: int, warmup: int):
    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def _peak_mem_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kb / 1024


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _restore(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


#: Seconds of training between two checkpoints of :func:`finetune` (when it has a path).
CHECKPOINT_EVERY_S = 300.0


def _comparable(fingerprint: Any) -> Any:
    """A checkpoint's fingerprint without :data:`~idtheory.config.HASH_EXCLUDED` settings
    (checkpoints saved before they left the fingerprint name ``device``)."""
    if not isinstance(fingerprint, dict) or not isinstance(fingerprint.get("config"), dict):
        return fingerprint
    config = {k: v for k, v in fingerprint["config"].items() if k not in HASH_EXCLUDED}
    return {**fingerprint, "config": config}


class _Checkpoint:
    """Where and when :func:`finetune` saves its whole training state, so that a killed training
    resumes at its last checkpoint and ends exactly as it would have uninterrupted.

    The state (one ``torch.save`` file, written atomically): the step, the epoch and the
    position in it, the batch generator's state at the epoch's start, the global torch RNG
    (dropout; on a GPU its CUDA generator too), the trainable parameters, the optimizer,
    scheduler and loss-scaler states, the running losses, the history, the best evaluation so
    far and the wall time spent. A file whose ``fingerprint`` (training config but for its
    device and memory-only settings, number of examples, trainable parameters) differs is
    ignored, with a warning.
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        every_s: float,
        fingerprint: dict,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.every_s = float(every_s)
        self.fingerprint = fingerprint
        self.info = dict(info or {})
        self._last = time.monotonic()

    @property
    def progress_path(self) -> Path | None:
        """The JSON beside the checkpoint: ``info`` and the progress at the last save."""
        return None if self.path is None else self.path.with_suffix(".json")

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None (no path, no file, or another training's file). A file
        that cannot be read (truncated by a full disk, damaged in a copy) is moved aside to
        ``<name>.unreadable`` with a warning, and the training starts over, rather than failing
        every rerun."""
        if self.path is None or not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as err:  # torch raises RuntimeError, EOFError, pickle errors, ...
            aside = self.path.with_name(self.path.name + ".unreadable")
            os.replace(self.path, aside)
            warnings.warn(
                f"checkpoint {self.path} cannot be read ({type(err).__name__}: {err}); moved to "
                f"{aside.name}, the training starts over",
                stacklevel=2,
            )
            return None
        if _comparable(state.get("fingerprint")) == _comparable(self.fingerprint):
            return state
        warnings.warn(
            f"checkpoint {self.path} was saved by another training (configuration, examples or "
            "trainable parameters differ); this training starts over and replaces it",
            stacklevel=2,
        )
        return None

    def due(self) -> bool:
        return self.path is not None and time.monotonic() - self._last >= self.every_s

    def save(self, state: dict[str, Any], progress: Mapping[str, Any]) -> None:
        """Write ``state`` (atomically), then ``progress`` (JSON-able: how far the training is)
        with :attr:`info`, the writer (``host``, ``pid``) and the save interval (``every_s``)
        to :attr:`progress_path` — enough for a reader to tell a running training from a
        stopped one."""
        if self.path is None or self.progress_path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save({**state, "fingerprint": self.fingerprint}, tmp)
        os.replace(tmp, self.path)
        saved = datetime.now(timezone.utc).isoformat(timespec="seconds")
        tmp = self.progress_path.with_name(self.progress_path.name + ".tmp")
        writer = {"host": socket.gethostname(), "pid": os.getpid(), "every_s": self.every_s}
        tmp.write_text(json.dumps({**self.info, **progress, **writer, "saved": saved}, default=str))
        with suppress(PermissionError):  # only informative: a reader holding it (Windows) wins
            os.replace(tmp, self.progress_path)
        self._last = time.monotonic()

    def remove(self) -> None:
        for path in (self.path, self.progress_path):
            if path is not None:
                path.unlink(missing_ok=True)


class _InterruptAtStepEnd:
    """Defers a first Ctrl-C (SIGINT) or SIGTERM to the end of the current training step, where
    the state is whole: :func:`finetune` then saves its checkpoint and raises
    ``KeyboardInterrupt``, so the rerun resumes from that step. SIGTERM is what ``kill``, a
    service manager and a cluster scheduler (SLURM at a job's time limit, before its SIGKILL)
    send; it also asks every later training of the process to stop
    (:func:`~idtheory.stopping.request_stop`: a pool worker told to terminate trains nothing
    more). A second signal of either kind interrupts at once. Only where Python's default is
    in place in the main thread (signal handlers are set there only; a process that ignores a
    signal keeps ignoring it, as a background job ignores SIGINT). A stop requested through
    :mod:`idtheory.stopping` (a process pool's interrupted or dead driver) is honoured the same
    way, never at once."""

    #: The deferred signals, each with the dispositions under which the deferral applies:
    #: Python's defaults, and the CLI's SIGTERM-as-Ctrl-C
    #: (:func:`~idtheory.stopping.sigterm_as_ctrl_c`).
    SIGNALS = (
        (signal.SIGINT, (signal.default_int_handler,)),
        (signal.SIGTERM, (signal.SIG_DFL, signal.default_int_handler)),
    )

    def __init__(self) -> None:
        self._ctrl_c = False
        self._previous: dict[int, Any] = {}
        self._loop = stoppable()

    @property
    def pending(self) -> bool:
        """Whether the training should save and stop at the end of this step."""
        return self._ctrl_c or stop_requested()

    def __enter__(self) -> _InterruptAtStepEnd:
        self._loop.__enter__()
        if threading.current_thread() is threading.main_thread():
            for signum, defaults in self.SIGNALS:
                if signal.getsignal(signum) in defaults:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.pending:
            raise KeyboardInterrupt
        if signum == signal.SIGTERM:
            request_stop()
        else:
            self._ctrl_c = True

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        self._loop.__exit__(*exc)


def _quantized(qat: StraightThrough | None) -> AbstractContextManager[None]:
    """The straight-through swap of ``qat``, or nothing when training is not quantized."""
    return nullcontext() if qat is None else qat.swapped()


def load_run_data(
    task: str, split: str, config: TrainConfig, data_dir: str | os.PathLike | None = None
) -> TaskData:
    """The examples of ``split`` ("train" or "dev") that a training with ``config`` uses: the
    ``max_train_examples`` drawn with the training seed, the ``max_eval_examples`` drawn with
    :data:`~idtheory.tasks.DEV_SUBSET_SEED` (the same dev subset for every run), or all."""
    if split == "train":
        return load_task(
            task,
            "train",
            data_dir=data_dir,
            max_examples=config.max_train_examples,
            seed=config.seed,
        )
    return load_task(
        task,
        split,
        data_dir=data_dir,
        max_examples=config.max_eval_examples,
        seed=DEV_SUBSET_SEED,
    )


def layer_stack(model: nn.Module) -> nn.ModuleList:
    """The model's stack of transformer layers: its longest :class:`~torch.nn.ModuleList` whose
    entries are all of one class (``encoder.layer`` of BERT, RoBERTa and MPNet, ``h`` of GPT-2,
    ``layers`` of Llama-style models). ValueError when it has none of two or more."""
    stacks = [
        m
        for m in model.modules()
        if isinstance(m, nn.ModuleList) and len(m) >= 2 and len({type(b) for b in m}) == 1
    ]
    if not stacks:
        raise ValueError(
            f"gradient checkpointing needs a stack of transformer layers (an nn.ModuleList of "
            f"one block class); {type(model).__name__} has none: train without it"
        )
    return max(stacks, key=len)


@contextmanager
def checkpointed_layers(model: nn.Module) -> Iterator[nn.ModuleList]:
    """Activation (gradient) checkpointing of :func:`layer_stack`'s layers inside the block.

    While autograd records, each layer keeps only its inputs and is run again in the backward
    (``torch.utils.checkpoint``, non-reentrant: keyword arguments, and tensors the layer reads
    from its module — a :class:`~idtheory.subspace.SubspaceModel`'s merged weights — get their
    gradients; the random state is restored, so dropout draws the same masks). Activation memory
    falls from every layer's to about one layer's, for about one more forward pass per step;
    the numbers are the same. Without autograd (evaluation) the layers run as they are. Works
    for any model with a layer stack, including those transformers cannot checkpoint itself
    (MPNet). Yields the stack; the layers' own ``forward`` is back on exit."""
    from torch.utils.checkpoint import checkpoint

    stack = layer_stack(model)

    def recomputed(forward: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            if not torch.is_grad_enabled():
                return forward(*args, **kwargs)
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)

        return run

    own = [layer.__dict__.get("forward") for layer in stack]  # a hook's (accelerate's), if any
    for layer in stack:
        layer.forward = recomputed(layer.forward)
    try:
        yield stack
    finally:
        for layer, forward in zip(stack, own):
            if forward is None:
                del layer.forward
            else:
                layer.forward = forward


def finetune(
    model: nn.Module,
    tokenizer,
    task: str,
    config: TrainConfig,
    *,
    train_data: TaskData | None = None,
    dev_data: TaskData | None = None,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every_s: float | None = None,
    checkpoint_info: Mapping[str, Any] | None = None,
    keep_checkpoint: bool = False,
    model_name: str | None = None,
) -> TrainResult:
    """Train ``model`` (full or subspace-wrapped) on ``task`` and return the best evaluation.

    Only parameters with ``requires_grad`` are optimised, so the same loop serves full
    fine-tuning and :class:`~idtheory.subspace.SubspaceModel`. On return the model holds the
    parameters of the best evaluation (quantized, with ``config.quantize_levels``).

    With ``checkpoint`` (a file path), the whole training state is saved there every
    ``checkpoint_every_s`` seconds of training (None: :data:`CHECKPOINT_EVERY_S`) and at each
    evaluation; a call that finds the
    file (same config, same data size) resumes from it, and ends with the same parameters,
    history and metrics as an uninterrupted training (deterministic kernels assumed, as on the
    CPU). The file is removed when training ends — unless ``keep_checkpoint``: then whoever
    stores the result removes it once stored (:meth:`~idtheory.store.ResultsStore.put`), so a
    process killed between the end of training and the stored record resumes near its end
    instead of losing the training. ``wall_time_s`` adds the time spent before the
    interruption. A Ctrl-C finishes the step, saves the checkpoint there and interrupts.
    Beside the checkpoint, ``<checkpoint stem>.json`` holds ``checkpoint_info`` (JSON-able;
    :func:`run_spec` gives the run's id and spec) and the progress at the last save: ``step``
    of ``total_steps``, ``epoch``, ``spent_s`` (seconds of training), ``best`` (``step`` and
    ``dev`` metrics of the best evaluation so far), the writer (``host``, ``pid``), the save
    interval ``every_s`` and ``saved`` (UTC), which ``idtheory results --running`` lists.
    ``progress`` shows a bar labelled ``[model_name] task method lr``.
    """
    t0 = time.perf_counter()
    device = resolve_device(config.device)
    amp = _precision(config, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    spec = get_task(task)
    if train_data is None:
        train_data = load_run_data(spec.name, "train", config, data_dir)
    if dev_data is None:
        dev_data = load_run_data(spec.name, "dev", config, data_dir)
    for split, data in (("training", train_data), ("dev", dev_data)):
        if not data.labels:
            raise ValueError(f"the {split} set of {spec.name} has no examples ({data.source})")
    train_ex = encode(tokenizer, train_data, config.max_length)
    dev_ex = encode(tokenizer, dev_data, config.max_length)
    pad_id = tokenizer.pad_token_id or 0
    model.to(device)
    qat = None if config.quantize_levels is None else StraightThrough(model, config.quantize_levels)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameter")
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_ex) / config.batch_size)
    total = config.max_steps or max(1, round(config.epochs * steps_per_epoch))
    warmup = round(config.warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total, warmup))
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    eval_every = config.eval_every or steps_per_epoch
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"score": -math.inf, "step": 0, "dev": {}, "state": None}
    status, message = "ok", ""
    step, running = 0, []
    epoch, position, epoch_start, spent = 0, 0, gen.get_state(), 0.0
    ckpt = _Checkpoint(
        checkpoint,
        CHECKPOINT_EVERY_S if checkpoint_every_s is None else checkpoint_every_s,
        {
            # what the run computes: a checkpoint resumes on another device (as a run's id and
            # its stored record carry over), or with other memory-only settings
            "config": {k: v for k, v in config.to_dict().items() if k not in HASH_EXCLUDED},
            "examples": (len(train_ex), len(dev_ex)),
            "trainable": [(n, p.numel()) for n, p in model.named_parameters() if p.requires_grad],
        },
        checkpoint_info,
    )
    saved = ckpt.load()
    if saved is not None:
        step, epoch, position, spent = (saved[k] for k in ("step", "epoch", "position", "spent"))
        epoch_start, history, best, running = (
            saved[k] for k in ("epoch_start", "history", "best", "running")
        )
        _restore(model, saved["params"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        if scaler is not None:
            scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng"])
        if device.type == "cuda" and saved.get("cuda_rng") is not None:  # pragma: no cover
            torch.cuda.set_rng_state(saved["cuda_rng"], device)  # dropout's masks on the GPU

    def save_checkpoint() -> None:
        elapsed = spent + time.perf_counter() - t0
        ckpt.save(
            {
                "step": step,
                "epoch": epoch,
                "position": position,
                "spent": elapsed,
                "epoch_start": epoch_start,
                "history": history,
                "best": best,
                "running": running,
                "params": _snapshot(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": None if scaler is None else scaler.state_dict(),
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            },
            {
                "step": step,
                "total_steps": total,
                "epoch": epoch,
                "spent_s": round(elapsed, 1),
                "best": {"step": best["step"], "dev": best["dev"]},
            },
        )

    interrupt = _InterruptAtStepEnd()

    def stop_if_interrupted() -> None:
        """After a step: a deferred Ctrl-C (or a requested stop) saves the (now whole) state
        and interrupts."""
        if interrupt.pending:
            save_checkpoint()
            raise KeyboardInterrupt

    def metrics(examples: list[dict[str, Any]]) -> dict[str, float]:
        return evaluate(
            model,
            examples,
            spec.name,
            batch_size=2 * config.batch_size,
            pad_id=pad_id,
            device=device,
            autocast_dtype=amp,
        )

    def do_eval() -> None:
        with _quantized(qat):
            dev = metrics(dev_ex)
        loss = float(np.mean(running)) if running else float("nan")
        history.append(
            {"step": step, "epoch": step / steps_per_epoch, "train_loss": loss, "dev": dev}
        )
        running.clear()
        if dev[config.metric] > best["score"]:
            best.update(score=dev[config.metric], step=step, dev=dev, state=_snapshot(model))

    what = " ".join(filter(None, (model_name, display_name(spec.name), _method_of(model))))
    bar = _progress(total, progress, f"{what} lr={config.lr:g}", initial=step)
    if saved is not None and progress:
        bar.write(f"resuming at step {step}/{total} from {ckpt.path}")
    model.train()
    recompute = checkpointed_layers(model) if config.gradient_checkpointing else nullcontext()
    with interrupt, recompute:
        try:
            while step < total:
                gen.set_state(epoch_start)
                batches = _epoch_batches(train_ex, config, gen)
                for idx in batches[position:]:
                    batch = _collate([train_ex[i] for i in idx], pad_id, device)
                    with _quantized(qat):  # forward and backward at the quantized point
                        with _autocast(device, amp):
                            loss = model(**batch).loss
                        if not torch.isfinite(loss):
                            status = "diverged"
                            message = (
                                f"non-finite loss ({loss.item()}) at step {step} "
                                f"with lr={config.lr:g}"
                            )
                            raise _Stop
                        optimizer.zero_grad(set_to_none=True)
                        if scaler is not None:
                            scaler.scale(loss).backward()
                            scaler.unscale_(optimizer)
                        else:
                            loss.backward()
                    if config.grad_clip:
                        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                    if scaler is not None:
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        optimizer.step()
                    scheduler.step()
                    step += 1
                    position += 1
                    running.append(loss.item())
                    bar.update(1)
                    top = f"{best['score']:.3f}" if history else "–"  # none before an evaluation
                    bar.set_postfix(loss=f"{running[-1]:.3f}", best=top)
                    evaluated = step % eval_every == 0 or step == total
                    if evaluated:
                        do_eval()
                    if step >= total:
                        stop_if_interrupted()
                        break
                    if position == len(batches):
                        epoch, position, epoch_start = epoch + 1, 0, gen.get_state()
                    if ckpt.path is not None and (evaluated or ckpt.due()):
                        save_checkpoint()
                    stop_if_interrupted()
        except _Stop:
            pass
        except torch.cuda.OutOfMemoryError as err:  # pragma: no cover - GPU only
            status, message = "failed", f"CUDA out of memory: {err}"
        finally:
            bar.close()

    train_metrics: dict[str, float] = {}
    if best["state"] is not None:
        _restore(model, best["state"])
        if qat is not None:
            qat.finalize()
        train_metrics = metrics(train_ex)
    if not keep_checkpoint:
        ckpt.remove()
    return TrainResult(
        status=status,
        message=message,
        dev=best["dev"],
        train=train_metrics,
        best_step=best["step"],
        history=history,
        steps=step,
        wall_time_s=spent + time.perf_counter() - t0,
        peak_mem_mb=_peak_mem_mb(device),
    )


def retune_codebook(
    model: nn.Module,
    examples: list[dict[str, Any]],
    q: Quantized,
    *,
    steps: int,
    lr: float,
    batch_size: int = 32,
    seed: int = 0,
    pad_id: int = 0,
) -> Quantized:
    """Retune the L centroid values of ``q`` on the training loss, the assignments fixed.

    The subspace ``model`` (its λ as they are) is run with θ_d = codebook[symbols]; the
    gradient of the mean cross-entropy of a batch with respect to centroid k is the sum of
    the θ_d gradients of the entries assigned to k (exact chain rule). ``steps`` Adam steps
    (β = 0.9, 0.999) at ``lr``, decayed linearly to 0, on batches of ``batch_size`` drawn as in
    training (a permutation per epoch from a generator seeded with ``seed``); dropout off (the
    loss of the deterministic hypothesis), fp32, on the model's device. The forward uses the
    centroids rounded to float16, the precision a message stores them in, with the gradient
    passed straight through the rounding.

    Returns ``q`` with the retuned codebook rounded to float16 (symbols unchanged). The model's
    θ_d and its train/eval mode are restored on return.
    """
    if steps < 0 or not lr > 0:
        raise ValueError(f"retune needs steps >= 0 and lr > 0, got steps={steps}, lr={lr}")
    theta = model.theta
    device, saved, was_training = theta.device, theta.detach().clone(), model.training
    symbols = torch.as_tensor(q.symbols.ravel(), device=device)
    codebook = nn.Parameter(torch.as_tensor(q.codebook, dtype=theta.dtype, device=device))
    optimizer = torch.optim.Adam([codebook], lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(steps, 0))
    gen = torch.Generator().manual_seed(seed)
    batching = TrainConfig(batch_size=batch_size, precision="fp32", device=str(device))
    model.eval()
    try:
        step = 0
        while step < steps:
            for idx in _epoch_batches(examples, batching, gen):
                rounded = codebook.detach().half().to(theta.dtype)
                with torch.no_grad():
                    theta.copy_(rounded[symbols])
                loss = model(**_collate([examples[i] for i in idx], pad_id, device)).loss
                (grad,) = torch.autograd.grad(loss, theta)
                codebook.grad = torch.zeros_like(codebook).index_add_(0, symbols, grad)
                optimizer.step()
                scheduler.step()
                step += 1
                if step >= steps:
                    break
    finally:
        with torch.no_grad():
            theta.copy_(saved)
        model.train(was_training)
    return Quantized(round_float16(codebook.detach().cpu().double().numpy()), q.symbols,
                     q.levels, q.method)  # fmt: skip


class _Stop(Exception):
    pass


def _method_of(model: nn.Module) -> str:
    """``SAID d=1000`` for a subspace model, ``full`` otherwise (progress-bar labels)."""
    config = getattr(model, "subspace_config", None)
    if config is None:
        return "full"
    return f"{config.method.upper()} d={config.dim}"


def _progress(total: int, enabled: bool, desc: str, initial: int = 0):
    """A training's bar; redrawn at most every 30 s when it writes to a file (a sweep's log),
    not on every step (a terminal and a notebook keep tqdm's 0.1 s)."""
    from tqdm.auto import tqdm

    live = sys.stderr.isatty() or "notebook" in tqdm.__module__

    return tqdm(
        total=total,
        initial=initial,
        disable=not enabled,
        desc=desc,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.1 if live else 30.0,
    )


# ------------------------------------------------------------------------------ records


def _versions() -> dict[str, str]:
    import transformers

    return {
        "idtheory": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def run_spec(
    spec: RunSpec,
    *,
    data_dir: str | os.PathLike | None = None,
    artifacts_dir: str | os.PathLike | None = None,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    keep_checkpoint: bool = False,
) -> dict[str, Any]:
    """Train the run described by ``spec`` and return its results-store record.

    Args:
        spec: model, task, subspace (None = full fine-tuning) and training config.
        data_dir: task data directory (else ``$IDTHEORY_DATA``, else the hub).
        artifacts_dir: if given, the trained subspace parameters (θ_d, λ; kilobytes) are saved
            with ``save_pretrained`` to ``artifacts_dir/<run_id>/`` for later compression and
            bounds. Full fine-tuning runs save nothing.
        progress: show a tqdm bar.
        checkpoint_dir: if given, the training state is checkpointed to
            ``checkpoint_dir/<run_id>.pt`` while it runs (see :func:`finetune`), and a killed
            training resumes from there when the same spec is run again. The file is removed
            when the training ends — unless ``keep_checkpoint``: a results store whose
            ``partial`` directory it is removes it when it stores the record (a run killed
            before that resumes; :meth:`~idtheory.store.ResultsStore.put`).
    """
    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model

    task = get_task(spec.task)
    loaded = load_model(spec.model, num_labels=task.num_labels, seed=spec.train.seed)
    model = loaded.model
    if spec.subspace is not None:
        model = get_subspace_model(model, spec.subspace)
    num_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    run_id = spec.config_hash()
    result = finetune(
        model,
        loaded.tokenizer,
        task.name,
        spec.train,
        data_dir=data_dir,
        progress=progress,
        model_name=spec.model,
        checkpoint=None if checkpoint_dir is None else Path(checkpoint_dir) / f"{run_id}.pt",
        checkpoint_info={"run_id": run_id, "spec": spec.to_dict()},
        keep_checkpoint=keep_checkpoint,
    )
    if artifacts_dir is not None and spec.subspace is not None and result.status == "ok":
        model.save_pretrained(Path(artifacts_dir) / run_id)
    return {
        "run_id": run_id,
        "spec": spec.to_dict(),
        "status": result.status,
        "message": result.message,
        "metrics": {"dev": result.dev, "train": result.train},
        "best_step": result.best_step,
        "steps": result.steps,
        "history": result.history,
        "num_trainable": num_trainable,
        "num_params": loaded.num_params,
        "wall_time_s": result.wall_time_s,
        "peak_mem_mb": result.peak_mem_mb,
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }


@dataclass(frozen=True)
class _TrainFn:
    """A picklable ``train_fn(spec) -> record`` with fixed options (for executors)."""

    data_dir: str | None = None
    artifacts_dir: str | None = None
    progress: bool = True
    checkpoint_dir: str | None = None
    keep_checkpoint: bool = False

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        return run_spec(
            spec,
            data_dir=self.data_dir,
            artifacts_dir=self.artifacts_dir,
            progress=self.progress,
            checkpoint_dir=self.checkpoint_dir,
            keep_checkpoint=self.keep_checkpoint,
        )


def make_train_fn(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    artifacts_dir: str | None = None,
    progress: bool = True,
    checkpoint_dir: str | None = None,
    keep_checkpoint: bool = False,
) -> _TrainFn:
    """A picklable trainer for :func:`idtheory.search.measure_d90` and the executors
    (``checkpoint_dir``: where unfinished trainings keep their state, ``keep_checkpoint``: left
    for the store to remove; see :func:`run_spec`)."""
    return _TrainFn(
        None if data_dir is None else str(data_dir),
        None if artifacts_dir is None else str(artifacts_dir),
        progress,
        None if checkpoint_dir is None else str(checkpoint_dir),
        keep_checkpoint,
    )
