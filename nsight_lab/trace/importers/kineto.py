"""PyTorch profiler (Kineto) Chrome-trace JSON, plain or gzip, streamed.

Traces of real jobs run to gigabytes, and ``json.load`` of one needs many times its
size in Python objects (the memory blow-up HolisticTraceAnalysis users report). So
the ``traceEvents`` array is cut into chunks of whole events at ``}``/``,``
boundaries and each chunk is decoded by msgspec into typed structs that skip every
field we do not use; only the output columns outlive a chunk. A cut inside a string
or a nested object cannot decode (its brackets do not balance), so a failed decode
just means "cut earlier". Everything outside the array (deviceProperties,
distributedInfo, baseTimeNanoseconds) is kept as bytes and decoded at the end.

``ts`` and ``dur`` are microseconds, possibly fractional, whatever ``displayTimeUnit``
says; they become int64 nanoseconds, rounded.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

import msgspec
import numpy as np
import pyarrow as pa

from nsight_lab.trace.errors import TraceFormatError
from nsight_lab.trace.model import TraceMetadata
from nsight_lab.trace.schema import COPY_KIND_LABELS
from nsight_lab.trace.sink import TableSink

CHUNK_BYTES = 8 << 20
_EVENTS_KEY = re.compile(rb'"traceEvents"\s*:\s*\[')
_BOUNDARY = re.compile(rb"\}\s*,")
_CLOSE = re.compile(rb"\]")

# Early Kineto (PyTorch 1.8-1.10) named the categories differently.
CATEGORY_ALIASES = {
    "Kernel": "kernel",
    "Memcpy": "gpu_memcpy",
    "Memset": "gpu_memset",
    "Runtime": "cuda_runtime",
    "Operator": "cpu_op",
    "Python": "python_function",
    "gpu_user_anno": "gpu_user_annotation",
}
RANGE_CATEGORIES = {"cpu_op", "user_annotation", "gpu_user_annotation", "python_function"}
MEMORY_EVENT = "[memory]"
#: c10::DeviceType of "[memory]" events.
DEVICE_TYPES = {0: "cpu", 1: "cuda"}
API_CATEGORIES = {"cuda_runtime": "runtime", "cuda_driver": "driver"}
_MEMCPY_NAME = re.compile(r"Memcpy (\w+)(?: \((\w[\w ]*?) -> (\w[\w ]*?)\))?")
_MEMSET_NAME = re.compile(r"Memset \((\w[\w ]*?)\)")


class _Args(msgspec.Struct):
    # Any: producers disagree on types (Triton writes grid as a string), and one odd
    # value must not make a whole trace unreadable; values are checked when used.
    device: Any = None
    stream: Any = None
    context: Any = None
    correlation: Any = None
    external_id: Any = msgspec.field(default=None, name="External id")
    grid: Any = None
    block: Any = None
    registers: Any = msgspec.field(default=None, name="registers per thread")
    shared_memory: Any = msgspec.field(default=None, name="shared memory")
    bytes: Any = None
    name: Any = None  # process_name / thread_name metadata events
    # "[memory]" instant events (profile_memory=True)
    mem_bytes: Any = msgspec.field(default=None, name="Bytes")
    addr: Any = msgspec.field(default=None, name="Addr")
    total_allocated: Any = msgspec.field(default=None, name="Total Allocated")
    total_reserved: Any = msgspec.field(default=None, name="Total Reserved")
    device_type: Any = msgspec.field(default=None, name="Device Type")
    device_index: Any = msgspec.field(default=None, name="Device Id")


class _Event(msgspec.Struct):
    ph: str = ""
    cat: str = ""
    name: str = ""
    pid: Any = None
    tid: Any = None
    ts: int | float | None = None
    dur: int | float | None = None
    args: _Args | None = None


_DECODER = msgspec.json.Decoder(list[_Event])


def _ns(values: list[int | float]) -> np.ndarray:
    """Microseconds (int or float) -> int64 ns, rounded, exact for large integer parts."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64) * 1000
    arr = arr.astype(np.float64)
    whole = np.floor(arr)
    return whole.astype(np.int64) * 1000 + np.rint((arr - whole) * 1000).astype(np.int64)


