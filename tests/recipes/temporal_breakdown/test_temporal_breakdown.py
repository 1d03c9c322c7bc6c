"""temporal_breakdown: compute, communication, memory and idle from plain interval merging."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe
from tests.recipes.conftest import CLOVERLEAF, NCCL
from tests.recipes.expect import merged
from tests.recipes.kineto_scan import GPU_CATEGORIES, events, ns_span


def length(spans: list[tuple[int, int]]) -> int:
    return sum(b - a for a, b in merged(spans))


def expected(ops: list[tuple[str, int, int]]) -> dict[str, int]:
    """ops: (kind, start, end), kind in computation/communication/memory."""
    compute = length([(s, e) for k, s, e in ops if k == "computation"])
    with_comm = length([(s, e) for k, s, e in ops if k != "memory"])
    busy = length([(s, e) for _, s, e in ops])
    span = max(e for _, _, e in ops) - min(s for _, s, _ in ops)
    return {
        "Compute (ns)": compute,
        "Communication (ns)": with_comm - compute,
        "Memory (ns)": busy - with_comm,
        "Idle (ns)": span - busy,
        "Span (ns)": span,
    }


def test_kineto_nccl_job_matches_interval_merging(fixtures_dir: Path, tmp_path: Path) -> None:
    ops = []
    for e in events(fixtures_dir / NCCL):
        if e.get("cat") in GPU_CATEGORIES:
            kind = (
                "memory"
                if e["cat"] != "kernel"
                else "communication"
                if e["name"].startswith("nccl")
                else "computation"
            )
            ops.append((kind, *ns_span(e)))
    result = run_recipe("temporal_breakdown", [fixtures_dir / NCCL], tmp_path / "o", notebook=False)
    (row,) = result.tables["breakdown"].to_pylist()
    want = expected(ops)
    for col, value in want.items():
        assert abs(row[col] - value) <= 2, col  # µs -> ns rounding at merged edges
    assert (
        sum(row[c] for c in ("Compute (ns)", "Communication (ns)", "Memory (ns)", "Idle (ns)"))
        == row["Span (ns)"]
    )
    assert row["Communication (ns)"] > 0 and row["Memory (ns)"] > 0
    assert abs(sum(row[c] for c in row if c.endswith("(%)")) - 100) < 1e-9


def test_nsys_export_matches_sql_intervals(fixtures_dir: Path, tmp_path: Path) -> None:
    with sqlite3.connect(f"file:{fixtures_dir / CLOVERLEAF}?mode=ro", uri=True) as con:
        ops = [
            ("computation", s, e)
            for s, e in con.execute("SELECT start, end FROM CUPTI_ACTIVITY_KIND_KERNEL")
        ]
        ops += [
            ("memory", s, e)
            for s, e in con.execute("SELECT start, end FROM CUPTI_ACTIVITY_KIND_MEMCPY")
        ]
    result = run_recipe(
        "temporal_breakdown", [fixtures_dir / CLOVERLEAF], tmp_path / "o", notebook=False
    )
    (row,) = result.tables["breakdown"].to_pylist()
    assert {c: row[c] for c in expected(ops)} == expected(ops)
