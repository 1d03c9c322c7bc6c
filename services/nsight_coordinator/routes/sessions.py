"""Sessions: a titled run of collections under one tag."""

from __future__ import annotations

import time

from fastapi import APIRouter, Query

from nsight_coordinator import tenancy
from nsight_coordinator.state import State
from nsight_lab.models import SessionBegin, SessionInfo, SessionState
from nsight_lab.servicekit import CallerDep

router = APIRouter(tags=["sessions"])


@router.post("/sessions", response_model=SessionInfo, status_code=201)
async def begin_session(body: SessionBegin, state: State, caller: CallerDep) -> SessionInfo:
    """Titles are free text (``../`` and ``/`` allowed); keys use ids, downloads sanitise."""
    tenancy.require_tag(caller, body.tag)
    return state.db.begin_session(body.tag, body.title, time.time())


@router.get("/sessions", response_model=list[SessionInfo])
async def list_sessions(
    state: State,
    caller: CallerDep,
    tag: str | None = None,
    session_state: SessionState | None = Query(None, alias="state"),
) -> list[SessionInfo]:
    """Newest first."""
    found = state.db.list_sessions(tag=tag, state=session_state)
    return [s for s in found if caller.allows(s.tag)]


@router.get("/sessions/{session_id}", response_model=SessionInfo)
async def get_session(session_id: str, state: State, caller: CallerDep) -> SessionInfo:
    return tenancy.session(state, caller, session_id)


@router.post("/sessions/{session_id}/end", response_model=SessionInfo)
async def end_session(session_id: str, state: State, caller: CallerDep) -> SessionInfo:
    """Stops a running collection first, so no agent keeps recording for an ended session."""
    tenancy.session(state, caller, session_id)
    session, notified = state.db.end_session(session_id, time.time())
    state.hub.notify(notified)
    return session
