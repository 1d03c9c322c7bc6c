"""nvtx_gpu_proj_sum: per range name, projected time and GPU ops as the nsys rule gives them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from nsight_lab.recipe import run_recipe
from tests.recipes.nvtx_db import add_ranges, expected_projection, expected_unranged


def test_summary_of_projected_ranges_over_two_reports(fixtures_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    ranges = add_ranges(fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite", db)
    shutil.copy(db, tmp_path / "b.sqlite")  # a second rank with the same ranges: two instances each
    result = run_recipe("nvtx_gpu_proj_sum", [db, tmp_path / "b.sqlite"], tmp_path / "out")
    table = pd.read_parquet(tmp_path / "out" / "stats.parquet")
    outside = table[table["Range"].isna()]
    stats = table.dropna(subset=["Range"]).set_index("Range")
    assert set(stats.index) == {"outer", "inner_a", "inner_b", "leaf", "async"}
    # GPU work launched outside every range: one null-named row, as nsys writes it.
    ((_, (p_start, p_end, n_ops)),) = expected_unranged(db).items()
    assert len(outside) == 1 and outside["Style"].isna().all()
    assert outside["Range Instances"].item() == 2
    assert outside["Total Proj Time (ns)"].item() == 2 * (p_end - p_start)
    assert outside["Total GPU Ops"].item() == 2 * n_ops
    for name, (start, end, gtid) in ranges.items():
        if name == "idle_thread":
            continue
        p_start, p_end, n_ops = expected_projection(db, start, end, gtid)
        row = stats.loc[name]
        assert row["Range Instances"] == 2
        assert row["Total Proj Time (ns)"] == 2 * (p_end - p_start)
        assert row["Proj Med (ns)"] == p_end - p_start and row["Proj StdDev (ns)"] == 0
        assert row["Total Range Time (ns)"] == 2 * (end - start)
        assert row["Total GPU Ops"] == 2 * n_ops
    assert table["Total Proj Time (ns)"].is_monotonic_decreasing
    assert abs(table["Time (%)"].sum() - 100.0) < 1e-9
    assert stats.loc["leaf", "Avg Range Lvl"] == 2
    assert result.html is not None and result.html.is_file()


def test_report_without_ranges_gives_an_empty_summary(fixtures_dir: Path, tmp_path: Path) -> None:
    run_recipe(
        "nvtx_gpu_proj_sum",
        [fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"],
        tmp_path / "out",
    )
    stats = pd.read_parquet(tmp_path / "out" / "stats.parquet")
    assert stats.empty
    assert list(stats.columns)[:4] == ["Time (%)", "Range", "Style", "Total Proj Time (ns)"]
