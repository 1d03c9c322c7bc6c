"""The few sentences a run record and its HTML open with: what the recipe found.

A recipe may define ``summarize(tables, args)``; otherwise :func:`default_summary`
reads the shape every summary recipe shares (a ``stats`` table in the ``nsys stats``
layout) and names the largest entry, or just counts rows for other tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe.display import fmt_number, human_ns

_COUNT_COLUMNS = ("Instances", "Num Calls", "Count", "Range Instances")


def key_column(table: pa.Table) -> str | None:
    """The label column of a summary: the last string column (Name, Range, Operation...)."""
    names = [f.name for f in table.schema if pa.types.is_string(f.type) and f.name != "Report"]
    return names[-1] if names else None


def describe_top(table: pa.Table, noun: str = "entries") -> str:
    """One sentence on the largest row of an nsys-style summary sorted by total time."""
    key = key_column(table)
    total_col = next((c for c in table.column_names if c.startswith("Total")), None)
    if key is None or total_col is None or table.num_rows == 0:
        return ""
    row = table.slice(0, 1).to_pylist()[0]
    count_col = next((c for c in _COUNT_COLUMNS if c in row), None)
    share = row.get("Time (%)")
    total = row[total_col]
    amount = human_ns(total) if "(ns)" in total_col else fmt_number(total)
    parts = [f"**{fmt_number(table.num_rows)} {noun}**; the largest is `{row[key]}`"]
    if share is not None:
        parts.append(f" with {float(share):.1f}% of the total ({amount}")
    else:
        parts.append(f" ({amount}")
    if count_col is not None:
        parts.append(f" over {fmt_number(row[count_col])} {count_col.lower()}")
    parts.append(").")
    return "".join(parts)


def default_summary(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    """A summary for recipes that do not write their own."""
    stats = tables.get("stats")
    if stats is not None and stats.num_rows and "Time (%)" in stats.column_names:
        return describe_top(stats)
    counts = ", ".join(f"{fmt_number(t.num_rows)} rows in `{n}`" for n, t in tables.items())
    if not counts:
        return "The recipe produced no tables."
    empty = all(t.num_rows == 0 for t in tables.values())
    return ("Nothing found: " if empty else "") + counts + "."


def total(table: pa.Table, column: str) -> int:
    """Sum of an integer column (0 for an empty table)."""
    if table.num_rows == 0:
        return 0
    value = pc.sum(table[column]).as_py()
    return int(value or 0)
