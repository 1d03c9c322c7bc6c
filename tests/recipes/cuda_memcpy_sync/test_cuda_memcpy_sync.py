"""cuda_memcpy_sync: copies launched by cudaMemcpy (no Async), joined as SQL joins them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe


def test_matches_sql_join_on_correlation(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        expected = con.execute(
            "SELECT m.start, m.end - m.start, m.bytes FROM CUPTI_ACTIVITY_KIND_MEMCPY m "
            "JOIN CUPTI_ACTIVITY_KIND_RUNTIME r ON r.correlationId = m.correlationId "
            "AND (r.globalTid >> 24) = (m.globalPid >> 24) "
            "JOIN StringIds s ON s.id = r.nameId WHERE s.value LIKE 'cudaMemcpy%' AND s.value NOT LIKE '%Async%' "
            "ORDER BY m.start"
        ).fetchall()
    rows = (
        run_recipe("cuda_memcpy_sync", [sqlite], tmp_path / "o", notebook=False)
        .tables["memcpy_sync"]
        .to_pylist()
    )
    assert [
        (r["Start (ns)"], r["Duration (ns)"], round(r["Bytes (MB)"] * 1e6)) for r in rows
    ] == expected
    assert {r["API Name"] for r in rows} == {"cudaMemcpy"}
    assert {(r["Src Kind"], r["Dst Kind"]) for r in rows} == {
        ("Pageable", "Device"),
        ("Device", "Pageable"),
    }


def test_async_copies_are_not_flagged(fixtures_dir: Path, tmp_path: Path) -> None:
    path = (
        fixtures_dir
        / "kineto/critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"
    )
    result = run_recipe("cuda_memcpy_sync", [path], tmp_path / "o", notebook=False)
    assert "cudaMemcpyAsync" not in {
        r["API Name"] for r in result.tables["memcpy_sync"].to_pylist()
    }
