"""step_time_sum: how long each training step took on each rank, and who was slowest.

Steps are the ``ProfilerStep#N`` ranges PyTorch and the nsight-lab agent write, or
``step`` ranges (``nsight_lab.annotate("step")``, NVTX) numbered in order from the
first step the agent recorded (the report's metadata says which). A rank is
``torch.distributed``'s rank when the report knows it, else the report's position.
In a synchronous data-parallel job every rank waits for the slowest at each step,
so the slowest rank per step is where to look first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.stats import summary_table

_PROFILER_STEP = re.compile(r"^ProfilerStep#(\d+)$")

SPEC = RecipeSpec(
    name="step_time_sum",
    display_name="Step Time Summary",
    description=(
        "Per training step and per rank: step durations (ProfilerStep#N or annotate('step') "
        "ranges), the slowest rank of each step and the spread between ranks, plus nsys-stats "
        "columns of step time per rank."
    ),
    tables=("ranges",),
    question="How long does each training step take on each rank, and which rank is slowest?",
    sources=("kineto",),
    counterpart="TensorBoard's step-time view of the PyTorch profiler",
    columns={"ranges": ("source", "name", "start", "end")},
    notebook="steps.ipynb",
    args=(
        Arg(
            "name",
            type=str,
            default="step",
            help="Name of the annotation that marks a step (ProfilerStep#N is always read).",
        ),
    ),
)


def _steps_first(ctx: ReportContext) -> int:
    agent = ctx.trace.metadata.extra.get("nsight_lab")
    steps = agent.get("steps") if isinstance(agent, dict) else None
    first = steps.get("first") if isinstance(steps, dict) else None
    return first if isinstance(first, int) else 0


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    ranges = ctx.trace.tables["ranges"]
    on_cpu = pc.invert(
        pc.fill_null(pc.equal(ranges["source"].cast(pa.string()), "gpu_user_annotation"), False)
    )
    ranges = ranges.filter(on_cpu)
    names = ranges["name"].cast(pa.string()).to_pylist()
    starts = ranges["start"].to_pylist()
    ends = ranges["end"].to_pylist()
    numbered = [
        (int(m.group(1)), s, e)
        for n, s, e in zip(names, starts, ends, strict=True)
        if n and (m := _PROFILER_STEP.match(n))
    ]
    if not numbered:
        plain = sorted(
            (s, e) for n, s, e in zip(names, starts, ends, strict=True) if n == args["name"]
        )
        first = _steps_first(ctx)
        numbered = [(first + i, s, e) for i, (s, e) in enumerate(plain)]
    numbered.sort()
    epoch = ctx.trace.metadata.aligned_epoch_ns
    rank = ctx.report.rank if ctx.report.rank is not None else ctx.report.index
    return {
        "steps": pa.table(
            {
                "Step": pa.array([n for n, _, _ in numbered], pa.int64()),
                "Rank": pa.array([rank] * len(numbered), pa.int64()),
                "Report": pa.array([ctx.report.name] * len(numbered), pa.string()),
                # UTC ns on the coordinator's clock when known (reports line up), else
                # the report's own timeline.
                "Start (ns)": pa.array(
                    [s + epoch if epoch is not None else s for _, s, _ in numbered], pa.int64()
                ),
                "Duration (ns)": pa.array([e - s for _, s, e in numbered], pa.int64()),
            }
        )
    }


_STEPS_SCHEMA = pa.schema(
    [
        ("Step", pa.int64()),
        ("Rank", pa.int64()),
        ("Report", pa.string()),
        ("Start (ns)", pa.int64()),
        ("Duration (ns)", pa.int64()),
    ]
)


def _per_step(steps: pa.Table) -> pa.Table:
    rows: dict[int, list[tuple[int, int]]] = {}
    for step, rank, duration in zip(
        steps["Step"].to_pylist(),
        steps["Rank"].to_pylist(),
        steps["Duration (ns)"].to_pylist(),
        strict=True,
    ):
        rows.setdefault(step, []).append((duration, rank))
    out: dict[str, list[Any]] = {
        k: []
        for k in (
            "Step",
            "Ranks",
            "Min (ns)",
            "Med (ns)",
            "Max (ns)",
            "Slowest Rank",
            "Spread (%)",
        )
    }
    for step in sorted(rows):
        durations = sorted(rows[step])
        values = [d for d, _ in durations]
        mid = len(values) // 2
        median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        out["Step"].append(step)
        out["Ranks"].append(len(values))
        out["Min (ns)"].append(values[0])
        out["Med (ns)"].append(float(median))
        out["Max (ns)"].append(values[-1])
        out["Slowest Rank"].append(durations[-1][1])
        out["Spread (%)"].append(100.0 * (values[-1] - values[0]) / values[0] if values[0] else 0.0)
    return pa.table(
        out,
        schema=pa.schema(
            [
                ("Step", pa.int64()),
                ("Ranks", pa.int64()),
                ("Min (ns)", pa.int64()),
                ("Med (ns)", pa.float64()),
                ("Max (ns)", pa.int64()),
                ("Slowest Rank", pa.int64()),
                ("Spread (%)", pa.float64()),
            ]
        ),
    )


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    tables = [t["steps"] for _, t in parts if t["steps"].num_rows]
    steps = pa.concat_tables(tables) if tables else _STEPS_SCHEMA.empty_table()
    steps = steps.take(pc.sort_indices(steps, [("Step", "ascending"), ("Rank", "ascending")]))
    rank_stats = summary_table(
        [pc.cast(steps["Rank"], pa.string())], [steps["Duration (ns)"]], "Rank"
    )
    return {"steps": steps, "stats": _per_step(steps), "rank_stats": rank_stats}
