"""gpu_gaps reports exactly the idle stretches that SQL finds in the nsys export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nsight_lab.recipe import RecipeArgError, run_recipe
from tests.recipes.gpu_sql import all_gaps


@pytest.fixture(scope="module")
def cloverleaf(fixtures_dir: Path) -> Path:
    return fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"


def test_gaps_match_sql_on_cloverleaf(cloverleaf: Path, tmp_path: Path) -> None:
    min_gap = 100_000
    result = run_recipe("gpu_gaps", [cloverleaf], tmp_path / "out", args={"min_gap": min_gap})
    gaps = pd.read_parquet(tmp_path / "out" / "gaps.parquet")
    expected = [g for g in all_gaps(cloverleaf) if g[3] - g[2] >= min_gap]
    assert len(expected) > 5  # the fixture has real gaps at this threshold
    got = list(
        zip(gaps["PID"], gaps["Device ID"], gaps["Start (ns)"], gaps["End (ns)"], strict=True)
    )
    assert sorted(got) == sorted(expected)
    assert (gaps["Duration (ns)"] == gaps["End (ns)"] - gaps["Start (ns)"]).all()
    assert gaps["Duration (ns)"].is_monotonic_decreasing
    assert gaps["Before"].notna().all() and gaps["After"].notna().all()
    assert result.html is not None and result.html.is_file()


def test_threshold_filters_short_gaps(cloverleaf: Path, tmp_path: Path) -> None:
    run_recipe(
        "gpu_gaps", [cloverleaf], tmp_path / "out", args={"min_gap": 1_000_000}, notebook=False
    )
    gaps = pd.read_parquet(tmp_path / "out" / "gaps.parquet")
    expected = [g for g in all_gaps(cloverleaf) if g[3] - g[2] >= 1_000_000]
    assert len(gaps) == len(expected)
    assert (gaps["Duration (ns)"] >= 1_000_000).all()


def test_non_positive_threshold_is_refused(cloverleaf: Path, tmp_path: Path) -> None:
    with pytest.raises(RecipeArgError, match="min_gap"):
        run_recipe("gpu_gaps", [cloverleaf], tmp_path / "out", args={"min_gap": 0}, notebook=False)
