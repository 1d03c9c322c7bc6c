"""A small dictionary-in, dictionary-out client for the Kubernetes API.

The operator, ``autoconfigure`` and the analysis service's Job executor all work with
manifests as plain dictionaries (what builders produce and YAML holds), and with
server-side apply, which the typed ``kubernetes`` client models poorly. This wraps
the ``kubernetes`` package's connection handling (kubeconfig, in-cluster service
account, TLS) and speaks REST for the handful of kinds nsight-lab touches, so no API
discovery round trips are needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from nsight_lab.cluster.resources import GROUP, all_kinds

FIELD_MANAGER = "nsight-lab-operator"


class KubeError(RuntimeError):
    """The API answered with an error; ``status`` is the HTTP status, message the API's own."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class ClusterUnavailable(RuntimeError):
    """No cluster configuration, or the ``kubernetes`` package is missing; says what to do."""


@dataclass(frozen=True)
class KindInfo:
    plural: str
    namespaced: bool = True


#: (apiVersion, kind) -> REST names, for the kinds nsight-lab reads or writes.
KINDS: dict[tuple[str, str], KindInfo] = {
    ("v1", "Namespace"): KindInfo("namespaces", namespaced=False),
    ("v1", "Node"): KindInfo("nodes", namespaced=False),
    ("v1", "Pod"): KindInfo("pods"),
    ("v1", "Service"): KindInfo("services"),
    ("v1", "Secret"): KindInfo("secrets"),
    ("v1", "ConfigMap"): KindInfo("configmaps"),
    ("v1", "ServiceAccount"): KindInfo("serviceaccounts"),
    ("v1", "PersistentVolumeClaim"): KindInfo("persistentvolumeclaims"),
    ("v1", "Event"): KindInfo("events"),
    ("apps/v1", "Deployment"): KindInfo("deployments"),
    ("apps/v1", "DaemonSet"): KindInfo("daemonsets"),
    ("batch/v1", "Job"): KindInfo("jobs"),
    ("rbac.authorization.k8s.io/v1", "Role"): KindInfo("roles"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): KindInfo("rolebindings"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): KindInfo("clusterroles", namespaced=False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): KindInfo(
        "clusterrolebindings", namespaced=False
    ),
    ("networking.k8s.io/v1", "NetworkPolicy"): KindInfo("networkpolicies"),
    ("coordination.k8s.io/v1", "Lease"): KindInfo("leases"),
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"): KindInfo(
        "mutatingwebhookconfigurations", namespaced=False
    ),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): KindInfo(
        "customresourcedefinitions", namespaced=False
    ),
}
for _kind in all_kinds():
    for _version in _kind.versions:
        KINDS[(f"{GROUP}/{_version}", _kind.kind)] = KindInfo(_kind.plural)


def path_of(
    api_version: str, kind: str, namespace: str | None = None, name: str | None = None
) -> str:
    """The REST path of a collection (no ``name``; every namespace's without ``namespace``)
    or of one object."""
    try:
        info = KINDS[(api_version, kind)]
    except KeyError:
        raise ValueError(
            f"nsight-lab does not know the REST path of {api_version} {kind}"
        ) from None
    root = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    parts = [root]
    if info.namespaced and namespace:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    elif info.namespaced and name is not None:
        raise ValueError(f"{kind} is namespaced: a namespace is needed")
    parts.append(info.plural)
    if name is not None:
        parts.append(quote(name, safe=""))
    return "/".join(parts)


class Kube:
    """REST calls over a ``kubernetes.client.ApiClient`` (see :func:`connect`)."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    # --- transport --------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        """One call; returns the decoded JSON answer, raises :class:`KubeError` on >= 400."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        params = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*params, _request_timeout=timeout)
        response.read()
        data = response.data or b""
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        if response.status >= 400:
            message = (decoded or {}).get("message") if isinstance(decoded, dict) else None
            reason = (decoded or {}).get("reason", "") if isinstance(decoded, dict) else ""
            raise KubeError(response.status, message or data.decode(errors="replace")[:500], reason)
        return decoded

    # --- verbs ------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", path_of(api_version, kind, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Any]:
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        answer = self.request("GET", path_of(api_version, kind, namespace), query=query)
        return list(answer.get("items") or [])

    def create(self, manifest: Mapping[str, Any], *, dry_run: bool = False) -> Any:
        meta = manifest["metadata"]
        path = path_of(manifest["apiVersion"], manifest["kind"], meta.get("namespace"))
        query = {"dryRun": "All"} if dry_run else None
        return self.request("POST", path, body=dict(manifest), query=query)

    def create_if_absent(self, manifest: Mapping[str, Any]) -> bool:
        """Create unless it exists (True when created); for objects made once, like keys."""
        try:
            self.create(manifest)
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def apply(
        self,
        manifest: Mapping[str, Any],
        *,
        field_manager: str = FIELD_MANAGER,
        force: bool = True,
        dry_run: bool = False,
    ) -> Any:
        """Server-side apply: creates, or brings the fields we own back to ``manifest``."""
        meta = manifest["metadata"]
        path = path_of(
            manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"]
        )
        query = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request(
            "PATCH",
            path,
            body=dict(manifest),
            query=query,
            content_type="application/apply-patch+yaml",
        )

    def merge_patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> Any:
        path = path_of(api_version, kind, namespace, name)
        if subresource:
            path += f"/{subresource}"
        return self.request(
            "PATCH", path, body=dict(patch), content_type="application/merge-patch+json"
        )

    def replace(self, manifest: Mapping[str, Any]) -> Any:
        """PUT (optimistic concurrency through ``metadata.resourceVersion``)."""
        meta = manifest["metadata"]
        path = path_of(
            manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"]
        )
        return self.request("PUT", path, body=dict(manifest))

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False when it was already gone."""
        try:
            self.request(
                "DELETE",
                path_of(api_version, kind, namespace, name),
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": propagation,
                },
            )
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def secret_data(self, name: str, namespace: str) -> dict[str, bytes] | None:
        """A Secret's decoded data, or None when it does not exist."""
        import base64

        found = self.get("v1", "Secret", name, namespace)
        if found is None:
            return None
        return {k: base64.b64decode(v) for k, v in (found.get("data") or {}).items()}


def connect(kubeconfig: str | None = None, context: str | None = None) -> Kube:
    """A client from the Pod's service account, else ``kubeconfig`` / ``$KUBECONFIG`` / ``~/.kube/config``."""
    try:
        from kubernetes import client, config
    except ImportError:
        raise ClusterUnavailable(
            "the Kubernetes client is not installed: pip install 'nsight-lab[cluster]'"
        ) from None
    configuration = client.Configuration()
    # Read $KUBECONFIG now: the kubernetes package reads it once, at its import.
    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    try:
        if kubeconfig is None and context is None:
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:
                config.load_kube_config(path, client_configuration=configuration)
        else:
            config.load_kube_config(path, context=context, client_configuration=configuration)
    except (config.ConfigException, OSError) as exc:
        raise ClusterUnavailable(
            f"no Kubernetes configuration found ({exc}); set KUBECONFIG or pass --kubeconfig"
        ) from None
    return Kube(client.ApiClient(configuration))


def iter_owned(objects: list[Any], uid: str) -> Iterator[Any]:
    """The objects whose ``ownerReferences`` name ``uid``."""
    for obj in objects:
        refs = obj.get("metadata", {}).get("ownerReferences") or []
        if any(ref.get("uid") == uid for ref in refs):
            yield obj
