"""Strip what running a notebook adds: the committed notebooks stay the clean source.

    .venv/bin/python scripts/clear_notebooks.py [NOTEBOOK ...]     # or: make clear-notebooks

The figure notebooks are edited in Jupyter and committed as they are, minus their outputs:
this removes every code cell's outputs and execution count, and the run records Jupyter and
papermill leave in metadata (cell ``execution`` timings, ``papermill`` sections). Markdown,
sources, tags (the ``parameters`` cell) and every other metadata entry are kept. Without
arguments it clears ``notebooks/0*.ipynb``; files that are already clean are not rewritten.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
#: Metadata keys that record a run rather than the notebook's content.
RUN_METADATA = ("execution", "papermill")


def clear(nb: nbformat.NotebookNode) -> bool:
    """Remove outputs, execution counts and run metadata in place; True if anything changed."""
    changed = False
    for meta in [nb.metadata, *(cell.metadata for cell in nb.cells)]:
        for key in RUN_METADATA:
            if key in meta:
                del meta[key]
                changed = True
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.outputs or cell.execution_count is not None:
            cell.outputs = []
            cell.execution_count = None
            changed = True
    return changed


def clear_file(path: Path) -> bool:
    """Clear one notebook file; rewrite it only if something changed."""
    nb = nbformat.read(path, as_version=4)
    if not clear(nb):
        return False
    nbformat.write(nb, path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/0*.ipynb")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((REPO / "notebooks").glob("0*.ipynb"))
    for path in paths:
        print(f"{'cleared' if clear_file(path) else 'clean  '} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
