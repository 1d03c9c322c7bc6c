"""nccl_sum: NCCL calls (NVTX NCCL domain / c10d ops) and kernels, checked against the raw data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from nsight_lab.recipe import run_recipe
from tests.recipes.expect import assert_summary
from tests.recipes.kineto_scan import collective, kernels
from tests.recipes.nvtx_db import add_nccl_ranges

NCCL_TRACE = "kineto/nccl_parser_config__nccl_data.json.gz"


def test_calls_and_kernels_match_a_scan_of_the_json(fixtures_dir: Path, tmp_path: Path) -> None:
    path = fixtures_dir / NCCL_TRACE
    result = run_recipe("nccl_sum", [path], tmp_path / "out")
    with gzip.open(path) as fh:
        events = json.load(fh)["traceEvents"]
    calls: dict[str, list[int]] = {}
    for ev in events:
        if ev.get("ph") == "X" and str(ev.get("name", "")).startswith("nccl:"):
            calls.setdefault(ev["name"], []).append(round(ev["dur"] * 1000))
    assert set(calls) == {"nccl:all_reduce", "nccl:broadcast"}
    assert_summary(result.tables["stats"], calls, tolerance=1)
    by_type: dict[str, list[int]] = {}
    for k in kernels(path):
        if k["name"].startswith("nccl"):
            by_type.setdefault(collective(k["name"]), []).append(k["end"] - k["start"])
    assert set(by_type) == {"AllReduce", "Broadcast"}
    assert_summary(result.tables["kernel_stats"], by_type, key="Type", tolerance=1)
    ranks = pd.read_parquet(tmp_path / "out" / "kernel_rank_stats.parquet")
    assert set(ranks["Rank"]) == {0}  # the trace's distributedInfo says rank 0 of 2
    assert result.html is not None and "NCCL calls" in result.summary


def test_nccl_nvtx_domain_ranges_are_the_calls(fixtures_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "nccl.sqlite"
    added = add_nccl_ranges(fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite", db)
    result = run_recipe("nccl_sum", [db], tmp_path / "out", notebook=False)
    groups: dict[str, list[int]] = {}
    for name, start, end in added:
        groups.setdefault(name, []).append(end - start)
    assert_summary(result.tables["stats"], groups)
    assert result.tables["kernel_stats"].num_rows == 0  # CloverLeaf runs no NCCL kernels


def test_by_name_keeps_full_kernel_names(fixtures_dir: Path, tmp_path: Path) -> None:
    path = fixtures_dir / NCCL_TRACE
    run_recipe("nccl_sum", [path], tmp_path / "out", args={"by_name": True}, notebook=False)
    stats = pd.read_parquet(tmp_path / "out" / "kernel_stats.parquet")
    assert set(stats["Name"]) == {k["name"] for k in kernels(path) if k["name"].startswith("nccl")}


def test_trace_without_nccl_gives_empty_tables(fixtures_dir: Path, tmp_path: Path) -> None:
    path = fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"
    result = run_recipe("nccl_sum", [path], tmp_path / "out", notebook=False)
    assert pd.read_parquet(tmp_path / "out" / "stats.parquet").empty
    assert result.summary == "No NCCL calls or kernels in these reports."
