"""Is the candidate faster or slower than the baseline, and can we tell? (``compare``, ``diff``)

Both sides are sets of reports (one run, many ranks, many runs). For every kernel,
range and step that either side has, the durations of its instances are compared:
the change in median and in total time per report, each with a bootstrap confidence
interval.

Runs of one workload repeat the same calls in the same order, and one kernel name
often covers very different calls (a GEMM per layer), so comparing pooled durations
would drown a 10% change in that spread. When both sides have the same reports and
each report the same number of instances, the k-th instance of one side is paired
with the k-th of the other and pairs are resampled together: the spread between
layers cancels and the interval measures the change itself. Otherwise resampling
follows how the data was made: reports with replacement first (run-to-run
variation), then instances within each drawn report.

A verdict is given only when the evidence carries one: ``slower`` or ``faster`` when
the interval of the median's change excludes zero *and* the change is at least
``min_change`` percent (timer resolution and clock jitter make tiny but consistent
shifts meaningless), and when each side has at least ``min_instances`` instances
(a bootstrap of two values says little). Everything else is ``unchanged``; a name on
one side only is ``added`` or ``removed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS = ("kernel", "range", "step")
VERDICTS = ("slower", "faster", "unchanged", "added", "removed")

COLUMNS = [
    "Kind",
    "Name",
    "Verdict",
    "Base Instances",
    "Candidate Instances",
    "Base Med (ns)",
    "Candidate Med (ns)",
    "Med Change (%)",
    "Med CI Low (%)",
    "Med CI High (%)",
    "Base Total (ns)",
    "Candidate Total (ns)",
    "Total Change (%)",
    "Total CI Low (%)",
    "Total CI High (%)",
]


@dataclass(frozen=True)
class Settings:
    confidence: float = 0.95
    resamples: int = 1000
    seed: int = 0
    min_instances: int = 5
    min_change: float = 2.0


Side = list[np.ndarray]
"""One group's durations on one side: an array per report (reports without it: empty)."""


