"""The agent against the REAL coordinator (uvicorn on 127.0.0.1, local-folder storage)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from nsight_coordinator.app import create_app
from nsight_coordinator.settings import CoordinatorSettings
from nsight_lab.agent.annotate import annotate
from nsight_lab.agent.config import AgentConfig
from nsight_lab.agent.runtime import Agent
from nsight_lab.agent.spool import Spool
from nsight_lab.agent.transfer import sha256_file
from nsight_lab.storage.local import LocalStore
from tests.unit.agent.test_runtime import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def coordinator(tmp_path: Path) -> Iterator[str]:
    settings = CoordinatorSettings(
        db_path=tmp_path / "state.sqlite3",
        poll_timeout_s=1.0,
        heartbeat_interval_s=1.0,
        agent_expiry_s=5.0,
        part_size=5 * 1024 * 1024,  # the smallest S3 allows: a 15 MiB report is 3 parts
    )
    app = create_app(settings, LocalStore(tmp_path / "store", b"test-signing-key"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _agent(url: str, spool: Path, collector: str) -> Agent:
    config = AgentConfig(
        coordinator_url=f"{url}/api/v1/",
        tag="agent-test",
        instance="i-1",
        process_name="trainer",
        collector=collector,
        spool_dir=spool,
        adopt_orphan_spools=False,
        retry_max_s=0.5,
        exit_grace_s=5.0,
    )
    return Agent(config)


def test_profiler_start_stop_uploads_a_real_pyspy_report(coordinator: str, tmp_path: Path) -> None:
    agent = _agent(coordinator, tmp_path / "spool", "pyspy")
    agent.start()
    try:
        assert agent.wait_registered(5)
        api = httpx.Client(base_url=f"{coordinator}/api/v1", timeout=10)
        started = api.post("/profiler/start", json={"tag": "agent-test"})
        assert started.status_code == 201, started.text
        collection = started.json()
        wait_for(lambda: _participant_state(api, collection["collection_id"]) == "RECORDING")
        with annotate("step"):
            end = time.time() + 0.6
            while time.time() < end:
                sum(range(1000))
        stopped = api.post("/profiler/stop", json={"tag": "agent-test"})
        assert stopped.status_code == 200, stopped.text
        wait_for(lambda: len(_files(api, collection["collection_id"])) == 2, timeout=10)
        files = {f["kind"]: f for f in _files(api, collection["collection_id"])}
        assert set(files) == {"report", "ranges"}
        assert files["report"]["filename"].startswith("trainer_agent-test_i-1_")
        link = api.get(f"/files/{files['report']['file_id']}/download").json()["url"]
        body = httpx.get(httpx.URL(f"{coordinator}/api/v1/").join(link)).content
        assert b"speedscope" in body
        wait_for(lambda: _participant_state(api, collection["collection_id"]) == "UPLOADED")
    finally:
        agent.stop()


def test_large_spooled_report_goes_up_in_parts_and_only_once(
    coordinator: str, tmp_path: Path
) -> None:
    agent = _agent(coordinator, tmp_path / "spool", "annotations")
    agent.start()
    try:
        assert agent.wait_registered(5)
        api = httpx.Client(base_url=f"{coordinator}/api/v1", timeout=10)
        collection = api.post("/profiler/start", json={"tag": "agent-test"}).json()
        assert agent.agent_id
        report = tmp_path / "report.nsys-rep"
        report.write_bytes(os.urandom(3 * 1024 * 1024) * 5)  # 15 MiB
        digest, size = sha256_file(report)
        spool = Spool(tmp_path / "spool")
        for _ in range(2):  # the same file spooled twice must be stored once
            copy = tmp_path / "copy" / "report.nsys-rep"
            copy.parent.mkdir(exist_ok=True)
            copy.write_bytes(report.read_bytes())
            spool.add(
                copy,
                collection_id=collection["collection_id"],
                kind="report",
                agent_id=agent.agent_id,
            )
        agent.wake_uploader()
        wait_for(lambda: not spool.entries(), timeout=20)
        stored = [f for f in _files(api, collection["collection_id"]) if f["kind"] == "report"]
        assert len(stored) == 1
        assert (stored[0]["sha256"], stored[0]["size"]) == (digest, size)
    finally:
        agent.stop()


def _files(api: httpx.Client, collection_id: str) -> list[dict]:
    answer = api.get("/files", params={"collection_id": collection_id})
    return answer.json() if answer.status_code == 200 else []


def _participant_state(api: httpx.Client, collection_id: str) -> str | None:
    info = api.get(f"/collections/{collection_id}").json()
    states = [p["state"] for p in info.get("participants", [])]
    return states[0] if states else None
