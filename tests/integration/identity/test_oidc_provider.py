"""The test identity provider does what the auth tests rely on.

Every other auth test stands on these facts (real JWT access tokens for our API, the
tenancy claim, refusing a wrong password, lifetimes and keys changed on demand), so they
are checked here once, against the running provider.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.support.jwt_check import header_and_claims, verify
from tests.support.oidc_provider import (
    AGENT_CLIENT_ID,
    AGENT_CLIENT_SECRET,
    AGENT_TAGS,
    ALICE,
    AUDIENCE,
    CLI_CLIENT_ID,
    ROOT,
    TAGS_CLAIM,
    IdpUser,
    OidcProvider,
    OidcProviderError,
    TestUser,
    query_of,
)
from tests.support.tls import TestCA

pytestmark = pytest.mark.integration


def jwks(idp: OidcProvider) -> dict:
    with idp.http(timeout=10) as client:
        return dict(client.get(idp.discovery()["jwks_uri"]).json())


def test_discovery_names_the_flows_the_clients_use(oidc_provider: OidcProvider) -> None:
    meta = oidc_provider.discovery()
    assert meta["issuer"] == oidc_provider.issuer
    assert oidc_provider.issuer.startswith("http://127.0.0.1:")
    assert "urn:ietf:params:oauth:grant-type:device_code" in meta["grant_types_supported"]
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        meta["grant_types_supported"]
    )
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["revocation_endpoint"].startswith(oidc_provider.issuer)


def test_device_login_gives_a_jwt_for_our_api_with_the_users_tags(
    oidc_provider: OidcProvider,
) -> None:
    tokens = oidc_provider.device_login(ALICE)
    header, _ = header_and_claims(tokens["access_token"])
    claims = verify(tokens["access_token"], jwks(oidc_provider))
    assert header["alg"] == "RS256"
    assert claims["iss"] == oidc_provider.issuer
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == ALICE.username
    assert claims["client_id"] == CLI_CLIENT_ID
    assert claims[TAGS_CLAIM] == ["alpha"]
    assert tokens["refresh_token"]
    assert tokens["token_type"].lower() == "bearer"
    id_claims = verify(tokens["id_token"], jwks(oidc_provider))
    assert id_claims["aud"] == CLI_CLIENT_ID


def test_a_user_without_tags_gets_no_tags_claim(oidc_provider: OidcProvider) -> None:
    claims = verify(oidc_provider.device_login(ROOT)["access_token"], jwks(oidc_provider))
    assert TAGS_CLAIM not in claims


def test_a_wrong_password_is_refused(oidc_provider: OidcProvider) -> None:
    impostor = TestUser(ALICE.username, "not-her-password", ALICE.tags)
    with pytest.raises(OidcProviderError, match="refused alice's password"):
        oidc_provider.device_login(impostor)


def test_machine_tokens_carry_the_clients_tags(oidc_provider: OidcProvider) -> None:
    tokens = oidc_provider.client_credentials(AGENT_CLIENT_ID, AGENT_CLIENT_SECRET)
    claims = verify(tokens["access_token"], jwks(oidc_provider))
    assert claims["aud"] == AUDIENCE
    assert claims[TAGS_CLAIM] == AGENT_TAGS
    assert "refresh_token" not in tokens


def test_code_flow_with_pkce_redirects_to_the_cli_callback(oidc_provider: OidcProvider) -> None:
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    redirect_uri = "http://localhost:18400/callback"
    meta = oidc_provider.discovery()
    url = str(
        httpx.URL(
            meta["authorization_endpoint"],
            params={
                "client_id": CLI_CLIENT_ID,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "scope": "openid offline_access",
                "code_challenge": challenge.decode(),
                "code_challenge_method": "S256",
                "state": "s-123",
            },
        )
    )
    user = IdpUser(oidc_provider)
    back = user.authorize(url, ALICE)
    assert back.startswith(redirect_uri)
    params = query_of(back)
    assert params["state"] == "s-123"
    with oidc_provider.http(timeout=10) as client:
        answer = client.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": redirect_uri,
                "client_id": CLI_CLIENT_ID,
                "code_verifier": verifier,
            },
        )
    assert answer.status_code == 200, answer.text
    claims = verify(answer.json()["access_token"], jwks(oidc_provider))
    assert claims["aud"] == AUDIENCE and claims[TAGS_CLAIM] == ["alpha"]


def test_lifetimes_change_while_running(oidc_provider_factory: Callable[..., OidcProvider]) -> None:
    idp = oidc_provider_factory(ttl={"access_token": 600})
    first = header_and_claims(idp.device_login(ALICE)["access_token"])[1]
    assert first["exp"] - first["iat"] == 600
    idp.set_ttl(access_token=2)
    second = idp.device_login(ALICE)
    claims = header_and_claims(second["access_token"])[1]
    assert claims["exp"] - claims["iat"] == 2
    assert second["expires_in"] <= 2


def test_key_rotation_signs_with_a_new_kid_and_can_drop_the_old(
    oidc_provider_factory: Callable[..., OidcProvider],
) -> None:
    idp = oidc_provider_factory()
    old_token = idp.device_login(ALICE)
    old_kid = header_and_claims(old_token["access_token"])[0]["kid"]
    new_kid = idp.rotate_keys()
    assert new_kid != old_kid
    assert {k["kid"] for k in jwks(idp)["keys"]} == {old_kid, new_kid}
    new_token = idp.device_login(ALICE)["access_token"]
    assert header_and_claims(new_token)[0]["kid"] == new_kid
    verify(new_token, jwks(idp))
    # A refresh token issued before the rotation still works: state survives the swap.
    with idp.http(timeout=10) as client:
        refreshed = client.post(
            idp.discovery()["token_endpoint"],
            data={
                "grant_type": "refresh_token",
                "refresh_token": old_token["refresh_token"],
                "client_id": CLI_CLIENT_ID,
            },
        )
    assert refreshed.status_code == 200, refreshed.text
    assert header_and_claims(refreshed.json()["access_token"])[0]["kid"] == new_kid
    idp.rotate_keys(drop_old=True)
    published = {k["kid"] for k in jwks(idp)["keys"]}
    assert old_kid not in published and new_kid not in published
    with pytest.raises(ValueError, match="not in the JWKS"):
        verify(old_token["access_token"], jwks(idp))
    assert idp.state()["counters"]["jwks"] >= 4


def test_admin_routes_need_the_admin_token(oidc_provider: OidcProvider) -> None:
    with oidc_provider.http(timeout=10) as client:
        answer = client.post(oidc_provider.issuer + "/_test/rotate-keys", json={})
    assert answer.status_code == 403


def test_serves_https_with_a_test_ca(
    oidc_provider_factory: Callable[..., OidcProvider], tmp_path
) -> None:
    ca = TestCA(tmp_path / "ca")
    pair = ca.issue("idp")
    idp = oidc_provider_factory(tls=(pair.cert, pair.key), ca_file=ca.cert_file)
    assert idp.issuer.startswith("https://127.0.0.1:")
    assert idp.discovery()["token_endpoint"].startswith("https://")
    with pytest.raises(httpx.ConnectError):
        httpx.get(idp.issuer + "/.well-known/openid-configuration", timeout=5)


def test_stops_when_the_test_process_lets_go(
    oidc_provider_factory: Callable[..., OidcProvider],
) -> None:
    idp = oidc_provider_factory()
    proc = idp._proc
    assert proc is not None and proc.stdin is not None
    proc.stdin.close()  # what happens when the test process dies
    deadline = time.monotonic() + 5
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.returncode == 0
