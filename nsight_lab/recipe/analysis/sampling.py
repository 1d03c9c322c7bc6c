"""Where Python spent its time, from CPU stack samples (py-spy, nsys Python sampling).

Self time goes to the innermost frame of each sample; total (inclusive) time goes to
every function on the stack, but once per sample, so a recursive function is not
credited with the same instant several times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_LINE_SUFFIX = r":\d+\)$"

COLUMNS = [
    "Self (%)",
    "Self Samples",
    "Self Time (ns)",
    "Total (%)",
    "Total Samples",
    "Total Time (ns)",
    "Function",
]


def _frames(stack: pa.ChunkedArray, by_line: bool) -> tuple[np.ndarray, np.ndarray]:
    """(sample index, function label) for every frame of every sample."""
    lists = stack.combine_chunks() if isinstance(stack, pa.ChunkedArray) else stack
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    if pa.types.is_dictionary(flat.type):
        # Rewrite the few distinct frame strings, not every occurrence.
        values = flat.dictionary
        if not by_line:
            values = pc.replace_substring_regex(values, _LINE_SUFFIX, ")")
        labels = values.to_numpy(zero_copy_only=False)[flat.indices.to_numpy(zero_copy_only=False)]
    else:
        flat = flat.cast(pa.string())
        if not by_line:
            flat = pc.replace_substring_regex(flat, _LINE_SUFFIX, ")")
        labels = flat.to_numpy(zero_copy_only=False)
    return parents, labels


def hottest_functions(samples: pa.Table, *, by_line: bool = False) -> pd.DataFrame:
    """Self and inclusive sample counts and time per function, hottest self time first.

    Frames read ``function (file:line)``; unless ``by_line``, the line is dropped so
    one function is one row however many of its lines were sampled.
    """
    n = samples.num_rows
    if n == 0:
        return pd.DataFrame(
            {c: np.empty(0, object if c == "Function" else np.float64) for c in COLUMNS}
        )
    weights = samples.column("weight").to_numpy(zero_copy_only=False)
    weights = np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=0.0).astype(np.int64)
    stack = samples.column("stack")
    lengths = pc.list_value_length(stack.combine_chunks()).to_numpy(zero_copy_only=False)
    lengths = np.nan_to_num(np.asarray(lengths, dtype=np.float64)).astype(np.int64)
    parents, labels = _frames(stack, by_line)
    frames = pd.DataFrame({"sample": parents, "function": labels})
    # The leaf is the last frame of each non-empty stack (outermost first, leaf last).
    ends = np.cumsum(lengths)
    leaf_rows = ends[lengths > 0] - 1
    leaf = frames.iloc[leaf_rows]
    self_stats = (
        leaf.assign(w=weights[leaf["sample"].to_numpy()])
        .groupby("function")
        .agg(self_samples=("sample", "size"), self_time=("w", "sum"))
    )
    unique = frames.drop_duplicates(["sample", "function"])
    total_stats = (
        unique.assign(w=weights[unique["sample"].to_numpy()])
        .groupby("function")
        .agg(total_samples=("sample", "size"), total_time=("w", "sum"))
    )
    out = total_stats.join(self_stats, how="left").fillna(0)
    out = out.astype({"self_samples": "int64", "self_time": "int64"})
    out["Self (%)"] = 100.0 * out["self_samples"] / n
    out["Total (%)"] = 100.0 * out["total_samples"] / n
    out = out.reset_index().rename(
        columns={
            "function": "Function",
            "self_samples": "Self Samples",
            "self_time": "Self Time (ns)",
            "total_samples": "Total Samples",
            "total_time": "Total Time (ns)",
        }
    )
    out = out.sort_values(
        ["Self Samples", "Total Samples", "Function"], ascending=[False, False, True]
    )
    return out[COLUMNS].reset_index(drop=True)
