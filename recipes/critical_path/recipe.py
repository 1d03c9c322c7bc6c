"""critical_path: the chain of CPU work, launches, GPU work and waits that set a rank's time.

Walking back from each report's last event, every step follows the dependency that
was satisfied last (see nsight_lab.recipe.analysis.critical_path). The path's
segments are contiguous from the first event to the last; their kinds add up to the
wall time. Use ``--filter-nvtx ProfilerStep#N`` (or any step range) for one step.

``critical_path`` can be drawn on the Timeline: in a notebook,
``Timeline.from_trace(with_critical_path(trace, path))`` shows each segment as a range
on the thread or stream where it ran.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import critical_path
from nsight_lab.recipe.analysis.parts import concat_tables_with_rank, to_table
from nsight_lab.recipe.display import human_ns

SPEC = RecipeSpec(
    name="critical_path",
    display_name="Critical Path",
    description=(
        "Per rank: the critical path through CPU calls, host code, kernel launches, GPU "
        "operations and waits, as contiguous segments a timeline can overlay, and the time "
        "on it by kind (GPU work, CPU work, launch latency, sync waits, GPU idle)."
    ),
    tables=("api", "kernels", "memops", "ranges"),
    columns=critical_path.CRITICAL_PATH_READS,
    notebook="path.ipynb",
    question="Which chain of CPU work, launches and kernels set how long a step took?",
    sources=("nsys", "kineto"),
    counterpart="HTA critical_path_analysis",
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    path = critical_path.critical_path(ctx.trace.tables)
    return {"critical_path": to_table(path), "breakdown": to_table(critical_path.breakdown(path))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return concat_tables_with_rank(parts, ("critical_path", "breakdown"))


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    rows = tables["breakdown"].to_pylist()
    if not rows:
        return "Nothing to follow: no CPU calls or GPU operations in these reports."
    total = sum(r["Time (ns)"] for r in rows)
    gpu = sum(r["Time (ns)"] for r in rows if r["Kind"] in critical_path.GPU_KINDS)
    top = max(rows, key=lambda r: r["Time (ns)"])
    return (
        f"The critical path spans {human_ns(total)}: {100 * gpu / total:.1f}% GPU work; the "
        f"largest share is {top['Kind']} ({top['Time (%)']:.1f}% on rank {top['Rank']})."
    )
