"""The agent's *.ranges.jsonl annotation log -> ranges (format: docs/TRACE_MODEL.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nsight_lab.trace import TraceFormatError, load_trace

HEADER = {"format": "nsight-lab-ranges", "version": 1, "epoch_ns": 1_700_000_000_000_000_000, "pid": 77,
          "process_name": "train.py"}  # fmt: skip


def write(tmp_path: Path, lines: list[object], name: str = "run.ranges.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_ranges_header_and_process(tmp_path: Path) -> None:
    path = write(tmp_path, [
        HEADER,
        {"name": "step", "start_ns": 10, "end_ns": 50, "pid": 77, "tid": 78},
        {"name": "load", "start_ns": 12, "end_ns": 20, "pid": 77, "tid": 78, "domain": "data"},
    ])  # fmt: skip
    t = load_trace(path)
    r = t.table("ranges").to_pylist()
    assert [
        (x["name"], x["start"], x["end"], x["pid"], x["tid"], x["domain"], x["source"]) for x in r
    ] == [
        ("step", 10, 50, 77, 78, "", "annotation"),
        ("load", 12, 20, 77, 78, "data", "annotation"),
    ]
    assert t.metadata.epoch_ns == HEADER["epoch_ns"] and t.metadata.source == "annotations"
    assert t.table("processes").to_pylist() == [{"pid": 77, "name": "train.py"}]


def test_header_is_optional(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "a", "start_ns": 1, "end_ns": 2, "pid": 1, "tid": 1}, ""])
    t = load_trace(path)
    assert t.table("ranges").num_rows == 1 and t.metadata.epoch_ns is None


def test_bad_line_is_named_by_number(tmp_path: Path) -> None:
    path = write(tmp_path, [HEADER, {"name": "a", "start_ns": 1, "end_ns": 2, "pid": 1, "tid": 1},
                            {"name": "b", "start_ns": "x", "end_ns": 2, "pid": 1, "tid": 1}])  # fmt: skip
    with pytest.raises(TraceFormatError, match=r"run\.ranges\.jsonl: line 3: .*start_ns"):
        load_trace(path)


def test_truncated_last_line(tmp_path: Path) -> None:
    path = write(tmp_path, [HEADER, '{"name": "a", "start_ns": 1, "end_'])
    with pytest.raises(TraceFormatError, match=r"line 2"):
        load_trace(path)


def test_range_ending_before_it_starts(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "a", "start_ns": 5, "end_ns": 2, "pid": 1, "tid": 1}])
    with pytest.raises(TraceFormatError, match=r"line 1: end_ns 2 is before start_ns 5"):
        load_trace(path)


def test_unsupported_version(tmp_path: Path) -> None:
    path = write(tmp_path, [{**HEADER, "version": 9}])
    with pytest.raises(
        TraceFormatError, match=r"line 1: unsupported format 'nsight-lab-ranges' version 9"
    ):
        load_trace(path)
