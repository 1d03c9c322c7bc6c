"""nccl_gpu_time_util_map: when communication and compute kernels ran, per rank and device.

Each report's kernel span is cut into ``--bins`` equal bins; in each, the share of
time NCCL kernels ran (``Communication (%)``), other kernels ran (``Compute (%)``) and
both at once (``Overlap (%)``), every stream of the device merged. The notebook draws
one heatmap per measure, ranks by time: overlap is communication hidden by compute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import gpu_activity, intervals, nccl
from nsight_lab.recipe.analysis.gpu_activity import OPS_READS
from nsight_lab.recipe.analysis.parts import concat_with_rank, to_table

SPEC = RecipeSpec(
    name="nccl_gpu_time_util_map",
    display_name="NCCL GPU Time Utilization Heatmap",
    description=(
        "Per rank, device and time bin: % of time NCCL kernels ran, other kernels ran, and "
        "both at once (communication overlapped with compute)."
    ),
    tables=("kernels",),
    columns={"kernels": OPS_READS["kernels"]},
    notebook="heatmap.ipynb",
    question="When did communication and compute kernels run, and overlap, on each rank?",
    sources=("nsys", "kineto"),
    counterpart="nsys nccl_gpu_time_util_map",
    args=(Arg("bins", type=int, default=30, minimum=1, help="Number of time bins per report."),),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    ops = gpu_activity.gpu_ops(ctx.trace.tables, memops=False)
    comm = nccl.is_nccl(ops["name"])
    groups = []
    for (pid, device), grp in ops.groupby(["pid", "device_id"], sort=True):
        mask = comm[ops.index.get_indexer(grp.index)]
        c, k = grp[mask], grp[~mask]
        groups.append(
            (
                int(pid),
                int(device),
                intervals.union(c["start"].to_numpy(), c["end"].to_numpy()),
                intervals.union(k["start"].to_numpy(), k["end"].to_numpy()),
            )
        )
    df = gpu_activity.two_kind_util_map(groups, ("Communication", "Compute"), int(args["bins"]))
    return {"util_map": to_table(df)}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"util_map": concat_with_rank(parts, "util_map", rank_first=True)}
