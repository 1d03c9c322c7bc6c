"""Compose the services under their gateway prefixes and serve them with uvicorn."""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from nsight_lab import __version__
from nsight_lab.servicekit.trust import GatewaySettings, install_gateway_guard
from nsight_lab.storage import ObjectStore, load_storage_config, open_store
from nsight_lab.storage.config import StorageConfig

COORDINATOR_PREFIX = "/coordinator"
ANALYSIS_PREFIX = "/analysis"


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8888
    storage_config: Path | None = None
    #: Set when a gateway (Envoy) fronts the services: they then answer only
    #: requests carrying its secret, and scope callers to their tags.
    gateway: GatewaySettings | None = None


def signing_key(data_dir: Path) -> bytes:
    """The local backend's URL-signing secret, kept so URLs survive a restart."""
    path = data_dir / "signing.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def build_store(config: StackConfig) -> ObjectStore:
    if config.storage_config is not None:
        storage = load_storage_config(config.storage_config)
    else:
        storage = StorageConfig(storage_type="local", local_cache_dir=config.data_dir / "storage")
    return open_store(storage, signing_key=signing_key(config.data_dir))


def build_app(config: StackConfig) -> Starlette:
    """Both services on one store, under the prefixes a cluster's gateway gives them.

    Tunables not set here come from ``NSIGHT_LAB_COORDINATOR_*`` and
    ``NSIGHT_LAB_ANALYSIS_*`` (tests shorten agent expiry, pick worker counts).
    """
    from nsight_analysis.app import create_app as create_analysis
    from nsight_analysis.settings import AnalysisSettings
    from nsight_coordinator.app import create_app as create_coordinator
    from nsight_coordinator.settings import CoordinatorSettings

    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = build_store(config)
    gateway = config.gateway or GatewaySettings(secret=None, secret_file=None)
    coordinator = create_coordinator(
        CoordinatorSettings(db_path=config.data_dir / "coordinator.sqlite3"), store, gateway
    )
    # The analysis service resolves sessions over the coordinator's public API, as it
    # would across a cluster; here that API is this very server.
    local_host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "localhost") else config.host
    analysis = create_analysis(
        AnalysisSettings(
            db_path=config.data_dir / "analysis.sqlite3",
            work_dir=config.data_dir / "analysis-work",
            coordinator_url=f"http://{local_host}:{config.port}{COORDINATOR_PREFIX}/api/v1/",
        ),
        store,
        gateway,
    )

    async def index(_request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "service": "nsight-lab",
                "version": __version__,
                "coordinator": f"{COORDINATOR_PREFIX}/api/v1/",
                "analysis": f"{ANALYSIS_PREFIX}/api/v1/",
                "docs": [f"{COORDINATOR_PREFIX}/api/v1/docs", f"{ANALYSIS_PREFIX}/api/v1/docs"],
                "storage": store.kind,
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Starlette does not run a mounted app's lifespan; the coordinator's agent
        # expiry and the analysis workers live there, so enter both explicitly.
        async with coordinator.state.coordinator.running(), analysis.state.analysis.running():
            yield

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", lambda _r: JSONResponse({"ok": True})),
            Mount(COORDINATOR_PREFIX, app=coordinator),
            Mount(ANALYSIS_PREFIX, app=analysis),
        ],
        lifespan=lifespan,
    )
    install_gateway_guard(app, gateway)
    app.state.coordinators = [coordinator]
    app.state.services = {"coordinator": coordinator, "analysis": analysis}
    return app


def _server(app: Starlette, host: str, port: int, log_level: str) -> uvicorn.Server:
    """A uvicorn server that releases parked long-polls first, so stopping is quick."""
    from nsight_coordinator.serve import CoordinatorServer

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    return CoordinatorServer(config, coordinators=app.state.coordinators)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """uvicorn in a daemon thread, for the demo and tests; stops on :meth:`stop`."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.url = f"http://{host}:{port}"
        self._server = _server(app, host, port, "warning")
        self._thread = threading.Thread(target=self._server.run, name="nsight-lab-up", daemon=True)

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the embedded services did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


def serve_forever(config: StackConfig) -> None:
    _server(build_app(config), config.host, config.port, "info").run()
