"""Behind a gateway: only requests with its secret are answered, and a caller
limited to some tags sees and touches only those tags' sessions, agents and files.

Requests here carry the headers Envoy would set (the gateway's own tests,
``tests/integration/gateway``, prove Envoy sets them and strips forgeries).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nsight_coordinator import CoordinatorSettings, create_app
from nsight_lab.servicekit import GatewaySettings
from nsight_lab.storage import LocalStore

SECRET = "per-deployment-secret-0123456789abcdef"
TEAM_A = {"x-nsight-gateway-secret": SECRET, "x-nsight-identity": "ci-a;tags=team-a"}
TEAM_B = {"x-nsight-gateway-secret": SECRET, "x-nsight-identity": "ci-b;tags=team-b"}
ADMIN = {"x-nsight-gateway-secret": SECRET, "x-nsight-identity": "admin"}
REG = {"process_name": "train", "instance": "rank0", "pid": 1, "collector": "simulated"}


@pytest.fixture
def client(settings: CoordinatorSettings, store: LocalStore) -> Iterator[TestClient]:
    app = create_app(settings, store, GatewaySettings(secret=SECRET))
    with TestClient(app, base_url="http://testserver/api/v1/") as c:
        yield c


def test_without_the_gateways_secret_nothing_is_answered(client: TestClient) -> None:
    tally = client.app.state.tally  # type: ignore[attr-defined]
    for headers in ({}, {"x-nsight-gateway-secret": "wrong"}, {"x-nsight-identity": "admin"}):
        answer = client.get("sessions", headers=headers)
        assert answer.status_code == 401
        assert "through its gateway" in answer.json()["detail"]
        assert client.get("no/such/route", headers=headers).status_code == 401
    assert tally.admitted_total == 0 and tally.refused == 6


def test_a_secret_sent_twice_is_refused(client: TestClient) -> None:
    headers = [("x-nsight-gateway-secret", SECRET), ("x-nsight-gateway-secret", SECRET)]
    assert client.get("sessions", headers=headers).status_code == 401


@pytest.fixture
def two_tenants(client: TestClient) -> dict[str, str]:
    """One session, agent and file per team; returns their ids."""
    ids: dict[str, str] = {}
    for team, headers in (("team-a", TEAM_A), ("team-b", TEAM_B)):
        agent = client.post("agents", json={**REG, "tag": team}, headers=headers).json()
        session = client.post("sessions", json={"tag": team, "title": team}, headers=headers).json()
        collection = client.post(
            "profiler/start", json={"tag": team, "session_id": session["session_id"]},
            headers=headers,
        ).json()  # fmt: skip
        data = team.encode() * 100
        plan = client.post(
            "uploads",
            json={
                "agent_id": agent["agent_id"],
                "collection_id": collection["collection_id"],
                "filename": "r.nsys-rep",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            },
            headers=headers,
        ).json()
        gateway_only = {"x-nsight-gateway-secret": SECRET}  # what Envoy adds
        assert client.put(plan["url"], content=data, headers=gateway_only).status_code == 200
        file = client.post(f"uploads/{plan['upload_id']}/complete", json={}, headers=headers).json()
        ids[team] = session["session_id"]
        ids[team + ":agent"] = agent["agent_id"]
        ids[team + ":collection"] = collection["collection_id"]
        ids[team + ":file"] = file["file_id"]
        ids[team + ":upload"] = plan["upload_id"]
    return ids


def test_lists_show_only_the_callers_tags(client: TestClient, two_tenants: dict[str, str]) -> None:
    for path in ("sessions", "agents", "files", "tags"):
        mine = client.get(path, headers=TEAM_A).json()
        everyone = client.get(path, headers=ADMIN).json()
        assert len(everyone) == 2 * len(mine) and mine, path
        text = str(mine)
        assert "team-b" not in text and two_tenants["team-b"] not in text, path
    assert client.get("sessions?tag=team-b", headers=TEAM_A).json() == []


def test_another_tenants_ids_answer_exactly_like_unknown_ones(
    client: TestClient, two_tenants: dict[str, str]
) -> None:
    theirs = {
        "sessions/{}": two_tenants["team-b"],
        "sessions/{}/end": two_tenants["team-b"],
        "agents/{}": two_tenants["team-b:agent"],
        "agents/{}/heartbeat": two_tenants["team-b:agent"],
        "agents/{}/bye": two_tenants["team-b:agent"],
        "collections/{}": two_tenants["team-b:collection"],
        "files/{}": two_tenants["team-b:file"],
        "files/{}/download": two_tenants["team-b:file"],
        "uploads/{}/complete": two_tenants["team-b:upload"],
        "tags/{}/status": "team-b",
    }
    for template, real in theirs.items():
        method = "POST" if template.endswith(("end", "heartbeat", "bye", "complete")) else "GET"
        body = {} if method == "POST" else None
        foreign = client.request(method, template.format(real), json=body, headers=TEAM_A)
        unknown = client.request(
            method, template.format("doesnotexist0000"), json=body, headers=TEAM_A
        )
        assert foreign.status_code == unknown.status_code == 404, template
        assert foreign.json()["detail"].replace(real, "ID") == unknown.json()["detail"].replace(
            "doesnotexist0000", "ID"
        ), template
    # Nothing of team-b's was touched: its session is still active, its agent online.
    assert (
        client.get(f"sessions/{two_tenants['team-b']}", headers=TEAM_B).json()["state"] == "ACTIVE"
    )
    agent = client.get(f"agents/{two_tenants['team-b:agent']}", headers=TEAM_B).json()
    assert agent["state"] == "ONLINE"


def test_naming_a_tag_one_may_not_use_is_forbidden(
    client: TestClient, two_tenants: dict[str, str]
) -> None:
    for method, path, body in (
        ("POST", "sessions", {"tag": "team-b"}),
        ("POST", "agents", {**REG, "tag": "team-b"}),
        ("POST", "profiler/start", {"tag": "team-b"}),
        ("POST", "profiler/stop", {"tag": "team-b"}),
    ):
        answer = client.request(method, path, json=body, headers=TEAM_A)
        assert answer.status_code == 403, (path, answer.text)
        assert "may not use tag 'team-b'; its tags: team-a" in answer.json()["detail"]


def test_an_agent_cannot_take_over_another_tenants_agent_id(
    client: TestClient, two_tenants: dict[str, str]
) -> None:
    theirs = two_tenants["team-b:agent"]
    answer = client.post(
        "agents", json={**REG, "tag": "team-a", "agent_id": theirs}, headers=TEAM_A
    )
    assert answer.status_code == 404
    assert client.get(f"agents/{theirs}", headers=TEAM_B).json()["tag"] == "team-b"


def test_without_a_gateway_identity_headers_are_ignored(
    settings: CoordinatorSettings, tmp_path: Path
) -> None:
    """``nsight-lab up`` on loopback: no secret configured, every caller unlimited, and a
    forged identity header limits (or grants) nothing."""
    app = create_app(settings, LocalStore(tmp_path / "o", b"k" * 32), GatewaySettings())
    with TestClient(app, base_url="http://testserver/api/v1/") as c:
        c.post("sessions", json={"tag": "team-b"})
        forged = {"x-nsight-identity": "x;tags=team-a"}
        assert len(c.get("sessions", headers=forged).json()) == 1
