"""The command line, end to end on a tiny random model and a slice of MRPC."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from idtheory.cli import build_parser, main
from idtheory.store import ResultsStore

TINY = [
    "--model",
    "tiny-bert",
    "--task",
    "mrpc",
    "--max-train-examples",
    "32",
    "--max-eval-examples",
    "32",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--max-length",
    "48",
    "--quiet",
]


@pytest.mark.parametrize("command", ["finetune", "d90", "results", "bound", "pretrain", "figures"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: idtheory " + command in capsys.readouterr().out


def d90_args(data_dir, results_dir, *extra: str) -> list[str]:
    """``idtheory d90`` on the tiny model and MRPC slice, full fine-tuning at lr 1e-3."""
    data = ["--data-dir", str(data_dir), "--results-dir", str(results_dir)]
    return ["d90", *TINY, *data, "--full-lrs", "1e-3", *extra]


def test_d90_end_to_end_and_resume(data_dir, tmp_path, capsys):
    args = d90_args(data_dir, tmp_path, "--method", "did", "--grid", "10", "100")
    args += ["--subspace-lrs", "1e-2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "tiny-bert / mrpc / did" in out and "3 new, 0 reused" in out
    assert main(args) == 0  # everything is stored: nothing retrains
    assert "0 new, 3 reused" in capsys.readouterr().out
    assert main(["results", "--results-dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert table.count("tiny-bert") == 3
    assert main(["results", "--results-dir", str(tmp_path), "--d90"]) == 0
    assert "d90 =" in capsys.readouterr().out


def test_d90_several_methods_share_the_baseline(data_dir, tmp_path, capsys):
    """--method said did: one sweep, both summaries printed, the full baseline trained once."""
    args = d90_args(data_dir, tmp_path, "--method", "said", "did", "--grid", "10")
    assert main([*args, "--subspace-lrs", "1e-2"]) == 0
    out = capsys.readouterr().out
    assert "tiny-bert / mrpc / said" in out and "tiny-bert / mrpc / did" in out
    from idtheory.store import ResultsStore

    specs = [r["spec"] for r in ResultsStore(tmp_path).records()]
    assert sorted((s["subspace"] or {}).get("method", "full") for s in specs) == [
        "did",
        "full",
        "said",
    ]


def test_d90_subspace_lrs_from_switches_the_rates_of_large_d(data_dir, tmp_path, capsys):
    """--subspace-lrs-from 100 3e-2: d = 10 trains at --subspace-lrs, d = 100 at 3e-2 only."""
    args = d90_args(data_dir, tmp_path, "--method", "did", "--grid", "10", "100")
    assert main([*args, "--subspace-lrs", "1e-2", "--subspace-lrs-from", "100", "3e-2"]) == 0
    from idtheory.store import ResultsStore

    trained = sorted(
        (r["spec"]["subspace"]["dim"], r["spec"]["train"]["lr"])
        for r in ResultsStore(tmp_path).records()
        if r["spec"]["subspace"]
    )
    assert trained == [(10, 1e-2), (100, 3e-2)]
    (summary,) = ResultsStore(tmp_path).summaries()
    assert summary["settings"]["subspace_lrs_from"] == {"100": [3e-2]}
    for bad, message in (
        (["100"], "needs D and at least one LR"),
        (["100", "-1"], "expected a positive number"),
        (["0", "0.1"], "D must be a positive integer"),
    ):
        assert message in _usage_error([*args, "--subspace-lrs-from", *bad], capsys)


def test_d90_with_worker_processes_matches_local(data_dir, tmp_path, capsys):
    """--executor process: real trainings in two spawned workers give the local records."""
    grid = ["--grid", "10", "--subspace-lrs", "1e-2", "3e-2"]
    assert main(d90_args(data_dir, tmp_path / "local", *grid)) == 0
    procs = [*grid, "--executor", "process", "--max-parallel", "2"]
    assert main(d90_args(data_dir, tmp_path / "proc", *procs)) == 0
    out = capsys.readouterr().out
    assert out.count("3 new, 0 reused") == 2
    from idtheory.store import ResultsStore

    def outcomes(root):  # the losses too: a random tiny model's dev metrics hardly move
        recs = sorted(ResultsStore(root).records(), key=lambda r: r["run_id"])
        return [(r["run_id"], r["metrics"], r["history"], r["best_step"]) for r in recs]

    local = outcomes(tmp_path / "local")
    assert outcomes(tmp_path / "proc") == local
    assert len({str(h) for _, _, h, _ in local}) == 3  # three trainings, three loss curves


def test_d90_floor_majority_and_bad_floor(data_dir, tmp_path, capsys):
    """--floor majority resolves to MRPC's majority-class dev accuracy (279/408 on GLUE, 17/25
    in the fixture); a random tiny model does not beat it, so the search stops after the
    baseline and says why."""
    from idtheory.tasks import majority_score

    args = d90_args(data_dir, tmp_path, "--grid", "10", "--max-eval-examples", "408")
    assert main([*args, "--floor", "majority"]) == 0
    out = capsys.readouterr().out
    floor = majority_score("mrpc", "accuracy", data_dir)
    assert "status baseline_failed" in out and f"does not beat floor {floor:.4f}" in out
    assert main(args) == 0  # the paper's threshold (0.9 × baseline) is below the majority
    assert "a constant predictor passes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--floor", "chance"])
    err = capsys.readouterr().err
    assert "argument --floor: expected a number, 'majority', 'auto', got 'chance'" in err


def test_d90_floor_auto_uses_the_majority_where_the_paper_threshold_is_degenerate(
    data_dir, tmp_path, capsys
):
    """--floor auto (as search.resolve_floor): the tiny random model's 0.9 × baseline is below
    MRPC's majority score, so the floor is that score; the baseline trained to decide it is the
    search's own first round (reused, not trained twice)."""
    from idtheory.tasks import majority_score

    args = d90_args(data_dir, tmp_path, "--grid", "10", "--max-eval-examples", "408")
    assert main([*args, "--floor", "auto"]) == 0
    out, err = capsys.readouterr()
    floor = majority_score("mrpc", "accuracy", data_dir)
    assert "status baseline_failed" in out and f"does not beat floor {floor:.4f}" in out
    assert "trainings: 0 new, 1 reused" in out
    assert "constant predictor" not in err


