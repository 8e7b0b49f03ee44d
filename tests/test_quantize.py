"""idtheory.quantize: the protocol's float16 k-means and the straight-through training hook."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from idtheory import quantize as Q
from idtheory.config import RunSpec, SubspaceConfig, TrainConfig

torch = pytest.importorskip("torch")


def test_kmeans_float16_rounds_the_codebook_and_keeps_assignments():
    w = np.random.default_rng(1).standard_normal(500) * 3.1
    plain, q = Q.quantize_kmeans(w, 8), Q.kmeans_float16(w, 8)
    assert np.array_equal(q.symbols, plain.symbols)
    assert np.array_equal(q.codebook, plain.codebook.astype(np.float16).astype(np.float64))
    assert not np.array_equal(q.codebook, plain.codebook)  # the rounding did something
    # a vector that already is a float16 quantization is reproduced exactly
    again = Q.kmeans_float16(q.values(), 8)
    assert np.array_equal(again.values(), q.values())


class _Toy(torch.nn.Module):
    """θ_d and λ, and a loss whose gradient depends on where it is taken."""

    def __init__(self, n: int = 50, said: bool = True) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.theta = torch.nn.Parameter(torch.randn(n, generator=gen))
        self.lambdas = torch.nn.Parameter(torch.tensor([1.0001, 0.3])) if said else None

    def loss(self) -> torch.Tensor:
        lam = 1.0 if self.lambdas is None else self.lambdas.sum()
        return lam * (self.theta**3).sum()


def test_straight_through_forward_is_quantized_and_gradient_lands_on_the_float_values():
    model = _Toy()
    float_theta = model.theta.detach().clone()
    float_lambdas = model.lambdas.detach().clone()
    ste = Q.StraightThrough(model, 4)
    want = Q.kmeans_float16(float_theta.double().numpy(), 4).values()
    with ste.swapped():
        assert np.array_equal(model.theta.detach().double().numpy(), want)
        assert torch.equal(model.lambdas.detach(), float_lambdas.half().float())
        model.loss().backward()
    assert torch.equal(model.theta.detach(), float_theta)  # the float values are back
    assert torch.equal(model.lambdas.detach(), float_lambdas)
    q = torch.from_numpy(want).float()
    lam = float_lambdas.half().float().sum()
    # the gradient is the one at the quantized point (3 λ θ̂²), not at the float θ
    assert torch.allclose(model.theta.grad, 3 * lam * q**2)
    assert not torch.allclose(model.theta.grad, 3 * float_lambdas.sum() * float_theta**2)


def test_finalize_leaves_the_quantized_model_and_is_reproducible():
    model = _Toy(said=False)
    ste = Q.StraightThrough(model, 8)
    with ste.swapped():
        inside = model.theta.detach().clone()
    ste.finalize()
    assert torch.equal(model.theta.detach(), inside)
    assert len(torch.unique(model.theta)) <= 8
    q = Q.kmeans_float16(model.theta.detach().double().numpy(), 8)
    assert np.array_equal(q.values(), model.theta.detach().double().numpy())


def test_straight_through_refuses_what_it_cannot_quantize():
    with pytest.raises(ValueError, match="needs a subspace model"):
        Q.StraightThrough(torch.nn.Linear(2, 2), 4)
    with pytest.raises(ValueError, match="integer >= 2"):
        Q.StraightThrough(_Toy(), 1)


def test_quantize_levels_is_a_later_field():
    plain = TrainConfig(precision="fp32", device="cpu")
    assert "quantize_levels" not in plain.to_dict()
    q = RunSpec("m", "t", TrainConfig(precision="fp32", device="cpu", quantize_levels=8))
    assert q.to_dict()["train"]["quantize_levels"] == 8
    assert q.config_hash() != RunSpec("m", "t", plain).config_hash()
    assert RunSpec.from_dict(q.to_dict()) == q
    for bad in (1, 2.0, True):
        with pytest.raises(ValueError, match="quantize_levels"):
            TrainConfig(quantize_levels=bad)


def test_quantization_aware_training_saves_the_model_it_evaluated(data_dir, tmp_path, monkeypatch):
    """STE on tiny-bert: every evaluation (dev during training, train at the end) sees θ_d at
    its quantized point, the saved θ_d has at most L float16 values, the protocol's quantizer
    reproduces it exactly, and the stored accuracies are those of the saved model."""
    import torch

    from idtheory import train as train_module
    from idtheory.compress import load_subspace_run
    from idtheory.store import ResultsStore
    from idtheory.train import make_train_fn

    levels_seen: list[int] = []
    evaluate = train_module.evaluate

    def spying_evaluate(model, *args, **kwargs):
        levels_seen.append(len(torch.unique(model.theta.detach())))
        return evaluate(model, *args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", spying_evaluate)

    train = TrainConfig(lr=0.05, epochs=2, batch_size=16, max_length=32, max_train_examples=32,
                        max_eval_examples=24, precision="fp32", quantize_levels=4)  # fmt: skip
    spec = RunSpec("tiny-bert", "sst2", train, SubspaceConfig(dim=30, method="said"))
    store = ResultsStore(tmp_path)
    artifacts = str(tmp_path / "params")
    record = store.run(
        spec, make_train_fn(data_dir=str(data_dir), artifacts_dir=artifacts, progress=False)
    )
    assert record["status"] == "ok"
    assert len(levels_seen) == 3 and max(levels_seen) <= 4  # dev after each epoch, then train
    monkeypatch.undo()
    run = load_subspace_run(record["run_id"], store=store, data_dir=str(data_dir))
    theta = run.model.theta.detach().double().numpy()
    assert len(np.unique(theta)) <= 4
    assert np.array_equal(Q.round_float16(theta), theta)
    lambdas = run.model.lambdas.detach().double().numpy()
    assert np.array_equal(Q.round_float16(lambdas), lambdas) and lambdas.size == 5
    assert not np.all(lambdas == 1.0)  # λ trained
    assert np.array_equal(Q.kmeans_float16(theta, 4).values(), theta)
    assert run.accuracy("train") == record["metrics"]["train"]["accuracy"]
    assert run.accuracy("dev") == record["metrics"]["dev"]["accuracy"]


def test_import_does_not_pull_torch():
    code = "import sys, idtheory.quantize; assert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_retune_codebook_lowers_the_training_loss_with_assignments_fixed(data_dir):
    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model
    from idtheory.tasks import load_task
    from idtheory.train import encode, retune_codebook

    loaded = load_model("tiny-bert", num_labels=2, seed=0)
    model = get_subspace_model(loaded.model, SubspaceConfig(dim=30, method="said")).eval()
    with torch.no_grad():
        model.theta.copy_(torch.randn(25, generator=torch.Generator().manual_seed(0)))
    examples = encode(loaded.tokenizer, load_task("sst2", "train", data_dir=data_dir,
                                                  max_examples=32, seed=0), 32)  # fmt: skip
    float_theta = model.theta.detach().clone()
    q = Q.kmeans_float16(float_theta.double().numpy(), 4)

    def loss(q: Q.Quantized) -> float:
        from idtheory.train import _collate

        with torch.no_grad():
            model.theta.copy_(torch.from_numpy(q.values()))
            value = model(**_collate(examples, 0, "cpu")).loss.item()
            model.theta.copy_(float_theta)
        return value

    tuned = retune_codebook(model, examples, q, steps=8, lr=0.05, batch_size=32)
    assert torch.equal(model.theta.detach(), float_theta)  # the model is left as it was
    assert np.array_equal(tuned.symbols, q.symbols)
    assert np.array_equal(Q.round_float16(tuned.codebook), tuned.codebook)
    assert not np.array_equal(tuned.codebook, q.codebook)
    assert loss(tuned) < loss(q)


def test_compare_quant_routes_script(data_dir, tmp_path, capsys):
    """The route-comparison script on a stored tiny float run: a k-means and a retuned row per
    L, the STE row missing until trained (``--train-ste``)."""
    from conftest import load_script

    from idtheory.store import ResultsStore
    from idtheory.train import make_train_fn

    script = load_script("scripts/compare_quant_routes.py")
    train = TrainConfig(lr=0.05, epochs=1, batch_size=16, max_length=32, max_train_examples=32,
                        max_eval_examples=16, precision="fp32")  # fmt: skip
    spec = RunSpec("tiny-bert", "sst2", train, SubspaceConfig(dim=30, method="did"))
    store = ResultsStore(tmp_path)
    fn = make_train_fn(data_dir=str(data_dir), artifacts_dir=str(tmp_path / "params"))
    assert store.run(spec, fn)["status"] == "ok"
    args = [spec.config_hash(), "--levels", "4", "--results-dir", str(tmp_path),
            "--data-dir", str(data_dir), "--retune-steps", "2"]  # fmt: skip
    assert script.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| L | route | train error |")
    routes = [line.split("|")[2].strip() for line in lines[2:]]
    assert routes == ["k-means", "retuned", "ste"] and "missing" in lines[-1]
