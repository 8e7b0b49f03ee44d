"""idtheory.plots on synthetic rows: the expected number of lines and points, files written."""

from __future__ import annotations

import csv
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from idtheory import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def data_lines(ax) -> list:
    """Lines that carry data (empty legend placeholders excluded)."""
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 0]


def n_points(ax) -> int:
    """Scatter points drawn in ``ax`` (all collections)."""
    return sum(len(c.get_offsets()) for c in ax.collections)


def texts(ax) -> str:
    return " ".join(t.get_text() for t in ax.texts)


def result(model: str, method: str, dims=(10, 100, 1000), base: float = 0.8) -> dict:
    scores = [0.5, 0.7, 0.79][: len(dims)]
    thr = 0.9 * base
    points = [
        {"d": d, "score": s, "best_lr": 1e-2, "passes": s >= thr, "cells": []}
        for d, s in zip(dims, scores)
    ]
    d90 = next((p["d"] for p in points if p["passes"]), None)
    return {
        "model": model,
        "task": "mrpc",
        "method": method,
        "points": points,
        "baseline_score": base,
        "threshold": thr,
        "d90": d90,
        "status": "ok",
    }


# ------------------------------------------------------------------------------ Figure 1


def test_accuracy_vs_d_lines_per_model_and_method():
    results = [result(m, meth) for m in ("bert", "roberta") for meth in ("said", "did")]
    fig = plots.accuracy_vs_d(results, title="MRPC")
    (ax,) = fig.axes
    lines = data_lines(ax)
    curves = [ln for ln in lines if len(ln.get_xdata()) == 3]
    thresholds = [ln for ln in lines if ln.get_linestyle() == ":"]
    assert len(curves) == 4  # 2 models × 2 methods
    assert len(thresholds) == 2  # one 90% line per model
    assert np.allclose(thresholds[0].get_ydata(), 0.72)
    assert n_points(ax) == 4  # one d90 star per result
    assert ax.get_xscale() == "log"
    dashed = [ln for ln in curves if ln.get_linestyle() == "--"]
    assert len(dashed) == 2  # DID dashed


def test_accuracy_vs_d_reference_lines():
    """Full fine-tuning per model (thin solid) and the majority class (grey dash-dot)."""
    fig = plots.accuracy_vs_d([result("bert", "said")], majority=0.684)
    (ax,) = fig.axes
    flat = [ln for ln in data_lines(ax) if len(set(ln.get_ydata())) == 1]
    styles = {ln.get_linestyle(): float(ln.get_ydata()[0]) for ln in flat}
    assert styles["-."] == pytest.approx(0.684)
    assert styles["-"] == pytest.approx(result("bert", "said")["baseline_score"])
    labels = ax.get_legend_handles_labels()[1]
    assert "majority class" in labels and "bert full FT" in labels
    no_majority = plots.accuracy_vs_d([result("bert", "said")])
    assert "majority class" not in no_majority.axes[0].get_legend_handles_labels()[1]


def test_accuracy_vs_d_moves_a_long_legend_beside_the_axes():
    """Up to LEGEND_INSIDE_MAX entries stay inside; more (two models, both thresholds) go to the
    right of the axes, the figure widened by as much, so the legend hides no curve."""
    one = plots.accuracy_vs_d([result("bert", "said")], majority=0.5)
    assert one.axes[0].get_legend() is not None and not one.legends
    many = [result(m, meth) for m in ("bert", "roberta") for meth in ("said", "did")]
    fig = plots.accuracy_vs_d(many, majority=0.5)
    (ax,) = fig.axes
    assert ax.get_legend() is None and len(fig.legends) == 1
    assert len(fig.legends[0].get_texts()) > plots.LEGEND_INSIDE_MAX
    assert fig.get_size_inches()[0] == pytest.approx(one.get_size_inches()[0] + 2.6)
    plt.close(one)
    plt.close(fig)


def test_accuracy_vs_d_without_results_says_so():
    fig = plots.accuracy_vs_d([], empty_message="nothing stored")
    assert "nothing stored" in texts(fig.axes[0])


def ours(task: str, method: str, d90: int | None, model: str = "ours", **extra) -> dict:
    """A Table 1 row of ours (``extra``: status, bracket, below_chance, …)."""
    return {"model": model, "task": task, "method": method, "d90": d90, "source": "ours", **extra}


