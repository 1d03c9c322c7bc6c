"""mpi_gpu_time_util_map: per-bin MPI and GPU activity equal interval arithmetic on SQL rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from nsight_lab.recipe import run_recipe
from tests.recipes.expect import both, covered, merged
from tests.recipes.rich_export import MPI, Rich


def test_bins_match_sql_and_interval_arithmetic(rich: Rich, tmp_path: Path) -> None:
    with sqlite3.connect(f"file:{rich.path}?mode=ro", uri=True) as con:
        mpi = merged(
            [
                row
                for table in MPI
                for row in con.execute(f"SELECT start, end FROM {table}").fetchall()
            ]
        )
        gpu = merged(con.execute("SELECT start, end FROM CUPTI_ACTIVITY_KIND_KERNEL").fetchall())
    bins = 10
    result = run_recipe(
        "mpi_gpu_time_util_map", [rich.path], tmp_path / "o", args={"bins": bins}, notebook=False
    )
    rows = result.tables["util_map"].to_pandas().sort_values("Bin")
    lo = min(mpi[0][0], gpu[0][0])
    hi = max(mpi[-1][1], gpu[-1][1])
    edges = np.linspace(lo, hi, bins + 1).round().astype(np.int64)
    assert len(rows) == bins
    for (_, row), a, b in zip(rows.iterrows(), edges[:-1], edges[1:], strict=True):
        for col, spans in (("MPI (%)", mpi), ("GPU (%)", gpu), ("Overlap (%)", both(mpi, gpu))):
            assert row[col] == pytest.approx(100 * covered(spans, a, b) / (b - a), abs=1e-6), col
    assert rows["MPI (%)"].sum() > 0 and rows["GPU (%)"].sum() > 0
