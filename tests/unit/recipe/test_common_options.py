"""The common options nsys recipes take, beyond the basics: projected NVTX filter, modes,
old report names, catalogue entries without data, notes in the run record."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from nsight_lab.recipe import RecipeArgError, RecipeInputError, get_recipe, run_recipe
from nsight_lab.recipe.filters import NvtxFilter, parse_filters
from tests.recipes.nvtx_db import add_ranges, expected_projection

ALIASES = {
    "gpukernsum": "cuda_gpu_kern_sum",
    "cudaapisum": "cuda_api_sum",
    "osrtsum": "osrt_sum",
    "gpumemtimesum": "cuda_gpu_mem_time_sum",
    "gpumemsizesum": "cuda_gpu_mem_size_sum",
    "nvtxsum": "nvtx_sum",
}


@pytest.fixture(scope="module")
def nvtx_report(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    db = tmp_path_factory.mktemp("nvtx") / "cloverleaf-nvtx.sqlite"
    return db, add_ranges(fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite", db)


def kernels_between(db: Path, pid: int, lo: int, hi: int) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute(
            "SELECT COUNT(*) FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE ((globalPid >> 24) & 0xFFFFFF) = ?"
            " AND start >= ? AND end <= ?",
            (pid, lo, hi),
        ).fetchone()[0]


def test_projected_nvtx_filter_keeps_the_gpu_work_of_the_range(
    nvtx_report: tuple[Path, dict], tmp_path: Path
) -> None:
    db, ranges = nvtx_report
    start, end, gtid = ranges["inner_a"]
    pid = (gtid >> 24) & 0xFFFFFF
    p_start, p_end, n_ops = expected_projection(db, start, end, gtid)
    projected = run_recipe(
        "cuda_gpu_kern_sum", [db], tmp_path / "p", filter_projected_nvtx="inner_a", notebook=False
    )
    on_cpu = run_recipe(
        "cuda_gpu_kern_sum", [db], tmp_path / "c", filter_nvtx="inner_a", notebook=False
    )

    def count(result: object) -> int:
        return sum(result.tables["stats"]["Instances"].to_pylist())  # type: ignore[attr-defined]

    assert count(projected) == kernels_between(db, pid, p_start, p_end) > 0
    assert count(on_cpu) == kernels_between(db, pid, start, end)
    assert count(projected) != count(on_cpu)  # the GPU runs the range's work later
    assert projected.record["Filters"]["filter_projected_nvtx"] == "inner_a"
    api = run_recipe(
        "cuda_api_sum", [db], tmp_path / "a", filter_projected_nvtx="inner_a", notebook=False
    )
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        (calls,) = con.execute(
            "SELECT COUNT(*) FROM CUPTI_ACTIVITY_KIND_RUNTIME WHERE ((globalTid >> 24) & 0xFFFFFF) = ?"
            " AND start >= ? AND end <= ?",
            (pid, start, end),
        ).fetchone()
    assert sum(api.tables["stats"]["Num Calls"].to_pylist()) == calls  # CPU side: the range itself
    assert n_ops > 0


def test_projected_filter_excludes_the_other_filters() -> None:
    assert parse_filters(None, None, "step@d/2") == NvtxFilter("step", "d", 2, projected=True)
    with pytest.raises(RecipeArgError, match="exclude each other") as info:
        parse_filters(None, "a", "b")
    assert info.value.field == "filter_projected_nvtx"
    with pytest.raises(RecipeArgError, match="--filter-projected-nvtx"):
        parse_filters(None, None, " ")


@pytest.mark.parametrize(("alias", "name"), sorted(ALIASES.items()))
def test_nsys_2022_report_names_find_the_recipe(alias: str, name: str) -> None:
    assert get_recipe(alias).name == name


def test_dask_is_an_old_spelling_of_dask_futures(fixtures_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RecipeArgError, match="--mode 'threads'"):
        run_recipe(
            "cuda_api_sum",
            [fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"],
            tmp_path / "x",
            mode="threads",
        )
    from nsight_lab.recipe.spec import normalize_mode

    assert normalize_mode("dask") == "dask-futures"


def test_recipe_without_a_data_source_fails_with_what_would_record_it(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    recipe = get_recipe("gpu_metric_util_sum")
    assert not recipe.spec.runnable and "--gpu-metrics-devices" in (recipe.spec.unavailable or "")
    with pytest.raises(RecipeInputError, match="--gpu-metrics-devices"):
        run_recipe(
            "gpu_metric_util_sum",
            [fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"],
            tmp_path / "o",
        )
    assert not (tmp_path / "o").exists()


def test_unended_ranges_are_left_out_and_counted_in_the_record(
    nvtx_report: tuple[Path, dict], tmp_path: Path
) -> None:
    db, ranges = nvtx_report
    copy = tmp_path / "unended.sqlite"
    copy.write_bytes(db.read_bytes())
    start, _, gtid = ranges["outer"]
    with sqlite3.connect(copy) as con:
        con.executemany(
            "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId)"
            " VALUES (?, NULL, 59, 'outer', ?, 0)",
            [(start + 5, gtid), (start + 7, gtid)],
        )
    result = run_recipe("nvtx_sum", [copy], tmp_path / "o", notebook=False)
    rows = {r["Range"]: r for r in result.tables["stats"].to_pylist()}
    assert rows["outer"]["Instances"] == 1  # the two that never ended do not count (not as 0 ns)
    assert rows["outer"]["Min (ns)"] > 0
    record = json.loads((tmp_path / "o" / "nvtx_sum.nsys-analysis").read_text())
    (note,) = record["Warnings"]
    assert note["file"] == str(copy.resolve()) and note["skipped"] is False
    assert note["problem"].startswith("2 NVTX range(s) never ended")
