"""The attacker's side: every route of both services x every auth mode x every bad
credential is refused, and none of those requests reaches a service at all.

Routes come from the services' own OpenAPI documents, so a route added later is in
the matrix without editing this file. "Reaches nothing" is proven with each
service's guard tally (requests it let through): it must not move during the
credential and bypass batches. Tenant isolation is enforced inside the services by
design (from the identity header), so another tenant's valid credential does reach
the route; there the proof is that every answer is a 403/404 and that tenant
alpha's things are unchanged afterwards.

Bad credentials, per request:
- none; a wrong key (random bearer);
- tokens with bad claims (expired, not yet valid, wrong audience, wrong issuer)
  signed with a key the JWT mode trusts (in OAuth2-only mode nothing but the IdP
  can sign trusted tokens, so there these carry the IdP's kid and a stranger's
  signature);
- a trusted token with its payload altered; ``alg: none``; HS256 keyed with the
  trusted public key; a key id the gateway has never seen;
- OAuth2 session cookies from a real login at another gateway (same IdP and client,
  another HMAC key);
- another tenant's valid credential (on alpha's ids; lists must not show alpha);
- a valid credential sent straight to the services' port, without the gateway.

The UI's route (``/``, where a cluster serves JupyterLab) refuses the same bad
credentials before its upstream; it alone is handed the verified token, so that
JupyterLab can act as each signed-in user, while the services never get one.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.integration.gateway.conftest import (
    JWT_AUDIENCE,
    MODES,
    REG,
    TENANT_A,
    World,
    bearer,
    cookies_from_login,
)
from tests.support.gateway import (
    claims,
    hs256_with_public_key,
    tamper,
    unsigned_token,
)

pytestmark = pytest.mark.integration

SERVICE_PREFIX = {"coordinator": "/coordinator", "analysis": "/analysis"}
STORAGE = "/storage/o/"


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    template: str  # as in the OpenAPI document, e.g. /api/v1/sessions/{session_id}

    def path(self, values: dict[str, str]) -> str:
        values = {"seq": "1", **values}  # integers where the schema wants them
        filled = re.sub(
            r"\{(\w+)(:path)?\}", lambda m: values.get(m.group(1), "x0000"), self.template
        )
        return SERVICE_PREFIX[self.service] + filled

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{(\w+)", self.template)

    @property
    def is_storage(self) -> bool:
        return STORAGE in self.template


def routes_of(world: World) -> list[Route]:
    found = []
    for service, app in world.services.apps().items():
        for template, operations in app.openapi()["paths"].items():
            for method in operations:
                found.append(Route(service, method.upper(), template))
    return sorted(found, key=lambda r: (r.service, r.template, r.method))


def bad_credentials(world: World, mode: str) -> dict[str, dict[str, str]]:
    """Headers for every bad credential of the matrix, as sent in ``mode``."""
    trusted = world.trusted if mode != "oauth2" else None
    idp_kid = world.idp.state()["kids"][0]

    def signed(**overrides: Any) -> str:
        body = claims(**{"aud": JWT_AUDIENCE, "nsight_tags": [TENANT_A], **overrides})
        if trusted is not None:
            return trusted.sign(body)
        return world.stranger.sign(body, kid=idp_kid)

    now = int(time.time())
    good = signed()
    public = trusted or world.stranger
    return {
        "no credentials": {},
        "wrong key": bearer(secrets.token_urlsafe(24)),
        "expired": bearer(signed(lifetime=-600, issued=now - 1200)),
        "not yet valid": bearer(signed(not_before=now + 3600)),
        "wrong audience": bearer(signed(aud="someone-else")),
        "wrong issuer": bearer(signed(iss="https://evil.example")),
        "tampered signature": bearer(tamper(good)),
        "alg none": bearer(unsigned_token(claims(aud=JWT_AUDIENCE), {"alg": "none", "typ": "JWT"})),
        "HS256 with the public key": bearer(
            hs256_with_public_key(public, claims(aud=JWT_AUDIENCE))
        ),
        "unknown kid": bearer(world.stranger.sign(claims(aud=JWT_AUDIENCE), kid="never-seen")),
        "cookie from another hmac key": {
            "Cookie": "; ".join(f"{k}={v}" for k, v in world.foreign_cookies.items())
        },
    }


def send(
    world: World, jobs: Iterable[tuple[str, str, str, dict[str, str], Any]]
) -> list[tuple[str, str, str, int, str]]:
    """Send ``(base_url, method, path, headers, json)`` in parallel; answers in order."""
    jobs = list(jobs)
    local = {}

    def one(job: tuple[str, str, str, dict[str, str], Any]) -> tuple[str, str, str, int, str]:
        base, method, path, headers, body = job
        client = local.get(base)
        if client is None:
            client = local[base] = world.client(base_url=base)
        try:
            answer = client.request(method, path, headers=headers, json=body)
        except httpx.HTTPError as exc:  # a connection Envoy refused outright counts too
            return base, method, path, 0, repr(exc)
        if answer.is_redirect:  # where it sends the caller, rather than an empty body
            return base, method, path, answer.status_code, answer.headers.get("location", "")
        return base, method, path, answer.status_code, answer.text[:300]

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, jobs))


def body_for(route: Route, ids: dict[str, str]) -> Any:
    """A body that passes validation, so a refusal is about who asks, not what."""
    if route.method not in ("POST", "PUT", "PATCH"):
        return None
    by_path = {
        "/api/v1/sessions": {"tag": TENANT_A, "title": "intruder"},
        "/api/v1/agents": {**REG, "tag": TENANT_A},
        "/api/v1/profiler/start": {"tag": TENANT_A},
        "/api/v1/profiler/stop": {"tag": TENANT_A},
        "/api/v1/uploads": {
            "agent_id": ids.get("agent_id", "x0000"),
            "collection_id": ids.get("collection_id", "x0000"),
            "filename": "r.nsys-rep", "size": 1, "sha256": "0" * 64,
        },
        "/api/v1/uploads/{upload_id}/complete": {"parts": []},
        "/api/v1/agents/{agent_id}/commands/{seq}/ack": {"ok": True},
        "/api/v1/agents/{agent_id}/relays/{request_id}/failure": {"reason": "missing"},
        "/api/v1/files/{file_id}/conversion": {"state": "failed", "error": "intruder"},
        "/api/v1/jobs": {"recipe": "nvtx_sum", "tag": TENANT_A, "session_id": ids.get("session_id")},
    }  # fmt: skip
    return by_path.get(route.template, {})


def test_every_route_every_mode_every_bad_credential_is_refused_before_any_service(
    gateway_world: World,
) -> None:
    world = gateway_world
    routes = [r for r in routes_of(world) if not r.is_storage]
    assert len(routes) >= 25, f"the OpenAPI documents list only {len(routes)} routes"
    jobs = []
    labels = []
    for mode in MODES:
        for case, headers in bad_credentials(world, mode).items():
            for route in routes:
                jobs.append((world.modes[mode].url, route.method, route.path(world.alpha), headers,
                             body_for(route, world.alpha)))  # fmt: skip
                labels.append((mode, case))
    # The same valid credentials, straight at the services (no gateway, no secret).
    for mode in MODES:
        for route in routes:
            jobs.append((world.services.url, route.method, route.path(world.alpha),
                         world.modes[mode].admin, body_for(route, world.alpha)))  # fmt: skip
            labels.append((mode, "straight to the service"))
    before = world.services.admitted()
    answers = send(world, jobs)
    after = world.services.admitted()
    let_through = [
        (label, answer) for label, answer in zip(labels, answers, strict=True)
        if answer[3] not in (401, 403)
    ]  # fmt: skip
    assert not let_through, f"{len(let_through)} requests were not refused: {let_through[:10]}"
    assert after == before, f"refused requests reached a service: {before} -> {after}"
    per_case = {case: sum(1 for _, c in labels if c == case) for _, case in labels}
    print(
        f"\nnegative matrix: {len(jobs)} requests = {len(routes)} routes x {len(MODES)} modes "
        f"x {len(per_case) - 1} bad credentials + {per_case['straight to the service']} "
        "straight to the services; all refused, none reached a service"
    )


def test_the_valid_credentials_of_each_mode_are_accepted(gateway_world: World) -> None:
    """The other side of the matrix: it refuses bad credentials, not everything."""
    world = gateway_world
    for mode in MODES:
        m = world.modes[mode]
        for who in (m.alpha, m.beta, m.admin):
            answer = send(world, [(m.url, "GET", "/coordinator/api/v1/tags", who, None)])[0]
            assert answer[3] == 200, (mode, answer)


def test_another_tenants_valid_credential_gets_nothing_of_alpha(gateway_world: World) -> None:
    world = gateway_world
    routes = [r for r in routes_of(world) if not r.is_storage]
    jobs, meta = [], []
    for mode in MODES:
        for route in routes:
            jobs.append((world.modes[mode].url, route.method, route.path(world.alpha),
                         world.modes[mode].beta, body_for(route, world.alpha)))  # fmt: skip
            meta.append((mode, route))
    answers = send(world, jobs)
    secrets_of_alpha = [world.alpha[k] for k in ("session_id", "agent_id", "collection_id",
                                                 "upload_id", "file_id", "job_id")]  # fmt: skip
    wrong = []
    for (mode, route), (_, _, path, status, text) in zip(meta, answers, strict=True):
        owned = [p for p in route.params if p in world.alpha]
        names_alpha = isinstance(body_for(route, world.alpha), dict) and (
            body_for(route, world.alpha).get("tag") == TENANT_A
            or "agent_id" in (body_for(route, world.alpha) or {})
        )
        if owned or names_alpha:
            if status not in (403, 404):
                wrong.append((mode, route.method, path, status, text))
        elif status >= 500 or any(s in text for s in secrets_of_alpha):
            wrong.append((mode, route.method, path, status, text))
    assert not wrong, f"{len(wrong)} answers gave beta something of alpha's: {wrong[:8]}"
    # Nothing of alpha's changed: beta's end, cancel, delete, bye and completes were no-ops.
    with world.client(base_url=world.modes["apikey"].url) as api:
        alpha = world.modes["apikey"].alpha
        session = api.get(
            f"/coordinator/api/v1/sessions/{world.alpha['session_id']}", headers=alpha
        )
        assert session.status_code == 200 and session.json()["state"] == "ACTIVE"
        assert (
            api.get(f"/analysis/api/v1/jobs/{world.alpha['job_id']}", headers=alpha).status_code
            == 200
        )
        link = api.get(
            f"/coordinator/api/v1/files/{world.alpha['file_id']}/download", headers=alpha
        )
        assert link.status_code == 200
    print(f"\ntenant matrix: {len(jobs)} requests by tenant beta, none got anything of alpha's")


def test_presigned_storage_routes_refuse_every_request_without_a_valid_signature(
    gateway_world: World,
) -> None:
    """These routes skip the gateway's authentication by design (a presigned URL is
    its own authorization, as on S3); without a valid signature they refuse, whoever
    asks, and never hand out alpha's report."""
    world = gateway_world
    routes = [r for r in routes_of(world) if r.is_storage]
    assert {r.method for r in routes} >= {"GET", "PUT"}
    key = world.alpha["file_key"]
    variants = ["", "?exp=99999999999&sig=" + "0" * 64, "?exp=1&sig=" + "0" * 64]
    jobs = []
    for mode, route, query in itertools.product(MODES, routes, variants):
        for headers in [*list(bad_credentials(world, mode).values())[:3], world.modes[mode].admin]:
            path = route.path({"key": key}) + query
            jobs.append((world.modes[mode].url, route.method, path, headers, None))
    answers = send(world, jobs)
    wrong = [a for a in answers if a[3] != 403 or "not really a report" in a[4]]
    assert not wrong, wrong[:5]
    print(f"\nstorage matrix: {len(jobs)} unsigned or badly signed requests, all 403")


