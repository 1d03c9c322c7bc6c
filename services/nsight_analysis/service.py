"""The analysis service's state and operations, free of HTTP.

Routes translate requests into calls here and :class:`AnalysisError` into statuses;
the same operations serve tests and the embedded stack without a web server.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nsight_analysis.db import JobDB, output_prefix
from nsight_analysis.executors import Executor, ExecutorContext, build_executor
from nsight_analysis.executors.base import CANCELLED_REASON, SERVICE_STOPPED_REASON
from nsight_analysis.ingest import Ingester
from nsight_analysis.scope import CoordinatorScopes, ScopeError
from nsight_analysis.settings import AnalysisSettings
from nsight_analysis.staging import LOG_NAME, delete_outputs
from nsight_lab.analysis_models import JobCreate, JobInfo, JobState
from nsight_lab.gateway.identity import ANONYMOUS, Caller
from nsight_lab.recipe.errors import RecipeArgError, RecipeLoadError, RecipeNotFoundError
from nsight_lab.recipe.filters import parse_filters
from nsight_lab.recipe.registry import unavailable_message
from nsight_lab.recipe.spec import MODES, normalize_mode, validate_args
from nsight_lab.servicekit import Conflict, GatewaySettings, Invalid, NotFound, ServiceError
from nsight_lab.storage.base import ObjectNotFound, ObjectStore, StorageError

log = logging.getLogger("nsight_analysis")

#: Common recipe arguments a job takes as its own fields (also accepted inside ``args``).
JOB_OPTIONS = ("csv", "mode", "filter_time", "filter_nvtx", "filter_projected_nvtx")
#: Common arguments the scope replaces.
SCOPE_OWNED = ("input", "output", "force_overwrite")


AnalysisError = ServiceError


def unknown_job(job_id: str) -> NotFound:
    return NotFound(
        f"no analysis job {job_id!r}; list jobs with GET /api/v1/jobs (CLI: nsight-lab analysis reports list)"
    )


def _recipe(name: str) -> Any:
    from nsight_lab.recipe.registry import get_recipe

    return get_recipe(name)


class AnalysisService:
    def __init__(
        self,
        settings: AnalysisSettings,
        store: ObjectStore,
        gateway: GatewaySettings | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        self.db = JobDB(settings.db_path)
        interrupted = self.db.fail_interrupted(SERVICE_STOPPED_REASON)
        if interrupted:
            log.warning("marked %d job(s) interrupted by a restart as failed", len(interrupted))
        self.scopes = CoordinatorScopes(
            settings.coordinator_url,
            api_key=settings.coordinator_api_key,
            gateway=gateway or GatewaySettings(),
        )
        self.ingest = Ingester(settings, store, self.scopes)
        self.context = ExecutorContext(settings, self.db, store, self.ingest)
        for job_id in interrupted:
            self._salvage_log(job_id)
        self.executor: Executor = build_executor(self.context)
        self._started = False
        self._start_lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        with self._start_lock:
            if not self._started:
                self.executor.start()
                self.ingest.start()
                self._started = True

    def stop(self) -> None:
        with self._start_lock:
            if self._started:
                self.ingest.stop()
                self.executor.stop()
                self._started = False
        self.scopes.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Workers up for the duration of the block (a parent app's lifespan enters this)."""
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(self.start)
        try:
            yield
        finally:
            await run_in_threadpool(self.stop)

    def _salvage_log(self, job_id: str) -> None:
        path = self.context.log_path(job_id)
        if path.is_file():
            self.context.log(job_id, f"failed: {SERVICE_STOPPED_REASON}")
            with contextlib.suppress(StorageError, OSError):
                self.store.put_file(output_prefix(job_id) + LOG_NAME, path)

    # --- jobs ------------------------------------------------------------------------

    def create_job(self, request: JobCreate, caller: Caller = ANONYMOUS) -> JobInfo:
        """Validate, resolve the scope, queue. Every refusal names the field at fault.

        The scope is resolved at the coordinator on ``caller``'s behalf, so a tenant
        can analyse only sessions it can see; the job keeps the session's tag.
        """
        scoped_by_tag = request.session_id is None and request.collection_id is None
        if scoped_by_tag and not caller.allows(request.tag):
            allowed = ", ".join(sorted(caller.tags or ())) or "none"
            raise AnalysisError(
                f"{caller.name or 'this caller'} may not use tag {request.tag!r}; "
                f"its tags: {allowed}",
                403,
            )
        try:
            recipe = _recipe(request.recipe)
        except RecipeNotFoundError as exc:
            close = exc.suggestions
            hint = (
                f"; did you mean: {', '.join(close)}?"
                if close
                else "; list recipes with GET /api/v1/recipes"
            )
            raise Invalid(f"recipe: unknown recipe {request.recipe!r}{hint}") from exc
        except RecipeLoadError as exc:
            raise Invalid(f"recipe: {exc}") from exc
        if not recipe.spec.runnable:
            raise Invalid(f"recipe: {unavailable_message(recipe.spec)}")
        raw = dict(request.args)
        for name in SCOPE_OWNED:
            if name in raw:
                raise Invalid(
                    f"args.{name}: not accepted here; the job's scope (session_id or collection_id) "
                    "chooses the reports and the service chooses where outputs go"
                )
        options: dict[str, Any] = {
            "csv": request.csv,
            "mode": request.mode,
            "filter_time": request.filter_time,
            "filter_nvtx": request.filter_nvtx,
            "filter_projected_nvtx": request.filter_projected_nvtx,
        }
        for name in JOB_OPTIONS:
            if name in raw:
                options[name] = raw.pop(name)
        try:
            options["mode"] = normalize_mode(str(options["mode"]))
        except RecipeArgError as exc:
            raise Invalid(f"mode: {options['mode']!r} is not one of {', '.join(MODES)}") from exc
        try:
            values = validate_args(recipe.spec, raw)
        except RecipeArgError as exc:
            raise Invalid(f"args.{exc.field}: {exc}") from exc
        try:
            parse_filters(
                options["filter_time"], options["filter_nvtx"], options["filter_projected_nvtx"]
            )
        except RecipeArgError as exc:
            raise Invalid(f"{exc.field}: {exc}") from exc
        try:
            scope = self.scopes.resolve(
                tag=request.tag,
                session_id=request.session_id,
                collection_id=request.collection_id,
                caller=caller,
            )
        except ScopeError as exc:
            raise AnalysisError(exc.detail, exc.status) from exc
        if not scope.files:
            where = (
                f"collection {scope.collection_id}"
                if scope.collection_id
                else f"session {scope.session_id}"
            )
            raise Conflict(
                f"{where} holds no report files yet; wait for its uploads "
                "(nsight-lab status) or choose another with session_id / collection_id"
            )
        options["notebook"] = request.notebook
        job = self.db.create(
            recipe=recipe.name,
            args=_jsonable(values),
            options=options,
            tag=scope.tag or request.tag,
            session_id=scope.session_id,
            collection_id=scope.collection_id,
            reports=[f.key for f in scope.files],
            report_files=[f.to_json() for f in scope.files],
        )
        self.context.log(job.job_id, f"queued: recipe {job.recipe}, args {job.args}")
        self.executor.wake()
        return job

    def get_job(self, job_id: str, caller: Caller = ANONYMOUS) -> JobInfo:
        """The job, or the same 404 for one of a tag ``caller`` may not see."""
        job = self.db.get(job_id)
        if job is None or not caller.allows(job.tag):
            raise unknown_job(job_id)
        return job

    def cancel_job(self, job_id: str, caller: Caller = ANONYMOUS) -> JobInfo:
        job = self.get_job(job_id, caller)
        if job.state.finished:
            raise Conflict(f"job {job_id} has {job.state.value} already; nothing to cancel")
        # Record the decision first: whichever of cancel and completion lands in the
        # table first wins, and a worker finishing a moment later cannot overwrite it.
        if self.db.finish(job_id, JobState.CANCELLED, error=CANCELLED_REASON):
            self.context.log(job_id, "cancel requested")
        self.executor.cancel(job_id)
        return self.get_job(job_id)

    def delete_job(self, job_id: str, caller: Caller = ANONYMOUS) -> int:
        job = self.get_job(job_id, caller)
        if not job.state.finished:
            self.cancel_job(job_id)
        removed = delete_outputs(self.store, job_id)
        self.db.delete(job_id)
        return removed

    # --- logs ------------------------------------------------------------------------

    def read_log(self, job_id: str, offset: int = 0) -> bytes:
        """The log from ``offset``: the live file while the job runs, the stored copy after."""
        self.get_job(job_id)
        path = self.context.log_path(job_id)
        with contextlib.suppress(OSError):
            return _read_from(path, offset)
        try:
            with self.store.open_read(output_prefix(job_id) + LOG_NAME) as stream:
                data = stream.read()
        except ObjectNotFound:
            return b""
        return data[offset:]

    def log_path(self, job_id: str) -> Path:
        return self.context.log_path(job_id)


def _read_from(path: Path, offset: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read()


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def tail_lines(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


def iter_chunks(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
