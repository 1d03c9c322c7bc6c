"""NsightCloudStorageConfig: operator-managed MinIO, or a Secret describing external S3.

Either way the services end up mounting one Secret whose key ``storage-config.yaml``
is the same file ``nsight-lab up --storage-config`` reads, so a cluster and a laptop
are configured alike. MinIO's root credentials are generated once and kept in their
own Secret; the storage Secret is derived from them on every reconcile.
"""

from __future__ import annotations

import secrets
from typing import Any

import yaml

from nsight_lab.cluster.resources import DEFAULT_STORAGE_SECRET_KEY, CloudStorageConfigSpec
from nsight_operator.builders.common import (
    Manifest,
    Owner,
    claim,
    data_volume,
    deployment,
    env_secret,
    pod_security_context,
    resources,
    secret,
    service,
)

COMPONENT = "minio"
MINIO_PORT = 9000
MINIO_CONSOLE_PORT = 9001
ROOT_USER_KEY = "root-user"
ROOT_PASSWORD_KEY = "root-password"


def minio_name(owner: Owner) -> str:
    return f"{owner.name}-minio"


def credentials_secret_name(owner: Owner) -> str:
    return f"{owner.name}-minio-credentials"


def storage_secret_name(owner: Owner) -> str:
    """The Secret services mount (key ``storage-config.yaml``) for operator-made storage."""
    return f"{owner.name}-storage"


def minio_endpoint(owner: Owner) -> str:
    return f"http://{minio_name(owner)}.{owner.namespace}.svc:{MINIO_PORT}"


def new_credentials(owner: Owner) -> Manifest:
    """MinIO's root user and password: made once, never rewritten (create-if-absent)."""
    return secret(
        owner,
        credentials_secret_name(owner),
        COMPONENT,
        {
            ROOT_USER_KEY: "nsight-" + secrets.token_hex(6),
            ROOT_PASSWORD_KEY: secrets.token_urlsafe(30),
        },
    )


def storage_config_text(
    spec: CloudStorageConfigSpec, owner: Owner, user: str, password: str
) -> str:
    """``storage-config.yaml`` for the operator's MinIO."""
    return yaml.safe_dump(
        {
            "storage_type": "s3",
            "bucket_name": spec.bucket_name,
            "aws_access_key_id": user,
            "aws_secret_access_key": password,
            "region_name": "us-east-1",
            "endpoint_url": minio_endpoint(owner),
        },
        sort_keys=False,
    )


def local_config_text(spec: CloudStorageConfigSpec) -> str:
    """``storage-config.yaml`` for ``storage_type: local``: reports on the coordinator's volume."""
    return yaml.safe_dump(
        {"storage_type": "local", "local_cache_dir": spec.local_cache_dir}, sort_keys=False
    )


def minio_objects(
    spec: CloudStorageConfigSpec, owner: Owner, user: str, password: str
) -> list[Manifest]:
    """Deployment, Service, optional claim, and the derived storage Secret."""
    name = minio_name(owner)
    creds = credentials_secret_name(owner)
    container: dict[str, Any] = {
        "name": "minio",
        "image": spec.minio.image,
        "args": [
            "server",
            "/data",
            f"--address=:{MINIO_PORT}",
            f"--console-address=:{MINIO_CONSOLE_PORT}",
        ],
        "env": [
            env_secret("MINIO_ROOT_USER", creds, ROOT_USER_KEY),
            env_secret("MINIO_ROOT_PASSWORD", creds, ROOT_PASSWORD_KEY),
            {"name": "MINIO_BROWSER", "value": "off"},
            {"name": "MINIO_UPDATE", "value": "off"},
        ],
        "ports": [{"name": "s3", "containerPort": MINIO_PORT}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {
            "httpGet": {"path": "/minio/health/ready", "port": "s3"},
            "periodSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": {"path": "/minio/health/live", "port": "s3"},
            "initialDelaySeconds": 10,
            "periodSeconds": 20,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if res := resources(spec.minio.resources):
        container["resources"] = res
    pod: dict[str, Any] = {
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": [data_volume(owner, name, spec.minio.persistence)],
    }
    objects: list[Manifest] = [
        deployment(owner, name, COMPONENT, pod, recreate=True),
        service(
            owner,
            name,
            COMPONENT,
            [{"name": "s3", "port": MINIO_PORT, "targetPort": "s3"}],
        ),
        secret(
            owner,
            storage_secret_name(owner),
            "storage",
            {DEFAULT_STORAGE_SECRET_KEY: storage_config_text(spec, owner, user, password)},
        ),
    ]
    if spec.minio.persistence.enabled:
        objects.append(claim(owner, name, COMPONENT, spec.minio.persistence))
    return objects


def local_objects(spec: CloudStorageConfigSpec, owner: Owner) -> list[Manifest]:
    return [
        secret(
            owner,
            storage_secret_name(owner),
            "storage",
            {DEFAULT_STORAGE_SECRET_KEY: local_config_text(spec)},
        )
    ]