def short_name(name: str) -> str:
    """A kernel's base name, as nsys shortName: no return type, scope, template or args."""
    text = name[5:] if name.startswith("void ") else name
    depth, cut = 0, len(text)
    for i, ch in enumerate(text):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            cut = i
            break
    base = text[:cut]
    out, depth = [], 0
    for ch in base:  # drop template arguments
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    flat = "".join(out).strip()
    return flat.rsplit("::", 1)[-1].split(" ")[-1] or name


def _int_or_none(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _dims(v: object) -> tuple[int | None, int | None, int | None]:
    """Launch dimensions from ``[x, y, z]`` or the string ``"[x, y, z]"``."""
    if isinstance(v, str):
        v = [int(x) for x in re.findall(r"-?\d+", v)]
    if not isinstance(v, list):
        return (None, None, None)
    out = [_int_or_none(x) for x in v[:3]] + [None] * (3 - min(3, len(v)))
    return (out[0], out[1], out[2])


# --------------------------------------------------------------------------- streaming


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


class _Splitter:
    """Yields chunks of whole events from the traceEvents array; keeps the rest as bytes."""

    def __init__(self, path: Path, fh: IO[bytes]) -> None:
        self.path = path
        self.fh = fh
        self.outer = b""

    def _read(self) -> bytes:
        try:
            return self.fh.read(CHUNK_BYTES)
        except (EOFError, OSError, zlib.error) as exc:
            raise TraceFormatError(
                self.path, f"truncated or corrupt compressed data: {exc}"
            ) from exc

    def chunks(self) -> Iterator[list[_Event]]:
        buf = b""
        while True:
            m = _EVENTS_KEY.search(buf)
            if m:
                break
            data = self._read()
            if not data:
                if not buf.strip():
                    raise TraceFormatError(self.path, "empty file")
                if not buf.lstrip().startswith(b"{"):
                    raise TraceFormatError(
                        self.path, "not a JSON object (Chrome trace format expected)"
                    )
                raise TraceFormatError(
                    self.path, "no traceEvents array (not a Chrome/Kineto trace)"
                )
            buf += data
        prefix, buf = buf[: m.start()], buf[m.end() :]
        while True:
            data = self._read()
            if not data:
                break
            buf += data
            cut = self._cut(buf)
            if cut is not None:
                events, end = cut
                buf = buf[end:]
                yield events
        events, tail = self._finish(buf)
        self.outer = prefix + b'"traceEvents": []' + tail
        yield events

    def _decode(self, body: bytes) -> list[_Event]:
        return _DECODER.decode(b"[" + body + b"]")

    def _cut(self, buf: bytes) -> tuple[list[_Event], int] | None:
        """Decode the longest prefix of whole events; the offset after its comma."""
        window = max(0, len(buf) - (1 << 20))
        for m in reversed(list(_BOUNDARY.finditer(buf, window))):
            try:
                return self._decode(buf[: m.start() + 1]), m.end()
            except msgspec.ValidationError as exc:
                raise TraceFormatError(self.path, f"bad event in traceEvents: {exc}") from exc
            except msgspec.DecodeError:
                continue
        return None

    def _finish(self, buf: bytes) -> tuple[list[_Event], bytes]:
        """At EOF: the last events, and what follows the array up to the closing brace."""
        for m in reversed(list(_CLOSE.finditer(buf))):
            tail = buf[m.end() :].strip()
            if not tail.endswith(b"}"):
                continue
            try:
                msgspec.json.decode(b"{" + tail.lstrip(b",") if tail != b"}" else b"{}")
            except msgspec.DecodeError:
                continue
            try:
                return self._decode(buf[: m.start()]), tail
            except msgspec.ValidationError as exc:
                raise TraceFormatError(self.path, f"bad event in traceEvents: {exc}") from exc
            except msgspec.DecodeError:
                continue
        raise TraceFormatError(
            self.path, "truncated JSON: the traceEvents array or the document never ends"
        )


# --------------------------------------------------------------------------- columns


class _Columns:
    """Per-chunk column lists of one table, turned into an Arrow table and cleared."""

    def __init__(
        self, fields: tuple[str, ...], times: tuple[str, ...], strings: tuple[str, ...]
    ) -> None:
        self.fields, self.times, self.strings = fields, times, strings
        self.data: dict[str, list[Any]] = {f: [] for f in fields}

    def __len__(self) -> int:
        return len(self.data[self.fields[0]])

    def take(self) -> pa.Table:
        cols: dict[str, pa.Array] = {}
        for f, values in self.data.items():
            if f in self.times:
                cols[f] = pa.array(_ns(values))
            elif f in self.strings:
                cols[f] = pa.array(values, pa.string()).dictionary_encode()
            else:
                try:
                    cols[f] = pa.array(values, pa.int64())
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                    cols[f] = pa.array([_int_or_none(v) for v in values], pa.int64())
        self.data = {f: [] for f in self.fields}
        return pa.table(cols)


def _kernel_cols() -> _Columns:
    return _Columns(
        (
            "start", "dur", "device_id", "context_id", "stream_id", "correlation_id", "external_id",
            "name", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z",
            "registers_per_thread", "static_shared_memory",
        ),
        ("start", "dur"),
        ("name",),
    )  # fmt: skip


def _memop_cols() -> _Columns:
    return _Columns(
        (
            "start", "dur", "device_id", "context_id", "stream_id", "correlation_id", "external_id",
            "kind", "copy_kind", "bytes", "src_kind", "dst_kind",
        ),
        ("start", "dur"),
        ("kind", "copy_kind", "src_kind", "dst_kind"),
    )  # fmt: skip


def _api_cols() -> _Columns:
    return _Columns(
        ("start", "dur", "pid", "tid", "correlation_id", "external_id", "name", "api"),
        ("start", "dur"),
        ("name", "api"),
    )


def _range_cols() -> _Columns:
    return _Columns(
        (
            "start", "dur", "pid", "tid", "name", "source", "device_id", "stream_id",
            "correlation_id", "external_id",
        ),
        ("start", "dur"),
        ("name", "source"),
    )  # fmt: skip


def _memory_cols() -> _Columns:
    return _Columns(
        (
            "timestamp", "pid", "tid", "device_id", "device_type", "kind", "bytes", "address",
            "total_allocated", "total_reserved",
        ),
        ("timestamp",),
        ("device_type", "kind"),
    )  # fmt: skip


def _with_end(table: pa.Table) -> pa.Table:
    start = table.column("start").to_numpy()
    dur = table.column("dur").to_numpy()
    return table.drop_columns(["dur"]).append_column("end", pa.array(start + dur))


class _State:
    def __init__(self) -> None:
        self.kernels = _kernel_cols()
        self.memops = _memop_cols()
        self.api = _api_cols()
        self.ranges = _range_cols()
        self.memory = _memory_cols()
        self.held_kernels: list[pa.Table] = []
        self.held_memops: list[pa.Table] = []
        self.launch_corr: list[np.ndarray] = []
        self.launch_pid: list[np.ndarray] = []
        self.launch_tid: list[np.ndarray] = []
        self.processes: dict[int, str] = {}
        self.threads: dict[tuple[int, int], str] = {}
        self.short_names: dict[str, str] = {}
        self.short_codes: dict[str, int] = {}

    def add(self, events: list[_Event]) -> None:
        kd, md, ad, rd = self.kernels.data, self.memops.data, self.api.data, self.ranges.data
        for e in events:
            if e.ph != "X":
                if e.ph == "i" and e.name == MEMORY_EVENT and e.args is not None:
                    self._memory(e, e.args)
                    continue
                if e.ph == "M" and e.args is not None and isinstance(e.args.name, str):
                    pid, tid = _int_or_none(e.pid), _int_or_none(e.tid)
                    if pid is None:
                        continue
                    if e.name == "process_name":
                        self.processes[pid] = e.args.name
                    elif e.name == "thread_name" and tid is not None:
                        self.threads[(pid, tid)] = e.args.name
                continue
            cat = CATEGORY_ALIASES.get(e.cat, e.cat)
            ts, dur = e.ts, e.dur if e.dur is not None else 0
            if ts is None:
                continue
            a = e.args or _NO_ARGS
            if cat == "kernel":
                grid = _dims(a.grid)
                block = _dims(a.block)
                kd["start"].append(ts)
                kd["dur"].append(dur)
                kd["device_id"].append(a.device if a.device is not None else _int_or_none(e.pid))
                kd["context_id"].append(a.context)
                kd["stream_id"].append(a.stream if a.stream is not None else _int_or_none(e.tid))
                kd["correlation_id"].append(a.correlation)
                kd["external_id"].append(a.external_id)
                kd["name"].append(e.name)
                kd["grid_x"].append(grid[0])
                kd["grid_y"].append(grid[1])
                kd["grid_z"].append(grid[2])
                kd["block_x"].append(block[0])
                kd["block_y"].append(block[1])
                kd["block_z"].append(block[2])
                kd["registers_per_thread"].append(a.registers)
                kd["static_shared_memory"].append(a.shared_memory)
            elif cat in API_CATEGORIES:
                ad["start"].append(ts)
                ad["dur"].append(dur)
                ad["pid"].append(_int_or_none(e.pid))
                ad["tid"].append(_int_or_none(e.tid))
                ad["correlation_id"].append(a.correlation)
                ad["external_id"].append(a.external_id)
                ad["name"].append(e.name)
                ad["api"].append(API_CATEGORIES[cat])
            elif cat in RANGE_CATEGORIES:
                on_gpu = cat == "gpu_user_annotation"
                rd["start"].append(ts)
                rd["dur"].append(dur)
                rd["pid"].append(None if on_gpu else _int_or_none(e.pid))
                rd["tid"].append(None if on_gpu else _int_or_none(e.tid))
                rd["name"].append(e.name)
                rd["source"].append(cat)
                rd["device_id"].append(
                    (a.device if a.device is not None else _int_or_none(e.pid)) if on_gpu else None
                )
                rd["stream_id"].append(
                    (a.stream if a.stream is not None else _int_or_none(e.tid)) if on_gpu else None
                )
                rd["correlation_id"].append(a.correlation)
                rd["external_id"].append(a.external_id)
            elif cat in ("gpu_memcpy", "gpu_memset"):
                copy = src = dst = None
                if cat == "gpu_memcpy":
                    mm = _MEMCPY_NAME.match(e.name)
                    if mm:
                        copy = COPY_KIND_LABELS.get(mm.group(1), mm.group(1))
                        src, dst = mm.group(2), mm.group(3)
                else:
                    ms = _MEMSET_NAME.match(e.name)
                    dst = ms.group(1) if ms else None
                md["start"].append(ts)
                md["dur"].append(dur)
                md["device_id"].append(a.device if a.device is not None else _int_or_none(e.pid))
                md["context_id"].append(a.context)
                md["stream_id"].append(a.stream if a.stream is not None else _int_or_none(e.tid))
                md["correlation_id"].append(a.correlation)
                md["external_id"].append(a.external_id)
                md["kind"].append("memcpy" if cat == "gpu_memcpy" else "memset")
                md["copy_kind"].append(copy)
                md["bytes"].append(a.bytes)
                md["src_kind"].append(src)
                md["dst_kind"].append(dst)

    def _memory(self, e: _Event, a: _Args) -> None:
        size = _int_or_none(a.mem_bytes)
        if e.ts is None or size is None:
            return
        md = self.memory.data
        kind = _int_or_none(a.device_type)
        on_device = kind is not None and kind != 0
        md["timestamp"].append(e.ts)
        md["pid"].append(_int_or_none(e.pid))
        md["tid"].append(_int_or_none(e.tid))
        md["device_id"].append(_int_or_none(a.device_index) if on_device else None)
        md["device_type"].append(DEVICE_TYPES.get(kind, str(kind)) if kind is not None else None)
        md["kind"].append("alloc" if size >= 0 else "free")
        md["bytes"].append(abs(size))
        md["address"].append(_int_or_none(a.addr))
        md["total_allocated"].append(_int_or_none(a.total_allocated))
        md["total_reserved"].append(_int_or_none(a.total_reserved))

    def flush(self, sink: TableSink) -> None:
        if len(self.memory):
            sink.add("memory", self.memory.take())
        if len(self.api):
            api = _with_end(self.api.take())
            self.launch_corr.append(api.column("correlation_id").to_numpy(zero_copy_only=False))
            self.launch_pid.append(api.column("pid").to_numpy(zero_copy_only=False))
            self.launch_tid.append(api.column("tid").to_numpy(zero_copy_only=False))
            sink.add("api", api)
        if len(self.ranges):
            sink.add("ranges", _ranges_kind(_with_end(self.ranges.take())))
        if len(self.kernels):
            self.held_kernels.append(self._short_names(_with_end(self.kernels.take())))
        if len(self.memops):
            self.held_memops.append(_with_end(self.memops.take()))

    def _short_names(self, table: pa.Table) -> pa.Table:
        names = table.column("name").combine_chunks()
        codes: list[int] = []
        for full in names.dictionary.to_pylist():
            short = self.short_names.setdefault(full, short_name(full))
            codes.append(self.short_codes.setdefault(short, len(self.short_codes)))
        # Many full names share a short name: remap so the dictionary stays unique.
        remap = np.asarray(codes, dtype=np.int32)
        indices = names.indices.to_numpy(zero_copy_only=False)
        short_idx = pa.array(
            remap[indices.astype(np.int64)] if len(remap) else indices.astype(np.int32)
        )
        short = pa.DictionaryArray.from_arrays(
            short_idx, pa.array(list(self.short_codes), pa.string())
        )
        return table.append_column("short_name", short)

    def finish(self, sink: TableSink) -> None:
        """Kernels and memops last: their launching thread is known once all API rows are."""
        corr = np.concatenate(self.launch_corr) if self.launch_corr else np.empty(0)
        pid = np.concatenate(self.launch_pid) if self.launch_pid else np.empty(0)
        tid = np.concatenate(self.launch_tid) if self.launch_tid else np.empty(0)
        ok = (
            ~np.isnan(corr.astype(np.float64))
            if corr.dtype.kind == "f"
            else np.ones(len(corr), bool)
        )
        corr_i = np.nan_to_num(corr.astype(np.float64), nan=-1).astype(np.int64)[ok]
        order = np.argsort(corr_i, kind="stable")
        keys, pids, tids = corr_i[order], pid[ok][order], tid[ok][order]
        for name, held in (("kernels", self.held_kernels), ("memops", self.held_memops)):
            for table in held:
                sink.add(name, _attach_launch(table, keys, pids, tids))
            held.clear()


_NO_ARGS = _Args()


def _ranges_kind(table: pa.Table) -> pa.Table:
    kind = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(table.num_rows, np.int32)), pa.array(["push_pop"])
    )
    return table.append_column("kind", kind)


