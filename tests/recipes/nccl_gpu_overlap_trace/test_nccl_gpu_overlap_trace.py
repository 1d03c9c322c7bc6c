"""nccl_gpu_overlap_trace: overlap of each NCCL kernel with compute, against a direct JSON scan."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nsight_lab.recipe import run_recipe
from tests.recipes.kineto_scan import kernels


def _overlap_by_scan(path: Path) -> dict[int, int]:
    """NCCL kernel start -> ns during which some compute kernel on its device was running."""
    ks = kernels(path)
    compute = sorted((k["start"], k["end"]) for k in ks if not k["name"].startswith("nccl"))
    merged: list[list[int]] = []
    for s, e in compute:  # plain merge of sorted intervals: the textbook union
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out = {}
    for k in ks:
        if k["name"].startswith("nccl"):
            out[k["start"]] = sum(max(0, min(e, k["end"]) - max(s, k["start"])) for s, e in merged)
    return out


def test_overlap_matches_direct_scan(fixtures_dir: Path, tmp_path: Path) -> None:
    path = fixtures_dir / "kineto" / "nccl_parser_config__nccl_data.json.gz"
    result = run_recipe("nccl_gpu_overlap_trace", [path], tmp_path / "out")
    got = pd.read_parquet(tmp_path / "out" / "overlap.parquet")
    expected = _overlap_by_scan(path)
    assert len(got) == len(expected) == 21
    assert got["Device ID"].nunique() == 1  # the one device of this rank
    by_start = dict(zip(got["Start (ns)"], got["Overlap (ns)"], strict=True))
    for start, overlap in expected.items():
        near = min(by_start, key=lambda s: abs(s - start))
        assert abs(near - start) <= 1
        # Rounding of µs to ns may differ by 1 ns at each end of each overlapping piece.
        assert abs(by_start[near] - overlap) <= 64
    assert (got["Overlap (ns)"] > 0).any() and (got["Overlap (ns)"] == 0).any()
    assert got["Overlap (%)"].between(0, 100).all()
    assert result.html is not None and result.html.is_file()
