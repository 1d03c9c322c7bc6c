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

import dataclasses
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    if _rows_sorted(end, row_offsets):
        return end  # no event ends before an earlier one of its row: the reach is the end
    reach = np.empty_like(end)
    for lo, hi in itertools.pairwise(row_offsets):
        if hi > lo:
            np.maximum.accumulate(end[lo:hi], out=reach[lo:hi])
    return reach


def _rows_sorted(values: I64, row_offsets: I64) -> bool:
    """Whether ``values`` never decreases within a row (rows given by their offsets)."""
    if len(values) < 2:
        return True
    ok = values[1:] >= values[:-1]
    firsts = row_offsets[1:-1]
    ok[firsts[(firsts > 0) & (firsts < len(values))] - 1] = True  # a new row may start lower
    return bool(ok.all())


def _offsets(row: I32, n_rows: int) -> I64:
    # Same dtype on both sides, or numpy converts the whole row array for the search.
    bounds = np.arange(n_rows + 1, dtype=row.dtype)
    return np.searchsorted(row, bounds, side="left").astype(np.int64)


def _is_sorted(values: npt.NDArray[np.integer]) -> bool:
    return len(values) < 2 or bool((values[1:] >= values[:-1]).all())


def event_order(start: I64, row: I32, n_rows: int) -> I64 | None:
    """The permutation sorting events by ``(row, start)``, ties in input order.

    ``None`` when the events are in that order already. Two stable passes instead
    of ``np.lexsort``: by start (skipped for the time-sorted tables a converted
    trace holds), then by row (a radix sort when row ids fit 16 bits), so ten
    million events sort in a fraction of the time.
    """
    by_start = None if _is_sorted(start) else np.argsort(start, kind="stable")
    rows = row if by_start is None else row[by_start]
    if _is_sorted(rows):
        return by_start
    if n_rows <= np.iinfo(np.int16).max:
        rows = rows.astype(np.int16)
    by_row = np.argsort(rows, kind="stable")
    return by_row if by_start is None else by_start[by_row]


def _ordered(values: npt.NDArray[Any], order: I64 | None, dtype: type) -> npt.NDArray[Any]:
    picked = values if order is None else values[order]
    return picked.astype(dtype, copy=False)


def raw_level(start: I64, end: I64, row: I32, name: I32, n_rows: int) -> Level:
    """Level 0: the events themselves, sorted by ``(row, start)``."""
    if not (len(start) == len(end) == len(row) == len(name)):
        raise ValueError("start, end, row and name must have the same length")
    if len(row) and (row.min() < 0 or row.max() >= n_rows):
        raise ValueError(f"row indices must lie in [0, {n_rows})")
    order = event_order(start, row, n_rows)
    s, e = _ordered(start, order, np.int64), _ordered(end, order, np.int64)
    if len(s) and bool((e < s).any()):
        e = np.maximum(e, s)  # a bad record (end before start) still occupies its instant
    r = _ordered(row, order, np.int32)
    offsets = _offsets(r, n_rows)
    dur = e - s
    return Level(
        gap_ns=0,
        start=s,
        end=e,
        reach=_row_reach(e, offsets),
        row=r,
        count=np.broadcast_to(np.int64(1), (len(s),)),  # every event counts once; no memory
        busy=dur,
        name=_ordered(name, order, np.int32),
        top=dur,
        row_offsets=offsets,
    )


def _gaps(level: Level) -> I64:
    """Gap from each block to the busy stretch before it; a row's first block: +inf."""
    if len(level) < 2:
        return np.zeros(0, np.int64)
    gaps = level.start[1:] - level.reach[:-1]
    firsts = level.row_offsets[1:-1]
    gaps[firsts[(firsts > 0) & (firsts < len(level))] - 1] = np.iinfo(np.int64).max
    return gaps


def _boundaries(level: Level, gap_ns: int, gaps: I64 | None = None) -> npt.NDArray[np.bool_]:
    """True where a block starts a new merged block at ``gap_ns``."""
    new = np.ones(len(level), dtype=bool)
    if len(level) > 1:
        np.greater_equal(_gaps(level) if gaps is None else gaps, gap_ns, out=new[1:])
    return new


