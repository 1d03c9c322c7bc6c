"""A real OpenID Connect provider on loopback, for every test that needs an identity provider.

It is ``oidc-provider`` 9.x (the npm package, run by Node) with our small configuration
in ``tests/support/oidc/provider.mjs``; install it once with
``bash scripts/install-oidc-provider.sh`` (``npm ci`` from the lockfile into
``tests/support/oidc/node_modules``, git-ignored; ``scripts/bootstrap.sh --dev`` runs it).

How to use it
-------------
The session fixture ``oidc_provider`` (in ``tests/conftest.py``) is one provider with the
default clients and users below. A test that changes lifetimes or keys for its own sake
starts its own with ``oidc_provider_factory(...)`` or ``with OidcProvider(...) as idp:``::

    def test_something(oidc_provider):
        idp = oidc_provider
        idp.issuer                      # "http://127.0.0.1:<port>"; discovery at
                                        # idp.issuer + "/.well-known/openid-configuration"
        idp.discovery()["jwks_uri"]     # the JWKS the gateway's jwt_authn fetches
        tokens = idp.device_login(ALICE)            # a real token set, no browser
        tokens["access_token"]          # JWT, aud = AUDIENCE, ALICE's tags in TAGS_CLAIM
        idp.client_credentials(AGENT_CLIENT_ID, AGENT_CLIENT_SECRET)  # a machine token
        idp.set_ttl(access_token=2)     # shorter lifetimes for tokens issued from now on
        idp.rotate_keys(drop_old=True)  # a new signing key (new kid) from now on
        idp.state()["counters"]["jwks"] # how often the JWKS was fetched

    # A person in a browser, played over HTTP (cookies, forms, redirects), for flows
    # whose browser step is not under test:
    user = IdpUser(idp)
    user.approve_device(verification_uri_complete, ALICE)      # device flow
    redirect = user.authorize(authorization_url, ALICE)        # code flow: the final
                                                               # redirect to the client

Clients
-------
- ``CLI_CLIENT_ID``: public native client (the CLI): code flow with PKCE on any
  ``http://localhost:<port>/callback``, device flow, refresh tokens.
- ``GATEWAY_CLIENT_ID`` / ``GATEWAY_CLIENT_SECRET``: confidential web client for Envoy's
  oauth2 filter. Its redirect URIs are given per provider
  (``OidcProvider(gateway_redirect_uris=["https://127.0.0.1:<port>/oauth2/callback"])``),
  since the gateway's port is only known at test time.
- ``AGENT_CLIENT_ID`` / ``AGENT_CLIENT_SECRET``: a machine client (client credentials),
  tokens carrying the tags ``AGENT_TAGS``, for agents that authenticate with a token.

Users: ``ALICE`` (tags ``["alpha"]``), ``BOB`` (tags ``["beta"]``) and ``ROOT`` (no tags
claim at all); each has a known password, and the login page refuses a wrong one.

The provider listens on 127.0.0.1 only, and ends by itself when the test process goes
away (its stdin closes) or after ``max_lifetime_s``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0

AUDIENCE = "https://nsight-lab.test/api"
TAGS_CLAIM = "nsight_tags"
CLI_CLIENT_ID = "nsight-cli"
GATEWAY_CLIENT_ID = "nsight-gateway"
GATEWAY_CLIENT_SECRET = "gateway-client-secret-for-tests-only"
AGENT_CLIENT_ID = "nsight-agent"
AGENT_CLIENT_SECRET = "agent-client-secret-for-tests-only"
AGENT_TAGS = ["alpha"]
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # not a pytest test class

    username: str
    password: str
    tags: list[str] | None = None

    def settings(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"username": self.username, "password": self.password}
        if self.tags is not None:
            entry["tags"] = self.tags
        return entry


ALICE = TestUser("alice", "alice-password-1", ["alpha"])
BOB = TestUser("bob", "bob-password-2", ["beta"])
ROOT = TestUser("root", "root-password-3", None)
USERS = (ALICE, BOB, ROOT)


def find_node() -> str | None:
    return os.environ.get("NSIGHT_LAB_NODE") or shutil.which("node")


def oidc_provider_missing_reason() -> str | None:
    """Why the provider cannot run here, or None (CI installs both, so there it fails)."""
    if find_node() is None:
        return "Node.js is not on PATH (the OIDC provider for auth tests runs on it)"
    if not (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return "oidc-provider is not installed: run `bash scripts/install-oidc-provider.sh`"
    return None


def default_clients(gateway_redirect_uris: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Client metadata in oidc-provider's (RFC 7591) spelling."""
    gateway_uris = list(gateway_redirect_uris) or ["https://127.0.0.1/oauth2/callback"]
    return [
        {
            "client_id": CLI_CLIENT_ID,
            "client_name": "nsight-lab CLI",
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token", DEVICE_GRANT],
            "response_types": ["code"],
            "redirect_uris": ["http://localhost:8400/callback"],
        },
        {
            "client_id": GATEWAY_CLIENT_ID,
            "client_name": "nsight-lab gateway",
            "client_secret": GATEWAY_CLIENT_SECRET,
            "application_type": "web",
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": gateway_uris,
            "post_logout_redirect_uris": [
                re.sub(r"/oauth2/callback$", "/", uri) for uri in gateway_uris
            ],
        },
        {
            "client_id": AGENT_CLIENT_ID,
            "client_name": "nsight-lab agents",
            "client_secret": AGENT_CLIENT_SECRET,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "nsight_tags": AGENT_TAGS,
        },
    ]


