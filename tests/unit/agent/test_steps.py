"""Step boundaries: a planned capture starts and stops exactly there, and is timed."""

from __future__ import annotations

import pytest

from nsight_lab.agent.steps import StepClock, StepPlan


def run_steps(clock: StepClock, count: int, duration_ns: int = 1000) -> None:
    for _ in range(count):
        number = clock.enter()
        clock.exit(number, duration_ns)


def test_plan_starts_at_its_first_step_and_stops_after_its_count() -> None:
    clock = StepClock()
    events: list[tuple[str, int]] = []
    run_steps(clock, 4)
    clock.plan = StepPlan(
        first=6,
        count=3,
        on_start=lambda n: events.append(("start", n)),
        on_stop=lambda n, why: events.append((why, n)),
    )
    run_steps(clock, 10)
    # Started on entering step 6, stopped on entering step 9: steps 6, 7, 8 recorded.
    assert events == [("start", 6), ("steps", 9)]
    assert clock.plan.done.is_set() and clock.plan.stopped_at == 9


def test_a_plan_without_a_first_step_waits() -> None:
    clock = StepClock()
    started: list[int] = []
    clock.plan = StepPlan(first=None, count=2, on_start=started.append, on_stop=lambda n, w: None)
    run_steps(clock, 5)
    assert started == []
    clock.plan.first = 7
    run_steps(clock, 3)
    assert started == [7]


def test_late_first_step_starts_at_the_next_boundary() -> None:
    clock = StepClock()
    run_steps(clock, 10)
    started: list[int] = []
    clock.plan = StepPlan(first=4, count=1, on_start=started.append, on_stop=lambda n, w: None)
    run_steps(clock, 1)
    assert started == [10]


def test_overhead_compares_capture_median_with_the_steps_before() -> None:
    clock = StepClock()
    for d in (9_000, 1000, 1000, 1000, 1000):  # step 0 (start-up) is left out
        clock.exit(clock.enter(), d)
    for d in (1100, 1300, 1200):
        clock.exit(clock.enter(), d)
    assert clock.overhead_pct(5, 8) == pytest.approx(20.0)
    summary = clock.summary(5, 8)
    assert summary["baseline_steps"] == 4 and summary["median_ns"] == 1200


def test_no_overhead_figure_without_enough_baseline_steps() -> None:
    clock = StepClock()
    run_steps(clock, 3)  # steps 1 and 2 only count: fewer than three
    run_steps(clock, 2)
    assert clock.overhead_pct(3, 5) is None


def test_overhead_guard_stops_the_capture_early() -> None:
    clock = StepClock()
    run_steps(clock, 6, 1000)
    stops: list[tuple[int, str]] = []
    clock.plan = StepPlan(
        first=None,
        count=None,
        on_start=lambda n: None,
        on_stop=lambda n, why: stops.append((n, why)),
        max_overhead_pct=50.0,
        started_at=6,
    )
    clock.exit(clock.enter(), 1200)  # +20%: goes on
    assert stops == []
    clock.exit(clock.enter(), 3000)
    clock.exit(clock.enter(), 3000)  # median of (1200, 3000) is +110%
    assert stops == [(8, "overhead")]


def test_a_failing_callback_never_reaches_the_training_loop() -> None:
    clock = StepClock()

    def boom(step: int) -> None:
        raise RuntimeError("collector exploded")

    clock.plan = StepPlan(first=0, count=1, on_start=boom, on_stop=lambda n, w: None)
    assert clock.enter() == 0  # no exception
    assert clock.enter() == 1
