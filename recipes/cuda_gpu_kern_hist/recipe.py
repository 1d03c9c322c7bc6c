"""cuda_gpu_kern_hist: how kernel durations are distributed.

Durations of all kernels (or of the kernels called `--name`) over all reports go
into `--bins` equal-width bins from the shortest to the longest kernel; the last
bin includes its right edge, as numpy's histogram does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.stats import key_durations, reduce_summaries

SPEC = RecipeSpec(
    name="cuda_gpu_kern_hist",
    display_name="CUDA GPU Kernel Duration Histogram",
    description=(
        "A histogram of CUDA kernel durations over all reports, with the kernel summary "
        "alongside. Many short kernels point at launch overhead; a long tail at the "
        "kernels worth optimising."
    ),
    tables=("kernels",),
    columns={"kernels": ("start", "end", "name", "short_name")},
    notebook="histogram.ipynb",
    question="How are kernel durations distributed: many tiny launches or a long tail?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_gpu_kern_hist",
    args=(
        Arg(
            "bins",
            type=int,
            default=30,
            minimum=1,
            maximum=10_000,
            help="Number of equal-width bins.",
        ),
        Arg("name", type=str, default=None, help="Only kernels with this demangled or short name."),
        Arg("base", type=bool, default=False, help="Name kernels by their short (base) name."),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    kernels = ctx.trace.tables["kernels"]
    if args.get("name"):
        wanted = args["name"]
        match = pc.or_(
            pc.equal(kernels["name"].cast(pa.string()), wanted),
            pc.equal(kernels["short_name"].cast(pa.string()), wanted),
        )
        kernels = kernels.filter(pc.fill_null(match, False))
    names = kernels["short_name" if args.get("base") else "name"]
    return {"durations": key_durations(names, pc.subtract(kernels["end"], kernels["start"]))}


def histogram(durations: np.ndarray, bins: int) -> pa.Table:
    if len(durations) == 0:
        counts = np.zeros(bins, dtype=np.int64)
        edges = np.zeros(bins + 1, dtype=np.float64)
        totals = np.zeros(bins, dtype=np.int64)
    else:
        counts, edges = np.histogram(durations, bins=bins)
        totals, _ = np.histogram(durations, bins=edges, weights=durations.astype(np.float64))
    return pa.table(
        {
            "Bin": pa.array(np.arange(bins), pa.int64()),
            "Bin Start (ns)": pa.array(edges[:-1], pa.float64()),
            "Bin End (ns)": pa.array(edges[1:], pa.float64()),
            "Count": pa.array(counts, pa.int64()),
            "Total Time (ns)": pa.array(np.rint(totals), pa.int64()),
        }
    )


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    tables = [t["durations"] for _, t in parts]
    durations = (
        np.concatenate([np.asarray(t["duration"].to_numpy(), dtype=np.int64) for t in tables])
        if tables
        else np.zeros(0, dtype=np.int64)
    )
    out = reduce_summaries([(info, t["durations"]) for info, t in parts])
    return {"histogram": histogram(durations, int(args["bins"])), **out}
