"""The CUPTI record importer, on records written by these tests in the documented format.

No GPU exists here, so these records were not recorded by CUPTI: each test writes
the ``nsight-lab-cupti`` JSON Lines that docs/TRACE_MODEL.md specifies (and that
the cupti collector writes on a GPU host), then checks every table against it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nsight_lab.trace import TraceFormatError, load_trace

HEADER = {
    "format": "nsight-lab-cupti",
    "version": 1,
    "epoch_ns": 1_790_000_000_000_000_000,
    "pid": 4242,
    "process_name": "cupy_job",
    "cupti_version": "13.4.0",
    "devices": [
        {
            "device_id": 0,
            "name": "NVIDIA H200",
            "total_memory": 150_000_000_000,
            "sm_count": 132,
            "compute_capability": "9.0",
        }
    ],
}
RECORDS: list[dict[str, Any]] = [
    {"kind": "runtime", "start": 100, "end": 180, "correlation_id": 7, "pid": 4242, "tid": 4243,
     "name": "cudaLaunchKernel_v7000", "return_value": 0},
    {"kind": "kernel", "start": 200, "end": 1200, "correlation_id": 7, "device_id": 0,
     "context_id": 1, "stream_id": 13, "name": "void cupy_add<float>(float*, float const*, int)",
     "grid": [80, 1, 1], "block": [256, 1, 1], "registers_per_thread": 16,
     "static_shared_memory": 0, "dynamic_shared_memory": 0, "graph_node_id": None},
    {"kind": "runtime", "start": 1300, "end": 1350, "correlation_id": 8, "pid": 4242,
     "tid": 4243, "name": "cudaMemcpyAsync_v3020", "return_value": 0},
    {"kind": "memcpy", "start": 1400, "end": 1900, "correlation_id": 8, "device_id": 0,
     "context_id": 1, "stream_id": 13, "bytes": 4096, "copy_kind": "DtoH",
     "src_kind": "Device", "dst_kind": "Pageable"},
    {"kind": "memset", "start": 2000, "end": 2100, "correlation_id": 9, "device_id": 0,
     "context_id": 1, "stream_id": 13, "bytes": 512, "value": 0, "dst_kind": "Device"},
    {"kind": "driver", "start": 2200, "end": 2250, "correlation_id": 10, "pid": 4242,
     "tid": 4244, "name": "cuCtxSynchronize", "return_value": 0},
    {"kind": "range", "start": 50, "end": 2300, "name": "step", "domain": "train", "pid": 4242,
     "tid": 4243},
]  # fmt: skip
SUMMARY = {
    "kind": "summary",
    "records": len(RECORDS),
    "dropped": 0,
    "nsight_lab": {"clock": {"offset_ns": -1500, "rtt_ns": 300}, "steps": {"first": 4}},
}


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_every_record_kind_lands_in_its_table(tmp_path: Path) -> None:
    report = write(tmp_path / "activity.cupti.jsonl", [HEADER, *RECORDS, SUMMARY])
    trace = load_trace(report)
    meta = trace.metadata
    assert (meta.source, meta.tool, meta.tool_version) == ("cupti", "cupti", "13.4.0")
    assert meta.epoch_ns == HEADER["epoch_ns"] and meta.clock_offset_ns == -1500
    assert meta.aligned_epoch_ns == HEADER["epoch_ns"] - 1500
    assert meta.extra["records"] == len(RECORDS) and meta.extra["dropped"] == 0

    (kernel,) = trace.table("kernels").to_pylist()
    assert kernel["name"] == "void cupy_add<float>(float*, float const*, int)"
    assert kernel["short_name"] == "cupy_add"
    assert (kernel["start"], kernel["end"], kernel["stream_id"]) == (200, 1200, 13)
    assert (kernel["grid_x"], kernel["block_x"], kernel["registers_per_thread"]) == (80, 256, 16)
    assert (kernel["pid"], kernel["tid"]) == (4242, 4243)  # from the launch with the same id

    memcpy, memset = trace.table("memops").to_pylist()
    assert (memcpy["kind"], memcpy["copy_kind"], memcpy["bytes"]) == (
        "memcpy",
        "Device-to-Host",
        4096,
    )
    assert (memcpy["src_kind"], memcpy["dst_kind"], memcpy["tid"]) == ("Device", "Pageable", 4243)
    assert (memset["kind"], memset["value"], memset["dst_kind"]) == ("memset", 0, "Device")
    assert memset["pid"] is None  # no API record with correlation 9

    api = trace.table("api").to_pylist()
    assert [(a["name"], a["api"]) for a in api] == [
        ("cudaLaunchKernel_v7000", "runtime"),
        ("cudaMemcpyAsync_v3020", "runtime"),
        ("cuCtxSynchronize", "driver"),
    ]
    (rng,) = trace.table("ranges").to_pylist()
    assert (rng["name"], rng["domain"], rng["source"], rng["kind"]) == (
        "step",
        "train",
        "nvtx",
        "push_pop",
    )
    (device,) = trace.table("devices").to_pylist()
    assert (device["name"], device["sm_count"], device["compute_capability"]) == (
        "NVIDIA H200",
        132,
        "9.0",
    )
    assert trace.table("processes").to_pylist() == [{"pid": 4242, "name": "cupy_job"}]


def test_kernel_summary_recipe_reads_cupti_records(tmp_path: Path) -> None:
    from nsight_lab.recipe import run_recipe

    report = write(tmp_path / "a.cupti.jsonl", [HEADER, *RECORDS, SUMMARY])
    stats = run_recipe("cuda_gpu_kern_sum", [report], tmp_path / "o", notebook=False).tables[
        "stats"
    ]
    assert stats.to_pylist()[0]["Total Time (ns)"] == 1000


def test_a_file_without_its_summary_is_read_and_marked_truncated(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path / "cut.cupti.jsonl", [HEADER, *RECORDS[:2]]))
    assert trace.table("kernels").num_rows == 1
    assert trace.metadata.extra["truncated"] is True


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ([], "empty file"),
        ([{**HEADER, "version": 2}], "not nsight-lab-cupti version 1"),
        ([HEADER, {"kind": "kernel", "start": 5}], "line 2"),
        ([HEADER, {"kind": "teleport", "start": 1, "end": 2}], "line 2"),
        (
            [HEADER, {"kind": "kernel", "start": 9, "end": 3, "name": "k"}],
            "line 2: end 3 is before start 9",
        ),
        ([HEADER, {"kind": "memcpy", "start": "soon", "end": 3}], "line 2"),
    ],
    ids=["empty", "version", "missing-end", "unknown-kind", "backwards", "wrong-type"],
)
def test_bad_records_name_the_file_and_line(
    tmp_path: Path, lines: list[dict[str, Any]], problem: str
) -> None:
    report = write(tmp_path / "bad.cupti.jsonl", lines)
    with pytest.raises(TraceFormatError) as err:
        load_trace(report)
    assert str(err.value).startswith(str(report)) and problem in str(err.value)


def test_detected_by_content_when_renamed(tmp_path: Path) -> None:
    report = write(tmp_path / "report_0001.jsonl", [HEADER, *RECORDS, SUMMARY])
    assert load_trace(report).metadata.source == "cupti"
