"""The results store: one training = one record = one config hash (no torch import).

Layout of a store rooted at ``root`` (default ``data/results/``)::

    root/runs.jsonl     one training record per line (JSON Lines, human-readable, append-only)
    root/d90.jsonl      one d90 summary per line (written by :func:`idtheory.search.measure_d90`)
    root/bounds.jsonl   one certificate or bound record per line (:mod:`idtheory.certify`)
    root/params/<id>/   θ_d and λ of a subspace run (``SubspaceModel.save_pretrained``)
    root/partial/       checkpoints and progress of trainings in progress (git-ignored)

The three files are logs: lines are only ever appended, under an exclusive ``fcntl.flock``, so
several processes (local workers, Ray workers on one host or on a shared POSIX file system) can
write at once without losing or interleaving lines. Readers take a shared lock and read the file
incrementally (only the bytes appended since the last read), so a store object always sees what
other processes have written.

Conventions (choices, documented here once):

* **Identity.** A record's key is ``run_id == RunSpec.config_hash()``. :meth:`ResultsStore.run`
  checks that the trainer's record carries the hash of the spec it was given.
* **Idempotence / latest wins.** A record with status ``"ok"`` is final: putting the same
  ``run_id`` again writes nothing and returns the stored record. A stored record with any other
  status (``"diverged"``, ``"failed"``) is *superseded* by a later :meth:`~ResultsStore.put` of the
  same ``run_id``: the new line is appended and, when reading, the **last line of a run_id wins**
  (earlier attempts stay in the file as history). Re-putting a record equal to the stored one
  writes nothing.
* **Retries.** :meth:`ResultsStore.run` re-trains a stored run only when its status is in
  ``retry`` (default ``("failed",)``: a crash or an out-of-memory error may be transient, whereas
  ``"diverged"`` is an outcome of the hyper-parameters and is reused like ``"ok"``).
* **Robustness.** A line that is not valid JSON (typically the truncated last line of an
  interrupted write) is skipped with a :class:`RuntimeWarning`; the next append first terminates
  such a line with a newline, so it never corrupts the record written after it.
* Floats that are not finite (a diverged ``train_loss``) are written as ``NaN``/``Infinity``, which
  Python's :mod:`json` reads back.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import os
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from idtheory.config import RunSpec, canonical_json

#: Default location of the results store, relative to the working directory.
DEFAULT_ROOT = Path("data/results")
#: Record statuses of the trainer contract.
STATUSES: tuple[str, ...] = ("ok", "diverged", "failed")
#: Summary keys that change between two otherwise identical d90 measurements (ignored when
#: deciding whether a summary is already stored).
VOLATILE_SUMMARY_KEYS: tuple[str, ...] = ("created", "n_trained", "n_reused")
#: Summary keys derived from the others (``threshold_kind`` from ``settings["floor"]``): also
#: ignored, so a summary stored before such a key existed is not written again.
DERIVED_SUMMARY_KEYS: tuple[str, ...] = ("threshold_kind",)

TrainFn = Callable[[RunSpec], dict[str, Any]]


class _JsonlLog:
    """An append-only JSON Lines file read incrementally, with flock-protected appends.

    ``key`` extracts the identity of a line's object; the in-memory index keeps the last object
    per key (insertion order = order of first appearance).
    """

    def __init__(self, path: Path, key: Callable[[dict[str, Any]], str]) -> None:
        self.path = path
        self._key = key
        self._index: dict[str, dict[str, Any]] = {}
        self._offset = 0
        self._inode: int | None = None
        self._warned: set[int] = set()

    def refresh(self) -> None:
        """Read whatever was appended since the last read (under a shared lock)."""
        if not self.path.exists():
            self._reset()
            return
        with open(self.path, "rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            try:
                self._read_new(fh)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def values(self) -> list[dict[str, Any]]:
        self.refresh()
        return list(self._index.values())

    def get(self, key: str) -> dict[str, Any] | None:
        self.refresh()
        return self._index.get(key)

    def append(
        self, obj: dict[str, Any], should_write: Callable[[dict[str, Any] | None], bool]
    ) -> dict[str, Any]:
        """Append ``obj`` unless ``should_write(current object of its key)`` is False.

        The decision is taken under the exclusive lock, after reading what other processes
        appended, so two processes putting the same key cannot both write it. Returns the object
        stored for the key afterwards.
        """
        line = json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n"
        key = self._key(obj)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self._read_new(fh)
                if not should_write(self._index.get(key)):
                    return self._index[key]
                fh.seek(0, os.SEEK_END)
                end = fh.tell()
                if end > 0:
                    fh.seek(end - 1)
                    if fh.read(1) != b"\n":  # terminate a truncated line left by a crash
                        fh.write(b"\n")
                fh.write(line.encode())
                fh.flush()
                os.fsync(fh.fileno())
                self._read_new(fh)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return self._index[key]

    # -- internals --

    def _reset(self) -> None:
        self._index = {}
        self._offset = 0
        self._inode = None

    def _read_new(self, fh: Any) -> None:
        st = os.fstat(fh.fileno())
        if st.st_ino != self._inode or st.st_size < self._offset:  # new or rewritten file
            self._reset()
            self._inode = st.st_ino
        if st.st_size == self._offset:
            return
        fh.seek(self._offset)
        data = fh.read(st.st_size - self._offset)
        pos = self._offset
        for raw in data.splitlines(keepends=True):
            complete = raw.endswith(b"\n")
            obj = self._parse(raw, pos)
            if obj is None and not complete:
                # A truncated last line: leave it unread; it is re-read (and reported once) when
                # a later append terminates it.
                break
            if obj is not None:
                self._index[self._key(obj)] = obj
            pos += len(raw)
        self._offset = pos

    def _parse(self, raw: bytes, pos: int) -> dict[str, Any] | None:
        text = raw.strip()
        if not text:
            return None
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            self._key(obj)
        except (ValueError, KeyError, TypeError) as exc:
            if pos not in self._warned:
                self._warned.add(pos)
                warnings.warn(
                    f"{self.path}: skipping unreadable line at byte {pos} "
                    f"(an interrupted write?): {exc}",
                    RuntimeWarning,
                    stacklevel=4,
                )
            return None
        return obj


PARTIAL_MERGE_MAX_MB = 10.0
"""Largest checkpoint of a training in flight (MiB) that :meth:`ResultsStore.merge` copies by
default: every subspace training's (tens of kilobytes: θ_d, λ and their optimizer state), no full
fine-tuning's (an MPNet-base one is 1.3 GB)."""


