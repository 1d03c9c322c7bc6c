"""Project CPU ranges (NVTX, annotations) onto the GPU work they launched.

A CPU range says when the host was inside a phase; the GPU may run that phase's work
much later. Projection answers "when did the GPU do this phase": a range encloses a
GPU operation (kernel, memcpy, memset) when the CUDA API call that launched it lies
wholly inside the range on the same thread, and the projected range runs from the
first enclosed operation's start to the last one's end. This follows the rule nsys
uses for its ``nvtx_gpu_proj_*`` recipes, so the output columns and their types match
nsys's ``trace.parquet``.

GPU operations launched from outside every range get one row per launching thread
with a null Name and Style (and null range fields), as nsys's own recipe output has:
the projection then accounts for all GPU work, and that row shows how much of it no
annotation covers.

Everything is vectorised: each range is paired with the API calls that start inside
it (``searchsorted`` over calls sorted per thread), which costs one row per
(range, enclosed call) pair, the same size as the answer's ``NumGPUOps`` total.
Nesting (level, parent, stack) is derived per thread from start/end order, assuming
ranges nest properly; crossing start/end ranges get an approximate level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe.stats import summary_table

# Kineto's CPU-side annotations and the project's own ranges count as NVTX-like;
# GPU-side annotations are already on the GPU and operator ranges are opt-in.
DEFAULT_SOURCES = ("nvtx", "annotation", "user_annotation")
RANGE_KINDS = {"push_pop": "PushPop", "start_end": "StartEnd"}

#: What :func:`project` reads: the ``columns`` of recipes built on it.
PROJECTION_READS = {
    "ranges": ("start", "end", "pid", "tid", "name", "domain", "kind", "source"),
    "api": ("start", "end", "pid", "tid", "correlation_id"),
    "kernels": ("start", "end", "pid", "correlation_id"),
    "memops": ("start", "end", "pid", "correlation_id"),
}

TRACE_SCHEMA = pa.schema(
    [
        ("Name", pa.string()),
        ("Projected Start", pa.int64()),
        ("Projected Duration", pa.int64()),
        ("Orig Start", pa.float64()),
        ("Orig Duration", pa.float64()),
        ("Style", pa.string()),
        ("PID", pa.int64()),
        ("TID", pa.int64()),
        ("NumGPUOps", pa.int64()),
        ("Lvl", pa.float64()),
        ("NumChild", pa.int64()),
        ("RangeId", pa.float64()),
        ("ParentId", pa.float64()),
        ("RangeStack", pa.string()),
    ]
)
"""nsys ``nvtx_gpu_proj_trace`` columns and Arrow types (``Rank`` is added on reduce)."""


def _frame(table: pa.Table, columns: list[str]) -> pd.DataFrame:
    cols = {}
    for name in columns:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols[name] = col.to_numpy(zero_copy_only=False)
    return pd.DataFrame(cols)


def gpu_launches(tables: Mapping[str, pa.Table]) -> pd.DataFrame:
    """GPU operations joined to the API call that launched them (pid + correlation id)."""
    parts = [
        _frame(tables[name], ["start", "end", "pid", "correlation_id"])
        for name in ("kernels", "memops")
        if name in tables and tables[name].num_rows
    ]
    ops = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            {c: np.empty(0, np.int64) for c in ("start", "end", "pid", "correlation_id")}
        )
    )
    api = _frame(tables["api"], ["start", "end", "pid", "tid", "correlation_id"])
    api = api.rename(columns={"start": "api_start", "end": "api_end"})
    ops = ops.dropna(subset=["correlation_id"])
    api = api.dropna(subset=["correlation_id"]).drop_duplicates(["pid", "correlation_id"])
    joined = ops.merge(api, on=["pid", "correlation_id"], how="inner")
    return joined.astype(
        {
            "start": "int64",
            "end": "int64",
            "pid": "int64",
            "tid": "int64",
            "api_start": "int64",
            "api_end": "int64",
        }
    )


def cpu_ranges(ranges: pa.Table, sources: tuple[str, ...] = DEFAULT_SOURCES) -> pd.DataFrame:
    """Completed CPU ranges eligible for projection, with their row number as range id."""
    df = _frame(ranges, ["start", "end", "pid", "tid", "name", "domain", "kind", "source"])
    df["range_id"] = np.arange(len(df), dtype=np.int64)
    keep = df["kind"].isin(list(RANGE_KINDS)) & df["source"].isin(list(sources))
    keep &= df["start"].notna() & df["end"].notna()
    df = df[keep].copy()
    df = df[df["end"] >= df["start"]]
    domain = df["domain"].fillna("").astype(str)
    text = df["name"].fillna("").astype(str)
    df["Name"] = np.where(domain != "", domain + ":" + text, text)
    df["Style"] = df["kind"].map(RANGE_KINDS)
    return df.astype({"start": "int64", "end": "int64", "pid": "int64", "tid": "int64"})


def hierarchy(df: pd.DataFrame) -> pd.DataFrame:
    """Level, parent id and ':'-joined id stack of each range within its thread.

    Sorted by (thread, start, longer first), a range's depth is how many earlier
    ranges of the thread are still open at its start; its parent is the latest
    earlier range one level up. Levels are few, so the loop runs per level, not per row.
    """
    df = df.sort_values(
        ["pid", "tid", "start", "end", "range_id"], ascending=[True, True, True, False, True]
    )
    n = len(df)
    out = pd.DataFrame(index=df.index)
    if n == 0:
        out["level"] = np.empty(0, np.int64)
        out["parent"] = np.empty(0, np.int64)
        out["stack"] = np.empty(0, object)
        return out
    thread = df.groupby(["pid", "tid"], sort=False).ngroup().to_numpy()
    starts = df["start"].to_numpy()
    ends = df["end"].to_numpy()
    ids = df["range_id"].to_numpy()
    pos = np.arange(n)
    # Composite keys keep each thread's times in its own block of the number line.
    span = int(max(ends.max(), starts.max()) - min(starts.min(), 0)) + 2
    base = thread.astype(np.int64) * span - int(min(starts.min(), 0))
    k_start = base + starts
    k_end = np.sort(base + ends)
    thread_first = np.searchsorted(thread, thread, side="left")
    started_before = pos - thread_first
    # Ranges of the same thread already closed at (or before) this start.
    closed = np.searchsorted(k_end, k_start, side="right") - np.searchsorted(
        k_end, base, side="left"
    )
    closed -= ends <= starts  # a zero-length range is not closed before itself
    level = np.maximum(started_before - closed, 0).astype(np.int64)
    # A deeper range must sit right under an open one; clamp so every level has a parent.
    level = np.minimum(
        level, np.concatenate(([0], level[:-1] + 1)) * (thread == np.roll(thread, 1))
    )
    parent_pos = np.full(n, -1, dtype=np.int64)
    for lvl in range(1, int(level.max()) + 1):
        children = np.flatnonzero(level == lvl)
        candidates = np.flatnonzero(level == lvl - 1)
        idx = np.searchsorted(candidates, children, side="left") - 1
        parent_pos[children] = candidates[idx]
    stack = np.empty(n, dtype=object)
    stack[:] = [f":{i}" for i in ids]  # one string per range; the only row-sized Python step
    for lvl in range(1, int(level.max()) + 1):
        children = np.flatnonzero(level == lvl)
        stack[children] = stack[parent_pos[children]] + stack[children]
    out["level"] = level
    out["parent"] = np.where(parent_pos >= 0, ids[np.maximum(parent_pos, 0)], -1)
    out["stack"] = stack
    return out


RangeSelector = Callable[[pd.DataFrame], "np.ndarray | pd.Series"]
"""Picks the ranges to project from :func:`cpu_ranges`' frame (a boolean mask)."""


