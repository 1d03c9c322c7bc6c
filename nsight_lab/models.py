"""Wire models shared by the coordinator and every client (CLI, JupyterLab, scripts).

They live in ``nsight_lab`` so that services and clients agree on one definition
without services importing each other (DESIGN.md, "Directions that must hold").
The agent cannot import pydantic; it speaks the same JSON by hand, and
``docs/PROTOCOL.md`` is the contract both sides follow.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nsight_lab.agent.collectors.options import OptionError, check_known
from nsight_lab.naming import has_control_chars

DEFAULT_TAG = "default"
API_PREFIX = "/api/v1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=False)


class SessionState(str, Enum):
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"


class CollectionState(str, Enum):
    #: The start command was issued; agents are recording (or waiting out a delay).
    RUNNING = "RUNNING"
    #: Stop issued; waiting for every participating agent to upload or be declared lost.
    STOPPING = "STOPPING"
    #: Every participating agent uploaded its report.
    COMPLETED = "COMPLETED"
    #: Some agents uploaded, others were lost or failed.
    PARTIAL = "PARTIAL"
    #: No agent produced a report.
    FAILED = "FAILED"


class AgentState(str, Enum):
    ONLINE = "ONLINE"
    #: Missed heartbeats for longer than the expiry; kept for history.
    LOST = "LOST"
    #: Said goodbye (process exited cleanly).
    GONE = "GONE"


class ParticipantState(str, Enum):
    """One agent's part in one collection."""

    PENDING = "PENDING"  # command queued, not acknowledged yet
    RECORDING = "RECORDING"  # start acknowledged
    STOPPED = "STOPPED"  # stop acknowledged, upload pending
    UPLOADED = "UPLOADED"  # its report(s) are in storage and verified
    FAILED = "FAILED"  # the agent said it could not record or upload
    LOST = "LOST"  # the agent vanished before uploading


class CommandKind(str, Enum):
    START = "start"
    STOP = "stop"
    #: Send one file this agent holds in its Pod to ``PUT agents/{id}/relays/{request_id}``.
    RELAY = "relay"


# --- agents -------------------------------------------------------------------------


class AgentRegistration(_Model):
    tag: str = Field(DEFAULT_TAG, min_length=1, max_length=128)
    process_name: str = Field(..., min_length=1, max_length=256)
    instance: str = Field(..., min_length=1, max_length=256)
    host: str = Field("", max_length=256)
    pid: int = Field(..., ge=0)
    collector: str = Field(..., min_length=1, max_length=64)
    agent_version: str = ""
    #: Set when an agent re-registers after a coordinator restart or network loss, so
    #: it keeps its identity (and its pending commands) instead of becoming a new one.
    agent_id: str | None = None
    #: What the collector can record: ``cuda``, ``cpu``, ``python``, ``ranges``.
    capabilities: list[str] = Field(default_factory=list, max_length=16)
    #: Why a better collector was not available (``--collector auto``).
    collector_note: str = Field("", max_length=2000)
    #: What the collector checked before any start (nsys: paranoid level, TMPDIR, version).
    preflight: list[str] = Field(default_factory=list, max_length=20)
    #: Per collector (not only the chosen one), whether it can record on this machine,
    #: what is missing and the setting that fixes it (``nsight_lab.agent.preflight``):
    #: ``{"pyspy": {"ok": false, "missing": [...], "fix": "..."}}``. Older agents send none.
    readiness: dict[str, Any] = Field(default_factory=dict)

    @field_validator("readiness")
    @classmethod
    def _small_readiness(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, default=str)) > 16384:
            raise ValueError("readiness: at most 16 KiB of JSON")
        return value


class AgentRegistered(_Model):
    agent_id: str
    heartbeat_interval_s: float
    poll_timeout_s: float
    #: Highest command sequence already delivered to this agent id; a re-registering
    #: agent resumes polling after it so nothing is delivered twice.
    last_acked_seq: int = 0
    #: The coordinator's wall clock (ns since 1970) when it answered: the agent's
    #: first clock anchor (docs/TRACE_MODEL.md, "Clock alignment").
    server_time_ns: int | None = None


class AgentInfo(_Model):
    agent_id: str
    tag: str
    process_name: str
    instance: str
    host: str
    pid: int
    collector: str
    state: AgentState
    registered_at: datetime
    last_seen: datetime
    capabilities: list[str] = []
    collector_note: str = ""
    preflight: list[str] = []
    readiness: dict[str, Any] = {}


# --- commands (coordinator -> agent) -------------------------------------------------


