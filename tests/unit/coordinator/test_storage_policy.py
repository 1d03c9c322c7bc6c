"""What presigned URLs may do: one object, one method, briefly, and never overwrite.

Also the part-size plan for very large reports: schemathesis found that a size
needing more than 10,000 parts at the default part size answered 500.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import httpx
import pytest

from nsight_lab.storage import (
    DEFAULT_EXPIRY_S,
    DEFAULT_PART_SIZE,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    ObjectTooLarge,
    part_size_for,
)

from .test_uploads import ask, begin


def test_presigned_urls_live_ten_minutes_by_default(api: httpx.Client) -> None:
    assert DEFAULT_EXPIRY_S == 600
    agent_id, _, cid = begin(api)
    plan = ask(api, agent_id, cid, b"x" * 10).json()
    expires = datetime.fromisoformat(plan["expires_at"].replace("Z", "+00:00"))
    left = (expires - datetime.now(timezone.utc)).total_seconds()
    assert 590 < left <= 600


def test_a_verified_report_cannot_be_overwritten_through_its_url(api: httpx.Client) -> None:
    agent_id, _, cid = begin(api)
    data = b"the real report" * 50
    plan = ask(api, agent_id, cid, data).json()
    assert api.put(plan["url"], content=data).status_code == 200
    info = api.post(f"uploads/{plan['upload_id']}/complete", json={}).json()

    replay = api.put(plan["url"], content=b"something else entirely")
    assert replay.status_code == 412, replay.text
    assert "may not replace it" in replay.json()["detail"]
    link = api.get(f"files/{info['file_id']}/download").json()["url"]
    assert api.get(link).content == data


def test_dropping_the_exclusive_mark_breaks_the_signature(api: httpx.Client) -> None:
    agent_id, _, cid = begin(api)
    plan = ask(api, agent_id, cid, b"r" * 10).json()
    assert "new=1" in plan["url"]
    stripped = plan["url"].replace("new=1&", "").replace("&new=1", "")
    answer = api.put(stripped, content=b"r" * 10)
    assert answer.status_code == 403 and "bad signature" in answer.json()["detail"]


def test_a_url_reaches_one_object_with_one_method(api: httpx.Client) -> None:
    agent_id, _, cid = begin(api)
    data = b"one object" * 10
    plan = ask(api, agent_id, cid, data).json()
    assert api.get(plan["url"]).status_code == 403  # a PUT URL does not read
    other = plan["url"].replace(plan["key"].rsplit("/", 1)[-1], "other.nsys-rep")
    assert api.put(other, content=data).status_code == 403


class TestPartSizes:
    def test_default_part_size_until_ten_thousand_parts(self) -> None:
        assert part_size_for(DEFAULT_PART_SIZE * MAX_PARTS) == DEFAULT_PART_SIZE

    def test_grows_in_whole_mib_to_fit_ten_thousand_parts(self) -> None:
        size = DEFAULT_PART_SIZE * MAX_PARTS + 1
        part = part_size_for(size)
        assert part % (1024 * 1024) == 0 and part > DEFAULT_PART_SIZE
        assert -(-size // part) <= MAX_PARTS

    def test_the_largest_object_fits_and_one_byte_more_does_not(self) -> None:
        assert part_size_for(MAX_OBJECT_SIZE) <= MAX_PART_SIZE
        with pytest.raises(ObjectTooLarge, match="5 TiB"):
            part_size_for(MAX_OBJECT_SIZE + 1)


def test_a_report_needing_more_than_ten_thousand_parts_gets_bigger_parts(
    api: httpx.Client,
) -> None:
    agent_id, _, cid = begin(api)
    size = DEFAULT_PART_SIZE * MAX_PARTS + 12345
    answer = api.post(
        "uploads",
        json={
            "agent_id": agent_id,
            "collection_id": cid,
            "filename": "huge.nsys-rep",
            "size": size,
            "sha256": hashlib.sha256(b"").hexdigest(),
        },
        timeout=120,  # 10,000 signed part URLs: a few seconds on a busy machine
    )
    assert answer.status_code == 201, answer.text
    plan = answer.json()
    assert plan["method"] == "multipart"
    assert len(plan["parts"]) <= MAX_PARTS
    assert plan["part_size"] * len(plan["parts"]) >= size


def test_a_report_beyond_what_storage_holds_is_refused_with_413(api: httpx.Client) -> None:
    agent_id, _, cid = begin(api)
    answer = api.post(
        "uploads",
        json={
            "agent_id": agent_id,
            "collection_id": cid,
            "filename": "impossible.nsys-rep",
            "size": MAX_OBJECT_SIZE + 1,
            "sha256": hashlib.sha256(b"").hexdigest(),
        },
    )
    assert answer.status_code == 413
    assert "5 TiB" in answer.json()["detail"]


def test_numbers_past_64_bits_are_refused_not_a_server_error(api: httpx.Client) -> None:
    """Found by schemathesis through the gateway: such sizes, pids and seqs used to
    reach SQLite and answer 500."""
    agent_id, _, cid = begin(api)
    huge = 2**64
    plan = api.post(
        "uploads",
        json={"agent_id": agent_id, "collection_id": cid, "filename": "r.nsys-rep",
              "size": huge, "sha256": "0" * 64},
    )  # fmt: skip
    assert plan.status_code == 413
    reg = {"process_name": "p", "instance": "i", "pid": huge, "collector": "simulated"}
    assert api.post("agents", json=reg).status_code == 422
    ack = api.post(f"agents/{agent_id}/commands/{huge}/ack", json={"ok": True})
    assert ack.status_code in (404, 422), ack.text
    poll = api.get(f"agents/{agent_id}/commands", params={"after": huge, "timeout": 0})
    assert poll.status_code == 422, poll.text
