"""diff: what changed between a baseline and a candidate, and whether we can tell.

With two reports (``--input BASE CANDIDATE``) this is nsys's diff; with more, the first
``--base-reports`` are the baseline (ranks or runs) and the rest the candidate, which
is what ``nsight-lab compare`` runs. For every kernel, NVTX range or annotation, and
training step: instances and median and total time per report on each side, the
change in median and total with bootstrap confidence intervals, and a verdict
(slower / faster) only when the median's interval excludes zero and the change is at
least ``--min-change`` percent (see nsight_lab.recipe.analysis.comparison).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import comparison
from nsight_lab.recipe.analysis.parts import to_table
from nsight_lab.recipe.analysis.projection import DEFAULT_SOURCES, RANGE_KINDS
from nsight_lab.recipe.analysis.steps import DEFAULT_PATTERN, find_steps
from nsight_lab.recipe.errors import RecipeArgError

SPEC = RecipeSpec(
    name="diff",
    display_name="Statistics Diff",
    description=(
        "Compares a baseline with a candidate (the first --base-reports reports against the "
        "rest; one each by default): per kernel, range and step, the change in median and "
        "total time with bootstrap confidence intervals and a verdict where the data carries one."
    ),
    tables=("kernels", "ranges"),
    columns={
        "kernels": ("start", "end", "name", "short_name"),
        "ranges": ("start", "end", "pid", "tid", "name", "domain", "kind", "source"),
    },
    notebook="diff.ipynb",
    question="What got slower or faster between two runs, and is the change real?",
    sources=("nsys", "kineto", "annotations"),
    counterpart="nsys diff",
    min_reports=2,
    args=(
        Arg("base", type=bool, default=False, help="Compare kernels by short (base) name."),
        Arg(
            "base_reports",
            type=int,
            default=1,
            minimum=1,
            help="How many of the reports, from the first, are the baseline.",
        ),
        Arg(
            "confidence",
            type=float,
            default=comparison.Settings.confidence,
            minimum=0.5,
            maximum=0.999,
            help="Confidence of the bootstrap intervals.",
        ),
        Arg(
            "resamples",
            type=int,
            default=comparison.Settings.resamples,
            minimum=100,
            maximum=100_000,
            help="Bootstrap resamples per kernel, range and step.",
        ),
        Arg(
            "seed", type=int, default=0, help="Seed of the resampling (same seed, same intervals)."
        ),
        Arg(
            "min_instances",
            type=int,
            default=comparison.Settings.min_instances,
            minimum=1,
            help="Fewer instances than this on a side: no verdict.",
        ),
        Arg(
            "min_change",
            type=float,
            default=comparison.Settings.min_change,
            minimum=0,
            help="Smallest change of the median, in %, that gets a verdict.",
        ),
        Arg(
            "step_pattern",
            type=str,
            default=DEFAULT_PATTERN,
            help="Regular expression a step range's whole name matches.",
        ),
    ),
)


def samples(ctx: ReportContext, args: Mapping[str, Any]) -> pd.DataFrame:
    """(Kind, Name, Duration (ns)) for every kernel, range and step of one report."""
    # In call order, so the k-th instance of a name pairs with the k-th of the other run.
    kernels = ctx.trace.tables["kernels"].sort_by([("start", "ascending")])
    k_names = kernels["short_name" if args["base"] else "name"].cast(pa.string())
    ranges = ctx.trace.tables["ranges"]
    keep = pc.and_(
        pc.is_in(ranges["kind"].cast(pa.string()), value_set=pa.array(list(RANGE_KINDS))),
        pc.is_in(ranges["source"].cast(pa.string()), value_set=pa.array(DEFAULT_SOURCES)),
    )
    ranges = ranges.filter(pc.fill_null(keep, False))
    ranges = ranges.filter(pc.is_valid(ranges["end"])).sort_by([("start", "ascending")])
    domain = pc.fill_null(ranges["domain"].cast(pa.string()), "")
    r_names = pc.fill_null(ranges["name"].cast(pa.string()), "")
    r_names = pc.if_else(
        pc.equal(domain, ""), r_names, pc.binary_join_element_wise(domain, r_names, ":")
    )
    steps = find_steps(ctx.trace.tables["ranges"], args["step_pattern"])
    frames = [
        pd.DataFrame(
            {
                "Kind": "kernel",
                "Name": k_names.to_numpy(zero_copy_only=False),
                "Duration (ns)": pc.subtract(kernels["end"], kernels["start"]).to_numpy(),
            }
        ),
        pd.DataFrame(
            {
                "Kind": "range",
                "Name": r_names.to_numpy(zero_copy_only=False),
                "Duration (ns)": pc.subtract(ranges["end"], ranges["start"]).to_numpy(),
            }
        ),
        pd.DataFrame(
            {
                "Kind": "step",
                "Name": "step",
                "Duration (ns)": (steps["end"] - steps["start"]).to_numpy(dtype="int64"),
            }
        ),
    ]
    return (
        pd.concat([f for f in frames if len(f)], ignore_index=True)
        if any(len(f) for f in frames)
        else frames[0].iloc[0:0]
    )


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    return {"samples": to_table(samples(ctx, args))}


def settings(args: Mapping[str, Any]) -> comparison.Settings:
    return comparison.Settings(
        confidence=float(args["confidence"]),
        resamples=int(args["resamples"]),
        seed=int(args["seed"]),
        min_instances=int(args["min_instances"]),
        min_change=float(args["min_change"]),
    )


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    ordered = sorted(parts, key=lambda p: p[0].index)
    split = int(args["base_reports"])
    base = [t["samples"].to_pandas() for info, t in ordered if info.index < split]
    cand = [t["samples"].to_pandas() for info, t in ordered if info.index >= split]
    if not base or not cand:
        raise RecipeArgError(
            "base_reports",
            f"diff needs readable reports on both sides: {len(base)} baseline and "
            f"{len(cand)} candidate (--base-reports {split})",
        )
    return {"comparison": to_table(comparison.compare(base, cand, settings(args)))}


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    return comparison.describe(tables["comparison"].to_pandas())
