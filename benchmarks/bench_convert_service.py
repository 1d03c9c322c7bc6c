"""Big reports converted through the analysis service: time and peak memory.

Starts ``nsight-lab up`` (local-folder storage under a temporary folder), uploads each
report through the coordinator's real upload API (presigned multipart parts, as an
agent sends them) and waits until the analysis service has converted it by itself,
then reads what ``GET /api/v1/ingest`` says of that conversion: its time and the peak
RSS of the conversion's process. The service process's own peak RSS (``VmHWM``) is
read at the end. Inputs come from ``make_fixtures.py`` (the 10M-kernel nsys export,
a ~3 GB Kineto trace); everything written is removed afterwards.

    python benchmarks/make_fixtures.py sqlite --kernels 10000000
    python benchmarks/make_fixtures.py kineto --kernels 1000000
    python benchmarks/bench_convert_service.py [--sqlite-kernels 10000000] [--kineto-kernels 1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _measure import machine  # noqa: E402
from make_fixtures import make_kineto, make_nsys_sqlite  # noqa: E402

from tests.support.analysis_stack import AnalysisStack, upload_reports  # noqa: E402


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def convert(stack: AnalysisStack, api: httpx.Client, path: Path, tag: str) -> dict[str, Any]:
    began = time.perf_counter()
    up = upload_reports(stack.coordinator_url, [path], tag=tag)
    uploaded = time.perf_counter() - began
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        (info,) = httpx.get(
            f"{stack.coordinator_url}files", params={"collection_id": up.collection_id}
        ).json()
        if info["conversion"]["state"] != "pending":
            break
        time.sleep(1.0)
    assert info["conversion"]["state"] == "converted", info["conversion"]
    last = api.get("ingest").json()["last_conversion"]
    assert last["key"] == info["key"], last
    return {"upload_s": uploaded, **last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sqlite-kernels", type=int, default=10_000_000)
    parser.add_argument("--kineto-kernels", type=int, default=1_000_000)
    args = parser.parse_args()
    inputs = [make_nsys_sqlite(args.sqlite_kernels), make_kineto(args.kineto_kernels)]
    data = Path(tempfile.mkdtemp(prefix="nsight-convert-bench-"))
    rows = []
    try:
        with AnalysisStack(data, workers=1, warm=False) as stack:
            with httpx.Client(base_url=stack.analysis_url, timeout=60) as api:
                for i, path in enumerate(inputs):
                    rows.append((path, convert(stack, api, path, f"bench{i}")))
            assert stack._proc is not None
            service_mb = vm_hwm_mb(stack._proc.pid)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print("| report | size | rows converted | conversion | peak RSS of the conversion | upload |")
    print("|---|---|---|---|---|---|")
    for path, r in rows:
        total = sum(r["rows"].values())
        print(
            f"| {path.name} | {path.stat().st_size / 1e9:.2f} GB | {total:,} "
            f"(kernels {r['rows']['kernels']:,}) | {r['seconds']:.1f} s | {r['peak_rss_mb']:.0f} MB "
            f"| {r['upload_s']:.1f} s |"
        )
    print(
        f"peak RSS of the service process (coordinator + analysis, `nsight-lab up`): {service_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
