"""A real uvicorn server running the coordinator on 127.0.0.1, in a thread.

It can be stopped and started again on the same port and database, which is how the
restart tests take the coordinator away from under agents that keep polling.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from nsight_coordinator import CoordinatorSettings, create_app
from nsight_coordinator.serve import CoordinatorServer
from nsight_lab.storage.base import ObjectStore


class LiveCoordinator:
    def __init__(
        self, settings: CoordinatorSettings, store: ObjectStore, *, mount: str = ""
    ) -> None:
        self.settings = settings
        self.store = store
        self.mount = mount
        self.port = 0
        self.app: FastAPI | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The API root agents and clients call, ending in ``/api/v1``."""
        return f"http://127.0.0.1:{self.port}{self.mount}/api/v1"

    def start(self, timeout: float = 10.0) -> LiveCoordinator:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self.app = create_app(self.settings, self.store)
        asgi: object = self.app
        if self.mount:
            from starlette.applications import Starlette
            from starlette.routing import Mount

            asgi = Starlette(routes=[Mount(self.mount, app=self.app)])
        config = uvicorn.Config(
            asgi,  # type: ignore[arg-type]
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self._server = CoordinatorServer(config, coordinators=[self.app])
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"coordinator did not start within {timeout}s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(15)
        if self._thread.is_alive():
            raise RuntimeError("coordinator did not stop within 15 s")
        self._server = None
        self._thread = None
