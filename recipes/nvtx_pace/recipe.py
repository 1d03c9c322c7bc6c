"""nvtx_pace: the rhythm of one NVTX range (or annotation), instance by instance.

Every instance of the range called ``--name`` (its text, or ``DOMAIN:text``) that
ended: start, end, duration on the CPU, and the gap from the previous instance of the
same report. A training step annotated once per iteration shows its pace here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis.pace import describe_pace, pace_table, reduce_pace
from nsight_lab.recipe.analysis.projection import DEFAULT_SOURCES, RANGE_KINDS

SPEC = RecipeSpec(
    name="nvtx_pace",
    display_name="NVTX Pacing",
    description=(
        "Start, end, duration and the gap before every instance of one NVTX range or "
        "annotation, per report, to see whether a phase (a step, a data load) keeps its pace."
    ),
    tables=("ranges",),
    columns={"ranges": ("start", "end", "pid", "tid", "name", "domain", "kind", "source")},
    notebook="pace.ipynb",
    question="Does one annotated phase keep a steady pace, or does it stall between instances?",
    sources=("nsys", "kineto", "annotations"),
    counterpart="nsys nvtx_pace",
    args=(
        Arg("name", type=str, required=True, help="Range name (text, or DOMAIN:text) to follow."),
    ),
)


def matching(ranges: pa.Table, wanted: str) -> pa.Table:
    """Ended push/pop and start/end ranges of NVTX-like sources named ``wanted``."""
    name = pc.fill_null(ranges["name"].cast(pa.string()), "")
    domain = pc.fill_null(ranges["domain"].cast(pa.string()), "")
    qualified = pc.binary_join_element_wise(domain, name, ":")
    keep = pc.and_(
        pc.or_(pc.equal(name, wanted), pc.equal(qualified, wanted)),
        pc.and_(
            pc.is_in(ranges["kind"].cast(pa.string()), value_set=pa.array(list(RANGE_KINDS))),
            pc.is_in(ranges["source"].cast(pa.string()), value_set=pa.array(DEFAULT_SOURCES)),
        ),
    )
    rows = ranges.filter(pc.fill_null(keep, False))
    rows = rows.filter(pc.is_valid(rows["end"]))
    return rows.sort_by([("start", "ascending"), ("end", "ascending")])


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    rows = matching(ctx.trace.tables["ranges"], args["name"])
    table = pace_table(
        ctx.report,
        np.asarray(rows["start"].to_numpy(), dtype=np.int64),
        np.asarray(rows["end"].to_numpy(), dtype=np.int64),
        rows["name"],
        {"PID": rows["pid"], "TID": rows["tid"]},
    )
    return {"pace": table}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return reduce_pace([t["pace"] for _, t in parts])


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    return describe_pace(tables, f"range `{args['name']}`")
