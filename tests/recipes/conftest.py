"""Reports that several recipe tests read, built or imported once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.recipes.rich_export import Rich, build

ALEXNET = "kineto/critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"
SIMPLE_ADD = "kineto/critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz"
NCCL = "kineto/nccl_parser_config__nccl_data.json.gz"
RANKS = (
    "kineto/trace_filter__sampled_rank-0.json.gz",
    "kineto/trace_filter__sampled_rank-1.json.gz",
)
CLOVERLEAF = "nsys-sqlite/cloverleaf-a100.sqlite"


@pytest.fixture(scope="session")
def rich(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Rich:
    """CloverLeaf with NVTX steps, MPI calls, memsets and CUDA memory usage added."""
    return build(fixtures_dir / CLOVERLEAF, tmp_path_factory.mktemp("rich") / "rich.sqlite")
