"""The two interactive logins: a browser with a local callback, or a device code.

Authorization code with PKCE: a one-shot HTTP server on 127.0.0.1 receives the
provider's redirect on ``http://localhost:<port>/callback`` (8400 by default, the URI
users register with their IdP), checks ``state``, and the code is exchanged with the
PKCE verifier, so an intercepted code is useless. Device authorization: the user opens
a URL on any device and types the code; we poll at the pace the provider asks for
until it answers, the code expires, or the user refuses.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nsight_lab.auth.oidc import (
    DeviceAuthorization,
    Endpoints,
    OAuthClient,
    OAuthError,
    Pkce,
    authorization_url,
    exchange_code,
    poll_device_token,
    start_device_authorization,
)
from nsight_lab.auth.tokens import TokenSet

DEFAULT_CALLBACK_PORT = 8400
CALLBACK_PATH = "/callback"
LOGIN_TIMEOUT_S = 300.0

_DONE_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>nsight-lab login</title></head><body style="font-family:sans-serif;margin:3em">
<h1 id="nsight-login-result">{title}</h1><p>{message}</p></body></html>"""


def redirect_uri_for(port: int) -> str:
    return f"http://localhost:{port}{CALLBACK_PATH}"


class _Callback:
    """What the browser brought back: a code, or an error."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.code: str | None = None
        self.error: str | None = None
        self.done = threading.Event()


def _handler_for(result: _Callback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: no access log
            pass

        def _page(self, status: int, title: str, message: str) -> None:
            body = _DONE_PAGE.format(title=html.escape(title), message=html.escape(message))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != CALLBACK_PATH:
                self._page(404, "Not found", "This is nsight-lab's login callback.")
                return
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            if params.get("state") != result.state:
                # Not the answer to our request (stale tab, or someone else's link): ignore
                # it and keep waiting for the real one.
                self._page(400, "Login not recognised", "Start again with `nsight-lab login`.")
                return
            if "error" in params:
                result.error = f"{params['error']}: {params.get('error_description', '')}".strip()
                self._page(400, "Login failed", result.error)
            elif params.get("code"):
                result.code = params["code"]
                self._page(200, "Logged in", "You can close this tab and return to the terminal.")
            else:
                self._page(400, "Login failed", "The answer carried no code.")
                return
            result.done.set()

    return Handler


def login_with_browser(
    client: OAuthClient,
    endpoints: Endpoints,
    *,
    port: int = DEFAULT_CALLBACK_PORT,
    open_browser: bool = True,
    timeout: float = LOGIN_TIMEOUT_S,
    on_url: Callable[[str], None] = lambda url: None,
) -> TokenSet:
    """Authorization code with PKCE through the user's browser; the tokens."""
    pkce = Pkce.new()
    state = secrets.token_urlsafe(24)
    redirect_uri = redirect_uri_for(port)
    url = authorization_url(client, endpoints, redirect_uri=redirect_uri, state=state, pkce=pkce)
    result = _Callback(state)
    try:
        server = HTTPServer(("127.0.0.1", port), _handler_for(result))
    except OSError as exc:
        raise OAuthError(
            f"cannot listen on localhost:{port} for the login callback ({exc.strerror}). "
            f"Free the port, or use `nsight-lab login --port N` with "
            f"http://localhost:N{CALLBACK_PATH} registered at the identity provider"
        ) from exc
    server.timeout = 0.2
    thread = threading.Thread(target=_serve_until, args=(server, result, timeout), daemon=True)
    thread.start()
    try:
        on_url(url)
        if open_browser:
            webbrowser.open(url)
        if not result.done.wait(timeout):
            raise OAuthError(
                f"no answer from the browser within {timeout:.0f} s; run `nsight-lab login` "
                "again (or `--oauth-flow-type device` where no browser can reach this machine)"
            )
    finally:
        result.done.set()
        thread.join(5)
        server.server_close()
    if result.error or not result.code:
        raise OAuthError(f"the identity provider refused the login: {result.error}")
    return exchange_code(client, endpoints, code=result.code, redirect_uri=redirect_uri, pkce=pkce)


def _serve_until(server: HTTPServer, result: _Callback, timeout: float) -> None:
    deadline = time.monotonic() + timeout + 1
    while not result.done.is_set() and time.monotonic() < deadline:
        server.handle_request()


def login_with_device(
    client: OAuthClient,
    endpoints: Endpoints,
    *,
    on_code: Callable[[DeviceAuthorization], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> TokenSet:
    """Device authorization grant: show the code, poll until approved; the tokens."""
    device = start_device_authorization(client, endpoints)
    on_code(device)
    deadline = clock() + device.expires_in
    wait = device.interval
    while clock() < deadline:
        sleep(min(wait, max(deadline - clock(), 0)))
        answer = poll_device_token(client, endpoints, device)
        if isinstance(answer, TokenSet):
            return answer
        wait = answer
        device = DeviceAuthorization(**{**device.__dict__, "interval": answer})
    raise OAuthError("the code expired before it was approved; run `nsight-lab login` again")
