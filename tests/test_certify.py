"""Audit tests for idtheory.certify: every stored certificate is recomputed from its stored inputs
with an implementation independent of idtheory.bounds (exact binomial tail inversion in pure
Python), and must not be tighter than it; undeclared configurations are refused."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from idtheory import certify as C
from idtheory.store import ResultsStore

REPO = Path(__file__).resolve().parents[1]
PROTOCOL = C.load_protocol("sst2-minilm")


# ---------------------------------------------------------------- independent implementation


def _log_binomial_cdf(m: int, k: int, p: float) -> float:
    """ln Σ_{j≤k} C(m, j) p^j (1−p)^(m−j), summed in log space from the largest term down."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 0.0 if k >= m else -math.inf
    lp, lq = math.log(p), math.log1p(-p)
    logs = [
        math.lgamma(m + 1) - math.lgamma(j + 1) - math.lgamma(m - j + 1) + j * lp + (m - j) * lq
        for j in range(k + 1)
    ]
    top = max(logs)
    return top + math.log(sum(math.exp(v - top) for v in logs))


def binomial_inversion_bracket(m: int, k: int, log_delta: float) -> tuple[float, float]:
    """[lo, hi] ∋ max{p : Bin(m, k, p) ≥ δ}, at most 2^-60 wide, by bisection on the tail."""
    if k >= m:
        return 1.0, 1.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _log_binomial_cdf(m, k, mid) >= log_delta:
            lo = mid
        else:
            hi = mid
    return lo, hi


def _kl(q: float, p: float) -> float:
    """kl(q‖p) in nats, from the relative gaps (no cancellation where p is near q)."""
    if p in (0.0, 1.0):
        return 0.0 if p == q else math.inf
    up = -q * math.log1p((p - q) / q) if q > 0 else 0.0
    down = -(1 - q) * math.log1p((q - p) / (1 - q)) if q < 1 else 0.0
    return up + down


def kl_inversion_bracket(q: float, c: float) -> tuple[float, float]:
    """[lo, hi] ∋ max{p ∈ [q, 1] : kl(q‖p) ≤ c}, at most 2^-60 wide."""
    lo, hi = q, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _kl(q, mid) <= c:
            lo = mid
        else:
            hi = mid
    return lo, hi


def catoni_union_value(q: float, kl_nats: float, m: int, delta: float, lam: float) -> float:
    """Catoni's bound at λ with the λ-grid union penalty (Zhou et al. 2019, α = 1e-4): valid at
    every λ ≥ 1, so a stored value must be at least this at its stored λ."""
    alpha, g = 1e-4, math.log(lam)
    penalty = kl_nats + math.log(1 / delta) + 2 * math.log(2 + g / math.log1p(alpha))
    x = q + (1 + alpha) * penalty / lam
    gamma = lam / m
    return math.expm1(-gamma * x) / math.expm1(-gamma)


def audit(record: dict, protocol: C.Protocol | None = None) -> None:
    """Recompute a stored certificate from its stored inputs; fail if a stored value is tighter
    than the independent one, or if the inputs do not match the declared protocol."""
    protocol = protocol or C.load_protocol(record["settings"]["protocol"])
    assert record["settings"]["protocol_sha256"] == protocol.sha256
    cand = C.Candidate.from_dict(record["candidate"])
    assert protocol.candidates[record["candidate_index"]] == cand
    assert record["m"] == protocol.m and record["delta"] == protocol.delta
    bits = record["bits"]
    assert bits["selection"] >= math.log2(len(protocol.candidates)) - 1e-9
    payload = bits["theta_symbols"] + bits["counts"] + bits["codebook"]
    total = payload + 2 * math.log2(payload) + bits["lambdas"] + bits["selection"]
    assert bits["total"] >= total - 1e-6, (
        f"{bits['total']} bits under-charged: parts sum to {total}"
    )
    if record.get("message"):
        audit_message(record)
    log_delta = math.log(record["delta"]) - total * math.log(2)
    m, k = record["m"], record["train_errors"]
    lo, _ = binomial_inversion_bracket(m, k, log_delta)
    head = record["rows"][record["headline"]]["value"]
    assert head == record["certificate"]
    for name, row in record["rows"].items():
        # every row of the certificate is at least the exact Occam binomial bound
        assert row["value"] >= lo, f"{name} = {row['value']} is tighter than exact {lo}"
    kl_nats = total * math.log(2)
    budgets = {  # each kl row, its budget in nats per example
        "occam_kl": (kl_nats + math.log(1 / record["delta"])) / m,
        "pac_bayes_kl": (kl_nats + math.log(2 * math.sqrt(m) / record["delta"])) / m,
    }
    for name, c in budgets.items():
        lo_kl, _ = kl_inversion_bracket(k / m, c)
        value = record["rows"][name]["value"]
        assert value >= lo_kl and value == pytest.approx(lo_kl, rel=1e-9), (name, value, lo_kl)
    catoni = record["rows"]["catoni"]
    exact = catoni_union_value(k / m, kl_nats, m, record["delta"], catoni["lam"])
    assert catoni["value"] == pytest.approx(exact, rel=1e-12), ("catoni", catoni["value"], exact)


