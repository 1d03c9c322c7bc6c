"""straggler_sum: per step and collective, the last rank to arrive, from a scan of both ranks."""

from __future__ import annotations

import re
from pathlib import Path
from statistics import median

import pytest

from nsight_lab.recipe import RecipeInputError, run_recipe
from nsight_lab.recipe.analysis.straggler import clock_offset
from nsight_lab.trace.model import TraceMetadata
from tests.recipes.conftest import RANKS
from tests.recipes.kineto_scan import events, ns_span

Key = tuple[int, str, int]


def arrivals(path: Path, steps: bool = True) -> dict[Key, int]:
    """(step, collective, k) -> arrival ns: the k-th call of it inside ProfilerStep#step."""
    evs = events(path)
    spans = sorted(
        (ns_span(e), int(e["name"].split("#")[1]))
        for e in evs
        if re.fullmatch(r"ProfilerStep#\d+", e["name"])
    )
    calls = sorted((ns_span(e)[0], e["name"]) for e in evs if e["name"].startswith("nccl:"))
    out: dict[Key, int] = {}
    counts: dict[tuple[int, str], int] = {}
    for start, name in calls:
        step = next((n for (lo, hi), n in spans if lo <= start <= hi), -1) if steps else -1
        k = counts.get((step, name), 0)
        counts[(step, name)] = k + 1
        out[(step, name, k)] = start
    return out


def test_last_rank_and_spread_per_step_and_collective(fixtures_dir: Path, tmp_path: Path) -> None:
    per_rank = [arrivals(fixtures_dir / r) for r in RANKS]
    shared = sorted(set(per_rank[0]) & set(per_rank[1]))
    result = run_recipe(
        "straggler_sum", [fixtures_dir / r for r in RANKS], tmp_path / "o", notebook=False
    )
    rows = {
        (r["Step"], r["Collective"], r["Instance"]): r
        for r in result.tables["stragglers"].to_pylist()
    }
    assert sorted(rows) == shared and len(shared) == 10
    for key in shared:
        times = [per_rank[0][key], per_rank[1][key]]
        row = rows[key]
        assert row["Last Rank"] == times.index(max(times))  # the traces say rank 0 and rank 1
        assert row["Arrival Spread (ns)"] == max(times) - min(times)
        assert row["Last Behind Median (ns)"] == median([max(times) - t for t in times])
    ranks = {r["Rank"]: r for r in result.tables["ranks"].to_pylist()}
    last = [rows[k]["Last Rank"] for k in shared]
    assert {r: ranks[r]["Times Last"] for r in ranks} == {0: last.count(0), 1: last.count(1)}
    assert result.summary.startswith("Over **10 collectives**")
    notes = [w for w in result.warnings if not w.skipped]
    assert len(notes) == 2 and "shared clock" in notes[0].problem


def test_nccl_straggler_matches_calls_in_order(fixtures_dir: Path, tmp_path: Path) -> None:
    per_rank = [arrivals(fixtures_dir / r, steps=False) for r in RANKS]
    shared = sorted(set(per_rank[0]) & set(per_rank[1]))
    result = run_recipe(
        "nccl_straggler", [fixtures_dir / r for r in RANKS], tmp_path / "o", notebook=False
    )
    delays = {
        (r["Collective"], r["Instance"], r["Rank"]): r["Delay (ns)"]
        for r in result.tables["delays"].to_pylist()
    }
    for _, name, k in shared:
        times = [per_rank[0][(-1, name, k)], per_rank[1][(-1, name, k)]]
        for rank in (0, 1):
            assert delays[(name, k, rank)] == times[rank] - min(times)


def test_reports_are_aligned_by_epoch_and_measured_offset() -> None:
    meta = TraceMetadata(
        source="nsys-sqlite", path="x", epoch_ns=1_000, extra={"clock_offset_ns": -30}
    )
    assert clock_offset(meta) == (970, True)
    assert clock_offset(TraceMetadata(source="kineto", path="y")) == (0, False)


def test_one_report_is_not_enough(fixtures_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RecipeInputError, match="at least 2 reports"):
        run_recipe("straggler_sum", [fixtures_dir / RANKS[0]], tmp_path / "o")
