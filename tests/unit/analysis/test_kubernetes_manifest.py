"""The Kubernetes Job built for an analysis job (the cluster round trip is tested with the Kubernetes issue)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from nsight_analysis.executors.kubernetes import build_job_manifest, job_name, job_state_of
from nsight_analysis.settings import AnalysisSettings
from nsight_lab.analysis_models import JobInfo, JobState


def _job() -> JobInfo:
    return JobInfo(
        job_id="ABCDEF0123456789",
        recipe="cuda_gpu_kern_sum",
        args={"base": True},
        tag="t",
        session_id="s1",
        state=JobState.RUNNING,
        created_at=datetime.now(timezone.utc),
        reports=["sessions/s1/c1/a.sqlite"],
        output_prefix="analysis/ABCDEF0123456789/",
    )


def test_the_manifest_runs_the_pod_entry_point_with_the_job_and_the_storage_secret() -> None:
    settings = AnalysisSettings(
        kubernetes_namespace="lab",
        kubernetes_image="img:1",
        kubernetes_service_account="runner",
        kubernetes_storage_secret="store",
    )
    manifest = build_job_manifest(_job(), settings)
    assert manifest["metadata"] == {
        "name": "nsight-analysis-abcdef0123456789",
        "namespace": "lab",
        "labels": manifest["spec"]["template"]["metadata"]["labels"],
    }
    spec = manifest["spec"]
    assert spec["backoffLimit"] == 0 and spec["ttlSecondsAfterFinished"] == 3600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "runner"
    assert pod["volumes"] == [{"name": "storage-config", "secret": {"secretName": "store"}}]
    (container,) = pod["containers"]
    assert container["image"] == "img:1"
    assert container["command"] == ["python", "-m", "nsight_analysis.executors.pod"]
    env = {e["name"]: e["value"] for e in container["env"]}
    request = json.loads(env["NSIGHT_LAB_ANALYSIS_JOB"])
    assert request["recipe"] == "cuda_gpu_kern_sum" and request["reports"] == [
        "sessions/s1/c1/a.sqlite"
    ]
    assert env["NSIGHT_LAB_STORAGE_CONFIG"].startswith(container["volumeMounts"][0]["mountPath"])
    assert container["securityContext"]["runAsNonRoot"] is True


def test_names_are_valid_dns_labels_and_statuses_map_to_final_states() -> None:
    assert len(job_name("x" * 100)) == 63
    assert job_state_of({"active": 1}) is None
    assert job_state_of({"succeeded": 1}) == JobState.SUCCEEDED
    assert job_state_of({"failed": 1}) == JobState.FAILED