def test_a_client_cannot_forge_the_identity_or_the_gateways_secret(gateway_world: World) -> None:
    world = gateway_world
    m = world.modes["apikey"]
    forged = {
        **m.beta,
        "x-nsight-identity": "admin",
        "x-nsight-tags": TENANT_A,
        "x-nsight-gateway-secret": "guess",
    }
    answer = send(world, [(m.url, "GET", f"/coordinator/api/v1/sessions/{world.alpha['session_id']}",
                           forged, None)])[0]  # fmt: skip
    assert answer[3] == 404, answer


#: Paths that land on the UI's route: JupyterLab's pages, the panel's API behind its
#: server extension, and a service's name without its prefix's slash.
UI_PATHS = ("/lab", "/nsight-lab/api/coordinator/sessions", "/coordinator")


def test_the_ui_route_refuses_every_bad_credential_before_the_ui(gateway_world: World) -> None:
    world = gateway_world
    jobs, labels = [], []
    for mode in MODES:
        for case, headers in bad_credentials(world, mode).items():
            for path, method in itertools.product(UI_PATHS, ("GET", "POST")):
                jobs.append((world.modes[mode].url, method, path, headers,
                             {} if method == "POST" else None))  # fmt: skip
                labels.append((mode, case))
    before = len(world.ui.seen)
    answers = send(world, jobs)
    wrong = []
    for (mode, case), (_, method, path, status, text) in zip(labels, answers, strict=True):
        # A browser without a valid session is sent to the IdP's login; the rest is 401
        # (403 for a token for another audience), as on the services' routes.
        to_login = "oauth2" in mode and case in ("no credentials", "cookie from another hmac key")
        redirected = to_login and status == 302 and text.startswith(world.idp.issuer)
        if not (status in (401, 403) or redirected):
            wrong.append((mode, case, method, path, status, text[:120]))
    assert not wrong, f"{len(wrong)} bad credentials were not refused on the UI route: {wrong[:8]}"
    assert world.ui.seen[before:] == [], "a refused request reached the UI"
    print(f"\nUI route: {len(jobs)} requests with bad credentials, all refused before the UI")


