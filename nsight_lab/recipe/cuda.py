"""CUDA naming conventions shared by the CUDA recipes, written once so they agree.

nsys stats prints API names without their ABI version suffix (``cudaMemcpy`` for
``cudaMemcpy_v3020``) and memory operations as ``[CUDA memcpy Host-to-Device]``;
users compare our tables with those, so every recipe uses these helpers.

The suffix rule is nsys's own: a name loses its last six characters only when they
are ``_v`` and four more (``cudaFree_v3020`` -> ``cudaFree``), so ``cuGetProcAddress_v2``
and ``cudaGetDriverEntryPoint_v11030`` print as they are.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.trace.schema import COPY_KIND_LABELS

_VERSION_SUFFIX = r"_v.{4}$"

SYNC_APIS = frozenset(
    {
        "cudaDeviceSynchronize",
        "cudaStreamSynchronize",
        "cudaEventSynchronize",
        "cudaThreadSynchronize",
        "cudaStreamQuery",
        "cudaEventQuery",
        "cuCtxSynchronize",
        "cuStreamSynchronize",
        "cuEventSynchronize",
    }
)
"""Calls whose purpose is to wait for the GPU."""

_SYNC_COPY = re.compile(r"^(cudaMemcpy|cudaMemset|cuMemcpy|cuMemset)(?!.*Async)")
"""Copy/set calls without ``Async``: synchronous with respect to the host."""


def strip_api_version(names: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """``cudaLaunchKernel_v7000`` -> ``cudaLaunchKernel``; names without ``_v????`` unchanged."""
    plain = names.cast(pa.string()) if pa.types.is_dictionary(names.type) else names
    return pc.replace_substring_regex(plain, _VERSION_SUFFIX, "")


def is_sync_api(name: str) -> bool:
    return name in SYNC_APIS or bool(_SYNC_COPY.match(name))


def operation_label(kind: str | None, copy_kind: str | None) -> str:
    """The nsys stats label of a memory operation."""
    if kind == "memset":
        return "[CUDA memset]"
    label = COPY_KIND_LABELS.get(copy_kind or "", copy_kind or "unknown")
    return f"[CUDA memcpy {label}]"


def operation_labels(memops: pa.Table) -> pa.Array:
    kinds = memops["kind"].cast(pa.string()).to_pylist()
    copies = memops["copy_kind"].cast(pa.string()).to_pylist()
    cache: dict[tuple[str | None, str | None], str] = {}
    out = []
    for pair in zip(kinds, copies, strict=True):
        label = cache.get(pair)
        if label is None:
            label = cache[pair] = operation_label(*pair)
        out.append(label)
    return pa.array(out, pa.string()).dictionary_encode()


def memcpy_with_api(memops: pa.Table, api: pa.Table) -> pa.Table:
    """Memory copies with the name of the API call that launched them (null if unknown)."""
    return memops_with_api(memops, api, "memcpy")


def memops_with_api(memops: pa.Table, api: pa.Table, kind: str) -> pa.Table:
    """Memory operations of ``kind`` (memcpy, memset) with their launching API's name.

    Joined on (pid, correlation_id) as nsys does; the API name loses its version suffix.
    """
    copies = memops.filter(pc.equal(memops["kind"].cast(pa.string()), kind))
    calls = api.select(["pid", "correlation_id", "name"]).filter(pc.is_valid(api["correlation_id"]))
    calls = pa.table(
        {
            "pid": calls["pid"],
            "correlation_id": calls["correlation_id"],
            "API Name": strip_api_version(calls["name"]),
        }
    )
    calls = calls.group_by(["pid", "correlation_id"], use_threads=False).aggregate(
        [("API Name", "first")]
    )
    calls = calls.rename_columns(["pid", "correlation_id", "API Name"])
    plain = pa.table(
        {
            name: (col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col)
            for name, col in zip(copies.column_names, copies.columns, strict=True)
        }
    )
    joined = plain.join(calls, ["pid", "correlation_id"], join_type="left outer")
    return joined.sort_by([("start", "ascending")])


_SYNC_MEMCPY = re.compile(r"^(cudaMemcpy|cuMemcpy)(?!.*Async)")
MB = 1_000_000
COPY_COLUMNS = (
    "Duration (ns)",
    "Start (ns)",
    "Src Kind",
    "Dst Kind",
    "Bytes (MB)",
    "PID",
    "Device ID",
    "Context ID",
    "Stream ID",
    "API Name",
)


COPY_READS = {
    "memops": (
        "start", "end", "kind", "src_kind", "dst_kind", "bytes",
        "pid", "device_id", "context_id", "stream_id", "correlation_id",
    ),
    "api": ("pid", "correlation_id", "name"),
}  # fmt: skip
"""What :func:`flag_copies` and :func:`flag_memsets` read: the ``columns`` of their recipes."""


def is_async_copy_api(name: str | None) -> bool:
    return name is not None and "Async" in name


def is_sync_copy_api(name: str | None) -> bool:
    return name is not None and bool(_SYNC_MEMCPY.match(name))


def copy_rows(joined: pa.Table) -> pa.Table:
    """Memcpy rows of :func:`memcpy_with_api` in the nsys memcpy-recipe column layout."""
    return pa.table(
        {
            "Duration (ns)": pc.subtract(joined["end"], joined["start"]),
            "Start (ns)": joined["start"],
            "Src Kind": pc.fill_null(joined["src_kind"], "Unknown"),
            "Dst Kind": pc.fill_null(joined["dst_kind"], "Unknown"),
            "Bytes (MB)": pc.divide(joined["bytes"].cast(pa.float64()), float(MB)),
            "PID": joined["pid"],
            "Device ID": joined["device_id"],
            "Context ID": joined["context_id"],
            "Stream ID": joined["stream_id"],
            "API Name": pc.fill_null(joined["API Name"], "unknown"),
        }
    )


def copy_kinds(rows: pa.Table, flagged: pa.Array) -> pa.Table:
    """All copies grouped by API name and memory kinds, with whether the group is flagged."""
    table = rows.append_column("Flagged", flagged)
    grouped = table.group_by(["API Name", "Src Kind", "Dst Kind", "Flagged"]).aggregate(
        [("Duration (ns)", "count"), ("Duration (ns)", "sum"), ("Bytes (MB)", "sum")]
    )
    return pa.table(
        {
            "API Name": grouped["API Name"],
            "Src Kind": grouped["Src Kind"],
            "Dst Kind": grouped["Dst Kind"],
            "Count": grouped["Duration (ns)_count"],
            "Total Time (ns)": grouped["Duration (ns)_sum"],
            "Total (MB)": grouped["Bytes (MB)_sum"],
            "Flagged": grouped["Flagged"],
        }
    )


def flag_copies(memops: pa.Table, api: pa.Table, kind: str) -> tuple[pa.Table, pa.Table]:
    """(flagged copy rows, all copies by kind) for ``kind`` "async_pageable" or "sync"."""
    rows = copy_rows(memcpy_with_api(memops, api))
    names = rows["API Name"].to_pylist()
    if kind == "async_pageable":
        pageable = pc.or_(
            pc.equal(rows["Src Kind"], "Pageable"), pc.equal(rows["Dst Kind"], "Pageable")
        )
        is_async = pa.array([is_async_copy_api(n) for n in names], pa.bool_())
        flagged = pc.and_(is_async, pageable)
    elif kind == "sync":
        flagged = pa.array([is_sync_copy_api(n) for n in names], pa.bool_())
    else:
        raise ValueError(f"unknown copy check {kind!r}")
    return rows.filter(flagged), copy_kinds(rows, flagged)


def merge_copy_parts(
    parts: list[tuple[int, str, pa.Table, pa.Table]],
    group: tuple[str, ...] = ("API Name", "Src Kind", "Dst Kind"),
) -> tuple[pa.Table, pa.Table]:
    """Join per-report (index, name, rows, kinds) into all rows (with Rank, Report) and summed kinds."""
    rows = []
    kinds = []
    for index, name, r, k in parts:
        r = r.append_column("Rank", pa.array([index] * r.num_rows, pa.int64()))
        rows.append(r.append_column("Report", pa.array([name] * r.num_rows, pa.string())))
        kinds.append(k)
    all_rows = pa.concat_tables(rows, promote_options="permissive")
    all_kinds = pa.concat_tables(kinds, promote_options="permissive")
    summed = all_kinds.group_by([*group, "Flagged"]).aggregate(
        [("Count", "sum"), ("Total Time (ns)", "sum"), ("Total (MB)", "sum")]
    )
    summed = summed.rename_columns(
        ["Count" if c == "Count_sum" else c.removesuffix("_sum") for c in summed.column_names]
    )
    summed = summed.select([*group, "Count", "Total Time (ns)", "Total (MB)", "Flagged"])
    return (
        all_rows.sort_by([("Rank", "ascending"), ("Start (ns)", "ascending")]),
        summed.sort_by([("Total Time (ns)", "descending"), ("API Name", "ascending")]),
    )


#: Memory kinds on which a memset is synchronous with the host whatever the call.
SYNC_MEMSET_KINDS = ("Pinned", "Managed")


def flag_memsets(memops: pa.Table, api: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(synchronous memset rows with a ``Reason``, all memsets by API and memory kind).

    A memset blocks the host when its API has no ``Async`` (``cudaMemset``), or when it
    sets pinned host memory or a Unified Memory region, the case nsys's rule flags.
    """
    joined = memops_with_api(memops, api, "memset")
    rows = pa.table(
        {
            "Duration (ns)": pc.subtract(joined["end"], joined["start"]),
            "Start (ns)": joined["start"],
            "Memory Kind": pc.fill_null(joined["dst_kind"], "Unknown"),
            "Bytes (MB)": pc.divide(joined["bytes"].cast(pa.float64()), float(MB)),
            "PID": joined["pid"],
            "Device ID": joined["device_id"],
            "Context ID": joined["context_id"],
            "Stream ID": joined["stream_id"],
            "API Name": pc.fill_null(joined["API Name"], "unknown"),
        }
    )
    reasons: list[str | None] = []
    for name, mem in zip(
        rows["API Name"].to_pylist(), rows["Memory Kind"].to_pylist(), strict=True
    ):
        if mem in SYNC_MEMSET_KINDS:
            reasons.append(f"{mem.lower()} memory")
        elif name != "unknown" and "Async" not in name:
            reasons.append("synchronous API")
        else:
            reasons.append(None)
    reason = pa.array(reasons, pa.string())
    flagged = pc.is_valid(reason)
    table = rows.append_column("Flagged", flagged)
    grouped = table.group_by(["API Name", "Memory Kind", "Flagged"]).aggregate(
        [("Duration (ns)", "count"), ("Duration (ns)", "sum"), ("Bytes (MB)", "sum")]
    )
    kinds = pa.table(
        {
            "API Name": grouped["API Name"],
            "Memory Kind": grouped["Memory Kind"],
            "Count": grouped["Duration (ns)_count"],
            "Total Time (ns)": grouped["Duration (ns)_sum"],
            "Total (MB)": grouped["Bytes (MB)_sum"],
            "Flagged": grouped["Flagged"],
        }
    )
    return rows.append_column("Reason", reason).filter(flagged), kinds
