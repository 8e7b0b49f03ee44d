"""scripts/scale_studies.py: the studies train the scale's own runs but for the one setting
they vary (lr, precision); the parity comparison's arithmetic."""

import argparse
import math

import pytest
from conftest import load_script

from idtheory import figures


@pytest.fixture(scope="module")
def studies():
    return load_script("scripts/scale_studies.py")


def test_a_probe_at_the_scales_lr_is_the_scales_stored_run(studies):
    """At one of the scale's own learning rates a probe spec hashes to the run the real scale's
    MRPC search stored (SAID, d = 640, lr 0.1: run 26ee5ac62e7cd9c6), so only the lr differs."""
    ctx = figures.setup("real", compute=False, chdir=False)
    specs = studies.probe_specs(ctx, "minilm-l6", "mrpc", 640, [0.1, 1.0], ["said", "did"])
    assert [(s.method, s.train.lr) for s in specs] == [
        ("said", 0.1),
        ("said", 1.0),
        ("did", 0.1),
        ("did", 1.0),
    ]
    assert specs[0].config_hash() == "26ee5ac62e7cd9c6"
    assert ctx.store.get(specs[0].config_hash())["metrics"]["dev"]["accuracy"] == pytest.approx(
        0.7132, abs=1e-4
    )
    assert len({s.config_hash() for s in specs}) == 4


def test_pairs_are_the_scales_runs_and_their_bf16_twins(studies):
    """The fp32 side of each pair is the real scale's own stored run (SST-2 SAID d = 160 at
    lr 0.3 is run fe72a2d835cd8ed6); the other side differs only in precision."""
    ctx = figures.setup("real", compute=False, chdir=False)
    pairs = studies.parity_pairs(ctx, "minilm-l6", "sst2", [160, 640], ["said", "did"])
    assert len(pairs) == 2 + 2 * 2 * 2  # full × 2 lrs; 2 methods × 2 d × 2 lrs
    cells = {(a.method, a.dim, a.train.lr): a.config_hash() for a, _ in pairs}
    assert cells[("said", 160, 0.3)] == "fe72a2d835cd8ed6"
    for a, b in pairs:
        assert (a.train.precision, b.train.precision) == ("fp32", "bf16")
        assert b.with_(**{"train.precision": "fp32"}).config_hash() == a.config_hash()
        assert b.config_hash() != a.config_hash()


def _record(score, wall):
    return {"status": "ok", "metrics": {"dev": {"accuracy": score}}, "wall_time_s": wall}


def test_compare_and_grid_d90(studies):
    ctx = figures.setup("real", compute=False, chdir=False)
    pairs = studies.parity_pairs(ctx, "minilm-l6", "sst2", [160, 640], ["said"])
    scores = {  # (method, d, lr) -> (fp32, bf16)
        ("full", None, 1e-4): (0.85, 0.86),
        ("full", None, 5e-5): (0.84, 0.80),
        ("said", 160, 0.1): (0.70, 0.70),
        ("said", 160, 0.3): (0.72, 0.78),
        ("said", 640, 0.1): (0.80, 0.76),
        ("said", 640, 0.3): (0.77, 0.79),
    }
    records = {}
    for a, b in pairs:
        fp32, bf16 = scores[(a.method, a.dim, a.train.lr)]
        records[a.config_hash()] = _record(fp32, 100.0)
        records[b.config_hash()] = _record(bf16, 55.0)
    rows = studies.compare(pairs, records, "accuracy", n_dev=100)
    row = next(r for r in rows if r["method"] == "SAID" and r["d"] == 160 and r["lr"] == 0.3)
    assert row["difference"] == pytest.approx(0.06)
    assert row["1 SE"] == pytest.approx(math.sqrt(0.72 * 0.28 / 100))  # 0.0449
    assert row["within 1 SE"] == "no" and "wall ratio" not in row  # other machines, other loads
    same = next(r for r in rows if r["method"] == "SAID" and r["d"] == 160 and r["lr"] == 0.1)
    assert same["within 1 SE"] == "yes"
    # fp32: threshold 0.9 × 0.85 = 0.765; best SAID 0.72 at 160, 0.80 at 640 -> d90 640
    # bf16: threshold 0.9 × 0.86 = 0.774; best SAID 0.78 at 160 -> d90 160 (the d90 moved)
    fp32, bf16 = studies.grid_d90(rows, "fp32"), studies.grid_d90(rows, "bf16")
    assert fp32["threshold"] == pytest.approx(0.765) and fp32["SAID"] == 640
    assert bf16["threshold"] == pytest.approx(0.774) and bf16["SAID"] == 160
    assert studies.grid_d90(rows, "fp32", frac=1.0)["SAID"] == "> 640"  # 0.80 < 0.85 throughout
    # a missing bf16 training leaves its row open and no d90 claims past it
    del records[pairs[-1][1].config_hash()]
    rows = studies.compare(pairs, records, "accuracy", n_dev=100)
    assert rows[-1]["bf16"] is None and rows[-1]["within 1 SE"] == "–"


