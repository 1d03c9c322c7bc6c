"""Every tutorial in notebooks/ runs top to bottom, offline, in a fresh kernel.

This is what ``pytest --nbval-lax notebooks/`` checks too; running them here with
nbclient puts them in the plain ``pytest tests`` run CI already does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
BUDGET_S = 60.0


def test_the_three_tutorials_are_there() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01-quickstart.ipynb",
        "02-analyse-real-traces.ipynb",
        "03-write-your-own-recipe.ipynb",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_within_a_minute(
    path: Path, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    notebook = nbformat.read(path, as_version=4)
    paths = [str(REPO_ROOT), str(REPO_ROOT / "services"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    monkeypatch.setenv("NSIGHT_LAB_FIXTURES", str(fixtures_dir))
    client = NotebookClient(
        notebook,
        timeout=BUDGET_S,
        kernel_name="python3",
        # Run where a user would, but in a scratch folder: downloads and outputs the
        # notebook writes beside itself must not land in the repository.
        resources={"metadata": {"path": str(tmp_path)}},
    )
    began = time.monotonic()
    client.execute()  # raises CellExecutionError naming the failing cell
    elapsed = time.monotonic() - began
    assert elapsed < BUDGET_S, f"{path.name} took {elapsed:.0f}s"
    errors = [
        out for cell in notebook.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []) if out.get("output_type") == "error"
    ]  # fmt: skip
    assert not errors
