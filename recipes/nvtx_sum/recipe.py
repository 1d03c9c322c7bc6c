"""nvtx_sum: time inside each NVTX range (and nsight-lab annotation), by name and style.

Ranges are measured on the CPU (start to end as recorded), grouped by name and by
how they were made: `PushPop` (nested on one thread) or `StartEnd` (may cross
threads). Marks have no duration and are left out, and so are ranges that never
ended (the capture stopped first): nsys does not count them either, and the run
record's warnings say how many there were. A range of a non-default domain is named
`DOMAIN:NAME`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import LIST_STR, Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.stats import key_durations, reduce_summaries

_STYLES = {"push_pop": "PushPop", "start_end": "StartEnd"}
_SEP = "\x1f"

SPEC = RecipeSpec(
    name="nvtx_sum",
    display_name="NVTX Range Summary",
    description=(
        "Statistics of the time spent inside each NVTX range (PushPop and StartEnd), "
        "over all reports and per report."
    ),
    tables=("ranges",),
    columns={"ranges": ("start", "end", "name", "domain", "kind", "source")},
    notebook="stats.ipynb",
    question="Which annotated phases (NVTX ranges, annotations) took the most CPU time?",
    sources=("nsys", "kineto", "annotations"),
    counterpart="nsys nvtx_sum",
    aliases=("nvtxsum",),
    args=(
        Arg(
            "sources",
            type=LIST_STR,
            default=["nvtx", "annotation", "user_annotation"],
            help=(
                "Which range sources count (comma-separated): nvtx, annotation, "
                "user_annotation, gpu_user_annotation, cpu_op, python_function."
            ),
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    ranges = ctx.trace.tables["ranges"]
    kind = ranges["kind"].cast(pa.string())
    keep = pc.and_(
        pc.is_in(kind, value_set=pa.array(list(_STYLES))),
        pc.is_in(
            ranges["source"].cast(pa.string()),
            value_set=pa.array(list(args["sources"]), pa.string()),
        ),
    )
    rows = ranges.filter(pc.fill_null(keep, False))
    unended = rows["end"].null_count
    if unended:
        ctx.warn(
            f"{unended} NVTX range(s) never ended (the capture stopped first) and were left out"
        )
        rows = rows.filter(pc.is_valid(rows["end"]))
    style = pc.replace_substring(
        pc.replace_substring(rows["kind"].cast(pa.string()), "push_pop", "PushPop"),
        "start_end",
        "StartEnd",
    )
    domain = pc.fill_null(rows["domain"].cast(pa.string()), "")
    name = pc.fill_null(rows["name"].cast(pa.string()), "")
    label = pc.if_else(pc.equal(domain, ""), name, pc.binary_join_element_wise(domain, name, ":"))
    keys = pc.binary_join_element_wise(style, label, _SEP)
    return {"durations": key_durations(keys, pc.subtract(rows["end"], rows["start"]))}


def _split(table: pa.Table) -> pa.Table:
    parts = pc.split_pattern(table["Range"], _SEP, max_splits=1)
    style = pc.list_element(parts, 0)
    name = pc.list_element(parts, 1)
    index = table.column_names.index("Range")
    table = table.set_column(index, "Range", name)
    return table.add_column(index, "Style", style)


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    out = reduce_summaries(
        [(info, tables["durations"]) for info, tables in parts], key_column="Range"
    )
    return {name: _split(table) for name, table in out.items()}