def test_adopt_copies_only_probes_at_the_scales_own_rates(studies, tmp_path):
    """At d = 10,240 the real scale trains 0.03 and 0.1: a finished probe at 0.03 joins the
    scale's store (with its saved parameters), one at 1.0 does not, and a second call adopts
    nothing."""
    from idtheory.store import ResultsStore

    real = figures.setup("real", compute=False, chdir=False)
    probes = figures.setup("real", compute=False, chdir=False, results_dir=tmp_path / "probes")
    scale = figures.setup("real", compute=False, chdir=False, results_dir=tmp_path / "scale")
    at_003, at_1 = studies.probe_specs(real, "minilm-l6", "mrpc", 10240, [0.03, 1.0], ["said"])
    record = real.store.get(at_003.config_hash())  # the stored run (adopted once already)
    assert record is not None and record["status"] == "ok"
    probes.store.put(record)
    probes.store.put({**record, "run_id": at_1.config_hash(), "spec": at_1.to_dict()})
    (tmp_path / "probes" / "params" / record["run_id"]).mkdir(parents=True)
    (tmp_path / "probes" / "params" / record["run_id"] / "theta.pt").write_bytes(b"x")

    assert studies.adopt(probes, scale, "minilm-l6", "mrpc", 10240, ["said"]) == [record["run_id"]]
    stored = ResultsStore(tmp_path / "scale")
    assert record["run_id"] in stored and at_1.config_hash() not in stored
    assert (tmp_path / "scale" / "params" / record["run_id"] / "theta.pt").exists()
    assert studies.adopt(probes, scale, "minilm-l6", "mrpc", 10240, ["said"]) == []


def test_gradient_checkpointing_reaches_the_probe_and_keeps_its_run_id(studies):
    """--gradient-checkpointing trains the probe with checkpointed layers (less memory, beside
    a sweep) under the same run id as without it, so the stored probe is the same run."""
    args = argparse.Namespace(gradient_checkpointing=True)
    ctx = figures.setup("real", compute=False, chdir=False, **studies.memory_overrides(args))
    plain = figures.setup("real", compute=False, chdir=False)
    (spec,) = studies.probe_specs(ctx, "mpnet-base", "mrpc", 1280, [0.03], ["said"])
    (same,) = studies.probe_specs(plain, "mpnet-base", "mrpc", 1280, [0.03], ["said"])
    assert spec.train.gradient_checkpointing and not same.train.gradient_checkpointing
    assert spec.config_hash() == same.config_hash()
    args.gradient_checkpointing = False
    assert studies.memory_overrides(args) == {}


def test_the_cli_passes_gradient_checkpointing_to_both_studies(studies, monkeypatch):
    seen = []
    monkeypatch.setattr(studies, "run_lrs", lambda args: seen.append(args))
    monkeypatch.setattr(studies, "run_precision", lambda args, parser: seen.append(args))
    studies.main(["lrs", "--gradient-checkpointing", "--list"])
    studies.main(["precision", "--list"])
    assert [a.gradient_checkpointing for a in seen] == [True, False]
