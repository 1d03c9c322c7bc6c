"""Lay a trace's events out in rows: GPU streams, CPU threads, nesting depths.

Kernels and memory operations of one stream share a row (a stream runs them one
after another). Ranges go to the GPU stream they ran on when the source says so,
else to their CPU thread, one row per nesting depth. Python stack samples become a
flame chart per thread: consecutive samples with the same frames from the root down
to a depth form one box at that depth. Everything is columnar (numpy), so laying out
a million events takes well under a second.

Each event also keeps a reference to the row it came from (:func:`event_ref`: the
layer and the row's index in that table), so a click on the timeline can show every
column of the event, not just what the drawing needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.trace.model import Trace

#: Rows beyond this nesting depth are folded into the deepest one.
MAX_DEPTH = 24
LAYERS = ("kernels", "memops", "ranges", "samples")
#: An event reference is ``layer << REF_SHIFT | row index in the layer's table``.
REF_SHIFT = 40


def event_ref(layer: str, index: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return (np.int64(LAYERS.index(layer)) << np.int64(REF_SHIFT)) | index.astype(np.int64)


def split_ref(ref: int) -> tuple[str, int]:
    """``(layer, row index)`` of one event reference."""
    return LAYERS[ref >> REF_SHIFT], ref & ((1 << REF_SHIFT) - 1)


@dataclass(frozen=True)
class RowKey:
    group: str
    label: str
    depth: int
    kind: str


@dataclass
class EventColumns:
    """Events of every layer, with a row index and a name index each."""

    start: list[npt.NDArray[np.int64]] = field(default_factory=list)
    end: list[npt.NDArray[np.int64]] = field(default_factory=list)
    row: list[npt.NDArray[np.int32]] = field(default_factory=list)
    name: list[npt.NDArray[np.int32]] = field(default_factory=list)
    ref: list[npt.NDArray[np.int64]] = field(default_factory=list)
    rows: dict[RowKey, int] = field(default_factory=dict)
    names: dict[str, int] = field(default_factory=dict)

    def row_ids(self, keys: Sequence[RowKey]) -> npt.NDArray[np.int32]:
        return np.array([self.rows.setdefault(k, len(self.rows)) for k in keys], np.int32)

    def name_ids(self, labels: Sequence[str | None]) -> npt.NDArray[np.int32]:
        return np.array(
            [self.names.setdefault(label or "?", len(self.names)) for label in labels], np.int32
        )

    def add(
        self,
        start: npt.NDArray[np.int64],
        end: npt.NDArray[np.int64],
        row: npt.NDArray[np.int32],
        name: npt.NDArray[np.int32],
        ref: npt.NDArray[np.int64] | None = None,
    ) -> None:
        """``ref`` defaults to "no source row" (-1), for events made up by a caller."""
        self.start.append(start.astype(np.int64, copy=False))
        self.end.append(end.astype(np.int64, copy=False))
        self.row.append(row.astype(np.int32, copy=False))
        self.name.append(name.astype(np.int32, copy=False))
        self.ref.append(np.full(len(start), -1, np.int64) if ref is None else ref)

    def refs(self) -> npt.NDArray[np.int64]:
        if len(self.ref) == 1:
            return self.ref[0]
        return np.concatenate(self.ref) if self.ref else np.zeros(0, np.int64)

    def concat(
        self,
    ) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int32]
    ]:
        def cat(parts: Sequence[npt.NDArray[Any]], dtype: type) -> npt.NDArray[Any]:
            if len(parts) == 1:
                return parts[0]  # one layer: no copy of tens of millions of values
            return np.concatenate(parts) if parts else np.zeros(0, dtype)

        return (
            cat(self.start, np.int64),
            cat(self.end, np.int64),
            cat(self.row, np.int32),
            cat(self.name, np.int32),
        )


def _ints(table: pa.Table, column: str, fill: int = -1) -> npt.NDArray[np.int64]:
    return np.asarray(pc.fill_null(table.column(column), fill).to_numpy(), dtype=np.int64)


def _codes(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], list[str | None]]:
    """Dictionary codes and their labels, for a (dictionary or plain) string column."""
    encoded = column.combine_chunks()
    if not pa.types.is_dictionary(encoded.type):
        encoded = encoded.dictionary_encode()
    indices = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(), dtype=np.int64)
    labels: list[str | None] = encoded.dictionary.to_pylist()
    return indices, labels


def group_ids(parts: Sequence[npt.NDArray[np.int64]]) -> tuple[npt.NDArray[np.int64], int]:
    """A group id per position for the tuples formed by ``parts``, and how many groups.

    Hash-based (``pandas.factorize``), so ten million events cost a few tens of
    milliseconds where sorting tuples (``np.unique(axis=0)``) took many seconds.
    Ids follow first appearance.
    """
    codes: npt.NDArray[np.int64] | None = None
    size = 1
    for part in parts:
        part_codes, uniques = pd.factorize(np.asarray(part, np.int64))
        width = len(uniques)
        if codes is None:
            codes, size = part_codes.astype(np.int64, copy=False), width
        elif width > 1:
            combined, uniques = pd.factorize(codes * width + part_codes)
            codes, size = combined.astype(np.int64, copy=False), len(uniques)
    if codes is None:
        raise ValueError("group_ids needs at least one column")
    return codes, size


def _keyed_rows(
    cols: EventColumns, parts: Iterable[npt.NDArray[np.int64]], make: object
) -> npt.NDArray[np.int32]:
    """Row index per event for the key formed by ``parts`` (``make(*values) -> RowKey``)."""
    columns = list(parts)
    codes, size = group_ids(columns)
    first = np.empty(size, np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # the first position of each group
    keys = [make(*map(int, values)) for values in zip(*(c[first] for c in columns), strict=True)]  # type: ignore[operator]
    return cols.row_ids(keys)[codes]


def _name_codes(cols: EventColumns, column: pa.ChunkedArray) -> npt.NDArray[np.int32]:
    codes, labels = _codes(column)
    ids = cols.name_ids([*labels, "?"])
    return ids[codes]  # -1 (null) picks the trailing "?"


def add_kernels(cols: EventColumns, table: pa.Table) -> None:
    if not table.num_rows:
        return
    name_col = table.column("short_name")
    if name_col.null_count == table.num_rows:
        name_col = table.column("name")
    rows = _keyed_rows(
        cols,
        [_ints(table, "device_id"), _ints(table, "stream_id")],
        lambda d, s: RowKey(f"GPU {d}", f"stream {s}", 0, "gpu"),
    )
    refs = event_ref("kernels", np.arange(table.num_rows))
    cols.add(_ints(table, "start"), _ints(table, "end"), rows, _name_codes(cols, name_col), refs)


def add_memops(cols: EventColumns, table: pa.Table) -> None:
    if not table.num_rows:
        return
    kind = pc.fill_null(pc.cast(table.column("kind"), pa.string()), "memop")
    copy = pc.fill_null(pc.cast(table.column("copy_kind"), pa.string()), "")
    label = pc.utf8_trim_whitespace(pc.binary_join_element_wise(kind, copy, " "))
    rows = _keyed_rows(
        cols,
        [_ints(table, "device_id"), _ints(table, "stream_id")],
        lambda d, s: RowKey(f"GPU {d}", f"stream {s}", 0, "gpu"),
    )
    refs = event_ref("memops", np.arange(table.num_rows))
    cols.add(_ints(table, "start"), _ints(table, "end"), rows, _name_codes(cols, label), refs)


def nesting_depth(
    start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Depth of each interval among the intervals of one lane (0 = outermost).

    The number of intervals open at an interval's start, itself excluded: exact for
    properly nested ranges, and a non-colliding guess for ranges that merely overlap.
    """
    if not len(start):
        return np.zeros(0, np.int64)
    order = np.lexsort((-end, start))
    s = start[order]
    opened = np.arange(1, len(s) + 1)  # intervals started at or before each start (stable)
    closed = np.searchsorted(np.sort(end), s, side="right")
    depth = np.empty(len(s), np.int64)
    depth[order] = np.maximum(opened - closed - 1, 0)
    return depth


