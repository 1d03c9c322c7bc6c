"""nccl_gpu_proj_sum: c10d's NCCL ops re-timed to their kernels, from a direct JSON scan."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from nsight_lab.recipe import run_recipe
from tests.recipes.conftest import NCCL
from tests.recipes.expect import stats_of


def ns(us: float) -> int:
    return round(us * 1000)


def projected_ops(path: Path) -> dict[str, list[tuple[int, int, int]]]:
    """name -> (projected duration, host duration, GPU ops) per nccl: op, by the nsys rule."""
    with gzip.open(path) as fh:
        events = [e for e in json.load(fh)["traceEvents"] if e.get("ph") == "X"]
    gpu: dict[int, list[tuple[int, int]]] = {}
    for e in events:
        if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"):
            start = ns(e["ts"])
            gpu.setdefault(e["args"]["correlation"], []).append((start, start + ns(e["dur"])))
    launches = [e for e in events if e.get("cat") in ("cuda_runtime", "cuda_driver")]
    out: dict[str, list[tuple[int, int, int]]] = {}
    for op in events:
        if not op["name"].startswith("nccl:") or op.get("cat") != "user_annotation":
            continue
        lo, hi = ns(op["ts"]), ns(op["ts"]) + ns(op["dur"])
        spans = [
            span
            for call in launches
            if (call["pid"], call["tid"]) == (op["pid"], op["tid"])
            and lo <= ns(call["ts"])
            and ns(call["ts"]) + ns(call["dur"]) <= hi
            for span in gpu.get(call["args"].get("correlation"), [])
        ]
        if spans:
            n_ops = sum(
                1
                for call in launches
                if (call["pid"], call["tid"]) == (op["pid"], op["tid"])
                and lo <= ns(call["ts"])
                and ns(call["ts"]) + ns(call["dur"]) <= hi
                and call["args"].get("correlation") in gpu
            )
            proj = max(e for _, e in spans) - min(s for s, _ in spans)
            out.setdefault(op["name"], []).append((proj, hi - lo, n_ops))
    return out


def test_projected_nccl_ops_match_a_scan_of_the_json(fixtures_dir: Path, tmp_path: Path) -> None:
    expected = projected_ops(fixtures_dir / NCCL)
    assert set(expected) == {"nccl:all_reduce", "nccl:broadcast"}
    result = run_recipe("nccl_gpu_proj_sum", [fixtures_dir / NCCL], tmp_path / "o", notebook=False)
    rows = {r["Range"]: r for r in result.tables["stats"].to_pylist()}
    assert set(rows) == set(expected)
    for name, items in expected.items():
        want = stats_of([p for p, _, _ in items])
        row = rows[name]
        assert row["Range Instances"] == want["count"]
        assert row["Total Proj Time (ns)"] == pytest.approx(want["total"], abs=2 * len(items))
        assert row["Proj Med (ns)"] == pytest.approx(want["median"], abs=2)
        assert row["Proj StdDev (ns)"] == pytest.approx(want["stdev"], abs=2)
        assert row["Total Range Time (ns)"] == pytest.approx(
            sum(h for _, h, _ in items), abs=len(items)
        )
        assert row["Total GPU Ops"] == sum(n for _, _, n in items)
