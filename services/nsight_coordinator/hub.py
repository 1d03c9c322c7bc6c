"""Long-poll delivery of commands to agents, and who was seen when.

A waiting poll costs one asyncio future and nothing else: no timer loop, no database
reads while it waits. Commands are written to the database first (one transaction
for every agent of a tag), then :meth:`CommandHub.notify` wakes exactly the waiters
of those agents, which read their commands and answer. Everything here runs on the
event loop thread, so checking the database and parking on the event cannot race
with a notify.

Heartbeats (polls count as heartbeats) only touch an in-memory dict; the expiry task
persists those times in one batch, so the poll path never commits to disk.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from nsight_coordinator.db import Database
from nsight_lab.models import Command


class CommandHub:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._events: dict[str, asyncio.Event] = {}
        self._waiting: defaultdict[str, int] = defaultdict(int)
        self._seen: dict[str, float] = {}
        self._unsaved: dict[str, float] = {}
        self._closed = False

    # -- liveness --------------------------------------------------------------------

    def touch(self, agent_id: str, now: float | None = None) -> None:
        t = time.time() if now is None else now
        self._seen[agent_id] = t
        self._unsaved[agent_id] = t

    def last_seen(self, agent_id: str) -> float | None:
        return self._seen.get(agent_id)

    def is_waiting(self, agent_id: str) -> bool:
        """An agent parked in a poll is alive even if its poll began long ago."""
        return self._waiting.get(agent_id, 0) > 0

    def take_unsaved(self) -> dict[str, float]:
        unsaved, self._unsaved = self._unsaved, {}
        return unsaved

    def forget(self, agent_id: str) -> None:
        self._seen.pop(agent_id, None)

    # -- delivery ----------------------------------------------------------------------

    async def wait(self, agent_id: str, after: int, timeout: float) -> list[Command]:
        """Commands with ``seq > after``: at once if any, else when issued, else [] at timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            commands = self._db.commands_after(agent_id, after)
            remaining = deadline - loop.time()
            if commands or remaining <= 0 or self._closed:
                return commands
            event = self._events.get(agent_id)
            if event is None:
                event = self._events[agent_id] = asyncio.Event()
            self._waiting[agent_id] += 1
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                return []
            finally:
                self._waiting[agent_id] -= 1
                if not self._waiting[agent_id]:
                    del self._waiting[agent_id]
                self.touch(agent_id)

    def notify(self, agent_ids: list[str]) -> None:
        """Wake the polls of these agents; call after the commands are committed."""
        for agent_id in agent_ids:
            event = self._events.pop(agent_id, None)
            if event is not None:
                event.set()

    def close(self) -> None:
        """Release every waiting poll (with what it has) so a shutdown need not wait 30 s."""
        self._closed = True
        events, self._events = self._events, {}
        for event in events.values():
            event.set()
