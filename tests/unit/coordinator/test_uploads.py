"""Uploads through the local backend's presigned URLs, served by a live coordinator."""

from __future__ import annotations

import concurrent.futures
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nsight_coordinator import CoordinatorSettings
from nsight_lab.storage import MIN_PART_SIZE, LocalStore, validate_key

from .live_server import LiveCoordinator


def register(api: httpx.Client, instance: str = "rank0", process: str = "train") -> str:
    reg = {"process_name": process, "instance": instance, "pid": 7, "collector": "simulated"}
    return str(api.post("agents", json=reg).json()["agent_id"])


def begin(api: httpx.Client, **agent: str) -> tuple[str, str, str]:
    """An agent in a running collection: (agent_id, session_id, collection_id)."""
    agent_id = register(api, **agent)
    collection = api.post("profiler/start", json={}).json()
    return agent_id, collection["session_id"], collection["collection_id"]


def ask(
    api: httpx.Client, agent_id: str, cid: str, data: bytes, name: str = "report.nsys-rep"
) -> httpx.Response:
    return api.post(
        "uploads",
        json={
            "agent_id": agent_id,
            "collection_id": cid,
            "filename": name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )


def test_single_upload_is_verified_registered_once_and_downloadable(
    api: httpx.Client, store: LocalStore
) -> None:
    agent_id, sid, cid = begin(api)
    data = b"nsys report" * 100
    answer = ask(api, agent_id, cid, data)
    assert answer.status_code == 201
    plan = answer.json()
    assert plan["method"] == "single" and plan["existing_file_id"] is None
    assert plan["url"].startswith(str(api.base_url) + "storage/o/sessions/")
    put = api.put(plan["url"], content=data)
    assert (
        put.status_code == 200 and put.headers["etag"].strip('"') == hashlib.md5(data).hexdigest()
    )

    first = api.post(f"uploads/{plan['upload_id']}/complete", json={})
    assert first.status_code == 201
    info = first.json()
    assert info["key"] == plan["key"]
    assert info["key"].startswith(f"sessions/{sid}/{cid}/train_default_rank0_")
    assert info["key"].endswith(".nsys-rep")
    assert info["filename"] == info["key"].rsplit("/", 1)[1]
    assert (info["size"], info["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())

    again = api.post(f"uploads/{plan['upload_id']}/complete", json={})
    assert again.status_code == 201 and again.json() == info
    retried = ask(api, agent_id, cid, data).json()
    assert retried["existing_file_id"] == info["file_id"]
    assert retried["method"] == "none"
    assert [f["file_id"] for f in api.get("files", params={"collection_id": cid}).json()] == [
        info["file_id"]
    ]
    part = api.get(f"collections/{cid}").json()["participants"][0]
    assert part["state"] == "UPLOADED"

    link = api.get(f"files/{info['file_id']}/download").json()
    download = api.get(link["url"])
    assert download.content == data
    assert info["filename"] in download.headers["content-disposition"]
    assert store.head(info["key"]) is not None


def test_a_mismatching_sha256_is_422_and_the_object_is_deleted(
    api: httpx.Client, store: LocalStore
) -> None:
    agent_id, _sid, cid = begin(api)
    declared = b"what the agent meant to send"
    plan = ask(api, agent_id, cid, declared).json()
    api.put(plan["url"], content=b"what actually arrived here!!").raise_for_status()
    assert store.head(plan["key"]) is not None

    answer = api.post(f"uploads/{plan['upload_id']}/complete", json={})
    assert answer.status_code == 422
    message = answer.json()["detail"]
    assert "sha256" in message and "POST /api/v1/uploads" in message
    assert store.head(plan["key"]) is None
    assert api.get("files").json() == []
    # The failed plan is spent; the agent asks again and gets a fresh one.
    assert api.post(f"uploads/{plan['upload_id']}/complete", json={}).status_code == 409
    fresh = ask(api, agent_id, cid, declared).json()
    assert fresh["upload_id"] != plan["upload_id"]
    api.put(fresh["url"], content=declared).raise_for_status()
    assert api.post(f"uploads/{fresh['upload_id']}/complete", json={}).status_code == 201


def test_a_truncated_upload_is_422(api: httpx.Client, store: LocalStore) -> None:
    agent_id, _sid, cid = begin(api)
    data = bytes(range(256)) * 40
    plan = ask(api, agent_id, cid, data).json()
    api.put(plan["url"], content=data[: len(data) // 2]).raise_for_status()
    answer = api.post(f"uploads/{plan['upload_id']}/complete", json={})
    assert answer.status_code == 422
    assert "wrong size" in answer.json()["detail"]
    assert store.head(plan["key"]) is None


def test_completing_before_uploading_is_422(api: httpx.Client) -> None:
    agent_id, _sid, cid = begin(api)
    plan = ask(api, agent_id, cid, b"never sent").json()
    answer = api.post(f"uploads/{plan['upload_id']}/complete", json={})
    assert answer.status_code == 422
    assert "missing" in answer.json()["detail"]


def test_a_repeated_request_reuses_the_pending_plan(api: httpx.Client) -> None:
    agent_id, _sid, cid = begin(api)
    first = ask(api, agent_id, cid, b"abc").json()
    second = ask(api, agent_id, cid, b"abc").json()
    assert (second["upload_id"], second["key"]) == (first["upload_id"], first["key"])
    other = ask(api, agent_id, cid, b"abc", name="other.nsys-rep").json()
    assert other["key"] != first["key"]


def test_the_agents_filename_never_shapes_the_path(api: httpx.Client) -> None:
    agent_id, sid, cid = begin(api, instance="a/../../b c", process="../evil")
    plan = ask(api, agent_id, cid, b"x", name="../../../etc/passwd.sqlite").json()
    prefix = f"sessions/{sid}/{cid}/"
    assert plan["key"].startswith(prefix)
    name = plan["key"][len(prefix) :]
    # One component: slashes become '-', so the dots left inside are plain characters.
    assert "/" not in name and not name.startswith(".")
    assert validate_key(plan["key"]) == plan["key"]
    assert name.endswith(".sqlite") and name.startswith("evil_default_a-..-..-b-c_")


def test_only_participants_may_upload(api: httpx.Client) -> None:
    _agent_id, _sid, cid = begin(api)
    latecomer = register(api, instance="late")
    answer = ask(api, latecomer, cid, b"x")
    assert answer.status_code == 409
    assert "did not take part" in answer.json()["detail"]
    assert ask(api, latecomer, "nope", b"x").status_code == 404


def test_an_aborted_upload_cannot_be_completed(api: httpx.Client, store: LocalStore) -> None:
    agent_id, _sid, cid = begin(api)
    plan = ask(api, agent_id, cid, b"abc").json()
    api.put(plan["url"], content=b"abc").raise_for_status()
    assert api.delete(f"uploads/{plan['upload_id']}").status_code == 204
    assert store.head(plan["key"]) is None
    assert api.post(f"uploads/{plan['upload_id']}/complete", json={}).status_code == 409
    assert api.delete("uploads/nope").status_code == 404


def test_altered_or_escaping_storage_urls_are_refused(api: httpx.Client) -> None:
    agent_id, _sid, cid = begin(api)
    plan = ask(api, agent_id, cid, b"abc").json()
    tampered = plan["url"].replace("sig=", "sig=0")
    assert api.put(tampered, content=b"abc").status_code == 403
    other_key = plan["url"].replace("sessions/", "sessions-x/", 1)
    assert api.put(other_key, content=b"abc").status_code == 403
    escaping = api.put("storage/o/a/../../x?exp=1&sig=00", content=b"abc")
    assert escaping.status_code in (400, 404)  # clients normalise '..' before sending
    escaping = api.put("storage/o/a/%2E%2E/x?exp=1&sig=00", content=b"abc")
    assert escaping.status_code == 400
    assert "detail" in escaping.json()


@pytest.fixture
def settings(tmp_path: Path) -> CoordinatorSettings:
    return CoordinatorSettings(db_path=tmp_path / "c.sqlite3", part_size=MIN_PART_SIZE)


def test_a_large_file_goes_up_in_parts(api: httpx.Client, store: LocalStore) -> None:
    agent_id, _sid, cid = begin(api)
    data = bytes(range(256)) * (MIN_PART_SIZE // 256) + b"tail" * 1000
    plan = ask(api, agent_id, cid, data).json()
    assert plan["method"] == "multipart" and plan["part_size"] == MIN_PART_SIZE
    assert [p["part_number"] for p in plan["parts"]] == [1, 2]
    etags = []
    for part in plan["parts"]:
        start = (part["part_number"] - 1) * MIN_PART_SIZE
        put = api.put(part["url"], content=data[start : start + MIN_PART_SIZE])
        assert put.status_code == 200
        etags.append({"part_number": part["part_number"], "etag": put.headers["etag"]})
    assert api.post(f"uploads/{plan['upload_id']}/complete", json={}).status_code == 422
    done = api.post(f"uploads/{plan['upload_id']}/complete", json={"parts": etags})
    assert done.status_code == 201, done.text
    assert done.json()["size"] == len(data)
    with store.open_read(plan["key"]) as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.fixture
def mounted(settings: CoordinatorSettings, store: LocalStore) -> Iterator[LiveCoordinator]:
    server = LiveCoordinator(settings, store, mount="/coordinator").start()
    try:
        yield server
    finally:
        server.stop()


def test_urls_keep_the_mount_prefix(mounted: LiveCoordinator) -> None:
    assert mounted.url.endswith("/coordinator/api/v1")
    with httpx.Client(base_url=mounted.url + "/") as api:
        agent_id, _sid, cid = begin(api)
        plan = ask(api, agent_id, cid, b"mounted").json()
        assert plan["url"].startswith(mounted.url + "/storage/o/")
        api.put(plan["url"], content=b"mounted").raise_for_status()
        info = api.post(f"uploads/{plan['upload_id']}/complete", json={}).json()
        link = api.get(f"files/{info['file_id']}/download").json()["url"]
        assert link.startswith(mounted.url + "/storage/o/")
        assert api.get(link).content == b"mounted"
        assert api.get("openapi.json").status_code == 200


def test_part_is_uploaded_only_once_every_announced_file_is_stored(api: httpx.Client) -> None:
    """An agent announces two files (profile + ranges); one stored is not enough."""
    agent_id, _sid, cid = begin(api)

    def upload(name: str, data: bytes) -> None:
        plan = api.post(
            "uploads",
            json={
                "agent_id": agent_id,
                "collection_id": cid,
                "filename": name,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "collection_files": 2,
            },
        ).json()
        assert api.put(plan["url"], content=data).status_code == 200
        assert api.post(f"uploads/{plan['upload_id']}/complete", json={}).status_code == 201

    upload("profile.speedscope.json", b"{}")
    part = api.get(f"collections/{cid}").json()["participants"][0]
    assert part["state"] != "UPLOADED" and part["message"] == "1 of 2 files stored"
    upload("annotations.ranges.jsonl", b"{}\n")
    part = api.get(f"collections/{cid}").json()["participants"][0]
    assert part["state"] == "UPLOADED"


class SlowDeleteStore(LocalStore):
    """A real LocalStore whose deletes wait for the test, as S3 does while it is away."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.delete_may_finish = threading.Event()
        self.delete_started = threading.Event()

    def delete(self, key: str) -> None:
        self.delete_started.set()
        assert self.delete_may_finish.wait(20), "the test never released the delete"
        super().delete(key)


@pytest.fixture
def slow_store(tmp_path: Path) -> SlowDeleteStore:
    return SlowDeleteStore(tmp_path / "objects", b"coordinator-test-signing-key-0123")


def test_a_retry_during_a_slow_abort_gets_a_new_object_and_the_report_survives(
    tmp_path: Path, slow_store: SlowDeleteStore
) -> None:
    """An agent whose abort timed out retries at once; the late delete must not eat its report."""
    settings = CoordinatorSettings(db_path=tmp_path / "c.sqlite3")
    server = LiveCoordinator(settings, slow_store).start()
    try:
        with httpx.Client(base_url=server.url + "/", timeout=30) as api:
            agent_id, _sid, cid = begin(api)
            data = b"report bytes" * 50
            first = ask(api, agent_id, cid, data).json()
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                abort = pool.submit(api.delete, f"uploads/{first['upload_id']}")
                assert slow_store.delete_started.wait(10)
                retry = ask(api, agent_id, cid, data).json()
                assert retry["upload_id"] != first["upload_id"]
                assert retry["key"] != first["key"]
                api.put(retry["url"], content=data).raise_for_status()
                done = api.post(f"uploads/{retry['upload_id']}/complete", json={})
                assert done.status_code == 201
                slow_store.delete_may_finish.set()
                assert abort.result(timeout=20).status_code == 204
            link = api.get(f"files/{done.json()['file_id']}/download").json()
            assert api.get(link["url"]).content == data
            assert api.post(f"uploads/{first['upload_id']}/complete", json={}).status_code == 409
    finally:
        slow_store.delete_may_finish.set()
        server.stop()
