"""Tags: the groups of agents that start and stop together."""

from __future__ import annotations

from fastapi import APIRouter

from nsight_coordinator.errors import NotFound
from nsight_coordinator.state import State
from nsight_lab.models import TagStatus
from nsight_lab.servicekit import CallerDep

router = APIRouter(tags=["tags"])


@router.get("/tags", response_model=list[str])
async def list_tags(state: State, caller: CallerDep) -> list[str]:
    """Every tag an agent registered under or a session was begun for."""
    return [t for t in state.db.list_tags() if caller.allows(t)]


@router.get("/tags/{tag}/status", response_model=TagStatus)
async def tag_status(tag: str, state: State, caller: CallerDep) -> TagStatus:
    if not caller.allows(tag):
        raise NotFound(f"no tag {tag!r}; list tags with GET /api/v1/tags")
    agents = [a.info(state.hub.last_seen(a.agent_id)) for a in state.db.list_agents(tag=tag)]
    return TagStatus(tag=tag, agents=agents, active_session=state.db.active_session(tag))