def audit_message(record: dict) -> None:
    """The stored message decodes, and the bits charged cover it part by part (entropy of its
    counts recomputed here in pure Python)."""
    from idtheory.compress import Message, decode_message

    message = Message.from_dict(record["message"])
    counts = [int(c) for c in message.counts]
    n, levels = sum(counts), len(counts)
    theta, lambdas = decode_message(message)
    assert len(theta) == n and len(lambdas) * 16 <= record["bits"]["lambdas"]
    assert levels == record["candidate"]["levels"]
    info = -sum(c * math.log2(c / n) for c in counts if c)
    bits = record["bits"]
    assert bits["theta_symbols"] == math.ceil(info - 1e-9) + 1  # the code's ⌈n·H⌉ + 1
    assert bits["counts"] >= levels * math.ceil(math.log2(n + 1))
    assert bits["codebook"] >= 16 * levels


# ---------------------------------------------------------------- worked examples (bounds.md)


@pytest.mark.parametrize(
    ("m", "k", "bits", "value"),
    [
        (1000, 50, 0, 0.0628634),  # E3
        (1000, 0, 0, 0.00299125),
        (3668, 367, 0, 0.108578),
        (100, 10, 0, 0.163718),
        (1000, 50, 10, 0.0822496),  # E4
        (1000, 0, 20, 0.0167174),
    ],
)
def test_independent_inversion_matches_worked_examples(m, k, bits, value):
    lo, hi = binomial_inversion_bracket(m, k, math.log(0.05) - bits * math.log(2))
    assert lo == pytest.approx(value, rel=1e-5) and hi - lo < 1e-15
    rows = C.certificate_rows(k, m, float(bits), 0.05)
    assert rows["occam_binomial"]["value"] == pytest.approx(value, rel=1e-5)


def test_rows_match_e4_kl_and_ordering():
    rows = C.certificate_rows(50, 1000, 10.0, 0.05)
    assert rows["occam_kl"]["value"] == pytest.approx(0.0867454, rel=1e-5)
    v = {k: r["value"] for k, r in rows.items()}
    assert v["occam_binomial"] <= v["occam_kl"] <= v["catoni"]
    assert v["occam_kl"] <= v["pac_bayes_kl"]


# ---------------------------------------------------------------- the declared protocol


def test_declared_protocol_is_frozen_and_small():
    assert len(PROTOCOL.candidates) == 12
    assert PROTOCOL.m == 67349 and PROTOCOL.delta == 0.05
    assert PROTOCOL.selection_bits(PROTOCOL.candidates[0]) == pytest.approx(math.log2(12))
    # training settings the protocol fixes (docs/certificate.md §2, §8)
    assert PROTOCOL.spec["train"]["epochs"] == 1.0 and PROTOCOL.spec["train"]["precision"] == "fp32"
    assert PROTOCOL.spec["retune"] == C.RETUNE_DEFAULTS


def test_edited_protocol_is_refused(tmp_path, monkeypatch):
    spec = json.loads((C.PROTOCOL_DIR / "sst2-minilm.json").read_text())
    spec["grid"]["dim"].append(4000)
    (tmp_path / "sst2-minilm.json").write_text(json.dumps(spec))
    monkeypatch.setattr(C, "PROTOCOL_DIR", tmp_path)
    with pytest.raises(ValueError, match="edited after its declaration"):
        C.load_protocol("sst2-minilm")


def _bits(selection: float = math.log2(12)) -> C.MessageBits:
    return C.MessageBits(
        theta_symbols=1700.0, counts=144.0, codebook=256.0, lambdas=144.0, selection=selection
    )


CAND = {"model": "minilm-l6", "method": "said", "dim": 500, "lr": 0.3, "levels": 16,
        "quant_training": "retune"}  # fmt: skip


def _certify(**kw):
    args = {"bits": _bits(), "train_errors": 9000, "m": 67349, "dev_errors": 120, "dev_m": 872}
    return C.certify(PROTOCOL, kw.pop("candidate", CAND), **{**args, **kw})


