"""cuda_gpu_mem_size_sum: MB per memory operation, as SQL sums bytes by copyKind."""

from __future__ import annotations

import gzip
import json
import sqlite3
import statistics
from pathlib import Path

import pytest

from nsight_lab.recipe import run_recipe

LABELS = {1: "[CUDA memcpy Host-to-Device]", 2: "[CUDA memcpy Device-to-Host]"}


def test_matches_sql(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    sizes: dict[str, list[int]] = {}
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        for kind, size in con.execute("SELECT copyKind, bytes FROM CUPTI_ACTIVITY_KIND_MEMCPY"):
            sizes.setdefault(LABELS[kind], []).append(size)
    stats = run_recipe("cuda_gpu_mem_size_sum", [sqlite], tmp_path / "o", notebook=False).tables[
        "stats"
    ]
    assert stats.column_names == [
        "Total (MB)",
        "Count",
        "Avg (MB)",
        "Med (MB)",
        "Min (MB)",
        "Max (MB)",
        "StdDev (MB)",
        "Operation",
    ]
    rows = {r["Operation"]: r for r in stats.to_pylist()}
    assert set(rows) == set(sizes)
    for op, values in sizes.items():
        assert rows[op]["Count"] == len(values)
        assert rows[op]["Total (MB)"] == pytest.approx(sum(values) / 1e6)
        assert rows[op]["Med (MB)"] == pytest.approx(statistics.median(values) / 1e6)
        assert rows[op]["Max (MB)"] == pytest.approx(max(values) / 1e6)
        assert rows[op]["Min (MB)"] == pytest.approx(min(values) / 1e6)
        stdev = statistics.stdev(values) if len(values) > 1 else 0.0
        assert rows[op]["StdDev (MB)"] == pytest.approx(stdev / 1e6, abs=1e-12)


def test_kineto_memsets_are_counted(fixtures_dir: Path, tmp_path: Path) -> None:
    path = fixtures_dir / "kineto/nccl_parser_config__nccl_data.json.gz"
    with gzip.open(path) as fh:
        events = json.load(fh)["traceEvents"]
    memsets = [
        ev["args"]["bytes"]
        for ev in events
        if ev.get("ph") == "X" and ev.get("cat") == "gpu_memset"
    ]
    stats = run_recipe("cuda_gpu_mem_size_sum", [path], tmp_path / "o", notebook=False).tables[
        "stats"
    ]
    row = next(r for r in stats.to_pylist() if r["Operation"] == "[CUDA memset]")
    assert row["Count"] == len(memsets)
    assert row["Total (MB)"] == pytest.approx(sum(memsets) / 1e6)
    assert row["Med (MB)"] == pytest.approx(statistics.median(memsets) / 1e6)
    assert row["StdDev (MB)"] == pytest.approx(statistics.stdev(memsets) / 1e6)
