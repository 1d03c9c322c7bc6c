"""Path tricks through Envoy: ``..``, ``%2e%2e``, ``%2f``, doubled slashes, overlong
paths and headers. A hypothesis property over real requests (sent raw with
``http.client``, since HTTP libraries tidy such paths before sending them).

What must hold, for any path built from these pieces:
- Envoy normalises first (RFC 3986 dot segments, merged slashes) and refuses encoded
  slashes and backslashes outright; routing and authentication see only the
  normalised path. So ``/analysis/../coordinator/...`` *is* a coordinator request,
  with the coordinator's checks: no trick lets a request skip the checks of the
  route it ends up on.
- Without credentials, nothing but a presigned-storage route is ever reached, and
  those refuse without a signature: no answer is 2xx.
- A service is only ever handed a normalised path under its own prefix.
- Nothing answers 5xx; oversized paths and headers are refused by Envoy (4xx).
"""

from __future__ import annotations

import http.client
from collections import Counter
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.gateway.conftest import World

pytestmark = pytest.mark.integration

PREFIXES = [
    "/coordinator/api/v1/storage/o/",  # the one prefix that skips authentication
    "/analysis/api/v1/storage/o/",
    "/coordinator/api/v1/",
    "/analysis/api/v1/",
    "/",
]
PIECES = st.sampled_from(
    [
        "..", ".", "%2e%2e", "%2E%2e", "%2e", ".%2e", "%2f", "%2F", "%5c", "%5C", "", "//",
        "sessions", "agents", "jobs", "files", "tags", "x", "storage", "o", "api", "v1",
        "coordinator", "analysis", "%00", "%252e%252e", ";", "%3b", "~", "a%20b",
    ]
)  # fmt: skip


def raw_request(url: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=15)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def assert_normalised(path: str) -> None:
    """What a service saw (percent-decoded once, by the server): no dot segment and
    no empty segment. A literal ``%2e`` left there came in double-encoded and is a
    plain name, not a way up."""
    segments = path.split("/")[1:]
    assert not any(s in (".", "..") for s in segments), path
    assert "" not in segments[:-1], path


def admitted_paths(world: World) -> Counter[str]:
    total: Counter[str] = Counter()
    for app in world.services.apps().values():
        total.update(app.state.tally.admitted)
    return total


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    prefix=st.sampled_from(PREFIXES),
    pieces=st.lists(PIECES, min_size=1, max_size=8),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
)
def test_no_path_trick_skips_authentication_or_leaves_its_route(
    gateway_world: World, prefix: str, pieces: list[str], method: str
) -> None:
    world = gateway_world
    url = world.modes["apikey"].url  # plain HTTP, so http.client can send the raw path
    before = admitted_paths(world)
    status, body = raw_request(url, method, prefix + "/".join(pieces), {})
    reached = admitted_paths(world) - before
    assert status < 500, (status, body[:200])
    assert not 200 <= status < 300, (prefix, pieces, status, body[:200])
    for path in reached:
        assert "/storage/o/" in path, f"an unauthenticated request reached {path}"
        assert_normalised(path)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pieces=st.lists(PIECES, min_size=1, max_size=8))
def test_an_authenticated_path_reaches_only_the_service_its_normalised_prefix_names(
    gateway_world: World, pieces: list[str]
) -> None:
    world = gateway_world
    mode = world.modes["apikey"]
    apps = world.services.apps()
    before = {name: Counter(app.state.tally.admitted) for name, app in apps.items()}
    status, body = raw_request(mode.url, "GET", "/analysis/" + "/".join(pieces), mode.admin)
    assert status < 500, (pieces, status, body[:200])
    for name, app in apps.items():
        for path in Counter(app.state.tally.admitted) - before[name]:
            assert_normalised(path)
            assert path.startswith(("/analysis/", "/coordinator/")), path


@pytest.mark.parametrize(
    ("what", "path", "headers"),
    [
        ("overlong path", "/coordinator/api/v1/" + "a" * 70_000, {}),
        ("overlong header", "/coordinator/api/v1/tags", {"X-Filler": "b" * 40_000}),
        ("many headers", "/coordinator/api/v1/tags", {f"X-H{i}": "c" * 100 for i in range(400)}),
        ("underscore header", "/coordinator/api/v1/tags", {"x_nsight_identity": "admin"}),
    ],
)
def test_oversized_or_odd_requests_are_refused_by_envoy(
    gateway_world: World, what: str, path: str, headers: dict[str, str]
) -> None:
    world = gateway_world
    mode = world.modes["apikey"]
    before = admitted_paths(world)
    status, _ = raw_request(mode.url, "GET", path, {**mode.admin, **headers})
    assert 400 <= status < 500, (what, status)
    assert admitted_paths(world) == before, what
