"""Building the coordinator's ASGI app.

Routes live under ``/api/v1`` (``API_PREFIX``) so the app can also be mounted under a
prefix such as ``/coordinator``; nothing here builds an absolute URL except from the
request it answers. Every error leaves as ``{"detail": "<sentence>"}``: clients
(including the standard-library agent) show ``detail`` as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from nsight_coordinator.routes import (
    agents,
    files,
    presets,
    profiler,
    relays,
    sessions,
    storage,
    tags,
    uploads,
)
from nsight_coordinator.settings import CoordinatorSettings
from nsight_coordinator.state import CoordinatorState
from nsight_lab.models import API_PREFIX
from nsight_lab.servicekit import GatewaySettings, install_error_handlers, install_gateway_guard
from nsight_lab.storage.base import ObjectStore


def create_app(
    settings: CoordinatorSettings, store: ObjectStore, gateway: GatewaySettings | None = None
) -> FastAPI:
    """The coordinator app over ``settings.db_path`` and ``store``.

    The database opens here; the expiry task starts with the lifespan, or with the
    first request when a parent app mounts this one (Starlette does not run the
    lifespans of mounted apps; such a parent may enter ``app.state.coordinator.running()``).
    ``gateway`` (default: ``NSIGHT_LAB_GATEWAY_*``) says whether only requests through
    the gateway are answered, and who they come from.
    """
    state = CoordinatorState.open(settings, store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with state.running():
            yield

    app = FastAPI(
        title="nsight-lab coordinator",
        version="1",
        docs_url=f"{API_PREFIX}/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.coordinator = state
    install_error_handlers(app)
    install_gateway_guard(app, gateway if gateway is not None else GatewaySettings())
    # relays before storage: its signed GET lives inside storage's open prefix.
    for module in (agents, sessions, profiler, presets, tags, uploads, files, relays, storage):
        app.include_router(module.router, prefix=API_PREFIX)
    return app
