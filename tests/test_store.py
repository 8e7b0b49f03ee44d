"""Tests of idtheory.store: round trip, idempotence, retries, filters, concurrency, truncation."""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from idtheory.config import RunSpec, SubspaceConfig, TrainConfig
from idtheory.store import ResultsStore


def make_spec(
    dim: int | None = None, lr: float = 1e-3, seed: int = 0, task: str = "mrpc"
) -> RunSpec:
    sub = None if dim is None else SubspaceConfig(dim=dim)
    return RunSpec(model="tiny", task=task, train=TrainConfig(lr=lr, seed=seed), subspace=sub)


def make_record(
    spec: RunSpec, acc: float = 0.8, status: str = "ok", **extra: Any
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "run_id": spec.config_hash(),
        "spec": spec.to_dict(),
        "status": status,
        "message": "",
        "metrics": {"dev": {"accuracy": acc}, "train": {"accuracy": acc + 0.1}},
        "best_step": 10,
        "history": [{"step": 10, "epoch": 1.0, "train_loss": 0.5, "dev": {"accuracy": acc}}],
        "num_trainable": spec.dim or 1000,
        "num_params": 1000,
        "wall_time_s": 1.5,
        "peak_mem_mb": 10.0,
        "versions": {},
        "created": "2024-01-01T00:00:00+00:00",
        "host": "test",
    }
    rec.update(extra)
    return rec


def test_round_trip_and_reload(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    specs = [make_spec(d, lr) for d in (None, 10, 100) for lr in (1e-3, 1e-2)]
    for i, s in enumerate(specs):
        store.put(make_record(s, acc=0.5 + i / 100))
    assert len(store) == 6
    fresh = ResultsStore(tmp_path)  # a new object reads everything back from disk
    for i, s in enumerate(specs):
        rec = fresh.get(s.config_hash())
        assert rec == make_record(s, acc=0.5 + i / 100)
        assert s.config_hash() in fresh and s in fresh
        assert RunSpec.from_dict(rec["spec"]) == s
    assert fresh.get("0" * 16) is None and "0" * 16 not in fresh
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(x)["run_id"] for x in lines)