def _attach_launch(
    table: pa.Table, keys: np.ndarray, pids: np.ndarray, tids: np.ndarray
) -> pa.Table:
    corr_col = table.column("correlation_id")
    n = table.num_rows
    if len(keys) == 0 or n == 0:
        return table.append_column("pid", pa.nulls(n, pa.int64())).append_column(
            "tid", pa.nulls(n, pa.int64())
        )
    corr = corr_col.fill_null(-1).to_numpy()
    pos = np.searchsorted(keys, corr).clip(0, len(keys) - 1)
    found = (keys[pos] == corr) & (corr >= 0)
    pid = pa.array(pids[pos], pa.int64(), mask=~found | np.isnan(pids[pos].astype(np.float64)))
    tid = pa.array(tids[pos], pa.int64(), mask=~found | np.isnan(tids[pos].astype(np.float64)))
    return table.append_column("pid", pid).append_column("tid", tid)


def _metadata(path: Path, outer: dict[str, Any], state: _State) -> TraceMetadata:
    raw_dist = outer.get("distributedInfo")
    dist: dict[str, Any] = raw_dist if isinstance(raw_dist, dict) else {}
    meta = TraceMetadata(source="kineto", path=str(path), tool="pytorch-profiler")
    meta.schema_version = str(outer.get("schemaVersion", ""))
    meta.rank = _int_or_none(dist.get("rank"))
    meta.world_size = _int_or_none(dist.get("world_size"))
    meta.epoch_ns = _int_or_none(outer.get("baseTimeNanoseconds"))
    for key in (
        "cupti_version",
        "cuda_runtime_version",
        "cuda_driver_version",
        "displayTimeUnit",
        "traceName",
    ):
        if key in outer:
            meta.extra[key] = outer[key]
    if dist:
        meta.extra["distributedInfo"] = dist
    if isinstance(outer.get("host_name"), str):
        meta.hostname = outer["host_name"]
    meta.apply_agent_metadata(outer.get("nsight_lab"))
    return meta


