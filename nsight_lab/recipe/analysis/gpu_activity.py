"""GPU operations of one report as one frame, and per-device busy/idle views of it.

Gaps, utilisation and heatmaps all look at the same thing: the time each device spends
running anything (kernels and memory operations) from the first operation to the last.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from nsight_lab.recipe.analysis import intervals

OPS_COLUMNS = ("start", "end", "pid", "device_id", "stream_id", "correlation_id", "name")


#: What :func:`gpu_ops` reads (``columns`` of recipes built on it); with ``LAUNCH`` also
#: each operation's correlation id, for recipes that follow it to its launch.
OPS_READS = {
    "kernels": ("start", "end", "pid", "device_id", "stream_id", "name"),
    "memops": ("start", "end", "pid", "device_id", "stream_id", "kind", "copy_kind"),
}
LAUNCH = ("correlation_id",)
OPS_READS_WITH_LAUNCH = {table: (*cols, *LAUNCH) for table, cols in OPS_READS.items()}


def _column(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:  # a recipe that did not ask for it
        return np.full(table.num_rows, np.nan)
    col = table.column(name)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col.to_numpy(zero_copy_only=False)


def gpu_ops(tables: Mapping[str, pa.Table], *, memops: bool = True) -> pd.DataFrame:
    """Kernels (and memcpy/memset unless ``memops`` is False), sorted by device and start.

    Memory operations are named like nsys does in its GPU trace ("[CUDA memcpy HtoD]").
    ``correlation_id`` (float, NaN when unknown) links each to its launching API call.
    """
    frames = []
    kernels = tables.get("kernels")
    if kernels is not None and kernels.num_rows:
        frames.append(
            pd.DataFrame({c: _column(kernels, c) for c in OPS_COLUMNS}).assign(kind="kernel")
        )
    mem = tables.get("memops")
    if memops and mem is not None and mem.num_rows:
        df = pd.DataFrame({c: _column(mem, c) for c in OPS_COLUMNS[:-1]})
        kind = pd.Series(_column(mem, "kind"), dtype=object).fillna("memop")
        copy = pd.Series(_column(mem, "copy_kind"), dtype=object).fillna("")
        df["name"] = ("[CUDA " + kind + np.where(copy != "", " " + copy, "") + "]").to_numpy()
        frames.append(df.assign(kind=kind.to_numpy()))
    if not frames:
        empty = {c: np.empty(0, np.int64) for c in OPS_COLUMNS[:-1]}
        return pd.DataFrame({**empty, "name": np.empty(0, object), "kind": np.empty(0, object)})
    ops = pd.concat(frames, ignore_index=True)
    ops = ops.dropna(subset=["start", "end"])
    ops["device_id"] = ops["device_id"].fillna(-1)
    ops["pid"] = ops["pid"].fillna(-1)
    ops = ops.astype({"start": "int64", "end": "int64", "pid": "int64", "device_id": "int64"})
    return ops.sort_values(["pid", "device_id", "start", "end"], kind="stable").reset_index(
        drop=True
    )


def device_gaps(ops: pd.DataFrame, min_gap: int) -> pd.DataFrame:
    """Idle stretches of at least ``min_gap`` ns on each (process, device), longest first."""
    rows = []
    for (pid, device), grp in ops.groupby(
        ["pid", "device_id"], sort=True
    ):  # per device, not per row
        g = intervals.gaps(grp["start"].to_numpy(), grp["end"].to_numpy(), min_gap)
        if len(g.starts) == 0:
            continue
        names = grp["name"].to_numpy()
        rows.append(
            pd.DataFrame(
                {
                    "Start (ns)": g.starts,
                    "End (ns)": g.ends,
                    "Duration (ns)": g.durations,
                    "PID": pid,
                    "Device ID": device,
                    "Before": names[g.before],
                    "After": names[g.after],
                }
            )
        )
    if not rows:
        return pd.DataFrame(
            {
                "Start (ns)": np.empty(0, np.int64),
                "End (ns)": np.empty(0, np.int64),
                "Duration (ns)": np.empty(0, np.int64),
                "PID": np.empty(0, np.int64),
                "Device ID": np.empty(0, np.int64),
                "Before": np.empty(0, object),
                "After": np.empty(0, object),
            }
        )
    out = pd.concat(rows, ignore_index=True)
    return out.sort_values(
        ["Duration (ns)", "Start (ns)"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def utilisation(
    ops: pd.DataFrame, *, chunks: int | None = None, interval: int | None = None
) -> pd.DataFrame:
    """Busy fraction of each (process, device) in windows over the report's GPU span.

    All devices share one set of windows (first operation to last operation of the
    whole report) so rows line up across devices in a table or heatmap.
    """
    columns = [
        "PID",
        "Device ID",
        "Window",
        "Start (ns)",
        "Duration (ns)",
        "Busy (ns)",
        "Utilization (%)",
    ]
    if ops.empty:
        return pd.DataFrame(
            {c: np.empty(0, np.float64 if c == "Utilization (%)" else np.int64) for c in columns}
        )
    edges = intervals.window_edges(
        int(ops["start"].min()), int(ops["end"].max()), chunks=chunks, interval=interval
    )
    widths = np.diff(edges)
    frames = []
    for (pid, device), grp in ops.groupby(["pid", "device_id"], sort=True):
        u = intervals.union(grp["start"].to_numpy(), grp["end"].to_numpy())
        busy = intervals.busy_per_bin(u, edges)
        pct = np.divide(100.0 * busy, widths, out=np.zeros(len(widths)), where=widths > 0)
        frames.append(
            pd.DataFrame(
                {
                    "PID": pid,
                    "Device ID": device,
                    "Window": np.arange(len(widths), dtype=np.int64),
                    "Start (ns)": edges[:-1],
                    "Duration (ns)": widths,
                    "Busy (ns)": busy,
                    "Utilization (%)": pct,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[columns]


def overlap_per_bin(
    a: intervals.Union, b: intervals.Union, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Busy time of ``a``, of ``b`` and of both at once in each bin between ``edges``.

    Both-at-once is inclusion-exclusion over the unions: |A and B| = |A| + |B| - |A or B|.
    """
    busy_a = intervals.busy_per_bin(a, edges)
    busy_b = intervals.busy_per_bin(b, edges)
    either = intervals.union(np.r_[a.starts, b.starts], np.r_[a.ends, b.ends])
    both = busy_a + busy_b - intervals.busy_per_bin(either, edges)
    return busy_a, busy_b, both


