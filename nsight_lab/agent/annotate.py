"""``annotate``: mark phases of user code once, and every collector sees them.

Ranges are *always* recorded into a bounded in-memory ring buffer, not only while a
collection runs. Recording costs about a microsecond (two clock reads, a dict
insert and a deque append, all atomic under the GIL, so no lock), which is what a
"is anyone recording?" check plus bookkeeping would cost anyway, and it buys two
things: a range that opened before the collection window (an outer ``epoch`` range,
or a step in flight when a delayed start fires) is still written, clipped to the
window; and the hot path has no shared state to race on when a collection starts or
stops on another thread.

Timestamps come from ``time.perf_counter_ns`` (monotonic, cheap) and are mapped to
UTC nanoseconds through one offset taken at import, so ranges line up with other
tools' wall-clock timelines without calling ``time.time_ns`` per range.

When the ``nvtx`` package is importable the range is also pushed to NVTX (Nsight
Systems and CUPTI see it), and when ``torch`` is already imported it is also entered
as ``torch.profiler.record_function`` (the PyTorch profiler sees it). Neither is
imported by us unless present: ``torch`` is never imported, ``nvtx`` only if installed.

``annotate("step")`` also marks a step boundary (``nsight_lab.agent.steps``): step
captures start and stop there, and the overhead guard times steps. Under PyTorch a
step is recorded as ``ProfilerStep#N``, the name PyTorch's own tools read as an
iteration.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

from nsight_lab.agent.steps import STEP_NAME, STEPS

log = logging.getLogger("nsight_lab.agent")

RANGES_FORMAT = "nsight-lab-ranges"
RANGES_VERSION = 1
#: NVTX's unnamed default domain; the trace model spells it "" (docs/TRACE_MODEL.md).
DEFAULT_DOMAIN = ""
#: Ranges kept in memory; the oldest are dropped first (~10 MB when full).
DEFAULT_CAPACITY = 65_536

#: ``epoch_ns = perf_counter_ns + _EPOCH_OFFSET_NS``, fixed once per process.
_EPOCH_OFFSET_NS = time.time_ns() - time.perf_counter_ns()

F = TypeVar("F", bound=Callable[..., Any])


def perf_to_epoch_ns(perf_ns: int) -> int:
    return perf_ns + _EPOCH_OFFSET_NS


def now_epoch_ns() -> int:
    """UTC nanoseconds on the same clock as recorded ranges."""
    return time.perf_counter_ns() + _EPOCH_OFFSET_NS


class Range(NamedTuple):
    name: str
    domain: str
    start_perf_ns: int
    end_perf_ns: int
    tid: int


class RangeLog:
    """Finished ranges in a ring buffer plus the ranges still open."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._done: deque[Range] = deque(maxlen=capacity)
        self._open: dict[int, tuple[str, str, int, int]] = {}
        self._ids = itertools.count(1)
        # Per-thread cache of the OS thread id; a dict keyed by ``get_ident()`` would
        # hand a dead thread's id to a new thread that reuses its ident.
        self._local = threading.local()

    @property
    def capacity(self) -> int:
        return self._done.maxlen or 0

    def begin(self, name: str, domain: str) -> int:
        token = next(self._ids)
        try:
            tid: int = self._local.tid
        except AttributeError:
            tid = self._local.tid = threading.get_native_id()
        self._open[token] = (name, domain, time.perf_counter_ns(), tid)
        return token

    def end(self, token: int) -> None:
        end = time.perf_counter_ns()
        opened = self._open.pop(token, None)
        if opened is not None:
            self._done.append(Range(opened[0], opened[1], opened[2], end, opened[3]))

    def clear(self) -> None:
        self._done.clear()
        self._open.clear()

    def window(self, start_epoch_ns: int, end_epoch_ns: int) -> list[Range]:
        """Ranges overlapping the window, clipped to it, sorted by start.

        Ranges still open end at the window's end: a collection stopped in the middle
        of a long phase still shows that phase.
        """
        start = start_epoch_ns - _EPOCH_OFFSET_NS
        end = end_epoch_ns - _EPOCH_OFFSET_NS
        done = _copy(lambda: list(self._done))
        still_open = _copy(lambda: list(self._open.values()))
        if len(done) == self.capacity and done and done[0].start_perf_ns > start:
            log.warning(
                "annotation ring buffer (%d ranges) overflowed during the collection; "
                "the earliest ranges of the window are missing",
                self.capacity,
            )
        result = [
            Range(r.name, r.domain, max(r.start_perf_ns, start), min(r.end_perf_ns, end), r.tid)
            for r in done
            if r.end_perf_ns > start and r.start_perf_ns < end
        ]
        result.extend(
            Range(name, domain, max(begun, start), end, tid)
            for name, domain, begun, tid in still_open
            if begun < end
        )
        result.sort(key=lambda r: (r.start_perf_ns, -r.end_perf_ns))
        return result

    def write_jsonl(
        self,
        path: Path,
        start_epoch_ns: int,
        end_epoch_ns: int,
        process_name: str,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """Write the window as ``nsight-lab-ranges`` v1 JSON lines; returns the range count.

        Times in the file are relative to ``epoch_ns`` (the window's start), the
        convention the trace importer expects.
        """
        pid = os.getpid()
        ranges = self.window(start_epoch_ns, end_epoch_ns)
        base = start_epoch_ns - _EPOCH_OFFSET_NS
        header = {
            "format": RANGES_FORMAT,
            "version": RANGES_VERSION,
            "epoch_ns": start_epoch_ns,
            "pid": pid,
            "process_name": process_name,
        }
        if metadata:
            header["nsight_lab"] = metadata
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(json.dumps(header) + "\n")
            for r in ranges:
                record = {
                    "name": r.name,
                    "start_ns": r.start_perf_ns - base,
                    "end_ns": r.end_perf_ns - base,
                    "pid": pid,
                    "tid": r.tid,
                    "domain": r.domain,
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        return len(ranges)


def _copy(snapshot: Callable[[], list[Any]]) -> list[Any]:
    """Copy a container other threads append to; retried if it changed mid-copy."""
    for _ in range(10):
        try:
            return snapshot()
        except RuntimeError:
            continue
    return []


#: The process-wide range log every ``annotate`` writes to.
RANGES = RangeLog()
#: Open ``step`` ranges: token -> (step number, start perf ns).
_STEP_TOKENS: dict[int, tuple[int, int]] = {}

# Tokens of the ranges entered by ``with``, per thread and per asyncio task.
_STACK: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar(
    "nsight_lab_annotate_stack", default=()
)


class _Forwarders:
    """NVTX and torch hooks, looked up lazily and cached."""

    nvtx: Any = None
    nvtx_checked = False
    torch_ranges: dict[int, Any] = {}

    @classmethod
    def nvtx_module(cls) -> Any:
        if not cls.nvtx_checked:
            cls.nvtx_checked = True
            try:
                import nvtx

                cls.nvtx = nvtx
            except Exception:
                cls.nvtx = None
        return cls.nvtx


def _begin(name: str, domain: str | None) -> int:
    step = STEPS.enter() if name == STEP_NAME and domain is None else None
    token = RANGES.begin(name, domain or DEFAULT_DOMAIN)
    if step is not None:
        _STEP_TOKENS[token] = (step, time.perf_counter_ns())
    nvtx = _Forwarders.nvtx_module()
    if nvtx is not None:
        try:
            nvtx.push_range(message=name, domain=domain)
        except Exception:
            log.debug("nvtx.push_range(%r) failed", name, exc_info=True)
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            # A step is entered under PyTorch's own name for iterations, which
            # TensorBoard and HolisticTraceAnalysis read as step boundaries.
            label = name if step is None else f"ProfilerStep#{step}"
            record = torch.profiler.record_function(label)
            record.__enter__()
            _Forwarders.torch_ranges[token] = record
        except Exception:
            log.debug("torch record_function(%r) failed", name, exc_info=True)
    return token


def _end(token: int, domain: str | None) -> None:
    RANGES.end(token)
    if _STEP_TOKENS:
        step = _STEP_TOKENS.pop(token, None)
        if step is not None:
            STEPS.exit(step[0], time.perf_counter_ns() - step[1])
    record = _Forwarders.torch_ranges.pop(token, None)
    if record is not None:
        try:
            record.__exit__(None, None, None)
        except Exception:
            log.debug("torch record_function exit failed", exc_info=True)
    nvtx = _Forwarders.nvtx
    if nvtx is not None:
        try:
            nvtx.pop_range(domain=domain)
        except Exception:
            log.debug("nvtx.pop_range failed", exc_info=True)


class annotate:
    """Mark a phase of the program: ``with annotate("step"):`` or ``@annotate("load")``.

    Works as a context manager (also ``async with``) and as a decorator of plain and
    ``async`` functions. One instance may be entered from several threads or tasks
    at once; each entry is its own range.
    """

    __slots__ = ("domain", "name")

    def __init__(self, name: str, domain: str | None = None) -> None:
        self.name = str(name) or "unnamed"
        self.domain = None if domain is None else str(domain)

    def __enter__(self) -> annotate:
        token = _begin(self.name, self.domain)
        _STACK.set((*_STACK.get(), token))
        return self

    def __exit__(self, *exc: object) -> None:
        stack = _STACK.get()
        if stack:
            _STACK.set(stack[:-1])
            _end(stack[-1], self.domain)

    async def __aenter__(self) -> annotate:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    def __call__(self, func: F) -> F:
        name, domain = self.name, self.domain
        import inspect  # here, not at import: keeps the agent's start-up import light

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _begin(name, domain)
                try:
                    return await func(*args, **kwargs)
                finally:
                    _end(token, domain)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _begin(name, domain)
            try:
                return func(*args, **kwargs)
            finally:
                _end(token, domain)

        return cast(F, wrapper)

    def __repr__(self) -> str:
        return f"annotate({self.name!r}, domain={self.domain!r})"
