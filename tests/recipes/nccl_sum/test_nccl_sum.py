"""nccl_sum on a real 2-rank NCCL job's Kineto trace (rank 0), checked against the raw JSON."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nsight_lab.recipe import run_recipe
from tests.recipes.kineto_scan import collective, kernels

NCCL_TRACE = "kineto/nccl_parser_config__nccl_data.json.gz"


def test_collectives_summarised_by_type(fixtures_dir: Path, tmp_path: Path) -> None:
    path = fixtures_dir / NCCL_TRACE
    result = run_recipe("nccl_sum", [path], tmp_path / "out")
    stats = pd.read_parquet(tmp_path / "out" / "stats.parquet").set_index("Type")
    raw = [k for k in kernels(path) if k["name"].startswith("nccl")]
    expected: dict[str, list[int]] = {}
    for k in raw:
        expected.setdefault(collective(k["name"]), []).append(k["end"] - k["start"])
    assert set(stats.index) == set(expected) == {"AllReduce", "Broadcast"}
    for kind, durations in expected.items():
        assert stats.loc[kind, "Instances"] == len(durations)
        # The importer and this scan may round µs -> ns differently: 1 ns per kernel at most.
        assert stats.loc[kind, "Total Time (ns)"] == pytest.approx(
            sum(durations), abs=len(durations)
        )
        assert stats.loc[kind, "Max (ns)"] == pytest.approx(max(durations), abs=1)
    ranks = pd.read_parquet(tmp_path / "out" / "rank_stats.parquet")
    assert set(ranks["Rank"]) == {0}  # the trace's distributedInfo says rank 0 of 2
    assert result.html is not None and result.html.is_file()


def test_by_name_keeps_full_kernel_names(fixtures_dir: Path, tmp_path: Path) -> None:
    path = fixtures_dir / NCCL_TRACE
    run_recipe("nccl_sum", [path], tmp_path / "out", args={"by_name": True}, notebook=False)
    stats = pd.read_parquet(tmp_path / "out" / "stats.parquet")
    assert set(stats["Name"]) == {k["name"] for k in kernels(path) if k["name"].startswith("nccl")}


def test_trace_without_nccl_gives_empty_tables(fixtures_dir: Path, tmp_path: Path) -> None:
    path = fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"
    run_recipe("nccl_sum", [path], tmp_path / "out", notebook=False)
    assert pd.read_parquet(tmp_path / "out" / "stats.parquet").empty
