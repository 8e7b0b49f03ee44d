"""The command line, end to end on a tiny random model and a slice of MRPC."""

from __future__ import annotations

import pytest

from idtheory.cli import build_parser, main

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


def test_d90_with_worker_processes_matches_local(data_dir, tmp_path, capsys):
    """--executor process: real trainings in two spawned workers give the local records."""
    grid = ["--grid", "10", "--subspace-lrs", "1e-2", "3e-2"]
    assert main(d90_args(data_dir, tmp_path / "local", *grid)) == 0
    procs = [*grid, "--executor", "process", "--max-parallel", "2"]
    assert main(d90_args(data_dir, tmp_path / "proc", *procs)) == 0
    out = capsys.readouterr().out
    assert out.count("3 new, 0 reused") == 2
    from idtheory.store import ResultsStore

    def metrics(root):
        recs = sorted(ResultsStore(root).records(), key=lambda r: r["run_id"])
        return [(r["run_id"], r["metrics"]["dev"]) for r in recs]

    assert metrics(tmp_path / "proc") == metrics(tmp_path / "local")


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
    with pytest.raises(SystemExit, match="--floor must be a number or 'majority'"):
        main([*args, "--floor", "chance"])


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
    assert "trainable 30" in out
    assert (
        main(
            [
                "bound",
                "--run",
                run_id,
                "--results-dir",
                str(tmp_path),
                "--data-dir",
                str(data_dir),
                "--levels",
                "8",
            ]
        )
        == 0
    )
    report = capsys.readouterr().out
    assert "Catoni" in report and "Occam" in report


def test_bound_table(capsys):
    assert (
        main(["bound", "--d", "207", "--m", "3668", "--train-error", "0.1", "--levels", "16"]) == 0
    )
    out = capsys.readouterr().out
    assert "Catoni" in out and "Aghajanyan" in out


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
