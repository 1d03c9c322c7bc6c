"""OIDC discovery: the one network call rendering may make, and only when asked.

Envoy's ``oauth2`` filter needs the IdP's authorization and token endpoints, and
``jwt_authn`` its JWKS URI; an issuer publishes all three at
``<issuer>/.well-known/openid-configuration``. Reading them at render time means a
user writes only the issuer, as in the guide.
"""

from __future__ import annotations

import httpx

from nsight_lab.gateway.render import OidcEndpoints, RenderError

WELL_KNOWN = "/.well-known/openid-configuration"


def discover_oidc(
    issuer: str, *, ca_file: str | None = None, timeout: float = 10.0
) -> OidcEndpoints:
    """The endpoints ``issuer`` publishes; raises :class:`RenderError` saying what failed."""
    url = issuer.rstrip("/") + WELL_KNOWN
    try:
        response = httpx.get(url, timeout=timeout, verify=ca_file or True, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise RenderError(f"OIDC discovery at {url} failed: {exc}") from exc
    if response.status_code != 200:
        raise RenderError(
            f"OIDC discovery at {url} answered {response.status_code}; is {issuer!r} the "
            "issuer URL exactly as the IdP names itself?"
        )
    try:
        doc = response.json()
    except ValueError as exc:
        raise RenderError(f"OIDC discovery at {url} did not answer JSON") from exc
    missing = [
        k
        for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not doc.get(k)
    ]
    if missing:
        raise RenderError(f"OIDC discovery at {url} lacks {', '.join(missing)}")
    if doc["issuer"].rstrip("/") != issuer.rstrip("/"):
        # RFC 8414 §3.3: a document naming another issuer must not be used.
        raise RenderError(
            f"OIDC discovery at {url} names issuer {doc['issuer']!r}, not {issuer!r}; use "
            "the issuer exactly as the IdP names itself"
        )
    return OidcEndpoints(
        issuer=doc["issuer"],
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        jwks_uri=doc["jwks_uri"],
        end_session_endpoint=doc.get("end_session_endpoint"),
    )
