"""The normalized trace model: one set of Arrow tables for every source.

Every importer (nsys SQLite, Kineto JSON, py-spy speedscope, agent annotation ranges,
CUPTI records) produces exactly these tables, so recipes are written once. Times are
int64 nanoseconds on the report's own timeline (``Trace.metadata.epoch_ns`` gives the
UTC epoch of t=0); names are dictionary-encoded strings; ids are integers. A table a
source did not record is present and empty, never missing. ``docs/TRACE_MODEL.md``
explains each column and where each importer takes it from.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

_STR = pa.dictionary(pa.int32(), pa.string())
_I64 = pa.int64()
_I32 = pa.int32()

KERNELS = pa.schema(
    [
        ("start", _I64),
        ("end", _I64),
        ("device_id", _I32),
        ("context_id", _I64),
        ("stream_id", _I64),
        ("correlation_id", _I64),
        ("pid", _I64),
        ("tid", _I64),  # the launching CPU thread, when the launch is known
        ("name", _STR),  # demangled name (nsys demangledName, Kineto event name)
        ("short_name", _STR),  # nsys shortName; for Kineto derived from name
        ("grid_x", _I32),
        ("grid_y", _I32),
        ("grid_z", _I32),
        ("block_x", _I32),
        ("block_y", _I32),
        ("block_z", _I32),
        ("registers_per_thread", _I32),
        ("static_shared_memory", _I32),
        ("dynamic_shared_memory", _I32),
        ("graph_node_id", _I64),
        ("external_id", _I64),  # Kineto "External id": links to the cpu_op that launched it
    ]
)

MEMOPS = pa.schema(
    [
        ("start", _I64),
        ("end", _I64),
        ("device_id", _I32),
        ("context_id", _I64),
        ("stream_id", _I64),
        ("correlation_id", _I64),
        ("pid", _I64),
        ("tid", _I64),
        ("kind", _STR),  # "memcpy" | "memset"
        (
            "copy_kind",
            _STR,
        ),  # ENUM_CUDA_MEMCPY_OPER label: "Host-to-Device", "Device-to-Host", ...; null for memset
        ("bytes", _I64),
        ("src_kind", _STR),  # ENUM_CUDA_MEM_KIND label (Pageable, Pinned, Device, ...)
        ("dst_kind", _STR),
        ("value", _I32),  # memset value
        ("external_id", _I64),
    ]
)

API = pa.schema(
    [
        ("start", _I64),
        ("end", _I64),
        ("pid", _I64),
        ("tid", _I64),
        ("correlation_id", _I64),
        ("name", _STR),  # e.g. "cudaLaunchKernel_v7000" (nsys) or "cudaLaunchKernel" (Kineto)
        ("api", _STR),  # "runtime" | "driver"
        ("return_value", _I64),
        ("external_id", _I64),
    ]
)

RANGES = pa.schema(
    [
        ("start", _I64),
        ("end", _I64),  # == start for marks; null for a range that never ended
        ("pid", _I64),
        ("tid", _I64),
        ("name", _STR),
        ("domain", _STR),  # NVTX domain name; "" for the default domain
        ("kind", _STR),  # "push_pop" | "start_end" | "mark"
        (
            "source",
            _STR,
        ),  # "nvtx" | "annotation" | "user_annotation" | "gpu_user_annotation" | "cpu_op" | "python_function" | "mpi"
        ("category", _I32),
        ("color", _I64),
        ("range_id", _I64),
        (
            "device_id",
            _I32,
        ),  # set for ranges that live on a GPU stream (Kineto gpu_user_annotation)
        ("stream_id", _I64),
        ("correlation_id", _I64),
        ("external_id", _I64),  # Kineto "External id" of the op/annotation
    ]
)

OSRT = pa.schema(
    [
        ("start", _I64),
        ("end", _I64),
        ("pid", _I64),
        ("tid", _I64),
        ("name", _STR),
        ("return_value", _I64),
        ("nesting_level", _I32),
    ]
)

SAMPLES = pa.schema(
    [
        ("timestamp", _I64),
        ("pid", _I64),
        ("tid", _I64),
        ("cpu", _I32),
        ("weight", _I64),  # ns this sample stands for (the sampling period)
        ("stack", pa.list_(_STR)),  # outermost frame first, leaf last: "function (file:line)"
    ]
)

MEMORY = pa.schema(
    [
        ("timestamp", _I64),
        ("pid", _I64),
        ("tid", _I64),
        ("device_id", _I32),  # null for host memory
        ("device_type", _STR),  # "cuda" | "cpu"
        ("kind", _STR),  # "alloc" | "free"
        ("bytes", _I64),  # size allocated or freed (>= 0)
        ("address", _I64),
        ("total_allocated", _I64),  # bytes in use on the device after the event, when recorded
        ("total_reserved", _I64),  # bytes held by the caching allocator, when recorded
        ("memory_kind", _STR),  # nsys ENUM_CUDA_MEM_KIND label (Device, Pinned, Managed...)
    ]
)

THREADS = pa.schema([("pid", _I64), ("tid", _I64), ("name", _STR)])

PROCESSES = pa.schema([("pid", _I64), ("name", _STR)])

DEVICES = pa.schema(
    [
        ("device_id", _I32),
        ("name", _STR),
        ("chip_name", _STR),
        ("bus_location", _STR),
        ("total_memory", _I64),
        ("sm_count", _I32),
        ("compute_capability", _STR),
    ]
)

#: Short memcpy directions (as Kineto and CUPTI spell them) to the labels of nsys's
#: ENUM_CUDA_MEMCPY_OPER, which ``memops.copy_kind`` always holds.
COPY_KIND_LABELS: dict[str, str] = {
    "HtoD": "Host-to-Device",
    "DtoH": "Device-to-Host",
    "DtoD": "Device-to-Device",
    "HtoH": "Host-to-Host",
    "PtoP": "Peer-to-Peer",
    "HtoA": "Host-to-Array",
    "AtoH": "Array-to-Host",
    "AtoA": "Array-to-Array",
    "AtoD": "Array-to-Device",
    "DtoA": "Device-to-Array",
}

TABLES: dict[str, pa.Schema] = {
    "kernels": KERNELS,
    "memops": MEMOPS,
    "api": API,
    "ranges": RANGES,
    "osrt": OSRT,
    "samples": SAMPLES,
    "memory": MEMORY,
    "threads": THREADS,
    "processes": PROCESSES,
    "devices": DEVICES,
}


#: Each timed table's (begin, end) columns: what its rows are sorted by when converted,
#: and what time windows select on. Samples are instants (begin = end = timestamp);
#: threads, processes and devices have no time.
TIME_COLUMNS: dict[str, tuple[str, str]] = {
    "kernels": ("start", "end"),
    "memops": ("start", "end"),
    "api": ("start", "end"),
    "ranges": ("start", "end"),
    "osrt": ("start", "end"),
    "samples": ("timestamp", "timestamp"),
    "memory": ("timestamp", "timestamp"),
}


def empty_table(name: str) -> pa.Table:
    return TABLES[name].empty_table()


def table_schema(name: str, columns: Sequence[str] | None = None) -> pa.Schema:
    """Schema of table ``name``, or of just ``columns`` of it (in the table's order).

    Raises ``KeyError`` naming the table or the columns it does not have, so a
    recipe declaring a misspelt column fails when it loads, not on a report.
    """
    if name not in TABLES:
        raise KeyError(f"no table {name!r}; tables are {sorted(TABLES)}")
    schema = TABLES[name]
    if columns is None:
        return schema
    unknown = sorted(set(columns) - set(schema.names))
    if unknown:
        raise KeyError(f"table {name!r} has no column(s) {unknown}; it has {schema.names}")
    wanted = set(columns)
    return pa.schema([f for f in schema if f.name in wanted])
