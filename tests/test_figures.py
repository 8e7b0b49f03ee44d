"""The figure notebooks: clean committed notebooks, scale presets, store look-ups, rendering.

The smoke render (every notebook through papermill, about two minutes on a loaded 2-core CPU)
checks that every expected figure is written as PNG and PDF with a non-empty table beside it.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import load_script

from idtheory import figures
from idtheory.config import RunSpec
from idtheory.figures import NOTEBOOKS, figure_names, render_all
from idtheory.scales import SCALE_NAMES, SCALES, get_scale, scale_keys
from idtheory.search import possible_d90s, status_reason
from idtheory.tasks import majority_score

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"


# ------------------------------------------------------------------------------ notebooks


#: What a notebook's code cells may import: the library's figure data and plots, and pandas to
#: display their tables. Everything else belongs in the library.
NOTEBOOK_IMPORTS = {"idtheory.figures", "idtheory.plots", "pandas"}
#: Longest code cell (lines) of a thin notebook.
MAX_CELL_LINES = 20


def _imported_modules(tree: ast.AST) -> set[str]:
    """Fully qualified modules a cell imports (``from idtheory import plots`` → idtheory.plots)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            found |= {f"{mod}.{a.name}" if mod == "idtheory" else mod for a in node.names}
    return found


def notebook_problems(path: Path) -> list[str]:
    """Why a notebook is not a clean, thin figure notebook (empty when it is).

    Clean: valid nbformat 4, no outputs or execution counts (``make clear-notebooks`` strips
    them). Structured: a markdown cell first, then exactly one cell tagged ``parameters`` as
    the first code cell (papermill injects the scale's values after it). Thin: code cells
    import only :data:`NOTEBOOK_IMPORTS`, define no functions or classes and stay short.
    """
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    problems = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    if any(c.outputs or c.execution_count is not None for c in code):
        problems.append("code cells have outputs or execution counts: run make clear-notebooks")
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        problems.append("the first cell must be markdown explaining the figure")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1 or not code or tagged[0] is not code[0]:
        problems.append("exactly one cell, the first code cell, must be tagged 'parameters'")
    for i, cell in enumerate(code[1:], start=2):
        tree = ast.parse(cell.source)
        extra = _imported_modules(tree) - NOTEBOOK_IMPORTS
        if extra:
            problems.append(f"code cell {i} imports {sorted(extra)}: call idtheory.figures/plots")
        if any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree)):
            problems.append(f"code cell {i} defines a function or class: move it to the library")
        if len(cell.source.splitlines()) > MAX_CELL_LINES:
            problems.append(f"code cell {i} has more than {MAX_CELL_LINES} lines")
    return problems


def figure_name_problems(path: Path, number: int) -> list[str]:
    """Parameters papermill cannot inject, or figures the notebook does not write."""
    import papermill as pm

    declared = set(pm.inspect_notebook(str(path)))
    problems = []
    if not {"scale", "results_dir", "figures_dir", "device", "overrides"} <= declared:
        problems.append("parameters cell lacks scale/results_dir/figures_dir/device/overrides")
    unknown = declared - {"scale", "figures_dir", "overrides"} - set(scale_keys())
    if unknown:
        problems.append(f"parameters {sorted(unknown)} are not scale keys")
    source = "\n".join(c.source for c in nbformat.read(path, 4).cells)
    for name in figure_names(number, get_scale("smoke")):
        stem = "fig1_accuracy_vs_d_" if name.startswith("fig1_") else name
        if stem not in source:
            problems.append(f"does not write {name}")
    return problems


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.filename)
def test_committed_notebook_is_clean_and_thin(nb):
    assert notebook_problems(NOTEBOOK_DIR / nb.filename) == []


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.filename)
def test_parameters_and_figure_names(nb):
    assert figure_name_problems(NOTEBOOK_DIR / nb.filename, nb.number) == []


def test_notebooks_are_the_source():
    """No generator: the committed notebooks are the only copy of their text."""
    assert sorted(p.name for p in NOTEBOOK_DIR.iterdir() if p.suffix == ".py") == []
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("0*.ipynb")) == [n.filename for n in NOTEBOOKS]


def _load_clear_script():
    return load_script("scripts/clear_notebooks.py")


def _as_jupyter_saves_it(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What a user's edit and a Jupyter save do: a new markdown cell, an edited parameter
    value, the kernel's language_info, UI metadata on cells."""
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("A note of mine about this figure."))
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace('scale = "quick"', 'scale = "smoke"')
    nb.metadata["language_info"] = {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "name": "python",
        "version": "3.12.3",
    }
    for cell in nb.cells:
        cell.metadata["collapsed"] = False
    return nb


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.filename)
def test_a_notebook_edited_and_saved_in_jupyter_passes(nb, tmp_path):
    node = _as_jupyter_saves_it(nbformat.read(NOTEBOOK_DIR / nb.filename, as_version=4))
    path = tmp_path / nb.filename
    nbformat.write(node, path)
    assert notebook_problems(path) == []
    assert figure_name_problems(path, nb.number) == []


def test_run_outputs_are_flagged_and_cleared(tmp_path):
    """A notebook saved after running fails the check, names the fix, and the fix works."""
    node = nbformat.read(NOTEBOOK_DIR / NOTEBOOKS[0].filename, as_version=4)
    code = [c for c in node.cells if c.cell_type == "code"]
    code[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="scale 'quick'\n")]
    code[1].execution_count = 2
    code[1].metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
    node.metadata["papermill"] = {"parameters": {"scale": "smoke"}}
    path = tmp_path / "nb.ipynb"
    nbformat.write(node, path)
    (problem,) = notebook_problems(path)
    assert "make clear-notebooks" in problem
    clear = _load_clear_script()
    assert clear.main([str(path)]) == 0
    assert notebook_problems(path) == []
    cleared = nbformat.read(path, as_version=4)
    assert "papermill" not in cleared.metadata and "execution" not in cleared.cells[2].metadata
    assert cleared.cells[2].source == code[1].source
    before = path.read_bytes()
    assert clear.clear_file(path) is False and path.read_bytes() == before  # already clean


def test_a_thick_notebook_is_flagged(tmp_path):
    node = nbformat.read(NOTEBOOK_DIR / NOTEBOOKS[0].filename, as_version=4)
    node.cells.append(nbformat.v4.new_code_cell("import numpy as np\n\ndef f(x):\n    return x"))
    path = tmp_path / "nb.ipynb"
    nbformat.write(node, path)
    problems = notebook_problems(path)
    assert len(problems) == 2
    assert "imports ['numpy']" in problems[0] and "defines a function" in problems[1]


# ------------------------------------------------------------------------------ scales


def test_needed_is_what_computing_would_train(real_data_dir, tmp_path, monkeypatch):
    """The quick scale computes Figure 1 on its grid; its SST-2 figure reads the stored search
    behind it. The trainings noted as needed are the grid's the store lacks (one taken out of a
    copy of the store here) — not a run only that fallback reading misses (d = 453, taken out
    too, which computing would never train)."""
    from conftest import REPO

    off_grid = "b612429de924dc95"  # SST-2 SAID, d = 453, lr 0.1: the search's bisection
    on_grid = "da9627cd5c32bf97"  # SST-2 SAID, d = 640, lr 0.1: a point of the grid too
    lines = (REPO / "data" / "results" / "runs.jsonl").read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if off_grid not in ln and on_grid not in ln]
    (tmp_path / "runs.jsonl").write_text("".join(kept))
    monkeypatch.setenv("IDTHEORY_DATA", str(real_data_dir))
    ctx = figures.setup("quick", compute=False, chdir=False, results_dir=str(tmp_path))
    figures.grid_results(ctx)
    assert on_grid in ctx.needed and off_grid not in ctx.needed
    assert all(s.subspace.dim in ctx.params["dims"] for s in ctx.needed.values())


