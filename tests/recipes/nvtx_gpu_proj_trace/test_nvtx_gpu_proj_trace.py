"""nvtx_gpu_proj_trace: projection by the nsys rule, nesting, and nsys's exact output schema."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from nsight_lab.recipe import run_recipe
from tests.recipes.nvtx_db import add_ranges, expected_projection, expected_unranged


@pytest.fixture(scope="module")
def nvtx_report(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    db = tmp_path_factory.mktemp("nvtx") / "cloverleaf-nvtx.sqlite"
    ranges = add_ranges(fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite", db)
    return db, ranges


@pytest.fixture(scope="module")
def trace(nvtx_report: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    db, _ = nvtx_report
    out = tmp_path_factory.mktemp("run") / "out"
    result = run_recipe("nvtx_gpu_proj_trace", [db], out)
    assert result.html is not None and result.html.is_file()
    return pd.read_parquet(out / "trace.parquet")


def test_each_range_projects_onto_the_gpu_work_it_launched(
    nvtx_report: tuple[Path, dict], trace: pd.DataFrame
) -> None:
    db, ranges = nvtx_report
    rows = trace.set_index("Name")
    for name in ("outer", "inner_a", "inner_b", "leaf", "async"):
        start, end, gtid = ranges[name]
        p_start, p_end, n_ops = expected_projection(db, start, end, gtid)
        assert n_ops > 0, name
        row = rows.loc[name]
        assert (row["Projected Start"], row["Projected Start"] + row["Projected Duration"]) == (
            p_start,
            p_end,
        ), name
        assert row["NumGPUOps"] == n_ops, name
        assert (row["Orig Start"], row["Orig Duration"]) == (start, end - start), name
        assert row["PID"] == (gtid >> 24) & 0xFFFFFF and row["TID"] == gtid & 0xFFFFFF


def test_gpu_work_outside_every_range_is_one_row_per_thread(
    nvtx_report: tuple[Path, dict], trace: pd.DataFrame
) -> None:
    db, _ = nvtx_report
    expected = expected_unranged(db)
    outside = trace[trace["Name"].isna()]
    assert len(outside) == len(expected) == 1
    for g, (start, end, n_ops) in expected.items():
        row = outside[outside["TID"] == g & 0xFFFFFF].iloc[0]
        assert (row["Projected Start"], row["Projected Duration"], row["NumGPUOps"]) == (
            start,
            end - start,
            n_ops,
        )
        assert pd.isna(row["Style"]) and pd.isna(row["RangeId"]) and row["NumChild"] == 0


def test_ranges_without_gpu_work_and_marks_are_left_out(trace: pd.DataFrame) -> None:
    assert "idle_thread" not in set(trace["Name"])
    assert "tick" not in set(trace["Name"])


def test_nesting_levels_parents_and_stacks(trace: pd.DataFrame) -> None:
    rows = trace.set_index("Name")
    outer, a, b, leaf = (rows.loc[n] for n in ("outer", "inner_a", "inner_b", "leaf"))
    assert (outer["Lvl"], a["Lvl"], b["Lvl"], leaf["Lvl"]) == (0, 1, 1, 2)
    assert pd.isna(outer["ParentId"])
    assert a["ParentId"] == outer["RangeId"] and b["ParentId"] == outer["RangeId"]
    assert leaf["ParentId"] == a["RangeId"]
    assert (
        leaf["RangeStack"] == f":{int(outer['RangeId'])}:{int(a['RangeId'])}:{int(leaf['RangeId'])}"
    )
    assert (outer["NumChild"], a["NumChild"], leaf["NumChild"]) == (2, 1, 0)
    assert rows.loc["async", "Style"] == "StartEnd" and outer["Style"] == "PushPop"


def test_rows_are_ordered_like_nsys(trace: pd.DataFrame) -> None:
    key = list(zip(trace["Projected Start"], -trace["Projected Duration"], strict=True))
    assert key == sorted(key)
    assert (trace["Rank"] == 0).all()


def test_schema_matches_real_nsys_output(
    fixtures_dir: Path, nvtx_report: tuple[Path, dict], tmp_path: Path
) -> None:
    """Same column names, order and Arrow types as nsys's own trace.parquet.

    The values are compared in test_against_nsys_output.py.
    """
    db, _ = nvtx_report
    run_recipe("nvtx_gpu_proj_trace", [db], tmp_path / "out", notebook=False)
    ours = pq.read_schema(tmp_path / "out" / "trace.parquet").remove_metadata()
    real = pq.read_schema(
        fixtures_dir / "nsys-recipe-output" / "nvtx_gpu_proj_trace" / "trace.parquet"
    )
    assert ours.equals(real.remove_metadata())
