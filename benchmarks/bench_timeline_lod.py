"""Timeline level of detail: build time and per-view answer time for a 1M-event trace.

    python benchmarks/bench_timeline_lod.py [--events 1000000] [--runs 5]

A synthetic trace (kernels on 8 GPUs x 4 streams, memcpys, and nested ranges on 16
threads; durations and gaps drawn from log-normal distributions) is laid out and
summarised by ``Timeline.from_trace``; views are then answered at zooms from the
whole trace down to a few microseconds across 1,200 pixels. The baseline, measured
in the same run, is what the naive approach costs: converting every event of the
full view into JSON objects for the browser.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._measure import machine
from nsight_lab.jupyter.widgets.timeline import Timeline
from nsight_lab.trace import Trace, TraceMetadata

WIDTH_PX = 1200


def synthetic_trace(events: int, seed: int = 0) -> Trace:
    rng = np.random.default_rng(seed)
    n_k, n_m = int(events * 0.7), int(events * 0.1)
    n_r = events - n_k - n_m

    def timeline(n: int, lanes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lane = rng.integers(0, lanes, n)
        dur = rng.lognormal(9, 1.2, n).astype(np.int64)  # ~8 us median
        gap = rng.lognormal(8, 1.5, n).astype(np.int64)
        order = np.argsort(lane, kind="stable")
        start = np.empty(n, np.int64)
        for lane_id in range(lanes):
            idx = order[lane[order] == lane_id]
            start[idx] = np.cumsum(dur[idx] + gap[idx]) - dur[idx]
        return start, start + dur, lane

    ks, ke, kl = timeline(n_k, 32)
    names = pa.array([f"kernel_{i % 300}" for i in range(n_k)]).dictionary_encode()
    kernels = pa.table({"start": ks, "end": ke, "device_id": (kl // 4).astype(np.int32),
                        "stream_id": kl % 4, "short_name": names, "name": names})  # fmt: skip
    ms, me, ml = timeline(n_m, 8)
    memops = pa.table({"start": ms, "end": me, "device_id": ml.astype(np.int32),
                       "stream_id": np.full(n_m, 99), "kind": pa.array(["memcpy"] * n_m).dictionary_encode(),
                       "copy_kind": pa.array(["Host-to-Device"] * n_m).dictionary_encode()})  # fmt: skip
    # Ranges: outer "step" ranges with two nested children each, on 16 threads.
    outer = n_r // 3
    os_, oe, ol = timeline(outer, 16)
    mid = (os_ + oe) // 2
    rs = np.concatenate([os_, os_, mid])
    re_ = np.concatenate([oe, mid, oe])
    rl = np.concatenate([ol, ol, ol])
    rn = pa.array(["step"] * outer + ["forward"] * outer + ["backward"] * outer).dictionary_encode()
    ranges = pa.table({"start": rs, "end": re_, "pid": np.full(len(rs), 1), "tid": rl, "name": rn})
    return Trace({"kernels": kernels, "memops": memops, "ranges": ranges},
                 TraceMetadata(source="kineto", path="synthetic-1M"))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trace = synthetic_trace(args.events)
    total = sum(trace.tables[t].num_rows for t in ("kernels", "memops", "ranges"))
    print(f"machine: {machine()}")
    print(f"events: {total:,} ({trace})")

    builds, widget = [], None
    for _ in range(args.runs):
        widget = Timeline.from_trace(trace)
        builds.append(widget.build_s)
    assert widget is not None and widget.summary is not None
    stored = sum(len(lv) for lv in widget.summary.levels)
    print(f"build (layout + summary), median of {args.runs}: {statistics.median(builds) * 1e3:.0f} ms; "
          f"{len(widget.summary.levels)} levels, {stored:,} blocks stored ({stored / total:.2f}x events), "
          f"{len(widget.rows)} rows")  # fmt: skip

    span = widget.span_ns
    rng = np.random.default_rng(1)
    print(f"view answers at {WIDTH_PX} px (median of {args.runs * 20} random windows each):")
    full_answer = None
    for fraction in (1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-5):
        times, counts, payload = [], [], []
        for _ in range(args.runs * 20):
            width = span * fraction
            t0 = float(rng.uniform(0, span - width)) if fraction < 1 else 0.0
            began = time.perf_counter()
            header, buffers = widget.answer_view(
                {"type": "view", "id": 1, "t0": t0, "t1": t0 + width, "width_px": WIDTH_PX}
            )
            times.append(time.perf_counter() - began)
            counts.append(header["n"])
            payload.append(sum(len(b) for b in buffers))
        med = statistics.median(times)
        if fraction == 1.0:
            full_answer = med
        print(f"  {fraction:>7.0e} of the trace: {med * 1e3:7.2f} ms, {int(statistics.median(counts)):>7,} blocks, "
              f"{statistics.median(payload) / 1024:8.1f} KiB")  # fmt: skip

    # Baseline: every event of the full view as JSON objects (what a naive widget would send).
    base = []
    starts = np.concatenate(
        [trace.tables[t].column("start").to_numpy() for t in ("kernels", "memops", "ranges")]
    )
    ends = np.concatenate(
        [trace.tables[t].column("end").to_numpy() for t in ("kernels", "memops", "ranges")]
    )
    for _ in range(max(1, args.runs // 2)):
        began = time.perf_counter()
        text = json.dumps(
            [{"start": int(s), "end": int(e)} for s, e in zip(starts, ends, strict=True)]
        )
        base.append(time.perf_counter() - began)
    assert full_answer is not None
    print(f"baseline, all events as JSON for the full view: {statistics.median(base) * 1e3:.0f} ms, "
          f"{len(text) / 1024 / 1024:.1f} MiB (without names); "
          f"LOD full view is {statistics.median(base) / full_answer:.0f}x faster")  # fmt: skip


if __name__ == "__main__":
    main()
