"""Tests for idtheory.compress: quantization, arithmetic coding, message length."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from idtheory import bounds as B
from idtheory import compress as C


@pytest.fixture(scope="module")
def theta() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(2000)


def _mse(q: C.Quantized, w: np.ndarray) -> float:
    return float(np.mean((q.values() - w) ** 2))


@pytest.mark.parametrize("quantize", [C.quantize_uniform, C.quantize_kmeans])
def test_quantized_structure(quantize, theta):
    w = theta.reshape(40, 50)
    q = quantize(w, 7)
    assert q.levels == 7 and q.codebook.shape == (7,) and q.d == 2000
    assert q.symbols.shape == (40, 50) and q.symbols.dtype == np.int64
    assert q.symbols.min() >= 0 and q.symbols.max() < 7
    assert (np.diff(q.codebook) >= 0).all()
    assert q.values().shape == (40, 50)
    assert np.array_equal(q.values(), q.codebook[q.symbols])
    assert q.method == ("uniform" if quantize is C.quantize_uniform else "kmeans")


@pytest.mark.parametrize("quantize", [C.quantize_uniform, C.quantize_kmeans])
def test_reconstruction_error_decreases_with_levels(quantize, theta):
    errs = [_mse(quantize(theta, L), theta) for L in (1, 2, 4, 8, 16, 32, 64)]
    assert all(b < a for a, b in itertools.pairwise(errs)), errs
    assert errs[0] == pytest.approx(np.var(theta))  # one level: the mean
    step = 2 * np.abs(theta).max() / 64
    assert errs[-1] <= step**2 / 4
    if quantize is C.quantize_uniform:  # each point's level is its own bin's mean: in the bin
        worst = np.abs(quantize(theta, 64).values() - theta).max()
        assert worst <= step * (1 + 1e-6)


def test_kmeans_beats_uniform_and_is_deterministic(theta):
    for L in (3, 7, 16):
        assert _mse(C.quantize_kmeans(theta, L), theta) <= _mse(C.quantize_uniform(theta, L), theta)
    a, b = C.quantize_kmeans(theta, 9, seed=3), C.quantize_kmeans(theta, 9, seed=3)
    assert np.array_equal(a.codebook, b.codebook) and np.array_equal(a.symbols, b.symbols)


def test_kmeans_exact_on_few_distinct_values():
    w = np.array([0.5, -1.0, 0.5, 2.0, -1.0, 2.0, 2.0])
    q = C.quantize_kmeans(w, 4)
    assert np.array_equal(q.values(), w)
    assert C.symbol_probs(q).tolist() == pytest.approx([2 / 7, 2 / 7, 3 / 7, 0.0])


def test_uniform_bins_follow_lotfi():
    w = np.array([-1.0, -0.9, 0.0, 0.1, 1.0])
    q = C.quantize_uniform(w, 2)  # bins [-1, 0), [0, 1]
    assert q.symbols.tolist() == [0, 0, 1, 1, 1]
    assert q.codebook == pytest.approx([-0.95, 1.1 / 3])


def test_symbol_probs(theta):
    q = C.quantize_uniform(theta, 5)
    p = C.symbol_probs(q)
    assert p.sum() == pytest.approx(1.0)
    assert np.allclose(p * q.d, np.bincount(q.symbols.ravel(), minlength=5))


@pytest.mark.parametrize(
    ("n", "probs"),
    [
        (1, [0.3, 0.7]),
        (257, [0.5, 0.25, 0.125, 0.125]),
        (3000, [0.9] + [0.1 / 15] * 15),
        (500, [0.2, 0.0, 0.8]),  # a zero-probability entry that is never used
        (40, [1.0]),  # a single level
    ],
)
def test_encode_decode_round_trip(n, probs):
    rng = np.random.default_rng(n)
    p = np.asarray(probs)
    symbols = rng.choice(len(p), size=n, p=p)
    compressed = C.arithmetic_encode(symbols, p)
    assert compressed.dtype == np.uint32
    decoded = C.arithmetic_decode(compressed, p, n)
    assert np.array_equal(decoded, symbols)


def test_round_trip_of_a_quantized_vector(theta):
    q = C.quantize_kmeans(theta, 16)
    p = C.symbol_probs(q)
    decoded = C.arithmetic_decode(C.arithmetic_encode(q.symbols, p), p, q.d)
    assert np.array_equal(decoded.reshape(q.symbols.shape), q.symbols)
    assert C.arithmetic_decode(C.arithmetic_encode([], p), p, 0).size == 0


@pytest.mark.parametrize(("d", "levels"), [(50, 2), (207, 16), (2000, 7), (5000, 32)])
def test_coded_length_close_to_entropy_bound(d, levels):
    w = np.random.default_rng(d).standard_t(3, size=d)
    q = C.quantize_uniform(w, levels)
    p = C.symbol_probs(q)
    info = -np.sum(np.log2(p[q.symbols]))  # −Σ_i log2 p(sym_i)
    ideal = math.ceil(info - 1e-9) + 1
    assert C.ideal_coded_bits(q) == ideal
    assert ideal == B.arithmetic_code_bits(d, B.symbol_entropy_bits(p))
    coded = C.coded_length_bits(q)
    # the ANS coder pays its initial state (≤ 24-bit precision) plus fixed-point rounding
    assert ideal - 2 <= coded <= ideal + 32, (coded, ideal)
    assert 32 * C.arithmetic_encode(q.symbols, p).size >= coded


def test_message_length_agrees_with_bounds(theta):
    q = C.quantize_kmeans(theta[:207], 16)
    p = C.symbol_probs(q)
    want = C.ideal_coded_bits(q) + 16 * 16 + 16 * math.ceil(math.log2(208))
    assert C.message_length_bits(q) == want
    assert C.message_length_bits(q) == B.description_length_bits(207, 16, p)
    assert C.message_length_bits(q, codebook_bits=32) == want + 16 * 16
    assert C.message_length_bits(q, count_bits=0) == want - 16 * 8
    # with the coder's own output: its words' valid bits + codebook + counts
    assert C.message_length_bits(q, use_coder=True) == (
        C.coded_length_bits(q) + 16 * 16 + 16 * math.ceil(math.log2(208))
    )
    lot = B.lotfi_bound(0.1, q.d, q.levels, 3668, symbol_probs=p)
    assert lot["bits"] == C.message_length_bits(q)
    # entropy coding beats the uniform-usage worst case
    assert C.message_length_bits(q) < B.description_length_bits(207, 16)


def test_accepts_torch_tensor():
    torch = pytest.importorskip("torch")
    t = torch.linspace(-1, 1, 101, dtype=torch.float32, requires_grad=True)
    q = C.quantize_uniform(t, 4)
    assert q.symbols.shape == (101,)
    assert np.allclose(
        q.values(), C.quantize_uniform(np.linspace(-1, 1, 101), 4).values(), atol=1e-6
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: C.quantize_uniform(np.ones(5), 0), "levels must be an integer >= 1"),
        (lambda: C.quantize_kmeans(np.ones(5), 2.5), "levels"),
        (lambda: C.quantize_uniform(np.array([1.0, np.nan]), 4), "finite"),
        (lambda: C.quantize_kmeans(np.array([]), 4), "empty"),
        (lambda: C.arithmetic_encode([0, 3], [0.5, 0.5]), "symbols must be integers in \\[0, 2\\)"),
        (lambda: C.arithmetic_encode([0, 1], [0.5, -0.5]), "non-negative"),
        (lambda: C.arithmetic_decode(np.zeros(2, np.uint32), [0.5, 0.5], -1), "n \\(number"),
    ],
)
def test_invalid_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_import_does_not_pull_torch():
    code = "import sys, idtheory.compress; assert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_bound_for_run_refuses_one_level(tmp_path):
    from idtheory.compress import bound_for_run
    from idtheory.store import ResultsStore

    with pytest.raises(ValueError, match="levels must be >= 2"):
        bound_for_run("any", store=ResultsStore(tmp_path), levels=1)


@pytest.mark.parametrize("lambdas", [None, np.array([1.0001, 0.3, -2.5])])
def test_message_round_trip(theta, lambdas):
    q = C.quantize_kmeans(theta[:300], 8)
    message = C.encode_message(q, lambdas)
    assert message.counts.tolist() == np.bincount(q.symbols, minlength=8).tolist()
    again = C.Message.from_dict(json.loads(json.dumps(message.to_dict())))
    for m in (message, again):
        values, lam = C.decode_message(m)
        # the receiver gets the float16 codebook at the coded assignments, λ at float16
        assert np.array_equal(values, q.codebook.astype(np.float16).astype(np.float64)[q.symbols])
        want = np.zeros(0) if lambdas is None else lambdas.astype(np.float16).astype(np.float64)
        assert np.array_equal(lam, want)
    assert 32 * message.words.size >= C.coded_length_bits(q)


# ----------------------------------------------------------------------------- device of a run


@pytest.mark.parametrize("cuda", [False, True])
def test_run_device_resolution(cuda, monkeypatch):
    """None: the run's own device, CUDA falling back to the CPU on a machine without it; an
    explicit device is honoured as given (no silent fallback). No GPU is used: only
    ``torch.device`` objects are built."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    gpu = torch.device("cuda") if cuda else torch.device("cpu")
    assert C.run_device("cpu") == torch.device("cpu")
    assert C.run_device("auto") == gpu
    assert C.run_device("cuda") == gpu
    assert C.run_device("cuda:1") == (torch.device("cuda:1") if cuda else torch.device("cpu"))
    assert C.run_device("cuda", "cpu") == torch.device("cpu")
    assert C.run_device("cpu", "auto") == gpu
    if cuda:
        assert C.run_device("cpu", "cuda") == torch.device("cuda")
    else:
        with pytest.raises(ValueError, match="no CUDA"):
            C.run_device("cpu", "cuda")


