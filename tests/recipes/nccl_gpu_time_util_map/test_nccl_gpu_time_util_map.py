"""nccl_gpu_time_util_map: per-bin communication, compute and overlap, from a direct scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nsight_lab.recipe import run_recipe
from tests.recipes.conftest import NCCL
from tests.recipes.expect import both, covered, merged
from tests.recipes.kineto_scan import kernels


def test_bins_match_interval_arithmetic_on_the_json(fixtures_dir: Path, tmp_path: Path) -> None:
    raw = kernels(fixtures_dir / NCCL)
    bins = 12
    result = run_recipe(
        "nccl_gpu_time_util_map", [fixtures_dir / NCCL], tmp_path / "o", args={"bins": bins},
        notebook=False,
    )  # fmt: skip
    table = result.tables["util_map"].to_pandas()
    lo = min(k["start"] for k in raw)
    hi = max(k["end"] for k in raw)
    edges = np.linspace(lo, hi, bins + 1).round().astype(np.int64)
    for device in sorted({k["device"] for k in raw}):
        mine = [k for k in raw if k["device"] == device]
        comm = merged([(k["start"], k["end"]) for k in mine if k["name"].startswith("nccl")])
        comp = merged([(k["start"], k["end"]) for k in mine if not k["name"].startswith("nccl")])
        overlap = both(comm, comp)
        rows = table[table["Device ID"] == device].sort_values("Bin")
        assert len(rows) == bins
        for (_, row), a, b in zip(rows.iterrows(), edges[:-1], edges[1:], strict=True):
            width = b - a
            for col, spans in (
                ("Communication (%)", comm),
                ("Compute (%)", comp),
                ("Overlap (%)", overlap),
            ):
                assert row[col] == pytest.approx(100 * covered(spans, a, b) / width, abs=1e-6), col
    assert table["Overlap (%)"].max() > 0  # DDP overlaps all-reduce with backward compute
