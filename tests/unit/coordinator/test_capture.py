"""Capture control per collection: options checked per collector, presets, step alignment.

Agents are driven by hand through the coordinator's agent API (register, poll,
ack), so each test decides exactly what every agent answers and when.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient


def register(client: TestClient, instance: str, collector: str, tag: str = "default") -> str:
    answer = client.post(
        "agents",
        json={
            "tag": tag,
            "process_name": "train",
            "instance": instance,
            "pid": 1,
            "collector": collector,
            "capabilities": ["cpu"],
            "collector_note": "cupti: no CUDA driver on this host",
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert abs(body["server_time_ns"] - time.time_ns()) < 5_000_000_000
    return str(body["agent_id"])


def commands(client: TestClient, agent_id: str, after: int = 0) -> list[dict[str, Any]]:
    answer = client.get(f"agents/{agent_id}/commands", params={"after": after, "timeout": 0})
    return list(answer.json()["commands"])


def ack(client: TestClient, agent_id: str, seq: int, **body: Any) -> None:
    answer = client.post(f"agents/{agent_id}/commands/{seq}/ack", json={"ok": True, **body})
    assert answer.status_code == 204, answer.text


def test_status_shows_collector_capabilities_and_why(client: TestClient) -> None:
    register(client, "w0", "torch")
    (agent,) = client.get("tags/default/status").json()["agents"]
    assert agent["collector"] == "torch" and agent["capabilities"] == ["cpu"]
    assert agent["collector_note"] == "cupti: no CUDA driver on this host"
    assert client.get("clock").json()["time_ns"] > 0


def test_options_reach_the_agents_of_a_collector_that_applies_them(client: TestClient) -> None:
    a = register(client, "w0", "torch")
    started = client.post("profiler/start", json={"options": {"record_shapes": "true"}})
    assert started.status_code == 201, started.text
    assert started.json()["options"] == {"record_shapes": True}
    (command,) = commands(client, a)
    assert command["options"] == {"record_shapes": True}


def test_an_option_the_collector_cannot_apply_is_refused_naming_both(client: TestClient) -> None:
    register(client, "w0", "torch")
    register(client, "w1", "pyspy")
    refused = client.post("profiler/start", json={"options": {"rate": 200}})
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "agent train/w0" in detail and "records with torch" in detail
    assert "cannot apply --rate (a pyspy option)" in detail
    unknown = client.post("profiler/start", json={"options": {"warp_speed": 9}})
    assert unknown.status_code == 422
    assert "unknown collector option --warp-speed" in str(unknown.json()["detail"])
    both = client.post("profiler/start", json={"steps": 3, "duration_s": 5})
    assert both.status_code == 422 and "cannot be combined" in str(both.json()["detail"])
    # Nothing was started by the refused requests.
    assert client.get("tags/default/status").json()["active_session"] is None


def test_step_capture_starts_every_agent_at_one_step(client: TestClient) -> None:
    a = register(client, "rank0", "torch")
    b = register(client, "rank1", "torch")
    started = client.post("profiler/start", json={"steps": 3, "skip": 2}).json()
    cid = started["collection_id"]
    (first_a,) = commands(client, a)
    (first_b,) = commands(client, b)
    assert first_a["steps"] == 3 and first_a["from_step"] is None
    ack(client, a, first_a["seq"], step=40, step_ns=2_000_000_000, message="armed at step 40")
    # Nothing is chosen until every agent has answered.
    assert commands(client, a, first_a["seq"]) == []
    parts = client.get(f"collections/{cid}").json()["participants"]
    assert {p["state"] for p in parts} == {"PENDING"}
    ack(client, b, first_b["seq"], step=41, step_ns=2_500_000_000)
    (second_a,) = commands(client, a, first_a["seq"])
    (second_b,) = commands(client, b, first_b["seq"])
    # furthest agent's next step (41) + one step of margin (steps take seconds) + skip 2
    assert second_a["from_step"] == second_b["from_step"] == 44
    assert client.get(f"collections/{cid}").json()["from_step"] == 44
    ack(client, a, second_a["seq"], message="recording steps 44-46 with torch")
    parts = {p["instance"]: p for p in client.get(f"collections/{cid}").json()["participants"]}
    assert parts["rank0"]["state"] == "RECORDING" and parts["rank1"]["state"] == "PENDING"


def test_fast_steps_get_a_margin_that_covers_the_round_trip(client: TestClient) -> None:
    a = register(client, "rank0", "torch")
    client.post("profiler/start", json={"steps": 2})
    (first,) = commands(client, a)
    ack(client, a, first["seq"], step=1000, step_ns=1_000_000)  # 1 ms steps
    (second,) = commands(client, a, first["seq"])
    assert second["from_step"] >= 1000 + 500  # at least half a second of steps ahead


def test_an_agent_that_fails_does_not_hold_the_others_back(client: TestClient) -> None:
    a = register(client, "rank0", "torch")
    b = register(client, "rank1", "torch")
    client.post("profiler/start", json={"steps": 1})
    (first_a,) = commands(client, a)
    (first_b,) = commands(client, b)
    ack(client, a, first_a["seq"], step=5)
    client.post(
        f"agents/{b}/commands/{first_b['seq']}/ack",
        json={"ok": False, "message": "no CUDA driver"},
    )
    (second_a,) = commands(client, a, first_a["seq"])
    assert second_a["from_step"] == 6


def test_presets_are_stored_merged_and_a_tag_default_applies(client: TestClient) -> None:
    a = register(client, "w0", "torch", tag="trainers")
    saved = client.put(
        "presets/shapes",
        json={
            "name": "shapes",
            "description": "shapes and stacks for five steps",
            "options": {"record_shapes": True, "with_stack": True},
            "steps": 5,
            "skip": 10,
            "default_for_tags": ["trainers"],
        },
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["default_for_tags"] == ["trainers"]
    assert [p["name"] for p in client.get("presets").json()] == ["shapes"]

    # No preset named: the tag's default applies; the request's values override it.
    started = client.post(
        "profiler/start", json={"tag": "trainers", "options": {"with_stack": False}, "steps": 2}
    ).json()
    assert started["preset"] == "shapes"
    assert started["options"] == {"record_shapes": True, "with_stack": False}
    assert (started["steps"], started["skip"]) == (2, 10)
    (command,) = commands(client, a)
    assert command["options"] == {"record_shapes": True, "with_stack": False}


def test_preset_refusals_say_what_to_do(client: TestClient) -> None:
    register(client, "w0", "pyspy")
    body = {"name": "a", "options": {"rate": 50}, "default_for_tags": ["default"]}
    assert client.put("presets/a", json=body).status_code == 200
    clash = client.put("presets/b", json={**body, "name": "b"})
    assert clash.status_code == 409 and "already defaults to preset 'a'" in clash.json()["detail"]
    mismatch = client.put("presets/c", json={**body, "name": "d"})
    assert mismatch.status_code == 422
    bad = client.put("presets/e", json={"name": "e", "options": {"nope": 1}})
    assert bad.status_code == 422
    missing = client.post("profiler/start", json={"preset": "ghost"})
    assert (
        missing.status_code == 404 and "no preset 'ghost' (presets: a)" in missing.json()["detail"]
    )
    # An explicit empty preset ignores the tag default.
    started = client.post("profiler/start", json={"preset": ""}).json()
    assert started["options"] == {} and started["preset"] is None
    assert client.delete("presets/a").status_code == 204
    assert client.get("presets/a").status_code == 404


def test_a_state_file_from_before_capture_control_is_upgraded(tmp_path: Any) -> None:
    from nsight_coordinator.db import ADDED_COLUMNS, SCHEMA, Database
    from nsight_lab.servicekit import SQLiteFile

    path = tmp_path / "old.sqlite3"
    old = SQLiteFile(path, SCHEMA)  # the tables as the first coordinator made them
    old._conn.execute(
        "INSERT INTO agents (agent_id, tag, process_name, instance, host, pid, collector, "
        "agent_version, state, registered_at, last_seen) "
        "VALUES ('a1', 't', 'p', 'i', 'h', 1, 'pyspy', '', 'ONLINE', 0, 0)"
    )
    old.close()
    db = Database(path)
    for table, column, _ in ADDED_COLUMNS:
        assert column in {r["name"] for r in db._conn.execute(f"PRAGMA table_info({table})")}
    agent = db.get_agent("a1")
    assert agent is not None and agent.info().capabilities == []
    db.close()