def test_put_is_idempotent_and_ok_is_final(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    spec = make_spec(10)
    store.put(make_record(spec, 0.7))
    stored = store.put(make_record(spec, 0.9))  # an ok record is never overwritten
    assert stored["metrics"]["dev"]["accuracy"] == 0.7
    store.put(make_record(spec, 0.7))
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 1


def test_failed_run_is_superseded_latest_wins(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    spec = make_spec(10)
    store.put(make_record(spec, status="failed", metrics={}, message="OOM"))
    store.put(make_record(spec, status="failed", metrics={}, message="OOM"))  # identical: no-op
    assert store.get(spec.config_hash())["status"] == "failed"
    store.put(make_record(spec, 0.75))
    assert store.get(spec.config_hash())["status"] == "ok"
    assert ResultsStore(tmp_path).get(spec.config_hash())["status"] == "ok"  # after reload too
    assert len(store.records()) == 1
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 2  # history kept on disk


def test_run_trains_once_and_retries_only_failed(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    calls: list[RunSpec] = []
    outcome = {"status": "failed"}

    def train(spec: RunSpec) -> dict[str, Any]:
        calls.append(spec)
        return make_record(spec, 0.6, status=outcome["status"])

    spec = make_spec(10)
    assert store.run(spec, train)["status"] == "failed"
    outcome["status"] = "ok"
    assert store.run(spec, train)["status"] == "ok"  # failed → retried
    assert store.run(spec, train)["status"] == "ok"  # ok → reused
    assert len(calls) == 2

    spec2 = make_spec(20)
    outcome["status"] = "diverged"
    store.run(spec2, train)
    store.run(spec2, train)  # diverged is an outcome, not retried by default
    assert len(calls) == 3
    store.run(spec2, train, retry=("failed", "diverged"))
    assert len(calls) == 4


def test_run_fills_and_checks_run_id(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    spec = make_spec(10)
    rec = store.run(spec, lambda s: {"status": "ok", "metrics": {"dev": {"accuracy": 0.5}}})
    assert rec["run_id"] == spec.config_hash() and rec["spec"] == spec.to_dict()
    with pytest.raises(ValueError, match="run_id"):
        store.run(make_spec(11), lambda s: make_record(make_spec(12)))
    with pytest.raises(ValueError, match="status"):
        store.put({"run_id": "x", "status": "weird"})


def test_records_filters_and_rows(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    for d in (None, 10, 100):
        for lr in (1e-3, 1e-2):
            store.put(make_record(make_spec(d, lr), acc=0.8))
    store.put(make_record(make_spec(10, 1e-3, task="qqp"), status="diverged", acc=0.1))
    assert len(store.records()) == 7
    assert len(store.records(method="full")) == 2
    assert len(store.records(method="said", dim=10)) == 3
    assert len(store.records(task="mrpc", dim=(10, 100))) == 4
    assert len(store.records(status="diverged")) == 1
    assert len(store.records(lr=1e-2, **{"subspace.projection": "fastfood"})) == 2
    assert len(store.records(dim=lambda d: d is not None and d > 50)) == 2
    rows = store.to_rows(task="qqp")
    assert rows == [
        {
            "run_id": make_spec(10, 1e-3, task="qqp").config_hash(),
            "model": "tiny",
            "task": "qqp",
            "method": "said",
            "dim": 10,
            "lr": 1e-3,
            "seed": 0,
            "dev_accuracy": 0.1,
            "train_accuracy": pytest.approx(0.2),
            "best_step": 10,
            "num_trainable": 10,
            "status": "diverged",
            "wall_time_s": 1.5,
            "training": TrainConfig().precision,  # defaults otherwise
            "variant": "",
        }
    ]


def test_summaries_latest_wins_and_no_duplicates(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    s1 = {"summary_id": "a", "model": "tiny", "task": "mrpc", "d90": 100, "created": "t1"}
    store.put_summary(s1)
    store.put_summary({**s1, "created": "t2"})  # only a volatile key differs: not written
    assert len((tmp_path / "d90.jsonl").read_text().splitlines()) == 1
    store.put_summary({**s1, "d90": 120})
    store.put_summary({"summary_id": "b", "model": "tiny", "task": "qqp", "d90": 5})
    assert [s["d90"] for s in ResultsStore(tmp_path).summaries()] == [120, 5]
    assert [s["summary_id"] for s in store.summaries(task="qqp")] == ["b"]
    with pytest.raises(ValueError):
        store.put_summary({"d90": 1})


def test_storing_a_final_record_removes_its_checkpoint(tmp_path: Path) -> None:
    """A trainer that keeps its checkpoint until the record is stored (keep_checkpoint) leaves
    it to put: a final record takes it away, a failed one (trained again) leaves it to resume
    from, and other runs' checkpoints stay."""
    store = ResultsStore(tmp_path)
    store.partial_dir.mkdir(parents=True)
    done, failed, other = make_spec(10), make_spec(20), make_spec(30)
    for spec in (done, failed, other):
        for suffix in (".pt", ".json"):
            (store.partial_dir / f"{spec.config_hash()}{suffix}").write_text("{}")
    store.put(make_record(failed, status="failed", message="CUDA out of memory"))
    store.put(make_record(done))
    left = sorted(f.name for f in store.partial_dir.iterdir())
    assert left == sorted(
        f"{s.config_hash()}{x}" for s in (failed, other) for x in (".json", ".pt")
    )
    store.put(make_record(failed))  # trained again and finished: its checkpoint goes too
    assert sorted({f.name.split(".")[0] for f in store.partial_dir.iterdir()}) == [
        other.config_hash()
    ]


def test_a_failed_record_never_replaces_a_final_one(tmp_path: Path) -> None:
    """A run that diverged here and failed elsewhere (merged in) stays diverged: final, not
    trained again; a failed record still gives way to a later one."""
    store = ResultsStore(tmp_path)
    spec = make_spec(10)
    store.put(make_record(spec, status="diverged", message="non-finite loss"))
    store.put(make_record(spec, status="failed", message="CUDA out of memory"))
    assert store.get(spec.config_hash())["status"] == "diverged"
    assert not store.needs_training(spec)
    other = make_spec(20)
    store.put(make_record(other, status="failed"))
    store.put(make_record(other, status="diverged"))
    assert store.get(other.config_hash())["status"] == "diverged"


def test_merge_keeps_the_newer_summary(tmp_path: Path) -> None:
    """Of two summaries of one search, the later stored wins a merge both ways."""
    home, away = ResultsStore(tmp_path / "home"), ResultsStore(tmp_path / "away")
    old = {"summary_id": "s", "d90": 100, "created": "2026-12-01T00:00:00+00:00"}
    new = {"summary_id": "s", "d90": 120, "created": "2026-12-02T00:00:00+00:00"}
    home.put_summary(new)
    away.put_summary(old)
    assert home.merge(away)["summaries"] == 0 and home.summaries()[0]["d90"] == 120
    assert away.merge(home)["summaries"] == 1 and away.summaries()[0]["d90"] == 120


def test_truncated_last_line_is_skipped_with_warning(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    specs = [make_spec(d) for d in (10, 20, 30)]
    for s in specs[:2]:
        store.put(make_record(s))
    path = tmp_path / "runs.jsonl"
    full_line = json.dumps(make_record(specs[2]))
    with open(path, "a") as fh:
        fh.write(full_line[: len(full_line) // 2])  # an interrupted write
    fresh = ResultsStore(tmp_path)
    with pytest.warns(RuntimeWarning, match="unreadable line"):
        assert len(fresh.records()) == 2
    assert specs[2].config_hash() not in fresh
    # The next append terminates the broken line first, so the new record is intact.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per line and store object
        fresh.put(make_record(specs[2]))
    assert fresh.get(specs[2].config_hash()) == make_record(specs[2])
    with pytest.warns(RuntimeWarning, match="unreadable line"):
        again = ResultsStore(tmp_path)
        assert len(again.records()) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert again.get(specs[2].config_hash()) == make_record(specs[2])


def test_store_sees_other_writers(tmp_path: Path) -> None:
    a, b = ResultsStore(tmp_path), ResultsStore(tmp_path)
    assert len(a) == 0
    b.put(make_record(make_spec(10)))
    assert make_spec(10) in a  # a reads what b appended
    a.put(make_record(make_spec(10), acc=0.1))  # already ok (written by b): not duplicated
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 1


def _writer(root: str, worker: int, n: int, barrier: Any) -> None:
    import time

    from idtheory import store as store_mod

    # Widen the read-decide-write window of each append, so that without the exclusive lock the
    # two workers would both write the shared runs (this makes the test able to fail).
    read_new = store_mod._JsonlLog._read_new

    def slow_read_new(self: Any, fh: Any) -> None:
        read_new(self, fh)
        time.sleep(0.0005)

    store_mod._JsonlLog._read_new = slow_read_new  # type: ignore[method-assign]
    store = ResultsStore(root)
    barrier.wait()
    for i in range(n):
        store.put(make_record(make_spec(dim=1 + i, lr=1e-3 * (worker + 1))))
        if i % 4 == 0:
            store.put(make_record(make_spec(dim=10_000 + i)))  # the same runs from both workers


def test_two_processes_append_concurrently(tmp_path: Path) -> None:
    n = 200
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, n, barrier)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    parsed = [json.loads(x) for x in lines]  # every line intact
    store = ResultsStore(tmp_path)
    n_shared = n // 4
    assert len(store.records()) == 2 * n + n_shared  # 2×200 distinct + 50 shared: none lost
    assert len(parsed) == 2 * n + n_shared  # the shared runs were written once, not twice


def test_store_module_does_not_import_torch() -> None:
    code = "import sys, idtheory.store, idtheory.search; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rows_name_non_default_subspace_options(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    spec = RunSpec("tiny", "mrpc", TrainConfig(), SubspaceConfig(dim=10, layout="per_tensor"))
    store.put(make_record(spec))
    store.put(make_record(make_spec(None)))
    variants = sorted(r["variant"] for r in store.to_rows())
    assert variants == ["", "layout=per_tensor"]


def test_rows_name_non_default_training_settings(tmp_path: Path) -> None:
    """Runs that differ in data size, epochs, grouping or precision do not look alike."""
    store = ResultsStore(tmp_path)
    train = TrainConfig(max_train_examples=64, epochs=1, group_by_length=True, precision="bf16")
    store.put(make_record(RunSpec("tiny", "mrpc", train)))
    store.put(make_record(RunSpec("tiny", "mrpc", TrainConfig(precision="fp32"))))
    trainings = sorted(r["training"] for r in store.to_rows())
    assert trainings == ["epochs=1 grouped n_train=64 bf16", "fp32"]


def test_compare_two_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A recompute checked against a reference store: shared runs side by side."""
    from idtheory.cli import main
    from idtheory.store import compare_summary

    ref, new = ResultsStore(tmp_path / "ref"), ResultsStore(tmp_path / "new")
    same, moved, only_ref, only_new = (make_spec(d) for d in (None, 10, 100, 1000))
    ref.put(make_record(same, acc=0.80))
    new.put(make_record(same, acc=0.80, wall_time_s=3.0))
    ref.put(make_record(moved, acc=0.70))
    new.put(make_record(moved, acc=0.72, wall_time_s=3.0))
    ref.put(make_record(only_ref))
    new.put(make_record(only_new))

    rows = ref.compare(new)
    assert [r["run_id"] for r in rows] == [same.config_hash(), moved.config_hash()]
    assert rows[0]["delta"] == 0 and rows[1]["delta"] == pytest.approx(0.02)
    assert rows[1]["dim"] == 10 and rows[1]["method"] == "said"
    s = compare_summary(rows)
    assert (s["shared"], s["compared"], s["agree"]) == (2, 2, 1)
    assert s["max_abs_delta"] == pytest.approx(0.02)
    assert s["time_ratio"] == pytest.approx(2.0)  # 6 s against 3 s
    assert compare_summary(rows, tol=0.05)["agree"] == 2
    assert ref.compare(new, dim=10) == rows[1:]  # filters apply

    assert main(["results", "--results-dir", str(ref.root), "--compare", str(new.root)]) == 0
    out = capsys.readouterr().out
    assert "2 runs in both stores" in out and "agrees within 0 for 1 of 2" in out
    assert (
        main(["results", "--results-dir", str(ref.root), "--compare", str(tmp_path / "nope")]) == 2
    )
    assert "idtheory results: error: no results store" in capsys.readouterr().err


def test_merge_brings_what_the_other_store_lacks(tmp_path):
    """A sweep's store comes home: new runs, summaries, bounds and parameter directories are
    added, final records are kept, and a second merge writes nothing."""
    from idtheory.config import RunSpec, TrainConfig

    home, away = ResultsStore(tmp_path / "home"), ResultsStore(tmp_path / "away")

    def record(lr: float, acc: float, status: str = "ok") -> dict:
        spec = RunSpec("m", "t", TrainConfig(lr=lr, precision="fp32", device="cpu"))
        return {
            "run_id": spec.config_hash(),
            "spec": spec.to_dict(),
            "status": status,
            "metrics": {"dev": {"accuracy": acc}, "train": {}},
        }

    shared = record(1e-4, 0.8)
    home.put(shared)
    away.put({**shared, "metrics": {"dev": {"accuracy": 0.1}, "train": {}}})  # a rival record
    new = record(5e-5, 0.7)
    away.put(new)
    away.put_summary({"summary_id": "s1", "model": "m", "task": "t", "method": "said"})
    away.put_bound({"run_id": shared["run_id"], "settings": {"levels": 16}, "bound": 0.3})
    (away.root / "params" / new["run_id"]).mkdir(parents=True)
    (away.root / "params" / new["run_id"] / "theta.bin").write_bytes(b"x")
    (away.root / "params" / "abc").mkdir()  # a run still saving there (no record yet): not yet
    (away.root / "params" / "abc" / "theta.bin").write_bytes(b"half")

    counts = {"runs": 1, "summaries": 1, "bounds": 1, "params": 1, "partial": 0, "pruned": 0}
    assert home.merge(away.root) == counts
    assert home.get(shared["run_id"])["metrics"]["dev"]["accuracy"] == 0.8  # final kept
    assert len(home) == 2 and home.summaries()[0]["summary_id"] == "s1"
    assert (home.root / "params" / new["run_id"] / "theta.bin").read_bytes() == b"x"
    assert not (home.root / "params" / "abc").exists()
    assert home.merge(away) == dict.fromkeys(counts, 0)
    # a directory copied incomplete (by a merge that older code interrupted) is made whole
    (home.root / "params" / new["run_id"] / "theta.bin").unlink()
    (away.root / "params" / new["run_id"] / "config.json").write_text("{}")
    assert home.merge(away)["params"] == 1
    assert sorted(f.name for f in (home.root / "params" / new["run_id"]).iterdir()) == [
        "config.json",
        "theta.bin",
    ]
    assert sorted(f.name for f in home.root.iterdir() if f.name.startswith(".")) == []

    picked = ResultsStore(tmp_path / "picked")  # only= brings just those runs and parameters
    (away.root / "params" / shared["run_id"]).mkdir()
    assert picked.merge(away, only=[shared["run_id"]]) == {
        "runs": 1,
        "summaries": 0,
        "bounds": 0,
        "params": 1,
        "pruned": 0,
    }
    assert [r["run_id"] for r in picked] == [shared["run_id"]]
    assert not (picked.root / "params" / "abc").exists()


def test_merge_carries_the_checkpoints_of_trainings_in_flight(tmp_path):
    """A sweep's trainings in flight resume where its store is merged: their checkpoints come
    along when small enough and further along than the ones here; those of runs that finished
    (elsewhere, their records merged) go."""
    import os

    from idtheory.config import RunSpec, TrainConfig

    home, away = ResultsStore(tmp_path / "home"), ResultsStore(tmp_path / "away")

    def checkpoint(store, run_id, step, size=100, mtime=None):
        store.partial_dir.mkdir(parents=True, exist_ok=True)
        (store.partial_dir / f"{run_id}.pt").write_bytes(b"c" * size)
        if step is not None:
            (store.partial_dir / f"{run_id}.json").write_text(json.dumps({"step": step}))
        if mtime is not None:
            os.utime(store.partial_dir / f"{run_id}.pt", (mtime, mtime))

    checkpoint(away, "ahead", 40)  # further along than home's copy: replaces it
    checkpoint(home, "ahead", 30)
    checkpoint(away, "behind", 10)  # home's copy is further along: kept
    checkpoint(home, "behind", 20)
    checkpoint(away, "new", 5)  # home has none: copied
    checkpoint(away, "big", 5, size=3 * 2**20)  # over the limit: left behind
    checkpoint(away, "old-code", None, mtime=2_000)  # no progress files: by time
    checkpoint(home, "old-code", None, mtime=1_000)
    spec = RunSpec("m", "t", TrainConfig(precision="fp32", device="cpu"))
    done = spec.config_hash()
    checkpoint(home, done, 7)  # finished away: its record comes in, its checkpoint goes
    away.put({"run_id": done, "spec": spec.to_dict(), "status": "ok", "metrics": {}})

    counts = home.merge(away, partial_max_mb=2)
    assert (counts["partial"], counts["pruned"]) == (3, 1)
    assert json.loads((home.partial_dir / "ahead.json").read_text())["step"] == 40
    assert json.loads((home.partial_dir / "behind.json").read_text())["step"] == 20
    assert (home.partial_dir / "new.pt").exists() and not (home.partial_dir / "big.pt").exists()
    assert (home.partial_dir / "old-code.pt").stat().st_mtime == 2_000
    assert not list(home.partial_dir.glob(f"{done}.*"))
    assert not list(home.partial_dir.glob("*.tmp"))
    assert home.merge(away, partial_max_mb=2)["partial"] == 0  # idempotent
    assert home.merge(away, partial_max_mb=None)["partial"] == 1  # no limit: the big one too


def test_results_merge_command(tmp_path, capsys):
    from idtheory.cli import main
    from idtheory.config import RunSpec, TrainConfig

    spec = RunSpec("m", "t", TrainConfig(precision="fp32", device="cpu"))
    ResultsStore(tmp_path / "away").put(
        {"run_id": spec.config_hash(), "spec": spec.to_dict(), "status": "ok", "metrics": {}}
    )
    (tmp_path / "away" / "partial").mkdir()
    (tmp_path / "away" / "partial" / "inflight.pt").write_bytes(b"c")
    merge = ["results", "--results-dir", str(tmp_path / "home"), "--merge", str(tmp_path / "away")]
    main([*merge, "--partial-max-mb", "0"])  # 0: no checkpoints
    assert "1 runs" in capsys.readouterr().out
    assert spec.config_hash() in ResultsStore(tmp_path / "home")
    assert not (tmp_path / "home" / "partial" / "inflight.pt").exists()
    main(merge)
    assert "1 checkpoints of trainings in flight added" in capsys.readouterr().out
    assert (tmp_path / "home" / "partial" / "inflight.pt").read_bytes() == b"c"


def test_merge_replaces_a_bound_recomputed_elsewhere(tmp_path: Path) -> None:
    """A bound of the same key (run_id, settings) whose content differs in the other store (it
    was recomputed there, say after a fix) replaces this store's, and counts as merged."""
    home, away = ResultsStore(tmp_path / "home"), ResultsStore(tmp_path / "away")
    key = {"run_id": "r1", "settings": {"levels": 16}}
    home.put_bound({**key, "bound": 0.40})
    away.put_bound({**key, "bound": 0.31})
    assert home.merge(away)["bounds"] == 1
    assert [b["bound"] for b in home.bounds(run_id="r1")] == [0.31]
    assert [b["bound"] for b in ResultsStore(tmp_path / "home").bounds()] == [0.31]
    assert home.merge(away)["bounds"] == 0  # now the same: nothing more


def test_a_log_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    """A log rewritten in place (same inode, now shorter than what was read of it) is read from
    its start again: the store holds what the file now says, not an error or stale records."""
    store = ResultsStore(tmp_path)
    specs = [make_spec(d) for d in (10, 20, 30)]
    for s in specs:
        store.put(make_record(s))
    assert len(store) == 3
    path = tmp_path / "runs.jsonl"
    inode = path.stat().st_ino
    lines = path.read_text().splitlines(keepends=True)
    with open(path, "r+") as fh:  # e.g. an editor that writes the file back in place
        fh.truncate(0)
        fh.writelines(lines[:2])
    assert path.stat().st_ino == inode
    assert len(store) == 2
    assert [r["run_id"] for r in store] == [s.config_hash() for s in specs[:2]]
    assert specs[2] not in store


def test_a_summary_differing_only_in_a_derived_key_is_not_written_again(tmp_path: Path) -> None:
    """A summary stored before ``threshold_kind`` existed, put again with it (derived from
    ``settings["floor"]``), is the same summary: no second line."""
    store = ResultsStore(tmp_path)
    old = {"summary_id": "a", "model": "tiny", "d90": 100, "settings": {"floor": 0}}
    store.put_summary(old)
    assert store.put_summary({**old, "threshold_kind": "paper"}) == old
    assert len((tmp_path / "d90.jsonl").read_text().splitlines()) == 1
    # the stored summary of one that says the same; none for one that says otherwise
    assert store.stored_summary({**old, "threshold_kind": "paper", "created": "t9"}) == old
    assert store.stored_summary({**old, "d90": 120}) is None
    assert store.stored_summary({**old, "summary_id": "b"}) is None


def test_merge_keeps_the_checkpoint_of_a_run_that_failed_elsewhere(tmp_path: Path) -> None:
    """A run whose record comes in from the other store as ``"failed"`` will be trained again
    here: its checkpoint in this store is kept (only final runs' checkpoints are pruned)."""
    home, away = ResultsStore(tmp_path / "home"), ResultsStore(tmp_path / "away")
    spec = make_spec(10)
    run_id = spec.config_hash()
    home.partial_dir.mkdir(parents=True)
    (home.partial_dir / f"{run_id}.pt").write_bytes(b"state at step 300")
    (home.partial_dir / f"{run_id}.json").write_text(json.dumps({"step": 300}))
    away.put(make_record(spec, status="failed", metrics={}, message="CUDA out of memory"))
    counts = home.merge(away)
    assert (counts["runs"], counts["pruned"]) == (1, 0)
    assert home.get(run_id)["status"] == "failed" and home.needs_training(spec)
    assert (home.partial_dir / f"{run_id}.pt").read_bytes() == b"state at step 300"
    assert (home.partial_dir / f"{run_id}.json").exists()
