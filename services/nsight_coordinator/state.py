"""Everything a request handler needs, built once per app and reached by dependency."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from nsight_coordinator.db import Database
from nsight_coordinator.expiry import ExpirySweeper
from nsight_coordinator.hub import CommandHub
from nsight_coordinator.relay import RelayHub
from nsight_coordinator.settings import CoordinatorSettings
from nsight_lab.storage.base import ObjectStore
from nsight_lab.storage.signing import UrlSigner


@dataclass
class CoordinatorState:
    settings: CoordinatorSettings
    store: ObjectStore
    db: Database
    hub: CommandHub
    sweeper: ExpirySweeper
    #: One completion at a time per upload, so a retried complete never registers twice.
    upload_locks: dict[str, asyncio.Lock] = field(default_factory=dict, repr=False)
    #: Downloads of files agents hold in their Pods, waiting for or receiving a stream.
    relays: RelayHub = field(default_factory=RelayHub, repr=False)
    #: Signs relay download links. A fresh key per process: the links live minutes,
    #: and a restarted coordinator has no relay open anyway.
    relay_signer: UrlSigner = field(default_factory=lambda: UrlSigner(os.urandom(32)), repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: CoordinatorSettings, store: ObjectStore) -> CoordinatorState:
        db = Database(settings.db_path)
        hub = CommandHub(db)
        sweeper = ExpirySweeper(db, hub, settings.agent_expiry_s, settings.expiry_check_interval_s)
        return cls(settings=settings, store=store, db=db, hub=hub, sweeper=sweeper)

    def ensure_sweeping(self) -> None:
        """Start the expiry task if no lifespan did (Starlette skips lifespans of mounts)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.sweeper.run(), name="nsight-coordinator-expiry"
            )

    async def stop(self) -> None:
        self.hub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.db.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The app's lifespan; an embedding app that mounts the coordinator enters this."""
        self.ensure_sweeping()
        try:
            yield
        finally:
            await self.stop()


async def get_state(request: Request) -> CoordinatorState:
    state: CoordinatorState = request.app.state.coordinator
    state.ensure_sweeping()
    return state


State = Annotated[CoordinatorState, Depends(get_state)]
