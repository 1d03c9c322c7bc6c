"""idle_time_breakdown: gaps per stream and their cause, recomputed from the raw JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsight_lab.recipe import run_recipe
from tests.recipes.conftest import ALEXNET
from tests.recipes.kineto_scan import GPU_CATEGORIES, events, ns_span


def expected_gaps(path: Path, threshold: int) -> dict[tuple[int, str], list[int]]:
    evs = events(path)
    launch = {
        e["args"]["correlation"]: ns_span(e)[0]
        for e in evs
        if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})
    }
    streams: dict[int, list[tuple[int, int, int]]] = {}
    for e in evs:
        if e.get("cat") in GPU_CATEGORIES:
            start, end = ns_span(e)
            streams.setdefault(e["args"]["stream"], []).append(
                (start, end, e["args"]["correlation"])
            )
    out: dict[tuple[int, str], list[int]] = {}
    for stream, ops in streams.items():
        ops.sort()
        busy_until = ops[0][1]
        for start, end, corr in ops[1:]:
            if start > busy_until:
                gap = start - busy_until
                if gap < threshold:
                    category = "kernel wait"
                elif launch.get(corr, -1) >= busy_until:
                    category = "host wait"
                else:
                    category = "other"
                out.setdefault((stream, category), []).append(gap)
            busy_until = max(busy_until, end)
    return out


@pytest.mark.parametrize("threshold", [30, 5000])
def test_categories_match_a_scan_of_the_json(
    fixtures_dir: Path, tmp_path: Path, threshold: int
) -> None:
    want = expected_gaps(fixtures_dir / ALEXNET, threshold)
    result = run_recipe(
        "idle_time_breakdown", [fixtures_dir / ALEXNET], tmp_path / "o",
        args={"threshold": threshold}, notebook=False,
    )  # fmt: skip
    rows = result.tables["breakdown"].to_pylist()
    got = {(r["Stream ID"], r["Category"]): (r["Idle (ns)"], r["Intervals"]) for r in rows}
    assert set(got) == set(want)
    for key, gaps in want.items():
        assert got[key] == (sum(gaps), len(gaps)), key
    intervals = result.tables["intervals"]
    assert intervals.num_rows == sum(len(g) for g in want.values())
    if threshold == 5000:
        assert any(c == "kernel wait" for _, c in want)
