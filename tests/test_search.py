"""Tests of idtheory.search: d90_from_curve, d90_ratio and measure_d90 with fake trainers (no
torch)."""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from idtheory.config import RunSpec, TrainConfig
from idtheory.curve import d90_ratio
from idtheory.search import (
    DEFAULT_BRACKET_RATIO,
    DEFAULT_FULL_LRS,
    DEFAULT_SUBSPACE_LRS,
    PARTIAL,
    D90Result,
    LocalExecutor,
    NotStored,
    StoredRuns,
    _geometric_grid,
    d90_from_curve,
    d_rounds,
    measure_d90,
    possible_d90s,
    search_run_spec,
    settings_specs,
    subspace_lrs_at,
    train_records,
    trainings_left,
)
from idtheory.store import ResultsStore

T = TypeVar("T")
R = TypeVar("R")

# ---------------------------------------------------------------- d90_ratio


@pytest.mark.parametrize(
    "top, bottom, expected",
    [
        ((1280, 1810), (453, 640), (1810 / 640, 1280 / 640, 1810 / 453)),
        ((None, 160), (453, 640), (160 / 640, 0.0, 160 / 453)),  # passed at its smallest d
        ((453, 640), (None, 160), (4.0, 453 / 160, math.inf)),
        ((100_000, None), (5120, 7241), (None, 100_000 / 7241, math.inf)),  # never passed
        ((5120, 7241), (100_000, None), (None, 0.0, 7241 / 100_000)),
        ((7241, 7241), (896, 896), (7241 / 896,) * 3),  # published values are exact
    ],
)
def test_d90_ratio_is_the_ratio_and_what_the_brackets_allow(top, bottom, expected):
    got = d90_ratio(top, bottom)
    assert (got.ratio, got.least, got.most) == pytest.approx(expected)

    # every pair of d90 inside the brackets gives a ratio inside [least, most]
    def inside(lo, hi):  # the extreme d90 a bracket (lo, hi] admits; (v, v) is exactly v
        return [d for d in (lo and lo + 1, hi) if d and (hi is None or d <= hi)]

    for a in inside(*top):
        for b in inside(*bottom):
            assert got.least <= a / b <= got.most


def test_d90_ratio_prints_what_is_known():
    assert str(d90_ratio((1280, 1810), (453, 640))) == "2.83× (2.00–4.00×)"
    assert str(d90_ratio((100_000, None), (5120, 7241))) == "> 13.8×"
    assert str(d90_ratio((5120, 7241), (100_000, None))) == "< 0.07×"
    assert str(d90_ratio((453, 640), (None, 160))) == "4.00× (≥ 2.83×)"
    assert str(d90_ratio((7241, 7241), (896, 896))) == "8.08×"
    assert str(d90_ratio((1, None), (1, None))) == "– (neither passed)"


# ---------------------------------------------------------------- d90_from_curve


def test_curve_monotone() -> None:
    c = d90_from_curve([1000, 10, 100, 300], [0.9, 0.5, 0.7, 0.85], full_score=0.9)
    assert c.dims == (10, 100, 300, 1000)
    assert c.threshold == pytest.approx(0.81)
    assert c.passes == (False, False, True, True)
    assert c.d90 == 300 and c.bracket == (100, 300) and c.d90_stable == 300
    assert not c.non_monotone and c.violations == ()
    assert not c.never_passes and not c.passes_at_smallest and c.status == "ok"


def test_curve_non_monotone_reports_every_violation() -> None:
    dims = [10, 20, 40, 80, 160, 320]
    scores = [0.5, 0.85, 0.6, 0.9, 0.7, 0.9]  # passes at 20 and 80, fails at 40 and 160
    c = d90_from_curve(dims, scores, full_score=0.9)
    assert c.d90 == 20 and c.bracket == (10, 20)
    assert c.non_monotone
    assert c.violations == ((20, 40), (20, 160), (80, 160))
    assert c.d90_stable == 320
    assert c.status == "ok"


def test_curve_never_passes() -> None:
    c = d90_from_curve([10, 100, 1000], [0.5, 0.6, float("nan")], full_score=0.9)
    assert c.d90 is None and c.never_passes and c.status == "never_passes"
    assert c.bracket == (1000, None) and c.d90_stable is None and not c.passes_at_smallest


def test_curve_passes_at_smallest_and_threshold_round_off() -> None:
    c = d90_from_curve([10, 100], [0.765, 0.9], full_score=0.85)  # 0.9 × 0.85 = 0.765 exactly
    assert c.passes_at_smallest and c.d90 == 10 and c.bracket == (None, 10)
    assert c.status == "passes_at_smallest"
    assert c.to_dict()["passes_at_smallest"] is True


def test_curve_floor_counts_only_improvement_over_majority() -> None:
    """MRPC-like: baseline 0.74, majority 0.684. The paper's threshold (0.666) is below the
    majority score, so a constant predictor "passes"; the chance-corrected one does not."""
    dims, scores = [10, 100, 1000], [0.684, 0.70, 0.735]
    paper = d90_from_curve(dims, scores, full_score=0.74)
    assert paper.threshold == pytest.approx(0.666) and paper.d90 == 10
    corrected = d90_from_curve(dims, scores, full_score=0.74, floor=0.684)
    assert corrected.threshold == pytest.approx(0.684 + 0.9 * (0.74 - 0.684))
    assert corrected.d90 == 1000 and corrected.bracket == (100, 1000)
    assert corrected.floor == 0.684 and paper.floor == 0.0
    # frac = 1 recovers the full baseline whatever the floor
    assert d90_from_curve(dims, scores, 0.735, frac=1.0, floor=0.5).d90 == 1000
    with pytest.raises(ValueError, match="floor"):
        d90_from_curve(dims, scores, full_score=0.6, floor=0.684)


def test_curve_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        d90_from_curve([10, 10], [0.5, 0.6], 0.9)
    with pytest.raises(ValueError):
        d90_from_curve([], [], 0.9)
    with pytest.raises(ValueError):
        d90_from_curve([10], [0.5, 0.6], 0.9)