def _further_along(ckpt: Path, than: Path) -> bool:
    """Whether checkpoint ``ckpt`` is later than ``than``: by the steps their progress files
    record when both have one, else by modification time."""
    steps = []
    for path in (ckpt, than):
        try:
            steps.append(int(json.loads(path.with_suffix(".json").read_text())["step"]))
        except (OSError, ValueError, KeyError, TypeError):
            steps.append(None)
    if None not in steps:
        return steps[0] > steps[1]
    return ckpt.stat().st_mtime > than.stat().st_mtime


class ResultsStore:
    """Training records and d90 summaries on disk; the single source of truth for results.

    Args:
        root: directory of the store (created on the first write).
    """

    RUNS_FILE = "runs.jsonl"
    SUMMARIES_FILE = "d90.jsonl"
    BOUNDS_FILE = "bounds.jsonl"
    PARAMS_DIR = "params"
    PARTIAL_DIR = "partial"

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        # Module-level key functions keep the store picklable (it may be shipped to workers).
        self._runs = _JsonlLog(self.root / self.RUNS_FILE, key=_run_key)
        self._summaries = _JsonlLog(self.root / self.SUMMARIES_FILE, key=_summary_key)
        self._bounds = _JsonlLog(self.root / self.BOUNDS_FILE, key=_bound_key)

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.root)!r})"

    @property
    def params_dir(self) -> Path:
        """Where subspace runs keep θ_d: ``<run_id>/`` each, as
        :meth:`~idtheory.subspace.SubspaceModel.save_pretrained` writes it."""
        return self.root / self.PARAMS_DIR

    @property
    def partial_dir(self) -> Path:
        """Where trainings in progress keep their checkpoint ``<run_id>.pt`` and its progress
        ``<run_id>.json`` (:func:`idtheory.train.finetune`); both go when the training ends."""
        return self.root / self.PARTIAL_DIR

    def running(self, **filters: Any) -> list[dict[str, Any]]:
        """The trainings with a checkpoint in :attr:`partial_dir` that match ``filters`` (as
        :meth:`records`): the progress each saved last (run_id, spec, step, total_steps, epoch,
        spent_s, best, saved), oldest save first. A checkpoint from before progress files gives
        its run_id and the file's time only (and matches no filter). A training killed and not
        resumed stays listed: its ``saved`` tells since when."""
        if not self.partial_dir.is_dir():
            return []
        rows = []
        for ckpt in self.partial_dir.glob("*.pt"):
            try:
                row = json.loads(ckpt.with_suffix(".json").read_text())
            except (OSError, ValueError):  # no progress file (older code), or being replaced
                try:
                    mtime = datetime.fromtimestamp(ckpt.stat().st_mtime, timezone.utc)
                except FileNotFoundError:  # the training ended meanwhile
                    continue
                row = {"run_id": ckpt.stem, "saved": mtime.isoformat(timespec="seconds")}
            if not filters or ("spec" in row and _matches(row, filters, record_field)):
                rows.append(row)
        return sorted(rows, key=lambda r: str(r.get("saved")))

    # ---------------------------------------------------------------- records

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The stored record of ``run_id`` (the latest line of that id), or None."""
        return self._runs.get(run_id)

    def cost(self, run_ids: Iterable[str]) -> tuple[int, float]:
        """``(trainings, CPU hours)`` behind ``run_ids``: the distinct ids the store holds and
        the sum of their ``wall_time_s`` in hours (a run without a wall time counts 0)."""
        recs = [r for i in dict.fromkeys(run_ids) if (r := self.get(i)) is not None]
        return len(recs), sum(float(r.get("wall_time_s") or 0.0) for r in recs) / 3600

    def __contains__(self, run_id: object) -> bool:
        if isinstance(run_id, RunSpec):
            run_id = run_id.config_hash()
        return isinstance(run_id, str) and self.get(run_id) is not None

    def __len__(self) -> int:
        return len(self._runs.values())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._runs.values())

    def put(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store a training record; returns the record now stored under its ``run_id``.

        Nothing is written when the stored record has status ``"ok"`` (final) or equals
        ``record``, nor a ``"failed"`` record over a final one (``"diverged"``); otherwise the
        record is appended and supersedes earlier lines of its id.
        Once the run's stored record is final (a status :meth:`run` does not retrain), its
        checkpoint in :attr:`partial_dir` goes: a trainer that keeps it until then
        (``keep_checkpoint``) loses nothing when killed before the record is stored.
        """
        _check_record(record)
        new = canonical_json(record)

        def should_write(old: dict[str, Any] | None) -> bool:
            if old is None:
                return True
            if old.get("status") == "ok" or canonical_json(old) == new:
                return False
            # a failed attempt (say, out of memory elsewhere) never outranks a final record
            return not (record.get("status") == "failed" and old.get("status") != "failed")

        stored = self._runs.append(record, should_write)
        if _is_final_record(stored):
            self._remove_partial(stored["run_id"])
        return stored

    def needs_training(self, spec: RunSpec, retry: Iterable[str] = ("failed",)) -> bool:
        """True when :meth:`run` would call the trainer for ``spec``."""
        return not self._is_final(spec.config_hash(), retry)

    def run(
        self, spec: RunSpec, train_fn: TrainFn, *, retry: Iterable[str] = ("failed",)
    ) -> dict[str, Any]:
        """The record of ``spec``: the stored one if present, else train, store and return it.

        This is what makes interrupted sweeps resume and re-rendering figures free. A stored run
        whose status is in ``retry`` is trained again and the new record supersedes it. Exceptions
        of ``train_fn`` propagate (nothing is stored); trainers report expected failures as
        records with status ``"failed"``.
        """
        if not self.needs_training(spec, retry):
            stored = self.get(spec.config_hash())
            assert stored is not None
            return stored
        return self.put_result(spec, train_fn(spec))

    def put_result(self, spec: RunSpec, record: dict[str, Any]) -> dict[str, Any]:
        """Store the record a trainer returned for ``spec``; returns the record now stored.

        Fills ``run_id`` and ``spec`` when the trainer left them out and checks that the
        ``run_id`` is the spec's hash. This is how a driver records a training that ran
        elsewhere (a Ray worker); :meth:`run` uses it too.
        """
        run_id = spec.config_hash()
        record = dict(record)
        record.setdefault("run_id", run_id)
        record.setdefault("spec", spec.to_dict())
        if record["run_id"] != run_id:
            raise ValueError(
                f"train_fn returned run_id {record['run_id']!r} for a spec whose hash is {run_id!r}"
            )
        return self.put(record)

    def records(self, **filters: Any) -> list[dict[str, Any]]:
        """Stored records (latest per run_id, in order of first appearance) matching ``filters``.

        Filter keys: ``model``, ``task``, ``method`` (``"full"``, ``"said"``, ``"did"``), ``dim``
        (None for full fine-tuning), ``lr``, ``seed``, ``metric``, ``status``, any dotted spec path
        (``"train.batch_size"``, ``"subspace.projection"``) or any other top-level record key.
        A value matches by equality; a list/tuple/set value matches any of its members; a
        callable value is a predicate.
        """
        return [r for r in self._runs.values() if _matches(r, filters, record_field)]

    def to_rows(self, metric: str = "accuracy", **filters: Any) -> list[dict[str, Any]]:
        """Flat dicts, one per record matching ``filters``, for a table (e.g. a DataFrame).

        Columns: run_id, model, task, method, dim, lr, seed, ``dev_<metric>``,
        ``train_<metric>`` (None when absent), best_step, num_trainable, status, wall_time_s,
        ``training``: the precision and the training settings that differ from
        :class:`~idtheory.config.TrainConfig`'s defaults (e.g. ``n_train=3668 grouped fp32``), and
        ``variant``: the subspace options that differ from the defaults (e.g.
        ``layout=per_tensor``), "" for default subspace runs and full fine-tuning.
        """
        from idtheory.config import SubspaceConfig, TrainConfig

        defaults = SubspaceConfig(dim=1).to_dict()
        train_defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
        rows = []
        for r in self.records(**filters):
            metrics = r.get("metrics") or {}
            rows.append(
                {
                    "run_id": r["run_id"],
                    "model": record_field(r, "model"),
                    "task": record_field(r, "task"),
                    "method": record_field(r, "method"),
                    "dim": record_field(r, "dim"),
                    "lr": record_field(r, "lr"),
                    "seed": record_field(r, "seed"),
                    f"dev_{metric}": (metrics.get("dev") or {}).get(metric),
                    f"train_{metric}": (metrics.get("train") or {}).get(metric),
                    "best_step": r.get("best_step"),
                    "num_trainable": r.get("num_trainable"),
                    "status": r.get("status"),
                    "wall_time_s": r.get("wall_time_s"),
                    "training": _training((r.get("spec") or {}).get("train"), train_defaults),
                    "variant": _variant((r.get("spec") or {}).get("subspace"), defaults),
                }
            )
        return rows

    def compare(
        self, other: ResultsStore, metric: str = "accuracy", **filters: Any
    ) -> list[dict[str, Any]]:
        """The runs stored in both ``self`` and ``other`` (same run_id: same configuration),
        side by side — a reproducibility check of a recompute against a reference store.

        One row per shared run matching ``filters`` (see :meth:`records`), in this store's
        order: run_id, model, task, method, dim, lr, seed, ``dev_<metric>`` here (``a``) and in
        ``other`` (``b``), their difference ``delta`` (b − a; None when either is missing) and
        both wall times in seconds. :func:`compare_summary` condenses the rows.
        """
        rows = []
        key = f"dev_{metric}"
        theirs = {r["run_id"]: r for r in other.to_rows(metric=metric, **filters)}
        for a in self.to_rows(metric=metric, **filters):
            b = theirs.get(a["run_id"])
            if b is None:
                continue
            va, vb = a[key], b[key]
            rows.append(
                {
                    **{k: a[k] for k in ("run_id", "model", "task", "method", "dim", "lr", "seed")},
                    f"{key}_a": va,
                    f"{key}_b": vb,
                    "delta": vb - va if is_finite_number(va) and is_finite_number(vb) else None,
                    "wall_time_s_a": a["wall_time_s"],
                    "wall_time_s_b": b["wall_time_s"],
                }
            )
        return rows

    # ---------------------------------------------------------------- d90 summaries

    def put_summary(self, summary: Any) -> dict[str, Any]:
        """Store a d90 summary (a dict or an object with ``to_dict()``, e.g. ``D90Result``).

        Summaries are keyed by ``summary_id`` (a hash of the search settings); the latest line of
        an id wins. Nothing is written when the stored summary differs from ``summary`` only in
        :data:`VOLATILE_SUMMARY_KEYS` (time stamp, trained/reused counts) and
        :data:`DERIVED_SUMMARY_KEYS`.
        """
        d = _summary_dict(summary)
        new = _summary_content(d)
        return self._summaries.append(d, lambda old: old is None or _summary_content(old) != new)

    def stored_summary(self, summary: Any) -> dict[str, Any] | None:
        """The stored summary of ``summary``'s id when it says the same (up to
        :data:`VOLATILE_SUMMARY_KEYS` and :data:`DERIVED_SUMMARY_KEYS`: e.g. a search replayed
        from the store, whose stored ``created`` tells when it was measured); else None."""
        d = _summary_dict(summary)
        old = self._summaries.get(d["summary_id"])
        return old if old is not None and _summary_content(old) == _summary_content(d) else None

    def summaries(self, **filters: Any) -> list[dict[str, Any]]:
        """Stored d90 summaries (latest per summary_id) whose top-level keys match ``filters``
        (same matching rules as :meth:`records`)."""
        return [
            s
            for s in self._summaries.values()
            if _matches(s, filters, lambda obj, key: obj.get(key))
        ]

    # -------------------------------------------------------------------- helpers

    # ---------------------------------------------------------------- bounds

    def put_bound(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store a generalization-bound record of a run (``idtheory.compress.bound_for_run``).

        Keyed by ``run_id`` and ``settings`` (levels, quantizer, δ, bit charges); the latest
        record of a key wins, so recomputing with the same settings replaces it.
        """
        for key in ("run_id", "settings"):
            if key not in record:
                raise ValueError(f"a bound record needs {key!r}")
        return self._bounds.append(record, lambda current: True)

    def bounds(self, **filters: Any) -> list[dict[str, Any]]:
        """Stored bound records, filtered by top-level keys (e.g. ``run_id=...``)."""
        return [b for b in self._bounds.values() if all(b.get(k) == v for k, v in filters.items())]

    # ---------------------------------------------------------------- merging

    def merge(
        self,
        other: ResultsStore | str | os.PathLike[str],
        *,
        only: Iterable[str] | None = None,
        partial_max_mb: float | None = PARTIAL_MERGE_MAX_MB,
    ) -> dict[str, int]:
        """Bring what ``other`` holds and this store lacks into this store: its training
        records (through :meth:`put`, so a final record here is never replaced), d90 summaries,
        bound records, saved subspace parameters (``params/<run_id>/`` of its runs stored as
        ``"ok"``, copied whole when absent or incomplete here) and the checkpoints of its
        trainings in flight (:meth:`merge_partials`).

        The way a sweep run in another clone or on another machine comes home — and, with the
        checkpoints, the way its trainings in flight resume here. With ``only`` (run ids), just
        those training records and their parameters: how a probe store's runs that a scale now
        trains itself (same spec, same run id) join the scale's store. Idempotent: merging the
        same store twice writes nothing the second time. Returns how many records, summaries,
        bounds, parameter directories and checkpoints were added, and how many checkpoints of
        runs now stored as final were removed (``"pruned"``).
        """
        other = other if isinstance(other, ResultsStore) else ResultsStore(other)
        wanted = None if only is None else set(only)
        added = {"runs": 0, "summaries": 0, "bounds": 0, "params": 0}
        in_flight = self._partial_ids()  # those of runs finished there go as their records come
        for record in other:
            if wanted is not None and record["run_id"] not in wanted:
                continue
            before = self.get(record["run_id"])
            if canonical_json(self.put(record)) != canonical_json(before):
                added["runs"] += 1
        for summary in other.summaries() if wanted is None else ():
            before = self._summaries.get(_summary_key(summary))
            mine, theirs = (before or {}).get("created"), summary.get("created")
            if mine and theirs and str(mine) >= str(theirs):
                continue  # this store's is as recent: an older summary there never replaces it
            if canonical_json(self.put_summary(summary)) != canonical_json(before):
                added["summaries"] += 1
        for bound in other.bounds() if wanted is None else ():
            current = self._bounds.get(_bound_key(bound))
            if current is None or canonical_json(current) != canonical_json(bound):
                self.put_bound(bound)
                added["bounds"] += 1
        if other.params_dir.is_dir():
            ok_there = {r["run_id"] for r in other if r.get("status") == "ok"}
            for run_dir in sorted(other.params_dir.iterdir()):
                if wanted is not None and run_dir.name not in wanted:
                    continue
                if run_dir.name in ok_there and self._merge_params(run_dir):
                    added["params"] += 1
        if wanted is None:
            added["partial"] = self.merge_partials(other, max_mb=partial_max_mb)
        added["pruned"] = len(in_flight - self._partial_ids()) + self.prune_partials()
        return added

    def _merge_params(self, run_dir: Path) -> bool:
        """Copy another store's saved parameters ``run_dir`` here (whole, through a temporary
        directory) when this store lacks any of its files; :meth:`merge` asks only for runs
        stored there as ``"ok"`` (a trainer saves them before it returns the record, so they
        are complete; others may be still being written). Returns whether it copied."""
        target = self.params_dir / run_dir.name
        if target.is_dir() and {f.name for f in run_dir.iterdir()} <= {
            f.name for f in target.iterdir()
        }:
            return False
        tmp = self.root / f".merging-{run_dir.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(run_dir, tmp)
        if target.exists():  # an incomplete copy (a merge interrupted by older code)
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        return True

    def _partial_ids(self) -> set[str]:
        """Run ids with any file in :attr:`partial_dir`."""
        if not self.partial_dir.is_dir():
            return set()
        return {f.name.split(".")[0] for f in self.partial_dir.iterdir() if f.is_file()}

    def merge_partials(
        self, other: ResultsStore, *, max_mb: float | None = PARTIAL_MERGE_MAX_MB
    ) -> int:
        """Copy the checkpoints of ``other``'s trainings in flight (``partial/<run_id>.pt`` and
        its progress ``.json``) that are further along than this store's, so that they resume
        here: those of runs this store lacks as final, of at most ``max_mb`` MiB each (None: any
        size; a subspace training's checkpoint is kilobytes, a full fine-tuning's gigabytes).
        "Further along" is a later step in the progress files, or — where either lacks one —
        a later modification time. Returns how many checkpoints were copied."""
        if not other.partial_dir.is_dir():
            return 0
        copied = 0
        for ckpt in sorted(other.partial_dir.glob("*.pt")):
            mine = self.partial_dir / ckpt.name
            try:
                size_mb = ckpt.stat().st_size / 2**20
            except FileNotFoundError:  # that training ended meanwhile
                continue
            if (max_mb is not None and size_mb > max_mb) or self._is_final(ckpt.stem):
                continue
            if mine.exists() and not _further_along(ckpt, mine):
                continue
            self.partial_dir.mkdir(parents=True, exist_ok=True)
            for src in (ckpt, ckpt.with_suffix(".json")):
                if src.exists():  # written whole (os.replace), so a copy is a whole file
                    # not the trainer's own ".tmp": a training running here may be saving
                    tmp = self.partial_dir / (src.name + ".merge.tmp")
                    shutil.copy2(src, tmp)
                    os.replace(tmp, self.partial_dir / src.name)
            copied += 1
        return copied

    def prune_partials(self) -> int:
        """Remove the checkpoints (and progress files) of runs this store holds as final — left
        over when a run finished elsewhere and its record came in through :meth:`merge`.
        Returns how many runs' checkpoints were removed."""
        removed = [run_id for run_id in sorted(self._partial_ids()) if self._is_final(run_id)]
        for run_id in removed:
            self._remove_partial(run_id)
        return len(removed)

    def _remove_partial(self, run_id: str) -> None:
        """Remove ``run_id``'s checkpoint, progress file and their temporary files."""
        if self.partial_dir.is_dir():
            for f in self.partial_dir.glob(f"{run_id}.*"):
                if f.is_file():
                    f.unlink(missing_ok=True)

    def _is_final(self, run_id: str, retry: Iterable[str] = ("failed",)) -> bool:
        """Whether a stored record of ``run_id`` is one :meth:`run` would not train again."""
        return _is_final_record(self.get(run_id), retry)


