"""Matplotlib figures of the paper (and ours), from tidy rows and D90Result dicts.

Every function takes plain data — lists of dicts (one per point / run / model) or
:meth:`idtheory.search.D90Result.to_dict` dicts — and returns a :class:`matplotlib.figure.Figure`
(created with ``pyplot``, so notebooks show it inline; call ``plt.close(fig)`` in scripts). No
function reads the results store or trains anything: the notebooks gather the rows with
:mod:`idtheory.figures` and hand them here. :func:`save_figure` writes a figure as PNG and PDF
and :func:`save_table` the rows behind it as CSV, under ``figures_dir/<scale>/`` with stable
names.

Conventions: d and d90 axes are logarithmic; accuracies and errors are fractions; "vacuous"
bound values (≥ 1) are drawn at 1 with an upward triangle; a figure without data shows a
centred "no data" message instead of raising, so a notebook always writes its files.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

from idtheory.search import PARTIAL, result_threshold_kind
from idtheory.tasks import task_title  # also the notebooks' titles: plots.task_title
from idtheory.trends import UNABLE

__all__ = [
    "CERTIFICATE_BOUND_LABELS",
    "CERTIFICATE_GOALS",
    "METHOD_STYLE",
    "accuracy_vs_d",
    "bounds_vs_d90",
    "bounds_vs_error",
    "certificate_vs_d",
    "certificate_vs_dev_error",
    "column_norms",
    "fastfood_matrix",
    "generalization",
    "markdown_table",
    "no_data",
    "pretraining_trend",
    "relative_gap",
    "save_figure",
    "save_table",
    "size_trend",
    "table1_comparison",
    "trainable_params",
    "transform_cost",
]

#: Line style and marker of each method.
METHOD_STYLE: dict[str, dict[str, str]] = {
    "said": {"linestyle": "-", "marker": "o"},
    "did": {"linestyle": "--", "marker": "s"},
    "full": {"linestyle": ":", "marker": "D"},
}
#: Marker of each d90 status in trend plots (``unable to compute``: on a strip below).
STATUS_MARKER: dict[str, str] = {
    "ok": "o",
    "passes_at_smallest": "v",
    "never_passes": "^",
    UNABLE: "x",
}
_FIGSIZE = (6.4, 4.2)


def _color(i: int) -> str:
    return f"C{i % 10}"


def _new(figsize: tuple[float, float] = _FIGSIZE, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    fig, axes = plt.subplots(1, ncols, figsize=figsize, squeeze=False, layout="constrained")
    return fig, list(axes[0])


def _count_label(x: float, _pos: int | None = None) -> str:
    """A log-axis tick as a short count: 200, 5k, 20k, 2M, 1.5B."""
    for unit, name in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= unit:
            return f"{x / unit:g}{name}"
    return f"{x:g}"


class _LogTicks(LogLocator):
    """Log-axis ticks at 1, 2 and 5 × 10^k while the axis spans at most 3.5 decades and has at
    least 1.1 inch (x) or 0.6 inch (y) per decade (three labels like "20k" side by side, or
    stacked, fit), else at 10^k (decided at draw time, from the limits and the size the axis
    then has)."""

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        lo, hi = sorted((vmin, vmax))
        narrow = lo > 0 and math.log10(hi / lo) <= self._max_decades()
        self.set_params(subs=(1.0, 2.0, 5.0) if narrow else (1.0,))
        return super().tick_values(vmin, vmax)

    def _max_decades(self) -> float:
        axes = getattr(self.axis, "axes", None)
        if axes is None:
            return 3.5
        box = axes.get_position()  # in figure fractions
        width, height = axes.figure.get_size_inches()
        if self.axis.axis_name == "x":
            return min(3.5, box.width * width / 1.1)
        return min(3.5, box.height * height / 0.6)


def _plain_log(ax: Axes, axis: str = "x") -> None:
    """Label a log axis with short plain counts (20, 500, 2k, 1.5M) instead of 2×10¹: ticks at
    1-2-5 per decade on narrow axes, at the decades on wide ones, minor ticks unlabelled (their
    labels collided: '300400', '2e+03e+04')."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(_LogTicks())
    target.set_major_formatter(FuncFormatter(_count_label))
    target.set_minor_formatter(NullFormatter())


#: Most distinct x values :func:`_ticks_at_values` labels one by one.
TICKS_AT_VALUES_MAX = 8


def _ticks_at_values(ax: Axes, values: Iterable[float]) -> None:
    """A log x axis with a labelled tick at each of a few design values (the certificate's
    declared d: 250, 500, 1k — the 1-2-5 ticks labelled only 500 and 1k); more than
    :data:`TICKS_AT_VALUES_MAX` distinct values keep :func:`_plain_log`'s ticks."""
    distinct = sorted({float(v) for v in values if _finite(v) and v > 0})
    _plain_log(ax, "x")
    if 0 < len(distinct) <= TICKS_AT_VALUES_MAX:
        ax.xaxis.set_major_locator(FixedLocator(distinct))
        ax.xaxis.set_minor_locator(NullLocator())


def no_data(ax: Axes, message: str = "no data") -> None:
    """Write ``message`` in the middle of an empty axes (used when nothing is stored yet)."""
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        wrap=True,
        transform=ax.transAxes,
        fontsize=9,
        color="0.35",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _short(name: Any, width: int = 28) -> str:
    """A readable model label: the last path component(s) of a directory or hub id."""
    text = str(name)
    parts = [p for p in text.replace("\\", "/").split("/") if p]
    if len(parts) > 1 and parts[-1].startswith("checkpoint-"):
        text = f"{parts[-2]}@{parts[-1].removeprefix('checkpoint-')}"  # run@updates
    elif parts:
        text = parts[-1]
    return text if len(text) <= width else "…" + text[-(width - 1) :]


# ============================================================================ Figure 1


def _progress_suffix(group: Sequence[Mapping[str, Any]]) -> str:
    """The legend suffix of one curve of :func:`accuracy_vs_d` whose searches (one per threshold
    kind) the store holds part of: ``" (search in progress)"``, naming the kind where the other
    search of the curve is finished (``" (chance-corrected search in progress)"``); "" when
    every search of the curve is finished."""
    partial = [result_threshold_kind(r) for r in group if r.get("status") == PARTIAL]
    if not partial:
        return ""
    if len(partial) < len(group) and len(set(partial)) == 1:
        kind = "paper-threshold" if partial[0] == "paper" else partial[0]
        return f" ({kind} search in progress)"
    return " (search in progress)"


