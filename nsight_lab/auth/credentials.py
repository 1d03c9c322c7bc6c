"""The credential a client sends to the gateway: the one place that decides it.

Every HTTP client of the public API (CLI, analysis client, magics, widgets, the Jupyter
server extension) is built with :func:`gateway_auth`, an ``httpx.Auth`` that:

- sends ``Authorization: Bearer <API key>`` when one is configured (``NSIGHT_API_KEY``
  wins over the config file, so a key need never be written down), or the contents of
  ``NSIGHT_LAB_TOKEN_FILE`` (a key or token another tool keeps fresh, re-read per request);
- otherwise, when the config names an OAuth2 issuer, sends the access token from
  ``nsight-lab login``, refreshing it shortly before it expires and once more if the
  gateway still answers 401 (a token revoked early, or a clock that lies);
- sends nothing for an open gateway.

A 401 that survives all that is turned into advice by :func:`unauthorized_advice`,
which names the command that fixes it. The agent (stdlib only) has its own reader of
the same variables in :mod:`nsight_lab.agent.credentials`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from nsight_lab.auth.oidc import OAuthClient, OAuthError
from nsight_lab.auth.tokens import TokenSet, TokenStore, tokens_path
from nsight_lab.config import API_KEY_ENV, CliConfig, config_path

TOKEN_FILE_ENV = "NSIGHT_LAB_TOKEN_FILE"


class NotLoggedIn(RuntimeError):
    """OAuth2 is configured but there is no usable login; the message says to log in."""


@dataclass(frozen=True)
class Credential:
    #: ``forwarded``: the signed-in user's token, as the gateway passed it to JupyterLab.
    kind: Literal["none", "apikey", "token-file", "oauth", "forwarded"]
    #: Where it came from, for messages ("NSIGHT_API_KEY", a file path...); never the secret.
    source: str
    api_key: str | None = None
    token_file: Path | None = None
    session: OAuthSession | None = None

    def describe(self) -> str:
        return {
            "none": "no credentials",
            "apikey": f"an API key from {self.source}",
            "token-file": f"the token in {self.source}",
            "oauth": f"the OAuth2 login in {self.source}",
            "forwarded": "your gateway login",
        }[self.kind]


class OAuthSession:
    """The stored login for one issuer and client, refreshed under a cross-process lock."""

    def __init__(self, client: OAuthClient, store: TokenStore) -> None:
        self.client = client
        self.store = store

    def tokens(self) -> TokenSet:
        tokens = self.store.load()
        if tokens is None or not tokens.belongs_to(self.client.issuer, self.client.client_id):
            raise NotLoggedIn(
                f"not logged in to {self.client.issuer}: run `nsight-lab login`"
                if tokens is None
                else f"the stored login is for {tokens.issuer}, not {self.client.issuer}: "
                "run `nsight-lab login`"
            )
        return tokens

    # A refresh is three steps so that sync and async clients share all but the POST:
    # decide under the lock (someone else may have refreshed already), send, store.

    def _refresh_needed(self, seen: TokenSet, *, force: bool) -> TokenSet | None:
        """The tokens to use without refreshing, or None when a refresh must be sent."""
        latest = self.tokens()
        if latest.access_token != seen.access_token and not latest.needs_refresh():
            return latest  # another process refreshed while we waited for the lock
        if not force and not latest.needs_refresh():
            return latest
        if not latest.refresh_token:
            raise NotLoggedIn(
                f"the login to {self.client.issuer} has expired and cannot be renewed "
                "(no refresh token): run `nsight-lab login`"
            )
        return None

    def _refresh_request(self, tokens: TokenSet) -> httpx.Request:
        return httpx.Request(
            "POST",
            tokens.token_endpoint,
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens.refresh_token or "",
                "client_id": tokens.client_id,
            },
            headers={"User-Agent": "nsight-lab-cli"},
        )

    def _refresh_done(self, tokens: TokenSet, response: httpx.Response) -> TokenSet:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not body.get("access_token"):
            error = body.get("error") or f"HTTP {response.status_code}"
            raise NotLoggedIn(
                f"the login to {self.client.issuer} has ended (refresh refused: {error}): "
                "run `nsight-lab login`"
            )
        fresh = TokenSet.from_response(
            body,
            issuer=tokens.issuer,
            client_id=tokens.client_id,
            token_endpoint=tokens.token_endpoint,
            revocation_endpoint=tokens.revocation_endpoint,
            previous=tokens,
        )
        self.store.save(fresh)
        return fresh

    def _unreachable(self, tokens: TokenSet, exc: Exception) -> NotLoggedIn:
        return NotLoggedIn(
            f"cannot renew the login: the identity provider at {tokens.token_endpoint} is "
            f"unreachable ({exc}); try again, or run `nsight-lab login`"
        )

    def fresh_tokens(self, seen: TokenSet | None = None, *, force: bool = False) -> TokenSet:
        seen = seen or self.tokens()
        if not force and not seen.needs_refresh():
            return seen
        with self.store.locked():
            ready = self._refresh_needed(seen, force=force)
            if ready is not None:
                return ready
            tokens = self.tokens()
            try:
                with self.client.http() as http:
                    response = http.send(self._refresh_request(tokens))
            except httpx.HTTPError as exc:
                raise self._unreachable(tokens, exc) from exc
            return self._refresh_done(tokens, response)

    async def afresh_tokens(self, seen: TokenSet | None = None, *, force: bool = False) -> TokenSet:
        seen = seen or self.tokens()
        if not force and not seen.needs_refresh():
            return seen
        # The lock is taken without blocking the event loop: poll, then sleep a little.
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.store.locked(timeout=0):
                    ready = self._refresh_needed(seen, force=force)
                    if ready is not None:
                        return ready
                    tokens = self.tokens()
                    try:
                        async with httpx.AsyncClient(
                            verify=self.client.verify, timeout=self.client.timeout
                        ) as http:
                            response = await http.send(self._refresh_request(tokens))
                    except httpx.HTTPError as exc:
                        raise self._unreachable(tokens, exc) from exc
                    return self._refresh_done(tokens, response)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)


class GatewayAuth(httpx.Auth):
    """Adds the credential to each gateway request (and never to anything else: presigned
    storage URLs are fetched with clients that carry no auth)."""

    def __init__(self, credential: Credential) -> None:
        self.credential = credential

    def _static_header(self) -> str | None:
        if self.credential.kind in ("apikey", "forwarded"):
            return self.credential.api_key
        if self.credential.kind == "token-file" and self.credential.token_file is not None:
            return read_token_file(self.credential.token_file)
        return None

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        session = self.credential.session
        if session is None:
            if (value := self._static_header()) is not None:
                request.headers["Authorization"] = f"Bearer {value}"
            yield request
            return
        tokens = session.fresh_tokens()
        request.headers["Authorization"] = f"Bearer {tokens.access_token}"
        response = yield request
        if response.status_code == 401 and tokens.refresh_token:
            tokens = session.fresh_tokens(tokens, force=True)
            request.headers["Authorization"] = f"Bearer {tokens.access_token}"
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        session = self.credential.session
        if session is None:
            if (value := self._static_header()) is not None:
                request.headers["Authorization"] = f"Bearer {value}"
            yield request
            return
        tokens = await session.afresh_tokens()
        request.headers["Authorization"] = f"Bearer {tokens.access_token}"
        response = yield request
        if response.status_code == 401 and tokens.refresh_token:
            tokens = await session.afresh_tokens(tokens, force=True)
            request.headers["Authorization"] = f"Bearer {tokens.access_token}"
            yield request


def read_token_file(path: Path) -> str:
    """A key or token kept in a file: the first non-empty line, whitespace stripped."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise NotLoggedIn(f"{TOKEN_FILE_ENV}={path}: cannot read it ({exc.strerror})") from exc
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    raise NotLoggedIn(f"{TOKEN_FILE_ENV}={path} is empty")


