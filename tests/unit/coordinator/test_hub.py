"""The long-poll hub: waiting costs nothing, an issued command wakes exactly its agents."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from nsight_coordinator.db import Database
from nsight_coordinator.hub import CommandHub
from nsight_lab.models import AgentRegistration, Command


class CountingDatabase(Database):
    """The real database, counting how often the hub looks for commands."""

    lookups = 0

    def commands_after(self, agent_id: str, after: int, limit: int = 100) -> list[Command]:
        self.lookups += 1
        return super().commands_after(agent_id, after, limit)


def _db_with_agents(path: Path, count: int) -> CountingDatabase:
    db = CountingDatabase(path)
    for i in range(count):
        reg = AgentRegistration(process_name="p", instance=str(i), pid=i, collector="c")
        db.register_agent(reg, f"a{i}", time.time())
    return db


def test_parked_polls_do_not_poll_the_database(tmp_path: Path) -> None:
    db = _db_with_agents(tmp_path / "s.sqlite3", 200)
    hub = CommandHub(db)

    async def scenario() -> tuple[list[list[Command]], float]:
        waits = [asyncio.create_task(hub.wait(f"a{i}", 0, 10)) for i in range(200)]
        await asyncio.sleep(0.05)
        assert db.lookups == 200  # one look each, then parked
        cpu = time.process_time()
        await asyncio.sleep(0.5)
        idle_cpu = time.process_time() - cpu
        assert db.lookups == 200
        collection, agent_ids = db.start_collection("default", None, None, None, time.time())
        hub.notify(agent_ids)
        done = await asyncio.wait_for(asyncio.gather(*waits), 2)
        assert all(c[0].collection_id == collection.collection_id for c in done)
        return done, idle_cpu

    done, idle_cpu = asyncio.run(scenario())
    assert [len(c) for c in done] == [1] * 200
    assert idle_cpu < 0.05, f"{idle_cpu:.3f} s of CPU while 200 polls waited 0.5 s"


def test_notify_wakes_only_the_named_agents(tmp_path: Path) -> None:
    db = _db_with_agents(tmp_path / "s.sqlite3", 2)
    hub = CommandHub(db)

    async def scenario() -> None:
        first = asyncio.create_task(hub.wait("a0", 0, 0.3))
        second = asyncio.create_task(hub.wait("a1", 0, 5))
        await asyncio.sleep(0.02)
        hub.notify(["a0"])  # nothing was issued for a0: it looks, finds nothing, waits on
        await asyncio.sleep(0.02)
        assert not first.done() and not second.done()
        assert await first == []  # its own timeout
        assert not second.done()
        hub.close()  # shutdown releases everyone at once
        assert await asyncio.wait_for(second, 1) == []

    asyncio.run(scenario())
    assert hub.is_waiting("a1") is False


def test_pending_commands_return_at_once(tmp_path: Path) -> None:
    db = _db_with_agents(tmp_path / "s.sqlite3", 1)
    db.start_collection("default", None, 5.0, 1.0, time.time())
    hub = CommandHub(db)
    started = time.monotonic()
    commands = asyncio.run(hub.wait("a0", 0, 10))
    assert time.monotonic() - started < 0.5
    assert [(c.seq, c.kind.value, c.duration_s, c.delay_s) for c in commands] == [
        (1, "start", 5.0, 1.0)
    ]
    assert asyncio.run(hub.wait("a0", 1, 0)) == []