class AppliedCapture(_Model):
    """A capture as the coordinator applies it (preset merged in, options checked)."""

    options: dict[str, Any] = {}
    steps: int | None = None
    skip: int = 0
    #: Chosen once every agent answered a step capture's first start: the step all
    #: agents start at (sent in the second start).
    from_step: int | None = None
    step_timeout_s: float | None = None
    max_overhead_pct: float | None = None


class Command(AppliedCapture):
    seq: int
    kind: CommandKind
    session_id: str
    collection_id: str
    collection_index: int
    duration_s: float | None = None
    delay_s: float | None = None
    issued_at: datetime
    #: ``relay`` only: which held file to stream, and the relay request it answers.
    file_id: str | None = None
    request_id: str | None = None


class CommandBatch(_Model):
    commands: list[Command]


class CommandAck(_Model):
    ok: bool = True
    message: str = ""
    #: Answer to the first start of a step capture: the next step the agent will enter,
    #: and the median time between its recent steps (None before it has two).
    step: int | None = Field(None, ge=0)
    step_ns: int | None = Field(None, gt=0)


# --- sessions and collections --------------------------------------------------------


class SessionBegin(_Model):
    tag: str = Field(DEFAULT_TAG, min_length=1, max_length=128)
    title: str | None = Field(None, max_length=200)

    @field_validator("title")
    @classmethod
    def _printable_title(cls, title: str | None) -> str | None:
        # Titles end up in folder names and terminals: control characters (NUL, escape
        # sequences, newlines) are refused here rather than mangled later.
        if title is not None and has_control_chars(title):
            bad = next(ch for ch in title if has_control_chars(ch))
            raise ValueError(
                f"title must be printable text; it contains the control character "
                f"U+{ord(bad):04X} at position {title.index(bad)}"
            )
        return title


