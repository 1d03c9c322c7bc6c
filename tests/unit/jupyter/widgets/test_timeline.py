"""Timeline layout (rows by device, stream, thread, depth) and its view protocol, on real traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from nsight_lab.jupyter.widgets.lanes import EventColumns, add_samples, nesting_depth, trace_events
from nsight_lab.jupyter.widgets.timeline import Timeline, ViewRequestError, parse_view
from nsight_lab.trace import Trace, TraceMetadata, load_trace


@pytest.fixture(scope="module")
def nccl_trace(fixtures_dir: Path) -> Trace:
    return load_trace(fixtures_dir / "kineto" / "nccl_parser_config__nccl_data.json.gz")


def test_nesting_depth_counts_the_ranges_open_around_each_one() -> None:
    start = np.array([0, 1, 2, 6, 20], np.int64)
    end = np.array([10, 5, 3, 9, 25], np.int64)
    assert nesting_depth(start, end).tolist() == [0, 1, 2, 1, 0]


def test_kernels_and_memops_share_one_row_per_device_and_stream(nccl_trace: Trace) -> None:
    cols = trace_events(nccl_trace, layers=("kernels", "memops"))
    kernels, memops = nccl_trace.tables["kernels"], nccl_trace.tables["memops"]
    lanes = {
        (d, s)
        for t in (kernels, memops)
        for d, s in zip(
            t.column("device_id").to_pylist(), t.column("stream_id").to_pylist(), strict=True
        )
    }
    assert {(k.group, k.label) for k in cols.rows} == {
        (f"GPU {d}", f"stream {s}") for d, s in lanes
    }
    start, _, _, _ = cols.concat()
    assert len(start) == kernels.num_rows + memops.num_rows


def test_every_event_of_every_layer_lands_in_the_timeline(nccl_trace: Trace) -> None:
    widget = Timeline.from_trace(nccl_trace)
    tables = nccl_trace.tables
    assert widget.event_count == sum(tables[t].num_rows for t in ("kernels", "memops", "ranges"))
    groups = [row["group"] for row in widget.rows]
    assert groups == sorted(
        groups, key=lambda g: (not g.startswith("GPU"), g.split()[-1].zfill(12))
    )
    assert widget.view == (0.0, widget.span_ns)
    assert widget.origin_ns == min(tables[t].column("start").to_numpy().min()
                                   for t in ("kernels", "memops", "ranges"))  # fmt: skip
    assert widget.gaps[0] == 0 and widget.gaps == sorted(widget.gaps)


def test_python_samples_become_a_flame_chart_per_thread() -> None:
    frames = pa.array(["main (a.py:1)", "step (a.py:5)", "load (a.py:9)"]).dictionary_encode()
    stacks = pa.ListArray.from_arrays(
        pa.array([0, 2, 4, 6], pa.int32()),
        pa.DictionaryArray.from_arrays(pa.array([0, 1, 0, 1, 0, 2], pa.int32()), frames.dictionary),
    )
    samples = pa.table(
        {
            "timestamp": pa.array([0, 10, 20], pa.int64()),
            "pid": pa.array([7, 7, 7], pa.int64()),
            "tid": pa.array([8, 8, 8], pa.int64()),
            "weight": pa.array([10, 10, 10], pa.int64()),
            "stack": stacks,
        }
    )
    cols = EventColumns()
    add_samples(cols, samples)
    start, end, row, name = cols.concat()
    names = list(cols.names)
    rows = list(cols.rows)
    boxes = sorted(
        (rows[r].depth, names[n], int(s), int(e))
        for s, e, r, n in zip(start, end, row, name, strict=True)
    )
    assert boxes == [
        (0, "main (a.py:1)", 0, 30),
        (1, "load (a.py:9)", 20, 30),
        (1, "step (a.py:5)", 0, 20),
    ]
    assert {(k.group, k.label) for k in rows} == {("process 7", "thread 8 python")}


def test_a_view_message_is_answered_with_the_blocks_of_the_visible_window(
    nccl_trace: Trace,
) -> None:
    widget = Timeline.from_trace(nccl_trace)
    t1 = widget.span_ns / 10
    header, buffers = widget.answer_view(
        {"type": "view", "id": 3, "t0": 0, "t1": t1, "width_px": 800}
    )
    assert header["type"] == "tiles" and header["id"] == 3 and header["width_px"] == 800
    assert widget.summary is not None
    expected = widget.summary.query(widget.origin_ns, widget.origin_ns + t1, 800)
    assert header["n"] == len(expected) and header["gap_ns"] == expected.gap_ns
    starts = np.frombuffer(buffers[0], "<f8")
    np.testing.assert_array_equal(starts, (expected.start - widget.origin_ns).astype(float))
    assert [len(b) for b in buffers] == [8 * header["n"]] * 2 + [4 * header["n"]] * 3 + [
        8 * header["n"]
    ]


def test_zooming_out_trades_single_events_for_merged_blocks(nccl_trace: Trace) -> None:
    widget = Timeline.from_trace(nccl_trace)
    full, _ = widget.answer_view({"type": "view", "t0": 0, "t1": widget.span_ns, "width_px": 300})
    close, _ = widget.answer_view({"type": "view", "t0": 0, "t1": 50_000, "width_px": 300})
    assert full["gap_ns"] > 0 and close["gap_ns"] == 0
    assert full["n"] < widget.event_count


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"type": "zoom"}, "not a view message"),
        ({"type": "view", "t0": 0, "width_px": 10}, "needs numeric t0, t1 and width_px"),
        ({"type": "view", "t0": "a", "t1": 1, "width_px": 10}, "needs numeric"),
        ({"type": "view", "t0": 5, "t1": 5, "width_px": 10}, r"t1 \(5.0\) must be .* greater"),
        ({"type": "view", "t0": 0, "t1": 5, "width_px": 0}, "width_px must be in 1..100000"),
    ],
)
def test_bad_view_messages_are_refused_naming_the_field(message: object, problem: str) -> None:
    with pytest.raises(ViewRequestError, match=problem):
        parse_view(message)


def test_a_bad_message_from_the_browser_shows_as_the_widget_error(nccl_trace: Trace) -> None:
    widget = Timeline.from_trace(nccl_trace)
    widget._on_custom_msg(widget, {"type": "view", "t0": 1, "t1": 0, "width_px": 5}, [])
    assert "must be a number greater than t0" in widget.error
    widget._on_custom_msg(widget, {"type": "view", "t0": 0, "t1": 10, "width_px": 5}, [])
    assert widget.error == ""


def test_a_timeline_opens_a_report_by_path(fixtures_dir: Path) -> None:
    path = fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite"
    widget = Timeline(path)
    assert widget.title == "cloverleaf-a100.sqlite"
    kinds = {row["kind"] for row in widget.rows}
    assert {"gpu", "sample"} <= kinds  # kernels/memcpy on streams, CPU samples as flames


def test_an_empty_trace_gives_an_empty_timeline_not_an_error() -> None:
    widget = Timeline.from_trace(Trace({}, TraceMetadata(source="kineto", path="empty.json")))
    assert widget.event_count == 0 and widget.rows == []
    header, _ = widget.answer_view({"type": "view", "t0": 0, "t1": 1, "width_px": 10})
    assert header["n"] == 0


def test_unknown_layers_are_refused(nccl_trace: Trace) -> None:
    with pytest.raises(ValueError, match="unknown timeline layers"):
        Timeline.from_trace(nccl_trace, layers=("kernels", "gpu_metrics"))
