"""gpu_vram_usage_trace: memory in use after each event, from SQL and from the JSON itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsight_lab.recipe import RecipeInputError, run_recipe
from tests.recipes.conftest import ALEXNET, CLOVERLEAF
from tests.recipes.kineto_memory import add_memory_events
from tests.recipes.rich_export import Rich, memory_events


def test_nsys_usage_is_the_running_sum_of_the_events(rich: Rich, tmp_path: Path) -> None:
    rows = memory_events(rich.path)
    events = [(t, signed) for t, signed, _ in rows]
    running = [used for _, _, used in rows]
    result = run_recipe("gpu_vram_usage_trace", [rich.path], tmp_path / "o", notebook=False)
    trace = result.tables["trace"]
    assert trace["Timestamp (ns)"].to_pylist() == [t for t, _ in events]
    assert trace["Used (bytes)"].to_pylist() == running
    (peak,) = result.tables["peaks"].to_pylist()
    assert peak["Peak Used (bytes)"] == max(running)
    assert peak["Peak At (ns)"] == events[running.index(max(running))][0]
    assert peak["Final Used (bytes)"] == running[-1]
    assert peak["Allocations"] == sum(1 for _, s in events if s > 0)


def test_kineto_usage_is_the_allocators_own_total(fixtures_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "alexnet-memory.json.gz"
    added = add_memory_events(fixtures_dir / ALEXNET, path)
    result = run_recipe("gpu_vram_usage_trace", [path], tmp_path / "o", notebook=False)
    rows = result.tables["trace"].to_pylist()
    cuda = [r for r in rows if r["Device Type"] == "cuda"]
    host = [r for r in rows if r["Device Type"] == "cpu"]
    want = [e["args"]["Total Allocated"] for e in added if e["args"]["Device Type"] == 1]
    assert [r["Used (bytes)"] for r in cuda] == want
    assert len(host) == 1 and host[0]["Device ID"] == -1
    peaks = {r["Device Type"]: r for r in result.tables["peaks"].to_pylist()}
    assert (
        peaks["cuda"]["Peak Used (bytes)"] == max(want) and peaks["cuda"]["Final Used (bytes)"] == 0
    )
    assert peaks["cpu"]["Final Used (bytes)"] == 4096  # the host allocation never freed


def test_report_without_memory_events_says_how_to_record_them(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(RecipeInputError, match="--cuda-memory-usage=true"):
        run_recipe("gpu_vram_usage_trace", [fixtures_dir / CLOVERLEAF], tmp_path / "o")
