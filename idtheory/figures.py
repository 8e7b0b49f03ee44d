"""The figure notebooks: their data (from the results store) and their batch rendering.

Two halves:

* **Data for the notebooks.** :func:`setup` turns a scale name (:mod:`idtheory.scales`) and the
  notebook's parameters into a :class:`FigureContext` (results store, trainer, directories,
  the search options of every d90). The functions below it return tidy rows for
  :mod:`idtheory.plots`: :func:`grid_results` (Figure 1, Table 1), :func:`trend_checkpoints`
  and :func:`trend_rows` (Figure 2), :func:`size_models` and :func:`size_rows` (Figure 3),
  :func:`generalization_rows` and :func:`bound_rows` (Figures 4–5, bounds), and the Fastfood
  tour helpers. With ``compute=True`` missing trainings are run through
  :func:`idtheory.search.measure_d90_many` and the trend functions of :mod:`idtheory.pretrain`;
  with ``compute=False`` only what the store holds is read, and every missing piece is listed in
  :attr:`FigureContext.missing` (and printed by :meth:`FigureContext.report_missing`) instead of
  being trained implicitly.
* **Rendering.** :data:`NOTEBOOKS` and :func:`render_all` execute the notebooks with papermill
  into ``build/notebooks/<scale>/`` with the scale's parameters and check that every expected
  figure (:func:`figure_names`) was written as PNG, PDF and CSV under ``figures/<scale>/``.

Stored results are found again exactly: a d90 summary matches when its recorded search
settings (learning rates, seeds, training and subspace configuration, grid or search bounds)
equal the ones this scale would use, and a trend cell's baseline is read from the records of
the very specs :func:`idtheory.pretrain.pretraining_trend` trains. :mod:`idtheory.pretrain` is
imported lazily and guarded: without it, checkpoints are synthesized from tiny random models
and the trends are computed with :func:`~idtheory.search.measure_d90_many` directly.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idtheory.config import RunSpec, SubspaceConfig, TrainConfig
from idtheory.scales import get_scale
from idtheory.store import ResultsStore, is_finite_number

__all__ = [
    "D90_TABLE_COLUMNS",
    "NOTEBOOKS",
    "UNABLE",
    "FigureContext",
    "Notebook",
    "bound_rows",
    "curve_rows",
    "d90_rows",
    "figure_names",
    "find_summary",
    "fit_size",
    "generalization_rows",
    "grid_results",
    "load_paper_table1",
    "pretrain_command",
    "project_root",
    "projection_column_norms",
    "projection_image",
    "render_all",
    "resolve_path",
    "results_by_task",
    "scales_overview",
    "set_threads",
    "setup",
    "size_models",
    "size_rows",
    "table1_rows",
    "trainable_rows",
    "transform_cost_rows",
    "trend_checkpoints",
    "trend_rows",
]

#: Status of a checkpoint whose full fine-tuning does not beat the majority class (Figure 2).
UNABLE = "unable to compute"
#: Status of a cell that is neither stored nor computed (``compute=False``).
MISSING = "missing"
#: How :meth:`FigureContext.report_missing` prints its list (read back by :func:`store_gaps`).
MISSING_HEADER, MISSING_ITEM = "Missing from", "  - "
#: Relative path of the paper's Table 1 values.
PAPER_TABLE1 = Path("data/paper/table1.csv")
_CKPT_RE = re.compile(r"checkpoint-(\d+)$")


# =============================================================================== context


def project_root() -> Path:
    """The idtheory checkout: the first directory upwards from the working directory holding
    ``pyproject.toml`` and ``idtheory/``, else the parent of the installed package."""
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").is_file() and (d / "idtheory").is_dir():
            return d
    return Path(__file__).resolve().parents[1]


def resolve_path(
    value: str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    root: Path | None = None,
) -> Path:
    """``value`` with ``{results_dir}`` substituted (from ``params``), made absolute against
    ``root`` (default :func:`project_root`)."""
    text = os.fspath(value)
    if params is not None and "{results_dir}" in text:
        text = text.replace("{results_dir}", os.fspath(params["results_dir"]))
    path = Path(text).expanduser()
    return path if path.is_absolute() else (root or project_root()) / path


@dataclass
class FigureContext:
    """Everything a notebook needs: the resolved scale parameters and where things live.

    Attributes:
        scale: the preset name; params: its parameters after the notebook's overrides.
        root: project root (the notebook's working directory after :func:`setup`).
        results_dir / figures_dir: absolute directories; data_dir: task data (None:
            ``$IDTHEORY_DATA``).
        compute: run missing trainings (True) or only read the store (False).
        progress: a progress bar inside every training (the sweeps and pre-trainings show
            theirs whenever ``compute`` is True: :attr:`sweep_progress`).
        missing: what could not be shown because it is not stored (filled by the helpers).
        shown: the parameters the notebook declares (printed by :meth:`describe`).
    """

    scale: str
    params: dict[str, Any]
    root: Path
    results_dir: Path
    figures_dir: Path
    data_dir: str | None = None
    compute: bool = False
    progress: bool = False
    missing: list[str] = field(default_factory=list)
    shown: tuple[str, ...] = ()
    _store: ResultsStore | None = field(default=None, repr=False)

    @property
    def sweep_progress(self) -> bool:
        """Progress bars of the training sweeps and pre-trainings: on whenever the notebook
        trains (hours at the quick scale), or when ``progress`` asks for every bar."""
        return self.progress or self.compute

    @property
    def store(self) -> ResultsStore:
        """The results store at :attr:`results_dir`."""
        if self._store is None:
            self._store = ResultsStore(self.results_dir)
        return self._store

    def train_fn(self) -> Any:
        """The trainer (θ_d saved under ``results_dir/params`` for the compression bounds)."""
        from idtheory.train import make_train_fn

        return make_train_fn(
            data_dir=self.data_dir,
            artifacts_dir=str(self.results_dir / "params"),
            progress=self.progress,
        )

    def base_train(self, *, trend: bool = False) -> TrainConfig:
        """The :class:`TrainConfig` of every training (lr and seed replaced per run); with
        ``trend`` (Figures 2–5) the scale's ``trend_train`` entries override ``train``."""
        p = self.params
        train = dict(p["train"])
        if trend:
            train.update(p.get("trend_train") or {})
        return TrainConfig(device=p["device"], metric=p["metric"], **train)

    def search_options(
        self, grid: Sequence[int] | None = None, *, trend: bool = False
    ) -> dict[str, Any]:
        """Keyword arguments of :func:`~idtheory.search.measure_d90` for this scale: grid mode
        when ``grid`` is given, else search mode with the scale's ``search`` bounds. With
        ``trend`` (Figures 2–5), ``trend_full_lrs`` / ``trend_subspace_lrs`` replace the
        learning rates, ``trend_train`` overrides the training settings and ``trend_floor``
        sets the threshold floor (a number, ``"majority"`` or ``"auto"``, resolved per task by
        the trend functions) when the scale sets them (from-scratch models want other rates and more
        updates, and their baselines sit close to the majority class)."""
        p = self.params
        full = (trend and p.get("trend_full_lrs")) or p["full_lrs"]
        subspace = (trend and p.get("trend_subspace_lrs")) or p["subspace_lrs"]
        opts: dict[str, Any] = {
            "full_lrs": [float(x) for x in full],
            "subspace_lrs": [float(x) for x in subspace],
            "seeds": [int(s) for s in p["seeds"]],
            "base_train": self.base_train(trend=trend),
            "subspace_kwargs": dict(p["subspace"]),
            "frac": float(p["frac"]),
            "metric": p["metric"],
        }
        if trend and p.get("trend_floor"):
            floor = p["trend_floor"]
            opts["floor"] = floor if isinstance(floor, str) else float(floor)
        if grid is not None:
            opts["grid"] = [int(d) for d in grid]
        else:
            opts.update(p["search"])
        return opts

    def executor(self) -> Any:
        """None for the local executor (the library default), else an executor object."""
        name = self.params.get("executor") or "local"
        if name == "local":
            return None
        from idtheory.executors import get_executor

        return get_executor(name)

    def note_missing(self, what: str) -> None:
        """Record (once) something a figure lacks."""
        if what not in self.missing:
            self.missing.append(what)

    def report_missing(self, what: str = "") -> None:
        """Print what is missing from the store, and how to compute it."""
        if not self.missing:
            print(f"Everything {what or 'needed'} is in the store ({self.results_dir}).")
            return
        print(f"{MISSING_HEADER} {self.results_dir} ({len(self.missing)}):")
        for m in self.missing:
            print(f"{MISSING_ITEM}{m}")
        print(
            "Run this notebook with compute=True (or `idtheory d90 ...` / `idtheory pretrain "
            "...`) to train what is missing; stored results are reused."
        )

    def save(
        self,
        fig: Any,
        name: str,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str] | None = None,
    ) -> None:
        """Write ``fig`` (PNG + PDF) and its rows (CSV) under ``figures_dir/<scale>/``."""
        from idtheory.plots import save_figure, save_table

        paths = save_figure(fig, self.figures_dir, self.scale, name)
        table = save_table(rows, self.figures_dir, self.scale, name, columns)
        rel = [os.path.relpath(p, self.root) for p in (paths["png"], paths["pdf"], table)]
        print(f"wrote {', '.join(rel)} ({len(rows)} rows)")

    def measurement(
        self,
        name: str,
        key: Mapping[str, Any],
        measure: Callable[[], list[dict[str, Any]]],
    ) -> list[dict[str, Any]]:
        """Rows of a machine measurement (timings), kept in ``results_dir/measurements/<name>.json``
        so that re-rendering from the store reproduces the committed figure byte for byte.

        The file holds one record per ``key`` (the measurement's settings, JSON-able: scales
        that share a store keep theirs side by side). Without :attr:`compute` the rows stored
        under ``key`` are returned; otherwise — or with ``compute`` — ``measure()`` runs now and
        its rows replace that record, with the date and the machine."""
        path = self.results_dir / "measurements" / f"{name}.json"
        where = os.path.relpath(path, self.root)
        key = json.loads(json.dumps(dict(key)))
        records = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
        stored = next((r for r in records if r.get("key") == key), None)
        if stored is not None and not self.compute:
            print(
                f"{name}: measured {stored['measured_at']} on {stored['machine']} (stored in "
                f"{where}; compute=True measures again)"
            )
            return list(stored["rows"])
        rows = measure()
        record = {
            "key": key,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": _machine(),
            "rows": rows,
        }
        records = [r for r in records if r.get("key") != key] + [record]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        print(f"{name}: measured now on {record['machine']}; stored in {where}")
        return rows

    def describe(self, *extra: str) -> None:
        """Print the resolved parameters (the top of every notebook's output): the ones the
        notebook declares (:attr:`shown`), then ``extra`` scale keys, then ``train``."""
        p = self.params
        print(f"scale {self.scale!r}: {p['description']}")
        print(f"results store: {self.results_dir}   figures: {self.figures_dir / self.scale}")
        print(f"compute missing trainings: {self.compute}   device: {p['device']}")
        skip = {"compute", "results_dir", "device", "train"}
        for key in dict.fromkeys([*self.shown, *extra]):
            if key in p and key not in skip:
                print(f"  {key}: {p[key]}")
        print(f"  train: {p['train']}")