def project(
    tables: Mapping[str, pa.Table],
    sources: tuple[str, ...] = DEFAULT_SOURCES,
    *,
    select: RangeSelector | None = None,
    unranged: bool = True,
) -> pa.Table:
    """The nsys ``nvtx_gpu_proj_trace`` table for one report (without ``Rank``).

    ``select`` narrows the ranges (NCCL's, one name's); ``unranged`` adds the rows of
    GPU work launched outside every projected range (per launching thread).
    """
    ranges = cpu_ranges(tables["ranges"], sources)
    if select is not None and not ranges.empty:
        ranges = ranges[np.asarray(select(ranges), dtype=bool)]
    ops = gpu_launches(tables)
    if ranges.empty or ops.empty:
        return TRACE_SCHEMA.empty_table()
    ranges = ranges.join(hierarchy(ranges))
    ops = ops.sort_values(["pid", "tid", "api_start"], kind="stable").reset_index(drop=True)
    # Key (thread, time) so one searchsorted finds each range's calls on its own thread.
    threads = pd.concat([ops[["pid", "tid"]], ranges[["pid", "tid"]]]).drop_duplicates()
    threads["thread"] = np.arange(len(threads), dtype=np.int64)
    ops = ops.merge(threads, on=["pid", "tid"], how="left")
    ranges = ranges.merge(threads, on=["pid", "tid"], how="left")
    lo_t = min(int(ops["api_start"].min()), int(ranges["start"].min()))
    hi_t = max(int(ops["api_end"].max()), int(ranges["end"].max()))
    span = hi_t - lo_t + 2
    op_key = ops["thread"].to_numpy() * span + (ops["api_start"].to_numpy() - lo_t)
    order = np.argsort(op_key, kind="stable")
    ops = ops.iloc[order].reset_index(drop=True)
    op_key = op_key[order]
    r_base = ranges["thread"].to_numpy() * span - lo_t
    first = np.searchsorted(op_key, r_base + ranges["start"].to_numpy(), side="left")
    last = np.searchsorted(op_key, r_base + ranges["end"].to_numpy(), side="right")
    counts = last - first
    pair_range = np.repeat(np.arange(len(ranges)), counts)
    pair_op = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    inside = ops["api_end"].to_numpy()[pair_op] <= ranges["end"].to_numpy()[pair_range]
    pairs = pd.DataFrame(
        {
            "r": pair_range[inside],
            "start": ops["start"].to_numpy()[pair_op[inside]],
            "end": ops["end"].to_numpy()[pair_op[inside]],
            "corr": ops["correlation_id"].to_numpy()[pair_op[inside]],
        }
    )
    covered = np.zeros(len(ops), dtype=bool)
    covered[pair_op[inside]] = True
    outside = _unranged_rows(ops[~covered]) if unranged else None
    if pairs.empty:
        return outside if outside is not None else TRACE_SCHEMA.empty_table()
    agg = pairs.groupby("r").agg(
        proj_start=("start", "min"), proj_end=("end", "max"), n_ops=("corr", "nunique")
    )
    proj = ranges.iloc[agg.index.to_numpy()].copy()
    proj["proj_start"] = agg["proj_start"].to_numpy()
    proj["proj_end"] = agg["proj_end"].to_numpy()
    proj["n_ops"] = agg["n_ops"].to_numpy()
    # Children are counted among projected ranges only, as a reader of the trace sees them.
    child_counts = proj.loc[proj["parent"] >= 0, "parent"].value_counts()
    proj["n_child"] = proj["range_id"].map(child_counts).fillna(0).astype(np.int64)
    proj = proj.sort_values(
        ["proj_start", "proj_end", "range_id"], ascending=[True, False, True], kind="stable"
    )
    parent = proj["parent"].to_numpy()
    table = pa.table(
        {
            "Name": pa.array(proj["Name"].to_numpy(), pa.string()),
            "Projected Start": pa.array(proj["proj_start"].to_numpy(), pa.int64()),
            "Projected Duration": pa.array(
                (proj["proj_end"] - proj["proj_start"]).to_numpy(), pa.int64()
            ),
            "Orig Start": pa.array(proj["start"].to_numpy(np.float64), pa.float64()),
            "Orig Duration": pa.array(
                (proj["end"] - proj["start"]).to_numpy(np.float64), pa.float64()
            ),
            "Style": pa.array(proj["Style"].to_numpy(), pa.string()),
            "PID": pa.array(proj["pid"].to_numpy(), pa.int64()),
            "TID": pa.array(proj["tid"].to_numpy(), pa.int64()),
            "NumGPUOps": pa.array(proj["n_ops"].to_numpy(), pa.int64()),
            "Lvl": pa.array(proj["level"].to_numpy(np.float64), pa.float64()),
            "NumChild": pa.array(proj["n_child"].to_numpy(), pa.int64()),
            "RangeId": pa.array(proj["range_id"].to_numpy(np.float64), pa.float64()),
            "ParentId": pa.array(
                np.where(parent >= 0, parent.astype(np.float64), np.nan),
                pa.float64(),
                from_pandas=True,
            ),
            "RangeStack": pa.array(proj["stack"].to_numpy(), pa.string()),
        },
        schema=TRACE_SCHEMA,
    )
    if outside is None or outside.num_rows == 0:
        return table
    both = pa.concat_tables([table, outside])
    order = np.lexsort(
        (
            -both["Projected Duration"].to_numpy(),
            both["Projected Start"].to_numpy(),
        )
    )
    return both.take(pa.array(order))


