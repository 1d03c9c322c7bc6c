"""Remote JWKS: Envoy fetches the IdP's keys and refreshes them, so a key rotation at
the IdP is followed without a restart: tokens of the new key start to work, and
tokens of a key the IdP stopped publishing stop working.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from nsight_lab.embedded.stack import free_port
from nsight_lab.gateway import GatewaySpec
from tests.integration.gateway.conftest import World, bearer
from tests.support.gateway import EnvoyUnderTest
from tests.support.oidc_provider import ALICE, OidcProvider

pytestmark = pytest.mark.integration


def status_within(url: str, headers: dict[str, str], want: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    status = 0
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            status = client.get(url + "/coordinator/api/v1/tags", headers=headers).status_code
            if status == want:
                return status
            time.sleep(0.25)
    return status


def test_a_rotated_idp_key_is_picked_up_and_a_dropped_one_refused(
    gateway_world: World,
    oidc_provider_factory: Callable[..., OidcProvider],
    tmp_path: Path,
) -> None:
    idp = oidc_provider_factory()
    jwks_uri = idp.discovery()["jwks_uri"]
    spec = GatewaySpec.model_validate(
        {
            "port": free_port(),
            "adminPort": free_port(),
            "authentication": {
                "jwt": {
                    "enabled": True,
                    "issuer": idp.issuer,
                    "audiences": [idp.audience],
                    "jwksUri": jwks_uri,
                    "jwksCacheDurationSeconds": 2,
                }
            },
        }
    )
    envoy = EnvoyUnderTest(spec, gateway_world.services, tmp_path / "envoy").start()
    try:

        def token() -> dict[str, Any]:
            return bearer(idp.device_login(ALICE)["access_token"])

        old = token()
        assert status_within(envoy.url, old, 200, 10) == 200
        fetched = idp.state()["counters"]["jwks"]
        idp.rotate_keys(drop_old=True)
        new = token()
        assert status_within(envoy.url, new, 200, 15) == 200, "the new key was not picked up"
        assert status_within(envoy.url, old, 401, 15) == 401, "the dropped key still works"
        assert idp.state()["counters"]["jwks"] > fetched
    finally:
        envoy.stop()
