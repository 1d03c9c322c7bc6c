"""Jobs on this machine: a fixed pool of worker processes, each with a warm kernel.

Each slot is a thread that owns one worker process (see :mod:`.worker`). It claims
the oldest queued job, stages its reports from storage, hands the worker local
paths, relays progress into the job table, and uploads outputs and the log when
the worker answers. The worker runs in its own process group: cancelling kills
that group (and the kernel, which Jupyter starts in a session of its own), and a
worker that dies for any reason leaves its job failed with the log kept; the slot
then starts a fresh worker and goes on with the queue.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nsight_analysis.db import output_prefix
from nsight_analysis.executors.base import (
    CANCELLED_REASON,
    SERVICE_STOPPED_REASON,
    Executor,
    ExecutorContext,
)
from nsight_analysis.scope import ScopeFile
from nsight_analysis.staging import (
    delete_outputs,
    scrub,
    stage_reports,
    storage_name,
    upload_log,
    upload_outputs,
)
from nsight_lab.analysis_models import JobInfo, JobState, JobWarning
from nsight_lab.storage.base import StorageError

log = logging.getLogger("nsight_analysis.local")

_SERVICES_ROOT = Path(__file__).resolve().parents[2]
_REPO_ROOT = Path(sys.modules["nsight_lab"].__file__ or ".").resolve().parents[1]


class WorkerDied(RuntimeError):
    pass


class _LineReader:
    """Lines from a pipe with a timeout, without a thread per pipe."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(fd, selectors.EVENT_READ)

    def readline(self, timeout: float | None = None) -> bytes | None:
        """A line; ``b""`` at end of file; None when ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._selector.select(wait):
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            chunk = os.read(self._fd, 65536)
            if not chunk:
                rest, self._buffer = self._buffer, b""
                return rest
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line + b"\n"

    def close(self) -> None:
        self._selector.close()


def _kill_group(pid: int | None) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class WorkerProcess:
    """One ``python -m nsight_analysis.executors.worker`` and its warm kernel."""

    def __init__(self, settings_warm: bool, cell_timeout_s: float, log_path: Path) -> None:
        env = dict(os.environ)
        paths = [str(_SERVICES_ROOT), str(_REPO_ROOT)]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env.update(
            PYTHONPATH=os.pathsep.join(paths),
            PYTHONUNBUFFERED="1",
            NSIGHT_LAB_WORKER_WARM="1" if settings_warm else "0",
            NSIGHT_LAB_WORKER_CELL_TIMEOUT=str(cell_timeout_s),
            NSIGHT_LAB_WORKER_LOG=str(log_path),
        )
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nsight_analysis.executors.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            bufsize=0,
        )
        assert self.proc.stdout is not None
        self._reader = _LineReader(self.proc.stdout.fileno())
        self.kernel_pid: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        event = self.next_event(timeout)
        while event is not None and event.get("event") == "kernel":
            self.kernel_pid = event.get("pid")
            event = self.next_event(max(0.0, deadline - time.monotonic()))
        if event is None or event.get("event") != "ready":
            self.kill()
            raise WorkerDied(
                f"worker {self.pid} did not become ready within {timeout:.0f} s (got {event!r})"
            )
        self.kernel_pid = event.get("kernel_pid")

    def send(self, job: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDied(f"worker {self.pid} is gone: {exc}") from exc

    def next_event(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The worker's next message; None on end of file or timeout."""
        line = self._reader.readline(timeout)
        if not line:
            return None
        try:
            event: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            return {"event": "noise", "text": line.decode(errors="replace")}
        return event

    def death(self) -> str:
        """How the process ended, in words."""
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"was killed by {name}"
        return f"exited with status {code}"

    def kill(self) -> None:
        """Kill the worker's process group and its kernel's; safe to call twice."""
        _kill_group(self.proc.pid)
        _kill_group(self.kernel_pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._reader.close()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


class _Slot:
    """One worker process and the thread that feeds it."""

    def __init__(self, executor: LocalExecutor, index: int) -> None:
        self.executor = executor
        self.index = index
        self.worker: WorkerProcess | None = None
        self.current: str | None = None
        self.cancelled: set[str] = set()
        self.lock = threading.Lock()
        self.thread = threading.Thread(
            target=self._loop, name=f"analysis-slot-{index}", daemon=True
        )

    @property
    def context(self) -> ExecutorContext:
        return self.executor.context

    def _ensure_worker(self) -> WorkerProcess:
        if self.worker is not None and self.worker.proc.poll() is None:
            return self.worker
        if self.worker is not None:
            self.worker.kill()
        settings = self.context.settings
        worker = WorkerProcess(
            settings.warm_kernel,
            settings.cell_timeout_s,
            settings.work_dir / "workers" / f"slot-{self.index}.log",
        )
        # Known to the slot before it is ready, so a service stop during a slow start
        # kills it at once instead of waiting out the start timeout; a stop that came
        # while it was being spawned (and so did not see it) is honoured here.
        self.worker = worker
        if self.executor.stopping.is_set():
            worker.kill()
        worker.wait_ready(settings.worker_start_timeout_s)
        return worker

    def _loop(self) -> None:
        failures = 0
        while not self.executor.stopping.is_set():
            try:
                worker = self._ensure_worker()
                failures = 0
            except (WorkerDied, OSError) as exc:
                failures += 1
                log.error("analysis worker slot %d cannot start a worker: %s", self.index, exc)
                self.executor.stopping.wait(min(30.0, 2.0**failures))
                continue
            job = self.context.db.claim_next(f"{self.executor.kind}:{worker.pid}")
            if job is None:
                self.executor.wait_for_work()
                continue
            with self.lock:
                self.current = job.job_id
            try:
                self._run(job, worker)
            except Exception:
                log.exception("analysis job %s: unexpected error in its slot", job.job_id)
                self.context.db.finish(
                    job.job_id,
                    JobState.FAILED,
                    error="internal error in the analysis service; see its log",
                )
            finally:
                with self.lock:
                    self.current = None
                    self.cancelled.discard(job.job_id)

    def cancel(self, job_id: str) -> bool:
        with self.lock:
            if self.current != job_id:
                return False
            self.cancelled.add(job_id)
            worker = self.worker
        if worker is not None:
            worker.kill()
        return True

    def _is_cancelled(self, job_id: str) -> bool:
        with self.lock:
            return job_id in self.cancelled

    def _run(self, job: JobInfo, worker: WorkerProcess) -> None:
        ctx = self.context
        job_dir = ctx.job_dir(job.job_id)
        log_path = ctx.log_path(job.job_id)
        inputs_dir, output_dir = job_dir / "inputs", job_dir / "output"
        scope = (
            f"collection {job.collection_id}" if job.collection_id else f"session {job.session_id}"
        )
        ctx.log(
            job.job_id,
            f"job {job.job_id}: recipe {job.recipe} over {scope}, {len(job.reports)} report file(s), worker {worker.pid}",
        )
        try:
            prepared = self.executor.prepare(job, inputs_dir)
        except (StorageError, OSError) as exc:
            self._end(job, JobState.FAILED, f"cannot read the reports from storage: {exc}")
            return
        ctx.log(job.job_id, prepared.summary)
        if self._is_cancelled(job.job_id):
            self._end(job, JobState.CANCELLED, CANCELLED_REASON)
            return
        ctx.db.set_progress(job.job_id, phase="mapping")
        request = {
            "job_id": job.job_id,
            "recipe": job.recipe,
            "args": job.args,
            **prepared.inputs,
            "output": str(output_dir),
            "log": str(log_path),
            "csv": job.csv,
            "mode": self.executor.job_mode(job),
            "dask_scheduler": ctx.settings.dask_scheduler,
            "filter_time": job.filter_time,
            "filter_nvtx": job.filter_nvtx,
            "filter_projected_nvtx": job.filter_projected_nvtx,
            "notebook": job.notebook,
        }
        answer: dict[str, Any] | None = None
        try:
            worker.send(request)
            while True:
                event = worker.next_event()
                if event is None:
                    break
                kind = event.get("event")
                if kind == "progress":
                    ctx.db.set_progress(
                        job.job_id, done=int(event["done"]), total=int(event["total"])
                    )
                elif kind == "kernel":
                    worker.kernel_pid = event.get("pid")
                elif kind == "phase":
                    ctx.db.set_progress(job.job_id, phase=str(event["phase"]))
                elif kind == "done":
                    answer = event
                    worker.kernel_pid = event.get("kernel_pid", worker.kernel_pid)
                    break
        except WorkerDied:
            answer = None
        if answer is None:
            if self._is_cancelled(job.job_id):
                ctx.log(job.job_id, f"cancelled: worker {worker.pid} and its kernel were killed")
                self._end(job, JobState.CANCELLED, CANCELLED_REASON)
            else:
                how = worker.death()
                worker.kill()
                reason = (
                    f"the worker process {worker.pid} {how} while running this job; its log is kept"
                )
                ctx.log(job.job_id, reason)
                self._end(job, JobState.FAILED, reason)
            return
        keys = prepared.keys
        warnings = [
            JobWarning(file=storage_name(w["file"], keys), problem=scrub(w["problem"], keys))
            for w in answer.get("warnings", [])
        ]
        if not answer.get("ok"):
            self._end(job, JobState.FAILED, scrub(str(answer.get("error")), keys), warnings)
            return
        ctx.db.set_progress(job.job_id, phase="uploading")
        try:
            stored = upload_outputs(ctx.store, job.job_id, output_dir)
        except (StorageError, OSError) as exc:
            self._end(job, JobState.FAILED, f"cannot store the outputs: {exc}", warnings)
            return
        if self._is_cancelled(job.job_id):
            delete_outputs(ctx.store, job.job_id)
            self._end(job, JobState.CANCELLED, CANCELLED_REASON)
            return
        ctx.log(job.job_id, f"stored {len(stored)} output(s) under {output_prefix(job.job_id)}")
        self._end(job, JobState.SUCCEEDED, None, warnings)

    def _end(
        self,
        job: JobInfo,
        state: JobState,
        error: str | None,
        warnings: list[JobWarning] | None = None,
    ) -> None:
        ctx = self.context
        if error:
            ctx.log(job.job_id, f"{state.value}: {error}")
        else:
            ctx.log(job.job_id, state.value)
        try:
            upload_log(ctx.store, job.job_id, ctx.log_path(job.job_id))
        except (StorageError, OSError) as exc:
            log.error("analysis job %s: cannot store its log: %s", job.job_id, exc)
            ctx.db.finish(job.job_id, state, error=error, warnings=warnings)
            return  # keep the local folder: it holds the only copy of the log
        ctx.db.finish(job.job_id, state, error=error, warnings=warnings)
        shutil.rmtree(ctx.job_dir(job.job_id), ignore_errors=True)


@dataclass(frozen=True)
class Prepared:
    """A job's reports as its worker will read them."""

    #: What goes into the worker's request: ``reports`` (converted traces) and
    #: ``warnings``, or ``inputs`` (folders of staged raw reports).
    inputs: dict[str, Any]
    #: Local path -> storage key, to name reports by their key in warnings and errors.
    keys: dict[str, str]
    summary: str


class LocalExecutor(Executor):
    """Jobs in warm worker processes here; each maps in the mode the job asked for."""

    kind = "local"

    def job_mode(self, job: JobInfo) -> str:
        return job.mode

    def prepare(self, job: JobInfo, inputs_dir: Path) -> Prepared:
        """Converted traces of the job's reports (converting any not converted yet).

        Jobs queued by a release that did not record the reports' sha256 fall back to
        staging the raw reports, as before.
        """
        ingest = self.context.ingest
        files = [ScopeFile(**f) for f in self.context.db.report_files(job.job_id)]
        if ingest is None or not files:
            staged = stage_reports(self.context.store, job.reports, inputs_dir)
            return Prepared(
                {"inputs": [str(p) for p in staged.folders]},
                staged.keys,
                f"staged {len(staged.keys)} report file(s) from storage",
            )
        refs, warnings = ingest.refs(files)
        return Prepared(
            {
                "reports": [r.to_json() for r in refs],
                "warnings": [w.model_dump() for w in warnings],
            },
            {
                **{f.key: f.key for f in files},
                **{r.converted: r.label for r in refs if r.converted is not None},
            },
            f"{len(refs)} report(s) read from their converted traces"
            + (f", {len(warnings)} without one" if warnings else ""),
        )

    def __init__(self, context: ExecutorContext) -> None:
        super().__init__(context)
        self.stopping = threading.Event()
        self._work = threading.Condition()
        self._pending = False
        self._slots = [_Slot(self, i) for i in range(context.settings.workers)]

    def start(self) -> None:
        for slot in self._slots:
            slot.thread.start()

    def wait_for_work(self, timeout: float = 1.0) -> None:
        with self._work:
            if not self._pending:
                self._work.wait(timeout)
            self._pending = False

    def wake(self) -> None:
        with self._work:
            self._pending = True
            self._work.notify_all()

    def cancel(self, job_id: str) -> bool:
        return any(slot.cancel(job_id) for slot in self._slots)

    def worker_pids(self) -> list[int]:
        return [s.worker.pid for s in self._slots if s.worker is not None]

    def stop(self) -> None:
        self.stopping.set()
        self.wake()
        for slot in self._slots:
            with slot.lock:
                running = slot.current
                if running:
                    slot.cancelled.add(running)
            if running:
                self.context.db.finish(running, JobState.FAILED, error=SERVICE_STOPPED_REASON)
            if slot.worker is not None:
                slot.worker.kill()
        for slot in self._slots:
            if slot.thread.is_alive():
                slot.thread.join(10)


class DaskExecutor(LocalExecutor):
    """Every job's map phase on the Dask cluster (``dask_scheduler``), its notebook on a
    warm worker here. Map tasks read the converted traces themselves (presigned URLs,
    or the local-folder store's files), so no report passes through this machine."""

    kind = "dask"

    def job_mode(self, job: JobInfo) -> str:
        return "dask-futures"

    def start(self) -> None:
        from nsight_lab.recipe.distributed import scheduler_address

        if scheduler_address(self.context.settings.dask_scheduler) is None:
            log.warning(
                "executor 'dask' without NSIGHT_LAB_ANALYSIS_DASK_SCHEDULER: each job starts "
                "a local Dask cluster of its own"
            )
        super().start()
