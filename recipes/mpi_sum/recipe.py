"""mpi_sum: time in each MPI function, by kind (p2p, collectives, start-wait, other).

MPI calls come from nsys's MPI trace (``--trace=mpi``), read as ranges of source
``mpi`` (or NVTX ranges of an ``MPI`` domain in older exports). Columns follow nsys's
MPI summary: the ``nsys stats`` statistics, then ``Source`` and ``Name``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis.mpi import mpi_calls, mpi_source
from nsight_lab.recipe.errors import RecipeInputError
from nsight_lab.recipe.stats import key_durations, reduce_summaries
from nsight_lab.recipe.summary import describe_top

_SEP = "\x1f"

SPEC = RecipeSpec(
    name="mpi_sum",
    display_name="MPI Summary",
    description=(
        "Statistics of the time spent in each MPI function, with its kind (p2p, collectives, "
        "start-wait, other), over all reports and per report."
    ),
    tables=("ranges",),
    columns={"ranges": ("start", "end", "name", "domain", "kind", "source")},
    notebook="stats.ipynb",
    question="Which MPI calls took the ranks' time, and of which kind?",
    sources=("nsys",),
    counterpart="nsys mpi_sum",
)

NO_MPI = "no MPI calls in this report: profile with nsys profile --trace=mpi"


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    calls = mpi_calls(ctx.trace.tables["ranges"])
    if calls.num_rows == 0:
        raise RecipeInputError(NO_MPI)
    names = calls["name"].cast(pa.string())
    sources = pa.array([mpi_source(n) for n in names.to_pylist()], pa.string())
    keys = pc.binary_join_element_wise(sources, pc.fill_null(names, ""), _SEP)
    return {"durations": key_durations(keys, pc.subtract(calls["end"], calls["start"]))}


def _split(table: pa.Table) -> pa.Table:
    parts = pc.split_pattern(table["Name"], _SEP, max_splits=1)
    at = table.column_names.index("Name")
    table = table.set_column(at, "Name", pc.list_element(parts, 1))
    return table.add_column(at, "Source", pc.list_element(parts, 0))


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    out = reduce_summaries([(info, t["durations"]) for info, t in parts])
    return {name: _split(table) for name, table in out.items()}


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    return describe_top(tables["stats"], "MPI functions")