def test_table1_comparison_points_and_panels():
    rows = [
        {"model": m, "task": t, "method": meth, "d90": 100 * (i + 1), "source": "paper"}
        for i, (m, t, meth) in enumerate(
            (m, t, meth) for m in ("A", "B") for t in ("mrpc", "qqp") for meth in ("said", "did")
        )
    ]
    rows += [
        ours("mrpc", "said", 50),
        ours("mrpc", "did", None),
        ours("qqp", "said", 10, status="passes_at_smallest"),
    ]
    fig = plots.table1_comparison(rows)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["MRPC", "QQP"]
    assert n_points(axes[0]) == 5  # 4 paper + 1 ours (the None d90 is skipped)
    assert n_points(axes[1]) == 5
    # only the upper bound is marked
    assert [t.get_text() for t in axes[0].texts] == [] and [
        t.get_text() for t in axes[1].texts
    ] == ["≤"]


def test_table1_comparison_marks_thresholds_below_chance():
    """A value whose 90% threshold is below the majority class is a grey cross, not a d90."""
    rows = [
        {"model": "P", "task": "mrpc", "method": "said", "d90": 900, "source": "paper"},
        ours("mrpc", "said", 10, status="passes_at_smallest", below_chance=True),
    ]
    (ax,) = [a for a in plots.table1_comparison(rows).axes if a.get_title()]
    crosses = [
        c for c in ax.collections if len(c.get_offsets()) and c.get_label().endswith("class")
    ]
    assert len(crosses) == 1 and list(crosses[0].get_offsets()[0]) == [10, pytest.approx(0.85)]
    assert "ours SAID: threshold ≤ majority class" in ax.get_legend_handles_labels()[1]
    assert "ours SAID" not in ax.get_legend_handles_labels()[1]


def test_table1_legend_keeps_said_above_did_in_every_column():
    """A kind of mark with one method only gets a blank beside it, so each column keeps SAID
    above DID (the entries slid into the wrong rows)."""
    rows = [
        {"model": "P", "task": "mrpc", "method": m, "d90": 900, "source": "paper"}
        for m in ("said", "did")
    ]
    rows += [ours("mrpc", "said", 10, below_chance=True), ours("mrpc", "did", 50)]
    fig = plots.table1_comparison(rows)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == [
        "paper SAID", "paper DID", "", "ours DID", "ours SAID: threshold ≤ majority class", "",
    ]  # fmt: skip
    plt.close(fig)


# ------------------------------------------------------------------------------ Figure 2


def trend_rows() -> list[dict]:
    rows = []
    for step, d_mrpc, d_anli in (
        (0, None, None),
        (10, 800, None),
        (20, 400, 3000),
        (30, 200, 2000),
    ):
        rows.append(
            {
                "checkpoint": f"c/checkpoint-{step}",
                "step": step,
                "task": "mrpc",
                "d90": d_mrpc,
                "bracket": [None, d_mrpc],
                "status": "ok" if d_mrpc else "unable to compute",
            }
        )
        rows.append(
            {
                "checkpoint": f"c/checkpoint-{step}",
                "step": step,
                "task": "anli",
                "d90": d_anli,
                "bracket": [d_anli, None] if d_anli else [4000, None],
                "status": "ok"
                if d_anli
                else ("unable to compute" if step == 0 else "never_passes"),
            }
        )
    return rows


def test_pretraining_trend_lines_and_markers():
    fig = plots.pretraining_trend(trend_rows())
    ax, strip = fig.axes
    lines = data_lines(ax)
    assert len(lines) == 2  # one per task
    assert sorted(len(ln.get_xdata()) for ln in lines) == [2, 3]
    assert list(lines[0].get_xdata()) == [10.0, 20.0, 30.0]
    # 5 d90 markers + 1 never_passes (+ empty legend handles) on the d90 panel
    assert n_points(ax) == 5 + 1
    assert ax.get_yscale() == "log"
    # the two unable-to-compute checkpoints on their own strip, one row per task
    assert n_points(strip) == 2
    assert sorted(y for c in strip.collections for _, y in c.get_offsets()) == [0, 1]
    assert strip.get_shared_x_axes().joined(ax, strip)
    assert ax.get_legend() is None  # the legend is the figure's, outside the panel
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:2] == ["MRPC", "ANLI"]  # as the literature writes them
    assert "unable to compute" in labels and "d90 > largest d tried" in labels


