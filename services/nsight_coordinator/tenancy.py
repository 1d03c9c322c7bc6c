"""Tenants: a caller limited to some tags sees and touches only those tags' things.

The gateway names the caller and its tags (``nsight_lab.servicekit.trust``); every
route asks here before it reads or acts. Anything of another tag answers exactly as
if it did not exist (the same 404 and words), so ids do not leak across tenants;
naming a tag one may not use (to begin a session, start a collection, register an
agent) answers 403 and says which tags are allowed.
"""

from __future__ import annotations

from nsight_coordinator.db import AgentRow, UploadRow
from nsight_coordinator.errors import CoordinatorError, unknown_agent, unknown_session
from nsight_coordinator.state import CoordinatorState
from nsight_lab.gateway.identity import Caller
from nsight_lab.models import CollectionInfo, FileInfo, SessionInfo


class Forbidden(CoordinatorError):
    status_code = 403


def require_tag(caller: Caller, tag: str) -> None:
    if not caller.allows(tag):
        allowed = ", ".join(sorted(caller.tags or ())) or "none"
        raise Forbidden(
            f"{caller.name or 'this caller'} may not use tag {tag!r}; its tags: {allowed}"
        )


def session(state: CoordinatorState, caller: Caller, session_id: str) -> SessionInfo:
    found = state.db.get_session(session_id)
    if not caller.allows(found.tag):
        raise unknown_session(session_id)
    return found


def collection(state: CoordinatorState, caller: Caller, collection_id: str) -> CollectionInfo:
    from nsight_coordinator.errors import unknown_collection

    found = state.db.get_collection(collection_id)
    if caller.limited and not caller.allows(state.db.get_session(found.session_id).tag):
        raise unknown_collection(collection_id)
    return found


def agent(state: CoordinatorState, caller: Caller, agent_id: str) -> AgentRow:
    found = state.db.get_agent(agent_id)
    if found is None or not caller.allows(found.tag):
        raise unknown_agent(agent_id)
    return found


def upload_visible(state: CoordinatorState, caller: Caller, upload: UploadRow | None) -> bool:
    if upload is None or not caller.limited:
        return upload is not None
    return caller.allows(state.db.get_session(upload.session_id).tag)


def file_visible(caller: Caller, info: FileInfo | None) -> bool:
    return info is not None and caller.allows(info.tag)
