"""Certified bounds under a protocol declared before training (numpy / scipy; no torch import).

A *protocol* (``data/certificates/<name>.json``, explained in ``docs/certificate.md``) fixes
everything the prior may depend on before any training on the task's training set: θ₀ (model
files by SHA-256), the projection seed, the training and evaluation settings, the quantizer and
the codebook / λ precisions, δ, the headline bound and the **declared list of candidate
configurations** (the Cartesian product of ``grid``, in the file's key order). Choosing one
candidate after seeing the data costs ``log2(#candidates)`` bits (a uniform, fixed-length hence
prefix-free code over the list). A configuration outside the list is refused.

:func:`certify` takes, for one declared candidate, what was measured on its quantized and
coded model — the message length split into its parts (:class:`MessageBits`), the exact error
count k on all m training examples, the dev error count — and returns a record with every
bound row, ready for :func:`save_certificate` (``bounds.jsonl`` of the results store). The
record holds every input needed to recompute it (``tests/test_certify.py`` does so with an
independent implementation), and the coded message itself (:class:`idtheory.compress.Message`),
from which the certified model can be rebuilt without the training artifacts.

The training side (:func:`run_protocol`) serves both declared routes of quantization training:
``retune`` trains θ_d in float, quantizes it by k-means and retunes the centroids on the training
loss (:data:`RETUNE_DEFAULTS`); ``ste`` trains with ``TrainConfig.quantize_levels`` (a
straight-through estimator, :class:`idtheory.quantize.StraightThrough`), one training per level
count. Either way the errors counted are those of the model decoded from the message.

Units: bits unless a name ends in ``_nats``; errors are fractions or integer counts (``k``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from idtheory.bounds import (
    LN2,
    catoni_bound_opt,
    occam_bound,
    pac_bayes_kl_bound,
    prefix_code_bits,
    test_set_bound,
)

__all__ = [
    "DECLARED",
    "PROTOCOL_DIR",
    "REFERENCE_LR",
    "RETUNE_DEFAULTS",
    "ROUTES",
    "Candidate",
    "Measurement",
    "MessageBits",
    "Protocol",
    "UndeclaredCandidate",
    "certificate_rows",
    "certificate_settings",
    "certify",
    "certify_command",
    "declared_for",
    "decoded_errors",
    "format_certificate",
    "full_dev_error",
    "load_protocol",
    "message_bits",
    "no_certificate_message",
    "plan",
    "quantize_candidate",
    "reference_spec",
    "retuned",
    "run_protocol",
    "run_spec_for",
    "save_certificate",
    "stored_certificates",
]

#: Where declared protocols live (one JSON file per protocol).
PROTOCOL_DIR = Path(__file__).resolve().parents[1] / "data" / "certificates"

#: SHA-256 of each declared protocol's canonical JSON, fixed when it was declared: a protocol
#: edited afterwards no longer loads by name (certificates must not follow the results).
DECLARED: dict[str, str] = {
    "sst2-minilm": "c9f1df1518b356161dd369eb072a98de8e95e671275266ca8b9237cd2ffcf16c",
}

#: The bound rows of a certificate, in print order (the headline is one of them).
ROWS = ("occam_binomial", "occam_kl", "pac_bayes_kl", "catoni")

#: The ways quantization enters training (``Candidate.quant_training``).
ROUTES = ("retune", "ste")

#: Codebook retuning of the ``retune`` route when the protocol has no ``"retune"`` entry
#: (``docs/certificate.md`` §2): ``steps`` Adam steps at ``lr_factor`` × the candidate's
#: learning rate, decayed linearly to 0, batches of ``batch_size`` in an order seeded by
#: ``seed`` (:func:`idtheory.train.retune_codebook`). Like the training settings these choose
#: which h is coded, not the prior.
RETUNE_DEFAULTS: dict[str, Any] = {"steps": 200, "lr_factor": 0.1, "batch_size": 32, "seed": 0}

#: Learning rate of the full fine-tuning reference (:func:`reference_spec`): the better of the
#: quick and real scales' full fine-tuning rates (1e-4, 5e-5) for ``minilm-l6`` on SST-2, MRPC
#: and RTE in the committed store. A reference only: it enters no bound.
REFERENCE_LR = 1e-4


class UndeclaredCandidate(ValueError):
    """A configuration that is not in the protocol's declared candidate list."""


