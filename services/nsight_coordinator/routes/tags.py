"""Tags: the groups of agents that start and stop together."""

from __future__ import annotations

from fastapi import APIRouter

from nsight_coordinator.state import State
from nsight_lab.models import TagStatus

router = APIRouter(tags=["tags"])


@router.get("/tags", response_model=list[str])
async def list_tags(state: State) -> list[str]:
    """Every tag an agent registered under or a session was begun for."""
    return state.db.list_tags()


@router.get("/tags/{tag}/status", response_model=TagStatus)
async def tag_status(tag: str, state: State) -> TagStatus:
    agents = [a.info(state.hub.last_seen(a.agent_id)) for a in state.db.list_agents(tag=tag)]
    return TagStatus(tag=tag, agents=agents, active_session=state.db.active_session(tag))
