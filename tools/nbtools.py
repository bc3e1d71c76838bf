"""Small helpers for writing notebooks as code: ``python tools/nbtools.py strip notebooks/*.ipynb``.

Notebooks are committed with outputs stripped (tests/test_notebooks_clean.py checks it).
"""

from __future__ import annotations

import sys

import nbformat


def new_notebook(cells: list[tuple[str, str]], *, parameters_index: int) -> nbformat.NotebookNode:
    """Cells as ``(kind, source)`` with kind "md" or "code"; the cell at ``parameters_index`` is
    tagged ``parameters`` for papermill."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, src) in enumerate(cells):
        cell = nbformat.v4.new_markdown_cell(src.strip()) if kind == "md" else nbformat.v4.new_code_cell(src.strip())
        if i == parameters_index:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = 4
    return nb


def strip(path: str) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, path)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "strip":
        raise SystemExit("usage: python tools/nbtools.py strip NOTEBOOK...")
    for p in sys.argv[2:]:
        strip(p)
