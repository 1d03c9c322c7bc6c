"""The GPU check behind scripts/gpu-check.sh: do the collectors see what the GPU ran?

    python scripts/gpu_check.py OUT_DIR                # both workloads, verdict line
    python scripts/gpu_check.py OUT_DIR --workload torch   # one, in this process

Each workload runs in its own process (torch's profiler and CUPTI cannot share one):
``KERNELS`` element-wise additions over large vectors, each between two CUDA events
on the same stream, recorded by the torch collector (PyTorch) or the cupti collector
(CuPy), with warm-up outside the capture. The trace is imported, ``cuda_gpu_kern_sum``
runs on it, and the kernel count and total kernel time it reports are compared with
what the events measured in the process: counts equal, times within ``TOLERANCE``.
The additions are large (milliseconds each), so the events' launch gaps and
resolution are well under the tolerance.

Everything that needs no GPU (comparing, summarising, the verdict, argument and
environment errors) is exercised by tests/unit/scripts/test_gpu_check.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TOLERANCE = 0.05
KERNELS = 50
ELEMENTS = 1 << 28  # 1 GiB of float32 per vector: ~1 ms per addition on current GPUs
WARMUP = 5
WORKLOADS = ("torch", "cupy")
#: What the element-wise additions are called in each library's kernels.
KERNEL_MATCH = {"torch": "elementwise", "cupy": "add"}
#: Exit statuses: the check passed, failed, or could not run here.
PASS, FAIL, CANNOT_RUN = 0, 1, 2


@dataclass
class Measured:
    """What a workload measured in its own process with CUDA events."""

    workload: str
    kernels: int
    gpu_ns: int
    trace: str
    device: str = ""


@dataclass
class Found:
    """What cuda_gpu_kern_sum found in the trace for the workload's kernels."""

    kernels: int
    gpu_ns: int
    names: list[str]


@dataclass
class Outcome:
    workload: str
    ok: bool
    summary: str


class CannotRun(RuntimeError):
    """The check cannot run on this machine (no GPU, a library missing)."""


def compare(measured: Measured, found: Found, tolerance: float = TOLERANCE) -> Outcome:
    """Counts must be equal and total GPU time within ``tolerance`` of the events'."""
    diff = (found.gpu_ns - measured.gpu_ns) / measured.gpu_ns if measured.gpu_ns else 1.0
    ok = found.kernels == measured.kernels and abs(diff) <= tolerance
    summary = (
        f"{measured.workload} {found.kernels}/{measured.kernels} kernels, "
        f"{found.gpu_ns / 1e6:.2f} ms vs events {measured.gpu_ns / 1e6:.2f} ms ({diff:+.1%})"
    )
    return Outcome(measured.workload, ok, summary)


def verdict(outcomes: list[Outcome], device: str = "") -> tuple[int, str]:
    """One line for people and logs, and the exit status."""
    where = f" on {device}" if device else ""
    parts = "; ".join(o.summary for o in outcomes)
    if outcomes and all(o.ok for o in outcomes):
        return PASS, f"GPU CHECK PASS{where}: {parts}"
    return FAIL, f"GPU CHECK FAIL{where}: {parts or 'no workload ran'}"


def kernel_summary(trace: Path, out: Path, match: str) -> Found:
    """Run cuda_gpu_kern_sum on ``trace`` into ``out``; the kernels whose name has ``match``."""
    from nsight_lab.recipe import run_recipe

    stats = run_recipe("cuda_gpu_kern_sum", [trace], out, csv=True, notebook=False).tables["stats"]
    rows = [r for r in stats.to_pylist() if match in str(r["Name"])]
    return Found(
        kernels=sum(int(r["Instances"]) for r in rows),
        gpu_ns=sum(int(r["Total Time (ns)"]) for r in rows),
        names=[str(r["Name"]) for r in rows],
    )


# --- workloads (need a GPU) ------------------------------------------------------------


