"""cuda_gpu_mem_time_sum: GPU time per memory operation, as SQL groups it by copyKind."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe
from tests.recipes.expect import assert_summary

LABELS = {1: "[CUDA memcpy Host-to-Device]", 2: "[CUDA memcpy Device-to-Host]"}


def test_matches_sql(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    groups: dict[str, list[int]] = {}
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        for kind, dur in con.execute(
            "SELECT copyKind, end - start FROM CUPTI_ACTIVITY_KIND_MEMCPY"
        ):
            groups.setdefault(LABELS[kind], []).append(dur)
    stats = run_recipe("cuda_gpu_mem_time_sum", [sqlite], tmp_path / "o", notebook=False).tables[
        "stats"
    ]
    assert stats.column_names[:3] == ["Time (%)", "Total Time (ns)", "Count"]
    assert stats.column_names[-1] == "Operation"
    assert_summary(stats, groups, key="Operation", count="Count")