@dataclass(frozen=True)
class Candidate:
    """One declared configuration: what is trained, and how its θ_d is quantized.

    ``dim`` is d (SAID's λ counted inside it); ``levels`` the codebook size L;
    ``quant_training`` how quantization enters training (``"retune"``: quantize the trained
    θ_d, then retune the codebook; ``"ste"``: straight-through quantization-aware training).
    """

    model: str
    method: str
    dim: int
    lr: float
    levels: int
    quant_training: str

    @property
    def key(self) -> str:
        """A readable unique name, e.g. ``minilm-l6/said/d500/lr0.1/L16/retune``."""
        return (
            f"{self.model}/{self.method}/d{self.dim}/lr{self.lr:g}/L{self.levels}/"
            f"{self.quant_training}"
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Candidate:
        return cls(
            str(d["model"]),
            str(d["method"]),
            int(d["dim"]),
            float(d["lr"]),
            int(d["levels"]),
            str(d["quant_training"]),
        )


def _canonical_sha256(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Protocol:
    """A declared certificate protocol (see the module docstring and ``docs/certificate.md``).

    ``spec`` is the protocol's JSON object; ``candidates`` the declared list (the product of
    ``spec["grid"]`` in its key order); ``sha256`` the hash of ``spec``'s canonical JSON.
    """

    spec: dict[str, Any]
    candidates: tuple[Candidate, ...]
    sha256: str

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Protocol:
        grid = spec["grid"]
        fields = ("model", "method", "dim", "lr", "levels", "quant_training")
        if set(grid) != set(fields):
            raise ValueError(f"protocol grid must have exactly the keys {fields}, got {list(grid)}")
        if spec.get("selection_code") != "uniform":
            raise ValueError("only the uniform selection code over the declared list is supported")
        if spec.get("headline") not in ROWS:
            raise ValueError(f"protocol headline must be one of {ROWS}")
        routes = set(grid["quant_training"]) - set(ROUTES)
        if routes:
            raise ValueError(f"unknown quant_training {sorted(routes)}; known: {ROUTES}")
        combos = itertools.product(*(grid[k] for k in grid))
        cands = tuple(Candidate.from_dict(dict(zip(grid, c))) for c in combos)
        if len(set(cands)) != len(cands):
            raise ValueError("the declared grid lists a configuration twice")
        return cls(spec, cands, _canonical_sha256(spec))

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def m(self) -> int:
        """Number of training examples the certificate is evaluated on (the whole set)."""
        return int(self.spec["m"])

    @property
    def delta(self) -> float:
        return float(self.spec["delta"])

    def index(self, candidate: Candidate) -> int:
        """Position of ``candidate`` in the declared list; refuses an undeclared one."""
        try:
            return self.candidates.index(candidate)
        except ValueError:
            raise UndeclaredCandidate(
                f"{candidate.key} is not declared in protocol {self.name!r} "
                f"({len(self.candidates)} candidates; see data/certificates/{self.name}.json)"
            ) from None

    def selection_bits(self, candidate: Candidate) -> float:
        """Bits of the uniform code naming ``candidate`` in the declared list: log2 N."""
        self.index(candidate)
        return math.log2(len(self.candidates))


def declared_for(model: str, task: str) -> str:
    """The name of the declared protocol certifying ``model`` on ``task`` (the first in
    :data:`DECLARED`); ValueError when none is declared."""
    for name in DECLARED:
        spec = load_protocol(name).spec
        if spec["task"] == task and spec["theta0"]["model"] == model:
            return name
    raise ValueError(f"no declared protocol for --model {model} --task {task}")


def certify_command(protocol: Protocol) -> str:
    """The command that runs ``protocol`` and prints its certificate: ``idtheory certify
    --model M --task T`` for the declared protocol of M and T, else ``--protocol NAME``."""
    model, task = protocol.spec["theta0"]["model"], protocol.spec["task"]
    try:
        if declared_for(model, task) == protocol.name:
            return f"idtheory certify --model {model} --task {task}"
    except ValueError:
        pass
    return f"idtheory certify --protocol {protocol.name}"


def no_certificate_message() -> str:
    """What a view of the certificates says while the store holds none: the command of every
    declared protocol."""
    commands = " or ".join(f"`{certify_command(load_protocol(n))}`" for n in DECLARED)
    return f"no certificate stored yet — run {commands}"


def load_protocol(name_or_path: str | Path) -> Protocol:
    """A protocol by declared name (hash-checked against :data:`DECLARED`) or by JSON path
    (not hash-checked: for tests and drafts)."""
    path = Path(name_or_path)
    if str(name_or_path) in DECLARED:
        path = PROTOCOL_DIR / f"{name_or_path}.json"
    elif not path.is_file():
        raise ValueError(f"no declared protocol {name_or_path!r}; declared: {sorted(DECLARED)}")
    protocol = Protocol.from_dict(json.loads(path.read_text()))
    expected = DECLARED.get(str(name_or_path))
    if expected is not None and protocol.sha256 != expected:
        raise ValueError(
            f"protocol {name_or_path!r} was edited after its declaration (sha256 "
            f"{protocol.sha256[:12]}… ≠ declared {expected[:12]}…): declare a new protocol"
        )
    return protocol


@dataclass(frozen=True)
class MessageBits:
    """The description of a coded subspace model, in bits, part by part.

    ``theta_symbols``: the arithmetic-coded symbols of θ_d (``ceil(n·H) + 1``);
    ``counts``: the symbol counts the decoder needs (L·ceil(log2(n + 1)));
    ``codebook``: L centroids (L·codebook_bits); ``lambdas``: SAID's λ (#λ·lambda_bits, a
    fixed-length field); ``selection``: log2 N for the candidate's index in the declared list.
    The variable-length part (symbols + counts + codebook, l bits) is charged ``l + 2 log2 l``
    (:func:`idtheory.bounds.prefix_code_bits`); the projection seed and θ₀ are fixed by the
    protocol and cost nothing.
    """

    theta_symbols: float
    counts: float
    codebook: float
    lambdas: float
    selection: float

    @property
    def payload(self) -> float:
        """l: the variable-length part (symbols + counts + codebook)."""
        return self.theta_symbols + self.counts + self.codebook

    @property
    def prefix(self) -> float:
        """2 log2 l: the cost of making the variable-length part prefix-free."""
        return float(prefix_code_bits(self.payload)) - self.payload

    @property
    def total(self) -> float:
        """Bits charged: prefix-coded payload + λ + selection."""
        return self.payload + self.prefix + self.lambdas + self.selection

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "prefix": self.prefix, "total": self.total}


def message_bits(
    quantized: Any, n_lambda: int, selection: float, codebook_bits: int, lambda_bits: int
) -> MessageBits:
    """:class:`MessageBits` of a :class:`idtheory.compress.Quantized` θ_d (ideal arithmetic code
    under the empirical symbol frequencies) with ``n_lambda`` λ at ``lambda_bits`` each."""
    from idtheory.compress import ideal_coded_bits

    n, levels = quantized.d, quantized.levels
    return MessageBits(
        theta_symbols=float(ideal_coded_bits(quantized)),
        counts=float(levels * math.ceil(math.log2(n + 1))),
        codebook=float(levels * codebook_bits),
        lambdas=float(n_lambda * lambda_bits),
        selection=float(selection),
    )


def certificate_rows(k: int, m: int, bits: float, delta: float) -> dict[str, dict[str, Any]]:
    """Every bound on the true error of a hypothesis coded in ``bits`` bits (prior 2^−bits)
    that makes k errors on m i.i.d. training examples, each at failure probability δ.

    Rows (fractions): ``occam_binomial`` Bin⁻(m, k, δ·2^−bits) (Langford 2005 Thm 4.1, exact
    tail inversion); ``occam_kl`` kl⁻¹(k/m, (bits·ln2 + ln 1/δ)/m); ``pac_bayes_kl`` Maurer
    (2004) kl⁻¹(k/m, (KL + ln(2√m/δ))/m); ``catoni`` Catoni (2007) with λ chosen on a grid
    paid by Zhou et al. (2019)'s union penalty — KL = bits·ln 2 nats for the point-mass
    posterior on the coded hypothesis.
    """
    err = k / m
    kl_nats = bits * LN2
    catoni, lam = catoni_bound_opt(err, kl_nats, m, delta, union=True)
    return {
        "occam_binomial": {
            "value": float(occam_bound(m, err, bits, delta, method="binomial")),
            "formula": "Bin⁻(m, k, δ·2^-bits) [Langford 2005 Thm 4.1]",
        },
        "occam_kl": {
            "value": float(occam_bound(m, err, bits, delta, method="kl")),
            "formula": "kl⁻¹(k/m, (bits·ln2 + ln 1/δ)/m) [Langford 2005 Thm 4.1]",
        },
        "pac_bayes_kl": {
            "value": float(pac_bayes_kl_bound(err, kl_nats, m, delta)),
            "formula": "kl⁻¹(k/m, (bits·ln2 + ln(2√m/δ))/m) [Maurer 2004]",
        },
        "catoni": {
            "value": float(catoni),
            "lam": float(lam),
            "formula": "Catoni 2007 Thm 1.2.6, λ-grid union penalty (α=1e-4) [Zhou et al. 2019]",
        },
    }


def certify(
    protocol: Protocol,
    candidate: Candidate | dict[str, Any],
    *,
    bits: MessageBits,
    train_errors: int,
    m: int,
    dev_errors: int,
    dev_m: int,
    full_dev_error: float | None = None,
    run_id: str | None = None,
    message: dict[str, Any] | None = None,
    quantization: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The certificate record of one declared candidate's quantized, coded model.

    Args:
        protocol: the declared protocol; ``candidate`` must be in its list (else
            :class:`UndeclaredCandidate`) and ``bits.selection`` must be its selection charge.
        bits: the message length, part by part.
        train_errors: k, the coded model's exact number of errors on all m training examples;
            ``m`` must equal the protocol's m (no subsample).
        dev_errors, dev_m: its errors on the dev set (a reference, and a held-out test-set
            bound: valid since the dev set chose nothing).
        full_dev_error: dev error of full fine-tuning of the same model (a reference).
        run_id: the stored training run the coded model comes from.
        message: the coded message (:meth:`idtheory.compress.Message.to_dict`), kept in the
            record so the certified model can be rebuilt from it alone.
        quantization: how the route produced the codebook (kept for the report).

    Returns a record for :func:`save_certificate`: the inputs, ``rows`` (bound name →
    ``{value, formula}``), ``certificate`` (the headline row's value) and the references.
    """
    cand = candidate if isinstance(candidate, Candidate) else Candidate.from_dict(candidate)
    index = protocol.index(cand)
    if m != protocol.m:
        raise ValueError(
            f"m = {m} but protocol {protocol.name!r} certifies the error on all {protocol.m} "
            "training examples: evaluate the coded model on the whole training set"
        )
    for name, count, total in (
        ("train_errors", train_errors, m),
        ("dev_errors", dev_errors, dev_m),
    ):
        if not (isinstance(count, int) and 0 <= count <= total):
            raise ValueError(f"{name} must be an integer count in [0, {total}], got {count!r}")
    selection = protocol.selection_bits(cand)
    if not math.isclose(bits.selection, selection, rel_tol=0, abs_tol=1e-9):
        raise ValueError(
            f"bits.selection = {bits.selection} but the declared charge is {selection}"
        )
    delta = protocol.delta
    rows = certificate_rows(train_errors, m, bits.total, delta)
    return {
        "run_id": run_id or f"certificate:{cand.key}",
        "settings": certificate_settings(protocol, cand),
        "candidate": asdict(cand),
        "candidate_index": index,
        "n_candidates": len(protocol.candidates),
        "delta": delta,
        "m": m,
        "train_errors": train_errors,
        "train_error": train_errors / m,
        "bits": bits.as_dict(),
        "rows": rows,
        "headline": protocol.spec["headline"],
        "certificate": rows[protocol.spec["headline"]]["value"],
        "dev_m": dev_m,
        "dev_errors": dev_errors,
        "dev_error": dev_errors / dev_m,
        "dev_test_set_bound": float(test_set_bound(dev_m, dev_errors, delta)),
        "full_dev_error": full_dev_error,
        "quantization": quantization,
        "message": message,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def certificate_settings(protocol: Protocol, candidate: Candidate) -> dict[str, str]:
    """The ``settings`` of a certificate record: with the run id, its key in the store."""
    return {
        "kind": "certificate",
        "protocol": protocol.name,
        "protocol_sha256": protocol.sha256,
        "candidate": candidate.key,
    }


def save_certificate(store: Any, record: dict[str, Any]) -> dict[str, Any]:
    """Append ``record`` to the store's ``bounds.jsonl`` (key: run id + settings)."""
    return store.put_bound(record)


def stored_certificates(store: Any, protocol: Protocol | None = None) -> list[dict[str, Any]]:
    """The certificate records of the store (``bounds.jsonl``, settings kind "certificate"),
    of ``protocol`` only when given (same name and SHA-256), best (lowest) first.

    Each record's ``full_dev_error`` is read from the store now (:func:`full_dev_error` of its
    protocol: ``protocol``, else the declared one of that name), so a reference trained after
    the certificate shows beside it; the record's own value is kept when the store has none.
    The reference enters no bound, and the store is not changed.
    """
    protocols: dict[str, Protocol | None] = {}
    if protocol is not None:
        protocols[protocol.sha256] = protocol
    out = []
    for record in store.bounds():
        settings = record.get("settings") or {}
        if settings.get("kind") != "certificate":
            continue
        sha = settings.get("protocol_sha256")
        if protocol is not None and sha != protocol.sha256:
            continue
        if sha not in protocols:
            name = settings.get("protocol")
            declared = name in DECLARED and DECLARED[name] == sha
            protocols[sha] = load_protocol(name) if declared else None
        out.append(_with_reference(record, protocols[sha], store))
    return sorted(out, key=lambda r: r["certificate"])


def _with_reference(
    record: dict[str, Any], protocol: Protocol | None, store: Any
) -> dict[str, Any]:
    """``record`` with the store's current full fine-tuning dev error, when it has one."""
    current = None if protocol is None else full_dev_error(protocol, store)
    return record if current is None else {**record, "full_dev_error": current}


def format_certificate(record: dict[str, Any]) -> str:
    """The certificate as text: bits part by part, then every bound beside the dev errors."""
    b, c = record["bits"], record["candidate"]
    settings = record["settings"]
    lines = [
        f"Certificate ({settings['protocol']}, candidate {record['candidate_index'] + 1} of "
        f"{record['n_candidates']}: {settings['candidate']})",
        f"  training errors k = {record['train_errors']} of m = {record['m']} "
        f"(ê = {record['train_error']:.4f}); δ = {record['delta']:g}",
        f"  bits: θ_d symbols {b['theta_symbols']:,.0f} + counts {b['counts']:,.0f} + codebook "
        f"{b['codebook']:,.0f} + prefix {b['prefix']:,.1f} + λ {b['lambdas']:,.0f} + selection "
        f"{b['selection']:.2f} = {b['total']:,.1f}",
        "",
        f"  {'bound':<16} {'value':>8}",
    ]
    for name, row in record["rows"].items():
        mark = "  ← certificate" if name == record["headline"] else ""
        lines.append(f"  {name:<16} {row['value']:>8.4f}{mark}")
    full = record.get("full_dev_error")
    lines += [
        "",
        f"  dev error of this coded model   {record['dev_error']:.4f} "
        f"(test-set bound on {record['dev_m']} dev examples: {record['dev_test_set_bound']:.4f})",
        f"  dev error, full fine-tuning     {'-' if full is None else f'{full:.4f}'}",
        f"  method {c['method']}, d = {c['dim']}, lr {c['lr']:g}, L = {c['levels']}, "
        f"{c['quant_training']}",
    ]
    quant = record.get("quantization") or {}
    if quant.get("route") == "retune":
        lines.append(
            f"  codebook: {quant['kept']} kept (training errors: k-means "
            f"{quant['kmeans_train_errors']}, retuned {quant['retuned_train_errors']})"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- training side


def run_spec_for(protocol: Protocol, candidate: Candidate) -> Any:
    """The :class:`idtheory.config.RunSpec` that trains ``candidate``: for ``retune`` the float
    training shared by every level count; for ``ste`` the quantization-aware training at the
    candidate's L (``TrainConfig.quantize_levels``)."""
    from idtheory.config import RunSpec, SubspaceConfig, TrainConfig

    protocol.index(candidate)
    levels = candidate.levels if candidate.quant_training == "ste" else None
    return RunSpec(
        model=candidate.model,
        task=str(protocol.spec["task"]),
        train=TrainConfig(lr=candidate.lr, quantize_levels=levels, **protocol.spec["train"]),
        subspace=SubspaceConfig(
            dim=candidate.dim, method=candidate.method, **protocol.spec["subspace"]
        ),
    )


def plan(protocol: Protocol, store: Any) -> list[dict[str, Any]]:
    """The declared trainings, one row per distinct run: ``run_id``, ``status`` (``stored`` /
    ``missing``), method, d, lr, ``route``, ``levels`` (L for ``ste``, None for ``retune``) and
    the candidates it serves."""
    rows: dict[str, dict[str, Any]] = {}
    for cand in protocol.candidates:
        spec = run_spec_for(protocol, cand)
        row = rows.setdefault(
            spec.config_hash(),
            {
                "run_id": spec.config_hash(),
                "method": cand.method,
                "dim": cand.dim,
                "lr": cand.lr,
                "route": cand.quant_training,
                "levels": spec.train.quantize_levels,
                "status": "missing" if store.needs_training(spec) else "stored",
                "candidates": [],
            },
        )
        row["candidates"].append(cand)
    return list(rows.values())


@dataclass(frozen=True)
class Measurement:
    """A candidate's coded model, measured: its bits, its exact error counts (of the model
    decoded from ``message``), the message (:meth:`idtheory.compress.Message.to_dict`) and how
    the route produced the codebook (``quantization``)."""

    bits: MessageBits
    train_errors: int
    dev_errors: int
    message: dict[str, Any]
    quantization: dict[str, Any]


def decoded_errors(run: Any, q: Any) -> tuple[Any, int, int]:
    """Encode ``q`` and the run's λ, rebuild θ_d and λ from the message alone, set them into
    ``run.model`` and count its errors on the training and dev sets; the model is restored.
    Returns (message, training errors, dev errors)."""
    import torch

    from idtheory.compress import decode_message, encode_message

    model = run.model
    lambdas = None if model.lambdas is None else model.lambdas.detach().cpu().double().numpy()
    message = encode_message(q, lambdas)
    theta, lam = decode_message(message)
    saved = [p.detach().clone() for p in (model.theta, model.lambdas) if p is not None]
    try:
        with torch.no_grad():
            model.theta.copy_(torch.from_numpy(theta))
            if model.lambdas is not None:
                model.lambdas.copy_(torch.from_numpy(lam))
        return message, run.errors("train"), run.errors("dev")
    finally:
        with torch.no_grad():
            for param, value in zip((model.theta, model.lambdas), saved):
                param.copy_(value)


def _retune_settings(protocol: Protocol, candidate: Candidate) -> dict[str, Any]:
    settings = {**RETUNE_DEFAULTS, **protocol.spec.get("retune", {})}
    return {**settings, "lr": settings["lr_factor"] * candidate.lr}


def quantize_candidate(protocol: Protocol, candidate: Candidate, run: Any) -> Measurement:
    """Quantize a trained run's θ_d as ``candidate``'s route declares and measure the decoded
    model (``run``: an :class:`idtheory.compress.StoredRun`, left as it was).

    * ``ste``: the run was trained quantized, so its θ_d already holds at most L float16
      values; the protocol's k-means reproduces them exactly (refused otherwise).
    * ``retune``: k-means (the protocol's seed), codebook rounded to float16, then the
      centroids retuned on the training loss (:func:`idtheory.train.retune_codebook`, settings
      :data:`RETUNE_DEFAULTS` or the protocol's ``"retune"``). Of the two codebooks the one
      whose decoded model makes fewer training errors is kept (k-means on a tie): the Occam
      bound holds for every coded h at once, and both are messages of the same code with the
      same bits, so the choice costs nothing.
    """
    from idtheory.quantize import kmeans_float16

    quant = protocol.spec["quantization"]
    if quant["quantizer"] != "kmeans" or quant["codebook_bits"] != 16:
        raise ValueError("only k-means with a float16 codebook is implemented")
    if quant["lambda_bits"] != 16:
        raise ValueError("only float16 λ is implemented")
    theta = run.model.theta.detach().cpu().double().numpy()
    q = kmeans_float16(theta, candidate.levels, seed=quant["kmeans_seed"])
    info: dict[str, Any] = {"route": candidate.quant_training}
    if candidate.quant_training == "ste" and not np.array_equal(q.values(), theta):
        raise ValueError(
            f"run {run.run_id} is not a quantization-aware training at L = {candidate.levels} "
            "(its θ_d is not a float16 k-means quantization of itself)"
        )
    message, k_train, k_dev = decoded_errors(run, q)
    if candidate.quant_training == "retune":
        settings = _retune_settings(protocol, candidate)
        tuned = retuned(run, q, settings)
        t_message, t_train, t_dev = decoded_errors(run, tuned)
        info.update(retune=settings, kmeans_train_errors=k_train, retuned_train_errors=t_train)
        info["kept"] = "retuned" if t_train < k_train else "kmeans"
        if t_train < k_train:
            q, message, k_train, k_dev = tuned, t_message, t_train, t_dev
    bits = message_bits(
        q,
        run.model.num_lambdas,
        protocol.selection_bits(candidate),
        quant["codebook_bits"],
        quant["lambda_bits"],
    )
    return Measurement(bits, k_train, k_dev, message.to_dict(), info)


def retuned(run: Any, q: Any, settings: dict[str, Any]) -> Any:
    """``q`` with its codebook retuned on the run's training examples (``settings``)."""
    from idtheory.train import retune_codebook

    return retune_codebook(
        run.model,
        run.examples["train"],
        q,
        steps=int(settings["steps"]),
        lr=float(settings["lr"]),
        batch_size=int(settings["batch_size"]),
        seed=int(settings["seed"]),
        pad_id=run.pad_id,
    )


def reference_spec(protocol: Protocol, lr: float = REFERENCE_LR) -> Any:
    """The :class:`idtheory.config.RunSpec` of the full fine-tuning reference printed beside the
    certificate: the protocol's θ₀ model, task and training settings (epochs, batches, the
    whole training set, precision, seed), every parameter trained at ``lr``
    (:data:`REFERENCE_LR`). :func:`full_dev_error` finds it once stored."""
    from idtheory.config import RunSpec, TrainConfig

    return RunSpec(
        model=str(protocol.spec["theta0"]["model"]),
        task=str(protocol.spec["task"]),
        train=TrainConfig(lr=lr, **protocol.spec["train"]),
    )


def full_dev_error(protocol: Protocol, store: Any) -> float | None:
    """Dev error of the best stored full fine-tuning of the protocol's model on its whole
    training set (a reference printed beside the certificate; :func:`reference_spec` trains
    one), or None."""
    runs = store.records(
        model=protocol.spec["theta0"]["model"],
        task=protocol.spec["task"],
        method="full",
        status="ok",
        **{"train.max_train_examples": protocol.spec["train"].get("max_train_examples")},
    )
    accs = [r["metrics"]["dev"]["accuracy"] for r in runs if r["metrics"]["dev"]]
    return 1.0 - max(accs) if accs else None


def run_protocol(
    protocol: Protocol,
    store: Any,
    *,
    only: Collection[str] | None = None,
    data_dir: str | None = None,
    artifacts_dir: str | None = None,
) -> list[dict[str, Any]]:
    """Train what the plan misses (resumable: each training is stored), then certify every
    candidate whose training is stored, reusing certificates already in the store.
    ``only``: run ids of the plan to train (others missing are skipped), so that several
    processes or machines can share the plan's trainings; unknown ids raise ``ValueError``.
    Returns the certificate records, best (lowest) first."""
    from idtheory.compress import load_subspace_run
    from idtheory.search import default_train_fn

    artifacts = str(artifacts_dir or store.params_dir)
    trainer = default_train_fn(store, data_dir=data_dir, artifacts_dir=artifacts)
    reference = full_dev_error(protocol, store)
    rows = plan(protocol, store)
    unknown = sorted(set(only or ()) - {r["run_id"] for r in rows})
    if unknown:
        raise ValueError(
            f"run ids not in the plan of {protocol.name}: {', '.join(unknown)} "
            "(`idtheory certify --dry-run` lists them)"
        )
    records = []
    for row in rows:
        if row["status"] == "missing" and only and row["run_id"] not in only:
            continue
        stored = store.run(run_spec_for(protocol, row["candidates"][0]), trainer)
        if stored.get("status") != "ok":
            continue
        run = None
        for cand in row["candidates"]:
            settings = certificate_settings(protocol, cand)
            done = [b for b in store.bounds(run_id=stored["run_id"]) if b["settings"] == settings]
            if done:
                records.append(_with_reference(done[-1], protocol, store))
                continue
            if run is None:
                run = load_subspace_run(
                    stored["run_id"], store=store, data_dir=data_dir, artifacts_dir=artifacts
                )
            measured = quantize_candidate(protocol, cand, run)
            record = certify(
                protocol,
                cand,
                bits=measured.bits,
                train_errors=measured.train_errors,
                m=run.m,
                dev_errors=measured.dev_errors,
                dev_m=len(run.examples["dev"]),
                full_dev_error=reference,
                run_id=stored["run_id"],
                message=measured.message,
                quantization=measured.quantization,
            )
            records.append(save_certificate(store, record))
    return sorted(records, key=lambda r: r["certificate"])
