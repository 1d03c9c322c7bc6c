"""Signing in through the gateway: two tenants, each in their own Chromium, each acting
as themselves in JupyterLab's Nsight panel.

Real parts: the Envoy gateway in OAuth2 mode with TLS (a throwaway CA), the OIDC
provider and its login page, JupyterLab served behind the gateway at ``/`` (the way
a cluster deploys it: its upstream takes the verified token, its server extension has
``forward_user_token`` on), the nsight-lab services behind it at ``/coordinator/`` and
``/analysis/``. Each browser starts with no session: Envoy sends it to the provider,
the user signs in, Envoy's callback sets its session cookies, and every panel request
then reaches the coordinator as that user.

The Jupyter server has a login of its own, and it is ROOT's, who may use every tag:
were the panel ever to call with it instead of the user's token, bob would see
alice's session and this file would fail. Chromium is told to accept the test CA's
certificate (``ignore_https_errors``); every other client verifies it with the CA file.
"""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nsight_lab.auth.tokens import TokenSet, TokenStore, tokens_path
from nsight_lab.config import AuthSettings, CliConfig, save_config
from nsight_lab.embedded.gateway import (
    GatewayOptions,
    GatewayStack,
    build_spec,
    start_gateway_stack,
)
from nsight_lab.embedded.stack import StackConfig
from nsight_lab.gateway.discovery import discover_oidc
from nsight_lab.gateway.envoy import EnvoyError, envoy_binary
from nsight_lab.gateway.render import Upstream
from tests.support.gateway import SigningKey, claims, tamper, unsigned_token
from tests.support.minio import free_port
from tests.support.oidc_provider import (
    ALICE,
    AUDIENCE,
    BOB,
    CLI_CLIENT_ID,
    GATEWAY_CLIENT_ID,
    GATEWAY_CLIENT_SECRET,
    ROOT,
    OidcProvider,
    TestUser,
    oidc_provider_missing_reason,
)
from tests.support.tls import TestCA
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.ui.lab_server import JupyterLabServer, enter_tag

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.timeout(300)]
#: Beginning a session, as the gateway's access log shows it.
BEGIN = "POST /coordinator/api/v1/sessions "


