"""run_recipe end to end on the real fixtures: outputs, run record, modes, bad reports."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nsight_lab.recipe import RecipeArgError, RecipeInputError, RecipeOutputError, run_recipe
from nsight_lab.recipe.record import NSYS_KEYS


@pytest.fixture
def sqlite(fixtures_dir: Path) -> Path:
    return fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"


@pytest.fixture
def kineto(fixtures_dir: Path) -> Path:
    return fixtures_dir / "kineto"


def corrupt(tmp_path: Path, name: str = "broken.sqlite") -> Path:
    path = tmp_path / name
    path.write_bytes(b"this is not a report\n" * 10)
    return path


def test_run_writes_tables_files_and_an_nsys_compatible_record(
    sqlite: Path, tmp_path: Path, fixtures_dir: Path
) -> None:
    out = tmp_path / "out"
    result = run_recipe("cuda_gpu_kern_sum", [sqlite], out, notebook=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(result.files)
    assert {
        "stats.parquet",
        "rank_stats.parquet",
        "files.parquet",
        "cuda_gpu_kern_sum.nsys-analysis",
    } == set(result.files)
    record = json.loads((out / "cuda_gpu_kern_sum.nsys-analysis").read_text())
    real = json.loads(
        (
            fixtures_dir
            / "nsys-recipe-output/nvtx_gpu_proj_trace/nvtx_gpu_proj_trace.nsys-analysis"
        ).read_text()
    )
    assert set(real) <= set(record)
    assert list(record)[: len(NSYS_KEYS)] == list(real)
    for key, value in real.items():
        assert type(record[key]) is type(value), key
    assert len(record["StartTime"]) == len(real["StartTime"])
    assert set(record["Outputs"]) == set(result.files)
    assert record["InputFiles"] == [str(sqlite.resolve())]
    assert record["Warnings"] == [] and record["Args"] == {"base": False}
    assert {"import", "map", "reduce", "write"} <= set(record["Timings"])
    files = pq.read_table(out / "files.parquet").to_pylist()
    assert files == [{"Rank": 0, "File": str(sqlite.resolve()), "ReportRank": None}]


def test_csv_output(sqlite: Path, tmp_path: Path) -> None:
    result = run_recipe("cuda_api_sum", [sqlite], tmp_path / "o", csv=True, notebook=False)
    header = (tmp_path / "o" / "stats.csv").read_text().splitlines()[0]
    assert header.startswith('"Time (%)","Total Time (ns)","Num Calls"')
    assert "stats.csv" in result.record["Outputs"]


def test_existing_output_needs_force(sqlite: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(RecipeOutputError, match="--force-overwrite"):
        run_recipe("cuda_api_sum", [sqlite], out, notebook=False)
    assert (out / "keep.txt").exists()
    run_recipe("cuda_api_sum", [sqlite], out, force=True, notebook=False)
    assert not (out / "keep.txt").exists()


def test_default_output_is_the_next_free_name(
    sqlite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "osrt_sum-1").mkdir()
    result = run_recipe("osrt_sum", [sqlite], notebook=False)
    assert result.output == tmp_path / "osrt_sum-2"


def test_bad_recipe_argument_fails_before_reading(sqlite: Path, tmp_path: Path) -> None:
    with pytest.raises(RecipeArgError) as info:
        run_recipe(
            "cuda_gpu_kern_hist", [sqlite], tmp_path / "o", args={"bins": -1}, notebook=False
        )
    assert info.value.field == "bins"
    assert not (tmp_path / "o").exists()


def test_time_filter_narrows_what_the_recipe_sees(sqlite: Path, tmp_path: Path) -> None:
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        lo, hi = con.execute(
            "SELECT MIN(start), MAX(end) FROM CUPTI_ACTIVITY_KIND_KERNEL"
        ).fetchone()
        a, b = lo + (hi - lo) // 4, lo + (hi - lo) // 2
        (expected,) = con.execute(
            "SELECT COUNT(*) FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE start >= ? AND end <= ?", (a, b)
        ).fetchone()
    cut = run_recipe(
        "cuda_gpu_kern_sum", [sqlite], tmp_path / "b", filter_time=f"{a}/{b}", notebook=False
    )
    kept = sum(cut.tables["stats"]["Instances"].to_pylist())
    assert 0 < kept == expected < 1312
    assert cut.record["Filters"]["filter_time"] == f"{a}/{b}"


def test_one_corrupt_report_is_skipped_and_warned(sqlite: Path, tmp_path: Path) -> None:
    bad = corrupt(tmp_path)
    result = run_recipe("cuda_gpu_kern_sum", [sqlite, bad], tmp_path / "o", notebook=False)
    assert [w.file for w in result.warnings] == [str(bad.resolve())]
    assert result.warnings[0].problem
    assert result.record["Warnings"] == [w.to_json() for w in result.warnings]
    assert result.record["ReportsUsed"] == [str(sqlite.resolve())]


def test_all_reports_corrupt_fails_with_each_problem(tmp_path: Path) -> None:
    bad1, bad2 = corrupt(tmp_path, "a.sqlite"), corrupt(tmp_path, "b.json.gz")
    with pytest.raises(RecipeInputError, match="no usable report") as info:
        run_recipe("cuda_gpu_kern_sum", [bad1, bad2], tmp_path / "o", notebook=False)
    assert "a.sqlite" in str(info.value) and "b.json.gz" in str(info.value)
    assert not (tmp_path / "o").exists()


def test_concurrent_mode_equals_serial_and_keeps_input_order(kineto: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    for name in (
        "trace_filter__sampled_rank-0.json.gz",
        "trace_filter__sampled_rank-1.json.gz",
        "critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz",
    ):
        shutil.copy(kineto / name, folder / name)
    serial = run_recipe("cuda_gpu_kern_sum", [f"{folder}:2"], tmp_path / "s", notebook=False)
    parallel = run_recipe(
        "cuda_gpu_kern_sum", [f"{folder}:2"], tmp_path / "p", mode="concurrent", notebook=False
    )
    assert [r.name for r in parallel.reports] == [
        "critical_path__simple_add__benchmark_result_493459_1694039959_trace",
        "trace_filter__sampled_rank-0",
    ]
    assert parallel.tables["stats"].equals(serial.tables["stats"])
    assert parallel.tables["rank_stats"].equals(serial.tables["rank_stats"])


@pytest.mark.slow
def test_notebook_and_html_with_an_embedded_plot(sqlite: Path, tmp_path: Path) -> None:
    result = run_recipe("cuda_gpu_kern_sum", [sqlite], tmp_path / "o")
    assert result.notebook is not None and result.notebook.is_file()
    assert result.html is not None
    html = result.html.read_text()
    assert "<img" in html and "data:image/png;base64" in html
    assert "cdn" not in html.lower()
    assert {"stats.ipynb", "stats.html"} <= set(result.record["Outputs"])
    assert result.record["Outputs"]["stats.ipynb"] == "Notebook"
    assert {"notebook", "html"} <= set(result.timings)


def test_a_template_papermill_cannot_run_is_named_in_the_error(tmp_path: Path) -> None:
    """A user recipe whose notebook has no kernelspec language fails with its path, not
    papermill's bare ``No language found in notebook``."""
    import nbformat

    from nsight_lab.recipe.errors import RecipeRunError
    from nsight_lab.recipe.notebook import execute_notebook

    template = tmp_path / "stats.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}))
    nbformat.write(notebook, template)
    with pytest.raises(RecipeRunError, match=r"stats\.ipynb cannot be executed.*kernelspec"):
        execute_notebook(template, tmp_path / "out.ipynb", {"x": 2})
