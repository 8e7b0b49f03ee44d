"""What every figure notebook starts from: :func:`setup` resolves a scale and the notebook's
parameters into a :class:`FigureContext` (results store, trainer, directories, search options,
what is missing, stored measurements)."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idtheory.config import RunSpec, TrainConfig
from idtheory.scales import get_scale
from idtheory.search import search_run_spec
from idtheory.store import ResultsStore

#: How :meth:`FigureContext.report_missing` prints its list (read back by :func:`store_gaps`).
MISSING_HEADER, MISSING_ITEM = "Missing from", "  - "
#: Relative path of the paper's Table 1 values.
PAPER_TABLE1 = Path("data/paper/table1.csv")


# =============================================================================== context


def project_root() -> Path:
    """The idtheory checkout: the first directory upwards from the working directory holding
    ``pyproject.toml`` and ``idtheory/``, else the parent of the installed package."""
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").is_file() and (d / "idtheory").is_dir():
            return d
    return Path(__file__).resolve().parents[2]


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
        needed: the trainings the store-only searches stopped at, by run id — what computing
            would start now (filled when ``compute`` is False; a fallback reading that computing
            would not run, such as Figure 1's search mode behind a grid, adds nothing).
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
    needed: dict[str, RunSpec] = field(default_factory=dict)
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
        """The search's default trainer on :attr:`store` (θ_d saved for the compression bounds,
        checkpoints of trainings in progress; :func:`idtheory.search.default_train_fn`)."""
        from idtheory.search import default_train_fn

        return default_train_fn(self.store, self.progress, self.data_dir)

    def trainer(self, *, note_needed: bool = True) -> Any:
        """The trainer of every search here: :meth:`train_fn` when :attr:`compute`, else
        :class:`~idtheory.search.StoredRuns` — the same searches then only read the store, and
        the runs they stop at are noted in :attr:`needed` (unless ``note_needed`` is False: a
        fallback reading that computing would not run)."""
        if self.compute:
            return self.train_fn()
        from idtheory.search import StoredRuns

        return StoredRuns(self.store, on_missing=self.note_needed if note_needed else None)

    def note_needed(self, spec: RunSpec) -> None:
        """Record (once) a training a store-only search stopped at (:attr:`needed`)."""
        self.needed.setdefault(spec.config_hash(), spec)

    def base_train(self, *, trend: bool = False) -> TrainConfig:
        """The :class:`TrainConfig` of every training (lr and seed replaced per run); with
        ``trend`` (Figures 2–5) the scale's ``trend_train`` entries override ``train``."""
        p = self.params
        train = dict(p["train"])
        if trend:
            train.update(p.get("trend_train") or {})
        return TrainConfig(device=p["device"], metric=p["metric"], **train)

    def run_spec(
        self,
        model: str,
        task: str,
        method: str = "full",
        dim: int | None = None,
        *,
        lr: float,
        seed: int = 0,
        **train: Any,
    ) -> RunSpec:
        """The training of ``model`` on ``task`` this scale's Figure 1 searches run at ``lr``,
        ``seed`` (and ``dim`` for ``"said"``/``"did"``), with ``train`` replacing further
        :class:`TrainConfig` fields (e.g. ``precision="bf16"``): the same run id as the
        search's run when ``train`` is empty."""
        spec = search_run_spec(
            model,
            task,
            method,
            dim,
            base_train=self.base_train(),
            lr=lr,
            seed=seed,
            subspace_kwargs=self.params["subspace"],
        )
        return spec.with_(**{f"train.{k}": v for k, v in train.items()}) if train else spec

    def subspace_lrs(self, d: int) -> list[float]:
        """The learning rates this scale's Figure 1 searches train dimension ``d`` at
        (``subspace_lrs``, or ``subspace_lrs_from``'s from its d on)."""
        from idtheory.search import subspace_lrs_at

        return subspace_lrs_at(d, self.params["subspace_lrs"], self.params["subspace_lrs_from"])

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
        if not trend and p.get("subspace_lrs_from"):
            opts["subspace_lrs_from"] = {
                int(d): [float(x) for x in lrs] for d, lrs in p["subspace_lrs_from"].items()
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
        """None for the local executor (the library default), else an executor object running
        at most ``workers`` trainings at once (None: the executor's default)."""
        name = self.params.get("executor") or "local"
        if name == "local":
            return None
        from idtheory.executors import get_executor

        return get_executor(name, max_parallel=self.params.get("workers"))

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
