"""nvtx_sum: range statistics by name and style, checked against a scan of the JSON."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from nsight_lab.recipe import run_recipe
from tests.recipes.expect import assert_summary


def test_user_annotations_match_json_scan(fixtures_dir: Path, tmp_path: Path) -> None:
    path = fixtures_dir / "kineto/nccl_parser_config__nccl_data.json.gz"
    with gzip.open(path) as fh:
        events = json.load(fh)["traceEvents"]
    expected: dict[str, list[int]] = {}
    for ev in events:
        if ev.get("ph") == "X" and ev.get("cat") == "user_annotation":
            expected.setdefault(ev["name"], []).append(round(ev["dur"] * 1000))
    stats = run_recipe("nvtx_sum", [path], tmp_path / "o", notebook=False).tables["stats"]
    assert stats.column_names[-2:] == ["Style", "Range"]
    rows = assert_summary(stats, expected, key="Range", tolerance=1)
    assert {r["Style"] for r in rows.values()} == {"PushPop"}


def test_sources_argument_selects_cpu_ops(fixtures_dir: Path, tmp_path: Path) -> None:
    path = (
        fixtures_dir
        / "kineto/critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz"
    )
    with gzip.open(path) as fh:
        events = json.load(fh)["traceEvents"]
    cpu_ops = sum(1 for ev in events if ev.get("ph") == "X" and ev.get("cat") == "cpu_op")
    stats = run_recipe(
        "nvtx_sum", [path], tmp_path / "o", args={"sources": ["cpu_op"]}, notebook=False
    ).tables["stats"]
    assert sum(stats["Instances"].to_pylist()) == cpu_ops


def test_nsys_export_without_nvtx_gives_an_empty_table(fixtures_dir: Path, tmp_path: Path) -> None:
    stats = run_recipe(
        "nvtx_sum",
        [fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"],
        tmp_path / "o",
        notebook=False,
    ).tables["stats"]
    assert stats.num_rows == 0 and "Style" in stats.column_names