def _stored_cuda_run(data_dir, tmp_path):
    """A tiny-bert SAID run trained here on the CPU but stored with ``train.device = "cuda"``,
    as a run trained on a GPU would be (the device is not part of the run id)."""
    from idtheory.config import RunSpec, SubspaceConfig, TrainConfig
    from idtheory.store import ResultsStore
    from idtheory.train import make_train_fn

    train = TrainConfig(lr=0.05, epochs=1, batch_size=16, max_length=32, max_train_examples=32,
                        max_eval_examples=24, precision="fp32", device="cuda")  # fmt: skip
    spec = RunSpec("tiny-bert", "sst2", train, SubspaceConfig(dim=30, method="said"))
    trainer = make_train_fn(
        data_dir=str(data_dir), artifacts_dir=str(tmp_path / "params"), progress=False
    )

    def on_cpu(s):
        return {**trainer(s.with_(**{"train.device": "cpu"})), "spec": s.to_dict()}

    store = ResultsStore(tmp_path)
    record = store.run(spec, on_cpu)
    assert record["status"] == "ok" and record["spec"]["train"]["device"] == "cuda"
    return store, record["run_id"]


def test_bound_for_run_measures_on_the_run_device(data_dir, tmp_path, monkeypatch):
    """The stored run is rebuilt and evaluated on the device resolved from its spec (here
    "cuda", falling back to the CPU when CUDA is absent), the device passed to ``evaluate``
    explicitly; an explicit ``device`` overrides it."""
    import torch

    from idtheory import train as T

    store, run_id = _stored_cuda_run(data_dir, tmp_path)
    calls = []
    real_evaluate = T.evaluate

    def spy(model, examples, task, **kw):
        calls.append((kw.get("device"), model.theta.device, next(model.parameters()).device))
        return real_evaluate(model, examples, task, **kw)

    monkeypatch.setattr(T, "evaluate", spy)
    if not torch.cuda.is_available():
        run = C.load_subspace_run(run_id, store=store, data_dir=str(data_dir))
        assert run.device == torch.device("cpu")
        assert run.model.theta.device.type == "cpu"
        result = C.bound_for_run(run_id, store=store, levels=4, data_dir=str(data_dir), save=False)
        assert len(calls) == 4  # float and quantized, train and dev
        assert all(c == (torch.device("cpu"),) * 3 for c in calls)
        assert result["m"] == 32
        with pytest.raises(ValueError, match="no CUDA"):  # an explicit device is not replaced
            C.bound_for_run(run_id, store=store, levels=4, data_dir=str(data_dir), device="cuda")
    calls.clear()
    C.bound_for_run(run_id, store=store, levels=4, data_dir=str(data_dir), device="cpu", save=False)
    assert len(calls) == 4 and all(c == (torch.device("cpu"),) * 3 for c in calls)
