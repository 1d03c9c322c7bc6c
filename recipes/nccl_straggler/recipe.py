"""nccl_straggler: ranks that repeatedly delay NCCL collectives, as a rank x call heatmap.

Like straggler_sum without steps: every NCCL collective matched across ranks by name
and order, each rank's delay behind the first arrival (a long table the notebook draws
as a heatmap), and per rank how often it was last and its total delay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import straggler
from nsight_lab.recipe.analysis.parts import rank_of, to_table

SPEC = RecipeSpec(
    name="nccl_straggler",
    display_name="NCCL Straggler",
    description=(
        "Every NCCL collective matched across ranks by name and order: each rank's arrival "
        "delay behind the first, the last rank per collective, and per rank times last and "
        "total delay, on clock-aligned reports."
    ),
    tables=("ranges", "kernels"),
    columns=straggler.STRAGGLER_READS,
    notebook="heatmap.ipynb",
    question="Which ranks repeatedly delay NCCL collectives?",
    sources=("nsys", "kineto"),
    counterpart="nsys nccl_straggler",
    min_reports=2,
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    offset, _ = straggler.clock_offset(ctx.trace.metadata)
    arrivals = straggler.arrivals(ctx.trace.tables, offset, pattern=r"(?!)")  # no steps
    return {"arrivals": to_table(arrivals)}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    per_rank = [(rank_of(info), t["arrivals"].to_pandas()) for info, t in parts]
    out = straggler.reduce_arrivals(per_rank, steps=False)
    return {name: to_table(df) for name, df in out.items()}


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    ranks = tables["ranks"].to_pylist()
    if not ranks:
        return "No NCCL collective was called by two or more of these ranks."
    top = ranks[0]
    return (
        f"Rank {top['Rank']} arrived last at {top['Times Last']} of "
        f"{tables['stragglers'].num_rows} NCCL collectives."
    )