def test_geometric_grid() -> None:
    assert _geometric_grid(10, 5000, 4.0) == [10, 40, 160, 640, 2560, 5000]
    assert _geometric_grid(10, 640, 4.0) == [10, 40, 160, 640]
    assert _geometric_grid(1, 5, 1.2) == [1, 2, 3, 4, 5]  # strictly increasing after rounding


# ---------------------------------------------------------------- fakes

D0 = 300.0  # centre of the sigmoid in d
FULL_ACC = {2e-5: 0.80, 5e-5: 0.90}  # best baseline lr is 5e-5 → threshold 0.81
FAKE_FULL_LRS = (2e-5, 5e-5)
FAKE_SUBSPACE_LRS = (1e-3, 1e-2)
SEED_NOISE = {0: +0.05, 1: -0.05}  # cancels in the mean over seeds, not in a max


def sigmoid_acc(d: int) -> float:
    """Accuracy at the best subspace lr: 0.5 + 0.45·σ(2·(ln d − ln 300)); crosses 0.81 at 446.4."""
    return 0.5 + 0.45 / (1.0 + math.exp(-2.0 * (math.log(d) - math.log(D0))))


def record_for(spec: RunSpec, acc: float | None, status: str = "ok") -> dict[str, Any]:
    dev = {} if acc is None else {"accuracy": acc}
    return {
        "run_id": spec.config_hash(),
        "spec": spec.to_dict(),
        "status": status,
        "message": "" if status == "ok" else "loss is NaN",
        "metrics": {"dev": dev, "train": dev},
        "best_step": 1,
        "history": [],
        "num_trainable": spec.dim or 100_000,
        "num_params": 100_000,
        "wall_time_s": 0.0,
        "peak_mem_mb": 0.0,
        "versions": {},
        "created": "2024-01-01T00:00:00+00:00",
        "host": "test",
    }


class FakeTrainer:
    """Dev accuracy = known function of (d, lr, seed); counts calls; may be interrupted."""

    def __init__(
        self,
        interrupt_after: int | None = None,
        acc: Callable[[int], float] = sigmoid_acc,
        diverge: Callable[[RunSpec], bool] | None = None,
    ) -> None:
        self.calls: list[RunSpec] = []
        self.interrupt_after = interrupt_after
        self.acc = acc
        self.diverge = diverge

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        if self.interrupt_after is not None and len(self.calls) >= self.interrupt_after:
            raise KeyboardInterrupt
        self.calls.append(spec)
        if self.diverge is not None and self.diverge(spec):
            return record_for(spec, None, status="diverged")
        noise = SEED_NOISE.get(spec.train.seed, 0.0)
        if spec.subspace is None:
            return record_for(spec, FULL_ACC[spec.train.lr] + noise)
        lr_penalty = 0.0 if spec.train.lr == 1e-2 else 0.1  # 1e-2 is the good subspace lr
        return record_for(spec, self.acc(spec.subspace.dim) - lr_penalty + noise)

    def dims(self) -> list[int]:
        return sorted({s.dim for s in self.calls if s.dim is not None})


class RecordingExecutor:
    """Sequential executor that records the rounds it is given."""

    def __init__(self) -> None:
        self.rounds: list[list[RunSpec]] = []

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        self.rounds.append(list(items))  # type: ignore[arg-type]
        return [fn(x) for x in items]


class PicklingExecutor:
    """Ships ``fn`` and each item through pickle, as a process or Ray executor would."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        remote_fn = pickle.loads(pickle.dumps(fn))
        return [pickle.loads(pickle.dumps(remote_fn(pickle.loads(pickle.dumps(x))))) for x in items]


class StoppingPool:
    """A future executor whose driver writes the records (as worker processes or Ray), with
    ``interrupt()`` waiting for its trainings, as a process pool's does."""

    driver_records = True

    def __init__(self, workers: int) -> None:
        import concurrent.futures

        self.parallelism = workers
        self.pool = concurrent.futures.ThreadPoolExecutor(workers)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.pool.submit(fn, *args)

    def interrupt(self) -> None:
        self.pool.shutdown(wait=True)


def run(store: ResultsStore, trainer: FakeTrainer, **kw: Any) -> D90Result:
    kw.setdefault("seeds", (0, 1))
    kw.setdefault("progress", False)
    kw.setdefault("full_lrs", FAKE_FULL_LRS)  # the fake trainer's learning rates
    kw.setdefault("subspace_lrs", FAKE_SUBSPACE_LRS)
    return measure_d90("tiny", "mrpc", "said", store=store, train_fn=trainer, **kw)


# ---------------------------------------------------------------- search


def test_defaults_are_module_constants() -> None:
    assert DEFAULT_FULL_LRS == (5e-5, 1e-4) and DEFAULT_SUBSPACE_LRS == (0.1, 0.3)


def test_search_sigmoid_exact_bracket_and_count(tmp_path: Path) -> None:
    """Threshold 0.9·0.90 = 0.81, crossing at d = 446.4 (mean over seeds, best lr 1e-2).

    Coarse grid 10, 40, 160 fail, 640 passes; bisection: √(160·640) = 320 fails,
    √(320·640) = 452.5 → 453 passes, √(320·453) = 380.7 → 381 fails; 453/381 = 1.19 ≤ 1.25.
    7 d × 2 lr × 2 seeds + 2 full lr × 2 seeds = 32 trainings.
    """
    store = ResultsStore(tmp_path)
    trainer = FakeTrainer()
    executor = RecordingExecutor()
    res = run(store, trainer, executor=executor)
    assert res.status == "ok"
    assert res.baseline_score == pytest.approx(0.90) and res.baseline_lr == 5e-5
    assert res.threshold == pytest.approx(0.81)
    assert res.d90 == 453 and res.bracket == (381, 453)
    assert res.bracket_ratio is not None and res.bracket_ratio <= 1.25
    assert res.search_path == [10, 40, 160, 640, 320, 453, 381]
    assert sorted(res.scores) == [10, 40, 160, 320, 381, 453, 640]
    assert res.scores[453] == pytest.approx(sigmoid_acc(453))  # mean over seeds at lr 1e-2
    assert all(p.best_lr == 1e-2 for p in res.points)
    assert len(trainer.calls) == 32 and res.n_trained == 32 and res.n_reused == 0
    assert len(res.run_ids) == len(set(res.run_ids)) == 32
    assert res.non_monotone == [] and res.problems == []
    # One round for the baseline, then one round (all lr × seed) per d.
    assert [len(r) for r in executor.rounds] == [4] + [4] * 7
    # The summary is in the store, and every run behind it too.
    (summary,) = store.summaries(model="tiny", task="mrpc")
    assert summary["d90"] == 453 and summary["summary_id"] == res.summary_id
    assert D90Result.from_dict(summary).bracket == (381, 453)
    assert all(rid in store for rid in res.run_ids)


