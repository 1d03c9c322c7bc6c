"""osrt_sum: OS runtime calls only (event class 27), every statistic equal to SQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe
from tests.recipes.expect import assert_summary


def test_matches_sql_over_os_runtime_calls(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    groups: dict[str, list[int]] = {}
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        for name, dur in con.execute(
            "SELECT s.value, o.end - o.start FROM OSRT_API o JOIN StringIds s ON s.id = o.nameId"
            " WHERE o.eventClass = 27"
        ):
            groups.setdefault(name, []).append(dur)
        markers = con.execute("SELECT COUNT(*) FROM OSRT_API WHERE eventClass != 27").fetchone()
    assert markers[0] == 3  # the fixture holds nsys's start/finish markers: they must not count
    stats = run_recipe("osrt_sum", [sqlite], tmp_path / "o", notebook=False).tables["stats"]
    assert stats.column_names[:3] == ["Time (%)", "Total Time (ns)", "Num Calls"]
    rows = assert_summary(stats, groups, count="Num Calls")
    assert not any("profiling" in name or name in ("", "[Unknown]") for name in rows)


def test_old_report_name_is_an_alias(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    result = run_recipe("osrtsum", [sqlite], tmp_path / "o", notebook=False)
    assert result.record["RecipeName"] == "osrt_sum"
    assert (tmp_path / "o" / "osrt_sum.nsys-analysis").is_file()
