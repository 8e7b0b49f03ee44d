"""The figure notebooks: their data (from the results store) and their batch rendering.

One module per notebook's data, beside the context they share and the renderer (every name
below is importable from ``idtheory.figures``, as the notebooks do):

* :mod:`~idtheory.figures.context` — :func:`setup`, :class:`FigureContext`;
* :mod:`~idtheory.figures.accuracy` — notebook 01 (Figure 1, Table 1, the d90 tables);
* :mod:`~idtheory.figures.trend` — notebooks 02 and 03 (Figures 2 and 3);
* :mod:`~idtheory.figures.generalization` — notebook 04 (Figures 4-5, bounds, the stored
  certificates of :mod:`idtheory.certify`);
* :mod:`~idtheory.figures.fastfood` — notebook 05 (the Fastfood tour);
* :mod:`~idtheory.figures.render` — :func:`render_all` (``idtheory figures``).

Two halves:

* **Data for the notebooks.** :func:`setup` turns a scale name (:mod:`idtheory.scales`) and the
  notebook's parameters into a :class:`FigureContext` (results store, trainer, directories,
  the search options of every d90). The functions below it return tidy rows for
  :mod:`idtheory.plots`: :func:`grid_results` (Figure 1, Table 1), :func:`trend_checkpoints`
  and :func:`trend_rows` (Figure 2), :func:`size_models`, :func:`size_rows` and
  :func:`size_reference_rows` (Figure 3), :func:`generalization_rows` and :func:`bound_rows`
  (Figures 4–5, bounds), :func:`certificates` and :func:`certificate_frame` (the declared
  protocols' certificates, as stored by ``idtheory certify``), and the Fastfood tour helpers.
  With ``compute=True`` missing trainings are run through
  :func:`idtheory.search.measure_d90_many` and the trend functions of :mod:`idtheory.trends`;
  with ``compute=False`` only what the store holds is read, and every missing piece is listed
  in :attr:`FigureContext.missing` (and printed by
  :meth:`FigureContext.report_missing`) instead of being trained implicitly.
* **Rendering.** :data:`NOTEBOOKS` and :func:`render_all` execute the notebooks with papermill
  into ``build/notebooks/<scale>/`` with the scale's parameters and check that every expected
  figure (:func:`figure_names`) was written as PNG, PDF and CSV under ``figures/<scale>/``.

Stored results are read by the code that computes them: with ``compute=False`` the searches
and trend experiments run unchanged with :class:`~idtheory.search.StoredRuns`, a trainer that
only reads the store, so a figure rendered from the store is the figure computing would draw, and
where the store ends the figure shows what is stored (a search in progress: status
``"partial"``) and lists the rest. :mod:`idtheory.pretrain`, :mod:`idtheory.trends` and
:mod:`idtheory.compress` are imported lazily, never guarded: a failure there is a failure here.
"""

from idtheory.figures.accuracy import (
    BELOW_CHANCE_MARK,
    D90_RATIO_COLUMNS,
    D90_TABLE_COLUMNS,
    curve_rows,
    d90_ratio_rows,
    d90_rows,
    grid_results,
    load_paper_table1,
    majority_line,
    paper_d90_rows,
    results_by_task,
    table1_cell,
    table1_frame,
    table1_rows,
    threshold_ratio_rows,
)
from idtheory.figures.context import (
    MISSING_HEADER,
    MISSING_ITEM,
    PAPER_TABLE1,
    FigureContext,
    project_root,
    resolve_path,
    scales_overview,
    set_threads,
    setup,
)
from idtheory.figures.fastfood import (
    projection_column_norms,
    projection_image,
    trainable_rows,
    transform_cost_rows,
)
from idtheory.figures.generalization import (
    BOUNDS_SHOWN,
    CERTIFICATE_BITS,
    bound_rows,
    certificate_columns,
    certificate_frame,
    certificate_row,
    certificates,
    generalization_rows,
)
from idtheory.figures.render import NOTEBOOKS, Notebook, figure_names, render_all, store_gaps
from idtheory.figures.trend import (
    SIZE_SERIES,
    fit_size,
    floor_label,
    pretrain_command,
    size_models,
    size_reference_note,
    size_reference_rows,
    size_reference_series,
    size_rows,
    size_table,
    trend_checkpoints,
    trend_rows,
)

__all__ = [
    "BELOW_CHANCE_MARK",
    "BOUNDS_SHOWN",
    "CERTIFICATE_BITS",
    "D90_RATIO_COLUMNS",
    "D90_TABLE_COLUMNS",
    "MISSING_HEADER",
    "MISSING_ITEM",
    "NOTEBOOKS",
    "PAPER_TABLE1",
    "SIZE_SERIES",
    "FigureContext",
    "Notebook",
    "bound_rows",
    "certificate_columns",
    "certificate_frame",
    "certificate_row",
    "certificates",
    "curve_rows",
    "d90_ratio_rows",
    "d90_rows",
    "figure_names",
    "fit_size",
    "floor_label",
    "generalization_rows",
    "grid_results",
    "load_paper_table1",
    "majority_line",
    "paper_d90_rows",
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
    "size_reference_note",
    "size_reference_rows",
    "size_reference_series",
    "size_rows",
    "size_table",
    "store_gaps",
    "table1_cell",
    "table1_frame",
    "table1_rows",
    "threshold_ratio_rows",
    "trainable_rows",
    "transform_cost_rows",
    "trend_checkpoints",
    "trend_rows",
]
