"""Downloading a report kept in its Pod (relayed from the agent) against one in storage.

A relayed download crosses two hops (agent -> coordinator -> client) and is hashed on
the way, where a stored report is one presigned GET the coordinator serves from its
own folder. This measures what the relay costs, like for like: one real coordinator
(uvicorn on 127.0.0.1, local-folder storage), two real agent processes recording the
same bytes (``tests.support.pod_agent``), one keeping its report in its "Pod"
(``NSIGHT_LAB_REPORT_STORAGE=pod``), one uploading it; then, alternating, the CLI's
own ``CoordinatorClient.download_file`` (size and SHA-256 checked, written to disk)
fetches each. The two files are compared equal first.

Prints the median of ``--runs`` runs each, MiB/s, the ratio relay/stored and the
machine. Run: ``python benchmarks/bench_relay_download.py [--size-mib 256] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "services"))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from benchmarks._measure import machine  # noqa: E402
from nsight_coordinator.app import create_app  # noqa: E402
from nsight_coordinator.settings import CoordinatorSettings  # noqa: E402
from nsight_lab.client import CoordinatorClient  # noqa: E402
from nsight_lab.config import CliConfig  # noqa: E402
from nsight_lab.models import FileInfo  # noqa: E402
from nsight_lab.storage.local import LocalStore  # noqa: E402

TAG = "bench-relay"


def _start_coordinator(work: Path) -> tuple[uvicorn.Server, str]:
    settings = CoordinatorSettings(db_path=work / "state.sqlite3", poll_timeout_s=2.0)
    app = create_app(settings, LocalStore(work / "store", os.urandom(32)))
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Mount("/coordinator", app=app)]),
            host="127.0.0.1",
            port=0,
            log_level="warning",
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def _agent(gw: str, work: Path, storage: str) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "services")]),
        "NSIGHT_LAB_COORDINATOR_URL": f"{gw}/coordinator/api/v1/",
        "NSIGHT_LAB_TAG": TAG,
        "NSIGHT_LAB_INSTANCE": storage,
        "NSIGHT_LAB_COLLECTOR": "annotations",
        "NSIGHT_LAB_SPOOL_DIR": str(work / storage / "spool"),
        "NSIGHT_LAB_REPORT_STORAGE": storage,
        "NSIGHT_LAB_REPORT_DIR": str(work / storage / "reports"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.pod_agent"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    return process, _line(process).split()[1]


def _line(process: subprocess.Popen[str], timeout: float = 60) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError("the agent process said nothing")
    return process.stdout.readline().strip()


def _report(
    api: httpx.Client, process: subprocess.Popen[str], agent_id: str, collection_id: str, size: int
) -> dict[str, Any]:
    assert process.stdin is not None
    process.stdin.write(f"report {collection_id} {size} 42\n")
    process.stdin.flush()
    _line(process)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for f in api.get("/files", params={"collection_id": collection_id}).json():
            if f["agent_id"] == agent_id and f["kind"] == "report":
                return dict(f)
        time.sleep(0.2)
    raise RuntimeError("the report was never registered")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        work = Path(tmp)
        server, gw = _start_coordinator(work)
        agents = [_agent(gw, work, "pod"), _agent(gw, work, "upload")]
        try:
            with httpx.Client(base_url=f"{gw}/coordinator/api/v1", timeout=60) as api:
                started = api.post("/profiler/start", json={"tag": TAG})
                collection_id = started.json()["collection_id"]
                held = _report(api, *agents[0], collection_id, size)
                stored = _report(api, *agents[1], collection_id, size)
            assert held["location"] == "agent" and stored["location"] == "storage"
            assert held["sha256"] == stored["sha256"], "the two reports differ"
            client = CoordinatorClient(CliConfig(gw=gw, tag=TAG), timeout=120)
            times: dict[str, list[float]] = {"relay": [], "stored": []}
            for run in range(args.runs + 1):  # the first round warms caches, not counted
                for name, info in (("relay", held), ("stored", stored)):
                    target = work / "out" / f"{name}-{run}.bin"
                    began = time.perf_counter()
                    client.download_file(FileInfo.model_validate(info), target)
                    took = time.perf_counter() - began
                    target.unlink()
                    if run:
                        times[name].append(took)
        finally:
            for process, _ in agents:
                if process.stdin is not None:
                    process.stdin.close()
                process.wait(30)
            server.should_exit = True
    relay, plain = statistics.median(times["relay"]), statistics.median(times["stored"])
    mib = size / 2**20
    print(f"machine: {machine()}")
    print(f"file: {args.size_mib} MiB, {args.runs} runs each (alternating), medians")
    print(f"relayed from the agent: {relay:.2f} s = {mib / relay:.0f} MiB/s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times['relay'])})")  # fmt: skip
    print(f"stored (presigned GET): {plain:.2f} s = {mib / plain:.0f} MiB/s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times['stored'])})")  # fmt: skip
    print(f"ratio relay/stored: {relay / plain:.2f}x the time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
