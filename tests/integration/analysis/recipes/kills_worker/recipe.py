"""Test recipe: SIGKILLs the process mapping the report named ``victim``.

A stand-in for a report that takes its worker down (an importer exhausting memory
and the kernel's OOM killer ending the process): whichever worker maps that report
dies, every time. Other reports are counted like ``kernel_count`` does.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo

SPEC = RecipeSpec(
    name="kills_worker",
    display_name="Kills its worker (test)",
    description="Kills the process that maps the report named victim.",
    tables=("kernels",),
    columns={"kernels": ("start",)},
    notebook="killed.ipynb",
    args=(
        Arg("victim", type=str, default="", help="Report name whose mapping process dies."),
        Arg(
            "seconds", type=float, default=0.0, help="Sleep before mapping each report.", minimum=0
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    time.sleep(args["seconds"])
    if ctx.report.name == args["victim"]:
        os.kill(os.getpid(), signal.SIGKILL)
    kernels = ctx.trace.tables["kernels"]
    return {
        "counts": pa.table(
            {"Report": [ctx.report.name], "Kernels": [kernels.num_rows], "PID": [os.getpid()]}
        )
    }


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"counts": pa.concat_tables([tables["counts"] for _, tables in parts])}
