"""Building the analysis service's ASGI app.

Routes live under ``/api/v1`` so the app mounts under a prefix (``/analysis`` in the
gateway and in ``nsight-lab up``); URLs it hands out are built from the request, so
they are right under any prefix. Every error leaves as ``{"detail": "<sentence>"}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from nsight_analysis.routes import jobs, recipes, storage, traces
from nsight_analysis.service import AnalysisService
from nsight_analysis.settings import AnalysisSettings
from nsight_lab.models import API_PREFIX
from nsight_lab.servicekit import GatewaySettings, install_error_handlers, install_gateway_guard
from nsight_lab.storage.base import ObjectStore


def create_app(
    settings: AnalysisSettings, store: ObjectStore, gateway: GatewaySettings | None = None
) -> FastAPI:
    """The analysis app over ``settings.db_path`` and ``store``.

    Jobs left running by a previous process are failed here, before anything is
    served. Workers start with the lifespan; a parent app that mounts this one enters
    ``app.state.analysis.running()`` in its own lifespan (Starlette does not run the
    lifespans of mounted apps), or they start with the first request.
    """
    trust = gateway if gateway is not None else GatewaySettings()
    service = AnalysisService(settings, store, trust)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with service.running():
            yield

    app = FastAPI(
        title="nsight-lab analysis",
        version="1",
        docs_url=f"{API_PREFIX}/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.analysis = service
    install_error_handlers(app)
    install_gateway_guard(app, trust)
    for module in (recipes, jobs, storage, traces):
        app.include_router(module.router, prefix=API_PREFIX)
    return app
