"""CUPTI activity records through NVIDIA's ``cupti-python``, for processes without PyTorch.

CuPy, Numba, JAX or hand-written CUDA get the same GPU timeline as torch users:
kernels, memcpy, memset, CUDA runtime (and optionally driver) calls, and NVTX ranges
when the process emits them. ``cupti-python`` is the host's own package, imported
only when this collector is chosen; the agent never installs it.

Records are written as they arrive, in the ``nsight-lab-cupti`` JSON Lines format
(docs/TRACE_MODEL.md), so memory stays at CUPTI's buffers however long the
collection: each completed buffer is turned into lines and freed. At stop every
buffer is flushed, then the file gets a summary line (records kept, dropped, and the
agent's report metadata: clock anchor, steps, overhead).

Without a CUDA driver or device the collector refuses to exist (``CollectorError``),
so ``--collector auto`` moves on and ``--collector cupti`` fails the start with the
reason, per agent; the host process never notices.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import IO, Any

from nsight_lab.agent.collectors.base import CollectorError, ProducedFile

log = logging.getLogger("nsight_lab.agent")

REPORT_FILENAME = "activity.cupti.jsonl"
FORMAT = "nsight-lab-cupti"
VERSION = 1
DEFAULT_BUFFER_MB = 8
DEFAULT_MAX_RECORDS = 5_000_000


def describe_devices(count: int) -> list[dict[str, Any]]:
    """Name, memory, SMs and compute capability of each device, from the driver API."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return []
    out: list[dict[str, Any]] = []
    for ordinal in range(count):
        device = ctypes.c_int(0)
        if driver.cuDeviceGet(ctypes.byref(device), ordinal) != 0:
            continue
        name = ctypes.create_string_buffer(256)
        driver.cuDeviceGetName(name, 256, device)
        memory = ctypes.c_size_t(0)
        driver.cuDeviceTotalMem_v2(ctypes.byref(memory), device)

        def attribute(code: int, device: ctypes.c_int = device) -> int | None:
            value = ctypes.c_int(0)
            ok = driver.cuDeviceGetAttribute(ctypes.byref(value), code, device) == 0
            return value.value if ok else None

        # CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16, COMPUTE_CAPABILITY_MAJOR/MINOR = 75/76
        major, minor = attribute(75), attribute(76)
        out.append(
            {
                "device_id": ordinal,
                "name": name.value.decode("utf-8", "replace"),
                "total_memory": memory.value,
                "sm_count": attribute(16),
                "compute_capability": f"{major}.{minor}" if major is not None else None,
            }
        )
    return out


