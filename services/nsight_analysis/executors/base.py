"""The interface every executor implements, and what it is given to work with.

The job table is the queue: an executor claims the oldest queued job itself
(``JobDB.claim_next``) when it has room, so submission order is kept whichever
executor runs the jobs, and jobs queued before a restart simply run after it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nsight_analysis.db import JobDB
from nsight_analysis.settings import AnalysisSettings
from nsight_lab.storage.base import ObjectStore

if TYPE_CHECKING:
    from nsight_analysis.ingest import Ingester

#: What a job stopped by ``cancel`` says in its ``error``.
CANCELLED_REASON = "cancelled by request"
SERVICE_STOPPED_REASON = "the analysis service stopped while this job was running; submit it again"


@dataclass(frozen=True)
class ExecutorContext:
    settings: AnalysisSettings
    db: JobDB
    store: ObjectStore
    #: Converted traces of stored reports (None: workers parse staged raw reports).
    ingest: Ingester | None = None

    def job_dir(self, job_id: str) -> Path:
        return self.settings.work_dir / "jobs" / job_id

    def log_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "job.log"

    def log(self, job_id: str, message: str) -> None:
        """One line from the service into the job's log (beside what the worker writes)."""
        path = self.log_path(job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"[service {time.strftime('%H:%M:%S')}] {message}\n")


class Executor(ABC):
    """Runs queued jobs from the job table."""

    def __init__(self, context: ExecutorContext) -> None:
        self.context = context

    @abstractmethod
    def start(self) -> None:
        """Begin taking jobs (start workers, watchers)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop taking jobs and end what runs; running jobs are failed with a reason."""

    @abstractmethod
    def wake(self) -> None:
        """A job was queued: look at the queue now rather than at the next poll."""

    @abstractmethod
    def cancel(self, job_id: str) -> bool:
        """Stop ``job_id`` if this executor is running it; True when it was."""
