"""Which rank arrives last at each collective, and by how much, on one clock.

A collective cannot finish before its last rank joins, so every other rank waits for
that one; the rank that is repeatedly last is the straggler to look at. A rank
arrives when it calls the collective: the start of its NCCL call (NVTX NCCL domain,
or c10d's ``nccl:`` op), or, in reports without those, the start of its NCCL kernel.

Ranks are compared on one clock: each report's times plus its epoch (UTC of its
t = 0, when known) plus the clock offset an agent measured against the coordinator
(``clock_offset_ns``, when present). The k-th call of a collective within a step on
one rank is matched with the k-th call of the same collective in the same step on
the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from nsight_lab.recipe.analysis import gpu_activity, nccl
from nsight_lab.recipe.analysis.steps import DEFAULT_PATTERN, find_steps, step_of

#: What :func:`arrivals` reads: the ``columns`` of the straggler recipes.
STRAGGLER_READS = {
    "ranges": ("start", "end", "pid", "tid", "name", "domain", "kind"),
    "kernels": gpu_activity.OPS_READS["kernels"],
}

ARRIVAL_COLUMNS = ["Step", "Collective", "Instance", "Arrival (ns)", "End (ns)", "Source"]


def clock_offset(metadata: Any) -> tuple[int, bool]:
    """ns to add to a report's times to put them on the shared clock; and whether it is known.

    Reads ``clock_offset_ns`` from the metadata or its ``extra`` (written by agents that
    measured their clock), so reports without it still line up by their epoch.
    """
    offset = getattr(metadata, "clock_offset_ns", None)
    if offset is None:
        offset = (getattr(metadata, "extra", None) or {}).get("clock_offset_ns")
    epoch = getattr(metadata, "epoch_ns", None)
    total = int(epoch or 0) + int(offset or 0)
    return total, epoch is not None or offset is not None


def arrivals(
    tables: Mapping[str, pa.Table], offset: int, pattern: str = DEFAULT_PATTERN
) -> pd.DataFrame:
    """One row per collective call of one report: its step, name, instance and times."""
    calls = nccl.nccl_ranges(tables["ranges"])
    if calls.num_rows:
        df = pd.DataFrame(
            {
                "pid": calls["pid"].to_numpy(zero_copy_only=False),
                "start": calls["start"].to_numpy(zero_copy_only=False),
                "end": calls["end"].to_numpy(zero_copy_only=False),
                "Collective": calls["name"].cast(pa.string()).to_numpy(zero_copy_only=False),
                "Source": "call",
            }
        )
    else:
        ops = gpu_activity.gpu_ops(tables, memops=False)
        ops = ops[nccl.is_nccl(ops["name"])]
        df = pd.DataFrame(
            {
                "pid": ops["pid"].to_numpy(),
                "start": ops["start"].to_numpy(),
                "end": ops["end"].to_numpy(),
                "Collective": nccl.collective_type(ops["name"]).to_numpy(),
                "Source": "kernel",
            }
        )
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ARRIVAL_COLUMNS})
    df = df.astype({"start": "int64", "end": "int64"})
    steps = find_steps(tables["ranges"], pattern)
    pids = pd.to_numeric(df["pid"]).fillna(-1).astype(np.int64).to_numpy()
    df["Step"] = step_of(df["start"].to_numpy(), pids, steps) if not steps.empty else -1
    df = df.sort_values(["Step", "Collective", "start"], kind="stable")
    df["Instance"] = df.groupby(["Step", "Collective"]).cumcount()
    df["Arrival (ns)"] = df["start"] + offset
    df["End (ns)"] = df["end"] + offset
    return df[ARRIVAL_COLUMNS].reset_index(drop=True)


SUM_COLUMNS = [
    "Step",
    "Collective",
    "Instance",
    "Ranks",
    "First Rank",
    "Last Rank",
    "Arrival Spread (ns)",
    "Last Behind Median (ns)",
]


def compare_ranks(
    per_rank: Sequence[tuple[int, pd.DataFrame]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per collective: who was last and by how much; per rank and collective: its delay).

    Only collectives that at least two ranks called are compared.
    """
    frames = [df.assign(Rank=rank) for rank, df in per_rank if not df.empty]
    delays_cols = ["Step", "Collective", "Instance", "Rank", "Arrival (ns)", "Delay (ns)"]
    if not frames:
        return (
            pd.DataFrame({c: pd.Series(dtype="object") for c in SUM_COLUMNS}),
            pd.DataFrame({c: pd.Series(dtype="object") for c in delays_cols}),
        )
    every = pd.concat(frames, ignore_index=True)
    key = ["Step", "Collective", "Instance"]
    every["Ranks"] = every.groupby(key)["Rank"].transform("size")
    every = every[every["Ranks"] > 1].copy()
    first = every.groupby(key)["Arrival (ns)"].transform("min")
    every["Delay (ns)"] = every["Arrival (ns)"] - first
    rows = []
    for k, grp in every.groupby(key, sort=True):
        arrival = grp["Arrival (ns)"].to_numpy()
        last = int(np.argmax(arrival))
        rows.append(
            {
                **dict(zip(key, k, strict=True)),
                "Ranks": len(grp),
                "First Rank": int(grp["Rank"].to_numpy()[int(np.argmin(arrival))]),
                "Last Rank": int(grp["Rank"].to_numpy()[last]),
                "Arrival Spread (ns)": int(arrival.max() - arrival.min()),
                # Relative to the first arrival: epoch ns are beyond float64's exact range.
                "Last Behind Median (ns)": float(np.median(arrival.max() - arrival)),
            }
        )
    summary = pd.DataFrame(rows, columns=SUM_COLUMNS)
    return summary, every[delays_cols].sort_values([*key, "Rank"]).reset_index(drop=True)


RANK_COLUMNS = [
    "Rank",
    "Collectives",
    "Times Last",
    "Total Delay (ns)",
    "Med Delay (ns)",
    "Max Delay (ns)",
]


def rank_totals(summary: pd.DataFrame, delays: pd.DataFrame) -> pd.DataFrame:
    """Per rank: how often it was last and how late it arrived in total."""
    if delays.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in RANK_COLUMNS})
    last = summary["Last Rank"].value_counts()
    agg = delays.groupby("Rank")["Delay (ns)"].agg(["size", "sum", "median", "max"]).reset_index()
    agg.columns = ["Rank", "Collectives", "Total Delay (ns)", "Med Delay (ns)", "Max Delay (ns)"]
    agg["Times Last"] = agg["Rank"].map(last).fillna(0).astype(np.int64)
    return agg.sort_values(["Times Last", "Total Delay (ns)"], ascending=False)[RANK_COLUMNS]


def reduce_arrivals(
    per_rank: Sequence[tuple[int, pd.DataFrame]], *, steps: bool
) -> dict[str, pd.DataFrame]:
    """The straggler recipes' outputs from each rank's :func:`arrivals`."""
    summary, delays = compare_ranks(per_rank)
    if not steps:
        summary, delays = summary.drop(columns=["Step"]), delays.drop(columns=["Step"])
    return {"stragglers": summary, "delays": delays, "ranks": rank_totals(summary, delays)}