def _machine() -> str:
    """This machine in a few words (for stored measurements): OS, CPU count, torch, GPU."""
    import platform

    import torch

    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    cpus = f"{os.cpu_count()} CPUs"
    return f"{platform.system()} {platform.machine()}, {cpus}{gpu}, torch {torch.__version__}"


def scales_overview() -> str:
    """Every scale preset with its one-line description (:data:`idtheory.scales.SCALES`), as
    the notebooks print it."""
    from idtheory.scales import SCALES

    lines = ["scales (parameter presets of idtheory/scales.py; the same code runs at each):"]
    lines += [f"  {name}: {preset['description']}" for name, preset in SCALES.items()]
    return "\n".join(lines)


def setup(
    scale: str = "smoke",
    *,
    figures_dir: str | os.PathLike[str] = "figures",
    data_dir: str | None = None,
    progress: bool = False,
    chdir: bool = True,
    **overrides: Any,
) -> FigureContext:
    """Resolve a notebook's parameters into a :class:`FigureContext`.

    ``overrides`` are scale keys (``models``, ``tasks``, ``dims``, ``seeds``, ``device``,
    ``compute``, ``results_dir``, …; None keeps the preset). Relative directories are taken
    from the project root, and with ``chdir`` the working directory becomes the project root,
    so the relative checkpoint names stored in the results store resolve the same from a
    notebook opened in ``notebooks/`` and from ``idtheory figures``.
    """
    params = get_scale(scale, **overrides)
    # tqdm.auto in a kernel without ipywidgets falls back to text bars: fine, say nothing
    warnings.filterwarnings("ignore", message="IProgress not found")
    root = project_root()
    results_dir = resolve_path(params["results_dir"], None, root)
    params["results_dir"] = str(results_dir)
    if chdir:
        os.chdir(root)
    if params.get("threads"):
        set_threads(int(params["threads"]))
    return FigureContext(
        scale=scale,
        params=params,
        root=root,
        results_dir=results_dir,
        figures_dir=resolve_path(figures_dir, None, root),
        data_dir=data_dir,
        compute=bool(params["compute"]),
        progress=progress,
        shown=tuple(overrides),
    )


def set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch and numba (the parallel FWHT) in this process."""
    import torch

    torch.set_num_threads(n)
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:  # numba is optional for this
        pass


def _model_name(path: Path, root: Path) -> str:
    """A checkpoint's name in the store: relative to the project root when inside it."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


# =============================================================================== summaries


