"""``/nsight-lab/traces``: stored reports as a Timeline, tile by tile, for the "View trace" tab.

``POST /nsight-lab/traces`` with ``{"file_ids": [...]}`` or ``{"collection_id": ...}``
opens a view (every rank of a collection on one axis) and answers what the front end
needs before drawing: rows, names, levels, span, alignment, and a ``view_id``. Then:

- ``GET .../traces/<view_id>/tiles?t0=&t1=&width_px=``: the blocks of that window, as
  ``uint32 header length | header JSON | padding to 8 | six column buffers``;
- ``GET .../traces/<view_id>/event?row=&t=&tolerance_ns=``: every column of one event;
- ``GET .../traces/<view_id>/summary?t0=&t1=[&base=1]``: the window's kernel summary;
- ``GET .../static/timeline.js`` (and ``widgets.css``): the Timeline front end itself.

Reports reach this server through the gateway with the user's credentials (the same
``gateway_json`` every handler uses), once per report: the local
:class:`~nsight_lab.jupyter.trace_cache.TraceCache` keeps the converted tables and
the laid-out timeline, and the browser only ever receives the blocks it draws.

A report the analysis side laid out at ingest
(:mod:`~nsight_lab.jupyter.widgets.stored_layout`) is not laid out here: its first
open fetches the layout's head and coarse levels, answers from them, and fetches the
finer levels in the background, coarse to fine, into the cache. A tile request that
needs a level still on its way waits for it (bounded), so no zoom is answered at a
coarser level than it asked for. Any problem with the stored layout (missing, of
another version, corrupt) falls back to laying the report out here, as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import struct
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from nsight_lab.jupyter.server.connection import GatewayConnection
from nsight_lab.jupyter.server.handlers.base import AUTH_RESOURCE, HandlerError, NsightHandler
from nsight_lab.jupyter.server.handlers.notebooks import checked_id, fetch_to
from nsight_lab.jupyter.stored_traces import build_view, failed_conversion, viewable_files
from nsight_lab.jupyter.trace_cache import VIEWED_FILES, ReportUnreadable, TraceCache
from nsight_lab.jupyter.widgets._static import STATIC
from nsight_lab.jupyter.widgets.lanes import LAYERS
from nsight_lab.jupyter.widgets.stored_layout import REFS_FILE, StoredHead, StoredLayoutError
from nsight_lab.jupyter.widgets.trace_view import (
    ConvertedSource,
    ReportTimeline,
    StillArriving,
    TraceView,
    TraceViewError,
    ViewRequestError,
    answer,
    layout_name,
)
from nsight_lab.models import FileInfo
from nsight_lab.storage.base import StorageError
from nsight_lab.trace.converted import ConvertedTrace

#: Views kept open per server; the oldest is dropped (its tab reopens it transparently).
MAX_VIEWS = 16
#: A collection of more reports than this is refused (say which to open instead).
MAX_REPORTS = 512
#: Reports converted and laid out at once while opening a collection.
PARALLEL_REPORTS = 2
#: How long a caller's right to a view holds before the gateway is asked again.
AUTHORIZED_S = 300.0

#: Names of the background tasks fetching a stored layout's finer levels.
ARRIVAL_TASK = "nsight-lab-layout-"

log = logging.getLogger("nsight_lab.jupyter.traces")


def encode_tiles(header: dict[str, Any], buffers: list[bytes]) -> bytes:
    """One binary answer: what ``decodeTileResponse`` in the extension reads."""
    text = json.dumps(header).encode()
    pad = (-(4 + len(text))) % 8
    return b"".join([struct.pack("<I", len(text) + pad), text, b" " * pad, *buffers])


class TraceViews:
    """The server's open views (with the files behind them) and its cache.

    One JupyterLab server may serve many people (behind the gateway's login, each
    request calling the API as its user), so a view answers only callers the gateway
    has let see its files: the one who opened it, and anyone else once their own
    credential read the files again (rechecked every :data:`AUTHORIZED_S`).
    """

    def __init__(self, cache: TraceCache) -> None:
        self.cache = cache
        self.views: OrderedDict[str, tuple[TraceView, dict[str, FileInfo]]] = OrderedDict()
        self.allowed: dict[str, dict[str, float]] = {}
        self.gate = asyncio.Semaphore(PARALLEL_REPORTS)
        #: Stored layouts whose finer levels are still arriving, by (sha256, layout).
        self.arriving: dict[tuple[str, str], ReportTimeline] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def allow(self, view_id: str, caller: str) -> None:
        self.allowed.setdefault(view_id, {})[caller] = time.monotonic() + AUTHORIZED_S

    def allows(self, view_id: str, caller: str) -> bool:
        return self.allowed.get(view_id, {}).get(caller, 0.0) > time.monotonic()

    def get(self, view_id: str) -> tuple[TraceView, dict[str, FileInfo]]:
        found = self.views.get(view_id)
        if found is None:
            raise HandlerError(
                410, f"trace view {view_id} is no longer open on this server; open the trace again"
            )
        self.views.move_to_end(view_id)
        return found

    def put(self, view_id: str, view: TraceView, files: list[FileInfo]) -> None:
        self.views[view_id] = (view, {f.file_id: f for f in files})
        self.views.move_to_end(view_id)
        while len(self.views) > MAX_VIEWS:
            dropped, _ = self.views.popitem(last=False)
            self.allowed.pop(dropped, None)


def caller_key(handler: NsightHandler) -> str:
    """Who is asking, as the gateway tells callers apart: the signed-in user's login
    when the server forwards each request's own (``forward_user_token``), else the
    server's one credential, the same for every request."""
    forwarded = getattr(handler, "forwarded_user_token", None)
    token = forwarded() if callable(forwarded) else None
    return hashlib.sha256((token or "").encode()).hexdigest()