def accuracy_vs_d(
    results: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    metric: str = "accuracy",
    empty_message: str = "no stored grid results",
    majority: float | None = None,
) -> Figure:
    """Evaluation score against d (log axis), one curve per (model, method) (paper Figure 1).

    ``results`` are D90Result dicts (grid mode) of one task: each contributes a line through its
    ``points`` (SAID solid, DID dashed; one colour per model) and a star at its d90. Each model
    gets one dotted horizontal line at its 90% threshold (``threshold`` of its first result) and
    a thin solid one at its full fine-tuning score (``baseline_score``); ``majority`` (the
    constant majority-class predictor's score) adds a grey dash-dot line, which shows at a
    glance when the 90% threshold lies below chance.

    A (model, method) may have two results, one per ``threshold_kind`` (the searches against the
    paper's and the chance-corrected threshold, :func:`idtheory.search.result_threshold_kind`):
    one curve through the points of both (the same d is the same trainings), a filled star at
    the paper's d90 and a hollow one at the chance-corrected d90, and per model a dash-dot-dot
    line at the chance-corrected threshold. A curve of a search the store holds only part of
    (``status`` ``"partial"``: a sweep in progress) is labelled "(search in progress)" — naming
    the threshold kind, e.g. "(chance-corrected search in progress)", when the curve's other
    search is finished; its star
    marks the smallest d that passed so far, and a hollow marker a d scored from part of its
    learning rates (``pending``: the pass is final, the score a lower bound).
    """
    fig, (ax,) = _new()
    curves = [r for r in results if r.get("points")]
    if not curves:
        no_data(ax, empty_message)
        ax.set_title(title or "")
        return fig
    models = _unique(r["model"] for r in curves)
    paper = [r for r in curves if result_threshold_kind(r) == "paper"]
    corrected = [r for r in curves if result_threshold_kind(r) != "paper"]
    for key in _unique((r["model"], r["method"]) for r in curves):
        group = [r for r in curves if (r["model"], r["method"]) == key]
        i = models.index(key[0])
        style = METHOD_STYLE.get(key[1], METHOD_STYLE["said"])
        by_d = {p["d"]: p for r in group for p in r["points"]}
        pts = [by_d[d] for d in sorted(by_d)]
        ax.plot(
            [p["d"] for p in pts],
            [p["score"] for p in pts],
            color=_color(i),
            label=f"{_short(key[0])} {str(key[1]).upper()}{_progress_suffix(group)}",
            **style,
            markersize=4,
        )
        pending = sorted({d for r in group for d in r.get("pending") or ()} & set(by_d))
        if pending:  # scored from part of its rates: open, like an unfinished measurement
            ax.scatter(
                pending,
                [by_d[d]["score"] for d in pending],
                marker=style["marker"],
                s=30,
                facecolors="w",
                edgecolors=_color(i),
                zorder=4,
            )
        for r in group:
            if r.get("d90") is not None and r["d90"] in by_d:
                hollow = r in corrected
                ax.scatter(
                    [r["d90"]],
                    [by_d[r["d90"]]["score"]],
                    marker="*",
                    s=140,
                    color="w" if hollow else _color(i),
                    zorder=5,
                    edgecolors=_color(i) if hollow else "k",
                    linewidths=1.0 if hollow else 0.5,
                )
    for i, model in enumerate(models):
        thr = next(
            (
                r.get("threshold")
                for r in paper
                if r["model"] == model and r.get("threshold") is not None
            ),
            None,
        )
        if thr is not None:
            ax.axhline(
                thr,
                color=_color(i),
                linestyle=":",
                linewidth=1.2,
                label=f"90% of {_short(model)} full FT",
            )
        base = next(
            (r.get("baseline_score") for r in curves if r["model"] == model),
            None,
        )
        if _finite(base):
            ax.axhline(
                base,
                color=_color(i),
                linestyle="-",
                linewidth=0.8,
                alpha=0.5,
                label=f"{_short(model)} full FT",
            )
    for i, model in enumerate(models):
        thr = next((r.get("threshold") for r in corrected if r["model"] == model), None)
        if _finite(thr):
            ax.axhline(
                thr,
                color=_color(i),
                linestyle=(0, (4, 1.5, 1, 1.5, 1, 1.5)),
                linewidth=1.2,
                label=f"chance-corrected 90% of {_short(model)} full FT",
            )
    if _finite(majority):
        ax.axhline(majority, color="0.45", linestyle="-.", linewidth=1.0, label="majority class")
    ax.set_xscale("log")
    _plain_log(ax, "x")
    ax.set_xlabel("subspace dimension d")
    ax.set_ylabel(f"dev {metric}")
    ax.set_title(title or "")
    ax.grid(True, which="both", alpha=0.3)
    _legend_beside(fig, ax)
    return fig


#: Legend entries an axes holds inside before :func:`_legend_beside` moves them out.
LEGEND_INSIDE_MAX = 6


def _legend_beside(fig: Figure, ax: Axes) -> None:
    """``ax``'s legend inside it while short; longer (several models, both thresholds: up to a
    dozen lines) to its right, the figure widened to keep the axes' size — inside, it hid
    the curves and the threshold lines it names."""
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) <= LEGEND_INSIDE_MAX:
        ax.legend(fontsize=7, loc="best")
        return
    w, h = fig.get_size_inches()
    fig.set_size_inches(w + 2.6, h)
    fig.legend(handles, labels, loc="outside right upper", fontsize=7)


# ============================================================================ Table 1


