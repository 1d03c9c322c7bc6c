"""Labels, owner references and container defaults every built object shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nsight_lab import __version__
from nsight_lab.cluster.resources import Persistence, Resources, Workload

MANAGED_BY = "nsight-lab-operator"
PART_OF = "nsight-lab"
DEFAULT_IMAGE = f"ghcr.io/nsight-lab/nsight-lab:{__version__}"
#: Where services find ``storage-config.yaml`` (a Secret volume).
STORAGE_MOUNT = "/etc/nsight-lab/storage"
STORAGE_FILE = f"{STORAGE_MOUNT}/storage-config.yaml"
DATA_MOUNT = "/var/lib/nsight-lab"
#: The user the image runs as (Dockerfile), so volumes are writable without root.
RUN_AS_USER = 10001

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Owner:
    """The custom resource a built object belongs to (deleted with it, by the garbage collector)."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str
    generation: int = 1
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Owner:
        meta = body["metadata"]
        return cls(
            api_version=body["apiVersion"],
            kind=body["kind"],
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
            generation=int(meta.get("generation") or 1),
            labels=dict(meta.get("labels") or {}),
        )

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def labels(owner: Owner, component: str) -> dict[str, str]:
    """The recommended labels; ``selector_labels`` is the stable subset Deployments select on."""
    return {
        **selector_labels(owner, component),
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/version": __version__,
    }


def selector_labels(owner: Owner, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": PART_OF,
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": component,
    }


def metadata(owner: Owner, name: str, component: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels(owner, component),
        "ownerReferences": [owner.reference()],
        **extra,
    }


def restricted_security_context() -> dict[str, Any]:
    """The Pod Security Standards' ``restricted`` profile for our own containers."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(spec: Resources) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.requests:
        out["requests"] = dict(spec.requests)
    if spec.limits:
        out["limits"] = dict(spec.limits)
    return out


def image_fields(spec: Workload, default_image: str, pull_policy: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"image": spec.image or default_image}
    policy = spec.image_pull_policy or pull_policy
    if policy:
        out["imagePullPolicy"] = policy
    return out


def tcp_probes(port_name: str) -> dict[str, Any]:
    """TCP probes: they need no credentials, so they work whatever the auth mode."""
    return {
        "readinessProbe": {
            "tcpSocket": {"port": port_name},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "tcpSocket": {"port": port_name},
            "initialDelaySeconds": 10,
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
    }


def data_volume(owner: Owner, name: str, persistence: Persistence) -> dict[str, Any]:
    if persistence.enabled:
        return {"name": "data", "persistentVolumeClaim": {"claimName": name}}
    return {"name": "data", "emptyDir": {}}


def claim(owner: Owner, name: str, component: str, persistence: Persistence) -> Manifest:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": persistence.size}},
    }
    if persistence.storage_class_name:
        spec["storageClassName"] = persistence.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        # A claim outlives its resource only by choice: it is owned like the rest.
        "metadata": metadata(owner, name, component),
        "spec": spec,
    }


def service(
    owner: Owner,
    name: str,
    component: str,
    ports: list[dict[str, Any]],
    *,
    service_type: str = "ClusterIP",
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    meta = metadata(owner, name, component)
    if annotations:
        meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": service_type,
            "selector": selector_labels(owner, component),
            "ports": ports,
        },
    }


def deployment(
    owner: Owner,
    name: str,
    component: str,
    pod_spec: dict[str, Any],
    *,
    replicas: int = 1,
    recreate: bool = False,
    pod_annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """A Deployment; ``recreate`` for single-writer services (SQLite state, one volume)."""
    template_meta: dict[str, Any] = {"labels": labels(owner, component)}
    if pod_annotations:
        template_meta["annotations"] = dict(pod_annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(owner, name, component),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector_labels(owner, component)},
            "strategy": {"type": "Recreate"} if recreate else {"type": "RollingUpdate"},
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


def secret(
    owner: Owner, name: str, component: str, string_data: Mapping[str, str], **extra: Any
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(owner, name, component),
        "type": "Opaque",
        "stringData": dict(string_data),
        **extra,
    }


def config_map(owner: Owner, name: str, component: str, data: Mapping[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(owner, name, component),
        "data": dict(data),
    }


def env_value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def env_secret(name: str, secret_name: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret_name, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def env_field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}
