"""The background sweep that moves state along when nobody calls in.

Three things only time can decide: an agent that stopped polling is LOST (and its
part in live collections with it, so a STOPPING collection never waits forever), a
collection started with ``duration_s`` has ended, and heartbeat times gathered in
memory should reach the database. One bounded loop does all three.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nsight_coordinator.db import Database
from nsight_coordinator.hub import CommandHub
from nsight_lab.models import AgentState

log = logging.getLogger(__name__)


class ExpirySweeper:
    def __init__(self, db: Database, hub: CommandHub, expiry_s: float, interval_s: float) -> None:
        self._db = db
        self._hub = hub
        self._expiry_s = expiry_s
        self._interval_s = interval_s
        # After a restart nobody has been seen by this process yet; agents get one
        # full expiry period from start-up to poll again before being declared lost.
        self._started = time.time()

    def sweep(self, now: float | None = None) -> list[str]:
        """One pass; returns the agents declared LOST."""
        now = time.time() if now is None else now
        self._db.save_last_seen(self._hub.take_unsaved())
        lost = []
        for agent_id, stored in self._db.online_last_seen().items():
            if self._hub.is_waiting(agent_id):
                continue
            seen = max(stored, self._hub.last_seen(agent_id) or 0.0, self._started)
            if now - seen > self._expiry_s:
                lost.append(agent_id)
        if lost:
            log.info("agents lost (no poll or heartbeat for %.0f s): %s", self._expiry_s, lost)
            self._db.retire_agents(
                lost,
                AgentState.LOST,
                f"agent not seen for more than {self._expiry_s:g} s",
                now,
            )
            self._hub.notify(self._db.take_notify())
        self._db.expire_durations(now)
        return lost

    async def run(self) -> None:
        # The grace period starts when this process starts serving, not when it was
        # built: imports and start-up before that are time agents could not call in.
        self._started = time.time()
        while True:
            try:
                self.sweep()
            except Exception:  # a bad sweep must not end the loop; the next may succeed
                log.exception("expiry sweep failed")
            await asyncio.sleep(self._interval_s)
