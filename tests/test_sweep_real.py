"""scripts/sweep_real.sh passes MODELS, TASKS, METHODS, FLOORS and WORKERS to `idtheory figures`
as one --set each (the CLI adds repeated --set flags up; tests/test_cli.py checks that side)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "sweep_real.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def test_sweep_passes_models_tasks_methods_floors_and_workers(tmp_path):
    fake = tmp_path / "python"  # stands in for the interpreter: prints what it was given
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PYTHON": str(fake),
        "MODELS": '["minilm-l6"]',
        "TASKS": '["sst2"]',
        "METHODS": '["said"]',
        "FLOORS": "[0]",
        "WORKERS": "1",
        "COMMIT_EVERY": "0",
    }
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    args = done.stdout.splitlines()  # the script's "== sweep start" line, then the arguments
    assert args[1:7] == ["-m", "idtheory.cli", "figures", "--scale", "real", "--compute"]
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    expected = ['models=["minilm-l6"]', 'tasks=["sst2"]', 'methods=["said"]', "floors=[0]"]
    assert sets == [*expected, "workers=1"]


@pytest.mark.parametrize(("fails", "runs", "rc"), [(1, 2, 0), (5, 3, 1)])
def test_a_failed_sweep_is_started_again(tmp_path, fails, runs, rc):
    """A sweep that fails (e.g. a worker killed for memory breaks the pool) is resumed up to
    TRIES times; one that succeeds is not run again; the last failure's status is returned."""
    fake = tmp_path / "python"  # fails its first `fails` runs
    count = tmp_path / "count"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f"n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}\n"
        f'[ "$n" -gt {fails} ]\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake), "COMMIT_EVERY": "0", "RETRY_WAIT_S": "0"}
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env)
    assert done.returncode == rc and int(count.read_text()) == runs
    assert done.stdout.count("== sweep start") == runs and f"(try {runs} of 3)" in done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_commits_carry_small_checkpoints_of_trainings_in_flight(tmp_path):
    """With COMMIT_EVERY > 0 the store is committed (here at exit) with the checkpoints of the
    trainings in flight below PARTIAL_MAX_MB, though data/results/partial/ is git-ignored, so
    another machine resumes them from the clone; a large one (a full fine-tuning's) and one
    being written (.tmp) stay local; a checkpoint the store deleted (its training finished) is
    deleted in the next commit; the commit loop leaves no sleep behind."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "scripts" / "sweep_real.sh")
    (repo / ".gitignore").write_text("data/results/partial/\n")
    partial = repo / "data" / "results" / "partial"
    partial.mkdir(parents=True)
    (repo / "data" / "results" / "runs.jsonl").write_text('{"run_id": "a"}\n')
    (partial / "small.pt").write_bytes(b"x" * 50_000)
    (partial / "small.json").write_text("{}")
    (partial / "large.pt").write_bytes(b"x" * 2_200_000)
    (partial / "next.pt.tmp").write_bytes(b"x" * 100)  # a checkpoint being written
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    env = {
        **os.environ,
        "PYTHON": "true",  # the sweep itself: succeeds at once
        "COMMIT_EVERY": "3599",
        "PARTIAL_MAX_MB": "2",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    script = ["bash", str(repo / "scripts" / "sweep_real.sh")]

    def tracked() -> list[str]:
        out = subprocess.run([*git, "ls-files", "data"], capture_output=True, text=True)
        return sorted(out.stdout.split())

    done = subprocess.run(script, capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "== committed the store" in done.stdout, done.stderr
    assert tracked() == [
        "data/results/partial/small.json",
        "data/results/partial/small.pt",
        "data/results/runs.jsonl",
    ]
    sleeping = subprocess.run(["pgrep", "-fx", "sleep 3599"], capture_output=True, text=True)
    assert not sleeping.stdout, "the commit loop's sleep outlived the script"
    (partial / "small.pt").unlink()
    (partial / "small.json").unlink()
    done = subprocess.run(script, capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "== committed the store" in done.stdout, done.stderr
    assert tracked() == ["data/results/runs.jsonl"]
