"""Fan-out of a profiler start to many real agents, and the idle cost of waiting.

    python benchmarks/bench_longpoll_fanout.py [--agents 1000] [--workers 4] [--rounds 5]
    python benchmarks/bench_longpoll_fanout.py --agents 10000 --workers 10 --rounds 3

One coordinator runs in its own process (``python -m nsight_coordinator``, uvicorn).
``--workers`` processes each run ``agents/workers`` real ``nsight_lab.agent`` agents:
the agent's own ``Agent`` class with its three threads, its stdlib HTTP client,
registration, long-poll loop, command parsing, executor and acks, exactly as in a
profiled process. Only the collector is replaced by one that records nothing and
writes no file (the benchmark is about delivering commands, not recording), so a
stop leaves nothing to upload.

Measured, as medians over rounds:
- start latency: from just before ``POST /profiler/start`` is sent to the moment each
  agent's executor has the command (``time.time_ns`` in every process: one clock,
  same machine); p50 and p99 over agents per round. Stop is measured the same way.
- baseline: every agent sending one non-waiting poll (``timeout=0``) through its own
  HTTP client at one agreed instant, each from its own thread. That is the floor for
  answering that many agents at once on this machine with this client.
- idle CPU: the coordinator's utime+stime (``/proc/<pid>/stat``) over ``--idle-seconds``
  while every agent is parked in a poll.
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
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
POLL_TIMEOUT_S = 30

# --- the agent side (runs in worker processes) --------------------------------------------


def worker_main(url: str, count: int, worker: int) -> None:
    from nsight_lab.agent.collectors.base import ProducedFile
    from nsight_lab.agent.commands import AgentCommand
    from nsight_lab.agent.config import AgentConfig
    from nsight_lab.agent.runtime import Agent

    # Thousands of threads per process: small stacks keep the address space sane.
    threading.stack_size(256 * 1024)

    class NoRecording:
        """Records nothing and writes nothing: fan-out is measured, not recording."""

        name = "none"
        inline = True

        def start(self, collection_dir: Path, collection_index: int) -> None:
            pass

        def stop(self) -> list[ProducedFile]:
            return []

        def close(self) -> None:
            pass

    class TimedAgent(Agent):
        """The real agent; notes when its executor receives each command."""

        def __init__(self, config: AgentConfig) -> None:
            super().__init__(config, NoRecording())
            self.got: dict[tuple[str, str], int] = {}

        def _handle(self, command: AgentCommand) -> None:
            self.got[(command.collection_id, command.kind)] = time.time_ns()
            super()._handle(command)

    spool = Path(tempfile.mkdtemp(prefix=f"fanout-w{worker}-"))
    agents = [
        TimedAgent(
            AgentConfig(
                coordinator_url=url,
                tag="fanout",
                instance=f"w{worker}-{i}",
                process_name="bench",
                collector="annotations",
                spool_dir=spool / str(i),
                adopt_orphan_spools=False,
                http_timeout_s=30.0,
                retry_max_s=2.0,
            )
        )
        for i in range(count)
    ]
    for start in range(0, count, 100):  # join in slices so the accept backlog never overflows
        for agent in agents[start : start + 100]:
            agent.start()
        for agent in agents[start : start + 100]:
            agent.wait_registered(120)
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "wait":  # wait <collection_id> <kind>: report arrival times
            key = (words[1], words[2])
            deadline = time.monotonic() + 120
            while not all(key in a.got for a in agents) and time.monotonic() < deadline:
                time.sleep(0.005)
            print(json.dumps([a.got.get(key) for a in agents]), flush=True)
        elif words[0] == "burst":  # burst <time_ns>: one immediate poll each, at that instant
            print(json.dumps(_burst(agents, int(words[1]))), flush=True)
        elif words[0] == "quit":
            break
    os._exit(0)  # 3 x count threads: a clean shutdown is the slow part and measures nothing


def _burst(agents: list[Any], fire_at: int) -> list[int]:
    """Each agent's own client sends one non-waiting poll at ``fire_at``; latencies in ns."""
    latencies = [0] * len(agents)

    def poll(i: int, agent: Any) -> None:
        time.sleep(max(0.0, (fire_at - time.time_ns()) / 1e9))
        agent.client.request(
            "GET",
            f"agents/{agent.agent_id}/commands",
            query={"after": agent.last_seq, "timeout": 0},
        )
        latencies[i] = time.time_ns() - fire_at

    threads = [threading.Thread(target=poll, args=(i, a)) for i, a in enumerate(agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


# --- the driver ---------------------------------------------------------------------------


def _call(base: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--worker", nargs=3, metavar=("URL", "COUNT", "INDEX"))
    args = parser.parse_args()
    if args.worker:
        url, count, index = args.worker
        worker_main(url, int(count), int(index))
        return

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "services")]),
        "NSIGHT_LAB_COORDINATOR_POLL_TIMEOUT_S": str(POLL_TIMEOUT_S),
        "NSIGHT_LAB_COORDINATOR_AGENT_EXPIRY_S": "600",
        "NSIGHT_LAB_COORDINATOR_HEARTBEAT_INTERVAL_S": "10",
    }
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    started_at = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "nsight_coordinator", "--port", str(port), "--data-dir", tmp],
            env=env,
        )
        workers: list[subprocess.Popen[str]] = []
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    _call(base, "GET", "/tags")
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("coordinator did not start") from None
                    time.sleep(0.1)
            per = args.agents // args.workers
            for index in range(args.workers):
                workers.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "--worker", base + "/", str(per), str(index)],
                        env=env,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            for w in workers:
                assert w.stdout is not None and w.stdout.readline().strip() == "ready"
            total = per * args.workers
            joined_s = time.monotonic() - started_at
            time.sleep(2.0)  # let every agent park in its first poll

            def ask(command: str) -> list[int]:
                for w in workers:
                    assert w.stdin is not None
                    w.stdin.write(command + "\n")
                    w.stdin.flush()
                values: list[int] = []
                for w in workers:
                    assert w.stdout is not None
                    values += json.loads(w.stdout.readline())
                return values

            acked: dict[str, list[float]] = {"start": [], "stop": []}

            def fanout(kind: str) -> list[float]:
                sent = time.time_ns()
                collection = _call(base, "POST", f"/profiler/{kind}", {"tag": "fanout"})
                cid = collection["collection_id"]
                arrivals = ask(f"wait {cid} {kind}")
                missing = sum(1 for t in arrivals if t is None)
                if missing:
                    raise RuntimeError(f"{missing} agents never got the {kind} command")
                # Let every ack land before the next step, so rounds do not overlap.
                want = "RECORDING" if kind == "start" else "STOPPED"
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    parts = _call(base, "GET", f"/collections/{cid}")["participants"]
                    if all(p["state"] == want for p in parts):
                        break
                    time.sleep(0.05)
                acked[kind].append((time.time_ns() - sent) / 1e6)
                return [(t - sent) / 1e6 for t in arrivals]

            rounds: dict[str, list[tuple[float, float]]] = {"start": [], "stop": [], "base": []}
            for _ in range(args.rounds):
                for kind in ("start", "stop"):
                    ms = fanout(kind)
                    rounds[kind].append((_pct(ms, 0.5), _pct(ms, 0.99)))
                    time.sleep(1.0)  # every agent back in its poll
                fire = time.time_ns() + 1_000_000_000
                ms = [v / 1e6 for v in ask(f"burst {fire}")]
                rounds["base"].append((_pct(ms, 0.5), _pct(ms, 0.99)))
                time.sleep(1.0)

            time.sleep(2.0)
            hz = os.sysconf("SC_CLK_TCK")
            before, t0 = _cpu_ticks(server.pid), time.monotonic()
            time.sleep(args.idle_seconds)
            after, t1 = _cpu_ticks(server.pid), time.monotonic()
            idle_cpu = 100.0 * (after - before) / hz / (t1 - t0)
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
                    w.wait()
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()

    def med(kind: str, i: int) -> float:
        return statistics.median(r[i] for r in rounds[kind])

    load = os.getloadavg()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"load average {load[0]:.1f} (1 min) when done"
    )
    print(
        f"{total} real agents (nsight_lab.agent, 3 threads each) in {args.workers} processes, "
        f"{args.rounds} rounds (medians over rounds); all joined after {joined_s:.0f} s"
    )
    print(f"{'':36} {'p50 ms':>9} {'p99 ms':>9}")
    for kind, label in (
        ("start", "profiler start -> every agent"),
        ("stop", "profiler stop -> every agent"),
        ("base", "baseline: 1 immediate poll each"),
    ):
        print(f"{label:36} {med(kind, 0):9.1f} {med(kind, 1):9.1f}")
    for kind in ("start", "stop"):
        print(f"{kind}: all {total} acks stored after {statistics.median(acked[kind]):.0f} ms")
    print(f"start p99 / baseline p99: {med('start', 1) / med('base', 1):.2f}x")
    print(f"coordinator CPU with {total} agents parked, {args.idle_seconds:g} s: {idle_cpu:.2f} %")


if __name__ == "__main__":
    main()