def merge(level: Level, gap_ns: int, n_rows: int, gaps: I64 | None = None) -> Level:
    """``level`` with every gap shorter than ``gap_ns`` closed (within a row).

    ``gaps`` is :func:`_gaps` of ``level`` when the caller has it already.
    """
    new = _boundaries(level, gap_ns, gaps)
    starts = np.flatnonzero(new)
    if not len(starts):
        return dataclasses.replace(level, gap_ns=gap_ns)
    sizes = np.diff(starts, append=len(level))
    top = np.maximum.reduceat(level.top, starts)
    # The dominant member: the first one in its block whose duration is the block's top.
    # Candidates come in block order, so the first of each block is where the block changes.
    first_top = np.flatnonzero(level.top == np.repeat(top, sizes))
    candidate_group = np.searchsorted(starts, first_top, side="right")
    leads = np.ones(len(first_top), dtype=bool)
    leads[1:] = candidate_group[1:] != candidate_group[:-1]
    dominant = first_top[leads]
    end = np.maximum.reduceat(level.reach, starts)
    row = level.row[starts]
    return Level(
        gap_ns=gap_ns,
        start=level.start[starts],
        end=end,
        reach=end,  # merged blocks of a row are disjoint and ordered
        row=row,
        count=sizes if level.gap_ns == 0 else np.add.reduceat(level.count, starts),
        busy=np.add.reduceat(level.busy, starts),
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
        return self.levels[level_index(self.gaps, ns_per_px)]

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
    exponent = 0
    while exponent < 63 and len(level) > nonempty_rows:
        gaps = _gaps(level)
        # The finest power-of-two gap that removes enough blocks, found from one
        # histogram of this level's gaps instead of one pass per candidate gap.
        remaining = _blocks_left(gaps, len(level))
        wanted = np.flatnonzero(remaining[exponent:] <= keep_ratio * len(level))
        if not len(wanted):
            break
        exponent += int(wanted[0])
        level = merge(level, 1 << exponent, n_rows, gaps)
        del gaps, remaining
        levels.append(level)
        exponent += 1
    return LodSummary(tuple(levels), n_rows)


def _blocks_left(gaps: I64, n: int) -> I64:
    """``out[e]``: how many of ``n`` blocks remain when gaps below ``2**e`` close (e < 63).

    A gap ``d`` closes at ``2**e`` when ``d < 2**e``, i.e. when ``d <= 0`` or its bit
    length is at most ``e``; so a cumulative histogram of bit lengths counts them all.
    (A row's first block has an "infinite" gap, bit length 64: it never closes.)
    """
    # The float exponent field is the bit length plus 1022 (frexp without its mantissa).
    as_float = np.maximum(gaps, 0).astype(np.float64)
    bits = np.maximum((as_float.view(np.int64) >> 52) - 1022, 0)
    closed = np.cumsum(np.bincount(bits, minlength=66)[:63])
    return np.int64(n) - closed


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


#: Level fields that are often the same array as another (or a constant): saved once.
_FIELDS = ("start", "end", "reach", "row", "count", "busy", "name", "top", "row_offsets")
SUMMARY_MANIFEST = "summary.json"


def _alias(level: Level, field: str) -> str | None:
    value = getattr(level, field)
    if field == "reach" and value is level.end:
        return "end"
    if field == "top" and value is level.busy:
        return "busy"
    if field == "count" and value.strides == (0,):
        return "ones"
    return None


def save_summary(summary: LodSummary, folder: Path) -> None:
    """Write every level as ``.npy`` files that :func:`load_summary` memory-maps.

    Arrays that are another field (a merged level's reach is its end) or a constant
    (raw events count once each) are recorded as such instead of written again.
    """
    folder.mkdir(parents=True, exist_ok=True)
    levels = []
    for i, level in enumerate(summary.levels):
        aliases = {}
        for field in _FIELDS:
            alias = _alias(level, field)
            if alias:
                aliases[field] = alias
            else:
                np.save(folder / f"{i}-{field}.npy", np.ascontiguousarray(getattr(level, field)))
        levels.append({"gap_ns": level.gap_ns, "n": len(level), "aliases": aliases})
    manifest = {"n_rows": summary.n_rows, "levels": levels}
    (folder / SUMMARY_MANIFEST).write_text(json.dumps(manifest))


def load_summary(folder: Path, *, mmap: bool = True) -> LodSummary:
    """A summary saved by :func:`save_summary`; memory-mapped, so opening costs no RAM
    and a view reads only the pages of the blocks it returns."""
    manifest = json.loads((folder / SUMMARY_MANIFEST).read_text())
    levels = [load_level(folder, i, entry, mmap=mmap) for i, entry in enumerate(manifest["levels"])]
    return LodSummary(tuple(levels), int(manifest["n_rows"]))


def level_files(index: int, entry: dict[str, Any]) -> list[str]:
    """The ``.npy`` files :func:`save_summary` wrote for level ``index`` (its manifest entry)."""
    return [f"{index}-{field}.npy" for field in _FIELDS if field not in entry["aliases"]]


def load_level(folder: Path, index: int, entry: dict[str, Any], *, mmap: bool = True) -> Level:
    """One level of a saved summary, from its files and its manifest entry."""
    arrays: dict[str, Any] = {}
    aliases = entry["aliases"]
    for field in _FIELDS:
        if field not in aliases:
            arrays[field] = np.load(
                folder / f"{index}-{field}.npy", mmap_mode="r" if mmap else None
            )
    for field, alias in aliases.items():
        if alias == "ones":
            arrays[field] = np.broadcast_to(np.int64(1), (int(entry["n"]),))
        else:
            arrays[field] = arrays[alias]
    return Level(gap_ns=int(entry["gap_ns"]), **arrays)


def level_index(gaps: list[int], ns_per_px: float) -> int:
    """Which of levels with these gaps (finest first) :meth:`LodSummary.level_for` picks."""
    chosen = 0
    for i, gap in enumerate(gaps[1:], start=1):
        if gap <= ns_per_px:
            chosen = i
        else:
            break
    return chosen
