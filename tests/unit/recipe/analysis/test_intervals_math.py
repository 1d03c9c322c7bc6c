"""Union, gap and busy-time arithmetic agrees with a brute-force count on a tick grid."""

from __future__ import annotations

import numpy as np
import pytest

from nsight_lab.recipe.analysis import intervals


def _busy_grid(starts: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
    """Tick t is busy when some interval has start <= t < end (ground truth by brute force)."""
    grid = np.zeros(horizon, dtype=bool)
    for s, e in zip(starts, ends, strict=True):
        grid[s:e] = True
    return grid


@pytest.fixture
def random_intervals() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    starts = rng.integers(0, 900, 60)
    ends = starts + rng.integers(0, 40, 60)
    return starts.astype(np.int64), ends.astype(np.int64)


def test_union_merges_overlapping_and_touching_intervals() -> None:
    u = intervals.union([0, 5, 10, 30], [10, 8, 20, 31])
    assert u.starts.tolist() == [0, 30]
    assert u.ends.tolist() == [20, 31]
    assert u.total == 21


def test_union_total_matches_brute_force(random_intervals: tuple[np.ndarray, np.ndarray]) -> None:
    s, e = random_intervals
    assert intervals.union(s, e).total == int(_busy_grid(s, e, 1000).sum())


def test_busy_in_windows_matches_brute_force(
    random_intervals: tuple[np.ndarray, np.ndarray],
) -> None:
    s, e = random_intervals
    grid = _busy_grid(s, e, 1000)
    u = intervals.union(s, e)
    w_start = np.array([0, 13, 250, 999, 400])
    w_end = np.array([1000, 14, 600, 1000, 400])
    expected = [int(grid[a:b].sum()) for a, b in zip(w_start, w_end, strict=True)]
    assert intervals.busy_in(u, w_start, w_end).tolist() == expected


def test_busy_per_bin_sums_to_total(random_intervals: tuple[np.ndarray, np.ndarray]) -> None:
    s, e = random_intervals
    u = intervals.union(s, e)
    edges = intervals.window_edges(int(s.min()), int(e.max()), chunks=7)
    assert int(intervals.busy_per_bin(u, edges).sum()) == u.total


def test_gaps_find_idle_stretches_and_their_neighbours() -> None:
    # Two kernels 5 ms apart, a third overlapping the first: one gap, from the later end.
    starts = [0, 1_000_000, 7_000_000]
    ends = [2_000_000, 1_500_000, 8_000_000]
    g = intervals.gaps(starts, ends, min_gap=1_000_000)
    assert g.starts.tolist() == [2_000_000]
    assert g.durations.tolist() == [5_000_000]
    assert g.before.tolist() == [0]  # the interval that ended last before the gap
    assert g.after.tolist() == [2]


def test_gaps_below_threshold_are_dropped(random_intervals: tuple[np.ndarray, np.ndarray]) -> None:
    s, e = random_intervals
    s, e = s[e > s], e[e > s]  # zero-length intervals are ignored by design (own test below)
    grid = _busy_grid(s, e, 1000)
    lo, hi = int(s.min()), int(e.max())
    idle = ~grid[lo:hi]
    # Lengths of idle runs by brute force.
    runs, n = [], 0
    for v in idle:
        if v:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    g = intervals.gaps(s, e, min_gap=5)
    assert sorted(g.durations.tolist()) == sorted(r for r in runs if r >= 5)


def test_window_edges_by_interval_stop_at_span_end() -> None:
    assert intervals.window_edges(0, 25, interval=10).tolist() == [0, 10, 20, 25]
    assert intervals.window_edges(0, 30, chunks=3).tolist() == [0, 10, 20, 30]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: intervals.union([5], [4]), "ends before it starts"),
        (lambda: intervals.union([1, 2], [3]), "differ in length"),
        (lambda: intervals.gaps([0, 1], [1, 2], min_gap=-1), "min_gap"),
        (lambda: intervals.window_edges(0, 10, chunks=0), "chunks"),
    ],
)
def test_bad_input_is_named(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_zero_length_intervals_do_not_split_a_gap() -> None:
    g = intervals.gaps([0, 50, 100], [10, 50, 110], min_gap=1)
    assert g.starts.tolist() == [10]
    assert g.ends.tolist() == [100]
