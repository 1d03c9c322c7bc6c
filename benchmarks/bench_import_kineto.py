"""Kineto JSON import: nsight-lab's streaming importer vs HolisticTraceAnalysis.

Input: a ~100k-kernel trace made by repeating the real NCCL fixture in time
(benchmarks/make_fixtures.py; cached). Each run is a fresh subprocess; we report the
median time and peak RSS (getrusage maxrss) and check that both tools give the same
total duration per kernel name (each kernel's duration rounded to integer ns).

HTA is not a dependency of nsight-lab: install it into a separate environment, e.g.
    python -m venv --system-site-packages ~/.cache/nsight-lab/bench/hta-venv
    ~/.cache/nsight-lab/bench/hta-venv/bin/pip install HolisticTraceAnalysis
and pass --hta-python (default: that venv's python when it exists).

    python benchmarks/bench_import_kineto.py [--kernels 100000] [--runs 3] [--big-kernels 1000000]

``--big-kernels N`` also imports a ~3.3 GB (N = 1M kernels) trace once with
nsight-lab alone, to show that memory stays bounded (target: under 4 GB).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _measure import machine, median, peak_rss_mb, python_exe, run_worker

DEFAULT_HTA = Path.home() / ".cache/nsight-lab/bench/hta-venv/bin/python"


def worker(tool: str, path: str) -> None:
    totals: dict[str, int] = {}
    if tool == "nsight-lab":
        from nsight_lab.trace import load_trace

        t0 = time.perf_counter()
        trace = load_trace(path)
        seconds = time.perf_counter() - t0
        k = trace.table("kernels")
        names = k.column("name").to_pylist()
        durs = (k.column("end").to_numpy() - k.column("start").to_numpy()).tolist()
    else:
        from hta.common.trace import Trace

        t0 = time.perf_counter()
        hta = Trace(trace_files={0: path}, trace_dir=str(Path(path).parent))
        hta.parse_traces(use_multiprocessing=False, use_memory_profiling=False)
        seconds = time.perf_counter() - t0
        df = hta.traces[0]
        symbols = hta.symbol_table.get_sym_table()
        kernel_id = hta.symbol_table.get_sym_id_map()["kernel"]
        kd = df[df["cat"] == kernel_id]
        names = [symbols[i] for i in kd["name"]]
        durs = [round(d * 1000) for d in kd["dur"]]
    for n, d in zip(names, durs, strict=True):
        totals[n] = totals.get(n, 0) + int(d)
    own, kids = peak_rss_mb()
    print(
        json.dumps(
            {"seconds": seconds, "rss_mb": max(own, kids), "kernels": len(names), "totals": totals}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernels", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hta-python", default=str(DEFAULT_HTA) if DEFAULT_HTA.exists() else None)
    parser.add_argument("--big-kernels", type=int, default=0)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if args.worker:
        worker(*args.rest)
        return
    from make_fixtures import make_kineto

    t0 = time.perf_counter()
    path = make_kineto(args.kernels)
    print(f"machine: {machine()}")
    print(
        f"input: {path} ({path.stat().st_size / 1e6:.0f} MB; ready in {time.perf_counter() - t0:.1f} s)"
    )
    me = Path(__file__).resolve()
    if args.big_kernels:
        big = make_kineto(args.big_kernels)
        r = run_worker(python_exe(), me, ["nsight-lab", str(big)])
        print(f"big trace {big.name} ({big.stat().st_size / 1e9:.1f} GB): nsight-lab {r['seconds']:.1f} s, "
              f"peak RSS {r['rss_mb']:.0f} MB, {r['kernels']} kernels")  # fmt: skip
    ours = [run_worker(python_exe(), me, ["nsight-lab", str(path)]) for _ in range(args.runs)]
    print(f"nsight-lab: median {median(ours, 'seconds'):.2f} s, peak RSS {median(ours, 'rss_mb'):.0f} MB "
          f"({ours[0]['kernels']} kernels, runs {[round(r['seconds'], 2) for r in ours]})")  # fmt: skip
    if not args.hta_python:
        print("HTA baseline skipped: no --hta-python (see the module docstring)")
        return
    env = {"HTA_DISABLE_NS_ROUNDING": "1"}  # keep HTA's durations as recorded
    hta = [run_worker(args.hta_python, me, ["hta", str(path)], env) for _ in range(args.runs)]
    print(f"HTA:        median {median(hta, 'seconds'):.2f} s, peak RSS {median(hta, 'rss_mb'):.0f} MB "
          f"({hta[0]['kernels']} kernels, runs {[round(r['seconds'], 2) for r in hta]})")  # fmt: skip
    speed = median(hta, "seconds") / median(ours, "seconds")
    mem = median(ours, "rss_mb") / median(hta, "rss_mb")
    same = ours[0]["totals"] == hta[0]["totals"]
    print(f"speed-up {speed:.1f}x, memory ratio {mem:.2f}, per-kernel totals identical: {same}")
    if not same:
        diff = {k for k in ours[0]["totals"].keys() | hta[0]["totals"].keys()
                if ours[0]["totals"].get(k) != hta[0]["totals"].get(k)}  # fmt: skip
        print(f"  {len(diff)} kernel names differ, e.g. {sorted(diff)[:3]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
