"""The agent: joins the coordinator, runs start/stop commands, uploads what they produce.

Three daemon threads, each with one job, so that no slow part can hold up another:

* ``control`` registers, long-polls for commands (polling is the heartbeat) and
  re-registers with the same ``agent_id`` after a 404 or a lost connection;
* ``executor`` runs commands through the collector, waits out ``delay_s``, stops
  after ``duration_s``, spools the files and acks; a minutes-long ``nsys export``
  therefore never stops the heartbeat;
* ``uploader`` sends spooled files (request a plan, PUT to presigned URLs, complete),
  retrying with capped backoff for as long as the process lives.

Nothing here may raise into the host: every public method catches and logs.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsight_lab.agent.clock import ClockAnchor, anchor_from, measure
from nsight_lab.agent.collectors.base import Collector, CollectorError
from nsight_lab.agent.collectors.choose import Chooser
from nsight_lab.agent.collectors.options import OptionError, check
from nsight_lab.agent.commands import AgentCommand, parse_batch, parse_command, parse_seq
from nsight_lab.agent.config import AgentConfig, load_config
from nsight_lab.agent.credentials import BearerSource
from nsight_lab.agent.held import HeldFile, HeldFiles
from nsight_lab.agent.http import (
    AgentHttpError,
    HttpStatusError,
    JsonClient,
    ProtocolError,
    TransportError,
)
from nsight_lab.agent.spool import Spool, SpoolEntry
from nsight_lab.agent.steps import STEPS, StepPlan
from nsight_lab.agent.transfer import (
    TransferError,
    put_range,
    resolve,
    upload_parts,
    upload_single,
)

log = logging.getLogger("nsight_lab.agent")

AGENT_VERSION = "0.1.0"
_MAX_POLL_S = 30.0
_COMMAND_QUEUE = 256
#: A checksum mismatch (422 on complete) restarts the upload this many times in a row.
_CHECKSUM_RETRIES = 3


class Backoff:
    """Capped exponential backoff with jitter, so many agents do not retry in step."""

    def __init__(self, first: float, cap: float) -> None:
        self.first = first
        self.cap = max(cap, first)
        self.failures = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.first * (2**self.failures))
        self.failures = min(self.failures + 1, 32)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.failures = 0


class _Streak:
    """Logs the first failure of a streak as a warning and repeats quietly."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing = False

    def failed(self, exc: BaseException) -> None:
        level = logging.DEBUG if self.failing else logging.WARNING
        log.log(level, "%s failed, will retry: %s", self.what, exc)
        self.failing = True

    def succeeded(self) -> None:
        if self.failing:
            log.info("%s works again", self.what)
        self.failing = False


@dataclass
class _Recording:
    command: AgentCommand
    folder: Path
    stop_at: float | None
    #: The first step entered while recording (steps counted for the overhead figure).
    first_step: int = 0
    anchor: ClockAnchor | None = None
    plan: StepPlan | None = None
    #: Set by the step plan once it has halted the collector on the step thread.
    halted_at_step: int | None = None
    stop_reason: str = "command"


@dataclass
class _Arming:
    """A step capture waiting for its first step: the start is acked once it begins."""

    command: AgentCommand
    plan: StepPlan
    deadline: float
    anchor: ClockAnchor | None
    folder: Path


@dataclass
class _State:
    recording: _Recording | None = None
    pending: tuple[AgentCommand, float] | None = None
    arming: _Arming | None = None
    #: Collections stopped by ``duration_s``: a later stop for them is not an error.
    auto_stopped: deque[str] = field(default_factory=lambda: deque(maxlen=64))
    #: Those of them that stopped after their steps (or the overhead guard).
    step_stopped: deque[str] = field(default_factory=lambda: deque(maxlen=64))


@dataclass(frozen=True)
class _StepEvent:
    """What a step plan did on the step thread, handed to the executor in order."""

    kind: str  # "started" | "start-failed" | "start-now" | "stopped"
    collection_id: str
    step: int
    detail: str = ""


_SHUTDOWN = object()
#: Seconds a step capture waits for its first step unless the command says otherwise.
DEFAULT_STEP_TIMEOUT_S = 60.0


def make_collector(config: AgentConfig) -> Collector:
    """The collector the configuration asks for; ``auto`` picks the best available.

    Raises :class:`CollectorError` when nothing (or an explicitly requested one) works.
    """
    choice = Chooser(config).choose()
    if choice.collector is None:
        raise CollectorError(choice.error or "no collector available")
    return choice.collector