def table1_comparison(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str = "d90: the paper's Table 1 and this reproduction",
) -> Figure:
    """d90 per model, task and method: the paper's values beside ours (log axis).

    ``rows`` have ``model`` (a display label), ``task``, ``method``, ``d90`` and ``source``
    (``"paper"`` or anything else = ours). One panel per task; one row of the y axis per
    model; SAID circles, DID squares; the paper hollow and black, ours filled in colour; "≤"
    marks a d90 that is only an upper bound (``status`` ``"passes_at_smallest"``). A row with
    ``below_chance`` (its 90% threshold is at or below the majority class, so the value is no
    d90) is drawn as a grey cross. A row of ours with ``status`` ``"never_passes"`` and a
    ``bracket`` (d_max, None) is drawn as a hollow triangle pointing right at d_max, marked ">":
    d90 lies above the largest d searched. Other rows without a d90 are skipped (they stay in
    the CSV). A row with ``threshold_kind`` ``"chance-corrected"`` gets a y row of its own,
    labelled so. A row of ours with ``status`` ``"partial"`` (a search in progress) is drawn as
    its bracket so far, never as a d90 (:func:`_in_progress`).
    """
    tasks = _unique(r["task"] for r in rows)
    fig, axes = _new(
        (4.2 * max(1, len(tasks)), 0.5 + 0.45 * max(4, _n_models(rows))), ncols=max(1, len(tasks))
    )
    if not rows:
        no_data(axes[0], "no d90 values")
        return fig
    for ax, task in zip(axes, tasks):
        sub = [r for r in rows if r["task"] == task]
        labels = _unique(
            _table1_label(r) for r in sorted(sub, key=lambda r: r["source"] != "paper")
        )
        for method, offset in (("said", -0.15), ("did", 0.15)):
            for is_paper in (True, False):
                pts = [
                    r
                    for r in sub
                    if r["method"] == method
                    and (r["source"] == "paper") == is_paper
                    and _finite(r.get("d90"))
                    and r.get("status") != PARTIAL
                ]
                void = [r for r in pts if r.get("below_chance")]
                pts = [r for r in pts if not r.get("below_chance")]
                if void:
                    ax.scatter(
                        [r["d90"] for r in void],
                        [labels.index(_table1_label(r)) + offset for r in void],
                        marker="x",
                        s=40,
                        color="0.5",
                        label=f"ours {method.upper()}: threshold ≤ majority class",
                    )
                if not is_paper:
                    _beyond_d_max(ax, sub, method, offset, labels)
                    _in_progress(ax, sub, method, offset, labels)
                if not pts:
                    continue
                marker = METHOD_STYLE[method]["marker"]
                ax.scatter(
                    [r["d90"] for r in pts],
                    [labels.index(_table1_label(r)) + offset for r in pts],
                    marker=marker,
                    s=45,
                    facecolors="none" if is_paper else _OURS_COLOUR[method],
                    edgecolors="k" if is_paper else _OURS_COLOUR[method],
                    label=f"{'paper' if is_paper else 'ours'} {method.upper()}",
                )
                for r in pts:  # an upper bound only: the smallest d tried already passed
                    if r.get("status") == "passes_at_smallest":
                        ax.annotate(
                            "≤",
                            (r["d90"], labels.index(_table1_label(r)) + offset),
                            xytext=(-9, -3),
                            textcoords="offset points",
                            fontsize=8,
                        )
        ax.set_yticks(range(len(labels)), [_short(m, 40) for m in labels], fontsize=8)
        ax.set_ylim(-0.6, len(labels) - 0.4)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.margins(x=0.12)  # room for edge markers and the "≤" marks
        _plain_log(ax, "x")
        ax.set_xlabel("d90")
        ax.set_title(task_title(task))
        ax.grid(True, axis="x", which="both", alpha=0.3)
    handles: dict[str, Any] = {}  # one legend for all panels, below them (inside, it hid points)
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:  # a column per kind of mark (the paper's first), SAID above DID

        def kind(label: str) -> str:
            return label.replace("SAID", "").replace("DID", "")

        kinds = sorted({kind(k) for k in handles}, key=lambda k: (not k.startswith("paper"), k))
        methods = [m for m in ("SAID", "DID") if any(m in k for k in handles)] or [""]
        blank = Rectangle((0, 0), 1, 1, visible=False)
        cells = [  # column-major: each kind's SAID entry above its DID one, or a blank
            next((k for k in handles if kind(k) == c and (not m or m in k)), "")
            for c in kinds
            for m in methods
        ]
        fig.legend(
            [handles[k] if k else blank for k in cells],
            cells,
            loc="outside lower center",
            ncol=len(kinds),
            fontsize=7,
        )
    fig.suptitle(title, fontsize=10)
    return fig


_OURS_COLOUR = {"said": "C0", "did": "C1"}
"""Table 1's colour of our values per method (the paper's are black)."""


def _beyond_d_max(
    ax: Axes, rows: Sequence[Mapping[str, Any]], method: str, offset: float, labels: list[str]
) -> None:
    """Our ``never_passes`` rows of ``method``: a hollow right-pointing triangle at d_max (the
    bracket's lower end), marked ">" — no d up to d_max reached the threshold."""
    beyond = [
        r
        for r in rows
        if r["method"] == method
        and r["source"] != "paper"
        and r.get("status") == "never_passes"
        and r.get("bracket")
        and _finite(r["bracket"][0])
    ]
    if not beyond:
        return
    colour = _OURS_COLOUR[method]
    ys = [labels.index(_table1_label(r)) + offset for r in beyond]
    xs = [r["bracket"][0] for r in beyond]
    ax.scatter(
        xs,
        ys,
        marker=">",
        s=45,
        facecolors="none",
        edgecolors=colour,
        label=f"ours {method.upper()}: not reached up to d_max",
    )
    for x, y in zip(xs, ys):
        ax.annotate(">", (x, y), xytext=(6, -3), textcoords="offset points", fontsize=8)


def _in_progress(
    ax: Axes, rows: Sequence[Mapping[str, Any]], method: str, offset: float, labels: list[str]
) -> None:
    """Our ``partial`` rows of ``method`` (a search the store holds only part of): the bracket
    so far, hollow and faint — a segment from its lower end to the smallest d that passed, with
    the method's marker there, or, when no d has passed yet, a right-pointing triangle at the
    largest d that failed, marked "…". A partial row without a bracket is skipped."""
    colour, marker = _OURS_COLOUR[method], METHOD_STYLE[method]["marker"]
    label = f"ours {method.upper()}: search in progress (bracket so far)"
    for r in rows:
        lo, hi = r.get("bracket") or (None, None)
        if r["method"] != method or r["source"] == "paper" or r.get("status") != PARTIAL:
            continue
        if not (_finite(lo) or _finite(hi)):
            continue
        y = labels.index(_table1_label(r)) + offset
        if _finite(hi) and _finite(lo):
            ax.plot([lo, hi], [y, y], color=colour, alpha=0.6, linewidth=1.5)
        x, mark = (hi, marker) if _finite(hi) else (lo, ">")
        ax.scatter(
            [x],
            [y],
            marker=mark,
            s=45,
            facecolors="none",
            edgecolors=colour,
            alpha=0.8,
            label=label,
        )
        if not _finite(hi):
            ax.annotate("…", (lo, y), xytext=(6, -3), textcoords="offset points", fontsize=8)
        label = "_"  # one legend entry per method


def _table1_label(row: Mapping[str, Any]) -> str:
    """A Table 1 row's y label: its model, marked when its d90 is chance-corrected."""
    if row.get("threshold_kind") == "chance-corrected":
        return f"{row['model']} (chance-corr.)"
    return str(row["model"])


def _n_models(rows: Sequence[Mapping[str, Any]]) -> int:
    per_task: dict[Any, set[Any]] = {}
    for r in rows:
        per_task.setdefault(r["task"], set()).add(_table1_label(r))
    return max((len(v) for v in per_task.values()), default=1)


