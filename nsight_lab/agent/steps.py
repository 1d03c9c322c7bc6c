"""Step boundaries: where a step-aligned capture starts and stops, and what it cost.

Every entry of ``annotate("step")`` (default domain) is a boundary, numbered from 0
in the order the process enters them. A capture plan (``--steps K --skip N``) names
the first step to record; at that boundary the plan starts the collector *on the
thread that entered the step*, before the step's own range opens, and at the
boundary ``K`` steps later it halts it the same way, so the report holds exactly the
steps ``first .. first+K-1`` whatever the collector. Doing this inline is the point:
a start handed to another thread would land somewhere inside the step.

The same boundaries feed the overhead guard: each step's duration is kept in a small
ring buffer, and the median step during a capture is compared with the median of
the steps just before it.

Cost when nothing is planned: one attribute read and a deque append per step.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("nsight_lab.agent")

STEP_NAME = "step"
#: Steps whose durations are kept (baseline and capture both come from here).
HISTORY = 4096
#: Steps before a capture that make its baseline.
BASELINE_STEPS = 20
#: Fewer baseline steps than this give no overhead figure: one or two steps, the
#: first of which pays one-time costs (allocations, lazy initialisation), say nothing.
MIN_BASELINE_STEPS = 3


@dataclass
class StepPlan:
    """One collection's step window; callbacks run on the thread entering the step.

    ``first`` is None while the coordinator is still choosing the step every agent
    starts at; ``count`` None means no step-bounded stop (the overhead guard alone).
    """

    first: int | None
    count: int | None
    on_start: Callable[[int], None]
    on_stop: Callable[[int, str], None]
    max_overhead_pct: float | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    stop_reason: str = ""
    done: threading.Event = field(default_factory=threading.Event)


class StepClock:
    """The process's step counter, durations, and the capture plan if any."""

    def __init__(self, history: int = HISTORY) -> None:
        self.count = 0
        #: (step number, duration ns) of finished steps, oldest first.
        self.durations: deque[tuple[int, int]] = deque(maxlen=history)
        self.plan: StepPlan | None = None
        self.last_boundary_ns: int | None = None
        #: Time from one boundary to the next, recent ones (how fast steps come).
        self.periods: deque[int] = deque(maxlen=64)

    @property
    def next_step(self) -> int:
        """The number the next boundary will open."""
        return self.count

    def enter(self) -> int:
        """A step begins: returns its number, after starting or stopping a planned capture."""
        number = self.count
        self.count = number + 1
        now = time.perf_counter_ns()
        if self.last_boundary_ns is not None:
            self.periods.append(now - self.last_boundary_ns)
        self.last_boundary_ns = now
        plan = self.plan
        if plan is not None:
            try:
                self._boundary(plan, number)
            except Exception:
                log.exception("step-aligned capture failed at step %d", number)
        return number

    def period_ns(self) -> int | None:
        """Median time between recent boundaries; None before two steps."""
        recent = list(self.periods)[-BASELINE_STEPS:]
        return int(statistics.median(recent)) if recent else None

    def exit(self, number: int, duration_ns: int) -> None:
        self.durations.append((number, duration_ns))

    def _boundary(self, plan: StepPlan, number: int) -> None:
        if plan.done.is_set():
            return
        if plan.started_at is None:
            if plan.first is not None and number >= plan.first:
                if number > plan.first:
                    log.warning(
                        "step %d had already begun when the capture was due to start at "
                        "step %d; starting now",
                        number,
                        plan.first,
                    )
                plan.started_at = number
                plan.on_start(number)
            return
        captured = number - plan.started_at
        if plan.count is not None and captured >= plan.count:
            self._stop(plan, number, "steps")
        elif plan.max_overhead_pct is not None and captured >= 1:
            overhead = self.overhead_pct(plan.started_at, number)
            if overhead is not None and overhead > plan.max_overhead_pct:
                log.warning(
                    "profiling overhead %.1f%% exceeds --max-overhead %.1f%%: stopping the "
                    "capture after %d step(s)",
                    overhead,
                    plan.max_overhead_pct,
                    captured,
                )
                self._stop(plan, number, "overhead")

    def _stop(self, plan: StepPlan, number: int, reason: str) -> None:
        plan.stopped_at = number
        plan.stop_reason = reason
        plan.done.set()
        plan.on_stop(number, reason)

    def baseline_ns(self, before: int) -> float | None:
        """Median duration of up to BASELINE_STEPS steps finished before step ``before``."""
        prior = self._baseline(before)
        return statistics.median(prior) if len(prior) >= MIN_BASELINE_STEPS else None

    def _baseline(self, before: int) -> list[int]:
        # Step 0 is left out: it carries the process's one-time start-up costs.
        return [d for n, d in list(self.durations) if 0 < n < before][-BASELINE_STEPS:]

    def captured_ns(self, first: int, end: int) -> list[int]:
        return [d for n, d in list(self.durations) if first <= n < end]

    def overhead_pct(self, first: int, end: int) -> float | None:
        """Median step of ``first..end-1`` against the baseline before ``first``, in %."""
        baseline = self.baseline_ns(first)
        during = self.captured_ns(first, end)
        if not baseline or not during:
            return None
        return (statistics.median(during) / baseline - 1.0) * 100.0

    def summary(self, first: int, end: int) -> dict[str, object]:
        """What a report says about its steps: range, medians, overhead."""
        baseline = self.baseline_ns(first)
        during = self.captured_ns(first, end)
        overhead = self.overhead_pct(first, end)
        return {
            "first": first,
            "count": end - first,
            "median_ns": int(statistics.median(during)) if during else None,
            "baseline_median_ns": int(baseline) if baseline else None,
            "baseline_steps": len(self._baseline(first)),
            "overhead_pct": None if overhead is None else round(overhead, 2),
        }


#: The process-wide step clock ``annotate("step")`` drives.
STEPS = StepClock()