def _draw(side: Side, rng: np.random.Generator, resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap medians and per-report totals of one side: two arrays of ``resamples``."""
    n_reports = len(side)
    medians = np.empty(resamples)
    totals = np.empty(resamples)
    for b in range(resamples):
        picked = rng.integers(0, n_reports, n_reports) if n_reports > 1 else np.zeros(1, int)
        draws = []
        for i in picked:
            values = side[i]
            if len(values):
                draws.append(values[rng.integers(0, len(values), len(values))])
        pooled = np.concatenate(draws) if draws else np.zeros(0)
        medians[b] = np.median(pooled) if len(pooled) else np.nan
        totals[b] = pooled.sum() / max(n_reports, 1)
    return medians, totals


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return (np.nan, np.nan)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _pct(delta: float, base: float) -> float:
    return 100.0 * delta / base if base else np.nan


def _paired_draws(
    base: np.ndarray, cand: np.ndarray, rng: np.random.Generator, resamples: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bootstrap medians and totals of both sides, drawing instance pairs together."""
    n = len(base)
    picks = rng.integers(0, n, (resamples, n))
    b, c = base[picks], cand[picks]
    return np.median(b, axis=1), b.sum(axis=1), np.median(c, axis=1), c.sum(axis=1)


def _pairable(base: Side, cand: Side) -> bool:
    return len(base) == len(cand) and all(len(x) == len(y) for x, y in zip(base, cand, strict=True))


def compare_group(
    base: Side, cand: Side, settings: Settings, rng: np.random.Generator
) -> dict[str, object]:
    """One row of the comparison for one kernel, range or step."""
    b_all = np.concatenate(base) if base else np.zeros(0)
    c_all = np.concatenate(cand) if cand else np.zeros(0)
    row: dict[str, object] = {
        "Base Instances": len(b_all),
        "Candidate Instances": len(c_all),
        "Base Med (ns)": float(np.median(b_all)) if len(b_all) else np.nan,
        "Candidate Med (ns)": float(np.median(c_all)) if len(c_all) else np.nan,
        "Base Total (ns)": float(b_all.sum() / max(len(base), 1)),
        "Candidate Total (ns)": float(c_all.sum() / max(len(cand), 1)),
    }
    for col in ("Med CI Low (%)", "Med CI High (%)", "Total CI Low (%)", "Total CI High (%)"):
        row[col] = np.nan
    b_med, c_med = row["Base Med (ns)"], row["Candidate Med (ns)"]
    b_tot, c_tot = row["Base Total (ns)"], row["Candidate Total (ns)"]
    assert isinstance(b_med, float) and isinstance(c_med, float)
    assert isinstance(b_tot, float) and isinstance(c_tot, float)
    row["Med Change (%)"] = _pct(c_med - b_med, b_med)
    row["Total Change (%)"] = _pct(c_tot - b_tot, b_tot)
    if not len(b_all) or not len(c_all):
        row["Verdict"] = "removed" if len(b_all) else "added"
        return row
    if min(len(b_all), len(c_all)) < settings.min_instances:
        row["Verdict"] = "unchanged"
        return row
    if _pairable(base, cand):
        b_meds, b_tots, c_meds, c_tots = _paired_draws(b_all, c_all, rng, settings.resamples)
        b_tots, c_tots = b_tots / len(base), c_tots / len(cand)
    else:
        b_meds, b_tots = _draw(base, rng, settings.resamples)
        c_meds, c_tots = _draw(cand, rng, settings.resamples)
    med_low, med_high = _interval(100.0 * (c_meds - b_meds) / b_med, settings.confidence)
    tot_low, tot_high = _interval(100.0 * (c_tots - b_tots) / b_tot, settings.confidence)
    row.update(
        {
            "Med CI Low (%)": med_low,
            "Med CI High (%)": med_high,
            "Total CI Low (%)": tot_low,
            "Total CI High (%)": tot_high,
        }
    )
    change = float(row["Med Change (%)"])  # type: ignore[arg-type]
    if med_low > 0 and change >= settings.min_change:
        row["Verdict"] = "slower"
    elif med_high < 0 and change <= -settings.min_change:
        row["Verdict"] = "faster"
    else:
        row["Verdict"] = "unchanged"
    return row


def group_durations(samples: Sequence[pd.DataFrame]) -> dict[tuple[str, str], Side]:
    """(kind, name) -> one duration array per report, from per-report (Kind, Name, Duration)."""
    out: dict[tuple[str, str], Side] = {}
    for i, df in enumerate(samples):
        for (kind, name), grp in df.groupby(["Kind", "Name"], sort=False):
            side = out.setdefault((str(kind), str(name)), [np.zeros(0) for _ in samples])
            side[i] = grp["Duration (ns)"].to_numpy(dtype=np.float64)
    for side in out.values():
        while len(side) < len(samples):
            side.append(np.zeros(0))
    return out


def compare(
    base: Sequence[pd.DataFrame], cand: Sequence[pd.DataFrame], settings: Settings = Settings()
) -> pd.DataFrame:
    """The comparison table of two sides, each a list of per-report (Kind, Name, Duration).

    Rows are ordered with verdicts first (slower, faster), then by how much total time
    moved. One random generator seeded from ``settings.seed`` makes runs repeatable.
    """
    rng = np.random.default_rng(settings.seed)
    b = group_durations(base)
    c = group_durations(cand)
    rows = []
    for key in sorted(set(b) | set(c)):
        kind, name = key
        b_side = b.get(key, [np.zeros(0) for _ in base])
        c_side = c.get(key, [np.zeros(0) for _ in cand])
        rows.append({"Kind": kind, "Name": name, **compare_group(b_side, c_side, settings, rng)})
    df = pd.DataFrame(rows, columns=COLUMNS)
    if df.empty:
        return df.astype({"Kind": object, "Name": object, "Verdict": object})
    moved = (df["Candidate Total (ns)"] - df["Base Total (ns)"]).abs()
    rank = df["Verdict"].map({"slower": 0, "faster": 1}).fillna(2)
    order = np.lexsort((df["Name"].to_numpy(), -moved.to_numpy(), rank.to_numpy()))
    out = df.iloc[order].reset_index(drop=True)
    return out.astype({"Base Instances": "int64", "Candidate Instances": "int64"})


def regressions(table: pd.DataFrame, threshold_pct: float) -> pd.DataFrame:
    """Rows judged slower by at least ``threshold_pct`` percent (the CI gate's failures)."""
    slower = table[table["Verdict"] == "slower"]
    return slower[slower["Med Change (%)"] >= threshold_pct]


def describe(table: pd.DataFrame) -> str:
    """The sentence a comparison opens with: what got slower and faster, the largest first."""
    slower = table[table["Verdict"] == "slower"]
    faster = table[table["Verdict"] == "faster"]
    if slower.empty and faster.empty:
        return (
            f"No significant change in {len(table):,} kernels, ranges and steps "
            "(no interval of a median's change excludes zero by the minimum change)."
        )
    parts = [f"**{len(slower)} slower, {len(faster)} faster** of {len(table):,} compared"]
    for label, rows in (("slowest", slower), ("fastest", faster)):
        if not rows.empty:
            top = rows.sort_values("Med Change (%)", ascending=label == "fastest").iloc[0]
            parts.append(
                f"{label}: {top['Kind']} `{top['Name']}` {top['Med Change (%)']:+.1f}% "
                f"(CI {top['Med CI Low (%)']:+.1f}% to {top['Med CI High (%)']:+.1f}%)"
            )
    return "; ".join(parts) + "."