def _expected_settings(
    ctx: FigureContext,
    method: str,
    grid: Sequence[int] | None,
    *,
    trend: bool = False,
    floor: float = 0.0,
) -> dict:
    """The ``settings`` a d90 summary of this scale records (as :mod:`idtheory.search`);
    ``floor`` is the resolved threshold floor (0: the paper's d90)."""
    opts = ctx.search_options(grid, trend=trend)
    sub = SubspaceConfig(dim=1, method=method, **opts["subspace_kwargs"]).to_dict()
    sub.pop("dim")
    base = opts["base_train"].to_dict()
    base.pop("device", None)
    settings: dict[str, Any] = {
        "full_lrs": list(dict.fromkeys(opts["full_lrs"])),
        "subspace_lrs": list(dict.fromkeys(opts["subspace_lrs"])),
        "seeds": list(dict.fromkeys(opts["seeds"])),
        "base_train": base,
        "subspace_kwargs": sub,
        "frac": opts["frac"],
        "metric": opts["metric"],
    }
    if floor:
        settings["floor"] = float(floor)
    if grid is not None:
        settings["grid"] = sorted(set(opts["grid"]))
    else:
        settings.update(
            {k: ctx.params["search"][k] for k in ("d_min", "d_max", "grid_factor", "bracket_ratio")}
        )
    return settings


