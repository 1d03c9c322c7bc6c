"""nsys SQLite import: nsight-lab's importer vs pandas.read_sql of the kernel query.

Input: the real CloverLeaf export with its kernel and CUDA runtime rows repeated in
time up to ~10M kernels (benchmarks/make_fixtures.py; cached, ~30 s to make). Each
measurement runs in a fresh subprocess and reports wall time and peak RSS
(getrusage maxrss of the process, and of its children when it used worker processes).

Cases:
  kernels->parquet   convert_trace(..., tables=["kernels"]): streamed, bounded memory
  kernels->memory    load_trace(..., tables=["kernels"]): the whole table in RAM
  all->parquet       convert_trace(...): every table (23M CUDA API rows too)
  pandas.read_sql    the baseline: the same kernel columns, names joined in SQL

    python benchmarks/bench_import_nsys_sqlite.py [--kernels 10000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _measure import machine, median, peak_rss_mb, python_exe, run_worker

KERNEL_QUERY = (
    "SELECT k.start, k.end, k.deviceId, k.contextId, k.streamId, k.correlationId, k.globalPid,"
    " d.value AS name, s.value AS short_name, k.gridX, k.gridY, k.gridZ, k.blockX, k.blockY, k.blockZ,"
    " k.registersPerThread, k.staticSharedMemory, k.dynamicSharedMemory, k.graphNodeId"
    " FROM CUPTI_ACTIVITY_KIND_KERNEL k JOIN StringIds d ON d.id = k.demangledName"
    " JOIN StringIds s ON s.id = k.shortName"
)
CASES = ["kernels->parquet", "kernels->memory", "all->parquet", "pandas.read_sql"]


def rss_split() -> dict[str, float]:
    """Current anonymous vs file-backed RSS (MB): mmap'ed SQLite pages are the latter,
    shared with the page cache and dropped under memory pressure."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key = line.split(":")[0]
            if key in ("RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children: with the wall
    time it shows whether the run had the cores to itself (other load on the machine
    stretches wall time, not CPU time)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def worker(case: str, path: str) -> None:
    out = Path(tempfile.mkdtemp(prefix="nsight-lab-bench-"))
    try:
        t0 = time.perf_counter()
        if case == "pandas.read_sql":
            import sqlite3

            import pandas as pd

            con = sqlite3.connect(path)
            df = pd.read_sql(KERNEL_QUERY, con)
            kernels = len(df)
            total = int((df["end"] - df["start"]).sum())
        else:
            from nsight_lab.trace import Trace, convert_trace, load_trace

            tables = None if case == "all->parquet" else ["kernels"]
            if case == "kernels->memory":
                k = load_trace(path, tables=tables).table("kernels")
            else:
                convert_trace(path, out, tables=tables)
                k = None
            seconds = time.perf_counter() - t0
            cpu = cpu_seconds()
            own, kids = peak_rss_mb()
            rss = rss_split()
            if k is None:  # counted outside the timing: reading back is not importing
                k = Trace.load(out).table("kernels")
            kernels = k.num_rows
            total = int((k.column("end").to_numpy() - k.column("start").to_numpy()).sum())
        if case == "pandas.read_sql":
            seconds = time.perf_counter() - t0
            cpu = cpu_seconds()
            own, kids = peak_rss_mb()
            rss = rss_split()
        print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rss_mb": own, "children_rss_mb": kids, "kernels": kernels,
                          "total_ns": total, **rss}))  # fmt: skip
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernels", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if args.worker:
        worker(*args.rest)
        return
    from make_fixtures import make_nsys_sqlite

    t0 = time.perf_counter()
    path = make_nsys_sqlite(args.kernels)
    print(f"machine: {machine()}")
    print(
        f"input: {path} ({path.stat().st_size / 1e6:.0f} MB; ready in {time.perf_counter() - t0:.1f} s)"
    )
    me = Path(__file__).resolve()
    results = {}
    for case in args.cases.split(","):
        runs = [run_worker(python_exe(), me, [case, str(path)]) for _ in range(args.runs)]
        results[case] = runs
        sec = median(runs, "seconds")
        rate = runs[0]["kernels"] / sec
        rss = median(runs, "rss_mb")
        print(f"{case:17s} median {sec:6.2f} s (CPU {median(runs, 'cpu_s'):5.1f} s)  {rate / 1e6:5.2f} M kernels/s  "
              f"peak RSS {rss:5.0f} MB (worker processes {median(runs, 'children_rss_mb'):4.0f} MB; "
              f"at the end anon {median(runs, 'RssAnon'):5.0f} MB, file {median(runs, 'RssFile'):5.0f} MB)  "
              f"runs {[round(r['seconds'], 1) for r in runs]}")  # fmt: skip
        if case != "pandas.read_sql":
            both = [r["kernels"] / r["seconds"] >= 1e6 and r["rss_mb"] < 1000 for r in runs]
            print(f"{'':17s} target >= 1M kernels/s with peak RSS < 1000 MB in the same run: "
                  f"{sum(both)} of {len(runs)} runs")  # fmt: skip
    if "pandas.read_sql" in results:
        base = results["pandas.read_sql"]
        for case, runs in results.items():
            if case != "pandas.read_sql":
                ratio = median(base, "seconds") / median(runs, "seconds")
                same = (
                    runs[0]["total_ns"] == base[0]["total_ns"]
                    and runs[0]["kernels"] == base[0]["kernels"]
                )
                print(
                    f"{case} vs pandas.read_sql: {ratio:.1f}x faster, same kernel count and total time: {same}"
                )


if __name__ == "__main__":
    main()
