"""cuda_memset_sync: flagged memsets equal what SQL finds by API name and memory kind."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe
from tests.recipes.conftest import ALEXNET
from tests.recipes.rich_export import Rich

SQL = """
SELECT m.start, m.end, s.value, k.label FROM CUPTI_ACTIVITY_KIND_MEMSET m
JOIN CUPTI_ACTIVITY_KIND_RUNTIME r
  ON r.correlationId = m.correlationId AND (r.globalTid & ~0xFFFFFF) = m.globalPid
JOIN StringIds s ON s.id = r.nameId
JOIN ENUM_CUDA_MEM_KIND k ON k.id = m.memKind
"""


def test_synchronous_calls_and_pinned_or_managed_memory_are_flagged(
    rich: Rich, tmp_path: Path
) -> None:
    with sqlite3.connect(f"file:{rich.path}?mode=ro", uri=True) as con:
        rows = con.execute(SQL).fetchall()
    expected = sorted(
        (start, end - start)
        for start, end, api, kind in rows
        if "Async" not in api or kind in ("Pinned", "Managed")
    )
    result = run_recipe("cuda_memset_sync", [rich.path], tmp_path / "o", notebook=False)
    flagged = result.tables["memset_sync"]
    assert (
        sorted(
            zip(
                flagged["Start (ns)"].to_pylist(), flagged["Duration (ns)"].to_pylist(), strict=True
            )
        )
        == expected
    )
    assert len(expected) == 6 < len(rows) == 10
    reasons = {(r["API Name"], r["Memory Kind"]): r["Reason"] for r in flagged.to_pylist()}
    assert reasons == {
        ("cudaMemset", "Device"): "synchronous API",
        ("cudaMemsetAsync", "Pinned"): "pinned memory",
        ("cudaMemsetAsync", "Managed"): "managed memory",
    }
    kinds = result.tables["memset_kinds"]
    assert sum(kinds["Count"].to_pylist()) == len(rows)
    assert result.summary.startswith("**6 of 10 memsets** blocked the host")


def test_async_device_memsets_of_a_kineto_trace_are_not_flagged(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    with gzip.open(fixtures_dir / ALEXNET) as fh:
        events = json.load(fh)["traceEvents"]
    memsets = [e for e in events if e.get("ph") == "X" and e.get("cat") == "gpu_memset"]
    result = run_recipe(
        "cuda_memset_sync", [fixtures_dir / ALEXNET], tmp_path / "o", notebook=False
    )
    assert result.tables["memset_sync"].num_rows == 0
    assert sum(result.tables["memset_kinds"]["Count"].to_pylist()) == len(memsets) == 3
