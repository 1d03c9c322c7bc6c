"""The agent's annotation range log (``*.ranges.jsonl``) -> the ``ranges`` table.

Where no profiler runs, ``nsight_lab.annotate`` ranges are written by the agent as
JSON Lines (format in docs/TRACE_MODEL.md): an optional header line, then one closed
range per line. Lines are decoded in batches with typed msgspec structs, so a bad
line is reported with its line number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa

from nsight_lab.trace.errors import TraceFormatError
from nsight_lab.trace.model import TraceMetadata
from nsight_lab.trace.sink import TableSink

FORMAT = "nsight-lab-ranges"
SUPPORTED_VERSIONS = {1}
BATCH_LINES = 100_000


class Header(msgspec.Struct):
    """The first line of every log the agent writes (ranges here, CUPTI records too)."""

    format: str
    version: int
    epoch_ns: int | None = None
    pid: int | None = None
    process_name: str | None = None
    #: The agent's report metadata (clock anchor, steps), as in Kineto's ``nsight_lab``.
    nsight_lab: dict[str, Any] | None = None


def take_header(header: Header, meta: TraceMetadata, sink: TableSink) -> None:
    """What a header says about the report: version, epoch, agent metadata, process."""
    meta.schema_version = str(header.version)
    meta.epoch_ns = header.epoch_ns
    meta.apply_agent_metadata(header.nsight_lab)
    if header.pid is not None:
        meta.extra["pid"] = header.pid
        if header.process_name:
            sink.add("processes", pa.table({"pid": [header.pid], "name": [header.process_name]}))


class Range(msgspec.Struct):
    name: str
    start_ns: int
    end_ns: int
    pid: int
    tid: int
    domain: str = ""


_RANGE = msgspec.json.Decoder(Range)
_HEADER = msgspec.json.Decoder(Header)


def _flush(rows: list[Range], sink: TableSink) -> None:
    if not rows:
        return
    n = len(rows)
    sink.add(
        "ranges",
        pa.table(
            {
                "start": pa.array([r.start_ns for r in rows], pa.int64()),
                "end": pa.array([r.end_ns for r in rows], pa.int64()),
                "pid": pa.array([r.pid for r in rows], pa.int64()),
                "tid": pa.array([r.tid for r in rows], pa.int64()),
                "name": pa.array([r.name for r in rows], pa.string()).dictionary_encode(),
                "domain": pa.array([r.domain for r in rows], pa.string()).dictionary_encode(),
                "kind": pa.array(["push_pop"] * n, pa.string()).dictionary_encode(),
                "source": pa.array(["annotation"] * n, pa.string()).dictionary_encode(),
            }
        ),
    )
    rows.clear()


def read(path: Path, sink: TableSink) -> TraceMetadata:
    meta = TraceMetadata(source="annotations", path=str(path), tool="nsight-lab")
    rows: list[Range] = []
    try:
        with path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                if number == 1 and FORMAT.encode() in line:
                    try:
                        header = _HEADER.decode(line)
                    except msgspec.DecodeError as exc:
                        raise TraceFormatError(path, f"line 1: bad header: {exc}") from exc
                    if header.format != FORMAT or header.version not in SUPPORTED_VERSIONS:
                        raise TraceFormatError(
                            path,
                            f"line 1: unsupported format {header.format!r} version {header.version}",
                        )
                    take_header(header, meta, sink)
                    continue
                try:
                    r = _RANGE.decode(line)
                except msgspec.DecodeError as exc:
                    raise TraceFormatError(path, f"line {number}: {exc}") from exc
                if r.end_ns < r.start_ns:
                    raise TraceFormatError(
                        path, f"line {number}: end_ns {r.end_ns} is before start_ns {r.start_ns}"
                    )
                rows.append(r)
                if len(rows) >= BATCH_LINES:
                    _flush(rows, sink)
    except OSError as exc:
        raise TraceFormatError(path, f"cannot read file: {exc}") from exc
    _flush(rows, sink)
    return meta