class Agent:
    """One process's membership of a tag. ``start``/``stop`` are safe to call anytime."""

    def __init__(self, config: AgentConfig, collector: Collector | None = None) -> None:
        self.config = config
        self.client = JsonClient(
            config.coordinator_url,
            credential=BearerSource(config.api_key, config.token_file),
            timeout=config.http_timeout_s,
        )
        self.spool = Spool(config.spool_dir)
        self._collector = collector
        self._collector_error: str | None = None
        self._collector_name = collector.name if collector is not None else config.collector
        self._chooser = Chooser(config) if collector is None else None
        #: Why a better collector was not available (shown by ``status``).
        self._collector_note = ""
        self._registration_anchor: ClockAnchor | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        self._stopping = threading.Event()
        self._uploads_stop = threading.Event()
        self._upload_wake = threading.Event()
        self._registered = threading.Event()
        self._agent_id: str | None = None
        self._readiness_cache: dict[str, Any] | None = None
        self._connected = False
        self._poll_timeout_s = config.poll_timeout_s or 25.0
        #: The heartbeat interval the coordinator asked for; caps waits between reconnects.
        self._reconnect_cap_s: float | None = None
        #: Highest command seq handed to the executor: acted on, never polled again.
        self.last_seq = 0
        self._commands: queue.Queue[object] = queue.Queue(_COMMAND_QUEUE)
        self._acks: deque[tuple[int, bool, str, tuple[int, int | None] | None]] = deque(maxlen=1024)
        self._state = _State()
        self._threads: list[threading.Thread] = []
        #: Uploads completed by this agent (file infos from the coordinator), newest last.
        self.uploaded: deque[dict[str, Any]] = deque(maxlen=256)
        #: Reports kept in the Pod (``report_storage == "pod"``), served by file id.
        self.held = HeldFiles(config.report_dir)

    # --- public -----------------------------------------------------------------------

    @property
    def agent_id(self) -> str | None:
        return self._agent_id

    @property
    def collector_name(self) -> str:
        return self._collector_name

    def start(self) -> None:
        """Start the background threads; returns at once and never raises."""
        try:
            with self._lock:
                if self._started:
                    return
                self._started = True
            self._prepare_collector()
            for name, target in (
                ("control", self._control_loop),
                ("executor", self._executor_loop),
                ("uploader", self._upload_loop),
            ):
                thread = threading.Thread(
                    target=self._guard(target), name=f"nsight-lab-{name}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
            atexit.register(self._at_exit)
        except Exception:
            log.exception("nsight-lab agent failed to start; the process continues without it")

    def stop(self, timeout: float | None = None) -> None:
        """Stop recording (spooling what was recorded), flush uploads, say bye.

        Waits at most ``timeout`` seconds (default ``exit_grace_s``) in total; what is
        not uploaded by then stays in the spool for the next agent.
        """
        try:
            self._stop(self.config.exit_grace_s if timeout is None else timeout)
        except Exception:
            log.exception("nsight-lab agent did not stop cleanly")

    def wait_registered(self, timeout: float) -> bool:
        return self._registered.wait(timeout)

    def wake_uploader(self) -> None:
        self._upload_wake.set()

    # --- lifecycle ----------------------------------------------------------------------

    def _prepare_collector(self) -> None:
        if self._collector is not None or self._chooser is None:
            return
        choice = self._chooser.choose()
        self._collector, self._collector_name = choice.collector, choice.name
        self._collector_error, self._collector_note = choice.error, choice.note
        if choice.error:
            log.warning("no collector available: %s (%s)", choice.error, choice.note)

    def _rechoose(self) -> bool:
        """Under ``auto``, switch to torch once the host imports it; True if it changed."""
        if (
            self._chooser is None
            or self.config.collector != "auto"
            or self._collector_name == "torch"
            or self._state.recording is not None
            or self._state.arming is not None
            or not self._chooser.torch_ready()
        ):
            return False
        old = self._collector
        self._collector = None
        self._prepare_collector()
        if self._collector is None:
            self._collector = old
            return False
        if old is not None:
            try:
                old.close()
            except Exception:
                log.debug("closing the previous collector failed", exc_info=True)
        log.info("torch imported: recording with the torch collector from now on")
        return True

    def _capabilities(self) -> list[str]:
        caps = getattr(self._collector, "capabilities", None)
        return [str(c) for c in caps] if isinstance(caps, list) else []

    def _guard(self, target: Any) -> Any:
        def run() -> None:
            try:
                target()
            except Exception:
                log.exception("nsight-lab agent thread %s died", threading.current_thread().name)

        return run

    def _at_exit(self) -> None:
        if os.getpid() == self._pid:  # a forked child must not say bye for its parent
            self.stop()

    def _stop(self, grace: float) -> None:
        with self._lock:
            if not self._started or self._stopped:
                return
            self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self._at_exit)
        deadline = time.monotonic() + grace
        self._stopping.set()
        with contextlib.suppress(queue.Full):
            self._commands.put_nowait(_SHUTDOWN)
        executor = next((t for t in self._threads if t.name.endswith("executor")), None)
        if executor is not None:
            executor.join(max(0.0, deadline - time.monotonic()))
        if self._connected:
            self._upload_wake.set()
            while time.monotonic() < deadline and self.spool.entries() and self._connected:
                time.sleep(0.05)
        self._uploads_stop.set()
        self._upload_wake.set()
        if self._connected and self._agent_id:
            try:
                self.client.request(
                    "POST",
                    f"agents/{self._agent_id}/bye",
                    timeout=max(0.5, min(2.0, deadline - time.monotonic())),
                )
            except AgentHttpError as exc:
                log.debug("bye failed: %s", exc)

    # --- control: register and poll -------------------------------------------------------

    def _registration(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "tag": self.config.tag,
            "process_name": self.config.process_name[:256],
            "instance": self.config.instance[:256],
            "host": self.config.host[:256],
            "pid": self.config.target_pid,
            "collector": self._collector_name,
            "agent_version": AGENT_VERSION,
            "capabilities": self._capabilities(),
            "collector_note": (self._collector_error or self._collector_note)[:2000],
            "preflight": [str(f)[:500] for f in getattr(self._collector, "findings", [])][:20],
        }
        readiness = self._readiness()
        if readiness is not None:
            body["readiness"] = readiness
        if self._agent_id:
            body["agent_id"] = self._agent_id
        return body

    def _readiness(self) -> dict[str, Any] | None:
        """What can record here (checked once; never lets a check stop registration)."""
        if self._readiness_cache is None:
            try:
                from nsight_lab.agent.collectors.nsys import find_nsys
                from nsight_lab.agent.collectors.pyspy import find_pyspy
                from nsight_lab.agent.preflight import check

                self._readiness_cache = check(
                    pyspy=find_pyspy(self.config.pyspy_path), nsys=find_nsys(self.config.nsys_path)
                )
                for name, result in self._readiness_cache.items():
                    if not result["ok"] and name == self._collector_name:
                        log.warning(
                            "%s cannot record here: %s (fix: %s)",
                            name,
                            "; ".join(result["missing"]),
                            result["fix"],
                        )
            except Exception:
                log.debug("pre-flight check failed", exc_info=True)
                self._readiness_cache = {}
        return self._readiness_cache or None

    def _register(self) -> None:
        t0_wall, t0_mono = time.time_ns(), time.monotonic_ns()
        answer = self.client.request("POST", "agents", self._registration())
        t3_wall, t3_mono = time.time_ns(), time.monotonic_ns()
        if isinstance(answer, dict) and isinstance(answer.get("server_time_ns"), int):
            self._registration_anchor = anchor_from(
                t0_wall, t0_mono, t3_wall, t3_mono, answer["server_time_ns"], "registration"
            )
        if (
            not isinstance(answer, dict)
            or not isinstance(answer.get("agent_id"), str)
            or not answer["agent_id"]
        ):
            raise ProtocolError(f"registration answer has no agent_id: {str(answer)[:200]!r}")
        poll = answer.get("poll_timeout_s")
        if self.config.poll_timeout_s is None and isinstance(poll, (int, float)) and poll > 0:
            self._poll_timeout_s = min(float(poll), _MAX_POLL_S)
        beat = answer.get("heartbeat_interval_s")
        if isinstance(beat, (int, float)) and beat > 0:
            # Polling is the heartbeat: while the coordinator is away (a restart), a
            # longer wait between tries would get this agent declared lost after it
            # comes back, and its part of a running collection with it.
            self._reconnect_cap_s = min(float(beat), self.config.retry_max_s)
        if self._agent_id and self._agent_id != answer["agent_id"]:
            log.warning(
                "coordinator gave a new agent id %s (was %s)", answer["agent_id"], self._agent_id
            )
        self._agent_id = answer["agent_id"]
        self._connected = True
        self._registered.set()
        self._upload_wake.set()
        log.info(
            "joined tag %r as agent %s (collector %s)",
            self.config.tag,
            self._agent_id,
            self._collector_name,
        )

    def _control_loop(self) -> None:
        backoff = Backoff(0.25, self.config.retry_max_s)
        streak = _Streak(f"coordinator at {self.config.coordinator_url}")
        registered = False
        while not self._stopping.is_set():
            try:
                if not registered:
                    self._register()
                    registered = True
                if self._reconnect_cap_s is not None:
                    backoff.cap = max(self._reconnect_cap_s, backoff.first)
                self._flush_acks()
                self._poll_once()
                backoff.reset()
                streak.succeeded()
            except HttpStatusError as exc:
                if exc.status == 404:
                    # The coordinator forgot us (restart, expiry): join again, same id.
                    registered = False
                    if backoff.failures == 0:
                        backoff.failures = 1
                        continue
                streak.failed(exc)
                self._stopping.wait(backoff.next())
            except TransportError as exc:
                registered = False
                self._connected = False
                streak.failed(exc)
                self._stopping.wait(backoff.next())
            except (ProtocolError, ValueError) as exc:
                streak.failed(exc)
                self._stopping.wait(backoff.next())

    def _poll_once(self) -> None:
        answer = self.client.request(
            "GET",
            f"agents/{self._agent_id}/commands",
            query={"after": self.last_seq, "timeout": round(self._poll_timeout_s, 3)},
            timeout=self._poll_timeout_s + self.config.http_timeout_s,
        )
        self._connected = True
        raw = parse_batch(answer)
        for item in sorted(raw, key=lambda c: parse_seq(c) or 0):
            seq = parse_seq(item)
            if seq is None:
                log.warning("ignoring a command without a usable seq: %s", str(item)[:200])
                continue
            if seq <= self.last_seq:
                continue
            self.last_seq = seq
            try:
                command = parse_command(item)
            except ValueError as exc:
                self._ack(seq, False, f"agent could not read the command: {exc}")
                continue
            try:
                self._commands.put_nowait(command)
            except queue.Full:
                self._ack(seq, False, "agent command queue is full; command dropped")

    def _ack(
        self, seq: int, ok: bool, message: str, step: tuple[int, int | None] | None = None
    ) -> None:
        """Send an ack now; if that fails the control thread resends it after polling.

        ``step`` answers the first start of a step capture: the number of the next
        step this process will enter and the time between its recent steps, from
        which the coordinator picks the first step.
        """
        try:
            self._send_ack(seq, ok, message, step)
        except AgentHttpError as exc:
            log.info("ack of command %d deferred: %s", seq, exc)
            self._acks.append((seq, ok, message, step))

    def _send_ack(
        self, seq: int, ok: bool, message: str, step: tuple[int, int | None] | None = None
    ) -> None:
        if self._agent_id is None:
            raise TransportError("not registered yet")
        body: dict[str, Any] = {"ok": ok, "message": message[:2000]}
        if step is not None:
            body["step"], body["step_ns"] = step
        self.client.request("POST", f"agents/{self._agent_id}/commands/{seq}/ack", body)

    def _flush_acks(self) -> None:
        while self._acks:
            seq, ok, message, step = self._acks[0]
            try:
                self._send_ack(seq, ok, message, step)
            except HttpStatusError as exc:
                if exc.status == 404 or exc.status >= 500:
                    raise
                log.warning("coordinator refused the ack of command %d: %s", seq, exc)
            self._acks.popleft()

    # --- executor: run commands through the collector --------------------------------------

    def _executor_loop(self) -> None:
        while True:
            timeout = self._next_timer_in()
            try:
                item = self._commands.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _SHUTDOWN:
                self._shutdown_collector()
                return
            if isinstance(item, AgentCommand):
                self._run_safely(self._handle, item)
            elif isinstance(item, _StepEvent):
                self._run_safely(self._handle_step_event, item)
            self._run_safely(self._fire_timers)

    def _run_safely(self, func: Any, *args: Any) -> None:
        try:
            func(*args)
        except Exception:
            log.exception("nsight-lab agent: command handling failed")

    def _next_timer_in(self) -> float:
        now = time.monotonic()
        due = [1.0]
        if self._state.pending is not None:
            due.append(self._state.pending[1] - now)
        if self._state.arming is not None:
            due.append(self._state.arming.deadline - now)
        if self._state.recording is not None and self._state.recording.stop_at is not None:
            due.append(self._state.recording.stop_at - now)
        return max(0.0, min(due))

    def _fire_timers(self) -> None:
        now = time.monotonic()
        pending = self._state.pending
        if pending is not None and pending[1] <= now:
            self._state.pending = None
            self._start_recording(pending[0])
        arming = self._state.arming
        if arming is not None and arming.deadline <= now and arming.plan.started_at is None:
            self._state.arming = None
            STEPS.plan = None
            message = self._step_timeout_message(arming)
            log.warning("collection %s: %s", arming.command.collection_id, message)
            self._ack(arming.command.seq, False, message)
        recording = self._state.recording
        if recording is not None and recording.stop_at is not None and recording.stop_at <= now:
            log.info("collection %s reached its duration", recording.command.collection_id)
            self._state.auto_stopped.append(recording.command.collection_id)
            recording.stop_reason = "duration"
            try:
                self._stop_recording()
            except CollectorError as exc:
                log.warning("stopping after duration_s failed: %s", exc)
        if self._rechoose() and self._registered.is_set():
            try:  # tell the coordinator at once, so `status` and option checks are right
                self._register()
            except AgentHttpError as exc:
                log.info("re-registration after the collector change deferred: %s", exc)

    def _step_timeout_message(self, arming: _Arming) -> str:
        waited = arming.command.step_timeout_s or DEFAULT_STEP_TIMEOUT_S
        if STEPS.count == 0:
            return (
                f"timed out after {waited:g} s waiting for a step: this process never entered "
                "annotate('step'); wrap each training iteration in "
                "`with nsight_lab.annotate('step'):` to use --steps"
            )
        if arming.plan.first is None:
            return (
                f"timed out after {waited:g} s waiting for the coordinator to choose the first "
                f"step (this process is at step {STEPS.next_step})"
            )
        return (
            f"timed out after {waited:g} s waiting for step {arming.plan.first}: this process "
            f"only reached step {STEPS.next_step - 1}"
        )

    def _handle(self, command: AgentCommand) -> None:
        if command.kind == "start":
            self._handle_start(command)
        elif command.kind == "stop":
            self._handle_stop(command)
        elif command.kind == "relay":
            self._handle_relay(command)
        else:
            self._ack(
                command.seq,
                False,
                f"unknown command kind {command.kind!r}; expected start, stop or relay",
            )

    # --- relays: sending a report kept in the Pod ----------------------------------------

    def _handle_relay(self, command: AgentCommand) -> None:
        """Send the held file ``command.file_id`` on its own thread (bounded)."""
        held = self.held.get(command.file_id)
        problem = (
            ("missing", f"this agent holds no file {command.file_id}")
            if held is None
            else held.problem()
        )
        if problem is None and not self.held.streams.acquire(blocking=False):
            problem = ("busy", "this agent is sending its maximum of files at once")
        if problem is not None or held is None:
            reason, message = problem or ("missing", "")
            self._relay_failure(command, reason, message)
            self._ack(command.seq, False, f"relay refused ({reason}): {message}")
            return

        def stream() -> None:
            try:
                self._relay_stream(command, held)
            finally:
                self.held.streams.release()

        threading.Thread(target=self._guard(stream), name="nsight-lab-relay", daemon=True).start()

    def _relay_stream(self, command: AgentCommand, held: HeldFile) -> None:
        url = self.client.url(f"agents/{self._agent_id}/relays/{command.request_id}")
        headers = {}
        if (authorization := self.client.credential.header()) is not None:
            headers["Authorization"] = authorization
        try:
            put_range(
                url,
                held.path,
                0,
                held.size,
                timeout=max(60.0, self.config.http_timeout_s),
                headers=headers,
            )
        except TransferError as exc:
            log.warning("relay of %s (file %s) failed: %s", held.path, held.file_id, exc)
            self._ack(command.seq, False, f"relay failed: {exc}")
            return
        log.info("relayed %s (%d bytes)", held.path, held.size)
        self._ack(command.seq, True, f"sent {held.size} bytes")

    def _relay_failure(self, command: AgentCommand, reason: str, message: str) -> None:
        try:
            self.client.request(
                "POST",
                f"agents/{self._agent_id}/relays/{command.request_id}/failure",
                {"reason": reason, "message": message[:2000]},
            )
        except AgentHttpError as exc:
            log.info("could not tell the coordinator why relay %s failed: %s", command.seq, exc)

    def _handle_start(self, command: AgentCommand) -> None:
        arming = self._state.arming
        if (
            arming is not None
            and arming.command.collection_id == command.collection_id
            and command.from_step is not None
        ):
            # The coordinator has chosen the first step: the capture begins there.
            arming.command = command
            arming.plan.first = command.from_step
            log.info("collection %s starts at step %d", command.collection_id, command.from_step)
            return
        busy = self._state.recording.command if self._state.recording else None
        if busy is None and self._state.pending is not None:
            busy = self._state.pending[0]
        if busy is None and arming is not None:
            busy = arming.command
        if busy is not None:
            if busy.collection_id == command.collection_id:
                self._ack(command.seq, True, "already recording this collection")
            else:
                self._ack(command.seq, False, f"already recording collection {busy.collection_id}")
            return
        if self._collector is None:
            self._ack(command.seq, False, self._collector_error or "no collector available")
            return
        try:
            options = check(self._collector_name, command.options)
        except OptionError as exc:
            self._ack(command.seq, False, str(exc))
            return
        configure = getattr(self._collector, "configure", None)
        if configure is not None:
            configure(options)
        elif options:
            self._ack(command.seq, False, f"the {self._collector_name} collector takes no options")
            return
        if command.steps is not None:
            self._arm(command)
            return
        if command.delay_s and command.delay_s > 0:
            self._state.pending = (command, time.monotonic() + command.delay_s)
            log.info("collection %s starts in %.1fs", command.collection_id, command.delay_s)
            return
        self._start_recording(command)

    def _measure_clock(self) -> ClockAnchor | None:
        """This host's clocks against the coordinator's, now; the registration's if that fails."""

        def fetch() -> int:
            answer = self.client.request("GET", "clock", timeout=2.0)
            if not isinstance(answer, dict) or not isinstance(answer.get("time_ns"), int):
                raise ProtocolError(f"clock answer has no time_ns: {str(answer)[:200]!r}")
            return int(answer["time_ns"])

        try:
            return measure(fetch, "start")
        except (AgentHttpError, ValueError) as exc:
            log.debug("clock measurement failed: %s", exc)
            return self._registration_anchor

    def _arm(self, command: AgentCommand) -> None:
        """First half of a step capture: report our step; wait for the first step."""
        cid = command.collection_id
        plan = StepPlan(
            first=command.from_step,
            count=command.steps,
            on_start=lambda step: self._plan_start(cid, step),
            on_stop=lambda step, reason: self._plan_stop(cid, step, reason),
            max_overhead_pct=command.max_overhead_pct,
        )
        timeout = command.step_timeout_s or DEFAULT_STEP_TIMEOUT_S
        self._state.arming = _Arming(
            command,
            plan,
            time.monotonic() + timeout,
            self._measure_clock(),
            self.spool.work_dir(cid),
        )
        STEPS.plan = plan
        if command.from_step is None:
            self._ack(
                command.seq,
                True,
                f"armed at step {STEPS.next_step}; waiting for the first step",
                step=(STEPS.next_step, STEPS.period_ns()),
            )

    # Step plan callbacks: they run on the thread that enters a step, so they only do
    # what must happen exactly at the boundary and hand the rest to the executor.

    def _post(self, event: _StepEvent) -> None:
        try:
            self._commands.put_nowait(event)
        except queue.Full:
            log.error("agent command queue is full; step event %s lost", event)

    def _plan_start(self, collection_id: str, step: int) -> None:
        collector = self._collector
        if collector is None or not getattr(collector, "inline", False):
            self._post(_StepEvent("start-now", collection_id, step))
            return
        arming = self._state.arming
        if arming is None:
            return
        try:
            collector.start(arming.folder, arming.command.collection_index)
        except Exception as exc:
            self._post(_StepEvent("start-failed", collection_id, step, str(exc)))
            return
        self._post(_StepEvent("started", collection_id, step))

    def _plan_stop(self, collection_id: str, step: int, reason: str) -> None:
        recording = self._state.recording
        collector = self._collector
        if (
            recording is not None
            and recording.command.collection_id == collection_id
            and collector is not None
        ):
            recording.halted_at_step = step
            recording.stop_reason = reason
            self._set_report_metadata(recording, step)
            halt = getattr(collector, "halt", None)
            if halt is not None:
                try:
                    halt()
                except Exception:
                    log.exception("collector %s failed to halt", self._collector_name)
        self._post(_StepEvent("stopped", collection_id, step, reason))

    def _handle_step_event(self, event: _StepEvent) -> None:
        arming = self._state.arming
        if event.kind in ("started", "start-failed", "start-now"):
            if arming is None or arming.command.collection_id != event.collection_id:
                return
            self._state.arming = None
            command = arming.command
            if event.kind == "start-now":
                assert self._collector is not None
                try:
                    self._collector.start(arming.folder, command.collection_index)
                except Exception as exc:
                    event = _StepEvent("start-failed", event.collection_id, event.step, str(exc))
            if event.kind == "start-failed":
                STEPS.plan = None
                self._ack(
                    command.seq, False, f"{self._collector_name} failed to start: {event.detail}"
                )
                return
            self._state.recording = _Recording(
                command,
                arming.folder,
                None,
                first_step=event.step,
                anchor=arming.anchor,
                plan=arming.plan,
            )
            last = event.step + (command.steps or 1) - 1
            self._ack(
                command.seq,
                True,
                f"recording steps {event.step}-{last} with {self._collector_name}",
            )
            return
        recording = self._state.recording
        if (
            event.kind == "stopped"
            and recording is not None
            and recording.command.collection_id == event.collection_id
        ):
            recording.halted_at_step = event.step
            recording.stop_reason = event.detail or recording.stop_reason
            self._state.auto_stopped.append(event.collection_id)
            self._state.step_stopped.append(event.collection_id)
            log.info(
                "collection %s stopped at step %d (%s)",
                event.collection_id,
                event.step,
                recording.stop_reason,
            )
            try:
                self._stop_recording()
            except CollectorError as exc:
                log.warning("stopping the step capture failed: %s", exc)

    def _start_recording(self, command: AgentCommand) -> None:
        assert self._collector is not None
        folder = self.spool.work_dir(command.collection_id)
        try:
            self._collector.start(folder, command.collection_index)
        except CollectorError as exc:
            self._ack(command.seq, False, str(exc))
            return
        except Exception as exc:
            log.exception("collector %s failed to start", self._collector_name)
            self._ack(command.seq, False, f"{self._collector_name} failed to start: {exc!r}")
            return
        stop_at = time.monotonic() + command.duration_s if command.duration_s else None
        recording = _Recording(command, folder, stop_at, first_step=STEPS.next_step)
        if command.max_overhead_pct is not None:
            # The guard alone: no step window, but stop early when steps get too slow.
            cid = command.collection_id
            plan = StepPlan(
                first=None,
                count=None,
                on_start=lambda step: None,
                on_stop=lambda step, reason: self._plan_stop(cid, step, reason),
                max_overhead_pct=command.max_overhead_pct,
                started_at=STEPS.next_step,
            )
            recording.plan = plan
            STEPS.plan = plan
        self._state.recording = recording
        log.info("recording collection %s with %s", command.collection_id, self._collector_name)
        self._ack(command.seq, True, f"recording with {self._collector_name}")
        # After the ack: a start to thousands of agents should not wait on their clocks.
        recording.anchor = self._measure_clock()

    def _handle_stop(self, command: AgentCommand) -> None:
        pending = self._state.pending
        if pending is not None and pending[0].collection_id == command.collection_id:
            self._state.pending = None
            self._ack(command.seq, False, "stopped before its delayed start; nothing was recorded")
            return
        arming = self._state.arming
        if arming is not None and arming.command.collection_id == command.collection_id:
            self._state.arming = None
            STEPS.plan = None
            self._ack(command.seq, False, "stopped before its first step; nothing was recorded")
            return
        recording = self._state.recording
        if recording is not None and recording.command.collection_id == command.collection_id:
            try:
                count = self._stop_recording()
            except CollectorError as exc:
                self._ack(command.seq, False, str(exc))
                return
            self._ack(command.seq, True, f"{count} file(s) queued for upload")
            return
        if command.collection_id in self._state.auto_stopped:
            why = "steps" if command.collection_id in self._state.step_stopped else "duration"
            self._ack(command.seq, True, f"already stopped after its {why}")
            return
        current = f" (recording {recording.command.collection_id})" if recording else ""
        self._ack(command.seq, False, f"not recording collection {command.collection_id}{current}")

    def report_metadata(self, recording: _Recording, end_step: int) -> dict[str, Any]:
        """What every report of this agent says about itself (docs/TRACE_MODEL.md)."""
        command = recording.command
        meta: dict[str, Any] = {
            "version": 1,
            "session_id": command.session_id,
            "collection_id": command.collection_id,
            "collection_index": command.collection_index,
            "agent_id": self._agent_id,
            "process_name": self.config.process_name,
            "instance": self.config.instance,
            "host": self.config.host,
            "pid": self.config.target_pid,
            "collector": self._collector_name,
            "options": dict(command.options),
            "stop_reason": recording.stop_reason,
        }
        if recording.anchor is not None:
            meta["clock"] = recording.anchor.to_json()
        if self._registration_anchor is not None:
            meta["clock_registration"] = self._registration_anchor.to_json()
        if end_step > recording.first_step:
            steps = STEPS.summary(recording.first_step, end_step)
            meta["steps"] = steps
            meta["overhead_pct"] = steps["overhead_pct"]
        if command.steps is not None:
            meta["steps_requested"] = command.steps
        if command.max_overhead_pct is not None:
            meta["max_overhead_pct"] = command.max_overhead_pct
        warnings = list(getattr(self._collector, "warnings", []) or [])
        if recording.stop_reason == "overhead":
            warnings.append(
                f"stopped early: overhead {meta.get('overhead_pct')}% exceeded "
                f"--max-overhead {command.max_overhead_pct}%"
            )
        if command.steps is not None and end_step - recording.first_step < command.steps:
            warnings.append(
                f"captured {max(0, end_step - recording.first_step)} of {command.steps} steps"
            )
        if warnings:
            meta["warnings"] = warnings
        return meta

    def _set_report_metadata(self, recording: _Recording, end_step: int) -> dict[str, Any]:
        meta = self.report_metadata(recording, end_step)
        setter = getattr(self._collector, "set_report_metadata", None)
        if setter is not None:
            try:
                setter(meta)
            except Exception:
                log.debug("collector rejected the report metadata", exc_info=True)
        return meta

    def _stop_recording(self) -> int:
        """Stop the collector and spool its files; returns how many were spooled."""
        recording, self._state.recording = self._state.recording, None
        if recording is None or self._collector is None:
            return 0
        if recording.plan is not None and STEPS.plan is recording.plan:
            STEPS.plan = None
        end_step = recording.halted_at_step
        if end_step is None:
            end_step = STEPS.next_step
            meta = self._set_report_metadata(recording, end_step)
        else:
            meta = self.report_metadata(recording, end_step)
        try:
            produced = self._collector.stop()
        except CollectorError:
            raise
        except Exception as exc:
            log.exception("collector %s failed to stop", self._collector_name)
            raise CollectorError(f"{self._collector_name} failed to stop: {exc!r}") from exc
        # Warnings raised while writing (a failed nsys export) belong in the record too.
        late = list(getattr(self._collector, "warnings", []) or [])
        if late:
            meta["warnings"] = list(dict.fromkeys([*meta.get("warnings", []), *late]))
        count = 0
        for item in produced:
            try:
                self.spool.add(
                    item.path,
                    collection_id=recording.command.collection_id,
                    kind=item.kind,
                    agent_id=self._agent_id or "",
                    collection_files=len(produced),
                    metadata=meta,
                )
                count += 1
            except OSError as exc:
                log.warning("cannot spool %s: %s", item.path, exc)
        self._upload_wake.set()
        return count

    def _shutdown_collector(self) -> None:
        self._state.pending = None
        if self._state.arming is not None:
            self._state.arming = None
            STEPS.plan = None
        if self._state.recording is not None:
            self._state.recording.stop_reason = "exit"
            try:
                self._stop_recording()
            except Exception as exc:
                log.warning("stopping the collection at exit failed: %s", exc)
        if self._collector is not None:
            try:
                self._collector.close()
            except Exception:
                log.debug("collector close failed", exc_info=True)

    # --- uploader --------------------------------------------------------------------------

    def _upload_loop(self) -> None:
        try:
            self.spool.ensure()
            if self.config.adopt_orphan_spools:
                adopted = self.spool.adopt_orphans()
                if adopted:
                    log.info("adopted %d report(s) left by earlier processes", adopted)
        except OSError as exc:
            log.warning("spool folder %s unusable: %s", self.spool.root, exc)
        backoff = Backoff(0.5, self.config.retry_max_s)
        streak = _Streak("upload")
        while not self._uploads_stop.is_set():
            self._upload_wake.clear()
            entries = self.spool.entries() if self._registered.is_set() else []
            # This process's reports first: adopted ones may belong to a coordinator
            # that no longer knows their collection, and must not hold ours back.
            entries.sort(key=lambda e: e.agent_id != self._agent_id)
            failed = False
            for entry in entries:
                if self._uploads_stop.is_set():
                    return
                try:
                    self._upload(entry)
                except _PermanentUploadError as exc:
                    log.error(
                        "coordinator refused %s for good; kept in %s: %s",
                        entry.filename,
                        self.spool.root / "failed",
                        exc,
                    )
                    self.spool.fail(entry, str(exc))
                except (
                    AgentHttpError,
                    TransferError,
                    OSError,
                    KeyError,
                    TypeError,
                    ValueError,
                ) as exc:
                    streak.failed(exc)
                    failed = True
                    if entry.agent_id == self._agent_id:
                        break  # the coordinator or storage is in trouble: back off
                    continue  # an adopted report: try the others before backing off
                else:
                    self.spool.remove(entry)
                    backoff.reset()
                    streak.succeeded()
            if failed:
                self._upload_wake.wait(backoff.next())
            else:
                self._upload_wake.wait(60.0)

    def _upload(self, entry: SpoolEntry) -> None:
        request: dict[str, Any] = {
            "agent_id": entry.agent_id or self._agent_id,
            "collection_id": entry.collection_id,
            "filename": entry.filename,
            "size": entry.size,
            "sha256": entry.sha256,
            "kind": entry.kind,
            "collection_files": entry.collection_files,
        }
        if entry.metadata:
            request["metadata"] = entry.metadata
        if self.config.report_storage == "pod":
            request["held"] = True
        for attempt in range(1, _CHECKSUM_RETRIES + 1):
            try:
                plan = self.client.request("POST", "uploads", request)
            except HttpStatusError as exc:
                if exc.status in (400, 409, 413, 422):
                    raise _PermanentUploadError(str(exc)) from exc
                if exc.status == 404 and entry.agent_id and entry.agent_id != self._agent_id:
                    # Adopted from a dead process whose coordinator is not this one (its
                    # state is durable, so an unknown collection stays unknown).
                    raise _PermanentUploadError(
                        f"this coordinator does not know the collection: {exc}"
                    ) from exc
                raise
            if not isinstance(plan, dict):
                raise ProtocolError(f"upload plan is not an object: {str(plan)[:200]!r}")
            if plan.get("existing_file_id"):
                log.info("%s is already stored as %s", entry.filename, plan["existing_file_id"])
                if self.config.report_storage == "pod":  # registered, then interrupted
                    self._keep(plan, entry, str(plan["existing_file_id"]))
                return
            upload_id = str(plan["upload_id"])
            if plan.get("method") == "held":
                self._keep(plan, entry, None)
                return
            try:
                parts = self._transfer(plan, entry)
            except (TransferError, ValueError, KeyError, TypeError):
                self._abort(upload_id)
                raise
            try:
                info = self.client.request(
                    "POST", f"uploads/{upload_id}/complete", {"parts": parts}
                )
            except HttpStatusError as exc:
                if exc.status == 422 and attempt < _CHECKSUM_RETRIES:
                    log.warning(
                        "stored %s does not match its checksum; uploading again: %s",
                        entry.filename,
                        exc.detail,
                    )
                    continue
                raise
            if isinstance(info, dict):
                self.uploaded.append(info)
            log.info("uploaded %s (%d bytes)", entry.filename, entry.size)
            return

    def _transfer(self, plan: dict[str, Any], entry: SpoolEntry) -> list[dict[str, Any]]:
        method = plan.get("method")
        base = self.config.coordinator_url
        timeout = max(60.0, self.config.http_timeout_s)
        if method == "single":
            upload_single(
                resolve(base, str(plan["url"])),
                entry.path,
                timeout,
                retries=2,
                max_backoff=self.config.retry_max_s,
                headers={str(k): str(v) for k, v in (plan.get("headers") or {}).items()},
            )
            return []
        if method == "multipart":
            urls = [(int(p["part_number"]), resolve(base, str(p["url"]))) for p in plan["parts"]]
            done = upload_parts(
                urls,
                entry.path,
                int(plan["part_size"]),
                retries=2,
                max_backoff=self.config.retry_max_s,
                timeout=timeout,
            )
            return [{"part_number": number, "etag": etag} for number, etag in done]
        raise ValueError(f"upload plan has unknown method {method!r}")

    def _keep(self, plan: dict[str, Any], entry: SpoolEntry, file_id: str | None) -> None:
        """Keep the report in the report folder and register it (``held`` plans)."""
        path = self.held.place(entry.path, str(plan["key"]), entry.filename)
        if file_id is None:
            info = self.client.request(
                "POST", f"uploads/{plan['upload_id']}/complete", {"parts": []}
            )
            if not isinstance(info, dict) or not info.get("file_id"):
                raise ProtocolError(f"completing a held file answered {str(info)[:200]!r}")
            file_id = str(info["file_id"])
            self.uploaded.append(info)
        self.held.add(HeldFile(file_id, path, entry.size, entry.sha256))

    def _abort(self, upload_id: str) -> None:
        try:
            self.client.request("DELETE", f"uploads/{upload_id}")
        except AgentHttpError as exc:
            log.debug("abort of upload %s failed: %s", upload_id, exc)


