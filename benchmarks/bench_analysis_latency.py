"""Analysis service: submit-to-HTML latency with warm workers vs a cold papermill run, and throughput.

Run: ``python benchmarks/bench_analysis_latency.py [--runs N] [--recipe NAME]``.

It starts the coordinator and the analysis service (one uvicorn subprocess, local
storage), uploads one small real report (``cloverleaf-a100.sqlite``) through the
coordinator's upload API, then measures, in the same run and on the same report:

* warm: POST /jobs until the job has succeeded (HTML stored), workers with warm kernels;
* cold service: the same, with workers that run papermill (a fresh kernel) per job;
* cold direct: ``run_recipe`` in this process (papermill, fresh kernel), no service;
* throughput: 20 jobs with notebooks submitted at once to the warm service (2 workers).

Medians of ``--runs`` runs after one warm-up; the ratio is cold / warm.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "services")]

import httpx  # noqa: E402

from tests.support.analysis_stack import AnalysisStack, upload_reports  # noqa: E402

REPORT = REPO.parent / "shared" / "fixtures" / "nsys-sqlite" / "cloverleaf-a100.sqlite"


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def submit_and_wait(
    api: httpx.Client, recipe: str, notebook: bool = True, timeout: float = 300
) -> float:
    began = time.perf_counter()
    job = api.post("jobs", json={"recipe": recipe, "notebook": notebook})
    job.raise_for_status()
    job_id = job.json()["job_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.get(f"jobs/{job_id}").json()
        if state["state"] in ("succeeded", "failed", "cancelled"):
            if state["state"] != "succeeded":
                raise RuntimeError(f"job {job_id} {state['state']}: {state['error']}")
            return time.perf_counter() - began
        time.sleep(0.01)
    raise RuntimeError(f"job {job_id} did not finish in {timeout}s")


def service_latency(
    tmp: Path, recipe: str, runs: int, *, warm: bool
) -> tuple[list[float], AnalysisStack]:
    stack = AnalysisStack(tmp / ("warm" if warm else "cold"), warm=warm).start()
    upload_reports(stack.coordinator_url, [REPORT])
    with httpx.Client(base_url=stack.analysis_url, timeout=60) as api:
        # Workers start with the service; wait until one has taken a job (warm-up).
        submit_and_wait(api, recipe)
        times = [submit_and_wait(api, recipe) for _ in range(runs)]
    return times, stack


def direct_cold(tmp: Path, recipe: str, runs: int) -> list[float]:
    from nsight_lab.recipe import run_recipe

    run_recipe(recipe, [REPORT], tmp / "direct-warmup", notebook=True)
    times = []
    for i in range(runs):
        began = time.perf_counter()
        run_recipe(recipe, [REPORT], tmp / f"direct-{i}", notebook=True)
        times.append(time.perf_counter() - began)
    return times


def throughput(stack: AnalysisStack, recipe: str, jobs: int) -> float:
    with httpx.Client(base_url=stack.analysis_url, timeout=60) as api:
        began = time.perf_counter()
        ids = [api.post("jobs", json={"recipe": recipe}).json()["job_id"] for _ in range(jobs)]
        pending = set(ids)
        while pending:
            for job_id in list(pending):
                state = api.get(f"jobs/{job_id}").json()["state"]
                if state in ("succeeded", "failed", "cancelled"):
                    if state != "succeeded":
                        raise RuntimeError(f"job {job_id} {state}")
                    pending.discard(job_id)
            time.sleep(0.05)
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--recipe", default="cuda_gpu_kern_sum")
    parser.add_argument("--jobs", type=int, default=20)
    opts = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"report: {REPORT.name} ({REPORT.stat().st_size / 1e6:.1f} MB), recipe {opts.recipe}, {opts.runs} runs"
    )
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp_name:
        tmp = Path(tmp_name)
        warm, warm_stack = service_latency(tmp, opts.recipe, opts.runs, warm=True)
        try:
            total = throughput(warm_stack, opts.recipe, opts.jobs)
        finally:
            warm_stack.stop()
        cold, cold_stack = service_latency(tmp, opts.recipe, opts.runs, warm=False)
        cold_stack.stop()
        direct = direct_cold(tmp, opts.recipe, opts.runs)
    w, c, d = statistics.median(warm), statistics.median(cold), statistics.median(direct)
    print(
        f"submit-to-HTML, warm workers (service):      median {w:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in warm)})"
    )
    print(
        f"submit-to-HTML, cold papermill (service):    median {c:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in cold)})"
    )
    print(
        f"run_recipe with papermill, no service:       median {d:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in direct)})"
    )
    print(
        f"ratio cold service / warm service: {c / w:.2f}x; direct cold / warm service: {d / w:.2f}x"
    )
    print(
        f"throughput: {opts.jobs} jobs with notebooks on 2 warm workers in {total:.1f} s = {opts.jobs / total * 60:.0f} jobs/min"
    )
    print(f"target (< 3 s warm): {'met' if w < 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
