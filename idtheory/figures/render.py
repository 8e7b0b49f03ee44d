"""Batch rendering of the figure notebooks with papermill (:func:`render_all`,
``idtheory figures``): the notebooks, the figures each must write, the report of failures and
of what the store lacks."""

from __future__ import annotations

import functools
import json
import os
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idtheory.executors import DRIVER_GONE_GRACE_S, WORKER_DIED_HINT
from idtheory.figures.context import (
    MISSING_HEADER,
    MISSING_ITEM,
    project_root,
    resolve_path,
)
from idtheory.scales import get_scale

# =============================================================================== rendering

KERNEL_STOP_GRACE_S = 2 * DRIVER_GONE_GRACE_S
"""Seconds an interrupted render waits for the notebook's kernel to stop before killing it
(half of it before SIGTERM, as jupyter_client splits its ``shutdown_wait_time``): long enough
for the trainings in flight to reach their step end and save, as a pool worker whose driver
died gets :data:`~idtheory.executors.DRIVER_GONE_GRACE_S`. jupyter_client's default, 5 s,
killed a sweep's workers (its whole process group) mid-step."""

IDLE_KERNEL_STOP_S = 5.0
"""Seconds a kernel whose cell has ended gets to exit after its shutdown request (SIGTERM to its
process group at half, SIGKILL at the end: jupyter_client's default ``shutdown_wait_time``).
Nothing of ours runs there any more — a training in the kernel saved before its cell ended, a
pool's workers were waited for by it — so only a stuck kernel is waited for: ipykernel 7.4
sometimes never exits, its control thread blocked publishing the shutdown's "idle" status to the
IOPub thread that its main thread has just closed and now joins (the race of ipykernel#1518);
with :data:`KERNEL_STOP_GRACE_S` such a render hung for 600 s."""

STOPPING_MESSAGE = (
    "stopping: the notebook's trainings in flight save a checkpoint at their step end, then its "
    "kernel exits (Ctrl-C again to stop waiting: worker processes still save in the background, "
    "a training in the kernel itself is lost)"
)


@functools.cache
def _kernel_manager_class() -> type:
    """jupyter_client's kernel manager, patient and quiet:

    * ``shutdown_wait_time`` = :data:`KERNEL_STOP_GRACE_S` (a kernel that is idle or already
      stopped exits at once: the wait only bounds a busy one);
    * on shutdown, after its interrupt, it first waits (up to half that time, while the kernel
      lives) for the interrupted cell to end, then asks the kernel to shut down — asked at once,
      as jupyter_client does, the kernel closed its sockets under the running cell, whose reply
      then printed a ZMQ traceback; once the cell has ended (as after every notebook that ran
      to its end), the kernel gets only :data:`IDLE_KERNEL_STOP_S` to exit;
    * kernels talk over Unix-domain sockets on POSIX (``transport = "ipc"``): over TCP without
      CurveZMQ keys, ipykernel warned about unencrypted traffic at every notebook's start. Each
      kernel's sockets get a path of their own in the temporary directory
      (:func:`_private_socket_path`): jupyter_client's default, ``kernel-ipc-<n>`` in the working
      directory (the project root) with n counted from 1, made two renders in one clone at once
      (a sweep's and a look at its figures) bind the same sockets, and the second one hung.
    """
    from jupyter_client import AsyncKernelManager
    from traitlets import Float, Unicode, default

    class PatientKernelManager(AsyncKernelManager):
        shutdown_wait_time = Float(KERNEL_STOP_GRACE_S, config=True)
        if os.name == "posix":
            transport = Unicode("ipc", config=True)

            @default("ip")
            def _private_ip(self) -> str:
                return _private_socket_path()

        _cell_ended = False  # set by the shutdown request: the kernel answered after its cell

        async def _async_request_shutdown(self, restart: bool = False) -> None:
            self._cell_ended = await _until_cell_ends(self, KERNEL_STOP_GRACE_S / 2)
            await super()._async_request_shutdown(restart=restart)

        async def _async_finish_shutdown(
            self, waittime: float | None = None, pollinterval: float = 0.1, restart: bool = False
        ) -> None:
            if waittime is None and self._cell_ended:
                waittime = IDLE_KERNEL_STOP_S
            await super()._async_finish_shutdown(waittime, pollinterval, restart)

    return PatientKernelManager


