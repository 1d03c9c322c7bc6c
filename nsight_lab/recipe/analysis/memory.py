"""Memory in use over time, from allocation and free events.

Sources differ in what they record: PyTorch's profiler writes, with each event, the
bytes its caching allocator has allocated and reserved on that device; nsys writes
only the event. So memory in use is the allocator's own figure when present and
otherwise the running sum of allocations minus frees since the capture started
(memory allocated before it is not seen: the curve starts at 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from nsight_lab.recipe.analysis import intervals

NO_MEMORY = (
    "no memory allocation events in this report: profile with nsys profile "
    "--cuda-memory-usage=true, or torch.profiler.profile(profile_memory=True)"
)

#: What :func:`usage_trace` reads: the ``columns`` of recipes built on it.
MEMORY_READS = {
    "memory": (
        "timestamp", "pid", "device_id", "device_type", "kind", "bytes", "address",
        "memory_kind", "total_allocated", "total_reserved",
    )
}  # fmt: skip

TRACE_COLUMNS = [
    "Timestamp (ns)",
    "PID",
    "Device ID",
    "Device Type",
    "Kind",
    "Bytes",
    "Address",
    "Memory Kind",
    "Used (bytes)",
    "Reserved (bytes)",
]
PEAK_COLUMNS = [
    "PID",
    "Device ID",
    "Device Type",
    "Peak Used (bytes)",
    "Peak At (ns)",
    "Allocations",
    "Frees",
    "Allocated (bytes)",
    "Freed (bytes)",
    "Final Used (bytes)",
]
GROUP = ["PID", "Device ID", "Device Type"]


def _plain(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col.to_numpy(zero_copy_only=False)


def usage_trace(memory: pa.Table) -> pd.DataFrame:
    """Every event with the memory in use on its device right after it."""
    if memory.num_rows == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in TRACE_COLUMNS})
    df = pd.DataFrame(
        {
            "Timestamp (ns)": _plain(memory, "timestamp"),
            "PID": _plain(memory, "pid"),
            "Device ID": _plain(memory, "device_id"),
            "Device Type": _plain(memory, "device_type"),
            "Kind": _plain(memory, "kind"),
            "Bytes": _plain(memory, "bytes"),
            "Address": _plain(memory, "address"),
            "Memory Kind": _plain(memory, "memory_kind"),
            "total_allocated": _plain(memory, "total_allocated"),
            "Reserved (bytes)": _plain(memory, "total_reserved"),
        }
    )
    df["PID"] = pd.to_numeric(df["PID"]).fillna(-1).astype(np.int64)
    df["Device ID"] = pd.to_numeric(df["Device ID"]).fillna(-1).astype(np.int64)
    df["Device Type"] = df["Device Type"].fillna("cuda")
    df = df.sort_values([*GROUP, "Timestamp (ns)"], kind="stable").reset_index(drop=True)
    signed = np.where(df["Kind"].to_numpy() == "free", -1, 1) * df["Bytes"].fillna(0).to_numpy()
    running = pd.Series(signed, index=df.index).groupby([df[c] for c in GROUP]).cumsum()
    recorded = pd.to_numeric(df["total_allocated"])
    df["Used (bytes)"] = recorded.where(recorded.notna(), running).astype(np.int64)
    return df[TRACE_COLUMNS]


def peaks(trace: pd.DataFrame) -> pd.DataFrame:
    """Per process and device: the peak in use and when, event counts, what is left at the end."""
    if trace.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in PEAK_COLUMNS})
    rows = []
    for key, grp in trace.groupby(GROUP, sort=True):
        used = grp["Used (bytes)"].to_numpy()
        at = int(np.argmax(used))
        alloc = grp["Kind"] == "alloc"
        rows.append(
            {
                **dict(zip(GROUP, key, strict=True)),
                "Peak Used (bytes)": int(used[at]),
                "Peak At (ns)": int(grp["Timestamp (ns)"].iloc[at]),
                "Allocations": int(alloc.sum()),
                "Frees": int((~alloc).sum()),
                "Allocated (bytes)": int(grp.loc[alloc, "Bytes"].sum()),
                "Freed (bytes)": int(grp.loc[~alloc, "Bytes"].sum()),
                "Final Used (bytes)": int(used[-1]),
            }
        )
    return pd.DataFrame(rows, columns=PEAK_COLUMNS)


TIMELINE_COLUMNS = [
    "PID",
    "Device ID",
    "Device Type",
    "Bin",
    "Start (ns)",
    "Duration (ns)",
    "Max Used (bytes)",
    "End Used (bytes)",
    "Allocated (bytes)",
    "Freed (bytes)",
]


def timeline(trace: pd.DataFrame, bins: int) -> pd.DataFrame:
    """Memory in use per time bin: the highest it reached, where it ended, what moved.

    A bin with no event keeps the level of the last event before it.
    """
    if trace.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in TIMELINE_COLUMNS})
    times = trace["Timestamp (ns)"].to_numpy()
    edges = intervals.window_edges(int(times.min()), int(times.max()), chunks=bins)
    frames = []
    for key, grp in trace.groupby(GROUP, sort=True):
        t = grp["Timestamp (ns)"].to_numpy()
        used = grp["Used (bytes)"].to_numpy()
        # Bin of each event; the last edge is inclusive so the final event has a bin.
        which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, bins - 1)
        before = np.searchsorted(t, edges[:-1], side="left") - 1
        level = np.where(before >= 0, used[np.maximum(before, 0)], 0)
        max_used = level.copy()
        np.maximum.at(max_used, which, used)
        last = np.searchsorted(t, edges[1:], side="right") - 1
        last[-1] = len(t) - 1
        end_used = np.where(last >= 0, used[np.maximum(last, 0)], 0)
        alloc = grp["Kind"].to_numpy() == "alloc"
        size = grp["Bytes"].fillna(0).to_numpy()
        allocated = np.bincount(which, weights=size * alloc, minlength=bins).astype(np.int64)
        freed = np.bincount(which, weights=size * ~alloc, minlength=bins).astype(np.int64)
        frames.append(
            pd.DataFrame(
                {
                    **{c: v for c, v in zip(GROUP, key, strict=True)},
                    "Bin": np.arange(bins, dtype=np.int64),
                    "Start (ns)": edges[:-1],
                    "Duration (ns)": np.diff(edges),
                    "Max Used (bytes)": max_used.astype(np.int64),
                    "End Used (bytes)": end_used.astype(np.int64),
                    "Allocated (bytes)": allocated,
                    "Freed (bytes)": freed,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[TIMELINE_COLUMNS]