def test_undeclared_configuration_is_refused():
    for change in ({"dim": 300}, {"lr": 0.1}, {"levels": 4}, {"quant_training": "ste"},
                   {"model": "mpnet-base"}):  # fmt: skip
        with pytest.raises(C.UndeclaredCandidate, match="is not declared in protocol") as err:
            _certify(candidate={**CAND, **change})
        assert "\n" not in str(err.value)


def test_subsampled_or_mischarged_inputs_are_refused():
    with pytest.raises(ValueError, match="all 67349 training examples"):
        _certify(m=1000, train_errors=100)
    with pytest.raises(ValueError, match="declared charge"):
        _certify(bits=_bits(selection=0.0))
    with pytest.raises(ValueError, match="train_errors must be an integer count"):
        _certify(train_errors=0.13)


def test_certificate_round_trips_through_the_store_and_passes_the_audit(tmp_path):
    record = _certify(full_dev_error=0.08, run_id="abc")
    assert record["certificate"] == record["rows"]["occam_binomial"]["value"]
    assert record["bits"]["total"] == pytest.approx(
        1700 + 144 + 256 + 2 * math.log2(2100) + 144 + math.log2(12)
    )
    store = ResultsStore(tmp_path)
    C.save_certificate(store, record)
    (stored,) = ResultsStore(tmp_path).bounds(run_id="abc")
    audit(stored)
    text = C.format_certificate(stored)
    assert "← certificate" in text and "full fine-tuning" in text and "θ_d symbols" in text


def test_audit_catches_a_tighter_stored_value(tmp_path):
    record = _certify()
    record["rows"]["occam_binomial"]["value"] -= 1e-6
    record["certificate"] -= 1e-6
    with pytest.raises(AssertionError, match="tighter than exact"):
        audit(record)
    record = _certify()
    record["bits"]["total"] -= 1.0  # under-charged bits
    with pytest.raises(AssertionError, match="bits under-charged"):
        audit(record)


def _stored_certificates() -> list[dict]:
    store = ResultsStore(REPO / "data" / "results")
    return [b for b in store.bounds() if (b.get("settings") or {}).get("kind") == "certificate"]


@pytest.mark.parametrize("record", _stored_certificates(), ids=lambda r: r["settings"]["candidate"])
def test_committed_certificates_pass_the_audit(record):
    audit(record)


def test_every_declared_candidate_has_a_committed_certificate():
    """The README's claim that all twelve declared candidates are certified (and the audit above
    not silently empty)."""
    keys = {r["settings"]["candidate"] for r in _stored_certificates()}
    assert keys == {c.key for c in PROTOCOL.candidates}


def test_import_does_not_pull_torch():
    code = "import sys, idtheory.certify; assert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


TINY_PROTOCOL = {
    "name": "tiny-test",
    "task": "sst2",
    "m": 48,
    "delta": 0.05,
    "headline": "occam_binomial",
    "selection_code": "uniform",
    "theta0": {"model": "tiny-bert"},
    "subspace": {"seed": 0},
    "train": {"epochs": 1.0, "batch_size": 16, "max_length": 32, "seed": 0,
              "max_train_examples": 48, "max_eval_examples": 24, "precision": "fp32"},
    "quantization": {"quantizer": "kmeans", "kmeans_seed": 0, "codebook_bits": 16,
                     "lambda_bits": 16},
    "retune": {"steps": 6, "lr_factor": 1.0, "batch_size": 16, "seed": 0},
    "grid": {"model": ["tiny-bert"], "method": ["said"], "dim": [30], "lr": [0.05],
             "levels": [4, 8], "quant_training": ["retune", "ste"]},
}  # fmt: skip


def _rebuilt_train_errors(record: dict, protocol: C.Protocol, data_dir) -> int:
    """Errors on the protocol's training items of the model rebuilt from the stored message
    alone: a fresh θ₀ and projection, θ_d and λ decoded, nothing read from the training run."""
    import torch

    from idtheory.compress import Message, decode_message
    from idtheory.config import SubspaceConfig
    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model
    from idtheory.tasks import load_task
    from idtheory.train import encode, evaluate

    spec, cand = protocol.spec, record["candidate"]
    theta, lambdas = decode_message(Message.from_dict(record["message"]))
    loaded = load_model(cand["model"], num_labels=2, seed=spec["train"]["seed"])
    sub = SubspaceConfig(dim=cand["dim"], method=cand["method"], **spec["subspace"])
    model = get_subspace_model(loaded.model, sub)
    with torch.no_grad():
        model.theta.copy_(torch.from_numpy(theta))
        model.lambdas.copy_(torch.from_numpy(lambdas))
    train = spec["train"]
    data = load_task(spec["task"], "train", data_dir=data_dir,
                     max_examples=train["max_train_examples"], seed=train["seed"])  # fmt: skip
    examples = encode(loaded.tokenizer, data, train["max_length"])
    acc = evaluate(model, examples, spec["task"], pad_id=loaded.tokenizer.pad_token_id or 0)
    return round((1.0 - acc["accuracy"]) * len(examples))


