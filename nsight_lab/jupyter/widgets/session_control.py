"""``SessionControl``: a tag's agents, its session, begin/start/stop/end, and the files.

The buttons send ``{"action": ...}`` messages; the kernel performs them with the
same client the CLI uses and writes the outcome into synced traits. Failures land
in ``error`` next to the buttons, as one line that says what to do.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import anywidget
import traitlets

from nsight_lab.client import CoordinatorClient
from nsight_lab.config import CliConfig
from nsight_lab.jupyter.widgets._connection import explain, resolve_config
from nsight_lab.jupyter.widgets._static import STATIC
from nsight_lab.models import CollectionInfo, CollectionState, SessionInfo, SessionState

ACTIONS = ("refresh", "begin", "start", "stop", "end")
#: After a stop, refresh until the collection settles (uploads done), at most this long.
SETTLE_TIMEOUT_S = 60.0
_SETTLE_POLL_S = 0.5


def session_dict(session: SessionInfo | None) -> dict[str, Any]:
    if session is None:
        return {}
    return {
        "session_id": session.session_id,
        "title": session.title or "",
        "state": session.state.value,
        "created_at": session.created_at.isoformat(),
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
        "collections": [collection_dict(c) for c in session.collections],
    }


def collection_dict(collection: CollectionInfo) -> dict[str, Any]:
    return {
        "collection_id": collection.collection_id,
        "index": collection.index,
        "state": collection.state.value,
        "participants": [
            {"process_name": p.process_name, "instance": p.instance, "state": p.state.value}
            for p in collection.participants
        ],
    }


class SessionControl(anywidget.AnyWidget):
    """Profile every process of a tag from a notebook cell."""

    _esm = STATIC / "session_control.js"
    _css = STATIC / "widgets.css"

    tag = traitlets.Unicode("default").tag(sync=True)
    gateway = traitlets.Unicode("").tag(sync=True)
    agents = traitlets.List(traitlets.Dict()).tag(sync=True)
    session = traitlets.Dict().tag(sync=True)
    files = traitlets.List(traitlets.Dict()).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        tag: str | None = None,
        *,
        gw: str | None = None,
        config: CliConfig | None = None,
        client: CoordinatorClient | None = None,
        refresh: bool = True,
    ) -> None:
        cfg = resolve_config(config, gw)
        super().__init__(tag=tag or cfg.tag, gateway=cfg.gw)
        self.client = client or CoordinatorClient(cfg)
        self._lock = threading.Lock()
        self._settler: threading.Thread | None = None
        self.on_msg(self._on_custom_msg)
        if refresh:
            self.refresh()

    # --- what the buttons do (callable from Python too) --------------------------------

    def refresh(self) -> None:
        """Re-read agents, the active (else latest) session and its files."""
        self._run("refresh", self._refresh)

    def begin(self, title: str | None = None) -> None:
        title = title if title is not None else self.title
        self._run("begin", lambda: self._begin(title.strip() or None))

    def start(self) -> None:
        self._run("start", self._start)

    def stop(self) -> None:
        self._run("stop", self._stop)

    def end(self) -> None:
        self._run("end", self._end)

    # --- implementation ------------------------------------------------------------------

    def _run(self, action: str, work: Any) -> None:
        with self._lock:
            self.busy = True
            try:
                message = work()
                if action != "refresh":
                    self._refresh()
                self.error = ""
                if message:
                    self.message = message
            except Exception as exc:  # every failure is shown where the user clicked
                self.error = f"{action}: {explain(exc, self.gateway)}"
            finally:
                self.busy = False

    def _current(self) -> SessionInfo | None:
        sessions = self.client.sessions(tag=self.tag)
        active = [s for s in sessions if s.state == SessionState.ACTIVE]
        return active[0] if active else (sessions[0] if sessions else None)

    def _refresh(self) -> None:
        status = self.client.status(self.tag)
        session = status.active_session or self._current()
        files = self.client.files(session_id=session.session_id) if session else []
        with self.hold_sync():
            self.agents = [
                {
                    "process_name": a.process_name,
                    "instance": a.instance,
                    "collector": a.collector,
                    "state": a.state.value,
                    "pid": a.pid,
                    "host": a.host,
                }
                for a in status.agents
            ]
            self.session = session_dict(session)
            self.files = [
                {
                    "file_id": f.file_id,
                    "filename": f.filename,
                    "collection_index": f.collection_index,
                    "kind": f.kind,
                    "size": f.size,
                }
                for f in files
            ]

    def _begin(self, title: str | None) -> str:
        session = self.client.begin_session(self.tag, title)
        return f"began session {session.title or session.session_id}"

    def _start(self) -> str:
        collection = self.client.start(self.tag)
        return f"collection {collection.index} started on {len(collection.participants)} agent(s)"

    def _stop(self) -> str:
        collection = self.client.stop(self.tag)
        self._settle(collection.collection_id)
        return f"collection {collection.index} stopping; reports are uploading"

    def _end(self) -> str:
        session = self._current()
        if session is None or session.state != SessionState.ACTIVE:
            raise RuntimeError(f"tag {self.tag!r} has no active session to end")
        ended = self.client.end_session(session.session_id)
        return f"ended session {ended.title or ended.session_id}"

    def _settle(self, collection_id: str) -> None:
        """Refresh in the background until the stopped collection's uploads are done."""

        def follow() -> None:
            deadline = time.monotonic() + SETTLE_TIMEOUT_S
            while time.monotonic() < deadline:
                time.sleep(_SETTLE_POLL_S)
                try:
                    state = self.client.collection(collection_id).state
                except Exception:
                    return
                if state not in (CollectionState.RUNNING, CollectionState.STOPPING):
                    self.refresh()
                    self.message = f"collection finished: {state.value}"
                    return

        self._settler = threading.Thread(target=follow, name="nsight-lab-settle", daemon=True)
        self._settler.start()

    def wait_settled(self, timeout: float = SETTLE_TIMEOUT_S) -> None:
        """Block until the refresh that follows a stop is done (for scripts and tests)."""
        if self._settler is not None:
            self._settler.join(timeout)

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        if action not in ACTIONS:
            self.error = f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}"
            return
        if action == "begin":
            self.begin(str(content.get("title", self.title)))
        else:
            getattr(self, action)()
