"""The coordinator's whole state in one SQLite file: schema and typed queries.

Everything a restart must not lose lives here: agents with their command sequences
and pending commands, sessions, collections and their participants, pending uploads
and registered files. WAL mode lets readers proceed while a write commits, and each
state change that spans several rows (a profiler start issuing a command to every
agent of a tag) runs in one ``BEGIN IMMEDIATE`` transaction, so a crash leaves either
all of it or none.

One connection serves all callers behind a lock: the coordinator calls in here from
its event loop (queries take microseconds), and the lock keeps threads that call in
(tests, the threadpool) from interleaving statements of two transactions.
"""

from __future__ import annotations

import json
import math
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nsight_coordinator.errors import Conflict, NotFound, unknown_collection, unknown_session
from nsight_lab.models import (
    AgentInfo,
    AgentRegistration,
    AgentState,
    CollectionInfo,
    CollectionState,
    Command,
    CommandKind,
    ConversionState,
    ConversionUpdate,
    FileConversion,
    FileInfo,
    Participant,
    ParticipantState,
    ProfilePreset,
    SessionInfo,
    SessionState,
)
from nsight_lab.servicekit import SQLiteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    agent_id TEXT PRIMARY KEY,
    tag TEXT NOT NULL,
    process_name TEXT NOT NULL,
    instance TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    collector TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    state TEXT NOT NULL,
    registered_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_acked_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS agents_by_tag ON agents(tag, state);

CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    tag TEXT NOT NULL,
    title TEXT,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS sessions_by_tag ON sessions(tag, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_session_per_tag
    ON sessions(tag) WHERE state = 'ACTIVE';

CREATE TABLE IF NOT EXISTS collections (
    collection_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    idx INTEGER NOT NULL,
    state TEXT NOT NULL,
    started_at REAL NOT NULL,
    stopped_at REAL,
    duration_s REAL,
    delay_s REAL,
    UNIQUE (session_id, idx)
);
CREATE INDEX IF NOT EXISTS collections_by_state ON collections(state);

CREATE TABLE IF NOT EXISTS participants (
    collection_id TEXT NOT NULL REFERENCES collections(collection_id),
    agent_id TEXT NOT NULL,
    process_name TEXT NOT NULL,
    instance TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (collection_id, agent_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS participants_by_agent ON participants(agent_id, state);

CREATE TABLE IF NOT EXISTS commands (
    agent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    session_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    collection_index INTEGER NOT NULL,
    duration_s REAL,
    delay_s REAL,
    issued_at REAL NOT NULL,
    acked_at REAL,
    ack_ok INTEGER,
    ack_message TEXT,
    PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    original_filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    method TEXT NOT NULL,
    store_upload_id TEXT,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    collection_files INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS uploads_by_identity
    ON uploads(collection_id, agent_id, original_filename, sha256);

CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY,
    upload_id TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    collection_index INTEGER NOT NULL,
    agent_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    process_name TEXT NOT NULL,
    instance TEXT NOT NULL,
    filename TEXT NOT NULL,
    original_filename TEXT NOT NULL,
    kind TEXT NOT NULL,
    collector TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    conversion_state TEXT NOT NULL DEFAULT 'pending',
    conversion_error TEXT,
    conversion_prefix TEXT,
    conversion_at REAL
);
CREATE INDEX IF NOT EXISTS files_by_identity
    ON files(collection_id, agent_id, original_filename, sha256);
CREATE INDEX IF NOT EXISTS files_by_session ON files(session_id, collection_id);

CREATE TABLE IF NOT EXISTS presets (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tag_presets (
    tag TEXT PRIMARY KEY,
    preset TEXT NOT NULL REFERENCES presets(name) ON DELETE CASCADE
);
"""

#: Columns added after the first schema: (table, column, declaration). A file made
#: by an older coordinator gets them on open, so upgrades keep their state.
ADDED_COLUMNS = (
    ("agents", "details", "TEXT NOT NULL DEFAULT '{}'"),
    ("collections", "spec", "TEXT NOT NULL DEFAULT '{}'"),
    ("commands", "spec", "TEXT NOT NULL DEFAULT '{}'"),
    ("participants", "step", "INTEGER"),
    ("participants", "step_ns", "INTEGER"),
    ("uploads", "metadata", "TEXT NOT NULL DEFAULT '{}'"),
    ("files", "metadata", "TEXT NOT NULL DEFAULT '{}'"),
    ("files", "conversion_state", "TEXT NOT NULL DEFAULT 'pending'"),
    ("files", "conversion_error", "TEXT"),
    ("files", "conversion_prefix", "TEXT"),
    ("files", "conversion_at", "REAL"),
    ("files", "location", "TEXT NOT NULL DEFAULT 'storage'"),
)
#: A step capture's margin covers this many times the first round trip, and at least
#: this many seconds (Database._align).
ALIGN_FACTOR = 3.0
ALIGN_MIN_S = 0.5
#: Keys of a collection's spec that its commands carry to agents.
COMMAND_SPEC_KEYS = ("options", "steps", "skip", "from_step", "step_timeout_s", "max_overhead_pct")
#: Keys of a relay command's spec (the held file and the relay request it answers).
RELAY_SPEC_KEYS = ("file_id", "request_id")
#: Upload method of a report the agent keeps in its Pod (``UploadRequest.held``).
HELD = "held"
#: Why a held file has no trace tables: the analysis side reads object storage only.
HELD_CONVERSION_ERROR = (
    "held in the profiled Pod (storage_type pod): analysis reads object storage only; "
    "download it with `nsight-lab download`, or profile with s3 or local storage to analyse"
)

#: Participant states after which an agent has nothing more to do in a collection.
TERMINAL = (ParticipantState.UPLOADED, ParticipantState.FAILED, ParticipantState.LOST)
#: Participant states that still expect something from the agent.
OPEN = (ParticipantState.PENDING, ParticipantState.RECORDING, ParticipantState.STOPPED)
ACTIVE_COLLECTION = (CollectionState.RUNNING, CollectionState.STOPPING)


class UploadState:
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    #: Verification failed or the agent aborted; the object is gone, ask for a new plan.
    FAILED = "FAILED"
    ABORTED = "ABORTED"


def new_id() -> str:
    """64 random bits in hex: short enough to type, collisions out of reach."""
    return uuid.uuid4().hex[:16]


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _opt_datetime(epoch: float | None) -> datetime | None:
    return None if epoch is None else to_datetime(epoch)


def _marks(values: Iterable[object]) -> str:
    return ",".join("?" for _ in values)


@dataclass(frozen=True)
class AgentRow:
    agent_id: str
    tag: str
    process_name: str
    instance: str
    host: str
    pid: int
    collector: str
    agent_version: str
    state: AgentState
    registered_at: float
    last_seen: float
    last_seq: int
    last_acked_seq: int
    details: str = "{}"

    def info(self, last_seen: float | None = None) -> AgentInfo:
        details = _json_object(self.details)
        return AgentInfo(
            capabilities=details.get("capabilities", []),
            collector_note=details.get("collector_note", ""),
            preflight=details.get("preflight", []),
            readiness=details.get("readiness", {}),
            agent_id=self.agent_id,
            tag=self.tag,
            process_name=self.process_name,
            instance=self.instance,
            host=self.host,
            pid=self.pid,
            collector=self.collector,
            state=self.state,
            registered_at=to_datetime(self.registered_at),
            last_seen=to_datetime(max(self.last_seen, last_seen or 0.0)),
        )


@dataclass(frozen=True)
class UploadRow:
    upload_id: str
    key: str
    filename: str
    agent_id: str
    session_id: str
    collection_id: str
    original_filename: str
    size: int
    sha256: str
    kind: str
    method: str
    store_upload_id: str | None
    state: str
    created_at: float
    #: How many files the agent produces for this collection in all (UploadRequest).
    collection_files: int = 1
    metadata: str = "{}"


@dataclass(frozen=True)
class AckResult:
    """What an ack changed: the command it answered, or None for an unknown seq."""

    kind: CommandKind
    collection_id: str


_AGENT_COLS = (
    "agent_id, tag, process_name, instance, host, pid, collector, agent_version, state, "
    "registered_at, last_seen, last_seq, last_acked_seq, details"
)
_UPLOAD_COLS = (
    "upload_id, key, filename, agent_id, session_id, collection_id, original_filename, size, "
    "sha256, kind, method, store_upload_id, state, created_at, collection_files, metadata"
)
_FILE_COLS = (
    "file_id, key, session_id, collection_id, collection_index, agent_id, tag, process_name, "
    "instance, filename, kind, collector, size, sha256, created_at, metadata, "
    "conversion_state, conversion_error, conversion_prefix, conversion_at, location"
)
_FILE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS files_by_conversion ON files(conversion_state, created_at)"
)
_COMMAND_COLS = (
    "seq, kind, session_id, collection_id, collection_index, duration_s, delay_s, issued_at, spec"
)


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _agent(row: sqlite3.Row) -> AgentRow:
    values = dict(row)
    values["state"] = AgentState(values["state"])
    return AgentRow(**values)


def _file(row: sqlite3.Row) -> FileInfo:
    values = dict(row)
    values["created_at"] = to_datetime(values["created_at"])
    values["metadata"] = _json_object(values.get("metadata"))
    values["conversion"] = FileConversion(
        state=ConversionState(values.pop("conversion_state")),
        error=values.pop("conversion_error"),
        trace_prefix=values.pop("conversion_prefix"),
        updated_at=_opt_datetime(values.pop("conversion_at")),
    )
    return FileInfo(**values)


def _command(row: sqlite3.Row) -> Command:
    spec = _json_object(row["spec"])
    return Command(
        seq=row["seq"],
        kind=CommandKind(row["kind"]),
        session_id=row["session_id"],
        collection_id=row["collection_id"],
        collection_index=row["collection_index"],
        duration_s=row["duration_s"],
        delay_s=row["delay_s"],
        issued_at=to_datetime(row["issued_at"]),
        **{k: spec[k] for k in COMMAND_SPEC_KEYS + RELAY_SPEC_KEYS if spec.get(k) is not None},
    )


def _filters(**columns: object) -> tuple[str, list[object]]:
    """`` WHERE a = ? AND b = ?`` for the given columns whose value is not None.

    Column names come from our own keyword arguments, never from requests.
    """
    used = {name: value for name, value in columns.items() if value is not None}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{name} = ?" for name in used), list(used.values())


class Database(SQLiteFile):
    """The state file, opened once per coordinator process."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)
        added: dict[str, dict[str, str]] = {}
        for table, column, declaration in ADDED_COLUMNS:
            added.setdefault(table, {})[column] = declaration
        for table, columns in added.items():
            self.add_columns(table, columns, after=_FILE_INDEXES if table == "files" else "")
        #: Agents whose polls must be woken after a call that issued commands as a side
        #: effect (a step capture's second start); drained with :meth:`take_notify`.
        self._notify: list[str] = []

    def take_notify(self) -> list[str]:
        with self._lock:
            ids, self._notify = self._notify, []
        return ids

    # -- agents ---------------------------------------------------------------------

    def register_agent(self, reg: AgentRegistration, agent_id: str, now: float) -> AgentRow:
        """Create the agent, or bring a known one back ONLINE keeping its sequences."""
        with self.transaction() as conn:
            conn.execute(
                f"""INSERT INTO agents ({_AGENT_COLS})
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'ONLINE', ?, ?, 0, 0, ?)
                ON CONFLICT(agent_id) DO UPDATE SET
                    tag=excluded.tag, process_name=excluded.process_name,
                    instance=excluded.instance, host=excluded.host, pid=excluded.pid,
                    collector=excluded.collector, agent_version=excluded.agent_version,
                    state='ONLINE', last_seen=excluded.last_seen, details=excluded.details""",
                (
                    agent_id,
                    reg.tag,
                    reg.process_name,
                    reg.instance,
                    reg.host,
                    reg.pid,
                    reg.collector,
                    reg.agent_version,
                    now,
                    now,
                    json.dumps(
                        {
                            "capabilities": reg.capabilities,
                            "collector_note": reg.collector_note,
                            "preflight": reg.preflight,
                            "readiness": reg.readiness,
                        }
                    ),
                ),
            )
            row = conn.execute(
                f"SELECT {_AGENT_COLS} FROM agents WHERE agent_id = ?", (agent_id,)
            ).fetchone()
        return _agent(row)

    def get_agent(self, agent_id: str) -> AgentRow | None:
        rows = self._query(f"SELECT {_AGENT_COLS} FROM agents WHERE agent_id = ?", (agent_id,))
        return _agent(rows[0]) if rows else None

    def list_agents(
        self, tag: str | None = None, state: AgentState | None = None
    ) -> list[AgentRow]:
        where, params = _filters(tag=tag, state=state.value if state else None)
        sql = f"SELECT {_AGENT_COLS} FROM agents{where} ORDER BY registered_at"
        return [_agent(r) for r in self._query(sql, params)]

    def online_last_seen(self) -> dict[str, float]:
        """``agent_id -> last_seen`` of ONLINE agents: all the expiry sweep needs, cheaply."""
        rows = self._query("SELECT agent_id, last_seen FROM agents WHERE state='ONLINE'")
        return {r["agent_id"]: r["last_seen"] for r in rows}

    def revive_agent(self, agent_id: str, now: float) -> None:
        """A LOST or GONE agent that polls or heartbeats is evidently alive again."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE agents SET state='ONLINE', last_seen=? WHERE agent_id=?", (now, agent_id)
            )

    def save_last_seen(self, seen: dict[str, float]) -> None:
        """Persist in-memory heartbeat times in one write instead of one per poll."""
        if not seen:
            return
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE agents SET last_seen = max(last_seen, ?) WHERE agent_id = ?",
                [(t, a) for a, t in seen.items()],
            )

    def retire_agents(
        self, agent_ids: list[str], state: AgentState, message: str, now: float
    ) -> list[str]:
        """Mark agents LOST or GONE; their open parts in live collections become LOST.

        Returns the collections whose state may have changed.
        """
        if not agent_ids:
            return []
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE agents SET state=? WHERE agent_id IN ({_marks(agent_ids)})",
                [state.value, *agent_ids],
            )
            rows = conn.execute(
                f"""UPDATE participants SET state='LOST', message=?
                WHERE agent_id IN ({_marks(agent_ids)})
                  AND state IN ({_marks(OPEN)})
                  AND collection_id IN (SELECT collection_id FROM collections
                                        WHERE state IN ('RUNNING', 'STOPPING'))
                RETURNING collection_id""",
                [message, *agent_ids, *(s.value for s in OPEN)],
            ).fetchall()
            changed = sorted({r["collection_id"] for r in rows})
            for collection_id in changed:
                self._align(conn, collection_id, now)
                self._settle(conn, collection_id, now)
        return changed

    # -- commands ---------------------------------------------------------------------

    def commands_after(self, agent_id: str, after: int, limit: int = 100) -> list[Command]:
        """Commands with ``seq > after``, skipping those for parts already declared LOST.

        A lost agent that comes back must not start recording for a collection that
        gave up on it.
        """
        rows = self._query(
            f"""SELECT {", ".join("c." + c.strip() for c in _COMMAND_COLS.split(","))}
            FROM commands c
            LEFT JOIN participants p
                ON p.collection_id = c.collection_id AND p.agent_id = c.agent_id
            WHERE c.agent_id = ? AND c.seq > ?
                AND (c.kind = 'relay' OR coalesce(p.state, '') != 'LOST')
            ORDER BY c.seq LIMIT ?""",
            (agent_id, after, limit),
        )
        return [_command(r) for r in rows]

    def _issue(
        self,
        conn: sqlite3.Connection,
        kind: CommandKind,
        collection: sqlite3.Row,
        agent_ids: list[str],
        now: float,
    ) -> None:
        if not agent_ids:
            return
        spec = _json_object(collection["spec"]) if kind is CommandKind.START else {}
        command_spec = json.dumps({k: spec[k] for k in COMMAND_SPEC_KEYS if k in spec})
        seqs = conn.execute(
            f"""UPDATE agents SET last_seq = last_seq + 1
            WHERE agent_id IN ({_marks(agent_ids)}) RETURNING agent_id, last_seq""",
            agent_ids,
        ).fetchall()
        conn.executemany(
            f"INSERT INTO commands (agent_id, {_COMMAND_COLS}) VALUES ({_marks(range(10))})",
            [
                (
                    r["agent_id"],
                    r["last_seq"],
                    kind.value,
                    collection["session_id"],
                    collection["collection_id"],
                    collection["idx"],
                    collection["duration_s"],
                    collection["delay_s"],
                    now,
                    command_spec,
                )
                for r in seqs
            ],
        )

    def issue_relay(self, info: FileInfo, request_id: str, now: float) -> int:
        """Queue a ``relay`` command for the agent holding ``info``; its seq.

        It travels like a start or stop (durable, sequenced, acked) but concerns no
        participant: a relay never moves a collection along.
        """
        with self.transaction() as conn:
            row = conn.execute(
                "UPDATE agents SET last_seq = last_seq + 1 WHERE agent_id=? RETURNING last_seq",
                (info.agent_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"agent {info.agent_id!r} holding {info.file_id!r} is unknown")
            seq = int(row["last_seq"])
            conn.execute(
                f"INSERT INTO commands (agent_id, {_COMMAND_COLS}) VALUES ({_marks(range(10))})",
                (
                    info.agent_id,
                    seq,
                    CommandKind.RELAY.value,
                    info.session_id,
                    info.collection_id,
                    info.collection_index,
                    None,
                    None,
                    now,
                    json.dumps({"file_id": info.file_id, "request_id": request_id}),
                ),
            )
        return seq

    def ack_command(
        self,
        agent_id: str,
        seq: int,
        ok: bool,
        message: str,
        now: float,
        step: int | None = None,
        step_ns: int | None = None,
    ) -> AckResult | None:
        """Store an ack and move the agent's part in the collection along.

        An ok ack with ``step`` answers the first start of a step capture: the part stays
        PENDING with that step, and once every part has answered, the step all agents
        start at is chosen and sent (:meth:`_align`).
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT kind, collection_id FROM commands WHERE agent_id=? AND seq=?",
                (agent_id, seq),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                """UPDATE commands SET acked_at=?, ack_ok=?, ack_message=?
                WHERE agent_id=? AND seq=?""",
                (now, int(ok), message, agent_id, seq),
            )
            conn.execute(
                "UPDATE agents SET last_acked_seq = max(last_acked_seq, ?) WHERE agent_id=?",
                (seq, agent_id),
            )
            kind = CommandKind(row["kind"])
            collection_id = row["collection_id"]
            if kind is CommandKind.RELAY:
                return AckResult(kind=kind, collection_id=collection_id)
            allowed: tuple[ParticipantState, ...]
            if ok and step is not None and kind is CommandKind.START:
                conn.execute(
                    """UPDATE participants SET step=?, step_ns=?, message=?
                    WHERE collection_id=? AND agent_id=? AND state='PENDING'""",
                    (step, step_ns, message, collection_id, agent_id),
                )
                self._align(conn, collection_id, now)
                return AckResult(kind=kind, collection_id=collection_id)
            if not ok:
                new, allowed = ParticipantState.FAILED, OPEN
            elif kind is CommandKind.START:
                new, allowed = ParticipantState.RECORDING, (ParticipantState.PENDING,)
            else:
                new, allowed = (
                    ParticipantState.STOPPED,
                    (ParticipantState.PENDING, ParticipantState.RECORDING),
                )
            conn.execute(
                f"""UPDATE participants SET state=?, message=?
                WHERE collection_id=? AND agent_id=? AND state IN ({_marks(allowed)})""",
                [new.value, message, collection_id, agent_id, *(s.value for s in allowed)],
            )
            if new in TERMINAL:  # RECORDING and STOPPED cannot finish a collection
                self._align(conn, collection_id, now)
                self._settle(conn, collection_id, now)
        return AckResult(kind=kind, collection_id=collection_id)

    def _align(self, conn: sqlite3.Connection, collection_id: str, now: float) -> None:
        """Choose a step capture's first step once every part has answered its start.

        The first step is the furthest agent's next step, plus ``skip``, plus enough
        steps to cover the second start's trip: the agents go on stepping while it
        travels, so the margin is the time the first round trip took (three times
        over, at least half a second) divided by the fastest agent's step time. Every
        agent that reported a step gets a start naming it.
        """
        row = conn.execute(
            "SELECT * FROM collections WHERE collection_id=? AND state='RUNNING'",
            (collection_id,),
        ).fetchone()
        if row is None:
            return
        spec = _json_object(row["spec"])
        if spec.get("steps") is None or spec.get("from_step") is not None:
            return
        parts = conn.execute(
            "SELECT agent_id, state, step, step_ns FROM participants WHERE collection_id=?",
            (collection_id,),
        ).fetchall()
        if any(p["state"] == "PENDING" and p["step"] is None for p in parts):
            return
        armed = [p for p in parts if p["state"] == "PENDING" and p["step"] is not None]
        if not armed:
            return
        periods = [int(p["step_ns"]) for p in armed if p["step_ns"]]
        margin = 1
        if periods:
            travel_s = max(ALIGN_MIN_S, ALIGN_FACTOR * max(0.0, now - row["started_at"]))
            margin = max(1, math.ceil(travel_s * 1e9 / min(periods)))
        spec["from_step"] = max(int(p["step"]) for p in armed) + margin + int(spec.get("skip") or 0)
        spec["align_margin"] = margin
        conn.execute(
            "UPDATE collections SET spec=? WHERE collection_id=?",
            (json.dumps(spec), collection_id),
        )
        collection = conn.execute(
            "SELECT * FROM collections WHERE collection_id=?", (collection_id,)
        ).fetchone()
        ids = [p["agent_id"] for p in armed]
        self._issue(conn, CommandKind.START, collection, ids, now)
        self._notify.extend(ids)

    # -- sessions -----------------------------------------------------------------------

    def begin_session(self, tag: str, title: str | None, now: float) -> SessionInfo:
        with self.transaction() as conn:
            session_id = self._begin(conn, tag, title, now)
            return self._session(conn, session_id)

    def _begin(self, conn: sqlite3.Connection, tag: str, title: str | None, now: float) -> str:
        active = conn.execute(
            "SELECT session_id FROM sessions WHERE tag=? AND state='ACTIVE'", (tag,)
        ).fetchone()
        if active is not None:
            sid = active["session_id"]
            raise Conflict(
                f"tag {tag!r} already has an active session {sid!r}; end it first with "
                f"POST /api/v1/sessions/{sid}/end (CLI: nsight-lab session-end)"
            )
        session_id = new_id()
        conn.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, 'ACTIVE', ?, NULL)",
            (session_id, tag, title, now),
        )
        return session_id

    def get_session(self, session_id: str) -> SessionInfo:
        with self._lock:
            return self._session(self._conn, session_id)

    def active_session(self, tag: str) -> SessionInfo | None:
        rows = self._query("SELECT session_id FROM sessions WHERE tag=? AND state='ACTIVE'", (tag,))
        return self.get_session(rows[0]["session_id"]) if rows else None

    def list_sessions(
        self, tag: str | None = None, state: SessionState | None = None
    ) -> list[SessionInfo]:
        where, params = _filters(tag=tag, state=state.value if state else None)
        sql = f"SELECT session_id FROM sessions{where}"
        with self._lock:
            ids = [r["session_id"] for r in self._conn.execute(sql, params).fetchall()]
            sessions = [self._session(self._conn, sid) for sid in ids]
        sessions.sort(key=lambda s: s.created_at, reverse=True)
        return sessions

    def list_tags(self) -> list[str]:
        rows = self._query("SELECT tag FROM agents UNION SELECT tag FROM sessions ORDER BY tag")
        return [r["tag"] for r in rows]

    def end_session(self, session_id: str, now: float) -> tuple[SessionInfo, list[str]]:
        """End a session, stopping its running collection first.

        Returns the session and the agents that were sent a stop command.
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT state FROM sessions WHERE session_id=?", (session_id,)
            ).fetchone()
            if row is None:
                raise unknown_session(session_id)
            if row["state"] == SessionState.ENDED.value:
                raise Conflict(
                    f"session {session_id!r} has already ended; begin a new one with "
                    "POST /api/v1/sessions (CLI: nsight-lab session-begin)"
                )
            running = conn.execute(
                "SELECT * FROM collections WHERE session_id=? AND state='RUNNING'", (session_id,)
            ).fetchone()
            notified = self._stop(conn, running, now) if running is not None else []
            conn.execute(
                "UPDATE sessions SET state='ENDED', ended_at=? WHERE session_id=?",
                (now, session_id),
            )
            return self._session(conn, session_id), notified

    def _session(self, conn: sqlite3.Connection, session_id: str) -> SessionInfo:
        row = conn.execute("SELECT * FROM sessions WHERE session_id=?", (session_id,)).fetchone()
        if row is None:
            raise unknown_session(session_id)
        ids = conn.execute(
            "SELECT collection_id FROM collections WHERE session_id=? ORDER BY idx", (session_id,)
        ).fetchall()
        return SessionInfo(
            session_id=row["session_id"],
            tag=row["tag"],
            title=row["title"],
            state=SessionState(row["state"]),
            created_at=to_datetime(row["created_at"]),
            ended_at=_opt_datetime(row["ended_at"]),
            collections=[self._collection(conn, r["collection_id"]) for r in ids],
        )

    # -- collections ---------------------------------------------------------------------

    def get_collection(self, collection_id: str) -> CollectionInfo:
        with self._lock:
            return self._collection(self._conn, collection_id)

    def _collection(self, conn: sqlite3.Connection, collection_id: str) -> CollectionInfo:
        row = conn.execute(
            "SELECT * FROM collections WHERE collection_id=?", (collection_id,)
        ).fetchone()
        if row is None:
            raise unknown_collection(collection_id)
        parts = conn.execute(
            """SELECT agent_id, process_name, instance, state, message FROM participants
            WHERE collection_id=? ORDER BY process_name, instance, agent_id""",
            (collection_id,),
        ).fetchall()
        spec = _json_object(row["spec"])
        return CollectionInfo(
            **{k: spec[k] for k in (*COMMAND_SPEC_KEYS, "preset") if spec.get(k) is not None},
            collection_id=row["collection_id"],
            session_id=row["session_id"],
            index=row["idx"],
            state=CollectionState(row["state"]),
            started_at=to_datetime(row["started_at"]),
            stopped_at=_opt_datetime(row["stopped_at"]),
            duration_s=row["duration_s"],
            delay_s=row["delay_s"],
            participants=[
                Participant(
                    agent_id=p["agent_id"],
                    process_name=p["process_name"],
                    instance=p["instance"],
                    state=ParticipantState(p["state"]),
                    message=p["message"],
                )
                for p in parts
            ],
        )

    def start_collection(
        self,
        tag: str,
        session_id: str | None,
        duration_s: float | None,
        delay_s: float | None,
        now: float,
        spec: dict[str, object] | None = None,
    ) -> tuple[CollectionInfo, list[str]]:
        """Open a collection on every ONLINE agent of the tag, in one transaction.

        Opens a session when the tag has none. Returns the collection and the agents
        that were sent a start command.
        """
        with self.transaction() as conn:
            if session_id is not None:
                session = conn.execute(
                    "SELECT * FROM sessions WHERE session_id=?", (session_id,)
                ).fetchone()
                if session is None:
                    raise unknown_session(session_id)
                if session["state"] != SessionState.ACTIVE.value:
                    raise Conflict(
                        f"session {session_id!r} has ended; begin a new session or start "
                        "without session_id to open one"
                    )
                tag = session["tag"]
            else:
                session = conn.execute(
                    "SELECT * FROM sessions WHERE tag=? AND state='ACTIVE'", (tag,)
                ).fetchone()
            online = conn.execute(
                "SELECT agent_id, process_name, instance FROM agents WHERE tag=? AND state='ONLINE'",
                (tag,),
            ).fetchall()
            if not online:
                raise Conflict(
                    f"no agent is online under tag {tag!r}, so there is nothing to profile; "
                    f"start a workload with `nsight-lab run --tag {tag} -- python ...` "
                    "and try again"
                )
            if session is not None:
                running = conn.execute(
                    "SELECT idx FROM collections WHERE session_id=? AND state='RUNNING'",
                    (session["session_id"],),
                ).fetchone()
                if running is not None:
                    raise Conflict(
                        f"collection {running['idx']} is already running in session "
                        f"{session['session_id']!r}; stop it first with POST /api/v1/profiler/stop "
                        "(CLI: nsight-lab profiler-stop)"
                    )
                sid = session["session_id"]
            else:
                sid = self._begin(conn, tag, None, now)
            index = conn.execute(
                "SELECT coalesce(max(idx), 0) + 1 AS n FROM collections WHERE session_id=?", (sid,)
            ).fetchone()["n"]
            collection_id = new_id()
            conn.execute(
                """INSERT INTO collections (collection_id, session_id, idx, state, started_at,
                stopped_at, duration_s, delay_s, spec) VALUES (?, ?, ?, 'RUNNING', ?, NULL, ?, ?, ?)""",
                (collection_id, sid, index, now, duration_s, delay_s, json.dumps(spec or {})),
            )
            conn.executemany(
                """INSERT INTO participants (collection_id, agent_id, process_name, instance,
                state, message) VALUES (?, ?, ?, ?, 'PENDING', '')""",
                [(collection_id, a["agent_id"], a["process_name"], a["instance"]) for a in online],
            )
            collection = conn.execute(
                "SELECT * FROM collections WHERE collection_id=?", (collection_id,)
            ).fetchone()
            agent_ids = [a["agent_id"] for a in online]
            self._issue(conn, CommandKind.START, collection, agent_ids, now)
            return self._collection(conn, collection_id), agent_ids

    def stop_collection(
        self, tag: str, session_id: str | None, now: float
    ) -> tuple[CollectionInfo, list[str]]:
        with self.transaction() as conn:
            if session_id is not None:
                if (
                    conn.execute(
                        "SELECT 1 FROM sessions WHERE session_id=?", (session_id,)
                    ).fetchone()
                    is None
                ):
                    raise unknown_session(session_id)
                running = conn.execute(
                    "SELECT * FROM collections WHERE session_id=? AND state='RUNNING'",
                    (session_id,),
                ).fetchone()
                where = f"session {session_id!r}"
            else:
                running = conn.execute(
                    """SELECT c.* FROM collections c JOIN sessions s USING (session_id)
                    WHERE s.tag=? AND s.state='ACTIVE' AND c.state='RUNNING'""",
                    (tag,),
                ).fetchone()
                where = f"tag {tag!r}"
            if running is None:
                raise Conflict(
                    f"nothing is being profiled in {where}; start a collection with "
                    "POST /api/v1/profiler/start (CLI: nsight-lab profiler-start)"
                )
            notified = self._stop(conn, running, now)
            return self._collection(conn, running["collection_id"]), notified

    def _stop(self, conn: sqlite3.Connection, collection: sqlite3.Row, now: float) -> list[str]:
        agent_ids = [
            r["agent_id"]
            for r in conn.execute(
                """SELECT agent_id FROM participants
                WHERE collection_id=? AND state IN ('PENDING', 'RECORDING')""",
                (collection["collection_id"],),
            ).fetchall()
        ]
        conn.execute(
            "UPDATE collections SET state='STOPPING', stopped_at=? WHERE collection_id=?",
            (now, collection["collection_id"]),
        )
        self._issue(conn, CommandKind.STOP, collection, agent_ids, now)
        self._settle(conn, collection["collection_id"], now)
        return agent_ids

    def expire_durations(self, now: float) -> list[str]:
        """Move timed collections past their end to STOPPING; the agents stop by themselves."""
        with self.transaction() as conn:
            rows = conn.execute(
                """UPDATE collections
                SET state='STOPPING', stopped_at=started_at + coalesce(delay_s, 0) + duration_s
                WHERE state='RUNNING' AND duration_s IS NOT NULL
                  AND started_at + coalesce(delay_s, 0) + duration_s <= ?
                RETURNING collection_id""",
                (now,),
            ).fetchall()
            ids = [r["collection_id"] for r in rows]
            for collection_id in ids:
                self._settle(conn, collection_id, now)
        return ids

    def _settle(self, conn: sqlite3.Connection, collection_id: str, now: float) -> None:
        """Give a collection its final state once no participant owes anything."""
        counts = {
            r["state"]: r["n"]
            for r in conn.execute(
                "SELECT state, count(*) AS n FROM participants WHERE collection_id=? GROUP BY state",
                (collection_id,),
            ).fetchall()
        }
        if any(counts.get(s.value, 0) for s in OPEN):
            return
        uploaded = counts.get(ParticipantState.UPLOADED.value, 0)
        total = sum(counts.values())
        if uploaded == total and total > 0:
            final = CollectionState.COMPLETED
        elif uploaded > 0:
            final = CollectionState.PARTIAL
        else:
            final = CollectionState.FAILED
        conn.execute(
            """UPDATE collections SET state=?, stopped_at=coalesce(stopped_at, ?)
            WHERE collection_id=?""",
            (final.value, now, collection_id),
        )

    # -- uploads and files ---------------------------------------------------------------

    def participant_context(
        self, collection_id: str, agent_id: str
    ) -> tuple[sqlite3.Row, AgentRow]:
        """The collection row and the agent, checking the agent took part in it."""
        with self._lock:
            collection = self._conn.execute(
                "SELECT * FROM collections WHERE collection_id=?", (collection_id,)
            ).fetchone()
            if collection is None:
                raise unknown_collection(collection_id)
            agent = self.get_agent(agent_id)
            if agent is None:
                raise NotFound(
                    f"no agent {agent_id!r}; register with POST /api/v1/agents before uploading"
                )
            part = self._conn.execute(
                "SELECT 1 FROM participants WHERE collection_id=? AND agent_id=?",
                (collection_id, agent_id),
            ).fetchone()
        if part is None:
            raise Conflict(
                f"agent {agent_id!r} did not take part in collection {collection_id!r}; "
                "upload only reports of collections the agent was started for"
            )
        return collection, agent

    def find_file(
        self, collection_id: str, agent_id: str, original_filename: str, sha256: str
    ) -> FileInfo | None:
        rows = self._query(
            f"""SELECT {_FILE_COLS} FROM files WHERE collection_id=? AND agent_id=?
            AND original_filename=? AND sha256=?""",
            (collection_id, agent_id, original_filename, sha256),
        )
        return _file(rows[0]) if rows else None

    def find_pending_upload(
        self, collection_id: str, agent_id: str, original_filename: str, sha256: str, size: int
    ) -> UploadRow | None:
        rows = self._query(
            f"""SELECT {_UPLOAD_COLS} FROM uploads WHERE collection_id=? AND agent_id=?
            AND original_filename=? AND sha256=? AND size=? AND state='PENDING'
            ORDER BY created_at DESC LIMIT 1""",
            (collection_id, agent_id, original_filename, sha256, size),
        )
        return UploadRow(**dict(rows[0])) if rows else None

    def add_upload(self, upload: UploadRow) -> None:
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO uploads ({_UPLOAD_COLS}) VALUES ({_marks(range(16))})",
                (
                    upload.upload_id,
                    upload.key,
                    upload.filename,
                    upload.agent_id,
                    upload.session_id,
                    upload.collection_id,
                    upload.original_filename,
                    upload.size,
                    upload.sha256,
                    upload.kind,
                    upload.method,
                    upload.store_upload_id,
                    upload.state,
                    upload.created_at,
                    upload.collection_files,
                    upload.metadata,
                ),
            )

    def get_upload(self, upload_id: str) -> UploadRow | None:
        rows = self._query(f"SELECT {_UPLOAD_COLS} FROM uploads WHERE upload_id=?", (upload_id,))
        return UploadRow(**dict(rows[0])) if rows else None

    def set_upload_state(self, upload_id: str, state: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE uploads SET state=? WHERE upload_id=?", (state, upload_id))

    def claim_upload(self, upload_id: str, from_state: str, to_state: str) -> bool:
        """Move an upload from one state to another only if it is still in the first.

        Aborting claims the upload before it deletes the object, so a retried request
        that arrives while a slow delete is still running gets a fresh upload (and key)
        instead of reusing the one whose object is about to disappear.
        """
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE uploads SET state=? WHERE upload_id=? AND state=?",
                (to_state, upload_id, from_state),
            )
            return cursor.rowcount == 1

    def register_file(self, upload: UploadRow, now: float) -> FileInfo:
        """Record a verified upload as a file, once; the agent's part becomes UPLOADED."""
        with self.transaction() as conn:
            existing = conn.execute(
                f"SELECT {_FILE_COLS} FROM files WHERE upload_id=?", (upload.upload_id,)
            ).fetchone()
            if existing is not None:
                return _file(existing)
            agent = conn.execute(
                "SELECT tag, process_name, instance, collector FROM agents WHERE agent_id=?",
                (upload.agent_id,),
            ).fetchone()
            collection = conn.execute(
                "SELECT idx FROM collections WHERE collection_id=?", (upload.collection_id,)
            ).fetchone()
            file_id = new_id()
            held = upload.method == HELD
            conn.execute(
                """INSERT INTO files (file_id, upload_id, key, session_id, collection_id,
                collection_index, agent_id, tag, process_name, instance, filename,
                original_filename, kind, collector, size, sha256, created_at, metadata,
                location, conversion_state, conversion_error, conversion_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    file_id,
                    upload.upload_id,
                    upload.key,
                    upload.session_id,
                    upload.collection_id,
                    collection["idx"],
                    upload.agent_id,
                    agent["tag"],
                    agent["process_name"],
                    agent["instance"],
                    upload.filename,
                    upload.original_filename,
                    upload.kind,
                    agent["collector"],
                    upload.size,
                    upload.sha256,
                    now,
                    upload.metadata,
                    "agent" if held else "storage",
                    ConversionState.FAILED.value if held else ConversionState.PENDING.value,
                    HELD_CONVERSION_ERROR if held else None,
                    now if held else None,
                ),
            )
            conn.execute(
                "UPDATE uploads SET state='COMPLETED' WHERE upload_id=?", (upload.upload_id,)
            )
            stored = conn.execute(
                "SELECT COUNT(*) FROM files WHERE collection_id=? AND agent_id=?",
                (upload.collection_id, upload.agent_id),
            ).fetchone()[0]
            # The part is done only when every file the agent announced is stored; a
            # collection must not read COMPLETED while a second report is in flight.
            if stored >= upload.collection_files:
                conn.execute(
                    """UPDATE participants SET state='UPLOADED', message=''
                    WHERE collection_id=? AND agent_id=?""",
                    (upload.collection_id, upload.agent_id),
                )
                self._settle(conn, upload.collection_id, now)
            else:
                conn.execute(
                    """UPDATE participants SET message=?
                    WHERE collection_id=? AND agent_id=? AND state NOT IN ('LOST', 'FAILED')""",
                    (
                        f"{stored} of {upload.collection_files} files stored",
                        upload.collection_id,
                        upload.agent_id,
                    ),
                )
            row = conn.execute(
                f"SELECT {_FILE_COLS} FROM files WHERE file_id=?", (file_id,)
            ).fetchone()
            return _file(row)

    def file_for_upload(self, upload_id: str) -> FileInfo | None:
        rows = self._query(f"SELECT {_FILE_COLS} FROM files WHERE upload_id=?", (upload_id,))
        return _file(rows[0]) if rows else None

    def upload_of_file(self, file_id: str) -> str:
        rows = self._query("SELECT upload_id FROM files WHERE file_id=?", (file_id,))
        return str(rows[0]["upload_id"]) if rows else ""

    def get_file(self, file_id: str) -> FileInfo | None:
        rows = self._query(f"SELECT {_FILE_COLS} FROM files WHERE file_id=?", (file_id,))
        return _file(rows[0]) if rows else None

    def list_files(
        self,
        session_id: str | None = None,
        collection_id: str | None = None,
        *,
        conversion: ConversionState | None = None,
        sha256: str | None = None,
        limit: int | None = None,
    ) -> list[FileInfo]:
        where, params = _filters(
            session_id=session_id,
            collection_id=collection_id,
            conversion_state=conversion.value if conversion is not None else None,
            sha256=sha256,
        )
        sql = f"SELECT {_FILE_COLS} FROM files{where} ORDER BY created_at, file_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_file(r) for r in self._query(sql, params)]

    def set_conversion(self, file_id: str, update: ConversionUpdate, now: float) -> FileInfo | None:
        """Record what the analysis side made of the file; None for an unknown file."""
        with self.transaction() as conn:
            conn.execute(
                """UPDATE files SET conversion_state=?, conversion_error=?, conversion_prefix=?,
                conversion_at=? WHERE file_id=?""",
                (update.state.value, update.error, update.trace_prefix, now, file_id),
            )
        return self.get_file(file_id)

    # -- presets ----------------------------------------------------------------------------

    def put_preset(self, preset: ProfilePreset, now: float) -> ProfilePreset:
        """Create or replace a preset; its ``default_for_tags`` replace its old ones."""
        body = preset.model_dump(mode="json", exclude={"updated_at", "default_for_tags"})
        with self.transaction() as conn:
            taken = conn.execute(
                f"""SELECT tag, preset FROM tag_presets
                WHERE tag IN ({_marks(preset.default_for_tags)}) AND preset != ?""",
                [*preset.default_for_tags, preset.name],
            ).fetchall()
            if taken:
                tag, other = taken[0]["tag"], taken[0]["preset"]
                raise Conflict(
                    f"tag {tag!r} already defaults to preset {other!r}; remove it from that "
                    f"preset's default_for_tags first (PUT /api/v1/presets/{other})"
                )
            conn.execute(
                """INSERT INTO presets (name, body, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET body=excluded.body, updated_at=excluded.updated_at""",
                (preset.name, json.dumps(body), now),
            )
            conn.execute("DELETE FROM tag_presets WHERE preset=?", (preset.name,))
            conn.executemany(
                "INSERT INTO tag_presets (tag, preset) VALUES (?, ?)",
                [(tag, preset.name) for tag in dict.fromkeys(preset.default_for_tags)],
            )
            return self._preset(conn, preset.name)  # type: ignore[return-value]

    def _preset(self, conn: sqlite3.Connection, name: str) -> ProfilePreset | None:
        row = conn.execute("SELECT body, updated_at FROM presets WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        tags = [
            r["tag"]
            for r in conn.execute(
                "SELECT tag FROM tag_presets WHERE preset=? ORDER BY tag", (name,)
            ).fetchall()
        ]
        return ProfilePreset(
            **_json_object(row["body"]),
            default_for_tags=tags,
            updated_at=to_datetime(row["updated_at"]),
        )

    def get_preset(self, name: str) -> ProfilePreset | None:
        with self._lock:
            return self._preset(self._conn, name)

    def list_presets(self) -> list[ProfilePreset]:
        with self._lock:
            names = [
                r["name"] for r in self._conn.execute("SELECT name FROM presets ORDER BY name")
            ]
            return [p for n in names if (p := self._preset(self._conn, n)) is not None]

    def delete_preset(self, name: str) -> bool:
        with self.transaction() as conn:
            conn.execute("DELETE FROM tag_presets WHERE preset=?", (name,))
            return conn.execute("DELETE FROM presets WHERE name=?", (name,)).rowcount > 0

    def tag_preset(self, tag: str) -> str | None:
        rows = self._query("SELECT preset FROM tag_presets WHERE tag=?", (tag,))
        return str(rows[0]["preset"]) if rows else None