def test_pretraining_trend_joins_only_consecutive_measured_points():
    """A checkpoint without a d90 (never passes up to d_max, or unable to compute) breaks the
    line: no segment may span it (the committed Figure 2 drew 1,000 → 4,000 across two)."""
    statuses = [(0, 600, "ok"), (1, 500, "ok"), (2, None, "never_passes"), (3, None, "unable")]
    statuses += [(4, 200, "ok"), (5, 150, "passes_at_smallest")]
    rows = [
        {
            "checkpoint": f"c/checkpoint-{step}",
            "step": step * 1000,
            "task": "sst2",
            "d90": d90,
            "bracket": [100000, None] if d90 is None else [None, d90],
            "status": "unable to compute" if status == "unable" else status,
        }
        for step, d90, status in statuses
    ]
    fig = plots.pretraining_trend(rows)
    segments = [list(ln.get_xdata()) for ln in data_lines(fig.axes[0])]
    assert segments == [[0.0, 1000.0], [4000.0, 5000.0]]


def test_pretraining_trend_without_unable_has_no_strip():
    rows = [r for r in trend_rows() if r["status"] != "unable to compute"]
    fig = plots.pretraining_trend(rows)
    assert len(fig.axes) == 1
    assert "unable to compute" not in [t.get_text() for t in fig.legends[0].get_texts()]


def test_pretraining_trend_all_unable_still_draws():
    rows = [
        {
            "checkpoint": "c0",
            "step": None,
            "task": "mrpc",
            "d90": None,
            "status": "unable to compute",
        }
    ]
    fig = plots.pretraining_trend(rows)
    assert n_points(fig.axes[1]) == 1


# ------------------------------------------------------------------------------ Figure 3


def test_size_trend_with_fit():
    n = [1e6, 1e7, 1e8, 1e9]
    rows = [
        {"model": f"m{i}", "n_params": x, "d90": 1e4 * (x / 1e6) ** -0.5, "status": "ok"}
        for i, x in enumerate(n)
    ]
    rows.append({"model": "m4", "n_params": 3e6, "d90": 20, "status": "passes_at_smallest"})
    rows.append({"model": "m5", "n_params": 5e6, "d90": None, "status": "unable to compute"})
    fit = {"slope": -0.5, "intercept": 7.0, "slope_ci95": [-0.6, -0.4], "r2": 1.0}
    fig = plots.size_trend(rows, fit)
    (ax,) = fig.axes
    (line,) = data_lines(ax)
    assert np.allclose(line.get_ydata(), 10 ** (7.0 - 0.5 * np.log10(line.get_xdata())))
    assert n_points(ax) == 5  # 4 ok + 1 upper bound; unable skipped
    assert "slope -0.50" in ax.get_legend().get_texts()[-1].get_text()


def test_size_trend_names_the_reference_task_when_it_differs():
    rows = [{"model": "a", "n_params": 1e6, "d90": 640, "status": "ok", "task": "sst2"}]
    ref = [{"model": "r", "n_params": 2e7, "d90": 10240, "status": "ok", "task": "mrpc"}]
    fig = plots.size_trend(rows, task="SST-2", reference=ref)
    assert fig.axes[0].get_ylabel() == "SAID d90 on SST-2 (MRPC: see the legend)"
    same = plots.size_trend(rows, task="MRPC", reference=ref)
    assert same.axes[0].get_ylabel() == "SAID d90 on MRPC"
    named = plots.size_trend(rows, task="sst2", reference=ref)
    assert named.axes[0].get_ylabel() == "SAID d90 on SST-2 (MRPC: see the legend)"  # any spelling
    plt.close("all")


