"""Jobs: create, list, inspect, follow logs, list outputs, cancel, delete."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urljoin, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from nsight_analysis.db import output_prefix
from nsight_analysis.routes import Service
from nsight_analysis.service import AnalysisService, tail_lines
from nsight_lab.analysis_models import JobCreate, JobInfo, JobOutput, JobState
from nsight_lab.models import API_PREFIX
from nsight_lab.recipe.record import output_kind
from nsight_lab.servicekit import CallerDep

router = APIRouter(tags=["jobs"])

FOLLOW_POLL_S = 0.25


def api_root(request: Request) -> str:
    """This service's API root as the client reached it, a mount's prefix included.

    ``request.base_url`` names the top-level app's root, not a mount's, so the
    prefix is taken from the scope's ``root_path`` (which each Mount extends).
    """
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return str(request.url.replace(path=f"{root}{API_PREFIX}/", query=""))


@router.post("/jobs", response_model=JobInfo, status_code=201)
async def create_job(body: JobCreate, service: Service, caller: CallerDep) -> JobInfo:
    return await run_in_threadpool(service.create_job, body, caller)


@router.get("/jobs", response_model=list[JobInfo])
async def list_jobs(
    service: Service,
    caller: CallerDep,
    state: JobState | None = None,
    tag: str | None = None,
    session_id: str | None = None,
    limit: int = Query(200, ge=1, le=10_000),
) -> list[JobInfo]:
    found = service.db.list_jobs(state=state, tag=tag, session_id=session_id, limit=limit)
    return [job for job in found if caller.allows(job.tag)]


@router.get("/jobs/{job_id}", response_model=JobInfo)
async def get_job(job_id: str, service: Service, caller: CallerDep) -> JobInfo:
    return service.get_job(job_id, caller)


@router.post("/jobs/{job_id}/cancel", response_model=JobInfo)
async def cancel_job(job_id: str, service: Service, caller: CallerDep) -> JobInfo:
    return await run_in_threadpool(service.cancel_job, job_id, caller)


@router.delete("/jobs/{job_id}", status_code=204)
async def delete_job(job_id: str, service: Service, caller: CallerDep) -> Response:
    await run_in_threadpool(service.delete_job, job_id, caller)
    return Response(status_code=204)


@router.get("/jobs/{job_id}/outputs", response_model=list[JobOutput])
async def list_outputs(
    job_id: str, request: Request, service: Service, caller: CallerDep
) -> list[JobOutput]:
    service.get_job(job_id, caller)
    root = api_root(request)

    def build() -> list[JobOutput]:
        prefix = output_prefix(job_id)
        expiry = service.settings.presign_expiry_s
        expires_at = time.time() + expiry
        out = []
        for info in sorted(service.store.list(prefix), key=lambda i: i.key):
            name = info.key[len(prefix) :]
            url = service.store.presign_get(
                info.key, expires_s=expiry, download_name=name.rsplit("/", 1)[-1]
            )
            if not urlsplit(url).scheme:
                url = urljoin(root, url.lstrip("/"))
            kind = "Log" if name.endswith(".log") else output_kind(name)
            out.append(
                JobOutput(
                    name=name,
                    key=info.key,
                    size=info.size,
                    kind=kind,
                    url=url,
                    expires_at=expires_at,
                )
            )
        return out

    return await run_in_threadpool(build)


@router.get("/jobs/{job_id}/logs", response_class=PlainTextResponse)
async def job_logs(
    job_id: str,
    service: Service,
    caller: CallerDep,
    tail: int | None = Query(None, ge=0, description="Only the last N lines."),
    follow: bool = Query(False, description="Keep streaming until the job ends."),
    timeout: float | None = Query(None, gt=0, description="Longest a follow may last, in seconds."),
) -> Response:
    service.get_job(job_id, caller)
    data = await run_in_threadpool(service.read_log, job_id, 0)
    first = tail_lines(data, tail) if tail is not None else data
    if not follow:
        return PlainTextResponse(first.decode("utf-8", errors="replace"))
    limit = min(timeout or service.settings.log_follow_max_s, service.settings.log_follow_max_s)
    return StreamingResponse(
        _follow(service, job_id, first, len(data), limit), media_type="text/plain; charset=utf-8"
    )


async def _follow(
    service: AnalysisService, job_id: str, first: bytes, offset: int, limit: float
) -> AsyncIterator[bytes]:
    """New log bytes as they arrive, until the job ends or ``limit`` seconds pass."""
    if first:
        yield first
    deadline = time.monotonic() + limit
    while True:
        job = service.db.get(job_id)
        finished = job is None or job.state.finished
        chunk = await run_in_threadpool(service.read_log, job_id, offset) if job else b""
        if chunk:
            offset += len(chunk)
            yield chunk
        if finished:
            return
        if time.monotonic() >= deadline:
            yield f"[log follow stopped after {limit:.0f} s; the job is still {job.state.value}]\n".encode()  # type: ignore[union-attr]
            return
        await asyncio.sleep(FOLLOW_POLL_S)
