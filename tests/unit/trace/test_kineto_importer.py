"""Kineto (PyTorch profiler) traces -> trace tables; expectations from direct scans of the JSON."""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from nsight_lab.trace import TraceFormatError, load_trace
from nsight_lab.trace.importers import kineto
from tests.unit.trace.conftest import KINETO_DIR

FIXTURES = [
    "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz",
    "critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz",
    "cupti_profiler__benchmark_result_924719_1679055439_trace.json.gz",
    "nccl_parser_config__nccl_data.json.gz",
    "trace_filter__sampled_rank-0.json.gz",
    "trace_filter__sampled_rank-1.json.gz",
    "triton_example__triton_example.json.gz",
]


def scan(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt") as fh:
        return json.load(fh)


def ns(us: float) -> int:
    return round(us * 1000)


@pytest.mark.parametrize("name", FIXTURES)
def test_counts_and_kernel_totals_equal_a_direct_scan(fixtures_dir: Path, name: str) -> None:
    path = fixtures_dir / KINETO_DIR / name
    doc = scan(path)
    events = [e for e in doc["traceEvents"] if e.get("ph") == "X"]
    cats = Counter(e.get("cat") for e in events)
    totals: dict[str, int] = defaultdict(int)
    for e in events:
        if e.get("cat") == "kernel":
            totals[e["name"]] += ns(e["dur"])  # end = start + round(dur), both in ns
    t = load_trace(path)
    assert t.table("kernels").num_rows == cats["kernel"]
    assert t.table("memops").num_rows == cats["gpu_memcpy"] + cats["gpu_memset"]
    assert t.table("api").num_rows == cats["cuda_runtime"] + cats["cuda_driver"]
    ranges = sum(
        cats[c] for c in ("cpu_op", "user_annotation", "gpu_user_annotation", "python_function")
    )
    assert t.table("ranges").num_rows == ranges
    k = t.table("kernels").to_pandas()
    got = (k["end"] - k["start"]).groupby(k["name"], observed=True).sum().to_dict()
    assert got == dict(totals)


@pytest.mark.parametrize("name", FIXTURES)
def test_rank_world_size_and_epoch(fixtures_dir: Path, name: str) -> None:
    path = fixtures_dir / KINETO_DIR / name
    doc = scan(path)
    dist = doc.get("distributedInfo", {})
    meta = load_trace(path).metadata
    assert meta.rank == dist.get("rank")
    assert meta.world_size == dist.get("world_size")
    assert meta.epoch_ns == doc.get("baseTimeNanoseconds")


def test_trace_without_distributed_info_has_no_rank(fixtures_dir: Path) -> None:
    assert (
        load_trace(
            fixtures_dir / KINETO_DIR / "triton_example__triton_example.json.gz"
        ).metadata.rank
        is None
    )


def test_kernels_carry_launch_thread_stream_and_device(fixtures_dir: Path) -> None:
    path = fixtures_dir / KINETO_DIR / "nccl_parser_config__nccl_data.json.gz"
    doc = scan(path)
    launch = {
        e["args"]["correlation"]: (e["pid"], e["tid"])
        for e in doc["traceEvents"]
        if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})
    }
    expected = [
        (
            e["args"]["device"],
            e["args"]["stream"],
            *launch.get(e["args"]["correlation"], (None, None)),
        )
        for e in doc["traceEvents"]
        if e.get("cat") == "kernel"
    ]
    k = load_trace(path).table("kernels")
    got = list(
        zip(
            *(k.column(c).to_pylist() for c in ("device_id", "stream_id", "pid", "tid")),
            strict=True,
        )
    )
    assert sorted(got, key=str) == sorted(expected, key=str)


def test_devices_processes_and_threads_come_from_metadata(fixtures_dir: Path) -> None:
    path = fixtures_dir / KINETO_DIR / "nccl_parser_config__nccl_data.json.gz"
    doc = scan(path)
    t = load_trace(path)
    props = doc["deviceProperties"]
    assert t.table("devices").column("device_id").to_pylist() == [p["id"] for p in props]
    assert t.table("devices").column("sm_count").to_pylist() == [p["numSms"] for p in props]
    names = {
        e["pid"]: e["args"]["name"]
        for e in doc["traceEvents"]
        if e.get("ph") == "M" and e["name"] == "process_name"
    }
    assert (
        dict(
            zip(
                t.table("processes").column("pid").to_pylist(),
                t.table("processes").column("name").to_pylist(),
                strict=True,
            )
        )
        == names
    )


def test_memcpy_kinds_parsed_from_event_names(fixtures_dir: Path) -> None:
    t = load_trace(fixtures_dir / KINETO_DIR / "nccl_parser_config__nccl_data.json.gz")
    rows = {
        (r["kind"], r["copy_kind"], r["src_kind"], r["dst_kind"])
        for r in t.table("memops").to_pylist()
    }
    assert ("memcpy", "Device-to-Device", "Device", "Device") in rows
    assert ("memset", None, None, "Device") in rows