def test_search_run_spec_is_the_search_s_run(tmp_path: Path) -> None:
    """Every training a search stores is rebuilt by search_run_spec from the search's settings
    (the studies beside a search find its runs this way); a subspace method needs a dim."""
    store = ResultsStore(tmp_path)
    base = TrainConfig(epochs=2.0, max_train_examples=64)
    sub_kwargs = {"projection": "dense", "seed": 3}
    res = run(store, FakeTrainer(), base_train=base, subspace_kwargs=sub_kwargs)
    rebuilt = {
        search_run_spec(
            "tiny",
            "mrpc",
            "full" if spec.subspace is None else "said",
            spec.dim,
            base_train=base,
            lr=spec.train.lr,
            seed=spec.train.seed,
            subspace_kwargs=sub_kwargs,
        ).config_hash()
        for spec in (RunSpec.from_dict(r["spec"]) for r in store.records())
    }
    assert rebuilt == set(res.run_ids) and len(rebuilt) == 32
    with pytest.raises(ValueError, match="needs dim"):
        search_run_spec("tiny", "mrpc", "did", base_train=base, lr=0.1)


def test_search_with_floor_raises_the_threshold(tmp_path: Path) -> None:
    """floor 0.5: threshold 0.5 + 0.9·(0.90 − 0.5) = 0.86 instead of 0.81 — a larger d90; the
    floor enters the summary settings (floor 0 keeps the paper's summary id)."""
    store = ResultsStore(tmp_path)
    paper = run(store, FakeTrainer())
    corrected = run(store, FakeTrainer(), floor=0.5)
    assert corrected.threshold == pytest.approx(0.86) and paper.threshold == pytest.approx(0.81)
    assert corrected.d90 is not None and paper.d90 is not None and corrected.d90 > paper.d90
    assert sigmoid_acc(corrected.d90) >= 0.86 > sigmoid_acc(corrected.bracket[0])
    assert corrected.settings["floor"] == 0.5 and "floor" not in paper.settings
    assert corrected.summary_id != paper.summary_id
    # a baseline that does not beat the floor: no search, a clear problem entry
    failed = run(ResultsStore(tmp_path / "f"), FakeTrainer(), floor=0.95)
    assert failed.status == "baseline_failed" and failed.threshold is None
    assert "does not beat floor" in failed.problems[0]["message"]
    assert failed.points == []


def test_subspace_lrs_at_picks_the_largest_step_at_or_below_d() -> None:
    steps = {"20480": [0.03, 0.1], 100_000: [0.01]}  # JSON gives string keys
    assert subspace_lrs_at(10_240, [0.1, 0.3], steps) == [0.1, 0.3]
    assert subspace_lrs_at(20_479, [0.1, 0.3], steps) == [0.1, 0.3]
    assert subspace_lrs_at(20_480, [0.1, 0.3], steps) == [0.03, 0.1]
    assert subspace_lrs_at(99_999, [0.1, 0.3], steps) == [0.03, 0.1]
    assert subspace_lrs_at(100_000, [0.1, 0.3], steps) == [0.01]
    assert subspace_lrs_at(10**6, [0.1, 0.3], None) == [0.1, 0.3]


def test_subspace_lrs_from_trains_large_d_at_its_own_rates(tmp_path: Path) -> None:
    """From d = 320 on the search trains at the given rates instead of ``subspace_lrs``: with the
    fake's good rate (1e-2) kept, the d90 is the same but the summary is another one; with it
    dropped from 320 on, every d there pays the fake's 0.1 penalty and the d90 grows."""
    plain = run(ResultsStore(tmp_path / "plain"), FakeTrainer())
    trainer = FakeTrainer()
    kept = run(ResultsStore(tmp_path / "kept"), trainer, subspace_lrs_from={320: [1e-2, 3e-2]})
    for spec in trainer.calls:
        if spec.dim is not None:
            expected = {1e-2, 3e-2} if spec.dim >= 320 else set(FAKE_SUBSPACE_LRS)
            assert spec.train.lr in expected, (spec.dim, spec.train.lr)
    assert {s.train.lr for s in trainer.calls if s.dim == 640} == {1e-2, 3e-2}
    assert kept.d90 == plain.d90 == 453
    assert kept.settings["subspace_lrs_from"] == {"320": [1e-2, 3e-2]}
    assert "subspace_lrs_from" not in plain.settings  # unset: earlier summary ids stay
    assert kept.summary_id != plain.summary_id
    dropped = run(
        ResultsStore(tmp_path / "dropped"), FakeTrainer(), subspace_lrs_from={320: [3e-2]}
    )
    assert dropped.d90 is not None and dropped.d90 > plain.d90
    assert sigmoid_acc(dropped.d90) - 0.1 >= 0.81 > sigmoid_acc(dropped.bracket[0]) - 0.1
    with pytest.raises(ValueError, match="subspace_lrs_from"):
        run(ResultsStore(tmp_path / "bad"), FakeTrainer(), subspace_lrs_from={320: []})
    with pytest.raises(ValueError, match="subspace_lrs_from keys"):
        run(ResultsStore(tmp_path / "bad"), FakeTrainer(), subspace_lrs_from={0: [1e-2]})


