"""The analysis service's Kubernetes executor against a real apiserver.

Each job becomes a Job; the kubelet stand-in runs the Job's Pod for real (the pod
entry point stages reports from MinIO, runs the recipe, stores outputs and
``result.json``) and reports its exit code, so the Job controller, the TTL controller
and the garbage collector of the real kube-controller-manager decide what the
executor then sees.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nsight_analysis.db import JobDB
from nsight_analysis.executors.base import ExecutorContext
from nsight_analysis.executors.kubernetes import JOB_LABEL, KubernetesExecutor, job_name
from nsight_analysis.service import AnalysisService
from nsight_analysis.settings import AnalysisSettings
from nsight_lab.analysis_models import JobInfo, JobState
from nsight_lab.cluster.api import Kube
from tests.support.kube_cluster import ControlPlane, wait_until
from tests.support.kube_operator import s3_secret
from tests.support.kubelet_stand_in import KubeletStandIn, RunningPod
from tests.support.minio import MinioServer

pytestmark = pytest.mark.kube
_buckets = itertools.count()


@pytest.fixture
def storage(
    minio_server: MinioServer, kube: Kube, namespace: str, fixtures_dir: Path
) -> dict[str, Any]:
    """A bucket with one good and one broken report, and the Secret job Pods mount."""
    bucket = f"kube-jobs-{next(_buckets)}"
    store = minio_server.s3_store(bucket)
    store.ensure_bucket()
    good = "sessions/s1/c1/cloverleaf.sqlite"
    broken = "sessions/s1/c1/truncated.sqlite"
    store.put_file(good, fixtures_dir / "nsys-sqlite" / "cloverleaf-a100.sqlite")
    store.put_bytes(broken, b"SQLite format 3\x00" + b"\x07" * 2048)
    s3_secret(kube, namespace, "job-storage", minio_server, bucket)
    return {"store": store, "good": good, "broken": broken}


@pytest.fixture
def settings(tmp_path: Path, namespace: str) -> AnalysisSettings:
    return AnalysisSettings(
        executor="kubernetes",
        db_path=tmp_path / "jobs.sqlite3",
        work_dir=tmp_path / "work",
        kubernetes_namespace=namespace,
        kubernetes_image="nsight-lab:test",
        kubernetes_storage_secret="job-storage",
        kubernetes_cpu="100m",
        kubernetes_memory="1Gi",
    )


@pytest.fixture
def executor(
    settings: AnalysisSettings, storage: dict[str, Any], kube: Kube
) -> Iterator[KubernetesExecutor]:
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    context = ExecutorContext(settings, JobDB(settings.db_path), storage["store"])
    runner = KubernetesExecutor(context, kube=kube)
    runner.POLL_S = 0.3
    runner.start()
    yield runner
    runner.stop()


@pytest.fixture
def jobs_stand_in(
    kube: Kube, kube_cluster: ControlPlane, tmp_path: Path
) -> Iterator[KubeletStandIn]:
    runner = KubeletStandIn(
        kube,
        tmp_path / "kubelet",
        api_server=kube_cluster.server,
        ca_file=kube_cluster.pki / "ca.crt",
    )
    yield runner
    runner.stop_all()


def queue(db: JobDB, reports: list[str]) -> JobInfo:
    return db.create(
        recipe="cuda_gpu_kern_sum",
        args={},
        options={
            "csv": False,
            "mode": "none",
            "filter_time": None,
            "filter_nvtx": None,
            "notebook": False,
        },
        tag="t",
        session_id="s1",
        collection_id=None,
        reports=reports,
    )


def job_pod(kube: Kube, namespace: str, job_id: str) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (
                pods := [
                    p
                    for p in kube.list(
                        "v1", "Pod", namespace, label_selector=f"{JOB_LABEL}={job_id}"
                    )
                    if p["spec"].get("nodeName")
                ]
            )
            and pods[0]
        ),
        60,
        f"the Pod of analysis job {job_id} to be scheduled",
    )


def run_to_end(stand_in: KubeletStandIn, pod: dict[str, Any]) -> tuple[RunningPod, list[int]]:
    running = stand_in.run(pod)
    codes = running.wait(240)
    stand_in.report_exit(running, codes)
    return running, codes


def final(db: JobDB, job_id: str, timeout: float = 60) -> JobInfo:
    return wait_until(
        lambda: (job := db.get(job_id)) and job.state.finished and job,
        timeout,
        f"job {job_id} to finish",
    )


def test_a_job_runs_as_a_kubernetes_job_and_its_result_reaches_the_table(
    executor: KubernetesExecutor,
    storage: dict[str, Any],
    kube: Kube,
    namespace: str,
    jobs_stand_in: KubeletStandIn,
) -> None:
    db = executor.context.db
    job = queue(db, [storage["good"], storage["broken"]])
    executor.wake()
    pod = job_pod(kube, namespace, job.job_id)
    assert db.get(job.job_id).worker == f"kubernetes:{job_name(job.job_id)}"
    running, codes = run_to_end(jobs_stand_in, pod)
    assert codes == [0], running.logs()
    done = final(db, job.job_id)
    assert done.state == JobState.SUCCEEDED, done.error
    # result.json's warnings name the broken report by its storage key.
    assert [w.file for w in done.warnings] == [storage["broken"]]
    outputs = {o.key.rsplit("/", 1)[-1] for o in storage["store"].list(f"analysis/{job.job_id}/")}
    assert "result.json" in outputs and any(name.endswith(".parquet") for name in outputs)


def test_a_failed_pod_fails_the_job_with_the_error_from_result_json(
    executor: KubernetesExecutor,
    storage: dict[str, Any],
    kube: Kube,
    namespace: str,
    jobs_stand_in: KubeletStandIn,
) -> None:
    db = executor.context.db
    job = queue(db, [storage["broken"]])
    executor.wake()
    _, codes = run_to_end(jobs_stand_in, job_pod(kube, namespace, job.job_id))
    assert codes == [1]
    done = final(db, job.job_id)
    assert done.state == JobState.FAILED
    assert "truncated.sqlite" in (done.error or "") and "/tmp" not in (done.error or "")


def test_a_job_deleted_by_hand_fails_with_the_reason(
    executor: KubernetesExecutor, storage: dict[str, Any], kube: Kube, namespace: str
) -> None:
    db = executor.context.db
    job = queue(db, [storage["good"]])
    executor.wake()
    job_pod(kube, namespace, job.job_id)
    kube.delete("batch/v1", "Job", job_name(job.job_id), namespace)
    done = final(db, job.job_id)
    assert done.state == JobState.FAILED
    assert "was deleted before it finished" in (done.error or "")


def test_a_job_removed_by_its_ttl_while_the_service_was_down_keeps_its_result(
    settings: AnalysisSettings, storage: dict[str, Any], kube: Kube, namespace: str,
    jobs_stand_in: KubeletStandIn, monkeypatch: pytest.MonkeyPatch, kube_cluster: ControlPlane,
) -> None:  # fmt: skip
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    settings = settings.model_copy(update={"kubernetes_ttl_s": 0})
    service = AnalysisService(settings, storage["store"])
    service.start()
    job = queue(service.db, [storage["good"]])
    service.executor.wake()
    pod = job_pod(kube, namespace, job.job_id)
    service.stop()
    # The service is down: the Pod finishes and the TTL controller deletes the Job.
    run_to_end(jobs_stand_in, pod)
    wait_until(
        lambda: kube.get("batch/v1", "Job", job_name(job.job_id), namespace) is None,
        60,
        "the TTL controller to delete the finished Job",
    )
    restarted = AnalysisService(settings, storage["store"])
    assert restarted.db.get(job.job_id).state == JobState.RUNNING, (
        "a restart must not fail cluster jobs"
    )
    restarted.start()
    try:
        assert final(restarted.db, job.job_id).state == JobState.SUCCEEDED
    finally:
        restarted.stop()


def test_a_restart_keeps_following_a_job_that_still_runs(
    settings: AnalysisSettings, storage: dict[str, Any], kube: Kube, namespace: str,
    jobs_stand_in: KubeletStandIn, monkeypatch: pytest.MonkeyPatch, kube_cluster: ControlPlane,
) -> None:  # fmt: skip
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    first = AnalysisService(settings, storage["store"])
    first.start()
    job = queue(first.db, [storage["good"]])
    first.executor.wake()
    pod = job_pod(kube, namespace, job.job_id)
    first.stop()
    second = AnalysisService(settings, storage["store"])
    second.start()
    try:
        assert second.db.get(job.job_id).state == JobState.RUNNING
        run_to_end(jobs_stand_in, pod)
        assert final(second.db, job.job_id).state == JobState.SUCCEEDED
    finally:
        second.stop()


def test_cancelling_deletes_the_job_and_its_pod(
    executor: KubernetesExecutor, storage: dict[str, Any], kube: Kube, namespace: str
) -> None:
    db = executor.context.db
    job = queue(db, [storage["good"]])
    executor.wake()
    job_pod(kube, namespace, job.job_id)
    db.finish(job.job_id, JobState.CANCELLED, error="cancelled by request")
    assert executor.cancel(job.job_id) is True
    wait_until(
        lambda: (
            not kube.list("v1", "Pod", namespace, label_selector=f"{JOB_LABEL}={job.job_id}")
            and kube.get("batch/v1", "Job", job_name(job.job_id), namespace) is None
        ),
        60,
        "the Job and its Pod to be deleted",
    )
    assert executor.cancel(job.job_id) is False
