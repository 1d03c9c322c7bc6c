"""Commands from the coordinator, parsed by hand (the agent cannot use pydantic).

Parsing is strict about what the agent needs and lenient about the rest, so a newer
coordinator that adds fields keeps working with older agents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: What a relay command's ids may look like (the coordinator's ids and tokens).
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass(frozen=True)
class AgentCommand:
    seq: int
    kind: str
    session_id: str
    collection_id: str
    collection_index: int
    duration_s: float | None = None
    delay_s: float | None = None
    #: Collector options by name (docs/PROTOCOL.md, "Capture options").
    options: dict[str, Any] = field(default_factory=dict)
    #: Step-aligned capture: record ``steps`` steps after skipping ``skip``.
    steps: int | None = None
    skip: int = 0
    #: Set on the second start of a step capture: the step every agent starts at.
    from_step: int | None = None
    step_timeout_s: float | None = None
    max_overhead_pct: float | None = None
    #: ``relay`` only: the held file to send (by id, never a path) and the request.
    file_id: str = ""
    request_id: str = ""


def _optional_int(data: dict[str, Any], key: str, minimum: int = 0) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"command field {key!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _optional_float(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"command field {key!r} must be a number, got {value!r}")
    return float(value)


def parse_seq(data: object) -> int | None:
    """The sequence number of a command, or ``None`` when even that is unusable."""
    if isinstance(data, dict):
        seq = data.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0:
            return seq
    return None


def parse_command(data: object) -> AgentCommand:
    """One command of a ``CommandBatch``; ``ValueError`` names the bad field."""
    if not isinstance(data, dict):
        raise ValueError(f"command must be a JSON object, got {type(data).__name__}")
    seq = parse_seq(data)
    if seq is None:
        raise ValueError(
            f"command field 'seq' must be a non-negative integer, got {data.get('seq')!r}"
        )
    fields: dict[str, Any] = {}
    for key in ("kind", "session_id", "collection_id"):
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(
                f"command {seq}: field {key!r} must be a non-empty string, got {value!r}"
            )
        fields[key] = value
    index = data.get("collection_index", 0)
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(
            f"command {seq}: field 'collection_index' must be an integer, got {index!r}"
        )
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ValueError(f"command {seq}: field 'options' must be an object, got {options!r}")
    relay: dict[str, str] = {}
    if fields["kind"] == "relay":
        for key in ("file_id", "request_id"):
            value = data.get(key)
            if not isinstance(value, str) or not _ID.fullmatch(value):
                raise ValueError(f"command {seq}: field {key!r} must be an id, got {value!r}")
            relay[key] = value
    return AgentCommand(
        seq=seq,
        kind=fields["kind"],
        session_id=fields["session_id"],
        collection_id=fields["collection_id"],
        collection_index=index,
        duration_s=_optional_float(data, "duration_s"),
        delay_s=_optional_float(data, "delay_s"),
        options=options,
        steps=_optional_int(data, "steps", 1),
        skip=_optional_int(data, "skip") or 0,
        from_step=_optional_int(data, "from_step"),
        step_timeout_s=_optional_float(data, "step_timeout_s"),
        max_overhead_pct=_optional_float(data, "max_overhead_pct"),
        **relay,
    )


def parse_batch(data: object) -> list[object]:
    """The raw command objects of a ``CommandBatch``."""
    if not isinstance(data, dict) or not isinstance(data.get("commands"), list):
        raise ValueError(
            f"expected a CommandBatch object with a 'commands' list, got {str(data)[:200]!r}"
        )
    commands: list[object] = data["commands"]
    return commands