def test_chance_corrected_search_continues_from_the_stored_runs(tmp_path: Path) -> None:
    """The search at the higher (chance-corrected) threshold retrains nothing the paper's search
    stored: it trains only the d the paper's search never evaluated, and its summary names its
    threshold kind (also when read back, and for summaries written before the kind existed)."""
    store = ResultsStore(tmp_path)
    paper = run(store, FakeTrainer())
    trainer = FakeTrainer()
    corrected = run(store, trainer, floor=0.5)
    assert paper.threshold_kind == "paper" and corrected.threshold_kind == "chance-corrected"
    new_dims = sorted(set(corrected.search_path) - set(paper.search_path))
    assert new_dims and trainer.dims() == new_dims  # no baseline, no shared d trained again
    assert all(s.subspace is not None for s in trainer.calls)
    assert corrected.n_trained == len(trainer.calls) == 4 * len(new_dims)
    assert corrected.n_reused == 4 + 4 * (len(corrected.search_path) - len(new_dims))
    kinds = {s["summary_id"]: s["threshold_kind"] for s in store.summaries()}
    assert kinds == {paper.summary_id: "paper", corrected.summary_id: "chance-corrected"}
    old = {k: v for k, v in corrected.to_dict().items() if k != "threshold_kind"}
    assert D90Result.from_dict(old).threshold_kind == "chance-corrected"
    n_lines = len((tmp_path / ResultsStore.SUMMARIES_FILE).read_text().splitlines())
    store.put_summary(old)  # the same summary without the derived key: not written again
    assert len((tmp_path / ResultsStore.SUMMARIES_FILE).read_text().splitlines()) == n_lines


def test_baseline_at_chance_fails_without_a_floor(tmp_path: Path) -> None:
    """An MCC baseline of 0 (a constant predictor) with the paper's threshold (floor 0) would
    make threshold 0, which every subspace "passes": the search must stop instead."""

    class ChanceBaseline(FakeTrainer):
        def __call__(self, spec: RunSpec) -> dict[str, Any]:
            if spec.subspace is None:
                self.calls.append(spec)
                return record_for(spec, 0.0)
            return super().__call__(spec)

    trainer = ChanceBaseline()
    res = run(ResultsStore(tmp_path), trainer)
    assert res.status == "baseline_failed" and res.threshold is None and res.points == []
    assert res.baseline_score == 0.0 and "does not beat floor 0.0000" in res.problems[0]["message"]
    assert all(s.subspace is None for s in trainer.calls)
    with pytest.raises(ValueError, match="does not exceed floor"):
        d90_from_curve([10, 100], [0.0, 0.1], full_score=0.0)


def test_units_survive_pickling(tmp_path: Path) -> None:
    """The units submitted to the executor are picklable; workers write to the same store."""
    store = ResultsStore(tmp_path)
    res = run(store, FakeTrainer(), executor=PicklingExecutor())
    assert res.d90 == 453 and res.n_trained == 32 and len(store.records()) == 32


def test_threshold_uses_best_baseline_lr(tmp_path: Path) -> None:
    """With only the weaker baseline lr (0.80 → threshold 0.72, crossing at d = 293) d90 drops."""
    res = run(ResultsStore(tmp_path), FakeTrainer(), full_lrs=(2e-5,))
    assert res.threshold == pytest.approx(0.72)
    # 10, 40, 160 fail, 640 and 320 pass, 226 and 269 fail: the crossing 293.4 is in (269, 320].
    assert res.d90 == 320 and res.bracket == (269, 320)
    both = run(ResultsStore(tmp_path / "b"), FakeTrainer(), full_lrs=(2e-5, 5e-5))
    assert both.threshold == pytest.approx(0.81) and both.d90 == 453


