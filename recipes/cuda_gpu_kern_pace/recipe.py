"""cuda_gpu_kern_pace: the rhythm of one kernel, instance by instance.

For the kernel called `--name` (demangled or short name), each instance's start,
end and duration, and the time since the previous instance on the same report:
`Delta (ns)` from the previous end (the gap) and `Period (ns)` from the previous
start. Both are null for the first instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.stats import summary_table

SPEC = RecipeSpec(
    name="cuda_gpu_kern_pace",
    display_name="CUDA GPU Kernel Pace",
    description=(
        "Start, end, duration and the gap before every instance of one CUDA kernel, per "
        "report, to see whether it runs at a steady pace or stalls."
    ),
    tables=("kernels",),
    notebook="pace.ipynb",
    question="Does one kernel run at a steady pace, or does it stall between instances?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_gpu_kern_pace",
    args=(
        Arg("name", type=str, required=True, help="Kernel name (demangled or short) to follow."),
        Arg(
            "base",
            type=bool,
            default=False,
            help="Show the short name in the output instead of the demangled one.",
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    kernels = ctx.trace.tables["kernels"]
    wanted = args["name"]
    match = pc.or_(
        pc.equal(kernels["name"].cast(pa.string()), wanted),
        pc.equal(kernels["short_name"].cast(pa.string()), wanted),
    )
    rows = kernels.filter(pc.fill_null(match, False)).sort_by(
        [("start", "ascending"), ("end", "ascending")]
    )
    start = np.asarray(rows["start"].to_numpy(), dtype=np.int64)
    end = np.asarray(rows["end"].to_numpy(), dtype=np.int64)
    n = len(start)
    first = np.r_[True, np.zeros(max(n - 1, 0), dtype=bool)][:n]
    delta = np.r_[0, start[1:] - end[:-1]][:n]
    period = np.r_[0, start[1:] - start[:-1]][:n]
    return {
        "pace": pa.table(
            {
                "Rank": pa.array([ctx.report.index] * n, pa.int64()),
                "Report": pa.array([ctx.report.name] * n, pa.string()),
                "Instance": pa.array(np.arange(n), pa.int64()),
                "Name": rows["short_name" if args.get("base") else "name"].cast(pa.string()),
                "Start (ns)": pa.array(start, pa.int64()),
                "End (ns)": pa.array(end, pa.int64()),
                "Duration (ns)": pa.array(end - start, pa.int64()),
                "Delta (ns)": pa.array(delta, pa.int64(), mask=first),
                "Period (ns)": pa.array(period, pa.int64(), mask=first),
                "Device ID": rows["device_id"],
                "Stream ID": rows["stream_id"],
            }
        )
    }


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    pace = pa.concat_tables([t["pace"] for _, t in parts])
    deltas = pace["Delta (ns)"].drop_null()
    keys = pa.array(["Duration"] * pace.num_rows + ["Delta"] * len(deltas), pa.string())
    values = pa.chunked_array(
        [pace["Duration (ns)"].combine_chunks(), deltas.combine_chunks()]
        if pace.num_rows
        else [pa.array([], pa.int64())]
    )
    stats = summary_table(keys, values.combine_chunks(), key_column="Metric").drop_columns(
        ["Time (%)"]
    )
    return {"pace": pace, "stats": stats}
