"""memory_timeline: memory in use over time, per rank and device, in equal time bins.

The view HTA users know from PyTorch's memory profiler, for any report with
allocation events: per bin the highest use reached, the use at the bin's end, and the
bytes allocated and freed in it; and per rank and device the peak. Ranks share one set
of bins, so a rank that needs more memory than the others shows as a band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import memory
from nsight_lab.recipe.analysis.parts import concat_tables_with_rank, to_table
from nsight_lab.recipe.display import human_bytes
from nsight_lab.recipe.errors import RecipeInputError

SPEC = RecipeSpec(
    name="memory_timeline",
    display_name="Memory Timeline",
    description=(
        "Per rank, device and time bin: the most memory in use, the use at the bin's end, "
        "and the bytes allocated and freed; and the peak per rank and device."
    ),
    tables=("memory",),
    columns=memory.MEMORY_READS,
    notebook="timeline.ipynb",
    question="How does memory use rise and fall over a run, per rank and device?",
    sources=("nsys", "kineto"),
    counterpart="HTA memory timeline (PyTorch memory profiler)",
    args=(Arg("bins", type=int, default=50, minimum=1, help="Number of time bins per report."),),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    trace = memory.usage_trace(ctx.trace.tables["memory"])
    if trace.empty:
        raise RecipeInputError(memory.NO_MEMORY)
    return {
        "timeline": to_table(memory.timeline(trace, int(args["bins"]))),
        "peaks": to_table(memory.peaks(trace)),
    }


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return concat_tables_with_rank(parts, ("timeline", "peaks"))


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    peaks = sorted(tables["peaks"].to_pylist(), key=lambda r: -r["Peak Used (bytes)"])
    top = peaks[0]
    low = peaks[-1]
    text = (
        f"Peak memory in use: {human_bytes(top['Peak Used (bytes)'])} on rank {top['Rank']}, "
        f"device {top['Device ID']} ({top['Device Type']})"
    )
    if len(peaks) > 1:
        text += f"; the lowest peak is {human_bytes(low['Peak Used (bytes)'])} (rank {low['Rank']})"
    return text + "."
