"""Chrome trace / Perfetto JSON from a :class:`~nsight_lab.trace.Trace`.

Written with Kineto's conventions (GPU work on pid = device, tid = stream; CUDA API
and CPU ranges on their process and thread; ``ac2g`` flow arrows from each launch to
its kernel by correlation id) so that Perfetto, chrome://tracing, and our own Kineto
importer all read it. Timestamps are exact: ns are written as decimal microseconds
(``123.456``) by integer arithmetic, never through a float.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from nsight_lab.trace.model import Trace

_COPY_SHORT = {
    "Host-to-Device": "HtoD",
    "Device-to-Host": "DtoH",
    "Device-to-Device": "DtoD",
    "Host-to-Host": "HtoH",
    "Peer-to-Peer": "PtoP",
}
_RANGE_CATEGORIES = {"cpu_op", "user_annotation", "gpu_user_annotation", "python_function"}


def _us(ns: int) -> str:
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1000}.{ns % 1000:03d}"


def _rows(table: pa.Table, columns: list[str]) -> Iterator[dict[str, Any]]:
    for batch in table.select(columns).to_batches(max_chunksize=65_536):
        yield from batch.to_pylist()


def _event(
    ph: str,
    cat: str,
    name: str,
    pid: Any,
    tid: Any,
    start: int,
    end: int | None,
    args: dict[str, Any],
) -> str:
    dur = f', "dur": {_us(max(0, end - start))}' if end is not None else ""
    head = json.dumps({"ph": ph, "cat": cat, "name": name, "pid": pid, "tid": tid})[:-1]
    return f'{head}, "ts": {_us(start)}{dur}, "args": {json.dumps(args)}}}'


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def iter_events(trace: Trace) -> Iterator[str]:
    """Every event of ``trace`` as one JSON object text, metadata events first."""
    for row in _rows(trace.table("processes"), ["pid", "name"]):
        if row["pid"] is not None:
            yield json.dumps(
                {
                    "ph": "M",
                    "name": "process_name",
                    "pid": row["pid"],
                    "tid": 0,
                    "args": {"name": row["name"]},
                }
            )
    for row in _rows(trace.table("threads"), ["pid", "tid", "name"]):
        if row["pid"] is not None and row["tid"] is not None:
            yield json.dumps(
                {
                    "ph": "M",
                    "name": "thread_name",
                    "pid": row["pid"],
                    "tid": row["tid"],
                    "args": {"name": row["name"]},
                }
            )
    launched: set[int] = set()
    for row in _rows(
        trace.table("api"),
        ["start", "end", "pid", "tid", "correlation_id", "external_id", "name", "api"],
    ):
        cat = "cuda_driver" if row["api"] == "driver" else "cuda_runtime"
        args = _clean({"correlation": row["correlation_id"], "External id": row["external_id"]})
        yield _event(
            "X", cat, row["name"] or "", row["pid"], row["tid"], row["start"], row["end"], args
        )
        if row["correlation_id"] is not None:
            launched.add(row["correlation_id"])
            flow = {
                "ph": "s",
                "cat": "ac2g",
                "name": "ac2g",
                "id": row["correlation_id"],
                "pid": row["pid"],
                "tid": row["tid"],
            }
            yield json.dumps(flow)[:-1] + f', "ts": {_us(row["start"])}}}'
    kernel_cols = [
        "start", "end", "device_id", "context_id", "stream_id", "correlation_id", "external_id", "name",
        "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z", "registers_per_thread", "static_shared_memory",
    ]  # fmt: skip
    for row in _rows(trace.table("kernels"), kernel_cols):
        args = _clean(
            {
                "device": row["device_id"], "context": row["context_id"], "stream": row["stream_id"],
                "correlation": row["correlation_id"], "External id": row["external_id"],
                "registers per thread": row["registers_per_thread"], "shared memory": row["static_shared_memory"],
                "grid": [row["grid_x"], row["grid_y"], row["grid_z"]] if row["grid_x"] is not None else None,
                "block": [row["block_x"], row["block_y"], row["block_z"]] if row["block_x"] is not None else None,
            }
        )  # fmt: skip
        pid, tid = row["device_id"], row["stream_id"]
        yield _event("X", "kernel", row["name"] or "", pid, tid, row["start"], row["end"], args)
        if row["correlation_id"] in launched:
            flow = {
                "ph": "f",
                "bp": "e",
                "cat": "ac2g",
                "name": "ac2g",
                "id": row["correlation_id"],
                "pid": pid,
                "tid": tid,
            }
            yield json.dumps(flow)[:-1] + f', "ts": {_us(row["start"])}}}'
    memop_cols = ["start", "end", "device_id", "context_id", "stream_id", "correlation_id", "kind", "copy_kind",
                  "bytes", "src_kind", "dst_kind"]  # fmt: skip
    for row in _rows(trace.table("memops"), memop_cols):
        if row["kind"] == "memset":
            cat, name = "gpu_memset", f"Memset ({row['dst_kind'] or 'Device'})"
        else:
            copy = _COPY_SHORT.get(row["copy_kind"] or "", row["copy_kind"] or "Unknown")
            where = (
                f" ({row['src_kind']} -> {row['dst_kind']})"
                if row["src_kind"] and row["dst_kind"]
                else ""
            )
            cat, name = "gpu_memcpy", f"Memcpy {copy}{where}"
        args = _clean({"device": row["device_id"], "context": row["context_id"], "stream": row["stream_id"],
                       "correlation": row["correlation_id"], "bytes": row["bytes"]})  # fmt: skip
        yield _event(
            "X", cat, name, row["device_id"], row["stream_id"], row["start"], row["end"], args
        )
    range_cols = [
        "start",
        "end",
        "pid",
        "tid",
        "name",
        "domain",
        "source",
        "device_id",
        "stream_id",
        "external_id",
    ]
    for row in _rows(trace.table("ranges"), range_cols):
        cat = row["source"] if row["source"] in _RANGE_CATEGORIES else "user_annotation"
        on_gpu = row["device_id"] is not None and row["pid"] is None
        pid, tid = (row["device_id"], row["stream_id"]) if on_gpu else (row["pid"], row["tid"])
        args = _clean(
            {
                "External id": row["external_id"],
                "domain": row["domain"] or None,
                "source": row["source"],
            }
        )
        yield _event("X", cat, row["name"] or "", pid, tid, row["start"], row["end"], args)
    for row in _rows(trace.table("osrt"), ["start", "end", "pid", "tid", "name", "return_value"]):
        yield _event("X", "osrt", row["name"] or "", row["pid"], row["tid"], row["start"], row["end"],
                     _clean({"return": row["return_value"]}))  # fmt: skip


def write_chrome_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` to ``path`` (gzip when it ends in ``.gz``), streaming event by event."""
    out = Path(path)
    if out.name.endswith(".gz"):
        with gzip.open(out, "wt", encoding="utf-8") as fh:
            _write(trace, fh)
    else:
        with out.open("w", encoding="utf-8") as fh:
            _write(trace, fh)
    return out


def _write(trace: Trace, fh: IO[str]) -> None:
    meta = trace.metadata
    fh.write('{\n  "schemaVersion": 1,\n')
    if meta.rank is not None:
        dist = {"rank": meta.rank, "world_size": meta.world_size}
        fh.write(f'  "distributedInfo": {json.dumps(_clean(dist))},\n')
    if meta.epoch_ns is not None:
        fh.write(f'  "baseTimeNanoseconds": {meta.epoch_ns},\n')
    fh.write('  "displayTimeUnit": "ms",\n  "traceEvents": [')
    first = True
    for text in iter_events(trace):
        fh.write(("\n  " if first else ",\n  ") + text)
        first = False
    fh.write("\n  ]\n}\n")
