"""Tests of idtheory.executors and of the parallel search: k-section, concurrent searches, Ray.

The Ray tests share one local Ray instance (2 CPUs, module-scoped fixture) and are skipped when
``ray`` is not installed. Trainers here are fakes: a record is a known function of the spec, so
two executors must produce identical records; trainers leave one marker file per invocation so
that invocations can be counted across processes (Ray workers, a killed driver).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from idtheory.config import RunSpec
from idtheory.executors import (
    DEFAULT_MAX_RETRIES,
    LocalExecutor,
    ProcessExecutor,
    RayExecutor,
    add_executor_arguments,
    executor_from_args,
    executor_parallelism,
    get_executor,
)
from idtheory.search import D90Result, measure_d90, measure_d90_many, section_points
from idtheory.search import LocalExecutor as SearchLocalExecutor
from idtheory.store import ResultsStore

try:
    import ray

    HAVE_RAY = True
except ImportError:  # pragma: no cover - depends on the environment
    ray = None  # type: ignore[assignment]
    HAVE_RAY = False

needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed")

T = TypeVar("T")
R = TypeVar("R")

# ---------------------------------------------------------------- fakes (picklable)


def sigmoid_acc(d: int, d0: float = 300.0) -> float:
    """0.5 + 0.45·σ(2·ln(d/d0)); with baseline 0.90 the threshold 0.81 is crossed at 1.488·d0."""
    return 0.5 + 0.45 / (1.0 + math.exp(-2.0 * (math.log(d) - math.log(d0))))


def fake_record(spec: RunSpec, acc: float) -> dict[str, Any]:
    """A deterministic trainer record (no time stamps, no host), so executors can be compared."""
    return {
        "run_id": spec.config_hash(),
        "spec": spec.to_dict(),
        "status": "ok",
        "message": "",
        "metrics": {"dev": {"accuracy": acc}},
        "best_step": 1,
        "history": [],
        "num_trainable": spec.dim or 100_000,
        "num_params": 100_000,
        "wall_time_s": 0.0,
        "versions": {},
    }


class Trainer:
    """Fake trainer: baseline 0.90 (lr 5e-5) / 0.80, subspace accuracy from ``curve``.

    Args:
        marker_dir: where each invocation leaves a file ``<run_id>.<random>`` (None: nowhere).
        sleep: seconds each invocation sleeps (simulated training time).
        crash_dims: subspace dims whose first attempt kills its process (``os._exit``): the
            attempt is detected through a file ``<run_id>.attempted`` in ``marker_dir``.
        fail_dims: subspace dims whose training raises ``RuntimeError``.
        d_star: when set, a step curve (0.9 from ``d_star`` on, else 0.5) replaces the sigmoid.
    """

    def __init__(
        self,
        marker_dir: str | None = None,
        sleep: float = 0.0,
        crash_dims: Sequence[int] = (),
        fail_dims: Sequence[int] = (),
        d_star: int | None = None,
    ) -> None:
        self.marker_dir = marker_dir
        self.sleep = sleep
        self.crash_dims = tuple(crash_dims)
        self.fail_dims = tuple(fail_dims)
        self.d_star = d_star

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        run_id = spec.config_hash()
        if self.marker_dir is not None:
            Path(self.marker_dir, f"{run_id}.{uuid.uuid4().hex}").touch()
            if spec.dim in self.crash_dims:
                attempted = Path(self.marker_dir, f"{run_id}.attempted")
                if not attempted.exists():
                    attempted.touch()
                    os._exit(1)  # the worker process dies mid-run
        if self.sleep:
            time.sleep(self.sleep)
        if spec.dim in self.fail_dims:
            raise RuntimeError(f"training of d={spec.dim} crashed")
        if spec.subspace is None:
            return fake_record(spec, 0.90 if spec.train.lr == 5e-5 else 0.80)
        d = spec.subspace.dim
        if self.d_star is not None:
            return fake_record(spec, 0.9 if d >= self.d_star else 0.5)
        return fake_record(spec, sigmoid_acc(d))


def invocations(marker_dir: Path) -> dict[str, int]:
    """Trainer invocations per run_id, from the marker files."""
    out: dict[str, int] = {}
    for p in marker_dir.iterdir():
        run_id, _, tag = p.name.partition(".")
        if tag != "attempted":
            out[run_id] = out.get(run_id, 0) + 1
    return out


def stored_lines(root: Path) -> list[dict[str, Any]]:
    path = root / "runs.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


class RecordingExecutor:
    """Sequential ``map``-only executor that claims a parallelism and records its rounds."""

    def __init__(self, parallelism: int = 1) -> None:
        self.parallelism = parallelism
        self.rounds: list[list[Any]] = []

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        self.rounds.append(list(items))
        return [fn(x) for x in items]


class ThreadExecutor(concurrent.futures.ThreadPoolExecutor):
    """A stdlib thread pool is an idtheory executor (it has ``submit``); ``map`` returns a list."""

    def __init__(self, n: int) -> None:
        super().__init__(max_workers=n)
        self.parallelism = n

    def map(self, fn: Callable[..., Any], *iterables: Any, **kw: Any) -> list[Any]:  # type: ignore[override]
        return list(super().map(fn, *iterables, **kw))


SMALL: dict[str, Any] = {
    "full_lrs": (2e-5, 5e-5),
    "subspace_lrs": (1e-2,),
    "seeds": (0,),
    "progress": False,
}

# ---------------------------------------------------------------- k-section


def test_section_points() -> None:
    assert section_points(160, 640, 1, 1.25) == [320]  # bisection: round(√(160·640))
    assert section_points(320, 640, 1, 1.25) == [453]  # √204800 = 452.5 → 453
    assert section_points(160, 640, 3, 1.25) == [226, 320, 453]  # 4^(1/4) = √2 steps
    # Only as many points as needed: (320, 453) needs one cut to reach 1.25, not three.
    assert section_points(320, 453, 3, 1.25) == [381]
    assert section_points(100, 10_000, 3, 1.01) == [316, 1000, 3162]
    assert section_points(10, 13, 5, 1.01) == [11, 12]  # every integer in between
    assert section_points(10, 11, 3, 1.01) == []  # adjacent: exact
    pts = section_points(10, 20, 7, 1.01)
    assert pts == sorted(set(pts)) and all(10 < d < 20 for d in pts) and len(pts) == 7


def _rounds_for(tmp: Path, d_star: int, k: int) -> tuple[int, D90Result]:
    executor = RecordingExecutor(parallelism=k)
    res = measure_d90(
        "tiny",
        "mrpc",
        store=ResultsStore(tmp),
        train_fn=Trainer(d_star=d_star),
        executor=executor,
        **SMALL,
    )
    return len(executor.rounds) - 1, res  # subspace rounds (the baseline round excluded)


def test_ksection_sigmoid_path_and_fewer_rounds(tmp_path: Path) -> None:
    """Sigmoid crossing 0.81 at d = 446.4 (as in test_search): bisection takes 7 subspace
    rounds (10 | 40 | 160 | 640 | 320 | 453 | 381); k = 3 takes 4 (10,40,160 | 640,2560,10240 |
    226,320,453 | 381) and brackets it the same."""
    store = ResultsStore(tmp_path)
    bis_exec, ks_exec = RecordingExecutor(1), RecordingExecutor(3)
    bis = measure_d90("tiny", "mrpc", store=store, train_fn=Trainer(), executor=bis_exec, **SMALL)
    ks = measure_d90(
        "tiny",
        "mrpc",
        store=ResultsStore(tmp_path / "k3"),
        train_fn=Trainer(),
        executor=ks_exec,
        **SMALL,
    )
    assert bis.search_path == [10, 40, 160, 640, 320, 453, 381]
    assert [len(r) for r in bis_exec.rounds] == [2] + [1] * 7
    assert ks.search_path == [10, 40, 160, 640, 2560, 10240, 226, 320, 453, 381]
    assert [len(r) for r in ks_exec.rounds] == [2, 3, 3, 3, 1]
    assert bis.d90 == ks.d90 == 453 and bis.bracket == ks.bracket == (381, 453)
    assert "candidates" not in bis.settings and ks.settings["candidates"] == 3
    assert bis.summary_id != ks.summary_id
    # The k = 3 search reuses the runs it shares with the bisection when both use one store.
    again = measure_d90(
        "tiny", "mrpc", store=store, train_fn=Trainer(), executor=RecordingExecutor(3), **SMALL
    )
    assert again.n_reused == 2 + 7 and again.n_trained == 3  # 2560, 10240, 226 are new


def test_ksection_needs_fewer_rounds_over_many_curves(tmp_path: Path) -> None:
    """Step curves with the crossing d* at 25 log-spaced places in [12, 50 000]: every search
    brackets d* within the ratio, and the mean number of rounds falls with k."""
    d_stars = [round(12 * (50_000 / 12) ** (i / 24)) for i in range(25)]
    mean_rounds: dict[int, float] = {}
    for k in (1, 3, 7):
        total = 0
        for j, d_star in enumerate(d_stars):
            n, res = _rounds_for(tmp_path / f"k{k}_{j}", d_star, k)
            lo, hi = res.bracket
            assert hi is not None and hi >= d_star and (lo is None or lo < d_star)
            assert lo is None or hi / lo <= 1.25 or hi == lo + 1
            total += n
        mean_rounds[k] = total / len(d_stars)
    assert mean_rounds[3] < 0.7 * mean_rounds[1]
    assert mean_rounds[7] < mean_rounds[3]


def test_candidates_follow_executor_parallelism(tmp_path: Path) -> None:
    """k = parallelism // (trainings per d): 8 workers, 2 lr × 2 seeds per d → 2 candidates."""
    executor = RecordingExecutor(parallelism=8)
    res = measure_d90(
        "tiny",
        "mrpc",
        store=ResultsStore(tmp_path),
        train_fn=Trainer(),
        executor=executor,
        full_lrs=(5e-5,),
        subspace_lrs=(1e-3, 1e-2),
        seeds=(0, 1),
        progress=False,
    )
    assert res.settings["candidates"] == 2
    assert [len(r) for r in executor.rounds][:2] == [2, 8]  # baseline; 2 d × 4 trainings
    capped = measure_d90(  # max_parallel caps the parallelism: back to bisection
        "tiny",
        "mrpc",
        store=ResultsStore(tmp_path / "capped"),
        train_fn=Trainer(),
        executor=RecordingExecutor(parallelism=8),
        max_parallel=4,
        full_lrs=(5e-5,),
        subspace_lrs=(1e-3, 1e-2),
        seeds=(0, 1),
        progress=False,
    )
    assert "candidates" not in capped.settings
    assert capped.search_path == [10, 40, 160, 640, 320, 453, 381]