def test_size_trend_draws_each_reference_series_in_its_own_style():
    """Rows of two series (one task each) are two scatters, in REFERENCE_STYLES' first two
    colours, their legend entries prefixed with the series; the fitted models' with ``label``."""
    from matplotlib.colors import to_rgba

    rows = [{"model": "a", "n_params": 1e6, "d90": 640, "status": "ok"}]
    ref = [
        {"series": "pre, MRPC", "model": "r1", "n_params": 2e7, "d90": 7241, "status": "ok"},
        {"series": "pre, SST-2", "model": "r1", "n_params": 2e7, "d90": 640, "status": "ok"},
        {"series": "pre, MRPC", "model": "r2", "n_params": 1e8, "d90": 2560, "status": "ok"},
    ]
    fig = plots.size_trend(rows, reference=ref, label="scratch")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["scratch: d90", "pre, MRPC: d90", "pre, SST-2: d90"]
    scatters = ax.collections
    assert [len(c.get_offsets()) for c in scatters] == [1, 2, 1]
    (c_mrpc, _), (c_sst2, _) = plots.REFERENCE_STYLES[:2]
    assert tuple(scatters[1].get_facecolor()[0]) == to_rgba(c_mrpc)
    assert tuple(scatters[2].get_facecolor()[0]) == to_rgba(c_sst2)
    plain = plots.size_trend(rows)
    assert [t.get_text() for t in plain.axes[0].get_legend().get_texts()] == ["d90"]
    # styles follow the configured series: SST-2's stays orange while MRPC has nothing to draw
    only_sst2 = [r for r in ref if r["series"] == "pre, SST-2"]
    fig = plots.size_trend(rows, reference=only_sst2, series=["pre, MRPC", "pre, SST-2"])
    (drawn,) = fig.axes[0].collections[1:]
    assert tuple(drawn.get_facecolor()[0]) == to_rgba(c_sst2)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["fitted models: d90", "pre, SST-2: d90"]
    plt.close("all")


def test_task_titles_as_the_literature_writes_them():
    from idtheory.tasks import task_title

    assert [task_title(t) for t in ("sst2", "mrpc", "cola", "anli-r1", "SST2", "qqp")] == [
        "SST-2",
        "MRPC",
        "CoLA",
        "ANLI R1",
        "SST-2",
        "QQP",
    ]
    rows = [
        {"model": "P", "task": t, "method": "said", "d90": 900, "source": "paper"}
        for t in ("sst2", "cola")
    ]
    fig = plots.table1_comparison(rows)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["SST-2", "CoLA"]
    plt.close(fig)


def test_size_trend_without_points():
    fig = plots.size_trend([{"model": "x", "n_params": None, "d90": None, "status": "missing"}])
    assert "no d90" in texts(fig.axes[0])


# ------------------------------------------------------------------------------ Figures 4-5


def gen_rows() -> list[dict]:
    return [
        {
            "task": t,
            "d90": d,
            "status": "ok",
            "full_dev": acc,
            "full_train": acc + 0.05,
            "d90_dev": acc - 0.02,
            "d90_train": acc,
        }
        for t, d, acc in (
            ("mrpc", 100, 0.85),
            ("mrpc", 1000, 0.8),
            ("sst2", 50, 0.9),
            ("anli", 5000, 0.5),
            ("anli", None, 0.4),
        )
    ]


def test_relative_gap():
    assert plots.relative_gap(0.9, 0.8) == pytest.approx(0.5)
    assert np.isnan(plots.relative_gap(1.0, 1.0))
    assert np.isnan(plots.relative_gap(None, 0.5))


@pytest.mark.parametrize("kind", ["accuracy", "gap"])
@pytest.mark.parametrize("source", ["full", "d90"])
def test_generalization_points_per_task(kind, source):
    fig = plots.generalization(gen_rows(), kind, source=source)
    (ax,) = fig.axes
    assert len(ax.collections) == 3  # one scatter per task
    assert n_points(ax) == 4  # the row without d90 is skipped
    assert len(data_lines(ax)) == 1  # least-squares line
    ys = sorted(float(y) for c in ax.collections for _, y in c.get_offsets())
    accs = [0.5, 0.8, 0.85, 0.9]  # the full fine-tunings' dev accuracies of the plotted rows
    dev = {"full": accs, "d90": [a - 0.02 for a in accs]}[source]
    train = {"full": [a + 0.05 for a in accs], "d90": accs}[source]
    gap = sorted((t - v) / (1 - v) for t, v in zip(train, dev, strict=True))  # (train−dev)/(1−dev)
    assert ys == pytest.approx(dev if kind == "accuracy" else gap)


