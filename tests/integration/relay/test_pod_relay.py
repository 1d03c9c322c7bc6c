"""Reports kept in the profiled Pod (``storage_type: pod``) download through the
coordinator, relayed from the agent that holds them, or fail clearly.

A real coordinator and real agent processes (``tests.support.pod_agent``); the
"Pod" is a folder of the test's own, the report bytes stand in for nsys's.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from nsight_lab.client import CoordinatorClient, DownloadCorrupted
from nsight_lab.config import CliConfig
from nsight_lab.models import FileInfo
from tests.integration.relay.conftest import RELAY_WAIT_S, TAG, Coordinator, PodAgent
from tests.support.stack import Cli, wait_until

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def _client(coordinator: Coordinator) -> CoordinatorClient:
    return CoordinatorClient(CliConfig(gw=coordinator.gw, tag=TAG))


def _download(coordinator: Coordinator, info: dict[str, Any], target: Path) -> bytes:
    _client(coordinator).download_file(FileInfo.model_validate(info), target)
    return target.read_bytes()


def _nothing_left(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_a_held_report_downloads_through_the_relay_byte_for_byte(
    coordinator: Coordinator, pod_agent: PodAgent, tmp_path: Path
) -> None:
    with coordinator.client() as api:
        info = pod_agent.hold(api, 12 * MIB + 7, seed=3)
        assert info["location"] == "agent" and info["agent_id"] == pod_agent.agent_id
        # Kept in the Pod's report folder, under the coordinator's name; not in storage.
        assert pod_agent.path_of(info).read_bytes() == pod_agent.held[info["file_id"]]
        assert not [p for p in _nothing_left(coordinator.store_root) if p.is_file()
                    and p.name == info["filename"]]  # fmt: skip
        link = api.get(f"/files/{info['file_id']}/download")
        assert link.status_code == 200, link.text
        assert "/storage/o/relay/" in link.json()["url"]
    body = _download(coordinator, info, tmp_path / "out" / info["filename"])
    assert body == pod_agent.held[info["file_id"]]
    # The agent heard the coordinator confirm delivery (ETag = the file's sha256).
    log = tmp_path / "agent.log"
    relayed = f"relayed {pod_agent.path_of(info)} ({info['size']} bytes)"
    wait_until(lambda: relayed in log.read_text(), 60, "the agent's log to say it relayed")
    assert "relay of" not in log.read_text(), log.read_text()


def test_the_cli_downloads_a_held_report_and_ls_says_it_lives_in_the_pod(
    coordinator: Coordinator, pod_agent: PodAgent, tmp_path: Path
) -> None:
    with coordinator.client() as api:
        info = pod_agent.hold(api, 3 * MIB, seed=5)
    cli = Cli(coordinator.gw, tmp_path)
    cli.env["COLUMNS"] = "80"
    listing = cli.run("--tag", TAG, "ls").stdout
    lines = listing.splitlines()
    assert all(len(line) <= 80 for line in lines), [len(line) for line in lines]
    row = next(line for line in lines if info["file_id"] in line)
    assert row.endswith("  in pod"), listing
    assert "1 file(s) in pod" in listing, listing
    assert "cannot be converted" not in listing, listing
    as_json = json.loads(cli.run("--tag", TAG, "--output", "json", "ls").stdout)
    assert [f["location"] for f in as_json] == ["agent"]
    out = tmp_path / "downloads"
    cli.run("--tag", TAG, "download", "--flat", "-o", str(out))
    assert (out / info["filename"]).read_bytes() == pod_agent.held[info["file_id"]]


def test_concurrent_downloads_of_one_held_file_each_get_every_byte(
    coordinator: Coordinator, pod_agent: PodAgent, tmp_path: Path
) -> None:
    with coordinator.client() as api:
        info = pod_agent.hold(api, 6 * MIB, seed=9)

    def one(n: int) -> bytes:
        return _download(coordinator, info, tmp_path / f"copy-{n}" / info["filename"])

    with ThreadPoolExecutor(3) as pool:
        bodies = list(pool.map(one, range(3)))
    assert all(b == pod_agent.held[info["file_id"]] for b in bodies)


def test_an_agent_sends_at_most_four_files_at_once_and_says_so_to_the_fifth(
    coordinator: Coordinator, pod_agent: PodAgent, tmp_path: Path
) -> None:
    with coordinator.client() as api:
        info = pod_agent.hold(api, 48 * MIB, seed=17)
        link = api.get(f"/files/{info['file_id']}/download").json()["url"]
    readers = []  # kept: a dropped reader closes its connection
    with contextlib.ExitStack() as open_streams:
        for _ in range(4):  # four downloaders that stop reading: the agent's streams wait
            response = open_streams.enter_context(httpx.stream("GET", link, timeout=30))
            assert response.status_code == 200
            readers.append(response.iter_raw(64 * 1024))
            next(readers[-1])
        fifth = httpx.get(link, timeout=30)
        assert fifth.status_code == 503, fifth.text[:300]
        assert "sending other files" in fifth.json()["detail"]
        readers.clear()
    # Those downloaders gone, the agent's streams end and a new download gets every byte.
    body = wait_until(
        lambda: _fetch_or_none(link), 60, "a free stream slot on the agent", interval=0.5
    )
    assert body == pod_agent.held[info["file_id"]]


def _fetch_or_none(url: str) -> bytes | None:
    answer = httpx.get(url, timeout=60)
    return answer.content if answer.status_code == 200 else None


def test_a_file_whose_agent_is_gone_answers_503_saying_what_to_do(
    coordinator: Coordinator, pod_agent: PodAgent, tmp_path: Path
) -> None:
    with coordinator.client() as api:
        info = pod_agent.hold(api, 1 * MIB)
        pod_agent.bye()
        answer = api.get(f"/files/{info['file_id']}/download")
    assert answer.status_code == 503, answer.text
    detail = answer.json()["detail"]
    assert "gone" in detail and "kubectl cp" in detail and info["filename"] in detail
    with pytest.raises(Exception, match="kubectl cp"):
        _download(coordinator, info, tmp_path / "out" / info["filename"])
    assert _nothing_left(tmp_path / "out") == []


def test_an_agent_that_does_not_answer_in_time_gives_503_after_the_bounded_wait(
    coordinator: Coordinator, pod_agent: PodAgent, tmp_path: Path
) -> None:
    with coordinator.client() as api:
        info = pod_agent.hold(api, 1 * MIB)
        link = api.get(f"/files/{info['file_id']}/download").json()["url"]
        pod_agent.signal(signal.SIGSTOP)  # the process hangs; the coordinator still lists it
        try:
            began = time.monotonic()
            answer = httpx.get(link, timeout=30)
            waited = time.monotonic() - began
        finally:
            pod_agent.signal(signal.SIGCONT)
    assert answer.status_code == 503, answer.text
    assert f"within {RELAY_WAIT_S:g} s" in answer.json()["detail"]
    assert RELAY_WAIT_S * 0.9 <= waited < RELAY_WAIT_S + 20  # a loaded machine is slow
    # Once it runs again, the next download works: the stale command did no harm.
    body = _download(coordinator, info, tmp_path / "out" / info["filename"])
    assert body == pod_agent.held[info["file_id"]]


def test_a_file_deleted_in_the_pod_answers_410(
    coordinator: Coordinator, pod_agent: PodAgent, tmp_path: Path
) -> None:
    with coordinator.client() as api:
        info = pod_agent.hold(api, 1 * MIB)
        pod_agent.path_of(info).unlink()
        link = api.get(f"/files/{info['file_id']}/download").json()["url"]
        answer = httpx.get(link, timeout=30)
    assert answer.status_code == 410, answer.text
    assert "deleted" in answer.json()["detail"]
    with pytest.raises(Exception, match="deleted"):
        _download(coordinator, info, tmp_path / "out" / info["filename"])
    assert _nothing_left(tmp_path / "out") == []


def test_a_file_truncated_in_the_pod_answers_409_and_is_not_sent(
    coordinator: Coordinator, pod_agent: PodAgent
) -> None:
    with coordinator.client() as api:
        info = pod_agent.hold(api, 1 * MIB)
        with pod_agent.path_of(info).open("r+b") as f:
            f.truncate(1000)
        link = api.get(f"/files/{info['file_id']}/download").json()["url"]
        answer = httpx.get(link, timeout=30)
    assert answer.status_code == 409, answer.text
    assert "1000 bytes" in answer.json()["detail"]


def test_a_corrupted_stream_is_cut_off_and_the_cli_keeps_no_partial_file(
    coordinator: Coordinator, pod_agent: PodAgent, tmp_path: Path
) -> None:
    """Same size, other bytes: only the hash can tell, and it is checked before the
    last chunk leaves the coordinator."""
    with coordinator.client() as api:
        info = pod_agent.hold(api, 4 * MIB, seed=11)
        with pod_agent.path_of(info).open("r+b") as f:
            f.seek(2 * MIB)
            f.write(b"\x00" * 4096)
        link = api.get(f"/files/{info['file_id']}/download").json()["url"]
    received = bytearray()
    with pytest.raises(httpx.HTTPError), httpx.stream("GET", link, timeout=30) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            received += chunk
    assert len(received) < info["size"]
    out = tmp_path / "out"
    with pytest.raises(DownloadCorrupted, match="nothing was written"):
        _download(coordinator, info, out / info["filename"])
    assert _nothing_left(out) == []


def test_an_agent_killed_mid_stream_gives_an_error_never_a_short_file(
    coordinator: Coordinator, pod_agent: PodAgent, tmp_path: Path
) -> None:
    with coordinator.client() as api:
        info = pod_agent.hold(api, 48 * MIB, seed=13)
    killed = threading.Event()

    def kill_once(_n: int) -> None:
        if not killed.is_set():
            killed.set()
            pod_agent.signal(signal.SIGKILL)
            time.sleep(0.5)  # let the broken connection reach the coordinator

    out = tmp_path / "out"
    with pytest.raises(DownloadCorrupted, match="broke off"):
        _client(coordinator).download_file(
            FileInfo.model_validate(info), out / info["filename"], on_bytes=kill_once
        )
    assert killed.is_set()
    assert _nothing_left(out) == []


# --- the attacker's side ----------------------------------------------------------------


def test_signed_relay_links_refuse_any_change_and_any_path_trick(
    coordinator: Coordinator, pod_agent: PodAgent
) -> None:
    with coordinator.client() as api:
        info = pod_agent.hold(api, 64 * 1024)
        other = pod_agent.hold(api, 64 * 1024, seed=2)
        link = httpx.URL(api.get(f"/files/{info['file_id']}/download").json()["url"])
    query = dict(link.params)
    base = f"{coordinator.api}/storage/o/relay/"
    forged = [
        f"{base}{other['file_id']}?{link.query.decode()}",  # another file, same signature
        f"{base}{info['file_id']}?exp={int(query['exp']) + 60}&sig={query['sig']}",
        f"{base}{info['file_id']}?exp=1&sig={query['sig']}",
        f"{base}{info['file_id']}",
        f"{base}..%2F..%2Fstate.sqlite3?{link.query.decode()}",
        f"{base}{info['file_id']}%2F..%2F{other['file_id']}?{link.query.decode()}",
        f"{base}../../files/{info['file_id']}?{link.query.decode()}",
    ]
    for url in forged:
        answer = httpx.get(url, timeout=10)
        assert answer.status_code in (400, 403, 404), (url, answer.status_code, answer.text[:200])
        assert pod_agent.held[info["file_id"]][:64] not in answer.content
    assert httpx.get(str(link), timeout=30).content == pod_agent.held[info["file_id"]]


def test_only_the_holding_agent_can_answer_a_relay_and_only_once(
    coordinator: Coordinator, pod_agent: PodAgent
) -> None:
    """Someone who learnt a relay's request id (it only ever travels to the holder)
    can neither answer it under another agent id nor slip in bytes of their own."""
    with coordinator.client() as api:
        info = pod_agent.hold(api, 256 * 1024)
        link = api.get(f"/files/{info['file_id']}/download").json()["url"]
        intruder = api.post(
            "/agents",
            json={"tag": TAG, "process_name": "intruder", "instance": "x", "pid": 1,
                  "collector": "simulated"},
        ).json()["agent_id"]  # fmt: skip
        pod_agent.signal(signal.SIGSTOP)  # the holder will not answer: we do
        try:
            with ThreadPoolExecutor(1) as pool:
                download = pool.submit(httpx.get, link, timeout=30)
                command = None
                for _ in range(50):
                    batch = api.get(
                        f"/agents/{pod_agent.agent_id}/commands",
                        params={"after": 0, "timeout": 0.2},
                    ).json()["commands"]
                    command = next((c for c in batch if c["kind"] == "relay"), None)
                    if command:
                        break
                assert command is not None and command["file_id"] == info["file_id"]
                request_id = command["request_id"]
                fake = b"\x00" * info["size"]
                for agent_id, rid in ((intruder, request_id), (pod_agent.agent_id, "guess")):
                    put = api.put(f"/agents/{agent_id}/relays/{rid}", content=fake)
                    assert put.status_code == 404, put.text
                    failure = api.post(
                        f"/agents/{agent_id}/relays/{rid}/failure", json={"reason": "missing"}
                    )
                    assert failure.status_code == 404, failure.text
                # Under the holder's id the bytes are taken, and refused for their hash.
                put = api.put(f"/agents/{pod_agent.agent_id}/relays/{request_id}", content=fake)
                assert put.status_code == 409 and "not delivered" in put.text, put.text
                with pytest.raises(httpx.HTTPError):
                    download.result()
                again = api.put(f"/agents/{pod_agent.agent_id}/relays/{request_id}", content=fake)
                assert again.status_code == 404, again.text
        finally:
            pod_agent.signal(signal.SIGCONT)
