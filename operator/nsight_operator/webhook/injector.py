"""Deciding, for one admitted Pod, whether and how to inject: the cluster-reading half.

:mod:`.mutate` is pure; this gathers what it needs: the Namespace's labels (opt-in
and Pod Security level), the selected NsightOperatorProfileConfig and tool config,
the coordinator URL agents use, and the agent's API key Secret in the Pod's namespace
(copied there from the gateway's key, since a Pod can only read Secrets of its own
namespace). Anything it cannot resolve becomes an admission warning and the Pod is
admitted unchanged: a broken injector must never block workloads.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from nsight_lab.cluster.api import Kube, KubeError
from nsight_lab.cluster.resources import (
    DEFAULT_PROFILE_CONFIG,
    PROFILE_ENABLED,
    PROFILE_LABEL,
    Kinds,
    ProfileConfigSpec,
    ToolConfig,
)
from nsight_operator.settings import OperatorSettings
from nsight_operator.webhook.mutate import PROFILE_CONFIG, TOOL_CONFIG, InjectionContext, mutate

log = logging.getLogger("nsight_operator.webhook")

AGENT_SECRET = "nsight-lab-agent-credentials"
AGENT_SECRET_KEY = "api-key"
CACHE_S = 5.0


@dataclass
class Decision:
    patch: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Side effect to run when the request is not a dry run (e.g. the agent's Secret).
    after: list[Callable[[], None]] = field(default_factory=list)


@dataclass(frozen=True)
class AgentAuth:
    """Where agents' credentials come from: the gateway's API key Secret."""

    secret_name: str
    secret_namespace: str
    key: str


class Injector:
    def __init__(
        self,
        kube: Kube,
        settings: OperatorSettings,
        *,
        coordinator_url: Callable[[], str | None] | None = None,
        agent_auth: Callable[[], AgentAuth | None] | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self._coordinator_url = coordinator_url or (lambda: settings.agent_coordinator_url)
        self._agent_auth = agent_auth or (lambda: None)
        self._ns_cache: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        now = time.monotonic()
        with self._lock:
            hit = self._ns_cache.get(namespace)
            if hit and now - hit[0] < CACHE_S:
                return hit[1]
        found = self.kube.get("v1", "Namespace", namespace)
        labels = dict(((found or {}).get("metadata") or {}).get("labels") or {})
        with self._lock:
            self._ns_cache[namespace] = (now, labels)
        return labels

    @staticmethod
    def opted_in(pod: Mapping[str, Any], namespace_labels: Mapping[str, str]) -> bool:
        pod_label = ((pod.get("metadata") or {}).get("labels") or {}).get(PROFILE_LABEL)
        if pod_label is not None:
            return pod_label == PROFILE_ENABLED
        return namespace_labels.get(PROFILE_LABEL) == PROFILE_ENABLED

    def tool_config(
        self, pod: Mapping[str, Any], namespace: str, warnings: list[str]
    ) -> tuple[ToolConfig | None, str]:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        name = annotations.get(PROFILE_CONFIG) or DEFAULT_PROFILE_CONFIG
        explicit = PROFILE_CONFIG in annotations
        kind = Kinds.PROFILE_CONFIG
        found = None
        for ns in dict.fromkeys((namespace, self.settings.namespace)):
            found = self.kube.get(kind.api_version, kind.kind, name, ns)
            if found is not None:
                break
        if found is None:
            if explicit:
                warnings.append(
                    f"nsight-lab: NsightOperatorProfileConfig {name!r} not found in {namespace} "
                    f"or {self.settings.namespace}; injected with default settings"
                )
            return None, ""
        try:
            spec = ProfileConfigSpec.model_validate(found.get("spec") or {})
        except ValidationError as exc:
            warnings.append(
                f"nsight-lab: NsightOperatorProfileConfig {name!r} is invalid ({exc}); defaults used"
            )
            return None, ""
        if not spec.nsight_tool_configs:
            return None, name
        wanted = annotations.get(TOOL_CONFIG)
        if wanted:
            for tool in spec.nsight_tool_configs:
                if tool.name == wanted:
                    return tool, f"{found['metadata']['namespace']}/{name}/{tool.name}"
            warnings.append(
                f"nsight-lab: tool config {wanted!r} not in {name}; "
                f"using {spec.nsight_tool_configs[0].name!r}"
            )
        tool = spec.nsight_tool_configs[0]
        return tool, f"{found['metadata']['namespace']}/{name}/{tool.name}"

    def report_storage(self, tool: ToolConfig | None, namespace: str, warnings: list[str]) -> str:
        """``pod`` when the tool config names a storage_type pod NsightCloudStorageConfig."""
        if tool is None or not tool.cloud_storage_config_ref:
            return "upload"
        kind = Kinds.STORAGE
        found = self.kube.get(kind.api_version, kind.kind, tool.cloud_storage_config_ref, namespace)
        if found is None:
            warnings.append(
                f"nsight-lab: tool config {tool.name!r} names NsightCloudStorageConfig "
                f"{tool.cloud_storage_config_ref!r}, not found in {namespace}; reports are uploaded"
            )
            return "upload"
        spec = found.get("spec") or {}
        return (
            "pod" if spec.get("storage_type") == "pod" and spec.get("enabled", True) else "upload"
        )

    def decide(self, pod: Mapping[str, Any], namespace: str) -> Decision:
        decision = Decision()
        labels = self.namespace_labels(namespace)
        if not self.opted_in(pod, labels):
            return decision
        url = self._coordinator_url()
        if not url:
            decision.warnings.append(
                f"nsight-lab: not injected: no NsightGateway in {self.settings.gateway_namespace or self.settings.namespace} "
                "to send agents to (or set the chart value injector.coordinatorUrl)"
            )
            return decision
        tool, source = self.tool_config(pod, namespace, decision.warnings)
        report_storage = self.report_storage(tool, namespace, decision.warnings)
        auth = self._agent_auth()
        ctx = InjectionContext(
            coordinator_url=url,
            image=self.settings.image,
            mount_path=self.settings.agent_mount_path,
            image_pull_policy=self.settings.image_pull_policy,
            api_key_secret=(AGENT_SECRET, AGENT_SECRET_KEY) if auth else None,
            tool=tool,
            tool_source=source,
            namespace_labels=labels,
            report_storage=report_storage,
        )
        decision.patch, preflight = mutate(pod, ctx)
        if preflight is not None:
            for name, check in preflight.collectors.items():
                if not check.ok and (preflight.collector in (name, "auto")):
                    decision.warnings.append(
                        f"nsight-lab: {name} cannot record here ({'; '.join(check.missing)}): {check.fix}"
                    )
        if decision.patch and auth:
            decision.after.append(lambda: self.ensure_agent_secret(namespace, auth))
        return decision

    def ensure_agent_secret(self, namespace: str, auth: AgentAuth) -> None:
        """Copy the gateway's API key into the Pod's namespace (a Pod reads only its own)."""
        data = self.kube.secret_data(auth.secret_name, auth.secret_namespace) or {}
        key = data.get(auth.key)
        if not key:
            log.warning(
                "gateway key Secret %s/%s has no %s",
                auth.secret_namespace,
                auth.secret_name,
                auth.key,
            )
            return
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": AGENT_SECRET,
                "namespace": namespace,
                "labels": {
                    "app.kubernetes.io/part-of": "nsight-lab",
                    "app.kubernetes.io/component": "agent",
                },
            },
            "type": "Opaque",
            "data": {AGENT_SECRET_KEY: base64.b64encode(key).decode()},
        }
        try:
            self.kube.apply(body)
        except KubeError as exc:
            log.warning("cannot write %s/%s: %s", namespace, AGENT_SECRET, exc)
