"""diff: per-kernel deltas between two real reports, checked against SQL on both files."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from nsight_lab.recipe import RecipeInputError, run_recipe


def _kernel_totals(db: Path) -> dict[str, tuple[int, int]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT s.value, SUM(k.end - k.start), COUNT(*) FROM CUPTI_ACTIVITY_KIND_KERNEL k"
            " JOIN StringIds s ON s.id = k.demangledName GROUP BY s.value"
        )
        return {name: (total, n) for name, total, n in rows}
    finally:
        con.close()


@pytest.fixture(scope="module")
def two_runs(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Run B: the CloverLeaf export with every other launch of its busiest kernel removed."""
    folder = tmp_path_factory.mktemp("diff")
    a = fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"
    b = folder / "b.sqlite"
    shutil.copy(a, b)
    b.chmod(0o644)
    con = sqlite3.connect(b)
    (name_id,) = con.execute(
        "SELECT demangledName FROM CUPTI_ACTIVITY_KIND_KERNEL GROUP BY 1 ORDER BY SUM(end - start) DESC"
    ).fetchone()
    con.execute(
        "DELETE FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE demangledName = ? AND rowid % 2 = 0",
        (name_id,),
    )
    con.commit()
    con.close()
    return a, b


def test_kernel_deltas_match_sql(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_runs
    result = run_recipe("diff", [a, b], tmp_path / "out")
    diff = pd.read_parquet(tmp_path / "out" / "kernels_diff.parquet").set_index("Name")
    ta, tb = _kernel_totals(a), _kernel_totals(b)
    assert set(diff.index) == set(ta) | set(tb)
    for name in ta:
        total_b, n_b = tb.get(name, (0, 0))
        row = diff.loc[name]
        assert row["Total Time A (ns)"] == ta[name][0]
        assert row["Total Time Delta (ns)"] == total_b - ta[name][0]
        assert row["Instances Delta"] == n_b - ta[name][1]
    changed = diff[diff["Total Time Delta (ns)"] != 0]
    assert len(changed) == 1  # only the thinned kernel moved ...
    assert (
        diff["Total Time Delta (ns)"].abs().iloc[0]
        == changed["Total Time Delta (ns)"].abs().iloc[0]
    )  # ... and leads
    assert changed["Total Time Change (%)"].iloc[0] < 0
    assert result.html is not None and result.html.is_file()


def test_diff_needs_exactly_two_reports(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = two_runs
    with pytest.raises(RecipeInputError, match="at least 2"):
        run_recipe("diff", [a], tmp_path / "out", notebook=False)