def test_resume_after_interrupt_trains_only_missing(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    first = FakeTrainer(interrupt_after=11)
    with pytest.raises(KeyboardInterrupt):
        run(store, first)
    assert len(first.calls) == 11 and len(store.records()) == 11
    second = FakeTrainer()
    res = run(store, second)
    assert len(second.calls) == 32 - 11
    assert res.n_trained == 21 and res.n_reused == 11
    assert not {s.config_hash() for s in second.calls} & {s.config_hash() for s in first.calls}
    fresh = run(ResultsStore(tmp_path / "fresh"), FakeTrainer())
    assert (res.d90, res.bracket, res.scores) == (fresh.d90, fresh.bracket, fresh.scores)
    assert sorted(res.run_ids) == sorted(fresh.run_ids)
    third = FakeTrainer()
    again = run(store, third)  # everything cached: re-rendering is free
    assert third.calls == [] and again.n_reused == 32 and again.d90 == 453
    assert len(store.summaries()) == 1  # the same search is one summary


def test_an_interrupted_driver_keeps_the_trainings_that_ended_meanwhile(tmp_path: Path) -> None:
    """One baseline training is interrupted in its worker while three others end shortly
    after: the driver stops the executor (which waits for them) and stores their records
    before re-raising, so the rerun trains only the interrupted one."""
    import time

    interrupted = {"lr": FAKE_FULL_LRS[0], "seed": 0}

    def trainer(spec: RunSpec) -> dict[str, Any]:
        if spec.subspace is None and {"lr": spec.train.lr, "seed": spec.train.seed} == interrupted:
            raise KeyboardInterrupt  # a training asked to stop mid-way
        time.sleep(0.2)  # the others end after the driver saw the interrupt
        return FakeTrainer()(spec)

    store = ResultsStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run(store, trainer, executor=StoppingPool(4))
    assert len(store.records()) == 3  # every baseline training but the interrupted one
    # the same for one round of trainings (train_records: grids, trends)
    specs = [
        RunSpec("tiny", "mrpc", TrainConfig(lr=lr, seed=seed))
        for lr in FAKE_FULL_LRS
        for seed in (0, 1)
    ]
    other = ResultsStore(tmp_path / "round")
    with pytest.raises(KeyboardInterrupt):
        train_records(other, trainer, StoppingPool(4), specs)
    assert len(other.records()) == 3


def test_read_only_search_replays_the_stored_one(tmp_path: Path) -> None:
    """The search with the store-only trainer gives the computed result (the one summary rule
    of rendering), writes nothing, and a fresh store has nothing to read."""
    store = ResultsStore(tmp_path)
    computed = run(store, FakeTrainer())
    summaries = (tmp_path / ResultsStore.SUMMARIES_FILE).read_bytes()
    read = run(store, StoredRuns(store))
    assert read.status == "ok" and read.summary_id == computed.summary_id
    assert (read.d90, read.bracket, read.points, read.baseline) == (
        computed.d90,
        computed.bracket,
        computed.points,
        computed.baseline,
    )
    assert read.run_ids == computed.run_ids and read.search_path == computed.search_path
    assert (tmp_path / ResultsStore.SUMMARIES_FILE).read_bytes() == summaries
    # runs without their summary (merged alone): the replay finishes, with no stored time
    runs_only = tmp_path / "runs-only"
    runs_only.mkdir()
    (runs_only / "runs.jsonl").write_bytes((tmp_path / "runs.jsonl").read_bytes())
    alone = run(ResultsStore(runs_only), StoredRuns(ResultsStore(runs_only)))
    assert alone.status == "ok" and alone.created == "" and alone.d90 == computed.d90
    # a k-section search (an executor with more trainings at once) replays as itself: the
    # replay takes k from the stored summary instead of the bisection its own executor implies
    cluster = ResultsStore(tmp_path / "cluster")
    sectioned = run(cluster, FakeTrainer(), candidates=3)
    assert sectioned.settings["candidates"] == 3 and sectioned.search_path != read.search_path
    again = run(cluster, StoredRuns(cluster))  # no candidates: k from the stored summary
    assert again.status == "ok" and again.summary_id == sectioned.summary_id
    assert again.search_path == sectioned.search_path and again.d90 == sectioned.d90
    run(store, FakeTrainer(), candidates=3)  # beside a stored bisection, the bisection reads
    assert run(store, StoredRuns(store)).summary_id == computed.summary_id
    # the replay says when the search was stored, not when it was read (an older summary here)
    path = tmp_path / ResultsStore.SUMMARIES_FILE
    path.write_text(path.read_text().replace(computed.created, "2000-01-02T03:04:05+00:00"))
    older = ResultsStore(tmp_path)
    assert run(older, StoredRuns(older)).created == "2000-01-02T03:04:05+00:00"
    assert run(older, FakeTrainer()).created == "2000-01-02T03:04:05+00:00"  # cached: the same
    with pytest.raises(NotStored):
        StoredRuns(store)(RunSpec("other", "mrpc"))
    empty = ResultsStore(tmp_path / "empty")
    nothing = run(empty, StoredRuns(empty))
    assert nothing.status == PARTIAL and nothing.baseline_score is None and not nothing.points
    assert not (tmp_path / "empty").exists()  # nothing written


def test_read_only_search_stops_where_the_store_ends(tmp_path: Path) -> None:
    """An interrupted search reads back as "partial": d90 read off the d stored so far."""
    store = ResultsStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):  # baseline (4) + 10, 40, 160, 640 (16) + half of 320
        run(store, FakeTrainer(interrupt_after=22))
    read = run(store, StoredRuns(store))
    assert read.status == PARTIAL and sorted(read.scores) == [10, 40, 160, 640]
    assert read.d90 == 640 and read.bracket == (160, 640)
    assert read.baseline_score == pytest.approx(0.90)
    assert len(read.run_ids) == 22  # every stored run behind it, the incomplete d's too
    assert store.summaries() == []
    grid = run(store, StoredRuns(store), grid=[40, 320, 640])  # one round: 320 is incomplete
    assert grid.status == PARTIAL and sorted(grid.scores) == [40, 640]


def test_read_only_search_counts_a_pass_its_stored_rates_decide(tmp_path: Path) -> None:
    """A d whose store holds a whole learning rate that passes is a pass before its other
    rates arrive (a d scores its best rate): the partial read brackets with it, lists it as
    pending and stops there, needing only that d's missing runs. A stored rate that fails
    decides nothing: the d stays out."""
    good_first = (1e-2, 1e-3)  # the fake's good rate trains first: d = 640's half passes
    store = ResultsStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):  # baseline (4) + 10, 40, 160 (12) + 640 at 1e-2 (2)
        run(store, FakeTrainer(interrupt_after=18), subspace_lrs=good_first)
    needed: list[RunSpec] = []
    read = run(store, StoredRuns(store, on_missing=needed.append), subspace_lrs=good_first)
    assert read.status == PARTIAL and read.pending == [640]
    assert sorted(read.scores) == [10, 40, 160, 640] and read.d90 == 640
    assert read.bracket == (160, 640)
    (point,) = [p for p in read.points if p.d == 640]
    assert point.passes and [c.lr for c in point.cells] == [1e-2]
    assert point.score == pytest.approx(sigmoid_acc(640))
    assert [(s.dim, s.train.lr) for s in needed] == [(640, 1e-3), (640, 1e-3)]
    assert D90Result.from_dict(read.to_dict()).pending == [640]
    assert store.summaries() == []

    bad_first = ResultsStore(tmp_path / "bad")
    with pytest.raises(KeyboardInterrupt):  # 640's stored half is the bad rate: 0.77 < 0.81
        run(bad_first, FakeTrainer(interrupt_after=18))
    undecided = run(bad_first, StoredRuns(bad_first))
    assert undecided.status == PARTIAL and undecided.pending == []
    assert sorted(undecided.scores) == [10, 40, 160] and undecided.d90 is None
    assert "pending" not in undecided.to_dict()  # the stored summaries' format

    one_seed = ResultsStore(tmp_path / "seed")
    with pytest.raises(KeyboardInterrupt):  # 640's good rate has seed 0 only: its mean unknown
        run(one_seed, FakeTrainer(interrupt_after=17), subspace_lrs=good_first)
    half = run(one_seed, StoredRuns(one_seed), subspace_lrs=good_first)
    assert half.status == PARTIAL and half.pending == [] and sorted(half.scores) == [10, 40, 160]


