"""``JobMonitor``: live state, progress and outputs of analysis jobs, with a cancel button.

A daemon thread in the kernel polls the analysis service and writes into synced
traits, so the cell that made the widget returns at once and the notebook stays
usable while jobs run. Polling stops by itself when every job has finished.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import anywidget
import traitlets

from nsight_lab.analysis_client import AnalysisClient
from nsight_lab.analysis_models import JobInfo, JobOutput
from nsight_lab.config import CliConfig
from nsight_lab.jupyter.widgets._connection import explain, resolve_config
from nsight_lab.jupyter.widgets._static import STATIC

DEFAULT_POLL_S = 0.5


def job_dict(job: JobInfo, outputs: Sequence[JobOutput] = ()) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "recipe": job.recipe,
        "state": job.state.value,
        "finished": job.state.finished,
        "phase": job.progress.phase,
        "done": job.progress.done,
        "total": job.progress.total,
        "error": job.error or "",
        "warnings": len(job.warnings),
        "outputs": [
            {"name": o.name, "kind": o.kind, "size": o.size, "url": o.url} for o in outputs
        ],
    }


class JobMonitor(anywidget.AnyWidget):
    """Follow one or more jobs: ``JobMonitor(job)``, ``JobMonitor([id1, id2])``."""

    _esm = STATIC / "job_monitor.js"
    _css = STATIC / "widgets.css"

    jobs = traitlets.List(traitlets.Dict()).tag(sync=True)
    polling = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        jobs: str | JobInfo | Sequence[str | JobInfo],
        *,
        gw: str | None = None,
        config: CliConfig | None = None,
        client: AnalysisClient | None = None,
        poll_s: float = DEFAULT_POLL_S,
        start: bool = True,
    ) -> None:
        super().__init__()
        cfg = resolve_config(config, gw)
        self.gateway = cfg.gw
        self.client = client or AnalysisClient(cfg)
        items = [jobs] if isinstance(jobs, (str, JobInfo)) else list(jobs)
        if not items:
            raise ValueError("JobMonitor needs at least one job (a JobInfo or a job id)")
        self.job_ids = [j.job_id if isinstance(j, JobInfo) else str(j) for j in items]
        self.poll_s = poll_s
        self._infos: dict[str, JobInfo] = {}
        self._outputs: dict[str, list[JobOutput]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_msg(self._on_custom_msg)
        self.refresh()
        if start:
            self.start()

    def refresh(self) -> bool:
        """Poll every unfinished job once; True when all have finished."""
        try:
            for job_id in self.job_ids:
                known = self._infos.get(job_id)
                if known is not None and known.state.finished and job_id in self._outputs:
                    continue
                info = self.client.job(job_id)
                self._infos[job_id] = info
                if info.state.finished:
                    self._outputs[job_id] = self.client.outputs(job_id)
        except Exception as exc:
            self.error = explain(exc, self.gateway)
            return False
        self.error = ""
        self.jobs = [
            job_dict(self._infos[j], self._outputs.get(j, ()))
            for j in self.job_ids
            if j in self._infos
        ]
        return all(info.state.finished for info in self._infos.values()) and len(
            self._infos
        ) == len(self.job_ids)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="nsight-lab-jobs", daemon=True)
        self.polling = True
        self._thread.start()

    def _poll(self) -> None:
        try:
            while not self._stop.is_set():
                if self.refresh():
                    return
                self._stop.wait(self.poll_s)
        finally:
            self.polling = False

    def stop_polling(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def wait(self, timeout: float = 120.0) -> list[JobInfo]:
        """Block until every job has finished (or raise TimeoutError); returns their infos."""
        deadline = time.monotonic() + timeout
        while not self.refresh():
            if time.monotonic() > deadline:
                states = ", ".join(f"{j}: {i.state.value}" for j, i in self._infos.items())
                raise TimeoutError(f"jobs still unfinished after {timeout}s ({states})")
            time.sleep(self.poll_s)
        return [self._infos[j] for j in self.job_ids]

    def cancel(self, job_id: str) -> None:
        if job_id not in self.job_ids:
            self.error = f"cancel: {job_id} is not one of this monitor's jobs"
            return
        try:
            self._infos[job_id] = self.client.cancel(job_id)
        except Exception as exc:
            self.error = f"cancel {job_id}: {explain(exc, self.gateway)}"
            return
        self.refresh()
        self.start()

    def outputs(self, job_id: str) -> list[JobOutput]:
        return list(self._outputs.get(job_id, []))

    def close(self) -> None:
        self.stop_polling()
        super().close()

    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("action") == "cancel":
            self.cancel(str(content.get("job_id", "")))
        elif isinstance(content, dict) and content.get("action") == "refresh":
            self.refresh()
        else:
            self.error = f"unknown message {content!r}; expected action cancel or refresh"
