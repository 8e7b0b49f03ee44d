"""Wiring of the trend experiments (:mod:`idtheory.trends`): the majority score on the dev
examples the trainer scores, ``data_dir`` reaching the default trainer, and the baseline's
trainings recorded by the driver for executors with ``driver_records``."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from idtheory.config import RunSpec, TrainConfig
from idtheory.search import StoredRuns
from idtheory.store import ResultsStore
from idtheory.tasks import majority_score
from idtheory.trends import UNABLE, pretraining_trend, run_baseline, size_trend

T = TypeVar("T")
R = TypeVar("R")

#: Dev examples scored: on MRPC (the fixture's and GLUE's) the majority of the first 8 drawn
#: with seed 0 differs from that of the whole dev set.
N_EVAL = 8


def record(spec: RunSpec, acc: float = 0.5) -> dict[str, Any]:
    """A trainer's record of ``spec`` with dev accuracy ``acc``."""
    return {
        "run_id": spec.config_hash(),
        "spec": spec.to_dict(),
        "status": "ok",
        "metrics": {"dev": {"accuracy": acc}, "train": {"accuracy": acc}},
        "num_params": 1000,
    }


class Trainer:
    """A fake trainer (full fine-tuning accuracy ``acc``) that remembers its specs."""

    def __init__(self, acc: float = 0.5) -> None:
        self.acc = acc
        self.calls: list[RunSpec] = []

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        self.calls.append(spec)
        return record(spec, self.acc)


