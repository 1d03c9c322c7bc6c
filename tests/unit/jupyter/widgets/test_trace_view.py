"""Reports placed on one axis: tiles, an event's every column, a window's kernel summary."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from nsight_lab.jupyter.widgets.lanes import split_ref
from nsight_lab.jupyter.widgets.trace_view import (
    LAYOUT_FILE,
    ConvertedSource,
    MemorySource,
    Part,
    ReportTimeline,
    TraceView,
    TraceViewError,
    align,
)
from nsight_lab.recipe import run_recipe
from nsight_lab.trace import Trace, TraceMetadata, convert_trace, load_trace
from nsight_lab.trace.converted import ConvertedTrace

RANKS = ("trace_filter__sampled_rank-0.json.gz", "trace_filter__sampled_rank-1.json.gz")


@pytest.fixture(scope="module")
def ranks(fixtures_dir: Path) -> list[Trace]:
    return [load_trace(fixtures_dir / "kineto" / name) for name in RANKS]


@pytest.fixture(scope="module")
def cloverleaf(fixtures_dir: Path) -> Path:
    return fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"


def two_rank_view(ranks: list[Trace]) -> TraceView:
    parts = [
        Part(ReportTimeline.build(t.tables, t.metadata), MemorySource(t), f"rank {i}")
        for i, t in enumerate(ranks)
    ]
    return TraceView(parts)


def decode(buffers: list[bytes]) -> dict[str, np.ndarray]:
    kinds = [("start", "<f8"), ("end", "<f8"), ("row", "<i4"), ("count", "<u4"),
             ("name", "<i4"), ("busy", "<f8")]  # fmt: skip
    return {k: np.frombuffer(b, t) for (k, t), b in zip(kinds, buffers, strict=True)}


def timeline_with(meta: TraceMetadata, start: int) -> ReportTimeline:
    kernels = pa.table({"start": [start], "end": [start + 10], "device_id": pa.array([0], pa.int32()),
                        "stream_id": [1], "short_name": ["k"], "name": ["k"]})  # fmt: skip
    trace = Trace({"kernels": kernels}, meta)
    return ReportTimeline.build(trace.tables, meta)


def test_two_ranks_share_one_axis_with_a_group_per_rank(ranks: list[Trace]) -> None:
    view = two_rank_view(ranks)
    # These PyTorch traces stamp events in UTC microseconds already: taken as they are.
    assert view.alignment == "wall-clock timestamps"
    firsts = [min(t.tables[n].column("start").to_numpy().min() for n in ("kernels", "memops",
                  "ranges")) for t in ranks]  # fmt: skip
    assert view.origin_ns == min(firsts)
    assert [p.shift_ns for p in view.parts] == [-min(firsts)] * 2
    groups = [r["group"] for r in view.rows]
    assert groups[0].startswith("rank 0 · ") and groups[-1].startswith("rank 1 · ")
    assert view.event_count == sum(p.timeline.event_count for p in view.parts)
    assert len(view.names) < sum(len(p.timeline.names) for p in view.parts)  # shared names


def test_a_view_window_holds_each_ranks_own_blocks_renumbered(ranks: list[Trace]) -> None:
    view = two_rank_view(ranks)
    t0, t1 = view.span_ns * 0.2, view.span_ns * 0.3
    header, buffers = view.tiles(t0, t1, 900)
    got = decode(buffers)
    assert header["n"] == len(got["start"])
    expected = []
    for part in view.parts:
        own = part.timeline.summary.query(t0 - part.shift_ns, t1 - part.shift_ns, 900)
        names = [part.timeline.names[i] for i in own.name]
        expected += list(zip((own.start + part.shift_ns).tolist(), (own.row + part.row_base).tolist(),
                             names, strict=True))  # fmt: skip
    drawn = list(zip(got["start"].astype(np.int64).tolist(), got["row"].tolist(),
                     [view.names[i] for i in got["name"]], strict=True))  # fmt: skip
    assert sorted(drawn) == sorted(expected)


def test_clock_bases_and_anchors_decide_the_alignment() -> None:
    a = timeline_with(TraceMetadata(source="kineto", path="a", epoch_ns=1_000_000), 500)
    b = timeline_with(TraceMetadata(source="kineto", path="b", epoch_ns=2_000_000), 100)
    offsets, how = align([a, b])
    assert offsets == [1_000_000, 2_000_000] and "epoch_ns" in how
    anchored = [
        dataclasses.replace(t, metadata=dataclasses.replace(t.metadata, clock_offset_ns=d))
        for t, d in ((a, 7), (b, -3))
    ]
    offsets, how = align(anchored)
    assert offsets == [1_000_007, 1_999_997] and how == "clock anchors"
    view = TraceView([Part(t, MemorySource(Trace({}, t.metadata)), n) for t, n in zip(anchored, "ab",
                      strict=True)])  # fmt: skip
    # b's only kernel starts at 100 + 1_999_997 on the shared clock, a's at 500 + 1_000_007.
    assert view.origin_ns == 1_000_507 and view.parts[1].shift_ns == 1_999_997 - 1_000_507
    local = timeline_with(TraceMetadata(source="kineto", path="c"), 900)
    offsets, how = align([a, local])
    assert offsets == [-500, -900] and "no clock base" in how
    assert align([local]) == ([0], "the report's own clock")


def test_a_click_returns_every_column_of_the_event_it_hit(ranks: list[Trace]) -> None:
    view = two_rank_view(ranks)
    part = view.parts[1]
    level = part.timeline.summary.levels[0]
    kernel = next(i for i, r in enumerate(part.timeline.refs) if split_ref(int(r))[0] == "kernels")
    row = int(level.row[kernel]) + part.row_base
    middle = (int(level.start[kernel]) + int(level.end[kernel])) / 2 + part.shift_ns
    found = view.event(row, middle)
    assert found is not None and found["layer"] == "kernels" and found["report"] == "rank 1"
    source = ranks[1].tables["kernels"].slice(found["index"], 1).to_pylist()[0]
    assert found["columns"]["correlation_id"] == source["correlation_id"]
    assert found["columns"]["start"] == str(source["start"])  # beyond 2**53: sent as text
    assert found["duration_ns"] == source["end"] - source["start"]
    assert found["name"] == source["short_name"]
    assert view.event(row, middle + view.span_ns * 2) is None  # nothing there
    with pytest.raises(TraceViewError, match="row 999 is not in this view"):
        view.event(999, 0)


def test_a_zoomed_out_click_is_refused_rather_than_scanning_everything() -> None:
    n = 200_000
    start = np.arange(n, dtype=np.int64) * 10
    kernels = pa.table({"start": start, "end": start + 5, "device_id": pa.array(np.zeros(n, np.int32)),
                        "stream_id": np.zeros(n, np.int64), "short_name": ["k"] * n, "name": ["k"] * n})  # fmt: skip
    trace = Trace({"kernels": kernels}, TraceMetadata(source="kineto", path="many"))
    view = TraceView(
        [Part(ReportTimeline.build(trace.tables, trace.metadata), MemorySource(trace), "x")]
    )
    with pytest.raises(TraceViewError, match="zoom in"):
        view.event(0, 1_000_000, tolerance_ns=1e9)
    assert view.event(0, 102, tolerance_ns=0)["start"] == 100  # type: ignore[index]


def test_the_window_summary_is_the_recipe_with_the_same_time_filter(
    cloverleaf: Path, tmp_path: Path
) -> None:
    trace = load_trace(cloverleaf)
    view = TraceView(
        [Part(ReportTimeline.build(trace.tables, trace.metadata), MemorySource(trace), "x")]
    )
    starts = trace.tables["kernels"].column("start").to_numpy() - view.origin_ns
    t0, t1 = float(np.quantile(starts, 0.3)) + 0.5, float(np.quantile(starts, 0.6)) + 0.5
    got = view.window_summary(t0, t1)
    lo, hi = int(np.ceil(t0)) + view.origin_ns, int(np.floor(t1)) + view.origin_ns
    result = run_recipe("cuda_gpu_kern_sum", [cloverleaf], tmp_path / "out", notebook=False,
                        filter_time=f"{lo}/{hi}")  # fmt: skip
    stats = result.tables["stats"].to_pylist()
    assert got["kernels"] == sum(r["Instances"] for r in stats) > 0
    assert got["columns"][:3] == ["Time (%)", "Total Time (ns)", "Instances"]
    rows = [dict(zip(got["columns"], r, strict=True)) for r in got["rows"]]
    assert [(r["Name"], r["Instances"], r["Total Time (ns)"], r["Med (ns)"]) for r in rows] == [
        (r["Name"], r["Instances"], r["Total Time (ns)"], r["Med (ns)"]) for r in stats[: len(rows)]
    ]
    with pytest.raises(TraceViewError, match="empty range"):
        view.window_summary(5, 5)


def test_a_saved_layout_maps_back_and_answers_the_same(cloverleaf: Path, tmp_path: Path) -> None:
    folder = tmp_path / "trace"
    convert_trace(cloverleaf, folder)
    built = ReportTimeline.from_folder(folder)
    built.save(tmp_path / "layout")
    loaded = ReportTimeline.load(tmp_path / "layout")
    assert loaded is not None and isinstance(loaded.summary.levels[0].start, np.memmap)
    assert loaded.rows == built.rows and loaded.names == built.names
    views = [TraceView([Part(t, ConvertedSource(ConvertedTrace.from_folder(folder)), "x")])
             for t in (built, loaded)]  # fmt: skip
    for t0, t1, width in ((0, views[0].span_ns, 1200), (1e6, 2e6, 800)):
        a, b = (v.tiles(t0, t1, width) for v in views)
        assert a[0] == b[0] and a[1] == b[1]
    level = loaded.summary.levels[0]
    row, t = int(level.row[5]), float(level.start[5] - loaded.origin_ns)
    assert views[0].event(row, t) == views[1].event(row, t)
    memory = load_trace(cloverleaf)
    mem_view = TraceView([Part(ReportTimeline.build(memory.tables, memory.metadata),
                               MemorySource(memory), "x")])  # fmt: skip
    assert mem_view.event(row, t)["columns"] == views[1].event(row, t)["columns"]  # type: ignore[index]
    stale = json.loads((tmp_path / "layout" / LAYOUT_FILE).read_text())
    stale["version"] = -1
    (tmp_path / "layout" / LAYOUT_FILE).write_text(json.dumps(stale))
    assert ReportTimeline.load(tmp_path / "layout") is None
    assert ReportTimeline.load(tmp_path / "absent") is None


def test_a_view_needs_a_report() -> None:
    with pytest.raises(TraceViewError, match="at least one report"):
        TraceView([])
