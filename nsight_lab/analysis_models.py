"""Wire models of the analysis service, shared by the service and its clients.

Like :mod:`nsight_lab.models` for the coordinator, these live in ``nsight_lab`` so the
service (``services/nsight_analysis``) and the CLI, JupyterLab and scripts agree on
one definition without the service importing a client or the other way round.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nsight_lab.models import DEFAULT_TAG


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class RecipeSummary(_Model):
    name: str
    display_name: str
    description: str
    tables: list[str] = []
    #: Per table, the only columns the recipe reads (a table not named: all of them).
    columns: dict[str, list[str]] = {}
    min_reports: int = 1
    max_reports: int | None = None


class RecipeUnavailable(_Model):
    """A recipe folder that exists but cannot be loaded, and why."""

    folder: str
    problem: str


class RecipeCatalogue(_Model):
    recipes: list[RecipeSummary]
    unavailable: list[RecipeUnavailable] = []


class RecipeDetail(RecipeSummary):
    notebook: str
    #: One JSON Schema object for every argument (``RecipeSpec.json_schema()``).
    arg_schema: dict[str, Any] = Field(..., alias="schema")
    readme: str | None = None

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class JobCreate(_Model):
    """A job request. Without ``session_id`` or ``collection_id`` the scope is the tag's
    active session, else its latest one."""

    recipe: str = Field(..., min_length=1, max_length=128)
    args: dict[str, Any] = {}
    tag: str = Field(DEFAULT_TAG, min_length=1, max_length=128)
    session_id: str | None = None
    collection_id: str | None = None
    csv: bool = False
    notebook: bool = True
    mode: str = "none"
    filter_time: str | None = None
    filter_nvtx: str | None = None
    filter_projected_nvtx: str | None = None


class JobProgress(_Model):
    #: Reports mapped so far, of ``total`` in the scope.
    done: int = 0
    total: int = 0
    #: ``queued``, ``staging``, ``mapping``, ``notebook``, ``uploading``, ``finished``.
    phase: str = "queued"


class JobWarning(_Model):
    """A report of the scope that was skipped, and why (``file`` is its storage key)."""

    file: str
    problem: str


class JobInfo(_Model):
    job_id: str
    recipe: str
    args: dict[str, Any]
    tag: str
    session_id: str | None = None
    collection_id: str | None = None
    state: JobState
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: JobProgress = JobProgress()
    #: Storage keys of the reports in the scope.
    reports: list[str] = []
    warnings: list[JobWarning] = []
    #: Why the job failed or was cancelled; empty otherwise.
    error: str | None = None
    #: Where its outputs are stored: ``analysis/<job-id>/``.
    output_prefix: str
    csv: bool = False
    notebook: bool = True
    mode: str = "none"
    filter_time: str | None = None
    filter_nvtx: str | None = None
    filter_projected_nvtx: str | None = None
    #: Which executor ran it (``local:<pid>``, ``kubernetes:<job name>``).
    worker: str | None = None


class JobOutput(_Model):
    name: str
    key: str
    size: int
    #: ``Notebook``, ``HTML``, ``Parquet``, ``CSV``, ``Record``, ``Log`` or ``File``.
    kind: str
    url: str
    expires_at: datetime


class IngestStatus(_Model):
    """The analysis service's one-time conversion of registered reports."""

    enabled: bool
    poll_s: float
    #: Raw reports parsed since the service started (one per distinct report).
    parsed: int = 0
    converted: int = 0
    failed: int = 0
    #: Conversions found in storage already (identical content, or before a restart).
    reused: int = 0
    skipped: int = 0
    #: Why the last poll of the coordinator failed, if it did.
    last_error: str | None = None
    #: The latest conversion: key, sha256, ok, seconds, peak_rss_mb (of its process), rows.
    last_conversion: dict[str, Any] | None = None
    #: Timeline layouts built and stored beside the converted traces, and ones that failed.
    laid_out: int = 0
    layout_failed: int = 0
    #: The latest layout: sha256, ok, seconds, cpu_s, peak_rss_mb, events, levels, bytes.
    last_layout: dict[str, Any] | None = None
    #: Converted reports queued for their layout (laid out one at a time, after conversion).
    layouts_pending: int = 0


class TraceLinks(_Model):
    """Presigned URLs to one converted trace's files (``traces/<sha256>/``)."""

    sha256: str
    #: ``conversion.json``: per table its rows, row groups and time span.
    manifest: dict[str, Any]
    #: File name (``kernels.parquet``, ``metadata.json``, ...) -> presigned GET URL.
    urls: dict[str, str]
    expires_at: datetime


class TraceLayoutLinks(_Model):
    """A report's stored Timeline layout (``traces/<sha256>/<layout>/``): its head and
    one presigned GET URL per object, so a viewer fetches only the levels it needs."""

    sha256: str
    layout: str
    #: ``head.json``: the layout's rows, names and time range, its levels, each object's
    #: size and sha256 (:mod:`nsight_lab.jupyter.widgets.stored_layout`).
    head: dict[str, Any]
    urls: dict[str, str]
    expires_at: datetime
