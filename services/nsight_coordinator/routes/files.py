"""Registered files and presigned links to download them."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from nsight_coordinator import tenancy
from nsight_coordinator.db import to_datetime
from nsight_coordinator.errors import NotFound
from nsight_coordinator.state import State
from nsight_coordinator.urls import absolute_url
from nsight_lab.models import DownloadLink, FileInfo
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
) -> list[FileInfo]:
    found = state.db.list_files(session_id=session_id, collection_id=collection_id)
    return [f for f in found if caller.allows(f.tag)]


@router.get("/files/{file_id}", response_model=FileInfo)
async def get_file(file_id: str, state: State, caller: CallerDep) -> FileInfo:
    found = state.db.get_file(file_id)
    if found is None or not tenancy.file_visible(caller, found):
        raise _unknown_file(file_id)
    return found


@router.get("/files/{file_id}/download", response_model=DownloadLink)
async def download_link(
    file_id: str, request: Request, state: State, caller: CallerDep
) -> DownloadLink:
    """Always an absolute URL: local-backend URLs are resolved against this request."""
    found = state.db.get_file(file_id)
    if found is None or not tenancy.file_visible(caller, found):
        raise _unknown_file(file_id)
    expiry = state.settings.presign_expiry_s
    url = await run_in_threadpool(
        lambda: state.store.presign_get(found.key, expires_s=expiry, download_name=found.filename)
    )
    return DownloadLink(
        url=absolute_url(request, url), expires_at=to_datetime(time.time() + expiry)
    )
