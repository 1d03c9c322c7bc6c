"""Every recipe declares what it reads, and reading only that changes no result.

The engine hands a recipe tables holding only the declared columns (an undeclared
one raises), so a recipe whose declaration misses a column fails here on the real
fixtures; one that declares too little of a table would give different tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from nsight_lab.recipe import RecipeInputError, ReportContext, ReportInfo
from nsight_lab.recipe.registry import list_recipes
from nsight_lab.recipe.spec import validate_args
from nsight_lab.trace import Trace, load_trace

REPORTS = [
    Path("nsys-sqlite") / "cloverleaf-a100.sqlite",
    Path("kineto") / "nccl_parser_config__nccl_data.json.gz",
    Path("kineto") / "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz",
]
#: Arguments a recipe cannot run without (None: the report's most frequent kernel or range).
REQUIRED = {
    "cuda_gpu_kern_pace": {"name": None},
    "nvtx_pace": {"name": "range"},
    "nvtx_gpu_proj_pace": {"name": "range"},
}
#: Catalogue entries whose input no source records read nothing.
RECIPES = sorted(r.name for r in list_recipes()[0] if r.spec.runnable)


def _args(name: str, full: Trace) -> dict[str, Any]:
    raw = dict(REQUIRED.get(name, {}))
    if raw.get("name") == "range":  # follow the report's most frequent range
        names = full.table("ranges")["name"].cast(pa.string())
        counts = pa.compute.value_counts(names).to_pylist()
        raw["name"] = max(counts, key=lambda c: c["counts"])["values"] if counts else "none"
    elif "name" in raw:  # follow the report's most frequent kernel
        names = full.table("kernels")["short_name"].cast(pa.string())
        counts = pa.compute.value_counts(names).to_pylist()
        raw["name"] = max(counts, key=lambda c: c["counts"])["values"] if counts else "none"
    return raw


def _plain(tables: dict[str, pa.Table]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for key, table in tables.items():
        cols = [
            c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
            for c in table.columns
        ]
        out[key] = pa.Table.from_arrays(cols, names=table.column_names).to_pylist()
    return out


def test_every_recipe_declares_tables_and_columns() -> None:
    for recipe in (r for r in list_recipes()[0] if r.spec.runnable):
        assert recipe.spec.tables, f"{recipe.name} declares no tables"
        assert recipe.spec.columns, f"{recipe.name} declares no columns"


@pytest.mark.parametrize("report", REPORTS, ids=lambda p: p.name.split("__")[0])
@pytest.mark.parametrize("name", RECIPES)
def test_reading_only_what_is_declared_gives_the_same_map(
    name: str, report: Path, fixtures_dir: Path
) -> None:
    recipe = next(r for r in list_recipes()[0] if r.name == name)
    reads = recipe.spec.reads()
    full = load_trace(fixtures_dir / report)
    narrow = load_trace(
        fixtures_dir / report,
        tables=list(reads),
        columns={t: c for t, c in reads.items() if c is not None},
    )
    for table, cols in reads.items():
        if cols is not None:
            assert narrow.table(table).column_names == [
                c for c in full.table(table).column_names if c in cols
            ]
    args = validate_args(recipe.spec, _args(name, full))
    info = ReportInfo(name=report.name, path=str(report), rank=None, index=0)
    try:
        expected = recipe.map_report(ReportContext(trace=full, report=info), args)
    except RecipeInputError as exc:  # the report lacks the recipe's data: so must the narrow read
        with pytest.raises(RecipeInputError, match=re.escape(str(exc))):
            recipe.map_report(ReportContext(trace=narrow, report=info), args)
        return
    got = recipe.map_report(ReportContext(trace=narrow, report=info), args)
    assert _plain(got) == _plain(expected)
