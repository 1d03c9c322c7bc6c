"""Side-by-side deltas of two summaries keyed by name (the ``diff`` recipe's core).

A name present on one side only still gets a row (zeros on the other side) so new or
vanished kernels stand out; rows are ordered by how much total time moved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = (("Total Time (ns)", "Total Time"), ("Instances", "Instances"), ("Avg (ns)", "Avg"))


def _pct(delta: pd.Series, base: pd.Series) -> np.ndarray:
    b = base.to_numpy(dtype=np.float64)
    d = delta.to_numpy(dtype=np.float64)
    # Growth from nothing has no finite percentage: NaN says "new", not "0 %".
    return np.divide(100.0 * d, b, out=np.full(len(b), np.nan), where=b != 0)


def compare(a: pd.DataFrame, b: pd.DataFrame, key: str = "Name") -> pd.DataFrame:
    """Deltas of B against A (B - A) for Total Time, Instances and Avg, per ``key``."""
    cols = [m for m, _ in METRICS]
    left = a.set_index(key)[cols]
    right = b.set_index(key)[cols]
    both = left.merge(
        right, how="outer", left_index=True, right_index=True, suffixes=(" A", " B")
    ).fillna(0)
    out = pd.DataFrame(index=both.index)
    for col, label in METRICS:
        base = both[f"{col} A"]
        new = both[f"{col} B"]
        unit = " (ns)" if col.endswith("(ns)") else ""
        out[f"{label} A{unit}"] = base.to_numpy()
        out[f"{label} B{unit}"] = new.to_numpy()
        out[f"{label} Delta{unit}"] = (new - base).to_numpy()
        out[f"{label} Change (%)"] = _pct(new - base, base)
    for col in out.columns:
        if col.startswith(("Total Time", "Instances")) and not col.endswith("(%)"):
            out[col] = out[col].astype(np.int64)
    out = out.reset_index().rename(columns={"index": key})
    order = np.lexsort(
        (out[key].astype(str).to_numpy(), -np.abs(out["Total Time Delta (ns)"].to_numpy()))
    )
    return out.iloc[order].reset_index(drop=True)
