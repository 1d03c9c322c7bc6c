"""Test recipe: writes its pid, then sleeps in map_report (for cancel and kill tests)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo

SPEC = RecipeSpec(
    name="slow_map",
    display_name="Slow map (test)",
    description="Sleeps in map_report.",
    tables=("kernels",),
    columns={"kernels": ("start",)},
    notebook="slept.ipynb",
    args=(
        Arg("seconds", type=float, default=60.0, help="How long to sleep.", minimum=0),
        Arg("pid_file", type=str, default="", help="Where to write the mapping process id."),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    if args["pid_file"]:
        Path(args["pid_file"]).write_text(str(os.getpid()))
    print(f"slow_map: sleeping {args['seconds']} s on {ctx.report.name}", flush=True)
    time.sleep(args["seconds"])
    return {"slept": pa.table({"Report": [ctx.report.name], "Seconds": [args["seconds"]]})}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"slept": pa.concat_tables([tables["slept"] for _, tables in parts])}
