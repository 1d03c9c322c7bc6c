"""A trace view on a JupyterLab many people share, behind the gateway's login: it answers
each caller only once the real gateway let that caller read the view's files.

Real parts: ``nsight-lab up --auth jwt`` (:class:`UpGateway`: Envoy verifying each
bearer JWT against a key file, tenants from the token's ``nsight_tags``, in front of
the real services), and the Jupyter server with ``forward_user_token`` on, called with
each user's token in the header the gateway forwards it in. Reports go up through the
gateway as tenant alpha. What the server asked the gateway is read from Envoy's access
log (the verified token's ``jti``), never from inside the server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nsight_lab.embedded.gateway import GatewayOptions
from nsight_lab.gateway.envoy import EnvoyError, envoy_binary
from tests.support.analysis_stack import KINETO_RANKS, Uploaded, upload_reports
from tests.support.gateway import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    UpGateway,
    claims,
    jwks,
    token_id,
)
from tests.support.stack import wait_until
from tests.unit.jupyter.server.fetching import fetch_json
from tests.unit.jupyter.server.test_traces import decode

pytestmark = pytest.mark.integration

#: Where the tests hand the Jupyter server each user's token, as the gateway's UI
#: route forwards it (``forwarded_token_header``): ``Authorization`` stays free for
#: the Jupyter server's own token, which pytest-jupyter's client sends.
FORWARDED = "X-Forwarded-Access-Token"


@dataclass(frozen=True)
class Tenants:
    gateway: UpGateway
    uploaded: Uploaded
    #: Bearer tokens: alice and carol are tenant alpha (which owns the reports), bob beta.
    alice: str
    carol: str
    bob: str


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[Tenants]:
    try:
        envoy_binary()
    except EnvoyError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI installs it, so its absence is a build failure)")
        pytest.skip(str(exc))
    root = tmp_path_factory.mktemp("tenants")
    key = SigningKey.rsa("view-gate")
    (root / "jwks.json").write_text(jwks(key))
    options = GatewayOptions(
        modes=("jwt",), jwks_file=root / "jwks.json", issuer=ISSUER, audiences=(AUDIENCE,)
    )

    def token(sub: str, tag: str) -> str:
        return key.sign(claims(sub=sub, nsight_tags=[tag], jti=f"{sub}-token", lifetime=900))

    alice = token("alice", "alpha")
    with UpGateway(root / "up", options) as gateway:
        uploaded = upload_reports(
            gateway.url + "/coordinator/api/v1/",
            [fixtures_dir / r for r in KINETO_RANKS],
            tag="alpha",
            headers={"Authorization": f"Bearer {alice}"},
        )
        yield Tenants(gateway, uploaded, alice, token("carol", "alpha"), token("bob", "beta"))


@pytest.fixture
def nsight_traitlets(tmp_path: Path) -> dict[str, Any]:
    return {
        "forward_user_token": True,
        "forwarded_token_header": FORWARDED,
        "trace_cache_dir": str(tmp_path / "trace-cache"),
    }


@pytest.fixture
def behind(tenants: Tenants, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tenants:
    """The server points at the gateway and holds no credential of its own."""
    monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(tmp_path / "absent.conf"))
    monkeypatch.setenv("NSIGHT_LAB_GW", tenants.gateway.url)
    for name in ("NSIGHT_API_KEY", "NSIGHT_LAB_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return tenants


def as_user(token: str) -> dict[str, str]:
    return {FORWARDED: f"Bearer {token}"}


async def test_another_caller_uses_a_view_only_once_the_gateway_lets_them_read_its_files(
    jp_fetch: Any, behind: Tenants
) -> None:
    """One JupyterLab serves many people, each request calling the API with its own
    forwarded login; a view opened by one must not answer anyone the gateway would not
    let read its files."""
    gateway = behind.gateway
    code, view = await open_view_as(jp_fetch, behind.alice, behind.uploaded.collection_id)
    assert code == 200, view
    view_id, span = view["view_id"], view["span_ns"]
    window = {"t0": 0, "t1": span, "width_px": 100}
    tiles = await jp_fetch(
        "nsight-lab", "traces", view_id, "tiles", params=window, headers=as_user(behind.alice)
    )
    assert decode(tiles.body)[0]["n"] > 0

    # Carol, of the same tenant: the gateway is asked once, with her token, per file.
    listed = httpx.get(gateway.url + "/coordinator/api/v1/files", timeout=10,
                       params={"collection_id": behind.uploaded.collection_id},
                       headers={"Authorization": f"Bearer {behind.alice}"})  # fmt: skip
    files = [f["file_id"] for f in listed.json()]
    assert len(files) == 2, listed.text
    seen = gateway.mark()
    for _ in range(2):
        answer = await jp_fetch("nsight-lab", "traces", view_id, "tiles", params=window,
                                headers=as_user(behind.carol))  # fmt: skip
        assert answer.code == 200 and decode(answer.body)[0]["n"] > 0
    checks = gateway.passages(since=seen)
    assert sorted((p.method, p.path.rsplit("/", 1)[-1], p.status, p.caller, p.token)
                  for p in checks) == sorted(
        ("GET", file_id, 200, "carol", token_id(behind.carol)) for file_id in files
    )  # fmt: skip
    assert all(p.path.startswith("/coordinator/api/v1/files/") for p in checks)

    # Bob, of another tenant: the gateway does not show him the files, so the view
    # answers him nothing, on every route, and asks again each time.
    seen = gateway.mark()
    for what, params in (("tiles", window), ("event", {"row": 0, "t": 0, "tolerance_ns": 0}),
                         ("summary", {"t0": 0, "t1": span})):  # fmt: skip
        code, body = await fetch_json(jp_fetch, "nsight-lab", "traces", view_id, what,
                                      params=params, headers=as_user(behind.bob))  # fmt: skip
        assert code in (403, 404), (what, code, body)
        assert set(body) == {"detail"} and "rank" not in json.dumps(body)
    refused = gateway.passages(since=seen)
    assert len(refused) == 3 and all(
        p.caller == "bob" and p.status in (403, 404) and "/files/" in p.path for p in refused
    ), refused


async def open_view_as(jp_fetch: Any, token: str, collection_id: str) -> tuple[int, Any]:
    return await fetch_json(
        jp_fetch, "nsight-lab", "traces", method="POST",
        body=json.dumps({"collection_id": collection_id}),
        headers={"Content-Type": "application/json", **as_user(token)},
    )  # fmt: skip


def test_a_stored_layout_is_served_only_to_a_tenant_with_that_content(behind: Tenants) -> None:
    """The layout route behind the real gateway: the owner's tenant gets the head and
    URLs; another tenant, no token, or a bad token get nothing that tells it exists."""
    from nsight_lab.jupyter.widgets.lanes import LAYERS
    from nsight_lab.jupyter.widgets.trace_view import layout_name

    api = behind.gateway.url + "/analysis/api/v1/"

    alice = {"Authorization": f"Bearer {behind.alice}"}
    # This gateway's analysis side has no ingest loop: a job converts (and lays out) them.
    job = httpx.post(api + "jobs", headers=alice, timeout=30, json={
        "recipe": "cuda_gpu_kern_sum", "tag": "alpha", "collection_id": behind.uploaded.collection_id,
        "notebook": False}).json()  # fmt: skip
    assert "job_id" in job, job

    def finished() -> dict[str, Any] | None:
        found: dict[str, Any] = httpx.get(api + f"jobs/{job['job_id']}", headers=alice,
                                          timeout=10).json()  # fmt: skip
        return found if found["state"] in ("succeeded", "failed") else None

    assert wait_until(finished, 120, "a job over alpha's reports")["state"] == "succeeded"
    listed = httpx.get(behind.gateway.url + "/coordinator/api/v1/files", timeout=10,
                       params={"collection_id": behind.uploaded.collection_id}, headers=alice)  # fmt: skip
    sha = listed.json()[0]["sha256"]
    route = f"traces/{sha}/layouts/{layout_name(LAYERS)}"

    def laid_out() -> httpx.Response | None:  # after the conversion, in the layout thread
        found = httpx.get(api + route, headers={"Authorization": f"Bearer {behind.carol}"},
                          timeout=10)  # fmt: skip
        return found if found.status_code != 404 else None

    owner = wait_until(laid_out, 120, "the stored layout")
    assert owner.status_code == 200, owner.text
    assert owner.json()["head"]["layout"]["event_count"] > 0
    other = httpx.get(api + route, headers={"Authorization": f"Bearer {behind.bob}"}, timeout=10)
    nobody = httpx.get(api + f"traces/{'0' * 64}/layouts/{layout_name(LAYERS)}",
                       headers={"Authorization": f"Bearer {behind.bob}"}, timeout=10)  # fmt: skip
    assert other.status_code == nobody.status_code == 404
    # The same answer as for content no one uploaded: nothing tells bob alpha has it.
    assert other.json() == {"detail": nobody.json()["detail"].replace("0" * 64, sha)}
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
        refused = httpx.get(api + route, headers=headers, timeout=10)
        assert refused.status_code == 401 and "urls" not in refused.text
