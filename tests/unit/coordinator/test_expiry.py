"""Agents that stop calling in become LOST, and collections do not wait for them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from nsight_coordinator import CoordinatorSettings
from nsight_coordinator.db import Database
from nsight_coordinator.expiry import ExpirySweeper
from nsight_coordinator.hub import CommandHub
from nsight_lab.models import AgentRegistration, AgentState
from tests.support.stack import wait_until

from .live_server import LiveCoordinator
from .simulated_agent import SimulatedAgent

EXPIRY_S = 1.0


@pytest.fixture
def settings(tmp_path: Path) -> CoordinatorSettings:
    return CoordinatorSettings(
        db_path=tmp_path / "coordinator.sqlite3",
        agent_expiry_s=EXPIRY_S,
        heartbeat_interval_s=0.5,
        poll_timeout_s=0.5,
        expiry_check_interval_s=0.05,
    )


def test_a_crashed_agent_is_lost_and_the_collection_ends_partial(
    live: LiveCoordinator, api: httpx.Client, make_agent: Callable[..., SimulatedAgent]
) -> None:
    survivor = make_agent("rank0", poll_timeout_s=0.5)
    victim = make_agent("rank1", poll_timeout_s=0.5)
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
    victim.crash()
    stopping = api.post("profiler/stop", json={}).json()
    assert stopping["state"] == "STOPPING"

    final = wait_until(
        lambda: (c := api.get(f"collections/{cid}").json())["state"] != "STOPPING" and c,
        EXPIRY_S + 5,
        "the STOPPING collection to give up on the lost agent",
        0.05,
    )
    assert final["state"] == "PARTIAL"
    states = {p["agent_id"]: p for p in final["participants"]}
    assert states[survivor.agent_id]["state"] == "UPLOADED"
    assert states[victim.agent_id]["state"] == "LOST"
    assert "not seen" in states[victim.agent_id]["message"]
    agents = {a["agent_id"]: a["state"] for a in api.get("agents").json()}
    assert agents == {survivor.agent_id: "ONLINE", victim.agent_id: "LOST"}


def test_an_agent_parked_in_a_long_poll_longer_than_the_expiry_stays_online(
    live: LiveCoordinator, api: httpx.Client, make_agent: Callable[..., SimulatedAgent]
) -> None:
    make_agent("rank0", poll_timeout_s=3 * EXPIRY_S)
    time.sleep(2 * EXPIRY_S)
    assert [a["state"] for a in api.get("agents").json()] == ["ONLINE"]


def test_every_participant_lost_fails_the_collection(
    live: LiveCoordinator, api: httpx.Client, make_agent: Callable[..., SimulatedAgent]
) -> None:
    agent = make_agent("rank0", poll_timeout_s=0.5)
    collection = api.post("profiler/start", json={}).json()
    wait_until(lambda: agent.received, 5, "start delivered", 0.02)
    agent.crash()
    final = wait_until(
        lambda: (
            (c := api.get(f"collections/{collection['collection_id']}").json())["state"]
            != "RUNNING"
            and c
        ),
        EXPIRY_S + 5,
        "the RUNNING collection to fail",
        0.05,
    )
    assert final["state"] == "FAILED"
    # Nobody is left online, so the next start is refused with a hint.
    refused = api.post("profiler/start", json={})
    assert refused.status_code == 409
    assert "nsight-lab run --tag default" in refused.json()["detail"]


def test_a_lost_agent_that_returns_is_online_but_not_restarted(
    live: LiveCoordinator, api: httpx.Client
) -> None:
    reg = {"process_name": "p", "instance": "i", "pid": 1, "collector": "simulated"}
    agent_id = api.post("agents", json=reg).json()["agent_id"]
    collection = api.post("profiler/start", json={}).json()
    wait_until(
        lambda: api.get(f"agents/{agent_id}").json()["state"] == "LOST",
        EXPIRY_S + 5,
        "expiry",
        0.05,
    )
    batch = api.get(f"agents/{agent_id}/commands", params={"after": 0, "timeout": 0}).json()
    # The collection gave up on it: the stale start is not delivered.
    assert batch == {"commands": []}
    assert api.get(f"agents/{agent_id}").json()["state"] == "ONLINE"
    assert api.get(f"collections/{collection['collection_id']}").json()["state"] == "FAILED"


def test_sweeper_grants_a_full_expiry_after_restart(tmp_path: Path) -> None:
    """Agents last seen long before a restart are not declared lost on start-up."""
    db = Database(tmp_path / "s.sqlite3")
    reg = AgentRegistration(process_name="p", instance="i", pid=1, collector="c")
    db.register_agent(reg, "old", now=time.time() - 3600)
    sweeper = ExpirySweeper(db, CommandHub(db), expiry_s=10, interval_s=1)
    assert sweeper.sweep() == []
    assert sweeper.sweep(now=time.time() + 11) == ["old"]
    agent = db.get_agent("old")
    assert agent is not None and agent.state is AgentState.LOST
