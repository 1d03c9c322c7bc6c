"""What the injector does to a Pod spec: init container, volume, environment, capabilities."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch  # type: ignore[import-untyped]
import pytest

from nsight_lab.cluster.resources import ToolConfig
from nsight_operator.webhook.mutate import (
    INIT_CONTAINER,
    INJECTED,
    PREFLIGHT,
    VOLUME,
    InjectionContext,
    apply_patch,
    mutate,
)

URL = "http://gw.nsight.svc:8888/coordinator/api/v1/"


def pod(**annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "trainer-",
            "labels": {"nvidia-nsight-profile": "enabled"},
            "annotations": dict(annotations),
        },
        "spec": {
            "containers": [
                {
                    "name": "train",
                    "image": "pytorch:2",
                    "command": ["python", "train.py"],
                    "env": [
                        {"name": "PYTHONPATH", "value": "/app"},
                        {"name": "KEEP", "value": "1"},
                    ],
                },
                {"name": "sidecar", "image": "busybox"},
            ]
        },
    }


def ctx(**kwargs: Any) -> InjectionContext:
    return InjectionContext(coordinator_url=URL, image="nsight-lab:1", **kwargs)


def injected(p: dict[str, Any], c: InjectionContext) -> dict[str, Any]:
    ops, _ = mutate(p, c)
    out = apply_patch(p, ops)
    # Our applier agrees with a real RFC 6902 implementation.
    assert out == jsonpatch.apply_patch(copy.deepcopy(p), ops)
    return out


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_agent_is_copied_by_a_first_init_container_into_a_shared_volume() -> None:
    out = injected(pod(), ctx())
    spec = out["spec"]
    assert {"name": VOLUME, "emptyDir": {}} in spec["volumes"]
    init = spec["initContainers"][0]
    assert init["name"] == INIT_CONTAINER and init["image"] == "nsight-lab:1"
    assert init["command"] == ["python", "-m", "nsight_lab.agent.install", "/nsight-lab"]
    for container in spec["containers"]:
        assert {"name": VOLUME, "mountPath": "/nsight-lab"} in container["volumeMounts"]


def test_each_container_gets_the_agent_settings_and_keeps_its_own() -> None:
    out = injected(pod(**{"nsight-lab.io/tag": "trainers"}), ctx())
    train, sidecar = out["spec"]["containers"]
    env = env_of(train)
    assert env["NSIGHT_LAB_COORDINATOR_URL"] == URL
    assert env["NSIGHT_LAB_TAG"] == "trainers"
    assert env["KEEP"] == "1"
    # PYTHONPATH starts with the bootstrap and keeps the container's own entries.
    assert env["PYTHONPATH"] == "/nsight-lab/bootstrap:/app"
    assert env["NSIGHT_LAB_AGENT_PATH"] == "/nsight-lab/python"
    # The instance comes from the downward API, declared before it is expanded.
    names = [e["name"] for e in train["env"]]
    assert names[0] == "NSIGHT_LAB_POD_NAME"
    assert env["NSIGHT_LAB_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["NSIGHT_LAB_INSTANCE"] == "$(NSIGHT_LAB_POD_NAME)-train"
    assert env_of(sidecar)["NSIGHT_LAB_INSTANCE"] == "$(NSIGHT_LAB_POD_NAME)-sidecar"
    assert env_of(sidecar)["PYTHONPATH"] == "/nsight-lab/bootstrap"


def test_the_api_key_comes_from_a_secret_never_from_the_spec() -> None:
    out = injected(pod(), ctx(api_key_secret=("agent-creds", "api-key")))
    env = env_of(out["spec"]["containers"][0])
    assert env["NSIGHT_LAB_API_KEY"] == {"secretKeyRef": {"name": "agent-creds", "key": "api-key"}}


def test_the_profile_config_sets_collector_nsys_arguments_and_include_patterns() -> None:
    tool = ToolConfig(
        name="gpu",
        collector="nsys",
        nsight_tool_args="-t cuda,nvtx --sample=none",
        injection_include_patterns=["train\\.py"],
    )
    out = injected(pod(), ctx(tool=tool, tool_source="ns/default-profile-config/gpu"))
    env = env_of(out["spec"]["containers"][0])
    assert env["NSIGHT_LAB_COLLECTOR"] == "nsys"
    assert env["NSIGHT_LAB_NSYS_ARGS"] == "-t cuda,nvtx --sample=none"
    assert json.loads(env["NSIGHT_LAB_INCLUDE_PATTERNS"]) == ["train\\.py"]
    assert (
        out["metadata"]["annotations"]["nsight-lab.io/tool-config"]
        == "ns/default-profile-config/gpu"
    )
    # nsys does not attach to the process: no extra capability.
    assert "securityContext" not in out["spec"]["containers"][0]


def test_pod_report_storage_keeps_reports_in_the_injected_volume() -> None:
    env = env_of(injected(pod(), ctx(report_storage="pod"))["spec"]["containers"][0])
    assert env["NSIGHT_LAB_REPORT_STORAGE"] == "pod"
    assert env["NSIGHT_LAB_REPORT_DIR"] == "/nsight-lab/reports"
    plain = env_of(injected(pod(), ctx())["spec"]["containers"][0])
    assert "NSIGHT_LAB_REPORT_STORAGE" not in plain and "NSIGHT_LAB_REPORT_DIR" not in plain


@pytest.mark.parametrize("collector", ["pyspy", "auto"])
def test_sys_ptrace_is_added_only_when_py_spy_may_record(collector: str) -> None:
    out = injected(pod(**{"nsight-lab.io/collector": collector}), ctx())
    for container in out["spec"]["containers"]:
        assert container["securityContext"]["capabilities"]["add"] == ["SYS_PTRACE"]
    plain = injected(pod(**{"nsight-lab.io/collector": "annotations"}), ctx())
    assert all("securityContext" not in c for c in plain["spec"]["containers"])


def test_a_restricted_namespace_gets_no_capability_and_a_preflight_saying_why() -> None:
    out = injected(
        pod(**{"nsight-lab.io/collector": "pyspy"}),
        ctx(namespace_labels={"pod-security.kubernetes.io/enforce": "restricted"}),
    )
    assert all("securityContext" not in c for c in out["spec"]["containers"])
    preflight = json.loads(out["metadata"]["annotations"][PREFLIGHT])
    pyspy = preflight["collectors"]["pyspy"]
    assert pyspy["ok"] is False
    assert "restricted" in pyspy["missing"][0]
    assert "pod-security.kubernetes.io/enforce=privileged" in pyspy["fix"]


def test_only_the_named_containers_are_profiled() -> None:
    out = injected(pod(**{"nsight-lab.io/containers": "train"}), ctx())
    train, sidecar = out["spec"]["containers"]
    assert any(e["name"] == "NSIGHT_LAB_COORDINATOR_URL" for e in train["env"])
    assert "env" not in sidecar and "volumeMounts" not in sidecar
    assert env_of(train)["NSIGHT_LAB_INSTANCE"] == "$(NSIGHT_LAB_POD_NAME)"


def test_a_gpu_pod_preflight_lists_what_the_agent_checks_on_the_node() -> None:
    p = pod()
    p["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    out = injected(p, ctx())
    preflight = json.loads(out["metadata"]["annotations"][PREFLIGHT])
    assert preflight["gpu"] is True
    assert any(
        "NVreg_RestrictProfilingToAdminUsers" in c
        for c in preflight["collectors"]["nsys"]["checked_at_start"]
    )


def test_injection_is_idempotent_on_readmission() -> None:
    once = injected(pod(), ctx())
    assert once["metadata"]["annotations"][INJECTED] == "true"
    ops, _ = mutate(once, ctx())
    assert ops == []


def test_a_pod_without_volumes_or_env_is_patched_from_scratch() -> None:
    bare = {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "python:3"}]}}
    out = injected(bare, ctx())
    assert out["spec"]["volumes"] == [{"name": VOLUME, "emptyDir": {}}]
    assert out["spec"]["containers"][0]["volumeMounts"] == [
        {"name": VOLUME, "mountPath": "/nsight-lab"}
    ]