def oauth_client(config: CliConfig) -> OAuthClient:
    auth = config.auth
    if not auth.issuer or not auth.clientid:
        raise NotLoggedIn(
            "no OAuth2 issuer is configured: run "
            "`nsight-lab configure --gw URL --issuer URL --clientid ID` first"
        )
    return OAuthClient(
        issuer=auth.issuer,
        client_id=auth.clientid,
        verify=config.tls_verify(),
        scopes=tuple(auth.scopes) if auth.scopes else OAuthClient.scopes,
        audience=auth.audience,
        authorization_endpoint=auth.authorization_endpoint,
        token_endpoint=auth.token_endpoint,
    )


def token_store(config: CliConfig) -> TokenStore:
    return TokenStore(tokens_path(config.source_path or config_path()))


def resolve_credential(config: CliConfig) -> Credential:
    """What to send, in order: NSIGHT_API_KEY, NSIGHT_LAB_TOKEN_FILE, the configured key,
    the OAuth2 login, nothing."""
    if key := os.environ.get(API_KEY_ENV):
        return Credential("apikey", API_KEY_ENV, api_key=key)
    if token_file := os.environ.get(TOKEN_FILE_ENV):
        return Credential("token-file", token_file, token_file=Path(token_file))
    source = str(config.source_path or config_path())
    if config.auth.apikey:
        return Credential("apikey", source, api_key=config.auth.apikey)
    if config.auth.issuer and config.auth.clientid:
        store = token_store(config)
        return Credential(
            "oauth", str(store.path), session=OAuthSession(oauth_client(config), store)
        )
    return Credential("none", "")


def gateway_auth(config: CliConfig) -> GatewayAuth:
    return GatewayAuth(resolve_credential(config))


def unauthorized_advice(config: CliConfig, detail: str) -> str:
    """What to do about a 401 from the gateway, given what we sent."""
    credential = resolve_credential(config)
    said = f"the gateway at {config.gw} refused the request ({detail.strip() or '401'})"
    if credential.kind == "oauth":
        return (
            f"{said}: your login has expired or was revoked. Log in again with `nsight-lab login`"
        )
    if credential.kind == "apikey":
        fix = (
            f"unset {API_KEY_ENV} or set it to a valid key"
            if credential.source == API_KEY_ENV
            else f'set a valid one with `nsight-lab configure --gw {config.gw} --apikey "$NSIGHT_API_KEY"`'
        )
        return f"{said} with {credential.describe()}: {fix}"
    if credential.kind == "token-file":
        return f"{said} with {credential.describe()}: renew the token in that file"
    return (
        f"{said}: it requires authentication and none is configured. Use an API key "
        f'(`nsight-lab configure --gw {config.gw} --apikey "$NSIGHT_API_KEY"`) or OAuth2 '
        f"(`nsight-lab configure --gw {config.gw} --issuer URL --clientid ID`, then "
        "`nsight-lab login`)"
    )


__all__ = [
    "TOKEN_FILE_ENV",
    "Credential",
    "GatewayAuth",
    "NotLoggedIn",
    "OAuthError",
    "OAuthSession",
    "gateway_auth",
    "oauth_client",
    "resolve_credential",
    "token_store",
    "unauthorized_advice",
]