def test_generalization_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        plots.generalization(gen_rows(), "loss")


# ------------------------------------------------------------------------------ bounds


def bound_rows() -> list[dict]:
    rows = []
    for rid, d, dev in (("r1", 100, 0.2), ("r2", 1000, 0.15)):
        for label, b, cert in (
            ("Occam kl, float32", 0.6, True),
            ("Catoni, coded", 0.4, True),
            ("Aghajanyan", 1.3, False),
        ):
            rows.append(
                {
                    "run_id": rid,
                    "d": d,
                    "label": label,
                    "bound": b * (d / 100) ** 0.1,
                    "certified": cert,
                    "dev_error": dev,
                    "train_error": dev - 0.05,
                }
            )
    return rows


def test_bounds_vs_d90_series():
    fig = plots.bounds_vs_d90(bound_rows())
    (ax,) = fig.axes
    # 3 series of 2 runs (vacuous values drawn at 1) + 2 measured dev errors
    assert n_points(ax) == 3 * 2 + 2
    assert "vacuous" in texts(ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Aghajanyan (not certified)" in labels
    assert "measured dev error" in labels


def test_bound_series_of_one_run_sit_side_by_side():
    """Coincident bounds of one run are dodged along x (within ±5 % of d) instead of hiding each
    other; the measured dev error stays at d itself."""
    (ax,) = plots.bounds_vs_d90(bound_rows()).axes
    xs = sorted(
        float(x) for c in ax.collections for x, _ in c.get_offsets() if 90 <= float(x) <= 110
    )
    assert len(xs) == 4 and len(set(xs)) == 3  # 3 bounds (the middle one at d) + the dev error
    assert xs.count(100.0) == 2 and xs[0] >= 95 and xs[-1] <= 105


def test_bounds_vs_error_diagonal():
    fig = plots.bounds_vs_error(bound_rows())
    (ax,) = fig.axes
    (diag,) = [ln for ln in data_lines(ax) if ln.get_linestyle() == ":"]
    assert list(diag.get_xdata()) == list(diag.get_ydata()) == [0, 1]
    assert n_points(ax) == 6


def test_bounds_without_rows():
    assert "no bounds" in texts(plots.bounds_vs_d90([]).axes[0])
    assert "no bounds" in texts(plots.bounds_vs_error([]).axes[0])


# ------------------------------------------------------------------------------ Fastfood tour


def test_fastfood_panels():
    rng = np.random.default_rng(0)
    fig = plots.fastfood_matrix(rng.standard_normal((40, 8)))
    assert fig.axes[0].get_images()[0].get_array().shape == (40, 8)

    fig = plots.column_norms({"fastfood": rng.normal(1, 0.01, 16), "dense": rng.normal(1, 0.1, 16)})
    ax = fig.axes[0]
    assert len(ax.patches) == 2  # one step histogram per kind

    rows = [
        {"D": D, "op": op, "seconds": 1e-6 * D * (2 if op == "b" else 1)}
        for D in (2**10, 2**12, 2**14)
        for op in ("a", "b")
    ]
    fig = plots.transform_cost(rows)
    lines = data_lines(fig.axes[0])
    assert len(lines) == 3  # two operations + the D log D reference
    assert all(len(ln.get_xdata()) == 3 for ln in lines)

    rows = [
        {
            "model": "m",
            "method": "said",
            "theta_d": 90,
            "lambdas": 10,
            "head": 0,
            "projected": 5000,
        },
        {"model": "m", "method": "did", "theta_d": 100, "lambdas": 0, "head": 0, "projected": 5000},
    ]
    fig = plots.trainable_params(rows)
    widths = sorted(p.get_width() for p in fig.axes[0].patches if p.get_width() > 0)
    assert widths == [10, 90, 100]  # θ_d of both + λ of SAID


# ------------------------------------------------------------------------------ files


def test_save_figure_and_table(tmp_path):
    fig = plots.accuracy_vs_d([result("m", "said")])
    paths = plots.save_figure(fig, tmp_path, "smoke", "fig1_x")
    assert paths["png"] == tmp_path / "smoke" / "fig1_x.png"
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
    rows = [{"a": 1, "b": [1, 2]}, {"a": None, "c": "x"}]
    out = plots.save_table(rows, tmp_path, "smoke", "fig1_x")
    with out.open() as fh:
        got = list(csv.reader(fh))
    assert got == [["a", "b", "c"], ["1", "[1, 2]", ""], ["", "", "x"]]
    empty = plots.save_table([], tmp_path, "smoke", "empty", columns=["a", "b"])
    assert empty.read_text().strip() == "a,b"


def test_pdf_is_reproducible(tmp_path):
    for sub in ("one", "two"):
        fig = plots.accuracy_vs_d([result("m", "did")])
        plots.save_figure(fig, tmp_path / sub, "smoke", "f")
    one, two = (tmp_path / sub / "smoke" / "f.pdf" for sub in ("one", "two"))
    assert one.read_bytes() == two.read_bytes()


def test_markdown_table_formats_cells():
    rows = [{"a": 0.12345, "b": None, "c": "x|y"}, {"a": 2, "c": "z"}]
    text = plots.markdown_table(rows, {"a": "A", "b": "B", "c": "C"})
    assert text.splitlines() == [
        "| A | B | C |",
        "|---|---|---|",
        "| 0.123 | – | x\\|y |",
        "| 2 | – | z |",
    ]
    assert plots.markdown_table(rows).splitlines()[0] == "| a | b | c |"


def test_short_model_labels():
    assert plots._short("checkpoints/family-xs/checkpoint-1000") == "family-xs@1000"
    assert plots._short("FacebookAI/roberta-base") == "roberta-base"
    assert plots._short("a" * 40, 10) == "…" + "a" * 9


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (160, 40_960, ["200", "500", "1k", "2k", "5k", "10k", "20k", "50k"]),  # 1-2-5
        (10, 4_000_000, ["10", "100", "1k", "10k", "100k", "1M"]),  # > 3.5 decades: decades
    ],
)
def test_log_axis_labels_are_short_counts_that_do_not_collide(lo, hi, expected):
    """The real scale's Figure 1 printed '300400' and '2e+03e+04' where minor labels collided."""
    from idtheory.plots import _plain_log

    fig, ax = plt.subplots()
    ax.plot([lo, hi], [0, 1])
    ax.set_xscale("log")
    _plain_log(ax, "x")
    fig.canvas.draw()
    lo_lim, hi_lim = ax.get_xlim()
    major = [t for t in ax.xaxis.get_major_ticks() if lo_lim <= t.get_loc() <= hi_lim]
    assert [t.label1.get_text() for t in major] == expected
    assert not any(t.label1.get_text() for t in ax.xaxis.get_minor_ticks())
    plt.close(fig)