def _is_final_record(record: dict[str, Any] | None, retry: Iterable[str] = ("failed",)) -> bool:
    """Whether ``record`` is one :meth:`ResultsStore.run` would not train again (its status is
    not in ``retry``)."""
    return record is not None and record.get("status") not in tuple(retry)


#: Short names of training settings in :meth:`ResultsStore.to_rows`' ``training`` column.
_TRAINING_NAMES = {
    "max_train_examples": "n_train",
    "max_eval_examples": "n_dev",
    "group_by_length": "grouped",
}


def _training(train: dict[str, Any] | None, defaults: dict[str, Any]) -> str:
    """A run's precision and its training settings that differ from the defaults (lr and seed
    have columns of their own)."""
    if not train:
        return ""
    parts = []
    for k, v in train.items():
        if k in ("lr", "seed", "precision", "device") or v == defaults.get(k, v):
            continue
        name = _TRAINING_NAMES.get(k, k)
        parts.append(
            name if v is True else f"{name}={v:g}" if isinstance(v, float) else f"{name}={v}"
        )
    return " ".join([*parts, str(train.get("precision") or "")]).strip()


def _variant(subspace: dict[str, Any] | None, defaults: dict[str, Any]) -> str:
    """The non-default subspace options of a run, as ``key=value`` pairs."""
    if not subspace:
        return ""
    return " ".join(
        f"{k}={v}"
        for k, v in subspace.items()
        if k not in ("dim", "method") and v != defaults.get(k)
    )


