"""Expected nsys-style summary rows, computed with the statistics module from raw values.

Tests gather durations per name straight from the source (SQL on the export, a scan
of the JSON) and hand them here; nothing of the recipe engine is involved, so a
wrong median or standard deviation in the engine cannot also be wrong here.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pytest


def stats_of(values: Sequence[float]) -> dict[str, float]:
    """Count, total, min, max, median and sample standard deviation (0 for one value)."""
    return {
        "count": len(values),
        "total": sum(values),
        "min": min(values),
        "max": max(values),
        "median": statistics.median(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def assert_summary(
    table: pa.Table,
    groups: Mapping[str, Sequence[float]],
    *,
    key: str = "Name",
    count: str = "Instances",
    unit: str = "(ns)",
    total: str | None = None,
    tolerance: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """Every row of the summary ``table`` equals the statistics of its group in ``groups``.

    ``tolerance`` is the absolute slack per value (1 ns for Kineto's rounded
    microseconds); totals get ``tolerance`` per instance. Returns the rows by key.
    """
    rows = {r[key]: r for r in table.to_pylist()}
    assert set(rows) == set(groups), (sorted(set(rows) ^ set(groups)))[:5]
    total_col = total or f"Total Time {unit}"
    for name, values in groups.items():
        want = stats_of(values)
        row = rows[name]
        assert row[count] == want["count"], name
        assert row[total_col] == pytest.approx(want["total"], abs=tolerance * len(values)), name
        assert row[f"Min {unit}"] == pytest.approx(want["min"], abs=tolerance), name
        assert row[f"Max {unit}"] == pytest.approx(want["max"], abs=tolerance), name
        assert row[f"Med {unit}"] == pytest.approx(want["median"], abs=tolerance), name
        assert row[f"StdDev {unit}"] == pytest.approx(
            want["stdev"], rel=1e-9, abs=tolerance + 1e-6
        ), name
    return rows


def merged(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching intervals merged, the slow and obvious way."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def covered(spans: Sequence[tuple[int, int]], lo: int, hi: int) -> int:
    """Time within [lo, hi) that the merged ``spans`` cover."""
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in spans)


def both(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The intersection of two merged interval lists."""
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            lo, hi = max(s1, s2), min(e1, e2)
            if lo < hi:
                out.append((lo, hi))
    return merged(out)
