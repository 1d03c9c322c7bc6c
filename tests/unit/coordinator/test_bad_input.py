"""Bad requests get the right status and a ``detail`` sentence saying what to do."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

REG = {"process_name": "train", "instance": "rank0", "pid": 7, "collector": "simulated"}


def detail(answer: object) -> str:
    body = answer.json()  # type: ignore[attr-defined]
    assert set(body) == {"detail"} and isinstance(body["detail"], str), body
    return str(body["detail"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "sessions/0123456789abcdef"),
        ("post", "sessions/0123456789abcdef/end"),
        ("get", "collections/0123456789abcdef"),
    ],
)
def test_unknown_ids_are_404_and_say_how_to_list_sessions(
    client: TestClient, method: str, path: str
) -> None:
    answer = getattr(client, method)(path)
    assert answer.status_code == 404
    assert "GET /api/v1/sessions" in detail(answer)


def test_unknown_session_in_a_start_is_404(client: TestClient) -> None:
    answer = client.post("profiler/start", json={"session_id": "nope"})
    assert answer.status_code == 404
    assert "'nope'" in detail(answer)


def test_ending_an_ended_session_is_409(client: TestClient) -> None:
    sid = client.post("sessions", json={"title": "t"}).json()["session_id"]
    assert client.post(f"sessions/{sid}/end").status_code == 200
    again = client.post(f"sessions/{sid}/end")
    assert again.status_code == 409
    assert "already ended" in detail(again)


def test_a_second_active_session_for_a_tag_is_409(client: TestClient) -> None:
    sid = client.post("sessions", json={}).json()["session_id"]
    again = client.post("sessions", json={})
    assert again.status_code == 409
    assert f"sessions/{sid}/end" in detail(again)
    assert client.post("sessions", json={"tag": "other"}).status_code == 201


def test_starting_with_no_agents_is_409_and_says_how_to_start_one(client: TestClient) -> None:
    answer = client.post("profiler/start", json={"tag": "gpu-a"})
    assert answer.status_code == 409
    assert "nsight-lab run --tag gpu-a -- python" in detail(answer)
    # Nothing was created on the way.
    assert client.get("sessions", params={"tag": "gpu-a"}).json() == []


def test_stopping_with_nothing_running_is_409(client: TestClient) -> None:
    answer = client.post("profiler/stop", json={})
    assert answer.status_code == 409
    assert "profiler-start" in detail(answer)


def test_titles_with_dots_and_slashes_are_kept_as_text(client: TestClient) -> None:
    title = "../../etc/passwd /tmp\\x"
    session = client.post("sessions", json={"title": title}).json()
    assert session["title"] == title
    assert client.get(f"sessions/{session['session_id']}").json()["title"] == title


@pytest.mark.parametrize(
    ("title", "problem"),
    [
        ("bad\x00title", "U+0000"),
        ("line\nbreak", "U+000A"),
        ("escape \x1b[31m", "U+001B"),
        ("x" * 10_000, "at most 200 characters"),
        ("x" * 201, "at most 200 characters"),
    ],
)
def test_unprintable_or_long_titles_are_422(client: TestClient, title: str, problem: str) -> None:
    answer = client.post("sessions", json={"title": title})
    assert answer.status_code == 422
    message = detail(answer)
    assert "title" in message and problem in message
    assert client.get("sessions").json() == []


def test_a_200_character_title_is_accepted(client: TestClient) -> None:
    assert client.post("sessions", json={"title": "é" * 200}).status_code == 201


def test_poll_timeout_above_30_s_is_422(client: TestClient) -> None:
    agent_id = client.post("agents", json=REG).json()["agent_id"]
    answer = client.get(f"agents/{agent_id}/commands", params={"timeout": 31})
    assert answer.status_code == 422
    assert "timeout" in detail(answer)


def test_unknown_agents_are_told_to_register_again(client: TestClient) -> None:
    for answer in (
        client.post("agents/ghost/heartbeat"),
        client.get("agents/ghost/commands", params={"timeout": 0}),
        client.post("agents/ghost/commands/1/ack", json={"ok": True}),
        client.post("agents/ghost/bye"),
    ):
        assert answer.status_code == 404
        assert "register again" in detail(answer)


def test_re_registering_under_an_unknown_id_keeps_that_id(client: TestClient) -> None:
    answer = client.post("agents", json={**REG, "agent_id": "from-before-a-wipe"})
    assert answer.json()["agent_id"] == "from-before-a-wipe"
    assert answer.json()["last_acked_seq"] == 0
    assert client.post("agents/from-before-a-wipe/heartbeat").status_code == 204


def test_a_malformed_agent_id_is_422(client: TestClient) -> None:
    answer = client.post("agents", json={**REG, "agent_id": "../../x"})
    assert answer.status_code == 422
    assert "agent_id" in detail(answer)


def test_acking_an_unknown_seq_is_404(client: TestClient) -> None:
    agent_id = client.post("agents", json=REG).json()["agent_id"]
    answer = client.post(f"agents/{agent_id}/commands/99/ack", json={"ok": True})
    assert answer.status_code == 404
    assert "seq 99" in detail(answer)


def test_missing_fields_name_the_field(client: TestClient) -> None:
    answer = client.post("agents", json={"instance": "x"})
    assert answer.status_code == 422
    message = detail(answer)
    assert "process_name" in message and "pid" in message


def test_a_failed_start_ack_fails_the_part_with_its_message(client: TestClient) -> None:
    agent_id = client.post("agents", json=REG).json()["agent_id"]
    collection = client.post("profiler/start", json={}).json()
    batch = client.get(f"agents/{agent_id}/commands", params={"after": 0, "timeout": 0}).json()
    seq = batch["commands"][0]["seq"]
    answer = client.post(
        f"agents/{agent_id}/commands/{seq}/ack", json={"ok": False, "message": "nsys not found"}
    )
    assert answer.status_code == 204
    final = client.get(f"collections/{collection['collection_id']}").json()
    assert final["state"] == "FAILED"
    assert final["participants"][0]["state"] == "FAILED"
    assert final["participants"][0]["message"] == "nsys not found"


def test_a_start_for_another_tags_session_is_409(client: TestClient) -> None:
    client.post("agents", json=REG)
    sid = client.post("sessions", json={"tag": "default"}).json()["session_id"]
    answer = client.post("profiler/start", json={"session_id": sid, "tag": "other"})
    assert answer.status_code == 409
    assert "belongs to tag 'default'" in detail(answer)


def test_openapi_lives_under_the_api_root(client: TestClient) -> None:
    schema = client.get("openapi.json").json()
    assert "/api/v1/agents/{agent_id}/commands" in schema["paths"]
    assert client.get("docs").status_code == 200
