"""Serving the local-folder backend's presigned URLs: ``PUT|GET /storage/o/{key}``.

With the local backend there is no storage server, so the coordinator is one. The
store checks the signature and the key (``LocalStore.open_put``/``handle_get``);
this route only streams bytes: a request body goes to disk chunk by chunk, never
whole into memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from nsight_coordinator.errors import CoordinatorError, NotFound
from nsight_coordinator.state import CoordinatorState, State
from nsight_lab.storage import (
    InvalidKey,
    ObjectExists,
    ObjectNotFound,
    SignatureError,
    StorageError,
)
from nsight_lab.storage.local import LocalStore

router = APIRouter(tags=["storage"])


class _Forbidden(CoordinatorError):
    status_code = 403


class _BadKey(CoordinatorError):
    status_code = 400


class _Exists(CoordinatorError):
    status_code = 412


class _Writer(Protocol):
    def write(self, chunk: bytes) -> None: ...
    def commit(self) -> str: ...
    def abort(self) -> None: ...


def _local(state: CoordinatorState) -> LocalStore:
    if not isinstance(state.store, LocalStore):
        raise NotFound(
            f"this coordinator stores objects in {state.store.kind!r}, not in a local folder; "
            "use the presigned URL the coordinator handed out"
        )
    return state.store


def _http_error(exc: StorageError) -> CoordinatorError:
    if isinstance(exc, SignatureError):
        return _Forbidden(str(exc))
    if isinstance(exc, InvalidKey):
        return _BadKey(str(exc))
    if isinstance(exc, ObjectNotFound):
        return NotFound(str(exc))
    if isinstance(exc, ObjectExists):
        return _Exists(str(exc))
    return _BadKey(str(exc))


@router.put("/storage/o/{key:path}")
async def put_object(key: str, request: Request, state: State) -> Response:
    store = _local(state)
    try:
        writer: _Writer = store.open_put(key, dict(request.query_params))
    except StorageError as exc:
        raise _http_error(exc) from exc
    try:
        async for chunk in request.stream():
            if chunk:
                writer.write(chunk)
        etag = await run_in_threadpool(writer.commit)
    except StorageError as exc:
        raise _http_error(exc) from exc
    finally:
        writer.abort()
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


@router.get("/storage/o/{key:path}")
async def get_object(key: str, request: Request, state: State) -> FileResponse:
    store = _local(state)
    query = dict(request.query_params)
    try:
        path: Path = await run_in_threadpool(store.handle_get, key, query)
    except StorageError as exc:
        raise _http_error(exc) from exc
    headers = {}
    disposition = store.download_disposition(query)
    if disposition:
        headers["Content-Disposition"] = disposition
    return FileResponse(path, headers=headers, media_type="application/octet-stream")
