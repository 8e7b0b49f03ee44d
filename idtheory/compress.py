"""Quantization and entropy coding of a trained subspace vector θ_d (and SAID's λ scales).

The pipeline of Lotfi et al. (2022; ``docs/bounds.md``): quantize the d trained numbers to L
levels (uniform bins or 1-d k-means), arithmetic-code the symbols under their empirical
frequencies, and count the message length in **bits** as

    l = ceil(d·H) + 1  +  L·codebook_bits  +  L·count_bits

(coded symbols + codebook + symbol counts), which is what ``bounds.description_length_bits``
computes; the bounds of :mod:`idtheory.bounds` then charge ``l + 2 log2 l`` bits. The quantizers
live in :mod:`idtheory.quantize` (re-exported here); :func:`encode_message` /
:func:`decode_message` write and read the actual message a receiver gets.

numpy only; torch tensors are accepted (converted with ``.detach().cpu()``) but torch is
never imported. Entropy coding uses the ``constriction`` library (ANS coder with a categorical
model, 24-bit fixed-point probabilities).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import constriction
import numpy as np
from numpy.typing import ArrayLike, NDArray

from idtheory.bounds import arithmetic_code_bits, description_length_bits, symbol_entropy_bits
from idtheory.quantize import Quantized, quantize_kmeans, quantize_uniform

__all__ = [
    "Message",
    "Quantized",
    "StoredRun",
    "arithmetic_decode",
    "arithmetic_encode",
    "bound_for_run",
    "coded_length_bits",
    "decode_message",
    "encode_message",
    "ideal_coded_bits",
    "load_subspace_run",
    "message_length_bits",
    "quantize_kmeans",
    "quantize_uniform",
    "run_device",
    "symbol_probs",
]


def symbol_probs(q: Quantized) -> NDArray[np.float64]:
    """Empirical symbol frequencies ``p_k = #{i : sym_i = k} / d``, shape (levels,)."""
    return np.bincount(q.symbols.ravel(), minlength=q.levels) / q.d


def _model(probs: ArrayLike) -> Any:
    p = np.asarray(probs, dtype=np.float64).ravel()
    if p.size == 0 or (p < 0).any() or not np.isfinite(p).all() or p.sum() <= 0:
        raise ValueError("probs must be a non-empty array of non-negative, finite probabilities")
    if p.size == 1:  # constriction needs at least two symbols
        p = np.array([1.0, 0.0])
    return constriction.stream.model.Categorical(p, perfect=False)


def _symbols(symbols: ArrayLike, n_levels: int) -> NDArray[np.int32]:
    s = np.asarray(symbols).ravel()
    if s.size and (s.min() < 0 or s.max() >= n_levels or (s != np.round(s)).any()):
        raise ValueError(f"symbols must be integers in [0, {n_levels}), one per probability")
    return s.astype(np.int32)


def _encoder(symbols: ArrayLike, probs: ArrayLike) -> Any:
    model = _model(probs)
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(_symbols(symbols, np.asarray(probs).size), model)
    return coder


def arithmetic_encode(symbols: ArrayLike, probs: ArrayLike) -> NDArray[np.uint32]:
    """Entropy-code ``symbols`` (integers in [0, len(probs))) under the i.i.d. categorical model
    ``probs`` with constriction's ANS coder. Returns the compressed words (uint32); decode with
    ``arithmetic_decode(compressed, probs, len(symbols))``."""
    return _encoder(symbols, probs).get_compressed()


