"""``--filter-time`` and ``--filter-nvtx``: narrowing a report before a recipe sees it.

Filtering happens in the engine, not in each recipe, so every recipe honours the
same filters the same way. An event is kept when it lies wholly inside the window
(start >= window start and end <= window end); tables without times (threads,
processes, devices) are kept whole.

NVTX filter semantics: ``NAME[@DOMAIN][/INDEX]`` selects, in each process, the
INDEX-th (0-based, by start time) range called NAME (in DOMAIN when given, in any
domain otherwise); that process's events are kept within that range's span.
Processes without such a range contribute nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe.errors import RecipeArgError

_TIME = re.compile(r"^\s*(?P<start>\d*)\s*/\s*(?P<end>\d*)\s*$")
_NVTX = re.compile(r"^(?P<name>.+?)(?:@(?P<domain>[^/@]*))?(?:/(?P<index>\d+))?$")


@dataclass(frozen=True)
class TimeFilter:
    start: int | None
    end: int | None

    def describe(self) -> str:
        return f"{'' if self.start is None else self.start}/{'' if self.end is None else self.end}"


@dataclass(frozen=True)
class NvtxFilter:
    name: str
    domain: str | None
    index: int

    def describe(self) -> str:
        dom = f"@{self.domain}" if self.domain is not None else ""
        return f"{self.name}{dom}/{self.index}"


def parse_time_filter(text: str) -> TimeFilter:
    match = _TIME.match(text)
    if not match:
        raise RecipeArgError(
            "filter_time",
            f"--filter-time {text!r}: expected START/END in ns (e.g. 1000/2000, /5000, 1000/)",
        )
    start = int(match["start"]) if match["start"] else None
    end = int(match["end"]) if match["end"] else None
    if start is not None and end is not None and end < start:
        raise RecipeArgError("filter_time", f"--filter-time {text!r}: END is before START")
    return TimeFilter(start, end)


def parse_nvtx_filter(text: str) -> NvtxFilter:
    match = _NVTX.match(text.strip())
    if not text.strip() or not match:
        raise RecipeArgError(
            "filter_nvtx", f"--filter-nvtx {text!r}: expected NAME[@DOMAIN][/INDEX]"
        )
    index = int(match["index"]) if match["index"] else 0
    return NvtxFilter(match["name"], match["domain"], index)


def parse_filters(
    filter_time: str | TimeFilter | None, filter_nvtx: str | NvtxFilter | None
) -> TimeFilter | NvtxFilter | None:
    """Parse at most one filter; both at once is a usage error (as in nsys)."""
    if filter_time and filter_nvtx:
        raise RecipeArgError(
            "filter_nvtx", "--filter-time and --filter-nvtx exclude each other: give only one"
        )
    if isinstance(filter_time, str):
        return parse_time_filter(filter_time)
    if isinstance(filter_nvtx, str):
        return parse_nvtx_filter(filter_nvtx)
    return filter_time or filter_nvtx or None


def _time_columns(table: pa.Table) -> tuple[str, str] | None:
    names = table.column_names
    if "start" in names and "end" in names:
        return "start", "end"
    if "timestamp" in names:
        return "timestamp", "timestamp"
    return None


def _window_mask(table: pa.Table, start: int | None, end: int | None) -> pa.ChunkedArray | None:
    cols = _time_columns(table)
    if cols is None:
        return None
    begin_col, end_col = cols
    mask: pa.ChunkedArray | None = None
    if start is not None:
        mask = pc.greater_equal(table[begin_col], start)
    if end is not None:
        upper = pc.less_equal(pc.coalesce(table[end_col], table[begin_col]), end)
        mask = upper if mask is None else pc.and_(mask, upper)
    return mask


def apply_time_filter(tables: dict[str, pa.Table], flt: TimeFilter) -> dict[str, pa.Table]:
    out: dict[str, pa.Table] = {}
    for name, table in tables.items():
        mask = _window_mask(table, flt.start, flt.end)
        out[name] = table if mask is None else table.filter(pc.fill_null(mask, False))
    return out


def nvtx_windows(ranges: pa.Table, flt: NvtxFilter) -> dict[int, tuple[int, int]]:
    """pid -> (start, end) of the selected range in each process that has one."""
    if ranges.num_rows == 0:
        return {}
    mask = pc.equal(ranges["name"].cast(pa.string()), flt.name)
    if flt.domain is not None:
        mask = pc.and_(mask, pc.equal(ranges["domain"].cast(pa.string()), flt.domain))
    if "kind" in ranges.column_names:
        mask = pc.and_(mask, pc.not_equal(ranges["kind"].cast(pa.string()), "mark"))
    hits = ranges.filter(pc.fill_null(mask, False)).select(["pid", "start", "end"])
    hits = hits.sort_by([("pid", "ascending"), ("start", "ascending")])
    windows: dict[int, tuple[int, int]] = {}
    seen: dict[int, int] = {}
    for pid, start, end in zip(
        hits["pid"].to_pylist(), hits["start"].to_pylist(), hits["end"].to_pylist(), strict=True
    ):
        n = seen.get(pid, 0)
        if n == flt.index and end is not None:
            windows[pid] = (start, end)
        seen[pid] = n + 1
    return windows


def apply_nvtx_filter(tables: dict[str, pa.Table], flt: NvtxFilter) -> dict[str, pa.Table]:
    ranges = tables.get("ranges")
    windows = nvtx_windows(ranges, flt) if ranges is not None else {}
    out: dict[str, pa.Table] = {}
    for name, table in tables.items():
        cols = _time_columns(table)
        if cols is None or "pid" not in table.column_names:
            out[name] = table
            continue
        if not windows or table.num_rows == 0:
            out[name] = table.slice(0, 0)
            continue
        pids = np.asarray(table["pid"].fill_null(-1).to_numpy(), dtype=np.int64)
        begin = np.asarray(table[cols[0]].fill_null(-1).to_numpy(), dtype=np.int64)
        finish = np.asarray(
            pc.coalesce(table[cols[1]], table[cols[0]]).fill_null(-1).to_numpy(), dtype=np.int64
        )
        keep = np.zeros(table.num_rows, dtype=bool)
        for pid, (lo, hi) in windows.items():
            keep |= (pids == pid) & (begin >= lo) & (finish <= hi)
        out[name] = table.filter(pa.array(keep))
    return out


def apply_filter(
    tables: dict[str, pa.Table], flt: TimeFilter | NvtxFilter | None
) -> dict[str, pa.Table]:
    if flt is None:
        return tables
    if isinstance(flt, TimeFilter):
        return apply_time_filter(tables, flt)
    return apply_nvtx_filter(tables, flt)