def test_passes_at_smallest(tmp_path: Path) -> None:
    trainer = FakeTrainer(acc=lambda d: 0.95)
    res = run(ResultsStore(tmp_path), trainer)
    assert res.status == "passes_at_smallest" and res.d90 == 10 and res.bracket == (None, 10)
    assert trainer.dims() == [10] and len(trainer.calls) == 4 + 4


def test_d_floor_closes_the_bracket_from_below(tmp_path: Path) -> None:
    """d_min = 640 passes (the crossing is at 446.4): with d_floor the grid goes down to 160,
    which fails, and bisection closes (160, 640] as a search from d_min = 10 would have."""
    trainer = FakeTrainer()
    res = run(ResultsStore(tmp_path), trainer, d_min=640, d_floor=20)
    assert res.search_path[:2] == [640, 160] and res.status == "ok"
    lo, hi = res.bracket
    assert 160 <= lo < 446.4 <= hi <= 640 and hi / lo <= DEFAULT_BRACKET_RATIO
    assert res.settings["d_floor"] == 20
    plain = run(ResultsStore(tmp_path / "plain"), FakeTrainer(), d_min=640)
    assert plain.status == "passes_at_smallest" and plain.bracket == (None, 640)
    assert "d_floor" not in plain.settings  # unset: the summary ids of earlier searches


def test_d_floor_that_passes_too_is_the_smallest(tmp_path: Path) -> None:
    trainer = FakeTrainer(acc=lambda d: 0.95)
    res = run(ResultsStore(tmp_path), trainer, d_min=160, d_floor=16)
    assert res.search_path == [160, 40, 16] and res.status == "passes_at_smallest"
    assert res.bracket == (None, 16)
    with pytest.raises(ValueError, match="d_floor=200 > d_min=160"):
        run(ResultsStore(tmp_path), trainer, d_min=160, d_floor=200)


def test_never_passes_up_to_d_max(tmp_path: Path) -> None:
    trainer = FakeTrainer()
    res = run(ResultsStore(tmp_path), trainer, d_max=400)
    assert res.status == "never_passes" and res.d90 is None and res.bracket == (400, None)
    assert trainer.dims() == [10, 40, 160, 400] and len(trainer.calls) == 4 + 4 * 4


def test_d_max_defaults_to_reported_num_params(tmp_path: Path) -> None:
    trainer = FakeTrainer(acc=lambda d: 0.5)  # 100_000 params reported by the baseline
    res = run(ResultsStore(tmp_path), trainer, seeds=(0,))
    assert res.status == "never_passes"
    assert trainer.dims() == [10, 40, 160, 640, 2560, 10240, 40960, 100_000]


def test_grid_mode_and_non_monotone(tmp_path: Path) -> None:
    def dipped(d: int) -> float:
        return 0.5 if d == 3000 else sigmoid_acc(d)  # a bad point above the crossing

    trainer = FakeTrainer(acc=dipped)
    executor = RecordingExecutor()
    grid = [3000, 10, 100, 300, 1000, 10_000]
    res = run(ResultsStore(tmp_path), trainer, grid=grid, executor=executor, seeds=(0,))
    assert res.mode == "grid" and res.status == "ok"
    assert res.d90 == 1000 and res.bracket == (300, 1000)
    assert res.non_monotone == [(1000, 3000)] and res.d90_stable == 10_000
    assert trainer.dims() == sorted(grid) and len(trainer.calls) == 2 + 6 * 2
    assert [len(r) for r in executor.rounds] == [2, 12]  # the whole grid is one round
    assert res.scores[1000] == pytest.approx(sigmoid_acc(1000) + 0.05)  # single seed 0


def test_diverged_runs_count_as_failing(tmp_path: Path) -> None:
    """lr 1e-2 diverges (no metric) above d = 200: d90 then comes from lr 1e-3 alone, exactly as
    a search with subspace_lrs=(1e-3,); a diverged baseline lr is ignored the same way."""

    def diverge(spec: RunSpec) -> bool:
        if spec.subspace is None:
            return spec.train.lr == 2e-5
        return spec.train.lr == 1e-2 and spec.subspace.dim > 200

    res = run(ResultsStore(tmp_path), FakeTrainer(diverge=diverge))
    ref = run(ResultsStore(tmp_path / "ref"), FakeTrainer(), subspace_lrs=(1e-3,))
    assert res.status == "ok" and res.baseline_lr == 5e-5
    assert (res.d90, res.bracket) == (ref.d90, ref.bracket)
    assert res.d90 is not None and res.d90 > 453
    big = [p for p in res.points if p.d > 200]
    assert big and all(p.best_lr == 1e-3 for p in big)
    cell = next(c for c in big[0].cells if c.lr == 1e-2)
    assert cell.score == 0.0 and cell.n_ok == 0
    assert {p["status"] for p in res.problems} == {"diverged"}
    n_diverged = 2 + 2 * len(big)  # baseline lr 2e-5 × 2 seeds, lr 1e-2 × 2 seeds per big d
    assert len(res.problems) == n_diverged
    assert all(p["lr"] in (2e-5, 1e-2) for p in res.problems)


def test_diverged_run_with_metric_scores_its_metric(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)

    def train(spec: RunSpec) -> dict[str, Any]:
        if spec.subspace is None:
            return record_for(spec, 0.9)
        return record_for(spec, 0.85, status="diverged")  # best checkpoint before divergence

    res = measure_d90("tiny", "mrpc", store=store, train_fn=train, full_lrs=(5e-5,), progress=False)
    assert res.scores[10] == pytest.approx(0.85) and res.status == "passes_at_smallest"
    assert len(res.problems) == 2


