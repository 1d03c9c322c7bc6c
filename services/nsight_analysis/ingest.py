"""Reports ingested once: each registered report converted to the trace model, by sha256.

How the analysis side learns of a new report (services never import each other,
and the coordinator never calls the analysis service): every ``ingest_poll_s`` it
asks the coordinator's public API for files whose conversion is still pending
(``GET /files?conversion=pending``), converts each one, stores the result under
``traces/<sha256>/`` in the same storage as the reports
(:mod:`nsight_lab.trace.converted`), and reports the outcome on the file
(``PUT /files/{id}/conversion``), where ``ls`` and the JupyterLab panel show it.
Uploads never wait for any of this: a report that fails to convert is stored and
listed all the same, with the reason.

Jobs ask the same :class:`Ingester` for their reports: one converted already (by
any file with the same content) is read from its trace; one still pending is
converted there and then, once, under a lock per sha256. A stored ``failed.json``
is the verdict for that content, so a broken report is parsed once, not once per job.

Each conversion runs in a child process (``python -m nsight_lab.trace.convert``):
the memory it takes is the child's, bounded by the sorted sink's window whatever
the trace size, and a report that crashes its importer cannot take the service down.

After converting a report, the Timeline layout of it is built once too
(``python -m nsight_lab.jupyter.widgets.stored_layout``, another child) and stored
beside the trace under ``traces/<sha256>/timeline-v<N>-<layers>/``
(:mod:`nsight_lab.jupyter.widgets.stored_layout`), so that no Jupyter server has to
lay out a big report before its first view. Layouts are queued to a thread of their
own, one at a time: the conversion is recorded (and a job waiting for it goes on)
without waiting for its layout. A layout that fails is recorded there
(``failed.json``) and logged; the conversion stands, and viewers lay it out themselves.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nsight_analysis.scope import CoordinatorScopes, ScopeError, ScopeFile, is_report_file
from nsight_analysis.settings import AnalysisSettings
from nsight_lab.analysis_models import JobWarning
from nsight_lab.jupyter.widgets import stored_layout
from nsight_lab.jupyter.widgets.lanes import LAYERS
from nsight_lab.jupyter.widgets.trace_view import layout_name
from nsight_lab.models import CollectionState, ConversionState, ConversionUpdate, FileInfo
from nsight_lab.recipe.inputs import report_name
from nsight_lab.recipe.reports import ReportRef
from nsight_lab.storage.base import ObjectNotFound, ObjectStore, StorageError
from nsight_lab.trace.converted import (
    FAILED_FILE,
    MANIFEST_FILE,
    trace_files,
    trace_key,
    trace_prefix,
)

log = logging.getLogger("nsight_analysis.ingest")

#: Files asked for per poll; more pending than this and the next poll follows at once.
POLL_BATCH = 200
_OPEN = (CollectionState.RUNNING, CollectionState.STOPPING)


@dataclass(frozen=True)
class Conversion:
    state: ConversionState
    sha256: str
    error: str | None = None

    def update(self) -> ConversionUpdate:
        prefix = trace_prefix(self.sha256) if self.state == ConversionState.CONVERTED else None
        return ConversionUpdate(state=self.state, error=self.error, trace_prefix=prefix)


@dataclass
class IngestCounts:
    #: Raw reports parsed (one child process each): what "ingested once" counts.
    parsed: int = 0
    converted: int = 0
    failed: int = 0
    #: Conversions found in storage already (same content, or converted before a restart).
    reused: int = 0
    skipped: int = 0
    #: Timeline layouts built (one child process each) and stored, and ones that failed.
    laid_out: int = 0
    layout_failed: int = 0


def layout_key(sha256: str, name: str) -> str:
    """The storage key of one object of a report's stored Timeline layout."""
    return trace_key(sha256, f"{layout_name(LAYERS)}/{name}")


