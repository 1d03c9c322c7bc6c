"""Converted traces: the ingest status, and presigned URLs to one trace's files.

``GET /traces/{sha256}`` is how a reader without storage credentials (the JupyterLab
server extension's Timeline, a notebook, a Dask worker) reaches a converted trace:
it gets the manifest and one presigned GET URL per file, then reads only the row
groups and columns it needs with ranged GETs
(:class:`nsight_lab.storage.ranged.UrlFiles` +
:class:`nsight_lab.trace.converted.ConvertedTrace`).

``GET /traces/{sha256}/layouts/{layout}`` is the Timeline layout the ingest stored
beside it (:mod:`nsight_lab.jupyter.widgets.stored_layout`): its head inline and one
presigned URL per object, so a viewer fetches the coarse levels first and the rest later.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urljoin, urlsplit

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from nsight_analysis.routes import Service
from nsight_analysis.routes.jobs import api_root
from nsight_analysis.service import AnalysisError, NotFound
from nsight_lab.analysis_models import IngestStatus, TraceLayoutLinks, TraceLinks
from nsight_lab.jupyter.widgets.stored_layout import HEAD_FILE
from nsight_lab.models import ConversionState
from nsight_lab.servicekit import CallerDep
from nsight_lab.storage.base import ObjectNotFound
from nsight_lab.trace.converted import MANIFEST_FILE, trace_key

router = APIRouter(tags=["traces"])

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LAYOUT = re.compile(r"^timeline-v[0-9]{1,4}-[a-z]{1,16}(-[a-z]{1,16}){0,7}$")


@router.get("/ingest", response_model=IngestStatus)
async def ingest_status(service: Service, caller: CallerDep) -> IngestStatus:
    status = IngestStatus(**service.ingest.status())
    if caller.limited:  # the last conversion may be another tenant's report
        status.last_conversion = None
    return status


@router.get("/traces/{sha256}", response_model=TraceLinks)
async def trace_links(
    sha256: str, request: Request, service: Service, caller: CallerDep
) -> TraceLinks:
    """Manifest and presigned URLs of the converted trace of the report with this sha256.

    A caller limited to some tags must own a file with this content; to everyone else
    the answer is the same 404 as for content no one uploaded."""
    if not _SHA256.match(sha256):
        raise AnalysisError("sha256: expected 64 lowercase hex digits (a file's sha256)", 422)
    root = api_root(request)

    def build() -> TraceLinks:
        if not service.scopes.may_read(caller, sha256):
            raise NotFound(f"no converted trace for {sha256}: no report of yours has this sha256")
        found = service.ingest.stored(sha256)
        if found is None or found.state != ConversionState.CONVERTED:
            why = (
                f"it could not be converted: {found.error}"
                if found is not None
                else "it is not converted yet (or no report has this sha256); see GET /api/v1/ingest"
            )
            raise NotFound(f"no converted trace for {sha256}: {why}")
        try:
            with service.store.open_read(trace_key(sha256, MANIFEST_FILE)) as stream:
                manifest = json.loads(stream.read())
        except ObjectNotFound as exc:
            raise NotFound(f"no converted trace for {sha256}") from exc
        urls = {}
        for name, url in service.ingest.urls(sha256).items():
            urls[name] = url if urlsplit(url).scheme else urljoin(root, url.lstrip("/"))
        expires_at = time.time() + service.settings.presign_expiry_s
        return TraceLinks(sha256=sha256, manifest=manifest, urls=urls, expires_at=expires_at)

    return await run_in_threadpool(build)


@router.get("/traces/{sha256}/layouts/{layout}", response_model=TraceLayoutLinks)
async def trace_layout(
    sha256: str, layout: str, request: Request, service: Service, caller: CallerDep
) -> TraceLayoutLinks:
    """The head and presigned object URLs of a stored Timeline layout of this report.

    404 (with the reason) when there is none: not laid out (an older ingest, or this
    layout version never built), or its layout failed; the viewer then lays it out."""
    if not _SHA256.match(sha256):
        raise AnalysisError("sha256: expected 64 lowercase hex digits (a file's sha256)", 422)
    if not _LAYOUT.match(layout):
        raise AnalysisError(
            "layout: expected timeline-v<N>-<layers>, e.g. timeline-v1-kernels", 422
        )
    root = api_root(request)

    def build() -> TraceLayoutLinks:
        if not service.scopes.may_read(caller, sha256):
            raise NotFound(f"no converted trace for {sha256}: no report of yours has this sha256")
        prefix = f"{layout}/"
        try:
            with service.store.open_read(trace_key(sha256, prefix + HEAD_FILE)) as stream:
                head = json.loads(stream.read())
        except ObjectNotFound as exc:
            raise NotFound(f"no stored layout {layout} for {sha256}") from exc
        except ValueError as exc:
            raise NotFound(f"the stored layout {layout} of {sha256} is unreadable: {exc}") from exc
        objects = head.get("objects") if isinstance(head, dict) else None
        if not isinstance(objects, dict):
            raise NotFound(f"the stored layout {layout} of {sha256} has no object list")
        expiry = service.settings.presign_expiry_s
        urls = {}
        for name in objects:
            if not isinstance(name, str) or "/" in name or not name.endswith(".npy"):
                raise NotFound(f"the stored layout {layout} of {sha256} names a bad object")
            url = service.store.presign_get(trace_key(sha256, prefix + name), expires_s=expiry)
            urls[name] = url if urlsplit(url).scheme else urljoin(root, url.lstrip("/"))
        expires_at = time.time() + expiry
        return TraceLayoutLinks(
            sha256=sha256, layout=layout, head=head, urls=urls, expires_at=expires_at
        )

    return await run_in_threadpool(build)