def _private_socket_path() -> str:
    """A prefix no other kernel uses for its Unix-domain sockets (``<prefix>-<n>``, removed
    with the kernel): the temporary directory, this process and a random part."""
    import tempfile
    import uuid

    return os.path.join(
        tempfile.gettempdir(), f"idtheory-kernel-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    )


async def _until_cell_ends(km: Any, timeout_s: float, poll_s: float = 0.5) -> bool:
    """Wait until the kernel of ``km`` has answered a ``kernel_info_request`` on its shell
    channel — which it handles only after the cell it is running — or has died, or
    ``timeout_s`` has passed; True only in the first case (its cell has ended, it lives)."""
    client = km.client()
    client.start_channels(iopub=False, stdin=False, hb=False, control=False)
    try:
        msg_id = client.kernel_info()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and await km.is_alive():
            try:
                reply = await client.get_shell_msg(timeout=poll_s)
            except queue.Empty:
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False
    finally:
        client.stop_channels()


@contextmanager
def _say_when_stopping() -> Iterator[None]:
    """While a notebook executes: a first Ctrl-C prints :data:`STOPPING_MESSAGE` and interrupts
    as usual (the kernel is then interrupted and given :data:`KERNEL_STOP_GRACE_S` to exit); a
    second one interrupts that wait. Only Python's default SIGINT handler is taken over: off the
    main thread, with SIGINT ignored (a background job) or handled by the program, nothing
    changes."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def first_interrupt(signum: int, frame: Any) -> None:
        print(STOPPING_MESSAGE, file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass(frozen=True)
class Notebook:
    """One figure notebook: its number, file name (in ``notebooks/``) and subject."""

    number: int
    filename: str
    title: str


NOTEBOOKS: list[Notebook] = [
    Notebook(1, "01_subspace_accuracy.ipynb", "accuracy against d (Figure 1) and Table 1"),
    Notebook(2, "02_pretraining_trend.ipynb", "d90 during pre-training (Figure 2)"),
    Notebook(3, "03_model_size_trend.ipynb", "d90 against model size (Figure 3)"),
    Notebook(4, "04_generalization.ipynb", "generalization and bounds (Figures 4-5)"),
    Notebook(5, "05_fastfood_tour.ipynb", "what the Fastfood projection looks like"),
]
"""The notebooks rendered by :func:`render_all`, in order (later ones reuse the store)."""


def figure_names(number: int, params: Mapping[str, Any]) -> list[str]:
    """Stable names (no extension) of the figures notebook ``number`` writes for ``params``;
    each is written as ``.png``, ``.pdf`` and ``.csv`` (its table)."""
    from idtheory.tasks import get_task

    if number == 1:
        return [f"fig1_accuracy_vs_d_{get_task(t).name}" for t in params["tasks"]] + [
            "table1_comparison"
        ]
    return {
        2: ["fig2_pretraining_trend"],
        3: ["fig3_size_trend"],
        4: [
            *("fig4_accuracy_vs_d90", "fig5_gap_vs_d90", "bounds_vs_d90", "bounds_vs_dev_error"),
            *("certificate_vs_d", "certificate_vs_dev_error"),
        ],
        5: ["fastfood_matrix", "fastfood_column_norms", "fastfood_cost", "said_vs_did_params"],
    }[number]


def store_gaps(executed: str | os.PathLike[str]) -> list[str]:
    """What an executed notebook reported missing from the results store
    (:meth:`FigureContext.report_missing`), read back from its outputs; [] if nothing."""
    cells = json.loads(Path(executed).read_text(encoding="utf-8")).get("cells", [])
    texts = (out.get("text", "") for cell in cells for out in cell.get("outputs", []))
    gaps: list[str] = []
    in_list = False
    for line in "".join("".join(t) if isinstance(t, list) else t for t in texts).splitlines():
        if line.startswith(MISSING_HEADER):
            in_list = True
        elif in_list and line.startswith(MISSING_ITEM):
            gaps.append(line[len(MISSING_ITEM) :])
        else:
            in_list = False
    return gaps


def _missing_outputs(out: Path, names: Sequence[str]) -> list[str]:
    return [
        f"{n}{ext}"
        for n in names
        for ext in (".png", ".pdf", ".csv")
        if not (out / f"{n}{ext}").is_file()
    ]


def _first_line(text: str, width: int = 100) -> str:
    line = next((s for s in str(text).splitlines() if s.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failing_line(traceback: Sequence[str] | None, source: str) -> str:
    """The cell line the IPython traceback points at (``---->``), else the cell's last line."""
    marked = ""
    for frame in traceback or []:
        for line in _ANSI.sub("", str(frame)).splitlines():
            if line.lstrip().startswith("---->") or line.lstrip().startswith("->"):
                marked = line.strip()
                break
        if marked:  # the first frame is the cell itself
            break
    if marked:
        return _first_line(marked, 160)
    lines = [x for x in str(source).splitlines() if x.strip()]
    return _first_line(lines[-1], 160) if lines else ""


def render_all(
    scale: str = "quick",
    only: Sequence[int] | None = None,
    results_dir: str | os.PathLike[str] | None = None,
    figures_dir: str | os.PathLike[str] = "figures",
    build_dir: str | os.PathLike[str] = "build/notebooks",
    *,
    notebooks_dir: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: bool = True,
    keep_going: bool = True,
    kernel_name: str | None = None,
) -> int:
    """Execute the figure notebooks with papermill; returns 0 if all succeeded, else 1.

    Each notebook in :data:`NOTEBOOKS` (those numbered in ``only``, default all) is executed
    from ``notebooks_dir`` (default ``<project>/notebooks``) into
    ``build_dir/<scale>/<name>.ipynb`` (the executed copy, with outputs) in the project root,
    with the parameters ``scale``, ``results_dir`` (default: the scale's), ``figures_dir`` and
    ``overrides`` (scale keys): those the notebook declares as parameters are injected by name,
    the others through its ``overrides`` dict parameter. Afterwards every file of
    :func:`figure_names` must exist under ``figures_dir/<scale>/``. With ``progress`` a
    papermill bar counts the cells, or, when the scale computes (``compute``), the notebooks'
    own output — the training sweeps' progress bars — is streamed here. A failing notebook is
    reported with its cell and error (the executed copy holds the traceback); with
    ``keep_going`` the others still run.
    Relative directories are relative to the current working directory.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    params = get_scale(scale, **dict(overrides or {}))
    root = project_root()
    cwd = Path.cwd()
    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else root / "notebooks"
    figs = (cwd / figures_dir).resolve()
    build = (cwd / build_dir).resolve() / scale
    res = (
        (cwd / results_dir).resolve()
        if results_dir is not None
        else resolve_path(params["results_dir"], None, root)
    )
    # A computing render trains for hours: stream the notebooks' output (the sweeps' progress
    # bars, what is trained) to this terminal instead of a per-cell bar that stands still.
    stream = progress and bool(params.get("compute"))
    numbers = [nb.number for nb in NOTEBOOKS]
    if only:
        bad = sorted(set(only) - set(numbers))
        if bad:
            raise ValueError(f"unknown notebook number(s) {bad}; choose from {numbers}")
    wanted = only or params.get("notebooks")
    selected = [nb for nb in NOTEBOOKS if not wanted or nb.number in wanted]
    build.mkdir(parents=True, exist_ok=True)
    values = {
        "scale": scale,
        "results_dir": str(res),
        "figures_dir": str(figs),
        **dict(overrides or {}),
    }
    print(
        f"idtheory figures: scale {scale!r}, {len(selected)} notebook(s) → "
        f"{os.path.relpath(figs / scale, cwd)}/ (executed copies in "
        f"{os.path.relpath(build, cwd)}/, results {os.path.relpath(res, cwd)})",
        flush=True,
    )
    failures: list[str] = []
    summary: list[tuple[str, str, float]] = []
    t_all = time.perf_counter()
    for i, nb in enumerate(selected, 1):
        src, dst = nb_dir / nb.filename, build / nb.filename
        declared = set(pm.inspect_notebook(str(src)))
        inject = {k: v for k, v in values.items() if k in declared}
        rest = {k: v for k, v in (overrides or {}).items() if k not in declared}
        if rest and "overrides" in declared:
            inject["overrides"] = rest
        print(f"[{i}/{len(selected)}] {nb.filename}: {nb.title} …", flush=True)
        t0 = time.perf_counter()
        status = "ok"
        try:
            with _say_when_stopping():
                pm.execute_notebook(
                    str(src),
                    str(dst),
                    parameters=inject,
                    cwd=str(root),
                    progress_bar=progress and not stream,
                    kernel_name=kernel_name,
                    log_output=False,  # True would also log every output line: twice on screen
                    stdout_file=sys.stdout if stream else None,
                    stderr_file=sys.stderr if stream else None,
                    kernel_manager_class=_kernel_manager_class(),
                )
        except PapermillExecutionError as err:
            status = "failed"
            where = f"cell {err.cell_index} of the executed copy" + (
                f" (In [{err.exec_count}])" if err.exec_count else ""
            )
            failures.append(
                f"notebook {nb.filename} failed in {where}: {err.ename}: "
                f"{_first_line(err.evalue, 300)}\n"
                f"    cell starts: {_first_line(err.source)}\n"
                f"    failing line: {_failing_line(err.traceback, err.source)}\n"
                f"    executed copy with the full traceback: {os.path.relpath(dst, cwd)}"
                + (f"\n    {WORKER_DIED_HINT}" if err.ename == "BrokenProcessPool" else "")
            )
        except Exception as err:  # kernel death, missing file: report, go on
            status = "failed"
            failures.append(
                f"notebook {nb.filename} could not be executed: "
                f"{type(err).__name__}: {_first_line(str(err), 300)}"
            )
        if status == "ok":
            lacking = _missing_outputs(figs / scale, figure_names(nb.number, params))
            if lacking:
                status = "incomplete"
                failures.append(
                    f"notebook {nb.filename} ran but did not write "
                    f"{', '.join(lacking)} in {os.path.relpath(figs / scale, cwd)}"
                )
        dt = time.perf_counter() - t0
        print(f"    {status} in {dt:.1f} s", flush=True)
        gaps = store_gaps(dst) if status in ("ok", "incomplete") else []
        summary.append((nb.filename, status + (f" ({len(gaps)} missing)" if gaps else ""), dt))
        if gaps:
            print(
                f"    partial: {len(gaps)} result(s) missing from the store, e.g. {gaps[0]} (all "
                f"listed in {os.path.relpath(dst, cwd)}); --compute trains them",
                flush=True,
            )
        if status != "ok" and not keep_going:
            break
    print(
        f"done in {time.perf_counter() - t_all:.1f} s: "
        + ", ".join(f"{n} {s}" for n, s, _ in summary),
        flush=True,
    )
    for f in failures:
        print(f"error: {f}", file=sys.stderr, flush=True)
    return 1 if failures else 0
