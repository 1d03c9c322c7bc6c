"""scripts/gpu-check.sh without a GPU: everything but the GPU workloads, for real.

The workloads themselves need an NVIDIA GPU; here they must say so in one line
(exit 2), and every other part (installing cupti-python offline from the wheel
folder, summarising a trace with cuda_gpu_kern_sum, comparing, the verdict) runs.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.stack import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu-check.sh"
ALEXNET = "kineto/critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"


def load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gpu_check", REPO_ROOT / "scripts" / "gpu_check.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


check = load_check()


def run_script(*args: str, python: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NSIGHT_LAB_WHEELS"}
    if python:
        env["PYTHON"] = python
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_compare_wants_equal_counts_and_times_within_five_percent() -> None:
    measured = check.Measured("torch", 50, 60_000_000, "t.json.gz")
    assert check.compare(measured, check.Found(50, 62_000_000, ["k"])).ok
    assert not check.compare(measured, check.Found(50, 64_000_000, ["k"])).ok  # +6.7%
    assert not check.compare(measured, check.Found(49, 60_000_000, ["k"])).ok
    outcome = check.compare(measured, check.Found(50, 61_200_000, ["k"]))
    assert outcome.summary == "torch 50/50 kernels, 61.20 ms vs events 60.00 ms (+2.0%)"


def test_verdict_is_one_line_with_every_workload() -> None:
    good = check.Outcome("torch", True, "torch ok")
    bad = check.Outcome("cupy", False, "cupy off")
    assert check.verdict([good, good], "NVIDIA H200") == (
        check.PASS,
        "GPU CHECK PASS on NVIDIA H200: torch ok; torch ok",
    )
    status, line = check.verdict([good, bad])
    assert status == check.FAIL and line == "GPU CHECK FAIL: torch ok; cupy off"
    assert "\n" not in line


def test_kernel_summary_of_a_real_gpu_trace_matches_a_scan(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    trace = fixtures_dir / ALEXNET
    with gzip.open(trace) as fh:
        kernels = [
            e
            for e in json.load(fh)["traceEvents"]
            if e.get("ph") == "X" and e.get("cat") == "kernel"
        ]
    wanted = [e for e in kernels if "elementwise" in e["name"]]
    found = check.kernel_summary(trace, tmp_path / "sum", "elementwise")
    assert found.kernels == len(wanted) > 0
    assert found.gpu_ns == pytest.approx(sum(e["dur"] for e in wanted) * 1000, abs=len(wanted))
    assert (tmp_path / "sum" / "stats.csv").is_file()  # the table lands in OUT_DIR, as CSV


def test_without_an_output_folder_it_says_how_to_call_it() -> None:
    done = run_script()
    assert done.returncode == 2 and "usage: bash scripts/gpu-check.sh OUT_DIR" in done.stderr


def test_missing_pieces_and_no_wheel_folder_is_one_clear_line(tmp_path: Path) -> None:
    done = run_script(str(tmp_path / "out"))  # this Python has no cupti-python
    assert done.returncode == 2
    assert done.stdout.strip().splitlines() == [
        "GPU CHECK CANNOT RUN: cupti-python missing and no wheel folder given "
        "(WHEELS_DIR or $NSIGHT_LAB_WHEELS)"
    ]


def test_a_wheel_folder_without_what_is_needed_fails_the_install_clearly(tmp_path: Path) -> None:
    empty = tmp_path / "wheels"
    empty.mkdir()
    done = run_script(str(tmp_path / "out"), str(empty))
    assert done.returncode == 2
    assert "installing cupti-python from" in done.stdout and "failed" in done.stdout
    assert (tmp_path / "out" / "pip.log").is_file()


def test_installs_cupti_python_offline_then_says_there_is_no_gpu(
    tmp_path: Path, cupti_wheels: Path
) -> None:
    """The real offline install from the carried wheels, then the workloads run and refuse."""
    done = run_script(str(tmp_path / "out"), str(cupti_wheels))
    venv_python = tmp_path / "out" / "venv" / "bin" / "python"
    assert venv_python.is_file()
    assert subprocess.run([str(venv_python), "-c", "import cupti.cupti"]).returncode == 0
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert line.startswith("GPU CHECK CANNOT RUN: torch: ")  # no torch or no CUDA device here


def test_with_real_torch_and_no_gpu_the_torch_workload_says_so(
    tmp_path: Path, torch_python: Path
) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [str(torch_python), str(REPO_ROOT / "scripts" / "gpu_check.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.strip() == "GPU CHECK CANNOT RUN: torch: PyTorch sees no CUDA device"
    assert (out / "torch.log").is_file()
