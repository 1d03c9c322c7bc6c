"""Python Sampling Summary: the hottest Python functions from stack samples.

Self time is where the interpreter actually was; total time includes everything a
function called. A function high in total but low in self time is a caller worth
reading top-down; high self time is the code to optimise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import sampling

SPEC = RecipeSpec(
    name="python_sampling_sum",
    display_name="Python Sampling Summary",
    description=(
        "From CPU stack samples (py-spy speedscope, nsys Python sampling) ranks Python "
        "functions by self time (innermost frame) and total time (anywhere on the stack, "
        "once per sample), with sample counts and % of all samples."
    ),
    tables=("samples",),
    columns={"samples": ("weight", "stack")},
    notebook="stats.ipynb",
    question="Which Python functions were hottest in the CPU stack samples?",
    sources=("nsys", "pyspy"),
    counterpart="nsys Python sampling (CPU samples view)",
    args=(
        Arg(
            "by_line",
            type=bool,
            default=False,
            help="Keep line numbers: one row per function line, not per function.",
        ),
        Arg(
            "top",
            type=int,
            default=0,
            minimum=0,
            help="Keep only the N hottest functions by self time (0 = all).",
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    # Samples, not per-report summaries, travel to reduce so percentages span all reports.
    return {"samples": ctx.trace.tables["samples"].select(["weight", "stack"])}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    samples = pa.concat_tables(
        [t["samples"].unify_dictionaries() for _, t in parts], promote_options="permissive"
    ).unify_dictionaries()
    df = sampling.hottest_functions(samples, by_line=bool(args["by_line"]))
    if args["top"]:
        df = df.head(int(args["top"]))
    return {"stats": pa.Table.from_pandas(df, preserve_index=False)}
