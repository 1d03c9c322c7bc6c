"""The agent against a stand-in coordinator: commands, acks, uploads, and bad days.

Every failure mode here must leave the host process untouched: no exception
reaches it and it keeps its speed.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nsight_lab.agent.annotate import annotate
from nsight_lab.agent.collectors.annotations import AnnotationsCollector
from nsight_lab.agent.collectors.base import RANGES_FILENAME
from nsight_lab.agent.config import AgentConfig
from nsight_lab.agent.runtime import Agent
from nsight_lab.agent.spool import SIDECAR, Spool
from tests.unit.agent.stand_in_coordinator import StandIn, serve


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def stand_in() -> Iterator[tuple[StandIn, str]]:
    state = StandIn()
    server, url = serve(state)
    yield state, url
    server.shutdown()
    server.server_close()


def make_config(url: str, spool: Path, **overrides: object) -> AgentConfig:
    values: dict = dict(
        coordinator_url=url,
        tag="t",
        instance="i-1",
        process_name="trainer",
        collector="annotations",
        spool_dir=spool,
        adopt_orphan_spools=False,
        retry_max_s=0.2,
        http_timeout_s=2.0,
        exit_grace_s=2.0,
    )
    values.update(overrides)
    return AgentConfig(**values)


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    agents: list[Agent] = []

    def make(url: str, **overrides: object) -> Agent:
        config = make_config(url, tmp_path / "spool", **overrides)
        agent = Agent(config, AnnotationsCollector("trainer"))
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.stop(timeout=1.0)


def test_start_stop_are_executed_acked_and_uploaded(
    stand_in: tuple[StandIn, str], agent_factory: Callable[..., Agent], tmp_path: Path
) -> None:
    state, url = stand_in
    agent = agent_factory(url)
    agent.start()
    assert agent.wait_registered(5)
    registration = state.registrations[0]
    assert {k: registration[k] for k in ("tag", "process_name", "instance", "collector")} == {
        "tag": "t",
        "process_name": "trainer",
        "instance": "i-1",
        "collector": "annotations",
    }
    agent_id = agent.agent_id
    assert agent_id is not None
    state.push(agent_id, "start")
    wait_for(lambda: len(state.acks) == 1)
    with annotate("step"):
        pass
    state.push(agent_id, "stop")
    wait_for(lambda: len(state.files) == 1)
    assert [(seq, ack["ok"]) for _, seq, ack in state.acks] == [(1, True), (2, True)]
    (stored,) = state.files
    assert (stored["filename"], stored["kind"], stored["collection_id"]) == (
        RANGES_FILENAME,
        "ranges",
        "c1",
    )
    lines = [json.loads(line) for line in state.objects[next(iter(state.objects))].splitlines()]
    assert lines[0]["format"] == "nsight-lab-ranges"
    assert [line["name"] for line in lines[1:]] == ["step"]
    wait_for(lambda: not Spool(tmp_path / "spool").entries())
    agent.stop()
    assert state.byes == [agent_id]


def test_polling_resumes_after_the_last_command_acted_on(
    stand_in: tuple[StandIn, str], agent_factory: Callable[..., Agent]
) -> None:
    state, url = stand_in
    agent = agent_factory(url)
    agent.start()
    assert agent.wait_registered(5)
    assert agent.agent_id
    state.push(agent.agent_id, "start")
    wait_for(lambda: agent.last_seq == 1)
    time.sleep(0.8)  # more than one poll timeout: the command is not delivered again
    assert len(state.acks) == 1


def test_reregisters_with_the_same_id_when_forgotten(
    stand_in: tuple[StandIn, str], agent_factory: Callable[..., Agent]
) -> None:
    state, url = stand_in
    agent = agent_factory(url)
    agent.start()
    assert agent.wait_registered(5)
    first_id = agent.agent_id
    state.forget_agents()
    wait_for(lambda: len(state.registrations) >= 2)
    assert state.registrations[1]["agent_id"] == first_id
    assert agent.agent_id == first_id


def test_unknown_and_impossible_commands_are_refused_in_the_ack(
    stand_in: tuple[StandIn, str], agent_factory: Callable[..., Agent]
) -> None:
    state, url = stand_in
    agent = agent_factory(url)
    agent.start()
    assert agent.wait_registered(5)
    assert agent.agent_id
    state.push(agent.agent_id, "explode")
    state.push(agent.agent_id, "stop", collection_id="never-started")
    state.push(agent.agent_id, "start", collection_id="c1", delay_s="soon")
    wait_for(lambda: len(state.acks) == 3)
    acks = {seq: ack for _, seq, ack in state.acks}
    assert acks[1] == {
        "ok": False,
        "message": "unknown command kind 'explode'; expected start, stop or relay",
    }
    assert not acks[2]["ok"] and "not recording collection never-started" in acks[2]["message"]
    assert not acks[3]["ok"] and "delay_s" in acks[3]["message"]


def test_collector_that_cannot_run_acks_false_with_its_reason(
    stand_in: tuple[StandIn, str], tmp_path: Path
) -> None:
    state, url = stand_in
    config = make_config(url, tmp_path / "spool", collector="nsys", nsys_session=None)
    agent = Agent(config)
    agent.start()
    try:
        assert agent.wait_registered(5)
        assert agent.agent_id
        state.push(agent.agent_id, "start")
        wait_for(lambda: len(state.acks) == 1)
        ack = state.acks[0][2]
        assert not ack["ok"] and "nsys" in ack["message"]
    finally:
        agent.stop(timeout=1)


def test_delayed_start_and_duration_stop_on_their_own(
    stand_in: tuple[StandIn, str], agent_factory: Callable[..., Agent]
) -> None:
    state, url = stand_in
    agent = agent_factory(url)
    agent.start()
    assert agent.wait_registered(5)
    assert agent.agent_id
    issued = time.monotonic()
    state.push(agent.agent_id, "start", delay_s=0.4, duration_s=0.3)
    wait_for(lambda: len(state.acks) == 1)
    assert time.monotonic() - issued >= 0.4
    wait_for(lambda: len(state.files) == 1)  # uploaded without a stop command
    state.push(agent.agent_id, "stop")
    wait_for(lambda: len(state.acks) == 2)
    assert state.acks[1][2] == {"ok": True, "message": "already stopped after its duration"}


def test_stop_during_the_delay_records_nothing(
    stand_in: tuple[StandIn, str], agent_factory: Callable[..., Agent]
) -> None:
    state, url = stand_in
    agent = agent_factory(url)
    agent.start()
    assert agent.wait_registered(5)
    assert agent.agent_id
    state.push(agent.agent_id, "start", delay_s=30)
    state.push(agent.agent_id, "stop")
    wait_for(lambda: len(state.acks) == 1)
    assert state.acks[0][1] == 2 and not state.acks[0][2]["ok"]
    assert "before its delayed start" in state.acks[0][2]["message"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_coordinator_never_slows_or_breaks_the_host(
    agent_factory: Callable[..., Agent],
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/api/v1/"
    agent = agent_factory(url)
    begin = time.perf_counter()
    agent.start()
    assert time.perf_counter() - begin < 0.5
    # While it retries, the agent's threads take next to no CPU from the host: the
    # process's CPU time over a second in which the host itself only sleeps.
    cpu = time.process_time()
    assert not agent.wait_registered(1.0)
    assert time.process_time() - cpu < 0.1
    begin = time.perf_counter()
    agent.stop()
    assert time.perf_counter() - begin < 1.0  # no bye, no upload wait when unreachable


def test_coordinator_answering_garbage_raises_nothing(
    stand_in: tuple[StandIn, str],
    agent_factory: Callable[..., Agent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    state, url = stand_in
    state.garbage = True
    agent = agent_factory(url)
    agent.start()
    wait_for(lambda: len(state.requests) >= 3)
    assert not agent.wait_registered(0)
    agent.stop(timeout=0.5)
    assert not [r for r in caplog.records if "died" in r.getMessage()]


def test_while_the_coordinator_is_away_the_agent_retries_within_its_heartbeat(
    stand_in: tuple[StandIn, str], agent_factory: Callable[..., Agent]
) -> None:
    """After a coordinator restart an agent must call in before it is declared lost, so
    its waits between tries never exceed the heartbeat interval it was given, however
    long the outage (the general retry ceiling here is 30 s)."""
    state, url = stand_in
    state.heartbeat_interval_s = 0.1
    agent = agent_factory(url, retry_max_s=30.0)
    agent.start()
    assert agent.wait_registered(5)
    state.garbage = True  # every answer is unreadable: the agent backs off and retries
    before = len(state.requests)
    # Capped at the heartbeat (the first wait, 0.25 s, is the floor), 12 tries take about
    # 3 s. Capped only by the general 30 s ceiling, the eleven waits between them sum to
    # at least 76 s. Counting tries against a generous deadline, rather than tries in a
    # fixed window, tells the two apart however loaded the machine is.
    wait_for(lambda: len(state.requests) - before >= 12, timeout=60.0)
    state.garbage = False


def test_upload_failures_keep_the_file_spooled_until_storage_is_back(
    stand_in: tuple[StandIn, str], agent_factory: Callable[..., Agent], tmp_path: Path
) -> None:
    state, url = stand_in
    state.uploads_status = 503
    agent = agent_factory(url)
    agent.start()
    assert agent.wait_registered(5)
    assert agent.agent_id
    state.push(agent.agent_id, "start")
    state.push(agent.agent_id, "stop")
    wait_for(lambda: len(state.acks) == 2)
    spool = Spool(tmp_path / "spool")
    wait_for(lambda: sum(1 for m, p in state.requests if p.endswith("/uploads")) >= 2)
    assert len(spool.entries()) == 1 and not state.files
    state.uploads_status = None
    wait_for(lambda: len(state.files) == 1)
    wait_for(lambda: not spool.entries())


def test_checksum_mismatch_uploads_the_whole_file_again(
    stand_in: tuple[StandIn, str], agent_factory: Callable[..., Agent]
) -> None:
    state, url = stand_in
    state.corrupt_puts = 1
    agent = agent_factory(url)
    agent.start()
    assert agent.wait_registered(5)
    assert agent.agent_id
    state.push(agent.agent_id, "start")
    state.push(agent.agent_id, "stop")
    wait_for(lambda: len(state.files) == 1)
    assert sum(1 for m, p in state.requests if (m, p) == ("POST", "/api/v1/uploads")) == 2


def test_spool_left_by_a_previous_run_is_uploaded_at_start(
    stand_in: tuple[StandIn, str], agent_factory: Callable[..., Agent], tmp_path: Path
) -> None:
    state, url = stand_in
    report = tmp_path / "profile.speedscope.json"
    report.write_text('{"left": "by a crashed run"}')
    entry = Spool(tmp_path / "spool").add(
        report, collection_id="old-c", kind="report", agent_id="old-agent"
    )
    sidecar = json.loads((entry.folder / SIDECAR).read_text())
    assert {k: sidecar[k] for k in ("collection_id", "kind", "filename", "size", "agent_id")} == {
        "collection_id": "old-c",
        "kind": "report",
        "filename": "profile.speedscope.json",
        "size": len('{"left": "by a crashed run"}'),
        "agent_id": "old-agent",
    }
    agent = agent_factory(url)
    agent.start()
    wait_for(lambda: len(state.files) == 1)
    (stored,) = state.files
    assert (stored["agent_id"], stored["collection_id"], stored["filename"]) == (
        "old-agent",
        "old-c",
        "profile.speedscope.json",
    )
    assert stored["sha256"] == entry.sha256


def test_orphaned_spools_of_dead_processes_are_adopted(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    dead = root / "999999999"  # no such pid
    source = tmp_path / "report.nsys-rep"
    source.write_bytes(b"rep")
    Spool(dead).add(source, collection_id="c", kind="report", agent_id="a")
    mine = Spool(root / "1")
    assert mine.adopt_orphans() == 1
    assert [e.filename for e in mine.entries()] == ["report.nsys-rep"]
    assert not dead.exists()


@pytest.mark.parametrize(
    "status",
    [409, 404],
    ids=["refused", "adopted-report-of-a-collection-this-coordinator-never-had"],
)
def test_refused_upload_is_set_aside_with_its_reason(
    stand_in: tuple[StandIn, str],
    agent_factory: Callable[..., Agent],
    tmp_path: Path,
    status: int,
) -> None:
    state, url = stand_in
    state.uploads_status = status
    report = tmp_path / "r.json"
    report.write_text("{}")
    Spool(tmp_path / "spool").add(report, collection_id="c", kind="report", agent_id="a")
    agent = agent_factory(url)
    agent.start()
    failed = tmp_path / "spool" / "failed"
    wait_for(lambda: failed.is_dir() and any(failed.iterdir()))
    (entry,) = failed.iterdir()
    assert str(status) in (entry / "reason.txt").read_text()