def cuda_devices() -> int:
    """How many CUDA devices the driver reports; CollectorError saying why when none."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        raise CollectorError(
            f"no CUDA driver on this host (libcuda.so.1 cannot be loaded: {exc}); the cupti "
            "collector records GPU activity only; use --collector pyspy for CPU profiles"
        ) from exc
    status = driver.cuInit(0)
    if status != 0:
        raise CollectorError(
            f"the CUDA driver reports no usable device (cuInit returned {status}); "
            "the cupti collector needs a GPU"
        )
    count = ctypes.c_int(0)
    status = driver.cuDeviceGetCount(ctypes.byref(count))
    if status != 0 or count.value == 0:
        raise CollectorError("the CUDA driver sees no GPU; the cupti collector needs one")
    return count.value


def import_cupti() -> Any:
    try:
        from cupti import cupti
    except ImportError as exc:
        raise CollectorError(
            f"cupti-python is not installed in this process's environment ({exc}); "
            "`pip install cupti-python` there, or use --collector nsys or pyspy"
        ) from exc
    return cupti


def _get(record: Any, *names: str) -> Any:
    for name in names:
        value = getattr(record, name, None)
        if value is not None:
            return value
    return None


def _enum_name(value: Any) -> Any:
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else value


#: cupti-python memcpy kinds -> the short direction names the format uses.
_COPY_KINDS = {
    "HTOD": "HtoD", "DTOH": "DtoH", "DTOD": "DtoD", "HTOH": "HtoH", "PTOP": "PtoP",
    "HTOA": "HtoA", "ATOH": "AtoH", "ATOA": "AtoA", "ATOD": "AtoD", "DTOA": "DtoA",
}  # fmt: skip
_MEM_KINDS = {
    "PAGEABLE": "Pageable", "PINNED": "Pinned", "DEVICE": "Device", "ARRAY": "Array",
    "MANAGED": "Managed", "DEVICE_STATIC": "Device Static", "MANAGED_STATIC": "Managed Static",
}  # fmt: skip


def _label(value: Any, table: dict[str, str]) -> str | None:
    name = _enum_name(value)
    if name is None:
        return None
    key = str(name).upper().rsplit("_KIND_", 1)[-1].rsplit(".", 1)[-1]
    return table.get(key, str(name))


class CuptiCollector:
    name = "cupti"
    inline = True
    capabilities = ["cuda"]

    def __init__(self, process_name: str) -> None:
        self.devices = cuda_devices()
        self._cupti = import_cupti()
        self.process_name = process_name
        self._lock = threading.Lock()
        self._out: IO[str] | None = None
        self._path: Path | None = None
        self._kinds: list[Any] = []
        self._options: dict[str, Any] = {}
        self._metadata: dict[str, Any] = {}
        self._kept = 0
        self._dropped = 0
        self._registered = False
        self._open_markers: dict[Any, tuple[Any, Any, Any, Any]] = {}

    def configure(self, options: dict[str, Any]) -> None:
        self._options = dict(options)

    def set_report_metadata(self, metadata: dict[str, Any]) -> None:
        self._metadata = dict(metadata)

    # --- CUPTI callbacks (CUPTI's own threads) -----------------------------------------

    def _buffer_requested(self) -> tuple[int, int]:
        return int(self._options.get("buffer_mb", DEFAULT_BUFFER_MB)) * 1024 * 1024, 0

    def _buffer_completed(self, activities: list[Any]) -> None:
        try:
            lines = [line for line in map(self._line, activities) if line is not None]
            with self._lock:
                if self._out is None:
                    return
                room = int(self._options.get("max_records", DEFAULT_MAX_RECORDS)) - self._kept
                kept = lines[: max(0, room)]
                self._dropped += len(lines) - len(kept)
                self._kept += len(kept)
                if kept:
                    self._out.write("\n".join(kept) + "\n")
        except Exception:
            log.exception("cupti buffer could not be written")

    def _api_name(self, record: Any, domain: str) -> str:
        name = _get(record, "name")
        if isinstance(name, str):
            return name
        cbid = _get(record, "cbid")
        try:
            domains = self._cupti.CallbackDomain
            which = domains.RUNTIME_API if domain == "runtime" else domains.DRIVER_API
            return str(self._cupti.get_callback_name(which, cbid))
        except Exception:
            return f"{domain}_cbid_{cbid}"

    def _marker(self, record: Any) -> str | None:
        """NVTX push/pop and start/end markers arrive as two records; pair them by id."""
        flags = int(_get(record, "flags_", "flags") or 0)
        marker_id = _get(record, "id")
        stamp = _get(record, "timestamp")
        if flags & 2:  # CUPTI_ACTIVITY_FLAG_MARKER_START
            if len(self._open_markers) < 100_000:
                self._open_markers[marker_id] = (
                    stamp,
                    _get(record, "name"),
                    _get(record, "domain"),
                    _get(record, "object_id"),
                )
            return None
        if flags & 4:  # CUPTI_ACTIVITY_FLAG_MARKER_END
            opened = self._open_markers.pop(marker_id, None)
            if opened is None:
                return None
            start, name, domain, obj = opened
            row = {"kind": "range", "start": start, "end": stamp, "name": name,
                   "domain": domain or "", "pid": _get(obj, "process_id"),
                   "tid": _get(obj, "thread_id")}  # fmt: skip
            return json.dumps(row, separators=(",", ":"))
        return None

    def _line(self, record: Any) -> str | None:
        kind = str(_enum_name(_get(record, "kind"))).upper()
        if kind.endswith("MARKER"):
            return self._marker(record)
        base = {
            "start": _get(record, "start"),
            "end": _get(record, "end"),
            "correlation_id": _get(record, "correlation_id"),
        }
        row: dict[str, Any]
        if "KERNEL" in kind:
            row = {
                "kind": "kernel",
                **base,
                "device_id": _get(record, "device_id"),
                "context_id": _get(record, "context_id"),
                "stream_id": _get(record, "stream_id"),
                "name": _get(record, "name"),
                "grid": [_get(record, "grid_x"), _get(record, "grid_y"), _get(record, "grid_z")],
                "block": [
                    _get(record, "block_x"),
                    _get(record, "block_y"),
                    _get(record, "block_z"),
                ],
                "registers_per_thread": _get(record, "registers_per_thread"),
                "static_shared_memory": _get(record, "static_shared_memory"),
                "dynamic_shared_memory": _get(record, "dynamic_shared_memory"),
                "graph_node_id": _get(record, "graph_node_id"),
            }
        elif kind.endswith("MEMCPY") or kind.endswith("MEMCPY2"):
            row = {
                "kind": "memcpy",
                **base,
                "device_id": _get(record, "device_id"),
                "context_id": _get(record, "context_id"),
                "stream_id": _get(record, "stream_id"),
                "bytes": _get(record, "bytes"),
                "copy_kind": _label(_get(record, "copy_kind"), _COPY_KINDS),
                "src_kind": _label(_get(record, "src_kind"), _MEM_KINDS),
                "dst_kind": _label(_get(record, "dst_kind"), _MEM_KINDS),
            }
        elif kind.endswith("MEMSET"):
            row = {
                "kind": "memset",
                **base,
                "device_id": _get(record, "device_id"),
                "context_id": _get(record, "context_id"),
                "stream_id": _get(record, "stream_id"),
                "bytes": _get(record, "bytes"),
                "value": _get(record, "value"),
                "dst_kind": _label(_get(record, "memory_kind"), _MEM_KINDS),
            }
        elif kind.endswith("RUNTIME") or kind.endswith("DRIVER"):
            api = "runtime" if kind.endswith("RUNTIME") else "driver"
            row = {
                "kind": api,
                **base,
                "pid": _get(record, "process_id"),
                "tid": _get(record, "thread_id"),
                "name": self._api_name(record, api),
                "return_value": _get(record, "return_value"),
            }
        else:
            return None
        return json.dumps(row, separators=(",", ":"))

    # --- collector interface --------------------------------------------------------------

    def _enable(self) -> None:
        cupti = self._cupti
        kinds = cupti.ActivityKind
        wanted = ["CONCURRENT_KERNEL", "MEMCPY", "MEMSET", "RUNTIME", "MARKER"]
        if self._options.get("driver_api"):
            wanted.append("DRIVER")
        if not self._registered:
            cupti.activity_register_callbacks(self._buffer_requested, self._buffer_completed)
            self._registered = True
        self._kinds = []
        for name in wanted:
            kind = getattr(kinds, name, None)
            if kind is None:
                continue
            cupti.activity_enable(kind)
            self._kinds.append(kind)

    def start(self, collection_dir: Path, collection_index: int) -> None:
        if self._out is not None:
            raise CollectorError("cupti is already recording a collection")
        collection_dir.mkdir(parents=True, exist_ok=True)
        path = collection_dir / REPORT_FILENAME
        try:
            cupti_now = int(self._cupti.get_timestamp())
        except Exception:
            cupti_now = time.time_ns()
        wall_now = time.time_ns()
        header = {
            "format": FORMAT,
            "version": VERSION,
            # CUPTI timestamps + epoch_ns = UTC ns.
            "epoch_ns": wall_now - cupti_now,
            "pid": os.getpid(),
            "process_name": self.process_name,
            "cupti_version": _version(self._cupti),
            "devices": describe_devices(self.devices),
        }
        out = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        out.write(json.dumps(header) + "\n")
        with self._lock:
            self._out, self._path, self._kept, self._dropped = out, path, 0, 0
        try:
            self._enable()
        except Exception as exc:
            self._close_file()
            raise CollectorError(f"cupti could not enable activity recording: {exc!r}") from exc

    def halt(self) -> None:
        for kind in self._kinds:
            try:
                self._cupti.activity_disable(kind)
            except Exception:
                log.debug("cupti activity_disable failed", exc_info=True)
        self._kinds = []

    def stop(self) -> list[ProducedFile]:
        if self._out is None or self._path is None:
            raise CollectorError("cupti is not recording")
        self.halt()
        try:
            self._cupti.activity_flush_all(1)
        except Exception:
            log.warning("cupti flush failed; the last records may be missing", exc_info=True)
        path = self._path
        with self._lock:
            summary = {
                "kind": "summary",
                "records": self._kept,
                "dropped": self._dropped,
                "nsight_lab": self._metadata,
            }
            if self._out is not None:
                self._out.write(json.dumps(summary) + "\n")
        if self._dropped:
            log.warning("cupti: %d records over max_records were dropped", self._dropped)
        self._close_file()
        return [ProducedFile(path, "report")]

    def _close_file(self) -> None:
        with self._lock:
            out, self._out, self._path = self._out, None, None
        if out is not None:
            out.close()

    def close(self) -> None:
        self.halt()
        self._close_file()


def _version(cupti: Any) -> str:
    try:
        from importlib.metadata import version

        return version("cupti-python")
    except Exception:
        return ""
