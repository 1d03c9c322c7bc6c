"""Each file's conversion state: the analysis side's work queue and what ``ls`` shows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from nsight_coordinator.db import Database

from .test_uploads import ask, begin


def _upload(api: httpx.Client, agent_id: str, cid: str, data: bytes, name: str) -> dict:
    plan = ask(api, agent_id, cid, data, name).json()
    assert api.put(plan["url"], content=data).status_code == 200
    info: dict = api.post(f"uploads/{plan['upload_id']}/complete", json={}).json()
    return info


def test_new_files_are_pending_and_the_queue_lists_them_oldest_first(api: httpx.Client) -> None:
    agent_id, _sid, cid = begin(api)
    first = _upload(api, agent_id, cid, b"a" * 100, "a.sqlite")
    second = _upload(api, agent_id, cid, b"b" * 100, "b.sqlite")
    assert first["conversion"] == {
        "state": "pending",
        "error": None,
        "trace_prefix": None,
        "updated_at": None,
    }
    queue = api.get("files", params={"conversion": "pending"}).json()
    assert [f["file_id"] for f in queue] == [first["file_id"], second["file_id"]]
    assert len(api.get("files", params={"conversion": "pending", "limit": 1}).json()) == 1
    assert api.get("files", params={"conversion": "sideways"}).status_code == 422
    assert api.get("files", params={"limit": 0}).status_code == 422


def test_the_outcome_is_recorded_on_the_file_and_leaves_the_queue(api: httpx.Client) -> None:
    agent_id, _sid, cid = begin(api)
    good = _upload(api, agent_id, cid, b"good" * 50, "good.sqlite")
    bad = _upload(api, agent_id, cid, b"bad" * 50, "bad.sqlite")
    prefix = f"traces/{good['sha256']}/"
    done = api.put(
        f"files/{good['file_id']}/conversion", json={"state": "converted", "trace_prefix": prefix}
    )
    assert done.status_code == 200 and done.json()["conversion"]["trace_prefix"] == prefix
    failed = api.put(
        f"files/{bad['file_id']}/conversion",
        json={"state": "failed", "error": "not a SQLite database"},
    ).json()
    assert failed["conversion"]["state"] == "failed"
    assert failed["conversion"]["error"] == "not a SQLite database"
    assert failed["conversion"]["updated_at"] is not None
    listed = {
        f["file_id"]: f["conversion"]["state"]
        for f in api.get("files", params={"collection_id": cid}).json()
    }
    assert listed == {good["file_id"]: "converted", bad["file_id"]: "failed"}
    pending = {f["file_id"] for f in api.get("files", params={"conversion": "pending"}).json()}
    assert not pending & set(listed)


def test_bad_conversion_reports_are_refused_with_the_field_at_fault(api: httpx.Client) -> None:
    agent_id, _sid, cid = begin(api)
    info = _upload(api, agent_id, cid, b"c" * 100, "c.sqlite")
    url = f"files/{info['file_id']}/conversion"
    no_prefix = api.put(url, json={"state": "converted"})
    assert no_prefix.status_code == 422 and "trace_prefix" in no_prefix.json()["detail"]
    other = api.put(url, json={"state": "converted", "trace_prefix": f"traces/{'0' * 64}/"})
    assert other.status_code == 422 and "not this file's" in other.json()["detail"]
    escaping = api.put(url, json={"state": "converted", "trace_prefix": "../../etc/"})
    assert escaping.status_code == 422
    unknown_state = api.put(url, json={"state": "done"})
    assert unknown_state.status_code == 422
    huge = api.put(url, json={"state": "failed", "error": "x" * 5000})
    assert huge.status_code == 422
    missing = api.put("files/nope/conversion", json={"state": "failed", "error": "x"})
    assert missing.status_code == 404 and "nsight-lab ls" in missing.json()["detail"]
    assert api.get(f"files/{info['file_id']}").json()["conversion"]["state"] == "pending"


def test_a_state_file_from_before_conversions_gains_the_columns(tmp_path: Path) -> None:
    """An upgrade keeps every file; each one starts out pending and gets converted."""
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        """CREATE TABLE files (file_id TEXT PRIMARY KEY, upload_id TEXT NOT NULL UNIQUE,
        key TEXT NOT NULL UNIQUE, session_id TEXT NOT NULL, collection_id TEXT NOT NULL,
        collection_index INTEGER NOT NULL, agent_id TEXT NOT NULL, tag TEXT NOT NULL,
        process_name TEXT NOT NULL, instance TEXT NOT NULL, filename TEXT NOT NULL,
        original_filename TEXT NOT NULL, kind TEXT NOT NULL, collector TEXT NOT NULL,
        size INTEGER NOT NULL, sha256 TEXT NOT NULL, created_at REAL NOT NULL)"""
    )
    old.execute(
        "INSERT INTO files VALUES ('f1', 'u1', 'sessions/s/c/x.sqlite', 's', 'c', 0, 'a', 'default',"
        " 'train', 'rank0', 'x.sqlite', 'r.sqlite', 'sqlite', 'nsys', 10, ?, 1.0)",
        ("ab" * 32,),
    )
    old.commit()
    old.close()
    db = Database(path)
    (only,) = db.list_files(session_id="s")
    assert only.file_id == "f1" and only.conversion.state.value == "pending"
    Database(path)  # opening again changes nothing
    db.close()
