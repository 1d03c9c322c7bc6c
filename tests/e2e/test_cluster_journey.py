"""The cluster journey end to end: install the chart, label a workload, autoconfigure,
profile, download, with every Pod that must really run run by the kubelet stand-in.

What is real: the apiserver, etcd, controller-manager, scheduler (kwok nodes), Helm,
the operator (from the chart's own Pod, with its ServiceAccount token and RBAC), the
webhook the apiserver calls over TLS, the coordinator and the Envoy gateway (from
the Deployments the operator made, configured by our renderer), MinIO, the agent in
a Python interpreter without nsight-lab (from the Pod spec the injector stored), and
the CLI. The stand-ins: the kubelet (runs stored Pods as local processes; cluster
DNS through a private /etc/hosts), and the cloud's load balancer (sets the gateway
Service's ingress address to 127.0.0.1, as a cloud controller would set its own).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nsight_lab.cluster.api import Kube
from nsight_lab.cluster.resources import Kinds
from tests.support.kube_cluster import ControlPlane, wait_until
from tests.support.kube_operator import (
    API_KEY,
    Helm,
    create_namespace,
    install,
    s3_secret,
    wait_condition,
)
from tests.support.kubelet_stand_in import ImageStandIn, KubeletStandIn, RunningPod
from tests.support.minio import MinioServer, free_port
from tests.support.stack import base_env

pytestmark = [pytest.mark.kube, pytest.mark.e2e, pytest.mark.slow]

NAMESPACE = "journey"
WORKLOADS = "trainers"
RELEASE = "nsight-operator"
GATEWAY = f"{RELEASE}-gateway"
#: The user's program: plain Python, marks a phase in its own way, runs until stopped.
WORKLOAD = textwrap.dedent(
    """
    import math, signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    def step(n):
        return sum(math.sqrt(i) for i in range(n))
    deadline = time.time() + 300
    while time.time() < deadline:
        step(20000)
    """
)
FOREIGN_PYTHON = "/usr/bin/python3"


@dataclass
class Cluster:
    kube: Kube
    stand_in: KubeletStandIn
    pods: dict[str, RunningPod]
    bucket: str
    minio: MinioServer


def deployment_pod(kube: Kube, namespace: str, component: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        pods = kube.list(
            "v1", "Pod", namespace, label_selector=f"app.kubernetes.io/component={component}"
        )
        return next(
            (
                p
                for p in pods
                if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")
            ),
            None,
        )

    return wait_until(find, 90, f"the {component} Pod to be scheduled")


@pytest.fixture(scope="module")
def cluster(
    kube: Kube,
    helm: Helm,
    kube_cluster: ControlPlane,
    minio_server: MinioServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    if not Path(FOREIGN_PYTHON).exists():
        why = f"{FOREIGN_PYTHON} (a Python without nsight-lab, the 'user image') is missing"
        if os.environ.get("CI"):
            pytest.fail(f"{why} (Debian's python3 is part of the CI machine)")
        pytest.skip(why)
    work = tmp_path_factory.mktemp("journey")
    bucket = "cluster-journey"
    minio_server.s3_store(bucket).ensure_bucket()
    create_namespace(kube, NAMESPACE)
    s3_secret(kube, NAMESPACE, "reports-s3", minio_server, bucket)
    ports = {
        "coordinator": free_port(),
        "analysis": free_port(),
        "gateway": free_port(),
        "webhook": free_port(),
    }
    values = {
        "operator": {
            "listenAddress": "127.0.0.1",
            "resyncSeconds": 2,
            "watchNamespaces": [NAMESPACE, WORKLOADS],
        },
        "machineConfig": None,
        "nsight-injector": {
            "url": f"https://127.0.0.1:{ports['webhook']}/mutate",
            "nsightToolConfig": {"name": "cpu", "collector": "pyspy", "nsightToolArgs": ""},
        },
        "nsight-gateway": {
            "port": ports["gateway"],
            "adminPort": 0,
            "service": {"type": "LoadBalancer"},
            "authentication": {"apikey": {"enabled": True, "key": API_KEY}},
        },
        "cloudStorage": {"minio": {"enabled": False}, "secretRef": {"name": "reports-s3"}},
        "nsight-coordinator": {"port": ports["coordinator"], "agentExpirySeconds": 6},
        "nsight-analysis": {"port": ports["analysis"], "executor": "local"},
        "nsight-cloud-ui": {"enabled": False},
    }
    hosts = [
        f"{name}.{NAMESPACE}.svc"
        for name in (GATEWAY, f"{RELEASE}-coordinator", f"{RELEASE}-analysis")
    ]
    stand_in = KubeletStandIn(
        kube,
        work / "kubelet",
        api_server=kube_cluster.server,
        ca_file=kube_cluster.pki / "ca.crt",
        hosts=hosts,
        images={"python:": ImageStandIn(python=FOREIGN_PYTHON)},
    )
    pods: dict[str, RunningPod] = {}
    try:
        release = install(helm, kube, stand_in, RELEASE, NAMESPACE, values, work)
        pods["operator"] = release.operators[0]
        for kind, name in (
            (Kinds.STORAGE, f"{RELEASE}-storage"),
            (Kinds.COORDINATOR, f"{RELEASE}-coordinator"),
        ):
            wait_condition(kube, kind, name, NAMESPACE, timeout=90)
        pods["coordinator"] = stand_in.run(deployment_pod(kube, NAMESPACE, "coordinator"))
        wait_condition(kube, Kinds.GATEWAY, GATEWAY, NAMESPACE, timeout=90)
        pods["gateway"] = stand_in.run(deployment_pod(kube, NAMESPACE, "gateway"))
        # The cloud load-balancer stand-in: the address a cloud controller would publish.
        kube.merge_patch(
            "v1", "Service", GATEWAY, {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}},
            NAMESPACE, subresource="status",
        )  # fmt: skip
        yield Cluster(kube, stand_in, pods, bucket, minio_server)
    except BaseException:
        for name, pod in pods.items():
            print(f"=== {name} ===\n{pod.logs()}", file=sys.stderr)
        raise
    finally:
        stand_in.stop_all()
        helm.run("uninstall", RELEASE, "-n", NAMESPACE, "--wait", check=False)
        kube.delete("v1", "Namespace", NAMESPACE)
        kube.delete("v1", "Namespace", WORKLOADS)


def cli(
    home: Path, *args: str, kubeconfig: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = base_env({"NSIGHT_CLOUD_CONF": str(home / ".nsight-cloud.conf"), "HOME": str(home)})
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    done = subprocess.run(
        [sys.executable, "-m", "nsight_lab", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"nsight-lab {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def test_a_labelled_workload_is_profiled_into_storage_and_downloaded(
    cluster: Cluster, kube_cluster: ControlPlane, tmp_path: Path
) -> None:
    kube = cluster.kube
    create_namespace(kube, WORKLOADS, {"nvidia-nsight-profile": "enabled"})
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "trainer-0",
                "namespace": WORKLOADS,
                "annotations": {"nsight-lab.io/tag": "trainers"},
            },
            "spec": {
                "containers": [
                    {
                        "name": "train",
                        "image": "python:3.11-slim",
                        "command": ["python", "-c", WORKLOAD],
                    }
                ],
                "restartPolicy": "Never",
            },
        }
    )
    stored = wait_until(
        lambda: (
            (p := kube.get("v1", "Pod", "trainer-0", WORKLOADS)) and p["spec"].get("nodeName") and p
        ),
        60,
        "the workload Pod to be scheduled",
    )
    assert stored["spec"]["initContainers"][0]["name"] == "nsight-lab-agent-install"
    preflight = json.loads(stored["metadata"]["annotations"]["nsight-lab.io/preflight"])
    assert preflight["collectors"]["pyspy"]["ok"] is True
    workload = cluster.stand_in.run(stored)

    home = tmp_path / "user"
    home.mkdir()
    configured = json.loads(
        cli(
            home,
            "autoconfigure",
            "-n",
            NAMESPACE,
            "-s",
            GATEWAY,
            "--output",
            "json",
            kubeconfig=kube_cluster.kubeconfig,
        ).stdout
    )
    assert configured["service_type"] == "LoadBalancer" and configured["auth"] == "apikey"
    assert (
        configured["gw"]
        == f"http://127.0.0.1:{kube.get('v1', 'Service', GATEWAY, NAMESPACE)['spec']['ports'][0]['port']}"
    )

    def agent_online() -> bool:
        status = json.loads(cli(home, "--tag", "trainers", "status", "--output", "json").stdout)
        return any(
            a["state"] == "ONLINE" and a["instance"].startswith("trainer-0")
            for a in status["agents"]
        )

    try:
        wait_until(
            agent_online,
            90,
            "the injected agent to join the coordinator through the gateway",
            interval=1,
        )
    except TimeoutError:
        raise AssertionError(
            f"agent never joined.\nworkload:\n{workload.logs()}\ngateway:\n{cluster.pods['gateway'].logs()}\n"
            f"coordinator:\n{cluster.pods['coordinator'].logs()}"
        ) from None
    (agent,) = [
        a
        for a in json.loads(cli(home, "--tag", "trainers", "status", "--output", "json").stdout)[
            "agents"
        ]
        if a["state"] == "ONLINE"
    ]
    # The agent runs inside the user's interpreter, which has no nsight-lab of its own:
    # what runs is the copy the init container put into the shared volume.
    assert Path(f"/proc/{agent['pid']}/exe").resolve() == Path(FOREIGN_PYTHON).resolve()
    assert agent["collector"] == "pyspy" and agent["readiness"]["pyspy"]["ok"] is True
    cli(home, "--tag", "trainers", "session-begin", "--title", "cluster-journey")
    cli(home, "--tag", "trainers", "profiler-start")
    time.sleep(2)
    cli(home, "--tag", "trainers", "profiler-stop")
    cli(home, "--tag", "trainers", "session-end")
    out = tmp_path / "reports"
    cli(home, "--tag", "trainers", "download", "-o", str(out))
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files, "no report downloaded"
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    assert folder.name.endswith("-cluster-journey")
    assert any("trainer-0" in p.name for p in files), [p.name for p in files]
    profile = next(p for p in files if p.name.endswith(".speedscope.json"))
    assert json.loads(profile.read_text())["profiles"], "py-spy recorded samples"
    stored_objects = [o.key for o in cluster.minio.s3_store(cluster.bucket).list("")]
    assert any("trainer-0" in key for key in stored_objects), stored_objects
    # Without the key the gateway refuses.
    assert httpx.get(configured["gw"] + "/coordinator/api/v1/tags", timeout=10).status_code == 401
    workload.stop()


def test_a_tool_config_with_pod_storage_keeps_reports_in_the_pod_and_relays_downloads(
    cluster: Cluster, kube_cluster: ControlPlane, tmp_path: Path
) -> None:
    """storage_type pod: the report never reaches MinIO, yet `download` gets it, relayed
    by the coordinator (through the gateway) from the agent inside the running Pod."""
    kube = cluster.kube
    if kube.get("v1", "Namespace", WORKLOADS) is None:
        create_namespace(kube, WORKLOADS, {"nvidia-nsight-profile": "enabled"})
    storage, profile = Kinds.STORAGE, Kinds.PROFILE_CONFIG
    kube.create({"apiVersion": storage.api_version, "kind": storage.kind,
                 "metadata": {"name": "in-pod", "namespace": WORKLOADS},
                 "spec": {"storage_type": "pod"}})  # fmt: skip
    kube.create({"apiVersion": profile.api_version, "kind": profile.kind,
                 "metadata": {"name": "keep-in-pod", "namespace": WORKLOADS},
                 "spec": {"nsightToolConfigs": [{"name": "cpu", "collector": "pyspy",
                                                 "cloudStorageConfigRef": "in-pod"}]}})  # fmt: skip
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "kept-0",
                "namespace": WORKLOADS,
                "labels": {"nvidia-nsight-profile": "enabled"},
                "annotations": {
                    "nsight-lab.io/tag": "in-pod",
                    "nsight-lab.io/profile-config": "keep-in-pod",
                },
            },
            "spec": {
                "containers": [
                    {"name": "train", "image": "python:3.11-slim",
                     "command": ["python", "-c", WORKLOAD]}
                ],
                "restartPolicy": "Never",
            },
        }
    )  # fmt: skip
    stored = wait_until(
        lambda: (
            (p := kube.get("v1", "Pod", "kept-0", WORKLOADS)) and p["spec"].get("nodeName") and p
        ),
        60,
        "the workload Pod to be scheduled",
    )
    env = {e["name"]: e.get("value") for e in stored["spec"]["containers"][0]["env"]}
    assert env["NSIGHT_LAB_REPORT_STORAGE"] == "pod"
    workload = cluster.stand_in.run(stored)
    home = tmp_path / "user"
    home.mkdir()
    cli(home, "autoconfigure", "-n", NAMESPACE, "-s", GATEWAY, kubeconfig=kube_cluster.kubeconfig)

    def online() -> bool:
        status = json.loads(cli(home, "--tag", "in-pod", "status", "--output", "json").stdout)
        return any(a["state"] == "ONLINE" for a in status["agents"])

    wait_until(online, 90, "the injected agent to join", interval=1)
    cli(home, "--tag", "in-pod", "session-begin", "--title", "kept-in-pod")
    cli(home, "--tag", "in-pod", "profiler-start")
    time.sleep(2)
    cli(home, "--tag", "in-pod", "profiler-stop")

    def held() -> list[dict[str, Any]]:
        files = json.loads(cli(home, "--tag", "in-pod", "ls", "--output", "json").stdout)
        kinds = {f["kind"] for f in files if f["location"] == "agent"}
        return files if {"report", "ranges"} <= kinds else []

    files = wait_until(held, 60, "the Pod's agent to register its reports", interval=1)
    listing = cli(home, "--tag", "in-pod", "ls").stdout
    assert "in pod" in listing, listing
    out = tmp_path / "reports"
    cli(home, "--tag", "in-pod", "download", "--flat", "-o", str(out))
    kept = {p.name: p for p in workload.work.rglob("reports/*") if p.is_file()}
    for info in files:
        got = out / info["filename"]
        assert got.read_bytes() == kept[info["filename"]].read_bytes(), info["filename"]
    profile = next(p for p in out.iterdir() if p.name.endswith(".speedscope.json"))
    assert json.loads(profile.read_text())["profiles"], "py-spy recorded samples"
    stored_objects = [o.key for o in cluster.minio.s3_store(cluster.bucket).list("")]
    assert not any("kept-0" in key for key in stored_objects), stored_objects
    # The relayed route answers nothing without the signature, whoever asks.
    gw = json.loads((home / ".nsight-cloud.conf").read_text())["gw"]
    file_id = files[0]["file_id"]
    unsigned = httpx.get(f"{gw}/coordinator/api/v1/storage/o/relay/{file_id}", timeout=10)
    assert unsigned.status_code == 403, unsigned.text
    workload.stop()


def test_autoconfigure_for_a_clusterip_gateway_plans_port_forwards(
    cluster: Cluster, kube_cluster: ControlPlane, tmp_path: Path
) -> None:
    """ClusterIP: the command it would run (kubectl port-forward is never run in tests)."""
    kube = cluster.kube
    kube.merge_patch(
        Kinds.GATEWAY.api_version,
        Kinds.GATEWAY.kind,
        GATEWAY,
        {"spec": {"service": {"type": "ClusterIP"}}},
        NAMESPACE,
    )
    wait_until(
        lambda: kube.get("v1", "Service", GATEWAY, NAMESPACE)["spec"]["type"] == "ClusterIP",
        30,
        "the Service to become ClusterIP",
    )
    home = tmp_path / "user"
    home.mkdir()
    out = json.loads(
        cli(
            home,
            "autoconfigure",
            "-n",
            NAMESPACE,
            "-s",
            GATEWAY,
            "--no-port-forward",
            "--output",
            "json",
            kubeconfig=kube_cluster.kubeconfig,
        ).stdout
    )
    (forward,) = out["port_forwards"]
    port = kube.get("v1", "Service", GATEWAY, NAMESPACE)["spec"]["ports"][0]["port"]
    assert forward["command"][-6:] == [
        "-n",
        NAMESPACE,
        f"svc/{GATEWAY}",
        f"{forward['local_port']}:{port}",
        "--address",
        "127.0.0.1",
    ]
    assert out["gw"] == f"http://127.0.0.1:{forward['local_port']}"