def test_small_chunks_give_identical_tables(
    fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cuts land inside strings and nested args all the time with 4 KiB chunks."""
    path = (
        fixtures_dir
        / KINETO_DIR
        / "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"
    )
    whole = load_trace(path)
    monkeypatch.setattr(kineto, "CHUNK_BYTES", 4096)
    chunked = load_trace(path)
    for name in ("kernels", "memops", "api", "ranges", "devices"):
        assert chunked.table(name).to_pylist() == whole.table(name).to_pylist(), name


def test_plain_json_equals_gzip(fixtures_dir: Path, tmp_path: Path) -> None:
    src = fixtures_dir / KINETO_DIR / "trace_filter__sampled_rank-1.json.gz"
    plain = tmp_path / "rank1.json"
    plain.write_bytes(gzip.decompress(src.read_bytes()))
    assert (
        load_trace(plain).table("kernels").to_pylist()
        == load_trace(src).table("kernels").to_pylist()
    )


def write(tmp_path: Path, doc: dict[str, Any], name: str = "t.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_microseconds_whatever_the_display_unit_and_old_flow_names(tmp_path: Path) -> None:
    doc = {
        "displayTimeUnit": "ns",
        "traceEvents": [
            {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 2,
             "ts": 10.0004, "dur": 1.5, "args": {"correlation": 5}},
            {"ph": "s", "cat": "async_cpu_to_gpu", "name": "async_cpu_to_gpu", "id": 5, "pid": 1, "tid": 2, "ts": 10},
            {"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": 12.3456, "dur": 0.0015,
             "args": {"device": 0, "stream": 7, "correlation": 5, "grid": [4, 1, 1], "block": [32, 1, 1]}},
            {"ph": "f", "cat": "async_cpu_to_gpu", "name": "async_cpu_to_gpu", "id": 5, "pid": 0, "tid": 7, "ts": 12.3456, "bp": "e"},
        ],
    }  # fmt: skip
    t = load_trace(write(tmp_path, doc))
    k = t.table("kernels").to_pylist()[0]
    assert (k["start"], k["end"], k["pid"], k["tid"], k["grid_x"], k["block_x"]) == (
        12346,
        12348,
        1,
        2,
        4,
        32,
    )
    a = t.table("api").to_pylist()[0]
    assert (a["start"], a["end"], a["api"]) == (10000, 11500, "runtime")
    assert t.metadata.rank is None


def test_early_kineto_category_names(tmp_path: Path) -> None:
    doc = {
        "traceEvents": [
            {"ph": "X", "cat": "Runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 2, "ts": 1, "dur": 1,
             "args": {"correlation": 3}},
            {"ph": "X", "cat": "Kernel", "name": "k", "pid": 0, "tid": 7, "ts": 2, "dur": 1, "args": {"correlation": 3}},
            {"ph": "X", "cat": "Memcpy", "name": "Memcpy HtoD (Pageable -> Device)", "pid": 0, "tid": 7, "ts": 4, "dur": 1},
            {"ph": "X", "cat": "Operator", "name": "aten::add", "pid": 1, "tid": 2, "ts": 0, "dur": 3},
        ]
    }  # fmt: skip
    t = load_trace(write(tmp_path, doc))
    assert t.table("kernels").column("tid").to_pylist() == [2]
    assert t.table("memops").column("copy_kind").to_pylist() == ["Host-to-Device"]
    assert t.table("ranges").column("source").to_pylist() == ["cpu_op"]


def test_large_integer_timestamps_stay_exact(tmp_path: Path) -> None:
    ts = 1682725898236567  # µs since the epoch: beyond float64's exact ns range
    doc = {
        "traceEvents": [
            {"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": ts, "dur": 3}
        ]
    }
    k = load_trace(write(tmp_path, doc)).table("kernels").to_pylist()[0]
    assert (k["start"], k["end"]) == (ts * 1000, ts * 1000 + 3000)


def test_short_name_drops_return_type_scope_templates_and_arguments() -> None:
    assert kineto.short_name(
        "void at::native::vectorized_elementwise_kernel<4, Foo<float> >(int, Foo<float>)"
    ) == ("vectorized_elementwise_kernel")
    assert kineto.short_name("triton_poi_fused_add_0") == "triton_poi_fused_add_0"


# --------------------------------------------------------------- bad input


def test_truncated_gzip(fixtures_dir: Path, tmp_path: Path) -> None:
    src = (fixtures_dir / KINETO_DIR / "nccl_parser_config__nccl_data.json.gz").read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(src[: len(src) // 2])
    with pytest.raises(
        TraceFormatError, match=r"cut\.json\.gz.*truncated or corrupt compressed data"
    ):
        load_trace(cut)


def test_truncated_json(fixtures_dir: Path, tmp_path: Path) -> None:
    text = gzip.decompress(
        (fixtures_dir / KINETO_DIR / "trace_filter__sampled_rank-0.json.gz").read_bytes()
    )
    cut = tmp_path / "cut.json"
    cut.write_bytes(text[: len(text) * 2 // 3])
    with pytest.raises(TraceFormatError, match=r"cut\.json: truncated JSON"):
        load_trace(cut)


def test_json_without_trace_events(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match=r"t\.json: no traceEvents array"):
        load_trace(write(tmp_path, {"schemaVersion": 1, "events": []}), format="kineto")


def test_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text("hello, world")
    with pytest.raises(TraceFormatError, match=r"t\.json: not a JSON object"):
        load_trace(bad, format="kineto")


def test_wrong_type_for_a_timestamp(tmp_path: Path) -> None:
    doc = {"traceEvents": [{"ph": "X", "cat": "kernel", "name": "k", "ts": "yesterday", "dur": 1}]}
    with pytest.raises(TraceFormatError, match=r"t\.json: bad event in traceEvents: .*\$\[0\]\.ts"):
        load_trace(write(tmp_path, doc))
