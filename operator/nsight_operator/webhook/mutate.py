"""The injection itself: a Pod spec in, a JSON patch out (pure; no cluster access).

What an opted-in Pod gets:

- an emptyDir ``nsight-lab-agent`` and an init container (the nsight-lab image) that
  copies the agent, its ``sitecustomize`` bootstrap and py-spy into it;
- in each selected container: that volume, ``PYTHONPATH`` starting with the
  bootstrap, the ``NSIGHT_LAB_*`` settings (coordinator URL through the gateway,
  tag, instance from the downward API, the API key from a Secret, the profile
  config's collector, nsys arguments and include patterns), and SYS_PTRACE when
  py-spy may record;
- annotations saying it was injected, with which tool config, and the pre-flight.

Re-admission of an injected Pod (``reinvocationPolicy``, an update) changes nothing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nsight_lab.cluster.resources import ANNOTATION_PREFIX, ToolConfig
from nsight_operator.builders.common import restricted_security_context
from nsight_operator.webhook.preflight import Preflight, check

VOLUME = "nsight-lab-agent"
INIT_CONTAINER = "nsight-lab-agent-install"
INJECTED = ANNOTATION_PREFIX + "injected"
PREFLIGHT = ANNOTATION_PREFIX + "preflight"
TOOL_CONFIG = ANNOTATION_PREFIX + "tool-config"
PROFILE_CONFIG = ANNOTATION_PREFIX + "profile-config"
TAG = ANNOTATION_PREFIX + "tag"
CONTAINERS = ANNOTATION_PREFIX + "containers"
COLLECTOR = ANNOTATION_PREFIX + "collector"
#: Environment the injector owns; a container's own value for one of these is replaced.
POD_NAME_ENV = "NSIGHT_LAB_POD_NAME"


@dataclass(frozen=True)
class InjectionContext:
    """What the injector knows beyond the Pod: where agents go and how they authenticate."""

    coordinator_url: str
    image: str
    mount_path: str = "/nsight-lab"
    image_pull_policy: str | None = None
    #: (Secret name, key) in the Pod's namespace holding the gateway API key.
    api_key_secret: tuple[str, str] | None = None
    tool: ToolConfig | None = None
    tool_source: str = ""
    namespace_labels: Mapping[str, str] | None = None
    #: ``pod`` when the tool config's cloudStorageConfigRef names storage_type pod:
    #: agents keep reports in the injected volume and the coordinator relays them.
    report_storage: str = "upload"


def selected_containers(pod: Mapping[str, Any]) -> list[int]:
    """Indexes of the containers to profile (annotation ``nsight-lab.io/containers``, else all)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    wanted = ((pod.get("metadata") or {}).get("annotations") or {}).get(CONTAINERS)
    if not wanted:
        return list(range(len(containers)))
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    return [i for i, c in enumerate(containers) if c.get("name") in names]


def _collector(pod: Mapping[str, Any], tool: ToolConfig | None) -> str:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    chosen = annotations.get(COLLECTOR) or (tool.collector if tool else "auto")
    return chosen if chosen in ("auto", "nsys", "pyspy", "annotations") else "auto"


def _env_for(
    container: Mapping[str, Any],
    pod: Mapping[str, Any],
    ctx: InjectionContext,
    collector: str,
    multi: bool,
) -> list[dict[str, Any]]:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    tag = annotations.get(TAG) or (ctx.tool.tag if ctx.tool and ctx.tool.tag else "default")
    mount = ctx.mount_path
    instance = f"$({POD_NAME_ENV})" + (f"-{container.get('name')}" if multi else "")
    env: list[dict[str, Any]] = [
        {"name": POD_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NSIGHT_LAB_COORDINATOR_URL", "value": ctx.coordinator_url},
        {"name": "NSIGHT_LAB_TAG", "value": tag},
        {"name": "NSIGHT_LAB_INSTANCE", "value": instance},
        {"name": "NSIGHT_LAB_COLLECTOR", "value": collector},
        {"name": "NSIGHT_LAB_AGENT_PATH", "value": f"{mount}/python"},
        {"name": "NSIGHT_LAB_PYSPY", "value": f"{mount}/bin/py-spy"},
        {"name": "NSIGHT_LAB_SPOOL_ROOT", "value": f"{mount}/spool"},
    ]
    if ctx.report_storage == "pod":
        env += [
            {"name": "NSIGHT_LAB_REPORT_STORAGE", "value": "pod"},
            {"name": "NSIGHT_LAB_REPORT_DIR", "value": f"{mount}/reports"},
        ]
    if ctx.api_key_secret:
        name, key = ctx.api_key_secret
        env.append(
            {
                "name": "NSIGHT_LAB_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": name, "key": key}},
            }
        )
    if ctx.tool and ctx.tool.nsight_tool_args:
        env.append({"name": "NSIGHT_LAB_NSYS_ARGS", "value": ctx.tool.nsight_tool_args})
    if ctx.tool and ctx.tool.injection_include_patterns:
        env.append(
            {
                "name": "NSIGHT_LAB_INCLUDE_PATTERNS",
                "value": json.dumps(ctx.tool.injection_include_patterns),
            }
        )
    existing = {e.get("name"): e for e in container.get("env") or []}
    python_path = f"{mount}/bootstrap"
    own = existing.get("PYTHONPATH")
    if own and own.get("value"):
        python_path += ":" + own["value"]
    env.append({"name": "PYTHONPATH", "value": python_path})
    return env


