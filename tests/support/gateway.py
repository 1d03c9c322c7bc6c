"""What gateway tests need around a real Envoy: keys, tokens, certificates, specs.

Keys are made fresh per test session; certificates come from
:class:`tests.support.tls.TestCA`; tokens are signed with ``joserfc``, or assembled by hand where the test needs a
token no honest library would produce (``alg: none``, HS256 over the public key,
a tampered signature).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.support.jwt_check import header_and_claims

ISSUER = "https://issuer.nsight.test"
AUDIENCE = "nsight-lab"
SHARED_SECRET = "gateway-secret-for-tests-0123456789abcdef"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    """A private key the tests sign with and its public JWK (what Envoy trusts)."""

    kid: str
    alg: str
    key: RSAKey | ECKey

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", RSAKey.generate_key(2048, parameters={"kid": kid}))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ECKey.generate_key("P-256", parameters={"kid": kid}))

    def public_jwk(self) -> dict[str, Any]:
        jwk = self.key.as_dict(private=False)
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk

    def public_pem(self) -> bytes:
        return self.key.as_pem(private=False)

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        header = {"alg": self.alg, "kid": kid or self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=[self.alg])


def jwks(*keys: SigningKey) -> str:
    return json.dumps({"keys": [k.public_jwk() for k in keys]})


def claims(
    *,
    sub: str = "alice",
    iss: str = ISSUER,
    aud: str | list[str] = AUDIENCE,
    lifetime: int = 600,
    not_before: int | None = None,
    issued: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    now = int(time.time())
    out: dict[str, Any] = {
        "iss": iss,
        "sub": sub,
        "aud": aud,
        "iat": issued if issued is not None else now,
        "exp": now + lifetime,
    }
    if not_before is not None:
        out["nbf"] = not_before
    out.update(extra)
    return out


def unsigned_token(payload: dict[str, Any], header: dict[str, Any]) -> str:
    """``header.payload.`` with an empty signature (for ``alg: none``)."""
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), ""])


def hs256_with_public_key(key: SigningKey, payload: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HMAC-SHA256 keyed with the public key's PEM."""
    header = {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
    signing_input = ".".join(
        [b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode())]
    )
    mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


def tamper(token: str) -> str:
    """The same token with one payload claim changed and the old signature kept."""
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["sub"] = "mallory"
    payload.pop("nsight_tags", None)
    return ".".join([head, b64url(json.dumps(payload).encode()), sig])


# --- the services and Envoys in front of them, in this process ----------------------


_INGEST_ENV = "NSIGHT_LAB_ANALYSIS_INGEST"


class ServicesUnderTest:
    """Both services, in this process, answering only requests with ``SHARED_SECRET``.

    In-process so a test can read each service's :class:`~nsight_lab.servicekit.Tally`
    (what got past its guard) and prove that refused requests reached nothing. Several
    Envoys (one per auth mode) may front the same services.
    """

    def __init__(self, data_dir: Path) -> None:
        from nsight_lab.embedded.stack import BackgroundServer, StackConfig, build_app, free_port
        from nsight_lab.servicekit import GatewaySettings

        self.port = free_port()
        # No ingest loop: its polls of the coordinator are the analysis service's own
        # calls, and would move the tallies that prove refused requests reached nothing.
        previous = os.environ.get(_INGEST_ENV)
        os.environ[_INGEST_ENV] = "false"
        try:
            self.app = build_app(
                StackConfig(
                    data_dir=data_dir,
                    port=self.port,
                    gateway=GatewaySettings(secret=SHARED_SECRET, secret_file=None),
                )
            )
        finally:
            if previous is None:
                del os.environ[_INGEST_ENV]
            else:
                os.environ[_INGEST_ENV] = previous
        #: Credentials that reached the services on requests Envoy forwarded (any
        #: Authorization or Cookie header next to the gateway's secret): must stay empty.
        self.leaked: list[tuple[str, str]] = []
        watched: Any = _CredentialWatch(self.app, self.leaked)
        self.server = BackgroundServer(watched, "127.0.0.1", self.port)
        self.url = self.server.url

    def start(self) -> ServicesUnderTest:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def apps(self) -> dict[str, Any]:
        return dict(self.app.state.services)

    def admitted(self) -> dict[str, int]:
        """Requests past each guard so far (the top app's index and both services)."""
        counts = {name: app.state.tally.admitted_total for name, app in self.apps().items()}
        counts["index"] = self.app.state.tally.admitted_total
        return counts


