"""Cost of ``nsight_lab.annotate`` per range, against an empty ``with`` baseline.

Run: ``python benchmarks/agent_annotate.py``. Prints the median of several runs,
the machine, and the ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import contextlib
import platform
import statistics
import time

from nsight_lab.agent.annotate import RANGES, annotate

N = 200_000
RUNS = 7


def _baseline() -> float:
    null = contextlib.nullcontext()
    begin = time.perf_counter()
    for _ in range(N):
        with null:
            pass
    return (time.perf_counter() - begin) / N


def _annotated() -> float:
    begin = time.perf_counter()
    for _ in range(N):
        with annotate("step"):
            pass
    return (time.perf_counter() - begin) / N


def main() -> None:
    base = statistics.median(_baseline() for _ in range(RUNS))
    cost = statistics.median(_annotated() for _ in range(RUNS))
    RANGES.clear()
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print(f"nullcontext baseline: {base * 1e9:8.0f} ns per with-block (median of {RUNS})")
    print(f"annotate('step'):     {cost * 1e9:8.0f} ns per range (median of {RUNS})")
    print(f"ratio: {cost / base:.1f}x baseline; added cost {(cost - base) * 1e9:.0f} ns per range")


if __name__ == "__main__":
    main()