@pytest.mark.parametrize("route", ["retune", "ste"])
def test_certify_command_end_to_end_on_tiny_bert(route, data_dir, tmp_path, capsys):
    """Each route trains, codes and certifies; the error count certified is that of the model
    a receiver rebuilds from the stored message; a second run resumes without work."""
    from idtheory.cli import main

    path = tmp_path / "tiny.json"
    levels = [4, 8] if route == "retune" else [4]  # ste: one training per L
    grid = {**TINY_PROTOCOL["grid"], "quant_training": [route], "levels": levels}
    path.write_text(json.dumps({**TINY_PROTOCOL, "grid": grid}))
    args = ["certify", "--protocol", str(path), "--results-dir", str(tmp_path / "store"),
            "--data-dir", str(data_dir)]  # fmt: skip
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{len(levels)} declared candidates, 1 trainings" in out and "missing" in out
    assert ("ste L=4" in out) == (route == "ste")  # an ste training names its levels
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "← certificate" in out and "of m = 48" in out
    assert ("codebook:" in out) == (route == "retune")
    store = ResultsStore(tmp_path / "store")
    records = [b for b in store.bounds() if b["settings"]["kind"] == "certificate"]
    assert {r["candidate"]["levels"] for r in records} == set(levels)
    protocol = C.load_protocol(path)
    for record in records:
        audit(record, protocol)
        assert record["bits"]["lambdas"] == 16 * 5  # tiny-bert SAID: 5 λ at float16
        assert record["quantization"]["route"] == route
        assert _rebuilt_train_errors(record, protocol, data_dir) == record["train_errors"]
    if route == "retune":
        for record in records:
            info = record["quantization"]
            kept = min(info["kmeans_train_errors"], info["retuned_train_errors"])
            assert record["train_errors"] == kept
    assert main(args) == 0  # resumes: nothing trained or certified again
    assert "stored " in capsys.readouterr().out
    assert len(ResultsStore(tmp_path / "store").bounds()) == len(levels)


def test_ste_candidate_refuses_a_float_run():
    """A run whose θ_d is not already quantized cannot stand for an ste candidate."""
    from types import SimpleNamespace

    torch = pytest.importorskip("torch")
    model = SimpleNamespace(theta=torch.linspace(-1, 1, 40), lambdas=None, num_lambdas=0)
    run = SimpleNamespace(run_id="float", model=model)
    cand = C.Candidate.from_dict({**CAND, "quant_training": "ste"})
    with pytest.raises(ValueError, match="not a quantization-aware training"):
        C.quantize_candidate(PROTOCOL, cand, run)


def test_every_declared_candidate_has_a_training():
    """No declared candidate is left without a training: 6 float trainings serve the 12
    retune candidates (both level counts of each method and d)."""

    class _Empty:
        def needs_training(self, spec):
            return True

    rows = C.plan(PROTOCOL, _Empty())
    assert sum(len(r["candidates"]) for r in rows) == 12
    assert {r["status"] for r in rows} == {"missing"}
    assert [r["route"] for r in rows] == ["retune"] * 6
    for row in rows:
        assert [c.levels for c in row["candidates"]] == [8, 16] and row["levels"] is None


# ---------------------------------------------------------------- the full fine-tuning reference


def test_certify_help_documents_every_option():
    from idtheory.cli import build_parser

    parser = build_parser(["certify"])
    sub = next(a for a in parser._actions if a.dest == "command").choices["certify"]
    undocumented = [a.option_strings for a in sub._actions if a.option_strings and not a.help]
    assert undocumented == []
    text = sub.format_help()
    assert "(default: minilm-l6)" in text and "(default: sst2)" in text
    assert "(default: data/results)" in text and "$IDTHEORY_DATA" in text
    assert f"(default: {C.REFERENCE_LR:g})" in text


def _tiny_protocol(tmp_path, levels=(4,), route="retune") -> Path:
    path = tmp_path / "tiny.json"
    grid = {**TINY_PROTOCOL["grid"], "quant_training": [route], "levels": list(levels)}
    path.write_text(json.dumps({**TINY_PROTOCOL, "grid": grid}))
    return path


