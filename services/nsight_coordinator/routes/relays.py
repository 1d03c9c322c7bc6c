"""Downloads of files an agent keeps in its Pod, relayed through the coordinator.

``GET /files/{id}/download`` answers a held file with a link signed by the
coordinator (``storage/o/relay/{id}?exp=&sig=``), so every client fetches it exactly
as it fetches a presigned object: the signature is the authorization, and tenancy was
checked when the link was made. Fetching the link queues a ``relay`` command for the
holding agent and waits (``relay_wait_s``) for its stream:

- ``PUT /agents/{agent_id}/relays/{request_id}``: the agent's stream of the file,
  taken with the agent's own credentials, only from the holder, only once;
- ``POST /agents/{agent_id}/relays/{request_id}/failure``: why it cannot send it.

The agent serves files by the id it registered them under; no path ever travels.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from nsight_coordinator import tenancy
from nsight_coordinator.db import to_datetime
from nsight_coordinator.errors import Conflict, CoordinatorError, NotFound
from nsight_coordinator.relay import Relay, RelayAbandoned, RelayRefused, StreamEnd
from nsight_coordinator.state import CoordinatorState, State
from nsight_coordinator.urls import absolute_url
from nsight_lab.gateway.identity import Caller
from nsight_lab.models import AgentState, DownloadLink, FileInfo, RelayFailure
from nsight_lab.servicekit import CallerDep
from nsight_lab.storage import SignatureError
from nsight_lab.storage.disposition import content_disposition

router = APIRouter(tags=["relays"])

#: Below the API root, inside the prefix the gateway leaves to signatures.
RELAY_PATH = "storage/o/relay/"


def _unavailable(detail: str) -> CoordinatorError:
    return CoordinatorError(detail, 503)


def _key(file_id: str) -> str:
    return f"relay/{file_id}"


def _where(info: FileInfo) -> str:
    return (
        f"{info.filename} is kept in its Pod by agent {info.agent_id} "
        f"({info.process_name} on {info.instance})"
    )


def check_holder(state: CoordinatorState, info: FileInfo) -> None:
    """503 at once when the holding agent cannot answer, saying what to do instead."""
    agent = state.db.get_agent(info.agent_id)
    if agent is None or agent.state is not AgentState.ONLINE:
        how = "unknown to this coordinator" if agent is None else agent.state.value.lower()
        raise _unavailable(
            f"{_where(info)}, and that agent is {how}: only it can send the file. If the "
            "Pod still runs, the report is in its report folder (NSIGHT_LAB_REPORT_DIR); "
            "copy it out with `kubectl cp`, or profile with s3 or local storage so "
            "reports outlive their Pods"
        )


def relay_link(state: CoordinatorState, request: Request, info: FileInfo) -> DownloadLink:
    """A signed link to this coordinator's relay of ``info``."""
    check_holder(state, info)
    expiry = state.settings.presign_expiry_s
    exp = int(time.time()) + expiry
    query = urlencode(
        {"exp": str(exp), "sig": state.relay_signer.sign("GET", _key(info.file_id), exp)}
    )
    url = absolute_url(request, f"{RELAY_PATH}{info.file_id}?{query}")
    return DownloadLink(url=url, expires_at=to_datetime(exp))


def _refusal(info: FileInfo, refused: RelayRefused) -> CoordinatorError:
    said = f" (the agent says: {refused.message})" if refused.message else ""
    if refused.reason == "missing":
        return CoordinatorError(
            f"{_where(info)}, but it is no longer in that Pod: it was deleted from the "
            f"agent's report folder{said}. It cannot be downloaded any more",
            410,
        )
    if refused.reason == "changed":
        return Conflict(
            f"{_where(info)}, but it changed there since it was registered{said}; "
            "it cannot be downloaded as recorded"
        )
    if refused.reason == "busy":
        return _unavailable(f"{_where(info)}, which is sending other files{said}; retry shortly")
    return CoordinatorError(f"{_where(info)}, which could not read it{said}", 502)


