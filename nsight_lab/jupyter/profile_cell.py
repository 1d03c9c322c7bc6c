"""Profile one piece of code in this very process: py-spy on our own pid plus ``annotate`` ranges.

This is what ``%%nsight_profile`` runs. It uses the agent's own py-spy collector
(the same recorder a profiled workload gets), pointed at the kernel's pid, so a
notebook cell is sampled exactly as a training script would be, and the ranges the
cell marks with ``nsight_lab.annotate`` come along in the same window.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nsight_lab.agent.annotate import annotate
from nsight_lab.agent.collectors.pyspy import PySpyCollector
from nsight_lab.recipe.analysis.sampling import hottest_functions
from nsight_lab.trace import Trace, load_trace

CELL_RANGE = "%%nsight_profile"


@dataclass
class CellProfile:
    """What one profiled run produced: the trace (samples and ranges) and its hot spots."""

    trace: Trace
    hottest: pd.DataFrame
    folder: Path
    wall_s: float

    @property
    def sample_count(self) -> int:
        return int(self.trace.tables["samples"].num_rows)

    def summary(self) -> str:
        top = self.hottest.iloc[0] if len(self.hottest) else None
        line = f"{self.sample_count} samples over {self.wall_s:.2f} s"
        if top is not None:
            line += f"; hottest: {top['Function']} ({top['Self (%)']:.0f}% self)"
        return line


def profile_call(
    run: Callable[[], Any],
    *,
    rate: int = 200,
    folder: Path | None = None,
    process_name: str = "kernel",
) -> tuple[CellProfile, Any]:
    """Run ``run()`` under py-spy (sampling this process at ``rate`` Hz); return profile and result.

    Raises :class:`~nsight_lab.agent.collectors.base.CollectorError` when py-spy is
    missing or may not attach (it needs ptrace permission on this process).
    Exceptions of ``run`` propagate after the profile is written and discarded.
    """
    out = folder or Path(tempfile.mkdtemp(prefix="nsight-profile-"))
    collector = PySpyCollector(os.getpid(), process_name, rate=rate)
    collector.start(out, 1)
    began = time.perf_counter()
    try:
        with annotate(CELL_RANGE):
            result = run()
    finally:
        wall = time.perf_counter() - began
        produced = collector.stop()
    traces = [load_trace(f.path) for f in produced]
    trace = Trace.concat(traces) if len(traces) > 1 else traces[0]
    hottest = hottest_functions(trace.tables["samples"])
    return CellProfile(trace=trace, hottest=hottest, folder=out, wall_s=wall), result
