"""idle_time_breakdown: why each GPU stream sat idle between its operations.

Each gap between consecutive operations on a stream is a *kernel wait* when shorter
than ``--threshold`` ns (launch overhead between back-to-back kernels), a *host wait*
when the next operation was launched only after the previous one ended (the GPU
waited for the CPU: Python overhead, data loading, a synchronisation on the host),
and *other* when the work was already queued (held back by another stream, an event
or a device-wide sync). Host waits point at the CPU; others at dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import breakdown
from nsight_lab.recipe.analysis.gpu_activity import OPS_READS_WITH_LAUNCH
from nsight_lab.recipe.analysis.parts import concat_tables_with_rank, to_table
from nsight_lab.recipe.display import human_ns

SPEC = RecipeSpec(
    name="idle_time_breakdown",
    display_name="Idle Time Breakdown",
    description=(
        "Per rank, device and stream: idle time between operations split into host wait, "
        "kernel wait (gaps under --threshold ns) and other, with every idle interval."
    ),
    tables=("kernels", "memops", "api"),
    columns={
        **OPS_READS_WITH_LAUNCH,
        "api": ("start", "end", "pid", "tid", "correlation_id"),
    },
    notebook="breakdown.ipynb",
    question="Was an idle GPU waiting for the host, for launch overhead, or for something else?",
    sources=("nsys", "kineto"),
    counterpart="HTA get_idle_time_breakdown",
    args=(
        Arg(
            "threshold",
            type=int,
            default=breakdown.DEFAULT_KERNEL_WAIT_NS,
            minimum=0,
            help="Gaps shorter than this many ns are kernel waits (launch overhead).",
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    gaps = breakdown.idle_intervals(ctx.trace.tables, int(args["threshold"]))
    return {"intervals": to_table(gaps), "breakdown": to_table(breakdown.idle_summary(gaps))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return concat_tables_with_rank(parts, ("breakdown", "intervals"))


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    rows = tables["breakdown"].to_pylist()
    if not rows:
        return "No idle time between GPU operations in these reports."
    by: dict[str, int] = {}
    for r in rows:
        by[r["Category"]] = by.get(r["Category"], 0) + r["Idle (ns)"]
    total = sum(by.values())
    parts = ", ".join(
        f"{cat} {100 * t / total:.1f}%" for cat, t in sorted(by.items(), key=lambda kv: -kv[1])
    )
    return f"Streams sat idle for {human_ns(total)} in all: {parts}."
