"""straggler_sum: per step and collective, which rank arrived last and by how much.

Ranks arrive at a collective when they call it (their NCCL call, or their NCCL
kernel in reports without NVTX/c10d annotations). Reports are put on one clock with
their epoch and measured clock offset, the k-th call of each collective within a step
is matched across ranks, and the one that came last, and how far behind the first and
the median it was, is reported; per rank, how often it was last and its total delay.
Give all ranks of a run (a folder, or ``DIR:N``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import straggler
from nsight_lab.recipe.analysis.parts import rank_of, to_table
from nsight_lab.recipe.analysis.steps import DEFAULT_PATTERN
from nsight_lab.recipe.display import human_ns

SPEC = RecipeSpec(
    name="straggler_sum",
    display_name="Straggler Summary",
    description=(
        "For every step and collective called by two or more ranks: the last rank to arrive, "
        "the arrival spread and how far behind the median it was; per rank, times last and "
        "total delay, on clock-aligned reports."
    ),
    tables=("ranges", "kernels"),
    columns=straggler.STRAGGLER_READS,
    notebook="straggler.ipynb",
    question="Which rank arrives last at each step's collectives, and by how much?",
    sources=("nsys", "kineto"),
    counterpart="HTA straggler analysis / nsys nccl_straggler",
    min_reports=2,
    args=(
        Arg(
            "step_pattern",
            type=str,
            default=DEFAULT_PATTERN,
            help="Regular expression a step range's whole name matches.",
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    offset, known = straggler.clock_offset(ctx.trace.metadata)
    if not known:
        ctx.warn(
            "no epoch or clock offset: times are taken as already on a shared clock "
            "(true for PyTorch traces written in Unix-epoch microseconds)"
        )
    return {
        "arrivals": to_table(straggler.arrivals(ctx.trace.tables, offset, args["step_pattern"]))
    }


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    per_rank = [(rank_of(info), t["arrivals"].to_pandas()) for info, t in parts]
    out = straggler.reduce_arrivals(per_rank, steps=True)
    return {name: to_table(df) for name, df in out.items()}


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    ranks = tables["ranks"].to_pylist()
    calls = tables["stragglers"].num_rows
    if not calls:
        return "No collective was called by two or more of these ranks."
    top = ranks[0]
    return (
        f"Over **{calls} collectives**, rank {top['Rank']} arrived last {top['Times Last']} "
        f"times, {human_ns(top['Total Delay (ns)'])} behind the first rank in total."
    )
