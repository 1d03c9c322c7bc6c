"""``nsight-lab login`` / ``logout`` against a real OIDC provider, as a user runs them.

The CLI runs in a subprocess with its own config; the test plays the person at the
provider's pages over HTTP (:class:`IdpUser`). Requests that need a gateway go to the
real one, ``nsight-lab up --auth jwt`` (:class:`UpGateway`): Envoy verifying the bearer
JWT against the provider's published keys, in front of the real services. What the
CLI sent is read from Envoy's access log (the verified token's ``jti``, or Envoy's
reason for a 401); a token the gateway stops taking is one whose signing key the
provider has retired.
"""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nsight_lab.auth.credentials import GatewayAuth, resolve_credential
from nsight_lab.config import load_config
from nsight_lab.embedded.gateway import GatewayOptions
from tests.support.cli_home import (
    CliHome,
    configure_oauth,
    device_login,
    start_code_login,
)
from tests.support.gateway import UpGateway, token_id
from tests.support.jwt_check import header_and_claims
from tests.support.oidc_provider import ALICE, CLI_CLIENT_ID, IdpUser, OidcProvider, wait_for

pytestmark = pytest.mark.integration

#: How Envoy's jwt_authn says a token's key is not (any more) among the provider's.
RETIRED_KEY = "Jwks doesn't have key to match kid or alg from Jwt"


@pytest.fixture(scope="module")
def module_gateway(
    oidc_provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UpGateway]:
    """``oidc_provider`` only makes a missing oidc-provider skip (fail in CI) here."""
    with UpGateway.with_own_idp(tmp_path_factory.mktemp("gateway")) as gateway:
        yield gateway


@pytest.fixture
def gateway(module_gateway: UpGateway) -> Iterator[UpGateway]:
    """The module's gateway; token lifetimes a test sets at its provider end with it."""
    idp = module_gateway.idp
    lifetimes = idp.state()["ttl"]
    yield module_gateway
    idp.set_ttl(**lifetimes)


def log_in(home: CliHome, gateway: UpGateway) -> dict[str, Any]:
    """``configure`` for the gateway and its provider, then ``login`` (device flow) as
    alice: the tokens the CLI stored."""
    configure_oauth(home, gateway.idp, gateway.url)
    device_login(home, gateway.idp)
    return home.stored_tokens()


def test_device_flow_end_to_end_through_the_cli(
    cli_home: CliHome, oidc_provider: OidcProvider
) -> None:
    configure_oauth(cli_home, oidc_provider, "http://127.0.0.1:9")
    result = device_login(cli_home, oidc_provider)
    assert result["event"] == "logged_in"
    assert result["subject"] == ALICE.username and result["refreshable"] is True
    assert stat.S_IMODE(cli_home.tokens.stat().st_mode) == 0o600
    stored = cli_home.stored_tokens()
    assert stored["issuer"] == oidc_provider.issuer and stored["client_id"] == CLI_CLIENT_ID
    claims = header_and_claims(stored["access_token"])[1]
    assert claims["aud"] == oidc_provider.audience and claims["nsight_tags"] == ["alpha"]


def test_device_flow_prints_the_url_and_code_for_people(
    cli_home: CliHome, oidc_provider: OidcProvider
) -> None:
    configure_oauth(cli_home, oidc_provider, "http://127.0.0.1:9")
    proc = cli_home.start("login")
    assert proc.stderr is not None
    lines = [proc.stderr.readline() for _ in range(2)]
    text = "".join(lines)
    assert "To log in, open" in text and oidc_provider.issuer + "/device" in text
    code = lines[1].split("enter the code")[1].split()[0]
    user = IdpUser(oidc_provider)
    user.approve_device(f"{oidc_provider.issuer}/device?user_code={code}", ALICE)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Logged in to" in out and "as alice" in out


def test_code_flow_with_pkce_through_the_local_callback(
    cli_home: CliHome, oidc_provider: OidcProvider
) -> None:
    proc, port, event = start_code_login(cli_home, oidc_provider)
    assert event["event"] == "authorization_url"
    params = httpx.URL(event["url"]).params
    assert params["code_challenge_method"] == "S256" and params["redirect_uri"] == (
        f"http://localhost:{port}/callback"
    )
    back = IdpUser(oidc_provider).authorize(event["url"], ALICE)
    # The browser delivers the provider's redirect to the CLI's callback.
    page = httpx.get(back.replace("localhost", "127.0.0.1"), timeout=10)
    assert page.status_code == 200 and "Logged in" in page.text
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["subject"] == ALICE.username and result["refreshable"] is True


