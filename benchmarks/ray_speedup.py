"""Speed-up of a tiny d90 grid on a local Ray instance against the local executor.

A fake trainer burns about ``--seconds`` of real CPU time (a single-threaded numpy loop) per
training; the grid has 2 baseline trainings and ``--trainings - 2`` subspace dimensions, so a
round of the grid keeps every worker busy. Both executors run the same grid on fresh stores, one
after the other, in this process; the script prints both wall times, the ratio, and checks that
the two stores hold the same records.

Usage::

    .venv/bin/python benchmarks/ray_speedup.py [--trainings 8] [--seconds 1.0] [--workers 2]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core per training, here and in the Ray workers

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from idtheory.config import RunSpec  # noqa: E402
from idtheory.executors import LocalExecutor, RayExecutor  # noqa: E402
from idtheory.search import measure_d90  # noqa: E402
from idtheory.store import ResultsStore  # noqa: E402


def burn(iterations: int) -> float:
    """Single-threaded numpy work: ``iterations`` steps of a 64×64 tanh recurrence."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 64)) / 8.0
    a = rng.standard_normal((64, 64))
    for _ in range(iterations):
        a = np.tanh(a @ w)
    return float(a.sum())


class BurnTrainer:
    """Fake trainer: ``iterations`` of :func:`burn`, then a record with a step accuracy curve."""

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    def __call__(self, spec: RunSpec) -> dict[str, Any]:
        t0 = time.perf_counter()
        burn(self.iterations)
        wall = time.perf_counter() - t0
        if spec.subspace is None:
            acc = 0.9
        else:
            acc = 0.9 if spec.subspace.dim >= 300 else 0.5
        return {
            "status": "ok",
            "metrics": {"dev": {"accuracy": acc}},
            "num_params": 100_000,
            "num_trainable": spec.dim or 100_000,
            "wall_time_s": wall,
        }


def calibrate(seconds: float) -> int:
    """Iterations of :func:`burn` that take about ``seconds`` on this machine."""
    n = 200
    while True:
        t0 = time.perf_counter()
        burn(n)
        dt = time.perf_counter() - t0
        if dt > 0.2:
            return max(1, round(n * seconds / dt))
        n *= 2


def sweep(root: Path, executor: Any, trainer: BurnTrainer, grid: list[int]) -> float:
    """Wall time of the grid measurement with ``executor`` on a fresh store at ``root``
    (records hold each training's own wall time)."""
    t0 = time.perf_counter()
    measure_d90(
        "tiny",
        "mrpc",
        store=ResultsStore(root),
        train_fn=trainer,
        executor=executor,
        full_lrs=(2e-5, 5e-5),
        subspace_lrs=(1e-2,),
        seeds=(0,),
        grid=grid,
        progress=False,
    )
    return time.perf_counter() - t0


def _sorted_records(root: Path) -> list[dict[str, Any]]:
    """The records without their timing, sorted by run_id (Ray finishes in any order)."""
    recs = [
        {k: v for k, v in r.items() if k != "wall_time_s"} for r in ResultsStore(root).records()
    ]
    return sorted(recs, key=lambda r: r["run_id"])


def _mean_train_time(root: Path) -> float:
    times = [r["wall_time_s"] for r in ResultsStore(root).records()]
    return sum(times) / len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--trainings", type=int, default=8, help="trainings in the grid (>= 3)")
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per training")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance")
    args = parser.parse_args()
    if args.trainings < 3:
        parser.error("--trainings must be >= 3")

    grid = [10 * 3**i for i in range(args.trainings - 2)]  # 2 baseline lrs + these dims
    iterations = calibrate(args.seconds)
    trainer = BurnTrainer(iterations)
    print(
        f"grid: {args.trainings} trainings (2 baseline + {len(grid)} d), "
        f"{iterations} iterations ≈ {args.seconds:.2f} s CPU each; "
        f"{os.cpu_count()} CPUs on this machine, load average {os.getloadavg()[0]:.2f}"
    )
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        t_local = sweep(Path(tmp, "local"), LocalExecutor(progress=False), trainer, grid)
        t0 = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        executor = RayExecutor()
        parallelism = executor.parallelism
        t_init = time.perf_counter() - t0
        try:
            t_ray = sweep(Path(tmp, "ray"), executor, trainer, grid)
        finally:
            ray.shutdown()
        same = _sorted_records(Path(tmp, "local")) == _sorted_records(Path(tmp, "ray"))
        per_local = _mean_train_time(Path(tmp, "local"))
        per_ray = _mean_train_time(Path(tmp, "ray"))

    print(f"ray {ray.__version__}, {parallelism} workers; same records: {same}")
    print(f"local executor : {t_local:7.2f} s   ({per_local:.2f} s per training)")
    print(f"ray executor   : {t_ray:7.2f} s   ({per_ray:.2f} s per training in the workers)")
    print(f"ray start-up   : {t_init:7.2f} s   (ray.init, once per sweep)")
    with_init = t_local / (t_ray + t_init)
    print(f"speed-up       : {t_local / t_ray:7.2f}x   ({with_init:.2f}x counting the start-up)")


if __name__ == "__main__":
    main()
