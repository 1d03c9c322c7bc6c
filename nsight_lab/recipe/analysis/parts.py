"""Joining per-report map results into one table, each row tagged with its report's rank."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import pyarrow as pa

from nsight_lab.recipe.spec import ReportInfo


def rank_of(info: ReportInfo) -> int:
    """The report's own rank when the trace says, else its input position (as nsys does)."""
    return info.rank if info.rank is not None else info.index


def to_table(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def concat_with_rank(
    parts: Sequence[tuple[ReportInfo, Mapping[str, pa.Table]]],
    name: str,
    *,
    rank_first: bool = False,
) -> pa.Table:
    """Table ``name`` of every part, in input order, with an int64 ``Rank`` column.

    Empty maps build columns of the null type; permissive promotion lets them join
    typed ones from other reports instead of failing the reduce.
    """
    tables = []
    for info, tables_of_part in sorted(parts, key=lambda p: p[0].index):
        t = tables_of_part[name]
        rank = pa.array([rank_of(info)] * t.num_rows, pa.int64())
        tables.append(
            t.add_column(0, "Rank", rank) if rank_first else t.append_column("Rank", rank)
        )
    if not tables:
        return pa.table({"Rank": pa.array([], pa.int64())})
    return pa.concat_tables(tables, promote_options="permissive")


def concat_tables_with_rank(
    parts: Sequence[tuple[ReportInfo, Mapping[str, pa.Table]]], names: Sequence[str]
) -> dict[str, pa.Table]:
    """Each of ``names`` over every part, ``Rank`` first: the reduce of per-rank recipes."""
    return {name: concat_with_rank(parts, name, rank_first=True) for name in names}
