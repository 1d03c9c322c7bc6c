"""Diff: what changed between two runs, per kernel and per range name.

Give exactly two reports; the first (``--input A B``) is the baseline A, the second
is B, and every delta reads B - A. Rows are ordered by how much total time moved, so
the top of each table is what made the run faster or slower.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import comparison
from nsight_lab.recipe.stats import summary_table

SPEC = RecipeSpec(
    name="diff",
    display_name="Diff of Two Reports",
    description=(
        "Compares two reports (the first given is the baseline A, the second B): per "
        "kernel name and per CPU range name, total time, instances and average duration "
        "on each side, their difference (B - A) and the change in %, largest change first."
    ),
    tables=("kernels", "ranges"),
    columns={
        "kernels": ("start", "end", "name", "short_name"),
        "ranges": ("start", "end", "kind", "name"),
    },
    notebook="diff.ipynb",
    question="What changed between two reports, per kernel and per range?",
    sources=("nsys", "kineto", "annotations"),
    counterpart="nsys diff",
    args=(
        Arg(
            "base",
            type=bool,
            default=False,
            help="Compare kernels by short (base) name instead of full name.",
        ),
    ),
    min_reports=2,
    max_reports=2,
)

RANGE_KINDS = ("push_pop", "start_end")


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    kernels = ctx.trace.tables["kernels"]
    name = "short_name" if args["base"] else "name"
    k_dur = pa.compute.subtract(kernels.column("end"), kernels.column("start"))
    ranges = ctx.trace.tables["ranges"]
    mask = pa.compute.is_in(
        ranges.column("kind").cast(pa.string()), value_set=pa.array(RANGE_KINDS)
    )
    ranges = ranges.filter(pa.compute.fill_null(mask, False))
    r_dur = pa.compute.subtract(ranges.column("end"), ranges.column("start"))
    return {
        "kernels": summary_table(kernels.column(name), k_dur),
        "ranges": summary_table(ranges.column("name"), r_dur),
    }


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    if len(parts) != 2:
        raise ValueError(f"diff needs exactly two readable reports, got {len(parts)}")
    (_, a), (_, b) = sorted(parts, key=lambda p: p[0].index)
    out = {}
    for table in ("kernels", "ranges"):
        df = comparison.compare(a[table].to_pandas(), b[table].to_pandas())
        out[f"{table}_diff"] = pa.Table.from_pandas(df, preserve_index=False)
    return out