class Ingester:
    """Converts reports once and hands out their converted traces (see the module docstring)."""

    def __init__(
        self, settings: AnalysisSettings, store: ObjectStore, scopes: CoordinatorScopes
    ) -> None:
        self.settings = settings
        self.store = store
        self.scopes = scopes
        self.counts = IngestCounts()
        self.last_error: str | None = None
        #: The latest conversion run: key, state, seconds, peak RSS of its process.
        self.last_conversion: dict[str, Any] | None = None
        #: The latest layout run: sha256, ok, seconds, CPU-s, peak RSS, stored bytes.
        self.last_layout: dict[str, Any] | None = None
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._children: set[subprocess.Popen[str]] = set()
        #: Converted reports waiting for their layout: (sha256, converted folder, scratch).
        self._layouts: queue.Queue[tuple[str, Path, Path] | None] = queue.Queue()
        self._layout_thread: threading.Thread | None = None
        #: Layouts queued or running.
        self._layouts_pending = 0

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.ingest and self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="analysis-ingest", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        for child in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                child.kill()
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        if self._layout_thread is not None:
            self._layouts.put(None)
            self._layout_thread.join(15)
            self._layout_thread = None

    def wake(self) -> None:
        self._wake.set()

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.ingest,
            "poll_s": self.settings.ingest_poll_s,
            **self.counts.__dict__,
            "last_error": self.last_error,
            "last_conversion": self.last_conversion,
            "last_layout": self.last_layout,
            "layouts_pending": self._layouts_pending,
        }

    def _loop(self) -> None:
        while not self._stopping.is_set():
            busy = False
            try:
                pending = self.scopes.pending_files(limit=POLL_BATCH)
                self.last_error = None
                for info in pending:
                    if self._stopping.is_set():
                        return
                    self._ingest(info)
                busy = len(pending) >= POLL_BATCH
            except ScopeError as exc:
                if self.last_error != exc.detail:
                    log.warning("ingest: cannot list pending reports: %s", exc.detail)
                self.last_error = exc.detail
            except Exception:  # keep polling whatever one report did
                log.exception("ingest: unexpected error")
            if not busy:
                self._wake.wait(self.settings.ingest_poll_s)
                self._wake.clear()

    # --- one file --------------------------------------------------------------------

    def _ingest(self, info: FileInfo) -> None:
        outcome = self._decide(info)
        if outcome is None or outcome.state == ConversionState.PENDING:
            return  # not yet: its collection is still recording, or storage failed
        try:
            self.scopes.set_conversion(info.file_id, outcome.update())
        except ScopeError as exc:
            log.warning("ingest: cannot record %s's conversion: %s", info.key, exc.detail)

    def _decide(self, info: FileInfo) -> Conversion | None:
        if not is_report_file(info):
            self.counts.skipped += 1
            return Conversion(ConversionState.SKIPPED, info.sha256, "not a report recipes read")
        if info.filename.lower().endswith(".nsys-rep"):
            # The nsys collector uploads the report and then its SQLite export; convert
            # the export when there is one (no nsys needed here), so wait for the part.
            if self.scopes.collection(info.collection_id).state in _OPEN:
                return None
            export = next(
                (
                    f
                    for f in self.scopes.files_of(info.collection_id)
                    if f.agent_id == info.agent_id and f.filename.lower().endswith(".sqlite")
                ),
                None,
            )
            if export is not None:
                self.counts.skipped += 1
                return Conversion(
                    ConversionState.SKIPPED,
                    info.sha256,
                    f"its SQLite export {export.filename} is converted instead",
                )
        return self.ensure(ScopeFile.of(info))

    def _lock(self, sha256: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(sha256, threading.Lock())

    def stored(self, sha256: str) -> Conversion | None:
        """What storage already says about this content, if anything."""
        if self.store.head(trace_key(sha256, MANIFEST_FILE)) is not None:
            return Conversion(ConversionState.CONVERTED, sha256)
        try:
            with self.store.open_read(trace_key(sha256, FAILED_FILE)) as stream:
                failure = json.loads(stream.read())
        except (ObjectNotFound, ValueError):
            return None
        return Conversion(ConversionState.FAILED, sha256, str(failure.get("error")))

    def ensure(self, file: ScopeFile) -> Conversion:
        """The file's conversion, converting it now (once per content) if need be."""
        if not file.sha256:
            return Conversion(ConversionState.FAILED, "", "the file has no sha256 recorded")
        with self._lock(file.sha256):
            found = self.stored(file.sha256)
            if found is not None:
                self.counts.reused += 1
                return found
            outcome = self._convert(file)
        if outcome.state == ConversionState.CONVERTED:
            self.counts.converted += 1
        elif outcome.state == ConversionState.FAILED:
            self.counts.failed += 1
        return outcome

    # --- converting ------------------------------------------------------------------

    def _local_path(self, key: str) -> Path | None:
        local = getattr(self.store, "local_path", None)
        return Path(local(key)) if local is not None else None

    def _convert(self, file: ScopeFile) -> Conversion:
        sha = file.sha256
        scratch = self.settings.work_dir / "ingest" / sha
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        queued = False
        try:
            source = self._local_path(file.key)
            if source is None:
                source = scratch / Path(file.filename).name
                with self.store.open_read(file.key) as stream, source.open("wb") as sink:
                    shutil.copyfileobj(stream, sink, 1 << 20)
            # The local-folder store is converted in place: readers trust a trace only
            # once its manifest exists, and the manifest is written last.
            target = self._local_path(trace_prefix(sha).rstrip("/")) or scratch / "trace"
            answer = self._run_child(source, target, file)
            self.last_conversion = {
                "key": file.key,
                "sha256": sha,
                "ok": bool(answer.get("ok")),
                "seconds": answer.get("seconds"),
                "peak_rss_mb": answer.get("peak_rss_mb"),
                "rows": answer.get("tables"),
            }
            if answer.get("ok"):
                if self._local_path(file.key) is None:
                    self._upload(sha, target)
                if self.settings.ingest_layout:
                    if source.parent == scratch:
                        source.unlink()  # the layout reads the converted tables only
                    self._queue_layout(sha, target, scratch)
                    queued = True
                log.info(
                    "ingest: converted %s in %.1f s (peak %s MB)",
                    file.key,
                    answer.get("seconds", 0.0),
                    answer.get("peak_rss_mb"),
                )
                return Conversion(ConversionState.CONVERTED, sha)
            error = str(answer.get("error") or "conversion failed")
        except (StorageError, OSError) as exc:
            # Storage trouble is not the report's fault: leave it pending for next time.
            log.warning("ingest: %s: %s", file.key, exc)
            return Conversion(ConversionState.PENDING, sha, f"storage error: {exc}")
        finally:
            if not queued:
                shutil.rmtree(scratch, ignore_errors=True)
        in_place = self._local_path(trace_prefix(sha).rstrip("/"))
        if in_place is not None:
            shutil.rmtree(in_place, ignore_errors=True)  # the tables it got to: of no use
        self.store.put_bytes(
            trace_key(sha, FAILED_FILE),
            json.dumps(
                {"error": error, "source": {"key": file.key}, "failed_at": time.time()}
            ).encode(),
        )
        log.warning("ingest: %s cannot be converted: %s", file.key, error)
        return Conversion(ConversionState.FAILED, sha, error)

    def _queue_layout(self, sha: str, converted: Path, scratch: Path) -> None:
        """Lay ``converted`` out in the layout thread (started on first use); ``scratch``
        is removed once done."""
        with self._locks_guard:
            if self._layout_thread is None or not self._layout_thread.is_alive():
                self._layout_thread = threading.Thread(
                    target=self._layout_loop, name="analysis-layout", daemon=True
                )
                self._layout_thread.start()
            self._layouts_pending += 1
        self._layouts.put((sha, converted, scratch))

    def _layout_loop(self) -> None:
        while True:
            item = self._layouts.get()
            if item is None:
                return
            sha, converted, scratch = item
            try:
                if not self._stopping.is_set():
                    self.lay_out(sha, converted, scratch)
            except Exception:  # keep laying out whatever one report did
                log.exception("ingest: unexpected error laying out %s", sha[:12])
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
                with self._locks_guard:
                    self._layouts_pending -= 1

    def lay_out(self, sha: str, converted: Path, scratch: Path) -> None:
        """Build and store the report's Timeline layout; a failure is recorded, not raised."""
        in_place = self._local_path(layout_key(sha, "").rstrip("/"))
        folder = in_place or scratch / "layout"
        command = [sys.executable, "-m", "nsight_lab.jupyter.widgets.stored_layout",
                   str(converted), str(folder), "--layers", ",".join(LAYERS),
                   "--nice", str(self.settings.ingest_nice)]  # fmt: skip
        try:
            answer = self._child(command, "the layout")
            if answer.get("ok") and in_place is None:
                for name in stored_layout.upload_order(folder):  # the head last
                    self.store.put_file(layout_key(sha, name), folder / name)
        except (StorageError, OSError) as exc:
            answer = {"ok": False, "error": f"storing the layout failed: {exc}"}
        self.last_layout = {"sha256": sha, **answer}
        if answer.get("ok"):
            self.counts.laid_out += 1
            log.info("ingest: laid out %s in %.1f s (%s CPU-s, peak %s MB, %d bytes)", sha[:12],
                     answer.get("seconds", 0.0), answer.get("cpu_s"), answer.get("peak_rss_mb"),
                     answer.get("bytes", 0))  # fmt: skip
            return
        if self._stopping.is_set():
            return  # killed by the service's stop: not the report's fault, nothing to record
        self.counts.layout_failed += 1
        error = str(answer.get("error") or "laying the timeline out failed")
        log.warning(
            "ingest: cannot lay out %s (viewers lay it out themselves): %s", sha[:12], error
        )
        if in_place is not None:
            shutil.rmtree(in_place, ignore_errors=True)
        with contextlib.suppress(StorageError, OSError):
            self.store.put_bytes(
                layout_key(sha, stored_layout.FAILED_FILE),
                json.dumps({"error": error, "failed_at": time.time()}).encode(),
            )

    def _run_child(self, source: Path, target: Path, file: ScopeFile) -> dict[str, Any]:
        self.counts.parsed += 1
        command = [
            sys.executable,
            "-m",
            "nsight_lab.trace.convert",
            str(source),
            str(target),
            "--sha256",
            file.sha256,
            "--filename",
            file.filename,
            "--nice",
            str(self.settings.ingest_nice),
        ]
        return self._child(command, "the conversion")

    def _child(self, command: list[str], what: str) -> dict[str, Any]:
        """Run one child that ends with a JSON line on stdout; its answer, or why it has none."""
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._children.add(child)
        try:
            out, err = child.communicate(timeout=self.settings.ingest_timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            return {
                "ok": False,
                "error": f"{what} took longer than {self.settings.ingest_timeout_s:.0f} s",
            }
        finally:
            self._children.discard(child)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if lines:
            answer: dict[str, Any] = json.loads(lines[-1])
            return answer
        if child.returncode < 0:
            name = signal.Signals(-child.returncode).name
            hint = " (out of memory?)" if name == "SIGKILL" else ""
            return {"ok": False, "error": f"{what} process was killed by {name}{hint}"}
        tail = err.strip().splitlines()[-1:] or ["no output"]
        return {"ok": False, "error": f"{what} process failed: {tail[0][:500]}"}

    def _upload(self, sha: str, folder: Path) -> None:
        """Every file but the manifest, then the manifest: readers see all or nothing."""
        names = trace_files()
        for name in [n for n in names if n != MANIFEST_FILE] + [MANIFEST_FILE]:
            self.store.put_file(trace_key(sha, name), folder / name)

    # --- what workers get ------------------------------------------------------------

    def refs(self, files: Sequence[ScopeFile]) -> tuple[list[ReportRef], list[JobWarning]]:
        """Converted traces of ``files`` for the workers, and a warning for each that has none."""
        refs: list[ReportRef] = []
        warnings: list[JobWarning] = []
        for file in files:
            outcome = self.ensure(file)
            if outcome.state == ConversionState.CONVERTED:
                refs.append(self.ref(file))
                continue
            what = (
                "could not be converted"
                if outcome.state == ConversionState.FAILED
                else "is not converted"
            )
            warnings.append(JobWarning(file=file.key, problem=f"{what}: {outcome.error}"))
        return refs, warnings

    def ref(self, file: ScopeFile) -> ReportRef:
        """How a worker reads the file's converted trace: the folder itself when storage
        is a local folder, else presigned URLs (no credentials leave the service)."""
        name = report_name(Path(file.filename))
        folder = self._local_path(trace_prefix(file.sha256).rstrip("/"))
        if folder is not None:
            return ReportRef(label=file.key, name=name, converted=str(folder))
        return ReportRef(label=file.key, name=name, urls=self.urls(file.sha256))

    def urls(self, sha256: str) -> dict[str, str]:
        expiry = self.settings.presign_expiry_s
        return {
            name: self.store.presign_get(trace_key(sha256, name), expires_s=expiry)
            for name in trace_files()
        }