def test_only_the_ui_route_is_handed_the_verified_token(gateway_world: World) -> None:
    """What JupyterLab's server extension needs to act as the signed-in user: the token
    Envoy verified, on its own route; an API key is never passed on."""
    world = gateway_world
    for mode in MODES:
        m = world.modes[mode]
        for who in (m.alpha, m.beta, m.admin):
            before = len(world.ui.seen)
            answer = send(world, [(m.url, "GET", "/lab", who, None)])[0]
            assert answer[3] == 200 and answer[4] == "the UI\n", (mode, answer)
            (got,) = world.ui.seen[before:]
            expected = None if mode == "apikey" else who["Authorization"]
            assert got.authorization == expected, (mode, got)
            assert got.has_secret and got.identity, got
    # A browser's login: the oauth2 filter turns its session cookie into the bearer
    # token, jwt_authn verifies it, and only the UI gets it.
    oauth2 = world.modes["oauth2"]
    cookies = cookies_from_login(oauth2.url, world.ca_file, world.idp)
    before = len(world.ui.seen)
    with world.client(base_url=oauth2.url, cookies=cookies) as browser:
        assert browser.get("/lab").status_code == 200
        assert browser.get("/coordinator/api/v1/sessions").status_code == 200
    (got,) = world.ui.seen[before:]
    assert got.identity == "alice" and got.authorization is not None, got
    # The access token itself (a JWT), not the cookie, which Envoy keeps encrypted.
    token = got.authorization.removeprefix("Bearer ")
    assert token.count(".") == 2 and token not in cookies.values()


def test_no_key_token_or_cookie_reaches_a_service_or_a_log(gateway_world: World) -> None:
    """Run last in this file: everything above sent credentials of every kind."""
    world = gateway_world
    assert world.services.leaked == [], world.services.leaked[:5]
    # Not because tokens are dropped everywhere: the UI route was handed them.
    assert any(r.authorization for r in world.ui.seen), "the UI should have had tokens"
    credentials = [
        h["Authorization"].removeprefix("Bearer ")
        for m in world.modes.values()
        for h in (m.alpha, m.beta, m.admin)
    ] + list(world.foreign_cookies.values())
    for mode in world.modes.values():
        # Envoy flushes its access log about once a second.
        deadline = time.monotonic() + 15
        while "/coordinator/api/v1/" not in (
            log := mode.envoy.log_path.read_text(errors="replace")
        ):
            assert time.monotonic() < deadline, "the access log should show the requests"
            time.sleep(0.2)
        for secret in credentials:
            assert secret[:24] not in log, f"a credential is in {mode.envoy.log_path}"
