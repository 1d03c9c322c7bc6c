"""Agents joining, polling for commands, acknowledging them, and leaving."""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Query, Response

from nsight_coordinator import tenancy
from nsight_coordinator.db import AgentRow, new_id
from nsight_coordinator.errors import Invalid, NotFound, unknown_agent
from nsight_coordinator.settings import MAX_POLL_TIMEOUT_S
from nsight_coordinator.state import CoordinatorState, State
from nsight_lab.gateway.identity import Caller
from nsight_lab.models import (
    AgentInfo,
    AgentRegistered,
    AgentRegistration,
    AgentState,
    CommandAck,
    CommandBatch,
)
from nsight_lab.servicekit import CallerDep

router = APIRouter(tags=["agents"])

_AGENT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _known(state: CoordinatorState, caller: Caller, agent_id: str) -> AgentRow:
    """The agent, marked seen; a LOST or GONE one that calls in is ONLINE again."""
    agent = tenancy.agent(state, caller, agent_id)
    now = time.time()
    if agent.state is not AgentState.ONLINE:
        state.db.revive_agent(agent_id, now)
    state.hub.touch(agent_id, now)
    return agent


@router.post("/agents", response_model=AgentRegistered)
async def register(body: AgentRegistration, state: State, caller: CallerDep) -> AgentRegistered:
    """Join, or re-join under the same ``agent_id`` keeping sequences and pending commands."""
    tenancy.require_tag(caller, body.tag)
    if body.agent_id is not None and not _AGENT_ID.match(body.agent_id):
        raise Invalid(
            f"agent_id {body.agent_id!r} is not one this coordinator issues (1-64 letters, "
            "digits, '_', '.', '-'); register without agent_id to get a new one"
        )
    if body.agent_id is not None and caller.limited:
        existing = state.db.get_agent(body.agent_id)
        if existing is not None and not caller.allows(existing.tag):
            # Another tenant's agent id: never re-register (move) it.
            raise unknown_agent(body.agent_id)
    now = time.time()
    agent = state.db.register_agent(body, body.agent_id or new_id(), now)
    state.hub.touch(agent.agent_id, now)
    return AgentRegistered(
        agent_id=agent.agent_id,
        heartbeat_interval_s=state.settings.heartbeat_interval_s,
        poll_timeout_s=state.settings.poll_timeout_s,
        last_acked_seq=agent.last_acked_seq,
        server_time_ns=time.time_ns(),
    )


@router.get("/clock")
async def clock() -> dict[str, int]:
    """This coordinator's wall clock, for agents' NTP-style clock anchors."""
    return {"time_ns": time.time_ns()}


@router.get("/agents", response_model=list[AgentInfo])
async def list_agents(
    state: State,
    caller: CallerDep,
    tag: str | None = None,
    agent_state: AgentState | None = Query(None, alias="state"),
) -> list[AgentInfo]:
    return [
        a.info(state.hub.last_seen(a.agent_id))
        for a in state.db.list_agents(tag=tag, state=agent_state)
        if caller.allows(a.tag)
    ]


@router.get("/agents/{agent_id}", response_model=AgentInfo)
async def get_agent(agent_id: str, state: State, caller: CallerDep) -> AgentInfo:
    agent = tenancy.agent(state, caller, agent_id)
    return agent.info(state.hub.last_seen(agent_id))


@router.post("/agents/{agent_id}/heartbeat", status_code=204)
async def heartbeat(agent_id: str, state: State, caller: CallerDep) -> Response:
    _known(state, caller, agent_id)
    return Response(status_code=204)


@router.get("/agents/{agent_id}/commands", response_model=CommandBatch)
async def poll_commands(
    agent_id: str,
    state: State,
    caller: CallerDep,
    after: int = Query(0, ge=0, description="highest seq the agent has acted on"),
    timeout: float | None = Query(
        None, ge=0, le=MAX_POLL_TIMEOUT_S, description="seconds to wait when nothing is pending"
    ),
) -> Response:
    """Long-poll: pending commands at once, or the first ones issued within ``timeout``."""
    _known(state, caller, agent_id)
    wait_s = state.settings.poll_timeout_s if timeout is None else timeout
    commands = await state.hub.wait(agent_id, after, wait_s)
    # Serialised by hand: this is the hot path of a 1,000-agent fan-out, and the
    # model is already validated, so FastAPI's second validation pass is pure cost.
    return Response(
        CommandBatch(commands=commands).model_dump_json(), media_type="application/json"
    )


@router.post("/agents/{agent_id}/commands/{seq}/ack", status_code=204)
async def ack_command(
    agent_id: str, seq: int, body: CommandAck, state: State, caller: CallerDep
) -> Response:
    _known(state, caller, agent_id)
    answered = state.db.ack_command(
        agent_id, seq, body.ok, body.message, time.time(), body.step, body.step_ns
    )
    state.hub.notify(state.db.take_notify())
    if answered is None:
        raise NotFound(
            f"agent {agent_id!r} has no command with seq {seq}; ack only seqs received from "
            f"GET /api/v1/agents/{agent_id}/commands"
        )
    return Response(status_code=204)


@router.post("/agents/{agent_id}/bye", status_code=204)
async def bye(agent_id: str, state: State, caller: CallerDep) -> Response:
    tenancy.agent(state, caller, agent_id)
    state.db.retire_agents(
        [agent_id], AgentState.GONE, "the agent's process exited before uploading", time.time()
    )
    state.hub.forget(agent_id)
    state.hub.notify(state.db.take_notify())
    return Response(status_code=204)
