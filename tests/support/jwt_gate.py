"""A stand-in for the gateway's JWT check, for tests of the clients' token handling.

It answers 200 with ``{"tags": []}`` (any path) when the request carries a bearer JWT
that verifies against the identity provider's published JWKS and has not expired, and
401 otherwise, recording every Authorization header it saw. It exists so the clients'
refresh, retry and advice logic can be tested against a real provider without the
Envoy gateway; the tests that go through the real Envoy (``up --auth``) live beside
them and need no stand-in.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.jwt_check import verify
from tests.support.oidc_provider import OidcProvider


class JwtGate:
    """``with JwtGate(idp) as gate:`` serves on ``gate.url`` until the block ends."""

    def __init__(self, idp: OidcProvider, *, audience: str | None = None) -> None:
        self.idp = idp
        self.audience = audience or idp.audience
        self.seen: list[str | None] = []
        #: Tokens refused even if valid (as if revoked early at the gateway's side).
        self.refuse: set[str] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _jwks(self) -> dict[str, Any]:
        with self.idp.http(timeout=10) as client:
            return dict(client.get(self.idp.discovery()["jwks_uri"]).json())

    def check(self, header: str | None) -> str | None:
        """None when acceptable, else the reason it is not."""
        if not header or not header.startswith("Bearer "):
            return "Jwt is missing"
        token = header.removeprefix("Bearer ")
        if token in self.refuse:
            return "Jwt is refused"
        try:
            claims = verify(token, self._jwks())
        except Exception as exc:
            return f"Jwt verification fails ({exc})"
        if claims.get("exp", 0) <= time.time():
            return "Jwt is expired"
        if claims.get("aud") != self.audience:
            return "Audiences in Jwt are not allowed"
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                header = self.headers.get("Authorization")
                gate.seen.append(header)
                reason = gate.check(header)
                status, body = (401, reason.encode()) if reason else (200, b"[]")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if reason else "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _answer
            do_POST = _answer

        return Handler

    def __enter__(self) -> JwtGate:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
