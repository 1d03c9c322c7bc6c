"""cuda_gpu_kern_pace: one row per instance, gaps from the previous end, as SQL computes them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nsight_lab.recipe import RecipeArgError, run_recipe


def test_instances_and_gaps_match_sql(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        (name,) = con.execute(
            "SELECT s.value FROM CUPTI_ACTIVITY_KIND_KERNEL k JOIN StringIds s ON s.id = k.shortName GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 1"
        ).fetchone()
        rows = con.execute(
            "SELECT k.start, k.end FROM CUPTI_ACTIVITY_KIND_KERNEL k JOIN StringIds s ON s.id = k.shortName WHERE s.value = ? ORDER BY k.start, k.end",
            (name,),
        ).fetchall()
    result = run_recipe(
        "cuda_gpu_kern_pace",
        [sqlite],
        tmp_path / "o",
        args={"name": name, "base": True},
        notebook=False,
    )
    pace = result.tables["pace"].to_pylist()
    assert [(r["Start (ns)"], r["End (ns)"]) for r in pace] == rows
    assert pace[0]["Delta (ns)"] is None
    assert [r["Delta (ns)"] for r in pace[1:]] == [
        s - e for (s, _), (_, e) in zip(rows[1:], rows[:-1], strict=True)
    ]
    assert [r["Duration (ns)"] for r in pace] == [e - s for s, e in rows]
    assert {r["Name"] for r in pace} == {name}
    metrics = {r["Metric"]: r["Instances"] for r in result.tables["stats"].to_pylist()}
    assert metrics == {"Duration": len(rows), "Delta": len(rows) - 1}


def test_name_is_required(fixtures_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RecipeArgError, match="name"):
        run_recipe(
            "cuda_gpu_kern_pace",
            [fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"],
            tmp_path / "o",
            notebook=False,
        )
