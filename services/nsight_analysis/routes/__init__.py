"""One router per resource: recipes (the catalogue), jobs, converted traces, local-storage downloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from nsight_analysis.service import AnalysisService


def get_service(request: Request) -> AnalysisService:
    service: AnalysisService = request.app.state.analysis
    # A parent app that mounts this one may not run its lifespan; the first request
    # then starts the workers (idempotent when the lifespan already did).
    service.start()
    return service


Service = Annotated[AnalysisService, Depends(get_service)]
