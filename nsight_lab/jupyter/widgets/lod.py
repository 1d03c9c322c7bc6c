"""Multi-resolution summaries of timeline events, so a browser never draws a million boxes.

A pixel can only show whether something happened in it, so at a zoom where one pixel
covers ``p`` nanoseconds every gap shorter than ``p`` is invisible. Each stored
:class:`Level` merges, per row, the events whose gap to the busy stretch before them
is shorter than ``gap_ns`` into one block that keeps what a tooltip needs: how many
events it holds, how much of it was busy, and its dominant (longest) event's name.
Levels are built once, bottom-up (merging a merged level again equals merging the
raw events with the wider gap, because narrower gaps are also narrower than the wider
one), for power-of-two gaps. A level is kept only when it removes at least a fifth
of the blocks of the last kept one, which bounds memory to a small multiple of the
raw events (about 3x for a million synthetic events) whatever the gaps look like.

A query for a window of ``width_px`` pixels picks the coarsest level whose gap is at
most one pixel. Levels are powers of two, so every gap left is wider than half a
pixel and each row yields at most about two blocks per pixel, whatever the number
of events underneath.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

#: A new level is stored only when it has at most this share of the last stored one's blocks.
KEEP_RATIO = 0.8
#: Never answer a view with more blocks than this; a coarser level is used instead.
MAX_BLOCKS = 400_000


@dataclass(frozen=True)
class Level:
    """Blocks of one resolution, sorted by ``(row, start)``; ``gap_ns == 0`` is the raw events."""

    gap_ns: int
    start: I64
    end: I64
    #: Running maximum of ``end`` within the row: non-decreasing, so a window's first
    #: overlapping block is found by binary search even where raw events overlap.
    reach: I64
    row: I32
    count: I64
    #: Sum of the member events' durations (can exceed the block where members overlap).
    busy: I64
    #: Name index and duration of the longest member.
    name: I32
    top: I64
    #: ``row_offsets[r]:row_offsets[r + 1]`` are the blocks of row ``r``.
    row_offsets: I64

    def __len__(self) -> int:
        return int(self.start.shape[0])


@dataclass(frozen=True)
class Tiles:
    """The blocks of one window at one level: what is sent to the browser."""

    gap_ns: int
    start: I64
    end: I64
    row: I32
    count: I64
    busy: I64
    name: I32

    def __len__(self) -> int:
        return int(self.start.shape[0])


def _row_reach(end: I64, row_offsets: I64) -> I64:
    reach = np.empty_like(end)
    for lo, hi in itertools.pairwise(row_offsets):
        if hi > lo:
            np.maximum.accumulate(end[lo:hi], out=reach[lo:hi])
    return reach


def _offsets(row: I32, n_rows: int) -> I64:
    return np.searchsorted(row, np.arange(n_rows + 1), side="left").astype(np.int64)


def raw_level(start: I64, end: I64, row: I32, name: I32, n_rows: int) -> Level:
    """Level 0: the events themselves, sorted by ``(row, start)``."""
    if not (len(start) == len(end) == len(row) == len(name)):
        raise ValueError("start, end, row and name must have the same length")
    if len(row) and (row.min() < 0 or row.max() >= n_rows):
        raise ValueError(f"row indices must lie in [0, {n_rows})")
    order = np.lexsort((start, row))
    s, e = start[order].astype(np.int64), end[order].astype(np.int64)
    e = np.maximum(e, s)  # a mark (end == start) or a bad record still occupies its instant
    r = row[order].astype(np.int32)
    offsets = _offsets(r, n_rows)
    dur = e - s
    return Level(
        gap_ns=0,
        start=s,
        end=e,
        reach=_row_reach(e, offsets),
        row=r,
        count=np.ones(len(s), np.int64),
        busy=dur,
        name=name[order].astype(np.int32),
        top=dur,
        row_offsets=offsets,
    )


def _boundaries(level: Level, gap_ns: int) -> npt.NDArray[np.bool_]:
    """True where a block starts a new merged block at ``gap_ns``."""
    n = len(level)
    new = np.ones(n, dtype=bool)
    if n > 1:
        same_row = level.row[1:] == level.row[:-1]
        close = (level.start[1:] - level.reach[:-1]) < gap_ns
        new[1:] = ~(same_row & close)
    return new


def merge(level: Level, gap_ns: int, n_rows: int) -> Level:
    """``level`` with every gap shorter than ``gap_ns`` closed (within a row)."""
    new = _boundaries(level, gap_ns)
    starts = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    top = np.maximum.reduceat(level.top, starts) if len(starts) else level.top[:0]
    # The dominant member: the first one in its block whose duration is the block's top.
    is_top = level.top == top[group]
    first_top = np.flatnonzero(is_top)
    _, pick = np.unique(group[first_top], return_index=True)
    dominant = first_top[pick]
    end = np.maximum.reduceat(level.reach, starts) if len(starts) else level.end[:0]
    row = level.row[starts]
    return Level(
        gap_ns=gap_ns,
        start=level.start[starts],
        end=end,
        reach=end,  # merged blocks of a row are disjoint and ordered
        row=row,
        count=np.add.reduceat(level.count, starts) if len(starts) else level.count[:0],
        busy=np.add.reduceat(level.busy, starts) if len(starts) else level.busy[:0],
        name=level.name[dominant],
        top=top,
        row_offsets=_offsets(row, n_rows),
    )


@dataclass(frozen=True)
class LodSummary:
    """Every stored level of one set of rows, finest first."""

    levels: tuple[Level, ...]
    n_rows: int

    @property
    def gaps(self) -> list[int]:
        return [lv.gap_ns for lv in self.levels]

    def level_for(self, ns_per_px: float) -> Level:
        """The coarsest level whose merged gaps are at most one pixel wide."""
        chosen = self.levels[0]
        for lv in self.levels[1:]:
            if lv.gap_ns <= ns_per_px:
                chosen = lv
            else:
                break
        return chosen

    def query(self, t0: float, t1: float, width_px: int, max_blocks: int = MAX_BLOCKS) -> Tiles:
        """The blocks overlapping ``[t0, t1)`` at the resolution ``width_px`` pixels need."""
        if not t1 > t0:
            raise ValueError(f"empty view: t1 ({t1}) must be greater than t0 ({t0})")
        if width_px < 1:
            raise ValueError(f"width_px must be at least 1, got {width_px}")
        ns_per_px = (t1 - t0) / width_px
        index = self.levels.index(self.level_for(ns_per_px))
        while True:
            tiles = _window(self.levels[index], t0, t1)
            if len(tiles) <= max_blocks or index == len(self.levels) - 1:
                return tiles
            index += 1


def _window(level: Level, t0: float, t1: float) -> Tiles:
    lo_t, hi_t = math.floor(t0), math.ceil(t1)
    pieces: list[npt.NDArray[np.int64]] = []
    offsets = level.row_offsets
    for lo, hi in itertools.pairwise(offsets):
        if hi == lo:
            continue
        i0 = lo + int(np.searchsorted(level.reach[lo:hi], lo_t, side="right"))
        i1 = lo + int(np.searchsorted(level.start[lo:hi], hi_t, side="left"))
        if i1 > i0:
            pieces.append(np.arange(i0, i1, dtype=np.int64))
    idx = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
    idx = idx[level.end[idx] > lo_t]  # an earlier long event may carry the reach past t0
    return Tiles(
        gap_ns=level.gap_ns,
        start=level.start[idx],
        end=level.end[idx],
        row=level.row[idx],
        count=level.count[idx],
        busy=level.busy[idx],
        name=level.name[idx],
    )


def build_summary(
    start: I64, end: I64, row: I32, name: I32, n_rows: int, *, keep_ratio: float = KEEP_RATIO
) -> LodSummary:
    """Raw events plus the power-of-two levels worth keeping (see the module docstring)."""
    level = raw_level(start, end, row, name, n_rows)
    levels = [level]
    nonempty_rows = int(np.count_nonzero(np.diff(level.row_offsets)))
    for exponent in range(0, 63):
        if len(level) <= nonempty_rows:
            break
        gap = 1 << exponent
        remaining = int(np.count_nonzero(_boundaries(level, gap)))
        if remaining <= keep_ratio * len(level):
            level = merge(level, gap, n_rows)
            levels.append(level)
    return LodSummary(tuple(levels), n_rows)


def tiles_to_buffers(tiles: Tiles, origin_ns: int) -> list[bytes]:
    """Little-endian column buffers, in the order ``decodeTiles`` in timeline.js reads them.

    Times become float64 offsets from ``origin_ns`` (exact to the nanosecond for 104
    days), which JavaScript handles natively, unlike int64.
    """
    return [
        (tiles.start - origin_ns).astype("<f8").tobytes(),
        (tiles.end - origin_ns).astype("<f8").tobytes(),
        tiles.row.astype("<i4").tobytes(),
        tiles.count.astype("<u4").tobytes(),
        tiles.name.astype("<i4").tobytes(),
        tiles.busy.astype("<f8").tobytes(),
    ]