def _unranged_rows(ops: pd.DataFrame) -> pa.Table:
    """One row per launching thread for GPU work no projected range encloses."""
    if ops.empty:
        return TRACE_SCHEMA.empty_table()
    agg = (
        ops.groupby(["pid", "tid"], sort=True)
        .agg(start=("start", "min"), end=("end", "max"), n=("correlation_id", "nunique"))
        .reset_index()
    )
    n = len(agg)
    nulls = pa.nulls(n, pa.float64())
    return pa.table(
        {
            "Name": pa.nulls(n, pa.string()),
            "Projected Start": pa.array(agg["start"].to_numpy(), pa.int64()),
            "Projected Duration": pa.array((agg["end"] - agg["start"]).to_numpy(), pa.int64()),
            "Orig Start": nulls,
            "Orig Duration": nulls,
            "Style": pa.nulls(n, pa.string()),
            "PID": pa.array(agg["pid"].to_numpy(), pa.int64()),
            "TID": pa.array(agg["tid"].to_numpy(), pa.int64()),
            "NumGPUOps": pa.array(agg["n"].to_numpy(), pa.int64()),
            "Lvl": nulls,
            "NumChild": pa.array(np.zeros(n, np.int64), pa.int64()),
            "RangeId": nulls,
            "ParentId": nulls,
            "RangeStack": pa.nulls(n, pa.string()),
        },
        schema=TRACE_SCHEMA,
    )


