"""NsightGateway: an Envoy Deployment whose bootstrap ``nsight_lab.gateway`` renders.

The operator never writes Envoy configuration itself: it resolves the spec's
Kubernetes references into what the renderer takes (mounted files for TLS, JWKS and
OAuth2 secrets, the API key inline), discovers the upstreams (the namespace's
coordinator, analysis service and UI), and calls :func:`render_bootstrap`. The
bootstrap holds API keys and the per-deployment secret, so it is stored in a Secret,
not a ConfigMap. Envoy reads a bootstrap only at start; its hash on the Pod template
rolls the Deployment whenever the rendered configuration changes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from nsight_lab.gateway import GatewaySpec, OidcEndpoints, Upstreams, render_bootstrap, to_yaml
from nsight_lab.gateway.spec import TLSFiles
from nsight_operator.builders.common import (
    Manifest,
    Owner,
    deployment,
    pod_security_context,
    restricted_security_context,
    secret,
    service,
)
from nsight_operator.builders.services import Images

COMPONENT = "gateway"
ENVOY_DIR = "/etc/nsight-lab/envoy"
TLS_DIR = "/etc/nsight-lab/tls"
JWKS_DIR = "/etc/nsight-lab/jwks"
OAUTH2_DIR = "/etc/nsight-lab/oauth2"
BOOTSTRAP_KEY = "envoy.yaml"
SHARED_SECRET_KEY = "secret"
#: The environment variable the services read the shared secret from.
SHARED_SECRET_ENV = "NSIGHT_LAB_GATEWAY_SECRET"
DEFAULT_JWKS_KEY = "jwks.json"
DEFAULT_APIKEY_KEY = "api-key"
CONFIG_HASH_ANNOTATION = "nsight-lab.io/config-hash"


def shared_secret_name(owner_name: str) -> str:
    return f"{owner_name}-shared-secret"


def bootstrap_secret_name(owner: Owner) -> str:
    return f"{owner.name}-envoy"


def new_shared_secret(owner: Owner) -> Manifest:
    """The per-deployment secret Envoy adds to every request; made once."""
    return secret(
        owner,
        shared_secret_name(owner.name),
        COMPONENT,
        {SHARED_SECRET_KEY: secrets.token_urlsafe(36)},
    )


@dataclass(frozen=True)
class Mounts:
    """Secrets the Envoy Pod mounts, so that ``*File`` settings point at real files."""

    tls_secret: str | None = None
    jwks_secret: str | None = None
    oauth2_secret: str | None = None


def with_files(
    spec: GatewaySpec, mounts: Mounts, *, jwks_key: str = DEFAULT_JWKS_KEY
) -> GatewaySpec:
    """``spec`` with its Secret references turned into the mounted files the renderer reads."""
    update: dict[str, Any] = {}
    if mounts.tls_secret:
        update["tls"] = TLSFiles(cert_file=f"{TLS_DIR}/tls.crt", key_file=f"{TLS_DIR}/tls.key")
    auth = spec.authentication
    auth_update: dict[str, Any] = {}
    if mounts.jwks_secret:
        auth_update["jwt"] = auth.jwt.model_copy(
            update={"jwks_file": f"{JWKS_DIR}/{jwks_key}", "jwks_secret_ref": None}
        )
    if mounts.oauth2_secret:
        auth_update["oauth2"] = auth.oauth2.model_copy(
            update={
                "client_secret_file": f"{OAUTH2_DIR}/client_secret.key",
                "hmac_file": f"{OAUTH2_DIR}/hmac.key",
                "client_secret_ref": None,
            }
        )
    if auth_update:
        update["authentication"] = auth.model_copy(update=auth_update)
    return spec.model_copy(update=update) if update else spec


def gateway_objects(
    spec: GatewaySpec,
    owner: Owner,
    *,
    upstreams: Upstreams,
    shared_secret: str,
    mounts: Mounts,
    images: Images,
    oidc: OidcEndpoints | None = None,
    listen_address: str = "0.0.0.0",
) -> list[Manifest]:
    """The bootstrap Secret, the Envoy Deployment and its Service."""
    bootstrap = to_yaml(
        render_bootstrap(spec, upstreams, shared_secret, oidc=oidc, listen_address=listen_address)
    )
    digest = hashlib.sha256(bootstrap.encode()).hexdigest()[:16]
    volumes: list[dict[str, Any]] = [
        {
            "name": "envoy",
            "secret": {"secretName": bootstrap_secret_name(owner), "defaultMode": 0o440},
        },
        {"name": "tmp", "emptyDir": {}},
    ]
    volume_mounts: list[dict[str, Any]] = [
        {"name": "envoy", "mountPath": ENVOY_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    for name, secret_name, path in (
        ("tls", mounts.tls_secret, TLS_DIR),
        ("jwks", mounts.jwks_secret, JWKS_DIR),
        ("oauth2", mounts.oauth2_secret, OAUTH2_DIR),
    ):
        if secret_name:
            volumes.append(
                {"name": name, "secret": {"secretName": secret_name, "defaultMode": 0o440}}
            )
            volume_mounts.append({"name": name, "mountPath": path, "readOnly": True})
    container: dict[str, Any] = {
        "name": "envoy",
        "image": images.default,
        **({"imagePullPolicy": images.pull_policy} if images.pull_policy else {}),
        "command": ["envoy"],
        "args": [
            "-c",
            f"{ENVOY_DIR}/{BOOTSTRAP_KEY}",
            "--log-level",
            "info",
            "--disable-hot-restart",
        ],
        "ports": [{"name": "http", "containerPort": spec.port}],
        "volumeMounts": volume_mounts,
        "securityContext": restricted_security_context(),
        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5},
        "livenessProbe": {
            "tcpSocket": {"port": "http"},
            "initialDelaySeconds": 10,
            "periodSeconds": 20,
        },
    }
    pod = {
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": volumes,
        "enableServiceLinks": False,
    }
    svc = service(
        owner,
        owner.name,
        COMPONENT,
        [{"name": "http", "port": spec.port, "targetPort": "http"}],
        service_type=spec.service.type,
    )
    return [
        secret(owner, bootstrap_secret_name(owner), COMPONENT, {BOOTSTRAP_KEY: bootstrap}),
        deployment(
            owner,
            owner.name,
            COMPONENT,
            pod,
            pod_annotations={CONFIG_HASH_ANNOTATION: digest},
        ),
        svc,
    ]


def gateway_url(spec: GatewaySpec, owner_name: str, namespace: str) -> str:
    """The gateway's address inside the cluster (what agents and the UI use)."""
    scheme = "https" if spec.tls_secret_ref is not None or spec.tls is not None else "http"
    return f"{scheme}://{owner_name}.{namespace}.svc:{spec.port}"
