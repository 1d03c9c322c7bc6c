"""Coordinators over a real LocalStore and SQLite file, served by real uvicorn."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from nsight_coordinator import CoordinatorSettings, create_app
from nsight_lab.storage import LocalStore

from .live_server import LiveCoordinator
from .simulated_agent import SimulatedAgent

SIGNING_KEY = b"coordinator-test-signing-key-0123"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects", SIGNING_KEY)


@pytest.fixture
def settings(tmp_path: Path) -> CoordinatorSettings:
    return CoordinatorSettings(
        db_path=tmp_path / "state" / "coordinator.sqlite3",
        agent_expiry_s=15,
        heartbeat_interval_s=1,
        poll_timeout_s=2,
        expiry_check_interval_s=0.1,
    )


@pytest.fixture
def client(settings: CoordinatorSettings, store: LocalStore) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store), base_url="http://testserver/api/v1/") as c:
        yield c


@pytest.fixture
def live(settings: CoordinatorSettings, store: LocalStore) -> Iterator[LiveCoordinator]:
    server = LiveCoordinator(settings, store).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_agent(live: LiveCoordinator) -> Iterator[Callable[..., SimulatedAgent]]:
    agents: list[SimulatedAgent] = []

    def make(instance: str, **kwargs: Any) -> SimulatedAgent:
        kwargs.setdefault("process_name", "train")
        agent = SimulatedAgent(api=live.url, instance=instance, **kwargs)
        agents.append(agent.start())
        return agent

    yield make
    for agent in agents:
        agent.signal_stop()
    live.stop()  # ends parked polls now instead of after their timeout
    for agent in agents:
        agent.join()


@pytest.fixture
def api(live: LiveCoordinator) -> Iterator[httpx.Client]:
    """A user's HTTP client for the live coordinator's API root."""
    with httpx.Client(base_url=live.url + "/", timeout=10) as c:
        yield c
