"""A layout stored at ingest: its head, coarse levels first, answers equal to the whole layout's."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nsight_lab.jupyter.widgets import trace_view
from nsight_lab.jupyter.widgets.stored_layout import (
    FIRST_VIEW_PX,
    HEAD_FILE,
    REFS_FILE,
    StoredHead,
    StoredLayoutError,
    upload_order,
)
from nsight_lab.jupyter.widgets.trace_view import (
    ConvertedSource,
    Part,
    ReportTimeline,
    TraceView,
    TraceViewError,
)
from nsight_lab.trace import convert_trace
from nsight_lab.trace.converted import ConvertedTrace


@pytest.fixture(scope="module")
def converted(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stored") / "trace"
    convert_trace(fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite", folder)
    return folder


@pytest.fixture(scope="module")
def stored(converted: Path) -> Path:
    """The folder the analysis side's child process writes (the real command)."""
    folder = converted.parent / "layout"
    run = subprocess.run(
        [sys.executable, "-m", "nsight_lab.jupyter.widgets.stored_layout", str(converted),
         str(folder)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    answer = json.loads(run.stdout.splitlines()[-1])
    assert answer["ok"] and answer["events"] > 0 and answer["peak_rss_mb"] > 0
    assert answer["bytes"] == sum(p.stat().st_size for p in folder.glob("*.npy"))
    return folder


def head_of(folder: Path) -> StoredHead:
    head = StoredHead.parse(json.loads((folder / HEAD_FILE).read_text()))
    assert head is not None
    return head


def view_of(timeline: ReportTimeline, converted: Path) -> TraceView:
    source = ConvertedSource(ConvertedTrace.from_folder(converted))
    return TraceView([Part(timeline, source, "report")])


def first_view(stored: Path) -> tuple[StoredHead, ReportTimeline, ReportTimeline]:
    """The head, the layout as it answers from its first levels, and the whole layout."""
    head = head_of(stored)
    whole = ReportTimeline.load(stored)
    assert whole is not None
    coarse = head.timeline({i: head.verified_level(stored, i) for i in head.first_levels()}, "r")
    return head, coarse, whole


def same_tiles(a: TraceView, b: TraceView, t0: float, t1: float, width: int) -> None:
    header_a, buffers_a = a.tiles(t0, t1, width)
    header_b, buffers_b = b.tiles(t0, t1, width)
    assert header_a == header_b
    assert buffers_a == buffers_b


def test_the_head_indexes_every_level_and_the_head_goes_last(stored: Path) -> None:
    head = head_of(stored)
    whole = ReportTimeline.load(stored)
    assert whole is not None
    assert head.gaps == whole.summary.gaps
    first, later = head.first_levels(), head.later_levels()
    assert first[0] == len(head.gaps) - 1, "the coarsest level comes first"
    assert sorted(first + later) == list(range(len(head.gaps)))
    assert first == sorted(first, reverse=True) and later == sorted(later, reverse=True)
    assert min(first) > max(later), "later levels are all finer than the first view's"
    assert head.bytes_of([f for i in first for f in head.files(i)]) < head.bytes_of(
        [f for i in later for f in head.files(i)]
    )
    order = upload_order(stored)
    assert order[-1] == HEAD_FILE and REFS_FILE in order
    assert set(order[:-1]) == set(head.data["objects"])


def test_the_first_view_is_answered_from_the_coarse_levels_exactly_as_the_whole_layout(
    stored: Path, converted: Path
) -> None:
    _, coarse, whole = first_view(stored)
    early, full = view_of(coarse, converted), view_of(whole, converted)
    assert early.describe() == full.describe(), "rows, names, levels and span come from the head"
    span = full.span_ns
    for width in (300, 1200, FIRST_VIEW_PX):
        same_tiles(early, full, 0, span, width)
    same_tiles(early, full, span / 4, span / 2, 800)  # a zoom the coarse levels still cover


def test_a_zoom_needing_a_level_still_arriving_waits_for_it_and_is_never_coarser(
    stored: Path, converted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head, coarse, whole = first_view(stored)
    early, full = view_of(coarse, converted), view_of(whole, converted)
    t1 = full.span_ns / 10_000  # finer than any first-view level
    monkeypatch.setattr(trace_view, "ARRIVAL_WAIT_S", 0.2)
    with pytest.raises(TraceViewError, match="still arriving from storage"):
        early.tiles(0, t1, 1000)

    monkeypatch.setattr(trace_view, "ARRIVAL_WAIT_S", 30.0)
    assert coarse.arriving is not None
    later = head.later_levels()

    def arrive() -> None:
        time.sleep(0.2)
        for index in later:
            coarse.arriving.add(index, head.verified_level(stored, index))  # type: ignore[union-attr]

    threading.Thread(target=arrive).start()
    began = time.monotonic()
    same_tiles(early, full, 0, t1, 1000)
    assert time.monotonic() - began >= 0.15, "it waited for its level instead of answering coarser"

    # An event's details need the whole layout (raw level and row refs): after finish().
    done = threading.Timer(0.1, coarse.arriving.finish, args=(whole,))
    done.start()
    _, buffers = full.tiles(0, t1, 1000)
    row, start = np.frombuffer(buffers[2], "<i4")[0], np.frombuffer(buffers[0], "<f8")[0]
    assert early.event(int(row), float(start)) == full.event(int(row), float(start))
    for width in (200, 1000, 5000):
        same_tiles(early, full, 0, full.span_ns / 3, width)


def test_a_failed_arrival_is_an_error_not_an_answer(stored: Path, converted: Path) -> None:
    head = head_of(stored)
    coarse = head.timeline({i: head.verified_level(stored, i) for i in head.first_levels()}, "r")
    early = view_of(coarse, converted)
    assert coarse.arriving is not None
    coarse.arriving.fail("cannot lay it out: storage said no")
    with pytest.raises(TraceViewError, match="storage said no"):
        early.tiles(0, early.span_ns / 10_000, 1000)


def test_a_truncated_or_corrupt_object_is_refused_naming_it(stored: Path, tmp_path: Path) -> None:
    head = head_of(stored)
    index = head.first_levels()[-1]
    name = head.files(index)[0]
    for what, damage in (
        ("truncated", lambda b: b[: len(b) // 2]),
        ("corrupt", lambda b: b[:-1] + bytes([b[-1] ^ 0xFF])),
    ):
        folder = tmp_path / what
        folder.mkdir()
        for f in head.files(index):
            (folder / f).write_bytes((stored / f).read_bytes())
        (folder / name).write_bytes(damage((stored / name).read_bytes()))
        with pytest.raises(StoredLayoutError, match=f"{name}.*{what}"):
            head.verified_level(folder, index)


def test_a_layout_of_another_version_or_other_layers_is_not_this_one(stored: Path) -> None:
    data = json.loads((stored / HEAD_FILE).read_text())
    assert StoredHead.parse(data) is not None
    assert StoredHead.parse({**data, "version": data["version"] + 1}) is None
    assert StoredHead.parse(data, ("kernels",)) is None
    evil = {**data, "objects": {**data["objects"], "../../escape.npy": {"bytes": 1, "sha256": "0"}}}
    for bad in ([], {"version": data["version"]}, {**data, "levels": []}, evil):
        with pytest.raises(StoredLayoutError, match="head"):
            StoredHead.parse(bad)


def test_a_layout_that_cannot_be_built_says_why(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "nsight_lab.jupyter.widgets.stored_layout",
         str(tmp_path / "no-such-trace"), str(tmp_path / "layout")],
        capture_output=True, text=True,
    )  # fmt: skip
    answer = json.loads(run.stdout.splitlines()[-1])
    assert run.returncode == 1 and answer["ok"] is False
    assert "laying the timeline out failed" in answer["error"]
    assert not (tmp_path / "layout" / HEAD_FILE).exists()
