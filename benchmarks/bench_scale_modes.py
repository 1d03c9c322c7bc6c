"""``cuda_gpu_kern_sum`` over 64 reports: none / concurrent / dask-futures, raw vs converted.

Input: the real fixtures that need no nsys (the CloverLeaf SQLite export and the seven
Kineto traces) copied eight times over into one folder of 64 report files; the same
64 converted once (``convert_trace``) into 64 trace folders. Each of the six
configurations (three modes x two sources) runs ``run_recipe(..., notebook=False)``
once untimed, then ``--repeat`` rounds follow with the configurations in turn, so
load from other processes falls on all of them alike. Every result's ``stats`` and
``rank_stats`` are compared equal before any time is printed.

``dask-futures`` maps on a cluster already running (a LocalCluster of one
single-threaded worker process per core, started once before timing), the way a
team runs a scheduler for everyone; starting such a cluster per run, which is what
``--mode dask-futures`` does without NSIGHT_LAB_DASK_SCHEDULER, is timed separately.

    python benchmarks/bench_scale_modes.py [--copies 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _measure import machine  # noqa: E402

from nsight_lab.recipe import run_recipe  # noqa: E402
from nsight_lab.trace import convert_trace  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures"
SOURCES = [FIXTURES / "nsys-sqlite" / "cloverleaf-a100.sqlite", *sorted((FIXTURES / "kineto").glob("*.json.gz"))]  # fmt: skip
MODES = ("none", "concurrent", "dask-futures")


def build(folder: Path, copies: int) -> tuple[Path, Path, float]:
    raw, converted = folder / "raw", folder / "converted"
    raw.mkdir()
    converted.mkdir()
    for k in range(copies):
        for source in SOURCES:
            shutil.copyfile(source, raw / f"c{k}_{source.name}")
    began = time.perf_counter()
    for report in sorted(raw.iterdir()):
        convert_trace(report, converted / (report.name + ".trace"))
    return raw, converted, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import distributed

    with tempfile.TemporaryDirectory(prefix="nsight-scale-") as tmp:
        work = Path(tmp)
        raw, converted, convert_s = build(work, args.copies)
        count = len(list(raw.iterdir()))
        began = time.perf_counter()
        cluster = distributed.LocalCluster(
            n_workers=os.cpu_count() or 1,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        cluster_start_s = time.perf_counter() - began
        scheduler = cluster.scheduler_address
        configs = [(mode, source) for mode in MODES for source in ("raw", "converted")]
        times: dict[tuple[str, str], list[float]] = {c: [] for c in configs}
        reference = None
        try:
            for round_ in range(args.repeat + 1):
                for mode, source in configs:
                    out = work / f"out-{mode}-{source}-{round_}"
                    began = time.perf_counter()
                    result = run_recipe(
                        "cuda_gpu_kern_sum",
                        [raw if source == "raw" else converted],
                        out,
                        mode=mode,
                        notebook=False,
                        scheduler=scheduler,
                    )
                    seconds = time.perf_counter() - began
                    problems = [str(w) for w in result.warnings]
                    assert not problems and len(result.reports) == count, (
                        f"{mode}/{source}: {len(result.reports)} of {count} reports, {problems[:3]}"
                    )
                    tables = (result.tables["stats"], result.tables["rank_stats"])
                    if reference is None:
                        reference = tables
                    assert tables[0].equals(reference[0]) and tables[1].equals(reference[1])
                    if round_:
                        times[(mode, source)].append(seconds)
                    shutil.rmtree(out)
        finally:
            cluster.close()
        began = time.perf_counter()
        run_recipe(
            "cuda_gpu_kern_sum",
            [converted],
            work / "own-cluster",
            mode="dask-futures",
            notebook=False,
        )
        own_cluster_s = time.perf_counter() - began
    base = statistics.median(times[("none", "raw")])
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{count} reports; results equal in all configurations")
    print(f"one-time conversion of the {count} reports: {convert_s:.2f} s")
    print("| mode | source | median s | runs | vs none/raw |")
    print("|---|---|---|---|---|")
    for mode, source in configs:
        runs = times[(mode, source)]
        med = statistics.median(runs)
        print(f"| {mode} | {source} | {med:.2f} | {', '.join(f'{r:.2f}' for r in runs)} | {base / med:.2f}x |")  # fmt: skip
    print(f"LocalCluster start (once, before timing): {cluster_start_s:.2f} s;"
          f" dask-futures with no scheduler given (cluster started for the run), converted: {own_cluster_s:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
