"""``nsight-lab login`` with the code flow, the browser step played by Chromium.

The CLI prints the authorization URL (``--no-browser``: the test is the browser); Chromium
opens it, signs in on the provider's own login page, and is redirected to the CLI's
callback on localhost, whose page says the login worked. Everything real: the provider,
the page, the redirect, the PKCE exchange.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.identity.conftest import cli_home as cli_home  # the fixture
from tests.support.cli_home import CliHome, start_code_login
from tests.support.oidc_provider import ALICE, OidcProvider

pytestmark = [pytest.mark.ui, pytest.mark.integration]


def sign_in(page: Any, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_code_flow_login_in_a_real_browser(
    cli_home: CliHome, oidc_provider: OidcProvider, browser_page: Any, screenshots: Any
) -> None:
    proc, port, event = start_code_login(cli_home, oidc_provider)
    page = browser_page
    page.goto(event["url"])
    page.get_by_role("heading", name="Sign in to nsight-lab test IdP").wait_for()
    # A wrong password first: the page says so and nothing reaches the CLI.
    sign_in(page, ALICE.username, "not-her-password")
    page.get_by_role("alert").wait_for()
    assert "Wrong username or password" in page.get_by_role("alert").inner_text()
    sign_in(page, ALICE.username, ALICE.password)
    page.wait_for_url(f"http://localhost:{port}/callback?*")
    assert page.locator("#nsight-login-result").inner_text() == "Logged in"
    page.screenshot(path=str(screenshots / "cli-login-callback.png"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["subject"] == ALICE.username and result["refreshable"] is True
    assert cli_home.stored_tokens()["client_id"] == "nsight-cli"


def test_cancelling_at_the_provider_fails_the_login_clearly(
    cli_home: CliHome, oidc_provider: OidcProvider, browser_page: Any
) -> None:
    proc, port, event = start_code_login(cli_home, oidc_provider)
    page = browser_page
    page.goto(event["url"])
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"http://localhost:{port}/callback?*")
    assert page.locator("#nsight-login-result").inner_text() == "Login failed"
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5
    assert "access_denied" in err and "cancelled" in err
    assert not cli_home.tokens.exists()
