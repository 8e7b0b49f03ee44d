"""Executors: where the trainings of a sweep run — in-process, in worker processes, or as
tasks on a Ray cluster.

An executor runs independent units of work (one training each) for :mod:`idtheory.search`. Three
are provided, chosen by name with :func:`get_executor` (or ``--executor`` on the command line,
see :func:`add_executor_arguments`):

* ``"local"`` — :class:`LocalExecutor`: in-process and sequential (parallelism 1). It never
  imports Ray. With it the d90 search is the plain log-d bisection.
* ``"process"`` — :class:`ProcessExecutor`: ``workers`` spawned processes on this machine, each
  training with ``threads`` CPU threads (two single-threaded trainings on a 2-core CPU), no Ray.
* ``"ray"`` — :class:`RayExecutor`: each training is a Ray task with a resource request
  (``num_gpus=1`` on a cluster with GPUs, one CPU otherwise) and ``max_retries`` for worker
  failures (a crashed or killed worker process, a lost node). It joins a running cluster
  (``address="auto"``, ``"ray://head:10001"``) or starts a local Ray instance. Its
  :attr:`RayExecutor.parallelism` (the number of trainings the cluster runs at once) sets how many
  candidate d the search evaluates per round (k-section instead of bisection).

The protocol (:class:`Executor`) is small so that other back ends fit: ``map(fn, items)`` is
required; ``submit(fn, item) -> concurrent.futures.Future`` is optional and lets the search
driver record each training as soon as it finishes and run the rounds of several searches
concurrently; ``parallelism`` (default 1), ``max_parallel`` (cap on trainings in flight) and
``driver_records`` (True: workers only train and the driver writes the records; False: each unit
writes its record to the store itself) are optional attributes, and so is ``interrupt()``: what
the driver calls when it is interrupted (:func:`stop_on_interrupt`) — a :class:`ProcessExecutor`
asks its workers' trainings to save and stop at their step end and waits for them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import ctypes
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from typing import Any, Protocol, TypeVar

from idtheory.stopping import (
    STOP_SIGNAL,
    ignore_stop_signal_before_spawning,
    install_worker_signals,
    request_stop,
    stop_requested,
    stoppable_running,
)

T = TypeVar("T")
R = TypeVar("R")

#: Names accepted by :func:`get_executor` and ``--executor``.
EXECUTOR_NAMES: tuple[str, ...] = ("local", "process", "ray")
#: Default number of times Ray re-runs a training whose worker process died.
DEFAULT_MAX_RETRIES = 3


class Executor(Protocol):
    """Runs independent units of work; the search submits one round at a time.

    ``map(fn, items)`` must return ``[fn(x) for x in items]`` in order; it may run the calls in
    any order or in parallel. ``fn`` is picklable when the store and the trainer are (a
    ``functools.partial`` of a module-level function).

    Optional members, read with ``getattr`` (see the module docstring): ``submit(fn, item)``
    returning a :class:`concurrent.futures.Future`, ``parallelism: int``,
    ``max_parallel: int | None`` and ``driver_records: bool``.
    """

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...


class FutureExecutor(Executor, Protocol):
    """An :class:`Executor` that can also submit one unit and return a future of its result."""

    def submit(self, fn: Callable[[T], R], item: T) -> concurrent.futures.Future[R]: ...


class LocalExecutor:
    """In-process, sequential executor with a tqdm progress bar (parallelism 1, no Ray).

    Args:
        progress: show a progress bar per round.
        desc: the bar's label (the search sets it to the round's description).
    """

    #: Trainings run at once.
    parallelism: int = 1
    #: Cap on trainings in flight (None: no cap).
    max_parallel: int | None = None
    #: Units write their own records (in this process).
    driver_records: bool = False

    def __init__(self, progress: bool = True, desc: str = "trainings") -> None:
        self.progress = progress
        self.desc = desc

    def __repr__(self) -> str:
        return f"LocalExecutor(progress={self.progress})"

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]``, in this process, with a progress bar."""
        from tqdm.auto import tqdm

        items = list(items)
        return [
            fn(x) for x in tqdm(items, desc=self.desc, disable=not self.progress or len(items) == 0)
        ]

    def close(self) -> None:
        """Nothing to release (for symmetry with :class:`RayExecutor`)."""


#: What to do when a worker process died mid-training (``BrokenProcessPool``): said by the CLI
#: and by a figure notebook that failed of it.
WORKER_DIED_HINT = (
    "a worker process died mid-training — most often the kernel's OOM killer when memory ran "
    "short (see dmesg); finished trainings are stored and the others resume from their "
    "checkpoints: rerun the same command, with fewer trainings at once if memory is short"
)

