"""osrt_sum: OS runtime totals equal SQL over OSRT_API."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe


def test_matches_sql(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        raw = con.execute(
            "SELECT s.value, COUNT(*), SUM(o.end - o.start) FROM OSRT_API o JOIN StringIds s ON s.id = o.nameId GROUP BY 1"
        ).fetchall()
    stats = run_recipe("osrt_sum", [sqlite], tmp_path / "o", notebook=False).tables["stats"]
    assert {r["Name"]: (r["Instances"], r["Total Time (ns)"]) for r in stats.to_pylist()} == {
        n: (c, t) for n, c, t in raw
    }
    assert stats["Instances"].to_pylist()
