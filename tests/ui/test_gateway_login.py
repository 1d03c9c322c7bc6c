"""Signing in through the gateway: Chromium, the provider's login page, JupyterLab's panel.

Real parts: the Envoy gateway in OAuth2 mode with TLS (a throwaway CA), the OIDC
provider and its login page, JupyterLab served behind the gateway at ``/``, the nsight-lab
services behind it at ``/coordinator/`` and ``/analysis/``. The browser starts with no
session: Envoy sends it to the provider, the user signs in, Envoy's callback sets its
session cookies, and the Nsight panel then reaches the coordinator through the server
extension, which attaches the server's own login (the browser never holds it).
Chromium is told to accept the test CA's certificate (``ignore_https_errors``); every
other client verifies it with the CA file.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tests.support.minio import free_port
from tests.support.oidc_provider import (
    ALICE,
    AUDIENCE,
    CLI_CLIENT_ID,
    GATEWAY_CLIENT_ID,
    GATEWAY_CLIENT_SECRET,
    OidcProvider,
)
from tests.support.tls import TestCA
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.ui.lab_server import JupyterLabServer

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def behind_the_gateway(
    tmp_path: Path, oidc_provider_factory: Any
) -> Iterator[tuple[GatewayStack, JupyterLabServer, OidcProvider]]:
    try:
        envoy_binary()
    except EnvoyError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI installs it, so its absence is a build failure)")
        pytest.skip(str(exc))
    ca = TestCA(tmp_path / "ca")
    pair = ca.issue("gateway")
    port = free_port()
    gateway_url = f"https://127.0.0.1:{port}"
    idp = oidc_provider_factory(gateway_redirect_uris=[f"{gateway_url}/oauth2/callback"])
    # JupyterLab has no token of its own: the gateway's login is the door.
    lab = JupyterLabServer(tmp_path / "lab", gateway_url)
    lab.token = ""
    conf = Path(lab.env["NSIGHT_CLOUD_CONF"])
    save_config(
        CliConfig(
            gw=gateway_url,
            tag="alpha",  # alice's tag: the gateway limits her to it
            ca_cert=str(ca.cert_file),
            auth=AuthSettings(issuer=idp.issuer, clientid=CLI_CLIENT_ID),
        ),
        conf,
    )
    meta = idp.discovery()
    TokenStore(tokens_path(conf)).save(  # as after `nsight-lab login` on the server
        TokenSet.from_response(
            idp.device_login(ALICE), issuer=idp.issuer, client_id=CLI_CLIENT_ID,
            token_endpoint=meta["token_endpoint"], revocation_endpoint=meta["revocation_endpoint"],
        )
    )  # fmt: skip
    lab.start()
    secret = tmp_path / "client-secret"
    secret.write_text(GATEWAY_CLIENT_SECRET)
    hmac = tmp_path / "hmac"
    hmac.write_text("h" * 44)
    options = GatewayOptions(
        modes=("oauth2",), issuer=idp.issuer, audiences=(AUDIENCE,),
        client_id=GATEWAY_CLIENT_ID, client_secret_file=secret, hmac_file=hmac,
        tls_cert=pair.cert, tls_key=pair.key,
    )  # fmt: skip
    stack = start_gateway_stack(
        StackConfig(data_dir=tmp_path / "up", host="127.0.0.1", port=port),
        build_spec(options, port),
        oidc=discover_oidc(idp.issuer),
        ui=Upstream("127.0.0.1", lab.port, "/"),
    )
    try:
        yield stack, lab, idp
    finally:
        stack.stop()
        lab.stop()


@pytest.fixture
def gateway_page(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1400, "height": 900}
        )
        context.set_default_timeout(30_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def test_sign_in_at_the_provider_and_use_the_panel_behind_the_gateway(
    behind_the_gateway: tuple[GatewayStack, JupyterLabServer, OidcProvider],
    gateway_page: Any,
    screenshots: Path,
) -> None:
    stack, lab, idp = behind_the_gateway
    page = gateway_page
    sent: list[dict[str, str]] = []
    page.on("request", lambda r: sent.append({"url": r.url, **r.headers}))
    page.goto(f"{stack.url}/lab")
    # Envoy sent the browser to the provider's login page.
    page.get_by_role("heading", name="Sign in to nsight-lab test IdP").wait_for()
    assert page.url.startswith(idp.issuer + "/interaction/")
    page.get_by_label("Username").fill(ALICE.username)
    page.get_by_label("Password").fill(ALICE.password)
    page.get_by_role("button", name="Sign in").click()
    # Back through /oauth2/callback into JupyterLab, behind the gateway.
    page.wait_for_url(f"{stack.url}/lab*", timeout=60_000)
    page.locator('.lm-TabBar-tab[data-id="nsight-lab-panel"]').click()
    panel = page.locator("#nsight-lab-panel")
    try:
        panel.get_by_text("connected", exact=True).wait_for(timeout=60_000)
    except Exception:
        page.screenshot(path=str(screenshots / "gateway-login-failed.png"))
        raise AssertionError(f"panel not connected: {panel.inner_text()}") from None
    # A write through the whole chain: panel, server extension, gateway, coordinator.
    panel.get_by_label("Session title").fill("signed in")
    panel.get_by_role("button", name="Begin session").click()
    panel.locator("button.jp-NsightLab-session", has_text="signed in").wait_for()
    page.screenshot(path=str(screenshots / "gateway-login-panel.png"))
    cookies = {c["name"] for c in page.context.cookies(stack.url)}
    assert {"BearerToken", "OauthHMAC"} <= cookies, cookies
    status = page.evaluate(
        "async () => (await fetch('/nsight-lab/status', {credentials: 'same-origin'})).json()"
    )
    assert status["reachable"] is True and status["auth"] == "oauth2", status
    # The server's own login never reached the browser: no request it made carried it.
    server_token = TokenStore(tokens_path(Path(lab.env["NSIGHT_CLOUD_CONF"]))).load()
    assert server_token is not None
    assert server_token.access_token not in json.dumps(sent)


def test_programs_without_a_token_get_a_401_not_a_login_page(
    behind_the_gateway: tuple[GatewayStack, JupyterLabServer, OidcProvider],
) -> None:
    import httpx

    stack, lab, _idp = behind_the_gateway
    ca = json.loads(Path(lab.env["NSIGHT_CLOUD_CONF"]).read_text())["ca_cert"]
    answer = httpx.get(
        f"{stack.url}/coordinator/api/v1/sessions",
        verify=ssl.create_default_context(cafile=ca),
        follow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 401
