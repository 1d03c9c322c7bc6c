"""Starting and stopping collections on every agent of a tag."""

from __future__ import annotations

import time

from fastapi import APIRouter

from nsight_coordinator import tenancy
from nsight_coordinator.errors import Conflict
from nsight_coordinator.state import State
from nsight_lab.models import CollectionInfo, ProfilerStart, ProfilerStop
from nsight_lab.servicekit import CallerDep

router = APIRouter(tags=["profiler"])


def _check_tag(body: ProfilerStart | ProfilerStop, session_tag: str | None) -> None:
    if session_tag is not None and "tag" in body.model_fields_set and body.tag != session_tag:
        raise Conflict(
            f"session {body.session_id!r} belongs to tag {session_tag!r}, not {body.tag!r}; "
            "leave out tag or session_id"
        )


@router.post("/profiler/start", response_model=CollectionInfo, status_code=201)
async def start(body: ProfilerStart, state: State, caller: CallerDep) -> CollectionInfo:
    """Commands for every agent go in one transaction, then all their polls wake at once."""
    if body.session_id is not None:
        _check_tag(body, tenancy.session(state, caller, body.session_id).tag)
    tenancy.require_tag(caller, body.tag)
    collection, agent_ids = state.db.start_collection(
        body.tag, body.session_id, body.duration_s, body.delay_s, time.time()
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
