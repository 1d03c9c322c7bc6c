"""A STAND-IN coordinator on http.server for the agent's failure-mode tests.

The real coordinator (``services/nsight_coordinator``) is what the happy path is
tested against (``test_with_coordinator.py``). This stand-in exists for what the
real one cannot be made to do on purpose: forget agents, answer garbage, refuse
uploads, corrupt a stored object. It speaks the agent half of docs/PROTOCOL.md
and records every request so tests can assert on the conversation.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/api/v1/"


@dataclass
class StandIn:
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    acks: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    registrations: list[dict[str, Any]] = field(default_factory=list)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    byes: list[str] = field(default_factory=list)
    #: Fault injection knobs.
    garbage: bool = False
    #: What registration tells agents: how often they must be seen.
    heartbeat_interval_s: float = 5
    uploads_status: int | None = None
    corrupt_puts: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def push(self, agent_id: str, kind: str, collection_id: str = "c1", **extra: Any) -> int:
        with self.cond:
            queue = self.commands.setdefault(agent_id, [])
            seq = len(queue) + 1
            queue.append(
                {
                    "seq": seq,
                    "kind": kind,
                    "session_id": "s1",
                    "collection_id": collection_id,
                    "collection_index": 0,
                    "issued_at": "2025-01-01T00:00:00Z",
                    **extra,
                }
            )
            self.cond.notify_all()
        return seq

    def forget_agents(self) -> None:
        with self.cond:
            self.agents.clear()


def serve(state: StandIn) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, status: int, body: object = None) -> None:
            raw = b"" if body is None else json.dumps(body).encode()
            if state.garbage:
                status, raw = 200, b"<html>not json"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            state.requests.append((method, url.path))
            if state.garbage:  # at once: a broken proxy does not hold long-polls
                return self._reply(200)
            if not url.path.startswith(PREFIX):
                return self._reply(404, {"detail": "not found"})
            parts = url.path[len(PREFIX) :].split("/")
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = self._body()
            if method == "POST" and parts == ["agents"]:
                reg = json.loads(body)
                state.registrations.append(reg)
                agent_id = reg.get("agent_id") or uuid.uuid4().hex
                state.agents[agent_id] = reg
                return self._reply(
                    200,
                    {
                        "agent_id": agent_id,
                        "heartbeat_interval_s": state.heartbeat_interval_s,
                        "poll_timeout_s": 0.5,
                    },
                )
            if parts[0] == "agents" and len(parts) >= 3 and parts[1] not in state.agents:
                return self._reply(404, {"detail": "unknown agent: register again"})
            if method == "GET" and parts[2:] == ["commands"]:
                after, timeout = int(query["after"]), float(query["timeout"])
                with state.cond:
                    state.cond.wait_for(
                        lambda: any(c["seq"] > after for c in state.commands.get(parts[1], [])),
                        timeout,
                    )
                    batch = [c for c in state.commands.get(parts[1], []) if c["seq"] > after]
                return self._reply(200, {"commands": batch})
            if method == "POST" and parts[2:3] == ["commands"] and parts[4:] == ["ack"]:
                state.acks.append((parts[1], int(parts[3]), json.loads(body)))
                return self._reply(204)
            if method == "POST" and parts[2:] == ["bye"]:
                state.byes.append(parts[1])
                return self._reply(204)
            if method == "POST" and parts == ["uploads"]:
                if state.uploads_status:
                    return self._reply(state.uploads_status, {"detail": "storage unavailable"})
                req = json.loads(body)
                upload_id = uuid.uuid4().hex
                state.uploads[upload_id] = req
                return self._reply(
                    201,
                    {
                        "upload_id": upload_id,
                        "key": f"k/{req['filename']}",
                        "method": "single",
                        "url": f"storage/put/{upload_id}?sig=x",
                        "expires_at": "2030-01-01T00:00:00Z",
                    },
                )
            if method == "PUT" and parts[:2] == ["storage", "put"]:
                if state.corrupt_puts:
                    state.corrupt_puts -= 1
                    body = body[:-1] + b"!"
                state.objects[parts[2]] = body
                self.send_response(200)
                self.send_header("ETag", '"' + hashlib.md5(body).hexdigest() + '"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if method == "POST" and parts[0] == "uploads" and parts[2:] == ["complete"]:
                req = state.uploads[parts[1]]
                data = state.objects.get(parts[1], b"")
                if hashlib.sha256(data).hexdigest() != req["sha256"] or len(data) != req["size"]:
                    return self._reply(422, {"detail": "sha256 differs: upload again"})
                info = {"file_id": uuid.uuid4().hex, **req}
                state.files.append(info)
                return self._reply(201, info)
            if method == "DELETE" and parts[0] == "uploads":
                return self._reply(204)
            return self._reply(404, {"detail": f"no route {method} {url.path}"})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/api/v1/"
