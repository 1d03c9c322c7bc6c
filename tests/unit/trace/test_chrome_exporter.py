"""Chrome/Perfetto export: what goes out comes back through the Kineto importer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from nsight_lab.trace import Trace, load_trace
from nsight_lab.trace.exporters.chrome import write_chrome_trace
from tests.unit.trace.conftest import KINETO_DIR, NSYS_FIXTURE


def kernel_totals(trace: Trace) -> dict[str, int]:
    k = trace.table("kernels").to_pandas()
    return (k["end"] - k["start"]).groupby(k["name"], observed=True).sum().to_dict()


@pytest.mark.parametrize(
    "source",
    [NSYS_FIXTURE, KINETO_DIR / "nccl_parser_config__nccl_data.json.gz"],
    ids=["nsys", "kineto"],
)
def test_export_then_import_keeps_kernel_totals_and_launches(
    fixtures_dir: Path, tmp_path: Path, source: Path
) -> None:
    original = load_trace(fixtures_dir / source)
    out = write_chrome_trace(original, tmp_path / "out.json.gz")
    back = load_trace(out)
    assert kernel_totals(back) == kernel_totals(original)
    cols = ["start", "end", "device_id", "stream_id", "correlation_id", "pid", "tid"]
    assert (
        back.table("kernels").select(cols).to_pylist()
        == original.table("kernels").select(cols).to_pylist()
    )
    assert back.table("api").num_rows == original.table("api").num_rows
    assert (
        back.table("memops").column("bytes").to_pylist()
        == original.table("memops").column("bytes").to_pylist()
    )


def test_flow_events_link_each_launch_to_its_kernel(fixtures_dir: Path, tmp_path: Path) -> None:
    trace = load_trace(fixtures_dir / NSYS_FIXTURE)
    out = write_chrome_trace(trace, tmp_path / "out.json")
    events = json.loads(out.read_text())["traceEvents"]
    starts = {e["id"] for e in events if e["ph"] == "s" and e["cat"] == "ac2g"}
    finishes = {e["id"] for e in events if e["ph"] == "f" and e["cat"] == "ac2g"}
    api_corr = set(trace.table("api").column("correlation_id").to_pylist())
    kernel_corr = set(trace.table("kernels").column("correlation_id").to_pylist())
    assert finishes == kernel_corr & api_corr and finishes <= starts


def test_timestamps_are_exact_microseconds(tmp_path: Path, fixtures_dir: Path) -> None:
    trace = load_trace(fixtures_dir / NSYS_FIXTURE)
    out = write_chrome_trace(trace, tmp_path / "out.json.gz")
    text = gzip.decompress(out.read_bytes()).decode()
    first = trace.table("kernels").column("start")[0].as_py()
    assert f'"ts": {first // 1000}.{first % 1000:03d}' in text
    assert json.loads(text)["baseTimeNanoseconds"] == trace.metadata.epoch_ns