def test_a_forged_callback_is_ignored_and_the_real_one_still_works(
    cli_home: CliHome, oidc_provider: OidcProvider
) -> None:
    proc, port, event = start_code_login(cli_home, oidc_provider)
    forged = httpx.get(
        f"http://127.0.0.1:{port}/callback", params={"code": "stolen", "state": "guess"}, timeout=10
    )
    assert forged.status_code == 400
    back = IdpUser(oidc_provider).authorize(event["url"], ALICE)
    httpx.get(back.replace("localhost", "127.0.0.1"), timeout=10)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def test_tokens_are_refreshed_before_they_expire(cli_home: CliHome, gateway: UpGateway) -> None:
    idp = gateway.idp
    idp.set_ttl(access_token=600)
    first = log_in(cli_home, gateway)
    seen = gateway.mark()
    assert cli_home.run("sessions").returncode == 0
    assert cli_home.stored_tokens()["access_token"] == first["access_token"]  # still fresh
    assert [p.token for p in gateway.passages(since=seen)] == [token_id(first["access_token"])]
    # Tokens issued from now on live 6 s, so they are renewed once 3 s have passed.
    idp.set_ttl(access_token=6)
    device_login(cli_home, idp)
    short = cli_home.stored_tokens()
    assert short["expires_at"] - short["obtained_at"] == pytest.approx(6, abs=1)
    seen = gateway.mark()
    wait_for(lambda: time.time() > short["expires_at"] - 2.5, timeout=10)
    done = cli_home.run("--output", "json", "sessions")
    assert done.returncode == 0, done.stderr
    last = cli_home.stored_tokens()
    assert last["access_token"] != short["access_token"]
    assert last["refresh_token"] != short["refresh_token"]  # public clients rotate them
    # Renewed before sending: the gateway took one request, with the renewed token; the
    # short-lived one (still valid for a moment) was never sent again.
    sent = gateway.passages(since=seen)
    assert [(p.status, p.token) for p in sent] == [(200, token_id(last["access_token"]))]


def test_a_401_is_answered_by_one_refresh_and_a_retry(
    cli_home: CliHome, gateway: UpGateway
) -> None:
    idp = gateway.idp
    stale = log_in(cli_home, gateway)["access_token"]
    # Not expired, but its key was retired: the gateway will not take it any more.
    gateway.retire_signing_key(stale)
    seen, refreshes = gateway.mark(), idp.state()["counters"]["token"]
    done = cli_home.run("sessions")
    assert done.returncode == 0, done.stderr
    fresh = cli_home.stored_tokens()["access_token"]
    assert fresh != stale
    refused, taken = gateway.passages(since=seen)
    assert refused.status == 401 and RETIRED_KEY.replace(" ", "_") in refused.details
    assert taken.status == 200 and taken.token == token_id(fresh) and taken.caller == "alice"
    assert idp.state()["counters"]["token"] - refreshes == 1


def test_concurrent_refreshes_use_the_refresh_token_once(
    cli_home: CliHome, gateway: UpGateway
) -> None:
    """Rotated refresh tokens die on reuse (and reuse revokes the login), so several
    processes renewing at once must agree on one refresh."""
    idp = gateway.idp
    # Renewed at half its life: 5 s of headroom for four processes starting on a busy
    # machine to use the renewed token before it is due in turn.
    idp.set_ttl(access_token=10)
    login = log_in(cli_home, gateway)
    seen = gateway.mark()
    wait_for(lambda: time.time() > login["expires_at"] - 5, timeout=15)  # due for renewal
    before = idp.state()["counters"]["token"]
    procs = [cli_home.start("sessions") for _ in range(4)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], results
    assert idp.state()["counters"]["token"] - before == 1
    # All four went through the gateway with the one renewed token.
    renewed = token_id(cli_home.stored_tokens()["access_token"])
    sent = gateway.passages(since=seen)
    assert [(p.status, p.token) for p in sent] == [(200, renewed)] * 4


def test_logout_revokes_the_login_and_deletes_the_tokens(
    cli_home: CliHome, gateway: UpGateway
) -> None:
    idp = gateway.idp
    refresh_token = log_in(cli_home, gateway)["refresh_token"]
    done = cli_home.run("--output", "json", "logout")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "logged_out": True,
        "revoked": True,
        # JWT access tokens cannot be revoked at this provider; they run out instead.
        "access_token_revoked": False,
        "tokens": str(cli_home.tokens),
    }
    assert not cli_home.tokens.exists()
    with idp.http(timeout=10) as client:
        answer = client.post(
            idp.discovery()["token_endpoint"],
            data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                  "client_id": CLI_CLIENT_ID},
        )  # fmt: skip
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    # Now every call says how to log in again, before bothering the gateway.
    seen = gateway.mark()
    after = cli_home.run("sessions")
    assert after.returncode == 5
    assert "not logged in" in after.stderr and "nsight-lab login" in after.stderr
    assert gateway.passages(since=seen) == []
    again = cli_home.run("logout")
    assert again.returncode == 0 and "Not logged in" in again.stdout


