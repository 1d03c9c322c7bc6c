"""The projection reproduces real nsys output value by value (see tests/recipes/nsys_replay.py).

``nsys-recipe-output/nvtx_gpu_proj_trace/trace.parquet`` came from nsys itself on a
Pax FSDP run; the export rebuilt from it must project, through our recipes, to the
same rows in the same order: names, projected and original times, styles, threads,
GPU op counts, levels, children, parents and stacks, and the one row nsys writes for
GPU work launched outside every range (null Name and Style).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nsight_lab.recipe import run_recipe
from tests.recipes.nsys_replay import build

EXACT = [
    "Name",
    "Projected Start",
    "Projected Duration",
    "Orig Start",
    "Orig Duration",
    "Style",
    "PID",
    "TID",
    "NumGPUOps",
    "Lvl",
    "NumChild",
    "Rank",
]


@pytest.fixture(scope="module")
def real(fixtures_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(fixtures_dir / "nsys-recipe-output/nvtx_gpu_proj_trace/trace.parquet")


@pytest.fixture(scope="module")
def replayed(real: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("replay") / "report.sqlite"
    build(real, db)
    return db


@pytest.fixture(scope="module")
def ours(replayed: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("run") / "out"
    run_recipe("nvtx_gpu_proj_trace", [replayed], out, notebook=False)
    return pd.read_parquet(out / "trace.parquet")


def test_every_row_and_value_equals_nsys(real: pd.DataFrame, ours: pd.DataFrame) -> None:
    assert list(ours.columns) == list(real.columns)
    assert len(ours) == len(real) == 14305
    pd.testing.assert_frame_equal(
        ours[EXACT].reset_index(drop=True),
        real[EXACT].reset_index(drop=True),
        check_dtype=False,
    )


def test_range_ids_parents_and_stacks_match_under_one_renumbering(
    real: pd.DataFrame, ours: pd.DataFrame
) -> None:
    """RangeId is "arbitrary" in nsys; one renaming of ids must map every column at once."""
    ids = dict(zip(ours["RangeId"].dropna(), real["RangeId"].dropna(), strict=True))
    assert len(set(ids.values())) == len(ids)

    def renamed(stack: object) -> object:
        if not isinstance(stack, str):
            return stack
        return "".join(f":{int(ids[float(i)])}" for i in stack.split(":")[1:])

    parents = ours["ParentId"].map(lambda p: ids[p] if not np.isnan(p) else np.nan)
    np.testing.assert_array_equal(parents.to_numpy(), real["ParentId"].to_numpy())
    assert ours["RangeStack"].map(renamed).tolist() == real["RangeStack"].tolist()


def test_gpu_work_outside_every_range_has_its_own_row(
    real: pd.DataFrame, ours: pd.DataFrame
) -> None:
    outside = ours[ours["Name"].isna()]
    assert len(outside) == 1
    row = outside.iloc[0]
    want = real[real["Name"].isna()].iloc[0]
    assert (
        (row["TID"], row["NumGPUOps"], row["Projected Start"], row["Projected Duration"])
        == (
            want["TID"],
            want["NumGPUOps"],
            want["Projected Start"],
            want["Projected Duration"],
        )
        == (216715, 383, 26906765692, 88976566522)
    )
    assert pd.isna(row["Style"]) and pd.isna(row["Lvl"]) and pd.isna(row["RangeStack"])


def test_projection_summary_equals_a_summary_of_the_real_trace(
    real: pd.DataFrame, replayed: Path, tmp_path: Path
) -> None:
    """nvtx_gpu_proj_sum over the replay equals pandas statistics of nsys's own rows."""
    run_recipe("nvtx_gpu_proj_sum", [replayed], tmp_path / "o", notebook=False)
    stats = pd.read_parquet(tmp_path / "o" / "stats.parquet")
    key = real["Name"].fillna("<outside>")
    expected = real.assign(key=key).groupby("key")
    got = stats.assign(key=stats["Range"].fillna("<outside>")).set_index("key")
    assert set(got.index) == set(expected.groups)
    durations = expected["Projected Duration"]
    pd.testing.assert_series_equal(
        got["Range Instances"].sort_index(), durations.size().sort_index(), check_names=False
    )
    for col, want in (
        ("Total Proj Time (ns)", durations.sum()),
        ("Proj Med (ns)", durations.median()),
        ("Proj Min (ns)", durations.min()),
        ("Proj Max (ns)", durations.max()),
        ("Proj StdDev (ns)", durations.std(ddof=1).fillna(0.0)),
        ("Total GPU Ops", expected["NumGPUOps"].sum()),
        ("Total Range Time (ns)", expected["Orig Duration"].sum()),
    ):
        np.testing.assert_allclose(
            got[col].sort_index().to_numpy(dtype=float),
            want.sort_index().to_numpy(dtype=float),
            rtol=1e-9,
            err_msg=col,
        )
    assert pd.isna(got.loc["<outside>", "Style"])
    assert (stats["Style"].dropna() == "PushPop").all()
