"""cuda_memcpy_async: async copies from pageable memory, found as a JSON scan finds them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from nsight_lab.recipe import run_recipe


def test_flags_pageable_async_copies_in_kineto(fixtures_dir: Path, tmp_path: Path) -> None:
    path = (
        fixtures_dir
        / "kineto/critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"
    )
    with gzip.open(path) as fh:
        events = json.load(fh)["traceEvents"]
    api = {
        ev["args"]["correlation"]: ev["name"]
        for ev in events
        if ev.get("ph") == "X" and ev.get("cat") == "cuda_runtime"
    }
    expected = sorted(
        round(ev["ts"] * 1000)
        for ev in events
        if ev.get("ph") == "X"
        and ev.get("cat") == "gpu_memcpy"
        and "Async" in api.get(ev["args"]["correlation"], "")
        and "Pageable" in ev["name"]
    )
    assert expected, "fixture should hold pageable async copies"
    result = run_recipe("cuda_memcpy_async", [path], tmp_path / "o", notebook=False)
    rows = result.tables["memcpy_async"].to_pylist()
    assert sorted(r["Start (ns)"] for r in rows) == expected
    assert {r["API Name"] for r in rows} == {"cudaMemcpyAsync"}
    kinds = result.tables["memcpy_kinds"].to_pylist()
    assert sum(k["Count"] for k in kinds if k["Flagged"]) == len(expected)


def test_synchronous_copies_are_not_flagged(fixtures_dir: Path, tmp_path: Path) -> None:
    # CloverLeaf copies only with cudaMemcpy: nothing async, but every copy is listed in memcpy_kinds.
    sqlite = fixtures_dir / "nsys-sqlite/cloverleaf-a100.sqlite"
    result = run_recipe("cuda_memcpy_async", [sqlite], tmp_path / "o", notebook=False)
    assert result.tables["memcpy_async"].num_rows == 0
    kinds = result.tables["memcpy_kinds"].to_pylist()
    assert sum(k["Count"] for k in kinds) == 279 and not any(k["Flagged"] for k in kinds)