def view_id_for(files: list[FileInfo]) -> str:
    key = json.dumps([sorted(f.file_id for f in files), list(LAYERS)])
    return hashlib.sha256(key.encode()).hexdigest()[:20]


class TraceOpenHandler(NsightHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        await self.post_json(self._open)

    async def _files(self, conn: GatewayConnection, body: dict[str, Any]) -> list[FileInfo]:
        file_ids, collection_id = body.get("file_ids"), body.get("collection_id")
        if bool(file_ids) == bool(collection_id):
            raise HandlerError(400, 'give either "file_ids" (a list) or "collection_id", not both')
        if collection_id:
            checked = checked_id(collection_id, "collection_id")
            listed = await self.gateway_json(
                conn, "coordinator", f"files?collection_id={quote(checked)}"
            )
            files = viewable_files([FileInfo.model_validate(f) for f in listed])
            if not files:
                raise HandlerError(
                    404,
                    f"collection {checked} has no reports to show yet "
                    "(still recording, or every upload failed)",
                )
        else:
            if not isinstance(file_ids, list):
                raise HandlerError(400, '"file_ids" must be a list of file ids')
            files = [
                FileInfo.model_validate(
                    await self.gateway_json(
                        conn, "coordinator", f"files/{checked_id(file_id, 'file_ids[]')}"
                    )
                )
                for file_id in file_ids
            ]
        if len(files) > MAX_REPORTS:
            raise HandlerError(
                413, f"{len(files)} reports at once is too many; open at most {MAX_REPORTS}"
            )
        return files

    async def _timeline(
        self, conn: GatewayConnection, info: FileInfo
    ) -> tuple[ReportTimeline, ConvertedSource]:
        cache: TraceCache = self.nsight.trace_views.cache
        async with self.nsight.trace_views.gate:
            try:
                saved = await asyncio.to_thread(cache.layout, info, LAYERS)
                if saved is not None:
                    return saved, ConvertedSource()  # tables fetched only when clicked
                if self.nsight.stored_layouts:
                    stored = await stored_layout_for(self, conn, info)
                    if stored is not None:
                        return stored, ConvertedSource()
                converted = await converted_for(self, conn, info)
                built = await asyncio.to_thread(cache.timeline, info, converted, LAYERS)
                return built, ConvertedSource(converted)
            except ReportUnreadable as exc:
                raise HandlerError(422, f"cannot show {exc}") from exc
            except StorageError as exc:
                raise HandlerError(502, f"cannot read {info.filename} from storage: {exc}") from exc

    async def _open(self) -> dict[str, Any]:
        body = self.json_body('{"file_ids": [...]} or {"collection_id": "..."}')
        conn = self.connection()
        files = await self._files(conn, body)
        opened = await asyncio.gather(*(self._timeline(conn, f) for f in files))
        try:
            view = build_view(files, [t for t, _ in opened], [s for _, s in opened])
        except TraceViewError as exc:
            raise HandlerError(400, str(exc)) from exc
        view_id = view_id_for(files)
        views: TraceViews = self.nsight.trace_views
        views.put(view_id, view, files)
        views.allow(view_id, caller_key(self))  # the gateway just let this caller read them
        return {"view_id": view_id, **view.describe()}


async def converted_for(
    handler: NsightHandler, conn: GatewayConnection, info: FileInfo
) -> ConvertedTrace:
    """The report's converted tables, here, the way :func:`stored_traces.converted_for`
    finds them, through this request's gateway connection: copied before, else copied
    now from the analysis side's conversion, else the report downloaded and converted."""
    cache: TraceCache = handler.nsight.trace_views.cache
    local = cache.local(info)
    if local is not None:
        return local
    try:
        links = await handler.gateway_json(conn, "analysis", f"traces/{info.sha256}")
    except HandlerError as exc:
        if exc.status != 404:
            raise
    else:
        partial = cache.partial(info)
        try:
            for name in VIEWED_FILES:
                await fetch_to(conn, str(links["urls"][name]), partial / name, 600.0)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return await asyncio.to_thread(cache.adopt, info, partial)
    failure = failed_conversion(info)
    if failure is not None:
        raise failure
    link = await handler.gateway_json(conn, "coordinator", f"files/{info.file_id}/download")
    raw = cache.raw_path(info)
    await fetch_to(conn, str(link["url"]), raw, max(handler.timeout(), 600.0))
    await asyncio.to_thread(cache.convert, info, raw)
    found = cache.local(info)
    if found is None:
        raise ReportUnreadable(f"{info.filename}: converted, but the result is gone")
    return found


async def stored_layout_for(
    handler: NsightHandler, conn: GatewayConnection, info: FileInfo
) -> ReportTimeline | None:
    """The report's layout stored at ingest, answering from its coarse levels while a
    background task fetches the rest; ``None`` when there is none this server can use
    (the caller then lays the report out itself)."""
    views: TraceViews = handler.nsight.trace_views
    name = layout_name(LAYERS)
    arriving = views.arriving.get((info.sha256, name))
    if arriving is not None:
        return arriving
    try:
        links = await handler.gateway_json(conn, "analysis", f"traces/{info.sha256}/layouts/{name}")
    except HandlerError as exc:
        if exc.status == 404 or exc.status >= 500:
            if exc.status != 404:
                log.warning("%s: no stored layout (%s); laying it out here", info.filename, exc)
            return None
        raise
    try:
        head = StoredHead.parse(links.get("head"), LAYERS)
    except StoredLayoutError as exc:
        log.warning("%s: %s; laying it out here", info.filename, exc)
        return None
    if head is None:
        log.info("%s: the stored layout is of another version; laying it out here", info.filename)
        return None
    urls: dict[str, str] = links.get("urls") or {}
    cache = views.cache
    partial = cache.layout_partial(info, LAYERS)
    try:
        async with conn.storage_client(600.0) as client:
            first = head.first_levels()
            await _fetch_objects(
                conn, client, urls, partial, [n for i in first for n in head.files(i)]
            )
        levels = {i: await asyncio.to_thread(head.verified_level, partial, i) for i in first}
    except (HandlerError, StoredLayoutError, KeyError, OSError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        log.warning(
            "%s: the stored layout is unusable (%s); laying it out here", info.filename, exc
        )
        return None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    timeline = head.timeline(levels, info.filename)
    views.arriving[(info.sha256, name)] = timeline
    task = asyncio.create_task(
        _arrive(handler, conn, info, head, urls, partial, timeline),
        name=f"{ARRIVAL_TASK}{info.sha256[:12]}",
    )
    views.tasks.add(task)
    task.add_done_callback(views.tasks.discard)
    return timeline


async def _fetch_objects(
    conn: GatewayConnection,
    client: httpx.AsyncClient,
    urls: dict[str, str],
    folder: Path,
    names: list[str],
) -> None:
    """Fetch stored layout objects at once over one client (checked by the caller)."""
    missing = [name for name in names if name not in urls]
    if missing:
        raise StoredLayoutError(f"the stored layout has no URL for its objects {missing[:3]}")
    fetches = [
        asyncio.ensure_future(fetch_to(conn, urls[name], folder / name, 600.0, client))
        for name in names
    ]
    try:
        await asyncio.gather(*fetches)
    except BaseException:
        for fetch in fetches:  # one failed: the others stop too, before the folder goes
            fetch.cancel()
        await asyncio.gather(*fetches, return_exceptions=True)
        raise


async def _arrive(
    handler: NsightHandler, conn: GatewayConnection, info: FileInfo, head: StoredHead,
    urls: dict[str, str], partial: Path, timeline: ReportTimeline,
) -> None:  # fmt: skip
    """Fetch the finer levels coarse to fine, then the row refs; move the layout into the
    cache. On any failure, lay the report out here instead: late, never wrong."""
    views: TraceViews = handler.nsight.trace_views
    arriving = timeline.arriving
    assert arriving is not None
    try:
        try:
            async with conn.storage_client(600.0) as client:
                for index in head.later_levels():
                    await _fetch_objects(conn, client, urls, partial, head.files(index))
                    level = await asyncio.to_thread(head.verified_level, partial, index)
                    arriving.add(index, level)
                await _fetch_objects(conn, client, urls, partial, [REFS_FILE])
            await asyncio.to_thread(head.verify, partial, REFS_FILE)
            await asyncio.to_thread(head.write_manifests, partial)
            whole = await asyncio.to_thread(views.cache.adopt_layout, info, partial, LAYERS)
        except (HandlerError, StoredLayoutError, ReportUnreadable, KeyError, OSError) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            log.warning("%s: the stored layout is unusable (%s); laying it out here",
                        info.filename, exc)  # fmt: skip
            try:
                converted = await converted_for(handler, conn, info)
                whole = await asyncio.to_thread(views.cache.timeline, info, converted, LAYERS)
            except (HandlerError, ReportUnreadable, StorageError, OSError) as again:
                arriving.fail(f"cannot lay it out: {again}")
                return
        arriving.finish(whole)
    except BaseException as exc:
        arriving.fail(f"fetching its layout stopped: {exc!r}")
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        views.arriving.pop((info.sha256, layout_name(LAYERS)), None)


class _ViewHandler(NsightHandler):
    async def authorize(self, view_id: str, files: dict[str, FileInfo]) -> None:
        """Let this caller use the view only once the gateway lets them read its files."""
        views: TraceViews = self.nsight.trace_views
        caller = caller_key(self)
        if views.allows(view_id, caller):
            return
        conn = self.connection()
        for file_id in files:
            await self.gateway_json(conn, "coordinator", f"files/{file_id}")
        views.allow(view_id, caller)

    async def ready(
        self, view: TraceView, files: dict[str, FileInfo], message: dict[str, Any]
    ) -> None:
        """Resolve the converted tables answering ``message`` needs (a view reopened
        from the cache has none at hand), through this request's gateway connection."""
        conn: GatewayConnection | None = None
        for part in view.sources_for(message):
            source = part.source
            if not isinstance(source, ConvertedSource) or source.ready:
                continue
            info = files.get(part.file_id or "")
            if info is None:
                continue
            conn = conn or self.connection()
            try:
                source.use(await converted_for(self, conn, info))
            except ReportUnreadable as exc:
                raise HandlerError(422, f"cannot show {exc}") from exc

    def message(self, kind: str, fields: tuple[str, ...]) -> dict[str, Any]:
        message: dict[str, Any] = {"type": kind, "id": self.get_query_argument("id", "0")}
        for field in fields:
            value = self.get_query_argument(field, None)
            if value is None:
                raise HandlerError(400, f"missing query parameter {field!r}")
            message[field] = value
        return message

    async def reply(self, view_id: str, kind: str, fields: tuple[str, ...]) -> None:
        try:
            views: TraceViews = self.nsight.trace_views
            view, files = views.get(view_id)
            await self.authorize(view_id, files)
            message = self.message(kind, fields)
            if kind == "summary":
                message["base"] = self.get_query_argument("base", "") in ("1", "true")
            await self.ready(view, files, message)
            try:
                header, buffers = await asyncio.to_thread(answer, view, message)
            except ViewRequestError as exc:
                raise HandlerError(400, str(exc)) from exc
            except StillArriving as exc:
                raise HandlerError(503, str(exc)) from exc
            except StorageError as exc:
                raise HandlerError(502, f"cannot read the report from storage: {exc}") from exc
        except HandlerError as error:
            self.finish_error(error)
            return
        if kind == "view":
            self.set_header("Cache-Control", "no-store")
            self.finish(encode_tiles(header, buffers), set_content_type="application/octet-stream")
        else:
            self.finish_json(header)


class TraceTilesHandler(_ViewHandler):
    @web.authenticated
    @authorized
    async def get(self, view_id: str) -> None:
        await self.reply(view_id, "view", ("t0", "t1", "width_px"))


class TraceEventHandler(_ViewHandler):
    @web.authenticated
    @authorized
    async def get(self, view_id: str) -> None:
        await self.reply(view_id, "event", ("row", "t", "tolerance_ns"))


class TraceSummaryHandler(_ViewHandler):
    @web.authenticated
    @authorized
    async def get(self, view_id: str) -> None:
        await self.reply(view_id, "summary", ("t0", "t1"))


#: The widget front-end files the "View trace" tab loads; nothing else is served.
STATIC_FILES = {"timeline.js": "text/javascript", "widgets.css": "text/css"}


class WidgetStaticHandler(ExtensionHandlerMixin, JupyterHandler):
    """The notebook Timeline's own front end, for the lab tab: one copy of the drawing."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        if name not in STATIC_FILES:
            raise web.HTTPError(404, "no such nsight-lab file")
        self.set_header("Content-Type", f"{STATIC_FILES[name]}; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish((STATIC / name).read_bytes())