def test_baseline_failed(tmp_path: Path) -> None:
    trainer = FakeTrainer(diverge=lambda s: s.subspace is None)
    res = run(ResultsStore(tmp_path), trainer)
    assert res.status == "baseline_failed" and res.d90 is None and res.threshold is None
    assert trainer.dims() == [] and len(res.problems) == 4


def test_ok_record_without_metric_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no finite dev"):
        measure_d90(
            "tiny",
            "mrpc",
            store=ResultsStore(tmp_path),
            train_fn=lambda s: record_for(s, None),
            progress=False,
        )


def test_argument_validation(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    trainer = FakeTrainer()
    with pytest.raises(ValueError, match="method"):
        measure_d90("tiny", "mrpc", "full", store=store, train_fn=trainer)
    with pytest.raises(ValueError, match="metric"):
        run(store, trainer, base_train=TrainConfig(metric="f1"))
    with pytest.raises(ValueError, match="subspace_kwargs"):
        run(store, trainer, subspace_kwargs={"dim": 3})
    with pytest.raises(ValueError, match="d_max"):
        run(store, trainer, d_min=100, d_max=50)
    assert trainer.calls == []


def test_settings_enter_specs_and_summary(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    trainer = FakeTrainer(acc=lambda d: 0.95)
    base = TrainConfig(batch_size=8, epochs=1.0)
    res = run(store, trainer, base_train=base, subspace_kwargs={"projection": "dense", "seed": 3})
    sub = [s for s in trainer.calls if s.subspace is not None]
    assert all(s.train.batch_size == 8 for s in trainer.calls)
    assert all(s.subspace.projection == "dense" and s.subspace.seed == 3 for s in sub)  # type: ignore[union-attr]
    other = run(store, FakeTrainer(acc=lambda d: 0.95), base_train=base)
    assert other.summary_id != res.summary_id and len(store.summaries()) == 2


def test_local_executor() -> None:
    assert LocalExecutor(progress=False).map(lambda x: x * 2, [1, 2, 3]) == [2, 4, 6]
    assert LocalExecutor(progress=False).map(lambda x: x, []) == []


def test_resolve_floor_modes() -> None:
    from idtheory.search import resolve_floor

    assert resolve_floor(None, 0.684, 0.74) == 0.0 and resolve_floor(0.3, 0.684, None) == 0.3
    assert resolve_floor("majority", 0.684, None) == 0.684
    # auto: MRPC-like 0.9 × 0.74 = 0.666 ≤ 0.684 → chance-corrected; SST-2-like → the paper's
    assert resolve_floor("auto", 0.684, 0.74) == 0.684
    assert resolve_floor("auto", 0.509, 0.82) == 0.0
    assert resolve_floor("auto", 0.684, 0.75, frac=0.9) == 0.684
    with pytest.raises(ValueError, match="needs the baseline"):
        resolve_floor("auto", 0.684, None)
    with pytest.raises(ValueError, match="floor must be"):
        resolve_floor("chance", 0.684, 0.74)


def test_threshold_is_degenerate() -> None:
    from idtheory.curve import threshold_is_degenerate

    assert threshold_is_degenerate(0.666, 0.684) and threshold_is_degenerate(0.684, 0.684)
    assert not threshold_is_degenerate(0.738, 0.509)
    assert not threshold_is_degenerate(None, 0.684) and not threshold_is_degenerate(0.5, None)


def test_search_options_match_the_signatures() -> None:
    """measure_d90 forwards exactly SEARCH_OPTIONS, which _Search accepts."""
    import inspect

    from idtheory.search import SEARCH_OPTIONS, _Search

    shared = {"store", "train_fn", "executor", "max_parallel", "progress"}
    sig = set(inspect.signature(measure_d90).parameters) - {"model", "task", "method"} - shared
    assert sig == set(SEARCH_OPTIONS)
    init = set(inspect.signature(_Search.__init__).parameters) - {"self", "model", "task", "method"}
    assert init == set(SEARCH_OPTIONS)


def test_every_result_status_but_ok_says_what_it_means():
    """RESULT_STATUSES is the list readers rely on: each status but "ok" has its reason."""
    from idtheory import search

    assert set(search._STATUS_REASONS) | {"ok"} == set(search.RESULT_STATUSES)
    assert all(search.status_reason(s) for s in search.RESULT_STATUSES if s != "ok")
    assert search.status_reason("ok") == search.status_reason("unknown") == ""


# ---------------------------------------------------------------- the d a search could return

#: Search schedules the tests below drive with random outcomes: bisection, 3-section, d_floor.
SCHEDULES = pytest.mark.parametrize(
    "kw",
    [
        {"d_max": 5000},
        {"d_max": 5000, "candidates": 3},
        {"d_min": 640, "d_max": 5000, "d_floor": 10},
    ],
    ids=["bisection", "3-section", "d_floor"],
)


@SCHEDULES
def test_possible_d90s_is_every_d_some_outcome_evaluates(tmp_path: Path, kw) -> None:
    """Searches driven by random pass/fail outcomes (non-monotone) evaluate only d in
    possible_d90s (a bound's prior must cover them all), and together they reach most of it
    (the set is not padded: its rarest d need a particular 7-step path)."""
    rng = random.Random(0)
    seen: set[int] = set()
    settings: dict[str, Any] = {}
    for trial in range(80):
        outcome: dict[int, float] = {}

        def acc(d: int, outcome: dict[int, float] = outcome) -> float:
            # the good lr's score (1e-2 adds nothing): 0.95 passes 0.81, 0.6 fails
            return outcome.setdefault(d, rng.choice((0.6, 0.95)) + 0.1)

        res = run(ResultsStore(tmp_path / str(trial)), FakeTrainer(acc=acc), seeds=(0,), **kw)
        settings = res.settings
        assert set(outcome) <= set(possible_d90s(settings)), sorted(outcome)
        seen |= set(outcome)
    possible = possible_d90s(settings)
    assert len(seen) >= 0.8 * len(possible), sorted(set(possible) - seen)


@SCHEDULES
def test_trainings_left_counts_what_searches_train(tmp_path: Path, kw) -> None:
    """Searches driven by random outcomes: told every outcome, trainings_left is exactly the
    subspace trainings the search ran; told none, its range holds that count; each d's runs are
    the specs settings_specs builds from the settings (the search's own run ids)."""
    rng = random.Random(1)
    runs_at = len(FAKE_SUBSPACE_LRS) * 2  # rates × seeds
    lows, highs = set(), set()
    for trial in range(30):
        outcome: dict[int, float] = {}

        def acc(d: int, outcome: dict[int, float] = outcome) -> float:
            return outcome.setdefault(d, rng.choice((0.6, 0.95)) + 0.1)

        res = run(ResultsStore(tmp_path / str(trial)), FakeTrainer(acc=acc), **kw)
        settings = res.to_dict()["settings"]
        per_d = {
            p.d: {i for c in p.cells for i in c.run_ids} for p in res.points
        }  # the search's own runs
        for d, ids in per_d.items():
            assert {
                s.config_hash() for s in settings_specs("tiny", "mrpc", "said", d, settings)
            } == ids
        trained = sum(len(ids) for ids in per_d.values())
        passes = {p.d: p.passes for p in res.points}
        assert trainings_left(settings, passes, lambda d: runs_at) == (trained, trained)
        assert trainings_left(settings, passes, lambda d: 0) == (0, 0)  # all stored
        lo, hi = trainings_left(settings, {}, lambda d: runs_at)
        assert lo <= trained <= hi
        lows.add(lo)
        highs.add(hi)
    assert len(lows) == len(highs) == 1  # with nothing decided the range is the settings' own


def test_trainings_left_after_part_of_a_search() -> None:
    """Grid 10, 20, 40 (×2, bracket 1.5), one run per d: from nothing, 1 (10 passes) to 4
    (20 fails, 40 passes, then 28) trainings; with 10 failed and stored, 2 to 3; a d another
    search already trained costs nothing; a decided d still missing a rate counts it."""
    settings = {"d_min": 10, "d_max": 40, "grid_factor": 2.0, "bracket_ratio": 1.5}
    one = lambda d: 1  # noqa: E731
    assert trainings_left(settings, {}, one) == (1, 4)
    stored = {10}
    missing = lambda d: 0 if d in stored else 1  # noqa: E731
    assert trainings_left(settings, {10: False}, missing) == (2, 3)
    stored.add(28)  # trained by another search of the cell
    assert trainings_left(settings, {10: False}, missing) == (2, 2)
    assert trainings_left(settings, {10: False, 20: True}, lambda d: {20: 1, 14: 2}.get(d, 0)) == (
        3,
        3,
    )  # 20 passes with a rate still missing, then 14 at two rates
    assert trainings_left({"grid": [10, 40]}, {}, lambda d: d // 10) == (5, 5)
    with pytest.raises(ValueError, match="d_max unresolved"):
        trainings_left({**settings, "d_max": None}, {}, one)


def _drive(rounds, passes) -> list[list[int]]:
    """The rounds of a d schedule when d passes iff ``passes(d)``."""
    out = [next(rounds)]
    while True:
        try:
            out.append(rounds.send({d: passes(d) for d in out[-1]}))
        except StopIteration:
            return out


def test_d_rounds_climbs_descends_and_bisects() -> None:
    """The schedule alone: up the ×4 grid to the first pass, bisect to ratio 1.5; with d_floor
    and a passing d_min, down until a d fails, then bisect; with 3 candidates, 3 d a round."""
    assert _drive(d_rounds(10, 100_000, 4.0, 1.5), lambda d: d >= 600) == [
        [10], [40], [160], [640], [320], [453],
    ]  # fmt: skip
    assert _drive(d_rounds(160, 100_000, 4.0, 1.5, d_floor=16), lambda d: d >= 100) == [
        [160], [40], [80], [113],
    ]  # fmt: skip
    assert _drive(d_rounds(10, 100_000, 4.0, 1.5, k=3), lambda d: d >= 600) == [
        [10, 40, 160], [640, 2560, 10240], [226, 320, 453],
    ]  # fmt: skip
    # a failing d above the smallest pass does not move the bracket
    dipped = _drive(d_rounds(10, 100_000, 4.0, 1.5, k=3), lambda d: d >= 600 and d != 2560)
    assert dipped[-1] == [226, 320, 453]


def test_possible_d90s_of_the_quick_scale() -> None:
    """×4 grid from 10 to 100,000, bisected to ratio 1.5: each grid step splits into three."""
    settings = {"d_min": 10, "d_max": 100_000, "grid_factor": 4.0, "bracket_ratio": 1.5}
    assert possible_d90s(settings) == [
        10, 14, 20, 28, 40, 57, 80, 113, 160, 226, 320, 453, 640, 905, 1280, 1810, 2560, 3620,
        5120, 7241, 10240, 14482, 20480, 28963, 40960, 51200, 64000, 80000, 100000,
    ]  # fmt: skip
    assert possible_d90s({"grid": [300, 10, 300]}) == [10, 300]
    with pytest.raises(ValueError, match="d_max unresolved"):
        possible_d90s({**settings, "d_max": None})


def test_k_section_bracket_ignores_a_failing_d_above_the_smallest_pass(tmp_path: Path) -> None:
    """3 candidates per round and one bad point above the crossing (d = 2560 fails): the
    bracket is closed below the smallest passing d, not at the failure above it."""

    def dipped(d: int) -> float:
        return 0.5 if d == 2560 else sigmoid_acc(d)

    trainer = FakeTrainer(acc=dipped)
    res = run(ResultsStore(tmp_path), trainer, seeds=(0,), candidates=3)
    assert res.status == "ok" and res.d90 == 453 and res.bracket == (381, 453)
    assert res.non_monotone == [(453, 2560), (640, 2560)]
    assert trainer.dims() == [10, 40, 160, 226, 320, 381, 453, 640, 2560, 10240]