# ---------------------------------------------------------------- concurrent searches


def test_many_searches_share_baseline_and_match_single(tmp_path: Path) -> None:
    """SAID and DID on one model/task share the full fine-tuning baseline (trained once); the
    results equal those of separate searches, with the local and a thread-pool executor."""
    jobs = [{"model": "tiny", "task": "mrpc", "method": m} for m in ("said", "did")]
    ref = [
        measure_d90(
            "tiny",
            "mrpc",
            m,
            store=ResultsStore(tmp_path / f"ref_{m}"),
            train_fn=Trainer(),
            **SMALL,
        )
        for m in ("said", "did")
    ]
    for name, executor in (("local", "local"), ("threads", ThreadExecutor(2))):
        marker = tmp_path / f"markers_{name}"
        marker.mkdir()
        store = ResultsStore(tmp_path / name)
        res = measure_d90_many(
            jobs,
            store=store,
            train_fn=Trainer(str(marker)),
            executor=executor,  # type: ignore[arg-type]
            candidates=1,
            **SMALL,
        )
        assert [r.method for r in res] == ["said", "did"]
        for r, want in zip(res, ref, strict=True):
            assert (r.d90, r.bracket, r.scores, r.search_path) == (
                want.d90,
                want.bracket,
                want.scores,
                want.search_path,
            )
            assert r.summary_id == want.summary_id
        calls = invocations(marker)
        assert all(n == 1 for n in calls.values())  # nothing trained twice
        assert len(calls) == len(store.records()) == 2 + 2 * 7  # baseline shared
        assert res[0].n_trained + res[1].n_trained == len(calls)
        assert len(stored_lines(tmp_path / name)) == len(calls)


