"""Masked-LM pre-training from scratch (:func:`pretrain`), resumable from its checkpoints.

Conventions (this library's choices; the paper gives no details beyond "following Liu et al."):

* **Units.** A *step* or *update* is one optimizer update of ``batch_size`` sequences (split into
  ``grad_accum`` micro-batches) of ``max_length`` tokens (``<s>`` and ``</s>`` included). Step
  ``k`` of the log / ``checkpoint-k`` is the state *after* ``k`` updates; ``checkpoint-0`` is the
  random initialisation. Losses are natural-log cross-entropies (nats per masked token); times
  are seconds; parameter counts are numbers of scalars.
* **Packing.** By default (``packing=True``) the corpus lines are tokenized, joined with ``</s>``
  and cut into blocks ``<s> … </s>`` of exactly ``max_length`` tokens (RoBERTa's FULL-SENTENCES
  format; no padding). ``packing=False`` makes one truncated, padded sequence per line.
* **Masking.** The standard BERT/RoBERTa scheme of ``DataCollatorForLanguageModeling``: 15 % of
  the non-special tokens are predicted, of which 80 % are replaced by ``<mask>``, 10 % by a random
  token and 10 % left unchanged (masks are re-drawn dynamically at every step). The MLM head is
  evaluated on the predicted positions only (the same loss as ``RobertaForMaskedLM``, several
  times cheaper for small models whose cost is dominated by the vocabulary projection).
* **Determinism and resumption.** Data order is a fixed function of ``(seed, epoch)``, and the
  global torch RNG (masking, dropout) is re-seeded from ``(seed, step)`` before every update, so
  the loss of update ``k`` does not depend on whether the run was interrupted before it. A
  restart continues from the last *complete* checkpoint (:mod:`idtheory.pretrain.checkpoints`)
  with its optimizer, scheduler and RNG state and, on CPU, reproduces the uninterrupted run's
  losses exactly.
* **Optimizer.** AdamW (β = (0.9, 0.98), ε = 1e-6, decoupled weight decay 0.01, none on biases
  and LayerNorm weights), linear warm-up over ``warmup_ratio × steps`` updates then linear decay
  to 0, gradient-norm clipping at 1.0 (RoBERTa's values except the clipping).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from idtheory.precision import resolve_device
from idtheory.pretrain.checkpoints import (
    _TMP_RE,
    LOG_FILE,
    TOKENIZER_META,
    TRAINER_STATE,
    _save_checkpoint,
    _set_rng_state,
    _truncate_log,
    list_checkpoints,
)
from idtheory.pretrain.corpus import Corpus, _texts_of
from idtheory.pretrain.presets import model_config
from idtheory.pretrain.tokenizer import (
    DEFAULT_VOCAB_SIZE,
    MODEL_MAX_LENGTH,
    _load_tokenizer,
    train_tokenizer,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase, RobertaConfig

# =========================================================================== pre-training

PrecisionChoice = Literal["auto", "fp32", "bf16"]


@dataclass(frozen=True)
class PretrainConfig:
    """Hyper-parameters of one masked-LM pre-training run (units in the module docstring).

    Attributes:
        preset: a :data:`PRESETS` name; ``layers`` / ``hidden`` / ``heads`` / ``ffn`` override it.
        vocab_size: BPE vocabulary size requested from :func:`train_tokenizer`.
        max_length: tokens per sequence, ``<s>``/``</s>`` included (≤ 512).
        batch_size: sequences per update (split into ``grad_accum`` equal micro-batches).
        steps: total number of updates (it sets the learning-rate schedule).
        lr: peak learning rate; warmup_ratio: fraction of ``steps`` of linear warm-up.
        weight_decay, adam_betas, adam_eps, grad_clip: AdamW and clipping (0 disables it).
        mlm_probability: fraction of non-special tokens predicted (15 %).
        dropout: hidden and attention dropout.
        packing: FULL-SENTENCES blocks (True) or one padded sequence per line (False).
        eval_blocks: sequences held out of training for the eval MLM loss logged at each
            checkpoint (0 disables; only held out when the corpus has ≥ 4× as many sequences).
        save_every: checkpoint every this many updates (and at the last update).
        save_initial: also save ``checkpoint-0`` (the random initialisation).
        log_every: log the mean training loss of the last ``log_every`` updates.
        keep_optimizer_states: newest checkpoints that keep ``optimizer.pt`` / ``scheduler.pt``
            (older ones keep only model + tokenizer; resuming needs the newest one).
        min_frequency: tokenizer merge threshold.
        seed: model initialisation, data order, masking and dropout.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``.
        precision: ``"auto"`` (bf16 autocast on CUDA, fp32 on CPU), ``"fp32"`` or ``"bf16"``.
        num_threads: torch CPU threads during the run (None leaves torch's setting). On a CPU
            shared with other jobs, 1 avoids OpenMP oversubscription, which can slow small
            models down by one or two orders of magnitude.
    """

    preset: str | None = "xs"
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    ffn: int | None = None
    vocab_size: int = DEFAULT_VOCAB_SIZE
    max_length: int = 128
    batch_size: int = 32
    grad_accum: int = 1
    steps: int = 2000
    lr: float = 5e-4
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-6
    grad_clip: float = 1.0
    mlm_probability: float = 0.15
    dropout: float = 0.1
    packing: bool = True
    eval_blocks: int = 64
    save_every: int = 200
    save_initial: bool = True
    log_every: int = 10
    keep_optimizer_states: int = 1
    min_frequency: int = 2
    seed: int = 0
    device: str = "auto"
    precision: PrecisionChoice = "auto"
    num_threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))
        if not 3 <= self.max_length <= MODEL_MAX_LENGTH:
            raise ValueError(
                f"max_length must be in [3, {MODEL_MAX_LENGTH}], got {self.max_length}"
            )
        for name in ("batch_size", "grad_accum", "steps", "save_every", "log_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_size % self.grad_accum:
            raise ValueError(
                f"batch_size={self.batch_size} must be divisible by grad_accum={self.grad_accum}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0 < self.mlm_probability < 1:
            raise ValueError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        if self.keep_optimizer_states < 1:
            raise ValueError("keep_optimizer_states must be >= 1 (resuming needs the newest)")
        self.model_config(self.vocab_size)  # validates the sizes

    def model_config(self, vocab_size: int) -> RobertaConfig:
        """The ``RobertaConfig`` of this run for a tokenizer of ``vocab_size`` tokens."""
        return model_config(
            self.preset,
            vocab_size=vocab_size,
            layers=self.layers,
            hidden=self.hidden,
            heads=self.heads,
            ffn=self.ffn,
            dropout=self.dropout,
        )

    @property
    def warmup_steps(self) -> int:
        return round(self.warmup_ratio * self.steps)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["adam_betas"] = list(self.adam_betas)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PretrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


#: PretrainConfig fields that may differ between an interrupted run and its continuation
#: (they do not change the trained weights; precision does, but moving a CPU run to a GPU is
#: allowed at the price of exactness).
RESUMABLE_CHANGES: tuple[str, ...] = (
    "save_every",
    "save_initial",
    "log_every",
    "keep_optimizer_states",
    "device",
    "precision",
    "num_threads",
)


@dataclass
class PretrainResult:
    """What :func:`pretrain` did.

    Attributes:
        out_dir: the run directory.
        step: updates done when it returned (``config.steps`` unless stopped early).
        checkpoints: :func:`list_checkpoints` of ``out_dir``.
        resumed_from: step of the checkpoint the run continued from (None for a fresh start).
        num_params: parameters of the masked LM (tied decoder counted once).
        vocab_size: ``len(tokenizer)``.
        n_train_sequences / n_eval_sequences: sequences of the training and held-out sets.
        train_tokens: tokens per epoch of the training set (``n_train_sequences × max_length``
            when packed).
        elapsed_s: wall-clock seconds of training, summed over all sessions of the run.
        log_path: ``out_dir/log.jsonl``.
    """

    out_dir: Path
    step: int
    checkpoints: list[tuple[int, Path]]
    resumed_from: int | None
    num_params: int
    vocab_size: int
    n_train_sequences: int
    n_eval_sequences: int
    train_tokens: int
    elapsed_s: float
    log_path: Path


def _step_seed(seed: int, step: int, stream: int = 0) -> int:
    """Seed of the global torch RNG for update ``step`` (stream 0) or the evaluation (stream 1)."""
    state = np.random.SeedSequence([seed, 7919, stream, step]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def _fingerprint(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", errors="replace"))
        h.update(b"\n")
    return h.hexdigest()[:16]


class _Data:
    """Tokenized sequences of a corpus: packed blocks or per-line sequences, with a held-out
    eval set and a deterministic epoch-wise order."""

    def __init__(
        self, texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, cfg: PretrainConfig
    ) -> None:
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id
        self.special_ids = np.array(tokenizer.all_special_ids, dtype=np.int64)
        body = cfg.max_length - 2
        ids: list[list[int]] = []
        for i in range(0, len(texts), 4096):
            ids.extend(tokenizer(list(texts[i : i + 4096]), add_special_tokens=False)["input_ids"])
        if cfg.packing:
            stream = np.fromiter((tok for seq in ids for tok in (*seq, eos)), dtype=np.int64)
            n_blocks = len(stream) // body
            if n_blocks == 0:
                raise ValueError(
                    f"corpus too small: {len(stream)} tokens, fewer than one block of {body}"
                )
            blocks = stream[: n_blocks * body].reshape(n_blocks, body)
            full = np.concatenate(
                [np.full((n_blocks, 1), bos), blocks, np.full((n_blocks, 1), eos)], axis=1
            )
            seqs: list[np.ndarray] = list(full)
        else:
            seqs = [np.array([bos, *seq[:body], eos], dtype=np.int64) for seq in ids if seq]
            if not seqs:
                raise ValueError("corpus has no non-empty line")
        n = len(seqs)
        perm = np.random.default_rng([cfg.seed, 1]).permutation(n)
        n_eval = cfg.eval_blocks if cfg.eval_blocks and n >= 4 * cfg.eval_blocks else 0
        eval_idx = np.sort(perm[:n_eval])
        train_idx = np.sort(perm[n_eval:])
        self.train = [seqs[i] for i in train_idx]
        self.eval = [seqs[i] for i in eval_idx]
        self.seed = cfg.seed
        self._perms: dict[int, np.ndarray] = {}

    def order(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            self._perms[epoch] = np.random.default_rng([self.seed, 2, epoch]).permutation(
                len(self.train)
            )
        return self._perms[epoch]

    def batch_indices(self, step: int, batch_size: int) -> list[int]:
        """Training-set indices of update ``step`` (1-based): samples ``(step-1)·B … step·B-1``
        of the infinite stream of epoch-wise permutations."""
        n = len(self.train)
        out = []
        for s in range((step - 1) * batch_size, step * batch_size):
            out.append(int(self.order(s // n)[s % n]))
        return out

    def examples(self, seqs: Sequence[np.ndarray]) -> list[dict[str, list[int]]]:
        return [
            {
                "input_ids": s.tolist(),
                "special_tokens_mask": np.isin(s, self.special_ids).astype(np.int64).tolist(),
            }
            for s in seqs
        ]


def _mlm_loss(model: Any, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over the predicted (label ≠ -100) positions; the LM head is applied to
    those positions only (same value as ``RobertaForMaskedLM(...).loss``)."""
    import torch.nn.functional as F

    hidden = model.roberta(
        input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")
    )[0]
    labels = batch["labels"]
    sel = labels != -100
    if not bool(sel.any()):
        return hidden.sum() * 0.0
    logits = model.lm_head(hidden[sel])
    return F.cross_entropy(logits.float(), labels[sel])


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    import torch

    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if use_bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _evaluate(model: Any, data: _Data, collator: Any, cfg: PretrainConfig, device: Any) -> float:
    """Mean MLM loss of the held-out sequences with a fixed masking seed (nats per token)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(_step_seed(cfg.seed, 0, stream=1))
        for i in range(0, len(data.eval), cfg.batch_size):
            batch = collator(data.examples(data.eval[i : i + cfg.batch_size]))
            batch = {k: v.to(device) for k, v in batch.items()}
            n = int((batch["labels"] != -100).sum())
            with _autocast(device, cfg.precision):
                loss = _mlm_loss(model, batch)
            total += float(loss) * n
            count += n
    model.train()
    return total / max(count, 1)


def pretrain(
    config: PretrainConfig,
    corpus: Corpus | Sequence[str],
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    *,
    callback: Callable[[int, float], None] | None = None,
    stop_at: int | None = None,
    max_seconds: float | None = None,
) -> PretrainResult:
    """Pre-train a RoBERTa masked LM from scratch on ``corpus`` (resumable).

    Layout of ``out_dir``::

        tokenizer/                 the BPE (trained on the corpus at the first start, then reused)
        checkpoint-<step>/         config.json, model.safetensors, tokenizer files (Hugging Face
                                   format: load_model(path, num_labels=2) works), optimizer.pt,
                                   scheduler.pt, rng_state.pt, trainer_state.json
        log.jsonl                  one JSON object per log entry (see :func:`read_log`)

    If ``out_dir`` already has checkpoints the run continues from the newest one (its optimizer,
    scheduler, RNG state, loss window and elapsed time), after checking that the configuration
    (except :data:`RESUMABLE_CHANGES`) and the corpus fingerprint are the same; log entries
    after that step (written by the interrupted session) are dropped. A run already at
    ``config.steps`` returns at once.

    Args:
        config: hyper-parameters.
        corpus: a :class:`Corpus` or a sequence of lines.
        out_dir: run directory (created).
        progress: show a tqdm progress bar.
        callback: called as ``callback(step, loss)`` after every update (after logging, before
            checkpointing); an exception raised there interrupts the run like a crash would.
        stop_at: return after this many updates (a checkpoint is saved there), to split a run
            into sessions; the schedule still runs over ``config.steps``.
        max_seconds: return (after saving a checkpoint) once this session has trained this long.
    """
    import torch

    previous = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        return _pretrain(
            config,
            corpus,
            out_dir,
            progress,
            callback=callback,
            stop_at=stop_at,
            max_seconds=max_seconds,
        )
    finally:
        if config.num_threads:
            torch.set_num_threads(previous)


def _pretrain(
    config: PretrainConfig,
    corpus: Corpus | Sequence[str],
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    *,
    callback: Callable[[int, float], None] | None = None,
    stop_at: int | None = None,
    max_seconds: float | None = None,
) -> PretrainResult:
    import torch
    from tqdm.auto import tqdm
    from transformers import (
        DataCollatorForLanguageModeling,
        RobertaForMaskedLM,
        get_linear_schedule_with_warmup,
    )

    from idtheory.models import count_parameters

    texts = _texts_of(corpus)
    if not texts:
        raise ValueError("empty corpus")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():
        if _TMP_RE.match(child.name) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
    fingerprint = _fingerprint(texts)
    device = resolve_device(config.device)

    # ---- tokenizer
    # Reused when it was trained on the same corpus with the same settings (or, once checkpoints
    # exist, always: _check_resume then rejects a different corpus or configuration).
    tok_dir = out / "tokenizer"
    tok_meta = {
        "corpus_fingerprint": fingerprint,
        "vocab_size": config.vocab_size,
        "min_frequency": config.min_frequency,
    }
    meta_path = tok_dir / TOKENIZER_META
    reuse = (tok_dir / "tokenizer.json").is_file() and (
        bool(list_checkpoints(out))
        or (meta_path.is_file() and json.loads(meta_path.read_text()) == tok_meta)
    )
    if reuse:
        tokenizer = _load_tokenizer(tok_dir)
    else:
        tmp_tok = out / f".tokenizer.tmp-{os.getpid()}"
        shutil.rmtree(tmp_tok, ignore_errors=True)
        tokenizer = train_tokenizer(
            texts, config.vocab_size, tmp_tok, min_frequency=config.min_frequency
        )
        (tmp_tok / TOKENIZER_META).write_text(json.dumps(tok_meta, sort_keys=True))
        shutil.rmtree(tok_dir, ignore_errors=True)
        tmp_tok.rename(tok_dir)
    data = _Data(texts, tokenizer, config)
    collator = DataCollatorForLanguageModeling(
        tokenizer=tokenizer, mlm=True, mlm_probability=config.mlm_probability
    )

    # ---- model, optimizer, schedule (fresh or resumed)
    ckpts = list_checkpoints(out)
    resumed_from: int | None = None
    state: dict[str, Any] = {}
    if ckpts:
        resumed_from, ckpt = ckpts[-1]
        state = json.loads((ckpt / TRAINER_STATE).read_text(encoding="utf-8"))
        _check_resume(config, state, fingerprint, ckpt)
        model = RobertaForMaskedLM.from_pretrained(str(ckpt), dtype=torch.float32)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = RobertaForMaskedLM(config.model_config(len(tokenizer)))
    model.to(device)
    model.train()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        exempt = p.ndim < 2 or "LayerNorm" in name or name.endswith("bias")
        (no_decay if exempt else decay).append(p)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=config.adam_betas,
        eps=config.adam_eps,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
    step = 0
    window = [0.0, 0]  # sum and count of losses since the last log entry
    elapsed = 0.0
    tokens = 0
    if resumed_from is not None:
        ckpt = ckpts[-1][1]
        if not (ckpt / "optimizer.pt").is_file():
            raise RuntimeError(
                f"cannot resume from {ckpt}: its optimizer state was pruned (only the newest "
                f"{config.keep_optimizer_states} checkpoint(s) keep it); delete newer incomplete "
                "runs or start a new out_dir"
            )
        optimizer.load_state_dict(
            torch.load(ckpt / "optimizer.pt", map_location=device, weights_only=True)
        )
        scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=True))
        _set_rng_state(torch.load(ckpt / "rng_state.pt", weights_only=True), device)
        step = int(state["step"])
        window = [float(state["window"][0]), int(state["window"][1])]
        elapsed = float(state["elapsed_s"])
        tokens = int(state["tokens"])
        _truncate_log(out / LOG_FILE, step)

    num_params = count_parameters(model)
    result_base = {
        "out_dir": out,
        "resumed_from": resumed_from,
        "num_params": num_params,
        "vocab_size": len(tokenizer),
        "n_train_sequences": len(data.train),
        "n_eval_sequences": len(data.eval),
        "train_tokens": int(sum(len(s) for s in data.train)),
        "log_path": out / LOG_FILE,
    }

    def trainer_state() -> dict[str, Any]:
        return {
            "step": step,
            "window": window,
            "elapsed_s": elapsed,
            "tokens": tokens,
            "config": config.to_dict(),
            "corpus_fingerprint": fingerprint,
            "corpus_lines": len(texts),
            "num_params": num_params,
            "vocab_size": len(tokenizer),
            "n_train_sequences": len(data.train),
            "n_eval_sequences": len(data.eval),
        }

    log_fh = open(out / LOG_FILE, "a", encoding="utf-8")  # closed in the finally below

    def log(entry: dict[str, Any]) -> None:
        log_fh.write(json.dumps(entry, sort_keys=True) + "\n")
        log_fh.flush()

    def save() -> None:
        if data.eval:
            log({"step": step, "eval_loss": _evaluate(model, data, collator, config, device)})
        _save_checkpoint(
            out,
            step,
            model,
            tokenizer,
            optimizer,
            scheduler,
            device,
            trainer_state(),
            config.keep_optimizer_states,
        )

    target = config.steps if stop_at is None else min(config.steps, stop_at)
    try:
        if resumed_from is None and config.save_initial:
            save()
        session_start = time.perf_counter()
        bar = tqdm(
            total=config.steps,
            initial=step,
            desc=f"pretrain {out.name}",
            disable=not progress or step >= target,
            unit="upd",
        )
        micro = config.batch_size // config.grad_accum
        while step < target:
            t0 = time.perf_counter()
            step += 1
            torch.manual_seed(_step_seed(config.seed, step))
            idx = data.batch_indices(step, config.batch_size)
            lr_now = optimizer.param_groups[0]["lr"]
            loss_sum = 0.0
            for j in range(config.grad_accum):
                seqs = [data.train[i] for i in idx[j * micro : (j + 1) * micro]]
                batch = collator(data.examples(seqs))
                batch = {k: v.to(device) for k, v in batch.items()}
                tokens += int(batch["input_ids"].numel())
                with _autocast(device, config.precision):
                    loss = _mlm_loss(model, batch) / config.grad_accum
                loss.backward()
                loss_sum += float(loss.detach())
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            elapsed += time.perf_counter() - t0
            window[0] += loss_sum
            window[1] += 1
            if not math.isfinite(loss_sum):
                warnings.warn(f"pretrain: non-finite loss at step {step}", stacklevel=2)
            if step % config.log_every == 0 or step == config.steps:
                log(
                    {
                        "step": step,
                        "loss": window[0] / window[1],
                        "lr": lr_now,
                        "epoch": step * config.batch_size / len(data.train),
                        "tokens": tokens,
                        "elapsed_s": round(elapsed, 3),
                    }
                )
                window = [0.0, 0]
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum:.3f}")
            if callback is not None:
                callback(step, loss_sum)
            out_of_time = (
                max_seconds is not None and time.perf_counter() - session_start >= max_seconds
            )
            if step % config.save_every == 0 or step == target or out_of_time:
                save()
            if out_of_time:
                break
        bar.close()
    finally:
        log_fh.close()
    return PretrainResult(
        step=step, checkpoints=list_checkpoints(out), elapsed_s=elapsed, **result_base
    )


def _check_resume(
    config: PretrainConfig, state: Mapping[str, Any], fingerprint: str, ckpt: Path
) -> None:
    saved = PretrainConfig.from_dict(state["config"]).to_dict()
    now = config.to_dict()
    diff = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
    if diff:
        details = ", ".join(f"{k}: {saved.get(k)!r} → {now[k]!r}" for k in diff)
        raise ValueError(
            f"cannot resume from {ckpt}: the configuration differs ({details}). Use the same "
            "configuration to continue, or a new out_dir for a new run."
        )
    if state.get("corpus_fingerprint") != fingerprint:
        raise ValueError(
            f"cannot resume from {ckpt}: the corpus differs from the one it was trained on "
            f"(fingerprint {state.get('corpus_fingerprint')} vs {fingerprint})"
        )
