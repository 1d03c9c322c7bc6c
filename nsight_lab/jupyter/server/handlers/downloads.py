"""Downloads through Jupyter: a report file, or one output of an analysis job.

Presigned storage URLs point at the gateway or the object store, which the browser
may not reach (a cluster's internal service) or may not be allowed to; the server
streams the bytes instead, and never sends the API key to storage.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from jupyter_server.auth.decorator import authorized
from tornado import web

from nsight_lab.jupyter.server.connection import GatewayConnection
from nsight_lab.jupyter.server.handlers.base import HandlerError, NsightHandler
from nsight_lab.jupyter.server.handlers.notebooks import checked_id
from nsight_lab.naming import safe_component


class _StreamingHandler(NsightHandler):
    async def stream(self, conn: GatewayConnection, url: str, filename: str) -> None:
        async with conn.storage_client(self.timeout()) as client:
            try:
                async with client.stream("GET", url) as answer:
                    if answer.status_code >= 400:
                        await answer.aread()
                        raise HandlerError(
                            502, f"storage refused {filename} (HTTP {answer.status_code})"
                        )
                    self.set_header("Content-Type", "application/octet-stream")
                    self.set_header(
                        "Content-Disposition",
                        f"attachment; filename*=UTF-8''{quote(safe_component(filename))}",
                    )
                    if "Content-Length" in answer.headers:
                        self.set_header("Content-Length", answer.headers["Content-Length"])
                    async for chunk in answer.aiter_bytes(1 << 20):
                        self.write(chunk)
                        await self.flush()
            except httpx.TransportError as exc:
                raise HandlerError(502, f"cannot download {filename} from storage: {exc}") from exc
        self.finish()


class FileDownloadHandler(_StreamingHandler):
    @web.authenticated
    @authorized
    async def get(self, file_id: str) -> None:
        try:
            checked_id(file_id, "file_id")
            conn = self.connection()
            info = await self.gateway_json(conn, "coordinator", f"files/{file_id}")
            link = await self.gateway_json(conn, "coordinator", f"files/{file_id}/download")
            await self.stream(conn, link["url"], info["filename"])
        except HandlerError as error:
            self.finish_error(error)


class JobOutputHandler(_StreamingHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str, name: str) -> None:
        try:
            checked_id(job_id, "job_id")
            conn = self.connection()
            outputs = await self.gateway_json(conn, "analysis", f"jobs/{job_id}/outputs")
            match = next((o for o in outputs if o["name"] == name), None)
            if match is None:
                raise HandlerError(404, f"job {job_id} has no output named {name!r}")
            await self.stream(conn, match["url"], name.rsplit("/", 1)[-1])
        except HandlerError as error:
            self.finish_error(error)
