"""Where reports are mapped and read from: modes, lost workers, converted traces, filters."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nsight_lab.recipe import MissingExtraError, RecipeArgError, run_recipe
from nsight_lab.recipe.filters import NvtxFilter, TimeFilter
from nsight_lab.recipe.reports import NVTX_FILTER_COLUMNS, ReportRef, plan_reads
from nsight_lab.recipe.spec import normalize_mode
from nsight_lab.trace import convert_trace
from tests.support.reports import fixture_reports

TEST_RECIPES = Path(__file__).resolve().parents[2] / "integration" / "analysis" / "recipes"


@pytest.fixture(scope="module")
def converted(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of converted traces of the first four fixtures."""
    folder = tmp_path_factory.mktemp("converted")
    for report in fixture_reports(fixtures_dir)[:4]:
        convert_trace(report, folder / (report.name + ".trace"))
    return folder


def test_mode_names_follow_nsys_and_dask_stays_an_alias() -> None:
    assert normalize_mode("dask") == normalize_mode("dask-futures") == "dask-futures"
    with pytest.raises(RecipeArgError, match="none, concurrent, dask-futures"):
        normalize_mode("spark")


def test_a_ref_names_exactly_one_place() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ReportRef(label="x", name="x")
    with pytest.raises(ValueError, match="exactly one"):
        ReportRef(label="x", name="x", path="a", converted="b")
    ref = ReportRef(label="k", name="n", urls={"metadata.json": "http://h/m"})
    assert ReportRef.from_json(json.loads(json.dumps(ref.to_json()))) == ref


def test_filters_add_the_columns_they_select_on() -> None:
    reads = {"kernels": ["name"], "samples": ["stack"], "devices": None}
    timed = plan_reads(reads, TimeFilter(1, 2))
    assert timed["kernels"] == ["name", "end", "start"] and timed["samples"] == [
        "stack",
        "timestamp",
    ]
    assert timed["devices"] is None and "ranges" not in timed
    nvtx = plan_reads(reads, NvtxFilter("step", None, 0))
    assert nvtx["kernels"] == ["name", "end", "start", "pid"]
    assert nvtx["ranges"] == list(NVTX_FILTER_COLUMNS)


def test_converted_traces_give_what_the_raw_reports_give(
    converted: Path, fixtures_dir: Path, tmp_path: Path
) -> None:
    raw = run_recipe(
        "cuda_gpu_kern_sum", fixture_reports(fixtures_dir)[:4], tmp_path / "raw", notebook=False
    )
    conv = run_recipe("cuda_gpu_kern_sum", [converted], tmp_path / "conv", notebook=False)
    assert conv.tables["stats"].equals(raw.tables["stats"])
    assert conv.tables["rank_stats"].equals(raw.tables["rank_stats"])
    assert [r.name for r in conv.reports] == [r.name for r in raw.reports]
    assert raw.sources == {"raw": 4, "converted": 0}
    assert conv.sources == {"raw": 0, "converted": 4}
    assert conv.record["Sources"] == conv.sources


@pytest.mark.parametrize("recipe", ["cuda_gpu_kern_sum", "nvtx_sum", "cuda_api_sum"])
def test_a_time_window_read_from_converted_row_groups_matches_filtering_raw(
    converted: Path, fixtures_dir: Path, tmp_path: Path, recipe: str
) -> None:
    from nsight_lab.trace.converted import ConvertedTrace

    folder = sorted(converted.iterdir())[1]  # a Kineto trace with every kind of event
    lo, hi = ConvertedTrace.from_folder(folder).manifest.span or (0, 0)
    window = f"{lo + (hi - lo) // 4}/{lo + (hi - lo) // 2}"
    source = fixture_reports(fixtures_dir)[1]
    raw = run_recipe(recipe, [source], tmp_path / "raw", notebook=False, filter_time=window)
    conv = run_recipe(recipe, [folder], tmp_path / "conv", notebook=False, filter_time=window)
    for name, table in raw.tables.items():
        assert conv.tables[name].equals(table), name


def test_an_nvtx_filter_reads_the_ranges_a_kernel_recipe_did_not_declare(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    report = fixtures_dir / "kineto" / "nccl_parser_config__nccl_data.json.gz"
    name = "ProfilerStep#5"  # a step of the trace, with its kernels in its window
    folder = tmp_path / "trace"
    convert_trace(report, folder)
    raw = run_recipe(
        "cuda_gpu_kern_sum", [report], tmp_path / "a", notebook=False, filter_nvtx=name
    )
    conv = run_recipe(
        "cuda_gpu_kern_sum", [folder], tmp_path / "b", notebook=False, filter_nvtx=name
    )
    assert conv.tables["stats"].equals(raw.tables["stats"])
    assert conv.tables["stats"].num_rows > 0


def test_concurrent_mode_retries_a_killed_workers_reports_once_each_alone(
    fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The victim kills every process that maps it; the reports in flight with it the
    first time are retried alone and survive, the victim is named after its retry."""
    monkeypatch.setenv("NSIGHT_LAB_RECIPE_PATH", str(TEST_RECIPES))
    reports = fixture_reports(fixtures_dir)[:5]
    victim = reports[2]
    result = run_recipe(
        "kills_worker",
        reports,
        tmp_path / "o",
        mode="concurrent",
        args={"victim": victim.name.removesuffix(".json.gz")},
        notebook=False,
    )
    assert [w.file for w in result.warnings] == [str(victim.resolve())]
    assert "died twice" in result.warnings[0].problem
    assert sorted(result.tables["counts"]["Report"].to_pylist()) == sorted(
        r.name for r in result.reports
    )
    assert len(result.reports) == 4


def test_dask_mode_without_dask_says_how_to_install(
    fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(MissingExtraError, match=r"nsight-lab\[dask\]"):
        run_recipe(
            "cuda_api_sum",
            fixture_reports(fixtures_dir)[:1],
            tmp_path / "o",
            mode="dask",
            notebook=False,
        )
