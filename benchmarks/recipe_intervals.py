"""Interval arithmetic behind gpu_gaps / gpu_time_util / NCCL overlap: numpy vs a plain loop.

Run: python benchmarks/recipe_intervals.py [N]
Prints the machine, the median of several runs for the vectorised union + gaps +
per-window busy time, the same work done by a straightforward Python loop over the
sorted intervals (the baseline), and their ratio.
"""

from __future__ import annotations

import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from nsight_lab.recipe.analysis import intervals


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    starts = np.sort(rng.integers(0, n * 2_000, n)).astype(np.int64)
    ends = starts + rng.integers(100, 5_000, n)
    return starts, ends


def vectorised(starts: np.ndarray, ends: np.ndarray) -> int:
    u = intervals.union(starts, ends)
    g = intervals.gaps(starts, ends, min_gap=1_000)
    edges = intervals.window_edges(int(starts.min()), int(ends.max()), chunks=100)
    return u.total + len(g.starts) + int(intervals.busy_per_bin(u, edges).sum())


def loop_baseline(starts: np.ndarray, ends: np.ndarray) -> int:
    order = sorted(range(len(starts)), key=lambda i: (starts[i], ends[i]))
    pieces: list[list[int]] = []
    n_gaps = 0
    for i in order:
        s, e = int(starts[i]), int(ends[i])
        if pieces and s <= pieces[-1][1]:
            pieces[-1][1] = max(pieces[-1][1], e)
        else:
            if pieces and s - pieces[-1][1] >= 1_000:
                n_gaps += 1
            pieces.append([s, e])
    total = sum(e - s for s, e in pieces)
    edges = np.linspace(int(starts.min()), int(ends.max()), 101).round().astype(np.int64)
    busy = 0
    for a, b in itertools.pairwise(edges):
        busy += sum(max(0, min(e, b) - max(s, a)) for s, e in pieces)
    return total + n_gaps + busy


def median_s(
    fn: Callable[[np.ndarray, np.ndarray], int], data: tuple[np.ndarray, np.ndarray], runs: int
) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        result = fn(*data)
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    data = _data(n)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    fast, r1 = median_s(vectorised, data, 7)
    slow, r2 = median_s(loop_baseline, data, 3)
    assert r1 == r2, (r1, r2)  # same answer, or the comparison means nothing
    print(
        f"{n:,} intervals: numpy {fast * 1e3:.1f} ms, Python loop {slow * 1e3:.1f} ms, speed-up x{slow / fast:.0f}"
    )


if __name__ == "__main__":
    main()