def arithmetic_decode(compressed: ArrayLike, probs: ArrayLike, n: int) -> NDArray[np.int64]:
    """Inverse of :func:`arithmetic_encode`: the n symbols (int64), given the same ``probs``."""
    if int(n) != n or n < 0:
        raise ValueError(f"n (number of symbols) must be an integer >= 0, got {n!r}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    coder = constriction.stream.stack.AnsCoder(np.asarray(compressed, dtype=np.uint32))
    return np.asarray(coder.decode(_model(probs), int(n)), dtype=np.int64)


def coded_length_bits(q: Quantized) -> int:
    """Actual length in **bits** of q's symbols coded by :func:`arithmetic_encode` under their
    empirical frequencies (``num_valid_bits`` of the ANS coder, not rounded up to 32-bit words).

    It exceeds the ideal ``ceil(d·H) + 1`` (:func:`ideal_coded_bits`) by the ANS coder's initial
    state (at most its 24-bit precision) plus a tiny fixed-point cost, and can undercut it by
    a bit or two.
    """
    return int(_encoder(q.symbols, symbol_probs(q)).num_valid_bits())


def ideal_coded_bits(q: Quantized) -> int:
    """Ideal arithmetic-code length ``ceil(d·H(p)) + 1`` bits of q's symbols, p = their
    empirical frequencies (``bounds.arithmetic_code_bits``)."""
    return int(arithmetic_code_bits(q.d, symbol_entropy_bits(symbol_probs(q))))


def message_length_bits(
    q: Quantized,
    codebook_bits: int = 16,
    count_bits: int | None = None,
    use_coder: bool = False,
) -> float:
    """Message length in **bits** of a quantized vector (Lotfi et al. 2022):

    ``ceil(d·H) + 1 + L·codebook_bits + L·count_bits`` — coded symbols, codebook
    (``codebook_bits`` per centroid: 16 for float16, 32 for float32) and symbol counts
    (``count_bits`` each, default ``ceil(log2(d + 1))``). Identical to
    ``bounds.description_length_bits(q.d, q.levels, symbol_probs(q), ...)``. With
    ``use_coder=True`` the coded-symbol term is the length actually produced by the coder
    (:func:`coded_length_bits`) instead of ``ceil(d·H) + 1``.
    """
    total = float(
        description_length_bits(
            q.d, q.levels, symbol_probs(q), codebook_bits=codebook_bits, count_bits=count_bits
        )
    )
    if use_coder:
        total += coded_length_bits(q) - ideal_coded_bits(q)
    return total


# ----------------------------------------------------------------------------- the message


#: The arrays of a :class:`Message` stored as hex, with their little-endian dtypes.
_MESSAGE_HEX = {"codebook": "<f2", "words": "<u4", "lambdas": "<f2"}


@dataclass(frozen=True, eq=False)
class Message:
    """The coded description of a quantized θ_d and SAID's λ: what a receiver gets.

    Attributes:
        counts: int64 (L,), how many θ_d entries carry each symbol (n = ``counts.sum()``).
        codebook: float16 (L,), the centroid values.
        words: uint32, the symbols arithmetic-coded (constriction's ANS coder) under the
            frequencies ``counts / n``.
        lambdas: float16, SAID's λ in group order (empty for DID).

    The projection seed and θ₀ are not in it: a certificate protocol fixes them.
    """

    counts: NDArray[np.int64]
    codebook: NDArray[np.float16]
    words: NDArray[np.uint32]
    lambdas: NDArray[np.float16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``counts`` as a list; the other arrays as hex of their little-endian
        bytes."""
        out: dict[str, Any] = {"counts": [int(c) for c in self.counts]}
        for name, dtype in _MESSAGE_HEX.items():
            out[name] = np.asarray(getattr(self, name), dtype=dtype).tobytes().hex()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        arrays = {
            name: np.frombuffer(bytes.fromhex(d[name]), dtype=dtype).astype(dtype[1:])
            for name, dtype in _MESSAGE_HEX.items()
        }
        return cls(np.asarray(d["counts"], dtype=np.int64), **arrays)


def _frequencies(counts: NDArray[np.int64]) -> NDArray[np.float64]:
    return counts / counts.sum()


def encode_message(q: Quantized, lambdas: ArrayLike | None = None) -> Message:
    """The message of ``q`` (codebook rounded to float16) and ``lambdas`` (rounded to float16):
    what a receiver needs to rebuild θ_d = codebook[symbols] and λ (:func:`decode_message`)."""
    counts = np.bincount(q.symbols.ravel(), minlength=q.levels).astype(np.int64)
    words = arithmetic_encode(q.symbols.ravel(), _frequencies(counts))
    lam = np.zeros(0) if lambdas is None else np.asarray(lambdas, dtype=np.float64).ravel()
    return Message(counts, q.codebook.astype(np.float16), words, lam.astype(np.float16))


def decode_message(message: Message) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(θ_d, λ) rebuilt from ``message`` alone, as float64 (λ empty for DID)."""
    n = int(message.counts.sum())
    symbols = arithmetic_decode(message.words, _frequencies(message.counts), n)
    theta = message.codebook.astype(np.float64)[symbols]
    return theta, message.lambdas.astype(np.float64)


# ----------------------------------------------------------------------------- stored runs

#: Bits charged for the projection seed (a 32-bit integer named in the description).
SEED_BITS = 32
#: Bits per stored SAID λ (kept at fp16, not quantized).
LAMBDA_BITS = 16


@dataclass
class StoredRun:
    """A stored subspace run rebuilt from its saved θ_d and λ, with its tokenized splits.

    ``model`` is the :class:`idtheory.subspace.SubspaceModel` (eval mode) on ``device``, where
    :meth:`accuracy` evaluates it; ``examples`` maps ``"train"`` (the subsample the run was
    trained on; all of it when the run used the whole set) and ``"dev"`` to tokenized examples.
    Built by :func:`load_subspace_run`.
    """

    run_id: str
    spec: Any
    task: Any
    model: Any
    examples: dict[str, list[dict[str, Any]]]
    pad_id: int
    device: Any = "cpu"

    @property
    def m(self) -> int:
        """Number of training examples."""
        return len(self.examples["train"])

    def accuracy(self, split: str) -> float:
        """Accuracy (fraction) of the model as it is now on ``split``, evaluated on
        ``device`` in fp32 (no autocast, whatever precision the run trained in)."""
        from idtheory.train import evaluate

        metrics = evaluate(
            self.model, self.examples[split], self.task.name, pad_id=self.pad_id, device=self.device
        )
        return float(metrics["accuracy"])

    def errors(self, split: str) -> int:
        """Exact number of misclassified examples of ``split`` (an integer count)."""
        n = len(self.examples[split])
        return round((1.0 - self.accuracy(split)) * n)


def run_device(train_device: str, device: str | None = None) -> Any:
    """The torch device on which to rebuild and measure a stored run on this machine.

    ``device`` given (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``…): that device, resolved as
    :func:`idtheory.precision.resolve_device` does for training (``"auto"``: CUDA when available;
    an explicit CUDA device without CUDA raises). ``device`` None: the run's own
    ``train_device`` (its ``spec.train.device``) resolved the same way, except that a CUDA
    device falls back to the CPU when this machine has no CUDA, so that a run trained on a GPU
    can be re-measured anywhere.
    """
    import torch

    from idtheory.precision import resolve_device

    if device is not None:
        return resolve_device(device)
    if train_device.startswith("cuda") and not torch.cuda.is_available():
        return torch.device("cpu")
    return resolve_device(train_device)


def load_subspace_run(
    run_id: str,
    *,
    store: Any,
    data_dir: str | None = None,
    artifacts_dir: str | None = None,
    device: str | None = None,
) -> StoredRun:
    """Rebuild a stored subspace run from ``<artifacts_dir or store/params>/<run_id>`` (written by
    :func:`idtheory.train.run_spec`) and tokenize its training and dev sets (torch, lazily).

    The model is moved to ``device`` (None: the run's own ``spec.train.device``, falling back to
    the CPU when it names CUDA and this machine has none; see :func:`run_device`), where
    :meth:`StoredRun.accuracy` evaluates it."""
    from idtheory.config import RunSpec
    from idtheory.models import load_model
    from idtheory.subspace import SubspaceModel
    from idtheory.tasks import get_task
    from idtheory.train import encode, load_run_data

    record = store.get(run_id)
    if record is None:
        raise ValueError(f"no stored run {run_id!r} in {store.root}; see `idtheory results`")
    spec = RunSpec.from_dict(record["spec"])
    if spec.subspace is None:
        raise ValueError(
            f"run {run_id} is full fine-tuning: compression bounds need a subspace (SAID/DID) run"
        )
    if spec.subspace.train_head:
        raise ValueError(f"run {run_id} trained its head outside the subspace: not supported")
    path = Path(artifacts_dir or store.params_dir) / run_id
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path} not found: the run's θ_d was not saved; retrain it with an artifacts "
            "directory (the CLI saves to <results-dir>/params)"
        )
    task = get_task(spec.task)
    loaded = load_model(spec.model, num_labels=task.num_labels, seed=spec.train.seed)
    target = run_device(spec.train.device, device)
    model = SubspaceModel.from_pretrained(loaded.model, path).to(target).eval()
    train = load_run_data(task.name, "train", spec.train, data_dir)
    dev = load_run_data(task.name, "dev", spec.train, data_dir)
    examples = {
        "train": encode(loaded.tokenizer, train, spec.train.max_length),
        "dev": encode(loaded.tokenizer, dev, spec.train.max_length),
    }
    pad_id = loaded.tokenizer.pad_token_id or 0
    return StoredRun(run_id, spec, task, model, examples, pad_id, target)