#: nsys ``nvtx_gpu_proj_sum`` columns.
SUMMARY_COLUMNS = [
    "Time (%)",
    "Range",
    "Style",
    "Total Proj Time (ns)",
    "Total Range Time (ns)",
    "Range Instances",
    "Proj Avg (ns)",
    "Proj Med (ns)",
    "Proj Min (ns)",
    "Proj Max (ns)",
    "Proj StdDev (ns)",
    "Total GPU Ops",
    "Avg GPU Ops",
    "Avg Range Lvl",
    "Avg Num Child",
]
SUMMARY_SCHEMA = pa.schema(
    [
        (
            c,
            pa.string()
            if c in ("Range", "Style")
            else pa.int64()
            if c.startswith("Total")
            or c == "Range Instances"
            or c in ("Proj Min (ns)", "Proj Max (ns)")
            else pa.float64(),
        )
        for c in SUMMARY_COLUMNS
    ]
)
UNRANGED = "\x00outside every range"
SUMMARY_INPUT = [
    "Name",
    "Style",
    "Projected Duration",
    "Orig Duration",
    "NumGPUOps",
    "Lvl",
    "NumChild",
]


def summarise(projected: pa.Table) -> pa.Table:
    """The ``nvtx_gpu_proj_sum`` table of projected rows from any number of reports.

    Rows with a null Name (GPU work outside every range) form one group with a null
    Range and Style.
    """
    if projected.num_rows == 0:
        return pa.Table.from_pandas(
            pd.DataFrame(columns=SUMMARY_COLUMNS), preserve_index=False
        ).cast(SUMMARY_SCHEMA)
    projected = projected.combine_chunks()
    names = pc.fill_null(projected.column("Name"), UNRANGED)
    projected = projected.set_column(projected.column_names.index("Name"), "Name", names)
    stats = summary_table(names, projected.column("Projected Duration"), key_column="Range")
    extra = (
        projected.select(["Name", "Style", "Orig Duration", "NumGPUOps", "Lvl", "NumChild"])
        .to_pandas()
        .groupby("Name", sort=False)
        .agg(
            style=("Style", lambda s: "/".join(sorted(set(s.dropna())))),
            range_time=("Orig Duration", "sum"),
            ops=("NumGPUOps", "sum"),
            avg_ops=("NumGPUOps", "mean"),
            lvl=("Lvl", "mean"),
            child=("NumChild", "mean"),
        )
    )
    df = stats.to_pandas().join(extra, on="Range")
    outside = df["Range"] == UNRANGED
    df["Range"] = df["Range"].where(~outside, None)
    df["style"] = df["style"].where(~outside, None)
    out = pd.DataFrame(
        {
            "Time (%)": df["Time (%)"],
            "Range": df["Range"],
            "Style": df["style"],
            "Total Proj Time (ns)": df["Total Time (ns)"],
            "Total Range Time (ns)": df["range_time"].round().astype("int64"),
            "Range Instances": df["Instances"],
            "Proj Avg (ns)": df["Avg (ns)"],
            "Proj Med (ns)": df["Med (ns)"],
            "Proj Min (ns)": df["Min (ns)"],
            "Proj Max (ns)": df["Max (ns)"],
            "Proj StdDev (ns)": df["StdDev (ns)"],
            "Total GPU Ops": df["ops"].astype("int64"),
            "Avg GPU Ops": df["avg_ops"].astype("float64"),
            "Avg Range Lvl": df["lvl"].astype("float64"),
            "Avg Num Child": df["child"].astype("float64"),
        }
    )
    return pa.Table.from_pandas(out[SUMMARY_COLUMNS], preserve_index=False).cast(SUMMARY_SCHEMA)


def summarise_parts(tables: list[pa.Table]) -> pa.Table:
    """:func:`summarise` over the projected rows of several reports (``SUMMARY_INPUT`` columns)."""
    projected = (
        pa.concat_tables(tables) if tables else TRACE_SCHEMA.empty_table().select(SUMMARY_INPUT)
    )
    return summarise(projected)
