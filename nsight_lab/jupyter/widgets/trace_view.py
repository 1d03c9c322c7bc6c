"""What a Timeline shows: one or more reports laid out, summarised, and placed on one axis.

:class:`ReportTimeline` is one report's events laid out in rows (:mod:`.lanes`) with
their multi-resolution summary (:mod:`.lod`) and, for each raw event, a reference to
the table row it came from. It is built once per report and can be saved as a folder
of memory-mapped arrays, so opening a ten-million-event trace a second time reads
only the blocks its first view needs.

:class:`TraceView` places several of them on one time axis (the ranks of a
collection) and answers the three questions a timeline front end asks: the blocks of
a window at a resolution (``tiles``), every column of one event (``event``), and the
kernel summary of a time range (``window_summary``). The notebook widget and the
JupyterLab server extension both answer with it, so the two front ends agree.

Nothing here knows about HTTP or Jupyter: the caller hands in tables (in memory, or a
converted report wherever it is stored) and gets plain values back.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.jupyter.widgets.lanes import LAYERS, RowKey, ordered_rows, split_ref, trace_events
from nsight_lab.jupyter.widgets.lod import (
    Level,
    LodSummary,
    build_summary,
    event_order,
    level_index,
    load_summary,
    save_summary,
    tiles_to_buffers,
)
from nsight_lab.recipe.stats import summary_table
from nsight_lab.trace.converted import ConvertedTrace
from nsight_lab.trace.model import Trace, TraceMetadata

#: Bumped whenever the saved layout changes, so stale caches are rebuilt, never misread.
LAYOUT_VERSION = 1
LAYOUT_FILE = "layout.json"
#: How long an answer waits for a level still arriving from storage before saying so.
ARRIVAL_WAIT_S = 60.0
#: Columns each layer needs to be laid out; the rest is read only for an event's details.
LAYOUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "kernels": ("start", "end", "device_id", "stream_id", "short_name", "name"),
    "memops": ("start", "end", "device_id", "stream_id", "kind", "copy_kind"),
    "ranges": ("start", "end", "device_id", "stream_id", "pid", "tid", "name"),
    "samples": ("timestamp", "pid", "tid", "weight", "stack"),
}
#: Timestamps beyond this (ns) are read as UTC: 2001-09-09. Below, a clock of its own.
WALL_CLOCK_NS = 1_000_000_000 * 1_000_000_000
#: Integers JavaScript cannot hold exactly travel as strings.
JS_SAFE_INT = 2**53 - 1
SUMMARY_ROWS = 30
#: An event lookup scanning more candidates than this is a zoomed-out click: refused.
MAX_CANDIDATES = 100_000
#: A finite stand-in for "no bound" in a time filter (146 years of ns; fits int64).
FAR_NS = 2**62


class TraceViewError(ValueError):
    """A request a view cannot answer; the message says what to change."""


class StillArriving(TraceViewError):
    """The level an answer needs did not arrive from storage in time (retry later)."""


class EventSource(Protocol):
    """Where a report's full rows live (in memory or a converted Parquet folder)."""

    def row(self, table: str, index: int) -> dict[str, Any]: ...

    def window(self, table: str, columns: Sequence[str], lo: int, hi: int) -> pa.Table: ...


def _inside(table: pa.Table, lo: int, hi: int) -> pa.Table:
    """Events wholly inside ``[lo, hi]``: what ``--filter-time lo/hi`` keeps."""
    keep = pc.and_(pc.greater_equal(table["start"], lo), pc.less_equal(table["end"], hi))
    return table.filter(pc.fill_null(keep, False))