def add_ranges(cols: EventColumns, table: pa.Table) -> None:
    table = table.filter(pc.is_valid(table.column("end")))  # ranges that never ended
    if not table.num_rows:
        return
    start, end = _ints(table, "start"), _ints(table, "end")
    device = _ints(table, "device_id")
    on_gpu = device >= 0
    lane_a = np.where(on_gpu, device, _ints(table, "pid"))
    lane_b = np.where(on_gpu, _ints(table, "stream_id"), _ints(table, "tid"))
    lane, _ = group_ids([on_gpu.astype(np.int64), lane_a, lane_b])
    depth = np.zeros(len(start), np.int64)
    order = np.argsort(lane, kind="stable")
    bounds = np.flatnonzero(np.diff(lane[order])) + 1
    for idx in np.split(order, bounds):
        depth[idx] = nesting_depth(start[idx], end[idx])
    depth = np.minimum(depth, MAX_DEPTH - 1)

    def key(gpu: int, a: int, b: int, d: int) -> RowKey:
        if gpu:
            return RowKey(f"GPU {a}", f"stream {b} ranges", d, "range")
        return RowKey(f"process {a}", f"thread {b}", d, "range")

    rows = _keyed_rows(cols, [on_gpu.astype(np.int64), lane_a, lane_b, depth], key)
    refs = event_ref("ranges", np.arange(table.num_rows))
    cols.add(start, end, rows, _name_codes(cols, table.column("name")), refs)


