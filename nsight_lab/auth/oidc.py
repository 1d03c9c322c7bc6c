"""The OAuth 2.0 / OpenID Connect requests the CLI makes, one function each.

Discovery (``/.well-known/openid-configuration``, unless the endpoints are configured),
PKCE (RFC 7636, S256 only), the authorization-code exchange, the device authorization
grant (RFC 8628) and revocation (RFC 7009); refreshing is the credential's business
(:class:`nsight_lab.auth.credentials.OAuthSession`). Every failure becomes an
:class:`OAuthError` whose message names the provider's ``error`` and says what to do.
The interactive parts (a browser, a local callback, polling) live in
:mod:`nsight_lab.auth.login`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from nsight_lab.auth.tokens import TokenSet

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: openid for an ID token (who logged in), offline_access for a refresh token.
DEFAULT_SCOPES = ("openid", "offline_access")
USER_AGENT = "nsight-lab-cli"


class OAuthError(RuntimeError):
    """The identity provider refused, or could not be reached; the message says why."""

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    authorization_endpoint: str | None
    token_endpoint: str
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    end_session_endpoint: str | None = None


@dataclass(frozen=True)
class OAuthClient:
    """Who we are to the provider, and how to reach it."""

    issuer: str
    client_id: str
    verify: ssl.SSLContext | bool = True
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    #: The API's identifier, sent as ``resource`` (RFC 8707) and ``audience`` (Auth0).
    audience: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    timeout: float = 15.0

    def http(self) -> httpx.Client:
        return httpx.Client(
            verify=self.verify, timeout=self.timeout, headers={"User-Agent": USER_AGENT}
        )

    def audience_params(self) -> dict[str, str]:
        return {"resource": self.audience, "audience": self.audience} if self.audience else {}


def _unreachable(what: str, url: str, exc: Exception) -> OAuthError:
    return OAuthError(
        f"cannot reach the identity provider's {what} at {url} ({exc}); check the issuer "
        "URL given to `nsight-lab configure --issuer`, and --ca-file if it uses a private CA"
    )


def discover(client: OAuthClient) -> Endpoints:
    """The provider's endpoints; configured ones win, and discovery is skipped when the
    token endpoint is configured (providers without discovery documents)."""
    if client.token_endpoint:
        return Endpoints(
            issuer=client.issuer,
            authorization_endpoint=client.authorization_endpoint,
            token_endpoint=client.token_endpoint,
        )
    url = client.issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with client.http() as http:
            response = http.get(url)
    except httpx.HTTPError as exc:
        raise _unreachable("discovery document", url, exc) from exc
    if response.status_code != 200:
        raise OAuthError(
            f"{url} answered {response.status_code}: the issuer has no OIDC discovery "
            "document there. Check --issuer, or give --authorization-endpoint and "
            "--token-endpoint to `nsight-lab configure`"
        )
    try:
        meta: dict[str, Any] = response.json()
        token_endpoint = str(meta["token_endpoint"])
    except (ValueError, KeyError, TypeError) as exc:
        raise OAuthError(f"{url} is not an OIDC discovery document ({exc})") from exc

    def optional(key: str) -> str | None:
        value = meta.get(key)
        return str(value) if value else None

    return Endpoints(
        issuer=str(meta.get("issuer") or client.issuer),
        authorization_endpoint=client.authorization_endpoint or optional("authorization_endpoint"),
        token_endpoint=token_endpoint,
        device_authorization_endpoint=optional("device_authorization_endpoint"),
        revocation_endpoint=optional("revocation_endpoint"),
        end_session_endpoint=optional("end_session_endpoint"),
    )


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str
    method: str = "S256"

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)[:96]
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorization_url(
    client: OAuthClient, endpoints: Endpoints, *, redirect_uri: str, state: str, pkce: Pkce
) -> str:
    if not endpoints.authorization_endpoint:
        raise OAuthError(
            "the provider publishes no authorization endpoint; give one with "
            "`nsight-lab configure --authorization-endpoint URL`, or use "
            "`--oauth-flow-type device`"
        )
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(client.scopes),
        "state": state,
        "code_challenge": pkce.challenge,
        "code_challenge_method": pkce.method,
        **client.audience_params(),
    }
    if "offline_access" in client.scopes:
        # OIDC Core 11: a refresh token for offline access needs prompt=consent (the
        # provider may skip showing the page for a client the user already approved).
        params["prompt"] = "consent"
    return str(httpx.URL(endpoints.authorization_endpoint, params=params))


def _token_request(
    client: OAuthClient, endpoints: Endpoints, data: dict[str, str], *, what: str
) -> dict[str, Any]:
    try:
        with client.http() as http:
            response = http.post(
                endpoints.token_endpoint, data={"client_id": client.client_id, **data}
            )
    except httpx.HTTPError as exc:
        raise _unreachable("token endpoint", endpoints.token_endpoint, exc) from exc
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and body.get("access_token"):
        return body
    error = str(body.get("error") or f"HTTP {response.status_code}")
    description = body.get("error_description") or response.text[:300]
    raise OAuthError(f"{what} refused by the identity provider: {error}: {description}", error)


def tokens_from(client: OAuthClient, endpoints: Endpoints, body: dict[str, Any]) -> TokenSet:
    return TokenSet.from_response(
        body,
        issuer=client.issuer,
        client_id=client.client_id,
        token_endpoint=endpoints.token_endpoint,
        revocation_endpoint=endpoints.revocation_endpoint,
    )


def exchange_code(
    client: OAuthClient, endpoints: Endpoints, *, code: str, redirect_uri: str, pkce: Pkce
) -> TokenSet:
    body = _token_request(
        client,
        endpoints,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": pkce.verifier,
            **client.audience_params(),
        },
        what="the login",
    )
    return tokens_from(client, endpoints, body)


@dataclass(frozen=True)
class DeviceAuthorization:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float


def start_device_authorization(client: OAuthClient, endpoints: Endpoints) -> DeviceAuthorization:
    url = endpoints.device_authorization_endpoint
    if not url:
        raise OAuthError(
            "the provider publishes no device authorization endpoint; log in with the "
            "browser instead: `nsight-lab configure ... --oauth-flow-type code`"
        )
    data = {"client_id": client.client_id, "scope": " ".join(client.scopes)}
    data.update(client.audience_params())
    try:
        with client.http() as http:
            response = http.post(url, data=data)
    except httpx.HTTPError as exc:
        raise _unreachable("device authorization endpoint", url, exc) from exc
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "device_code" not in body:
        error = str(body.get("error") or f"HTTP {response.status_code}")
        raise OAuthError(
            f"the provider refused to start a device login: {error}: "
            f"{body.get('error_description') or response.text[:300]}",
            error,
        )
    return DeviceAuthorization(
        device_code=str(body["device_code"]),
        user_code=str(body["user_code"]),
        verification_uri=str(body.get("verification_uri") or body.get("verification_url")),
        verification_uri_complete=(
            str(body["verification_uri_complete"])
            if body.get("verification_uri_complete")
            else None
        ),
        expires_in=float(body.get("expires_in") or 600),
        interval=float(body.get("interval") or 5),
    )


def poll_device_token(
    client: OAuthClient, endpoints: Endpoints, device: DeviceAuthorization
) -> TokenSet | float:
    """One poll: the tokens, or the seconds to wait before the next poll (RFC 8628 §3.5)."""
    try:
        body = _token_request(
            client,
            endpoints,
            {"grant_type": DEVICE_GRANT, "device_code": device.device_code},
            what="the device login",
        )
    except OAuthError as exc:
        if exc.error == "authorization_pending":
            return device.interval
        if exc.error == "slow_down":
            return device.interval + 5
        if exc.error == "expired_token":
            raise OAuthError(
                "the code expired before it was approved; run `nsight-lab login` again",
                exc.error,
            ) from exc
        if exc.error == "access_denied":
            raise OAuthError("the login was denied at the identity provider", exc.error) from exc
        raise
    return tokens_from(client, endpoints, body)


@dataclass(frozen=True)
class Revocation:
    #: The refresh token (and with it, at most providers, the whole login) is revoked.
    login: bool
    #: The access token itself is revoked; JWT access tokens usually cannot be, and then
    #: stay valid until they expire.
    access_token: bool


def revoke(client: OAuthClient, tokens: TokenSet) -> Revocation:
    """Revoke the refresh token and the access token (RFC 7009), as far as the provider
    can; a provider without a revocation endpoint revokes nothing."""
    if not tokens.revocation_endpoint:
        return Revocation(login=False, access_token=False)
    done: dict[str, bool] = {}
    with client.http() as http:
        for hint, value in (("refresh_token", tokens.refresh_token),
                            ("access_token", tokens.access_token)):  # fmt: skip
            if not value:
                continue
            try:
                response = http.post(
                    tokens.revocation_endpoint,
                    data={"token": value, "token_type_hint": hint, "client_id": client.client_id},
                )
            except httpx.HTTPError:
                done[hint] = False
                continue
            done[hint] = response.status_code == 200
    access = done.get("access_token", False)
    return Revocation(login=done.get("refresh_token", access), access_token=access)
