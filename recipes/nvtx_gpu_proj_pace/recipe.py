"""nvtx_gpu_proj_pace: the rhythm of one NVTX range as the GPU ran it.

Like nvtx_pace, but each instance is the range projected onto the GPU (first start
to last end of the GPU work launched inside it on its thread; see
nvtx_gpu_proj_trace). Instances that launched no GPU work are not on the GPU and
are left out. The gap is then GPU idle time between two instances of the phase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import projection
from nsight_lab.recipe.analysis.pace import describe_pace, pace_table, reduce_pace

SPEC = RecipeSpec(
    name="nvtx_gpu_proj_pace",
    display_name="NVTX GPU Projection Pacing",
    description=(
        "Projected start, end and duration on the GPU and the GPU-side gap before every "
        "instance of one NVTX range or annotation, per report."
    ),
    tables=("ranges", "api", "kernels", "memops"),
    columns=projection.PROJECTION_READS,
    notebook="pace.ipynb",
    question="Does the GPU work of one annotated phase keep a steady pace?",
    sources=("nsys", "kineto", "annotations"),
    counterpart="nsys nvtx_gpu_proj_pace",
    args=(
        Arg("name", type=str, required=True, help="Range name (text, or DOMAIN:text) to follow."),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    wanted = args["name"]

    def named(df: pd.DataFrame) -> np.ndarray:
        return ((df["name"] == wanted) | (df["Name"] == wanted)).to_numpy()

    proj = projection.project(ctx.trace.tables, select=named, unranged=False)
    proj = proj.sort_by([("Projected Start", "ascending"), ("Orig Start", "ascending")])
    start = np.asarray(proj["Projected Start"].to_numpy(), dtype=np.int64)
    table = pace_table(
        ctx.report,
        start,
        start + np.asarray(proj["Projected Duration"].to_numpy(), dtype=np.int64),
        proj["Name"],
        {
            "Orig Start (ns)": proj["Orig Start"].cast(pa.int64()),
            "Orig Duration (ns)": proj["Orig Duration"].cast(pa.int64()),
            "NumGPUOps": proj["NumGPUOps"],
            "PID": proj["PID"],
            "TID": proj["TID"],
        },
    )
    return {"pace": table}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return reduce_pace([t["pace"] for _, t in parts])


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    return describe_pace(tables, f"the GPU work of range `{args['name']}`")