class WatchedStore(ResultsStore):
    """A store that notes, for every write, whether it happened inside an executor's unit."""

    in_worker = False

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes: list[bool] = []

    def put(self, record: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(self.in_worker)
        return super().put(record)


class DriverRecordsExecutor:
    """Runs units in this process, like a Ray executor whose driver writes the records."""

    driver_records = True

    def __init__(self, store: WatchedStore) -> None:
        self.store = store
        self.items: list[Any] = []

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        self.items.extend(items)
        self.store.in_worker = True
        try:
            return [fn(x) for x in items]
        finally:
            self.store.in_worker = False


def baseline(store: ResultsStore, train_fn: Any, executor: Any) -> tuple[Any, list[Any]]:
    return run_baseline(
        "m",
        "mrpc",
        store=store,
        train_fn=train_fn,
        executor=executor,
        full_lrs=(1e-5, 2e-5),
        seeds=(0,),
        base_train=None,
        metric="accuracy",
        progress=False,
    )


def test_run_baseline_with_driver_records_trains_in_workers_and_writes_on_the_driver(
    tmp_path: Path,
) -> None:
    store = WatchedStore(tmp_path)
    stored = RunSpec(model="m", task="mrpc", train=TrainConfig(lr=1e-5, seed=0))
    store.put_result(stored, record(stored, 0.9))
    trainer, executor = Trainer(0.7), DriverRecordsExecutor(store)
    score, records = baseline(store, trainer, executor)
    assert store.writes == [False, False]  # the stored record, then the trained one
    assert [s.train.lr for s in executor.items] == [2e-5]  # the stored run is not submitted
    assert [s.train.lr for s in trainer.calls] == [2e-5]
    assert [r["metrics"]["dev"]["accuracy"] for r in records] == [0.9, 0.7] and score == 0.9
    assert store.get(executor.items[0].config_hash()) == records[1]
    # Nothing is trained or written again; a store-only trainer submits nothing either.
    assert baseline(store, trainer, executor) == (score, records)
    assert len(trainer.calls) == 1 and len(store.writes) == 2
    fresh = WatchedStore(tmp_path / "fresh")
    fresh.put_result(stored, record(stored, 0.9))
    assert baseline(fresh, StoredRuns(fresh), DriverRecordsExecutor(fresh)) == (
        None,
        [fresh.get(stored.config_hash()), None],
    )


class FutureDriverExecutor(DriverRecordsExecutor):
    """The same with ``submit`` (as the process and Ray executors have)."""

    def submit(self, fn: Callable[[T], R], item: T) -> concurrent.futures.Future[R]:
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        try:
            future.set_result(self.map(fn, [item])[0])
        except Exception as exc:
            future.set_exception(exc)
        return future


def test_run_baseline_records_each_submitted_training_as_it_ends(tmp_path: Path) -> None:
    """With ``submit`` a failing training does not take the finished ones' records with it."""
    store = WatchedStore(tmp_path)

    def trainer(spec: RunSpec) -> dict[str, Any]:
        if spec.train.lr == 2e-5:
            raise RuntimeError("worker died")
        return record(spec, 0.8)

    with pytest.raises(RuntimeError, match="worker died"):
        baseline(store, trainer, FutureDriverExecutor(store))
    assert store.writes == [False]  # the 1e-5 training, written by the driver
    assert [r["spec"]["train"]["lr"] for r in store.records()] == [1e-5]


def test_run_baseline_without_driver_records_lets_units_write(tmp_path: Path) -> None:
    store = WatchedStore(tmp_path)
    executor = DriverRecordsExecutor(store)
    executor.driver_records = False
    score, _ = baseline(store, Trainer(0.8), executor)
    assert score == 0.8 and store.writes == [True, True] and len(executor.items) == 2


def test_trends_score_the_majority_on_the_trainers_dev_subset(
    tmp_path: Path, data_dir: Path
) -> None:
    whole = majority_score("mrpc", "accuracy", data_dir)
    subset = majority_score("mrpc", "accuracy", data_dir, max_examples=N_EVAL, seed=0)
    assert subset != pytest.approx(whole)  # else this test could not tell them apart
    kw: dict[str, Any] = dict(
        store=ResultsStore(tmp_path),
        train_fn=Trainer(),
        data_dir=data_dir,
        progress=False,
        full_lrs=(1e-5,),
    )
    base = TrainConfig(max_eval_examples=N_EVAL)
    rows = pretraining_trend([(0, "m")], "mrpc", base_train=base, **kw)
    with pytest.warns(UserWarning, match="no log-log fit"):
        sized = size_trend({"m": 1000}, "mrpc", base_train=base, **kw)
    plain = pretraining_trend([(0, "m")], "mrpc", **kw)
    assert rows[0]["status"] == sized.rows[0]["status"] == UNABLE
    assert rows[0]["majority"] == sized.rows[0]["majority"] == pytest.approx(subset)
    assert plain[0]["majority"] == pytest.approx(whole)


def test_trends_default_trainer_reads_data_dir(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = pytest.importorskip("idtheory.train")
    seen: list[Any] = []

    def fake_run_spec(spec: RunSpec, *, data_dir: Any = None, **_: Any) -> dict[str, Any]:
        seen.append(data_dir)
        return record(spec)

    monkeypatch.setattr(train, "run_spec", fake_run_spec)
    kw: dict[str, Any] = dict(data_dir=data_dir, progress=False, full_lrs=(1e-5,))
    rows = pretraining_trend([(0, "m")], "mrpc", store=ResultsStore(tmp_path / "a"), **kw)
    with pytest.warns(UserWarning, match="no log-log fit"):
        sized = size_trend({"m": 1000}, "mrpc", store=ResultsStore(tmp_path / "b"), **kw)
    assert rows[0]["status"] == sized.rows[0]["status"] == UNABLE
    assert seen == [str(data_dir)] * 2


def test_a_search_on_a_map_only_driver_records_executor_writes_on_the_driver(
    tmp_path: Path,
) -> None:
    """The search's lockstep rounds go through the same `train_records` as the baseline: with
    ``driver_records`` the units only train and every record is written by this process."""
    from idtheory.search import measure_d90

    store = WatchedStore(tmp_path)
    trainer, executor = Trainer(0.8), DriverRecordsExecutor(store)
    kw: dict[str, Any] = dict(
        store=store, train_fn=trainer, executor=executor, full_lrs=(1e-5,), subspace_lrs=(0.1,)
    )
    result = measure_d90("m", "mrpc", d_min=10, d_max=40, progress=False, **kw)
    assert result.d90 == 10 and len(trainer.calls) == len(store.writes) == 2
    assert store.writes == [False, False]
    assert measure_d90("m", "mrpc", d_min=10, d_max=40, progress=False, **kw).d90 == 10
    assert len(trainer.calls) == 2  # stored: nothing trained again


def test_infer_step_reads_the_update_count_from_checkpoint_names() -> None:
    """Figure 2's x axis: MultiBERTs' ``step_20k`` is 20,000 updates, Pythia's ``step143000``
    143,000, a Trainer's ``checkpoint-2000`` 2,000; a name without a step gives None."""
    from idtheory.trends import _infer_step

    assert _infer_step("google/multiberts-seed_0-step_20k") == 20_000
    assert _infer_step("EleutherAI/pythia-160m@step143000") == 143_000
    assert _infer_step("runs/family-xs/checkpoint-2000") == 2_000
    assert _infer_step("roberta-base") is None