def test_table1_comparison_draws_never_passes_at_d_max():
    """A search that no d up to d_max passed is a right-pointing triangle at d_max, marked ">";
    one without a bracket (nothing measured) is still skipped."""
    rows = [
        {"model": "P", "task": "mrpc", "method": "said", "d90": 900, "source": "paper"},
        ours("mrpc", "did", None, status="never_passes", bracket=[100_000, None]),
        ours("mrpc", "said", None, model="ours2"),
    ]
    (ax,) = [a for a in plots.table1_comparison(rows).axes if a.get_title()]
    beyond = [c for c in ax.collections if "not reached" in c.get_label()]
    assert len(beyond) == 1 and beyond[0].get_offsets()[0][0] == 100_000
    assert [t.get_text() for t in ax.texts] == [">"]
    assert n_points(ax) == 2


def test_table1_comparison_draws_a_search_in_progress_as_its_bracket():
    """A partial search is never drawn as a d90: with a passing d, a faint segment over its
    bracket and a hollow marker at the smallest d that passed; with none yet, a hollow triangle
    at the largest d that failed, marked "…"; one legend entry per method."""
    rows = [
        {"model": "P", "task": "sst2", "method": "said", "d90": 900, "source": "paper"},
        ours("sst2", "said", 160, status="partial", bracket=[40, 160]),
        ours("sst2", "said", None, model="ours (cc)", status="partial", bracket=[160, None]),
        ours("sst2", "did", None, status="partial", bracket=None),
    ]
    fig = plots.table1_comparison(rows)
    (ax,) = [a for a in fig.axes if a.get_title()]
    progress = [c for c in ax.collections if "in progress" in c.get_label()]
    hidden = [c for c in ax.collections if c.get_label() == "_"]
    offsets = sorted(float(c.get_offsets()[0][0]) for c in progress + hidden)
    assert len(progress) == 1 and offsets == [160.0, 160.0]  # the passing d, the failed d
    assert all(len(c.get_facecolor()) == 0 for c in progress + hidden)  # hollow: no face
    segments = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [40, 160]]
    assert len(segments) == 1
    assert [t.get_text() for t in ax.texts] == ["…"]
    assert n_points(ax) == 3  # the paper's point and the two of the searches in progress
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["paper SAID", "ours SAID: search in progress (bracket so far)"]
    plt.close(fig)