def _devices(outer: dict[str, Any]) -> pa.Table:
    props = [p for p in outer.get("deviceProperties") or [] if isinstance(p, dict)]

    def cc(p: dict[str, Any]) -> str | None:
        if "computeMajor" in p:
            return f"{p['computeMajor']}.{p.get('computeMinor', 0)}"
        return None

    return pa.table(
        {
            "device_id": pa.array([_int_or_none(p.get("id")) for p in props], pa.int32()),
            "name": pa.array([p.get("name") for p in props], pa.string()).dictionary_encode(),
            "total_memory": pa.array(
                [_int_or_none(p.get("totalGlobalMem")) for p in props], pa.int64()
            ),
            "sm_count": pa.array([_int_or_none(p.get("numSms")) for p in props], pa.int32()),
            "compute_capability": pa.array([cc(p) for p in props], pa.string()).dictionary_encode(),
        }
    )


def read(path: Path, sink: TableSink) -> TraceMetadata:
    """Stream the Kineto trace at ``path`` into ``sink``; return its metadata."""
    state = _State()
    try:
        with _open(path) as fh:
            splitter = _Splitter(path, fh)
            for events in splitter.chunks():
                state.add(events)
                state.flush(sink)
    except OSError as exc:
        raise TraceFormatError(path, f"cannot read file: {exc}") from exc
    try:
        outer = msgspec.json.decode(splitter.outer)
    except msgspec.DecodeError as exc:
        raise TraceFormatError(path, f"malformed JSON outside traceEvents: {exc}") from exc
    if not isinstance(outer, dict):
        raise TraceFormatError(path, "top level is not a JSON object")
    state.finish(sink)
    sink.add("devices", _devices(outer))
    if state.processes:
        sink.add(
            "processes",
            pa.table(
                {
                    "pid": pa.array(list(state.processes), pa.int64()),
                    "name": pa.array(list(state.processes.values())).dictionary_encode(),
                }
            ),
        )
    if state.threads:
        sink.add(
            "threads",
            pa.table(
                {
                    "pid": pa.array([p for p, _ in state.threads], pa.int64()),
                    "tid": pa.array([t for _, t in state.threads], pa.int64()),
                    "name": pa.array(list(state.threads.values())).dictionary_encode(),
                }
            ),
        )
    return _metadata(path, outer, state)
