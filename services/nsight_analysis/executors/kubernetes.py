"""Jobs as Kubernetes Jobs: one pod per analysis job, submitted with the ``kubernetes`` client.

The pod runs ``python -m nsight_analysis.executors.pod`` (the same stage -> run ->
upload steps as a local worker, in a container that mounts the storage Secret), so
a job's outputs land in ``analysis/<job-id>/`` whichever executor ran it. The
service claims queued jobs in FIFO order, submits one Job each, and a watcher
thread maps the Jobs' status back into the job table; cancelling deletes the Job
with foreground propagation, which kills its pod.

What a job learns comes from two places: the Job's status says whether the pod
ended well, the pod's ``result.json`` in storage says what it found (warnings, the
error). A Job that disappears before it finished (deleted by hand, or by its TTL
while the service was down) ends its job as failed with that reason, unless its
``result.json`` shows it completed. Jobs still running when the service restarts are
picked up again, not failed. Each job's worker is ``kubernetes:<job name>``.

:func:`build_job_manifest` is pure and unit-tested; the submit/watch path is tested
against a real kube-apiserver (tests/integration/kube).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from nsight_analysis.db import output_prefix
from nsight_analysis.executors.base import CANCELLED_REASON, Executor, ExecutorContext
from nsight_analysis.executors.pod import RESULT_NAME
from nsight_analysis.settings import AnalysisSettings
from nsight_lab.analysis_models import JobInfo, JobState, JobWarning
from nsight_lab.storage.base import ObjectNotFound, StorageError

log = logging.getLogger("nsight_analysis.kubernetes")

JOB_LABEL = "nsight-lab.io/analysis-job"
WORKER_PREFIX = "kubernetes:"
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
        # The pod reads storage through its mounted Secret; it needs no API access.
        "automountServiceAccountToken": False,
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
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return JobState.SUCCEEDED
        if cond.get("type") == "Failed":
            return JobState.FAILED
    if status.get("succeeded"):
        return JobState.SUCCEEDED
    if status.get("failed"):
        return JobState.FAILED
    return None


def failure_reason(status: dict[str, Any]) -> str:
    """Why Kubernetes says the Job failed (deadline, pod failure), in a sentence."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            reason = cond.get("reason") or "Failed"
            message = cond.get("message") or ""
            return f"{reason}: {message}".rstrip(": ")
    return "the analysis pod failed"


class KubernetesExecutor(Executor):
    """Submits queued jobs as Kubernetes Jobs and follows them to the end."""

    POLL_S = 2.0

    def __init__(self, context: ExecutorContext, kube: Any = None) -> None:
        super().__init__(context)
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="analysis-kubernetes", daemon=True)
        self._kube = kube

    def kube(self) -> Any:
        """The API client (the Pod's service account in a cluster, else the kubeconfig)."""
        if self._kube is None:
            from nsight_lab.cluster.api import connect

            self._kube = connect()
        return self._kube

    @property
    def namespace(self) -> str:
        return self.context.settings.kubernetes_namespace

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
        return bool(
            self.kube().delete(
                "batch/v1", "Job", job_name(job_id), self.namespace, propagation="Foreground"
            )
        )

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
        from nsight_lab.cluster.api import KubeError

        db = self.context.db
        while (job := db.claim_next(WORKER_PREFIX)) is not None:
            manifest = build_job_manifest(job, self.context.settings)
            name = manifest["metadata"]["name"]
            db.set_worker(job.job_id, WORKER_PREFIX + name)
            try:
                self.kube().create(manifest)
            except KubeError as exc:
                if exc.status != 409:  # 409: submitted before a crash; follow that one
                    db.finish(
                        job.job_id,
                        JobState.FAILED,
                        error=f"cannot create the Kubernetes Job: {exc}",
                    )
                    continue
            self.context.log(job.job_id, f"submitted Kubernetes Job {name} in {self.namespace}")

    def _result(self, job_id: str) -> dict[str, Any] | None:
        """The pod's ``result.json``, or None when it wrote none (or it is unreadable)."""
        try:
            with self.context.store.open_read(output_prefix(job_id) + RESULT_NAME) as stream:
                data = json.loads(stream.read())
        except ObjectNotFound:
            return None
        except (StorageError, ValueError) as exc:
            log.warning("analysis job %s: unreadable %s: %s", job_id, RESULT_NAME, exc)
            return None
        return data if isinstance(data, dict) else None

    def _finish(
        self, job: JobInfo, state: JobState, error: str | None, result: dict[str, Any] | None
    ) -> None:
        warnings = [
            JobWarning(file=str(w.get("file", "")), problem=str(w.get("problem", "")))
            for w in (result or {}).get("warnings") or []
            if isinstance(w, dict)
        ]
        self.context.log(job.job_id, f"{state.value}: {error}" if error else state.value)
        self.context.db.finish(job.job_id, state, error=error, warnings=warnings)

    def _collect_finished(self) -> None:
        for job in self.context.db.list_jobs(state=JobState.RUNNING):
            if not (job.worker or "").startswith(WORKER_PREFIX):
                continue
            name = job_name(job.job_id)
            found = self.kube().get("batch/v1", "Job", name, self.namespace)
            if found is None:
                result = self._result(job.job_id)
                if result is not None and result.get("ok"):
                    self._finish(job, JobState.SUCCEEDED, None, result)
                elif result is not None:
                    self._finish(
                        job, JobState.FAILED, str(result.get("error") or "the job failed"), result
                    )
                else:
                    self._finish(
                        job,
                        JobState.FAILED,
                        f"the Kubernetes Job {name} was deleted before it finished (by hand, or by "
                        "its TTL while the analysis service was down); submit the job again",
                        None,
                    )
                continue
            status = found.get("status") or {}
            state = job_state_of(status)
            if state is None:
                continue
            result = self._result(job.job_id)
            if state == JobState.SUCCEEDED and (result is None or result.get("ok")):
                self._finish(job, JobState.SUCCEEDED, None, result)
            elif result is not None and result.get("error"):
                self._finish(job, JobState.FAILED, str(result["error"]), result)
            else:
                self._finish(
                    job,
                    JobState.FAILED,
                    f"{failure_reason(status)} (Kubernetes Job {name}; see the job log)",
                    result,
                )


__all__ = [
    "CANCELLED_REASON",
    "WORKER_PREFIX",
    "KubernetesExecutor",
    "build_job_manifest",
    "failure_reason",
    "job_name",
    "job_state_of",
]
