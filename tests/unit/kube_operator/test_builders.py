"""The objects each resource turns into: names, owners, mounts, commands, RBAC."""

from __future__ import annotations

from typing import Any

import yaml

from nsight_lab.cluster.resources import AnalysisSpec, CloudStorageConfigSpec, CoordinatorSpec
from nsight_lab.storage.config import parse_storage_config
from nsight_operator.builders import services as svc
from nsight_operator.builders import storage as st
from nsight_operator.builders.common import Owner

OWNER = Owner("nvidia.com/v1alpha1", "NsightCoordinator", "coord", "lab", "uid-1")
IMAGES = svc.Images("nsight-lab:1")


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects}


def test_every_object_is_owned_by_its_resource_so_deletion_cleans_up() -> None:
    objects = svc.coordinator_objects(
        CoordinatorSpec(), OWNER, storage_secret="s", create_bucket=False, images=IMAGES
    )
    for obj in objects:
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref == {
            "apiVersion": "nvidia.com/v1alpha1",
            "kind": "NsightCoordinator",
            "name": "coord",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert obj["metadata"]["namespace"] == "lab"
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "nsight-lab-operator"


def test_the_coordinator_runs_its_entry_point_on_the_mounted_storage_config() -> None:
    objects = by_kind(
        svc.coordinator_objects(
            CoordinatorSpec(port=9090),
            OWNER,
            storage_secret="store",
            create_bucket=True,
            images=IMAGES,
        )
    )
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert objects["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "nsight_coordinator"]
    assert "--storage-config=/etc/nsight-lab/storage/storage-config.yaml" in container["args"]
    assert "--port=9090" in container["args"] and "--create-bucket" in container["args"]
    assert {"name": "storage", "secret": {"secretName": "store", "defaultMode": 0o440}} in pod[
        "volumes"
    ]
    assert {"name": "data", "emptyDir": {}} in pod["volumes"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert objects["Service"]["spec"]["ports"] == [
        {"name": "http", "port": 9090, "targetPort": "http"}
    ]
    assert "PersistentVolumeClaim" not in objects


def test_persistence_gives_the_state_a_claim() -> None:
    spec = CoordinatorSpec.model_validate(
        {"persistence": {"enabled": True, "storageClassName": "fast", "size": "5Gi"}}
    )
    objects = by_kind(
        svc.coordinator_objects(spec, OWNER, storage_secret="s", create_bucket=False, images=IMAGES)
    )
    claim = objects["PersistentVolumeClaim"]
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"] == {"requests": {"storage": "5Gi"}}
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "coord-data"}} in pod["volumes"]


def test_the_analysis_service_may_run_jobs_and_nothing_else() -> None:
    owner = Owner("nvidia.com/v1alpha1", "NsightAnalysis", "ana", "lab", "uid-2")
    spec = AnalysisSpec.model_validate(
        {"jobResources": {"requests": {"cpu": "2", "memory": "8Gi"}}}
    )
    objects = by_kind(
        svc.analysis_objects(
            spec, owner, storage_secret="store", coordinator_url="http://c/api/v1/", images=IMAGES
        )
    )
    rules = objects["Role"]["rules"]
    assert {
        "apiGroups": ["batch"],
        "resources": ["jobs"],
        "verbs": ["create", "get", "list", "watch", "delete"],
    } in rules
    assert all(r["apiGroups"] in (["batch"], [""]) for r in rules)
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "ana"
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["containers"][0]["env"]}
    assert env["NSIGHT_LAB_ANALYSIS_EXECUTOR"] == "kubernetes"
    assert env["NSIGHT_LAB_ANALYSIS_KUBERNETES_STORAGE_SECRET"] == "store"
    assert env["NSIGHT_LAB_ANALYSIS_KUBERNETES_NAMESPACE"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert env["NSIGHT_LAB_ANALYSIS_KUBERNETES_CPU"] == "2"
    assert env["NSIGHT_LAB_ANALYSIS_KUBERNETES_MEMORY"] == "8Gi"


def test_operator_minio_gets_a_storage_config_the_services_accept() -> None:
    owner = Owner("nvidia.com/v1alpha1", "NsightCloudStorageConfig", "store", "lab", "uid-3")
    spec = CloudStorageConfigSpec.model_validate({"minio": {"persistence": {"enabled": True}}})
    objects = st.minio_objects(spec, owner, "user", "password")
    secret = next(o for o in objects if o["kind"] == "Secret")
    config = parse_storage_config(yaml.safe_load(secret["stringData"]["storage-config.yaml"]))
    assert config.endpoint_url == "http://store-minio.lab.svc:9000"
    assert config.aws_access_key_id == "user" and config.bucket_name == "nsight-reports"
    kinds = {o["kind"] for o in objects}
    assert kinds == {"Deployment", "Service", "Secret", "PersistentVolumeClaim"}
    env = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]["env"]
    assert {
        "name": "MINIO_ROOT_USER",
        "valueFrom": {"secretKeyRef": {"name": "store-minio-credentials", "key": "root-user"}},
    } in env


def test_new_credentials_are_random_each_time() -> None:
    owner = Owner("nvidia.com/v1alpha1", "NsightCloudStorageConfig", "store", "lab", "uid-3")
    a, b = st.new_credentials(owner), st.new_credentials(owner)
    assert a["stringData"] != b["stringData"]
    assert len(a["stringData"]["root-password"]) >= 32