def test_real_scale_trains_large_d_at_lower_rates():
    """The real scale's searches switch to 0.03 / 0.1 from d = 5,120 and to 0.01 / 0.03 from
    81,920 (at 10,240 lr 0.03 beat 0.1 in every probed cell; MRPC SAID at 40,960: 0.797 at 0.03,
    0.696 at 0.1, the majority class at 0.3); the other scales do not switch."""
    ctx = figures.setup("real", compute=False, chdir=False)
    assert ctx.subspace_lrs(2_560) == [0.1, 0.3] and ctx.subspace_lrs(5_119) == [0.1, 0.3]
    assert ctx.subspace_lrs(5_120) == [0.03, 0.1] and ctx.subspace_lrs(40_960) == [0.03, 0.1]
    assert ctx.subspace_lrs(100_000) == [0.01, 0.03]
    assert ctx.search_options()["subspace_lrs_from"] == {5120: [0.03, 0.1], 81920: [0.01, 0.03]}
    quick = figures.setup("quick", compute=False, chdir=False)
    assert "subspace_lrs_from" not in quick.search_options()
    assert quick.subspace_lrs(40_960) == [0.1, 0.3]


def test_scale_presets_share_keys_and_serialise():
    keys = set(scale_keys())
    for name in SCALE_NAMES:
        assert set(SCALES[name]) == keys, name
        json.dumps(SCALES[name])  # papermill injects them as JSON-able values
    assert get_scale("smoke")["compute"] is True
    assert get_scale("quick")["compute"] is False
    assert get_scale("quick")["results_dir"] == "data/results"
    assert get_scale("smoke")["results_dir"].startswith("build/")
    assert set(get_scale("smoke")["models"]) == {"tiny-bert", "tiny-roberta"}
    assert get_scale("paper")["device"] == "cuda"


def test_scales_overview_reads_every_description():
    """The notebooks print the scales from the library, so a new preset appears in them."""
    text = figures.scales_overview()
    for name in SCALE_NAMES:
        assert f"  {name}: {SCALES[name]['description']}" in text


def test_get_scale_overrides():
    p = get_scale("quick", train={"epochs": 1.0}, seeds=[0, 1], tasks=None)
    assert p["scale"] == "quick"
    assert p["train"]["epochs"] == 1.0 and p["train"]["max_train_examples"] == 1000
    assert p["seeds"] == [0, 1]
    assert p["tasks"] == SCALES["quick"]["tasks"]  # None keeps the preset
    assert SCALES["quick"]["train"]["epochs"] == 3.0  # the preset is not modified
    with pytest.raises(ValueError, match="unknown scale parameter"):
        get_scale("quick", modles=["x"])
    with pytest.raises(ValueError, match="unknown scale"):
        get_scale("huge")
    # a notebook editing its copy (nested values too) changes neither the preset nor later copies
    mine = get_scale("quick")
    mine["train"]["epochs"], mine["search"]["d_max"] = 1.0, 7
    mine["tasks"].append("cola")
    again = get_scale("quick")
    assert again["train"]["epochs"] == 3.0 and again["search"]["d_max"] == 100_000
    assert "cola" not in again["tasks"] and "cola" not in SCALES["quick"]["tasks"]


def test_figure_names_per_notebook():
    p = get_scale("paper")
    assert figure_names(1, p) == [
        "fig1_accuracy_vs_d_mrpc",
        "fig1_accuracy_vs_d_qqp",
        "table1_comparison",
    ]
    assert figure_names(2, p) == ["fig2_pretraining_trend"]
    assert figure_names(4, p)[:2] == ["fig4_accuracy_vs_d90", "fig5_gap_vs_d90"]
    assert figure_names(4, p)[-2:] == ["certificate_vs_d", "certificate_vs_dev_error"]


def test_paper_table1_values():
    rows = figures.load_paper_table1(REPO / "data" / "paper" / "table1.csv")
    assert len(rows) == 16
    by = {(r["model"], r["task"], r["method"]): r["d90"] for r in rows}
    assert by[("RoBERTa-Large", "mrpc", "said")] == 207
    assert by[("BERT-Base", "qqp", "did")] == 9295
    assert all(r["source"] and r["confidence"] for r in rows)


def test_cli_rejects_unknown_notebook(capsys):
    from idtheory.cli import main

    assert main(["figures", "--scale", "smoke", "--only", "9"]) == 2
    assert "unknown notebook" in capsys.readouterr().err


# ------------------------------------------------------------------------------ store look-ups


def fake_train(spec: RunSpec) -> dict[str, Any]:
    """A trainer without torch: accuracy grows with log d; checkpoint-0 cannot beat MRPC's
    majority class (68%)."""
    weak = spec.model.endswith("checkpoint-0")
    bonus = {"fake-b": 0.08, "fake/checkpoint-10": -0.03}.get(spec.model, 0.0)
    if spec.subspace is None:
        acc = 0.5 if weak else 0.85
    else:
        acc = min(0.85, 0.45 + bonus + 0.12 * math.log10(spec.subspace.dim))
    size = {"fake/checkpoint-10": 2e5, "fake-a": 1e6, "fake-b": 4e6}.get(spec.model, 1e5)
    return {
        "run_id": spec.config_hash(),
        "spec": spec.to_dict(),
        "status": "ok",
        "message": "",
        "metrics": {"dev": {"accuracy": acc}, "train": {"accuracy": min(1.0, acc + 0.1)}},
        "num_params": int(size),
        "num_trainable": spec.dim or int(size),
    }