class DriverRecordsThreadExecutor(ThreadExecutor):
    """The same, with the records written by the driver (as the process and Ray executors)."""

    driver_records = True


def test_thread_executor_error_drains_then_raises(tmp_path: Path) -> None:
    """A training that raises: trainings in flight finish and are stored by the driver, the
    error is raised, and the next call resumes (only what is missing is trained)."""
    marker = tmp_path / "markers"
    marker.mkdir()
    store = ResultsStore(tmp_path / "store")
    grid = [10, 20, 40, 80]
    # Two threads, 0.1 s per training: 10 and 20 run first, 20 fails as 10 ends, and 40 and 80
    # are still running then; a driver that raised at once would never record them.
    with DriverRecordsThreadExecutor(2) as ex, pytest.raises(RuntimeError, match="d=20 crashed"):
        measure_d90(
            "tiny",
            "mrpc",
            store=store,
            train_fn=Trainer(str(marker), sleep=0.1, fail_dims=(20,), d_star=10),
            executor=ex,
            grid=grid,
            **SMALL,
        )
    before = {r["run_id"] for r in store.records()}
    subspace = {r["run_id"] for r in store.records() if r["spec"]["subspace"]}
    assert subspace == {_spec_hash(d) for d in (10, 40, 80)} and len(before) == 2 + 3
    with ThreadExecutor(2) as ex:
        res = measure_d90(
            "tiny",
            "mrpc",
            store=store,
            train_fn=Trainer(str(marker), d_star=10),
            executor=ex,
            grid=grid,
            **SMALL,
        )
    assert res.d90 == 10 and len(store.records()) == 2 + 4
    calls = invocations(marker)
    assert all(calls[r] == 1 for r in before)  # nothing stored was trained again
    assert res.n_reused == len(before)


def _spec(d: int) -> RunSpec:
    from idtheory.config import SubspaceConfig, TrainConfig

    return RunSpec(
        model="tiny", task="mrpc", train=TrainConfig(lr=1e-2), subspace=SubspaceConfig(dim=d)
    )


def _spec_hash(d: int) -> str:
    return _spec(d).config_hash()


# ---------------------------------------------------------------- factory and CLI


