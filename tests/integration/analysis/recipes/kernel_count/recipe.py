"""Test recipe: kernels per report. Small and fast, with a real notebook and plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo

SPEC = RecipeSpec(
    name="kernel_count",
    display_name="Kernel count (test)",
    description="Counts kernels in each report.",
    tables=("kernels",),
    columns={"kernels": ("start",)},
    notebook="counts.ipynb",
    args=(
        Arg("top", type=int, default=5, help="Rows to show.", minimum=1),
        Arg("unit", type=str, default="kernels", help="Label.", choices=["kernels", "launches"]),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    kernels = ctx.trace.tables["kernels"]
    return {"counts": pa.table({"Report": [ctx.report.name], "Kernels": [kernels.num_rows]})}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"counts": pa.concat_tables([tables["counts"] for _, tables in parts])}
