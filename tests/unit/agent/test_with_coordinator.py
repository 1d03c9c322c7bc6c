"""The agent against the REAL coordinator (uvicorn on 127.0.0.1, local-folder storage)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


def _train(steps: int, stop: threading.Event, step_s: float = 0.02) -> threading.Thread:
    """A training loop on its own thread: ``steps`` annotated steps of ``step_s``."""

    def loop() -> None:
        for _ in range(steps):
            if stop.is_set():
                return
            with annotate("step"):
                time.sleep(step_s)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_step_capture_records_exactly_its_steps_with_metadata(
    coordinator: str, tmp_path: Path
) -> None:
    """The runtime end to end, annotations collector: arm, align, start and stop on steps."""
    import json

    from nsight_lab.agent.steps import STEPS

    agent = _agent(coordinator, tmp_path / "spool", "annotations")
    stop = threading.Event()
    agent.start()
    try:
        assert agent.wait_registered(5)
        api = httpx.Client(base_url=f"{coordinator}/api/v1", timeout=10)
        loop = _train(400, stop)
        wait_for(lambda: STEPS.next_step > 8, timeout=10)  # a baseline to compare with
        started = api.post("/profiler/start", json={"tag": "agent-test", "steps": 4}).json()
        cid = started["collection_id"]
        wait_for(lambda: len(_files(api, cid)) == 1, timeout=20)
        (info,) = _files(api, cid)
        collection = api.get(f"/collections/{cid}").json()
        assert collection["state"] == "COMPLETED"
        first = collection["from_step"]
        meta = info["metadata"]
        assert meta["steps"]["first"] == first and meta["steps"]["count"] == 4
        assert meta["stop_reason"] == "steps" and isinstance(meta["overhead_pct"], float)
        assert (
            isinstance(meta["clock"]["offset_ns"], int) and meta["clock"]["measured_at"] == "start"
        )
        link = api.get(f"/files/{info['file_id']}/download").json()["url"]
        lines = [json.loads(x) for x in httpx.get(link).text.splitlines()]
        assert lines[0]["nsight_lab"]["steps"]["first"] == first
        steps = [r for r in lines[1:] if r["name"] == "step"]
        # Exactly the 4 steps: started before step `first` opened, stopped before `first+4`.
        assert len(steps) == 4
        # A stop after the capture ended by itself is fine.
        assert api.post("/profiler/stop", json={"tag": "agent-test"}).status_code == 409
    finally:
        stop.set()
        loop.join(5)
        agent.stop(timeout=5)


@contextmanager
def _annotations_agent(coordinator: str, tmp_path: Path) -> Iterator[httpx.Client]:
    """A running annotations agent, and an API client for the test to drive it with."""
    agent = _agent(coordinator, tmp_path / "spool", "annotations")
    agent.start()
    try:
        assert agent.wait_registered(5)
        with httpx.Client(base_url=f"{coordinator}/api/v1", timeout=10) as api:
            yield api
    finally:
        agent.stop(timeout=5)


def test_step_capture_in_a_process_without_steps_times_out_clearly(
    coordinator: str, tmp_path: Path
) -> None:
    with _annotations_agent(coordinator, tmp_path) as api:
        body = {"tag": "agent-test", "steps": 2, "step_timeout_s": 1.5}
        cid = api.post("/profiler/start", json=body).json()["collection_id"]
        wait_for(lambda: api.get(f"/collections/{cid}").json()["state"] == "FAILED", timeout=15)
        (part,) = api.get(f"/collections/{cid}").json()["participants"]
        assert part["state"] == "FAILED"
        assert "timed out after 1.5 s waiting for" in part["message"]


def test_options_the_collector_cannot_apply_fail_that_agent(
    coordinator: str, tmp_path: Path
) -> None:
    """The agent checks options too (an older coordinator may not): a clear failed part."""
    with _annotations_agent(coordinator, tmp_path) as api:
        refused = api.post("/profiler/start", json={"tag": "agent-test", "options": {"rate": 5}})
        assert refused.status_code == 422
        assert "records with annotations" in refused.json()["detail"]


def test_overhead_guard_stops_a_capture_early_and_says_so(coordinator: str, tmp_path: Path) -> None:
    """Steps get 3x slower once recording: --max-overhead 50% stops it at the next boundary."""
    from nsight_lab.agent.steps import STEPS

    slow = threading.Event()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            with annotate("step"):
                time.sleep(0.06 if slow.is_set() else 0.02)

    trainer = threading.Thread(target=loop, daemon=True)
    trainer.start()
    try:
        with _annotations_agent(coordinator, tmp_path) as api:
            wait_for(lambda: STEPS.next_step > 6, timeout=10)
            body = {"tag": "agent-test", "max_overhead_pct": 50}
            cid = api.post("/profiler/start", json=body).json()["collection_id"]
            wait_for(lambda: _participant_state(api, cid) == "RECORDING")
            slow.set()
            wait_for(lambda: len(_files(api, cid)) == 1, timeout=20)
            (info,) = _files(api, cid)
            meta = info["metadata"]
            assert meta["stop_reason"] == "overhead"
            assert meta["overhead_pct"] > 50
            assert any("stopped early" in w for w in meta["warnings"])
    finally:
        stop.set()
        trainer.join(5)


def test_an_adopted_report_the_coordinator_refuses_does_not_hold_back_our_own(
    coordinator: str, tmp_path: Path
) -> None:
    """Orphans of dead processes are adopted; one for a collection this coordinator never
    had is set aside in ``failed/`` with the reason (kept, not retried forever)."""
    import json

    orphan = tmp_path / "spool" / "999999999" / "1000000000000-orphan"
    orphan.mkdir(parents=True)
    (orphan / "report.bin").write_bytes(b"from a process long gone")
    (orphan / "entry.json").write_text(
        json.dumps(
            {
                "entry_id": "1000000000000-orphan",
                "collection_id": "ghost-collection",
                "kind": "report",
                "filename": "report.bin",
                "sha256": "0" * 64,
                "size": 24,
                "agent_id": "ghost-agent",
                "created_at": 1.0,
                "version": 1,
            }
        )
    )
    config = AgentConfig(
        coordinator_url=f"{coordinator}/api/v1/",
        tag="agent-test",
        instance="i-1",
        process_name="trainer",
        collector="annotations",
        spool_dir=tmp_path / "spool" / str(os.getpid()),
        adopt_orphan_spools=True,
        retry_max_s=0.5,
    )
    agent = Agent(config)
    agent.start()
    try:
        assert agent.wait_registered(5)
        api = httpx.Client(base_url=f"{coordinator}/api/v1", timeout=10)
        cid = api.post("/profiler/start", json={"tag": "agent-test"}).json()["collection_id"]
        wait_for(lambda: _participant_state(api, cid) == "RECORDING")
        api.post("/profiler/stop", json={"tag": "agent-test"})
        wait_for(lambda: len(_files(api, cid)) == 1, timeout=15)
        failed = tmp_path / "spool" / str(os.getpid()) / "failed"
        wait_for(lambda: failed.is_dir() and any(failed.iterdir()), timeout=15)
        (entry,) = failed.iterdir()
        assert (entry / "report.bin").read_bytes() == b"from a process long gone"
        assert "does not know the collection" in (entry / "reason.txt").read_text()
        assert not any(e.collection_id == "ghost-collection" for e in agent.spool.entries())
    finally:
        agent.stop(timeout=2)