def _canon(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"))


def find_summary(
    store: ResultsStore,
    model: str,
    task: str,
    method: str,
    settings: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The latest stored d90 summary of (model, task, method) whose recorded settings agree
    with ``settings`` on every key of ``settings`` (None if there is none)."""
    found = [
        s
        for s in store.summaries(model=model, task=task, method=method)
        if all(_canon((s.get("settings") or {}).get(k)) == _canon(v) for k, v in settings.items())
    ]
    return max(found, key=lambda s: s.get("created") or "") if found else None


# =============================================================================== Figure 1


def grid_results(ctx: FigureContext) -> list[dict[str, Any]]:
    """D90Result dicts (grid mode over ``dims``) for every model × task × method.

    ``compute=True`` trains what is missing (:func:`~idtheory.search.measure_d90_many`; stored
    runs are reused); otherwise the matching stored summaries are read and the others noted
    as missing.
    """
    p = ctx.params
    jobs = [
        {"model": m, "task": t, "method": meth}
        for m in p["models"]
        for t in p["tasks"]
        for meth in p["methods"]
    ]
    if ctx.compute and jobs:
        from idtheory.search import measure_d90_many

        results = measure_d90_many(
            jobs,
            store=ctx.store,
            train_fn=ctx.train_fn(),
            executor=ctx.executor() or "local",
            progress=ctx.sweep_progress,
            **ctx.search_options(p["dims"]),
        )
        return [r.to_dict() for r in results]
    out = []
    for j in jobs:
        s = find_summary(
            ctx.store,
            j["model"],
            j["task"],
            j["method"],
            _expected_settings(ctx, j["method"], p["dims"]),
        )
        if s is None:  # a d90 search (search mode) at the same settings, else stored runs
            s = find_summary(
                ctx.store,
                j["model"],
                j["task"],
                j["method"],
                _expected_settings(ctx, j["method"], None),
            ) or stored_curve(ctx, j["model"], j["task"], j["method"])
        if s is None:
            ctx.note_missing(
                f"Figure 1 / Table 1: {j['model']} / {j['task']} / "
                f"{j['method'].upper()} on the grid {p['dims']}"
            )
        else:
            out.append(s)
    return out


def stored_curve(ctx: FigureContext, model: str, task: str, method: str) -> dict[str, Any] | None:
    """A D90Result-like dict built from the stored runs alone (status ``"partial"``; its
    ``run_ids`` are the runs scored).

    Used while a search or grid is still running: every d whose runs at all of the scale's
    subspace learning rates × seeds are stored is scored as :mod:`idtheory.search` does (max over
    learning rates of the mean over seeds), against the stored baseline; d90 is read off those
    points with :func:`~idtheory.search.d90_from_curve`. None without a complete baseline.
    """
    from dataclasses import replace

    from idtheory.config import RunSpec
    from idtheory.search import d90_from_curve, run_score

    o = ctx.search_options()
    base, metric = o["base_train"], o["metric"]

    run_ids: list[str] = []

    def score(sub: SubspaceConfig | None, lrs: Sequence[float]) -> float | None:
        cells, ids = [], []
        for lr in lrs:
            recs = [
                ctx.store.get(
                    RunSpec(model, task, replace(base, lr=lr, seed=seed), sub).config_hash()
                )
                for seed in o["seeds"]
            ]
            if any(r is None for r in recs):
                return None
            cells.append(sum(run_score(r, metric) for r in recs) / len(recs))
            ids += [r["run_id"] for r in recs]
        run_ids.extend(ids)
        return max(cells)

    baseline = score(None, o["full_lrs"])
    if baseline is None or not baseline > 0:  # ≤ 0 (an MCC at chance): no threshold to read
        return None
    dims = sorted(
        {
            r["spec"]["subspace"]["dim"]
            for r in ctx.store.records(model=model, task=task, method=method)
        }
    )
    points = []
    for d in dims:
        sub = SubspaceConfig(dim=d, method=method, **o["subspace_kwargs"])
        value = score(sub, o["subspace_lrs"])
        if value is not None:
            points.append((d, value))
    if not points:
        return None
    curve = d90_from_curve([d for d, _ in points], [v for _, v in points], baseline, o["frac"])
    return {
        "model": model,
        "task": task,
        "method": method,
        "metric": metric,
        "frac": o["frac"],
        "status": "partial",
        "d90": curve.d90,
        "bracket": curve.bracket,
        "baseline_score": baseline,
        "threshold": curve.threshold,
        "points": [
            {"d": d, "score": v, "best_lr": None, "passes": v >= curve.threshold} for d, v in points
        ],
        "run_ids": run_ids,
    }


def curve_rows(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per evaluated d of each D90Result dict (the table behind Figure 1)."""
    rows = []
    for r in results:
        for pt in sorted(r.get("points") or [], key=lambda q: q["d"]):
            rows.append(
                {
                    "model": r["model"],
                    "task": r["task"],
                    "method": r["method"],
                    "d": pt["d"],
                    "score": pt["score"],
                    "best_lr": pt["best_lr"],
                    "passes": pt["passes"],
                    "baseline": r.get("baseline_score"),
                    "threshold": r.get("threshold"),
                    "d90": r.get("d90"),
                    "status": r.get("status"),
                }
            )
    return rows


def results_by_task(
    ctx: FigureContext, results: Sequence[Mapping[str, Any]]
) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """``(canonical task name, its results)`` for every task of the scale, in the scale's order
    (Figure 1 draws one panel per task; ``"SST-2"`` and ``"sst2"`` are the same task)."""
    from idtheory.tasks import get_task

    out = []
    for task in ctx.params["tasks"]:
        name = get_task(task).name
        out.append((name, [r for r in results if get_task(r["task"]).name == name]))
    return out


def load_paper_table1(path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The paper's Table 1 (``data/paper/table1.csv``): model, task, method, d90, source,
    confidence."""
    p = Path(path) if path is not None else project_root() / PAPER_TABLE1
    with p.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["d90"] = int(r["d90"])
    return rows


def table1_rows(ctx: FigureContext, results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the Table 1 comparison: every paper value, then every d90 we measured (model
    shown under its paper name when ``paper_labels`` maps it)."""
    from idtheory.search import threshold_is_degenerate
    from idtheory.tasks import get_task

    labels = ctx.params.get("paper_labels") or {}
    rows: list[dict[str, Any]] = []
    for r in load_paper_table1(ctx.root / PAPER_TABLE1):
        rows.append(
            {
                "source": "paper",
                "model": r["model"],
                "task": r["task"],
                "method": r["method"],
                "d90": r["d90"],
                "status": "reported",
                "bracket": None,
                "baseline": None,
                "our_model": None,
                "note": f"{r['source']}; confidence: {r['confidence']}",
            }
        )
    majority: dict[str, float | None] = {}
    for r in results:
        if r["task"] not in majority:
            majority[r["task"]] = majority_line(ctx, r["task"])
        chance, thr = majority[r["task"]], r.get("threshold")
        below_chance = threshold_is_degenerate(thr, chance)
        note = f"grid {[p['d'] for p in r.get('points') or []]}"
        rows.append(
            {
                "source": f"ours ({ctx.scale})",
                "model": labels.get(r["model"], r["model"]),
                "task": get_task(r["task"]).name,
                "method": r["method"],
                "d90": r.get("d90"),
                "status": r.get("status"),
                "bracket": r.get("bracket"),
                "baseline": r.get("baseline_score"),
                "our_model": r["model"],
                "below_chance": below_chance,
                "note": note
                + (f"; threshold {thr:.4f} ≤ majority class {chance:.4f}" if below_chance else ""),
            }
        )
    return rows


D90_TABLE_COLUMNS: dict[str, str] = {
    "task": "task",
    "method": "method",
    "baseline": "full FT dev",
    "majority": "majority class",
    "threshold": "threshold",
    "d90": "d90",
    "bracket": "bracket",
    "d90_above_majority": "d90 above majority",
    "curve": "evaluated d: best dev",
    "trainings": "trainings",
    "cpu_hours": "CPU h",
    "status": "status",
}
"""Columns (key → header) of :func:`d90_rows` as the README shows them."""


def d90_rows(ctx: FigureContext, results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per d90 result (search summary or :func:`stored_curve`), under both thresholds.

    Columns: baseline; the majority-class score of the task's dev set; the paper's threshold
    (``frac × baseline``), its d90 and bracket (a threshold at or below the majority class makes
    d90 trivially small: flagged in ``status``); the chance-corrected bracket
    ``d90_above_majority`` (threshold ``majority + frac × (baseline − majority)``); the
    evaluated curve; the cost (trainings behind the result, their summed wall time in hours).

    The search behind a summary stopped at *one* threshold (``settings["floor"]``): that
    threshold's bracket is the bisected one of the summary, the other is read off the evaluated
    points with :func:`~idtheory.search.d90_from_curve` — ``(largest d, ∞]`` when no evaluated
    d reaches it, and only as fine as the points the search happened to evaluate.
    """
    from idtheory.search import d90_from_curve, d90_threshold, format_bracket

    cache: dict[str, float] = {}
    rows = []
    for r in results:
        metric = r.get("metric") or ctx.params["metric"]
        majority = _majority_score(r["task"], metric, cache)
        recs = [ctx.store.get(i) for i in r.get("run_ids") or []]
        recs = [x for x in recs if x is not None]
        status = r.get("status") or ""
        pts = sorted(r.get("points") or [], key=lambda q: q["d"])
        base = r.get("baseline_score")
        frac = float(r.get("frac") or ctx.params["frac"])
        searched_floor = float((r.get("settings") or {}).get("floor") or 0.0)

        dims, scores = [p["d"] for p in pts], [p["score"] for p in pts]
        threshold, d90, bracket = r.get("threshold"), r.get("d90"), r.get("bracket")
        corrected = None
        if searched_floor > 0 and base is not None:  # a chance-corrected search
            corrected = format_bracket(bracket)
            threshold = d90_threshold(base, frac)
            d90, bracket = None, None
            if pts and base > 0:
                paper = d90_from_curve(dims, scores, base, frac, 0.0)
                d90, bracket, status = paper.d90, paper.bracket, paper.status
        elif pts and base is not None and base > majority:
            corrected = format_bracket(d90_from_curve(dims, scores, base, frac, majority).bracket)
        if threshold is not None and threshold <= majority:
            status += " (threshold ≤ majority class)"
        rows.append(
            {
                "model": r["model"],
                "task": r["task"],
                "method": r["method"].upper(),
                "metric": metric,
                "baseline": base,
                "majority": majority,
                "threshold": threshold,
                "d90": d90,
                "bracket": format_bracket(bracket),
                "d90_above_majority": corrected,
                "curve": ", ".join(f"{p['d']}: {p['score']:.3f}" for p in pts),
                "trainings": len(recs),
                "cpu_hours": round(sum(x.get("wall_time_s") or 0.0 for x in recs) / 3600, 2),
                "status": status,
            }
        )
    return rows


# =============================================================================== pretrain


def _pretrain_module() -> Any | None:
    """:mod:`idtheory.pretrain`, or None if it cannot be imported (it is optional here)."""
    try:
        from idtheory import pretrain
    except Exception as exc:  # any import failure: not available
        warnings.warn(
            f"idtheory.pretrain is not available ({type(exc).__name__}: {exc}); "
            "using synthesized checkpoints and measure_d90 directly",
            stacklevel=2,
        )
        return None
    needed = (
        "pretrain",
        "PretrainConfig",
        "build_corpus",
        "list_checkpoints",
        "pretraining_trend",
        "size_trend",
        "fit_loglog",
    )
    return pretrain if all(hasattr(pretrain, n) for n in needed) else None


def _list_checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    pt = _pretrain_module()
    if pt is not None:
        return [(int(s), Path(p)) for s, p in pt.list_checkpoints(out_dir)]
    if not out_dir.is_dir():
        return []
    found = [
        (int(m.group(1)), c)
        for c in out_dir.iterdir()
        if (m := _CKPT_RE.search(c.name)) and (c / "config.json").is_file()
    ]
    return sorted(found)


def _synthesize_checkpoints(out_dir: Path, steps: Sequence[int]) -> None:
    """Fallback without :mod:`idtheory.pretrain`: random ``tiny-roberta`` models saved as
    ``checkpoint-<step>`` (seed = step). Placeholders for the plumbing, not pre-training."""
    from idtheory.models import load_model

    for step in steps:
        ckpt = out_dir / f"checkpoint-{step}"
        lm = load_model("tiny-roberta", num_labels=2, seed=int(step))
        lm.model.save_pretrained(ckpt)
        lm.tokenizer.save_pretrained(ckpt)
        (ckpt / "trainer_state.json").write_text(json.dumps({"step": step, "synthetic": True}))


#: PretrainConfig field → ``idtheory pretrain`` option (for the commands printed to users).
_PRETRAIN_FLAGS: dict[str, str] = {
    "layers": "--layers",
    "hidden": "--hidden",
    "heads": "--heads",
    "ffn": "--ffn",
    "vocab_size": "--vocab-size",
    "max_length": "--max-length",
    "batch_size": "--batch-size",
    "grad_accum": "--grad-accum",
    "steps": "--steps",
    "lr": "--lr",
    "warmup_ratio": "--warmup-ratio",
    "weight_decay": "--weight-decay",
    "dropout": "--dropout",
    "eval_blocks": "--eval-blocks",
    "save_every": "--save-every",
    "log_every": "--log-every",
    "seed": "--seed",
    "device": "--device",
    "precision": "--precision",
    "num_threads": "--threads",
}


def pretrain_command(
    ctx: FigureContext, preset: str, out_dir: Path, stop_at: int | None = None
) -> str:
    """The ``idtheory pretrain`` command that creates a scale's checkpoint run by hand
    (``stop_at``: pause after that many updates of the scale's schedule)."""
    parts = ["idtheory pretrain", f"--preset {preset}"]
    for key, value in (ctx.params.get("pretrain") or {}).items():
        if key in _PRETRAIN_FLAGS and value is not None:
            parts.append(f"{_PRETRAIN_FLAGS[key]} {value}")
    if stop_at is not None:
        parts.append(f"--stop-at {stop_at}")
    corpus = dict(ctx.params.get("corpus") or {})
    if corpus.get("source", "glue") != "glue":
        parts.append(f"--corpus {corpus['source']}")
    if corpus.get("max_lines"):
        parts.append(f"--max-lines {corpus['max_lines']}")
    try:
        out = out_dir.resolve().relative_to(ctx.root.resolve()).as_posix()
    except ValueError:
        out = str(out_dir)
    parts.append(f"--out {out}")
    return " ".join(parts)


def _source_steps(source: Mapping[str, Any]) -> list[int] | None:
    """The checkpoint steps a source selects (``"steps": [...]`` or ``"step": N``), or None."""
    if source.get("steps") is not None:
        return sorted(int(x) for x in source["steps"])
    if source.get("step") is not None:
        return [int(source["step"])]
    return None


def _stored_checkpoints(ctx: FigureContext, out_dir: Path) -> list[tuple[int, Path]]:
    """The checkpoints of ``out_dir`` that the results store holds runs of: a fresh clone has
    the committed store but not the (uncommitted) checkpoints, and still renders from it."""
    prefix = _model_name(out_dir, ctx.root) + "/checkpoint-"
    steps = {
        int(m.group(1))
        for r in ctx.store.records(model=lambda name: str(name).startswith(prefix))
        if (m := _CKPT_RE.search(r["spec"]["model"]))
    }
    return [(step, out_dir / f"checkpoint-{step}") for step in sorted(steps)]


def _ensure_pretrained(ctx: FigureContext, source: Mapping[str, Any]) -> list[tuple[int, Path]]:
    """Checkpoints of a ``{"pretrain_dir", "preset"}`` source (only those of its ``steps`` /
    ``step`` when given), pre-training them first when ``compute`` is True and some are missing
    (up to the last selected step, on the scale's ``pretrain`` schedule). Without ``compute``
    and without the directory, the checkpoints the results store has runs of stand in."""
    out_dir = resolve_path(source["pretrain_dir"], ctx.params, ctx.root)
    found = _list_checkpoints(out_dir)
    preset = source.get("preset", "xs")
    cfg_kwargs = {**ctx.params.get("pretrain", {}), **(source.get("pretrain") or {})}
    wanted = _source_steps(source)
    target = wanted[-1] if wanted else cfg_kwargs.get("steps")
    if ctx.compute and (not found or (target is not None and found[-1][0] < int(target))):
        pt = _pretrain_module()
        if pt is None:
            steps = [
                0,
                *range(
                    cfg_kwargs.get("save_every", 3),
                    int(target or 6) + 1,
                    cfg_kwargs.get("save_every", 3),
                ),
            ]
            _synthesize_checkpoints(out_dir, steps)
        else:
            corpus_kw = dict(ctx.params.get("corpus") or {"source": "glue"})
            corpus = pt.build_corpus(corpus_kw.pop("source"), data_dir=ctx.data_dir, **corpus_kw)
            config = pt.PretrainConfig(**{**cfg_kwargs, "preset": preset})
            t0 = time.perf_counter()
            pt.pretrain(config, corpus, out_dir, progress=ctx.sweep_progress, stop_at=target)
            print(f"pre-trained {preset!r} in {out_dir} ({time.perf_counter() - t0:.0f} s)")
        found = _list_checkpoints(out_dir)
    if not found and not ctx.compute:
        found = _stored_checkpoints(ctx, out_dir)
    if wanted is not None and found:
        have = {step for step, _ in found}
        absent = [w for w in wanted if w not in have]
        if absent:
            ctx.note_missing(f"checkpoint step(s) {absent} in {out_dir}")
        found = [(step, path) for step, path in found if step in wanted]
    if not found:
        ctx.note_missing(
            f"checkpoints in {out_dir}: pre-train them with `"
            f"{pretrain_command(ctx, preset, out_dir, target if wanted else None)}`, or run "
            "with compute=True"
        )
    return found


def trend_checkpoints(ctx: FigureContext) -> list[tuple[int | None, str]]:
    """The checkpoints of Figure 2 as ``(step, name)``, from the scale's ``checkpoints``
    source, filtered by ``trend_max_step`` and thinned to every ``trend_stride``-th (the last
    one is always kept)."""
    src = ctx.params["checkpoints"]
    items: list[tuple[int | None, str]] = []
    if isinstance(src, Mapping) and "pretrain_dir" in src:
        items = [(s, _model_name(p, ctx.root)) for s, p in _ensure_pretrained(ctx, src)]
    elif isinstance(src, Mapping) and "suite" in src:
        pt = _pretrain_module()
        suites = getattr(pt, "PUBLIC_CHECKPOINT_SUITES", {}) if pt is not None else {}
        if src["suite"] not in suites:
            ctx.note_missing(f"public checkpoint suite {src['suite']!r} (idtheory.pretrain)")
        else:
            for step, repo, rev in suites[src["suite"]].references(int(src.get("repo_index", 0))):
                if rev is None:
                    items.append((step, repo))
            if src.get("max_step") is not None:
                items = [it for it in items if it[0] is None or it[0] <= int(src["max_step"])]
    else:
        for it in src or []:
            if isinstance(it, (list, tuple)):
                items.append((None if it[0] is None else int(it[0]), str(it[1])))
            else:
                m = _CKPT_RE.search(str(it))
                items.append((int(m.group(1)) if m else None, str(it)))
    max_step = ctx.params.get("trend_max_step")
    if max_step is not None:
        items = [it for it in items if it[0] is None or it[0] <= int(max_step)]
    stride = max(1, int(ctx.params.get("trend_stride") or 1))
    if stride > 1 and items:
        items = [it for i, it in enumerate(items) if i % stride == 0 or i == len(items) - 1]
    return items


# =============================================================================== trends


def majority_line(ctx: FigureContext, task: str) -> float | None:
    """The constant majority-class predictor's dev score on ``task`` in the scale's metric
    (Figure 1's chance line), or None where the task's dev data is not available."""
    from idtheory.tasks import TaskDataNotFound, majority_score

    try:
        return majority_score(task, ctx.params["metric"], ctx.data_dir)
    except TaskDataNotFound:
        return None


def _majority_score(task: str, metric: str, cache: dict[str, float]) -> float:
    """:func:`idtheory.tasks.majority_score` on the dev split, memoised in ``cache``."""
    if task not in cache:
        from idtheory.tasks import majority_score

        cache[task] = majority_score(task, metric)
    return cache[task]


def _stored_cell(
    ctx: FigureContext,
    model: str,
    task: str,
    method: str,
    majority: float,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A trend cell from the store only: the baseline records of the exact specs the trend
    functions train, the majority check, then the matching d90 summary."""
    from idtheory.search import resolve_floor, run_score, status_reason

    opts = ctx.search_options(trend=True)
    metric = opts["metric"]
    spec0 = RunSpec(model=model, task=task, train=opts["base_train"])
    specs = [
        spec0.with_(**{"train.lr": lr, "train.seed": s})
        for lr in dict.fromkeys(opts["full_lrs"])
        for s in dict.fromkeys(opts["seeds"])
    ]
    records = [ctx.store.get(s.config_hash()) for s in specs]
    row: dict[str, Any] = {
        "task": task,
        "method": method,
        "metric": metric,
        "d90": None,
        "bracket": None,
        "baseline": None,
        "majority": majority,
        "threshold": None,
        "status": MISSING,
        "reason": "",
        "summary_id": None,
    }
    if any(r is None for r in records):
        row["reason"] = "full fine-tuning baseline not in the store"
        return row, [r for r in records if r is not None]
    recs = [r for r in records if r is not None]
    if not any(r.get("status") == "ok" for r in recs):
        row.update(status=UNABLE, reason="no full fine-tuning run succeeded")
        return row, recs
    by_lr: dict[float, list[float]] = {}
    for s, r in zip(specs, recs, strict=True):
        by_lr.setdefault(s.train.lr, []).append(run_score(r, metric))
    baseline = max(sum(v) / len(v) for v in by_lr.values())
    row["baseline"] = baseline
    margin = float(ctx.params["majority_margin"])
    if not baseline > majority + margin:
        row.update(
            status=UNABLE,
            reason=f"full fine-tuning dev {metric} {baseline:.4f} does not "
            f"beat the majority class ({majority:.4f}{f' + margin {margin}' if margin else ''})",
        )
        return row, recs
    floor = resolve_floor(opts.get("floor"), majority, baseline, opts["frac"])
    summary = find_summary(
        ctx.store,
        model,
        task,
        method,
        _expected_settings(ctx, method, None, trend=True, floor=floor),
    )
    if summary is None:
        row["reason"] = "d90 search not in the store"
        return row, recs
    row.update(
        d90=summary.get("d90"),
        bracket=list(summary.get("bracket") or [None, None]),
        baseline=summary.get("baseline_score"),
        threshold=summary.get("threshold"),
        status=summary.get("status"),
        reason=status_reason(summary.get("status")),
        summary_id=summary.get("summary_id"),
    )
    return row, recs


def _fallback_compute(
    ctx: FigureContext, models: Sequence[str], tasks: Sequence[str], method: str
) -> None:
    """Without idtheory.pretrain: measure every cell's d90 (no majority short-cut)."""
    from idtheory.search import measure_d90_many, resolve_floor

    opts = ctx.search_options(trend=True)
    floor, cache = opts.pop("floor", 0.0), {}
    if floor == "auto":  # no baseline before the search: "auto" falls back to "majority"
        floor = "majority"
    jobs = [
        {
            "model": m,
            "task": t,
            "method": method,
            "floor": resolve_floor(floor, _majority_score(t, opts["metric"], cache), None),
        }
        for m in models
        for t in tasks
    ]
    measure_d90_many(
        jobs,
        store=ctx.store,
        train_fn=ctx.train_fn(),
        executor=ctx.executor() or "local",
        progress=ctx.sweep_progress,
        **opts,
    )


def _trend_kwargs(ctx: FigureContext) -> dict[str, Any]:
    kw: dict[str, Any] = dict(
        store=ctx.store,
        train_fn=ctx.train_fn(),
        majority_margin=float(ctx.params["majority_margin"]),
        data_dir=ctx.data_dir,
        progress=ctx.sweep_progress,
        **ctx.search_options(trend=True),
    )
    ex = ctx.executor()
    if ex is not None:
        kw["executor"] = ex
    return kw


def trend_rows(
    ctx: FigureContext,
    checkpoints: Sequence[tuple[int | None, str]],
) -> list[dict[str, Any]]:
    """d90 of every checkpoint × trend task (Figure 2), one row each, none dropped.

    Columns: checkpoint, step, task, method, metric, d90, bracket, baseline, majority,
    threshold, status (``ok``, ``passes_at_smallest``, ``never_passes``, ``unable to compute``
    or ``missing``), reason, summary_id.
    """
    from idtheory.tasks import get_task

    p = ctx.params
    tasks = [get_task(t).name for t in p["trend_tasks"]]
    method = p["trend_method"]
    if ctx.compute and checkpoints:
        pt = _pretrain_module()
        if pt is not None:
            rows = pt.pretraining_trend(list(checkpoints), tasks, method, **_trend_kwargs(ctx))
            return [dict(r) for r in rows]
        _fallback_compute(ctx, [name for _, name in checkpoints], tasks, method)
    cache: dict[str, float] = {}
    rows = []
    for step, name in checkpoints:
        for task in tasks:
            row, _ = _stored_cell(
                ctx, name, task, method, _majority_score(task, p["metric"], cache)
            )
            if row["status"] == MISSING:
                ctx.note_missing(f"Figure 2: {name} / {task} ({row['reason']})")
            rows.append({"checkpoint": name, "step": step, **row})
    return rows


def size_models(ctx: FigureContext) -> list[str]:
    """The models of Figure 3: names as given, the last checkpoint of each
    ``{"pretrain_dir", "preset"}`` run (pre-trained first when ``compute``), and
    ``"@public"`` expanded to :data:`idtheory.pretrain.PUBLIC_SIZE_MODELS`."""
    out: list[str] = []
    for entry in ctx.params["size_models"]:
        if isinstance(entry, Mapping):
            found = _ensure_pretrained(ctx, entry)
            if found:
                out.append(_model_name(found[-1][1], ctx.root))
        elif entry == "@public":
            pt = _pretrain_module()
            out.extend(getattr(pt, "PUBLIC_SIZE_MODELS", ()) if pt is not None else ())
        else:
            out.append(str(entry))
    return list(dict.fromkeys(out))


def _fit_loglog(n_params: Sequence[float], d90: Sequence[float]) -> dict[str, Any]:
    pt = _pretrain_module()
    if pt is not None:
        return dict(pt.fit_loglog(n_params, d90).to_dict())
    import numpy as np
    from scipy import stats

    x, y = np.log10(np.asarray(n_params, float)), np.log10(np.asarray(d90, float))
    res = stats.linregress(x, y)
    t = float(stats.t.ppf(0.975, len(x) - 2))
    return {
        "slope": float(res.slope),
        "intercept": float(res.intercept),
        "slope_stderr": float(res.stderr),
        "intercept_stderr": float(res.intercept_stderr),
        "r2": float(res.rvalue) ** 2,
        "pvalue": float(res.pvalue),
        "slope_ci95": [res.slope - t * res.stderr, res.slope + t * res.stderr],
        "n": len(x),
    }


def fit_size(rows: Sequence[Mapping[str, Any]], statuses: Sequence[str]) -> dict[str, Any] | None:
    """Log-log fit of d90 on the parameter count over rows with a status in ``statuses``
    (None with fewer than 3 usable rows or a single parameter count)."""
    use = [
        r
        for r in rows
        if r.get("status") in statuses
        and is_finite_number(r.get("d90"))
        and is_finite_number(r.get("n_params"))
    ]
    if len(use) < 3 or len({r["n_params"] for r in use}) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _fit_loglog([r["n_params"] for r in use], [r["d90"] for r in use])


def size_rows(
    ctx: FigureContext,
    models: Sequence[str],
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """d90 of every model on ``size_task`` (Figure 3) and the log-log fit (:func:`fit_size`).

    Row columns: model, n_params, task, method, metric, d90, bracket, baseline, majority,
    threshold, status, reason, summary_id.
    """
    from idtheory.tasks import get_task

    p = ctx.params
    task = get_task(p["size_task"]).name
    method = p["trend_method"]
    statuses = list(p["fit_statuses"])
    rows: list[dict[str, Any]] = []
    if ctx.compute and models:
        pt = _pretrain_module()
        if pt is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "< 3 points": reported below
                res = pt.size_trend(
                    list(models), task, method, fit_statuses=statuses, **_trend_kwargs(ctx)
                )
            rows = [dict(r) for r in res.rows]
            return rows, fit_size(rows, statuses)
        _fallback_compute(ctx, models, [task], method)
    cache: dict[str, float] = {}
    for name in models:
        row, recs = _stored_cell(ctx, name, task, method, _majority_score(task, p["metric"], cache))
        counts = [int(r["num_params"]) for r in recs if is_finite_number(r.get("num_params"))]
        if row["status"] == MISSING:
            ctx.note_missing(f"Figure 3: {name} / {task} ({row['reason']})")
        rows.append({"model": name, "n_params": max(counts) if counts else None, **row})
    return rows, fit_size(rows, statuses)


# =============================================================================== Figures 4-5


def _train_size(task: str, max_examples: int | None, seed: int, cache: dict) -> int:
    key = (task, max_examples, seed)
    if key not in cache:
        from idtheory.tasks import load_task

        cache[key] = len(load_task(task, "train", max_examples=max_examples, seed=seed).labels)
    return cache[key]


def _mean_metric(records: Sequence[Mapping[str, Any] | None], split: str, metric: str) -> float:
    vals = [((r.get("metrics") or {}).get(split) or {}).get(metric) for r in records if r]
    vals = [float(v) for v in vals if is_finite_number(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def generalization_rows(
    ctx: FigureContext,
    trend: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One row per trend cell with a d90 (Figures 4–5): accuracies of the checkpoint's full
    fine-tuning (best lr, mean over seeds) and of its subspace training at d = d90, both on dev
    and on the training subsample, and their relative generalization gaps.

    Columns: checkpoint, step, task, method, d90, status, majority, full_dev, full_train,
    full_gap, d90_dev, d90_train, d90_gap, m (training examples), n_candidate_d (d evaluated by
    the search), d90_run_ids.
    """
    from idtheory.plots import relative_gap

    metric = ctx.params["metric"]
    sizes: dict = {}
    out: list[dict[str, Any]] = []
    for row in trend:
        if not is_finite_number(row.get("d90")) or not row.get("summary_id"):
            continue
        found = ctx.store.summaries(summary_id=row["summary_id"])
        if not found:
            ctx.note_missing(f"Figures 4-5: summary {row['summary_id']} of {row['checkpoint']}")
            continue
        s = found[-1]
        base = next((c for c in s["baseline"] if c["lr"] == s["baseline_lr"]), None)
        point = next((q for q in s["points"] if q["d"] == s["d90"]), None)
        if base is None or point is None:
            continue
        cell = next(c for c in point["cells"] if c["lr"] == point["best_lr"])
        full_recs = [ctx.store.get(i) for i in base["run_ids"]]
        d90_recs = [ctx.store.get(i) for i in cell["run_ids"]]
        spec = RunSpec.from_dict(d90_recs[0]["spec"]) if d90_recs and d90_recs[0] else None
        m = (
            _train_size(spec.task, spec.train.max_train_examples, spec.train.seed, sizes)
            if spec is not None
            else None
        )
        g = {
            "checkpoint": row.get("checkpoint", row.get("model")),
            "step": row.get("step"),
            "task": row["task"],
            "method": row.get("method"),
            "d90": row["d90"],
            "status": row.get("status"),
            "majority": row.get("majority"),
            "full_dev": _mean_metric(full_recs, "dev", metric),
            "full_train": _mean_metric(full_recs, "train", metric),
            "d90_dev": _mean_metric(d90_recs, "dev", metric),
            "d90_train": _mean_metric(d90_recs, "train", metric),
            "m": m,
            "n_candidate_d": len(s["points"]),
            "d90_run_ids": list(cell["run_ids"]),
        }
        g["full_gap"] = relative_gap(g["full_train"], g["full_dev"])
        g["d90_gap"] = relative_gap(g["d90_train"], g["d90_dev"])
        out.append(g)
    return out


#: Bounds of :func:`idtheory.bounds.bound_report` shown in the bound figures (name → label).
BOUNDS_SHOWN: dict[str, str] = {
    "Occam, kl": "Occam kl",
    "Catoni, λ-grid union": "Catoni (Lotfi et al.)",
    "Aghajanyan Thm 1, ê + sqrt(d/m)": "Aghajanyan Thm 1 ê + √(d/m)",
}


def _quantized_bound(
    ctx: FigureContext,
    run_id: str,
    levels: int,
    n_candidate_d: int,
    extra_bits: float,
) -> dict[str, Any] | None:
    try:
        from idtheory.compress import bound_for_run
    except Exception:  # optional here
        return None
    store = ctx.store
    delta = float(ctx.params["bound_delta"])
    if hasattr(store, "bounds"):
        for b in reversed(store.bounds(run_id=run_id)):
            st = b.get("settings") or {}
            if (
                st.get("levels") == levels
                and st.get("n_candidate_d") == n_candidate_d
                and math.isclose(float(st.get("extra_bits", -1)), extra_bits)
                and math.isclose(float(st.get("delta", -1)), delta)
            ):
                return b
    if not ctx.compute:
        ctx.note_missing(f"quantized ({levels} levels) bound of run {run_id}")
        return None
    try:
        return bound_for_run(
            run_id,
            store=store,
            levels=levels,
            delta=delta,
            n_candidate_d=n_candidate_d,
            extra_bits=extra_bits,
            data_dir=ctx.data_dir,
            save=hasattr(store, "put_bound"),
        )
    except (FileNotFoundError, ValueError) as exc:
        ctx.note_missing(f"quantized bound of run {run_id}: {exc}")
        return None


def bound_rows(ctx: FigureContext, gen: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Certified bounds for every run at d = d90 (each seed of the best lr), one row per run
    × bound (the table behind the bound figures).

    Two codes: the float32 θ_d as trained (``d·32`` bits, its own training error; no
    re-evaluation) and, when ``bound_levels`` is set, θ_d quantized to that many levels and
    arithmetic-coded (:func:`idtheory.compress.bound_for_run`, which measures the quantized
    model). Every bound is charged ``log2(n_candidate_d)`` bits for picking d90 among the
    evaluated d and ``log2(#subspace lrs)`` for the learning rate. Aghajanyan et al.'s
    ``ê + √(d/m)`` is shown for reference, flagged as not certified.
    """
    from idtheory.bounds import bound_report

    levels = ctx.params.get("bound_levels")
    delta = float(ctx.params["bound_delta"])
    extra = math.log2(len(set(ctx.params["subspace_lrs"])))
    out: list[dict[str, Any]] = []
    for g in gen:
        for rid in g["d90_run_ids"]:
            rec = ctx.store.get(rid)
            if rec is None or rec.get("status") != "ok" or not g.get("m"):
                continue
            acc_train = ((rec.get("metrics") or {}).get("train") or {}).get("accuracy")
            acc_dev = ((rec.get("metrics") or {}).get("dev") or {}).get("accuracy")
            if not (is_finite_number(acc_train) and is_finite_number(acc_dev)):
                continue
            common = {
                "run_id": rid,
                "checkpoint": g["checkpoint"],
                "step": g["step"],
                "task": g["task"],
                "method": g["method"],
                "d": int(g["d90"]),
                "m": g["m"],
            }
            report = bound_report(
                int(g["d90"]),
                int(g["m"]),
                1.0 - acc_train,
                delta=delta,
                n_candidate_d=int(g["n_candidate_d"]),
                extra_bits=extra,
            )
            for b in report:
                if b["name"] not in BOUNDS_SHOWN or b["code"] not in ("fp32", "-"):
                    continue
                code = "float32" if b["code"] == "fp32" else ""
                out.append(
                    {
                        **common,
                        "code": code or "-",
                        "bound_name": b["name"],
                        "label": BOUNDS_SHOWN[b["name"]] + (f", {code} θ_d" if code else ""),
                        "bound": b["bound"],
                        "certified": b["certified"],
                        "complexity_bits": b["complexity_bits"],
                        "train_error": 1.0 - acc_train,
                        "dev_error": 1.0 - acc_dev,
                    }
                )
            if not levels:
                continue
            q = _quantized_bound(ctx, rid, int(levels), int(g["n_candidate_d"]), extra)
            if q is None:
                continue
            for b in q["rows"]:
                if b["name"] in BOUNDS_SHOWN and b["certified"] and "arith" in str(b["code"]):
                    out.append(
                        {
                            **common,
                            "code": b["code"],
                            "bound_name": b["name"],
                            "label": f"{BOUNDS_SHOWN[b['name']]}, {levels}-level coded θ_d",
                            "bound": b["bound"],
                            "certified": b["certified"],
                            "complexity_bits": b["complexity_bits"],
                            "train_error": 1.0 - q["train_accuracy_quantized"],
                            "dev_error": 1.0 - q["dev_accuracy_quantized"],
                        }
                    )
    return out


# =============================================================================== Fastfood tour


def _device(name: str) -> Any:
    import torch

    if name in ("auto", "cuda") or name.startswith("cuda"):
        return torch.device(
            name
            if name != "auto" and torch.cuda.is_available()
            else ("cuda" if torch.cuda.is_available() else "cpu")
        )
    return torch.device(name)


def projection_image(d: int, D: int, seed: int = 0) -> Any:
    """The D × d matrix of a :class:`~idtheory.projection.FastfoodProjection` (numpy)."""
    from idtheory.projection import FastfoodProjection

    return FastfoodProjection(d, D, seed).materialize().numpy()


def projection_column_norms(
    d: int,
    D: int,
    kinds: Sequence[str] = ("fastfood", "dense", "sparse"),
    seed: int = 0,
) -> dict[str, Any]:
    """Column norms ‖P e_j‖ of materialized projections of each kind (skipping a kind whose
    matrix would not fit)."""
    from idtheory.projection import make_projection

    out = {}
    for kind in kinds:
        if D * d > 2**26:
            continue
        try:
            P = make_projection(kind, d, D, seed)
        except ValueError:
            continue
        out[kind] = P.materialize().norm(dim=0).numpy()
    return out


def _timeit(fn: Any, repeats: int, device: Any) -> float:
    import torch

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up (JIT compilation, caches)
    times = []
    for _ in range(max(1, repeats)):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def transform_cost_rows(
    Ds: Sequence[int],
    d: int,
    repeats: int = 3,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Median seconds of one FWHT of length L = 2^⌈log2 D⌉, one Fastfood product P·θ and its
    transpose Pᵀ·g, and (while D·d ≤ 2^24) a dense product, for each D."""
    import torch

    from idtheory.hadamard import fwht, next_power_of_two
    from idtheory.projection import DenseProjection, FastfoodProjection

    dev = _device(device)
    rows: list[dict[str, Any]] = []
    with torch.no_grad():
        for D in Ds:
            L = next_power_of_two(int(D))
            dd = min(int(d), int(D))
            x = torch.randn(L, device=dev)
            ops = {f"FWHT (length L = 2^⌈log2 D⌉), {dev.type}": lambda x=x: fwht(x)}
            P = FastfoodProjection(dd, int(D), seed=0, device=dev)
            th, g = torch.randn(dd, device=dev), torch.randn(int(D), device=dev)
            ops[f"Fastfood P·θ (d = {dd}), {dev.type}"] = lambda P=P, th=th: P(th)
            ops[f"Fastfood Pᵀ·g (d = {dd}), {dev.type}"] = lambda P=P, g=g: P.T(g)
            if D * dd <= 2**24:
                Q = DenseProjection(dd, int(D), seed=0, device=dev)
                ops[f"dense P·θ (d = {dd}), {dev.type}"] = lambda Q=Q, th=th: Q(th)
            for op, fn in ops.items():
                rows.append(
                    {
                        "D": int(D),
                        "L": L,
                        "d": dd,
                        "op": op,
                        "device": dev.type,
                        "seconds": _timeit(fn, repeats, dev),
                    }
                )
    return rows


def trainable_rows(
    models: Sequence[str],
    dim: int,
    subspace: Mapping[str, Any] | None = None,
    num_labels: int = 2,
) -> list[dict[str, Any]]:
    """What SAID and DID train for each model at d = ``dim``: θ_d entries, λ scales, directly
    trained head parameters, the projected size D and the number of λ groups."""
    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model

    kw = {k: v for k, v in (subspace or {}).items() if k not in ("dim", "method")}
    rows = []
    for name in models:
        for method in ("said", "did"):
            lm = load_model(name, num_labels=num_labels)
            try:
                sm = get_subspace_model(lm.model, SubspaceConfig(dim=dim, method=method, **kw))
            except ValueError as exc:
                print(f"{name} {method}: {exc}")
                continue
            s = sm.trainable_summary()
            rows.append(
                {
                    "model": name,
                    "method": method,
                    "dim": dim,
                    "theta_d": s["theta_d"],
                    "lambdas": s["lambdas"],
                    "head": s["head"],
                    "trainable": s["trainable"],
                    "projected": s["projected"],
                    "num_params": lm.num_params,
                    "groups": ", ".join(sm.group_names) if method == "said" else "",
                }
            )
    return rows


# =============================================================================== rendering


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
        4: ["fig4_accuracy_vs_d90", "fig5_gap_vs_d90", "bounds_vs_d90", "bounds_vs_dev_error"],
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