class _CredentialWatch:
    """Outermost ASGI layer of the services under test: notes credentials that arrive
    on gateway-forwarded requests, then passes everything on untouched."""

    def __init__(self, app: Any, leaked: list[tuple[str, str]]) -> None:
        self.app = app
        self.state = app.state
        self.leaked = leaked

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if headers.get("x-nsight-gateway-secret") == SHARED_SECRET:
                for name in ("authorization", "cookie"):
                    if name in headers:
                        self.leaked.append((scope["path"], f"{name}: {headers[name][:40]}"))
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class UiRequest:
    """What one request forwarded to the UI carried (header names lower-case)."""

    host: str
    path: str
    authorization: str | None
    identity: str | None
    has_secret: bool


class UiProbe:
    """A recording upstream at the gateway's ``/``, where a cluster serves JupyterLab
    (``forward_token=True``), for the attacker-side tests: it answers 200 and notes what
    each forwarded request carried. A probe, not a JupyterLab: the browser tests in
    ``tests/ui`` put the real one there."""

    def __init__(self) -> None:
        self.seen: list[UiRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        probe = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                probe.seen.append(
                    UiRequest(
                        host=self.headers.get("Host", ""),
                        path=self.path,
                        authorization=self.headers.get("Authorization"),
                        identity=self.headers.get("x-nsight-identity"),
                        has_secret=self.headers.get("x-nsight-gateway-secret") == SHARED_SECRET,
                    )
                )
                body = b"the UI\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        return Handler

    def start(self) -> UiProbe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class EnvoyUnderTest:
    """A real Envoy serving ``spec`` in front of ``services`` (and ``ui`` at ``/``,
    taking the verified token, when given; else the services' index)."""

    def __init__(
        self,
        spec: Any,
        services: ServicesUnderTest,
        work: Path,
        *,
        oidc: Any = None,
        ui: UiProbe | None = None,
    ) -> None:
        from nsight_lab.gateway import Upstream, Upstreams, render_bootstrap
        from nsight_lab.gateway.envoy import EnvoyProcess

        def upstream(prefix: str) -> Any:
            return Upstream("127.0.0.1", services.port, prefix)

        front = upstream("/") if ui is None else Upstream("127.0.0.1", ui.port, forward_token=True)
        bootstrap = render_bootstrap(
            spec,
            Upstreams(upstream("/coordinator/"), upstream("/analysis/"), front),
            SHARED_SECRET,
            oidc=oidc,
            listen_address="127.0.0.1",
        )
        work.mkdir(parents=True, exist_ok=True)
        self.log_path = work / "envoy.log"
        self._log = self.log_path.open("ab")
        self.process = EnvoyProcess(bootstrap, work, log=self._log)
        scheme = "https" if spec.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{spec.port}"
        self.admin_url = self.process.admin_url

    def start(self) -> EnvoyUnderTest:
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()
        self._log.close()


# --- the gateway of `nsight-lab up --auth`, in this process, for the clients' tests --


#: These tests run no analyses: one cold worker starts (and stops) quickest, and no
#: ingest loop polls the coordinator between the requests the tests count.
LEAN_ANALYSIS = {
    "NSIGHT_LAB_ANALYSIS_WORKERS": "1",
    "NSIGHT_LAB_ANALYSIS_WARM_KERNEL": "false",
    _INGEST_ENV: "false",
}

#: Paths of the harness's own requests (log markers, key-retirement probes); they go
#: to the UI route and are left out of :meth:`UpGateway.passages`.
HARNESS_PATH = "/_harness/"


@dataclass(frozen=True)
class Passage:
    """One request as Envoy's access log tells it: who Envoy let in with which token
    (``jti``), or why it refused (``details``)."""

    method: str
    path: str
    status: int
    #: The identity header Envoy added (the token's ``sub``); None when refused.
    caller: str | None
    #: The verified token's ``jti``; None when no token was verified.
    token: str | None
    #: Envoy's reason: ``via_upstream``, ``jwt_authn_access_denied{Jwt_is_missing}``...
    details: str


_PASSAGE = re.compile(
    r'"(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d+) .* caller="(?P<caller>[^"]*)" '
    r"upstream=\S+ token=(?P<token>\S+) details=(?P<details>\S+)$"
)


def token_id(token: str) -> str:
    """A JWT's ``jti``: what the access log names instead of the token."""
    return str(header_and_claims(token)[1]["jti"])


class UpGateway:
    """What ``nsight-lab up --auth ...`` runs (:func:`nsight_lab.embedded.gateway.gateway_stack`),
    in this process: the real services on a private port behind a real Envoy rendered by
    our renderer. :meth:`for_idp` makes it ``up --auth jwt --jwks-uri <the provider's>
    --issuer --audience``, refetching the provider's keys every second so a key the
    provider retires stops working at once (:meth:`retire_signing_key`).

    What the clients sent is read where an operator reads it, Envoy's access log
    (:meth:`passages`), never from inside the clients.
    """

    def __init__(self, data_dir: Path, options: Any, *, idp: Any = None) -> None:
        self.data_dir = data_dir
        self.options = options
        #: The :class:`~tests.support.oidc_provider.OidcProvider` whose keys it trusts.
        self.idp = idp
        self.log_path = data_dir / "gateway" / "envoy.log"
        self.url = ""
        self._context: Any = None
        self._marks = 0

    @classmethod
    def for_idp(cls, idp: Any, data_dir: Path) -> UpGateway:
        from nsight_lab.embedded.gateway import GatewayOptions

        options = GatewayOptions(
            modes=("jwt",),
            jwks_uri=idp.discovery()["jwks_uri"],
            issuer=idp.issuer,
            audiences=(idp.audience,),
            jwks_cache_s=1,
        )
        return cls(data_dir, options, idp=idp)

    def __enter__(self) -> UpGateway:
        from nsight_lab.embedded.gateway import gateway_stack
        from nsight_lab.embedded.stack import StackConfig, free_port

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._context = gateway_stack(
            StackConfig(data_dir=self.data_dir, port=free_port()), self.options
        )
        with mock.patch.dict(os.environ, LEAN_ANALYSIS):
            self.url = self._context.__enter__().url
        return self

    def __exit__(self, *exc: object) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None

    def mark(self) -> str:
        """A marker in the access log (a request of the harness's own): pass it to
        :meth:`passages` as ``since`` to get only what came after."""
        self._marks += 1
        marker = f"{HARNESS_PATH}mark-{self._marks}"
        with httpx.Client(timeout=10) as client:
            client.get(self.url + marker)
        return marker

    def passages(self, since: str | None = None, timeout: float = 10.0) -> list[Passage]:
        """The requests so far (after the marker ``since``), oldest first, once Envoy
        has written them all: a new marker is sent and waited for, so nothing earlier
        is still in Envoy's buffer (it flushes about once a second)."""
        end = self.mark()
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log_path.read_text(errors="replace").splitlines()
            if any(f" {end} " in line for line in lines):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"Envoy did not log {end} within {timeout}s")
            time.sleep(0.05)
        if since is not None:
            lines = lines[next(i for i, line in enumerate(lines) if f" {since} " in line) :]
        out = []
        for line in lines:
            if (found := _PASSAGE.search(line)) and not found["path"].startswith(HARNESS_PATH):
                out.append(
                    Passage(
                        method=found["method"],
                        path=found["path"],
                        status=int(found["status"]),
                        caller=None if found["caller"] == "-" else found["caller"],
                        token=None if found["token"] == "-" else found["token"],
                        details=found["details"],
                    )
                )
        return out

    @classmethod
    @contextmanager
    def with_own_idp(cls, data_dir: Path) -> Iterator[UpGateway]:
        """A provider of the caller's own (so its keys may be retired without touching
        anyone else's tokens) and the gateway trusting it; both stop at the end."""
        from tests.support.oidc_provider import OidcProvider

        with OidcProvider() as idp, cls.for_idp(idp, data_dir) as gateway:
            yield gateway

    def retire_signing_key(self, token: str, timeout: float = 15.0) -> None:
        """The provider signs with a new key and stops publishing the one that signed
        ``token``; returns once Envoy has refetched the keys and refuses ``token`` (it
        is otherwise still valid: the gateway will not take it any more)."""
        self.idp.rotate_keys(drop_old=True)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=10) as client:
            while True:
                answer = client.get(
                    self.url + HARNESS_PATH + "probe", headers={"Authorization": f"Bearer {token}"}
                )
                if answer.status_code == 401:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"Envoy still takes the retired key's token: {answer}")
                time.sleep(0.1)
