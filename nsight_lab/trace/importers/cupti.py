"""The agent's CUPTI activity records (``*.cupti.jsonl``) -> kernels, memops, api, ranges.

Written by the ``cupti`` collector (format in docs/TRACE_MODEL.md): a header line,
one JSON object per activity record, and a summary line. Lines are decoded in
batches by msgspec into one tagged union of typed structs, so a bad line is
reported with its number and the memory held is one batch plus the output columns.
Kernels and memcpys get the launching thread from the runtime/driver record with
the same correlation id, as the nsys and Kineto importers do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa

from nsight_lab.trace.errors import TraceFormatError
from nsight_lab.trace.importers.annotations import Header as AgentLogHeader
from nsight_lab.trace.importers.annotations import take_header
from nsight_lab.trace.importers.kineto import short_name
from nsight_lab.trace.model import TraceMetadata
from nsight_lab.trace.schema import COPY_KIND_LABELS
from nsight_lab.trace.sink import TableSink

FORMAT = "nsight-lab-cupti"
SUPPORTED_VERSIONS = {1}
BATCH_LINES = 100_000


class Header(AgentLogHeader):
    cupti_version: str = ""
    devices: list[dict[str, Any]] = []


class _Timed(msgspec.Struct, tag_field="kind"):
    start: int
    end: int
    correlation_id: int | None = None


class Kernel(_Timed, tag="kernel"):
    name: str = ""
    device_id: int | None = None
    context_id: int | None = None
    stream_id: int | None = None
    grid: list[int | None] = []
    block: list[int | None] = []
    registers_per_thread: int | None = None
    static_shared_memory: int | None = None
    dynamic_shared_memory: int | None = None
    graph_node_id: int | None = None


class Memcpy(_Timed, tag="memcpy"):
    device_id: int | None = None
    context_id: int | None = None
    stream_id: int | None = None
    bytes: int | None = None
    copy_kind: str | None = None
    src_kind: str | None = None
    dst_kind: str | None = None


class Memset(_Timed, tag="memset"):
    device_id: int | None = None
    context_id: int | None = None
    stream_id: int | None = None
    bytes: int | None = None
    value: int | None = None
    dst_kind: str | None = None


class Runtime(_Timed, tag="runtime"):
    name: str = ""
    pid: int | None = None
    tid: int | None = None
    return_value: int | None = None


class Driver(Runtime, tag="driver"):
    pass


class Range(_Timed, tag="range"):
    name: str = ""
    domain: str = ""
    pid: int | None = None
    tid: int | None = None


class Summary(msgspec.Struct, tag="summary", tag_field="kind"):
    records: int = 0
    dropped: int = 0
    nsight_lab: dict[str, Any] | None = None


Record = Kernel | Memcpy | Memset | Runtime | Driver | Range | Summary
_RECORD = msgspec.json.Decoder(Record)
_HEADER = msgspec.json.Decoder(Header)


def _dim(values: list[int | None], i: int) -> int | None:
    return values[i] if i < len(values) else None


def _dict(values: list[str | None]) -> pa.Array:
    return pa.array(values, pa.string()).dictionary_encode()


class _Batch:
    def __init__(self) -> None:
        self.kernels: list[Kernel] = []
        self.copies: list[Memcpy | Memset] = []
        self.api: list[Runtime] = []
        self.ranges: list[Range] = []

    def __len__(self) -> int:
        return len(self.kernels) + len(self.copies) + len(self.api) + len(self.ranges)


class _Reader:
    def __init__(self, path: Path, sink: TableSink) -> None:
        self.path, self.sink = path, sink
        self.kernel_tables: list[pa.Table] = []
        self.memop_tables: list[pa.Table] = []
        self.launch: dict[int, tuple[int | None, int | None]] = {}
        self.summary: Summary | None = None

    def flush(self, batch: _Batch) -> None:
        if batch.api:
            rows = batch.api
            for r in rows:
                if r.correlation_id is not None:
                    self.launch[r.correlation_id] = (r.pid, r.tid)
            self.sink.add(
                "api",
                pa.table(
                    {
                        "start": pa.array([r.start for r in rows], pa.int64()),
                        "end": pa.array([r.end for r in rows], pa.int64()),
                        "pid": pa.array([r.pid for r in rows], pa.int64()),
                        "tid": pa.array([r.tid for r in rows], pa.int64()),
                        "correlation_id": pa.array([r.correlation_id for r in rows], pa.int64()),
                        "name": _dict([r.name for r in rows]),
                        "api": _dict(
                            ["driver" if isinstance(r, Driver) else "runtime" for r in rows]
                        ),
                        "return_value": pa.array([r.return_value for r in rows], pa.int64()),
                    }
                ),
            )
        if batch.ranges:
            rows_r = batch.ranges
            n = len(rows_r)
            self.sink.add(
                "ranges",
                pa.table(
                    {
                        "start": pa.array([r.start for r in rows_r], pa.int64()),
                        "end": pa.array([r.end for r in rows_r], pa.int64()),
                        "pid": pa.array([r.pid for r in rows_r], pa.int64()),
                        "tid": pa.array([r.tid for r in rows_r], pa.int64()),
                        "name": _dict([r.name for r in rows_r]),
                        "domain": _dict([r.domain for r in rows_r]),
                        "kind": _dict(["push_pop"] * n),
                        "source": _dict(["nvtx"] * n),
                    }
                ),
            )
        if batch.kernels:
            k = batch.kernels
            self.kernel_tables.append(
                pa.table(
                    {
                        "start": pa.array([r.start for r in k], pa.int64()),
                        "end": pa.array([r.end for r in k], pa.int64()),
                        "device_id": pa.array([r.device_id for r in k], pa.int32()),
                        "context_id": pa.array([r.context_id for r in k], pa.int64()),
                        "stream_id": pa.array([r.stream_id for r in k], pa.int64()),
                        "correlation_id": pa.array([r.correlation_id for r in k], pa.int64()),
                        "name": _dict([r.name for r in k]),
                        "short_name": _dict([short_name(r.name) for r in k]),
                        **{
                            f"{what}_{axis}": pa.array(
                                [_dim(getattr(r, what), i) for r in k], pa.int32()
                            )
                            for what in ("grid", "block")
                            for i, axis in enumerate("xyz")
                        },
                        "registers_per_thread": pa.array(
                            [r.registers_per_thread for r in k], pa.int32()
                        ),
                        "static_shared_memory": pa.array(
                            [r.static_shared_memory for r in k], pa.int32()
                        ),
                        "dynamic_shared_memory": pa.array(
                            [r.dynamic_shared_memory for r in k], pa.int32()
                        ),
                        "graph_node_id": pa.array([r.graph_node_id for r in k], pa.int64()),
                    }
                )
            )
        if batch.copies:
            c = batch.copies
            self.memop_tables.append(
                pa.table(
                    {
                        "start": pa.array([r.start for r in c], pa.int64()),
                        "end": pa.array([r.end for r in c], pa.int64()),
                        "device_id": pa.array([r.device_id for r in c], pa.int32()),
                        "context_id": pa.array([r.context_id for r in c], pa.int64()),
                        "stream_id": pa.array([r.stream_id for r in c], pa.int64()),
                        "correlation_id": pa.array([r.correlation_id for r in c], pa.int64()),
                        "kind": _dict(["memcpy" if isinstance(r, Memcpy) else "memset" for r in c]),
                        "copy_kind": _dict(
                            [
                                COPY_KIND_LABELS.get(r.copy_kind or "", r.copy_kind)
                                if isinstance(r, Memcpy)
                                else None
                                for r in c
                            ]
                        ),
                        "bytes": pa.array([r.bytes for r in c], pa.int64()),
                        "src_kind": _dict(
                            [r.src_kind if isinstance(r, Memcpy) else None for r in c]
                        ),
                        "dst_kind": _dict([r.dst_kind for r in c]),
                        "value": pa.array(
                            [r.value if isinstance(r, Memset) else None for r in c], pa.int32()
                        ),
                    }
                )
            )

    def _with_launch(self, table: pa.Table) -> pa.Table:
        corr = table.column("correlation_id").to_pylist()
        found = [self.launch.get(c) if c is not None else None for c in corr]
        pid = pa.array([f[0] if f else None for f in found], pa.int64())
        tid = pa.array([f[1] if f else None for f in found], pa.int64())
        return table.append_column("pid", pid).append_column("tid", tid)

    def finish(self) -> None:
        for name, tables in (("kernels", self.kernel_tables), ("memops", self.memop_tables)):
            for table in tables:
                self.sink.add(name, self._with_launch(table))
            tables.clear()


def _devices(header: Header) -> pa.Table:
    rows = [d for d in header.devices if isinstance(d, dict)]

    def ints(key: str, kind: pa.DataType) -> pa.Array:
        return pa.array([d.get(key) if isinstance(d.get(key), int) else None for d in rows], kind)

    return pa.table(
        {
            "device_id": ints("device_id", pa.int32()),
            "name": _dict([d.get("name") for d in rows]),
            "total_memory": ints("total_memory", pa.int64()),
            "sm_count": ints("sm_count", pa.int32()),
            "compute_capability": _dict([d.get("compute_capability") for d in rows]),
        }
    )


def read(path: Path, sink: TableSink) -> TraceMetadata:
    meta = TraceMetadata(source="cupti", path=str(path), tool="cupti")
    reader = _Reader(path, sink)
    batch = _Batch()
    header_seen = False
    try:
        with path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                if not header_seen:
                    try:
                        header = _HEADER.decode(line)
                    except msgspec.DecodeError as exc:
                        raise TraceFormatError(path, f"line {number}: bad header: {exc}") from exc
                    if header.format != FORMAT or header.version not in SUPPORTED_VERSIONS:
                        raise TraceFormatError(
                            path,
                            f"line {number}: not {FORMAT} version 1 "
                            f"(format {header.format!r}, version {header.version})",
                        )
                    header_seen = True
                    take_header(header, meta, sink)
                    meta.tool_version = header.cupti_version
                    sink.add("devices", _devices(header))
                    continue
                try:
                    record = _RECORD.decode(line)
                except msgspec.DecodeError as exc:
                    raise TraceFormatError(path, f"line {number}: {exc}") from exc
                if isinstance(record, Summary):
                    reader.summary = record
                    continue
                if record.end < record.start:
                    raise TraceFormatError(
                        path, f"line {number}: end {record.end} is before start {record.start}"
                    )
                if isinstance(record, Kernel):
                    batch.kernels.append(record)
                elif isinstance(record, (Memcpy, Memset)):
                    batch.copies.append(record)
                elif isinstance(record, Runtime):
                    batch.api.append(record)
                else:
                    batch.ranges.append(record)
                if len(batch) >= BATCH_LINES:
                    reader.flush(batch)
                    batch = _Batch()
    except OSError as exc:
        raise TraceFormatError(path, f"cannot read file: {exc}") from exc
    if not header_seen:
        raise TraceFormatError(path, f"empty file (expected a {FORMAT} header line)")
    reader.flush(batch)
    reader.finish()
    if reader.summary is None:
        meta.extra["truncated"] = True
    else:
        meta.extra["records"] = reader.summary.records
        meta.extra["dropped"] = reader.summary.dropped
        meta.apply_agent_metadata(reader.summary.nsight_lab)
    return meta