class MemorySource:
    """The tables of a :class:`Trace` already in memory."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def row(self, table: str, index: int) -> dict[str, Any]:
        rows: list[dict[str, Any]] = self.trace.tables[table].slice(index, 1).to_pylist()
        if not rows:
            raise TraceViewError(f"{table} has no row {index}")
        return rows[0]

    def window(self, table: str, columns: Sequence[str], lo: int, hi: int) -> pa.Table:
        return _inside(self.trace.tables[table].select(list(columns)), lo, hi)


class ConvertedSource:
    """A converted report, read lazily wherever it lives (a local folder, the object
    store, presigned URLs): :class:`~nsight_lab.trace.converted.ConvertedTrace`.

    Row groups are sorted by time, so a window reads only the groups whose
    statistics overlap it, and one event's details read one row group. The trace
    may be given later (:meth:`use`) or made on first use by ``factory``: a view
    reopened from the cache needs no storage at all until someone clicks. When
    presigned URLs have expired, the next read asks ``factory`` for fresh ones.
    """

    def __init__(
        self,
        converted: ConvertedTrace | None = None,
        factory: Callable[[], ConvertedTrace] | None = None,
    ) -> None:
        self._converted = converted
        self.factory = factory
        self._ends: dict[str, npt.NDArray[np.int64]] = {}

    @property
    def ready(self) -> bool:
        return self._converted is not None

    def use(self, converted: ConvertedTrace) -> None:
        self._converted = converted

    @property
    def converted(self) -> ConvertedTrace:
        if self._converted is None:
            if self.factory is None:
                raise TraceViewError("this report's converted tables are not at hand yet")
            self._converted = self.factory()
        return self._converted

    def row(self, table: str, index: int) -> dict[str, Any]:
        def read(converted: ConvertedTrace) -> dict[str, Any]:
            parquet = converted.parquet(table)
            if table not in self._ends:
                meta = parquet.metadata
                sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
                self._ends[table] = np.cumsum(sizes).astype(np.int64)
            ends = self._ends[table]
            group = int(np.searchsorted(ends, index, side="right"))
            if index < 0 or group >= len(ends):
                raise TraceViewError(f"{table} has no row {index}")
            first = int(ends[group - 1]) if group else 0
            rows: list[dict[str, Any]] = (
                parquet.read_row_group(group).slice(index - first, 1).to_pylist()
            )
            return rows[0]

        return read(self.converted)

    def window(self, table: str, columns: Sequence[str], lo: int, hi: int) -> pa.Table:
        return self.converted.read(table, columns, start=lo, end=hi, inside=True)


def read_layout_tables(
    converted: ConvertedTrace, layers: Sequence[str] = LAYERS
) -> dict[str, pa.Table]:
    """The columns the layout needs, and only those: a fraction of the trace's bytes."""
    return {layer: converted.read(layer, LAYOUT_COLUMNS[layer]) for layer in layers}


def layout_name(layers: Sequence[str]) -> str:
    """The folder (in the local cache, and in storage) of a layout of these layers."""
    return f"timeline-v{LAYOUT_VERSION}-{'-'.join(layers)}"


