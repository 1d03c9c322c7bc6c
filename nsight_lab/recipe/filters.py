"""``--filter-time``, ``--filter-nvtx``, ``--filter-projected-nvtx``: narrowing a report first.

Filtering happens in the engine, not in each recipe, so every recipe honours the
same filters the same way. An event is kept when it lies wholly inside the window
(start >= window start and end <= window end); tables without times (threads,
processes, devices) are kept whole.

NVTX filter semantics: ``NAME[@DOMAIN][/INDEX]`` selects, in each process, the
INDEX-th (0-based, by start time) range called NAME (in DOMAIN when given, in any
domain otherwise); that process's events are kept within that range's span.
Processes without such a range contribute nothing.

``--filter-projected-nvtx`` picks the same range, but GPU work (kernels, memory
operations, GPU-side annotations) is kept within the range's projection onto the GPU:
from the first start to the last end of the GPU operations launched from inside the
range on its own thread, the rule of nsys's ``nvtx_gpu_proj_*`` recipes. CPU events
keep the range's own span. GPU work runs after the CPU asked for it, so this is the
filter that keeps a step's kernels rather than the previous step's.
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
    projected: bool = False

    def describe(self) -> str:
        dom = f"@{self.domain}" if self.domain is not None else ""
        return f"{self.name}{dom}/{self.index}"


Filter = TimeFilter | NvtxFilter
GPU_TABLES = ("kernels", "memops")


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


def parse_nvtx_filter(text: str, *, projected: bool = False) -> NvtxFilter:
    option = "filter_projected_nvtx" if projected else "filter_nvtx"
    match = _NVTX.match(text.strip())
    if not text.strip() or not match:
        flag = "--" + option.replace("_", "-")
        raise RecipeArgError(option, f"{flag} {text!r}: expected NAME[@DOMAIN][/INDEX]")
    index = int(match["index"]) if match["index"] else 0
    return NvtxFilter(match["name"], match["domain"], index, projected)


def parse_filters(
    filter_time: str | TimeFilter | None,
    filter_nvtx: str | NvtxFilter | None,
    filter_projected_nvtx: str | NvtxFilter | None = None,
) -> Filter | None:
    """Parse at most one filter; two at once is a usage error (as in nsys)."""
    given = [
        flag
        for flag, value in (
            ("--filter-time", filter_time),
            ("--filter-nvtx", filter_nvtx),
            ("--filter-projected-nvtx", filter_projected_nvtx),
        )
        if value
    ]
    if len(given) > 1:
        field = "filter_projected_nvtx" if filter_projected_nvtx else "filter_nvtx"
        raise RecipeArgError(field, f"{' and '.join(given)} exclude each other: give only one")
    if isinstance(filter_time, str):
        return parse_time_filter(filter_time)
    if isinstance(filter_nvtx, str):
        return parse_nvtx_filter(filter_nvtx)
    if isinstance(filter_projected_nvtx, str):
        return parse_nvtx_filter(filter_projected_nvtx, projected=True)
    return filter_time or filter_nvtx or filter_projected_nvtx or None


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
    return {pid: (lo, hi) for pid, (lo, hi, _) in _selected_ranges(ranges, flt).items()}


def _selected_ranges(ranges: pa.Table, flt: NvtxFilter) -> dict[int, tuple[int, int, int | None]]:
    """pid -> (start, end, tid) of the selected range in each process that has one."""
    if ranges.num_rows == 0:
        return {}
    mask = pc.equal(ranges["name"].cast(pa.string()), flt.name)
    if flt.domain is not None:
        mask = pc.and_(mask, pc.equal(ranges["domain"].cast(pa.string()), flt.domain))
    if "kind" in ranges.column_names:
        mask = pc.and_(mask, pc.not_equal(ranges["kind"].cast(pa.string()), "mark"))
    hits = ranges.filter(pc.fill_null(mask, False))
    hits = hits.sort_by([("pid", "ascending"), ("start", "ascending")])
    # Only the projected filter needs the range's thread (and reads it).
    tids = hits["tid"].to_pylist() if "tid" in hits.column_names else [None] * hits.num_rows
    windows: dict[int, tuple[int, int, int | None]] = {}
    seen: dict[int, int] = {}
    for pid, tid, start, end in zip(
        hits["pid"].to_pylist(),
        tids,
        hits["start"].to_pylist(),
        hits["end"].to_pylist(),
        strict=True,
    ):
        n = seen.get(pid, 0)
        if n == flt.index and end is not None:
            windows[pid] = (start, end, tid)
        seen[pid] = n + 1
    return windows


def _projected_windows(
    tables: dict[str, pa.Table], selected: dict[int, tuple[int, int, int | None]]
) -> dict[int, tuple[int, int]]:
    """pid -> (first start, last end) of GPU work launched inside the selected range.

    A GPU operation belongs to the range when the API call that launched it (same
    pid and correlation id) lies wholly inside the range on the range's thread.
    """
    api = tables.get("api")
    out: dict[int, tuple[int, int]] = {}
    if api is None or api.num_rows == 0:
        return out
    for pid, (lo, hi, tid) in selected.items():
        inside = pc.and_(
            pc.and_(
                pc.equal(api["pid"], pid), pc.equal(api["tid"], tid if tid is not None else -1)
            ),
            pc.and_(pc.greater_equal(api["start"], lo), pc.less_equal(api["end"], hi)),
        )
        corr = pc.unique(api.filter(pc.fill_null(inside, False))["correlation_id"].drop_null())
        if len(corr) == 0:
            continue
        starts: list[int] = []
        ends: list[int] = []
        for name in GPU_TABLES:
            ops = tables.get(name)
            if ops is None or ops.num_rows == 0:
                continue
            mine = pc.and_(pc.equal(ops["pid"], pid), pc.is_in(ops["correlation_id"], corr))
            ops = ops.filter(pc.fill_null(mine, False))
            if ops.num_rows:
                starts.append(pc.min(ops["start"]).as_py())
                ends.append(pc.max(ops["end"]).as_py())
        if starts:
            out[pid] = (min(starts), max(ends))
    return out


def _keep_within(table: pa.Table, windows: dict[int, tuple[int, int]]) -> pa.Table:
    cols = _time_columns(table)
    assert cols is not None
    if not windows or table.num_rows == 0:
        return table.slice(0, 0)
    pids = np.asarray(table["pid"].fill_null(-1).to_numpy(), dtype=np.int64)
    begin = np.asarray(table[cols[0]].fill_null(-1).to_numpy(), dtype=np.int64)
    finish = np.asarray(
        pc.coalesce(table[cols[1]], table[cols[0]]).fill_null(-1).to_numpy(), dtype=np.int64
    )
    keep = np.zeros(table.num_rows, dtype=bool)
    for pid, (lo, hi) in windows.items():
        keep |= (pids == pid) & (begin >= lo) & (finish <= hi)
    return table.filter(pa.array(keep))


def _gpu_rows(table: pa.Table) -> np.ndarray:
    """Rows of ``ranges`` that live on a GPU stream (Kineto gpu_user_annotation)."""
    return np.asarray(pc.is_valid(table["device_id"]).to_numpy(zero_copy_only=False), dtype=bool)


def apply_nvtx_filter(tables: dict[str, pa.Table], flt: NvtxFilter) -> dict[str, pa.Table]:
    ranges = tables.get("ranges")
    selected = _selected_ranges(ranges, flt) if ranges is not None else {}
    cpu = {pid: (lo, hi) for pid, (lo, hi, _) in selected.items()}
    gpu = _projected_windows(tables, selected) if flt.projected else cpu
    out: dict[str, pa.Table] = {}
    for name, table in tables.items():
        if _time_columns(table) is None or "pid" not in table.column_names:
            out[name] = table
        elif name in GPU_TABLES:
            out[name] = _keep_within(table, gpu)
        elif name == "ranges" and flt.projected and table.num_rows:
            on_gpu = _gpu_rows(table)
            kept_cpu = _keep_within(table.filter(pa.array(~on_gpu)), cpu)
            kept_gpu = _keep_within(table.filter(pa.array(on_gpu)), gpu)
            out[name] = pa.concat_tables([kept_cpu, kept_gpu]).sort_by("start")
        else:
            out[name] = _keep_within(table, cpu)
    return out


def apply_filter(tables: dict[str, pa.Table], flt: Filter | None) -> dict[str, pa.Table]:
    if flt is None:
        return tables
    if isinstance(flt, TimeFilter):
        return apply_time_filter(tables, flt)
    return apply_nvtx_filter(tables, flt)
