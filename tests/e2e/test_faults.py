"""Faults a real deployment meets, each as a test: nothing is lost, nothing duplicated."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_workloads
from tests.support.minio import MinioServer
from tests.support.stack import Cli, UpServer, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _collection(cli: Cli, collection_id: str) -> dict[str, object]:
    gw = cli.env["NSIGHT_LAB_GW"]
    with urllib.request.urlopen(
        f"{gw}/coordinator/api/v1/collections/{collection_id}", timeout=5
    ) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def test_coordinator_killed_mid_collection_loses_and_duplicates_nothing(
    stack: UpServer, cli: Cli
) -> None:
    workloads = start_workloads(stack, cli, "crash", 2)
    try:
        started = cli.json("--tag", "crash", "profiler-start")
        stack.kill()
        stack.start()
        # Agents reconnect on their own; the same session and collection carry on.
        stopped = cli.json("--tag", "crash", "profiler-stop", "--timeout", "60")
        assert stopped["collection_id"] == started["collection_id"]
        assert stopped["state"] == "COMPLETED", json.dumps(stopped["participants"])
        files = cli.json("--tag", "crash", "ls")
    finally:
        for w in workloads:
            w.stop()
    keys = [(f["instance"], f["filename"].rsplit(".", 2)[-2:][-1]) for f in files]
    assert len(files) == 4 and len({f["sha256"] + f["instance"] for f in files}) == 4, keys
    assert sorted(f["instance"] for f in files) == ["w0", "w0", "w1", "w1"]


def test_storage_down_during_upload_then_back_delivers_every_report(tmp_path: Path) -> None:
    with MinioServer() as minio:
        stack = UpServer(tmp_path / "up", minio).start()
        cli = Cli(stack.url, tmp_path)
        workloads = start_workloads(stack, cli, "storage", 2)
        try:
            started = cli.json("--tag", "storage", "profiler-start")
            minio.stop()
            stopping = cli.json("--tag", "storage", "profiler-stop", "--no-wait")
            assert stopping["state"] in ("STOPPING", "RUNNING")
            # While storage is away the agents keep their reports in the spool.
            wait_until(
                lambda: all(
                    p["state"] == "STOPPED"
                    for p in _collection(cli, started["collection_id"])["participants"]
                ),  # type: ignore[index,union-attr]
                30,
                "both agents stopped recording",
            )
            assert cli.json("--tag", "storage", "ls") == []
            minio.start()
            done = wait_until(
                lambda: (
                    (c := _collection(cli, started["collection_id"]))["state"] == "COMPLETED" and c
                ),
                90,
                "uploads to finish after storage returned",
            )
            assert {p["state"] for p in done["participants"]} == {"UPLOADED"}
            files = cli.json("--tag", "storage", "ls")
            assert len(files) == 4
            out = tmp_path / "dl"
            cli.run("--tag", "storage", "download", "--flat", "-o", str(out))
            for f in files:
                assert hashlib.sha256((out / f["filename"]).read_bytes()).hexdigest() == f["sha256"]
        finally:
            for w in workloads:
                w.stop()
            stack.stop()


def test_killed_agent_is_marked_lost_and_the_rest_complete(stack: UpServer, cli: Cli) -> None:
    workloads = start_workloads(stack, cli, "lost", 2)
    try:
        cli.json("--tag", "lost", "profiler-start")
        workloads[0].kill()
        stopped = cli.json("--tag", "lost", "profiler-stop", "--timeout", "60")
    finally:
        for w in workloads:
            w.stop()
    states = {p["instance"]: p["state"] for p in stopped["participants"]}
    assert states == {"w0": "LOST", "w1": "UPLOADED"}
    assert stopped["state"] == "PARTIAL"
    files = cli.json("--tag", "lost", "ls")
    assert {f["instance"] for f in files} == {"w1"}


def _register(api: str, tag: str) -> str:
    body = {
        "tag": tag,
        "process_name": "probe",
        "instance": "i0",
        "host": "h",
        "pid": 1,
        "collector": "annotations",
    }
    return str(httpx.post(api + "agents", json=body).json()["agent_id"])


@pytest.mark.parametrize("tamper", ["truncated", "altered"])
def test_truncated_or_altered_upload_is_rejected_by_checksum(stack: UpServer, tamper: str) -> None:
    """A client of the public API (not a mock): it uploads bytes that differ from what it declared."""
    api = stack.url + "/coordinator/api/v1/"
    agent_id = _register(api, f"tamper-{tamper}")
    collection = httpx.post(api + "profiler/start", json={"tag": f"tamper-{tamper}"}).json()
    payload = b"real report bytes " * 1000
    declared = {
        "agent_id": agent_id,
        "collection_id": collection["collection_id"],
        "filename": "r.nsys-rep",
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    plan = httpx.post(api + "uploads", json=declared).json()
    assert plan["method"] == "single"
    body = payload[: len(payload) // 2] if tamper == "truncated" else payload[:-1] + b"X"
    put = httpx.put(httpx.URL(api).join(plan["url"]), content=body, headers=plan["headers"])
    assert put.status_code == 200
    done = httpx.post(api + f"uploads/{plan['upload_id']}/complete", json={"parts": []})
    assert done.status_code == 422
    assert "sha256" in done.json()["detail"] or "size" in done.json()["detail"]
    assert (
        httpx.get(api + "files", params={"collection_id": collection["collection_id"]}).json() == []
    )
