"""A coordinator restarted on the same database mid-collection loses nothing.

Agents see their connection drop, re-register under their own id and resume polling
after the last seq they acted on: every command arrives exactly once, and every
report is registered exactly once.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.support.stack import wait_until

from .live_server import LiveCoordinator
from .simulated_agent import SimulatedAgent


def test_restart_mid_collection_delivers_each_command_once(
    live: LiveCoordinator, api: httpx.Client, make_agent: Callable[..., SimulatedAgent]
) -> None:
    agents = [make_agent(f"rank{i}", report=f"report {i}".encode()) for i in range(2)]
    session = api.post("sessions", json={"title": "restart"}).json()
    collection = api.post("profiler/start", json={}).json()
    cid = collection["collection_id"]
    wait_until(
        lambda: (
            {p["state"] for p in api.get(f"collections/{cid}").json()["participants"]}
            == {"RECORDING"}
        ),
        5,
        "start acknowledged",
        0.02,
    )
    ids_before = [a.agent_id for a in agents]

    live.stop()
    live.start()  # same port, same SQLite file, same storage folder

    wait_until(lambda: all(a.registrations >= 2 for a in agents), 10, "agents re-registering")
    assert [a.agent_id for a in agents] == ids_before
    # The coordinator remembers the acked seq, so a rejoining agent resumes after it.
    for agent in agents:
        answer = api.post(
            "agents",
            json={
                "process_name": "train",
                "instance": agent.instance,
                "pid": 1,
                "collector": "simulated",
                "agent_id": agent.agent_id,
            },
        ).json()
        assert answer["agent_id"] == agent.agent_id
        assert answer["last_acked_seq"] == 1

    restored = api.get(f"collections/{cid}").json()
    assert restored["state"] == "RUNNING"
    assert {p["state"] for p in restored["participants"]} == {"RECORDING"}
    assert api.get(f"sessions/{session['session_id']}").json()["title"] == "restart"

    assert api.post("profiler/stop", json={}).status_code == 200
    wait_until(
        lambda: api.get(f"collections/{cid}").json()["state"] == "COMPLETED",
        10,
        "uploads after the restart",
        0.05,
    )
    for agent in agents:
        assert agent.seqs() == [1, 2], agent.received
        assert [r.kind for r in agent.received] == ["start", "stop"]
    assert len(api.get("files", params={"collection_id": cid}).json()) == 2

    # A second restart, then an agent retrying the same upload: no duplicate file.
    live.stop()
    live.start()
    plan = agents[0].request_upload(cid)
    assert plan["existing_file_id"] == agents[0].files[0]["file_id"]
    assert plan["method"] == "none"
    assert len(api.get("files", params={"collection_id": cid}).json()) == 2


def test_pending_commands_survive_a_restart(
    live: LiveCoordinator, api: httpx.Client, make_agent: Callable[..., SimulatedAgent]
) -> None:
    """A start issued to an agent that has not polled yet is still there after a restart."""
    agent = make_agent("rank0")
    agent.signal_stop()  # it finishes its current poll and then stays away
    live.stop()
    agent.join()
    live.start()
    agent_id = agent.agent_id
    collection = api.post("profiler/start", json={}).json()
    live.stop()
    live.start()
    batch = api.get(f"agents/{agent_id}/commands", params={"after": 0, "timeout": 0}).json()
    assert [(c["seq"], c["kind"], c["collection_id"]) for c in batch["commands"]] == [
        (1, "start", collection["collection_id"])
    ]
    assert api.get(f"agents/{agent_id}/commands", params={"after": 1, "timeout": 0}).json() == {
        "commands": []
    }
