"""What every nsight-lab handler shares: the connection and JSON errors with a ``detail``.

Errors keep the shape the gateway uses (``{"detail": "..."}``), so the panel shows a
gateway refusal and a local failure alike, next to the control the user clicked.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin

from nsight_lab.auth.credentials import NotLoggedIn
from nsight_lab.config import ConfigError
from nsight_lab.jupyter.server.connection import GatewayConnection, unreachable_detail

AUTH_RESOURCE = "nsight-lab"
#: With ``forward_user_token`` on, a request that brings no login is refused rather
#: than served with the server's own credential, which may see every tenant.
NO_FORWARDED_LOGIN = (
    "this JupyterLab acts as each signed-in user, and no login came with the request: "
    "open it through the nsight-lab gateway's address and sign in (if you did, the "
    "gateway does not pass tokens on to JupyterLab; its UI upstream needs forward_token)"
)


class HandlerError(Exception):
    """Ends a request with ``status`` and ``{"detail": detail}``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class NsightHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def nsight(self) -> Any:
        """The :class:`NsightLabExtension` that registered this handler."""
        return self.extensionapp

    def connection(self) -> GatewayConnection:
        token = self.forwarded_user_token()
        if token is None and self.nsight.forward_user_token:
            raise HandlerError(401, NO_FORWARDED_LOGIN)
        try:
            conn: GatewayConnection = self.nsight.connection(token)
        except ConfigError as exc:
            raise HandlerError(500, str(exc)) from exc
        return conn

    def forwarded_user_token(self) -> str | None:
        """The signed-in user's bearer token, when the gateway forwards one and the server
        is configured to use it; never the Jupyter server's own token."""
        if not self.nsight.forward_user_token:
            return None
        scheme, _, value = self.request.headers.get(
            self.nsight.forwarded_token_header, ""
        ).partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            return None
        own = getattr(self.identity_provider, "token", "") or ""
        return None if own and value == own else value

    def timeout(self) -> float:
        return float(self.nsight.request_timeout)

    def finish_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def finish_error(self, error: HandlerError) -> None:
        self.finish_json({"detail": error.detail}, error.status)

    def json_body(self, example: str) -> dict[str, Any]:
        """The request body as a JSON object, or a 400 that shows ``example``."""
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise HandlerError(400, f"request body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise HandlerError(400, f"request body must be an object like {example}")
        return body

    async def post_json(self, answer: Callable[[], Awaitable[Any]]) -> None:
        """Finish a POST with ``await answer()`` as JSON, or with its error."""
        try:
            self.finish_json(await answer())
        except HandlerError as error:
            self.finish_error(error)

    async def gateway_json(
        self,
        conn: GatewayConnection,
        service: str,
        path: str,
        *,
        method: str = "GET",
        body: Any = None,
    ) -> Any:
        """One call to the gateway whose failures become :class:`HandlerError`."""
        url = conn.api_root(service) + path
        async with conn.client(self.timeout()) as client:
            try:
                response = await client.request(method, url, json=body)
            except httpx.TransportError as exc:
                raise HandlerError(502, unreachable_detail(conn.gateway, exc)) from exc
            except NotLoggedIn as exc:
                raise HandlerError(401, f"{exc} (in a terminal), then reload") from exc
        if response.status_code >= 400:
            raise HandlerError(response.status_code, conn.refusal_detail(response))
        return response.json() if response.content else None