class LevelsArriving:
    """The levels of a report's layout that are still arriving (from storage), coarsest first.

    An answer is given from the levels here only when the level it would pick with
    all of them present is among them (and, levels arriving coarsest first, every
    coarser one): otherwise it waits for that level, at most :data:`ARRIVAL_WAIT_S`,
    and then says so. So a zoom is never answered with a coarser level as if it were
    the one asked for; it is at worst late.
    """

    def __init__(self, gaps: Sequence[int], n_rows: int, label: str) -> None:
        self.gaps = list(gaps)
        self.n_rows = n_rows
        self.label = label
        self._levels: dict[int, Level] = {}
        self._done: ReportTimeline | None = None
        self._error: str | None = None
        self._changed = threading.Condition()

    def add(self, index: int, level: Level) -> None:
        with self._changed:
            self._levels[index] = level
            self._changed.notify_all()

    def finish(self, timeline: ReportTimeline) -> None:
        """Every level arrived (or the report was laid out another way): answer from it."""
        with self._changed:
            self._done = timeline
            self._levels.clear()
            self._changed.notify_all()

    def fail(self, error: str) -> None:
        with self._changed:
            self._error = error
            self._changed.notify_all()

    @property
    def done(self) -> bool:
        return self._done is not None

    def present(self) -> list[int]:
        """Indices of the levels at hand (all of them once done)."""
        with self._changed:
            return list(range(len(self.gaps))) if self._done else sorted(self._levels)

    def summary_for(self, ns_per_px: float, timeout: float | None = None) -> LodSummary:
        """The levels a view at ``ns_per_px`` picks from: the chosen one and all coarser."""
        index = level_index(self.gaps, ns_per_px)
        top = len(self.gaps)

        def ready() -> LodSummary | None:
            if self._done is not None:
                return self._done.summary
            if all(i in self._levels for i in range(index, top)):
                return LodSummary(tuple(self._levels[i] for i in range(index, top)), self.n_rows)
            return None

        return self._wait(ready, f"level {index} of {top}", timeout)

    def complete(self, timeout: float | None = None) -> ReportTimeline:
        """The whole layout (an event's details need the raw level and the row refs)."""
        return self._wait(lambda: self._done, "its finest level", timeout)

    def _wait(self, ready: Callable[[], Any], what: str, timeout: float | None) -> Any:
        timeout = ARRIVAL_WAIT_S if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = ready()
                if found is not None:
                    return found
                if self._error is not None:
                    raise TraceViewError(f"{self.label}: {self._error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StillArriving(
                        f"{self.label}: {what} is still arriving from storage after "
                        f"{timeout:.0f} s; try again in a moment"
                    )
                self._changed.wait(left)


