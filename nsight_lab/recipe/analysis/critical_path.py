"""The critical path of one rank: the chain of work that set how long it took.

HTA users find it by building a dependency graph of CPU ops, launches and kernels and
taking its longest path. The same path falls out of walking back from the last event
and asking, at each step, what it was waiting for, that is, which dependency was
satisfied last:

* a GPU operation waits for the previous operation on its stream to end and for the
  CPU to launch it; whichever came later is on the path (a ``stream`` or a ``launch``
  edge, with the GPU idle or the launch latency in between);
* a synchronising call (cudaDeviceSynchronize, a synchronous copy...) returns when
  the GPU work it waits for ends: the latest GPU operation of its process that ends
  inside the call is on the path (a ``sync`` edge);
* any other CPU call waits for the previous call on its thread; the time between them
  is host code (named by the innermost CPU op or annotation around it, if any).

The segments are contiguous and span the rank's first to last event, so their kinds
add up to the wall time: how much of it the GPU, the CPU, launches and waits own.
:func:`with_critical_path` adds the path to a trace's ranges so the Timeline widget
draws it on the lanes where it ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe.analysis import gpu_activity
from nsight_lab.recipe.cuda import is_sync_api, is_sync_copy_api, strip_api_version

#: What :func:`critical_path` reads: the recipe's ``columns``.
CRITICAL_PATH_READS = {
    "api": ("start", "end", "pid", "tid", "name", "correlation_id"),
    **gpu_activity.OPS_READS_WITH_LAUNCH,
    "ranges": ("start", "end", "pid", "tid", "name", "kind"),
}

PATH_COLUMNS = [
    "Segment",
    "Start (ns)",
    "End (ns)",
    "Duration (ns)",
    "Kind",
    "Name",
    "Edge",
    "PID",
    "TID",
    "Device ID",
    "Stream ID",
]
#: Kinds of segment: work on the GPU, on the CPU, and the waits between them.
GPU_KINDS = ("kernel", "memcpy", "memset")
CPU_KINDS = ("launch", "api", "cpu")
WAIT_KINDS = ("sync wait", "launch latency", "gpu idle")
OVERLAY_SOURCE = "critical_path"
Lane = tuple[int, int | None, int | None, int | None]
"""(pid, tid, device, stream): a CPU thread (device None) or a GPU stream (tid None)."""


@dataclass
class _Cpu:
    start: np.ndarray
    end: np.ndarray
    pid: np.ndarray
    tid: np.ndarray
    name: np.ndarray
    sync: np.ndarray
    launches: np.ndarray
    prev: np.ndarray  # index of the previous call on the same thread, -1 if none


@dataclass
class _Gpu:
    start: np.ndarray
    end: np.ndarray
    pid: np.ndarray
    device: np.ndarray
    stream: np.ndarray
    name: np.ndarray
    kind: np.ndarray
    launch: np.ndarray  # index of the launching CPU call, -1 if unknown
    prev: np.ndarray  # index of the previous operation on the same stream, -1 if none


def _column(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col.to_numpy(zero_copy_only=False)


def _previous_in_group(keys: list[np.ndarray], start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """For each row, the row before it in its group when ordered by (start, end); -1 first."""
    order = np.lexsort((end, start, *keys[::-1]))
    prev = np.full(len(start), -1, dtype=np.int64)
    same = np.ones(len(order) - 1, dtype=bool) if len(order) > 1 else np.zeros(0, dtype=bool)
    for key in keys:
        same &= key[order][1:] == key[order][:-1]
    prev[order[1:][same]] = order[:-1][same]
    return prev


def _cpu(tables: Mapping[str, pa.Table]) -> _Cpu:
    api = tables["api"]
    api = api.filter(pc.is_valid(api["start"]))
    names = strip_api_version(api["name"]).to_numpy(zero_copy_only=False)
    start = _column(api, "start").astype(np.int64)
    end = _column(api, "end").astype(np.int64)
    pid = np.nan_to_num(_column(api, "pid").astype(np.float64), nan=-1).astype(np.int64)
    tid = np.nan_to_num(_column(api, "tid").astype(np.float64), nan=-1).astype(np.int64)
    sync = np.array([bool(n) and (is_sync_api(n) or is_sync_copy_api(n)) for n in names])
    return _Cpu(
        start,
        end,
        pid,
        tid,
        names,
        sync,
        np.zeros(len(start), dtype=bool),
        _previous_in_group([pid, tid], start, end),
    )


def _gpu(tables: Mapping[str, pa.Table], cpu: _Cpu, api: pa.Table) -> _Gpu:
    ops = gpu_activity.gpu_ops(tables)
    launch = np.full(len(ops), -1, dtype=np.int64)
    if len(ops) and api.num_rows:
        corr = np.nan_to_num(_column(api, "correlation_id").astype(np.float64), nan=-1)
        index = {
            (int(p), int(c)): i
            for i, (p, c) in enumerate(zip(cpu.pid, corr, strict=True))
            if c >= 0
        }
        op_corr = np.nan_to_num(ops["correlation_id"].to_numpy(dtype=np.float64), nan=-1)
        launch = np.array(
            [index.get((int(p), int(c)), -1) for p, c in zip(ops["pid"], op_corr, strict=True)],
            dtype=np.int64,
        )
        cpu.launches[launch[launch >= 0]] = True
    start = ops["start"].to_numpy(dtype=np.int64)
    end = ops["end"].to_numpy(dtype=np.int64)
    pid = ops["pid"].to_numpy(dtype=np.int64)
    device = ops["device_id"].to_numpy(dtype=np.int64)
    stream = np.nan_to_num(ops["stream_id"].to_numpy(dtype=np.float64), nan=-1).astype(np.int64)
    return _Gpu(
        start,
        end,
        pid,
        device,
        stream,
        ops["name"].to_numpy(dtype=object),
        ops["kind"].to_numpy(dtype=object),
        launch,
        _previous_in_group([pid, device, stream], start, end),
    )


class _HostLabels:
    """CPU ops and annotations per thread, to name host time by what encloses it."""

    def __init__(self, ranges: pa.Table) -> None:
        self.by_thread: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if ranges.num_rows == 0:
            return
        df = pd.DataFrame(
            {c: _column(ranges, c) for c in ("pid", "tid", "start", "end", "name", "kind")}
        )
        df = df[(df["kind"] != "mark") & df["end"].notna() & df["pid"].notna() & df["tid"].notna()]
        # Longest first at equal starts, so the last enclosing one found is the innermost.
        df = df.sort_values(["pid", "tid", "start", "end"], ascending=[True, True, True, False])
        for key, grp in df.groupby(["pid", "tid"], sort=False):
            pid, tid = (int(k) for k in key)  # type: ignore[call-overload]
            self.by_thread[(pid, tid)] = (
                grp["start"].to_numpy(dtype=np.int64),
                grp["end"].to_numpy(dtype=np.int64),
                grp["name"].to_numpy(dtype=object),
            )

    def label(self, pid: int, tid: int, lo: int, hi: int) -> str:
        """The innermost range on (pid, tid) enclosing [lo, hi], or "host code"."""
        found = self.by_thread.get((pid, tid))
        if found is None:
            return "host code"
        starts, ends, names = found
        inside = np.flatnonzero((starts <= lo) & (ends >= hi))
        return str(names[inside[-1]]) if len(inside) else "host code"


def critical_path(tables: Mapping[str, pa.Table]) -> pd.DataFrame:
    """The critical path of one report as contiguous segments, earliest first."""
    api = tables["api"].filter(pc.is_valid(tables["api"]["start"]))
    cpu = _cpu(tables)
    gpu = _gpu(tables, cpu, api)
    labels = _HostLabels(tables["ranges"])
    if len(cpu.start) == 0 and len(gpu.start) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in PATH_COLUMNS})
    gpu_by_pid: dict[int, np.ndarray] = {}
    for pid in np.unique(gpu.pid):
        at = np.flatnonzero(gpu.pid == pid)
        gpu_by_pid[int(pid)] = at[np.argsort(gpu.end[at], kind="stable")]
    segments: list[dict[str, object]] = []

    def add(kind: str, lo: int, hi: int, name: str, edge: str, lane: Lane) -> None:
        if hi > lo:
            pid, tid, device, stream = lane
            segments.append(
                {
                    "Start (ns)": lo,
                    "End (ns)": hi,
                    "Kind": kind,
                    "Name": name,
                    "Edge": edge,
                    "PID": pid,
                    "TID": tid,
                    "Device ID": device,
                    "Stream ID": stream,
                }
            )

    last_cpu = int(np.argmax(cpu.end)) if len(cpu.end) else -1
    last_gpu = int(np.argmax(gpu.end)) if len(gpu.end) else -1
    on_gpu = last_gpu >= 0 and (last_cpu < 0 or gpu.end[last_gpu] >= cpu.end[last_cpu])
    node = last_gpu if on_gpu else last_cpu
    x = int(gpu.end[node] if on_gpu else cpu.end[node])
    edge = "end"
    # A call may be visited twice (a synchronous copy launches the copy it waits for),
    # but never twice at the same time: time only moves back, so the walk ends.
    seen: set[tuple[bool, int, int]] = set()
    while (on_gpu, node, x) not in seen:
        seen.add((on_gpu, node, x))
        if on_gpu:
            s = int(gpu.start[node])
            lane: Lane = (int(gpu.pid[node]), None, int(gpu.device[node]), int(gpu.stream[node]))
            add(str(gpu.kind[node]), s, x, str(gpu.name[node]), edge, lane)
            p, launch = int(gpu.prev[node]), int(gpu.launch[node])
            t_prev = int(gpu.end[p]) if p >= 0 and gpu.end[p] <= s else None
            t_launch = min(int(cpu.end[launch]), s) if launch >= 0 else None
            if t_launch is not None and (t_prev is None or t_launch >= t_prev):
                add("launch latency", t_launch, s, str(gpu.name[node]), "launch", lane)
                on_gpu, node, x, edge = False, launch, t_launch, "launch"
            elif t_prev is not None:
                add("gpu idle", t_prev, s, str(gpu.name[node]), "stream", lane)
                node, x, edge = p, t_prev, "stream"
            else:
                break
            continue
        s = int(cpu.start[node])
        lane = (int(cpu.pid[node]), int(cpu.tid[node]), None, None)
        if cpu.sync[node]:
            candidates = gpu_by_pid.get(int(cpu.pid[node]), np.empty(0, dtype=np.int64))
            ends = gpu.end[candidates] if len(candidates) else np.empty(0, dtype=np.int64)
            k = int(np.searchsorted(ends, x, side="right")) - 1
            if k >= 0 and ends[k] > s:
                op = int(candidates[k])
                add("sync wait", int(gpu.end[op]), x, str(cpu.name[node]), edge, lane)
                on_gpu, node, x, edge = True, op, int(gpu.end[op]), "sync"
                continue
        add("launch" if cpu.launches[node] else "api", s, x, str(cpu.name[node]), edge, lane)
        q = int(cpu.prev[node])
        while q >= 0 and cpu.end[q] > s:  # an enclosing call (a driver call inside a runtime one)
            q = int(cpu.prev[q])
        if q < 0:
            break
        gap_lo = int(cpu.end[q])
        label = labels.label(int(cpu.pid[node]), int(cpu.tid[node]), gap_lo, s)
        add("cpu", gap_lo, s, label, "thread", lane)
        node, x, edge = q, gap_lo, "thread"
    segments.reverse()
    df = pd.DataFrame(
        segments, columns=[c for c in PATH_COLUMNS if c not in ("Segment", "Duration (ns)")]
    )
    df.insert(0, "Segment", np.arange(len(df), dtype=np.int64))
    df.insert(3, "Duration (ns)", (df["End (ns)"] - df["Start (ns)"]).astype(np.int64))
    return df[PATH_COLUMNS]


def breakdown(path: pd.DataFrame) -> pd.DataFrame:
    """Time on the path by kind of segment, and its share of the path."""
    cols = ["Kind", "Time (ns)", "Time (%)", "Segments"]
    if path.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    agg = path.groupby("Kind")["Duration (ns)"].agg(["sum", "size"]).reset_index()
    agg.columns = ["Kind", "Time (ns)", "Segments"]
    agg["Time (%)"] = 100.0 * agg["Time (ns)"] / agg["Time (ns)"].sum()
    return agg.sort_values("Time (ns)", ascending=False)[cols].reset_index(drop=True)


def overlay_ranges(path: pa.Table) -> pa.Table:
    """The path as rows of the trace model's ``ranges`` table, on the lanes where it ran.

    CPU segments sit on their thread, GPU segments and waits for the GPU on their
    stream (ranges with a device and no process live on a GPU stream).
    """
    from nsight_lab.trace.model import conform

    rows = path.to_pylist()
    gpu = [r["Device ID"] is not None and r["TID"] is None for r in rows]
    return conform(
        "ranges",
        pa.table(
            {
                "start": pa.array([r["Start (ns)"] for r in rows], pa.int64()),
                "end": pa.array([r["End (ns)"] for r in rows], pa.int64()),
                "pid": pa.array(
                    [None if g else r["PID"] for r, g in zip(rows, gpu, strict=True)], pa.int64()
                ),
                "tid": pa.array([r["TID"] for r in rows], pa.int64()),
                "name": pa.array([f"critical path: {r['Kind']} {r['Name']}" for r in rows]),
                "domain": pa.array([OVERLAY_SOURCE] * len(rows)),
                "kind": pa.array(["push_pop"] * len(rows)),
                "source": pa.array([OVERLAY_SOURCE] * len(rows)),
                "device_id": pa.array(
                    [r["Device ID"] if g else None for r, g in zip(rows, gpu, strict=True)],
                    pa.int32(),
                ),
                "stream_id": pa.array(
                    [r["Stream ID"] if g else None for r, g in zip(rows, gpu, strict=True)],
                    pa.int64(),
                ),
            }
        ),
    )


def with_critical_path(trace: object, path: pa.Table) -> object:
    """A copy of ``trace`` whose ranges include the path (``Timeline.from_trace`` draws it).

    ``path`` is this recipe's ``critical_path`` table for that report (one ``Rank``).
    """
    from nsight_lab.trace.model import Trace

    assert isinstance(trace, Trace)
    ranges = pa.concat_tables([trace.tables["ranges"], overlay_ranges(path)]).unify_dictionaries()
    return Trace({**trace.tables, "ranges": ranges}, trace.metadata)