class OidcProviderError(RuntimeError):
    pass


class OidcProvider:
    """``with OidcProvider() as idp:`` runs the provider until the block ends.

    ``ttl`` keys: access_token, id_token, refresh_token, device_code, session (seconds).
    ``tls``: (cert, key) PEM paths to serve HTTPS (see :mod:`tests.support.tls`), with
    ``ca_file`` the CA clients must trust.
    """

    def __init__(
        self,
        *,
        ttl: Mapping[str, int] | None = None,
        users: Iterable[TestUser] = USERS,
        clients: list[dict[str, Any]] | None = None,
        gateway_redirect_uris: Iterable[str] = (),
        tls: tuple[Path, Path] | None = None,
        ca_file: Path | None = None,
        signing_alg: str = "RS256",
        audience: str = AUDIENCE,
        tags_claim: str = TAGS_CLAIM,
        max_lifetime_s: int = 3600,
        device_interval_s: int = 1,
    ) -> None:
        if (reason := oidc_provider_missing_reason()) is not None:
            raise OidcProviderError(reason)
        self.admin_token = secrets.token_urlsafe(16)
        self.audience = audience
        self.tags_claim = tags_claim
        self.ca_file = ca_file
        self.users = {user.username: user for user in users}
        self._home = Path(tempfile.mkdtemp(prefix="nsight-oidc-"))
        self.log_path = self._home / "provider.log"
        settings: dict[str, Any] = {
            "admin_token": self.admin_token,
            "audience": audience,
            "tags_claim": tags_claim,
            "signing_alg": signing_alg,
            "ttl": dict(ttl or {}),
            "users": [user.settings() for user in users],
            "clients": clients if clients is not None else default_clients(gateway_redirect_uris),
            "max_lifetime_s": max_lifetime_s,
            "device_interval_s": device_interval_s,
        }
        if tls is not None:
            settings["tls"] = {"cert": str(tls[0]), "key": str(tls[1])}
        self._settings_file = self._home / "settings.json"
        self._settings_file.write_text(json.dumps(settings, indent=2))
        self._proc: subprocess.Popen[bytes] | None = None
        self.issuer = ""
        self.port = 0

    # --- life cycle ------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT_S) -> OidcProvider:
        node = find_node()
        assert node is not None
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [node, str(OIDC_DIR / "provider.mjs"), str(self._settings_file)],
            cwd=OIDC_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        log.close()
        ready: dict[str, Any] = {}

        def read_ready() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            line = self._proc.stdout.readline()
            if line:
                ready.update(json.loads(line))

        reader = threading.Thread(target=read_ready, daemon=True)
        reader.start()
        reader.join(timeout)
        if ready.get("event") != "ready":
            self.stop()
            raise OidcProviderError(
                f"the OIDC provider did not start within {timeout:.0f} s; its log:\n"
                + self.log_text()[-4000:]
            )
        self.issuer = str(ready["issuer"])
        self.port = int(ready["port"])
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the provider exits when its stdin closes
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self._home, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- plain HTTP to the provider --------------------------------------------------

    def http(self, **kwargs: Any) -> httpx.Client:
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True
        )
        return httpx.Client(verify=verify, **kwargs)

    def discovery(self) -> dict[str, Any]:
        with self.http(timeout=10) as client:
            response = client.get(self.issuer + "/.well-known/openid-configuration")
            response.raise_for_status()
            return dict(response.json())

    def _admin(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        with self.http(timeout=10) as client:
            response = client.request(
                method, self.issuer + path, json=body, headers={"x-test-admin": self.admin_token}
            )
            response.raise_for_status()
            return dict(response.json())

    def state(self) -> dict[str, Any]:
        """Current kids, lifetimes and per-route request counters (jwks, token, ...)."""
        return self._admin("GET", "/_test/state")

    def set_ttl(self, **ttl: int) -> dict[str, Any]:
        """Lifetimes, in seconds, for what is issued from now on."""
        return self._admin("POST", "/_test/ttl", ttl)

    def rotate_keys(self, *, drop_old: bool = False) -> str:
        """Sign with a new key from now on; returns its kid. ``drop_old`` unpublishes the rest."""
        return str(self._admin("POST", "/_test/rotate-keys", {"drop_old": drop_old})["kid"])

    # --- tokens without a browser ----------------------------------------------------

    def device_login(
        self, user: TestUser, *, client_id: str = CLI_CLIENT_ID, scope: str | None = None
    ) -> dict[str, Any]:
        """A whole device flow with ``user`` approving over HTTP; the token response."""
        endpoints = self.discovery()
        with self.http(timeout=10) as client:
            start = client.post(
                endpoints["device_authorization_endpoint"],
                data={"client_id": client_id, "scope": scope or "openid offline_access profile"},
            )
            start.raise_for_status()
            grant = start.json()
            IdpUser(self).approve_device(grant["verification_uri_complete"], user)
            answer = client.post(
                endpoints["token_endpoint"],
                data={
                    "grant_type": DEVICE_GRANT,
                    "device_code": grant["device_code"],
                    "client_id": client_id,
                },
            )
            if answer.status_code != 200:
                raise OidcProviderError(f"device token request failed: {answer.text}")
            return dict(answer.json())

    def client_credentials(self, client_id: str, client_secret: str) -> dict[str, Any]:
        endpoints = self.discovery()
        with self.http(timeout=10) as client:
            answer = client.post(
                endpoints["token_endpoint"],
                data={"grant_type": "client_credentials", "resource": self.audience},
                auth=(client_id, client_secret),
            )
            if answer.status_code != 200:
                raise OidcProviderError(f"client credentials request failed: {answer.text}")
            return dict(answer.json())


# --- a person with a browser, played over HTTP ----------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    #: (name, value) of submit buttons, for forms that have more than one
    buttons: list[tuple[str, str]] = field(default_factory=list)
    form_id: str = ""


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._by_id: dict[str, Form] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            form = Form(
                a.get("action", ""), a.get("method", "get").lower(), form_id=a.get("id", "")
            )
            self.forms.append(form)
            if form.form_id:
                self._by_id[form.form_id] = form
            return
        target = self._by_id.get(a.get("form", "")) or (self.forms[-1] if self.forms else None)
        if target is None:
            return
        if tag == "input" and a.get("name"):
            target.names.add(a["name"])
            if a.get("type", "text") != "submit":
                target.fields[a["name"]] = a.get("value", "")
        if tag == "button" and a.get("type", "submit") == "submit":
            target.buttons.append((a.get("name", ""), a.get("value", "")))


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class IdpUser:
    """A person at the provider's pages: keeps cookies, fills the login form, submits forms.

    Stops at the first redirect that leaves the provider (to the client's redirect URI)
    and returns it, so the caller decides whether the client side (a CLI callback, the
    gateway's ``/oauth2/callback``) is then visited.
    """

    def __init__(self, idp: OidcProvider, *, max_steps: int = 20) -> None:
        self.idp = idp
        self.max_steps = max_steps
        self.client = idp.http(timeout=10, follow_redirects=False)
        self.pages: list[str] = []

    def close(self) -> None:
        self.client.close()

    def _on_provider(self, url: str) -> bool:
        return urlsplit(url).netloc == urlsplit(self.idp.issuer).netloc

    def _walk(self, response: httpx.Response, user: TestUser) -> str:
        """Follow pages until one leaves the provider (returned) or a final page shows."""
        for _ in range(self.max_steps):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if not self._on_provider(target):
                    return target
                response = self.client.get(target)
                continue
            html = response.text
            self.pages.append(html)
            forms = [f for f in parse_forms(html) if f.method == "post"]
            if response.status_code == 401 and "password" in html:
                raise OidcProviderError(f"the provider refused {user.username}'s password")
            if not forms:
                if response.status_code >= 400:
                    raise OidcProviderError(f"the provider answered {response.status_code}: {html}")
                return str(response.url)  # a final page (device flow: "connected")
            form = forms[0]
            data = dict(form.fields)
            if "password" in form.names:
                data.update(username=user.username, password=user.password)
            action = urljoin(str(response.url), form.action or str(response.url))
            response = self.client.post(action, data=data)
        raise OidcProviderError(f"sign-in did not finish within {self.max_steps} pages")

    def approve_device(self, verification_uri_complete: str, user: TestUser) -> str:
        """Open the verification link, confirm the code, sign in; the final page's URL."""
        final = self._walk(self.client.get(verification_uri_complete), user)
        if not self.pages or "device-ok" not in self.pages[-1]:
            raise OidcProviderError(
                "the device was not approved; last page:\n" + (self.pages[-1] if self.pages else "")
            )
        return final

    def authorize(self, authorization_url: str, user: TestUser) -> str:
        """Open an authorization URL and sign in; the redirect back to the client."""
        target = self._walk(self.client.get(authorization_url), user)
        if self._on_provider(target):
            raise OidcProviderError(
                "the sign-in ended on the provider, not at the client; last page:\n"
                + (self.pages[-1] if self.pages else "")
            )
        return target


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a redirect (``code``, ``state``, ``error``...)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