def test_floor_auto_resolves_on_the_baseline(data_dir):
    from idtheory.cli import _resolve_floor
    from idtheory.tasks import majority_score

    args = build_parser().parse_args(
        ["d90", "--task", "mrpc", "--data-dir", str(data_dir), "--floor", "auto"]
    )
    majority = majority_score("mrpc", "accuracy", data_dir)
    assert _resolve_floor(args, lambda: majority / 0.9) == pytest.approx(majority)  # degenerate
    assert _resolve_floor(args, lambda: 1.0) == 0.0  # 0.9 > majority: the paper's threshold
    assert _resolve_floor(args, lambda: None) == 0.0  # no baseline: the search reports it
    args.floor = "0.25"
    assert _resolve_floor(args, lambda: pytest.fail("a number needs no baseline")) == 0.25


def test_finetune_and_bound_for_the_run(data_dir, tmp_path, capsys):
    args = [
        "finetune",
        *TINY,
        "--data-dir",
        str(data_dir),
        "--results-dir",
        str(tmp_path),
        "--method",
        "said",
        "--dim",
        "30",
        "--lr",
        "0.01",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    run_id = out.split()[1]
    assert "trainable 30" in out and "not retrained" not in out
    assert main(args) == 0  # again: the stored run, and the output says so
    assert "not retrained" in capsys.readouterr().out
    bound = ["bound", "--run", run_id, "--results-dir", str(tmp_path), "--data-dir", str(data_dir)]
    assert main([*bound, "--levels", "8"]) == 0
    report = capsys.readouterr().out
    assert "Catoni" in report and "Occam" in report and "best certified bound" in report
    assert main([*bound, "--levels", "8", "--extra-bits", "2.5"]) == 0  # reaches the run's bound
    plain, charged = ResultsStore(tmp_path).bounds()
    # the best row is paid for: 1 more bit for picking the better of the two codes
    from idtheory.bounds import occam_bound

    err = 1.0 - plain["train_accuracy_quantized"]
    binomial = [r for r in plain["rows"] if r["name"] == "Occam, binomial"]
    assert len(binomial) == 2 and plain["code_choice_bits"] == 1.0
    assert plain["best_bound"] == pytest.approx(
        min(
            occam_bound(plain["m"], err, r["complexity_bits"] + 1, 0.05, "binomial")
            for r in binomial
        )
    )
    assert plain["best_bound"] > min(r["bound"] for r in binomial)
    assert (plain["settings"]["extra_bits"], charged["settings"]["extra_bits"]) == (0.0, 2.5)
    bits = [[r["complexity_bits"] for r in b["rows"] if r["certified"]] for b in (plain, charged)]
    assert bits[1] == pytest.approx([b + 2.5 for b in bits[0]])


def test_bound_table(capsys):
    assert (
        main(["bound", "--d", "207", "--m", "3668", "--train-error", "0.1", "--levels", "16"]) == 0
    )
    out = capsys.readouterr().out
    assert "Catoni" in out and "Aghajanyan" in out
    fp16 = ["bound", "--d", "207", "--m", "3668", "--train-error", "0.1"]
    assert main(fp16) == 0
    kl16 = [ln for ln in capsys.readouterr().out.splitlines() if "Occam, kl" in ln and "fp16" in ln]
    assert len(kl16) == 1 and kl16[0].rstrip().endswith("NO")  # fp16's own error not given
    assert main([*fp16, "--train-error-fp16", "0.1"]) == 0
    kl16 = [ln for ln in capsys.readouterr().out.splitlines() if "Occam, kl" in ln and "fp16" in ln]
    assert kl16[0].rstrip().endswith("yes")


def test_bound_refuses_one_level(capsys):
    args = ["bound", "--d", "207", "--m", "3668", "--train-error", "0.1", "--levels", "1"]
    assert main(args) == 2
    assert "levels must be >= 2" in capsys.readouterr().err


def test_clear_errors(data_dir, tmp_path, capsys):
    code = main(
        ["finetune", *TINY, "--task", "no-such-task", "--dim", "10", "--results-dir", str(tmp_path)]
    )
    assert code == 2
    assert "mrpc" in capsys.readouterr().err  # lists the known tasks
    code = main(
        [
            "finetune",
            *TINY,
            "--data-dir",
            str(data_dir),
            "--method",
            "did",
            "--dim",
            "100000000",
            "--results-dir",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "exceeds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["finetune", "--dim", "-3"])


# ------------------------------------------------------------------ rough edges a new user hit


def _usage_error(argv: list[str], capsys) -> str:
    """Run ``idtheory ARGV``, assert it exits as a usage error (2, like argparse's own), and
    return what it printed to stderr."""
    assert main(argv) == 2
    return capsys.readouterr().err


def _no_training(monkeypatch) -> list:
    """Replace the trainer by one that records being called (and trains nothing)."""
    calls: list = []

    def train_fn(args):
        calls.append(args.command)
        raise AssertionError("training started")

    def make_train_fn(**kwargs):  # certify's trainer
        calls.append("certify")
        raise AssertionError("training started")

    monkeypatch.setattr("idtheory.cli._train_fn", train_fn)
    monkeypatch.setattr("idtheory.train.make_train_fn", make_train_fn)
    return calls


@pytest.mark.parametrize(
    "command",
    [
        ["finetune", *TINY, "--dim", "10"],
        ["finetune", *TINY, "--dim", "10", "--no-store"],
        ["d90", *TINY, "--grid", "10"],
        ["bound", "--run", "0123456789abcdef"],
        ["certify", "--reference"],
    ],
    ids=["finetune", "finetune-no-store", "d90", "bound-run", "certify-reference"],
)
def test_unwritable_results_dir_fails_before_training(command, tmp_path, capsys, monkeypatch):
    """A results directory that cannot be created (its parent is a file; as root, permissions
    would not stop us) is one line on stderr, exit 2, before anything trains."""
    calls = _no_training(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main([*command, "--results-dir", str(blocker / "results")]) == 2
    err = capsys.readouterr().err
    assert "is not writable" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert calls == []


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root writes anywhere")
def test_read_only_results_dir_fails_before_training(tmp_path, capsys, monkeypatch):
    calls = _no_training(monkeypatch)
    tmp_path.chmod(0o500)
    try:
        assert main(["finetune", *TINY, "--dim", "10", "--results-dir", str(tmp_path)]) == 2
    finally:
        tmp_path.chmod(0o700)
    assert "is not writable (Permission denied)" in capsys.readouterr().err
    assert calls == []


def test_check_writable_leaves_a_writable_store_unchanged(tmp_path):
    from idtheory.cli import check_writable

    (tmp_path / "runs.jsonl").write_text('{"a": 1}\n')
    check_writable(tmp_path)
    check_writable(tmp_path / "new" / "store")  # created, as the first result would
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "runs.jsonl"]
    assert (tmp_path / "runs.jsonl").read_text() == '{"a": 1}\n'
    assert list((tmp_path / "new" / "store").iterdir()) == []


@pytest.mark.parametrize("flag", ["--dim", "--max-steps", "--lr"])
def test_bad_numbers_say_what_was_expected(flag, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["finetune", flag, "abc"])
    err = capsys.readouterr().err
    assert f"argument {flag}: expected a positive" in err and "got 'abc'" in err
    assert "_positive" not in err


def test_full_finetuning_rejects_dim(tmp_path, monkeypatch, capsys):
    calls = _no_training(monkeypatch)
    args = ["finetune", *TINY, "--method", "full", "--dim", "10", "--results-dir", str(tmp_path)]
    err = _usage_error(args, capsys)
    assert err.startswith("idtheory finetune: error: --dim: for --method said/did only")
    assert calls == []


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("finetune", ["--batch-size", "(default: 32)", "(default: fastfood)", "(default: said)"]),
        ("d90", ["(default: 10)", "(default: 1.25)", "(default: [0])", "(default: 3.0)"]),
        ("figures", ["(default: quick)", "(default: figures)"]),
        ("certify", ["(default: minilm-l6)", "(default: sst2)", "(default: 0.0001)"]),
    ],
)
def test_help_shows_the_defaults(command, shown, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for text in shown:
        assert text in out
    assert "(default: None)" not in out and "(default: False)" not in out
    assert out.count("(default: 0.9)") <= 1


def _d90_result(bracket) -> dict:
    return {
        "model": "m",
        "task": "mrpc",
        "method": "said",
        "status": "ok",
        "metric": "accuracy",
        "baseline_score": 0.8,
        "baseline_lr": 1e-4,
        "threshold": 0.72,
        "frac": 0.9,
        "d90": bracket[1],
        "bracket": bracket,
        "n_trained": 1,
        "n_reused": 0,
        "points": [],
    }


@pytest.mark.parametrize(
    ("bracket", "text"),
    [([None, 10], "(0, 10]"), ([453, 640], "(453, 640]"), ((100000, None), "(100000, ∞]")],
)
def test_d90_brackets_use_the_readme_notation(bracket, text):
    from idtheory.reports import format_d90

    out = format_d90(_d90_result(bracket))
    assert f"bracket {text}" in out
    assert "None" not in out and "[453" not in out


def test_d90_summary_names_its_threshold_and_the_cost_behind_it():
    """``idtheory results --d90`` tells the paper's d90 from the chance-corrected one and gives
    the trainings behind each summary and their hours (from the store, not the last call)."""
    from idtheory.reports import format_d90

    paper = format_d90(_d90_result([453, 640]))
    corrected = {**_d90_result([640, 905]), "settings": {"floor": 0.6838}, "threshold": 0.7886}
    out = format_d90(corrected, (12, 1.5))
    assert "→ paper threshold 0.7200 (90%)" in paper and "1 new, 0 reused" in paper
    assert "→ chance-corrected threshold 0.7886 (90% of the gain over 0.6838)" in out
    assert "trainings behind it: 12, 1.50 CPU h" in out and "reused" not in out


def test_d90_summary_marks_a_pass_decided_before_all_its_rates_are_stored():
    from idtheory.reports import format_d90

    def point(d: int, score: float, passes: bool) -> dict:
        return {"d": d, "score": score, "best_lr": 0.1, "passes": passes, "cells": [{"lr": 0.1}]}

    partial = {
        **_d90_result([160, 640]),
        "status": "partial",
        "points": [point(160, 0.70, False), point(640, 0.75, True)],
        "pending": [640],
    }
    lines = format_d90(partial).splitlines()
    assert "    d =      160  score 0.7000  best lr 0.1  fail" in lines
    assert (
        "    d =      640  score 0.7500  best lr 0.1  pass (final; score so far, from lr 0.1 alone)"
    ) in lines


def _settings(examples: int | None, lrs: list[float]) -> dict:
    return {
        "base_train": {
            "max_train_examples": examples,
            "epochs": 3.0,
            "batch_size": 32,
            "precision": "fp32",
        },
        "full_lrs": [1e-4, 5e-5],
        "subspace_lrs": lrs,
        "subspace_lrs_from": {"5120": [0.03, 0.1]},
        "subspace_kwargs": {"projection": "fastfood", "layout": "global"},
        "d_min": 160,
        "d_floor": 16,
        "grid_factor": 4.0,
        "d_max": 100_000,
        "bracket_ratio": 1.5,
    }


def test_d90_summary_says_what_tells_two_searches_of_a_cell_apart():
    """Two searches of one cell (say the quick scale's on 1,000 examples and the real scale's
    on all of MRPC) differ in their settings: the listing shows the summary, when it was
    stored, the training recipe, the rates and the grid — or that a search is in progress."""
    from idtheory.reports import format_d90

    stored = {
        **_d90_result([453, 640]),
        "summary_id": "0123456789abcdef",
        "created": "2026-12-04T22:44:07+00:00",
        "settings": _settings(3668, [0.1, 0.3]),
    }
    lines = format_d90(stored).splitlines()
    assert "  search 0123456789abcdef, stored 2026-12-04 22:44" in lines
    assert "  training: 3,668 examples, 3 epochs, batch 32, fp32" in lines
    assert (
        "  learning rates: full 0.0001/5e-05; subspace 0.1/0.3 (0.03/0.1 from d = 5,120)" in lines
    )
    assert "  subspace: fastfood projection, global layout" in lines
    assert (
        "  grid: d from 160 (down to 16) ×4 up to 100,000, bracket 1.5; "
        "29 possible d90 (4.9 bits for a bound)" in lines
    )
    partial = {**stored, "status": "partial", "settings": _settings(None, [0.1])}
    out = format_d90(partial)
    assert "search in progress: the store holds part of it" in out and "0123456789" not in out
    assert "training: all examples," in out and "subspace 0.1 (" in out
    assert "search " not in format_d90(_d90_result([453, 640]))  # no settings: no such lines
    grid = {**stored, "settings": {**_settings(1000, [0.1]), "grid": [16, 256]}}
    assert "d = 16, 256" in format_d90(grid) and "d from" not in format_d90(grid)


def test_results_d90_lists_a_cells_searches_together_oldest_first(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    for sid, task, created in (
        ("c", "sst2", "2026-12-03"),
        ("b", "mrpc", "2026-12-04"),
        ("a", "mrpc", "2026-12-02"),
    ):
        store.put_summary(
            {
                **_d90_result([None, 10]),
                "summary_id": sid,
                "task": task,
                "created": created,
                "settings": _settings(1000, [0.1]),
            }
        )
    assert main(["results", "--results-dir", str(tmp_path), "--d90"]) == 0
    ids = re.findall(r"search (\w), stored (\S+)", capsys.readouterr().out)
    assert ids == [("a", "2026-12-02"), ("b", "2026-12-04"), ("c", "2026-12-03")]


def test_results_d90_scale_lists_the_searches_its_figures_show(real_data_dir, monkeypatch, capsys):
    """--scale real: the committed store's MiniLM-L6 SST-2 SAID searches as Figure 1 finds them
    (the paper's threshold and the chance-corrected one), not the quick scale's or older
    versions' summaries of that cell, which the plain listing also holds."""
    from conftest import REPO

    monkeypatch.setenv("IDTHEORY_DATA", str(real_data_dir))
    store = str(REPO / "data" / "results")
    cell = ["--model", "minilm-l6", "--task", "sst2", "--method", "said"]
    assert main(["results", "--results-dir", store, "--d90", "--scale", "real", *cell]) == 0
    out = capsys.readouterr().out
    assert re.findall(r"d90 = (\S+)   bracket (\S+ \S+)", out) == [
        ("640", "(453, 640]"),
        ("3620", "(2560, 3620]"),
    ]
    assert out.count("training: 3,668 examples") == 2
    assert out.count(", stored 2026-12-04 22:39") == 2  # when measured, not when listed
    assert main(["results", "--results-dir", store, "--d90", *cell]) == 0
    assert capsys.readouterr().out.count("minilm-l6 / ") > 2  # every stored summary of the cell


def test_results_d90_scale_names_the_next_trainings(real_data_dir, tmp_path, monkeypatch, capsys):
    """With one training taken out of the committed store (MiniLM-L6's MRPC SAID at d = 7,241,
    lr 0.03), the paper's search stops there: the listing shows it in progress and names that
    training as the next one, with its checkpoint's progress when the store has one."""
    from conftest import REPO

    gone = "d35d78b231d6a115"
    lines = (REPO / "data" / "results" / "runs.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "runs.jsonl").write_text("".join(ln for ln in lines if gone not in ln))
    monkeypatch.setenv("IDTHEORY_DATA", str(real_data_dir))
    args = ["results", "--results-dir", str(tmp_path), "--d90", "--scale", "real"]
    cell = ["--model", "minilm-l6", "--task", "mrpc", "--method", "said"]
    assert main([*args, *cell]) == 0
    out = capsys.readouterr().out
    assert "status partial" in out and "next trainings of the real scale" in out
    # the chance-corrected search ended in the runs copied, but no summary came with them
    assert "its runs are stored, its summary is not" in out
    # d = 7,241 decides the bracket either way: (5,120, 7,241] or (7,241, 10,240], ratio 1.41
    assert "  to end: 1 more training (≈ " in out
    (row,) = [ln for ln in out.splitlines() if gone in ln]
    assert row.split()[1:6] == ["minilm-l6", "mrpc", "said", "7241", "0.03"], row
    # no checkpoint: step, done, left, saved, ago and state all "-"
    assert row.split()[6:8] == ["not", "started"] and row.split()[8:] == ["-"] * 6
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / f"{gone}.pt").write_bytes(b"")
    (partial / f"{gone}.json").write_text(
        json.dumps(
            {"run_id": gone, "step": 86, "total_steps": 345, "saved": "2026-12-05T08:38:00+00:00"}
        )
    )
    assert main([*args, *cell]) == 0
    (row,) = [ln for ln in capsys.readouterr().out.splitlines() if gone in ln]
    assert row.split()[6:10] == ["yes", "86/345", "25%", "-"] and "2026-12-05 08:38" in row
    assert main([*args, *cell, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in listed["searches"]] == ["partial", "never_passes"]
    assert listed["searches"][0]["trainings_left"] == [1, 1]
    assert "trainings_left" not in listed["searches"][1]  # finished
    assert [r["run_id"] for r in listed["next_trainings"]] == [gone]
    assert listed["next_trainings"][0]["step"] == "86/345"


def test_search_left_waits_for_a_grid_it_can_count(tmp_path):
    """A search whose d_max is still to be resolved from its baseline's runs has no count of
    what it needs (no line, no error); with d_max, nothing stored, it has its whole range."""
    from idtheory.reports import left_line, search_left

    settings = {**_settings(1000, [0.1]), "seeds": [0], "d_min": 10, "d_max": None, "d_floor": None}
    r = {"model": "m", "task": "mrpc", "method": "said", "settings": settings, "points": []}
    assert search_left(ResultsStore(tmp_path), r) is None
    r["settings"] = {**settings, "d_max": 40, "grid_factor": 2.0}
    lo, hi, hours = search_left(ResultsStore(tmp_path), r)
    assert (lo, hi, hours) == (1, 4, None)  # grid 10, 20, 40 then one bisection, one lr
    assert left_line(lo, hi, hours) == "to end: 1–4 more trainings"
    assert left_line(2, 2, 0.5) == "to end: 2 more trainings (≈ 1 CPU h at the 0.50 h its " + (
        "subspace trainings took on average)"
    )


def test_total_left_line_sums_trainings_and_prices_them_per_search():
    """The total over the searches in progress: trainings summed, and CPU hours priced at each
    search's own mean (1×1.5 + 2×0.5 = 2.5, 3×1.5 + 4×0.5 = 6.5), or no hours while one search
    has no mean yet."""
    from idtheory.reports import total_left_line

    assert total_left_line([(1, 3, 1.5), (2, 4, 0.5)]) == (
        "the 2 searches in progress need 3–7 more trainings in all (≈ 2.5–6.5 CPU h at each "
        "search's mean; fewer where two searches of a cell share a d)"
    )
    assert total_left_line([(1, 3, 1.5), (2, 2, None)]) == (
        "the 2 searches in progress need 3–5 more trainings in all (fewer where two searches "
        "of a cell share a d)"
    )


def test_results_d90_scale_is_narrowed_never_changed(tmp_path, capsys):
    """--model/--task/--method pick among the scale's own; another value, or another metric,
    is refused in one line (it listed the real scale's "searches" of RTE, which the scale
    leaves out)."""
    args = ["results", "--results-dir", str(tmp_path), "--d90", "--scale", "real"]
    err = _usage_error([*args, "--task", "rte"], capsys)
    assert "--task rte: not one of the real scale's tasks (mrpc, sst2)" in err
    assert "--model minilm-l12: not one of" in _usage_error(
        [*args, "--model", "minilm-l12"], capsys
    )
    assert "the real scale measures accuracy" in _usage_error([*args, "--metric", "f1"], capsys)
    assert not (tmp_path / "runs.jsonl").exists()


def test_stored_runs_retrains_nothing_but_names_a_failed_run(tmp_path):
    """A stored failed run is one computing would train again: the read-only trainer names it
    as needed and raises NotStored, so a render never stores it a second time."""
    from idtheory.config import RunSpec, TrainConfig
    from idtheory.search import NotStored, StoredRuns, record_of

    store = ResultsStore(tmp_path)
    spec = RunSpec(model="m", task="mrpc", train=TrainConfig(lr=1e-4))
    store.put_result(spec, {"status": "failed", "error": "boom"})
    seen: list = []
    with pytest.raises(NotStored):
        StoredRuns(store, on_missing=seen.append)(spec)
    assert seen == [spec]
    assert record_of(store, StoredRuns(store), spec) is None  # as a search reads it
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 1  # nothing re-stored


def test_results_d90_scale_never_trains(tmp_path, capsys):
    """The smoke scale computes when rendered; listing its searches only reads the store (the
    first version trained its tiny models into the store it listed)."""
    assert main(["results", "--results-dir", str(tmp_path), "--d90", "--scale", "smoke"]) == 0
    captured = capsys.readouterr()
    assert "missing: Figure 1 / Table 1: tiny-bert" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written


def test_results_scale_needs_d90(tmp_path, capsys):
    args = ["results", "--results-dir", str(tmp_path), "--scale", "real"]
    assert "use it with --d90" in _usage_error(args, capsys)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("dims=[10,", "not valid JSON"),
        ('train={"epochs": 2', "not valid JSON"),
        ("tasks=sst2", "expected a JSON list"),
        ("frac=O.9", "expected a JSON number"),
        ("compute=yes", "expected a JSON boolean"),
    ],
)
def test_figures_set_values_are_checked_before_rendering(item, message, monkeypatch, capsys):
    def render_all(**kwargs):
        raise AssertionError("a notebook started")

    monkeypatch.setattr("idtheory.figures.render_all", render_all)
    assert message in _usage_error(["figures", "--set", item], capsys)


def test_figures_set_still_takes_json_and_plain_strings():
    from idtheory.cli import parse_overrides

    assert parse_overrides(["dims=[10, 100]", "executor=local", "trend_floor=majority"]) == {
        "dims": [10, 100],
        "executor": "local",
        "trend_floor": "majority",
    }


def test_figures_repeated_set_flags_add_up(monkeypatch):
    """`--set a=… --set b=…` (scripts/sweep_real.sh builds it so) keeps both: the second
    flag must not replace the first (it did, and a sweep limited to one model trained both)."""
    seen = {}

    def render_all(**kwargs):
        seen.update(kwargs)
        return []

    monkeypatch.setattr("idtheory.figures.render_all", render_all)
    main(["figures", "--scale", "real", "--set", 'models=["minilm-l6"]', "--set", "workers=2"])
    assert seen["overrides"] == {"models": ["minilm-l6"], "workers": 2}


def test_majority_warning_quotes_the_evaluated_dev_subset(data_dir, capsys):
    """With --max-eval-examples the warning (and --floor majority) use the majority class of
    the dev examples the trainer scores, not of the whole dev set."""
    from idtheory.cli import _resolve_floor, _warn_degenerate_threshold
    from idtheory.tasks import load_task, majority_rate, majority_score

    args = build_parser().parse_args(
        ["d90", "--task", "mrpc", "--data-dir", str(data_dir), "--max-eval-examples", "32"]
    )
    subset = majority_rate(load_task("mrpc", "dev", data_dir, max_examples=32, seed=0).labels)
    assert subset != pytest.approx(majority_score("mrpc", data_dir=data_dir))  # 279/408
    _warn_degenerate_threshold(args, [{"threshold": 0.1}])
    err = capsys.readouterr().err
    assert f"of the 32 evaluated mrpc dev examples ({subset:.4f})" in err
    args.floor = "majority"
    assert _resolve_floor(args) == pytest.approx(subset)


def test_mistyped_model_with_the_hub_unreachable_fails_from_the_cache(
    data_dir, tmp_path, capsys, monkeypatch
):
    """HF_HUB_OFFLINE unset but no network: the hub is probed once (here: a stub that says it
    does not answer), and the model is looked up in the local cache only — no minute of hub
    retries — with a message that says why."""
    from idtheory import models

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://hub-mirror.invalid:8080/")
    probed: list[str] = []
    monkeypatch.setattr(models, "_hub_answers", lambda endpoint: probed.append(endpoint) or False)
    local_only: list[bool] = []

    def load_pretrained(name, num_labels, local_only_):
        local_only.append(local_only_)
        raise OSError(f"{name} is not in the cache")

    monkeypatch.setattr(models, "_load_pretrained", load_pretrained)
    args = ["finetune", *TINY, "--method", "full", "--data-dir", str(data_dir)]
    assert main([*args, "--model", "bert-bsae-uncased", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not found in the local cache" in err and "did not answer within 2 s" in err
    assert local_only == [True]
    assert probed and set(probed) == {"http://hub-mirror.invalid:8080"}


def test_the_hub_is_probed_once_per_process(monkeypatch):
    import urllib.error
    import urllib.request

    from idtheory import models

    calls: list[float] = []

    def urlopen(request, timeout):
        calls.append(timeout)
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://probe-once.invalid")
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    models._hub_answers.cache_clear()
    try:
        assert models.hub_unreachable() and models.hub_unreachable()
        assert calls == [models.HUB_PROBE_TIMEOUT_S]
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline: no probe at all
        assert models.hub_unreachable() and len(calls) == 1
    finally:
        models._hub_answers.cache_clear()


def test_d90_on_your_own_files(tmp_path, capsys):
    """idtheory d90 --train-file/--dev-file/--text-columns/--label-column: a CSV and a JSONL
    of one's own, measured like a GLUE task (stored, resumable, shown by its short name)."""

    rows = [("good movie", "pos"), ("bad plot", "neg"), ("great cast", "pos"), ("dull", "neg")]
    train = tmp_path / "reviews.csv"
    train.write_text("review,sentiment\n" + "".join(f"{t},{y}\n" for t, y in rows * 4))
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps({"review": t, "sentiment": y}) + "\n" for t, y in rows))
    own = ["--train-file", str(train), "--dev-file", str(dev), "--text-columns", "review"]
    own += ["--label-column", "sentiment"]
    tiny = ["--model", "tiny-bert", "--epochs", "1", "--batch-size", "8", "--quiet"]
    args = ["d90", *tiny, *own, "--results-dir", str(tmp_path / "res"), "--grid", "10"]
    args += ["--full-lrs", "1e-3", "--subspace-lrs", "1e-2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "tiny-bert / reviews / said" in out and "2 new, 0 reused" in out
    assert main(args) == 0
    assert "0 new, 2 reused" in capsys.readouterr().out
    assert main(["results", "--results-dir", str(tmp_path / "res")]) == 0
    assert capsys.readouterr().out.count(" reviews ") == 2
    assert main(["d90", *tiny, "--train-file", str(train), "--results-dir", str(tmp_path)]) == 2
    assert "--train-file, --dev-file and --text-columns go together" in capsys.readouterr().err


# ------------------------------------------------------------ options a mode would ignore


def test_certify_reference_trains_with_a_checkpoint_dir(tmp_path, monkeypatch):
    """The reference (the certificate's longest training) resumes after an interruption, as
    every other training: its trainer gets <results>/partial."""

    from test_certify import TINY_PROTOCOL  # tests/ is on sys.path

    seen: dict = {}

    def make_train_fn(**kwargs):
        seen.update(kwargs)
        raise KeyboardInterrupt  # stop before training; main reports it (exit 130)

    monkeypatch.setattr("idtheory.train.make_train_fn", make_train_fn)
    protocol = tmp_path / "protocol.json"
    protocol.write_text(json.dumps(TINY_PROTOCOL))
    store = tmp_path / "store"
    args = ["certify", "--protocol", str(protocol), "--results-dir", str(store), "--reference"]
    assert main(args) == 130
    assert seen["checkpoint_dir"] == str(store / "partial")


def test_certify_reference_rejects_runs(tmp_path, capsys, monkeypatch):
    calls = _no_training(monkeypatch)
    with pytest.raises(SystemExit):
        main(["certify", "--reference", "--runs", "0123456789abcdef"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert calls == []


def _two_models_store(root):
    """A store with one ok run of each of two models (and a d90 summary)."""
    import dataclasses

    from test_store import make_record, make_spec  # tests/ is on sys.path

    store = ResultsStore(root)
    for model in ("tiny-a", "tiny-b"):
        store.put(make_record(dataclasses.replace(make_spec(dim=10), model=model)))
    store.put_summary({"summary_id": "s", "model": "tiny-a", "task": "mrpc", "method": "said"})
    return store


def test_results_merge_honours_the_filters(tmp_path, capsys):
    """--merge --model M brings only M's runs (and their parameters), not every run."""
    _two_models_store(tmp_path / "other")
    here = ["results", "--results-dir", str(tmp_path / "here")]
    assert main([*here, "--merge", str(tmp_path / "other"), "--model", "tiny-a"]) == 0
    assert "1 runs, 0 summaries" in capsys.readouterr().out
    assert [r["spec"]["model"] for r in ResultsStore(tmp_path / "here").records()] == ["tiny-a"]
    assert main([*here, "--merge", str(tmp_path / "other")]) == 0  # no filter: everything
    assert "1 runs, 1 summaries" in capsys.readouterr().out


def test_results_d90_takes_the_metric_and_refuses_csv(tmp_path, capsys):

    store = ResultsStore(tmp_path)
    for metric, d90 in (("accuracy", 10), ("f1", 20)):
        store.put_summary({**_d90_result([None, d90]), "summary_id": metric, "metric": metric})
    listing = ["results", "--results-dir", str(tmp_path), "--d90", "--format", "json"]
    assert main(listing) == 0  # no --metric: every summary
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main([*listing, "--metric", "f1"]) == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert only["metric"] == "f1"
    assert "--d90 prints a table or json, not csv" in _usage_error([*listing[:-1], "csv"], capsys)


@pytest.mark.parametrize(
    "modes",
    [["--d90", "--merge", "x"], ["--d90", "--compare", "x"], ["--merge", "x", "--compare", "y"]],
)
def test_results_modes_are_exclusive(modes, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["results", "--results-dir", str(tmp_path), *modes])
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "runs.jsonl").exists()  # nothing merged


@pytest.mark.parametrize(
    "given",
    [["--d", "10"], ["--m", "100"], ["--train-error", "0.1"], ["--train-error-fp16", "0.1"]],
)
def test_bound_run_refuses_what_comes_from_the_run(given, tmp_path, monkeypatch, capsys):
    def bound_for_run(*args, **kwargs):
        raise AssertionError("bounded")

    monkeypatch.setattr("idtheory.compress.bound_for_run", bound_for_run)
    args = ["bound", "--run", "0123456789abcdef", "--results-dir", str(tmp_path), *given]
    assert f"idtheory bound: error: {given[0]}: --run takes d" in _usage_error(args, capsys)


_FULL = ["finetune", "--method", "full"]
_GRID = ["d90", "--grid", "10"]


@pytest.mark.parametrize(
    "mode, given, refusal",
    [
        *[
            (_FULL, g, "for --method said/did only")
            for g in (
                ["--projection", "dense"],
                ["--layout", "per_tensor"],
                ["--scaling", "tensor"],
                ["--proj-seed", "3"],
                ["--include", "encoder"],
                ["--exclude", "classifier"],
                ["--train-head"],
                ["--grad-scale", "authors"],
            )
        ],
        *[
            (_GRID, g, "for the search only; --grid trains")
            for g in (
                ["--d-min", "20"],
                ["--d-max", "1000"],
                ["--d-floor", "5"],
                ["--grid-factor", "2"],
                ["--bracket-ratio", "1.5"],
            )
        ],
    ],
)
def test_options_the_mode_would_ignore_are_refused(
    mode, given, refusal, tmp_path, monkeypatch, capsys
):
    """Full fine-tuning refuses subspace options; a grid refuses the search's options."""
    calls = _no_training(monkeypatch)
    args = [mode[0], *TINY, *mode[1:], "--results-dir", str(tmp_path), *given]
    assert f"{given[0]}: {refusal}" in _usage_error(args, capsys)
    assert calls == []


@pytest.mark.parametrize(
    "given", [["--text-columns", "review"], ["--label-column", "y"], ["--task-name", "mine"]]
)
def test_own_data_options_need_the_files(given, tmp_path, capsys, monkeypatch):
    calls = _no_training(monkeypatch)
    assert main(["finetune", *TINY, "--dim", "10", "--results-dir", str(tmp_path), *given]) == 2
    err = capsys.readouterr().err
    assert "idtheory finetune: error: --train-file, --dev-file and --text-columns go" in err
    assert "give --train-file, --dev-file" in err and len(err.strip().splitlines()) == 1
    assert calls == []


def test_d90_passes_d_floor_to_the_search(tmp_path, monkeypatch):
    import idtheory.search

    seen: dict = {}
    monkeypatch.setattr(
        idtheory.search, "measure_d90_many", lambda jobs, **kw: seen.update(kw) or []
    )
    main(["d90", *TINY, "--results-dir", str(tmp_path), "--d-min", "160", "--d-floor", "16"])
    assert (seen["d_min"], seen["d_floor"]) == (160, 16)


def test_a_reader_that_leaves_early_is_not_an_error(tmp_path):
    """`idtheory results | head -1`: no BrokenPipeError traceback, exit status 0."""
    import subprocess
    import sys

    store = tmp_path / "store"
    store.mkdir()
    line = (
        '{"run_id": "%016x", "spec": {"model": "m", "task": "mrpc", "train": {}}, "status": "ok"}'
    )
    (store / "runs.jsonl").write_text("\n".join(line % i for i in range(5000)) + "\n")
    done = subprocess.run(
        f"{sys.executable} -m idtheory.cli results --results-dir {store} | head -1",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert "BrokenPipe" not in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    "argv, refusal",
    [
        (["results", "--results-dir", "{tmp}/nowhere"], "--results-dir .*: no results store"),
        (["results", "--results-dir", "{tmp}", "--merge", "{tmp}/nowhere"], "--merge .*: no"),
        (["finetune", *TINY, "--dim", "10", "--data-dir", "{tmp}/nowhere"], "--data-dir .* is not"),
    ],
)
def test_paths_that_do_not_exist_are_refused(argv, refusal, tmp_path, capsys, monkeypatch):
    calls = _no_training(monkeypatch)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "finetune":
        argv += ["--results-dir", str(tmp_path / "results")]
    assert main(argv) == 2
    assert re.search(refusal, capsys.readouterr().err) and calls == []


def test_results_running_lists_trainings_in_progress(tmp_path, capsys):
    """`results --running` reads the progress beside each checkpoint (a checkpoint of older code
    without one still shows its run id and time); filters apply; nothing: a one-line note."""
    from idtheory.config import RunSpec, SubspaceConfig, TrainConfig

    partial = ResultsStore(tmp_path).partial_dir
    partial.mkdir(parents=True)
    spec = RunSpec("tiny-bert", "mrpc", TrainConfig(lr=0.1), SubspaceConfig(dim=40))
    progress = {
        "run_id": spec.config_hash(),
        "spec": spec.to_dict(),
        "step": 30,
        "total_steps": 120,
        "epoch": 0,
        "spent_s": 5400.0,
        "best": {"step": 20, "dev": {"accuracy": 0.75}},
        "saved": "2026-12-05T01:00:00+00:00",
    }
    (partial / f"{spec.config_hash()}.pt").write_bytes(b"")
    (partial / f"{spec.config_hash()}.json").write_text(json.dumps(progress))
    (partial / "0123456789abcdef.pt").write_bytes(b"")  # older code: no progress file
    base = ["results", "--results-dir", str(tmp_path), "--running"]
    assert main(base) == 0
    head, first, second = capsys.readouterr().out.splitlines()
    assert head.split()[:8] == ["run_id", "model", "task", "method", "dim", "lr", "step", "done"]
    assert first.split()[:13] == [
        *(spec.config_hash(), "tiny-bert", "mrpc", "said", "40", "0.1", "30/120", "25%"),
        *("0.75", "20", "1.5", "4.5", "h"),  # 90 steps left at 180 s each
    ]
    assert second.split()[:2] == ["0123456789abcdef", "-"]
    assert main([*base, "--method", "said", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [progress]
    assert main([*base, "--model", "other"]) == 0
    assert "no training in progress" in capsys.readouterr().out


def test_results_running_tells_running_from_stopped(tmp_path, capsys, monkeypatch):
    """A checkpoint's writer on this host is alive (running) or gone (stopped); on another host
    only its silence speaks: stopped? after STALE_SAVES save intervals without a save."""
    import os
    import socket
    import subprocess
    import sys
    from datetime import datetime, timedelta, timezone

    from idtheory import reports

    partial = ResultsStore(tmp_path).partial_dir
    partial.mkdir(parents=True)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    now = datetime.now(timezone.utc)
    here, away = socket.gethostname(), socket.gethostname() + "-elsewhere"
    writers = {  # run id: (host, pid, minutes since the last save)
        "a000000000000001": (here, os.getpid(), 1),
        "a000000000000002": (here, int(gone.stdout), 1),
        "a000000000000003": (away, 1, 5),
        "a000000000000004": (away, 1, 5 * (reports.STALE_SAVES + 1)),
    }
    for run_id, (host, pid, minutes) in writers.items():
        saved = (now - timedelta(minutes=minutes)).isoformat(timespec="seconds")
        (partial / f"{run_id}.pt").write_bytes(b"")
        progress = {"run_id": run_id, "host": host, "pid": pid, "every_s": 300.0, "saved": saved}
        (partial / f"{run_id}.json").write_text(json.dumps(progress))
    (partial / "a000000000000005.pt").write_bytes(b"")  # older code: no progress file
    assert main(["results", "--results-dir", str(tmp_path), "--running", "--format", "csv"]) == 0
    rows = {r["run_id"]: r["state"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows == {
        "a000000000000001": "running",
        "a000000000000002": "stopped",
        "a000000000000003": "running?",
        "a000000000000004": "stopped?",
        "a000000000000005": "",
    }


def test_a_dead_worker_is_reported_with_what_to_do(tmp_path, monkeypatch, capsys):
    """A worker process killed mid-training (the OOM killer) breaks the pool: one line saying
    what happened and that rerunning resumes, exit 1 — not a traceback."""
    from concurrent.futures.process import BrokenProcessPool

    from idtheory import cli

    def broken(args):
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    monkeypatch.setattr(cli, "cmd_d90", broken)
    assert main(["d90", *TINY, "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("idtheory d90: error: a worker process died") and "rerun" in err


def test_sigterm_takes_the_ctrl_c_path(monkeypatch, capsys):
    """A SIGTERM (`kill`, a scheduler's time limit; a background job ignores Ctrl-C) during a
    command ends it as a Ctrl-C does: exit 130 and the resume hint; the disposition is back
    after. A training under the command defers it to its step end (test_train)."""
    import signal

    from idtheory import reports

    seen = []

    def cmd(args):
        seen.append(signal.getsignal(signal.SIGTERM))
        signal.raise_signal(signal.SIGTERM)
        return 0

    monkeypatch.setattr(reports, "cmd_results", cmd)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        assert main(["results"]) == 130
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a disposition of the caller's own stays
        assert main(["results"]) == 0
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.default_int_handler, signal.SIG_IGN]
    assert "rerun the same command to resume" in capsys.readouterr().err