def _bound_key(record: dict[str, Any]) -> str:
    return canonical_json({k: record[k] for k in ("run_id", "settings")})


def _run_key(record: dict[str, Any]) -> str:
    return str(record["run_id"])


def _summary_key(summary: dict[str, Any]) -> str:
    return str(summary["summary_id"])


def _summary_dict(summary: Any) -> dict[str, Any]:
    """A d90 summary (a dict or an object with ``to_dict()``) as a dict with a ``summary_id``."""
    d = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
    if "summary_id" not in d:
        raise ValueError("a summary needs a 'summary_id'")
    return d


def _summary_content(summary: dict[str, Any]) -> str:
    """What a summary says, for telling two of one id apart: its canonical JSON without
    :data:`VOLATILE_SUMMARY_KEYS` and :data:`DERIVED_SUMMARY_KEYS`."""
    ignored = (*VOLATILE_SUMMARY_KEYS, *DERIVED_SUMMARY_KEYS)
    return canonical_json({k: v for k, v in summary.items() if k not in ignored})


def record_field(record: dict[str, Any], key: str) -> Any:
    """Value of a filter key for a record (see :meth:`ResultsStore.records`)."""
    spec = record.get("spec") or {}
    train = spec.get("train") or {}
    sub = spec.get("subspace")
    if key in ("model", "task"):
        return spec.get(key)
    if key == "method":
        return "full" if sub is None else sub.get("method")
    if key == "dim":
        return None if sub is None else sub.get("dim")
    if key in ("lr", "seed", "metric"):
        return train.get(key)
    if key.startswith("train."):
        return train.get(key[6:])
    if key.startswith("subspace."):
        return None if sub is None else sub.get(key[9:])
    return record.get(key)