@router.get(f"/{RELAY_PATH}{{file_id}}")
async def relayed_download(file_id: str, request: Request, state: State) -> StreamingResponse:
    """The held file's bytes, streamed from its agent and checked on the way."""
    try:
        state.relay_signer.verify("GET", _key(file_id), dict(request.query_params))
    except SignatureError as exc:
        raise CoordinatorError(str(exc), 403) from exc
    info = state.db.get_file(file_id)
    if info is None or info.location != "agent":
        raise NotFound(f"no file {file_id!r} is held by an agent; list files with nsight-lab ls")
    check_holder(state, info)
    relay = state.relays.open(info, state.settings.relay_idle_s)
    try:
        state.db.issue_relay(info, relay.request_id, time.time())
        state.hub.notify([info.agent_id])
        wait_s = state.settings.relay_wait_s
        try:
            await asyncio.wait_for(asyncio.shield(relay.started), wait_s)
        except asyncio.TimeoutError:
            raise _unavailable(
                f"{_where(info)}, which did not start sending it within {wait_s:g} s: the "
                "process may be stopped or overloaded. Check it with `nsight-lab status` "
                "and retry"
            ) from None
        except RelayRefused as refused:
            raise _refusal(info, refused) from None
    except BaseException:
        state.relays.close(relay)
        raise
    return StreamingResponse(
        _body(state, relay),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(info.size),
            "Content-Disposition": content_disposition(info.filename),
        },
    )


async def _body(state: CoordinatorState, relay: Relay) -> AsyncIterator[bytes]:
    try:
        async for chunk in relay.body():
            yield chunk
    finally:
        state.relays.close(relay)


def _claim(state: CoordinatorState, caller: Caller, agent_id: str, request_id: str) -> Relay:
    """The open relay for its holding agent, once; 404 for anyone and anything else."""
    tenancy.agent(state, caller, agent_id)
    relay = state.relays.claim(request_id, agent_id)
    if relay is None:
        raise NotFound(
            f"agent {agent_id!r} has no open relay {request_id!r}: the download it served "
            "ended or timed out; nothing to send"
        )
    state.hub.touch(agent_id)
    return relay


@router.put("/agents/{agent_id}/relays/{request_id}", status_code=204)
async def relay_stream(
    agent_id: str, request_id: str, request: Request, state: State, caller: CallerDep
) -> Response:
    """The holding agent's stream of the file, passed on to the downloader as it comes.

    Answers once the downloader has it all (204, ``ETag``: its SHA-256), or 409."""
    relay = _claim(state, caller, agent_id, request_id)
    if not relay.started.done():
        relay.started.set_result(None)
    try:
        async for chunk in request.stream():
            if chunk:
                await relay.feed(chunk)
        await relay.feed(StreamEnd())
    except ClientDisconnect:
        with contextlib.suppress(RelayAbandoned):
            await relay.feed(StreamEnd("the agent's stream broke off"))
        return Response(status_code=204)
    except RelayAbandoned as exc:
        raise Conflict(f"relay {request_id!r} ended: {exc}; stop sending") from None
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(relay.closed.wait(), relay.idle_s)
    if not relay.delivered:
        raise Conflict(f"relay {request_id!r} was not delivered: {relay.why or 'timed out'}")
    return Response(status_code=204, headers={"ETag": f'"{relay.info.sha256}"'})


@router.post("/agents/{agent_id}/relays/{request_id}/failure", status_code=204)
async def relay_failure(
    agent_id: str, request_id: str, body: RelayFailure, state: State, caller: CallerDep
) -> Response:
    """The holding agent cannot send the file; the waiting download gets why."""
    relay = _claim(state, caller, agent_id, request_id)
    if not relay.started.done():
        relay.started.set_exception(RelayRefused(body.reason, body.message))
    return Response(status_code=204)