def test_a_login_that_ended_at_the_provider_says_to_log_in_again(
    cli_home: CliHome, gateway: UpGateway
) -> None:
    idp = gateway.idp
    stored = log_in(cli_home, gateway)
    with idp.http(timeout=10) as client:  # the user signs out elsewhere
        client.post(
            idp.discovery()["revocation_endpoint"],
            data={"token": stored["refresh_token"], "client_id": CLI_CLIENT_ID},
        )
    gateway.retire_signing_key(stored["access_token"])  # and the gateway stops taking it
    seen = gateway.mark()
    done = cli_home.run("sessions")
    assert done.returncode == 5
    assert "has ended (refresh refused: invalid_grant)" in done.stderr
    assert "nsight-lab login" in done.stderr
    # One refused request; the refresh failed, so nothing was retried.
    assert [p.status for p in gateway.passages(since=seen)] == [401]


def test_a_refused_token_that_cannot_be_renewed_gets_the_401_advice(
    cli_home: CliHome, gateway: UpGateway
) -> None:
    tokens = log_in(cli_home, gateway)
    del tokens["refresh_token"]
    cli_home.tokens.write_text(json.dumps(tokens))
    gateway.retire_signing_key(tokens["access_token"])
    seen = gateway.mark()
    done = cli_home.run("sessions")
    assert done.returncode == 5
    assert f"the gateway at {gateway.url} refused the request ({RETIRED_KEY})" in done.stderr
    assert "Log in again with `nsight-lab login`" in done.stderr
    assert [p.status for p in gateway.passages(since=seen)] == [401]  # no retry


def test_a_wrong_api_key_gets_the_advice_for_keys(cli_home: CliHome, tmp_path: Path) -> None:
    keys = tmp_path / "apikeys"
    keys.write_text("ci the-right-key-0123456789abcdef\n")
    options = GatewayOptions(modes=("apikey",), apikey_file=keys)
    with UpGateway(tmp_path / "up", options) as gateway:
        assert cli_home.run("configure", "--gw", gateway.url, "--apikey", "wrong").returncode == 0
        done = cli_home.run("sessions")
        assert done.returncode == 5
        assert "--apikey" in done.stderr
        assert f"the gateway at {gateway.url} refused the request (" in done.stderr
        from_env = cli_home.run("sessions", NSIGHT_API_KEY="also-wrong")
        assert from_env.returncode == 5 and "unset NSIGHT_API_KEY" in from_env.stderr
        right = cli_home.run("sessions", NSIGHT_API_KEY="the-right-key-0123456789abcdef")
        assert right.returncode == 0, right.stderr
        assert [(p.status, p.caller) for p in gateway.passages()] == [
            (401, None), (401, None), (200, "ci"),
        ]  # fmt: skip


def test_library_clients_share_the_login(
    cli_home: CliHome, gateway: UpGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same stored login serves Python clients (magics, widgets) in other processes."""
    log_in(cli_home, gateway)
    monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(cli_home.config))
    monkeypatch.delenv("NSIGHT_API_KEY", raising=False)
    config = load_config()
    assert resolve_credential(config).kind == "oauth"
    seen = gateway.mark()
    with httpx.Client(auth=GatewayAuth(resolve_credential(config))) as client:
        assert client.get(gateway.url + "/coordinator/api/v1/sessions").status_code == 200
    stored = token_id(cli_home.stored_tokens()["access_token"])
    assert [(p.path, p.status, p.token) for p in gateway.passages(since=seen)] == [
        ("/coordinator/api/v1/sessions", 200, stored)
    ]


def test_agents_get_a_private_token_file_kept_fresh_while_the_workload_runs(
    cli_home: CliHome,
    oidc_provider_factory: Callable[..., OidcProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `nsight-lab run` / `attach` hand to agents: never the refresh token."""
    from nsight_lab.auth.credentials import TOKEN_FILE_ENV
    from nsight_lab.auth.handoff import agent_credentials

    idp = oidc_provider_factory(ttl={"access_token": 3})
    configure_oauth(cli_home, idp, "http://127.0.0.1:9")
    device_login(cli_home, idp)
    monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(cli_home.config))
    monkeypatch.delenv("NSIGHT_API_KEY", raising=False)
    with agent_credentials(load_config()) as env:
        path = Path(env[TOKEN_FILE_ENV])
        assert set(env) == {TOKEN_FILE_ENV}
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        first = path.read_text().strip()
        assert first == cli_home.stored_tokens()["access_token"]
        assert wait_for(lambda: path.read_text().strip() != first, timeout=10)
        assert path.read_text().strip() == cli_home.stored_tokens()["access_token"]
        assert cli_home.stored_tokens()["refresh_token"] not in path.read_text()
    assert not path.exists()