def _merged_env(container: Mapping[str, Any], injected: Sequence[Mapping[str, Any]]) -> list[Any]:
    names = {e["name"] for e in injected}
    kept = [e for e in container.get("env") or [] if e.get("name") not in names]
    # The pod-name variable must precede the ones that expand it.
    return [injected[0], *kept, *injected[1:]]


def _security_context(container: Mapping[str, Any], add_ptrace: bool) -> dict[str, Any] | None:
    if not add_ptrace:
        return None
    ctx = copy.deepcopy(container.get("securityContext") or {})
    caps = ctx.setdefault("capabilities", {})
    add = list(caps.get("add") or [])
    if "SYS_PTRACE" not in add and "ALL" not in add:
        add.append("SYS_PTRACE")
    caps["add"] = add
    return ctx


def init_container(ctx: InjectionContext) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": INIT_CONTAINER,
        "image": ctx.image,
        "command": ["python", "-m", "nsight_lab.agent.install", ctx.mount_path],
        "volumeMounts": [{"name": VOLUME, "mountPath": ctx.mount_path}],
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": {**restricted_security_context(), "runAsUser": 10001},
    }
    if ctx.image_pull_policy:
        container["imagePullPolicy"] = ctx.image_pull_policy
    return container


def already_injected(pod: Mapping[str, Any]) -> bool:
    meta = pod.get("metadata") or {}
    if (meta.get("annotations") or {}).get(INJECTED) == "true":
        return True
    spec = pod.get("spec") or {}
    return any(c.get("name") == INIT_CONTAINER for c in spec.get("initContainers") or [])


def mutate(
    pod: Mapping[str, Any], ctx: InjectionContext
) -> tuple[list[dict[str, Any]], Preflight | None]:
    """The JSON patch that injects the agent into ``pod`` (empty when nothing is to do)."""
    if already_injected(pod):
        return [], None
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    indexes = selected_containers(pod)
    if not indexes:
        return [], None
    collector = _collector(pod, ctx.tool)
    preflight = check(
        pod,
        [containers[i] for i in indexes],
        collector=collector,
        namespace_labels=ctx.namespace_labels or {},
    )
    ops: list[dict[str, Any]] = []
    if "volumes" not in spec:
        ops.append({"op": "add", "path": "/spec/volumes", "value": []})
    ops.append({"op": "add", "path": "/spec/volumes/-", "value": {"name": VOLUME, "emptyDir": {}}})
    if "initContainers" not in spec:
        ops.append({"op": "add", "path": "/spec/initContainers", "value": []})
    # First, so that the agent's files exist before any other init container runs.
    ops.append({"op": "add", "path": "/spec/initContainers/0", "value": init_container(ctx)})
    multi = len(indexes) > 1
    for i in indexes:
        container = containers[i]
        base = f"/spec/containers/{i}"
        env = _env_for(container, pod, ctx, collector, multi)
        ops.append({"op": "add", "path": f"{base}/env", "value": _merged_env(container, env)})
        mount = {"name": VOLUME, "mountPath": ctx.mount_path}
        if "volumeMounts" not in container:
            ops.append({"op": "add", "path": f"{base}/volumeMounts", "value": [mount]})
        else:
            ops.append({"op": "add", "path": f"{base}/volumeMounts/-", "value": mount})
        security = _security_context(container, preflight.add_ptrace)
        if security is not None:
            ops.append({"op": "add", "path": f"{base}/securityContext", "value": security})
    annotations = dict((pod.get("metadata") or {}).get("annotations") or {})
    annotations[INJECTED] = "true"
    annotations[PREFLIGHT] = json.dumps(preflight.to_json(), sort_keys=True)
    if ctx.tool_source:
        annotations[TOOL_CONFIG] = ctx.tool_source
    ops.append({"op": "add", "path": "/metadata/annotations", "value": annotations})
    return ops, preflight


def apply_patch(pod: Mapping[str, Any], ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``pod`` with ``ops`` applied (the subset of RFC 6902 that :func:`mutate` emits)."""
    out: Any = copy.deepcopy(dict(pod))
    for op in ops:
        if op["op"] != "add":
            raise ValueError(f"unsupported patch op {op['op']!r}")
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]
        ]
        target = out
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        value = copy.deepcopy(op["value"])
        if isinstance(target, list):
            if last == "-":
                target.append(value)
            else:
                target.insert(int(last), value)
        else:
            target[last] = value
    return out


__all__ = ["InjectionContext", "apply_patch", "mutate"]
