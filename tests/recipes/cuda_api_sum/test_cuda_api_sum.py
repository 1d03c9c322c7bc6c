"""cuda_api_sum: every statistic equals SQL over the runtime table, named as nsys names."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa

from nsight_lab.recipe import run_recipe
from nsight_lab.recipe.cuda import strip_api_version
from tests.recipes.expect import assert_summary

# nsys's own rule, in its own terms: the last six characters go when they start with "_v".
NSYS_NAME = (
    "CASE substr(s.value, -6, 2) WHEN '_v' THEN substr(s.value, 1, length(s.value) - 6)"
    " ELSE s.value END"
)


def test_matches_sql(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    groups: dict[str, list[int]] = {}
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        for name, dur in con.execute(
            f"SELECT {NSYS_NAME}, r.end - r.start FROM CUPTI_ACTIVITY_KIND_RUNTIME r"
            " JOIN StringIds s ON s.id = r.nameId"
        ):
            groups.setdefault(name, []).append(dur)
    stats = run_recipe("cuda_api_sum", [sqlite], tmp_path / "o", notebook=False).tables["stats"]
    assert stats.column_names[:3] == ["Time (%)", "Total Time (ns)", "Num Calls"]
    assert_summary(stats, groups, count="Num Calls")
    assert stats["Name"][0].as_py() == "cudaDeviceSynchronize"


def test_only_a_v_and_four_characters_is_a_version_suffix() -> None:
    names = [
        "cudaFree_v3020",
        "cudaLaunchKernel_v7000",
        "cuGetProcAddress_v2",
        "cudaGetDriverEntryPoint_v11030",
        "cuMemAlloc_v2",
        "cudaMalloc",
    ]
    assert strip_api_version(pa.array(names)).to_pylist() == [
        "cudaFree",
        "cudaLaunchKernel",
        "cuGetProcAddress_v2",
        "cudaGetDriverEntryPoint_v11030",
        "cuMemAlloc_v2",
        "cudaMalloc",
    ]