def bound_for_run(
    run_id: str,
    *,
    store: Any,
    levels: int = 16,
    quantizer: str = "kmeans",
    delta: float = 0.05,
    n_candidate_d: int = 1,
    extra_bits: float = 0.0,
    data_dir: str | None = None,
    artifacts_dir: str | None = None,
    save: bool = True,
    device: str | None = None,
) -> dict[str, Any]:
    """Quantize a stored subspace run, measure the quantized model, and bound its error.

    Steps: rebuild the run's model from its saved θ_d and λ (``<store>/params/<run_id>``,
    written by :func:`idtheory.train.run_spec`), quantize θ_d to ``levels`` levels
    (``"kmeans"`` or ``"uniform"``) with its codebook rounded to float16 (the 16 bits per
    centroid the codes charge), round λ to fp16, measure the **quantized** model's error on
    the run's training set (the same subsample it was trained on, m examples) and its dev
    accuracy, and evaluate every bound of :func:`idtheory.bounds.bound_report` with the exact
    description: the arithmetic-coded θ_d (its empirical symbol distribution) plus
    ``SEED_BITS`` for the projection seed, ``LAMBDA_BITS`` per λ, ``log2(n_candidate_d)`` for
    choosing d and ``extra_bits`` for any other searched hyper-parameter.

    The model is rebuilt and measured on ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``…; an
    explicit CUDA device without CUDA raises). None (the default): the run's own
    ``spec.train.device`` resolved on this machine (``"auto"``: CUDA when available), except
    that a run trained on CUDA is re-measured on the CPU when this machine has no CUDA
    (:func:`run_device`). Both the float and the quantized model are evaluated in fp32 (no
    autocast), whatever precision the run trained in; this is intended: the bound is about the
    quantized hypothesis itself, not a reduced-precision forward of it (so the float accuracies
    can differ slightly from those stored with a run trained in bf16/fp16).

    Returns (and, with ``save``, stores via ``store.put_bound``) a record with the settings,
    m, the float and quantized train/dev accuracies, the message length in bits and the rows of
    the bound table (``rows``; ``title`` for printing). ``best_bound`` is the smallest certified
    row after every code is charged ``log2(#codes)`` more bits (``code_choice_bits``): picking
    the better of the fixed-length and the arithmetic code after seeing the data is a choice
    too, paid by a uniform mixture over the codes; each row of ``rows`` is its own code's bound.

    ``n_candidate_d`` must count every d the search *could* have returned, fixed before it ran
    (a search that bisects picks its next d from dev scores), not the d it happened to
    evaluate: ``len(idtheory.search.possible_d90s(summary["settings"]))``, 29 at the quick
    scale.
    """
    import torch

    from idtheory.bounds import bound_report

    if int(levels) < 2:
        raise ValueError(f"levels must be >= 2, got {levels}: one level carries no information")
    run = load_subspace_run(
        run_id, store=store, data_dir=data_dir, artifacts_dir=artifacts_dir, device=device
    )
    spec, task, model = run.spec, run.task, run.model

    def measure() -> tuple[float, float]:
        return run.accuracy("train"), run.accuracy("dev")

    float_train, float_dev = measure()
    theta = model.theta.detach().cpu().double().numpy()
    quantize = {"kmeans": quantize_kmeans, "uniform": quantize_uniform}[quantizer]
    q = quantize(theta, levels).with_float16_codebook()
    n_lambda = model.num_lambdas
    with torch.no_grad():
        model.theta.copy_(torch.from_numpy(q.values()))
        if n_lambda:
            model.lambdas.copy_(model.lambdas.half().float())
    q_train, q_dev = measure()
    charge = SEED_BITS + LAMBDA_BITS * n_lambda + float(extra_bits)
    probs = symbol_probs(q)

    def report(more_bits: float = 0.0) -> list[dict[str, Any]]:
        return bound_report(
            q.d,
            run.m,
            1.0 - q_train,
            levels=levels,
            delta=delta,
            n_candidate_d=n_candidate_d,
            extra_bits=charge + more_bits,
            symbol_probs=probs,
        )

    rows = report()
    code_choice_bits = math.log2(len({r["code"] for r in rows if r["code"] != "-"}))
    best_bound = min(r["bound"] for r in report(code_choice_bits) if r["certified"])
    result = {
        "run_id": run_id,
        "settings": {
            "levels": int(levels),
            "quantizer": quantizer,
            "delta": float(delta),
            "n_candidate_d": int(n_candidate_d),
            "extra_bits": float(extra_bits),
            "seed_bits": SEED_BITS,
            "lambda_bits": LAMBDA_BITS,
            "codebook": "float16",
        },
        "model": spec.model,
        "task": task.name,
        "method": spec.method,
        "dim": spec.dim,
        "m": run.m,
        "d_quantized": q.d,
        "n_lambda": n_lambda,
        "message_bits": float(message_length_bits(q)),
        "train_accuracy_float": float_train,
        "dev_accuracy_float": float_dev,
        "train_accuracy_quantized": q_train,
        "dev_accuracy_quantized": q_dev,
        "best_bound": best_bound,
        "code_choice_bits": code_choice_bits,
        "rows": rows,
        "title": (
            f"{spec.model} / {task.name} / {spec.method} d={spec.dim}: θ_d quantized to "
            f"{levels} levels ({quantizer}); train acc {float_train:.4f} → {q_train:.4f}, "
            f"dev acc {float_dev:.4f} → {q_dev:.4f}; m = {run.m}"
        ),
    }
    if save:
        store.put_bound(result)
    return result