@dataclass
class Deployment:
    stack: GatewayStack
    lab: JupyterLabServer
    idp: OidcProvider
    ca_file: Path
    #: The Jupyter server's own login (ROOT: every tag).
    server_token: str
    envoy_log: Path

    def api(self, token: str) -> httpx.Client:
        """A program talking to the gateway with ``token``."""
        return httpx.Client(
            base_url=self.stack.url,
            headers={"Authorization": f"Bearer {token}"},
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            follow_redirects=False,
            timeout=30,
        )


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it, so its absence is a build failure)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    try:
        envoy_binary()
    except EnvoyError as exc:
        _require(str(exc))
    _require(oidc_provider_missing_reason())
    tmp = tmp_path_factory.mktemp("behind-the-gateway")
    ca = TestCA(tmp / "ca")
    pair = ca.issue("gateway")
    port = free_port()
    gateway_url = f"https://127.0.0.1:{port}"
    with OidcProvider(gateway_redirect_uris=[f"{gateway_url}/oauth2/callback"]) as idp:
        # JupyterLab has no token of its own: the gateway's login is the door.
        lab = JupyterLabServer(
            tmp / "lab",
            gateway_url,
            server_config={"NsightLabExtension": {"forward_user_token": True}},
        )
        lab.token = ""
        conf = Path(lab.env["NSIGHT_CLOUD_CONF"])
        save_config(
            CliConfig(
                gw=gateway_url,
                tag="alpha",  # the panel's first tag, for everyone
                ca_cert=str(ca.cert_file),
                auth=AuthSettings(issuer=idp.issuer, clientid=CLI_CLIENT_ID),
            ),
            conf,
        )
        meta = idp.discovery()
        server_login = TokenSet.from_response(  # as after `nsight-lab login` as root
            idp.device_login(ROOT), issuer=idp.issuer, client_id=CLI_CLIENT_ID,
            token_endpoint=meta["token_endpoint"], revocation_endpoint=meta["revocation_endpoint"],
        )  # fmt: skip
        TokenStore(tokens_path(conf)).save(server_login)
        lab.start()
        secret = tmp / "client-secret"
        secret.write_text(GATEWAY_CLIENT_SECRET)
        hmac = tmp / "hmac"
        hmac.write_text("h" * 44)
        options = GatewayOptions(
            modes=("oauth2",), issuer=idp.issuer, audiences=(AUDIENCE,),
            client_id=GATEWAY_CLIENT_ID, client_secret_file=secret, hmac_file=hmac,
            tls_cert=pair.cert, tls_key=pair.key,
        )  # fmt: skip
        data_dir = tmp / "up"
        try:
            stack = start_gateway_stack(
                StackConfig(data_dir=data_dir, host="127.0.0.1", port=port),
                build_spec(options, port),
                oidc=discover_oidc(idp.issuer),
                ui=Upstream("127.0.0.1", lab.port, "/", forward_token=True),
            )
        except Exception:
            lab.stop()
            raise
        try:
            yield Deployment(
                stack=stack, lab=lab, idp=idp, ca_file=ca.cert_file,
                server_token=server_login.access_token,
                envoy_log=data_dir / "gateway" / "envoy.log",
            )  # fmt: skip
        finally:
            stack.stop()
            lab.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_person(browser: Any) -> Iterator[Callable[[], Any]]:
    """A page in a browser profile of its own: no cookies shared with anyone else's."""
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1400, "height": 900}
        )
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        sent: list[dict[str, str]] = []
        page.on("request", lambda r: sent.append({"url": r.url, **r.headers}))
        page.sent = sent
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, user: TestUser, d: Deployment) -> Any:
    """From a fresh profile to the open Nsight panel, through the provider's login."""
    page.goto(f"{d.stack.url}/lab")
    # Envoy sent the browser to the provider's login page.
    page.get_by_role("heading", name="Sign in to nsight-lab test IdP").wait_for()
    assert page.url.startswith(d.idp.issuer + "/interaction/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    # Back through /oauth2/callback into JupyterLab, behind the gateway.
    page.wait_for_url(f"{d.stack.url}/lab*", timeout=60_000)
    page.locator('.lm-TabBar-tab[data-id="nsight-lab-panel"]').click()
    return page.locator("#nsight-lab-panel")


def begin_session(panel: Any, title: str) -> None:
    panel.get_by_label("Session title").fill(title)
    panel.get_by_role("button", name="Begin session").click()


def panel_get(page: Any, path: str) -> tuple[int, Any]:
    """What the panel's own API (the server extension) answers this browser."""
    answer: dict[str, Any] = page.evaluate(
        """async (path) => {
            const r = await fetch(path, {credentials: 'same-origin'});
            return {status: r.status, body: await r.json()};
        }""",
        path,
    )
    return answer["status"], answer["body"]


def callers(log: Path, request: str, count: int, within_s: float = 15) -> list[str]:
    """The callers the gateway's access log names for ``request`` ("POST /path "),
    once it holds ``count`` such lines (Envoy flushes it about once a second)."""
    deadline = time.monotonic() + within_s
    while True:
        lines = [line for line in log.read_text(errors="replace").splitlines() if request in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return [line.split('caller="', 1)[1].split('"', 1)[0] for line in lines]
        time.sleep(0.2)


def test_two_tenants_each_see_and_act_only_on_their_own_sessions(
    deployment: Deployment, new_person: Callable[[], Any], screenshots: Path
) -> None:
    d = deployment
    alice = new_person()
    alices = sign_in(alice, ALICE, d)
    try:
        alices.get_by_text("connected", exact=True).wait_for(timeout=60_000)
    except Exception:
        alice.screenshot(path=str(screenshots / "gateway-login-failed.png"))
        raise AssertionError(f"panel not connected: {alices.inner_text()}") from None
    code, status = panel_get(alice, "/nsight-lab/status")
    assert code == 200 and status["auth"] == "oauth2 (your login)", status
    assert {"BearerToken", "OauthHMAC"} <= {c["name"] for c in alice.context.cookies(d.stack.url)}
    # A write through the whole chain: panel, server extension, gateway, coordinator.
    begin_session(alices, "alice's run")
    alices.locator("button.jp-NsightLab-session", has_text="alice's run").wait_for()
    alice.screenshot(path=str(screenshots / "gateway-login-alice.png"))

    # Attributed to alice's tenant, and begun as alice, not as the server's root login.
    with d.api(d.server_token) as api:
        everything = api.get("/coordinator/api/v1/sessions").json()
    (alices_run,) = [s for s in everything if s["title"] == "alice's run"]
    assert alices_run["tag"] == "alpha"
    assert callers(d.envoy_log, BEGIN, 1) == ["alice"]

    bob = new_person()
    bobs = sign_in(bob, BOB, d)
    # The panel opens on the server's tag, alpha: for bob it does not exist.
    bobs.get_by_text("no tag 'alpha'").wait_for(timeout=60_000)
    begin_session(bobs, "bob in alpha")
    bobs.get_by_text("may not use tag 'alpha'; its tags: beta").wait_for()
    enter_tag(bobs, "beta")
    bobs.get_by_text("connected", exact=True).wait_for()
    begin_session(bobs, "bob's run")
    bobs.locator("button.jp-NsightLab-session", has_text="bob's run").wait_for()
    bob.screenshot(path=str(screenshots / "gateway-login-bob.png"))
    assert "alice's run" not in bobs.inner_text()
    # Through bob's panel, alice's session is as unknown as an id never issued.
    code, body = panel_get(bob, f"/nsight-lab/api/coordinator/sessions/{alices_run['session_id']}")
    assert code == 404, body
    code, listed = panel_get(bob, "/nsight-lab/api/coordinator/sessions")
    assert code == 200 and {s["tag"] for s in listed} == {"beta"}, listed
    code, listed = panel_get(bob, "/nsight-lab/api/coordinator/sessions?tag=alpha")
    assert code == 200 and listed == []

    # And alice's panel never lists bob's.
    code, listed = panel_get(alice, "/nsight-lab/api/coordinator/sessions")
    assert code == 200 and [s["title"] for s in listed] == ["alice's run"], listed
    assert "bob's run" not in alices.inner_text()
    assert callers(d.envoy_log, BEGIN, 3) == ["alice", "bob", "bob"]
    # The server's own login never reached a browser: no request either made carried it.
    assert d.server_token not in json.dumps([alice.sent, bob.sent])


def test_forged_tokens_are_refused_on_the_ui_route_and_another_tenants_gets_nothing(
    deployment: Deployment,
) -> None:
    d = deployment
    alice = d.idp.device_login(ALICE)["access_token"]
    bob = d.idp.device_login(BOB)["access_token"]
    with d.api(alice) as api:  # alice's session (the first test's, when it ran)
        known = api.get("/coordinator/api/v1/sessions", params={"tag": "alpha"}).json()
        if not known:
            made = api.post("/coordinator/api/v1/sessions", json={"tag": "alpha", "title": "x"})
            assert made.status_code == 201, made.text
            known = [made.json()]
    secret_id = known[0]["session_id"]
    kid = d.idp.state()["kids"][0]
    as_alice = claims(iss=d.idp.issuer, aud=AUDIENCE, sub="alice", nsight_tags=["alpha"])
    forged = {
        # bob's own token with its tags claim removed: "every tag", if it were believed
        "altered payload": tamper(bob),
        "alg none": unsigned_token(as_alice, {"alg": "none", "typ": "JWT"}),
        "signed by a stranger with the IdP's kid": SigningKey.rsa("x").sign(as_alice, kid=kid),
        "not a JWT": "0123456789abcdef",
    }
    ui_paths = ("/lab", "/nsight-lab/status", f"/nsight-lab/api/coordinator/sessions/{secret_id}")
    for what, token in forged.items():
        with d.api(token) as api:
            for path in ui_paths:
                answer = api.get(path)
                # Envoy's jwt_authn answers; JupyterLab never sees the request.
                assert answer.status_code == 401 and "Jwt" in answer.text, (what, path, answer)
    # bob's real token on the UI route: the panel's API acts as bob, who gets nothing of alpha.
    with d.api(bob) as api:
        answer = api.get(f"/nsight-lab/api/coordinator/sessions/{secret_id}")
        assert answer.status_code == 404, answer.text
        answer = api.get("/nsight-lab/api/coordinator/sessions", params={"tag": "alpha"})
        assert answer.status_code == 200 and answer.json() == []
    # Around the gateway, straight to JupyterLab: the server's own (root) login is never
    # used, and a forged token is the gateway's to refuse.
    direct = f"{d.lab.url}/nsight-lab/api/coordinator/sessions/{secret_id}"
    answer = httpx.get(direct, timeout=30)
    assert answer.status_code == 401 and "no login came with the request" in answer.text
    answer = httpx.get(
        direct, headers={"Authorization": f"Bearer {forged['alg none']}"}, timeout=30
    )
    assert answer.status_code == 401 and "refused your login" in answer.text


def test_programs_without_a_token_get_a_401_not_a_login_page(deployment: Deployment) -> None:
    with httpx.Client(
        verify=ssl.create_default_context(cafile=str(deployment.ca_file)), timeout=10
    ) as client:
        answer = client.get(f"{deployment.stack.url}/coordinator/api/v1/sessions")
    assert answer.status_code == 401
