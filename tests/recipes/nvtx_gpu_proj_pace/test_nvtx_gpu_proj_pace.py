"""nvtx_gpu_proj_pace: each step's GPU projection, by the nsys rule in SQL, and its gaps."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe
from tests.recipes.nvtx_db import expected_projection
from tests.recipes.nvtx_pace.test_nvtx_pace import check_pace
from tests.recipes.rich_export import STEP, Rich


def test_projected_steps_match_sql(rich: Rich, tmp_path: Path) -> None:
    with sqlite3.connect(f"file:{rich.path}?mode=ro", uri=True) as con:
        steps = con.execute(
            "SELECT start, end, globalTid FROM NVTX_EVENTS WHERE text = ? ORDER BY start", (STEP,)
        ).fetchall()
    projected = [expected_projection(rich.path, s, e, g) for s, e, g in steps]
    spans = [(p_start, p_end) for p_start, p_end, n in projected if n]
    result = run_recipe(
        "nvtx_gpu_proj_pace", [rich.path], tmp_path / "o", args={"name": STEP}, notebook=False
    )
    pace = result.tables["pace"].to_pylist()
    check_pace(pace, spans, result.tables["stats"].to_pylist())
    assert [r["NumGPUOps"] for r in pace] == [n for _, _, n in projected if n]
    assert [r["Orig Start (ns)"] for r in pace] == [s for s, _, _ in steps]
