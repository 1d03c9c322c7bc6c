"""cuda_gpu_time_util_map: one heatmap cell per (rank, device, bin), weighted mean = SQL busy share."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nsight_lab.recipe import run_recipe
from tests.recipes.gpu_sql import activity_span, all_gaps


def test_heatmap_cells_average_to_busy_share(fixtures_dir: Path, tmp_path: Path) -> None:
    db = fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"
    result = run_recipe("cuda_gpu_time_util_map", [db], tmp_path / "out", args={"bins": 20})
    cells = pd.read_parquet(tmp_path / "out" / "util_map.parquet")
    assert sorted(cells["Bin"].unique().tolist()) == list(range(20))
    assert (cells["Rank"] == 0).all()
    ((start, end),) = activity_span(db).values()
    idle = sum(e - s for _, _, s, e in all_gaps(db))
    share = 100.0 * ((end - start) - idle) / (end - start)
    weighted = (cells["Utilization (%)"] * cells["Duration (ns)"]).sum() / cells[
        "Duration (ns)"
    ].sum()
    assert abs(weighted - share) < 1e-6
    assert result.html is not None and "<img" in result.html.read_text()
