"""NCCL Summary: time in each NCCL call, and in NCCL kernels by collective type.

``stats`` summarises NCCL's own API calls, as nsys does: the NVTX ranges of the NCCL
domain (``ncclAllReduce``, ``ncclGroupEnd``...), or c10d's ``nccl:all_reduce`` ops in
a PyTorch profiler trace. That is host time: how long each rank spent issuing
collectives. ``kernel_stats`` summarises the GPU side, the kernels whose names start
with ``nccl``, by collective type (AllReduce, Broadcast, SendRecv...) or, with
``--by-name``, by full kernel name. Both come per rank too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import gpu_activity, nccl
from nsight_lab.recipe.analysis.parts import rank_of
from nsight_lab.recipe.stats import key_durations, reduce_summaries
from nsight_lab.recipe.summary import describe_top

SPEC = RecipeSpec(
    name="nccl_sum",
    display_name="NCCL Summary",
    description=(
        "Summarises NCCL calls (NVTX ranges of the NCCL domain, or c10d nccl: ops) by name, "
        "and NCCL kernels (names starting with 'nccl') by collective type, with the nsys "
        "stats columns, over all reports and per rank."
    ),
    tables=("ranges", "kernels"),
    columns={
        "ranges": ("start", "end", "pid", "name", "domain", "kind"),
        "kernels": ("start", "end", "pid", "device_id", "stream_id", "name"),
    },
    notebook="stats.ipynb",
    question="How much time goes to each NCCL operation and collective?",
    sources=("nsys", "kineto"),
    counterpart="nsys nccl_sum",
    args=(
        Arg(
            "by_name",
            type=bool,
            default=False,
            help="Summarise kernels by full kernel name instead of by collective type.",
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    calls = nccl.nccl_ranges(ctx.trace.tables["ranges"])
    ops = gpu_activity.gpu_ops(ctx.trace.tables, memops=False)
    ops = ops[nccl.is_nccl(ops["name"])]
    keys = ops["name"] if args["by_name"] else nccl.collective_type(ops["name"])
    df = pd.DataFrame(
        {"key": keys.astype(str).to_numpy(), "dur": (ops["end"] - ops["start"]).to_numpy()}
    )
    return {
        "calls": key_durations(
            calls["name"].cast(pa.string()), pc.subtract(calls["end"], calls["start"])
        ),
        "kernels": key_durations(pa.array(df["key"], pa.string()), pa.array(df["dur"], pa.int64())),
    }


def _ranked(parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], name: str) -> list[Any]:
    """(info with its rank as index, table) so rank_stats carries trace ranks."""
    out = []
    for info, tables in sorted(parts, key=lambda p: p[0].index):
        ranked = ReportInfo(name=info.name, path=info.path, rank=info.rank, index=rank_of(info))
        out.append((ranked, tables[name]))
    return out


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    calls = reduce_summaries(_ranked(parts, "calls"))
    kernels = reduce_summaries(
        _ranked(parts, "kernels"), key_column="Name" if args["by_name"] else "Type"
    )
    return {
        "stats": calls["stats"],
        "rank_stats": calls["rank_stats"],
        "kernel_stats": kernels["stats"],
        "kernel_rank_stats": kernels["rank_stats"],
    }


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    calls = describe_top(tables["stats"], "NCCL calls")
    kernels = describe_top(tables["kernel_stats"], "kinds of NCCL kernel")
    found = [text for text in (calls, kernels) if text]
    return " ".join(found) if found else "No NCCL calls or kernels in these reports."
