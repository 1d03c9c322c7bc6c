"""Union, gap and busy-time arithmetic over half-open ``[start, end)`` intervals.

GPU activity recipes (gaps, utilisation, NCCL overlap) all reduce to the same three
questions about a set of possibly overlapping intervals: where is the device busy at
all (the union), where is it idle (the gaps between union pieces), and how much busy
time falls inside a given window. Reports carry hundreds of thousands of kernels, so
every function here is vectorised numpy over sorted arrays: no Python loop per row.

The trick behind the window queries is a cumulative busy function ``B(t)``: total busy
time in ``(-inf, t)``. Once the union is known, ``B`` is piecewise linear and can be
evaluated for any number of points with one ``searchsorted``; busy time in a window
``[a, b)`` is then ``B(b) - B(a)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Union:
    """Disjoint, sorted pieces of a union; ``cum_before[i]`` is busy time before piece i."""

    starts: I64Array
    ends: I64Array
    cum_before: I64Array

    @property
    def total(self) -> int:
        if len(self.starts) == 0:
            return 0
        return int(self.cum_before[-1] + (self.ends[-1] - self.starts[-1]))

    def __len__(self) -> int:
        return len(self.starts)


def _as_i64(values: npt.ArrayLike) -> I64Array:
    return np.asarray(values, dtype=np.int64)


def union(starts: npt.ArrayLike, ends: npt.ArrayLike) -> Union:
    """Merge intervals into disjoint pieces; touching intervals merge into one.

    Zero-length intervals add no busy time but are kept if they touch nothing, so an
    instantaneous event still bounds the activity span.
    """
    s = _as_i64(starts)
    e = _as_i64(ends)
    if s.shape != e.shape:
        raise ValueError(f"starts and ends differ in length: {s.shape} vs {e.shape}")
    if len(s) and bool(np.any(e < s)):
        bad = int(np.argmax(e < s))
        raise ValueError(f"interval {bad} ends before it starts ({s[bad]} > {e[bad]})")
    if len(s) == 0:
        empty = np.empty(0, dtype=np.int64)
        return Union(empty, empty.copy(), empty.copy())
    order = np.lexsort((e, s))
    s, e = s[order], e[order]
    run_max = np.maximum.accumulate(e)
    # A new piece begins where an interval starts after everything before it ended.
    new_piece = np.empty(len(s), dtype=bool)
    new_piece[0] = True
    new_piece[1:] = s[1:] > run_max[:-1]
    first = np.flatnonzero(new_piece)
    last = np.append(first[1:] - 1, len(s) - 1)
    u_starts = s[first]
    u_ends = run_max[last]
    lengths = u_ends - u_starts
    cum_before = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    return Union(u_starts, u_ends, cum_before)


def busy_before(u: Union, points: npt.ArrayLike) -> I64Array:
    """``B(t)``: busy time of the union strictly before each point."""
    t = _as_i64(points)
    if len(u) == 0:
        return np.zeros(t.shape, dtype=np.int64)
    k = np.searchsorted(u.starts, t, side="right") - 1
    inside = k >= 0
    kk = np.where(inside, k, 0)
    partial = np.clip(t - u.starts[kk], 0, u.ends[kk] - u.starts[kk])
    return np.where(inside, u.cum_before[kk] + partial, 0).astype(np.int64)


def busy_in(u: Union, starts: npt.ArrayLike, ends: npt.ArrayLike) -> I64Array:
    """Busy time of the union inside each window ``[starts[i], ends[i])``."""
    return busy_before(u, ends) - busy_before(u, starts)


def busy_per_bin(u: Union, edges: npt.ArrayLike) -> I64Array:
    """Busy time in each bin between consecutive ``edges`` (len(edges) - 1 values)."""
    b = busy_before(u, edges)
    return np.diff(b).astype(np.int64)


@dataclass(frozen=True)
class Gaps:
    """Idle stretches between union pieces; ``before``/``after`` index the input intervals."""

    starts: I64Array
    ends: I64Array
    before: I64Array  # input interval that ends the busy stretch before the gap
    after: I64Array  # input interval that starts the busy stretch after the gap

    @property
    def durations(self) -> I64Array:
        return (self.ends - self.starts).astype(np.int64)


def gaps(starts: npt.ArrayLike, ends: npt.ArrayLike, min_gap: int = 0) -> Gaps:
    """Idle gaps of at least ``min_gap`` ns between the first start and the last end.

    Returns, for each gap, which input interval ended last before it and which one
    started first after it, so a report can name the kernels around the gap.
    Zero-length intervals did no work and are ignored, so they never split a gap.
    """
    s = _as_i64(starts)
    e = _as_i64(ends)
    if s.shape != e.shape:
        raise ValueError(f"starts and ends differ in length: {s.shape} vs {e.shape}")
    if min_gap < 0:
        raise ValueError(f"min_gap must be >= 0, got {min_gap}")
    empty = np.empty(0, dtype=np.int64)
    positive = np.flatnonzero(e > s)
    if len(positive) < 2:
        return Gaps(empty, empty, empty, empty)
    order = positive[np.lexsort((e[positive], s[positive]))]
    so, eo = s[order], e[order]
    run_max = np.maximum.accumulate(eo)
    # Index (in sorted order) of the interval holding the running maximum end.
    sets_max = np.where(eo >= run_max, np.arange(len(eo)), 0)
    holder = np.maximum.accumulate(sets_max)
    gap_start = run_max[:-1]
    gap_end = so[1:]
    keep = (gap_end > gap_start) & (gap_end - gap_start >= max(min_gap, 1))
    idx = np.flatnonzero(keep)
    return Gaps(
        starts=gap_start[idx].astype(np.int64),
        ends=gap_end[idx].astype(np.int64),
        before=order[holder[idx]].astype(np.int64),
        after=order[idx + 1].astype(np.int64),
    )


def window_edges(
    span_start: int, span_end: int, *, chunks: int | None = None, interval: int | None = None
) -> I64Array:
    """Edges of equal windows over ``[span_start, span_end]``: by count or by length.

    With ``interval`` the last window is cut short at ``span_end`` rather than running
    past the data, so its utilisation is not diluted by time nobody recorded.
    """
    if span_end < span_start:
        raise ValueError(f"span ends before it starts ({span_start} > {span_end})")
    if interval is not None and interval > 0:
        edges = np.arange(span_start, span_end, interval, dtype=np.int64)
        return (
            np.append(edges, np.int64(span_end))
            if len(edges)
            else np.array([span_start, span_end], dtype=np.int64)
        )
    if chunks is None or chunks < 1:
        raise ValueError(f"chunks must be >= 1, got {chunks}")
    return np.linspace(span_start, span_end, chunks + 1).round().astype(np.int64)