@dataclass(frozen=True)
class ReportTimeline:
    """One report, laid out in rows and summarised at every useful resolution."""

    rows: list[RowKey]
    names: list[str]
    summary: LodSummary
    #: For each raw event (in level-0 order) its source row, as :func:`lanes.event_ref`.
    refs: npt.NDArray[np.int64]
    origin_ns: int
    end_ns: int
    event_count: int
    metadata: TraceMetadata
    layers: tuple[str, ...]
    #: Set while the levels are still arriving from storage: ``summary`` then holds only
    #: the coarse ones that came first, and answers go through :meth:`summary_for`.
    arriving: LevelsArriving | None = None

    @property
    def gaps(self) -> list[int]:
        """Every level's gap, including levels still arriving."""
        return self.arriving.gaps if self.arriving is not None else self.summary.gaps

    def summary_for(self, ns_per_px: float) -> LodSummary:
        """The levels to answer a view at ``ns_per_px`` from (waiting for one still arriving)."""
        return self.summary if self.arriving is None else self.arriving.summary_for(ns_per_px)

    def settled(self) -> ReportTimeline:
        """This layout, whole (waiting for levels still arriving)."""
        return self if self.arriving is None else self.arriving.complete()

    @classmethod
    def build(
        cls,
        tables: Mapping[str, pa.Table],
        metadata: TraceMetadata,
        layers: Sequence[str] = LAYERS,
    ) -> ReportTimeline:
        """Lay out ``tables`` (a trace's, or only their layout columns).

        Arrays are rebound as they are replaced, and the per-layer pieces dropped once
        joined, so ten million events peak at a few hundred bytes each, not more.
        """
        cols = trace_events(tables, layers)
        del tables  # the Arrow columns are no longer needed (when the caller held none)
        start, end, row, name = cols.concat()
        refs = cols.refs()
        keys, remap = ordered_rows(cols)
        names = list(cols.names)
        del cols
        row = remap[row] if len(row) else row
        order = event_order(start, row, len(keys))
        if order is not None:
            start, end, refs = start[order], end[order], refs[order]
            row, name = row[order], name[order]
        origin = int(start.min()) if len(start) else 0
        last = int(end.max()) if len(end) else origin + 1
        return cls(
            rows=keys,
            names=names,
            summary=build_summary(start, end, row, name, len(keys)),
            refs=refs,
            origin_ns=origin,
            end_ns=max(last, origin + 1),
            event_count=len(start),
            metadata=metadata,
            layers=tuple(layers),
        )

    @classmethod
    def from_converted(
        cls, converted: ConvertedTrace, layers: Sequence[str] = LAYERS
    ) -> ReportTimeline:
        """Lay out a converted report, reading only the columns the layout needs."""
        return cls.build(read_layout_tables(converted, layers), converted.metadata, layers)

    @classmethod
    def from_folder(cls, folder: Path, layers: Sequence[str] = LAYERS) -> ReportTimeline:
        return cls.from_converted(ConvertedTrace.from_folder(folder), layers)

    def save(self, folder: Path) -> None:
        """Write to ``folder`` atomically: a reader sees a whole layout or none."""
        partial = folder.with_name(f"{folder.name}.partial-{uuid.uuid4().hex[:8]}")
        shutil.rmtree(partial, ignore_errors=True)
        save_summary(self.summary, partial)
        np.save(partial / "refs.npy", np.ascontiguousarray(self.refs))
        layout = {
            "version": LAYOUT_VERSION,
            "rows": [[k.group, k.label, k.depth, k.kind] for k in self.rows],
            "names": self.names,
            "origin_ns": self.origin_ns,
            "end_ns": self.end_ns,
            "event_count": self.event_count,
            "metadata": self.metadata.to_json(),
            "layers": list(self.layers),
        }
        (partial / LAYOUT_FILE).write_text(json.dumps(layout))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)

    @classmethod
    def load(cls, folder: Path) -> ReportTimeline | None:
        """A saved layout, memory-mapped; ``None`` when absent or of another version."""
        try:
            layout = json.loads((folder / LAYOUT_FILE).read_text())
        except (OSError, ValueError):
            return None
        if layout.get("version") != LAYOUT_VERSION:
            return None
        return cls(
            rows=[RowKey(g, label, int(d), kind) for g, label, d, kind in layout["rows"]],
            names=list(layout["names"]),
            summary=load_summary(folder),
            refs=np.load(folder / "refs.npy", mmap_mode="r"),
            origin_ns=int(layout["origin_ns"]),
            end_ns=int(layout["end_ns"]),
            event_count=int(layout["event_count"]),
            metadata=TraceMetadata.from_json(layout["metadata"]),
            layers=tuple(layout["layers"]),
        )


@dataclass(frozen=True)
class Placed:
    """One report on the shared axis: view time = its own time + ``shift_ns``."""

    timeline: ReportTimeline
    source: EventSource
    label: str
    file_id: str | None
    shift_ns: int
    row_base: int
    name_map: npt.NDArray[np.int32]


@dataclass(frozen=True)
class Part:
    """What a caller hands :class:`TraceView` for each report."""

    timeline: ReportTimeline
    source: EventSource
    label: str
    file_id: str | None = None


def clock_base(metadata: TraceMetadata) -> int | None:
    """UTC ns of the report's t=0 on the shared clock, when the report knows it.

    ``epoch_ns`` says where t=0 was on the recording host's wall clock; the clock
    anchor the agent measured against the coordinator corrects that host's clock, so
    hosts whose clocks drift apart still line up.
    """
    return metadata.aligned_epoch_ns


