"""The benchmark programs run (numbers are printed, never asserted)."""

from __future__ import annotations

import torch

from idtheory import bench


def test_precision_benchmark_runs_both_precisions(data_dir):
    rows = bench.bench_precision(
        "tiny-bert", "said", 20, "mrpc", train_examples=32, eval_examples=16, repeats=1
    )
    assert [r["precision"] for r in rows] == ["fp32", "bf16"]
    assert rows[0]["ratio"] == 1.0 and rows[1]["finetune_s"] > 0


def test_default_benchmark_explains_a_cpu_without_bf16(monkeypatch, capsys):
    import idtheory.precision as precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda *a: False)
    bench.main([])
    out = capsys.readouterr().out
    assert "native bf16 on this CPU: no" in out and "--force" in out


def test_fastfood_benchmark_prints_every_table(capsys):
    args = "fastfood --log2 12 --fwht-min 10 --fwht-max 11 --models tiny-bert --repeats 1"
    bench.main([*args.split(), "--dim", "20"])
    out = capsys.readouterr().out
    assert "2^10" in out and "2^11" in out
    for item in ("P(θ)", "P.T(g)", "P: gather", "P.T: scatter", "merge", "P(θ) + P.T(g)"):
        assert item in out
    assert "SAID / full" in out


def test_step_benchmark_takes_a_model_factory_and_really_steps():
    from idtheory.models import load_model

    built = []

    def new_model():
        built.append(load_model("tiny-bert", num_labels=2).model)
        return built[-1]

    rows = bench.bench_step(new_model, dims=(20,), length=16, repeats=1, methods=("said",))
    assert [r["variant"] for r in rows] == ["full", "said d=20"]
    assert len(built) == 2 and rows[0]["ratio_to_full"] == 1.0
    fresh = load_model("tiny-bert", num_labels=2).model.state_dict()
    moved = [k for k, v in built[0].state_dict().items() if not torch.equal(v, fresh[k])]
    assert moved  # the full model's AdamW steps changed its weights


def test_step_benchmark_cli_times_the_chosen_methods_in_bf16(capsys):
    args = "step --model tiny-bert --dims 20 --methods said --length 16 --repeats 1"
    bench.main([*args.split(), "--bf16", "--force"])
    out = capsys.readouterr().out
    assert "bf16 autocast" in out and "said d=20" in out and "did" not in out


def test_step_benchmark_times_checkpointed_variants_that_keep_less():
    """--checkpointing times every variant again with its layers recomputed; what the forward
    keeps for the backward falls (for the subspace model as for the full one)."""
    rows = bench.bench_step(
        "tiny-bert", dims=(20,), length=32, repeats=1, methods=("said",), checkpointing=True
    )
    saved = {r["variant"]: r["saved_mb"] for r in rows}
    assert list(saved) == ["full", "said d=20", "full checkpointed", "said d=20 checkpointed"]
    for name in ("full", "said d=20"):
        assert 0 < saved[f"{name} checkpointed"] < saved[name] / 2


def test_step_and_fastfood_refuse_emulated_bf16_without_force(monkeypatch, capsys):
    import idtheory.precision as precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda *a: False)
    bench.main("step --model tiny-bert --dims 20 --length 16 --repeats 1 --bf16".split())
    bench.main("fastfood --log2 10 --fwht-min 10 --fwht-max 10 --bf16".split())
    out = capsys.readouterr().out
    assert out.count("--force measures it anyway") == 2
    assert "training step" not in out and "2^10" not in out
