"""Registered files, presigned links to download them, and their conversion state.

The analysis side learns of new reports by asking here for files whose conversion
is ``pending`` (``GET /files?conversion=pending``) and tells the outcome back with
``PUT /files/{id}/conversion``; the coordinator only records it, so ``ls`` and the
JupyterLab panel can show a report that failed to convert.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from nsight_coordinator import tenancy
from nsight_coordinator.db import to_datetime
from nsight_coordinator.errors import Invalid, NotFound
from nsight_coordinator.routes.relays import relay_link
from nsight_coordinator.state import State
from nsight_coordinator.urls import absolute_url
from nsight_lab.models import ConversionState, ConversionUpdate, DownloadLink, FileInfo
from nsight_lab.servicekit import CallerDep

router = APIRouter(tags=["files"])


def _unknown_file(file_id: str) -> NotFound:
    return NotFound(
        f"no file {file_id!r}; list files with GET /api/v1/files?session_id=... (CLI: nsight-lab ls)"
    )


@router.get("/files", response_model=list[FileInfo])
async def list_files(
    state: State,
    caller: CallerDep,
    session_id: str | None = None,
    collection_id: str | None = None,
    conversion: ConversionState | None = None,
    sha256: str | None = None,
    limit: int | None = Query(None, ge=1, le=10_000),
) -> list[FileInfo]:
    """Oldest first; ``conversion=pending&limit=N`` is the analysis side's work queue.

    A caller limited to some tags gets up to ``limit`` of its own files, so the limit
    applies after the tags do."""
    found = state.db.list_files(
        session_id=session_id,
        collection_id=collection_id,
        conversion=conversion,
        sha256=sha256,
        limit=None if caller.limited else limit,
    )
    visible = [f for f in found if caller.allows(f.tag)]
    return visible if limit is None else visible[:limit]


@router.get("/files/{file_id}", response_model=FileInfo)
async def get_file(file_id: str, state: State, caller: CallerDep) -> FileInfo:
    found = state.db.get_file(file_id)
    if found is None or not tenancy.file_visible(caller, found):
        raise _unknown_file(file_id)
    return found


@router.put("/files/{file_id}/conversion", response_model=FileInfo)
async def set_conversion(
    file_id: str, body: ConversionUpdate, state: State, caller: CallerDep
) -> FileInfo:
    """Record the analysis side's conversion of the file (converted, failed, skipped).

    Only the analysis service calls it; a tenant's caller may touch only its own files."""
    if body.state == ConversionState.CONVERTED and body.trace_prefix is None:
        raise Invalid("trace_prefix: required when state is 'converted' (traces/<sha256>/)")
    found = state.db.get_file(file_id)
    if found is None or not tenancy.file_visible(caller, found):
        raise _unknown_file(file_id)
    if body.trace_prefix is not None and body.trace_prefix != f"traces/{found.sha256}/":
        raise Invalid(
            f"trace_prefix: {body.trace_prefix!r} is not this file's (traces/{found.sha256}/)"
        )
    updated = state.db.set_conversion(file_id, body, time.time())
    assert updated is not None
    return updated


@router.get("/files/{file_id}/download", response_model=DownloadLink)
async def download_link(
    file_id: str, request: Request, state: State, caller: CallerDep
) -> DownloadLink:
    """Always an absolute URL: local-backend URLs are resolved against this request.

    A file an agent holds in its Pod gets a link to this coordinator's relay of it
    (503 at once when that agent is not online)."""
    found = state.db.get_file(file_id)
    if found is None or not tenancy.file_visible(caller, found):
        raise _unknown_file(file_id)
    if found.location == "agent":
        return relay_link(state, request, found)
    expiry = state.settings.presign_expiry_s
    url = await run_in_threadpool(
        lambda: state.store.presign_get(found.key, expires_s=expiry, download_name=found.filename)
    )
    return DownloadLink(
        url=absolute_url(request, url), expires_at=to_datetime(time.time() + expiry)
    )
