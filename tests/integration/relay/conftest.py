"""A real coordinator (uvicorn on 127.0.0.1, mounted at ``/coordinator`` as behind the
gateway) and real agent processes that keep their reports in their "Pod" folder."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from nsight_coordinator.app import create_app
from nsight_coordinator.settings import CoordinatorSettings
from nsight_lab.storage.local import LocalStore
from tests.support.pod_agent import report_bytes
from tests.support.stack import base_env, wait_until

TAG = "pod-relay"
#: How long a relayed download waits for its agent in these tests.
RELAY_WAIT_S = 5.0


@dataclass
class Coordinator:
    gw: str
    store_root: Path

    @property
    def api(self) -> str:
        return f"{self.gw}/coordinator/api/v1"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=30)


@pytest.fixture
def coordinator(tmp_path: Path) -> Iterator[Coordinator]:
    settings = CoordinatorSettings(
        db_path=tmp_path / "state.sqlite3",
        poll_timeout_s=1.0,
        heartbeat_interval_s=1.0,
        agent_expiry_s=15.0,
        relay_wait_s=RELAY_WAIT_S,
        relay_idle_s=10.0,
    )
    store_root = tmp_path / "store"
    app = create_app(settings, LocalStore(store_root, b"test-signing-key-0123"))
    root = Starlette(routes=[Mount("/coordinator", app=app)])
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, "the coordinator to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Coordinator(f"http://127.0.0.1:{port}", store_root)
    server.should_exit = True
    thread.join(10)
    app.state.coordinator.db.close()


@dataclass
class PodAgent:
    """One profiled process (``tests.support.pod_agent``) with its report folder."""

    process: subprocess.Popen[str]
    agent_id: str
    report_dir: Path
    held: dict[str, bytes] = field(default_factory=dict)

    def line(self, timeout: float = 60.0) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert ready, "the agent process said nothing"
        return self.process.stdout.readline().strip()

    def hold(self, api: httpx.Client, size: int, seed: int = 1) -> dict[str, Any]:
        """A report of ``size`` bytes recorded in a new collection and kept in the Pod."""
        started = api.post("/profiler/start", json={"tag": TAG})
        assert started.status_code == 201, started.text
        collection_id = started.json()["collection_id"]
        assert self.process.stdin is not None
        self.process.stdin.write(f"report {collection_id} {size} {seed}\n")
        self.process.stdin.flush()
        sha = self.line().split()[-1]
        info = wait_until(
            lambda: next(
                (f for f in api.get("/files", params={"collection_id": collection_id}).json()
                 if f["kind"] == "report"),
                None,
            ),
            60,
            "the held report to be registered",
        )  # fmt: skip
        assert info["sha256"] == sha and info["size"] == size
        self.held[info["file_id"]] = report_bytes(size, seed)
        return dict(info)

    def path_of(self, info: dict[str, Any]) -> Path:
        return self.report_dir / info["filename"]

    def signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)

    def bye(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(20)


@pytest.fixture
def pod_agent(coordinator: Coordinator, tmp_path: Path) -> Iterator[PodAgent]:
    report_dir = tmp_path / "pod" / "reports"
    env = base_env(
        {
            "NSIGHT_LAB_COORDINATOR_URL": f"{coordinator.api}/",
            "NSIGHT_LAB_TAG": TAG,
            "NSIGHT_LAB_INSTANCE": "trainer-pod-0",
            "NSIGHT_LAB_PROCESS_NAME": "train",
            "NSIGHT_LAB_COLLECTOR": "annotations",
            "NSIGHT_LAB_SPOOL_DIR": str(tmp_path / "pod" / "spool"),
            "NSIGHT_LAB_REPORT_STORAGE": "pod",
            "NSIGHT_LAB_REPORT_DIR": str(report_dir),
            "NSIGHT_LAB_RETRY_MAX_S": "0.5",
            "NSIGHT_LAB_AGENT_LOG": str(tmp_path / "agent.log"),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.pod_agent"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    agent = PodAgent(process, "", report_dir)
    try:
        first = agent.line()
        assert first.startswith("agent "), first
        agent.agent_id = first.split()[1]
        yield agent
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a test may have stopped it
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
        if process.stdin is not None and not process.stdin.closed:
            process.stdin.close()
