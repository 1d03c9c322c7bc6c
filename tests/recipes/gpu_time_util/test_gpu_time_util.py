"""gpu_time_util: windows cover the activity span and busy time adds up to SQL's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nsight_lab.recipe import run_recipe
from tests.recipes.gpu_sql import activity_span, all_gaps


@pytest.fixture(scope="module")
def cloverleaf(fixtures_dir: Path) -> Path:
    return fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"


def _busy_by_sql(db: Path) -> dict[tuple[int, int], int]:
    idle: dict[tuple[int, int], int] = {}
    for pid, dev, start, end in all_gaps(db):
        idle[(pid, dev)] = idle.get((pid, dev), 0) + (end - start)
    return {key: (e - s) - idle.get(key, 0) for key, (s, e) in activity_span(db).items()}


def test_busy_time_per_device_matches_sql(cloverleaf: Path, tmp_path: Path) -> None:
    result = run_recipe("gpu_time_util", [cloverleaf], tmp_path / "out", args={"chunks": 12})
    util = pd.read_parquet(tmp_path / "out" / "util.parquet")
    busy = util.groupby(["PID", "Device ID"])["Busy (ns)"].sum().to_dict()
    assert busy == _busy_by_sql(cloverleaf)
    assert (util.groupby(["PID", "Device ID"]).size() == 12).all()
    assert util["Utilization (%)"].between(0, 100).all()
    assert result.html is not None and result.html.is_file()


def test_interval_sets_window_length(cloverleaf: Path, tmp_path: Path) -> None:
    run_recipe(
        "gpu_time_util",
        [cloverleaf],
        tmp_path / "out",
        args={"interval": 50_000_000},
        notebook=False,
    )
    util = pd.read_parquet(tmp_path / "out" / "util.parquet")
    ((start, end),) = activity_span(cloverleaf).values()
    assert util["Start (ns)"].iloc[0] == start
    assert (util["Duration (ns)"].iloc[:-1] == 50_000_000).all()
    assert util["Start (ns)"].iloc[-1] + util["Duration (ns)"].iloc[-1] == end
