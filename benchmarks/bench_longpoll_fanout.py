"""Fan-out of a profiler start to 1,000 long-polling agents, and the idle cost of waiting.

    python benchmarks/bench_longpoll_fanout.py [--agents 1000] [--workers 4] [--rounds 5]

One coordinator runs in its own process (``python -m nsight_coordinator``, uvicorn).
``--workers`` processes each run ``agents/workers`` simulated agents as asyncio tasks
over raw keep-alive HTTP/1.1 sockets (a real HTTP client, but a thin one, so the
client side does not drown the measurement on a small machine). Each agent
registers, long-polls ``GET /agents/{id}/commands?after=SEQ&timeout=30`` and acks
what it gets, as ``nsight_lab.agent`` does.

Measured, as medians over rounds:
- start latency: from just before ``POST /profiler/start`` is sent to the moment each
  agent has its command parsed (``time.time_ns`` in every process: one clock, same
  machine); p50 and p99 over agents per round. Stop is measured the same way.
- baseline: the same agents firing one non-waiting poll (``timeout=0``) each at one
  agreed instant. That is the floor for answering 1,000 agents at once on this
  machine; the fan-out's ratio to it is what the long-poll hub adds.
- idle CPU: the coordinator's utime+stime (``/proc/<pid>/stat``) over 10 s while every
  agent is parked in a poll.
"""

from __future__ import annotations

import argparse
import asyncio
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
POLL_TIMEOUT_S = 30


# --- the agent side (runs in worker processes) --------------------------------------------


