"""The pace of one repeated thing (a kernel, an NVTX range, its GPU projection).

Every instance's start, end and duration, and two gaps from the previous instance of
the same report: ``Delta (ns)`` from its end (how long nothing of it ran) and
``Period (ns)`` from its start (the rhythm). Both are null for the first instance.
The three pace recipes differ only in what they follow, so they share this.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from nsight_lab.recipe.display import human_ns
from nsight_lab.recipe.spec import ReportInfo
from nsight_lab.recipe.stats import summary_table


def pace_table(
    info: ReportInfo,
    starts: np.ndarray,
    ends: np.ndarray,
    names: pa.Array | pa.ChunkedArray,
    extra: dict[str, pa.Array | pa.ChunkedArray] | None = None,
) -> pa.Table:
    """One row per instance, in start order (``starts``/``ends`` already sorted so)."""
    start = np.asarray(starts, dtype=np.int64)
    end = np.asarray(ends, dtype=np.int64)
    n = len(start)
    first = np.zeros(n, dtype=bool)
    first[:1] = True
    delta = np.r_[0, start[1:] - end[:-1]][:n]
    period = np.r_[0, start[1:] - start[:-1]][:n]
    plain = names.cast(pa.string()) if pa.types.is_dictionary(names.type) else names
    return pa.table(
        {
            "Rank": pa.array([info.index] * n, pa.int64()),
            "Report": pa.array([info.name] * n, pa.string()),
            "Instance": pa.array(np.arange(n), pa.int64()),
            "Name": plain,
            "Start (ns)": pa.array(start, pa.int64()),
            "End (ns)": pa.array(end, pa.int64()),
            "Duration (ns)": pa.array(end - start, pa.int64()),
            "Delta (ns)": pa.array(delta, pa.int64(), mask=first),
            "Period (ns)": pa.array(period, pa.int64(), mask=first),
            **(extra or {}),
        }
    )


def pace_stats(pace: pa.Table) -> pa.Table:
    """Statistics of the durations and of the gaps, over all reports (``Metric`` rows)."""
    deltas = pace["Delta (ns)"].drop_null()
    keys = pa.array(["Duration"] * pace.num_rows + ["Delta"] * len(deltas), pa.string())
    values = pa.concat_arrays(
        [
            pace["Duration (ns)"].combine_chunks().cast(pa.int64()),
            deltas.combine_chunks().cast(pa.int64()),
        ]
    )
    return summary_table(keys, values, key_column="Metric").drop_columns(["Time (%)"])


def reduce_pace(tables: list[pa.Table]) -> dict[str, pa.Table]:
    pace = pa.concat_tables(tables, promote_options="permissive")
    return {"pace": pace, "stats": pace_stats(pace)}


def describe_pace(tables: Mapping[str, pa.Table], what: str) -> str:
    """One sentence: how many instances, their median, and the gap spread."""
    pace = tables["pace"]
    if pace.num_rows == 0:
        return f"No instance of {what} in these reports: check the name."
    stats = {r["Metric"]: r for r in tables["stats"].to_pylist()}
    text = (
        f"**{pace.num_rows:,} instances** of {what}: median duration "
        f"{human_ns(stats['Duration']['Med (ns)'])}"
    )
    gap = stats.get("Delta")
    if gap is not None:
        text += f", median gap {human_ns(gap['Med (ns)'])} (longest {human_ns(gap['Max (ns)'])})"
    return text + "."