#: Seconds a worker whose driver died waits for its training to reach a step end and save its
#: checkpoint before it exits anyway. A step can end in an evaluation of the dev set: a few
#: minutes for MPNet-base on one core.
DRIVER_GONE_GRACE_S = 600.0


def _init_process_worker(threads: int, driver: int | None = None) -> None:
    """Start-up of a :class:`ProcessExecutor` worker: SIGINT ignored and the driver's stop signal
    handled (:func:`idtheory.stopping.install_worker_signals`: the driver passes a Ctrl-C on as a
    stop at the step end, :meth:`ProcessExecutor.interrupt`), ``threads`` CPU threads for torch,
    and (with the ``driver``'s pid) :func:`_exit_with_driver`."""
    install_worker_signals()
    if driver is not None:
        _exit_with_driver(driver)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _exit_with_driver(
    driver: int, every_s: float = 1.0, grace_s: float = DRIVER_GONE_GRACE_S
) -> None:
    """End this worker process soon after its driver's death (pid ``driver``, its parent): a
    sweep killed with SIGTERM or SIGKILL, or by the end of a login session, must not leave its
    trainings burning the CPU (the driver writes the records, so their results would be lost
    anyway). Checked every ``every_s`` seconds; a training in progress is first asked to stop at
    its step end, where it saves its checkpoint (the rerun resumes there), and given up to
    ``grace_s`` seconds for it."""
    import time

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(every_s)
        request_stop()
        deadline = time.monotonic() + grace_s
        while stoppable_running() and time.monotonic() < deadline:
            time.sleep(0.1)
        os._exit(1)

    threading.Thread(target=watch, name="idtheory-driver-watch", daemon=True).start()


@contextmanager
def stop_on_interrupt(executor: Any, then: Callable[[], object] | None = None) -> Iterator[None]:
    """Around a driver's wait for its executor's trainings: on ``KeyboardInterrupt`` (a Ctrl-C,
    or a SIGINT sent to the driver alone) call the executor's ``interrupt()`` where it has one,
    then ``then()`` (e.g. store the trainings that ended meanwhile), then re-raise. A
    :class:`ProcessExecutor`'s workers save and stop at their step end even when the signal
    reached only the driver, so ``then`` sees every future that will still complete; a second
    Ctrl-C while they stop (which kills them) still runs ``then``."""
    try:
        yield
    except KeyboardInterrupt:
        interrupt = getattr(executor, "interrupt", None)
        try:
            if interrupt is not None:
                interrupt()
        finally:
            if then is not None:
                then()
        raise