def test_reference_spec_is_what_full_dev_error_finds(tmp_path):
    """The reference trains the protocol's model on the protocol's training set in full; a full
    fine-tuning of a subsample is no reference."""
    protocol = C.load_protocol(_tiny_protocol(tmp_path))
    spec = C.reference_spec(protocol)
    assert spec.method == "full" and spec.train.lr == C.REFERENCE_LR
    assert spec.model == "tiny-bert" and spec.task == "sst2"
    assert spec.train.max_train_examples == 48 and spec.train.epochs == 1.0
    store = ResultsStore(tmp_path / "store")
    assert C.full_dev_error(protocol, store) is None
    other = C.reference_spec(protocol, 3e-5)
    smaller = other.with_(**{"train.max_train_examples": 24})
    for s, acc in ((spec, 0.75), (other, 0.5), (smaller, 0.99)):
        store.put_result(s, {"status": "ok", "metrics": {"dev": {"accuracy": acc}}})
    assert C.full_dev_error(protocol, store) == pytest.approx(0.25)  # the better of the two
    declared = C.reference_spec(PROTOCOL)
    assert declared.model == "minilm-l6" and declared.train.max_train_examples is None
    assert declared.train.precision == "fp32" and declared.train.group_by_length


def test_reference_trained_after_a_certificate_shows_beside_it(data_dir, tmp_path, capsys):
    """certify --reference trains the full fine-tuning through the store (--dry-run lists it);
    a certificate stored before it prints it on the next run, the stored record unchanged."""
    from idtheory.cli import main

    path = _tiny_protocol(tmp_path)
    args = ["certify", "--protocol", str(path), "--results-dir", str(tmp_path / "store"),
            "--data-dir", str(data_dir)]  # fmt: skip
    assert main(args) == 0
    assert "dev error, full fine-tuning     -" in capsys.readouterr().out
    assert main([*args, "--reference", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "missing" in out and "full fine-tuning lr=0.0001 (reference" in out
    assert main([*args, "--reference"]) == 0
    out = capsys.readouterr().out
    store = ResultsStore(tmp_path / "store")
    protocol = C.load_protocol(path)
    (ref,) = store.records(method="full")
    assert ref["run_id"] == C.reference_spec(protocol).config_hash()
    full = C.full_dev_error(protocol, store)
    assert full == pytest.approx(1.0 - ref["metrics"]["dev"]["accuracy"])
    assert f"dev error, full fine-tuning {full:.4f}" in out
    assert "← certificate" not in out  # --reference trains the reference only
    assert main([*args, "--dry-run"]) == 0
    assert "stored      " + ref["run_id"] in capsys.readouterr().out
    assert main(args) == 0
    assert f"dev error, full fine-tuning     {full:.4f}" in capsys.readouterr().out
    (stored,) = ResultsStore(tmp_path / "store").bounds()
    assert stored["full_dev_error"] is None  # the reference is read, the record kept
    (shown,) = C.stored_certificates(store, protocol)
    assert shown["full_dev_error"] == full and shown["certificate"] == stored["certificate"]


def test_runs_option_trains_only_the_named_trainings(data_dir, tmp_path, capsys):
    """``--runs`` splits the plan between processes: only the named training is trained, and an
    id outside the plan is refused in one line before anything is trained."""
    from idtheory.cli import main

    path = tmp_path / "tiny.json"
    grid = {**TINY_PROTOCOL["grid"], "dim": [30, 40], "levels": [4], "quant_training": ["retune"]}
    path.write_text(json.dumps({**TINY_PROTOCOL, "grid": grid}))
    store_dir = tmp_path / "store"
    args = ["certify", "--protocol", str(path), "--results-dir", str(store_dir),
            "--data-dir", str(data_dir)]  # fmt: skip
    rows = C.plan(C.load_protocol(path), ResultsStore(store_dir))
    assert [r["dim"] for r in rows] == [30, 40]
    assert main([*args, "--runs", "0123456789abcdef"]) == 2
    err = capsys.readouterr().err
    assert "error: run ids not in the plan of tiny-test: 0123456789abcdef" in err
    assert ResultsStore(store_dir).records() == []
    assert main([*args, "--runs", rows[1]["run_id"]]) == 0
    capsys.readouterr()
    after = C.plan(C.load_protocol(path), ResultsStore(store_dir))
    assert [r["status"] for r in after] == ["missing", "stored"]
    records = ResultsStore(store_dir).bounds()
    assert [r["candidate"]["dim"] for r in records] == [40]
