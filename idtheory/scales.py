"""Scale presets of the figure notebooks (no torch import).

Four presets: ``smoke`` (plumbing, seconds), ``quick`` (this CPU, 1,000-example subsets),
``real`` (real pretrained models at real data sizes, Figure 1 and Table 1 only) and ``paper``
(the paper's models on GPUs).

A scale is a **parameter preset, not a code path**: every notebook runs the same library
functions at every scale, only with different models, tasks, grids, learning rates, data
slices and devices. :func:`get_scale` returns a copy of a preset with overrides applied; the
notebooks' ``parameters`` cell overrides any key by name (``None`` keeps the preset's value).

Keys of a preset (all JSON-serialisable, so papermill can inject them):

* ``description`` — one line.
* ``notebooks`` — the notebook numbers a render of this scale executes (None: all).
* ``models`` / ``tasks`` / ``methods`` / ``dims`` — Figure 1 and Table 1: every model × task ×
  method is trained on the grid ``dims`` (grid mode of :func:`idtheory.search.measure_d90`), or,
  with ``dims`` None, searched for d90 (search mode, the ``search`` settings below).
* ``floors`` — the d90 thresholds of Figure 1 and Table 1: one search per entry and cell,
  ``0`` (the paper's ``frac × baseline``) or ``"majority"`` (chance-corrected:
  ``majority + frac × (baseline − majority)``, the majority-class score of the dev examples the
  trainer scores), or a number (the floor itself). The searches share their trainings (the one
  at the higher threshold reuses every stored run of the other); their summaries name the
  threshold (``threshold_kind``).
* ``full_lrs`` / ``subspace_lrs`` / ``seeds`` — the learning rates and training seeds of every
  d90 measurement (baseline and subspace; see :mod:`idtheory.search` for how they combine).
  ``subspace_lrs_from`` — None, or ``{d_from: lrs}``: the subspace learning rates from
  dimension ``d_from`` on (the largest ``d_from`` ≤ d wins), for searches that reach d where
  ``subspace_lrs`` diverge or fall behind (the real scale: ``{5120: [0.03, 0.1], 81920: [0.01,
  0.03]}``, measured on MiniLM-L6).
* ``train`` — :class:`~idtheory.config.TrainConfig` fields (except ``lr``, ``seed``, ``device``).
* ``device`` — ``"cpu"``, ``"cuda"`` or ``"auto"``; ``executor`` — ``"local"``, ``"process"``
  (one worker process per CPU, one thread each) or ``"ray"``; ``workers`` — trainings at once
  under the process or Ray executor (None: one per CPU, or Ray's cluster), e.g. 1 on a machine
  whose other core is busy;
  ``threads`` — torch (and numba) CPU threads of the notebook process (None: leave as is). The
  smoke scale uses 1: on a CPU shared with other jobs, two OpenMP threads on tiny models cost
  more CPU time than one (``benchmarks/cpu-dev-machine.md``).
* ``subspace`` — :class:`~idtheory.config.SubspaceConfig` fields (except ``dim``, ``method``).
* ``search`` — ``d_min``, ``d_max``, ``grid_factor``, ``bracket_ratio`` (and optionally
  ``d_floor``: search below a ``d_min`` that already passes) of the d90 searches in search mode;
  ``frac`` (0.9) and ``metric`` (accuracy) of every d90.
* ``majority_margin`` — a checkpoint whose full fine-tuning does not beat the majority class by
  more than this is "unable to compute" (Figure 2). ``smoke`` uses −1, which disables the check:
  random tiny models never beat the majority class, and the smoke scale must run every path.
* ``trend_full_lrs`` / ``trend_subspace_lrs`` / ``trend_train`` — learning rates and
  ``train`` overrides of Figures 2–5 (the from-scratch and size-trend models), replacing
  ``full_lrs`` / ``subspace_lrs`` / entries of ``train`` when set. ``trend_floor``: the d90
  threshold floor of those searches (0 or None: the paper's ``frac × baseline``;
  ``"majority"``: ``majority + frac × (baseline − majority)``, chance-corrected; ``"auto"``: the
  chance-corrected threshold only where the paper's is at or below the majority score).
* ``trend_method`` / ``trend_tasks`` / ``checkpoints`` / ``trend_max_step`` / ``trend_stride`` —
  Figure 2 (and the checkpoints of Figures 4–5). ``checkpoints`` is a *model source*:
  ``{"pretrain_dir": DIR, "preset": NAME}`` (checkpoints written by :func:`idtheory.pretrain.
  pretrain`, optionally only ``"steps": [...]`` of them; pre-trained with ``pretrain`` +
  ``corpus`` when ``compute`` is True and ``DIR`` lacks them),
  ``{"suite": "multiberts", "max_step": N}`` (public checkpoints,
  :data:`idtheory.trends.PUBLIC_CHECKPOINT_SUITES`) or a list of directories / hub ids.
* ``pretrain`` / ``corpus`` — :class:`~idtheory.pretrain.PretrainConfig` fields and
  :func:`~idtheory.pretrain.build_corpus` arguments used when a checkpoint run must be created.
* ``size_task`` / ``size_models`` / ``fit_statuses`` — Figure 3. Entries of ``size_models`` are
  model names, ``{"pretrain_dir": DIR, "preset": NAME}`` (the run's last checkpoint, or its
  ``"step": N``), or
  ``"@public"`` (:data:`idtheory.trends.PUBLIC_SIZE_MODELS`).
* ``size_reference`` — further series of Figure 3 read from the store: ``{"scale": NAME,
  "task": T, "method": M}`` (or a list of such) plots the d90 of every model of scale NAME's
  Figure 1 searches on task T with method M under the paper's threshold (finished searches
  only; the same search code with the store-only trainer) against the model's parameter count,
  outside the fit; None: no further series. The quick scale shows the ``real`` scale's
  pretrained models twice beside its from-scratch family: on MRPC (the paper's Figure 3
  convention) and on SST-2 (the family's task), both with SAID.
* ``gen_source`` — Figures 4–5 plot the accuracies of the full fine-tuning of each checkpoint
  (``"full"``, default) or of its subspace training at d = d90 (``"d90"``).
* ``bound_levels`` / ``bound_delta`` — certified bounds of Figure "bounds": δ, and the number
  of quantization levels for :func:`idtheory.compress.bound_for_run` (None: only the float32
  code, which needs no re-evaluation).
* ``fastfood`` — sizes of notebook 5's illustrations and timings.
* ``paper_labels`` — our model name → the paper's Table 1 row it reproduces.
* ``results_dir`` — the results store (relative to the project root); ``compute`` — whether the
  notebooks run missing trainings (True) or only render what is stored (False).

Path values may contain ``{results_dir}``, resolved by :func:`idtheory.figures.resolve_path`.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["SCALES", "SCALE_NAMES", "get_scale", "scale_keys"]

_PAPER_SUBSPACE: dict[str, Any] = {
    "projection": "fastfood",
    "layout": "global",
    "scaling": "block",
    "train_head": False,
    "grad_scale": "exact",
}

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "description": "random 2-layer tiny models, 64 train / 64 dev examples, 1 epoch, CPU: "
        "exercises every code path in about a minute; the numbers mean nothing",
        "models": ["tiny-bert", "tiny-roberta"],
        "tasks": ["mrpc"],
        "methods": ["said", "did"],
        "floors": [0],
        "dims": [16, 256],
        "full_lrs": [1e-3],
        "subspace_lrs": [1e-2],
        "subspace_lrs_from": None,
        "seeds": [0],
        "train": {
            "epochs": 1.0,
            "batch_size": 32,
            "max_length": 64,
            "max_train_examples": 64,
            "max_eval_examples": 64,
            "precision": "fp32",
        },
        "device": "cpu",
        "executor": "local",
        "workers": None,
        "threads": 1,
        "subspace": dict(_PAPER_SUBSPACE),
        "search": {"d_min": 16, "d_max": 64, "grid_factor": 4.0, "bracket_ratio": 4.0},
        "frac": 0.9,
        "metric": "accuracy",
        "majority_margin": -1.0,
        "trend_method": "said",
        "trend_tasks": ["mrpc", "sst2"],
        "trend_full_lrs": None,
        "trend_subspace_lrs": None,
        "trend_train": None,
        "trend_floor": None,
        "checkpoints": {"pretrain_dir": "{results_dir}/pretrain-xs", "preset": "xs"},
        "trend_max_step": None,
        "trend_stride": 1,
        "pretrain": {
            "hidden": 32,
            "heads": 2,
            "ffn": 64,
            "vocab_size": 1000,
            "max_length": 64,
            "batch_size": 8,
            "steps": 6,
            "save_every": 3,
            "eval_blocks": 0,
            "log_every": 1,
            "device": "cpu",
            "num_threads": 1,
        },
        "corpus": {"source": "glue", "max_lines": 2000},
        "size_task": "mrpc",
        "size_models": [
            "tiny-bert",
            "tiny-roberta",
            {"pretrain_dir": "{results_dir}/pretrain-xs", "preset": "xs"},
        ],
        "fit_statuses": ["ok", "passes_at_smallest"],
        "size_reference": None,
        "gen_source": "full",
        "bound_levels": 16,
        "bound_delta": 0.05,
        "fastfood": {
            "image_d": 24,
            "image_D": 96,
            "norms_d": 32,
            "norms_D": 1000,
            "cost_Ds": [2**10, 2**12, 2**14],
            "cost_d": 32,
            "repeats": 2,
            "said_dim": 64,
        },
        "paper_labels": {},
        "results_dir": "build/smoke-results",
        "compute": True,
    },
    "quick": {
        "description": "this 2-core CPU, offline: all-MiniLM-L6-v2 and a from-scratch RoBERTa "
        "family on local GLUE data (SST-2, MRPC); renders what the results store "
        "holds (compute=True trains what is missing: hours)",
        "models": ["minilm-l6"],
        "tasks": ["sst2", "mrpc"],
        "methods": ["said", "did"],
        "floors": [0],
        "dims": [10, 40, 160, 640, 2560, 10240],
        "full_lrs": [1e-4, 5e-5],
        "subspace_lrs": [0.1, 0.3],
        "subspace_lrs_from": None,
        "seeds": [0],
        "train": {
            "epochs": 3.0,
            "batch_size": 32,
            "max_length": 128,
            "max_train_examples": 1000,
            "max_eval_examples": None,
            # pinned: the store's runs were trained in fp32 ("auto" would resolve per machine)
            "precision": "fp32",
        },
        "device": "cpu",
        # compute=True: one single-threaded training per CPU core at a time
        "executor": "process",
        "workers": None,
        "threads": None,
        "subspace": dict(_PAPER_SUBSPACE),
        "search": {"d_min": 10, "d_max": 100_000, "grid_factor": 4.0, "bracket_ratio": 1.5},
        "frac": 0.9,
        "metric": "accuracy",
        # A from-scratch baseline must beat the majority class by 5 points (≈ 2 binomial standard
        # errors of MRPC's 408 dev examples) for its d90 to mean anything.
        "majority_margin": 0.05,
        "trend_method": "said",
        "trend_tasks": ["sst2", "mrpc"],  # ANLI has no offline train split
        # From-scratch models stay at the majority class with full fine-tuning at 5e-5/1e-4
        # for 94 steps and need 1e-3/3e-3 (family-m: 3e-4); their subspace training needs
        # ~10 epochs, and lr 0.1 at d = 640 but 0.01-0.03 at d >= 2560 (probes:
        # data/results/README.md).
        "trend_full_lrs": [3e-4, 1e-3, 3e-3],
        "trend_subspace_lrs": [0.01, 0.03, 0.1],
        "trend_train": {"epochs": 10.0},
        # Their baselines sit close to the majority class (MRPC: 0.9 x baseline < majority):
        # where the paper's threshold would be passed by a constant predictor the trends use
        # the chance-corrected one.
        "trend_floor": "auto",
        "checkpoints": {
            "pretrain_dir": "checkpoints/family-xs",
            "preset": "xs",
            "steps": [0, 500, 1000, 2000, 3000, 4000],
        },
        "trend_max_step": None,
        "trend_stride": 1,
        "pretrain": {
            "steps": 4000,
            "save_every": 500,
            "lr": 2e-3,
            "dropout": 0.0,
            "batch_size": 32,
            "max_length": 128,
            "device": "cpu",
            "num_threads": 1,
        },
        "corpus": {"source": "glue"},
        # Figure 3: one family (the recipe above), compared after the same 1000 updates.
        "size_task": "sst2",
        "size_models": [
            {"pretrain_dir": f"checkpoints/family-{p}", "preset": p, "step": 1000}
            for p in ("xxs", "xs", "s", "m")
        ],
        "fit_statuses": ["ok"],
        # the real pretrained models (MiniLM-L6 22.7M, MPNet-base 109M) as further series: on
        # MRPC (the paper's Figure 3) and on SST-2 (the family's task)
        "size_reference": [
            {"scale": "real", "task": "mrpc", "method": "said"},
            {"scale": "real", "task": "sst2", "method": "said"},
        ],
        "gen_source": "full",
        "bound_levels": 16,
        "bound_delta": 0.05,
        "fastfood": {
            "image_d": 32,
            "image_D": 128,
            "norms_d": 256,
            "norms_D": 12000,
            "cost_Ds": [2**k for k in range(10, 25, 2)],
            "cost_d": 1000,
            "repeats": 3,
            "said_dim": 1000,
        },
        "paper_labels": {},
        "results_dir": "data/results",
        "compute": False,
    },
    "paper": {
        "description": "the paper's setting on GPUs: BERT/RoBERTa Base/Large on MRPC and QQP from "
        "the hub (Table 1, Figure 1), public MultiBERTs checkpoints (Figure 2) and two dozen "
        "public models (Figure 3)",
        "models": [
            "google-bert/bert-base-uncased",
            "google-bert/bert-large-uncased",
            "FacebookAI/roberta-base",
            "FacebookAI/roberta-large",
        ],
        "tasks": ["mrpc", "qqp"],
        "methods": ["said", "did"],
        "floors": [0],
        "dims": [10, 20, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000, 10000],
        "full_lrs": [1e-5, 2e-5, 3e-5],
        "subspace_lrs": [1e-3, 3e-3, 1e-2, 3e-2],
        "subspace_lrs_from": None,
        "seeds": [0],
        "train": {
            "epochs": 3.0,
            "batch_size": 32,
            "max_length": 128,
            "max_train_examples": None,
            "max_eval_examples": None,
            "precision": "bf16",
        },
        "device": "cuda",
        "executor": "local",
        "workers": None,
        "threads": None,
        "subspace": dict(_PAPER_SUBSPACE),
        "search": {"d_min": 100, "d_max": 4_000_000, "grid_factor": 4.0, "bracket_ratio": 1.25},
        "frac": 0.9,
        "metric": "accuracy",
        "majority_margin": 0.0,
        "trend_method": "said",
        "trend_tasks": ["mrpc", "qqp", "yelp", "sst2", "mnli", "anli"],
        "trend_full_lrs": None,
        "trend_subspace_lrs": None,
        "trend_train": None,
        "trend_floor": None,
        "checkpoints": {"suite": "multiberts", "max_step": 200_000},
        "trend_max_step": 200_000,
        "trend_stride": 1,
        "pretrain": {"device": "cuda"},
        "corpus": {"source": "wikitext-103-raw-v1"},
        "size_task": "mrpc",
        "size_models": ["@public"],
        "fit_statuses": ["ok"],
        "size_reference": None,
        "gen_source": "full",
        "bound_levels": 16,
        "bound_delta": 0.05,
        "fastfood": {
            "image_d": 32,
            "image_D": 128,
            "norms_d": 1000,
            "norms_D": 50_000,
            "cost_Ds": [2**k for k in range(10, 29, 2)],
            "cost_d": 1000,
            "repeats": 5,
            "said_dim": 1000,
        },
        "paper_labels": {
            "google-bert/bert-base-uncased": "BERT-Base",
            "google-bert/bert-large-uncased": "BERT-Large",
            "FacebookAI/roberta-base": "RoBERTa-Base",
            "FacebookAI/roberta-large": "RoBERTa-Large",
        },
        "results_dir": "data/results",
        "compute": False,
    },
}
"""The presets (see the module docstring for every key)."""

SCALES["real"] = {
    **copy.deepcopy(SCALES["quick"]),
    "description": "real pretrained models at real data sizes on a CPU: all-MiniLM-L6-v2 (22.7M) "
    "and all-mpnet-base-v2 (109M) on MRPC's whole training set and 3,668 SST-2 sentences, "
    "d90 bisected to a bracket of 1.5 (Figure 1 and Table 1; compute=True: days on 2 cores)",
    "notebooks": [1],
    "models": ["minilm-l6", "mpnet-base"],
    "tasks": ["mrpc", "sst2"],
    # the paper's threshold and the chance-corrected one (the second reuses the first's runs)
    "floors": [0, "majority"],
    # search mode (None): the grid below, then bisection to hi/lo <= 1.5
    "dims": None,
    # Adam moves θ_D by about lr·√d per step, so the best rate falls like 1/√d: 0.03 / 0.1 from
    # d = 5,120 on (at 10,240 lr 0.03 beat 0.1 in all three probed cells: MRPC SAID 0.792 vs
    # 0.770, MRPC DID 0.775 vs 0.745, SST-2 DID 0.826 vs 0.797; 0.3 collapsed to the majority
    # class in three of four; scale_studies.py lrs), 0.01 / 0.03 from 81,920 (MRPC SAID at
    # d = 100,000: majority at both 0.03 and 0.1, 0.797 at 0.01)
    "subspace_lrs_from": {5120: [0.03, 0.1], 81920: [0.01, 0.03]},
    "train": {
        "epochs": 3.0,
        "batch_size": 32,
        "max_length": 128,
        # all of MRPC's 3,668 training pairs; the same number of SST-2 sentences
        "max_train_examples": 3668,
        "max_eval_examples": None,
        # pinned so that every machine computes the same runs (bf16 runs are other runs)
        "precision": "fp32",
        # 1.09x the real tokens instead of 1.51x on MRPC pairs, 1.26x instead of 3.03x on SST-2
        "group_by_length": True,
    },
    # d_floor: a cell whose d = 160 already passes (MPNet-base on SST-2: 0.843 against 0.819)
    # searches down to 40 and 16 so that its bracket closes from below; 16 exceeds the SAID λ
    # of both models (MiniLM-L6 9, MPNet-base 15), which d counts
    "search": {
        "d_min": 160,
        "d_max": 100_000,
        "d_floor": 16,
        "grid_factor": 4.0,
        "bracket_ratio": 1.5,
    },
    "size_reference": None,
    # our models as the paper would name them (colour and legend say they are ours)
    "paper_labels": {"minilm-l6": "MiniLM-L6", "mpnet-base": "MPNet-base"},
}
SCALES["quick"]["notebooks"] = None
SCALES["smoke"]["notebooks"] = None
SCALES["paper"]["notebooks"] = None

SCALE_NAMES: tuple[str, ...] = tuple(SCALES)


def scale_keys() -> tuple[str, ...]:
    """The keys every preset defines (the names a notebook parameter may override)."""
    return tuple(SCALES["smoke"])


def get_scale(name: str, **overrides: Any) -> dict[str, Any]:
    """A deep copy of preset ``name`` with ``overrides`` applied and ``"scale": name`` added.

    An override whose value is None keeps the preset's value (the notebooks' convention for
    "use the scale's default"). Dict-valued keys (``train``, ``search``, ``subspace``,
    ``pretrain``, ``corpus``, ``fastfood``) are *merged* with the preset's dict, so
    ``train={"epochs": 2}`` changes only the number of epochs.

    Raises:
        ValueError: unknown scale or unknown key.
    """
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALE_NAMES)}")
    params = copy.deepcopy(SCALES[name])
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ValueError(
            f"unknown scale parameter(s) {unknown}; known: {', '.join(sorted(params))}"
        )
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(params[key], dict) and isinstance(value, dict) and key != "checkpoints":
            params[key] = {**params[key], **copy.deepcopy(value)}
        else:
            params[key] = copy.deepcopy(value)
    params["scale"] = name
    return params
