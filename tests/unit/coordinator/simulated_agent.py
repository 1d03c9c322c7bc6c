"""An agent simulated over real HTTP: registers, long-polls, acks, uploads a report.

It follows PROTOCOL.md the way ``nsight_lab.agent`` does (remember the highest seq
acted on, poll after it, re-register with the same id after losing the coordinator),
but records everything it receives so tests can check delivery: each seq once, in
order, and how fast. No collector runs: the "report" is bytes the test chooses.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx


@dataclass
class Received:
    seq: int
    kind: str
    collection_id: str
    at: float  # time.time() when the poll answer arrived


@dataclass
class SimulatedAgent:
    api: str
    process_name: str
    instance: str
    tag: str = "default"
    poll_timeout_s: float = 2.0
    report: bytes = b"report bytes"
    report_name: str = "report.nsys-rep"
    #: Set to False to make the agent record but never upload (a stuck agent).
    uploads: bool = True
    agent_id: str | None = None
    last_acted: int = 0
    received: list[Received] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    registrations: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=self.poll_timeout_s + 5))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> SimulatedAgent:
        self.register()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=self.instance)
        self._thread.start()
        return self

    def crash(self) -> None:
        """Stop polling without a goodbye, like a killed process."""
        self.signal_stop()
        self.join()

    def signal_stop(self) -> None:
        """Stop after the current poll (stop the server too, to end that poll at once)."""
        self._stop.set()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(self.poll_timeout_s + 10)
        self._client.close()

    def leave(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.poll_timeout_s + 10)
        self._client.post(f"{self.api}/agents/{self.agent_id}/bye")
        self._client.close()

    def register(self) -> None:
        body = {
            "tag": self.tag,
            "process_name": self.process_name,
            "instance": self.instance,
            "host": "test-host",
            "pid": 4242,
            "collector": "simulated",
            "agent_id": self.agent_id,
        }
        answer = self._client.post(f"{self.api}/agents", json=body)
        answer.raise_for_status()
        data = answer.json()
        self.agent_id = data["agent_id"]
        self.last_acted = max(self.last_acted, data["last_acked_seq"])
        self.registrations += 1

    # -- the poll loop ---------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self._client.get(
                    f"{self.api}/agents/{self.agent_id}/commands",
                    params={"after": self.last_acted, "timeout": self.poll_timeout_s},
                )
                if answer.status_code == 404:
                    self.register()
                    continue
                answer.raise_for_status()
                arrived = time.time()
                for command in answer.json()["commands"]:
                    self.received.append(
                        Received(command["seq"], command["kind"], command["collection_id"], arrived)
                    )
                    self._act(command)
                    self.last_acted = command["seq"]
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                # Connection lost or a 5xx while the coordinator restarts: rejoin.
                if self._stop.is_set():
                    return
                self.errors.append(repr(exc))
                time.sleep(0.02)
                self._rejoin()

    def _rejoin(self) -> None:
        """The coordinator went away: re-register with the same id until it answers."""
        deadline = time.monotonic() + 30
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self.register()
                return
            except httpx.HTTPError:
                time.sleep(0.05)

    def _act(self, command: dict[str, Any]) -> None:
        seq = command["seq"]
        self._client.post(
            f"{self.api}/agents/{self.agent_id}/commands/{seq}/ack", json={"ok": True}
        )
        if command["kind"] == "stop" and self.uploads:
            self.upload(command["collection_id"])

    def upload(self, collection_id: str) -> dict[str, Any]:
        plan = self.request_upload(collection_id)
        if plan["existing_file_id"] is None:
            put = self._client.put(urljoin(self.api + "/", plan["url"]), content=self.report)
            put.raise_for_status()
        done = self._client.post(f"{self.api}/uploads/{plan['upload_id']}/complete", json={})
        done.raise_for_status()
        info: dict[str, Any] = done.json()
        self.files.append(info)
        return info

    def request_upload(self, collection_id: str) -> dict[str, Any]:
        answer = self._client.post(
            f"{self.api}/uploads",
            json={
                "agent_id": self.agent_id,
                "collection_id": collection_id,
                "filename": self.report_name,
                "size": len(self.report),
                "sha256": hashlib.sha256(self.report).hexdigest(),
            },
        )
        answer.raise_for_status()
        plan: dict[str, Any] = answer.json()
        return plan

    def seqs(self) -> list[int]:
        return [r.seq for r in self.received]
