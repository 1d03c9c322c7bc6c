"""Relaying a file an agent keeps in its Pod (``storage_type: pod``) to a downloader.

No object store holds such a file, so the coordinator fetches it on demand: a
download opens a :class:`Relay`, a ``relay`` command tells the holding agent (on its
ordinary long poll) to stream file F for request R, and the agent PUTs the bytes to
``agents/{agent_id}/relays/{R}``. The PUT and the download meet here, in memory:
chunks pass through a small bounded queue, so a slow downloader slows the agent and
neither side is ever read whole into memory.

The downloader never gets a silently short or wrong file. The response declares the
registered size, and its last chunk is held back until the whole stream has been
counted and hashed: a stream that ends early, runs long, stalls, or does not match
the registered SHA-256 is cut off before that chunk, so every HTTP client sees an
incomplete body. Everything here runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from nsight_lab.models import FileInfo

log = logging.getLogger("nsight_coordinator.relay")

#: Chunks (of whatever size the server hands the PUT body in) queued between the
#: agent and the downloader: the memory one relay may hold.
QUEUE_CHUNKS = 8


class RelayBroken(Exception):
    """The agent's stream did not deliver the registered file; the download is cut."""


class RelayAbandoned(Exception):
    """The downloader went away (or the relay failed) while the agent was sending."""


class RelayRefused(Exception):
    """The agent answered the relay command with a failure (``RelayFailure``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass
class StreamEnd:
    #: Why the agent's stream stopped early, or ``None`` when its body ended normally.
    failure: str | None = None


@dataclass(eq=False)
class Relay:
    """One download of one held file, from the command until the last byte."""

    request_id: str
    info: FileInfo
    idle_s: float
    #: Resolved when the agent's PUT arrives; its exception when the agent refuses.
    started: asyncio.Future[None] = field(init=False)
    chunks: asyncio.Queue[bytes | StreamEnd] = field(init=False)
    #: Set once the downloader's side is over (delivered, cut or abandoned).
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    delivered: bool = False
    claimed: bool = False
    why: str = ""
    #: The end of the stream, once :meth:`_take` met it behind other chunks.
    _end: StreamEnd | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.started = asyncio.get_running_loop().create_future()
        self.chunks = asyncio.Queue(QUEUE_CHUNKS)

    async def feed(self, item: bytes | StreamEnd) -> None:
        """Queue what the agent sent; waits for room, so the downloader sets the pace."""
        while True:
            if self.closed.is_set():
                raise RelayAbandoned(self.why or "the download ended before the agent's stream")
            try:
                self.chunks.put_nowait(item)  # the common case: no timer, no task
                return
            except asyncio.QueueFull:
                pass
            try:
                await asyncio.wait_for(self.chunks.put(item), 1.0)
                return
            except asyncio.TimeoutError:
                continue

    async def _take(self) -> bytes | StreamEnd:
        """Every chunk queued now, joined (fewer, larger writes), or the stream's end."""
        if self._end is not None:
            return self._end
        try:
            first = self.chunks.get_nowait()
        except asyncio.QueueEmpty:
            first = await asyncio.wait_for(self.chunks.get(), self.idle_s)
        if isinstance(first, StreamEnd):
            return first
        parts = [first]
        while not self.chunks.empty():
            item = self.chunks.get_nowait()
            if isinstance(item, StreamEnd):
                self._end = item
                break
            parts.append(item)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def body(self) -> AsyncIterator[bytes]:
        """The bytes for the downloader, checked against the registered size and hash."""
        size, expected = self.info.size, self.info.sha256
        digest = hashlib.sha256()
        total = 0
        held_back = b""
        try:
            while True:
                try:
                    item = await self._take()
                except asyncio.TimeoutError:
                    raise RelayBroken(
                        f"the agent sent nothing for {self.idle_s:g} s after {total} of "
                        f"{size} bytes"
                    ) from None
                if isinstance(item, StreamEnd):
                    if item.failure is not None:
                        raise RelayBroken(f"{item.failure} after {total} of {size} bytes")
                    break
                total += len(item)
                if total > size:
                    raise RelayBroken(f"the agent sent more than the registered {size} bytes")
                digest.update(item)
                if held_back:
                    yield held_back
                held_back = item
            if total != size:
                raise RelayBroken(f"the agent's stream ended after {total} of {size} bytes")
            if digest.hexdigest() != expected:
                raise RelayBroken(
                    f"the bytes the agent sent have sha256 {digest.hexdigest()[:12]}..., "
                    f"not the registered {expected[:12]}...: the file changed in the Pod"
                )
            if held_back:
                yield held_back
            self.delivered = True
        except RelayBroken as exc:
            self.why = str(exc)
            log.warning("relay of %s (%s) cut off: %s", self.info.file_id, self.info.filename, exc)
            raise
        finally:
            if not self.delivered and not self.why:
                self.why = "the downloader went away"
            self.closed.set()


class RelayHub:
    """The relays waiting for, or receiving, an agent's stream."""

    def __init__(self) -> None:
        self._open: dict[str, Relay] = {}

    def open(self, info: FileInfo, idle_s: float) -> Relay:
        relay = Relay(request_id=secrets.token_urlsafe(24), info=info, idle_s=idle_s)
        self._open[relay.request_id] = relay
        return relay

    def claim(self, request_id: str, agent_id: str) -> Relay | None:
        """The open relay ``request_id`` for the agent holding its file, once.

        ``None`` for an unknown, finished or already answered request, and for any
        agent but the holder: request ids are unguessable and reach only that agent,
        and no second PUT can splice bytes into a stream.
        """
        relay = self._open.get(request_id)
        if relay is None or relay.info.agent_id != agent_id or relay.claimed:
            return None
        relay.claimed = True
        return relay

    def close(self, relay: Relay) -> None:
        self._open.pop(relay.request_id, None)
        relay.closed.set()
        if not relay.started.done():
            relay.started.cancel()

    def __len__(self) -> int:
        return len(self._open)
