"""Running the coordinator under uvicorn so that shutting down is quick.

uvicorn waits for open requests before it runs the app's shutdown, and a parked
long-poll is an open request for up to 30 s. :class:`CoordinatorServer` first
releases every parked poll (each answers with the commands it has, usually none),
then lets uvicorn shut down as usual. Use it wherever the coordinator is served,
mounted or not: ``CoordinatorServer(config, coordinators=[app])``.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import uvicorn
from fastapi import FastAPI

from nsight_coordinator.state import CoordinatorState


class CoordinatorServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, coordinators: Sequence[FastAPI]) -> None:
        super().__init__(config)
        self._states: list[CoordinatorState] = [app.state.coordinator for app in coordinators]

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for state in self._states:
            state.hub.close()
        await super().shutdown(sockets)
