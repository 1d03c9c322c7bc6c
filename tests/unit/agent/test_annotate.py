"""``annotate`` records phases as ranges and writes them in the nsight-lab-ranges format."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest

from nsight_lab.agent.annotate import RANGES, RangeLog, annotate, now_epoch_ns, perf_to_epoch_ns


@pytest.fixture(autouse=True)
def _clean_ranges() -> None:
    RANGES.clear()


def _names(start: int, end: int) -> list[str]:
    return [r.name for r in RANGES.window(start, end)]


def test_public_name_is_the_function_even_after_the_agent_is_imported() -> None:
    # A submodule called ``annotate`` would shadow the function once imported; there is none.
    import nsight_lab
    import nsight_lab.agent.runtime
    from nsight_lab import annotate as public

    assert public is annotate and nsight_lab.annotate is annotate


def test_context_manager_records_a_range_with_its_thread() -> None:
    t0 = now_epoch_ns()
    with annotate("load", domain="data"):
        time.sleep(0.01)
    t1 = now_epoch_ns()
    (r,) = RANGES.window(t0, t1)
    assert (r.name, r.domain, r.tid) == ("load", "data", threading.get_native_id())
    assert r.end_perf_ns - r.start_perf_ns >= 10_000_000


def test_nesting_keeps_both_ranges_in_order() -> None:
    t0 = now_epoch_ns()
    with annotate("outer"), annotate("inner"):
        pass
    ranges = RANGES.window(t0, now_epoch_ns())
    assert [r.name for r in ranges] == ["outer", "inner"]
    outer, inner = ranges
    assert outer.start_perf_ns <= inner.start_perf_ns <= inner.end_perf_ns <= outer.end_perf_ns


def test_decorator_and_exception_still_closes_the_range() -> None:
    @annotate("step")
    def step(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x * 2

    t0 = now_epoch_ns()
    assert step(2) == 4
    with pytest.raises(ValueError):
        step(-1)
    assert step.__name__ == "step"
    assert _names(t0, now_epoch_ns()) == ["step", "step"]


def test_async_function_and_async_with_interleaved_tasks() -> None:
    @annotate("fetch")
    async def fetch(delay: float) -> float:
        await asyncio.sleep(delay)
        return delay

    async def phase(name: str, delay: float) -> None:
        async with annotate(name):
            await asyncio.sleep(delay)

    async def main() -> None:
        await asyncio.gather(fetch(0.02), fetch(0.01), phase("a", 0.02), phase("b", 0.01))

    t0 = now_epoch_ns()
    asyncio.run(main())
    ranges = RANGES.window(t0, now_epoch_ns())
    assert sorted(r.name for r in ranges) == ["a", "b", "fetch", "fetch"]
    # Interleaved tasks each close their own range: durations match their own sleeps.
    by_name = {r.name: r.end_perf_ns - r.start_perf_ns for r in ranges if r.name in "ab"}
    assert by_name["a"] >= 20_000_000 and 10_000_000 <= by_name["b"] < 20_000_000


def test_threads_record_their_own_ranges() -> None:
    def work() -> None:
        for _ in range(200):
            with annotate("t"):
                pass

    t0 = now_epoch_ns()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ranges = RANGES.window(t0, now_epoch_ns())
    assert len(ranges) == 800
    assert len({r.tid for r in ranges}) == 4


def test_window_clips_and_includes_ranges_still_open() -> None:
    with annotate("before"):
        pass
    outer = annotate("epoch")
    outer.__enter__()
    time.sleep(0.002)
    start = now_epoch_ns()
    with annotate("inside"):
        time.sleep(0.002)
    end = now_epoch_ns()
    ranges = RANGES.window(start, end)
    outer.__exit__(None, None, None)
    assert [r.name for r in ranges] == ["epoch", "inside"]
    epoch = ranges[0]
    assert (perf_to_epoch_ns(epoch.start_perf_ns), perf_to_epoch_ns(epoch.end_perf_ns)) == (
        start,
        end,
    )


def test_ring_buffer_is_bounded() -> None:
    log = RangeLog(capacity=10)
    t0 = now_epoch_ns()
    for i in range(25):
        log.end(log.begin(f"r{i}", "d"))
    names = [r.name for r in log.window(t0, now_epoch_ns())]
    assert names == [f"r{i}" for i in range(15, 25)]


def test_jsonl_format(tmp_path: Path) -> None:
    start = now_epoch_ns()
    with annotate("step", domain="train"), annotate("forward"):
        pass
    end = now_epoch_ns()
    path = tmp_path / "annotations.ranges.jsonl"
    assert RANGES.write_jsonl(path, start, end, "trainer") == 2
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "format": "nsight-lab-ranges",
        "version": 1,
        "epoch_ns": start,
        "pid": os.getpid(),
        "process_name": "trainer",
    }
    step, forward = lines[1:]
    assert set(step) == {"name", "start_ns", "end_ns", "pid", "tid", "domain"}
    assert (step["name"], step["domain"], forward["domain"]) == ("step", "train", "")
    assert 0 <= step["start_ns"] <= forward["start_ns"] <= forward["end_ns"] <= step["end_ns"]
    assert step["end_ns"] <= end - start
    assert step["tid"] == threading.get_native_id() and step["pid"] == os.getpid()


def test_forwards_to_torch_record_function_when_torch_is_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """torch is not installed here; a module named ``torch`` with the same API stands in."""
    import sys
    import types

    calls: list[tuple[str, str]] = []

    class RecordFunction:
        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> None:
            calls.append(("enter", self.name))

        def __exit__(self, *exc: object) -> None:
            calls.append(("exit", self.name))

    fake_torch = types.ModuleType("torch")
    fake_torch.profiler = types.SimpleNamespace(record_function=RecordFunction)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    with annotate("a"), annotate("b"):
        pass
    assert calls == [("enter", "a"), ("enter", "b"), ("exit", "b"), ("exit", "a")]
