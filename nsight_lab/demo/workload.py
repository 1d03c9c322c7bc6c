"""A small training-loop stand-in with annotated phases, profiled by ``nsight-lab demo``.

It does real CPU work in recognisable Python functions so that the stack samples and
the annotation ranges it produces tell a story a user can check: ``forward`` is the
hot phase, ``load_batch`` the slow Python one. It runs until stopped (SIGTERM/SIGINT)
or until ``--seconds`` elapse, whichever comes first.
"""

from __future__ import annotations

import argparse
import math
import signal
import time
from types import FrameType

from nsight_lab import annotate

_stop = False


def _request_stop(_signum: int, _frame: FrameType | None) -> None:
    global _stop
    _stop = True


@annotate("load_batch")
def load_batch(step: int, size: int = 20_000) -> list[float]:
    return [math.sin(step + i * 0.001) for i in range(size)]


@annotate("forward")
def forward(batch: list[float]) -> float:
    total = 0.0
    for _ in range(3):
        total += sum(x * x for x in batch)
    return total


@annotate("backward")
def backward(loss: float, batch: list[float]) -> float:
    grad = 0.0
    for x in batch[::4]:
        grad += 2.0 * x * loss * 1e-9
    return grad


def train(seconds: float) -> int:
    step = 0
    deadline = time.monotonic() + seconds
    while not _stop and time.monotonic() < deadline:
        with annotate("step"):
            batch = load_batch(step)
            loss = forward(batch)
            backward(loss, batch)
        step += 1
    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0, help="Run at most this long.")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    steps = train(args.seconds)
    print(f"workload finished after {steps} steps", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
