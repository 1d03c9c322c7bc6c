"""Downloads of outputs when storage is a local folder: ``GET /storage/o/{key}``.

The local backend signs URLs relative to the API root that serves them. Output URLs
handed out here resolve against this service's root, so it serves them (read only;
the signature names the key and expiry, exactly as on the coordinator).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from nsight_analysis.routes import Service
from nsight_analysis.service import AnalysisError, NotFound
from nsight_lab.storage import InvalidKey, ObjectNotFound, SignatureError, StorageError
from nsight_lab.storage.local import LocalStore

router = APIRouter(tags=["storage"])


@router.get("/storage/o/{key:path}")
async def get_object(key: str, request: Request, service: Service) -> FileResponse:
    store = service.store
    if not isinstance(store, LocalStore):
        raise NotFound(
            f"outputs are stored in {store.kind!r}; use the presigned URL from GET /jobs/{{id}}/outputs"
        )
    query = dict(request.query_params)
    try:
        path = await run_in_threadpool(store.handle_get, key, query)
    except SignatureError as exc:
        raise AnalysisError(str(exc), 403) from exc
    except InvalidKey as exc:
        raise AnalysisError(str(exc), 400) from exc
    except ObjectNotFound as exc:
        raise NotFound(str(exc)) from exc
    except StorageError as exc:
        raise AnalysisError(str(exc), 400) from exc
    headers = {}
    disposition = store.download_disposition(query)
    if disposition:
        headers["Content-Disposition"] = disposition
    return FileResponse(path, headers=headers, media_type="application/octet-stream")