def _known_options(options: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_known(options)
    except OptionError as exc:
        raise ValueError(str(exc)) from None


class CaptureSpec(_Model):
    """How one collection records, beyond start and stop (docs/PROTOCOL.md, "Capture")."""

    #: Collector options by name (``{"record_shapes": true, "rate": 250}``); each
    #: belongs to one collector (``nsight_lab.agent.collectors.options``).
    options: dict[str, Any] = Field(default_factory=dict)
    #: Step-aligned capture: every agent records the same ``steps`` steps.
    steps: int | None = Field(None, ge=1, le=100_000)
    #: Steps to let pass after the next boundary before recording.
    skip: int = Field(0, ge=0, le=1_000_000)
    #: How long an agent waits for its first step before failing its part.
    step_timeout_s: float | None = Field(None, gt=0, le=24 * 3600)
    #: Stop early when the median step gets this much slower than before the capture.
    max_overhead_pct: float | None = Field(None, gt=0, le=10_000)

    @field_validator("options")
    @classmethod
    def _options_known(cls, options: dict[str, Any]) -> dict[str, Any]:
        return _known_options(options)


class TimedCapture(CaptureSpec):
    duration_s: float | None = Field(None, gt=0, le=7 * 24 * 3600)
    delay_s: float | None = Field(None, ge=0, le=7 * 24 * 3600)

    @model_validator(mode="after")
    def _one_way_to_stop(self) -> TimedCapture:
        if self.steps is not None and self.duration_s is not None:
            raise ValueError(
                "steps and duration_s cannot be combined: a step capture stops after its steps"
            )
        return self


class ProfilerStart(TimedCapture):
    tag: str = Field(DEFAULT_TAG, min_length=1, max_length=128)
    session_id: str | None = None
    #: A stored preset; its values come first and this request's override them.
    #: Unset: the tag's default preset, if one is set; ``""``: no preset at all.
    preset: str | None = Field(None, max_length=64)


PRESET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ProfilePreset(TimedCapture):
    """A named capture configuration stored by the coordinator (a profile config)."""

    name: str = Field(..., pattern=PRESET_NAME)
    description: str = Field("", max_length=500)
    #: Tags whose profiler starts use this preset unless they name another.
    default_for_tags: list[str] = Field(default_factory=list, max_length=256)
    updated_at: datetime | None = None


class ProfilerStop(_Model):
    tag: str = Field(DEFAULT_TAG, min_length=1, max_length=128)
    session_id: str | None = None


class Participant(_Model):
    agent_id: str
    process_name: str
    instance: str
    state: ParticipantState
    message: str = ""


class CollectionInfo(AppliedCapture):
    collection_id: str
    session_id: str
    index: int
    state: CollectionState
    started_at: datetime
    stopped_at: datetime | None = None
    duration_s: float | None = None
    delay_s: float | None = None
    participants: list[Participant] = []
    preset: str | None = None


class SessionInfo(_Model):
    session_id: str
    tag: str
    title: str | None
    state: SessionState
    created_at: datetime
    ended_at: datetime | None = None
    collections: list[CollectionInfo] = []


class TagStatus(_Model):
    tag: str
    agents: list[AgentInfo]
    active_session: SessionInfo | None = None


# --- uploads and files ----------------------------------------------------------------


class UploadRequest(_Model):
    agent_id: str
    collection_id: str
    #: The file's own name as the collector produced it, e.g. ``report.nsys-rep``.
    #: Only its extension and a sanitized stem survive into the storage key.
    filename: str = Field(..., min_length=1, max_length=512)
    size: int = Field(..., ge=0)
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    #: What the file is: ``report`` (the primary profile), ``sqlite``, ``ranges``.
    kind: str = Field("report", max_length=32)
    #: How many files the agent produced for this collection in all. Its part of the
    #: collection is UPLOADED only once that many are stored.
    collection_files: int = Field(1, ge=1, le=64)
    #: What the agent knows about the report: clock anchor, steps, overhead, warnings.
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: The agent keeps the file in its Pod (``storage_type: pod``) and streams it
    #: through the coordinator when someone downloads it; the plan's method is ``held``.
    held: bool = False

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(metadata, default=str)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes as JSON")
        return metadata


MAX_METADATA_BYTES = 64 * 1024


class PresignedPart(_Model):
    part_number: int
    url: str


class UploadPlan(_Model):
    upload_id: str
    key: str
    #: ``single``: PUT the whole body to ``url``. ``multipart``: PUT each part to its
    #: URL, then POST the ETags to ``complete``. ``held``: keep the file (named as the
    #: key's last segment) and POST ``complete`` with no parts.
    method: str
    url: str | None = None
    #: Headers the single PUT must carry (``If-None-Match: *`` on S3: a URL that
    #: cannot replace a stored object). A 412 answer means the object is stored.
    headers: dict[str, str] = {}
    part_size: int | None = None
    parts: list[PresignedPart] = []
    expires_at: datetime
    #: Set when the same file (same collection, agent, name and sha256) is already
    #: stored: nothing to upload, the file is registered already.
    existing_file_id: str | None = None


class CompletedPart(_Model):
    part_number: int
    etag: str


class UploadComplete(_Model):
    parts: list[CompletedPart] = []


class ConversionState(str, Enum):
    """Where a registered file stands with the analysis side's one-time conversion."""

    #: Not converted yet (the analysis service picks it up within seconds).
    PENDING = "pending"
    #: Its trace tables are stored under ``traces/<sha256>/`` (``FileConversion.trace_prefix``).
    CONVERTED = "converted"
    #: It could not be converted; ``error`` says why. Recipes skip it with that warning.
    FAILED = "failed"
    #: Nothing to convert: not a report recipes read, or another file of the same
    #: report (its SQLite export) is converted instead; ``error`` says which.
    SKIPPED = "skipped"


class FileConversion(_Model):
    state: ConversionState = ConversionState.PENDING
    error: str | None = None
    #: ``traces/<sha256>/`` once converted.
    trace_prefix: str | None = None
    updated_at: datetime | None = None


class ConversionUpdate(_Model):
    """What the analysis service reports about a file it converted (or could not)."""

    state: ConversionState
    error: str | None = Field(None, max_length=4000)
    trace_prefix: str | None = Field(None, pattern=r"^traces/[0-9a-f]{64}/$")


class FileInfo(_Model):
    file_id: str
    key: str
    session_id: str
    collection_id: str
    collection_index: int
    agent_id: str
    tag: str
    process_name: str
    instance: str
    #: ``<process>_<tag>_<instance>_<stub>.<ext>``: the name used in downloads.
    filename: str
    kind: str
    collector: str
    size: int
    sha256: str
    created_at: datetime
    #: The analysis side's conversion of this file (``ls`` and the panel show failures).
    conversion: FileConversion = FileConversion()
    #: The agent's metadata for the report (``overhead_pct``, ``steps``, ``clock``...).
    metadata: dict[str, Any] = {}
    #: ``storage``: in object storage. ``agent``: held in the profiled Pod by the agent
    #: that recorded it (``agent_id``); downloads are relayed from that agent on demand.
    location: Literal["storage", "agent"] = "storage"


class RelayFailure(_Model):
    """An agent's answer to a ``relay`` command it cannot serve."""

    #: ``missing``: the file is gone from the Pod; ``changed``: its size differs from
    #: what was registered; ``busy``: the agent streams its maximum already;
    #: ``unreadable``: any other error reading it.
    reason: Literal["missing", "changed", "busy", "unreadable"]
    message: str = Field("", max_length=2000)


class DownloadLink(_Model):
    url: str
    expires_at: datetime


class ErrorBody(_Model):
    """Every 4xx/5xx body: ``detail`` says what went wrong and what to do."""

    detail: str
