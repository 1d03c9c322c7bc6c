"""critical_path: a known answer on a small trace, and the path's invariants on real ones."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pyarrow as pa
import pytest

from nsight_lab.jupyter.widgets.lanes import trace_events
from nsight_lab.recipe import run_recipe
from nsight_lab.recipe.analysis.critical_path import with_critical_path
from nsight_lab.trace import load_trace
from tests.recipes.conftest import ALEXNET, CLOVERLEAF


def x(cat: str, name: str, ts: float, dur: float, **args: object) -> dict[str, object]:
    return {
        "ph": "X",
        "cat": cat,
        "name": name,
        "pid": 1,
        "tid": 1,
        "ts": ts,
        "dur": dur,
        "args": args,
    }


def gpu(cat: str, name: str, ts: float, dur: float, corr: int) -> dict[str, object]:
    event = x(cat, name, ts, dur, device=0, stream=7, correlation=corr)
    event.update(pid=0, tid=7)
    return event


def small_trace(path: Path) -> None:
    """Launch A, launch B, synchronise; A runs long, B waits for it, the sync for B."""
    events = [
        x("cpu_op", "aten::forward", 0, 200),
        x("cuda_runtime", "cudaLaunchKernel", 0, 10, correlation=1),
        gpu("kernel", "kernel_a", 20, 80, 1),
        x("cuda_runtime", "cudaLaunchKernel", 15, 10, correlation=2),
        gpu("kernel", "kernel_b", 100, 50, 2),
        x("cuda_runtime", "cudaDeviceSynchronize", 30, 130, correlation=3),
        x("cuda_runtime", "cudaMemsetAsync", 180, 5, correlation=4),
        gpu("gpu_memset", "Memset (Device)", 300, 10, 4),
    ]
    with gzip.open(path, "wt") as fh:
        json.dump({"traceEvents": events}, fh)


def test_small_trace_has_the_path_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "small.json.gz"
    small_trace(path)
    result = run_recipe("critical_path", [path], tmp_path / "o", notebook=False)
    got = [
        (r["Kind"], r["Start (ns)"] // 1000, r["End (ns)"] // 1000, r["Name"])
        for r in result.tables["critical_path"].to_pylist()
    ]
    assert got == [
        ("launch", 0, 10, "cudaLaunchKernel"),
        ("launch latency", 10, 20, "kernel_a"),
        ("kernel", 20, 100, "kernel_a"),
        ("kernel", 100, 150, "kernel_b"),  # waited on the stream, not on its launch at 15
        ("sync wait", 150, 160, "cudaDeviceSynchronize"),
        ("cpu", 160, 180, "aten::forward"),
        ("launch", 180, 185, "cudaMemsetAsync"),
        ("launch latency", 185, 300, "[CUDA memset]"),
        ("memset", 300, 310, "[CUDA memset]"),
    ]
    kinds = {r["Kind"]: r["Time (ns)"] for r in result.tables["breakdown"].to_pylist()}
    assert kinds["kernel"] == 130_000 and sum(kinds.values()) == 310_000


@pytest.mark.parametrize("report", [ALEXNET, CLOVERLEAF])
def test_path_is_contiguous_and_made_of_real_events(
    fixtures_dir: Path, tmp_path: Path, report: str
) -> None:
    result = run_recipe("critical_path", [fixtures_dir / report], tmp_path / "o", notebook=False)
    path = result.tables["critical_path"].to_pylist()
    assert len(path) > 50
    for before, after in itertools.pairwise(path):
        assert before["End (ns)"] == after["Start (ns)"]
    trace = load_trace(fixtures_dir / report)
    starts = [trace.tables[t]["start"] for t in ("api", "kernels", "memops")]
    ends = [trace.tables[t]["end"] for t in ("api", "kernels", "memops")]
    first = min(pa.compute.min(s).as_py() for s in starts if len(s))
    last = max(pa.compute.max(e).as_py() for e in ends if len(e))
    assert path[0]["Start (ns)"] == first and path[-1]["End (ns)"] == last
    kernels = {(s, n) for s, n in zip(trace.tables["kernels"]["start"].to_pylist(),
                                      trace.tables["kernels"]["name"].to_pylist(), strict=True)}  # fmt: skip
    on_path = [(r["Start (ns)"], r["Name"]) for r in path if r["Kind"] == "kernel"]
    assert on_path and set(on_path) <= kernels
    total = sum(r["Time (ns)"] for r in result.tables["breakdown"].to_pylist())
    assert total == last - first


def test_path_overlays_the_timeline_lanes(fixtures_dir: Path, tmp_path: Path) -> None:
    report = fixtures_dir / ALEXNET
    result = run_recipe("critical_path", [report], tmp_path / "o", notebook=False)
    path = result.tables["critical_path"]
    overlaid = with_critical_path(load_trace(report), path)
    cols = trace_events(overlaid, layers=("ranges",))
    assert any(name.startswith("critical path: kernel") for name in cols.names)
    lanes = {key.group for key in cols.rows}
    assert any(g.startswith("GPU") for g in lanes) and any(g.startswith("process") for g in lanes)
    rows = overlaid.tables["ranges"].filter(
        pa.compute.equal(overlaid.tables["ranges"]["source"], "critical_path")
    )
    assert rows.num_rows == path.num_rows
    on_gpu = rows.filter(pa.compute.is_valid(rows["device_id"]))
    gpu_kinds = [k for k in path["Kind"].to_pylist() if k in ("kernel", "memcpy", "memset")]
    assert on_gpu.num_rows >= len(gpu_kinds) > 0
