"""The server extension speaks for the user with their OAuth2 login; the browser never
holds it. A real OIDC provider issues the tokens; :class:`JwtGate` (a stand-in that
checks the bearer JWT against the provider's JWKS) plays the gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nsight_lab.auth.tokens import TokenSet, TokenStore
from nsight_lab.config import AuthSettings, CliConfig, save_config
from tests.support.jwt_gate import JwtGate
from tests.support.oidc_provider import ALICE, BOB, CLI_CLIENT_ID, OidcProvider
from tests.unit.jupyter.server.fetching import fetch_json

pytestmark = pytest.mark.integration


@pytest.fixture
def logged_in(
    oidc_provider: OidcProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[JwtGate, TokenStore]]:
    """As after `nsight-lab configure --issuer ...` and `nsight-lab login` in a terminal."""
    with JwtGate(oidc_provider) as gate:
        conf = tmp_path / ".nsight-cloud.conf"
        save_config(
            CliConfig(
                gw=gate.url, auth=AuthSettings(issuer=oidc_provider.issuer, clientid=CLI_CLIENT_ID)
            ),
            conf,
        )
        monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(conf))
        for name in ("NSIGHT_LAB_GW", "NSIGHT_API_KEY", "NSIGHT_LAB_TOKEN_FILE"):
            monkeypatch.delenv(name, raising=False)
        meta = oidc_provider.discovery()
        store = TokenStore(tmp_path / ".nsight-cloud.tokens.json")
        store.save(
            TokenSet.from_response(
                oidc_provider.device_login(ALICE), issuer=oidc_provider.issuer,
                client_id=CLI_CLIENT_ID, token_endpoint=meta["token_endpoint"],
                revocation_endpoint=meta["revocation_endpoint"],
            )
        )  # fmt: skip
        yield gate, store


async def test_status_and_proxy_carry_the_login_the_browser_never_sees(
    jp_fetch: Any, logged_in: tuple[JwtGate, TokenStore]
) -> None:
    gate, store = logged_in
    token = store.load().access_token  # type: ignore[union-attr]
    code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
    assert code == 200 and status["auth"] == "oauth2" and status["reachable"] is True
    code, sessions = await fetch_json(jp_fetch, "nsight-lab", "api", "coordinator", "sessions")
    assert code == 200 and sessions == []
    assert gate.seen == [f"Bearer {token}", f"Bearer {token}"]
    assert token not in json.dumps(status)


async def test_the_extension_renews_the_login_itself(
    jp_fetch: Any, logged_in: tuple[JwtGate, TokenStore]
) -> None:
    gate, store = logged_in
    stale = store.load()
    assert stale is not None
    gate.refuse.add(stale.access_token)
    code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
    assert code == 200 and status["reachable"] is True, status
    fresh = store.load()
    assert fresh is not None and fresh.access_token != stale.access_token
    assert gate.seen[-1] == f"Bearer {fresh.access_token}"


async def test_an_ended_login_tells_the_user_to_log_in_in_a_terminal(
    jp_fetch: Any, logged_in: tuple[JwtGate, TokenStore]
) -> None:
    gate, store = logged_in
    tokens = store.load()
    assert tokens is not None
    store.save(tokens.model_copy(update={"refresh_token": None}))
    gate.refuse.add(tokens.access_token)
    code, status = await fetch_json(jp_fetch, "nsight-lab", "status")
    assert code == 200 and status["reachable"] is False
    assert "`nsight-lab login` (in a terminal), then reload" in status["error"]
    code, body = await fetch_json(jp_fetch, "nsight-lab", "api", "coordinator", "sessions")
    assert code == 401 and "nsight-lab login" in body["detail"]
    store.delete()
    code, body = await fetch_json(jp_fetch, "nsight-lab", "api", "coordinator", "sessions")
    assert code == 401 and "not logged in" in body["detail"]


class TestBehindTheGatewaysLogin:
    """JupyterLab behind the gateway's OAuth2 login: each user's own token is used."""

    @pytest.fixture
    def nsight_traitlets(self) -> dict[str, Any]:
        return {"forward_user_token": True, "forwarded_token_header": "X-Forwarded-Access-Token"}

    async def test_the_forwarded_token_is_used_instead_of_the_servers_login(
        self, jp_fetch: Any, logged_in: tuple[JwtGate, TokenStore], oidc_provider: OidcProvider
    ) -> None:
        gate, _store = logged_in
        bob = oidc_provider.device_login(BOB)["access_token"]
        headers = {"X-Forwarded-Access-Token": f"Bearer {bob}"}
        code, status = await fetch_json(jp_fetch, "nsight-lab", "status", headers=headers)
        assert code == 200 and status["auth"] == "oauth2 (your login)" and status["reachable"]
        assert gate.seen == [f"Bearer {bob}"]

    async def test_without_a_forwarded_token_the_servers_own_login_is_never_used(
        self, jp_fetch: Any, logged_in: tuple[JwtGate, TokenStore], jp_serverapp: Any
    ) -> None:
        """The server's login may see every tenant: falling back to it would hand each
        signed-in user everyone's sessions. Nothing is sent to the gateway at all."""
        gate, _store = logged_in
        own = {"X-Forwarded-Access-Token": f"Bearer {jp_serverapp.identity_provider.token}"}
        for headers in ({}, own, {"X-Forwarded-Access-Token": "Basic YWxpY2U6cHc="}):
            code, status = await fetch_json(jp_fetch, "nsight-lab", "status", headers=headers)
            assert code == 200 and status["reachable"] is False
            assert "no login came with the request" in status["error"]
            code, body = await fetch_json(
                jp_fetch, "nsight-lab", "api", "coordinator", "sessions", headers=headers
            )
            assert code == 401 and "sign in" in body["detail"]
        assert gate.seen == []

    async def test_a_refused_forwarded_token_says_to_reload(
        self, jp_fetch: Any, logged_in: tuple[JwtGate, TokenStore]
    ) -> None:
        headers = {"X-Forwarded-Access-Token": "Bearer not-a-token"}
        code, body = await fetch_json(
            jp_fetch, "nsight-lab", "api", "coordinator", "sessions", headers=headers
        )
        assert code == 401 and "reload the page to sign in again" in body["detail"]