def _matches(
    obj: dict[str, Any], filters: dict[str, Any], field: Callable[[dict[str, Any], str], Any]
) -> bool:
    for key, want in filters.items():
        value = field(obj, key)
        if callable(want):
            if not want(value):
                return False
        elif isinstance(want, (list, tuple, set, frozenset)):
            if value not in want:
                return False
        elif value != want:
            return False
    return True


def _check_record(record: dict[str, Any]) -> None:
    if not isinstance(record, dict):
        raise TypeError(f"a record must be a dict, got {type(record).__name__}")
    if not isinstance(record.get("run_id"), str) or not record["run_id"]:
        raise ValueError("a record needs a non-empty string 'run_id'")
    if record.get("status") not in STATUSES:
        raise ValueError(f"record status must be one of {STATUSES}, got {record.get('status')!r}")
    json.dumps(record)  # raises TypeError early if not JSON-serialisable


def is_finite_number(x: Any) -> bool:
    """True for an int/float that is finite (bools excluded)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def compare_summary(rows: Sequence[dict[str, Any]], tol: float = 0.0) -> dict[str, Any]:
    """Condense :meth:`ResultsStore.compare` rows: how many runs are shared, how many agree
    (``|delta| ≤ tol``), the largest ``|delta|``, and the summed wall times (hours) of each side
    with their ratio b / a (a timing comparison only where both ran on comparable machines)."""
    deltas = [abs(r["delta"]) for r in rows if r["delta"] is not None]
    hours = [
        sum(float(r[f"wall_time_s_{side}"] or 0.0) for r in rows) / 3600 for side in ("a", "b")
    ]
    return {
        "shared": len(rows),
        "compared": len(deltas),
        "agree": sum(d <= tol for d in deltas),
        "max_abs_delta": max(deltas, default=None),
        "hours_a": hours[0],
        "hours_b": hours[1],
        "time_ratio": hours[1] / hours[0] if hours[0] > 0 else None,
    }
