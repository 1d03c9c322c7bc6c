"""memory_timeline: per-bin peak, end level and traffic, from a direct walk over the events."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nsight_lab.recipe import run_recipe
from tests.recipes.conftest import ALEXNET
from tests.recipes.kineto_memory import add_memory_events
from tests.recipes.rich_export import Rich, memory_events


def expected_bins(events: list[tuple[int, int, int]], bins: int) -> list[tuple[int, int, int, int]]:
    """(max used, end used, allocated, freed) per bin for (ts, signed bytes, used after)."""
    times = [t for t, _, _ in events]
    edges = np.linspace(min(times), max(times), bins + 1).round().astype(np.int64)
    out = []
    level = 0
    i = 0
    for b in range(bins):
        lo, hi = edges[b], edges[b + 1]
        top, alloc, freed = level, 0, 0
        while i < len(events) and (events[i][0] < hi or (b == bins - 1 and events[i][0] <= hi)):
            _, signed, used = events[i]
            level = used
            top = max(top, used)
            alloc += max(signed, 0)
            freed += max(-signed, 0)
            i += 1
        out.append((top, level, alloc, freed))
        assert lo <= hi
    return out


def test_nsys_bins_match_a_walk_over_the_sql_rows(rich: Rich, tmp_path: Path) -> None:
    events = memory_events(rich.path)
    bins = 16
    result = run_recipe(
        "memory_timeline", [rich.path], tmp_path / "o", args={"bins": bins}, notebook=False
    )
    got = [
        (r["Max Used (bytes)"], r["End Used (bytes)"], r["Allocated (bytes)"], r["Freed (bytes)"])
        for r in result.tables["timeline"].to_pylist()
    ]
    assert got == expected_bins(events, bins)
    (peak,) = result.tables["peaks"].to_pylist()
    assert peak["Peak Used (bytes)"] == max(u for _, _, u in events)


def test_kineto_bins_use_the_allocators_totals(fixtures_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "alexnet-memory.json.gz"
    added = add_memory_events(fixtures_dir / ALEXNET, path)
    cuda = [
        (round(e["ts"] * 1000), e["args"]["Bytes"], e["args"]["Total Allocated"])
        for e in added
        if e["args"]["Device Type"] == 1
    ]
    bins = 8
    result = run_recipe(
        "memory_timeline", [path], tmp_path / "o", args={"bins": bins}, notebook=False
    )
    rows = [r for r in result.tables["timeline"].to_pylist() if r["Device Type"] == "cuda"]
    all_times = [round(e["ts"] * 1000) for e in added]
    # Bins span all of the report's memory events (host ones too); recompute on that span.
    edges = np.linspace(min(all_times), max(all_times), bins + 1).round().astype(np.int64)
    assert [r["Start (ns)"] for r in rows] == edges[:-1].tolist()
    assert max(r["Max Used (bytes)"] for r in rows) == max(u for _, _, u in cuda)
    assert sum(r["Allocated (bytes)"] for r in rows) == sum(s for _, s, _ in cuda if s > 0)
    assert rows[-1]["End Used (bytes)"] == cuda[-1][2] == 0
    assert "Peak memory in use" in result.summary