# ============================================================================ Figure 2


def _bracket(row: Mapping[str, Any]) -> tuple[Any, Any]:
    b = row.get("bracket")
    if isinstance(b, (list, tuple)) and len(b) == 2:
        return b[0], b[1]
    return row.get("bracket_lo"), row.get("bracket_hi")


def _measured_runs(rows: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The maximal runs of consecutive rows (in the given order) that have a finite d90: a
    line may join only these, never across a checkpoint where d90 was not measured."""
    runs: list[list[Mapping[str, Any]]] = [[]]
    for r in rows:
        if _finite(r.get("d90")):
            runs[-1].append(r)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _trend_axes(with_strip: bool) -> tuple[Figure, Axes, Axes | None]:
    """Figure 2's axes: the d90 panel, and below it (sharing x) a thin strip for the
    checkpoints whose d90 cannot be computed, when there are any."""
    if not with_strip:
        fig, (ax,) = _new()
        return fig, ax, None
    fig, (ax, strip) = plt.subplots(
        2, 1, figsize=_FIGSIZE, sharex=True, height_ratios=(6, 1), layout="constrained"
    )
    return fig, ax, strip


def pretraining_trend(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str = "d90 during pre-training",
    method: str = "SAID",
) -> Figure:
    """d90 against pre-training updates, one colour per task (paper Figure 2).

    ``rows``: ``checkpoint``, ``step`` (None: the checkpoint's index is used), ``task``,
    ``d90``, ``status`` and ``bracket``. Statuses ``ok`` (filled circles), ``passes_at_smallest``
    (▽: d90 is at most that value), ``never_passes`` (▲ at the largest d tried: d90 is larger)
    and ``unable to compute`` (✕ on a separate strip under the panel, one row per task: the
    checkpoint's full fine-tuning does not beat the majority class, so there is no d90 axis
    value to give it). A task's line joins only measured d90 of consecutive checkpoints; it
    breaks wherever a checkpoint has none. The legend sits outside the panel, right of it.
    """
    tasks = _unique(r["task"] for r in rows)
    unable_rows = [r for r in rows if r.get("status") == UNABLE]
    fig, ax, strip = _trend_axes(bool(unable_rows))
    if not rows:
        no_data(ax, "no checkpoints")
        ax.set_title(title)
        return fig
    steps = _unique(r.get("checkpoint") for r in rows)

    def x_of(r: Mapping[str, Any]) -> float:
        s = r.get("step")
        return float(s) if _finite(s) else float(steps.index(r.get("checkpoint")))

    any_y = False
    for i, task in enumerate(tasks):
        sub = sorted((r for r in rows if r["task"] == task), key=x_of)
        for k, run in enumerate(_measured_runs(sub)):
            any_y = True
            ax.plot(
                [x_of(r) for r in run],
                [r["d90"] for r in run],
                color=_color(i),
                linewidth=1.5,
                label=task_title(str(task)) if k == 0 else "_nolegend_",
            )
        if not any(_finite(r.get("d90")) for r in sub):  # the task still names its colour
            ax.plot([], [], color=_color(i), linewidth=1.5, label=task_title(str(task)))
        for status in ("ok", "passes_at_smallest"):
            pts = [r for r in sub if r.get("status") == status and _finite(r.get("d90"))]
            if pts:
                ax.scatter(
                    [x_of(r) for r in pts],
                    [r["d90"] for r in pts],
                    marker=STATUS_MARKER[status],
                    color=_color(i),
                    zorder=4,
                    facecolors=_color(i) if status == "ok" else "none",
                )
        never = [r for r in sub if r.get("status") == "never_passes" and _finite(_bracket(r)[0])]
        if never:
            any_y = True
            ax.scatter(
                [x_of(r) for r in never],
                [_bracket(r)[0] for r in never],
                marker="^",
                color=_color(i),
                zorder=4,
            )
        unable = [r for r in sub if r.get("status") == UNABLE]
        if unable and strip is not None:
            strip.scatter([x_of(r) for r in unable], [i] * len(unable), marker="x", color=_color(i))
    for status, text in (
        (UNABLE, UNABLE),
        ("passes_at_smallest", "d90 ≤ smallest d tried"),
        ("never_passes", "d90 > largest d tried"),
    ):
        if any(r.get("status") == status for r in rows):
            ax.scatter(
                [],
                [],
                marker=STATUS_MARKER[status],
                color="0.3",
                label=text,
                facecolors="none" if status == "passes_at_smallest" else "0.3",
            )
    if any_y:
        ax.set_yscale("log")
        _plain_log(ax, "y")
    else:
        ax.set_yticks([])
    bottom = ax if strip is None else strip
    if strip is not None:
        strip.set_ylim(-0.75, len(tasks) - 0.25)
        strip.set_yticks([])
        strip.set_ylabel("unable to\ncompute", fontsize=7, rotation=0, ha="right", va="center")
        strip.grid(True, axis="x", alpha=0.3)
    bottom.set_xlabel(
        "pre-training updates" if any(_finite(r.get("step")) for r in rows) else "checkpoint"
    )
    ax.set_ylabel(f"{method} d90")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=7, loc="outside right upper")
    return fig


# ============================================================================ Figure 3


REFERENCE_STYLES: tuple[tuple[str, str], ...] = (("C2", "D"), ("C1", "s"), ("C4", "P"))
"""(colour, marker) of :func:`size_trend`'s reference series, in turn: green diamonds, orange
squares, purple pluses (the fitted models are blue dots, the fit a red dashed line)."""


def size_trend(
    rows: Sequence[Mapping[str, Any]],
    fit: Mapping[str, Any] | None = None,
    *,
    title: str = "d90 against model size",
    method: str = "SAID",
    task: str = "MRPC",
    reference: Sequence[Mapping[str, Any]] = (),
    series: Sequence[str] = (),
    label: str = "fitted models",
) -> Figure:
    """d90 against parameter count, log-log, with the fitted line (paper Figure 3).

    ``rows``: ``model``, ``n_params``, ``d90``, ``status``. ``fit``: ``slope`` and
    ``intercept`` of ``log10 d90 = intercept + slope · log10 n_params`` (e.g.
    :meth:`idtheory.trends.LogLogFit.to_dict`), optionally ``slope_ci95`` and ``r2``.
    ``passes_at_smallest`` points (upper bounds) are drawn as hollow ▼. ``reference``: rows of
    the same form, each with its ``series`` (e.g. ``"pretrained, MRPC SAID (real scale)"``),
    drawn outside the fit one series per colour and marker (:data:`REFERENCE_STYLES`, in the
    order of ``series`` — the configured series, so that one with nothing to draw yet does not
    shift the styles of the others — then of first appearance; legend entries prefixed with the
    series, those of ``rows`` then with ``label``) — e.g. real pretrained models beside a
    from-scratch family.
    """
    fig, (ax,) = _new()
    pts = [r for r in rows if _finite(r.get("d90")) and _finite(r.get("n_params"))]
    drawable = [*rows, *reference]
    if not any(_finite(r.get("d90")) and _finite(r.get("n_params")) for r in drawable) and not any(
        r.get("status") == "never_passes" for r in drawable
    ):
        missing = ", ".join(_short(r.get("model")) for r in rows) or "none"
        no_data(ax, f"no d90 with a parameter count yet (models: {missing})")
        ax.set_title(title)
        return fig
    _size_series(ax, rows, "C0", "o", f"{label}: " if reference else "")
    groups: dict[str, list[Mapping[str, Any]]] = {name: [] for name in series}
    for r in reference:
        groups.setdefault(str(r.get("series") or "reference"), []).append(r)
    for (name, members), (color, marker) in zip(groups.items(), itertools.cycle(REFERENCE_STYLES)):
        if members:
            _size_series(ax, members, color, marker, f"{name}: ")
    if pts and fit and _finite(fit.get("slope")) and _finite(fit.get("intercept")):
        xs = np.geomspace(min(r["n_params"] for r in pts), max(r["n_params"] for r in pts), 50)
        ys = 10.0 ** (fit["intercept"] + fit["slope"] * np.log10(xs))
        label = f"fit: slope {fit['slope']:.2f}"
        ci = fit.get("slope_ci95")
        if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_finite(c) for c in ci):
            label += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
        if _finite(fit.get("r2")):
            label += f", R² {fit['r2']:.2f}"
        ax.plot(xs, ys, color="C3", linestyle="--", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log(ax, "y")
    _plain_log(ax, "x")
    ax.set_xlabel("parameters of the pre-trained model")
    shown = task_title(task)
    ref_tasks = {task_title(str(r["task"])) for r in reference if r.get("task")} - {shown}
    on = shown if not ref_tasks else f"{shown} ({', '.join(sorted(ref_tasks))}: see the legend)"
    ax.set_ylabel(f"{method} d90 on {on}")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


def _size_series(
    ax: Axes, rows: Sequence[Mapping[str, Any]], color: str, marker: str, prefix: str
) -> None:
    """One series of :func:`size_trend`: d90 (``marker``), lower bounds ▲ at the largest d
    tried (``never_passes``), upper bounds hollow ▼ (``passes_at_smallest``), model names."""
    pts = [r for r in rows if _finite(r.get("d90")) and _finite(r.get("n_params"))]
    exact = [r for r in pts if r.get("status") != "passes_at_smallest"]
    upper = [r for r in pts if r.get("status") == "passes_at_smallest"]
    lower = [
        r
        for r in rows
        if r.get("status") == "never_passes"
        and _finite(_bracket(r)[0])
        and _finite(r.get("n_params"))
    ]
    if lower:
        ax.scatter(
            [r["n_params"] for r in lower],
            [_bracket(r)[0] for r in lower],
            marker="^",
            color=color,
            zorder=4,
            label=f"{prefix}d90 > (largest d tried)",
        )
    if exact:
        ax.scatter(
            [r["n_params"] for r in exact],
            [r["d90"] for r in exact],
            color=color,
            zorder=4,
            label=f"{prefix}d90",
            **({} if marker == "o" else {"marker": marker}),
        )
    if upper:
        ax.scatter(
            [r["n_params"] for r in upper],
            [r["d90"] for r in upper],
            marker="v",
            facecolors="none",
            edgecolors=color,
            zorder=4,
            label=f"{prefix}d90 ≤ (smallest d tried)",
        )
    for r in pts + lower:
        y = r["d90"] if _finite(r.get("d90")) else _bracket(r)[0]
        ax.annotate(
            _short(r["model"], 22),
            (r["n_params"], y),
            fontsize=6,
            xytext=(3, 3),
            textcoords="offset points",
        )


# ============================================================================ Figures 4-5


def relative_gap(acc_train: float, acc_eval: float) -> float:
    """Relative generalization gap ``(acc_train − acc_eval) / (1 − acc_eval)`` (NaN if
    ``acc_eval`` is 1 or an input is missing)."""
    if not (_finite(acc_train) and _finite(acc_eval)) or acc_eval >= 1.0:
        return float("nan")
    return (acc_train - acc_eval) / (1.0 - acc_eval)


def generalization(
    rows: Sequence[Mapping[str, Any]],
    kind: str = "accuracy",
    *,
    source: str = "full",
    title: str | None = None,
) -> Figure:
    """Evaluation accuracy (``kind="accuracy"``, paper Figure 4) or relative generalization gap
    (``kind="gap"``, Figure 5) against d90, one colour per task.

    ``rows``: ``task``, ``d90``, ``status`` and the accuracies ``<source>_dev`` /
    ``<source>_train`` (``source="full"``: the full fine-tuning of the checkpoint; ``"d90"``: its
    subspace training at d = d90). A dashed least-squares line of y against log10 d90 over all
    points is added when there are at least two distinct d90.
    """
    if kind not in ("accuracy", "gap"):
        raise ValueError(f"kind must be 'accuracy' or 'gap', got {kind!r}")
    fig, (ax,) = _new()
    dev_key, train_key = f"{source}_dev", f"{source}_train"

    def y_of(r: Mapping[str, Any]) -> float:
        if kind == "accuracy":
            v = r.get(dev_key)
            return float(v) if _finite(v) else float("nan")
        return relative_gap(r.get(train_key, float("nan")), r.get(dev_key, float("nan")))

    pts = [r for r in rows if _finite(r.get("d90")) and math.isfinite(y_of(r))]
    ylabel = "evaluation accuracy" if kind == "accuracy" else "relative generalization gap"
    what = "full fine-tuning" if source == "full" else "subspace training at d90"
    ax.set_title(title or f"{ylabel} against d90 ({what})", fontsize=10)
    if not pts:
        no_data(ax, "no d90 values yet")
        return fig
    for i, task in enumerate(_unique(r["task"] for r in pts)):
        sub = [r for r in pts if r["task"] == task]
        ax.scatter(
            [r["d90"] for r in sub],
            [y_of(r) for r in sub],
            color=_color(i),
            label=task_title(str(task)),
            zorder=4,
        )
    xs = np.log10([r["d90"] for r in pts])
    if np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, [y_of(r) for r in pts], 1)
        grid = np.linspace(xs.min(), xs.max(), 20)
        ax.plot(
            10**grid,
            intercept + slope * grid,
            color="0.4",
            linestyle="--",
            label=f"least squares: {slope:+.3f} per decade",
        )
    ax.set_xscale("log")
    _plain_log(ax, "x")
    ax.set_xlabel("d90")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


# ============================================================================ bounds


def _bound_series(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return _unique(str(r["label"]) for r in rows if _finite(r.get("bound")))


def _dodge(xs: Sequence[float], i: int, n: int, log: bool) -> list[float]:
    """Series ``i`` of ``n`` shifted a little along x (±3 % per series on a log axis, ±0.004 on a
    linear one) so that several bounds of the same run do not hide each other."""
    k = i - (n - 1) / 2
    return [x * 1.03**k if log else x + 0.004 * k for x in xs]


def _plot_bounds(ax: Axes, rows: Sequence[Mapping[str, Any]], x_key: str, log_x: bool) -> None:
    """One scatter series per bound label, dodged along x (:func:`_dodge`); values ≥ 1 at 1 (▲)."""
    vac = False
    series = _bound_series(rows)
    for i, label in enumerate(series):
        sub = [
            r
            for r in rows
            if r["label"] == label and _finite(r.get("bound")) and _finite(r.get(x_key))
        ]
        if not sub:
            continue
        certified = all(bool(r.get("certified", True)) for r in sub)
        ok = [r for r in sub if r["bound"] < 1.0]
        over = [r for r in sub if r["bound"] >= 1.0]
        vac |= bool(over)
        ax.scatter(
            _dodge([r[x_key] for r in ok], i, len(series), log_x),
            [r["bound"] for r in ok],
            color=_color(i),
            marker="o" if certified else "P",
            label=label + ("" if certified else " (not certified)"),
            zorder=4,
        )
        if over:
            ax.scatter(
                _dodge([r[x_key] for r in over], i, len(series), log_x),
                [1.0] * len(over),
                color=_color(i),
                marker="^",
                zorder=4,
            )
    ax.axhline(1.0, color="0.5", linewidth=0.8)
    if vac:
        ax.text(
            0.01,
            0.99,
            "▲ at 1: vacuous bound (≥ 1)",
            transform=ax.transAxes,
            fontsize=7,
            va="top",
            color="0.3",
        )
    ax.set_ylim(0.0, 1.08)
    ax.set_ylabel("bound on the 0-1 error")
    ax.grid(True, which="both", alpha=0.3)


def bounds_vs_d90(
    rows: Sequence[Mapping[str, Any]], *, title: str = "certified error bounds against d90"
) -> Figure:
    """Bound values against d (= d90), one series per bound (``label``), with the measured dev
    error of every run as black crosses.

    ``rows``: ``d``, ``bound`` (fraction, raw), ``label``, ``certified``, ``dev_error`` (one
    row per run × bound). Values ≥ 1 are drawn at 1 (▲); the series are offset by a few per cent
    along x so that the bounds of one run stay visible side by side.
    """
    fig, (ax,) = _new()
    ax.set_title(title, fontsize=10)
    if not any(_finite(r.get("bound")) for r in rows):
        no_data(ax, "no bounds yet (no d90 run)")
        return fig
    _plot_bounds(ax, rows, "d", log_x=True)
    runs = {r.get("run_id"): r for r in rows if _finite(r.get("dev_error"))}
    if runs:
        ax.scatter(
            [r["d"] for r in runs.values()],
            [r["dev_error"] for r in runs.values()],
            marker="x",
            color="k",
            label="measured dev error",
            zorder=5,
        )
    ax.set_xscale("log")
    _plain_log(ax, "x")
    ax.set_xlabel("d90 (trained parameters)")
    ax.legend(fontsize=6, loc="lower right")
    return fig


def bounds_vs_error(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str = "certified error bounds against the measured dev error",
) -> Figure:
    """Bound values against the measured dev error of the same run, with the diagonal
    bound = error (a valid bound lies above it, up to the dev set's sampling noise)."""
    fig, (ax,) = _new()
    ax.set_title(title, fontsize=10)
    if not any(_finite(r.get("bound")) and _finite(r.get("dev_error")) for r in rows):
        no_data(ax, "no bounds yet (no d90 run)")
        return fig
    _plot_bounds(ax, rows, "dev_error", log_x=False)
    ax.plot([0, 1], [0, 1], color="k", linestyle=":", linewidth=1, label="bound = dev error")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("measured dev error")
    ax.legend(fontsize=6, loc="lower right")
    return fig


# ============================================================================ certificate

#: Labels of the certificate's bound rows (:data:`idtheory.certify.ROWS`).
CERTIFICATE_BOUND_LABELS: dict[str, str] = {
    "occam_binomial": "Occam binomial",
    "occam_kl": "Occam kl",
    "pac_bayes_kl": "PAC-Bayes-kl",
    "catoni": "Catoni",
}
#: Goals of a certificate on SST-2 test error (issue 16): ≤ 0.25, stretch ≤ 0.20.
CERTIFICATE_GOALS = (0.25, 0.20)


def _certificate_setup(
    rows: Sequence[Mapping[str, Any]],
    bound: str | None,
    x_key: str,
    title: str,
    empty: str | None,
) -> tuple[Figure, Axes, str, list[Mapping[str, Any]]]:
    """A new figure for bound row ``bound`` (default: the rows' headline) of the certificate
    rows with a finite ``x_key``; without any, the "no certificate" panel (``empty``, default
    :func:`idtheory.certify.no_certificate_message`) and no rows."""
    fig, (ax,) = _new()
    name = bound or next((str(r["headline"]) for r in rows if r.get("headline")), "")
    label = CERTIFICATE_BOUND_LABELS.get(name, name)
    ax.set_title(title.format(bound=f" ({label})" if label else ""), fontsize=10)
    pts = [r for r in rows if _finite(r.get(name)) and _finite(r.get(x_key))]
    if not pts:
        if empty is None:
            from idtheory.certify import no_certificate_message

            empty = no_certificate_message()
        no_data(ax, empty)
    return fig, ax, name, pts


def _certificate_series(rows: Sequence[Mapping[str, Any]]) -> dict[tuple, list[Mapping[str, Any]]]:
    """Rows grouped by method and L (and by route and protocol when these vary), by d."""
    extra = [k for k in ("route", "protocol") if len(_unique(r.get(k) for r in rows)) > 1]
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: r["dim"]):
        key = (r["method"], r["levels"], *(r.get(k) for k in extra))
        groups.setdefault(key, []).append(r)
    return groups


def _series_label(key: tuple) -> str:
    method, levels, *extra = key
    return " ".join([str(method).upper(), f"L={levels}", *map(str, extra)])


def _vacuous_marks(ax: Axes, xs: Sequence[float], values: Sequence[float], color: str) -> bool:
    """▲ at 1 for every value ≥ 1 (vacuous); whether there was one."""
    over = [x for x, v in zip(xs, values) if v >= 1.0]
    if over:
        ax.scatter(over, [1.0] * len(over), color=color, marker="^", zorder=5)
    return bool(over)


def _certificate_axes(
    ax: Axes, name: str, values: Iterable[float], goals: Sequence[float], vacuous: bool
) -> None:
    """Chance (0.5) and ``goals`` as horizontal lines, the y range and label, the legend."""
    ax.axhline(0.5, color="0.3", linestyle="-.", linewidth=0.9, label="chance (0.5)")
    for goal, style in zip(goals, ("--", ":", "-.")):
        ax.axhline(goal, color="tab:green", linestyle=style, linewidth=0.9, label=f"goal {goal:g}")
    if vacuous:
        ax.text(0.01, 0.99, "▲ at 1: vacuous bound (≥ 1)", transform=ax.transAxes, fontsize=7,
                va="top", color="0.3")  # fmt: skip
    ax.set_ylim(0.0, min(1.05, max(0.55, *(min(v, 1.0) for v in values)) * 1.08))
    ax.set_ylabel(f"{CERTIFICATE_BOUND_LABELS.get(name, name)} bound on the test error")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="best")


def certificate_vs_d(
    rows: Sequence[Mapping[str, Any]],
    bound: str | None = None,
    *,
    goals: Sequence[float] = CERTIFICATE_GOALS,
    title: str = "certified bound{bound} against d",
    empty: str | None = None,
) -> Figure:
    """A bound row of every stored certificate against d, one line per method and L.

    ``rows``: :func:`idtheory.figures.certificates` (``dim``, ``method``, ``levels``, one
    column per bound row). ``bound``: the row drawn (a key of :data:`CERTIFICATE_BOUND_LABELS`),
    default the protocol's headline. Chance (0.5) and ``goals`` are drawn as horizontal lines;
    values ≥ 1 are drawn at 1 (▲, vacuous). Without a certificate: a panel saying how to
    compute one (``empty``). ``{bound}`` in ``title`` becomes " (<row label>)".
    """
    fig, ax, name, pts = _certificate_setup(rows, bound, "dim", title, empty)
    if not pts:
        return fig
    vacuous = False
    for i, (key, sub) in enumerate(_certificate_series(pts).items()):
        style = METHOD_STYLE.get(str(key[0]), {"linestyle": "-", "marker": "o"})
        xs, values = [r["dim"] for r in sub], [float(r[name]) for r in sub]
        ys = [min(v, 1.0) for v in values]
        ax.plot(xs, ys, color=_color(i), label=_series_label(key), **style)
        vacuous |= _vacuous_marks(ax, xs, values, _color(i))
    ax.set_xscale("log")
    _ticks_at_values(ax, (r["dim"] for r in pts))
    ax.set_xlabel("d (trained parameters)")
    _certificate_axes(ax, name, (float(r[name]) for r in pts), goals, vacuous)
    return fig


def certificate_vs_dev_error(
    rows: Sequence[Mapping[str, Any]],
    bound: str | None = None,
    *,
    goals: Sequence[float] = CERTIFICATE_GOALS,
    title: str = "certified bound{bound} against the dev error of the coded model",
    empty: str | None = None,
) -> Figure:
    """A bound row of every stored certificate against the dev error of the same coded model,
    each point labelled by its candidate (method, d, L), with the line bound = dev error (a
    valid bound lies above it, up to the dev set's noise), chance (0.5), ``goals`` and the full
    fine-tuning dev error (a vertical line, when ``rows`` carry ``full_dev_error``).

    ``rows``, ``bound`` and ``empty`` as in :func:`certificate_vs_d`.
    """
    fig, ax, name, pts = _certificate_setup(rows, bound, "dev_error", title, empty)
    if not pts:
        return fig
    vacuous = False
    zoom = _certificate_zoom(ax, pts, name)
    labelled = ax if zoom is None else zoom  # the labels go where the points can be told apart
    for i, (key, sub) in enumerate(_certificate_series(pts).items()):
        xs, values = [float(r["dev_error"]) for r in sub], [float(r[name]) for r in sub]
        ys = [min(v, 1.0) for v in values]
        ax.scatter(xs, ys, color=_color(i), label=_series_label(key), zorder=4)
        vacuous |= _vacuous_marks(ax, xs, values, _color(i))
        if zoom is not None:
            zoom.scatter(xs, ys, color=_color(i), zorder=4)
        for r, x, y in zip(sub, xs, ys):
            text = f"{str(r['method']).upper()} d{r['dim']} L{r['levels']}"
            # series alternate above right and below left of their points
            offset, ha = ((4, 3), "left") if i % 2 == 0 else ((-4, -8), "right")
            labelled.annotate(text, (x, y), textcoords="offset points", xytext=offset,
                              ha=ha, fontsize=6, color=_color(i))  # fmt: skip
    for full in _unique(r["full_dev_error"] for r in pts if _finite(r.get("full_dev_error"))):
        ax.axvline(full, color="tab:purple", linestyle=":", linewidth=1.0,
                   label=f"full fine-tuning dev error ({full:.3f})")  # fmt: skip
    ax.plot([0, 1], [0, 1], color="k", linestyle=":", linewidth=1, label="bound = dev error")
    ax.set_xlim(0.0, max(0.55, *(float(r["dev_error"]) for r in pts)) * 1.05)
    ax.set_xlabel("dev error of the coded model")
    _certificate_axes(ax, name, (float(r[name]) for r in pts), goals, vacuous)
    return fig


def _certificate_zoom(ax: Any, pts: Sequence[Mapping[str, Any]], name: str) -> Any | None:
    """An inset magnifying the certificates when they crowd (all within 0.1 of each other in
    both coordinates, at least two), where their labels go; None when they do not crowd."""
    xs = [float(r["dev_error"]) for r in pts]
    ys = [min(float(r[name]), 1.0) for r in pts]
    if len(pts) < 2 or max(xs) - min(xs) > 0.1 or max(ys) - min(ys) > 0.1:
        return None
    pad = 0.01
    zoom = ax.inset_axes([0.05, 0.56, 0.42, 0.4])
    zoom.set_xlim(min(xs) - pad, max(xs) + 4 * pad)
    zoom.set_ylim(min(ys) - pad, max(ys) + pad)
    zoom.tick_params(labelsize=6)
    zoom.grid(alpha=0.3)
    ax.indicate_inset_zoom(zoom, edgecolor="0.5")
    return zoom


# ============================================================================ Fastfood tour


def fastfood_matrix(P: Any, *, title: str | None = None) -> Figure:
    """A materialized projection matrix (D × d) as an image, symmetric diverging colours."""
    M = np.asarray(P.detach().cpu() if hasattr(P, "detach") else P, dtype=np.float64)
    fig, (ax,) = _new((4.8, 5.2))
    v = float(np.abs(M).max()) or 1.0
    im = ax.imshow(M, cmap="RdBu_r", vmin=-v, vmax=v, aspect="auto", interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8, label="entry of P")
    ax.set_xlabel(f"column j (input coordinate, d = {M.shape[1]})")
    ax.set_ylabel(f"row i (parameter, D = {M.shape[0]})")
    ax.set_title(title or "Fastfood P = c·H G Π H B, materialized", fontsize=10)
    return fig


def column_norms(
    norms: Mapping[str, Sequence[float]], *, title: str = "column norms of P"
) -> Figure:
    """Histogram of the column norms ‖P e_j‖ per projection kind (≈ 1 by construction)."""
    fig, (ax,) = _new()
    if not norms:
        no_data(ax)
        return fig
    values = [np.asarray(v, dtype=np.float64) for v in norms.values()]
    lo = min(float(v.min()) for v in values)
    hi = max(float(v.max()) for v in values)
    bins = np.linspace(min(lo, 0.98), max(hi, 1.02), 41)
    for i, (name, v) in enumerate(norms.items()):
        ax.hist(
            np.asarray(v),
            bins=bins,
            histtype="step",
            linewidth=1.6,
            color=_color(i),
            label=f"{name} (mean {np.mean(v):.3f}, sd {np.std(v):.4f})",
        )
    ax.axvline(1.0, color="k", linestyle=":", linewidth=1)
    ax.set_xlabel("‖P e_j‖ (column norm)")
    ax.set_ylabel("columns")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return fig


def transform_cost(
    rows: Sequence[Mapping[str, Any]], *, title: str = "cost of the transform against D"
) -> Figure:
    """Seconds per product against D (log-log), one line per operation (``op``), plus a dashed
    O(D log D) reference through the largest-D point of the first operation."""
    fig, (ax,) = _new()
    pts = [r for r in rows if _finite(r.get("seconds")) and _finite(r.get("D"))]
    if not pts:
        no_data(ax)
        return fig
    ops = _unique(r["op"] for r in pts)
    for i, op in enumerate(ops):
        sub = sorted((r for r in pts if r["op"] == op), key=lambda r: r["D"])
        ax.plot(
            [r["D"] for r in sub],
            [r["seconds"] for r in sub],
            marker="o",
            color=_color(i),
            label=str(op),
        )
    # Anchored at the largest D of the first operation, where per-call overheads matter least.
    last = max((r for r in pts if r["op"] == ops[0]), key=lambda r: r["D"])
    Ds = np.array(sorted({r["D"] for r in pts}), dtype=np.float64)
    ref = last["seconds"] * (Ds * np.log2(Ds)) / (last["D"] * math.log2(last["D"]))
    ax.plot(Ds, ref, color="0.5", linestyle="--", label="∝ D log D")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("D (target size)")
    ax.set_ylabel("seconds per product")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def trainable_params(
    rows: Sequence[Mapping[str, Any]], *, title: str = "what SAID and DID train"
) -> Figure:
    """Stacked bars of the trainable parameters per (model, method): θ_d entries and SAID λ
    scales (and a directly trained head, if any), annotated with D, the projected size.

    ``rows``: ``model``, ``method``, ``theta_d``, ``lambdas``, ``head``, ``projected``.
    """
    fig, (ax,) = _new((6.4, 0.8 + 0.5 * max(2, len(rows))))
    if not rows:
        no_data(ax)
        return fig
    labels = [f"{_short(r['model'])} {str(r['method']).upper()}" for r in rows]
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    for key, color, name in (
        ("theta_d", "C0", "θ_d (projected by P)"),
        ("lambdas", "C1", "λ (SAID scales)"),
        ("head", "C2", "head"),
    ):
        vals = np.array([float(r.get(key) or 0) for r in rows])
        if vals.any():
            ax.barh(y, vals, left=left, color=color, label=name)
            left += vals
    for yi, r, total in zip(y, rows, left):
        ax.text(
            total,
            yi,
            f"  {int(total):,} of D = {int(r.get('projected') or 0):,}",
            va="center",
            fontsize=7,
        )
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("trainable parameters")
    ax.set_xlim(0, float(left.max()) * 1.9 or 1.0)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    return fig


# ============================================================================ files


def _out_dir(figures_dir: str | os.PathLike[str], scale: str) -> Path:
    out = Path(figures_dir) / scale
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_figure(
    fig: Figure, figures_dir: str | os.PathLike[str], scale: str, name: str, *, dpi: int = 150
) -> dict[str, Path]:
    """Write ``fig`` as ``figures_dir/<scale>/<name>.png`` and ``.pdf``; returns both paths.

    The PDF carries no creation date, so re-rendering identical data gives identical files.
    """
    out = _out_dir(figures_dir, scale)
    paths = {"png": out / f"{name}.png", "pdf": out / f"{name}.pdf"}
    fig.savefig(paths["png"], dpi=dpi, bbox_inches="tight")
    fig.savefig(paths["pdf"], bbox_inches="tight", metadata={"CreationDate": None})
    return paths


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    return value


def save_table(
    rows: Sequence[Mapping[str, Any]],
    figures_dir: str | os.PathLike[str],
    scale: str,
    name: str,
    columns: Sequence[str] | None = None,
) -> Path:
    """Write the rows behind a figure as ``figures_dir/<scale>/<name>.csv``; returns the path.

    Columns: ``columns`` if given, else the union of the rows' keys in order of appearance
    (a header is written even without rows). Lists and dicts are written as JSON, None as "".
    """
    out = _out_dir(figures_dir, scale) / f"{name}.csv"
    cols = list(columns) if columns is not None else _unique(k for r in rows for k in r)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        for r in rows:
            writer.writerow([_cell(r.get(c)) for c in cols])
    return out


def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | Mapping[str, str] | None = None,
    floatfmt: str = ".3f",
) -> str:
    """The rows as a GitHub Markdown table (for the README and notebooks).

    ``columns``: keys to show (a mapping gives key → header), default the union of the rows'
    keys. Floats are formatted with ``floatfmt``, None as "–", ``|`` is escaped.
    """
    if columns is None:
        columns = _unique(k for r in rows for k in r)
    headers = dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}

    def cell(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(headers.values()) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(r.get(k)) for k in headers) + " |" for r in rows]
    return "\n".join(lines)