def _torch(out: Path) -> Measured:
    try:
        import torch
    except ImportError as exc:
        raise CannotRun(f"PyTorch is not installed: {exc}") from exc
    if not torch.cuda.is_available():
        raise CannotRun("PyTorch sees no CUDA device")
    from nsight_lab.agent.collectors.torch import TorchCollector

    a = torch.rand(ELEMENTS, device="cuda")
    b = torch.rand(ELEMENTS, device="cuda")
    c = torch.empty_like(a)
    for _ in range(WARMUP):
        torch.add(a, b, out=c)
    torch.cuda.synchronize()
    collector = TorchCollector("gpu-check-torch")
    collector.start(out, 1)
    pairs = []
    for _ in range(KERNELS):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.add(a, b, out=c)
        end.record()
        pairs.append((start, end))
    torch.cuda.synchronize()
    collector.halt()
    (report,) = [f for f in collector.stop() if f.kind == "report"]
    gpu_ms = sum(s.elapsed_time(e) for s, e in pairs)
    return Measured("torch", KERNELS, round(gpu_ms * 1e6), str(report.path),
                    torch.cuda.get_device_name(0))  # fmt: skip


def _cupy(out: Path) -> Measured:
    try:
        import cupy
    except ImportError as exc:
        raise CannotRun(f"CuPy is not installed: {exc}") from exc
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            raise CannotRun("CuPy sees no CUDA device")
    except cupy.cuda.runtime.CUDARuntimeError as exc:
        raise CannotRun(f"CuPy sees no CUDA device: {exc}") from exc
    from nsight_lab.agent.collectors.base import CollectorError
    from nsight_lab.agent.collectors.cupti import CuptiCollector

    a = cupy.random.random(ELEMENTS, dtype=cupy.float32)
    b = cupy.random.random(ELEMENTS, dtype=cupy.float32)
    c = cupy.empty_like(a)
    for _ in range(WARMUP):
        cupy.add(a, b, out=c)
    cupy.cuda.Device().synchronize()
    try:
        collector = CuptiCollector("gpu-check-cupy")
    except CollectorError as exc:
        raise CannotRun(str(exc)) from exc
    collector.start(out, 1)
    pairs = []
    for _ in range(KERNELS):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        cupy.add(a, b, out=c)
        end.record()
        pairs.append((start, end))
    cupy.cuda.Device().synchronize()
    (report,) = collector.stop()
    gpu_ms = sum(cupy.cuda.get_elapsed_time(s, e) for s, e in pairs)
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    device = name.decode() if isinstance(name, bytes) else str(name)
    return Measured("cupy", KERNELS, round(gpu_ms * 1e6), str(report.path), device)


def run_workload(name: str, out: Path) -> Measured:
    out.mkdir(parents=True, exist_ok=True)
    return _torch(out) if name == "torch" else _cupy(out)


# --- driver -------------------------------------------------------------------------------


def _in_subprocess(name: str, out: Path, timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, str(out), "--workload", name],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        },
    )
    (out / f"{name}.log").write_text(done.stdout + done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"{name} workload exited {done.returncode}: {done.stderr.strip()[-400:]}"}
    return dict(json.loads(lines[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the traces, tables and logs")
    parser.add_argument("--workload", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per workload")
    args = parser.parse_args(argv)
    if args.workload:  # child: run one workload, print its measurement as JSON
        try:
            measured = run_workload(args.workload, args.out / args.workload)
        except CannotRun as exc:
            print(json.dumps({"cannot_run": str(exc)}))
            return CANNOT_RUN
        print(json.dumps(asdict(measured)))
        return PASS
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    device = ""
    for name in WORKLOADS:
        result = _in_subprocess(name, args.out, args.timeout)
        if "cannot_run" in result:
            print(f"GPU CHECK CANNOT RUN: {name}: {result['cannot_run']}")
            return CANNOT_RUN
        if "error" in result:
            outcomes.append(Outcome(name, False, result["error"]))
            continue
        measured = Measured(**result)
        device = device or measured.device
        found = kernel_summary(
            Path(measured.trace), args.out / f"{name}-cuda_gpu_kern_sum", KERNEL_MATCH[name]
        )
        outcomes.append(compare(measured, found))
        (args.out / f"{name}.json").write_text(
            json.dumps({"measured": asdict(measured), "found": asdict(found)}, indent=2)
        )
    status, line = verdict(outcomes, device)
    (args.out / "verdict.txt").write_text(line + "\n")
    print(f"{line} [{time.monotonic() - started:.0f} s]")
    return status


if __name__ == "__main__":
    sys.exit(main())
