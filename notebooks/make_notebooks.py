"""Generate the figure notebooks (``notebooks/0*.ipynb``) with nbformat.

Run ``.venv/bin/python notebooks/make_notebooks.py`` after editing this file and commit the
regenerated ``.ipynb`` files. The notebooks are thin on purpose: they call ``idtheory.figures``
for the data and ``idtheory.plots`` for the figures; all logic lives in the library. Every
notebook opens with one cell tagged ``parameters`` (papermill), carries no outputs, and writes
each figure as PNG + PDF + CSV (the table behind it) under ``figures/<scale>/``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SCALES_MD = """\
**Scales** (`idtheory/scales.py`; parameter presets, not code paths — the same functions run at
every scale):
`smoke` — random 2-layer tiny models on 64 training / 64 dev examples, trained on the spot into
a throwaway store (`build/smoke-results`); the numbers mean nothing, the plumbing is real.
`quick` — this 2-core CPU, offline (`minilm-l6` and a from-scratch RoBERTa family, local GLUE
data); renders what the results store `data/results` holds and lists what is missing
(`compute=True` trains it: hours).
`paper` — the paper's models and tasks on GPUs (`compute=True` there)."""

SETUP = """\
from idtheory import figures, plots

ctx = figures.setup(
    scale, {kwargs}results_dir=results_dir, figures_dir=figures_dir, **(overrides or {{}})
)
ctx.describe({extra})"""


def params_cell(lines: list[str]) -> nbformat.NotebookNode:
    """The papermill ``parameters`` cell."""
    head = [
        'scale = "quick"  # "smoke" | "quick" | "paper" (presets in idtheory/scales.py)',
    ]
    tail = [
        "results_dir = None  # None: the scale's results store",
        'figures_dir = "figures"  # figures go to <figures_dir>/<scale>/',
        "overrides = None  # any other scale keys, e.g. {\"executor\": \"local\"}",
    ]
    cell = new_code_cell("\n".join(head + lines + tail))
    cell.metadata["tags"] = ["parameters"]
    return cell


