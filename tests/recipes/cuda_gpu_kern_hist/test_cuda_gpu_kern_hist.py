"""cuda_gpu_kern_hist: bin counts equal a direct binning of the SQL durations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe
from tests.recipes.expect import assert_summary


def test_bins_count_every_kernel_like_sql(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        durs = [d for (d,) in con.execute("SELECT end - start FROM CUPTI_ACTIVITY_KIND_KERNEL")]
    result = run_recipe(
        "cuda_gpu_kern_hist", [sqlite], tmp_path / "o", args={"bins": 8}, notebook=False
    )
    rows = result.tables["histogram"].to_pylist()
    assert len(rows) == 8
    lo, hi = min(durs), max(durs)
    width = (hi - lo) / 8
    expected = [0] * 8
    for d in durs:
        expected[min(int((d - lo) / width), 7)] += 1
    assert [r["Count"] for r in rows] == expected
    assert rows[0]["Bin Start (ns)"] == lo and rows[-1]["Bin End (ns)"] == hi
    assert sum(r["Total Time (ns)"] for r in rows) == sum(durs)
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        groups: dict[str, list[int]] = {}
        for name, dur in con.execute(
            "SELECT s.value, k.end - k.start FROM CUPTI_ACTIVITY_KIND_KERNEL k"
            " JOIN StringIds s ON s.id = k.demangledName"
        ):
            groups.setdefault(name, []).append(dur)
    assert_summary(result.tables["stats"], groups)


def test_name_restricts_to_one_kernel(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        name, count = con.execute(
            "SELECT s.value, COUNT(*) FROM CUPTI_ACTIVITY_KIND_KERNEL k JOIN StringIds s ON s.id = k.shortName GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        ).fetchone()
    hist = run_recipe(
        "cuda_gpu_kern_hist", [sqlite], tmp_path / "o", args={"name": name}, notebook=False
    ).tables["histogram"]
    assert sum(hist["Count"].to_pylist()) == count
