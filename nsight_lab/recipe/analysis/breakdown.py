"""Where GPU time goes, HTA-style: compute, communication, memory, idle, and why idle.

HolisticTraceAnalysis users read three views of a rank's GPU time, and these are
their definitions over the trace model, so they hold for Kineto and nsys alike:

* temporal breakdown: every stream of a device merged; time any compute kernel runs
  is compute, time only NCCL kernels run is communication, time only memcpy/memset
  runs is memory, the rest of the device's span (first to last operation) is idle.
  The four add up to the span.
* idle time breakdown: each gap between consecutive operations on one stream is a
  *kernel wait* when shorter than the threshold (back-to-back launch overhead), a
  *host wait* when the next operation was launched only after the previous one
  finished (the GPU waited for the CPU), and *other* otherwise (queued, but held back
  by a dependency on another stream, an event or a synchronisation).
* communication/computation overlap: the share of communication time during which a
  compute kernel runs on the same device.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from nsight_lab.recipe.analysis import gpu_activity, intervals, nccl
from nsight_lab.recipe.analysis.projection import gpu_launches

COMPUTE, COMMUNICATION, MEMORY = "computation", "communication", "memory"
IDLE_CATEGORIES = ("host wait", "kernel wait", "other")
#: HTA's default for a gap that is launch overhead between back-to-back kernels.
DEFAULT_KERNEL_WAIT_NS = 30


def kernel_kinds(ops: pd.DataFrame) -> np.ndarray:
    """computation / communication / memory for each row of :func:`gpu_activity.gpu_ops`."""
    kinds = np.full(len(ops), COMPUTE, dtype=object)
    kinds[(ops["kind"] != "kernel").to_numpy()] = MEMORY
    kinds[((ops["kind"] == "kernel").to_numpy()) & nccl.is_nccl(ops["name"])] = COMMUNICATION
    return kinds


def _union(frame: pd.DataFrame) -> intervals.Union:
    return intervals.union(frame["start"].to_numpy(), frame["end"].to_numpy())


def _per_device(ops: pd.DataFrame) -> Iterator[tuple[object, object, pd.DataFrame, np.ndarray]]:
    """(pid, device, its operations, their kinds) for every process and device."""
    kinds = kernel_kinds(ops)
    for (pid, device), grp in ops.groupby(["pid", "device_id"], sort=True):
        yield pid, device, grp, kinds[ops.index.get_indexer(grp.index)]


TEMPORAL_COLUMNS = [
    "PID",
    "Device ID",
    "Compute (ns)",
    "Communication (ns)",
    "Memory (ns)",
    "Idle (ns)",
    "Span (ns)",
    "Compute (%)",
    "Communication (%)",
    "Memory (%)",
    "Idle (%)",
]


def temporal(ops: pd.DataFrame) -> pd.DataFrame:
    """Per process and device: compute, communication, memory and idle time of its span."""
    rows = []
    for pid, device, grp, k in _per_device(ops):
        compute = _union(grp[k == COMPUTE]).total
        with_comm = _union(grp[k != MEMORY]).total
        busy = _union(grp).total
        span = int(grp["end"].max() - grp["start"].min())
        parts = {
            "Compute (ns)": compute,
            "Communication (ns)": with_comm - compute,
            "Memory (ns)": busy - with_comm,
            "Idle (ns)": span - busy,
        }
        row: dict[str, object] = {"PID": pid, "Device ID": device, **parts, "Span (ns)": span}
        for name, value in parts.items():
            row[name.replace("(ns)", "(%)")] = 100.0 * value / span if span else 0.0
        rows.append(row)
    return pd.DataFrame(rows, columns=TEMPORAL_COLUMNS).astype(
        {c: "int64" for c in TEMPORAL_COLUMNS if c.endswith("(ns)") or c in ("PID", "Device ID")}
    )


INTERVAL_COLUMNS = [
    "PID",
    "Device ID",
    "Stream ID",
    "Start (ns)",
    "End (ns)",
    "Duration (ns)",
    "Category",
    "Before",
    "After",
]


def idle_intervals(tables: Mapping[str, pa.Table], threshold_ns: int) -> pd.DataFrame:
    """Every gap between consecutive operations of a stream, with its category."""
    ops = gpu_activity.gpu_ops(tables)
    if ops.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in INTERVAL_COLUMNS})
    launch = _launch_starts(tables)
    frames = []
    for key, grp in ops.groupby(["pid", "device_id", "stream_id"], sort=True):
        pid, device, stream = (int(k) for k in key)  # type: ignore[call-overload]
        g = grp.sort_values(["start", "end"], kind="stable")
        gaps = intervals.gaps(g["start"].to_numpy(), g["end"].to_numpy())
        if len(gaps.starts) == 0:
            continue
        names = g["name"].to_numpy()
        after_corr = g["correlation_id"].to_numpy()[gaps.after]
        launched = np.array(
            [launch.get((pid, int(c)), np.nan) if not pd.isna(c) else np.nan for c in after_corr],
            dtype=np.float64,
        )
        duration = gaps.durations
        category = np.where(
            duration < threshold_ns,
            "kernel wait",
            np.where(launched >= gaps.starts, "host wait", "other"),
        )
        frames.append(
            pd.DataFrame(
                {
                    "PID": pid,
                    "Device ID": device,
                    "Stream ID": stream,
                    "Start (ns)": gaps.starts,
                    "End (ns)": gaps.ends,
                    "Duration (ns)": duration,
                    "Category": category,
                    "Before": names[gaps.before],
                    "After": names[gaps.after],
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in INTERVAL_COLUMNS})
    return pd.concat(frames, ignore_index=True)[INTERVAL_COLUMNS]


def _launch_starts(tables: Mapping[str, pa.Table]) -> dict[tuple[int, int], int]:
    """(pid, correlation id) -> start of the API call that launched the operation."""
    api = tables.get("api")
    if api is None or api.num_rows == 0:
        return {}
    launches = gpu_launches(tables)
    return {
        (int(p), int(c)): int(s)
        for p, c, s in zip(
            launches["pid"], launches["correlation_id"], launches["api_start"], strict=True
        )
    }


def idle_summary(gaps: pd.DataFrame) -> pd.DataFrame:
    """Per stream and category: idle time, its share of the stream's idle time, and count."""
    cols = ["PID", "Device ID", "Stream ID", "Category", "Idle (ns)", "Idle (%)", "Intervals"]
    if gaps.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    keys = ["PID", "Device ID", "Stream ID"]
    agg = (
        gaps.groupby([*keys, "Category"], sort=True)["Duration (ns)"]
        .agg(["sum", "size"])
        .reset_index()
        .rename(columns={"sum": "Idle (ns)", "size": "Intervals"})
    )
    total = agg.groupby(keys)["Idle (ns)"].transform("sum")
    agg["Idle (%)"] = np.where(total > 0, 100.0 * agg["Idle (ns)"] / total, 0.0)
    return agg[cols]


OVERLAP_COLUMNS = [
    "PID",
    "Device ID",
    "Communication (ns)",
    "Overlapped (ns)",
    "Exposed (ns)",
    "Overlap (%)",
]


def comm_comp_overlap(ops: pd.DataFrame) -> pd.DataFrame:
    """Per process and device: communication time, and how much of it compute overlaps."""
    rows = []
    for pid, device, grp, k in _per_device(ops):
        comm = _union(grp[k == COMMUNICATION])
        comp = _union(grp[k == COMPUTE])
        either = intervals.union(np.r_[comm.starts, comp.starts], np.r_[comm.ends, comp.ends])
        overlapped = comm.total + comp.total - either.total
        rows.append(
            {
                "PID": pid,
                "Device ID": device,
                "Communication (ns)": comm.total,
                "Overlapped (ns)": overlapped,
                "Exposed (ns)": comm.total - overlapped,
                "Overlap (%)": 100.0 * overlapped / comm.total if comm.total else 0.0,
            }
        )
    return pd.DataFrame(rows, columns=OVERLAP_COLUMNS)