@pytest.fixture
def fake_ctx(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("IDTHEORY_DATA", str(data_dir))
    ctx = figures.setup(
        "smoke",
        results_dir=str(tmp_path / "results"),
        figures_dir=str(tmp_path / "figures"),
        chdir=False,
        compute=True,
        threads=0,
        models=["fake-a", "fake-b"],
        tasks=["mrpc"],
        dims=[10, 100, 1000],
        trend_tasks=["mrpc"],
        majority_margin=0.0,
        checkpoints=[[0, "fake/checkpoint-0"], [10, "fake/checkpoint-10"]],
        size_models=["fake-a", "fake-b", "fake/checkpoint-10"],
        bound_levels=0,
        search={"d_min": 10, "d_max": 10_000, "grid_factor": 4.0, "bracket_ratio": 2.0},
    )
    monkeypatch.setattr(ctx, "train_fn", lambda: fake_train)
    return ctx


def test_stored_results_are_found_again(fake_ctx, data_dir, monkeypatch):
    """Rows computed with compute=True are found again from the store with compute=False."""
    import idtheory.tasks
    from idtheory.trends import UNABLE

    ctx = fake_ctx
    ctx.params["trend_subspace_lrs"] = [0.01, 0.03, 0.1]  # the trends' rates, not Figure 1's
    computed = figures.grid_results(ctx)
    ckpts = figures.trend_checkpoints(ctx)
    assert ckpts == [(0, "fake/checkpoint-0"), (10, "fake/checkpoint-10")]
    trend_c = figures.trend_rows(ctx, ckpts)
    size_c, fit_c = figures.size_rows(ctx, figures.size_models(ctx))

    ctx.compute = False
    stored = figures.grid_results(ctx)
    trend_s = figures.trend_rows(ctx, ckpts)
    size_s, fit_s = figures.size_rows(ctx, figures.size_models(ctx))
    assert ctx.missing == []

    assert [r["summary_id"] for r in stored] == [r["summary_id"] for r in computed]
    assert len(stored) == 4 and [r["d90"] for r in stored] == [1000, 1000, 100, 100]
    keys = ("checkpoint", "step", "task", "d90", "status", "reason", "summary_id", "baseline")
    assert [[r[k] for k in keys] for r in trend_s] == [[r[k] for k in keys] for r in trend_c]
    assert [r["status"] for r in trend_s] == [UNABLE, "ok"]
    keys = ("model", "n_params", "d90", "status", "summary_id")
    assert [[r[k] for k in keys] for r in size_s] == [[r[k] for k in keys] for r in size_c]
    assert fit_s == fit_c and fit_s is not None and fit_s["n"] == 3

    ctx.data_dir, load_task, read_from = str(data_dir), idtheory.tasks.load_task, []
    monkeypatch.setattr(
        idtheory.tasks,
        "load_task",
        lambda *a, **k: read_from.append(k.get("data_dir")) or load_task(*a, **k),
    )
    gen = figures.generalization_rows(ctx, trend_s)
    assert read_from == [ctx.data_dir]  # m is counted in the context's data, not the env's
    (g,) = gen
    assert g["full_dev"] == pytest.approx(0.85) and g["full_train"] == pytest.approx(0.95)
    assert g["full_gap"] == pytest.approx(0.1 / 0.15)
    assert g["m"] == 64
    # d90 is paid for among every d its search could return, not the d its scores chose
    measured = next(r for r in trend_s if r["status"] == "ok")
    (summary,) = ctx.store.summaries(summary_id=measured["summary_id"])
    assert g["n_candidate_d"] == len(possible_d90s(summary["settings"])) >= len(summary["points"])
    bounds = figures.bound_rows(ctx, gen)
    assert {b["label"] for b in bounds} == {
        "Occam kl, float32 θ_d",
        "Catoni (Lotfi et al.), float32 θ_d",
        "Aghajanyan Thm 1 ê + √(d/m)",
    }
    assert all(b["d"] == g["d90"] and 0 <= b["bound"] for b in bounds)
    # the bounds pay log2 3 bits for the rate at d90: the rates its search chose among
    assert g["n_candidate_lr"] == 3
    from idtheory.bounds import bound_report

    paid = bound_report(
        g["d90"], g["m"], 0.05, n_candidate_d=g["n_candidate_d"], extra_bits=math.log2(3)
    )
    occam = next(b for b in bounds if b["label"] == "Occam kl, float32 θ_d")
    assert occam["complexity_bits"] == pytest.approx(
        next(r["complexity_bits"] for r in paid if r["name"] == "Occam, kl" and r["code"] == "fp32")
    )

    rows = figures.table1_rows(ctx, stored)
    assert sum(r["source"] == "paper" for r in rows) == 16
    assert sum(r["source"].startswith("ours") for r in rows) == 4


def test_figure1_searches_both_thresholds_and_shares_their_runs(fake_ctx, monkeypatch):
    """``floors = [0, "majority"]`` (the real scale): every cell is searched against the paper's
    and the chance-corrected threshold in one call, the second search training only the d the
    first did not evaluate; both summaries are read back from the store, and Figure 1, Table 1
    and the d90 table show both."""
    from idtheory import plots
    from idtheory.curve import d90_threshold

    ctx = fake_ctx
    ctx.params.update(models=["fake-a"], methods=["said"], dims=None, floors=[0, "majority"])
    calls: list[RunSpec] = []
    monkeypatch.setattr(
        ctx, "train_fn", lambda: lambda spec: calls.append(spec) or fake_train(spec)
    )
    computed = figures.grid_results(ctx)
    paper, corrected = computed
    assert [r["threshold_kind"] for r in computed] == ["paper", "chance-corrected"]
    majority = majority_score("mrpc", "accuracy", ctx.data_dir, max_examples=64, seed=0)
    assert corrected["settings"]["floor"] == pytest.approx(majority)
    assert corrected["threshold"] == pytest.approx(d90_threshold(0.85, 0.9, majority))
    assert "floor" not in paper["settings"] and paper["d90"] < corrected["d90"]
    specs = [s.config_hash() for s in calls]
    assert len(specs) == len(set(specs))  # no training twice
    n_paper = len(ctx.params["full_lrs"]) + len(ctx.params["subspace_lrs"]) * len(
        paper["search_path"]
    )
    assert len(calls) == n_paper + len(ctx.params["subspace_lrs"]) * len(
        set(corrected["search_path"]) - set(paper["search_path"])
    )

    ctx.compute = False
    stored = figures.grid_results(ctx)
    assert [r["summary_id"] for r in stored] == [r["summary_id"] for r in computed]
    assert [r["d90"] for r in stored] == [paper["d90"], corrected["d90"]]
    assert ctx.missing == []

    (row,) = figures.d90_rows(ctx, stored)
    assert row["d90"] == paper["d90"] and row["majority"] == pytest.approx(majority)
    assert row["threshold_above_majority"] == pytest.approx(corrected["threshold"])
    assert row["d90_above_majority"] == f"({corrected['bracket'][0]}, {corrected['d90']}]"
    assert row["trainings"] == len(calls)
    curve = figures.curve_rows(stored)
    assert {r["threshold_kind"] for r in curve} == {"paper", "chance-corrected"}
    rows = figures.table1_rows(ctx, stored)
    ours = [r for r in rows if r["source"] != "paper"]
    assert [(r["source"], r["d90"]) for r in ours] == [
        ("ours (smoke)", paper["d90"]),
        ("ours (smoke, chance-corrected)", corrected["d90"]),
    ]
    frame = figures.table1_frame(rows)
    assert frame.loc[("ours (smoke, chance-corrected)", "fake-a"), ("said", ours[1]["task"])] == (
        f"{corrected['d90']:,}"
    )
    fig = plots.accuracy_vs_d(stored, majority=majority)
    assert len(fig.axes[0].lines) == 5  # one curve, two thresholds, full FT, majority class
    plots.table1_comparison(rows)


def test_figure3_draws_a_finished_reference_scale_beside_its_models(fake_ctx, monkeypatch):
    """``size_reference`` (quick: the real scale's MRPC SAID): the reference scale's finished
    Figure 1 searches, read from the same store by their own search code, become Figure 3's
    second series; nothing is drawn (and the caption says so) until a search has finished."""
    from idtheory import plots
    from idtheory.scales import SCALES

    ref = {**SCALES["smoke"], "models": ["fake-a", "fake-b"], "dims": [10, 100, 1000]}
    monkeypatch.setitem(SCALES, "fakeref", ref)
    ctx = fake_ctx
    ctx.params["size_reference"] = {"scale": "fakeref", "task": "mrpc", "method": "said"}
    assert figures.size_reference_rows(ctx) == []
    assert figures.size_reference_note(ctx, []).startswith("Not drawn: SAID d90 on MRPC")
    rows = [{"model": "m", "n_params": 1e5, "d90": 100, "status": "ok"}]
    assert figures.size_table(rows, []) == rows

    computed = figures.grid_results(ctx)  # the same models, grid and store as the reference
    reference = figures.size_reference_rows(ctx)
    said = [r for r in computed if r["method"] == "said"]
    assert [(r["model"], r["n_params"], r["d90"]) for r in reference] == [
        ("fake-a", 1_000_000, said[0]["d90"]),
        ("fake-b", 4_000_000, said[1]["d90"]),
    ]
    assert [r["summary_id"] for r in reference] == [r["summary_id"] for r in said]
    assert reference[0]["series"] == "pretrained, MRPC SAID (fakeref scale)"
    assert "fake-b (4,000,000 parameters)" in figures.size_reference_note(ctx, reference)
    table = figures.size_table(rows, reference)
    assert [r["series"] for r in table] == [figures.SIZE_SERIES] + [reference[0]["series"]] * 2
    plain, both = plots.size_trend(rows), plots.size_trend(rows, reference=reference)
    assert len(both.axes[0].collections) == len(plain.axes[0].collections) + 1

    # a list: one series each (quick: MRPC and SST-2), each line of the note about its own
    ctx.params["size_reference"] = [
        {"scale": "fakeref", "task": "mrpc", "method": "said"},
        {"scale": "fakeref", "task": "mrpc", "method": "did"},
    ]
    two = figures.size_reference_rows(ctx)
    did = [r for r in computed if r["method"] == "did"]
    assert [(r["series"], r["d90"]) for r in two] == [
        *[("pretrained, MRPC SAID (fakeref scale)", r["d90"]) for r in said],
        *[("pretrained, MRPC DID (fakeref scale)", r["d90"]) for r in did],
    ]
    note = figures.size_reference_note(ctx, two[:2]).splitlines()
    assert len(note) == 2 and "fake-b" in note[0] and note[1].startswith("Not drawn: DID d90")
    assert figures.size_reference_series(ctx) == [  # the configured order, rows or not
        "pretrained, MRPC SAID (fakeref scale)",
        "pretrained, MRPC DID (fakeref scale)",
    ]
    drawn = plots.size_trend(rows, reference=two)
    assert len(drawn.axes[0].collections) == len(plain.axes[0].collections) + 2


def test_a_broken_pretrain_module_is_not_papered_over(tmp_path, monkeypatch):
    """An import failure of idtheory.pretrain fails the figure: no random stand-in checkpoints
    (which would silently draw Figures 2-3 from untrained models)."""
    import idtheory

    monkeypatch.delattr(idtheory, "pretrain", raising=False)
    for name in [m for m in sys.modules if m.startswith("idtheory.pretrain")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "idtheory.pretrain", None)  # import fails
    ctx = figures.setup(
        "smoke", results_dir=str(tmp_path), chdir=False, threads=0, figures_dir=str(tmp_path / "f")
    )
    with pytest.raises(ImportError):
        figures.trend_checkpoints(ctx)
    assert not (tmp_path / "pretrain-xs").exists()


def test_quick_scale_lists_what_is_missing(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("IDTHEORY_DATA", str(data_dir))
    ctx = figures.setup(
        "quick",
        results_dir=str(tmp_path),
        figures_dir=str(tmp_path / "f"),
        chdir=False,
        size_models=["minilm-l6"],
    )
    assert ctx.compute is False
    assert figures.grid_results(ctx) == []
    assert any("minilm-l6 / mrpc / SAID" in m for m in ctx.missing)
    rows, fit = figures.size_rows(ctx, figures.size_models(ctx))
    assert [r["status"] for r in rows] == ["missing"] and fit is None
    assert len(list(tmp_path.iterdir())) == 0  # nothing trained, nothing written


# ------------------------------------------------------------------------------ rendering


def _tiny_notebook(path: Path, body: str, extra_params: str = "") -> None:
    params = nbformat.v4.new_code_cell(
        'scale = "quick"\nresults_dir = None\nfigures_dir = "figures"' + extra_params
    )
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(
        cells=[params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(body)]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def _render_tiny(tmp_path: Path, only: list[int]) -> int:
    """render_all at the smoke scale over the notebooks in ``tmp_path / "nbs"``."""
    return render_all(
        "smoke",
        only=only,
        notebooks_dir=tmp_path / "nbs",
        results_dir=tmp_path / "r",
        figures_dir=tmp_path / "f",
        build_dir=tmp_path / "b",
        progress=False,
    )


@pytest.mark.skipif(os.name != "posix", reason="Unix-domain sockets")
def test_each_kernel_gets_private_socket_paths():
    """Not jupyter_client's ``kernel-ipc`` in the working directory, whose numbered sockets
    two kernels starting at once in one clone both took."""
    from idtheory.figures.context import project_root
    from idtheory.figures.render import _kernel_manager_class

    cls = _kernel_manager_class()
    a, b = cls(kernel_name="python3"), cls(kernel_name="python3")
    assert a.transport == "ipc" and a.ip != b.ip
    assert Path(a.ip).is_absolute() and project_root() not in Path(a.ip).parents


def test_two_renders_at_once_in_one_clone_both_finish(tmp_path):
    """Each kernel's sockets have a private path: two renders from one project root at once (a
    sweep's, and a look at its figures) both run their notebook. With jupyter_client's default
    (kernel-ipc-1 … -5 in the project root) both kernels bound the same sockets and hung."""
    import subprocess

    from idtheory.figures.context import project_root

    before = set(project_root().glob("kernel-ipc-*"))  # another render's, if one runs here
    procs = []
    for k in range(2):
        home = tmp_path / f"r{k}"
        (home / "nbs").mkdir(parents=True)
        body = f"import pathlib, time\ntime.sleep(2)\npathlib.Path({str(home)!r}, 'ran').touch()"
        _tiny_notebook(home / "nbs" / "01_subspace_accuracy.ipynb", body)
        script = (
            "from idtheory.figures import render_all\n"
            f"render_all('smoke', only=[1], notebooks_dir={str(home / 'nbs')!r}, progress=False,"
            f" results_dir={str(home / 'r')!r}, figures_dir={str(home / 'f')!r},"
            f" build_dir={str(home / 'b')!r})\n"
        )
        procs.append(
            subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        )  # fmt: skip
    try:
        for proc in procs:
            proc.communicate(timeout=180)
    finally:
        for proc in procs:
            proc.kill()
    assert [(tmp_path / f"r{k}" / "ran").exists() for k in range(2)] == [True, True]
    assert set(project_root().glob("kernel-ipc-*")) <= before  # none of theirs in the clone


def test_render_all_names_the_failing_notebook_and_cell(tmp_path, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _tiny_notebook(nbs / "01_subspace_accuracy.ipynb", "raise RuntimeError('boom')")
    _tiny_notebook(nbs / "02_pretraining_trend.ipynb", "print(scale)")
    assert _render_tiny(tmp_path, [1, 2]) == 1
    err = capsys.readouterr().err
    assert "notebook 01_subspace_accuracy.ipynb failed in cell" in err
    assert "RuntimeError: boom" in err and "raise RuntimeError('boom')" in err
    # the second notebook ran (keep_going) but wrote no figure: reported as incomplete
    assert "notebook 02_pretraining_trend.ipynb ran but did not write" in err
    assert "fig2_pretraining_trend.png" in err
    executed = nbformat.read(tmp_path / "b" / "smoke" / "02_pretraining_trend.ipynb", 4)
    assert "smoke" in "".join(o.get("text", "") for o in executed.cells[-1].outputs)


def test_a_kernel_that_dies_is_reported_at_once(tmp_path, capsys):
    """A dead kernel is not waited for: the patient shutdown (waiting for the interrupted cell to
    end, up to KERNEL_STOP_GRACE_S / 2) returns as soon as the kernel's process is gone."""
    import time

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _tiny_notebook(nbs / "01_subspace_accuracy.ipynb", "import os\nos._exit(3)")
    t0 = time.monotonic()
    assert _render_tiny(tmp_path, [1]) == 1
    assert time.monotonic() - t0 < 120
    assert "notebook 01_subspace_accuracy.ipynb" in capsys.readouterr().err


def test_a_kernel_that_does_not_exit_after_its_notebook_is_stopped_soon(tmp_path):
    """A kernel whose last cell has ended gets IDLE_KERNEL_STOP_S to exit, not the patient
    KERNEL_STOP_GRACE_S: ipykernel 7.4 sometimes never exits after its shutdown request (a
    race between its control and IOPub threads), and a render then hung for 600 s. Here the
    notebook leaves a thread running that keeps the kernel's process alive past its shutdown."""
    import subprocess

    from idtheory.figures.render import IDLE_KERNEL_STOP_S

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    body = (
        "import pathlib, threading, time\n"
        "threading.Thread(target=time.sleep, args=(900,)).start()  # not a daemon: exit waits\n"
        f"pathlib.Path({str(tmp_path)!r}, 'ran').touch()"
    )
    _tiny_notebook(nbs / "01_subspace_accuracy.ipynb", body)
    script = (
        "from idtheory.figures import render_all\n"
        f"render_all('smoke', only=[1], notebooks_dir={str(nbs)!r}, progress=False,"
        f" results_dir={str(tmp_path / 'r')!r}, figures_dir={str(tmp_path / 'f')!r},"
        f" build_dir={str(tmp_path / 'b')!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        proc.wait(timeout=60 + IDLE_KERNEL_STOP_S)  # a kernel's start and its notebook: seconds
    finally:
        proc.kill()  # its kernel then exits too (it polls its parent)
    assert (tmp_path / "ran").exists()


def test_the_wait_for_an_interrupted_cell_ends_with_the_reply_or_the_kernel():
    """figures.render._until_cell_ends returns on the kernel_info reply (not on other shell
    replies), at once when the kernel is dead, and otherwise after its timeout."""
    import asyncio
    import queue
    import time

    from idtheory.figures.render import _until_cell_ends

    class Client:
        def __init__(self, replies):
            self.replies, self.stopped = list(replies), False

        def start_channels(self, **kw):
            pass

        def stop_channels(self):
            self.stopped = True

        def kernel_info(self):
            return "info-1"

        async def get_shell_msg(self, timeout):
            if self.replies:
                return {"parent_header": {"msg_id": self.replies.pop(0)}}
            await asyncio.sleep(timeout)
            raise queue.Empty

    class Manager:
        def __init__(self, client, alive=True):
            self._client, self.alive = client, alive

        def client(self):
            return self._client

        async def is_alive(self):
            return self.alive

    def waited(km, timeout_s=3.0):
        t0 = time.monotonic()
        ended = asyncio.run(_until_cell_ends(km, timeout_s, poll_s=0.05))
        assert km._client.stopped
        return ended, time.monotonic() - t0

    ended, dt = waited(Manager(Client(["execute-7", "info-1"])))  # the cell's reply, then ours
    assert ended and dt < 1.0
    ended, dt = waited(Manager(Client([]), alive=False))  # dead: nothing to wait for
    assert not ended and dt < 1.0
    ended, dt = waited(Manager(Client(["execute-7"])), timeout_s=0.3)  # no reply: the timeout
    assert not ended and dt >= 0.3


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_an_interrupted_render_lets_the_kernel_finish_its_step(tmp_path):
    """A Ctrl-C during a notebook interrupts its kernel and waits for it to exit: a training
    there finishes its step and saves (here: 4 s after the interrupt) instead of being killed
    with its whole process group after jupyter_client's default 5 s (SIGTERM at 2.5 s), and
    asked to shut down only once that cell has ended."""
    import signal
    import subprocess
    import time

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    body = (
        "import pathlib, time\n"
        f"out = pathlib.Path({str(tmp_path)!r})\n"
        "(out / 'started').touch()\n"
        "try:\n"
        "    time.sleep(120)\n"
        "except KeyboardInterrupt:\n"
        "    time.sleep(4)  # the step in progress ends\n"
        "    (out / 'saved').touch()\n"
        "    raise\n"
    )
    _tiny_notebook(nbs / "01_subspace_accuracy.ipynb", body)
    script = (
        "import signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job ignores it\n"
        "from idtheory.figures import render_all\n"
        "try:\n"
        f"    render_all('smoke', only=[1], notebooks_dir={str(nbs)!r}, progress=False,\n"
        f"               results_dir={str(tmp_path / 'r')!r},\n"
        f"               figures_dir={str(tmp_path / 'f')!r},\n"
        f"               build_dir={str(tmp_path / 'b')!r})\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(130)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert (tmp_path / "saved").exists(), "the kernel was killed before its step ended"
    assert figures.render.STOPPING_MESSAGE in err
    # quiet: no warning about unencrypted TCP at the kernel's start, and no ZMQ traceback from a
    # reply sent after a shutdown request closed the kernel's sockets under the running cell
    assert "[IPKernelApp]" not in err and "Traceback" not in err, err


def test_the_stop_message_takes_over_only_pythons_default_sigint_handler():
    """A render started with SIGINT ignored (a background job) or handled by the program keeps
    that disposition; Python's default handler is replaced while a notebook runs, then back."""
    import signal

    from idtheory.figures.render import _say_when_stopping

    previous = signal.getsignal(signal.SIGINT)
    try:
        for kept in (signal.SIG_IGN, signal.default_int_handler):
            signal.signal(signal.SIGINT, kept)
            with _say_when_stopping():
                inside = signal.getsignal(signal.SIGINT)
            assert signal.getsignal(signal.SIGINT) is kept
            assert (inside is kept) == (kept is signal.SIG_IGN)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_render_all_routes_overrides(tmp_path, capsys):
    """Declared keys are injected by name, the others through the ``overrides`` dict."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _tiny_notebook(
        nbs / "01_subspace_accuracy.ipynb",
        "print('compute', compute, 'overrides', overrides)",
        "\ncompute = None\noverrides = None",
    )
    render_all(
        "smoke",
        only=[1],
        notebooks_dir=nbs,
        results_dir=tmp_path / "r",
        figures_dir=tmp_path / "f",
        build_dir=tmp_path / "b",
        overrides={"compute": False, "executor": "local", "dims": [8, 32]},
        progress=False,
    )
    executed = nbformat.read(tmp_path / "b" / "smoke" / "01_subspace_accuracy.ipynb", 4)
    text = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    assert "compute False overrides {'executor': 'local', 'dims': [8, 32]}" in text


def test_computing_render_streams_notebook_output(tmp_path, capsys):
    """With compute on (smoke's default) the notebooks' output reaches the terminal live;
    without it only the one-line summary per notebook does."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _tiny_notebook(nbs / "01_subspace_accuracy.ipynb", "print('trained 3 of 8')")
    kw = dict(notebooks_dir=nbs, results_dir=tmp_path / "r", figures_dir=tmp_path / "f")
    render_all("smoke", only=[1], build_dir=tmp_path / "b1", **kw)
    assert "trained 3 of 8" in capsys.readouterr().out
    render_all("smoke", only=[1], build_dir=tmp_path / "b2", overrides={"compute": False}, **kw)
    assert "trained 3 of 8" not in capsys.readouterr().out


def test_render_all_says_when_the_store_lacks_results(tmp_path, capsys):
    """A render without compute names what the store lacks (the figures are partial) instead of
    hiding the list inside the executed copy."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    code = (
        "from idtheory import figures\n"
        f"ctx = figures.setup('smoke', results_dir={str(tmp_path / 'r')!r}, chdir=False)\n"
        "ctx.note_missing('d90 search of tiny / mrpc')\n"
        "ctx.note_missing('bound of run abc')\n"
        "ctx.report_missing('for Figure 1')"
    )
    _tiny_notebook(nbs / "01_subspace_accuracy.ipynb", code)
    kw = dict(notebooks_dir=nbs, results_dir=tmp_path / "r", figures_dir=tmp_path / "f")
    render_all("smoke", only=[1], build_dir=tmp_path / "b", progress=False, **kw)
    out = capsys.readouterr().out
    assert "partial: 2 result(s) missing from the store, e.g. d90 search of tiny / mrpc" in out
    assert "01_subspace_accuracy.ipynb incomplete (2 missing)" in out
    executed = tmp_path / "b" / "smoke" / "01_subspace_accuracy.ipynb"
    assert figures.store_gaps(executed) == ["d90 search of tiny / mrpc", "bound of run abc"]


def test_measurements_are_stored_and_reused(tmp_path, capsys):
    """Timings are measured once and read back on re-renders (byte-identical figures), measured
    again with compute=True or when their settings change."""
    ctx = figures.setup("smoke", results_dir=str(tmp_path), chdir=False, compute=False)
    calls = []

    def measure(v):
        calls.append(v)
        return [{"D": 8, "seconds": v}]

    key = {"Ds": (8, 16), "device": "cpu"}
    assert ctx.measurement("cost", key, lambda: measure(0.5)) == [{"D": 8, "seconds": 0.5}]
    assert "measured now" in capsys.readouterr().out
    assert (tmp_path / "measurements" / "cost.json").is_file()
    assert ctx.measurement("cost", key, lambda: measure(0.7)) == [{"D": 8, "seconds": 0.5}]
    assert "compute=True measures again" in capsys.readouterr().out and calls == [0.5]
    assert (
        ctx.measurement("cost", {**key, "device": "cuda"}, lambda: measure(0.2))[0]["seconds"]
        == 0.2
    )
    ctx.compute = True
    assert ctx.measurement("cost", key, lambda: measure(0.3))[0]["seconds"] == 0.3
    ctx.compute = False
    assert ctx.measurement("cost", key, lambda: measure(0.9))[0]["seconds"] == 0.3
    cuda = {**key, "device": "cuda"}  # another scale's record survives beside this one
    assert ctx.measurement("cost", cuda, lambda: measure(0.9))[0]["seconds"] == 0.2
    assert calls == [0.5, 0.2, 0.3]


def test_round_desc_stays_short():
    from idtheory.search import _round_desc

    assert _round_desc(["tiny/mrpc said d=16"]) == "tiny/mrpc said d=16"
    long = _round_desc([f"model-{i}/mrpc said d=16,256" for i in range(8)])
    assert long.startswith("8 searches: model-0/mrpc") and len(long) <= 60


def test_cli_figures_overrides():
    from idtheory.cli import parse_overrides

    got = parse_overrides(["dims=[10, 40]", "executor=local", "compute=true", 'device="cpu"'])
    assert got == {"dims": [10, 40], "executor": "local", "compute": True, "device": "cpu"}
    with pytest.raises(ValueError, match="unknown scale key 'dimz'"):
        parse_overrides(["dimz=[10]"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["dims"])


def _data_rows(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return max(0, len(list(csv.reader(fh))) - 1)


def test_smoke_render_writes_every_figure(tmp_path, data_dir, monkeypatch):
    """All five notebooks at the smoke scale (about 2 minutes on a loaded 2-core CPU)."""
    monkeypatch.setenv("IDTHEORY_DATA", str(data_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    rc = render_all(
        "smoke",
        results_dir=tmp_path / "results",
        figures_dir=tmp_path / "figures",
        build_dir=tmp_path / "build",
        progress=False,
    )
    assert rc == 0
    out = tmp_path / "figures" / "smoke"
    params = get_scale("smoke")
    for nb in NOTEBOOKS:
        assert (tmp_path / "build" / "smoke" / nb.filename).is_file()
        for name in figure_names(nb.number, params):
            for ext in (".png", ".pdf"):
                assert (out / f"{name}{ext}").stat().st_size > 1000, f"{name}{ext}"
            if name.startswith("certificate_"):  # no certificate at the smoke scale
                assert (out / f"{name}.csv").read_text().startswith("protocol,candidate,")
                continue
            assert _data_rows(out / f"{name}.csv") > 0, f"{name}.csv has no rows"
    # the committed notebooks stay clean: outputs only go to the executed copies
    for nb in NOTEBOOKS:
        node = nbformat.read(NOTEBOOK_DIR / nb.filename, 4)
        assert all(not c.get("outputs") for c in node.cells)


def test_a_search_in_progress_renders_its_points(tmp_path, data_dir):
    """While a sweep runs, Figure 1 reads it through the same search code as computing does
    (store-only trainer): every d whose runs are all stored, status "partial"; nothing is
    written to the store."""
    from dataclasses import replace

    from idtheory.config import SubspaceConfig
    from idtheory.store import ResultsStore

    ctx = figures.setup(
        "smoke",
        results_dir=str(tmp_path),
        chdir=False,
        compute=False,
        models=["tiny-bert"],
        tasks=["mrpc"],
        methods=["said"],
        dims=[10, 100, 1000],
        subspace_lrs=[0.1, 0.3],
        search={"d_min": 10, "d_max": 1000, "grid_factor": 10.0, "bracket_ratio": 1.5},
    )
    o = ctx.search_options()
    store = ResultsStore(tmp_path)

    def put(sub, lr, acc):
        spec = RunSpec("tiny-bert", "mrpc", replace(o["base_train"], lr=lr, seed=0), sub)
        store.put(
            {
                "run_id": spec.config_hash(),
                "spec": spec.to_dict(),
                "status": "ok",
                "metrics": {"dev": {"accuracy": acc}, "train": {}},
            }
        )

    assert figures.grid_results(ctx) == []  # no baseline yet
    assert ctx.missing == [
        "Figure 1 / Table 1: tiny-bert / mrpc / SAID on the grid [10, 100, 1000]"
    ]
    for i, lr in enumerate(o["full_lrs"]):
        put(None, lr, 0.7 + 0.1 * i)
    baseline = 0.7 + 0.1 * (len(o["full_lrs"]) - 1)
    for d, acc in ((10, 0.5), (100, 0.9)):
        for lr in o["subspace_lrs"]:
            put(SubspaceConfig(dim=d, method="said", **o["subspace_kwargs"]), lr, acc)
    put(
        SubspaceConfig(dim=1000, method="said", **o["subspace_kwargs"]), o["subspace_lrs"][0], 0.9
    )  # incomplete, but the rate stored passes: a pending point (its pass is final)
    stored = sorted(p.name for p in tmp_path.iterdir())
    (r,) = figures.grid_results(ctx)
    assert r["status"] == "partial" and r["baseline_score"] == pytest.approx(baseline)
    assert [p["d"] for p in r["points"]] == [10, 100, 1000] and r["pending"] == [1000]
    assert r["points"][1]["best_lr"] == 0.1 and len(r["points"][2]["cells"]) == 1
    assert r["d90"] == 100 and r["mode"] == "grid"  # the search mode (next: d = 32) ties
    n_seeds = len(o["seeds"])  # every stored run behind it, the incomplete d's one too
    assert len(r["run_ids"]) == n_seeds * (len(o["full_lrs"]) + 2 * len(o["subspace_lrs"])) + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == stored and store.summaries() == []

    # the README's d90 table: cost of the runs behind it, and the majority-class floor
    (row,) = figures.d90_rows(ctx, [r])
    assert row["trainings"] == len(r["run_ids"]) and row["cpu_hours"] == 0
    scored = ctx.params["train"]["max_eval_examples"]  # the chance line of the scored examples
    assert row["majority"] == pytest.approx(
        majority_score("mrpc", "accuracy", data_dir, max_examples=scored, seed=0)
    )
    assert row["bracket"] == "(10, 100]"
    assert r["baseline_score"] > row["majority"] and row["d90_above_majority"] == "(10, 100]"
    assert row["brackets"] == {"paper": (10, 100), "chance-corrected": (10, 100)}
    # both brackets come from a search in progress: the one read off its points too
    assert row["statuses"] == {"paper": "partial", "chance-corrected": "partial"}
    # a d whose stored rates pass the paper's threshold, its others not stored yet (pending):
    # its score is a lower bound, so below the chance-corrected threshold it decides nothing
    between = (row["threshold"] + row["threshold_above_majority"]) / 2
    pending = {
        **r,
        "points": [r["points"][0], {**r["points"][1], "score": between}],
        "pending": [100],
    }
    (p,) = figures.d90_rows(ctx, [pending])
    assert p["bracket"] == "(10, 100]" and p["d90_above_majority"] == "(10, ∞]"
    assert p["curve"] == f"10: 0.500, 100: ≥ {between:.3f}"
    high, low = figures.d90_rows(ctx, [{**r, "threshold": 0.7}, {**r, "threshold": 0.6}])
    assert high["status"] == "partial"
    assert low["status"] == "partial (threshold ≤ majority class)"

    # a chance-corrected search (settings.floor > 0): its bisected bracket is the corrected
    # column, and the paper's threshold, d90 and bracket are read off its evaluated points
    corrected = {
        **r,
        "pending": [],
        "baseline_score": 0.8,
        "settings": {"floor": row["majority"]},
        "threshold": row["majority"] + 0.9 * (0.8 - row["majority"]),
        "d90": None,
        "bracket": [1000, None],
        "status": "never_passes",
        "points": [{"d": 10, "score": 0.69}, {"d": 100, "score": 0.73}, {"d": 1000, "score": 0.77}],
    }
    (c,) = figures.d90_rows(ctx, [corrected])
    assert c["threshold"] == pytest.approx(0.72) and c["d90"] == 100
    assert c["bracket"] == "(10, 100]" and c["status"] == "ok"
    assert c["d90_above_majority"] == "(1000, ∞]"
    assert c["brackets"] == {"paper": (10, 100), "chance-corrected": (1000, None)}
    assert c["statuses"] == {"paper": "ok", "chance-corrected": "never_passes"}
    # a finished paper-threshold search beside a chance-corrected one still in progress: the
    # row says so, and only the chance-corrected bracket is provisional
    done = {**r, "status": "ok", "pending": [], "d90": 100, "bracket": [10, 100]}
    (both,) = figures.d90_rows(ctx, [done, {**corrected, "status": "partial"}])
    assert both["status"] == "ok; chance-corrected: partial"
    assert both["statuses"] == {"paper": "ok", "chance-corrected": "partial"}
    (alone,) = figures.d90_rows(ctx, [{**corrected, "status": "partial"}])
    assert alone["statuses"] == {"paper": "partial", "chance-corrected": "partial"}
    # a chance-corrected search whose baseline does not beat the majority class has no
    # bracket: none shown, none to divide, and the status says why
    failed = {**corrected, "status": "baseline_failed", "bracket": [None, None], "points": []}
    (nb,) = figures.d90_rows(ctx, [done, failed])
    assert nb["d90_above_majority"] is None and nb["brackets"] == {"paper": (10, 100)}
    assert nb["status"] == "ok; chance-corrected: baseline_failed"
    assert figures.threshold_ratio_rows([nb]) == []


def test_d90_ratio_rows_divide_matching_rows_and_flag_partial_searches():
    def row(model, task, method, paper, corrected=None, status="ok", statuses=None):
        brackets = {"paper": paper} | ({"chance-corrected": corrected} if corrected else {})
        return {
            "model": model,
            "task": task,
            "method": method,
            "status": status,
            "brackets": brackets,
            **({"statuses": statuses} if statuses else {}),
        }

    in_progress = {"paper": "ok", "chance-corrected": "partial"}  # the paper's search ended
    rows = [
        row("small", "sst2", "SAID", (453, 640), (2560, 3620)),
        row("small", "sst2", "DID", (1280, 1810), (5120, 7241), statuses=in_progress),
        row("small", "mrpc", "SAID", (5120, 7241)),
        row("large", "mrpc", "SAID", (160, 640), status="partial"),
        *figures.paper_d90_rows(
            [{"model": "BERT-Base", "task": "mrpc", "method": "said", "d90": 1608}]
        ),
    ]
    by_method = figures.d90_ratio_rows(rows, "method", "DID", "SAID")
    assert [(r["task"], r["method"], r["threshold"]) for r in by_method] == [
        ("sst2", "DID / SAID", "paper"),
        ("sst2", "DID / SAID", "chance-corrected"),
    ]
    assert str(by_method[0]["ratio"]) == "2.83× (2.00–4.00×)"  # the README's SST-2 verdict
    # provisional per threshold: DID's chance-corrected search is the one still in progress
    assert [r["note"] for r in by_method] == ["", "provisional"]
    by_model = figures.d90_ratio_rows(rows, "model", "small", "large")
    assert [r["note"] for r in by_model] == ["provisional"]  # a search still in progress
    assert by_model[0]["ratio"].least == pytest.approx(5120 / 640)
    (paper,) = figures.d90_ratio_rows(rows, "model", "small", "BERT-Base")
    assert (paper["task"], paper["threshold"]) == ("mrpc", "paper")
    assert paper["ratio"].ratio == pytest.approx(7241 / 1608)
    assert paper["ratio"].least == pytest.approx(5120 / 1608)
    with pytest.raises(ValueError, match="vary must be one of"):
        figures.d90_ratio_rows(rows, "seed", "0", "1")

    # what the chance-corrected threshold costs, per cell with both brackets
    said, did = figures.threshold_ratio_rows(rows)
    assert (said["task"], said["method"], said["threshold"]) == (
        "sst2",
        "SAID",
        "chance-corrected / paper",
    )
    assert str(said["ratio"]) == "5.66× (4.00–7.99×)" and said["note"] == ""
    assert did["ratio"].ratio == pytest.approx(7241 / 1810) and did["note"] == "provisional"


def test_stored_trend_rows_explain_their_status(fake_ctx):
    """A cell whose search passes at its smallest d says so whether it was just computed or read
    back from the store (the figure CSVs of a recompute and of a re-render agree)."""
    ctx = fake_ctx
    ctx.params["search"] = {**ctx.params["search"], "d_min": 10_000}
    ckpts = figures.trend_checkpoints(ctx)
    computed = figures.trend_rows(ctx, ckpts)[-1]
    ctx.compute = False
    stored = figures.trend_rows(ctx, ckpts)[-1]
    assert computed["status"] == stored["status"] == "passes_at_smallest"
    assert stored["reason"] == computed["reason"] == status_reason("passes_at_smallest") != ""


def test_trend_options_override_learning_rates_and_training(tmp_path):
    """Figures 2–5 train the from-scratch models with their own rates and training length."""
    ctx = figures.setup(
        "smoke",
        results_dir=str(tmp_path),
        chdir=False,
        trend_full_lrs=[1e-3],
        trend_subspace_lrs=[0.03],
        trend_train={"epochs": 7.0},
        trend_floor="majority",
    )
    plain, trend = ctx.search_options(), ctx.search_options(trend=True)
    assert trend["floor"] == "majority" and "floor" not in plain  # resolved per task later
    assert trend["full_lrs"] == [1e-3] and trend["subspace_lrs"] == [0.03]
    assert trend["base_train"].epochs == 7.0
    assert plain["base_train"].epochs == ctx.params["train"]["epochs"] != 7.0
    assert plain["full_lrs"] == [float(x) for x in ctx.params["full_lrs"]]
    # every other training setting is shared
    assert trend["base_train"].batch_size == plain["base_train"].batch_size


def test_pretrain_source_selects_steps(tmp_path):
    """``steps`` / ``step`` pick checkpoints of a run; absent ones are reported as missing."""
    run = tmp_path / "run"
    for step in (0, 100, 200):  # complete checkpoints as idtheory.pretrain lists them
        (run / f"checkpoint-{step}").mkdir(parents=True)
        (run / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    ctx = figures.setup(
        "smoke",
        results_dir=str(tmp_path),
        chdir=False,
        checkpoints={"pretrain_dir": str(run), "preset": "xs", "steps": [0, 200, 300]},
        size_models=[{"pretrain_dir": str(run), "preset": "xs", "step": 100}],
        compute=False,
    )
    assert [s for s, _ in figures.trend_checkpoints(ctx)] == [0, 200]
    assert any("[300]" in m for m in ctx.missing)
    (model,) = figures.size_models(ctx)
    assert model.endswith("checkpoint-100")


def test_fresh_clone_reads_checkpoints_from_the_store(tmp_path):
    """Without the (uncommitted) checkpoint directory, the stored runs name the checkpoints."""
    from idtheory.store import ResultsStore

    ctx = figures.setup(
        "smoke",
        results_dir=str(tmp_path),
        chdir=False,
        compute=False,
        checkpoints={"pretrain_dir": "checkpoints/not-here", "preset": "xs", "steps": [0, 500]},
        size_models=[{"pretrain_dir": "checkpoints/not-here", "preset": "xs", "step": 500}],
    )
    o = ctx.search_options()
    store = ResultsStore(tmp_path)
    for step in (500, 1000):
        spec = RunSpec(f"checkpoints/not-here/checkpoint-{step}", "mrpc", o["base_train"])
        store.put(
            {
                "run_id": spec.config_hash(),
                "spec": spec.to_dict(),
                "status": "ok",
                "metrics": {"dev": {"accuracy": 0.7}, "train": {}},
            }
        )
    ctx._store = None  # re-read the store
    assert [s for s, _ in figures.trend_checkpoints(ctx)] == [500]
    assert any("[0]" in m for m in ctx.missing)  # step 0 is neither on disk nor stored
    assert figures.size_models(ctx) == ["checkpoints/not-here/checkpoint-500"]


def test_table1_frame_carries_the_below_chance_caveat():
    """Notebook 1's Table 1 frame shows a d90 read against a threshold at or below the majority
    class with the caveat the figure carries, not as a bare number."""
    from idtheory.figures import BELOW_CHANCE_MARK, table1_frame

    rows = [
        {
            "source": "ours (quick)",
            "model": "m",
            "task": "MRPC",
            "method": "said",
            "d90": 10,
            "below_chance": True,
        },
        {
            "source": "ours (quick)",
            "model": "m",
            "task": "SST-2",
            "method": "said",
            "d90": 640,
            "below_chance": False,
        },
        {"source": "paper", "model": "p", "task": "MRPC", "method": "said", "d90": 1861},
    ]
    frame = table1_frame(rows)
    assert frame.loc[("ours (quick)", "m"), ("said", "MRPC")] == "10" + BELOW_CHANCE_MARK
    assert frame.loc[("ours (quick)", "m"), ("said", "SST-2")] == "640"
    assert frame.loc[("paper", "p"), ("said", "MRPC")] == "1,861"


def test_table1_cells_say_what_each_status_allows():
    """A Table 1 cell states only what its search's status allows: the d90 of a finished
    search, bounds where the grid's ends were reached, and "…" for a search in progress — never
    a partial search's passing d as if it were its d90."""
    from idtheory.figures import BELOW_CHANCE_MARK, table1_cell

    def cell(status, d90, bracket, **kw):
        return table1_cell({"status": status, "d90": d90, "bracket": bracket, **kw})

    assert cell("ok", 1810, (1280, 1810)) == "1,810"
    assert cell("reported", 896, None) == "896"
    assert cell("passes_at_smallest", 10, (0, 10), below_chance=True) == "≤ 10" + BELOW_CHANCE_MARK
    assert cell("never_passes", None, (100000, None)) == "> 100,000"
    assert cell("partial", 2560, (1280, 2560)) == "≤ 2,560 …"
    assert cell("partial", None, (640, None)) == "> 640 …"
    assert cell("partial", None, None) == "–"
    assert cell("baseline_failed", None, None) == "–"


def test_scale_workers_cap_the_executor(tmp_path):
    """``workers`` caps the trainings at once: the process pool's size, Ray's max_parallel;
    None keeps each executor's default and the local executor stays the library default."""
    from idtheory.executors import ProcessExecutor, RayExecutor

    def ctx(**kw):
        return figures.setup("smoke", results_dir=str(tmp_path), chdir=False, **kw)

    assert ctx(executor="local", workers=3).executor() is None
    assert ctx(executor="process").executor().workers == (os.cpu_count() or 1)
    capped = ctx(executor="process", workers=1).executor()
    assert isinstance(capped, ProcessExecutor) and capped.workers == 1
    ray = ctx(executor="ray", workers=2).executor()
    assert isinstance(ray, RayExecutor) and ray.max_parallel == 2


def test_floor_label_says_which_thresholds_the_trend_cells_used():
    paper = {"baseline": 0.8, "threshold": 0.9 * 0.8}
    raised = {"baseline": 0.72, "threshold": 0.684 + 0.9 * (0.72 - 0.684)}
    unable = {"baseline": 0.6, "threshold": None}
    assert figures.floor_label([paper, unable], 0.9) == ""
    assert figures.floor_label([raised, unable], 0.9) == " (chance-corrected)"
    assert figures.floor_label([paper, raised], 0.9) == " (chance-corrected where needed)"


def test_make_figures_reproduces_the_committed_quick_tables(real_data_dir, tmp_path, monkeypatch):
    """The quick scale's notebooks 1–4 (what `make figures` renders from the committed store;
    the fifth times kernels) re-render exactly the committed tables: a figure left behind after
    its runs or summaries changed fails here."""
    from idtheory.cli import main

    monkeypatch.setenv("IDTHEORY_DATA", str(real_data_dir))
    out = tmp_path / "figures"
    argv = ["figures", "--scale", "quick", "--only", "1", "2", "3", "4", "--figures-dir", str(out)]
    assert main([*argv, "--build-dir", str(tmp_path / "build")]) == 0
    tables = sorted((out / "quick").glob("*.csv"))
    assert len(tables) >= 11
    for table in tables:
        committed = REPO / "figures" / "quick" / table.name
        assert table.read_text() == committed.read_text(), f"{committed}: stale, run make figures"