class RawHttp:
    """One keep-alive HTTP/1.1 connection; just enough protocol for JSON calls."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.lock = asyncio.Lock()  # one request at a time on a connection

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.lock:
            return await self._call(method, path, body)

    async def _call(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        assert self.reader is not None and self.writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return status, (json.loads(data) if data else None)


class Agent:
    def __init__(self, host: str, port: int, instance: str) -> None:
        self.http = RawHttp(host, port)
        self.ack_http = RawHttp(host, port)
        self.instance = instance
        self.agent_id = ""
        self.after = 0
        self.got: dict[tuple[str, str], int] = {}  # (collection_id, kind) -> time_ns
        self.polling = asyncio.Event()

    async def join(self) -> None:
        await self.http.connect()
        await self.ack_http.connect()
        status, body = await self.http.call(
            "POST",
            "/api/v1/agents",
            {
                "process_name": "bench",
                "instance": self.instance,
                "pid": os.getpid(),
                "collector": "none",
            },
        )
        assert status == 200, (status, body)
        self.agent_id = body["agent_id"]

    async def run(self) -> None:
        while True:
            path = f"/api/v1/agents/{self.agent_id}/commands?after={self.after}&timeout={POLL_TIMEOUT_S}"
            self.polling.set()
            status, body = await self.http.call("GET", path)
            now = time.time_ns()
            assert status == 200, (status, body)
            for command in body["commands"]:
                self.got[(command["collection_id"], command["kind"])] = now
                self.after = command["seq"]
                await self.ack_http.call(
                    "POST", f"/api/v1/agents/{self.agent_id}/commands/{command['seq']}/ack", {}
                )

    async def burst(self, fire_at_ns: int) -> int:
        """One immediate poll at an agreed instant, on the ack connection; returns latency."""
        await asyncio.sleep(max(0.0, (fire_at_ns - time.time_ns()) / 1e9))
        path = f"/api/v1/agents/{self.agent_id}/commands?after={self.after}&timeout=0"
        status, _ = await self.ack_http.call("GET", path)
        assert status == 200
        return time.time_ns() - fire_at_ns


async def worker_main(host: str, port: int, count: int, worker: int) -> None:
    agents = [Agent(host, port, f"w{worker}-{i}") for i in range(count)]
    for start in range(0, count, 50):  # join in slices so the backlog never overflows
        await asyncio.gather(*(a.join() for a in agents[start : start + 50]))
    tasks = [asyncio.create_task(a.run()) for a in agents]
    await asyncio.gather(*(a.polling.wait() for a in agents))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    while line := (await reader.readline()).decode().split():
        if line[0] == "wait":  # wait <collection_id> <kind>: report arrival times
            key = (line[1], line[2])
            deadline = time.monotonic() + 60
            while not all(key in a.got for a in agents) and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            print(json.dumps([a.got.get(key) for a in agents]), flush=True)
        elif line[0] == "burst":
            latencies = await asyncio.gather(*(a.burst(int(line[1])) for a in agents))
            print(json.dumps(latencies), flush=True)
        elif line[0] == "quit":
            break
    for task in tasks:
        task.cancel()


# --- the driver ---------------------------------------------------------------------------


def _call(base: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"null")


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
    parser.add_argument("--worker", nargs=4, metavar=("HOST", "PORT", "COUNT", "INDEX"))
    args = parser.parse_args()
    if args.worker:
        host, port, count, index = args.worker
        asyncio.run(worker_main(host, int(port), int(count), int(index)))
        return

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "services")]),
        "NSIGHT_LAB_COORDINATOR_POLL_TIMEOUT_S": str(POLL_TIMEOUT_S),
        "NSIGHT_LAB_COORDINATOR_AGENT_EXPIRY_S": "120",
        "NSIGHT_LAB_COORDINATOR_HEARTBEAT_INTERVAL_S": "10",
    }
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
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
                        [
                            sys.executable,
                            __file__,
                            "--worker",
                            "127.0.0.1",
                            str(port),
                            str(per),
                            str(index),
                        ],
                        env=env,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            for w in workers:
                assert w.stdout is not None and w.stdout.readline().strip() == "ready"
            total = per * args.workers

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
                collection = _call(base, "POST", f"/profiler/{kind}", {})
                cid = collection["collection_id"]
                arrivals = ask(f"wait {cid} {kind}")
                missing = sum(1 for t in arrivals if t is None)
                if missing:
                    raise RuntimeError(f"{missing} agents never got the {kind} command")
                # Let every ack land before the next step, so rounds do not overlap.
                want = "RECORDING" if kind == "start" else "STOPPED"
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    parts = _call(base, "GET", f"/collections/{cid}")["participants"]
                    if all(p["state"] == want for p in parts):
                        break
                    time.sleep(0.01)
                acked[kind].append((time.time_ns() - sent) / 1e6)
                return [(t - sent) / 1e6 for t in arrivals]

            rounds: dict[str, list[tuple[float, float]]] = {"start": [], "stop": [], "base": []}
            for _ in range(args.rounds):
                for kind in ("start", "stop"):
                    ms = fanout(kind)
                    rounds[kind].append((_pct(ms, 0.5), _pct(ms, 0.99)))
                fire = time.time_ns() + 300_000_000
                ms = [v / 1e6 for v in ask(f"burst {fire}")]
                rounds["base"].append((_pct(ms, 0.5), _pct(ms, 0.99)))
                time.sleep(0.3)

            time.sleep(1.0)
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

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
    print(f"{total} agents in {args.workers} processes, {args.rounds} rounds (medians over rounds)")
    print(f"{'':32} {'p50 ms':>9} {'p99 ms':>9}")
    for kind, label in (
        ("start", "profiler start -> every agent"),
        ("stop", "profiler stop -> every agent"),
        ("base", "baseline: 1 immediate poll each"),
    ):
        print(f"{label:32} {med(kind, 0):9.1f} {med(kind, 1):9.1f}")
    for kind in ("start", "stop"):
        print(f"{kind}: all {total} acks stored after {statistics.median(acked[kind]):.0f} ms")
    print(f"start p99 / baseline p99: {med('start', 1) / med('base', 1):.2f}x")
    print(f"coordinator CPU with {total} agents parked, {args.idle_seconds:g} s: {idle_cpu:.2f} %")


if __name__ == "__main__":
    main()