def add_samples(cols: EventColumns, table: pa.Table, max_depth: int = MAX_DEPTH) -> None:
    """Stack samples as a flame chart: one box per run of samples sharing a stack prefix."""
    table = table.append_column("__index", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    table = table.filter(pc.is_valid(table.column("timestamp")))
    if not table.num_rows:
        return
    table = table.sort_by([("pid", "ascending"), ("tid", "ascending"), ("timestamp", "ascending")])
    ts = _ints(table, "timestamp")
    weight = np.maximum(_ints(table, "weight", 0), 1)
    pid, tid = _ints(table, "pid"), _ints(table, "tid")
    source = _ints(table, "__index")
    thread, _ = group_ids([pid, tid])
    stacks = table.column("stack").combine_chunks()
    offsets = np.asarray(stacks.offsets.to_numpy(), dtype=np.int64)
    lengths = np.diff(offsets)
    frame_codes, frame_labels = _codes(pa.chunked_array([stacks.values]))
    frame_names = cols.name_ids([*frame_labels, "?"])
    n = len(ts)
    prefix = thread.astype(np.int64)  # identity of the stack from the root to this depth
    for depth in range(min(int(lengths.max()), max_depth)):
        present = lengths > depth
        frame = np.where(present, frame_codes[offsets[:-1] + np.minimum(depth, lengths - 1)], -2)
        prefix, _ = group_ids([prefix, frame])
        prefix = np.where(present, prefix, -1 - np.arange(n))  # absent frames never merge
        change = np.ones(n, dtype=bool)
        change[1:] = (prefix[1:] != prefix[:-1]) | (ts[1:] > ts[:-1] + 2 * weight[:-1])
        first = np.flatnonzero(change & present)
        if not len(first):
            break
        run_id = np.cumsum(change) - 1
        last = np.full(int(run_id[-1]) + 1, -1, np.int64)
        last[run_id] = np.arange(n)  # the last index of each run wins
        stop = last[run_id[first]]
        rows = _keyed_rows(
            cols,
            [pid[first], tid[first], np.full(len(first), depth)],
            lambda p, t, d: RowKey(f"process {p}", f"thread {t} python", d, "sample"),
        )
        refs = event_ref("samples", source[first])
        cols.add(ts[first], ts[stop] + weight[stop], rows, frame_names[frame[first]], refs)


def trace_events(
    trace: Trace | Mapping[str, pa.Table], layers: Sequence[str] = LAYERS
) -> EventColumns:
    """Every event of ``layers``; ``trace`` may be only the tables (and columns) laid out."""
    tables = trace.tables if isinstance(trace, Trace) else trace
    unknown = set(layers) - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown timeline layers {sorted(unknown)}; choose from {LAYERS}")
    cols = EventColumns()
    adders = {
        "kernels": add_kernels,
        "memops": add_memops,
        "ranges": add_ranges,
        "samples": add_samples,
    }
    for layer in layers:
        adders[layer](cols, tables[layer])
    return cols


def ordered_rows(cols: EventColumns) -> tuple[list[RowKey], npt.NDArray[np.int32]]:
    """Rows sorted for display (GPUs first, then processes; by lane, then depth) and the
    map from insertion index to display index."""

    def sort_key(key: RowKey) -> tuple[int, str, int, str, int]:
        group_kind = 0 if key.group.startswith("GPU") else 1
        number = key.group.split(" ")[-1]
        return (group_kind, number.zfill(12), 0, _natural(key.label), key.depth)

    keys = list(cols.rows)
    display = sorted(range(len(keys)), key=lambda i: sort_key(keys[i]))
    remap = np.empty(len(keys), np.int32)
    remap[display] = np.arange(len(keys), dtype=np.int32)
    return [keys[i] for i in display], remap


def _natural(label: str) -> str:
    return " ".join(
        part.zfill(12) if part.lstrip("-").isdigit() else part for part in label.split()
    )
