"""Services trust the gateway, not the network.

Behind a gateway, Envoy adds a per-deployment secret header to every request it lets
through, and the identity and tags headers of the caller it authenticated
(:mod:`nsight_lab.gateway.identity`). :class:`GatewayGuard` is the outermost layer
of each service: a request without the exact secret is answered 401 before any
routing, so going around Envoy (straight to a service's port) reaches nothing. The
identity headers are believed only on requests that carry the secret; without a
gateway configured, they are ignored and every caller is anonymous and unlimited
(``nsight-lab up`` on loopback).

:class:`Tally` counts what passed the guard, so tests can prove that refused
requests never reached a route.
"""

from __future__ import annotations

import hmac
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Receive, Scope, Send

from nsight_lab.gateway.identity import ANONYMOUS, Caller, parse_caller
from nsight_lab.gateway.spec import Headers

_CALLER_KEY = "nsight.caller"
_DEFAULT_HEADERS = Headers()


class GatewaySettings(BaseSettings):
    """``NSIGHT_LAB_GATEWAY_*``: shared by both services of one deployment."""

    model_config = SettingsConfigDict(env_prefix="NSIGHT_LAB_GATEWAY_", extra="ignore")

    #: The per-deployment secret Envoy adds; unset: no gateway, nothing is checked.
    secret: SecretStr | None = None
    #: The same, read from a file (a mounted Kubernetes Secret).
    secret_file: Path | None = None
    identity_header: str = _DEFAULT_HEADERS.identity
    tags_header: str = _DEFAULT_HEADERS.tags
    secret_header: str = _DEFAULT_HEADERS.secret

    @model_validator(mode="after")
    def _read_file(self) -> GatewaySettings:
        if self.secret is None and self.secret_file is not None:
            text = self.secret_file.read_text(encoding="utf-8").strip()
            object.__setattr__(self, "secret", SecretStr(text))
        if self.secret is not None and len(self.secret.get_secret_value()) < 32:
            raise ValueError("NSIGHT_LAB_GATEWAY_SECRET must be at least 32 characters")
        return self

    @property
    def enabled(self) -> bool:
        return self.secret is not None

    def outgoing_headers(self, caller: Caller) -> dict[str, str]:
        """Headers for a service-to-service call on behalf of ``caller`` (the analysis
        service asking the coordinator), so the callee scopes it to the same tags."""
        if self.secret is None:
            return {}
        headers = {self.secret_header: self.secret.get_secret_value()}
        if caller.name is not None:
            headers[self.identity_header] = caller.name
        if caller.tags is not None:
            headers[self.tags_header] = ",".join(sorted(caller.tags))
        return headers


@dataclass
class Tally:
    """Requests each service let past its guard, by path; and those it refused."""

    admitted: Counter[str] = field(default_factory=Counter)
    refused: int = 0

    @property
    def admitted_total(self) -> int:
        return sum(self.admitted.values())


_REFUSAL = json.dumps(
    {
        "detail": "this service only answers requests that come through its gateway; "
        "send it to the gateway's URL (nsight-lab configure --gw URL)"
    }
).encode()


class GatewayGuard:
    """ASGI middleware: refuse without the secret, else attach the :class:`Caller`."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings, tally: Tally) -> None:
        self.app = app
        self.settings = settings
        self.tally = tally
        secret = settings.secret.get_secret_value() if settings.secret else None
        self._secret = secret.encode() if secret else None
        self._names = (
            settings.secret_header.encode(),
            settings.identity_header.encode(),
            settings.tags_header.encode(),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self._secret is None:
            scope[_CALLER_KEY] = ANONYMOUS
            self.tally.admitted[scope.get("path", "")] += 1
            await self.app(scope, receive, send)
            return
        found: dict[bytes, list[bytes]] = {}
        for name, value in scope.get("headers", ()):
            lowered = name.lower()
            if lowered in self._names:
                found.setdefault(lowered, []).append(value)
        sent = found.get(self._names[0], [])
        if len(sent) != 1 or not hmac.compare_digest(sent[0], self._secret):
            self.tally.refused += 1
            await _refuse(scope, receive, send)
            return
        identity = found.get(self._names[1])
        tags = found.get(self._names[2])
        if (identity and len(identity) > 1) or (tags and len(tags) > 1):
            # Envoy sets each once; two copies mean something upstream of us is wrong.
            self.tally.refused += 1
            await _refuse(scope, receive, send)
            return
        scope[_CALLER_KEY] = parse_caller(
            identity[0].decode("latin-1") if identity else None,
            tags[0].decode("latin-1") if tags else None,
        )
        self.tally.admitted[scope.get("path", "")] += 1
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4401})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_REFUSAL)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _REFUSAL})


def install_gateway_guard(app: Any, settings: GatewaySettings) -> Tally:
    """Wrap ``app`` (FastAPI/Starlette) in the guard; returns its :class:`Tally`."""
    tally = Tally()
    app.add_middleware(GatewayGuard, settings=settings, tally=tally)
    app.state.tally = tally
    app.state.gateway = settings
    return tally


def caller_of(request: Request) -> Caller:
    """The caller the guard attached (anonymous when no guard runs, e.g. unit tests)."""
    caller = request.scope.get(_CALLER_KEY, ANONYMOUS)
    assert isinstance(caller, Caller)
    return caller


CallerDep = Annotated[Caller, Depends(caller_of)]
