"""torch_op_sum: PyTorch operators by total and self time, from the profiler's CPU ops.

Works without a GPU: it reads the ``cpu_op`` ranges of Kineto traces. An operator's
total time runs from its start to its end; its self time leaves out the operators
it called (its children on the same thread), which is where the time was actually
spent. The statistics columns are those of ``nsys stats`` over total time, then
``Self Time (ns)`` and ``Self Time (%)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.stats import key_durations, reduce_summaries

KEY = "Operator"
SPEC = RecipeSpec(
    name="torch_op_sum",
    display_name="PyTorch Operator Summary",
    description=(
        "PyTorch operators (aten::, autograd and user ops recorded by the PyTorch profiler) "
        "by total time with the nsys stats columns, plus self time: the time not spent in "
        "the operators each one called. CPU side; needs no GPU."
    ),
    tables=("ranges",),
    question="Which PyTorch operators take the most host time, with and without their children?",
    sources=("kineto",),
    counterpart="the PyTorch profiler's key_averages() table",
    columns={"ranges": ("source", "name", "pid", "tid", "start", "end")},
    notebook="stats.ipynb",
    args=(
        Arg(
            "sort",
            type=str,
            choices=["total", "self"],
            default="total",
            help="Order rows by total time (as nsys stats) or by self time.",
        ),
        Arg("top", type=int, default=0, minimum=0, help="Keep the N first operators (0 = all)."),
    ),
)


def self_times(pid: np.ndarray, tid: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Each range's duration minus that of its direct children on the same thread.

    Ranges are walked per thread in start order (longest first on ties) with a stack
    of the ranges still open; a range's parent is the innermost open range that
    encloses it.
    """
    n = len(start)
    own = (end - start).astype(np.int64)
    children = np.zeros(n, dtype=np.int64)
    order = np.lexsort((-end, start, tid, pid))
    stack: list[int] = []
    last_thread: tuple[int, int] | None = None
    for i in order.tolist():
        thread = (int(pid[i]), int(tid[i]))
        if thread != last_thread:
            stack.clear()
            last_thread = thread
        s, e = start[i], end[i]
        while stack and end[stack[-1]] <= s:
            stack.pop()
        if stack and end[stack[-1]] >= e:
            children[stack[-1]] += e - s
        stack.append(i)
    return own - children


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    ranges = ctx.trace.tables["ranges"]
    ops = ranges.filter(pc.fill_null(pc.equal(ranges["source"].cast(pa.string()), "cpu_op"), False))
    names = pc.fill_null(ops["name"].cast(pa.string()), "")
    if ops.num_rows == 0:
        selfs = np.zeros(0, dtype=np.int64)
    else:
        selfs = self_times(
            ops["pid"].fill_null(-1).to_numpy(),
            ops["tid"].fill_null(-1).to_numpy(),
            ops["start"].to_numpy(),
            ops["end"].to_numpy(),
        )
    return {
        "durations": key_durations(names, pc.subtract(ops["end"], ops["start"])),
        "self": pa.table({KEY: names, "self": pa.array(selfs, pa.int64())}),
    }


def _with_self(stats: pa.Table, selfs: dict[str, int], sort: str, top: int) -> pa.Table:
    keys = stats[KEY].to_pylist()
    own = [selfs.get(k, 0) for k in keys]
    total = sum(selfs.values()) or 1
    index = stats.column_names.index(KEY)
    stats = stats.add_column(index, "Self Time (ns)", pa.array(own, pa.int64()))
    stats = stats.add_column(
        index + 1, "Self Time (%)", pa.array([100.0 * v / total for v in own], pa.float64())
    )
    if sort == "self":
        stats = stats.take(
            pc.sort_indices(stats, [("Self Time (ns)", "descending"), (KEY, "ascending")])
        )
    return stats.slice(0, top) if top else stats


def _self_sums(tables: Sequence[pa.Table]) -> dict[str, int]:
    sums: dict[str, int] = {}
    for table in tables:
        grouped = table.group_by(KEY).aggregate([("self", "sum")])
        for key, value in zip(
            grouped[KEY].to_pylist(), grouped["self_sum"].to_pylist(), strict=True
        ):
            sums[key] = sums.get(key, 0) + int(value or 0)
    return sums


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    out = reduce_summaries([(info, t["durations"]) for info, t in parts], key_column=KEY)
    sort, top = str(args["sort"]), int(args["top"])
    out["stats"] = _with_self(out["stats"], _self_sums([t["self"] for _, t in parts]), sort, top)
    per_report = []
    for info, tables in parts:
        rows = out["rank_stats"].filter(pc.equal(out["rank_stats"]["Rank"], info.index))
        per_report.append(_with_self(rows, _self_sums([tables["self"]]), sort, 0))
    if per_report:
        out["rank_stats"] = pa.concat_tables(per_report)
    return out
