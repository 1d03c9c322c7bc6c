"""``nsight-lab recipe``: list/info for people and scripts, run with usage errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from nsight_lab.cli.recipe_cmd import recipe_group


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(recipe_group, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_list_json_names_the_summary_recipes() -> None:
    code, out = invoke("list", "--output", "json")
    assert code == 0
    names = {r["name"] for r in json.loads(out)["recipes"]}
    assert {"cuda_gpu_kern_sum", "nvtx_sum", "osrt_sum"} <= names


def test_info_shows_args_with_types_and_defaults() -> None:
    code, out = invoke("info", "cuda_gpu_kern_hist", "--output", "json")
    assert code == 0
    bins = next(a for a in json.loads(out)["args"] if a["name"] == "bins")
    assert (bins["type"], bins["default"], bins["minimum"]) == ("integer", 30, 1)
    code, human = invoke("info", "cuda_gpu_kern_hist")
    assert code == 0 and "--bins" in human and "Number of equal-width bins" in human


def test_unknown_recipe_is_a_usage_error_with_suggestions() -> None:
    code, out = invoke("info", "cuda_gpu_kern_summ")
    assert code == 2 and "cuda_gpu_kern_sum" in out


def test_bad_recipe_arg_names_the_field(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = str(fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite")
    code, out = invoke(
        "run",
        "cuda_gpu_kern_hist",
        "--input",
        sqlite,
        "--output",
        str(tmp_path / "o"),
        "--bins",
        "zero",
    )
    assert code == 2 and "bins" in out and "integer" in out
    code, out = invoke(
        "run",
        "cuda_gpu_kern_hist",
        "--input",
        sqlite,
        "--output",
        str(tmp_path / "o"),
        "--bin",
        "3",
    )
    assert code == 2 and "Did you mean --bins" in out


def test_mutually_exclusive_filters_are_a_usage_error(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = str(fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite")
    code, out = invoke(
        "run",
        "cuda_api_sum",
        "--input",
        sqlite,
        "--output",
        str(tmp_path / "o"),
        "--filter-time",
        "1/2",
        "--filter-nvtx",
        "step",
    )
    assert code == 2 and "exclude each other" in out


def test_run_json_with_nsys_style_inputs_and_recipe_options(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    sqlite = str(fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite")
    rank0 = str(fixtures_dir / "kineto/trace_filter__sampled_rank-0.json.gz")
    code, out = invoke(
        "run",
        "cuda_gpu_kern_sum",
        "--input",
        sqlite,
        rank0,
        "--output",
        str(tmp_path / "o"),
        "--no-notebook",
        "--json",
        "--base",
    )
    assert code == 0, out
    data = json.loads(out)
    assert len(data["reports"]) == 2 and data["warnings"] == []
    assert "cuda_gpu_kern_sum.nsys-analysis" in data["files"]
    record = json.loads((tmp_path / "o" / "cuda_gpu_kern_sum.nsys-analysis").read_text())
    assert record["Args"] == {"base": True}


def test_run_fails_with_exit_1_when_no_report_is_usable(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 20)
    code, out = invoke(
        "run", "cuda_api_sum", "--input", str(bad), "--output", str(tmp_path / "o"), "--no-notebook"
    )
    assert code == 1 and "no usable report" in out and "bad.sqlite" in out


def test_occupied_output_says_to_force(fixtures_dir: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "o"
    out_dir.mkdir()
    (out_dir / "x").write_text("x")
    code, out = invoke(
        "run",
        "cuda_api_sum",
        "--input",
        str(fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"),
        "--output",
        str(out_dir),
        "--no-notebook",
    )
    assert code == 2 and "--force-overwrite" in out


def test_info_of_a_recipe_without_data_says_what_records_it(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    code, out = invoke("info", "nvlink_sum")
    assert code == 0 and "Not runnable here" in out and "--gpu-metrics-devices" in out
    code, out = invoke("info", "nvlink_sum", "--output", "json")
    info = json.loads(out)
    assert info["runnable"] is False and "NVLink" in info["unavailable"]
    sqlite = str(fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite")
    result = CliRunner().invoke(
        recipe_group, ["run", "nvlink_sum", "--input", sqlite, "--output", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "--gpu-metrics-devices" in result.output


def test_old_nsys_name_and_dask_futures_mode_are_accepted(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    code, out = invoke("info", "gpukernsum", "--output", "json")
    assert code == 0 and json.loads(out)["name"] == "cuda_gpu_kern_sum"
    code, out = invoke("info", "--help")
    result = CliRunner().invoke(recipe_group, ["run", "--help"])
    assert "dask-futures" in result.output and "--filter-projected-nvtx" in result.output
