"""NCCL Summary: time spent in NCCL collectives, by collective type.

NCCL kernels are found by name (``ncclKernel_AllReduce_...``, ``ncclDevKernel_...``);
their type is the collective (AllReduce, AllGather, Broadcast, SendRecv...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import gpu_activity, nccl
from nsight_lab.recipe.analysis.parts import concat_with_rank
from nsight_lab.recipe.stats import merge_summary_inputs, summary_table

SPEC = RecipeSpec(
    name="nccl_sum",
    display_name="NCCL Summary",
    description=(
        "Summarises NCCL kernels (names starting with 'nccl') by collective type with the "
        "nsys stats columns (Time %, Total, Instances, Avg, Med, Min, Max, StdDev), over all "
        "reports and per rank."
    ),
    tables=("kernels",),
    columns={"kernels": ("start", "end", "pid", "device_id", "stream_id", "name")},
    notebook="stats.ipynb",
    args=(
        Arg(
            "by_name",
            type=bool,
            default=False,
            help="Summarise by full kernel name instead of by collective type.",
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    ops = gpu_activity.gpu_ops(ctx.trace.tables, memops=False)
    ops = ops[nccl.is_nccl(ops["name"])]
    keys = ops["name"] if args["by_name"] else nccl.collective_type(ops["name"])
    df = pd.DataFrame(
        {"key": keys.astype(str).to_numpy(), "dur": (ops["end"] - ops["start"]).to_numpy()}
    )
    return {
        "nccl": pa.table(
            {"key": pa.array(df["key"], pa.string()), "dur": pa.array(df["dur"], pa.int64())}
        )
    }


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    key = "Name" if args["by_name"] else "Type"
    ordered = sorted(parts, key=lambda p: p[0].index)
    keys, durs = merge_summary_inputs(
        [(t["nccl"].column("key"), t["nccl"].column("dur")) for _, t in ordered]
    )
    per_rank = [
        (
            info,
            {"s": summary_table(t["nccl"].column("key"), t["nccl"].column("dur"), key_column=key)},
        )
        for info, t in ordered
    ]
    return {
        "stats": summary_table(keys, durs, key_column=key),
        "rank_stats": concat_with_rank(per_rank, "s", rank_first=True),
    }
