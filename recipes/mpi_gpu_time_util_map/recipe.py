"""mpi_gpu_time_util_map: when MPI calls and GPU kernels were active, per rank.

Each report's span is cut into ``--bins`` equal bins; in each, per process and device,
the share of time the process was inside an MPI call (``MPI (%)``), the device ran a
kernel (``GPU (%)``), and both at once (``Overlap (%)``). A rank whose MPI share is
high while its GPU idles is waiting on the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import gpu_activity, intervals
from nsight_lab.recipe.analysis.gpu_activity import OPS_READS
from nsight_lab.recipe.analysis.mpi import mpi_calls
from nsight_lab.recipe.analysis.parts import concat_with_rank, to_table
from nsight_lab.recipe.errors import RecipeInputError

SPEC = RecipeSpec(
    name="mpi_gpu_time_util_map",
    display_name="MPI and GPU Time Utilization Heatmap",
    description=(
        "Per rank, device and time bin: % of time in MPI calls, % of time a kernel ran, "
        "and both at once."
    ),
    tables=("ranges", "kernels"),
    columns={
        "ranges": ("start", "end", "pid", "name", "domain", "kind", "source"),
        "kernels": OPS_READS["kernels"],
    },
    notebook="heatmap.ipynb",
    question="When were ranks inside MPI calls, and did their GPUs run meanwhile?",
    sources=("nsys",),
    counterpart="nsys mpi_gpu_time_util_map",
    args=(Arg("bins", type=int, default=30, minimum=1, help="Number of time bins per report."),),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    calls = mpi_calls(ctx.trace.tables["ranges"]).to_pandas()
    if calls.empty:
        raise RecipeInputError("no MPI calls in this report: profile with nsys profile --trace=mpi")
    ops = gpu_activity.gpu_ops(ctx.trace.tables, memops=False)
    groups = []
    for pid, mine in calls.groupby("pid", sort=True):
        mpi = intervals.union(mine["start"].to_numpy(), mine["end"].to_numpy())
        kernels = ops[ops["pid"] == pid]
        devices = sorted(kernels["device_id"].unique()) or [-1]
        for device in devices:
            k = kernels[kernels["device_id"] == device]
            gpu = intervals.union(k["start"].to_numpy(), k["end"].to_numpy())
            groups.append((int(pid), int(device), mpi, gpu))
    df = gpu_activity.two_kind_util_map(groups, ("MPI", "GPU"), int(args["bins"]))
    return {"util_map": to_table(df)}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"util_map": concat_with_rank(parts, "util_map", rank_first=True)}
