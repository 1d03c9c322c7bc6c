"""The local journey through the real Envoy gateway with a real OIDC provider.

``nsight-lab up --auth jwt`` validates tokens against the provider's JWKS (fetched by
Envoy); the CLI logs in with the device flow; ``nsight-lab run`` hands its login to the
agents as a token file; tenants come from the token's ``nsight_tags`` claim. Nothing is
a stand-in but the GPU: the demo workload is profiled with py-spy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli_home import CliHome, configure_oauth, device_login, make_cli_home
from tests.support.oidc_provider import ALICE, AUDIENCE, BOB, OidcProvider, TestUser
from tests.support.stack import UpServer, Workload, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def gated(tmp_path: Path, oidc_provider: OidcProvider) -> Iterator[UpServer]:
    jwks_uri = oidc_provider.discovery()["jwks_uri"]
    server = UpServer(
        tmp_path / "up",
        auth="jwt",
        auth_args=["--issuer", oidc_provider.issuer, "--jwks-uri", jwks_uri,
                   "--audience", AUDIENCE],
    )  # fmt: skip
    server.start()
    try:
        yield server
    finally:
        server.stop()


def logged_in(folder: Path, idp: OidcProvider, gw: str, user: TestUser = ALICE) -> CliHome:
    home = make_cli_home(folder)
    configure_oauth(home, idp, gw)
    device_login(home, idp, user)
    return home


def cli_json(home: CliHome, *args: str) -> object:
    done = home.run("--output", "json", *args, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def test_login_profile_and_download_through_the_gateway(
    gated: UpServer, oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    alice = logged_in(tmp_path / "alice", oidc_provider, gated.url)
    workload = Workload(
        gated.url,
        "alpha",
        "w0",
        process_name="trainer",
        env={"NSIGHT_CLOUD_CONF": str(alice.config)},
    )
    try:

        def online() -> bool:
            done = alice.run("--output", "json", "--tag", "alpha", "status")
            return done.returncode == 0 and any(
                a["state"] == "ONLINE" for a in json.loads(done.stdout)["agents"]
            )

        wait_until(online, 60, "the agent online, authenticated with the CLI's login")
        session = cli_json(alice, "--tag", "alpha", "session-begin", "--title", "oidc")
        cli_json(alice, "--tag", "alpha", "profiler-start")
        stopped = cli_json(alice, "--tag", "alpha", "profiler-stop", "--timeout", "60")
        assert stopped["state"] == "COMPLETED", stopped  # type: ignore[index]
    finally:
        workload.stop()
    files = cli_json(alice, "--tag", "alpha", "ls", "--session", session["session_id"])  # type: ignore[index]
    assert files and all(f["tag"] == "alpha" for f in files)  # type: ignore[union-attr]
    out = tmp_path / "downloads"
    got = cli_json(alice, "--tag", "alpha", "download", "-o", str(out), "--session",
                   session["session_id"])  # type: ignore[index]  # fmt: skip
    assert len(got["files"]) == len(files)  # type: ignore[index,arg-type]


def test_a_users_tags_come_from_the_token(
    gated: UpServer, oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    alice = logged_in(tmp_path / "alice", oidc_provider, gated.url)
    bob = logged_in(tmp_path / "bob", oidc_provider, gated.url, BOB)
    theirs = cli_json(bob, "--tag", "beta", "session-begin", "--title", "bob's")
    assert cli_json(bob, "--tag", "beta", "sessions")[0]["session_id"] == theirs["session_id"]  # type: ignore[index]
    assert cli_json(alice, "--tag", "beta", "sessions") == []
    refused = alice.run("--tag", "beta", "session-begin")
    assert refused.returncode != 0


def test_a_bad_or_expired_token_is_refused_by_envoy_with_advice(
    gated: UpServer, oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    alice = logged_in(tmp_path / "alice", oidc_provider, gated.url)
    tokens = alice.stored_tokens()
    header, payload, _signature = tokens["access_token"].split(".")
    forged = f"{header}.{payload}.{'A' * 342}"
    alice.tokens.write_text(json.dumps({**tokens, "access_token": forged, "refresh_token": None}))
    done = alice.run("sessions")
    assert done.returncode == 5, done.stderr
    assert f"the gateway at {gated.url} refused the request (Jwt verification fails)" in done.stderr
    assert "Log in again with `nsight-lab login`" in done.stderr
    # With the refresh token back, the same refusal is healed by one renewal.
    alice.tokens.write_text(json.dumps({**tokens, "access_token": forged}))
    assert alice.run("sessions").returncode == 0
