"""The server extension speaks for the user with their OAuth2 login; the browser never
holds it. A real OIDC provider issues the tokens and the real gateway checks them:
``nsight-lab up --auth jwt`` (:class:`UpGateway`), Envoy verifying each bearer JWT
against the provider's published keys in front of the real services. What the
extension sent is read from Envoy's access log (the verified token's ``jti``); a token
the gateway stops taking is one whose signing key the provider has retired."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nsight_lab.auth.tokens import TokenSet, TokenStore
from nsight_lab.config import AuthSettings, CliConfig, save_config
from tests.support.gateway import UpGateway, token_id
from tests.support.oidc_provider import ALICE, BOB, CLI_CLIENT_ID, OidcProvider
from tests.unit.jupyter.server.fetching import fetch_json

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(
    oidc_provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UpGateway]:
    """Its own provider, as its keys get retired; asking for ``oidc_provider`` makes a
    missing oidc-provider skip here (and fail in CI) like the other identity tests."""
    with UpGateway.with_own_idp(tmp_path_factory.mktemp("gateway")) as gateway:
        yield gateway


@pytest.fixture
def logged_in(
    gateway: UpGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TokenStore]:
    """As after `nsight-lab configure --issuer ...` and `nsight-lab login` in a terminal."""
    idp = gateway.idp
    conf = tmp_path / ".nsight-cloud.conf"
    save_config(
        CliConfig(gw=gateway.url, auth=AuthSettings(issuer=idp.issuer, clientid=CLI_CLIENT_ID)),
        conf,
    )
    monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(conf))
    for name in ("NSIGHT_LAB_GW", "NSIGHT_API_KEY", "NSIGHT_LAB_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    meta = idp.discovery()
    store = TokenStore(tmp_path / ".nsight-cloud.tokens.json")
    store.save(
        TokenSet.from_response(
            idp.device_login(ALICE), issuer=idp.issuer, client_id=CLI_CLIENT_ID,
            token_endpoint=meta["token_endpoint"],
            revocation_endpoint=meta["revocation_endpoint"],
        )
    )  # fmt: skip
    yield store


async def test_status_and_proxy_carry_the_login_the_browser_never_sees(
    jp_fetch: Any, gateway: UpGateway, logged_in: TokenStore
) -> None:
    token = logged_in.load().access_token  # type: ignore[union-attr]
    seen = gateway.mark()
    code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
    assert code == 200 and status["auth"] == "oauth2" and status["reachable"] is True
    code, sessions = await fetch_json(jp_fetch, "nsight-lab", "api", "coordinator", "sessions")
    assert code == 200 and sessions == []
    sent = gateway.passages(since=seen)
    assert [(p.status, p.caller, p.token) for p in sent] == [(200, "alice", token_id(token))] * 2
    assert token not in json.dumps(status)


async def test_the_extension_renews_the_login_itself(
    jp_fetch: Any, gateway: UpGateway, logged_in: TokenStore
) -> None:
    stale = logged_in.load()
    assert stale is not None
    gateway.retire_signing_key(stale.access_token)
    seen = gateway.mark()
    code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
    assert code == 200 and status["reachable"] is True, status
    fresh = logged_in.load()
    assert fresh is not None and fresh.access_token != stale.access_token
    refused, taken = gateway.passages(since=seen)
    assert refused.status == 401 and taken.status == 200
    assert taken.token == token_id(fresh.access_token)


async def test_an_ended_login_tells_the_user_to_log_in_in_a_terminal(
    jp_fetch: Any, gateway: UpGateway, logged_in: TokenStore
) -> None:
    tokens = logged_in.load()
    assert tokens is not None
    logged_in.save(tokens.model_copy(update={"refresh_token": None}))
    gateway.retire_signing_key(tokens.access_token)
    code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
    assert code == 200 and status["reachable"] is False
    assert "`nsight-lab login` (in a terminal), then reload" in status["error"]
    code, body = await fetch_json(jp_fetch, "nsight-lab", "api", "coordinator", "sessions")
    assert code == 401 and "nsight-lab login" in body["detail"]
    logged_in.delete()
    code, body = await fetch_json(jp_fetch, "nsight-lab", "api", "coordinator", "sessions")
    assert code == 401 and "not logged in" in body["detail"]


class TestBehindTheGatewaysLogin:
    """JupyterLab behind the gateway's OAuth2 login: each user's own token is used."""

    @pytest.fixture
    def nsight_traitlets(self) -> dict[str, Any]:
        return {"forward_user_token": True, "forwarded_token_header": "X-Forwarded-Access-Token"}

    async def test_the_forwarded_token_is_used_instead_of_the_servers_login(
        self, jp_fetch: Any, gateway: UpGateway, logged_in: TokenStore
    ) -> None:
        bob = gateway.idp.device_login(BOB)["access_token"]
        headers = {"X-Forwarded-Access-Token": f"Bearer {bob}"}
        seen = gateway.mark()
        code, status = await fetch_json(jp_fetch, "nsight-lab", "status", headers=headers)
        assert code == 200 and status["auth"] == "oauth2 (your login)" and status["reachable"]
        sent = gateway.passages(since=seen)
        assert [(p.status, p.caller, p.token) for p in sent] == [(200, "bob", token_id(bob))]

    async def test_without_a_forwarded_token_the_servers_own_login_is_never_used(
        self, jp_fetch: Any, gateway: UpGateway, logged_in: TokenStore, jp_serverapp: Any
    ) -> None:
        """The server's login may see every tenant: falling back to it would hand each
        signed-in user everyone's sessions. Nothing is sent to the gateway at all."""
        seen = gateway.mark()
        own = {"X-Forwarded-Access-Token": f"Bearer {jp_serverapp.identity_provider.token}"}
        for headers in ({}, own, {"X-Forwarded-Access-Token": "Basic YWxpY2U6cHc="}):
            code, status = await fetch_json(jp_fetch, "nsight-lab", "status", headers=headers)
            assert code == 200 and status["reachable"] is False
            assert "no login came with the request" in status["error"]
            code, body = await fetch_json(
                jp_fetch, "nsight-lab", "api", "coordinator", "sessions", headers=headers
            )
            assert code == 401 and "sign in" in body["detail"]
        assert gateway.passages(since=seen) == []

    async def test_a_refused_forwarded_token_says_to_reload(
        self, jp_fetch: Any, gateway: UpGateway, logged_in: TokenStore
    ) -> None:
        headers = {"X-Forwarded-Access-Token": "Bearer not-a-token"}
        seen = gateway.mark()
        code, body = await fetch_json(
            jp_fetch, "nsight-lab", "api", "coordinator", "sessions", headers=headers
        )
        assert code == 401 and "reload the page to sign in again" in body["detail"]
        (refused,) = gateway.passages(since=seen)
        assert refused.status == 401 and "Jwt_is_not_in_the_form" in refused.details