def setup_cell(names: list[str], extra: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """Resolve the scale and the parameters; print them (plus the ``extra`` scale keys)."""
    kwargs = "".join(f"{n}={n}, " for n in names)
    return new_code_cell(SETUP.format(kwargs=kwargs, extra=", ".join(f'"{e}"' for e in extra)))


COMMON = [
    "seeds = None  # training seeds; None: the preset's",
    'device = None  # "cpu" | "cuda" | "auto"; None: the preset\'s',
    "compute = None  # True: train what is missing; None: smoke computes, quick/paper read the store",
]


# ----------------------------------------------------------------------------- notebook 1

NB1 = [
    new_markdown_cell("""\
# 1. Accuracy against subspace dimension (Figure 1) and Table 1

**What the paper claims** (Aghajanyan, Gupta & Zettlemoyer 2021, §4, Table 1, Figure 1):
fine-tuning only d parameters, projected into the full parameter space by a fixed random
Fastfood transform (θ = θ₀ + P θ_d), reaches 90 % of full fine-tuning with remarkably small d:
about **200** for RoBERTa-Large on MRPC (SAID d90 = 207), and at most 9,295 for any of BERT /
RoBERTa Base / Large on MRPC and QQP. Accuracy rises with d; Large models and RoBERTa cross their
90 % line at smaller d than Base models and BERT; the structure-aware variant SAID (one learned
scale λ per layer, counted inside d) needs no more dimensions than the direct one, DID.

**What this notebook shows.** For every model × task × method it trains the full fine-tuning
baseline and the subspace model at every d of the grid `dims` (grid mode of
`idtheory.search.measure_d90`; every training is cached in the results store): dev accuracy
against d on a log axis, SAID solid and DID dashed, one dotted line per model at 90 % of its full
fine-tuning accuracy, a star at the d90 read off the grid. Then our d90 values beside the
paper's (`data/paper/table1.csv`, values from `reference/paper.md` §4 with their confidence).
Grid d90 has the grid's resolution: the true d90 lies in the bracket `(previous d, d90]`.

Caveats (paper ambiguities, `reference/paper.md` §8): λ per transformer block (not per tensor,
which cannot give d = 207 on RoBERTa-Large), one global Fastfood, exact gradients, the
classification head inside the subspace, dev-set accuracy as the metric.

""" + SCALES_MD + """

**Cost at paper scale (estimates, not measurements):** 4 models × 2 tasks × 2 methods × 12 d ×
4 learning rates ≈ 770 subspace trainings plus 24 baselines. MRPC (3.7k examples, 3 epochs) is
roughly 1–5 GPU-minutes per training on one H100, ≈ 20–30 GPU-hours in all; QQP (364k examples)
is 1–4 GPU-hours per training, **≈ 1,000 GPU-hours** — subsample it
(`train={"max_train_examples": 50_000}`) to divide that by about 7. Quick scale on this CPU,
**measured**: 52 trainings of MiniLM on 1,000 examples (SST-2 and MRPC) from an empty store took
2.0 h with two at a time (`make figures FIGURES_ARGS="--compute --only 1"`)."""),
    params_cell([
        "models = None  # Figure 1 / Table 1 models; None: the preset's",
        "tasks = None  # e.g. [\"mrpc\", \"qqp\"]",
        "dims = None  # the grid of d",
        *COMMON,
    ]),
    setup_cell(["models", "tasks", "dims", "seeds", "device", "compute"],
               ("methods", "full_lrs", "subspace_lrs", "subspace")),
    new_markdown_cell("""\
## Dev accuracy against d

One figure per task (`fig1_accuracy_vs_d_<task>`): dotted, the paper's 90 % threshold; thin
solid, full fine-tuning; grey dash-dot, the majority class (where the dotted line lies below it,
a subspace that learned nothing passes). With `compute=False` only stored grids are
drawn; the list at the end says what is missing."""),
    new_code_cell("""\
from idtheory.tasks import get_task

results = figures.grid_results(ctx)
for task in ctx.params["tasks"]:
    t = get_task(task).name
    sub = [r for r in results if get_task(r["task"]).name == t]
    fig = plots.accuracy_vs_d(
        sub,
        title=f"{t.upper()}: dev accuracy against d ({ctx.scale} scale)",
        majority=figures.majority_line(ctx, task),
    )
    ctx.save(fig, f"fig1_accuracy_vs_d_{t}", figures.curve_rows(sub))"""),
    new_markdown_cell("""\
## Table 1: our d90 beside the paper's

Hollow black markers are the paper's values, filled ones ours (SAID circles, DID squares). At
smoke and quick scale our models are not the paper's, so compare orders of magnitude and
orderings (SAID ≤ DID, larger / better-pre-trained models lower), not values."""),
    new_code_cell("""\
import pandas as pd

rows = figures.table1_rows(ctx, results)
fig = plots.table1_comparison(rows)
ctx.save(fig, "table1_comparison", rows)
pd.DataFrame(rows).pivot_table(index=["source", "model"], columns=["method", "task"],
                               values="d90", aggfunc="first")"""),
    new_code_cell("ctx.report_missing(\"for Figure 1 and Table 1\")"),
]


# ----------------------------------------------------------------------------- notebook 2

NB2 = [
    new_markdown_cell("""\
# 2. Intrinsic dimension during pre-training (Figure 2)

**What the paper claims** (§5, Figure 2): RoBERTa-Base re-pre-trained from scratch for 200k
updates, with SAID d90 measured every 10k updates on six datasets (MRPC, QQP, Yelp Polarity,
SST-2, MNLI, ANLI): "the intrinsic dimensionality of RoBERTa-Base monotonically decreases as we
continue pre-training", and harder tasks (ANLI) have a larger d90 than easy ones (Yelp) at every
checkpoint. Early checkpoints are missing for some tasks — **"unable to compute"**: the checkpoint
could not be fine-tuned above the majority class.

**What this notebook shows.** d90 (search mode: geometric grid, then bisection in log d) of
every checkpoint × task against the checkpoint's pre-training updates
(`idtheory.pretrain.pretraining_trend`). Each cell first fine-tunes the checkpoint fully; if that
does not beat the majority class (by `majority_margin`) the cell is "unable to compute" (✕ along
the bottom edge) and no subspace training is spent on it. ▼ marks a d90 that is only an upper
bound (the smallest d tried already passes), ▲ a lower bound (nothing up to `d_max` passes).

Checkpoints per scale: `smoke` pre-trains the `xs` preset of `idtheory.pretrain` for 6 updates
(checkpoints 0, 3, 6) and disables the majority check (`majority_margin = -1`: random models never
beat it); `quick` uses six checkpoints (0, 500, 1k, 2k, 3k, 4k updates) of
`checkpoints/family-xs` (preset `xs`, 0.66M parameters, 4,000 updates on the GLUE train
sentences, lr 2e-3, dropout 0 — `idtheory pretrain --preset xs --steps 4000 --save-every 500
--lr 2e-3 --dropout 0.0 --out checkpoints/family-xs`, about 10 minutes on this CPU, or
`compute=True`), fine-tuned for 10 epochs; `paper` uses the public MultiBERTs checkpoints
0–200k (BERT-Base re-pre-trainings, every 20k: close to, but not, the paper's RoBERTa-Base run).

**Threshold.** The paper's threshold is 0.9 × the checkpoint's full fine-tuning score. Small
from-scratch models fine-tune to barely above the majority class (MRPC: 0.72 against 0.684), so
0.9 × baseline can lie *below* what a constant predictor scores. The quick scale therefore sets
`trend_floor = "majority"`: threshold = majority + 0.9 × (baseline − majority), the d that
recovers 90 % of the *improvement* over chance (see the README's conventions table).

""" + SCALES_MD + """

**Cost at paper scale (estimates, not measurements):** 11 checkpoints × 6 tasks ≈ 66 searches of
≈ 40 trainings each (≈ 10 d × 4 learning rates, plus the baselines). With the large tasks (QQP,
MNLI, Yelp) subsampled to ≈ 20k training examples: **≈ 300–500 GPU-hours**; with their full
training sets: several thousand. Quick scale on this CPU, **measured** from an empty store:
pre-training the 0.66M-parameter `xs` to 4000 updates (474 s, one thread) and 6 checkpoints × 2
tasks of searches, 162 trainings two at a time: 0.58 h in all."""),
    params_cell([
        "trend_tasks = None  # tasks of the trend; None: the preset's",
        "checkpoints = None  # a model source (see idtheory/scales.py); None: the preset's",
        *COMMON,
    ]),
    setup_cell(["trend_tasks", "checkpoints", "seeds", "device", "compute"],
               ("trend_method", "trend_full_lrs", "trend_subspace_lrs", "trend_train",
                "trend_floor", "search", "majority_margin", "pretrain")),
    new_code_cell("""\
checkpoints = figures.trend_checkpoints(ctx)
print(f"{len(checkpoints)} checkpoint(s):", [name for _, name in checkpoints])"""),
    new_code_cell("""\
import pandas as pd

rows = figures.trend_rows(ctx, checkpoints)
floor = " (chance-corrected)" if ctx.params.get("trend_floor") == "majority" else ""
fig = plots.pretraining_trend(rows, method=ctx.params["trend_method"].upper() + floor,
                              title=f"{ctx.params['trend_method'].upper()} d90 during "
                                    f"pre-training ({ctx.scale} scale)")
ctx.save(fig, "fig2_pretraining_trend", rows)
pd.DataFrame(rows, columns=["step", "task", "d90", "bracket", "baseline", "majority", "threshold",
                           "status", "reason"])"""),
    new_code_cell("ctx.report_missing(\"for Figure 2\")"),
]


# ----------------------------------------------------------------------------- notebook 3

NB3 = [
    new_markdown_cell("""\
# 3. Intrinsic dimension against model size (Figure 3)

**What the paper claims** (§5, Figure 3): over more than a dozen public pre-trained models
(BERT, RoBERTa, BART, ELECTRA, ALBERT, XLNet, T5, XLM-R in several sizes), "as the number of
parameters increases, the intrinsic dimension of fine-tuning on MRPC decreases": larger models
need fewer dimensions to represent a task. The paper gives no per-model values and no fitted
line.

**What this notebook shows.** SAID d90 on `size_task` (the paper: MRPC) of each model against
its parameter count, on log-log axes, with the least-squares line log₁₀ d90 = a + b · log₁₀ D and the 95 %
confidence interval of the slope b (`idtheory.pretrain.size_trend`, `fit_loglog`). A negative
slope whose interval excludes 0 supports the claim. Models whose full fine-tuning does not beat
the majority class are "unable to compute" and left out of the fit, as are upper bounds
(▼, unless the scale's `fit_statuses` includes them — the smoke scale does, to draw a line).

Models per scale: `smoke` — `tiny-bert`, `tiny-roberta` and the smoke pre-training's last
checkpoint; `quick` — a from-scratch RoBERTa family pre-trained with one recipe
(`checkpoints/family-{xxs,xs,s,m}`, presets `xxs`, `xs`, `s`, `m`: 0.31M, 0.66M, 1.9M and 5.5M
parameters), each
after the same 1,000 updates of the same 4,000-update schedule, on SST-2 (MRPC's baselines are
too close to its majority class at this size) with the trend protocol of notebook 2 (10 epochs,
chance-corrected threshold); `paper` — the 24 hub models of
`idtheory.pretrain.PUBLIC_SIZE_MODELS` (12M–740M).

""" + SCALES_MD + """

**Cost at paper scale (estimates, not measurements):** 24 models × one MRPC search of ≈ 40
trainings ≈ 1,000 trainings of 2–10 GPU-minutes: **≈ 50–150 GPU-hours**. Quick scale on this CPU,
**measured** from an empty store: pre-training `xxs`, `s` and `m` to 1,000 updates (79 s, 493 s,
1,339 s, one thread; `xs` comes from notebook 2) and 4 SST-2 searches, 54 trainings two at a
time: 1.0 h in all."""),
    params_cell([
        "size_models = None  # models of the fit; None: the preset's",
        "size_task = None  # None: the preset's (paper: MRPC; quick: SST-2)",
        *COMMON,
    ]),
    setup_cell(["size_models", "size_task", "seeds", "device", "compute"],
               ("trend_method", "trend_full_lrs", "trend_subspace_lrs", "trend_train",
                "trend_floor", "search", "majority_margin", "fit_statuses")),
    new_code_cell("""\
import pandas as pd

models = figures.size_models(ctx)
rows, fit = figures.size_rows(ctx, models)
floor = " (chance-corrected)" if ctx.params.get("trend_floor") == "majority" else ""
fig = plots.size_trend(rows, fit, method=ctx.params["trend_method"].upper() + floor,
                       task=ctx.params["size_task"].upper(),
                       title=f"d90 against model size ({ctx.scale} scale)")
ctx.save(fig, "fig3_size_trend", rows)
print("log-log fit:", fit if fit else "none (needs 3 models with a d90 of status "
      f"{ctx.params['fit_statuses']})")
pd.DataFrame(rows, columns=["model", "n_params", "d90", "bracket", "baseline", "majority",
                           "threshold", "status"])"""),
    new_code_cell("ctx.report_missing(\"for Figure 3\")"),
]


# ----------------------------------------------------------------------------- notebook 4

NB4 = [
    new_markdown_cell("""\
# 4. Intrinsic dimension and generalization (Figures 4–5) and certified bounds

**What the paper claims** (§5–6, Figures 4–5, Theorem 1): across the pre-training checkpoints
and six datasets of Figure 2, a lower d90 goes with a higher evaluation accuracy (Figure 4) and
a smaller relative generalization gap (acc_train − acc_eval) / (1 − acc_eval) (Figure 5). Theorem
1 explains it with a compression bound: a model trained in a d-dimensional subspace on m examples
has L₀ ≤ L̂₀ + O(√(d/m)), independent of the full parameter count — stated asymptotically, with no
constant and no numeric evaluation.

**What this notebook shows.** For every checkpoint × task of notebook 2 that has a d90 (same
runs, read from the store): the evaluation (dev) accuracy and the relative gap against d90, with
a least-squares line over all points. `gen_source="full"` (default) uses the full fine-tuning of
the checkpoint, as the paper's figures presumably do; `"d90"` uses its subspace training at
d = d90. Then **certified** bounds on the 0-1 error of every run at d = d90, against d90 and
against its measured dev error (`idtheory.bounds`): the Occam kl bound and Lotfi et al.'s Catoni
bound for θ_d stored as float32 (32 bits per parameter), and — with `bound_levels` — for θ_d
quantized and arithmetic-coded (`idtheory.compress.bound_for_run`, which re-measures the
quantized model). Every bound pays log₂(number of d tried) bits for choosing d90 and log₂(number
of learning rates) for the learning rate. Aghajanyan's √(d/m) with constant 1 is drawn for
reference, marked *not certified*. Values ≥ 1 are vacuous (drawn at 1); a valid bound lies above
the dev error up to the dev set's sampling noise.

""" + SCALES_MD + """

**Cost at paper scale (estimates, not measurements):** Figures 4–5 reuse notebook 2's runs (no
new training); the quantized bounds re-evaluate each d90 run on its training and dev sets —
≈ 66 runs × 1–10 GPU-minutes, **≈ 5 GPU-hours**."""),
    params_cell([
        "trend_tasks = None  # tasks of the trend; None: the preset's",
        "checkpoints = None  # a model source (see idtheory/scales.py); None: the preset's",
        'gen_source = None  # "full" (full fine-tuning accuracies) or "d90"; None: the preset\'s',
        "bound_levels = None  # quantization levels of the coded bound (0: none); None: the preset's",
        *COMMON,
    ]),
    setup_cell(["trend_tasks", "checkpoints", "gen_source", "bound_levels", "seeds", "device",
                "compute"], ("trend_method", "search", "bound_delta")),
    new_code_cell("""\
import pandas as pd

checkpoints = figures.trend_checkpoints(ctx)
trend = figures.trend_rows(ctx, checkpoints)
gen = figures.generalization_rows(ctx, trend)
source = ctx.params["gen_source"]
fig = plots.generalization(gen, "accuracy", source=source)
ctx.save(fig, "fig4_accuracy_vs_d90", gen)
fig = plots.generalization(gen, "gap", source=source)
ctx.save(fig, "fig5_gap_vs_d90", gen)
pd.DataFrame(gen).drop(columns=["d90_run_ids"], errors="ignore")"""),
    new_markdown_cell("""\
## Certified bounds for every run at d90"""),
    new_code_cell("""\
bounds = figures.bound_rows(ctx, gen)
fig = plots.bounds_vs_d90(bounds)
ctx.save(fig, "bounds_vs_d90", bounds)
fig = plots.bounds_vs_error(bounds)
ctx.save(fig, "bounds_vs_dev_error", bounds)
pd.DataFrame(bounds, columns=["task", "d", "m", "label", "bound", "certified", "train_error",
                              "dev_error"])"""),
    new_code_cell("ctx.report_missing(\"for Figures 4-5 and the bounds\")"),
]


# ----------------------------------------------------------------------------- notebook 5

NB5 = [
    new_markdown_cell("""\
# 5. A tour of the Fastfood projection

The paper (§2, Eq. 2, following Li et al. 2018) never builds P: ℝ^d → ℝ^D as a matrix — for
RoBERTa-Large at d = 1,000 a dense float32 P would take ≈ 1.4 TB. It uses the Fastfood transform
P θ = c · H G Π H B θ (H: Walsh–Hadamard, applied by the fast transform in O(L log L); G:
Gaussian diagonal; Π: permutation; B: random signs; L = 2^⌈log₂ D⌉), normalised so that every
column of P has norm ≈ 1 (`idtheory.projection`). This notebook shows, briefly: what a small P
looks like; that its column norms are ≈ 1 like a dense Gaussian or a sparse projection; what the
transform costs as D grows (≈ D log D, against D·d for a dense P); and what SAID and DID actually
train for the scale's models (θ_d plus, for SAID, one λ per block — counted inside d). The
timings are a measurement of the machine: stored in the results store
(`measurements/transform_cost.json`, with date and machine) and reused on re-renders, measured
again with `compute=True` or when D, d or the device change.

""" + SCALES_MD + """

**Cost:** seconds to a few minutes at every scale (the paper scale times D up to 2²⁸ and loads the
four paper models)."""),
    params_cell([
        "models = None  # models of the SAID/DID parameter count; None: the preset's",
        'device = None  # "cpu" | "cuda" for the timings; None: the preset\'s',
    ]),
    setup_cell(["models", "device"], ("fastfood", "subspace")),
    new_code_cell("""\
ff = ctx.params["fastfood"]
M = figures.projection_image(ff["image_d"], ff["image_D"])
fig = plots.fastfood_matrix(M, title=f"Fastfood P, D = {ff['image_D']}, d = {ff['image_d']}")
ctx.save(fig, "fastfood_matrix",
         [{"row": i, "column": j, "value": float(M[i, j])}
          for i in range(M.shape[0]) for j in range(M.shape[1])])"""),
    new_code_cell("""\
norms = figures.projection_column_norms(ff["norms_d"], ff["norms_D"])
fig = plots.column_norms(norms, title=f"column norms of P (D = {ff['norms_D']}, "
                                      f"d = {ff['norms_d']})")
ctx.save(fig, "fastfood_column_norms",
         [{"kind": k, "column": j, "norm": float(v)} for k, vs in norms.items()
          for j, v in enumerate(vs)])"""),
    new_code_cell("""\
# Timings are machine measurements: stored with the results, measured again with compute=True.
cost_key = {"Ds": ff["cost_Ds"], "d": ff["cost_d"], "repeats": ff["repeats"],
            "device": ctx.params["device"]}
cost = ctx.measurement("transform_cost", cost_key,
                       lambda: figures.transform_cost_rows(**cost_key))
fig = plots.transform_cost(cost)
ctx.save(fig, "fastfood_cost", cost)"""),
    new_code_cell("""\
import pandas as pd

params = figures.trainable_rows(ctx.params["models"], ff["said_dim"], ctx.params["subspace"])
fig = plots.trainable_params(params, title=f"what SAID and DID train at d = {ff['said_dim']}")
ctx.save(fig, "said_vs_did_params", params)
pd.DataFrame(params)"""),
]

NOTEBOOKS = {
    "01_subspace_accuracy.ipynb": NB1,
    "02_pretraining_trend.ipynb": NB2,
    "03_model_size_trend.ipynb": NB3,
    "04_generalization.ipynb": NB4,
    "05_fastfood_tour.ipynb": NB5,
}


def build(cells: list[nbformat.NotebookNode], stem: str) -> nbformat.NotebookNode:
    """A notebook with stable cell ids, no outputs and a python3 kernelspec."""
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell.id = f"{stem[:2]}-{i:02d}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = build(cells, name)
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
