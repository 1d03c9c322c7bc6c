"""cuda_api_sum: per-call totals equal SQL over the runtime table, version suffix dropped."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe


def test_matches_sql(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        raw = con.execute(
            "SELECT s.value, COUNT(*), SUM(r.end - r.start), MIN(r.end - r.start), MAX(r.end - r.start) "
            "FROM CUPTI_ACTIVITY_KIND_RUNTIME r JOIN StringIds s ON s.id = r.nameId GROUP BY 1"
        ).fetchall()
    expected = {re.sub(r"_v\d+$", "", n): (c, t, lo, hi) for n, c, t, lo, hi in raw}
    stats = run_recipe("cuda_api_sum", [sqlite], tmp_path / "o", notebook=False).tables["stats"]
    got = {
        r["Name"]: (r["Instances"], r["Total Time (ns)"], r["Min (ns)"], r["Max (ns)"])
        for r in stats.to_pylist()
    }
    assert got == expected
    assert stats["Name"][0].as_py() == "cudaDeviceSynchronize"
