"""docs/lab.ipynb: in step with its jupytext script docs/lab.py, and executed
from top to bottom without an error (its cells assert what they show).

Run in the numpy nox session only, the one that installs backends/notebook.txt."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conftest import TEST_ENV, selected_backends

pytestmark = pytest.mark.skipif(
    bool(os.environ.get(TEST_ENV)) and selected_backends() != ("numpy",), reason="run in the numpy session only"
)
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _cells(notebook) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def test_the_notebook_and_its_script_agree():
    jupytext = pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    script = jupytext.read(DOCS / "lab.py")
    notebook = nbformat.read(DOCS / "lab.ipynb", as_version=4)
    assert _cells(notebook) == _cells(script), "docs/lab.ipynb and docs/lab.py differ: jupytext --sync docs/lab.py"
    # Committed with its outputs, so that GitHub shows the pictures.
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6


def test_the_notebook_runs(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(DOCS / "lab.ipynb", as_version=4)
    # The kernel is this interpreter ("python3" resolves to sys.executable), in this environment:
    # it imports the package as the tests do.
    env = dict(os.environ, MPLBACKEND="Agg")
    start = time.monotonic()
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=env)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    print(f"docs/lab.ipynb ran in {time.monotonic() - start:.1f} s")
