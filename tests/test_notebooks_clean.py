"""Notebooks are committed stripped and follow the house layout (one `parameters` cell)."""

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs (tools/nbtools.py strip)"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    tree = ast.parse(params[0].source)
    for stmt in tree.body:  # annotated literals only, so papermill can read and override them
        assert isinstance(stmt, ast.AnnAssign) and isinstance(stmt.value, ast.Constant), ast.unparse(stmt)
    # papermill's parameter parser chokes on '=' or quotes in comments
    for line in params[0].source.splitlines():
        comment = line.split("#", 1)[1] if "#" in line else ""
        assert "=" not in comment and "'" not in comment, line
