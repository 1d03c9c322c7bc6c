"""``/nsight-lab/api/(coordinator|analysis)/<path>``: the gateway's REST API, authenticated.

The panel calls the coordinator and analysis APIs exactly as ``docs/PROTOCOL.md``
documents them, only under this prefix; the handler adds the user's credentials.
Only the API roots of the two services can be reached: a path that climbs out of
them (``..``) is refused, so this is not an open proxy onto the gateway.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from jupyter_server.auth.decorator import authorized
from tornado import web

from nsight_lab.auth.credentials import NotLoggedIn
from nsight_lab.jupyter.server.connection import unreachable_detail
from nsight_lab.jupyter.server.handlers.base import HandlerError, NsightHandler

#: Answer headers worth passing on; hop-by-hop and cookie headers never are.
PASSED_HEADERS = ("Content-Type", "Content-Disposition")


def upstream_path(path: str) -> str:
    """``path`` re-quoted for the gateway; refuses segments that would leave the API root."""
    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments) or "\\" in path:
        raise HandlerError(400, f"refusing proxy path {path!r}: it must stay inside the API root")
    return quote(path, safe="/:@!$&'()*+,;=-._~")


class ProxyHandler(NsightHandler):
    async def _forward(self, method: str, service: str, path: str) -> None:
        try:
            conn = self.connection()
            url = conn.api_root(service) + upstream_path(path)
            if self.request.query:
                url += "?" + self.request.query
            body = self.request.body if method == "POST" else None
            # The APIs speak JSON only; a client that forgot to say so still means JSON.
            headers = {"Content-Type": self.request.headers.get("Content-Type", "application/json")}
            async with conn.client(self.timeout()) as client:
                try:
                    answer = await client.request(method, url, content=body, headers=headers)
                except httpx.TransportError as exc:
                    raise HandlerError(502, unreachable_detail(conn.gateway, exc)) from exc
                except NotLoggedIn as exc:
                    raise HandlerError(401, f"{exc} (in a terminal), then reload") from exc
            if answer.status_code >= 400:
                raise HandlerError(answer.status_code, conn.refusal_detail(answer))
        except HandlerError as error:
            self.finish_error(error)
            return
        self.set_status(answer.status_code)
        for name in PASSED_HEADERS:
            if name in answer.headers:
                self.set_header(name, answer.headers[name])
        if answer.status_code == 204:
            self.finish()
        else:
            self.finish(answer.content)

    @web.authenticated
    @authorized
    async def get(self, service: str, path: str) -> None:
        await self._forward("GET", service, path)

    @web.authenticated
    @authorized
    async def post(self, service: str, path: str) -> None:
        await self._forward("POST", service, path)

    @web.authenticated
    @authorized
    async def delete(self, service: str, path: str) -> None:
        await self._forward("DELETE", service, path)