class _PermanentUploadError(Exception):
    """The coordinator says this upload can never succeed as requested."""


# --- process-wide entry point ---------------------------------------------------------------

_GLOBAL_LOCK = threading.Lock()
_GLOBAL_AGENT: Agent | None = None
_GLOBAL_PID: int | None = None


def configure_logging(target: str | None) -> None:
    """Agent messages go to ``target`` (a file path or ``stderr``) and nowhere else.

    Without a target the agent stays silent unless the host configured logging: a
    ``NullHandler`` keeps Python's last-resort handler from printing our warnings
    into the host's terminal.
    """
    logger = logging.getLogger("nsight_lab.agent")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    if not target:
        return
    handler: logging.Handler
    if target in ("stderr", "-"):
        handler = logging.StreamHandler(sys.stderr)
    else:
        Path(target).expanduser().parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(Path(target).expanduser(), encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s nsight-lab-agent[%(process)d] %(levelname)s %(message)s")
    )
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def start_agent_from_env() -> Agent | None:
    """Start this process's agent from ``NSIGHT_LAB_*`` variables, once per process.

    Returns the agent, or ``None`` when no coordinator is configured or the settings
    are unusable (logged). Never raises: it runs inside other people's programs.
    """
    global _GLOBAL_AGENT, _GLOBAL_PID
    try:
        with _GLOBAL_LOCK:
            if _GLOBAL_AGENT is not None and os.getpid() == _GLOBAL_PID:
                return _GLOBAL_AGENT
            try:
                config = load_config()
            except Exception as exc:
                configure_logging(os.environ.get("NSIGHT_LAB_AGENT_LOG"))
                log.error("nsight-lab agent not started: %s", exc)
                return None
            if config is None:
                return None
            configure_logging(config.log_file)
            agent = Agent(config)
            agent.start()
            _GLOBAL_AGENT, _GLOBAL_PID = agent, os.getpid()
            return agent
    except Exception:
        with contextlib.suppress(Exception):
            log.exception("nsight-lab agent not started")
        return None


def current_agent() -> Agent | None:
    """The agent started by :func:`start_agent_from_env` in this process, if any."""
    return _GLOBAL_AGENT if os.getpid() == _GLOBAL_PID else None
