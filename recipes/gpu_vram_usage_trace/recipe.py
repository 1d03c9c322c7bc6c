"""gpu_vram_usage_trace: every allocation and free with the memory in use after it.

From CUDA memory usage events (``nsys profile --cuda-memory-usage=true``) or
PyTorch's ``[memory]`` events (``torch.profiler.profile(profile_memory=True)``): one
row per event with the bytes in use on its device right after it, and per process and
device the peak, when it happened, and what was still allocated when the capture
ended (a steadily growing final figure across steps is a leak).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import memory
from nsight_lab.recipe.analysis.parts import concat_tables_with_rank, to_table
from nsight_lab.recipe.display import human_bytes
from nsight_lab.recipe.errors import RecipeInputError

SPEC = RecipeSpec(
    name="gpu_vram_usage_trace",
    display_name="GPU VRAM Usage Trace",
    description=(
        "Each memory allocation and free with the bytes in use on its device after it, and "
        "per process and device the peak, its time, and the bytes left at the end."
    ),
    tables=("memory",),
    columns=memory.MEMORY_READS,
    notebook="trace.ipynb",
    question="How much device memory was in use over time, where did it peak, and what leaked?",
    sources=("nsys", "kineto"),
    counterpart="nsys gpu_vram_usage_trace",
)


def usage(ctx: ReportContext) -> Any:
    trace = memory.usage_trace(ctx.trace.tables["memory"])
    if trace.empty:
        raise RecipeInputError(memory.NO_MEMORY)
    return trace


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    trace = usage(ctx)
    return {"trace": to_table(trace), "peaks": to_table(memory.peaks(trace))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return concat_tables_with_rank(parts, ("trace", "peaks"))


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    peaks = tables["peaks"].to_pylist()
    top = max(peaks, key=lambda r: r["Peak Used (bytes)"])
    return (
        f"**{len(tables['trace']):,} memory events**; the highest use was "
        f"{human_bytes(top['Peak Used (bytes)'])} on rank {top['Rank']}, device "
        f"{top['Device ID']} ({top['Device Type']}); "
        f"{human_bytes(top['Final Used (bytes)'])} were still in use at the end."
    )
