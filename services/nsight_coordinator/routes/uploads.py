"""Upload plans and their completion: how a report gets from an agent into storage.

The coordinator names every object itself (``sessions/<session>/<collection>/<file>``
built with ``naming.report_filename``): an agent's own filename only contributes its
extension, so no agent can place an object elsewhere. A completed upload is read back
and checked (size, SHA-256) before it becomes a file, and each file is registered
once however often the agent retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from nsight_coordinator import tenancy
from nsight_coordinator.db import HELD, UploadRow, UploadState, new_id, to_datetime
from nsight_coordinator.errors import Conflict, Invalid, NotFound
from nsight_coordinator.state import CoordinatorState, State
from nsight_coordinator.urls import absolute_url
from nsight_lab.models import FileInfo, PresignedPart, UploadComplete, UploadPlan, UploadRequest
from nsight_lab.naming import report_filename, split_extension
from nsight_lab.servicekit import CallerDep, ServiceError
from nsight_lab.storage import ObjectTooLarge, StorageError, part_size_for, verify_object

router = APIRouter(tags=["uploads"])

SINGLE = "single"
MULTIPART = "multipart"
#: ``method`` of a plan whose file is stored already (``existing_file_id`` is set).
NOTHING = "none"


def _unknown_upload(upload_id: str) -> NotFound:
    return NotFound(f"no upload {upload_id!r}; request one with POST /api/v1/uploads")


def _plan(state: CoordinatorState, request: Request, upload: UploadRow) -> UploadPlan:
    """Presigned URLs for ``upload``; blocking (S3 signing), so run in a thread."""
    expiry = state.settings.presign_expiry_s
    store = state.store
    expires_at = to_datetime(time.time() + expiry)
    if upload.method == HELD:
        # Nothing to transfer: the agent keeps the file and completes at once.
        return UploadPlan(
            upload_id=upload.upload_id, key=upload.key, method=HELD, expires_at=expires_at
        )
    if upload.method == SINGLE:
        url = absolute_url(request, store.presign_put(upload.key, expires_s=expiry, exclusive=True))
        return UploadPlan(
            upload_id=upload.upload_id,
            key=upload.key,
            method=SINGLE,
            url=url,
            headers=store.exclusive_put_headers(),
            expires_at=expires_at,
        )
    assert upload.store_upload_id is not None
    part_size = part_size_for(upload.size, state.settings.part_size)
    count = max(1, -(-upload.size // part_size))
    parts = [
        PresignedPart(
            part_number=n,
            url=absolute_url(
                request,
                store.presign_part(upload.key, upload.store_upload_id, n, expires_s=expiry),
            ),
        )
        for n in range(1, count + 1)
    ]
    return UploadPlan(
        upload_id=upload.upload_id,
        key=upload.key,
        method=MULTIPART,
        part_size=part_size,
        parts=parts,
        expires_at=expires_at,
    )


@router.post("/uploads", response_model=UploadPlan, status_code=201)
async def request_upload(
    body: UploadRequest, request: Request, state: State, caller: CallerDep
) -> UploadPlan:
    """A plan for one report: one PUT, several part PUTs, or nothing if already stored."""
    tenancy.agent(state, caller, body.agent_id)
    try:
        part_size_for(body.size, state.settings.part_size)
    except ObjectTooLarge as exc:
        raise ServiceError(str(exc), 413) from exc
    collection, agent = state.db.participant_context(body.collection_id, body.agent_id)
    stored = state.db.find_file(body.collection_id, body.agent_id, body.filename, body.sha256)
    if stored is not None:
        return UploadPlan(
            upload_id=state.db.upload_of_file(stored.file_id),
            key=stored.key,
            method=NOTHING,
            expires_at=to_datetime(time.time()),
            existing_file_id=stored.file_id,
        )
    pending = state.db.find_pending_upload(
        body.collection_id, body.agent_id, body.filename, body.sha256, body.size
    )
    if pending is not None:
        # A retried request: same object key and multipart upload, fresh signatures.
        return await run_in_threadpool(_plan, state, request, pending)
    _stem, ext = split_extension(body.filename)
    stub = secrets.token_hex(4)
    filename = report_filename(agent.process_name, agent.tag, agent.instance, stub, ext)
    key = f"sessions/{collection['session_id']}/{body.collection_id}/{filename}"
    method = SINGLE if body.size <= state.settings.part_size else MULTIPART
    if body.held:
        method = HELD
    store_upload_id = None
    if method == MULTIPART:
        store_upload_id = await run_in_threadpool(state.store.create_multipart, key)
    upload = UploadRow(
        upload_id=new_id(),
        key=key,
        filename=filename,
        agent_id=body.agent_id,
        session_id=collection["session_id"],
        collection_id=body.collection_id,
        original_filename=body.filename,
        size=body.size,
        sha256=body.sha256,
        kind=body.kind,
        method=method,
        store_upload_id=store_upload_id,
        state=UploadState.PENDING,
        created_at=time.time(),
        collection_files=body.collection_files,
        metadata=json.dumps(body.metadata),
    )
    state.db.add_upload(upload)
    return await run_in_threadpool(_plan, state, request, upload)


@contextlib.asynccontextmanager
async def _exclusive(state: CoordinatorState, upload_id: str) -> AsyncIterator[None]:
    """One completion or abort at a time per upload, so they never interleave."""
    lock = state.upload_locks.setdefault(upload_id, asyncio.Lock())
    try:
        async with lock:
            yield
    finally:
        # A caller arriving after this may make a fresh lock; it then finds the upload's
        # final state in the database, and files are unique per upload anyway.
        if not lock.locked():
            state.upload_locks.pop(upload_id, None)


@router.post("/uploads/{upload_id}/complete", response_model=FileInfo, status_code=201)
async def complete_upload(
    upload_id: str, body: UploadComplete, state: State, caller: CallerDep
) -> FileInfo:
    """Assemble (multipart), verify size and SHA-256, register the file once."""
    if not tenancy.upload_visible(state, caller, state.db.get_upload(upload_id)):
        raise _unknown_upload(upload_id)
    async with _exclusive(state, upload_id):
        return await _complete(upload_id, body, state)


async def _complete(upload_id: str, body: UploadComplete, state: State) -> FileInfo:
    upload = state.db.get_upload(upload_id)
    if upload is None:
        raise _unknown_upload(upload_id)
    if upload.state == UploadState.COMPLETED:
        stored = state.db.file_for_upload(upload_id)
        if stored is not None:
            return stored
    if upload.state in (UploadState.FAILED, UploadState.ABORTED):
        raise Conflict(
            f"upload {upload_id!r} was {upload.state.lower()}; request a new one with "
            "POST /api/v1/uploads and upload the file again"
        )
    store = state.store
    if upload.method == HELD:
        # The agent vouches for size and SHA-256; every relayed download checks both.
        return state.db.register_file(upload, time.time())
    if upload.method == MULTIPART:
        if not body.parts:
            raise Invalid(
                f"upload {upload_id!r} is multipart: send every part's number and ETag in 'parts'"
            )
        assert upload.store_upload_id is not None
        parts = [(p.part_number, p.etag) for p in body.parts]
        try:
            await run_in_threadpool(
                store.complete_multipart, upload.key, upload.store_upload_id, parts
            )
        except StorageError as exc:
            raise Invalid(f"could not assemble upload {upload_id!r}: {exc}") from exc
    try:
        await run_in_threadpool(verify_object, store, upload.key, upload.size, upload.sha256)
    except StorageError as exc:
        await run_in_threadpool(store.delete, upload.key)
        state.db.set_upload_state(upload_id, UploadState.FAILED)
        raise Invalid(
            f"{exc}; the object was deleted: request a new upload with POST /api/v1/uploads "
            "and send the file again"
        ) from exc
    return state.db.register_file(upload, time.time())


@router.delete("/uploads/{upload_id}", status_code=204)
async def abort_upload(upload_id: str, state: State, caller: CallerDep) -> Response:
    """Abort a pending upload: claim it first, then free its object.

    The claim comes before the (possibly slow) delete, so a retried upload request
    arriving meanwhile gets a fresh upload and key rather than this one, whose object
    is about to go; the object of a registered file is never deleted.
    """
    async with _exclusive(state, upload_id):
        upload = state.db.get_upload(upload_id)
        if upload is None or not tenancy.upload_visible(state, caller, upload):
            raise _unknown_upload(upload_id)
        if upload.state == UploadState.COMPLETED:
            raise Conflict(
                f"upload {upload_id!r} is already completed and registered; it cannot be aborted"
            )
        if state.db.claim_upload(upload_id, UploadState.PENDING, UploadState.ABORTED):
            if upload.method == MULTIPART and upload.store_upload_id:
                await run_in_threadpool(
                    state.store.abort_multipart, upload.key, upload.store_upload_id
                )
            elif upload.method != HELD:
                await run_in_threadpool(state.store.delete, upload.key)
    return Response(status_code=204)
