"""Starting and stopping collections on every agent of a tag."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from nsight_coordinator import tenancy
from nsight_coordinator.errors import Conflict, Invalid, NotFound
from nsight_coordinator.state import CoordinatorState, State
from nsight_lab.agent.collectors.options import OptionError, check
from nsight_lab.models import AgentState, CollectionInfo, ProfilerStart, ProfilerStop
from nsight_lab.servicekit import CallerDep

router = APIRouter(tags=["profiler"])


def _check_tag(body: ProfilerStart | ProfilerStop, session_tag: str | None) -> None:
    if session_tag is not None and "tag" in body.model_fields_set and body.tag != session_tag:
        raise Conflict(
            f"session {body.session_id!r} belongs to tag {session_tag!r}, not {body.tag!r}; "
            "leave out tag or session_id"
        )


#: What a preset may set and a request may override, field by field.
_CAPTURE_FIELDS = ("steps", "skip", "step_timeout_s", "max_overhead_pct", "duration_s", "delay_s")


def _apply_preset(body: ProfilerStart, state: CoordinatorState, tag: str) -> dict[str, Any]:
    """The capture as it will run: the preset's values, then the request's on top."""
    name = body.preset if body.preset is not None else state.db.tag_preset(tag)
    spec: dict[str, Any] = {"options": {}}
    if name:
        preset = state.db.get_preset(name)
        if preset is None:
            known = ", ".join(p.name for p in state.db.list_presets()) or "none yet"
            raise NotFound(
                f"no preset {name!r} (presets: {known}); create one with "
                "PUT /api/v1/presets/NAME (CLI: nsight-lab preset save NAME ...)"
            )
        spec["preset"] = name
        spec["options"] = dict(preset.options)
        for key in _CAPTURE_FIELDS:
            value = getattr(preset, key)
            if value is not None and not (key == "skip" and value == 0):
                spec[key] = value
    spec["options"].update(body.options)
    for key in _CAPTURE_FIELDS:
        if key in body.model_fields_set and getattr(body, key) is not None:
            spec[key] = getattr(body, key)
    if spec.get("steps") is not None and spec.get("duration_s") is not None:
        raise Invalid(
            "steps and duration_s cannot be combined (one may come from the preset "
            f"{name!r}); a step capture stops after its steps"
        )
    return spec


def _check_options(state: CoordinatorState, tag: str, options: dict[str, Any]) -> None:
    """Refuse options that a collector of the tag's online agents cannot apply."""
    if not options:
        return
    for agent in state.db.list_agents(tag=tag, state=AgentState.ONLINE):
        try:
            check(agent.collector, options)
        except OptionError as exc:
            raise Invalid(
                f"agent {agent.process_name}/{agent.instance} ({agent.agent_id}) records with "
                f"{agent.collector}: {exc}"
            ) from None


@router.post("/profiler/start", response_model=CollectionInfo, status_code=201)
async def start(body: ProfilerStart, state: State, caller: CallerDep) -> CollectionInfo:
    """Commands for every agent go in one transaction, then all their polls wake at once."""
    tag = body.tag
    if body.session_id is not None:
        session_tag = tenancy.session(state, caller, body.session_id).tag
        _check_tag(body, session_tag)
        tag = session_tag
    tenancy.require_tag(caller, body.tag)
    spec = _apply_preset(body, state, tag)
    _check_options(state, tag, spec["options"])
    duration_s, delay_s = spec.pop("duration_s", None), spec.pop("delay_s", None)
    collection, agent_ids = state.db.start_collection(
        body.tag, body.session_id, duration_s, delay_s, time.time(), spec=spec
    )
    state.hub.notify(agent_ids)
    return collection


@router.post("/profiler/stop", response_model=CollectionInfo)
async def stop(body: ProfilerStop, state: State, caller: CallerDep) -> CollectionInfo:
    if body.session_id is not None:
        _check_tag(body, tenancy.session(state, caller, body.session_id).tag)
    tenancy.require_tag(caller, body.tag)
    collection, agent_ids = state.db.stop_collection(body.tag, body.session_id, time.time())
    state.hub.notify(agent_ids)
    return collection


@router.get("/collections/{collection_id}", response_model=CollectionInfo)
async def get_collection(collection_id: str, state: State, caller: CallerDep) -> CollectionInfo:
    return tenancy.collection(state, caller, collection_id)
