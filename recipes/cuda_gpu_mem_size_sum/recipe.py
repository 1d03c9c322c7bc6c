"""cuda_gpu_mem_size_sum: bytes moved or set by memory operations, by operation, in MB.

MB here is 1,000,000 bytes, as in nsys stats. Statistics (median, sample standard
deviation) are computed on the byte counts, then scaled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.cuda import operation_labels
from nsight_lab.recipe.stats import key_durations, reduce_summaries

MB = 1_000_000
COLUMNS = (
    "Total (MB)",
    "Count",
    "Avg (MB)",
    "Med (MB)",
    "Min (MB)",
    "Max (MB)",
    "StdDev (MB)",
    "Operation",
)

SPEC = RecipeSpec(
    name="cuda_gpu_mem_size_sum",
    display_name="CUDA GPU MemOps Summary (by Size)",
    description=(
        "Total, count, average, median, min, max and standard deviation of the bytes of "
        "memory operations (memcpy, memset), in MB, grouped by operation."
    ),
    tables=("memops",),
    columns={"memops": ("kind", "copy_kind", "bytes")},
    notebook="stats.ipynb",
    question="How many bytes do memory copies and sets move, by kind?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_gpu_mem_size_sum",
    aliases=("gpumemsizesum",),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    memops = ctx.trace.tables["memops"]
    return {"sizes": key_durations(operation_labels(memops), pc.fill_null(memops["bytes"], 0))}


def _in_mb(table: pa.Table) -> pa.Table:
    def mb(col: str) -> pa.Array:
        return pc.divide(table[col].cast(pa.float64()), float(MB))

    cols = {
        "Total (MB)": mb("Total Time (ns)"),
        "Count": table["Instances"],
        "Avg (MB)": mb("Avg (ns)"),
        "Med (MB)": mb("Med (ns)"),
        "Min (MB)": mb("Min (ns)"),
        "Max (MB)": mb("Max (ns)"),
        "StdDev (MB)": mb("StdDev (ns)"),
        "Operation": table["Operation"],
    }
    extra = {c: table[c] for c in ("Rank", "Report") if c in table.column_names}
    return pa.table({**cols, **extra})


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    out = reduce_summaries(
        [(info, tables["sizes"]) for info, tables in parts], key_column="Operation"
    )
    return {name: _in_mb(table) for name, table in out.items()}
