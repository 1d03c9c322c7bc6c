"""Training steps: which ranges mark them, and what number each one carries.

PyTorch's profiler names each step ``ProfilerStep#<n>``; code annotated with
``nsight_lab.annotate("step")`` or NVTX writes ranges called ``step`` (or
``step 12``, ``step_12``). A step's label is the number in its name when it has one,
so ranks agree on which step is which; otherwise it is the step's position among
its process's steps.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa

DEFAULT_PATTERN = r"ProfilerStep#\d+|[Ss]tep(?:[ _#:]?\d+)?"
_NUMBER = re.compile(r"(\d+)\s*$")


def find_steps(ranges: pa.Table, pattern: str = DEFAULT_PATTERN) -> pd.DataFrame:
    """Step ranges (ended, not marks) as pid, tid, start, end, name and an integer ``step``."""
    cols = ["pid", "tid", "start", "end", "name", "step"]
    if ranges.num_rows == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    df = pd.DataFrame(
        {
            c: (
                ranges.column(c).cast(pa.string())
                if pa.types.is_dictionary(ranges.column(c).type)
                else ranges.column(c)
            ).to_numpy(zero_copy_only=False)
            for c in ("pid", "tid", "start", "end", "name", "kind")
        }
    )
    regex = re.compile(rf"^(?:{pattern})$")
    keep = df["name"].fillna("").map(lambda n: bool(regex.match(n))) & df["end"].notna()
    keep &= df["kind"] != "mark"
    df = df[keep].sort_values(["pid", "start"], kind="stable").copy()
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    numbers = df["name"].map(lambda n: _NUMBER.search(n))
    position = df.groupby("pid").cumcount()
    df["step"] = [
        int(m.group(1)) if m is not None else int(p) for m, p in zip(numbers, position, strict=True)
    ]
    df = df.astype({"start": "int64", "end": "int64"})
    return df[cols].reset_index(drop=True)


def step_of(times: np.ndarray, pids: np.ndarray, steps: pd.DataFrame) -> np.ndarray:
    """The step label each (time, pid) falls in, or -1 outside every step of its process."""
    out = np.full(len(times), -1, dtype=np.int64)
    for pid, mine in steps.groupby("pid"):
        at = np.flatnonzero(pids == pid)
        if len(at) == 0:
            continue
        starts = mine["start"].to_numpy()
        ends = mine["end"].to_numpy()
        k = np.searchsorted(starts, times[at], side="right") - 1
        inside = (k >= 0) & (times[at] <= ends[np.maximum(k, 0)])
        out[at[inside]] = mine["step"].to_numpy()[k[inside]]
    return out
