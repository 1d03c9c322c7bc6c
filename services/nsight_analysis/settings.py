"""What an operator can tune on the analysis service, read from ``NSIGHT_LAB_ANALYSIS_*``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from nsight_lab.storage.base import DEFAULT_EXPIRY_S


class AnalysisSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NSIGHT_LAB_ANALYSIS_", extra="ignore")

    #: The job table; a restart on the same file keeps every job.
    db_path: Path = Path("nsight-analysis.sqlite3")
    #: Scratch space for staged reports and outputs before they go to storage.
    work_dir: Path = Path("nsight-analysis-work")
    #: The coordinator's API root; scopes (sessions, collections) are resolved there.
    coordinator_url: str = "http://127.0.0.1:8888/coordinator/api/v1/"
    #: Bearer token for the coordinator, when the gateway asks for one.
    coordinator_api_key: str | None = None
    #: ``local``: worker processes here. ``dask``: the same workers, with every job's map
    #: phase on the Dask cluster at ``dask_scheduler`` (notebooks stay on the warm
    #: workers). ``kubernetes``: one Kubernetes Job per analysis job.
    executor: Literal["local", "kubernetes", "dask"] = "local"
    #: The Dask scheduler (``tcp://host:8786``) for the ``dask`` executor and for jobs
    #: asking for ``mode: dask-futures``; unset: ``$NSIGHT_LAB_DASK_SCHEDULER``, else a
    #: local cluster per job.
    dask_scheduler: str | None = None
    #: Convert each report once, when it is registered (see docs/ANALYSIS.md).
    ingest: bool = True
    #: How often to ask the coordinator for reports not converted yet.
    ingest_poll_s: float = Field(2.0, gt=0)
    #: Longest one conversion may take before it is recorded as failed.
    ingest_timeout_s: float = Field(3600.0, gt=0)
    #: CPU niceness of conversion processes: background work, so that uploads and
    #: jobs on the same cores go first.
    ingest_nice: int = Field(10, ge=0, le=19)
    #: Lay each converted report out for the Timeline once and store it beside the trace
    #: (about 78 bytes per event); off: every Jupyter server lays reports out itself.
    ingest_layout: bool = True
    #: Local worker processes; each keeps one Jupyter kernel warm.
    workers: int = Field(2, ge=1, le=64)
    #: Reuse a long-lived kernel per worker; False runs papermill cold for every job.
    warm_kernel: bool = True
    #: Longest a single notebook cell may run.
    cell_timeout_s: float = Field(600.0, gt=0)
    #: How long a fresh worker may take to import the engine and start its kernel.
    worker_start_timeout_s: float = Field(120.0, gt=0)
    presign_expiry_s: int = Field(DEFAULT_EXPIRY_S, gt=0, le=7 * 24 * 3600)
    #: Upper bound of one ``logs?follow=true`` stream, so a stuck job cannot hold a
    #: connection forever.
    log_follow_max_s: float = Field(3600.0, gt=0)
    # --- Kubernetes executor ---------------------------------------------------------
    kubernetes_namespace: str = "nsight-lab"
    kubernetes_image: str = "ghcr.io/nsight-lab/nsight-lab:latest"
    kubernetes_service_account: str | None = None
    #: Secret holding ``storage-config.yaml`` for the job pods.
    kubernetes_storage_secret: str = "nsight-lab-storage"
    kubernetes_cpu: str = "1"
    kubernetes_memory: str = "4Gi"
    kubernetes_ttl_s: int = Field(3600, ge=0)
