"""What profiling costs a training step: the torch collector, and an idle agent.

    python benchmarks/bench_torch_overhead.py [--rounds 7] [--steps 40]

Runs in the PyTorch environment of scripts/install-torch.sh (real PyTorch 2.15,
CPU), with the repository on the path as ``nsight-lab run`` puts it, and a real
coordinator (``python -m nsight_coordinator``) on loopback. One process trains the
demo model (nsight_lab/demo/torch_train.py, one rank, one thread) with every step
in ``annotate("step")``, and alternates, round after round, in the same process:

* torch collector: ``--steps`` steps with the collector recording vs the same number
  without (the trace is written after each recorded window, outside the timing);
* idle agent: ``--steps`` steps with an agent registered and long-polling, no
  collection running, vs the same number with no agent at all (the idle-overhead
  target is "not measurable above noise, < 1%").

The order within a round alternates, so warm-up and drift favour neither side. Each
figure is the median step time over all steps of all rounds; the noise figure is
the spread between rounds of the "off" median, to judge whether a difference is real.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CACHE = Path(os.environ.get("NSIGHT_LAB_CACHE", str(Path.home() / ".cache" / "nsight-lab")))
TORCH_PYTHON = (
    Path(os.environ.get("NSIGHT_LAB_TORCH_VENV", str(CACHE / "torch-2.15.0-cpu")))
    / "bin"
    / "python"
)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Inside the torch environment: the alternating rounds."""
    import torch
    from torch import nn

    from nsight_lab import annotate
    from nsight_lab.agent.collectors.torch import TorchCollector
    from nsight_lab.agent.config import AgentConfig
    from nsight_lab.agent.runtime import Agent
    from nsight_lab.demo.torch_train import build_model

    torch.set_num_threads(1)
    model = build_model(args.width)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    inputs, labels = torch.randn(args.batch, 128), torch.randint(0, 10, (args.batch,))

    def steps(n: int) -> list[list[int]]:
        """Per step: wall ns, this thread's CPU ns, the whole process's CPU ns."""
        times = []
        for _ in range(n):
            w0, t0, p0 = time.perf_counter_ns(), time.thread_time_ns(), time.process_time_ns()
            with annotate("step"):
                optimizer.zero_grad()
                loss_fn(model(inputs), labels).backward()
                optimizer.step()
            times.append(
                [
                    time.perf_counter_ns() - w0,
                    time.thread_time_ns() - t0,
                    time.process_time_ns() - p0,
                ]
            )
        return times

    steps(args.steps)  # warm-up
    out = Path(args.out)
    result: dict[str, list[list[list[int]]]] = {
        "torch_off": [],
        "torch_on": [],
        "idle_off": [],
        "idle_on": [],
    }
    collector = TorchCollector("bench")
    for i in range(args.rounds):
        for on in (False, True) if i % 2 == 0 else (True, False):
            if on:
                collector.start(out / f"r{i}", i)
                result["torch_on"].append(steps(args.steps))
                collector.halt()
                collector.stop()  # writes the trace: outside the timed steps
            else:
                result["torch_off"].append(steps(args.steps))
        for on in (False, True) if i % 2 == 0 else (True, False):
            if on:
                agent = Agent(
                    AgentConfig(
                        coordinator_url=args.coordinator,
                        tag="bench-idle",
                        instance=f"idle-{i}",
                        process_name="bench",
                        collector="annotations",
                        spool_dir=out / "spool",
                        adopt_orphan_spools=False,
                    )
                )
                agent.start()
                agent.wait_registered(10)
                result["idle_on"].append(steps(args.steps))
                agent.stop(timeout=5)
            else:
                result["idle_off"].append(steps(args.steps))
    return result


#: The three clocks each step is timed on.
CLOCKS = ("wall", "thread CPU", "process CPU")


def _paired(off: list[list[list[int]]], on: list[list[list[int]]], clock: int) -> list[float]:
    """Per round, on/off of the median step: the windows of a round ran back to back."""
    return [
        statistics.median(s[clock] for s in b) / statistics.median(s[clock] for s in a)
        for a, b in zip(off, on, strict=True)
    ]


def _other_threads_pct(rounds: list[list[list[int]]]) -> float:
    """CPU used by threads other than the training thread, in % of the wall time."""
    other = sum(s[2] - s[1] for r in rounds for s in r)
    wall = sum(s[0] for r in rounds for s in r)
    return 100.0 * other / wall if wall else 0.0


def _summary(rounds: list[list[list[int]]], clock: int) -> tuple[float, float]:
    """Median step (ms) on one clock over all steps, and the spread of per-round medians."""
    medians = [statistics.median(step[clock] for step in r) for r in rounds]
    all_steps = [step[clock] for r in rounds for step in r]
    return statistics.median(all_steps) / 1e6, (max(medians) - min(medians)) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=40, help="steps per window")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--coordinator", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        print(json.dumps(measure(args)))
        return
    if not TORCH_PYTHON.is_file():
        sys.exit(f"{TORCH_PYTHON} not found: run `bash scripts/install-torch.sh`")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "services")])}
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "nsight_coordinator", "--port", str(port), "--data-dir", tmp],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}/api/v1/"
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(base + "tags", timeout=1).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("coordinator did not start") from None
                    time.sleep(0.1)
            done = subprocess.run(
                [
                    str(TORCH_PYTHON),
                    __file__,
                    "--inside",
                    "--coordinator",
                    base,
                    "--out",
                    tmp,
                    "--rounds",
                    str(args.rounds),
                    "--steps",
                    str(args.steps),
                    "--width",
                    str(args.width),
                    "--batch",
                    str(args.batch),
                ],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                check=False,
            )
        finally:
            server.terminate()
            server.wait(15)
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    load = os.getloadavg()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {load[0]:.1f} (1 min) when done"
    )
    print(
        f"model: MLP 128-{args.width}-{args.width}-10, batch {args.batch}, 1 thread; "
        f"{args.rounds} rounds x {args.steps} steps per window, alternating"
    )
    print(
        "wall time moves with everything else on the machine; CPU time of the training "
        "thread (and of the whole process: the agent's threads too) does not"
    )
    for what, label in (
        ("torch", "torch collector recording"),
        ("idle", "agent idle (no collection)"),
    ):
        for clock, clock_name in enumerate(CLOCKS):
            off, off_spread = _summary(result[f"{what}_off"], clock)
            on, _ = _summary(result[f"{what}_on"], clock)
            ratios = _paired(result[f"{what}_off"], result[f"{what}_on"], clock)
            print(
                f"{label:27} {clock_name:11} off {off:7.3f} ms  on {on:7.3f} ms  "
                f"{100 * (on / off - 1):+6.1f}%  paired per round: median "
                f"{100 * (statistics.median(ratios) - 1):+.1f}% (range "
                f"{100 * (min(ratios) - 1):+.1f}..{100 * (max(ratios) - 1):+.1f}%); "
                f"spread of off medians {100 * off_spread / off:.1f}%"
            )
        print(
            f"{label:27} CPU of other threads (agent, profiler): off "
            f"{_other_threads_pct(result[f'{what}_off']):.2f}%  on "
            f"{_other_threads_pct(result[f'{what}_on']):.2f}% of wall time"
        )


if __name__ == "__main__":
    main()
