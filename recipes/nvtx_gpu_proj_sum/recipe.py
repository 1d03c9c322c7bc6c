"""NVTX GPU Projection Summary: per range name, how long its GPU work took.

Columns follow ``nsys stats --report nvtx_gpu_proj_sum`` (Range, Style, Total Proj
Time, Total Range Time, Range Instances, Proj Avg/Med/Min/Max/StdDev, Total GPU Ops,
Avg GPU Ops, Avg Range Lvl, Avg Num Child), with the ``Time (%)`` share in front.
GPU work launched outside every range is one more row with a null Range and Style.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import projection
from nsight_lab.recipe.stats import summary_table

SPEC = RecipeSpec(
    name="nvtx_gpu_proj_sum",
    display_name="NVTX GPU Projection Summary",
    description=(
        "Summarises CPU ranges projected onto the GPU (see nvtx_gpu_proj_trace) by range "
        "name: total, average, median, min, max and standard deviation of the projected "
        "duration beside the original CPU duration, and how many GPU operations each "
        "range launched."
    ),
    tables=("ranges", "api", "kernels", "memops"),
    notebook="stats.ipynb",
    question="How long did the GPU work of each annotated phase take?",
    sources=("nsys", "kineto", "annotations"),
    counterpart="nsys nvtx_gpu_proj_sum",
    args=(
        Arg(
            "cpu_ops",
            type=bool,
            default=False,
            help="Also project PyTorch operator ranges (Kineto cpu_op), like nsys --pytorch=autograd-nvtx.",
        ),
    ),
)

OUTPUT_COLUMNS = [
    "Time (%)",
    "Range",
    "Style",
    "Total Proj Time (ns)",
    "Total Range Time (ns)",
    "Range Instances",
    "Proj Avg (ns)",
    "Proj Med (ns)",
    "Proj Min (ns)",
    "Proj Max (ns)",
    "Proj StdDev (ns)",
    "Total GPU Ops",
    "Avg GPU Ops",
    "Avg Range Lvl",
    "Avg Num Child",
]
SCHEMA = pa.schema(
    [
        (
            c,
            pa.string()
            if c in ("Range", "Style")
            else pa.int64()
            if c.startswith("Total")
            or c == "Range Instances"
            or c in ("Proj Min (ns)", "Proj Max (ns)")
            else pa.float64(),
        )
        for c in OUTPUT_COLUMNS
    ]
)
UNRANGED = "\x00outside every range"
_KEEP = ["Name", "Style", "Projected Duration", "Orig Duration", "NumGPUOps", "Lvl", "NumChild"]


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    extra = ("cpu_op",) if args.get("cpu_ops") else ()
    return {
        "projected": projection.project(
            ctx.trace.tables, projection.DEFAULT_SOURCES + extra
        ).select(_KEEP)
    }


def summarise(projected: pa.Table) -> pa.Table:
    """The summary of projected rows from any number of reports."""
    if projected.num_rows == 0:
        return pa.Table.from_pandas(
            pd.DataFrame(columns=OUTPUT_COLUMNS), preserve_index=False
        ).cast(SCHEMA)
    projected = projected.combine_chunks()
    names = pc.fill_null(projected.column("Name"), UNRANGED)
    projected = projected.set_column(projected.column_names.index("Name"), "Name", names)
    stats = summary_table(names, projected.column("Projected Duration"), key_column="Range")
    extra = (
        projected.select(["Name", "Style", "Orig Duration", "NumGPUOps", "Lvl", "NumChild"])
        .to_pandas()
        .groupby("Name", sort=False)
        .agg(
            style=("Style", lambda s: "/".join(sorted(set(s.dropna())))),
            range_time=("Orig Duration", "sum"),
            ops=("NumGPUOps", "sum"),
            avg_ops=("NumGPUOps", "mean"),
            lvl=("Lvl", "mean"),
            child=("NumChild", "mean"),
        )
    )
    df = stats.to_pandas().join(extra, on="Range")
    outside = df["Range"] == UNRANGED
    df["Range"] = df["Range"].where(~outside, None)
    df["style"] = df["style"].where(~outside, None)
    out = pd.DataFrame(
        {
            "Time (%)": df["Time (%)"],
            "Range": df["Range"],
            "Style": df["style"],
            "Total Proj Time (ns)": df["Total Time (ns)"],
            "Total Range Time (ns)": df["range_time"].round().astype("int64"),
            "Range Instances": df["Instances"],
            "Proj Avg (ns)": df["Avg (ns)"],
            "Proj Med (ns)": df["Med (ns)"],
            "Proj Min (ns)": df["Min (ns)"],
            "Proj Max (ns)": df["Max (ns)"],
            "Proj StdDev (ns)": df["StdDev (ns)"],
            "Total GPU Ops": df["ops"].astype("int64"),
            "Avg GPU Ops": df["avg_ops"].astype("float64"),
            "Avg Range Lvl": df["lvl"].astype("float64"),
            "Avg Num Child": df["child"].astype("float64"),
        }
    )
    return pa.Table.from_pandas(out[OUTPUT_COLUMNS], preserve_index=False).cast(SCHEMA)


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    tables = [t["projected"] for _, t in parts]
    projected = (
        pa.concat_tables(tables) if tables else projection.TRACE_SCHEMA.empty_table().select(_KEEP)
    )
    return {"stats": summarise(projected)}
