"""Jobs as Kubernetes Jobs: one pod per analysis job, submitted with the ``kubernetes`` client.

The pod runs ``python -m nsight_analysis.executors.pod`` (the same stage -> run ->
upload steps as a local worker, in a container that mounts the storage Secret), so
a job's outputs land in ``analysis/<job-id>/`` whichever executor ran it. The
service claims queued jobs in FIFO order, submits one Job each, and a watcher
thread maps the Jobs' status back into the job table; cancelling deletes the Job
with foreground propagation, which kills its pod.

:func:`build_job_manifest` is pure and unit-tested; the submit/watch path needs a
cluster and is tested with the Kubernetes issue's control plane.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from nsight_analysis.executors.base import CANCELLED_REASON, Executor, ExecutorContext
from nsight_analysis.settings import AnalysisSettings
from nsight_lab.analysis_models import JobInfo, JobState

log = logging.getLogger("nsight_analysis.kubernetes")

JOB_LABEL = "nsight-lab.io/analysis-job"
STORAGE_MOUNT = "/etc/nsight-lab/storage"


def job_name(job_id: str) -> str:
    """DNS-1123 name for the Kubernetes Job of ``job_id``."""
    return f"nsight-analysis-{job_id.lower()}"[:63]


def job_request(job: JobInfo) -> dict[str, Any]:
    """What the pod needs to run the job, passed as one JSON env var."""
    return {
        "job_id": job.job_id,
        "recipe": job.recipe,
        "args": job.args,
        "reports": job.reports,
        "csv": job.csv,
        "mode": job.mode,
        "filter_time": job.filter_time,
        "filter_nvtx": job.filter_nvtx,
        "filter_projected_nvtx": job.filter_projected_nvtx,
        "notebook": job.notebook,
    }


def build_job_manifest(job: JobInfo, settings: AnalysisSettings) -> dict[str, Any]:
    """The ``batch/v1`` Job that runs ``job`` in the cluster."""
    name = job_name(job.job_id)
    labels = {
        "app.kubernetes.io/name": "nsight-lab",
        "app.kubernetes.io/component": "analysis-job",
        JOB_LABEL: job.job_id,
    }
    container: dict[str, Any] = {
        "name": "analysis",
        "image": settings.kubernetes_image,
        "command": ["python", "-m", "nsight_analysis.executors.pod"],
        "env": [
            {"name": "NSIGHT_LAB_ANALYSIS_JOB", "value": json.dumps(job_request(job))},
            {"name": "NSIGHT_LAB_STORAGE_CONFIG", "value": f"{STORAGE_MOUNT}/storage-config.yaml"},
        ],
        "resources": {
            "requests": {"cpu": settings.kubernetes_cpu, "memory": settings.kubernetes_memory},
            "limits": {"memory": settings.kubernetes_memory},
        },
        "volumeMounts": [{"name": "storage-config", "mountPath": STORAGE_MOUNT, "readOnly": True}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [
            {"name": "storage-config", "secret": {"secretName": settings.kubernetes_storage_secret}}
        ],
    }
    if settings.kubernetes_service_account:
        pod_spec["serviceAccountName"] = settings.kubernetes_service_account
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": settings.kubernetes_namespace, "labels": labels},
        "spec": {
            # A failed analysis is reported, not retried: reruns are the user's call.
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": settings.kubernetes_ttl_s,
            "activeDeadlineSeconds": int(settings.cell_timeout_s * 4),
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def job_state_of(status: dict[str, Any]) -> JobState | None:
    """A Kubernetes Job's status as a final job state; None while it runs."""
    if status.get("succeeded"):
        return JobState.SUCCEEDED
    if status.get("failed"):
        return JobState.FAILED
    return None


class KubernetesExecutor(Executor):
    """Submits queued jobs as Kubernetes Jobs and follows them to the end."""

    POLL_S = 2.0

    def __init__(self, context: ExecutorContext) -> None:
        super().__init__(context)
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="analysis-kubernetes", daemon=True)
        self._api: Any = None

    def _batch(self) -> Any:
        if self._api is None:
            from kubernetes import client, config

            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
            self._api = client.BatchV1Api()
        return self._api

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # Jobs keep running in the cluster; the next service picks their results up.
        self._stopping.set()
        self._wake.set()
        self._thread.join(10)

    def wake(self) -> None:
        self._wake.set()

    def cancel(self, job_id: str) -> bool:
        from kubernetes.client import V1DeleteOptions
        from kubernetes.client.exceptions import ApiException

        try:
            self._batch().delete_namespaced_job(
                job_name(job_id),
                self.context.settings.kubernetes_namespace,
                body=V1DeleteOptions(propagation_policy="Foreground"),
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._submit_queued()
                self._collect_finished()
            except Exception:
                log.exception("kubernetes executor pass failed; retrying")
            self._wake.wait(self.POLL_S)
            self._wake.clear()

    def _submit_queued(self) -> None:
        while (job := self.context.db.claim_next(f"kubernetes:{job_name('')}")) is not None:
            manifest = build_job_manifest(job, self.context.settings)
            try:
                self._batch().create_namespaced_job(
                    self.context.settings.kubernetes_namespace, manifest
                )
            except Exception as exc:
                self.context.db.finish(
                    job.job_id, JobState.FAILED, error=f"cannot create the Kubernetes Job: {exc}"
                )
                continue
            self.context.log(job.job_id, f"submitted Kubernetes Job {manifest['metadata']['name']}")

    def _collect_finished(self) -> None:
        ns = self.context.settings.kubernetes_namespace
        for job in self.context.db.list_jobs(state=JobState.RUNNING):
            if not (job.worker or "").startswith("kubernetes:"):
                continue
            found = self._batch().read_namespaced_job_status(job_name(job.job_id), ns)
            status = found.status.to_dict() if found.status else {}
            state = job_state_of(status)
            if state is None:
                continue
            error = None if state == JobState.SUCCEEDED else "the analysis pod failed; see its log"
            self.context.db.finish(job.job_id, state, error=error)


__all__ = [
    "CANCELLED_REASON",
    "KubernetesExecutor",
    "build_job_manifest",
    "job_name",
    "job_state_of",
]