def test_get_executor_and_parallelism() -> None:
    local = get_executor("local", progress=False)
    assert isinstance(local, LocalExecutor) and SearchLocalExecutor is LocalExecutor
    assert isinstance(get_executor(None), LocalExecutor)
    assert get_executor(local) is local
    rex = get_executor("ray", address="auto", max_parallel=4, num_gpus=0.5)
    assert isinstance(rex, RayExecutor) and rex.max_parallel == 4 and rex.num_gpus == 0.5
    assert rex._ray is None  # nothing started until used
    with pytest.raises(ValueError, match="unknown executor"):
        get_executor("dask")
    with pytest.raises(TypeError):
        get_executor(local, progress=False)
    with pytest.raises(TypeError):
        get_executor(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RayExecutor(max_parallel=0)
    # max_parallel: one name for the cap of every executor
    assert get_executor("process", max_parallel=3, progress=False).parallelism == 3
    assert isinstance(get_executor("local", max_parallel=1), LocalExecutor)
    with pytest.raises(ValueError, match="one training at a time"):
        get_executor("local", max_parallel=2)
    with pytest.raises(ValueError, match=">= 1"):
        get_executor("process", max_parallel=0)
    with pytest.raises(TypeError, match="max_parallel"):
        get_executor(local, max_parallel=2)
    assert executor_parallelism(local) == 1 and executor_parallelism(local, 8) == 1
    assert executor_parallelism(RecordingExecutor(6)) == 6
    assert executor_parallelism(RecordingExecutor(6), max_parallel=4) == 4
    assert LocalExecutor(progress=False).map(lambda x: x * 2, [1, 2, 3]) == [2, 4, 6]


def test_cli_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_executor_arguments(parser)
    args = parser.parse_args([])
    assert args.executor == "local" and args.address is None and args.max_parallel is None
    assert isinstance(executor_from_args(args), LocalExecutor)
    args = parser.parse_args(
        ["--executor", "ray", "--address", "auto", "--max-parallel", "8", "--max-retries", "5"]
    )
    ex = executor_from_args(args)
    assert isinstance(ex, RayExecutor)
    assert (ex.address, ex.max_parallel, ex.max_retries, ex.num_gpus) == ("auto", 8, 5, None)
    with pytest.raises(ValueError, match="--address"):
        executor_from_args(parser.parse_args(["--address", "auto"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--executor", "slurm"])


@pytest.mark.parametrize("name", ["local", "process"])
def test_max_retries_is_for_ray_and_process(name: str) -> None:
    """--max-retries with the local executor is refused; the process pool and Ray take it, and
    left out both keep the default."""
    parser = argparse.ArgumentParser()
    add_executor_arguments(parser)
    given = parser.parse_args(["--executor", name, "--max-retries", "5"])
    if name == "local":
        with pytest.raises(ValueError, match="--max-retries: for --executor ray or process"):
            executor_from_args(given)
    else:
        assert executor_from_args(given).max_retries == 5  # type: ignore[attr-defined]
    ex = executor_from_args(parser.parse_args(["--executor", "ray"]))
    assert isinstance(ex, RayExecutor) and ex.max_retries == DEFAULT_MAX_RETRIES
    ex = executor_from_args(parser.parse_args(["--executor", "process"]))
    assert isinstance(ex, ProcessExecutor) and ex.max_retries == DEFAULT_MAX_RETRIES


def test_process_executor_grid_gives_same_records_as_local(tmp_path: Path) -> None:
    """Two spawned workers, one thread each: in order, the driver records every run, and the
    same records and result as the local executor."""
    ex = get_executor("process", workers=2, progress=False)
    assert isinstance(ex, ProcessExecutor) and executor_parallelism(ex) == 2
    try:
        assert ex.map(abs, [-3, 2, -1]) == [3, 2, 1]
        assert ex.submit(abs, -5).result() == 5
        grid = [10, 100, 1000]
        out = {}
        for name, executor in (("local", LocalExecutor(progress=False)), ("process", ex)):
            store = ResultsStore(tmp_path / name)
            res = measure_d90(
                "tiny",
                "mrpc",
                store=store,
                train_fn=Trainer(),
                executor=executor,
                grid=grid,
                **SMALL,
            )
            out[name] = (res, sorted(store.records(), key=lambda r: r["run_id"]))
        (loc, loc_recs), (proc, proc_recs) = out["local"], out["process"]
        assert proc_recs == loc_recs and len(proc_recs) == 2 + len(grid)
        assert (proc.d90, proc.scores, proc.summary_id) == (loc.d90, loc.scores, loc.summary_id)
    finally:
        ex.close()
    args = argparse.ArgumentParser()
    add_executor_arguments(args)
    made = executor_from_args(args.parse_args(["--executor", "process", "--max-parallel", "3"]))
    assert isinstance(made, ProcessExecutor) and made.workers == 3
    with pytest.raises(ValueError, match="--address"):
        executor_from_args(args.parse_args(["--executor", "process", "--address", "auto"]))
    with pytest.raises(ValueError):
        ProcessExecutor(workers=0)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads worker pids from /proc")
def test_process_workers_exit_when_the_driver_dies(tmp_path: Path) -> None:
    """A sweep killed with SIGKILL (or SIGTERM, or the end of its session) leaves no worker
    training on: each exits within about a second of its driver."""
    driver = (
        "import os, signal, time\n"
        "from idtheory.executors import ProcessExecutor\n"
        "ex = ProcessExecutor(workers=1, progress=False)\n"
        "print(ex.submit(os.readlink, '/proc/self').result(), flush=True)\n"
        "ex.submit(time.sleep, 120)\n"
        "time.sleep(0.5)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = tmp_path / "driver.out"  # a file, not a pipe: an orphaned worker would hold a pipe open
    with out.open("w") as fh:
        subprocess.run([sys.executable, "-c", driver], stdout=fh, timeout=120)
    worker = int(out.read_text().split()[0])

    def alive() -> bool:
        try:
            state = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return state not in ("Z", "X")

    deadline = time.monotonic() + 15
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive():
        os.kill(worker, signal.SIGKILL)
        pytest.fail(f"worker {worker} still running 15 s after its driver was killed")


_STOPPABLE_UNIT = '''
import os, time
from idtheory import stopping

def steps(out):
    """A training-like loop of 0.05 s steps that honours stop requests at its step ends."""
    open(out + ".started", "w").write(str(os.getpid()))
    with stopping.stoppable():
        for i in range(1200):
            time.sleep(0.05)
            if stopping.stop_requested():
                open(out, "w").write(str(i))  # a training saves its checkpoint here
                raise KeyboardInterrupt
    open(out, "w").write("finished")


def signalled_steps(out):
    """The same loop under a training's own signal handling (a deferred SIGINT / SIGTERM)."""
    from idtheory.train import _InterruptAtStepEnd

    open(out + ".started", "w").write(str(os.getpid()))
    with _InterruptAtStepEnd() as interrupt:
        for i in range(1200):
            time.sleep(0.05)
            if interrupt.pending:
                open(out, "w").write(str(i))
                raise KeyboardInterrupt
    open(out, "w").write("finished")


def nap(seconds):
    time.sleep(seconds)
    return os.getpid()
'''


def _driver_of_a_stoppable_unit(
    tmp_path: Path, then: str, workers: int = 1, unit: str = "steps"
) -> str:
    """A driver script: ``workers`` workers (all started: each first naps 0.5 s), one of which
    then runs ``stopunit.<unit>``; once it has started, ``then``."""
    (tmp_path / "stopunit.py").write_text(_STOPPABLE_UNIT)
    return (
        "import os, signal, sys, threading, time\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # CI may run with it ignored\n"
        "import stopunit\n"
        "from idtheory.executors import ProcessExecutor\n"
        f"out = {str(tmp_path / 'unit.out')!r}\n"
        "def then():\n"
        "    while not os.path.exists(out + '.started'):\n"
        "        time.sleep(0.05)\n"
        f"    {then}\n"
        f"ex = ProcessExecutor(workers={workers}, progress=False)\n"
        f"assert len(set(ex.map(stopunit.nap, [0.5] * {workers}))) == {workers}\n"
        "threading.Thread(target=then, daemon=True).start()\n"
        "try:\n"
        f"    ex.map(stopunit.{unit}, [out])\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
    )


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX stop signal")
def test_a_sigint_to_the_driver_alone_stops_the_workers_at_their_step_end(tmp_path: Path) -> None:
    """`kill -INT <driver>` (the workers get nothing): the driver asks its workers to stop at
    their step end, where a training saves its checkpoint, waits for them, and exits — instead
    of waiting for whole trainings (a minute here, hours in a sweep)."""
    driver = _driver_of_a_stoppable_unit(tmp_path, "os.kill(os.getpid(), signal.SIGINT)")
    done = subprocess.run(
        [sys.executable, "-c", driver], capture_output=True, text=True, timeout=50
    )
    assert "interrupted" in done.stdout, done.stderr[-2000:]
    assert (tmp_path / "unit.out").read_text().isdigit()  # stopped at a step end, not finished


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX stop signal")
def test_a_terminal_ctrl_c_with_an_idle_worker_stops_at_the_step_end(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group: an idle worker must not die of it
    (that broke the pool and killed the busy worker mid-step); the driver passes it on."""
    driver = _driver_of_a_stoppable_unit(tmp_path, "os.killpg(0, signal.SIGINT)", workers=2)
    done = subprocess.run(  # its own process group, as a terminal's job: the Ctrl-C stays there
        [sys.executable, "-c", driver],
        capture_output=True,
        text=True,
        timeout=50,
        start_new_session=True,
    )
    assert "interrupted" in done.stdout, done.stderr[-2000:]
    assert (tmp_path / "unit.out").read_text().isdigit()  # stopped at a step end, not killed


def test_interrupt_starts_nothing_new_and_a_second_ctrl_c_kills(monkeypatch) -> None:
    """A training handed to a worker after a stop does not start; a Ctrl-C while `interrupt`
    waits kills the workers (SIGKILL: a training would defer SIGTERM to its step end), and the
    executor starts afresh on its next use."""
    from idtheory import executors, stopping

    started: list[int] = []
    stopping.request_stop()
    try:
        with pytest.raises(KeyboardInterrupt):
            executors._apply_unless_stopped(started.append, 1)
    finally:
        stopping.clear_stop()
    assert started == [] and executors._apply_unless_stopped(started.append, 2) is None

    class Worker:
        pid, killed = -1, False

        def kill(self) -> None:
            self.killed = True

    class Pool:
        def __init__(self) -> None:
            self._processes = {1: Worker(), 2: Worker()}

        def shutdown(self, **kwargs: Any) -> None:
            raise KeyboardInterrupt  # the second Ctrl-C

    monkeypatch.setattr(executors, "STOP_SIGNAL", None)  # no real signal to pid -1
    ex, pool = ProcessExecutor(workers=2, progress=False), Pool()
    ex._pool = pool  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        ex.interrupt()
    assert all(w.killed for w in pool._processes.values()) and ex._pool is None


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX stop signal")
def test_a_dead_drivers_worker_saves_at_its_step_end_before_it_exits(tmp_path: Path) -> None:
    """A driver killed outright: its worker's training is asked to stop at its step end (where
    it saves its checkpoint) before the worker exits."""
    driver = _driver_of_a_stoppable_unit(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    with (tmp_path / "driver.out").open("w") as fh:  # a file: an orphaned worker holds no pipe
        subprocess.run([sys.executable, "-c", driver], stdout=fh, timeout=120)
    assert _step_the_worker_stopped_at(tmp_path).isdigit()


def _step_the_worker_stopped_at(tmp_path: Path, wait_s: float = 15) -> str:
    """What the stoppable unit wrote when it stopped (its step), waiting up to ``wait_s``
    seconds; a worker still running then is killed and the test fails."""
    out, deadline = tmp_path / "unit.out", time.monotonic() + wait_s
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if not out.exists():
        os.kill(int((tmp_path / "unit.out.started").read_text()), signal.SIGKILL)
        pytest.fail(f"the worker did not stop at a step end within {wait_s:g} s")
    return out.read_text()


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX process groups")
def test_a_sigterm_to_the_sweeps_process_group_saves_at_the_step_end(tmp_path: Path) -> None:
    """`kill -- -<pgid>` (or a scheduler's SIGTERM to every process of a job): the driver and an
    idle worker end at once, the busy worker's training finishes its step and saves there."""
    driver = _driver_of_a_stoppable_unit(
        tmp_path, "os.killpg(0, signal.SIGTERM)", workers=2, unit="signalled_steps"
    )
    with (tmp_path / "driver.out").open("w") as fh:  # a file: an orphaned worker holds no pipe
        done = subprocess.run(
            [sys.executable, "-c", driver], stdout=fh, timeout=120, start_new_session=True
        )
    assert done.returncode == -signal.SIGTERM
    assert _step_the_worker_stopped_at(tmp_path).isdigit()


def test_local_path_does_not_import_ray(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from idtheory.search import measure_d90\n"
        "from idtheory.store import ResultsStore\n"
        "from idtheory.config import RunSpec\n"
        "def train(spec):\n"
        "    acc = 0.9 if spec.subspace is None or spec.subspace.dim >= 40 else 0.5\n"
        "    return {'status': 'ok', 'metrics': {'dev': {'accuracy': acc}}, 'num_params': 1000}\n"
        f"r = measure_d90('tiny', 'mrpc', store=ResultsStore({str(tmp_path)!r}), train_fn=train,"
        " full_lrs=(1e-5,), subspace_lrs=(1e-2,), progress=False)\n"
        "assert r.d90 == 40, r\n"
        "assert 'ray' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """One local Ray instance with 2 CPUs for all Ray tests of this module."""
    if not HAVE_RAY:
        pytest.skip("ray is not installed")
    assert ray is not None
    # Trainers defined in this test module travel to the workers by value (the workers cannot
    # import the tests folder).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@needs_ray
def test_ray_executor_basics(ray_address: str) -> None:
    ex = RayExecutor()
    assert ex.parallelism == 2 and ex.resources == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert ex.map(abs, [-1, 2, -3]) == [1, 2, 3]
    assert RayExecutor(max_parallel=1).map(abs, [-4, 5]) == [4, 5]
    assert ex.submit(abs, -7).result(timeout=60) == 7
    with pytest.raises(ValueError):
        ex.map(int, ["x"])  # the task's exception, re-raised as (a subclass of) itself
    ex.close()  # Ray was started by the fixture: left running
    assert ray is not None and ray.is_initialized()


@needs_ray
def test_ray_grid_gives_same_records_as_local(ray_address: str, tmp_path: Path) -> None:
    """A grid of 8 trainings (2 baseline + 6 d, 0.3 s each) on 2 Ray workers: the same records
    and the same result as the local executor (not timed: Ray's start-up dominates here)."""
    grid = [10, 30, 100, 300, 1000, 3000]
    out: dict[str, tuple[D90Result, list[dict[str, Any]], float]] = {}
    executors: dict[str, Any] = {
        "local": LocalExecutor(progress=False),
        "ray": RayExecutor(),  # the driver records
        "ray_workers_record": RayExecutor(driver_records=False),  # the workers record
    }
    for name, executor in executors.items():
        store = ResultsStore(tmp_path / name)
        t0 = time.perf_counter()
        res = measure_d90(
            "tiny",
            "mrpc",
            store=store,
            train_fn=Trainer(sleep=0.3),
            executor=executor,
            grid=grid,
            **SMALL,
        )
        out[name] = (res, store.records(), time.perf_counter() - t0)
    (loc, loc_recs, _), (rr, ray_recs, _) = out["local"], out["ray"]
    key = lambda r: r["run_id"]  # noqa: E731
    assert sorted(ray_recs, key=key) == sorted(loc_recs, key=key) and len(ray_recs) == 8
    assert (rr.d90, rr.bracket, rr.scores, rr.summary_id) == (
        loc.d90,
        loc.bracket,
        loc.scores,
        loc.summary_id,
    )
    assert rr.d90 == 1000 and rr.n_trained == 8
    assert len(stored_lines(tmp_path / "ray")) == 8
    # No timed assert (a loaded CI machine makes it flaky): benchmarks/ray_speedup.py measures it.
    wr, wr_recs, _ = out["ray_workers_record"]
    assert sorted(wr_recs, key=key) == sorted(loc_recs, key=key) and wr.d90 == 1000
    assert len(stored_lines(tmp_path / "ray_workers_record")) == 8


@needs_ray
def test_ray_worker_killed_is_retried_once_stored(ray_address: str, tmp_path: Path) -> None:
    """The first attempt of two trainings kills its worker process (os._exit); Ray re-runs them
    and the store holds every run exactly once."""
    marker = tmp_path / "markers"
    marker.mkdir()
    store = ResultsStore(tmp_path / "store")
    res = measure_d90(
        "tiny",
        "mrpc",
        store=store,
        train_fn=Trainer(str(marker), sleep=0.1, crash_dims=(30, 300), d_star=300),
        executor=RayExecutor(max_retries=2),
        grid=[10, 30, 100, 300],
        **SMALL,
    )
    assert res.d90 == 300 and res.problems == []
    lines = stored_lines(tmp_path / "store")
    assert len(lines) == len({x["run_id"] for x in lines}) == 2 + 4
    calls = invocations(marker)
    crashed = {_spec_hash(30), _spec_hash(300)}
    assert {r for r, n in calls.items() if n == 2} == crashed
    assert all(n == 1 for r, n in calls.items() if r not in crashed)


@needs_ray
def test_ray_parallel_search_uses_k_section(ray_address: str, tmp_path: Path) -> None:
    """On 2 workers with 1 training per d the search evaluates 2 candidates per round."""
    res = measure_d90(
        "tiny",
        "mrpc",
        store=ResultsStore(tmp_path),
        train_fn=Trainer(d_star=450),
        executor=RayExecutor(),
        **SMALL,
    )
    assert res.settings["candidates"] == 2
    # Rounds of two: 10,40 | 160,640 (passes) | 254,403 (fail) | 470,549 (pass): 4 rounds where
    # bisection needs 7 (10 | 40 | 160 | 640 | 320 | 453 | 381).
    assert res.search_path == [10, 40, 160, 640, 254, 403, 470, 549]
    assert res.d90 == 470 and res.bracket == (403, 470)


DRIVER_GRID = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120]


def _driver_main(address: str, store_root: str, marker_dir: str) -> None:
    """The driver run as a subprocess by the kill-and-restart test."""
    measure_d90(
        "tiny",
        "mrpc",
        store=ResultsStore(store_root),
        train_fn=Trainer(marker_dir, sleep=0.4),
        executor=RayExecutor(address=address),
        grid=DRIVER_GRID,
        **SMALL,
    )


@needs_ray
def test_ray_driver_killed_and_restarted_resumes(ray_address: str, tmp_path: Path) -> None:
    """Kill the driver (SIGKILL) after a few records exist; a new driver finishes the sweep
    without training again any run that was stored."""
    root, marker = tmp_path / "store", tmp_path / "markers"
    marker.mkdir()
    proc = subprocess.Popen(
        [sys.executable, __file__, ray_address, str(root), str(marker)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(stored_lines(root)) < 4:
            assert proc.poll() is None, "the driver ended before it was killed"
            assert time.monotonic() < deadline, "no records after 60 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    before = {x["run_id"] for x in stored_lines(root)}
    n_total = 2 + len(DRIVER_GRID)
    assert 4 <= len(before) < n_total
    time.sleep(0.5)  # let tasks of the dead driver that were mid-run leave their markers
    res = measure_d90(
        "tiny",
        "mrpc",
        store=ResultsStore(root),
        train_fn=Trainer(str(marker), sleep=0.4),
        executor=RayExecutor(),
        grid=DRIVER_GRID,
        **SMALL,
    )
    assert res.n_reused == len(before) and res.n_trained == n_total - len(before)
    lines = stored_lines(root)
    assert len(lines) == len({x["run_id"] for x in lines}) == n_total  # each run exactly once
    calls = invocations(marker)
    assert all(calls[r] == 1 for r in before)  # a stored run is never trained again
    assert set(calls) == {x["run_id"] for x in lines}


if __name__ == "__main__":  # the subprocess driver of test_ray_driver_killed_and_restarted
    _driver_main(sys.argv[1], sys.argv[2], sys.argv[3])


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX stop signal")
def test_workers_start_with_the_stop_signal_ignored_until_they_handle_it() -> None:
    """A stop sent while a worker is still starting must not kill it (SIGUSR1's default): the
    driver ignores the signal before it spawns (only where it had the default action), so its
    workers start with it ignored; their start-up then installs the handler and ignores SIGINT."""
    from idtheory.stopping import ignore_stop_signal_before_spawning

    previous = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    try:
        ignore_stop_signal_before_spawning()
        assert signal.getsignal(signal.SIGUSR1) is signal.SIG_IGN
        signal.signal(signal.SIGUSR1, signal.default_int_handler)  # a handler of the program's own
        ignore_stop_signal_before_spawning()
        assert signal.getsignal(signal.SIGUSR1) is signal.default_int_handler  # stays
    finally:
        signal.signal(signal.SIGUSR1, previous)
    code = (
        "import signal\n"
        "from idtheory.executors import ProcessExecutor\n"
        "ex = ProcessExecutor(workers=1, progress=False)\n"
        'ask = \'str(__import__("signal").getsignal(__import__("signal").{}))\'\n'
        "print(ex.submit(eval, ask.format('SIGUSR1')).result())\n"
        "print(ex.submit(eval, ask.format('SIGINT')).result())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    handler, sigint = done.stdout.splitlines()[:2]
    assert "function" in handler and sigint == str(signal.SIG_IGN), done.stdout


def test_process_pool_broken_by_a_dead_worker_is_replaced_and_the_trainings_rerun(
    tmp_path: Path,
) -> None:
    """The first attempt of two trainings kills its worker (os._exit, as the OOM killer would):
    the pool breaks, every training in flight is submitted again to a fresh pool, and the search
    ends as on the local executor with every run stored once; without retries the error says so."""
    marker = tmp_path / "markers"
    marker.mkdir()
    store = ResultsStore(tmp_path / "store")
    kw: dict[str, Any] = dict(grid=[10, 30, 100, 300], **SMALL)
    crashing = Trainer(str(marker), sleep=0.2, crash_dims=(30, 300), d_star=300)
    ex = ProcessExecutor(workers=2, progress=False, max_retries=2)
    res = measure_d90("tiny", "mrpc", store=store, train_fn=crashing, executor=ex, **kw)
    ex.close()
    ref = measure_d90("tiny", "mrpc", store=ResultsStore(tmp_path / "ref"),
                      train_fn=Trainer(d_star=300), executor="local", **kw)  # fmt: skip
    assert (res.d90, res.scores, res.problems) == (ref.d90, ref.scores, [])
    lines = stored_lines(tmp_path / "store")
    assert len(lines) == len({x["run_id"] for x in lines}) == 2 + 4
    crashed = {_spec_hash(30), _spec_hash(300)}
    assert crashed <= {r for r, n in invocations(marker).items() if n >= 2}
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    once = ProcessExecutor(workers=1, progress=False, max_retries=0)
    with pytest.raises(concurrent.futures.process.BrokenProcessPool):
        once.map(Trainer(str(fresh), crash_dims=(30,)), [_spec(30)])
    once.close()


class CrashFirst:
    """Kills its worker process (os._exit) on its first ``n`` calls, counted in files of
    ``marker_dir``; returns ``x + 1`` afterwards."""

    def __init__(self, marker_dir: str, n: int) -> None:
        self.marker_dir, self.n = marker_dir, n

    def __call__(self, x: int) -> int:
        attempts = len(list(Path(self.marker_dir).iterdir()))
        Path(self.marker_dir, uuid.uuid4().hex).touch()
        if attempts < self.n:
            os._exit(1)
        return x + 1


@pytest.mark.parametrize("retries", [1, 2])
def test_process_executor_resubmits_exactly_max_retries_times(tmp_path: Path, retries) -> None:
    """A training whose worker dies on each of its first k attempts succeeds with
    max_retries = k and fails with k − 1: the limit counts submissions after the first."""
    enough, short = tmp_path / "enough", tmp_path / "short"
    enough.mkdir()
    short.mkdir()
    ex = ProcessExecutor(workers=1, progress=False, max_retries=retries)
    try:
        assert ex.submit(CrashFirst(str(enough), retries), 41).result() == 42
    finally:
        ex.close()
    assert len(list(enough.iterdir())) == retries + 1
    ex = ProcessExecutor(workers=1, progress=False, max_retries=retries - 1)
    try:
        with pytest.raises(concurrent.futures.process.BrokenProcessPool):
            ex.submit(CrashFirst(str(short), retries), 41).result()
    finally:
        ex.close()
    assert len(list(short.iterdir())) == retries


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim, /proc")
def test_a_worker_gives_back_what_its_training_freed():
    """glibc keeps freed heap memory (its mmap threshold rises once a large block was freed), so
    a pool worker held its largest training's peak through every later one; after each unit it
    now trims the heap. Here a unit allocates ~300 MB in mid-size tensors and frees them: the
    worker's resident memory afterwards is back near where it started."""
    ex = ProcessExecutor(workers=1, progress=False)
    rss = "int(open('/proc/self/statm').read().split()[1]) * 4096"
    churn = (
        "(len([__import__('torch').empty(4_000_000) for _ in range(3)]),"  # raise the threshold
        f" len([__import__('torch').ones(n) for n in range(20_000, 380_000, 1_200)]), {rss})"
    )
    try:
        before = ex.submit(eval, rss).result()
        *_, peak = ex.submit(eval, churn).result()
        after = ex.submit(eval, rss).result()
    finally:
        ex.close()
    allocated = peak - before
    assert allocated > 200e6, allocated  # the unit did hold its tensors
    assert after - before < 0.25 * allocated, (before, peak, after)


def test_stop_on_interrupt_stops_the_executor_then_calls_then() -> None:
    """On a KeyboardInterrupt the executor's workers stop first, then ``then`` runs (it sees
    every training that ended meanwhile), then the interrupt propagates; other errors and a
    clean exit call neither."""
    from idtheory.executors import stop_on_interrupt

    calls: list[str] = []

    class Executor:
        def interrupt(self) -> None:
            calls.append("interrupt")

    with pytest.raises(KeyboardInterrupt):
        with stop_on_interrupt(Executor(), then=lambda: calls.append("then")):
            raise KeyboardInterrupt
    assert calls == ["interrupt", "then"]
    calls.clear()
    with pytest.raises(ValueError):
        with stop_on_interrupt(Executor(), then=lambda: calls.append("then")):
            raise ValueError
    with stop_on_interrupt(object(), then=lambda: calls.append("then")):
        pass
    assert calls == []
    with pytest.raises(KeyboardInterrupt):  # an executor without interrupt(): then alone
        with stop_on_interrupt(object(), then=lambda: calls.append("then")):
            raise KeyboardInterrupt
    assert calls == ["then"]
    calls.clear()

    class Impatient:  # a second Ctrl-C while the workers stop
        def interrupt(self) -> None:
            calls.append("interrupt")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with stop_on_interrupt(Impatient(), then=lambda: calls.append("then")):
            raise KeyboardInterrupt
    assert calls == ["interrupt", "then"]