def test_accuracy_vs_d_labels_a_search_in_progress():
    done, measuring = result("bert", "said"), {**result("roberta", "said"), "status": "partial"}
    fig = plots.accuracy_vs_d([done, measuring])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "bert SAID" in labels and "roberta SAID (search in progress)" in labels
    plt.close(fig)


def test_accuracy_vs_d_names_which_search_is_in_progress():
    """A curve whose paper-threshold search is finished and whose chance-corrected search is
    not says which one is in progress; both in progress, or only one search, say it plainly."""
    paper = result("roberta", "said")
    corrected = {**result("roberta", "said"), "status": "partial", "settings": {"floor": 0.68}}

    def label(results):
        fig = plots.accuracy_vs_d(results)
        (curve,) = [ln for ln in fig.axes[0].lines if ln.get_label().startswith("roberta SAID")]
        plt.close(fig)
        return curve.get_label()

    assert label([paper, corrected]) == "roberta SAID (chance-corrected search in progress)"
    assert label([{**paper, "status": "partial"}, {**corrected, "status": "ok"}]) == (
        "roberta SAID (paper-threshold search in progress)"
    )
    assert label([{**paper, "status": "partial"}, corrected]) == "roberta SAID (search in progress)"
    assert label([paper, {**corrected, "status": "ok"}]) == "roberta SAID"


def test_accuracy_vs_d_draws_a_pending_point_open():
    """A d scored from part of its rates (``pending``) gets an open marker over the curve, in
    the curve's colour; a finished search draws none."""
    from matplotlib.colors import to_rgba

    measuring = {**result("roberta", "said"), "status": "partial", "pending": [1000]}
    fig = plots.accuracy_vs_d([result("bert", "did"), measuring])
    ax = fig.axes[0]
    (open_marks,) = [c for c in ax.collections if tuple(c.get_facecolor()[0]) == to_rgba("w")]
    assert open_marks.get_offsets().tolist() == [[1000, 0.79]]
    (curve,) = [ln for ln in ax.lines if ln.get_label() == "roberta SAID (search in progress)"]
    assert tuple(open_marks.get_edgecolor()[0]) == to_rgba(curve.get_color())
    plt.close(fig)
    fig = plots.accuracy_vs_d([result("bert", "did")])
    assert not [c for c in fig.axes[0].collections if tuple(c.get_facecolor()[0]) == to_rgba("w")]
    plt.close(fig)


def test_log_ticks_thin_to_decades_on_a_narrow_axis():
    """Three decades on a 2.5-inch-wide axis leave no room for 1-2-5 labels side by side; the
    same span stacked on a 4-inch-high y axis keeps them."""
    from idtheory.plots import _plain_log

    fig, ax = plt.subplots(figsize=(2.5, 4))
    ax.plot([200, 150_000], [200, 150_000])
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log(ax, "x")
    _plain_log(ax, "y")
    fig.canvas.draw()

    def labels(axis):
        lo, hi = sorted(axis.get_view_interval())
        return [t.label1.get_text() for t in axis.get_major_ticks() if lo <= t.get_loc() <= hi]

    assert labels(ax.xaxis) == ["1k", "10k", "100k"]
    assert labels(ax.yaxis)[:3] == ["200", "500", "1k"]
    plt.close(fig)