UTIL_MAP_COLUMNS = ("PID", "Device ID", "Bin", "Start (ns)", "Duration (ns)")


def two_kind_util_map(
    groups: list[tuple[int, int, intervals.Union, intervals.Union]],
    labels: tuple[str, str],
    bins: int,
) -> pd.DataFrame:
    """Per (pid, device) and bin: % of time kind A ran, kind B ran, and both at once.

    ``groups`` holds (pid, device, union A, union B); all share one set of bins over the
    report's whole span so rows line up in a rank x time heatmap.
    """
    a_label, b_label = labels
    cols = [*UTIL_MAP_COLUMNS, f"{a_label} (%)", f"{b_label} (%)", "Overlap (%)"]
    spans = [
        (int(u.starts.min()), int(u.ends.max()))
        for _, _, ua, ub in groups
        for u in (ua, ub)
        if len(u)
    ]
    if not spans:
        return pd.DataFrame({c: np.empty(0, np.float64 if "%" in c else np.int64) for c in cols})
    edges = intervals.window_edges(min(s for s, _ in spans), max(e for _, e in spans), chunks=bins)
    widths = np.diff(edges)
    frames = []
    for pid, device, ua, ub in groups:
        busy_a, busy_b, both = overlap_per_bin(ua, ub, edges)

        def pct(x: np.ndarray) -> np.ndarray:
            return np.divide(100.0 * x, widths, out=np.zeros(len(widths)), where=widths > 0)

        frames.append(
            pd.DataFrame(
                {
                    "PID": pid,
                    "Device ID": device,
                    "Bin": np.arange(len(widths), dtype=np.int64),
                    "Start (ns)": edges[:-1],
                    "Duration (ns)": widths,
                    f"{a_label} (%)": pct(busy_a),
                    f"{b_label} (%)": pct(busy_b),
                    "Overlap (%)": pct(both),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[cols]
