"""A whole session with two agents over real HTTP: begin, start, stop, files, end."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.support.stack import wait_until

from .live_server import LiveCoordinator
from .simulated_agent import SimulatedAgent


def test_two_agents_record_upload_and_the_session_ends(
    live: LiveCoordinator, api: httpx.Client, make_agent: Callable[..., SimulatedAgent]
) -> None:
    a = make_agent("rank0", report=b"A" * 1000)
    b = make_agent("rank1", report=b"B" * 2000)

    session = api.post("sessions", json={"title": "baseline"}).json()
    assert session["state"] == "ACTIVE" and session["title"] == "baseline"

    started = api.post("profiler/start", json={})
    assert started.status_code == 201, started.text
    collection = started.json()
    assert collection["session_id"] == session["session_id"]
    assert collection["index"] == 1
    assert {p["agent_id"] for p in collection["participants"]} == {a.agent_id, b.agent_id}

    cid = collection["collection_id"]
    wait_until(
        lambda: (
            {p["state"] for p in api.get(f"collections/{cid}").json()["participants"]}
            == {"RECORDING"}
        ),
        5,
        "both agents acknowledging start",
        interval=0.02,
    )
    assert api.post("profiler/start", json={}).status_code == 409  # one at a time

    stopped = api.post("profiler/stop", json={}).json()
    assert stopped["state"] in ("STOPPING", "COMPLETED")
    final = wait_until(
        lambda: (c := api.get(f"collections/{cid}").json())["state"] == "COMPLETED" and c,
        5,
        "collection COMPLETED",
        interval=0.02,
    )
    assert {p["state"] for p in final["participants"]} == {"UPLOADED"}
    assert final["stopped_at"] is not None

    files = api.get("files", params={"session_id": session["session_id"]}).json()
    assert len(files) == 2
    for info in files:
        assert info["key"].startswith(f"sessions/{session['session_id']}/{cid}/train_default_rank")
        assert info["filename"].endswith(".nsys-rep")
        link = api.get(f"files/{info['file_id']}/download").json()
        assert link["url"].startswith(live.url + "/storage/o/")
        body = api.get(link["url"]).content
        assert body == (b"A" * 1000 if info["agent_id"] == a.agent_id else b"B" * 2000)
    assert api.get("files", params={"collection_id": "nope"}).json() == []

    ended = api.post(f"sessions/{session['session_id']}/end").json()
    assert ended["state"] == "ENDED" and ended["ended_at"] is not None
    assert [c["state"] for c in ended["collections"]] == ["COMPLETED"]
    for agent in (a, b):
        assert [r.kind for r in agent.received] == ["start", "stop"]
        assert agent.seqs() == [1, 2]


def test_a_start_reaches_waiting_agents_within_milliseconds(
    live: LiveCoordinator, api: httpx.Client, make_agent: Callable[..., SimulatedAgent]
) -> None:
    agents = [make_agent(f"rank{i}", poll_timeout_s=20.0) for i in range(2)]
    time.sleep(0.3)  # both parked in a long-poll
    sent = time.time()
    answer = api.post("profiler/start", json={})
    assert answer.status_code == 201
    wait_until(lambda: all(agent.received for agent in agents), 5, "start delivered", 0.005)
    latencies = [agent.received[0].at - sent for agent in agents]
    # A poll loop with sleeps, or a poll that waited out its 20 s timeout, fails this.
    assert max(latencies) < 0.25, latencies


def test_a_start_with_duration_completes_without_a_stop(
    live: LiveCoordinator, api: httpx.Client, make_agent: Callable[..., SimulatedAgent]
) -> None:
    agent = make_agent("rank0")
    collection = api.post("profiler/start", json={"duration_s": 0.3}).json()
    assert collection["duration_s"] == 0.3
    cid = collection["collection_id"]
    # The agent stops by itself after the duration: here the test plays that part.
    wait_until(lambda: agent.received, 5, "start delivered", 0.01)
    state = wait_until(
        lambda: (s := api.get(f"collections/{cid}").json()["state"]) != "RUNNING" and s,
        5,
        "the coordinator noticing the duration is over",
        interval=0.02,
    )
    assert state == "STOPPING"
    agent.upload(cid)
    assert api.get(f"collections/{cid}").json()["state"] == "COMPLETED"
    # Nothing is running any more, so a new start is allowed without a stop.
    assert api.post("profiler/start", json={}).status_code == 201


def test_ending_a_session_stops_its_running_collection(
    live: LiveCoordinator, api: httpx.Client, make_agent: Callable[..., SimulatedAgent]
) -> None:
    agent = make_agent("rank0")
    collection = api.post("profiler/start", json={}).json()  # opens a session implicitly
    ended = api.post(f"sessions/{collection['session_id']}/end").json()
    assert ended["state"] == "ENDED"
    assert ended["collections"][0]["state"] in ("STOPPING", "COMPLETED")
    wait_until(
        lambda: [r.kind for r in agent.received] == ["start", "stop"], 5, "stop delivered", 0.02
    )
    wait_until(
        lambda: (
            api.get(f"collections/{collection['collection_id']}").json()["state"] == "COMPLETED"
        ),
        5,
        "upload after stop",
        0.02,
    )
