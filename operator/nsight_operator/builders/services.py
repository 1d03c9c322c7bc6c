"""NsightCoordinator, NsightAnalysis and NsightCloudUI as Deployments and Services.

All three run the one nsight-lab image with a different entry point, mount the
storage Secret at ``/etc/nsight-lab/storage`` and keep state under
``/var/lib/nsight-lab`` (an emptyDir, or a claim with ``persistence.enabled``).
The coordinator and the analysis service keep SQLite state, so each runs one
replica with the Recreate strategy: two writers on one file would corrupt it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from nsight_lab.cluster.resources import AnalysisSpec, CloudUISpec, CoordinatorSpec
from nsight_operator.builders.common import (
    DATA_MOUNT,
    STORAGE_FILE,
    STORAGE_MOUNT,
    Manifest,
    Owner,
    claim,
    data_volume,
    deployment,
    env_field,
    env_secret,
    env_value,
    image_fields,
    metadata,
    pod_security_context,
    resources,
    restricted_security_context,
    secret,
    service,
    tcp_probes,
)

SIGNING_KEY = "signing-key"


@dataclass(frozen=True)
class Images:
    default: str
    pull_policy: str | None = None


@dataclass(frozen=True)
class GatewayTrust:
    """The gateway in front of a service: its shared secret, and the prefix it routes by."""

    env_name: str
    secret_name: str
    secret_key: str
    #: The service's gateway prefix without the trailing slash (``/coordinator``), so
    #: the URLs it builds carry it (uvicorn's ``--root-path``).
    root_path: str = ""


def service_url(owner: Owner, port: int) -> str:
    return f"http://{owner.name}.{owner.namespace}.svc:{port}"


def _storage_volume(storage_secret: str) -> dict[str, Any]:
    return {"name": "storage", "secret": {"secretName": storage_secret, "defaultMode": 0o440}}


def _common_pod(
    containers: list[dict[str, Any]], volumes: list[dict[str, Any]], node_selector: dict[str, str]
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "securityContext": pod_security_context(),
        "containers": containers,
        "volumes": [*volumes, {"name": "tmp", "emptyDir": {}}],
        "enableServiceLinks": False,
    }
    if node_selector:
        pod["nodeSelector"] = dict(node_selector)
    return pod


def _mounts(storage: bool = True) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": "data", "mountPath": DATA_MOUNT},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if storage:
        mounts.append({"name": "storage", "mountPath": STORAGE_MOUNT, "readOnly": True})
    return mounts


def _http_workload(
    owner: Owner,
    component: str,
    spec: CoordinatorSpec | AnalysisSpec | CloudUISpec,
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
    *,
    recreate: bool,
) -> list[Manifest]:
    """Deployment, Service and (with persistence) the data claim of one HTTP service."""
    container["ports"] = [{"name": "http", "containerPort": spec.port}]
    container["securityContext"] = restricted_security_context()
    container.update(tcp_probes("http"))
    if res := resources(spec.resources):
        container["resources"] = res
    data = data_volume(owner, f"{owner.name}-data", spec.persistence)
    pod = _common_pod([container], [data, *volumes], spec.node_selector)
    objects = [
        deployment(owner, owner.name, component, pod, recreate=recreate),
        service(
            owner,
            owner.name,
            component,
            [{"name": "http", "port": spec.port, "targetPort": "http"}],
        ),
    ]
    if spec.persistence.enabled:
        objects.append(claim(owner, f"{owner.name}-data", component, spec.persistence))
    return objects


def _trust_env(trust: GatewayTrust | None) -> list[dict[str, Any]]:
    if trust is None:
        return []
    return [env_secret(trust.env_name, trust.secret_name, trust.secret_key)]


def _server_args(
    spec: CoordinatorSpec | AnalysisSpec, listen: str, trust: GatewayTrust | None
) -> list[str]:
    args = [
        f"--host={listen}",
        f"--port={spec.port}",
        f"--data-dir={DATA_MOUNT}",
        f"--storage-config={STORAGE_FILE}",
        f"--log-level={spec.log_level}",
    ]
    if trust is not None and trust.root_path:
        args.append(f"--root-path={trust.root_path}")
    return args


# --- coordinator -----------------------------------------------------------------------


def signing_key_secret_name(owner: Owner) -> str:
    return f"{owner.name}-signing-key"


def new_signing_key(owner: Owner) -> Manifest:
    """The key that signs URLs of ``storage_type: local``; made once (create-if-absent)."""
    return secret(
        owner, signing_key_secret_name(owner), "coordinator", {SIGNING_KEY: secrets.token_hex(32)}
    )


def coordinator_objects(
    spec: CoordinatorSpec,
    owner: Owner,
    *,
    storage_secret: str,
    create_bucket: bool,
    images: Images,
    trust: GatewayTrust | None = None,
    listen: str = "0.0.0.0",
) -> list[Manifest]:
    args = _server_args(spec, listen, trust)
    if create_bucket:
        args.append("--create-bucket")
    container: dict[str, Any] = {
        "name": "coordinator",
        **image_fields(spec, images.default, images.pull_policy),
        "command": ["python", "-m", "nsight_coordinator"],
        "args": args,
        "env": [
            env_value("HOME", DATA_MOUNT),
            env_secret("NSIGHT_LAB_SIGNING_KEY", signing_key_secret_name(owner), SIGNING_KEY),
            env_value("NSIGHT_LAB_COORDINATOR_AGENT_EXPIRY_S", str(spec.agent_expiry_seconds)),
            env_value(
                "NSIGHT_LAB_COORDINATOR_HEARTBEAT_INTERVAL_S",
                str(min(5.0, spec.agent_expiry_seconds / 3)),
            ),
            *_trust_env(trust),
        ],
        "volumeMounts": _mounts(),
    }
    return _http_workload(
        owner, "coordinator", spec, container, [_storage_volume(storage_secret)], recreate=True
    )


# --- analysis --------------------------------------------------------------------------


def analysis_objects(
    spec: AnalysisSpec,
    owner: Owner,
    *,
    storage_secret: str,
    coordinator_url: str,
    images: Images,
    trust: GatewayTrust | None = None,
    listen: str = "0.0.0.0",
) -> list[Manifest]:
    """The service, plus the ServiceAccount and Role that let it run jobs as Kubernetes Jobs."""
    image = image_fields(spec, images.default, images.pull_policy)
    env = [
        env_value("HOME", DATA_MOUNT),
        env_value("NSIGHT_LAB_ANALYSIS_EXECUTOR", spec.executor),
        env_value("NSIGHT_LAB_ANALYSIS_COORDINATOR_URL", coordinator_url),
        env_value("NSIGHT_LAB_ANALYSIS_WORKERS", str(spec.workers)),
        env_field("NSIGHT_LAB_ANALYSIS_KUBERNETES_NAMESPACE", "metadata.namespace"),
        env_value("NSIGHT_LAB_ANALYSIS_KUBERNETES_IMAGE", image["image"]),
        env_value("NSIGHT_LAB_ANALYSIS_KUBERNETES_STORAGE_SECRET", storage_secret),
        env_value("NSIGHT_LAB_ANALYSIS_KUBERNETES_TTL_S", str(spec.job_ttl_seconds)),
        *_trust_env(trust),
    ]
    for key, name in (("cpu", "CPU"), ("memory", "MEMORY")):
        value = spec.job_resources.requests.get(key) or spec.job_resources.limits.get(key)
        if value:
            env.append(env_value(f"NSIGHT_LAB_ANALYSIS_KUBERNETES_{name}", value))
    container: dict[str, Any] = {
        "name": "analysis",
        **image,
        "command": ["python", "-m", "nsight_analysis"],
        "args": _server_args(spec, listen, trust),
        "env": env,
        "volumeMounts": _mounts(),
    }
    workload = _http_workload(
        owner, "analysis", spec, container, [_storage_volume(storage_secret)], recreate=True
    )
    pod = workload[0]["spec"]["template"]["spec"]
    pod["serviceAccountName"] = owner.name
    objects: list[Manifest] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(owner, owner.name, "analysis"),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata(owner, owner.name, "analysis"),
            "rules": [
                {
                    "apiGroups": ["batch"],
                    "resources": ["jobs"],
                    "verbs": ["create", "get", "list", "watch", "delete"],
                },
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata(owner, owner.name, "analysis"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": owner.name,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": owner.name, "namespace": owner.namespace}
            ],
        },
        *workload,
    ]
    return objects


# --- JupyterLab ----------------------------------------------------------------------


def cloud_ui_objects(
    spec: CloudUISpec,
    owner: Owner,
    *,
    gateway_url: str | None,
    images: Images,
    api_key_secret: tuple[str, str] | None = None,
    listen: str = "0.0.0.0",
) -> list[Manifest]:
    """JupyterLab with the nsight-lab extension; the gateway authenticates users in front of it."""
    env: list[dict[str, Any]] = [
        env_value("HOME", DATA_MOUNT),
        env_value("NSIGHT_CLOUD_CONF", f"{DATA_MOUNT}/.nsight-cloud.conf"),
    ]
    if gateway_url:
        env.append(env_value("NSIGHT_LAB_GW", gateway_url))
    if api_key_secret:
        env.append(env_secret("NSIGHT_API_KEY", *api_key_secret))
    container: dict[str, Any] = {
        "name": "jupyterlab",
        **image_fields(spec, images.default, images.pull_policy),
        "command": ["jupyter", "lab"],
        "args": [
            f"--ip={listen}",
            f"--port={spec.port}",
            "--no-browser",
            f"--notebook-dir={DATA_MOUNT}",
            # The gateway in front authenticates; the Service is not exposed otherwise.
            "--IdentityProvider.token=",
            "--ServerApp.allow_remote_access=True",
        ],
        "env": env,
        "volumeMounts": _mounts(storage=False),
    }
    return _http_workload(owner, "ui", spec, container, [], recreate=spec.persistence.enabled)