class ProcessExecutor:
    """Runs units in a pool of worker processes on this machine: several trainings at once
    without Ray (e.g. two single-threaded trainings on a 2-core CPU).

    Workers are started with ``spawn`` (safe with torch and numba threads) on the first use
    and kept until :meth:`close`; each sets ``threads`` torch threads and exits on its own when
    the driver process dies (killed, or its session ended). The workers only train;
    the driver writes every record to the store as soon as its training finishes
    (``driver_records``), so an interrupted round loses only the trainings in flight.

    A worker that dies mid-training (the kernel's OOM killer, a crash) breaks the whole pool:
    every training in flight fails with ``BrokenProcessPool``. Each is then submitted again to a
    fresh pool, up to ``max_retries`` times (resuming from its checkpoint, as Ray re-runs a
    task whose worker died); after that its future holds the error.

    Args:
        workers: trainings at once (default: the number of CPUs).
        threads: CPU threads per training.
        progress: progress bar of :meth:`map`.
        max_retries: submissions again of a training whose pool broke (default
            :data:`DEFAULT_MAX_RETRIES`).
    """

    #: Records are written by the driver, not by the workers.
    driver_records: bool = True
    #: Cap on trainings in flight (None: ``workers``).
    max_parallel: int | None = None

    def __init__(
        self,
        workers: int | None = None,
        threads: int = 1,
        progress: bool = True,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self.workers = int(workers) if workers is not None else (os.cpu_count() or 1)
        if self.workers < 1 or threads < 1:
            raise ValueError(f"workers and threads must be >= 1, got {workers}, {threads}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.threads = int(threads)
        self.progress = progress
        self.max_retries = int(max_retries)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # the pool is replaced from the pools' own threads
        self._stopping = False

    @property
    def parallelism(self) -> int:
        """Trainings run at once."""
        return self.workers

    def __repr__(self) -> str:
        return f"ProcessExecutor(workers={self.workers}, threads={self.threads})"

    def _get_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            ignore_stop_signal_before_spawning()
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_process_worker,
                initargs=(self.threads, os.getpid()),
            )
        return self._pool

    def submit(self, fn: Callable[[T], R], item: T) -> concurrent.futures.Future[R]:
        """Run ``fn(item)`` in a worker; ``fn`` and ``item`` must be picklable. The future
        returned outlives a broken pool (see the class notes on ``max_retries``)."""
        self._stopping = False
        outer: concurrent.futures.Future[R] = concurrent.futures.Future()
        self._submit_into(outer, fn, item, self.max_retries)
        return outer

    def _submit_into(
        self,
        outer: concurrent.futures.Future[R],
        fn: Callable[[T], R],
        item: T,
        retries: int,
        broken: Any = None,
    ) -> None:
        """Submit ``fn(item)`` to the current pool — a fresh one if that is ``broken`` — and
        settle ``outer`` with its outcome, or submit it again when its pool breaks and
        ``retries`` are left (never after :meth:`interrupt`)."""
        while True:
            with self._lock:
                if broken is not None and self._stopping:
                    outer.set_exception(BrokenProcessPool("a worker died while stopping"))
                    return
                if broken is not None and self._pool is broken:
                    self._pool = None  # the first of its trainings to learn that it broke
                pool = self._get_pool()
                try:
                    inner = pool.submit(_apply_unless_stopped, fn, item)
                    break
                except BrokenProcessPool as error:  # it broke before this got in
                    if retries <= 0:
                        outer.set_exception(error)
                        return
                    retries, broken = retries - 1, pool
                except RuntimeError as error:  # shut down meanwhile (an interrupt)
                    outer.set_exception(error)
                    return

        def settle(done: concurrent.futures.Future[R]) -> None:
            if done.cancelled():
                outer.cancel()
                outer.set_running_or_notify_cancel()  # wakes concurrent.futures.wait
            elif isinstance(done.exception(), BrokenProcessPool) and retries > 0:
                self._submit_into(outer, fn, item, retries - 1, broken=pool)
            elif (error := done.exception()) is not None:
                outer.set_exception(error)
            else:
                outer.set_result(done.result())

        inner.add_done_callback(settle)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]``, ``workers`` at a time, results in order."""
        from tqdm.auto import tqdm

        futures = [self.submit(fn, x) for x in items]
        done = tqdm(total=len(futures), desc="trainings", disable=not self.progress or not futures)
        with stop_on_interrupt(self):
            for _ in concurrent.futures.as_completed(futures):
                done.update()
        done.close()
        return [f.result() for f in futures]

    def interrupt(self) -> None:
        """Ask every worker's training to stop at the end of its current step, where it saves
        its checkpoint (:data:`~idtheory.stopping.STOP_SIGNAL`; a training already handed to a
        worker but not started does not start), cancel the rest, and wait for the workers to
        exit. A second Ctrl-C meanwhile kills them at once (SIGKILL: a training defers SIGTERM
        to its step end; each loses the work since its last checkpoint). Where the platform has
        no stop signal (Windows) this waits for the trainings in progress to end."""
        with self._lock:
            self._stopping = True  # a pool that breaks now is not replaced
            pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        if STOP_SIGNAL is not None:
            for process in processes:
                with suppress(ProcessLookupError):
                    os.kill(process.pid, STOP_SIGNAL)
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        except KeyboardInterrupt:
            for process in processes:
                process.kill()
            raise

    def close(self) -> None:
        """Stop the workers (a later call starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def release_free_memory() -> None:
    """Give the C heap's free memory back to the operating system (glibc's ``malloc_trim(0)``;
    nothing where the C library lacks it). A long-lived worker calls it after each unit:
    glibc keeps what a training freed — its dynamic mmap threshold serves tensors of up to
    32 MiB from the heap once a larger one was freed — so without it a worker holds its
    largest training's peak (an MPNet-base MRPC training: ~8.4 GB) through every later,
    smaller one, and other jobs beside the sweep run out of memory."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):  # not glibc (Windows: no CDLL(None))
        return
    trim(0)


def _apply(fn: Callable[[T], R], item: T) -> R:
    """The body of every Ray task: ``fn(item)`` (``fn`` arrives through the object store),
    then :func:`release_free_memory` (Ray, like the process pool, reuses its workers)."""
    try:
        return fn(item)
    finally:
        release_free_memory()


def _apply_unless_stopped(fn: Callable[[T], R], item: T) -> R:
    """The body of every :class:`ProcessExecutor` task: ``fn(item)``, unless a stop was requested
    in this worker (then ``KeyboardInterrupt`` before anything starts), then
    :func:`release_free_memory`."""
    if stop_requested():
        raise KeyboardInterrupt
    return _apply(fn, item)


class RayExecutor:
    """Runs each unit as a Ray task (one training per task) on a Ray cluster.

    Ray is imported and initialised lazily, on the first use (so constructing one, e.g. from
    command-line arguments, is cheap). If Ray is already initialised in this process the executor
    uses that connection and :meth:`close` leaves it open; otherwise it calls
    ``ray.init(address=address, **init_kwargs)`` and :meth:`close` shuts Ray down again.

    Args:
        address: the cluster to join: ``"auto"`` (the cluster this machine belongs to, e.g.
            after ``ray start``), ``"ray://host:10001"`` (Ray Client), ``"host:6379"``,
            ``"local"`` (always start a private local instance) or None (``$RAY_ADDRESS`` if set,
            else a new local instance).
        num_gpus: GPUs requested per training. None: 1 when the cluster has GPUs (when Ray is
            first used), else 0. A fraction (0.5) packs several trainings on one GPU. Give it
            explicitly on a cluster that autoscales from zero GPU nodes.
        num_cpus: CPUs requested per training (default 1).
        max_retries: how many times Ray re-runs a training whose worker process died (crash,
            out-of-memory kill, lost node). Exceptions raised by the trainer are not retried:
            trainers report expected failures as records with status ``"failed"``, which the
            store retries on the next sweep.
        max_parallel: cap on the trainings in flight at once (None: submit everything a round
            needs and let Ray queue it, which also lets an autoscaling cluster see the demand).
        runtime_env: Ray runtime environment of the tasks (e.g. ``{"env_vars": {...}}``).
        driver_records: True (default): the workers only train and return the record, and the
            driver appends it to the store as soon as the task finishes (the workers need no
            access to the store). False: each worker appends its record itself through the
            store's locked append; the store must then be on a file system that every node
            mounts (NFS, Lustre with ``flock``), at the same path.
        init_kwargs: further keyword arguments of ``ray.init`` (``num_cpus`` of a local instance,
            ``include_dashboard``, ``namespace``, …).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        num_gpus: float | None = None,
        num_cpus: float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_parallel: int | None = None,
        runtime_env: dict[str, Any] | None = None,
        driver_records: bool = True,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if max_parallel is not None and max_parallel < 1:
            raise ValueError(f"max_parallel must be >= 1 or None, got {max_parallel}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if num_gpus is not None and num_gpus < 0:
            raise ValueError(f"num_gpus must be >= 0, got {num_gpus}")
        if num_cpus is not None and num_cpus < 0:
            raise ValueError(f"num_cpus must be >= 0, got {num_cpus}")
        self.address = address
        self.num_gpus = num_gpus
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.max_parallel = max_parallel
        self.runtime_env = runtime_env
        self.driver_records = driver_records
        self.init_kwargs = dict(init_kwargs or {})
        self._ray: Any = None
        self._owns_ray = False
        self._remote: Any = None
        self._fn: Any = None
        self._fn_ref: Any = None

    def __repr__(self) -> str:
        return (
            f"RayExecutor(address={self.address!r}, num_gpus={self.num_gpus}, "
            f"num_cpus={self.num_cpus}, max_retries={self.max_retries}, "
            f"max_parallel={self.max_parallel})"
        )

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- connection

    def _connect(self) -> Any:
        """Import and initialise Ray once; returns the ``ray`` module."""
        if self._ray is not None:
            return self._ray
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - exercised only without ray
            raise ImportError(
                "executor='ray' needs Ray: pip install 'ray[default]' (see docs/cluster.md)"
            ) from exc
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, **self.init_kwargs}
            ray.init(address=self.address, **kwargs)
            self._owns_ray = True
        self._ray = ray
        return ray

    def close(self) -> None:
        """Shut Ray down if this executor started it (a shared connection is left open)."""
        if self._ray is not None and self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._ray = None
        self._owns_ray = False
        self._remote = None
        self._fn = self._fn_ref = None

    # ---------------------------------------------------------------- resources

    @property
    def resources(self) -> dict[str, float]:
        """The resource request of one training: ``{"num_cpus": …, "num_gpus": …}``."""
        ray = self._connect()
        num_gpus = self.num_gpus
        if num_gpus is None:
            num_gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        num_cpus = 1.0 if self.num_cpus is None else float(self.num_cpus)
        return {"num_cpus": num_cpus, "num_gpus": float(num_gpus)}

    @property
    def parallelism(self) -> int:
        """Trainings the cluster can run at once (now): its GPUs (or CPUs) / the request,
        capped by ``max_parallel``; at least 1."""
        ray = self._connect()
        total = ray.cluster_resources()
        req = self.resources
        slots = math.inf
        if req["num_gpus"] > 0:
            slots = min(slots, math.floor(total.get("GPU", 0) / req["num_gpus"] + 1e-9))
        if req["num_cpus"] > 0:
            slots = min(slots, math.floor(total.get("CPU", 0) / req["num_cpus"] + 1e-9))
        n = 1 if slots == math.inf else int(slots)
        if self.max_parallel is not None:
            n = min(n, self.max_parallel)
        return max(1, n)

    def _task(self) -> Any:
        if self._remote is None:
            ray = self._connect()
            opts: dict[str, Any] = {**self.resources, "max_retries": self.max_retries}
            if self.runtime_env is not None:
                opts["runtime_env"] = self.runtime_env
            self._remote = ray.remote(_apply).options(**opts)
        return self._remote

    def _submit_ref(self, fn: Callable[[T], R], item: T) -> Any:
        ray = self._connect()
        task = self._task()
        if fn is not self._fn:  # ship the (possibly large) unit once, not once per task
            self._fn, self._fn_ref = fn, ray.put(fn)
        return task.remote(self._fn_ref, item)

    # ---------------------------------------------------------------- running

    def submit(self, fn: Callable[[T], R], item: T) -> concurrent.futures.Future[R]:
        """Start ``fn(item)`` as a Ray task now; a future of its result.

        The future raises the task's exception (a ``RayTaskError`` that is also an instance of
        the original exception class) or ``WorkerCrashedError`` once ``max_retries`` are spent.
        The caller limits the number in flight (the search honours ``max_parallel``).
        """
        return self._submit_ref(fn, item).future()  # type: ignore[no-any-return]

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` as Ray tasks, at most ``max_parallel`` in flight."""
        ray = self._connect()
        items = list(items)
        if self.max_parallel is None:
            return list(ray.get([self._submit_ref(fn, x) for x in items]))
        refs: list[Any] = []
        in_flight: list[Any] = []
        for x in items:
            if len(in_flight) >= self.max_parallel:
                _, in_flight = ray.wait(in_flight, num_returns=1)
            ref = self._submit_ref(fn, x)
            refs.append(ref)
            in_flight.append(ref)
        return list(ray.get(refs))


def executor_parallelism(executor: Executor, max_parallel: int | None = None) -> int:
    """How many units ``executor`` runs at once: its ``parallelism`` attribute (1 when absent),
    capped by its ``max_parallel`` and by ``max_parallel``; at least 1."""
    n = int(getattr(executor, "parallelism", 1) or 1)
    for cap in (getattr(executor, "max_parallel", None), max_parallel):
        if cap is not None:
            n = min(n, int(cap))
    return max(1, n)


def get_executor(
    name_or_instance: str | Executor | None = "local",
    *,
    max_parallel: int | None = None,
    **kwargs: Any,
) -> Executor:
    """An executor from a name (``"local"``, ``"process"``, ``"ray"``; None means ``"local"``)
    and the keyword arguments of its class, or ``name_or_instance`` itself when it already is
    an executor.

    ``max_parallel`` caps the trainings at once under one name for every executor: the
    process pool's ``workers``, Ray's ``max_parallel``; the local executor runs one at a time,
    so it accepts only None or 1. None keeps each executor's default (one per CPU, Ray's
    resources).

    Examples: ``get_executor("ray", address="auto", max_parallel=16)``,
    ``get_executor("process", max_parallel=2)``, ``get_executor("local", progress=False)``.
    """
    if max_parallel is not None and int(max_parallel) < 1:
        raise ValueError(f"max_parallel must be >= 1 or None, got {max_parallel}")
    if name_or_instance is None:
        name_or_instance = "local"
    if not isinstance(name_or_instance, str):
        if not callable(getattr(name_or_instance, "map", None)):
            raise TypeError(
                f"an executor needs a map(fn, items) method, got {type(name_or_instance).__name__}"
            )
        given = sorted(kwargs) + (["max_parallel"] if max_parallel is not None else [])
        if given:
            raise TypeError(f"options {given} given with an executor instance")
        return name_or_instance
    name = name_or_instance.lower()
    if name == "local":
        if max_parallel not in (None, 1):
            raise ValueError(
                f"the local executor runs one training at a time, got max_parallel={max_parallel}"
                "; use the 'process' or 'ray' executor for more"
            )
        return LocalExecutor(**kwargs)
    if name == "process":
        if max_parallel is not None:
            kwargs["workers"] = int(max_parallel)
        return ProcessExecutor(**kwargs)
    if name == "ray":
        return RayExecutor(max_parallel=max_parallel, **kwargs)
    raise ValueError(f"unknown executor {name_or_instance!r}; known: {EXECUTOR_NAMES}")


# ======================================================================== command line


def add_executor_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add ``--executor``, ``--address``, ``--max-parallel``, ``--num-gpus``, ``--num-cpus``
    and ``--max-retries`` (in an "execution" group) to ``parser``; see
    :func:`executor_from_args`."""
    group = parser.add_argument_group("execution")
    group.add_argument(
        "--executor",
        choices=EXECUTOR_NAMES,
        default="local",
        help="where trainings run: 'local' (in-process, sequential; default), 'process' "
        "(--max-parallel worker processes on this machine, default one per CPU) or 'ray'",
    )
    group.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join: 'auto' (this node's cluster, after `ray start`), "
        "'ray://HOST:10001', 'HOST:6379' or 'local' (a private instance); default: "
        "$RAY_ADDRESS, else a new local instance. Only with --executor ray",
    )
    group.add_argument(
        "--max-parallel",
        type=int,
        default=None,
        metavar="N",
        help="at most N trainings in flight (default: as many as the cluster runs); also "
        "bounds the candidate d evaluated per search round",
    )
    group.add_argument(
        "--num-gpus",
        type=float,
        default=None,
        metavar="G",
        help="GPUs per training with --executor ray (default: 1 on a GPU cluster, else 0)",
    )
    group.add_argument(
        "--num-cpus",
        type=float,
        default=None,
        metavar="C",
        help="CPUs per training with --executor ray (default: 1)",
    )
    group.add_argument(
        "--max-retries",
        type=int,
        default=None,
        metavar="N",
        help=f"re-runs of a training whose worker died, e.g. killed for memory (default: "
        f"{DEFAULT_MAX_RETRIES}). With --executor ray or process",
    )
    return group


def executor_from_args(args: argparse.Namespace, *, progress: bool = True) -> Executor:
    """The executor described by the arguments of :func:`add_executor_arguments`.

    ``progress`` is the local executor's progress bar. Ray options given with ``--executor
    local`` or ``process`` are an error (rather than silently ignored), and so is
    ``--max-retries`` with ``local``; left out it means :data:`DEFAULT_MAX_RETRIES`.
    """
    name = getattr(args, "executor", "local") or "local"
    max_retries = getattr(args, "max_retries", None)
    max_parallel = getattr(args, "max_parallel", None)
    if max_parallel is not None and max_parallel < 1:
        raise ValueError(f"--max-parallel must be >= 1, got {max_parallel}")
    retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
    if name in ("local", "process"):
        ray_only = {
            "--address": getattr(args, "address", None),
            "--num-gpus": getattr(args, "num_gpus", None),
            "--num-cpus": getattr(args, "num_cpus", None),
        }
        given = [flag for flag, value in ray_only.items() if value is not None]
        if given:
            flags = ", ".join(given)
            raise ValueError(f"{flags}: for --executor ray only (add it, or drop {flags})")
        if name == "local" and max_retries is not None:
            raise ValueError(
                "--max-retries: for --executor ray or process (the local executor trains in "
                "this process; add --executor process, or drop --max-retries)"
            )
        extra = {"max_retries": retries} if name == "process" else {}
        return get_executor(name, max_parallel=max_parallel, progress=progress, **extra)
    return get_executor(
        "ray",
        max_parallel=max_parallel,
        address=getattr(args, "address", None),
        num_gpus=getattr(args, "num_gpus", None),
        num_cpus=getattr(args, "num_cpus", None),
        max_retries=retries,
    )


__all__ = [
    "DEFAULT_MAX_RETRIES",
    "EXECUTOR_NAMES",
    "Executor",
    "FutureExecutor",
    "LocalExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "add_executor_arguments",
    "executor_from_args",
    "executor_parallelism",
    "get_executor",
    "release_free_memory",
]
