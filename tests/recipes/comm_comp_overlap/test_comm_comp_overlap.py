"""comm_comp_overlap: communication time and its overlap with compute, by interval arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsight_lab.recipe import run_recipe
from tests.recipes.conftest import NCCL
from tests.recipes.expect import both, merged
from tests.recipes.kineto_scan import events, ns_span


def test_overlap_matches_interval_intersection(fixtures_dir: Path, tmp_path: Path) -> None:
    kernels = [e for e in events(fixtures_dir / NCCL) if e.get("cat") == "kernel"]
    comm = merged([ns_span(e) for e in kernels if e["name"].startswith("nccl")])
    comp = merged([ns_span(e) for e in kernels if not e["name"].startswith("nccl")])
    comm_time = sum(b - a for a, b in comm)
    overlapped = sum(b - a for a, b in both(comm, comp))
    result = run_recipe("comm_comp_overlap", [fixtures_dir / NCCL], tmp_path / "o", notebook=False)
    (row,) = result.tables["overlap"].to_pylist()
    assert row["Communication (ns)"] == pytest.approx(comm_time, abs=len(comm))
    assert row["Overlapped (ns)"] == pytest.approx(overlapped, abs=len(comm))
    assert row["Exposed (ns)"] == row["Communication (ns)"] - row["Overlapped (ns)"]
    assert row["Overlap (%)"] == pytest.approx(100 * overlapped / comm_time, abs=0.01)
    assert 0 < row["Overlap (%)"] < 100
