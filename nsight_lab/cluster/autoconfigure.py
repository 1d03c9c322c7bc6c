"""``autoconfigure``: from a cluster's gateway to a ready CLI configuration.

Reads the gateway's Service (its type decides the URL: a port-forward for ClusterIP,
a node address and node port for NodePort, the load balancer's address), the
NsightGateway behind it (the auth mode; the API key from its Secret; the OIDC issuer
and client for ``login``; TLS and the ``ca.crt`` of its Secret), and where reports are
stored (operator-managed MinIO is reached through a port-forward of its Service for
ClusterIP gateways). Everything here works on objects fetched through
:class:`~nsight_lab.cluster.api.Kube`; starting port-forwards is
:mod:`nsight_lab.cluster.port_forward`'s job.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from nsight_lab.cluster.api import Kube
from nsight_lab.cluster.resources import (
    DEFAULT_GATEWAY_SERVICE,
    CloudStorageConfigSpec,
    CoordinatorSpec,
    Kinds,
)
from nsight_lab.config import AuthSettings, CliConfig
from nsight_lab.gateway.spec import GatewaySpec

DEFAULT_APIKEY_KEY = "api-key"
MINIO_PORT = 9000


class AutoconfigureError(RuntimeError):
    """The cluster does not describe a usable gateway; the message says what to check."""


@dataclass(frozen=True)
class PortForward:
    """One ``kubectl port-forward`` to keep running for later commands."""

    namespace: str
    service: str
    remote_port: int
    local_port: int

    def command(
        self, kubectl: str = "kubectl", kubeconfig: str | None = None, context: str | None = None
    ) -> list[str]:
        argv = [kubectl]
        if kubeconfig:
            argv += ["--kubeconfig", kubeconfig]
        if context:
            argv += ["--context", context]
        return [
            *argv,
            "port-forward",
            "-n",
            self.namespace,
            f"svc/{self.service}",
            f"{self.local_port}:{self.remote_port}",
            "--address",
            "127.0.0.1",
        ]


@dataclass
class Discovery:
    config: CliConfig
    service_type: str
    auth_mode: str
    port_forwards: list[PortForward] = field(default_factory=list)
    ca_pem: bytes | None = None
    #: Things the user should know or do next, one sentence each.
    notes: list[str] = field(default_factory=list)


def free_local_port(preferred: int) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise AutoconfigureError("no free local port for the port-forward")


def _gateway_for(kube: Kube, namespace: str, service: Mapping[str, Any]) -> tuple[str, GatewaySpec]:
    kind = Kinds.GATEWAY
    name = service["metadata"]["name"]
    for ref in service["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == kind.kind:
            name = ref["name"]
    found = kube.get(kind.api_version, kind.kind, name, namespace)
    if found is None:
        items = kube.list(kind.api_version, kind.kind, namespace)
        if len(items) != 1:
            names = ", ".join(i["metadata"]["name"] for i in items) or "none"
            raise AutoconfigureError(
                f"no NsightGateway named {name!r} in {namespace} (found: {names}); "
                "pass the gateway's Service with -s"
            )
        found = items[0]
    try:
        return found["metadata"]["name"], GatewaySpec.model_validate(found.get("spec") or {})
    except ValidationError as exc:
        raise AutoconfigureError(
            f"NsightGateway {found['metadata']['name']} is invalid: {exc}"
        ) from None


def _node_address(kube: Kube) -> str:
    nodes = kube.list("v1", "Node")
    for wanted in ("ExternalIP", "InternalIP", "Hostname"):
        for node in nodes:
            for address in (node.get("status") or {}).get("addresses") or []:
                if address.get("type") == wanted and address.get("address"):
                    return str(address["address"])
    raise AutoconfigureError("the cluster lists no node addresses: a NodePort gateway needs one")


def _http_port(service: Mapping[str, Any]) -> Mapping[str, Any]:
    ports = (service.get("spec") or {}).get("ports") or []
    if not ports:
        raise AutoconfigureError(f"Service {service['metadata']['name']} exposes no port")
    return next((p for p in ports if p.get("name") == "http"), ports[0])


def _api_key(kube: Kube, namespace: str, spec: GatewaySpec, notes: list[str]) -> str | None:
    apikey = spec.authentication.apikey
    if apikey.key:
        return apikey.key
    if apikey.key_secret_ref is not None:
        ref = apikey.key_secret_ref
        data = kube.secret_data(ref.name, namespace)
        key = (data or {}).get(ref.key or DEFAULT_APIKEY_KEY)
        if not key:
            raise AutoconfigureError(
                f"the gateway's API key Secret {ref.name} (key {ref.key or DEFAULT_APIKEY_KEY}) "
                f"is missing or empty in {namespace}"
            )
        return key.decode().strip()
    inline = [k for k in apikey.keys if k.key]
    if inline:
        notes.append(f"using API key {inline[0].client!r} of {len(apikey.keys)}")
        return inline[0].key
    raise AutoconfigureError(
        "the gateway takes API keys from files inside its Pod; configure yours with "
        "`nsight-lab configure --gw URL --apikey ...`"
    )


def _storage_forward(
    kube: Kube, namespace: str, local_port: Callable[[int], int]
) -> tuple[str, PortForward] | None:
    """For operator-managed MinIO: the in-cluster host presigned URLs name, and its forward."""
    coordinators = kube.list(Kinds.COORDINATOR.api_version, Kinds.COORDINATOR.kind, namespace)
    storage_names = set()
    for item in coordinators:
        ref = CoordinatorSpec.model_validate(item.get("spec") or {}).cloud_storage_ref
        if ref:
            storage_names.add(ref)
    for item in kube.list(Kinds.STORAGE.api_version, Kinds.STORAGE.kind, namespace):
        name = item["metadata"]["name"]
        if storage_names and name not in storage_names:
            continue
        spec = CloudStorageConfigSpec.model_validate(item.get("spec") or {})
        if spec.storage_type == "s3" and spec.secret_ref is None and spec.minio.enabled:
            service = f"{name}-minio"
            host = f"{service}.{namespace}.svc:{MINIO_PORT}"
            return host, PortForward(namespace, service, MINIO_PORT, local_port(MINIO_PORT))
    return None


def discover(
    kube: Kube,
    namespace: str,
    service_name: str = DEFAULT_GATEWAY_SERVICE,
    *,
    base: CliConfig | None = None,
    local_port: Callable[[int], int] = free_local_port,
) -> Discovery:
    """What the CLI needs to talk to the gateway ``service_name`` in ``namespace``."""
    service = kube.get("v1", "Service", service_name, namespace)
    if service is None:
        candidates = [
            s["metadata"]["name"]
            for s in kube.list(
                "v1", "Service", namespace, label_selector="app.kubernetes.io/component=gateway"
            )
        ]
        hint = f"; gateways there: {', '.join(candidates)} (pass one with -s)" if candidates else ""
        raise AutoconfigureError(f"no Service {service_name!r} in namespace {namespace}{hint}")
    gateway_name, spec = _gateway_for(kube, namespace, service)
    port = _http_port(service)
    svc_type = (service.get("spec") or {}).get("type", "ClusterIP")
    scheme = "https" if spec.tls_secret_ref is not None else "http"
    notes: list[str] = []
    forwards: list[PortForward] = []
    if svc_type == "LoadBalancer":
        ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if not ingress:
            raise AutoconfigureError(
                f"Service {service_name} has no load-balancer address yet; wait for it "
                f"(kubectl get svc {service_name} -n {namespace} -w) and run autoconfigure again"
            )
        host = ingress[0].get("hostname") or ingress[0].get("ip")
        url = f"{scheme}://{_bracket(host)}:{port['port']}"
    elif svc_type == "NodePort":
        node_port = port.get("nodePort")
        if not node_port:
            raise AutoconfigureError(f"Service {service_name} has no node port assigned yet")
        url = f"{scheme}://{_bracket(_node_address(kube))}:{node_port}"
    else:
        forward = PortForward(
            namespace, service_name, int(port["port"]), local_port(int(port["port"]))
        )
        forwards.append(forward)
        url = f"{scheme}://127.0.0.1:{forward.local_port}"
        if scheme == "https":
            notes.append("over the port-forward the gateway's certificate must also name 127.0.0.1")
    auth = AuthSettings()
    modes = spec.authentication.modes
    if "apikey" in modes:
        auth = AuthSettings(apikey=_api_key(kube, namespace, spec, notes))
    elif "oauth2" in modes:
        oauth2 = spec.authentication.oauth2
        auth = AuthSettings(
            issuer=oauth2.issuer,
            clientid=oauth2.client_id,
            oauth_flow_type="code",
            authorization_endpoint=oauth2.authorization_endpoint,
            token_endpoint=oauth2.token_endpoint,
        )
        notes.append("log in with: nsight-lab login")
    elif "jwt" in modes:
        auth = AuthSettings(issuer=spec.authentication.jwt.issuer)
        notes.append(
            f"the gateway accepts JWTs issued by {spec.authentication.jwt.issuer}; "
            "get one from your identity provider and pass it as NSIGHT_API_KEY"
        )
    else:
        notes.append("the gateway accepts requests without authentication (development only)")
    ca_pem = None
    if spec.tls_secret_ref is not None:
        data = kube.secret_data(spec.tls_secret_ref.name, namespace) or {}
        ca_pem = data.get("ca.crt")
        if ca_pem is None:
            notes.append(
                f"TLS Secret {spec.tls_secret_ref.name} has no ca.crt: the certificate must be "
                "trusted by this machine already"
            )
    proxies: dict[str, str] = {}
    storage = _storage_forward(kube, namespace, local_port)
    if storage is not None:
        host, forward = storage
        if svc_type == "ClusterIP":
            forwards.append(forward)
            proxies[host] = f"http://127.0.0.1:{forward.local_port}"
        else:
            notes.append(
                f"reports are in the operator's MinIO ({host}), which is reachable inside the "
                "cluster only; downloads need a route to it"
            )
    base = base or CliConfig()
    config = base.model_copy(
        update={
            "gw": url,
            "auth": auth,
            "ca_cert": None,
            "storage_proxies": proxies,
            "port_forwards": [],
            "autoconfigured_from": f"{namespace}/{service_name} ({gateway_name})",
        }
    )
    return Discovery(
        config=config,
        service_type=svc_type,
        auth_mode="+".join(modes) or "none",
        port_forwards=forwards,
        ca_pem=ca_pem,
        notes=notes,
    )


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