def align(timelines: Sequence[ReportTimeline]) -> tuple[list[int], str]:
    """Per report the ns to add to its times to land on one axis, and how it was chosen.

    One report keeps its own clock (the times ``--filter-time`` speaks). For several:
    clock bases (``epoch_ns``, corrected by clock anchors) when every report has one;
    otherwise timestamps that already are UTC nanoseconds (PyTorch's profiler writes
    those) are taken as they are; otherwise each report starts at 0, and the answer
    says so, because events of different ranks then only line up by their starts.
    """
    if len(timelines) == 1:
        return [0], "the report's own clock"
    bases = [clock_base(t.metadata) for t in timelines]
    if timelines and all(b is not None for b in bases):
        anchored = all(t.metadata.clock_offset_ns is not None for t in timelines)
        how = "clock anchors" if anchored else "each report's wall-clock start (epoch_ns)"
        return [int(b) for b in bases if b is not None], how
    if all(t.origin_ns >= WALL_CLOCK_NS for t in timelines):
        return [0] * len(timelines), "wall-clock timestamps"
    return [-t.origin_ns for t in timelines], (
        "first events (no clock base in the reports: ranks line up by their starts)"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > JS_SAFE_INT:
        return str(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class TraceView:
    """Reports on one time axis; times in and out are ns from the view's ``origin_ns``."""

    def __init__(self, parts: Sequence[Part], title: str = "") -> None:
        if not parts:
            raise TraceViewError("a trace view needs at least one report")
        offsets, self.alignment = align([p.timeline for p in parts])
        starts = [p.timeline.origin_ns + off for p, off in zip(parts, offsets, strict=True)]
        ends = [p.timeline.end_ns + off for p, off in zip(parts, offsets, strict=True)]
        #: The shared axis' absolute ns at view time 0 (UTC ns when aligned by clocks).
        self.origin_ns = min(starts)
        self.span_ns = float(max(max(ends) - self.origin_ns, 1))
        self.title = title
        names: dict[str, int] = {}
        placed: list[Placed] = []
        rows: list[dict[str, Any]] = []
        many = len(parts) > 1
        for part, offset in zip(parts, offsets, strict=True):
            timeline = part.timeline
            name_map = np.array([names.setdefault(n, len(names)) for n in timeline.names], np.int32)
            placed.append(
                Placed(
                    timeline=timeline,
                    source=part.source,
                    label=part.label,
                    file_id=part.file_id,
                    shift_ns=offset - self.origin_ns,
                    row_base=len(rows),
                    name_map=name_map,
                )
            )
            for key in timeline.rows:
                group = f"{part.label} · {key.group}" if many else key.group
                rows.append({"group": group, "label": key.label, "depth": key.depth,
                             "kind": key.kind})  # fmt: skip
        self.parts = placed
        self.rows = rows
        self.names = list(names)
        self.gaps = sorted({g for p in placed for g in p.timeline.gaps})
        self.event_count = sum(p.timeline.event_count for p in placed)

    def describe(self) -> dict[str, Any]:
        """Everything a front end needs before its first tiles (sent once per open)."""
        return {
            "title": self.title,
            "rows": self.rows,
            "names": self.names,
            "gaps": self.gaps,
            "origin_ns": str(self.origin_ns),
            "span_ns": self.span_ns,
            "event_count": self.event_count,
            "alignment": self.alignment,
            "reports": [
                {
                    "label": p.label,
                    "file_id": p.file_id,
                    "events": p.timeline.event_count,
                    "shift_ns": p.shift_ns,
                    "rows": [p.row_base, p.row_base + len(p.timeline.rows)],
                    "source": p.timeline.metadata.source,
                }
                for p in self.parts
            ],
        }

    def tiles(self, t0: float, t1: float, width_px: int) -> tuple[dict[str, Any], list[bytes]]:
        """The blocks of ``[t0, t1)`` at ``width_px`` pixels, as the six column buffers
        of :func:`~nsight_lab.jupyter.widgets.lod.tiles_to_buffers`, rows and names
        renumbered into the view's."""
        columns: list[list[bytes]] = [[] for _ in range(6)]
        total, finest = 0, None
        for part in self.parts:
            if not part.timeline.event_count:
                continue
            summary = part.timeline.summary_for((t1 - t0) / width_px)
            # Integer arithmetic: report clocks are ~1e18 ns, beyond float precision.
            found = summary.query(
                math.floor(t0) - part.shift_ns, math.ceil(t1) - part.shift_ns, width_px
            )
            if not len(found):
                continue
            buffers = tiles_to_buffers(found, -part.shift_ns)
            buffers[2] = (found.row + part.row_base).astype("<i4").tobytes()
            buffers[4] = part.name_map[found.name].astype("<i4").tobytes()
            for column, buffer in zip(columns, buffers, strict=True):
                column.append(buffer)
            total += len(found)
            finest = found.gap_ns if finest is None else min(finest, found.gap_ns)
        header = {"t0": t0, "t1": t1, "width_px": width_px, "gap_ns": finest or 0, "n": total}
        return header, [b"".join(column) for column in columns]

    def sources_for(self, content: Any) -> list[Placed]:
        """The reports whose full tables answering ``content`` reads (none for tiles)."""
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "summary":
            return [p for p in self.parts if "kernels" in p.timeline.layers]
        if kind == "event":
            try:
                return [self._part_of_row(int(float(content["row"])))]
            except (KeyError, TypeError, ValueError, TraceViewError):
                return []
        return []

    def _part_of_row(self, row: int) -> Placed:
        for part in self.parts:
            if part.row_base <= row < part.row_base + len(part.timeline.rows):
                return part
        raise TraceViewError(f"row {row} is not in this view (it has {len(self.rows)} rows)")

    def event(self, row: int, t: float, tolerance_ns: float = 0.0) -> dict[str, Any] | None:
        """Every column of the raw event of ``row`` at view time ``t`` (the closest
        within ``tolerance_ns``), with where it sits; ``None`` when there is none."""
        part = self._part_of_row(row)
        timeline = part.timeline.settled()
        level = timeline.summary.levels[0]
        local_row = row - part.row_base
        lo, hi = (int(v) for v in level.row_offsets[local_row : local_row + 2])
        # Integer arithmetic: report clocks are ~1e18 ns, beyond float precision.
        first = math.floor(t - tolerance_ns) - part.shift_ns
        last = math.ceil(t + tolerance_ns) - part.shift_ns
        i0 = lo + int(np.searchsorted(level.reach[lo:hi], first, "left"))
        i1 = lo + int(np.searchsorted(level.start[lo:hi], last, "right"))
        if i1 <= i0:
            return None
        if i1 - i0 > MAX_CANDIDATES:
            raise TraceViewError(
                f"{i1 - i0:,} events lie within {tolerance_ns:.0f} ns of that point; zoom in"
            )
        # Distances in view time, where floats are exact (view times are small).
        starts = (np.asarray(level.start[i0:i1]) + part.shift_ns).astype(np.float64)
        ends = (np.asarray(level.end[i0:i1]) + part.shift_ns).astype(np.float64)
        distance = np.where(t < starts, starts - t, np.maximum(t - ends, 0))
        # Closest first; among events containing t, the latest-starting one (innermost).
        best = int(np.lexsort((-starts, distance))[0])
        if distance[best] > tolerance_ns:
            return None
        index = i0 + best
        ref = int(timeline.refs[index])
        start, end = int(level.start[index]), int(level.end[index])
        key = timeline.rows[local_row]
        details: dict[str, Any] = {
            "name": timeline.names[int(level.name[index])],
            "start": float(start + part.shift_ns),
            "end": float(end + part.shift_ns),
            "duration_ns": end - start,
            "row": row,
            "where": f"{self.rows[row]['group']} · {key.label}"
            + (f" · depth {key.depth}" if key.depth else ""),
            "report": part.label,
            "file_id": part.file_id,
        }
        if ref >= 0:
            layer, source_index = split_ref(ref)
            details["layer"] = layer
            details["index"] = source_index
            details["columns"] = _jsonable(part.source.row(layer, source_index))
        return details

    def window_summary(
        self, t0: float, t1: float, *, base: bool = False, limit: int = SUMMARY_ROWS
    ) -> dict[str, Any]:
        """``cuda_gpu_kern_sum`` over the kernels wholly inside ``[t0, t1]`` (view ns).

        Grouped by demangled name (``base``: short name), in the ``nsys stats``
        columns, over every report of the view; per report, how many kernels and how
        much GPU time fell inside.
        """
        if not t1 > t0:
            raise TraceViewError(f"an empty range: t1 ({t1}) must be greater than t0 ({t0})")
        key = "short_name" if base else "name"
        keys: list[pa.ChunkedArray] = []
        durations: list[pa.ChunkedArray] = []
        reports = []
        for part in self.parts:
            lo = math.ceil(max(t0, -FAR_NS)) - part.shift_ns
            hi = math.floor(min(t1, FAR_NS)) - part.shift_ns
            if "kernels" not in part.timeline.layers:
                continue
            found = part.source.window("kernels", ["start", "end", key], lo, hi)
            duration = pc.subtract(found["end"], found["start"])
            keys.append(found[key])
            durations.append(duration)
            total = pc.sum(duration).as_py() or 0
            reports.append({"label": part.label, "kernels": found.num_rows, "total_ns": total})
        table = summary_table(keys, durations) if keys else summary_table([], [])
        shown = table.slice(0, limit)
        return {
            "t0": t0,
            "t1": t1,
            "group_by": key,
            "kernels": sum(r["kernels"] for r in reports),
            "names": table.num_rows,
            "columns": shown.column_names,
            "rows": [_jsonable(list(r.values())) for r in shown.to_pylist()],
            "reports": reports,
        }


# --- the messages a front end sends (the widget's comm and the server's HTTP alike) ---


class ViewRequestError(ValueError):
    """A message from the browser that cannot be answered; the text says which field."""


def _number(content: dict[str, Any], *fields: str) -> list[float]:
    try:
        values = [float(content[f]) for f in fields]
    except (KeyError, TypeError, ValueError) as exc:
        raise ViewRequestError(
            f"{content.get('type')} message needs numeric {', '.join(fields)}: {exc}"
        ) from exc
    if not all(np.isfinite(values)):
        raise ViewRequestError(f"{content.get('type')} message: {fields} must be finite numbers")
    return values


def parse_view(content: Any) -> tuple[int, float, float, int]:
    """``(id, t0, t1, width_px)`` of a view message, or :class:`ViewRequestError`."""
    if not isinstance(content, dict) or content.get("type") != "view":
        raise ViewRequestError(f"not a view message: {content!r}")
    try:
        request = int(content.get("id", 0))
        t0, t1 = float(content["t0"]), float(content["t1"])
        width = int(content["width_px"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ViewRequestError(f"view message needs numeric t0, t1 and width_px: {exc}") from exc
    if not (np.isfinite(t0) and np.isfinite(t1)) or t1 <= t0:
        raise ViewRequestError(f"view message: t1 ({t1}) must be a number greater than t0 ({t0})")
    if width < 1 or width > 100_000:
        raise ViewRequestError(f"view message: width_px must be in 1..100000, got {width}")
    return request, t0, t1, width


def answer(view: TraceView, content: Any) -> tuple[dict[str, Any], list[bytes]]:
    """The reply to one message of the front end (view, event or summary)."""
    kind = content.get("type") if isinstance(content, dict) else None
    try:
        if kind == "event":
            row, t, tolerance = _number(content, "row", "t", "tolerance_ns")
            found = view.event(int(row), t, max(tolerance, 0.0))
            return {"type": "event", "id": content.get("id", 0), "event": found}, []
        if kind == "summary":
            t0, t1 = _number(content, "t0", "t1")
            summary = view.window_summary(t0, t1, base=bool(content.get("base")))
            return {"type": "summary", "id": content.get("id", 0), "summary": summary}, []
        request, t0, t1, width = parse_view(content)
        header, buffers = view.tiles(t0, t1, width)
        return {"type": "tiles", "id": request, **header}, buffers
    except StillArriving:
        raise
    except TraceViewError as exc:
        raise ViewRequestError(str(exc)) from exc
