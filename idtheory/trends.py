"""The trend experiments of the paper, built on :mod:`idtheory.search`: d90 during
pre-training (:func:`pretraining_trend`, Figure 2) and against the parameter count
(:func:`size_trend` and :func:`fit_loglog`, Figure 3), and the public models they use at paper
scale (:data:`PUBLIC_SIZE_MODELS`, :data:`PUBLIC_CHECKPOINT_SUITES`,
:func:`check_sequence_classifier`).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from idtheory.config import RunSpec, TrainConfig
from idtheory.pretrain.checkpoints import checkpoint_step, list_checkpoints
from idtheory.search import (
    DEFAULT_FULL_LRS,
    PARTIAL,
    Executor,
    LocalExecutor,
    best_cell,
    default_train_fn,
    measure_d90,
    resolve_floor,
    score_cells,
    status_reason,
    train_records,
)
from idtheory.store import ResultsStore, TrainFn, is_finite_number
from idtheory.tasks import get_task, scored_dev_majority

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = [
    "MISSING",
    "PUBLIC_CHECKPOINT_SUITES",
    "PUBLIC_SIZE_MODELS",
    "UNABLE",
    "CheckpointSuite",
    "LogLogFit",
    "NotASequenceClassifier",
    "SizeTrend",
    "check_sequence_classifier",
    "fit_loglog",
    "fit_rows",
    "pretraining_trend",
    "run_baseline",
    "size_trend",
]

# =========================================================================== trend experiments

UNABLE = "unable to compute"
"""Row status of a checkpoint whose full fine-tuning does not beat the majority-class dev score
(or fails altogether): no d90 is measured (Figure 2's missing early points)."""

MISSING = "missing"
"""Row status of a cell the store holds only part of, read with the store-only trainer
(:class:`~idtheory.search.StoredRuns`); ``reason`` says which part is missing."""


def run_baseline(
    model: str,
    task: str,
    *,
    store: ResultsStore,
    train_fn: TrainFn,
    executor: Executor | None,
    full_lrs: Iterable[float],
    seeds: Iterable[int],
    base_train: TrainConfig | None,
    metric: str,
    progress: bool,
) -> tuple[float | None, list[dict[str, Any] | None]]:
    """The full fine-tuning baseline exactly as :func:`idtheory.search.measure_d90` runs it (same
    specs and the same scoring, so its records are reused by the d90 search): best lr of the
    mean over seeds, or None when no run has status "ok" or one is not stored (its record is
    then None: a store-only trainer). The trainings run on ``executor`` as the search's do
    (:func:`idtheory.search.train_records`)."""
    base = base_train if base_train is not None else TrainConfig(metric=metric)
    lrs = tuple(dict.fromkeys(float(lr) for lr in full_lrs))
    seeds_t = tuple(dict.fromkeys(int(s) for s in seeds))
    spec0 = RunSpec(model=model, task=task, train=base)
    specs = [spec0.with_(**{"train.lr": lr, "train.seed": s}) for lr in lrs for s in seeds_t]
    ex = executor if executor is not None else LocalExecutor(progress=progress)
    if isinstance(ex, LocalExecutor):
        ex.desc = f"{model}/{task} full fine-tuning"
    records = train_records(store, train_fn, ex, specs)
    stored = [r for r in records if r is not None]
    if len(stored) < len(records) or not any(r.get("status") == "ok" for r in stored):
        return None, records
    return best_cell(score_cells(specs, stored, metric)).score, records


def _dev_majority(
    task: str,
    metric: str,
    data_dir: str | os.PathLike[str] | None,
    base_train: TrainConfig | None,
) -> float:
    """The majority-class ``metric`` of ``task`` on the dev examples a training with
    ``base_train`` scores (:func:`idtheory.tasks.scored_dev_majority`)."""
    n = (base_train if base_train is not None else TrainConfig()).max_eval_examples
    return scored_dev_majority(task, metric, data_dir, n)


def _measure_row(
    model: str,
    task: str,
    method: str,
    *,
    store: ResultsStore,
    train_fn: TrainFn,
    majority: float,
    majority_margin: float,
    progress: bool,
    search_kwargs: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One (model, task) cell of a trend: baseline, majority check, then d90 if computable;
    returned with the baseline's records. With a store-only trainer a cell whose baseline or
    search the store lacks gets status :data:`MISSING`."""
    metric = search_kwargs.get("metric", "accuracy")
    baseline, maybe = run_baseline(
        model,
        task,
        store=store,
        train_fn=train_fn,
        executor=search_kwargs.get("executor"),
        full_lrs=search_kwargs.get("full_lrs", DEFAULT_FULL_LRS),
        seeds=search_kwargs.get("seeds", (0,)),
        base_train=search_kwargs.get("base_train"),
        metric=metric,
        progress=progress,
    )
    records = [r for r in maybe if r is not None]
    row: dict[str, Any] = {
        "task": task,
        "method": method,
        "metric": metric,
        "d90": None,
        "bracket": None,
        "baseline": baseline,
        "majority": majority,
        "threshold": None,
        "status": UNABLE,
        "reason": "",
        "summary_id": None,
    }
    if len(records) < len(maybe):
        row.update(status=MISSING, reason="full fine-tuning baseline not in the store")
        return row, records
    if baseline is None:
        row["reason"] = "no full fine-tuning run succeeded"
        return row, records
    if not baseline > majority + majority_margin:
        row["reason"] = (
            f"full fine-tuning dev {metric} {baseline:.4f} does not beat the majority class "
            f"({majority:.4f}{f' + margin {majority_margin}' if majority_margin else ''})"
        )
        return row, records
    if isinstance(search_kwargs.get("floor"), str):
        floor = resolve_floor(
            search_kwargs["floor"], majority, baseline, search_kwargs.get("frac", 0.9)
        )
        search_kwargs = {**search_kwargs, "floor": floor}
    res = measure_d90(
        model, task, method, store=store, train_fn=train_fn, progress=progress, **search_kwargs
    )
    if res.status == PARTIAL:
        row.update(status=MISSING, reason="d90 search not in the store")
        return row, records
    row.update(
        d90=res.d90,
        bracket=list(res.bracket),
        baseline=res.baseline_score,
        threshold=res.threshold,
        status=res.status,
        reason=status_reason(res.status),
        summary_id=res.summary_id,
    )
    return row, records


def _infer_step(name: str) -> int | None:
    """Update count from a checkpoint name: ``checkpoint-2000`` → 2000, MultiBERTs
    ``…step_20k`` → 20000, Pythia ``step143000`` → 143000; None if absent."""
    step = checkpoint_step(name)
    if step is not None:
        return step
    for text in (Path(name).name, name):
        m = re.search(r"step[_-]?(\d+)(k?)\b", text)
        if m:
            return int(m.group(1)) * (1000 if m.group(2) else 1)
    return None


def _normalize_checkpoints(
    checkpoints: str | os.PathLike[str] | Iterable[str | os.PathLike[str] | tuple[int, Any]],
) -> list[tuple[int | None, str]]:
    if isinstance(checkpoints, (str, os.PathLike)):
        found = list_checkpoints(checkpoints)
        if not found:
            raise ValueError(f"no complete checkpoint-<step> directory in {checkpoints}")
        return [(s, str(p)) for s, p in found]
    out: list[tuple[int | None, str]] = []
    for item in checkpoints:
        if isinstance(item, tuple):
            step, name = item
            out.append((None if step is None else int(step), os.fspath(name)))
        else:
            name = os.fspath(item)
            out.append((_infer_step(name), name))
    return out


def _majorities(
    tasks: Sequence[str],
    metric: str,
    majority: Mapping[str, float] | None,
    data_dir: str | os.PathLike[str] | None,
    base_train: TrainConfig | None,
) -> dict[str, float]:
    """Task → majority score: given in ``majority``, else :func:`_dev_majority`."""
    given = {get_task(k).name: float(v) for k, v in (majority or {}).items()}
    return {
        t: given[t] if t in given else _dev_majority(t, metric, data_dir, base_train) for t in tasks
    }


def pretraining_trend(
    checkpoints: str | os.PathLike[str] | Iterable[str | os.PathLike[str] | tuple[int, Any]],
    tasks: str | Iterable[str],
    method: str = "said",
    *,
    store: ResultsStore,
    train_fn: TrainFn | None = None,
    majority_margin: float = 0.0,
    majority: Mapping[str, float] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **search_kwargs: Any,
) -> list[dict[str, Any]]:
    """d90 at every checkpoint × task (Figure 2): one tidy row per cell, none dropped.

    For each cell the full fine-tuning baseline is run first (the same runs as
    :func:`~idtheory.search.measure_d90`'s step 1, cached in ``store``); if it does not beat the
    majority-class dev score by more than ``majority_margin`` (or no baseline run succeeds) the
    row gets status :data:`UNABLE` and no subspace training is spent on it; otherwise
    ``measure_d90(checkpoint, task, method, store=store, train_fn=train_fn, **search_kwargs)``
    gives d90 (statuses ``"ok"``, ``"passes_at_smallest"``, ``"never_passes"``).

    Args:
        checkpoints: a pre-training ``out_dir`` (its :func:`list_checkpoints`), or a list of
            checkpoint directories / hub ids (step read from ``checkpoint-<n>``, ``step_<n>k`` or
            ``step<n>`` in the name, else None), or of ``(step, name)`` pairs.
        tasks: task name(s); rows use canonical names.
        method: ``"said"`` or ``"did"``.
        store / train_fn / search_kwargs: as for :func:`~idtheory.search.measure_d90` (the
            default trainer, :func:`~idtheory.search.default_train_fn`, reads ``data_dir``);
            ``floor="majority"`` / ``"auto"`` are resolved per task by
            :func:`~idtheory.search.resolve_floor` (chance-corrected d90: the threshold is
            ``majority + frac × (baseline − majority)``; "auto" only where the paper's
            ``frac × baseline`` is at or below the majority score).
        majority_margin: required margin over the majority score (same units as the metric).
        majority: task → majority score, overriding the one computed from the dev labels the
            trainer scores (``base_train.max_eval_examples`` of them, drawn with seed 0, or all).
        data_dir: local task data (for the majority score and the default trainer).

    Returns:
        Rows ``{"checkpoint", "step", "task", "method", "metric", "d90", "bracket" ([lo, hi] or
        None), "baseline", "majority", "threshold", "status", "reason", "summary_id"}`` in
        checkpoint-major order (sorted by step when ``checkpoints`` is a directory).
    """
    task_list = (
        [get_task(tasks).name] if isinstance(tasks, str) else [get_task(t).name for t in tasks]
    )
    metric = search_kwargs.get("metric", "accuracy")
    cells = _normalize_checkpoints(checkpoints)
    majorities = _majorities(task_list, metric, majority, data_dir, search_kwargs.get("base_train"))
    fn = train_fn if train_fn is not None else default_train_fn(store, progress, data_dir)
    rows: list[dict[str, Any]] = []
    for step, name in cells:
        for task in task_list:
            row, _ = _measure_row(
                name,
                task,
                method,
                store=store,
                train_fn=fn,
                majority=majorities[task],
                majority_margin=majority_margin,
                progress=progress,
                search_kwargs=search_kwargs,
            )
            rows.append({"checkpoint": name, "step": step, **row})
    return rows


@dataclass(frozen=True)
class LogLogFit:
    """Least-squares line ``log10(d90) = intercept + slope · log10(n_params)``.

    Attributes:
        slope / intercept: the fitted line (decimal logs; ``10**intercept`` is the d90 predicted
            at one parameter).
        slope_stderr / intercept_stderr: their standard errors.
        r2: coefficient of determination; pvalue: two-sided test of slope = 0.
        slope_ci95: 95 % confidence interval of the slope (Student t, n − 2 degrees of freedom).
        n: number of points.
    """

    slope: float
    intercept: float
    slope_stderr: float
    intercept_stderr: float
    r2: float
    pvalue: float
    slope_ci95: tuple[float, float]
    n: int

    def predict(self, n_params: float | np.ndarray) -> float | np.ndarray:
        """d90 predicted by the line at ``n_params``."""
        return 10.0 ** (self.intercept + self.slope * np.log10(n_params))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["slope_ci95"] = list(self.slope_ci95)
        return d


def fit_loglog(n_params: Sequence[float], d90: Sequence[float]) -> LogLogFit:
    """Fit ``log10 d90`` against ``log10 n_params`` (``scipy.stats.linregress``).

    Raises:
        ValueError: fewer than 3 points, lengths differ, non-positive or non-finite values, or
            all ``n_params`` equal.
    """
    from scipy import stats

    x = np.asarray(n_params, dtype=np.float64)
    y = np.asarray(d90, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"n_params and d90 must be 1-D of equal length, got {x.shape}, {y.shape}")
    if x.size < 3:
        raise ValueError(f"fit_loglog needs at least 3 points, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("n_params and d90 must be finite and positive")
    lx, ly = np.log10(x), np.log10(y)
    if np.ptp(lx) == 0:
        raise ValueError("all n_params are equal: the slope is undefined")
    res = stats.linregress(lx, ly)
    t = float(stats.t.ppf(0.975, x.size - 2))
    slope, se = float(res.slope), float(res.stderr)
    return LogLogFit(
        slope=slope,
        intercept=float(res.intercept),
        slope_stderr=se,
        intercept_stderr=float(res.intercept_stderr),
        r2=float(res.rvalue) ** 2,
        pvalue=float(res.pvalue),
        slope_ci95=(slope - t * se, slope + t * se),
        n=int(x.size),
    )


class SizeTrend(NamedTuple):
    """Result of :func:`size_trend`: the rows and the log-log fit (None with < 3 usable rows)."""

    rows: list[dict[str, Any]]
    fit: LogLogFit | None


def size_trend(
    models: Iterable[str] | Mapping[str, int | None],
    task: str = "mrpc",
    method: str = "said",
    *,
    store: ResultsStore,
    train_fn: TrainFn | None = None,
    majority_margin: float = 0.0,
    majority: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    check_classifiers: bool = False,
    fit_statuses: Sequence[str] = ("ok",),
    progress: bool = True,
    **search_kwargs: Any,
) -> SizeTrend:
    """d90 against parameter count (Figure 3): one row per model, and a log-log fit.

    Each model is measured as in :func:`pretraining_trend` (baseline, majority check, then
    :func:`~idtheory.search.measure_d90`). The parameter count is the value given in ``models``
    (a mapping name → count) or else the ``num_params`` reported by the baseline records (the
    trainer's D of the sequence-classification model).

    Args:
        models: names / directories / hub ids, or a mapping to known parameter counts.
        task, method, store, train_fn, search_kwargs: as for :func:`pretraining_trend`.
        majority: majority score of ``task`` (default: computed from the dev labels the
            trainer scores, as in :func:`pretraining_trend`).
        data_dir: local task data (for the majority score and the default trainer).
        check_classifiers: run :func:`check_sequence_classifier` on every model first (needs
            each model's config: a local directory, the hub cache or network).
        fit_statuses: row statuses used by the fit (default only ``"ok"``: a
            ``"passes_at_smallest"`` d90 is only an upper bound).

    Returns:
        ``SizeTrend(rows, fit)``; rows ``{"model", "n_params", "task", "method", "metric", "d90",
        "bracket", "baseline", "majority", "threshold", "status", "reason", "summary_id"}``.
    """
    items = list(models.items()) if isinstance(models, Mapping) else [(m, None) for m in models]
    if check_classifiers:
        for name, _ in items:
            check_sequence_classifier(name)
    task_name = get_task(task).name
    metric = search_kwargs.get("metric", "accuracy")
    maj = (
        float(majority)
        if majority is not None
        else _dev_majority(task_name, metric, data_dir, search_kwargs.get("base_train"))
    )
    fn = train_fn if train_fn is not None else default_train_fn(store, progress, data_dir)
    rows: list[dict[str, Any]] = []
    for name, count in items:
        row, records = _measure_row(
            name,
            task_name,
            method,
            store=store,
            train_fn=fn,
            majority=maj,
            majority_margin=majority_margin,
            progress=progress,
            search_kwargs=search_kwargs,
        )
        if count is None:
            reported = [
                int(r["num_params"]) for r in records if is_finite_number(r.get("num_params"))
            ]
            count = max(reported) if reported else None
        rows.append({"model": name, "n_params": count, **row})
    fit = fit_rows(rows, fit_statuses)
    if fit is None:
        warnings.warn(
            f"size_trend: no log-log fit: it needs 3 models with a d90 of status "
            f"{list(fit_statuses)} and two parameter counts",
            stacklevel=2,
        )
    return SizeTrend(rows=rows, fit=fit)


def fit_rows(rows: Sequence[Mapping[str, Any]], statuses: Sequence[str]) -> LogLogFit | None:
    """:func:`fit_loglog` over the rows of :func:`size_trend` with a status in ``statuses`` and
    a finite d90 and parameter count; None with fewer than 3 such rows or a single count."""
    use = [
        r
        for r in rows
        if r.get("status") in statuses
        and is_finite_number(r.get("d90"))
        and is_finite_number(r.get("n_params"))
    ]
    if len(use) < 3 or len({r["n_params"] for r in use}) < 2:
        return None
    return fit_loglog([r["n_params"] for r in use], [r["d90"] for r in use])


# =========================================================================== public models

PUBLIC_SIZE_MODELS: tuple[str, ...] = (
    "google-bert/bert-base-uncased",
    "google-bert/bert-large-uncased",
    "FacebookAI/roberta-base",
    "FacebookAI/roberta-large",
    "google/electra-small-discriminator",
    "google/electra-base-discriminator",
    "google/electra-large-discriminator",
    "albert/albert-base-v2",
    "albert/albert-large-v2",
    "albert/albert-xlarge-v2",
    "facebook/bart-base",
    "facebook/bart-large",
    "xlnet/xlnet-base-cased",
    "xlnet/xlnet-large-cased",
    "google-t5/t5-small",
    "google-t5/t5-base",
    "google-t5/t5-large",
    "FacebookAI/xlm-roberta-base",
    "FacebookAI/xlm-roberta-large",
    "microsoft/deberta-v3-small",
    "microsoft/deberta-v3-base",
    "microsoft/deberta-v3-large",
    "answerdotai/ModernBERT-base",
    "answerdotai/ModernBERT-large",
)
"""Hugging Face hub ids for the paper-scale Figure 3 (the paper's families BERT, RoBERTa, BART,
ELECTRA, ALBERT, XLNet, T5, XLM-R, plus DeBERTa-v3 and ModernBERT), ≈ 12 M (ALBERT-base) to
≈ 740 M (T5-large) parameters. Every one loads with ``AutoModelForSequenceClassification``
(ELECTRA: the discriminators; T5: ``T5ForSequenceClassification``, encoder-decoder with an EOS
pooled head; BART likewise; XLNet: last-token summary). Use their true counts from the trainer's
records, not nominal sizes. Needs network or a filled hub cache."""


@dataclass(frozen=True)
class CheckpointSuite:
    """A public series of intermediate pre-training checkpoints (Figure 2 at paper scale).

    Attributes:
        name: short name.
        repos: hub repository id per seed / model size (``{seed}`` / ``{step}`` templates filled
            by :meth:`references`).
        steps: the available updates.
        revision_template: ``None`` when each step is its own repository, else the git revision
            name of a step (``"step{step}"`` for Pythia).
        description: provenance and caveats.
    """

    name: str
    repos: tuple[str, ...]
    steps: tuple[int, ...]
    revision_template: str | None
    description: str

    def references(self, repo_index: int = 0) -> list[tuple[int, str, str | None]]:
        """``[(step, repo_id, revision or None), …]`` for one repository template.

        When ``revision`` is not None, download the snapshot first
        (``huggingface_hub.snapshot_download(repo_id, revision=revision)``) and pass its local
        directory to :func:`pretraining_trend`; :func:`idtheory.models.load_model` takes no
        revision.
        """
        template = self.repos[repo_index]
        out: list[tuple[int, str, str | None]] = []
        for step in self.steps:
            if self.revision_template is None:
                out.append((step, template.format(step_k=step // 1000), None))
            else:
                out.append((step, template, self.revision_template.format(step=step)))
        return out


_MULTIBERTS_STEPS = tuple(range(0, 200_001, 20_000)) + tuple(range(300_000, 2_000_001, 100_000))
_PYTHIA_STEPS = (0, *(2**i for i in range(10)), *range(1000, 143_001, 1000))

PUBLIC_CHECKPOINT_SUITES: dict[str, CheckpointSuite] = {
    "multiberts": CheckpointSuite(
        name="multiberts",
        repos=tuple(f"google/multiberts-seed_{s}-step_{{step_k}}k" for s in range(5)),
        steps=_MULTIBERTS_STEPS,
        revision_template=None,
        description=(
            "MultiBERTs (Sellam et al. 2022): BERT-base uncased reproductions (MLM + NSP, 2M "
            "steps, batch 256, seq. 512); seeds 0–4 have intermediate checkpoints, one "
            "repository each (google/multiberts-seed_<s>-step_<k>k), every 20k steps up to 200k "
            "then every 100k to 2000k. The model cards count 28 intermediate checkpoints per "
            "seed; check the exact list on the hub. BertForPreTraining weights: the "
            "classification head is new."
        ),
    ),
    "pythia": CheckpointSuite(
        name="pythia",
        repos=tuple(
            f"EleutherAI/pythia-{size}"
            for size in ("14m", "70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b")
        ),
        steps=_PYTHIA_STEPS,
        revision_template="step{step}",
        description=(
            "Pythia (Biderman et al. 2023): GPT-NeoX decoder-only LMs on the Pile; 154 revisions "
            "per model (step0, log-spaced step1…step512, then every 1000 to step143000), as git "
            "revisions of one repository. GPTNeoXForSequenceClassification pools the last "
            "non-pad token and needs a pad token (set tokenizer.pad_token = eos_token). A "
            "causal LM, not the paper's masked-LM setting; '-deduped' variants also exist."
        ),
    ),
}
"""Public intermediate-checkpoint suites usable with :func:`pretraining_trend`."""


class NotASequenceClassifier(ValueError):
    """A model has no ``AutoModelForSequenceClassification`` class in transformers."""


def check_sequence_classifier(name_or_config: str | os.PathLike[str] | PretrainedConfig) -> str:
    """Check that a model loads with ``AutoModelForSequenceClassification``; return the class
    name (e.g. ``"RobertaForSequenceClassification"``).

    Accepts a ``PretrainedConfig``, an alias of :func:`idtheory.models.model_aliases` (always
    fine), a local directory with a ``config.json``, or a hub id (its config is fetched, or read
    from the cache when ``HF_HUB_OFFLINE`` is set).

    Raises:
        NotASequenceClassifier: the architecture has no sequence-classification head in
            transformers (e.g. ViT, CLIP, Marian, Pegasus); the message names the model type.
        idtheory.models.ModelNotFound: the config cannot be obtained.
    """
    from transformers import AutoConfig, PretrainedConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    from idtheory.models import ModelNotFound, hub_offline, model_aliases

    if isinstance(name_or_config, PretrainedConfig):
        config = name_or_config
        label = f"config of type {type(config).__name__}"
    else:
        name = os.fspath(name_or_config)
        aliases = {a.lower() for a in model_aliases()}
        if name.strip().lower() in aliases:
            return "AutoModelForSequenceClassification (built-in alias)"
        label = repr(name)
        try:
            config = AutoConfig.from_pretrained(name, local_files_only=hub_offline())
        except (OSError, ValueError) as exc:
            raise ModelNotFound(
                f"cannot read the config of {name!r} to check its head ({type(exc).__name__}: "
                f"{exc})"
            ) from exc
    model_type = getattr(config, "model_type", None)
    cls = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES.get(model_type or "")
    if cls is None:
        raise NotASequenceClassifier(
            f"{label} (model_type {model_type!r}) has no sequence-classification head in "
            "transformers (AutoModelForSequenceClassification does not support it), so its "
            "d90 cannot be measured by fine-tuning a classifier. Pick an encoder, "
            "encoder-decoder or decoder model with a *ForSequenceClassification class (see "
            "PUBLIC_SIZE_MODELS)."
        )
    return cls
