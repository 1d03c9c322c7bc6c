"""Running the operator and Helm against the test control plane, and waiting on what they do."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nsight_lab.cluster.api import Kube, KubeError
from nsight_lab.cluster.resources import Kind
from nsight_operator.conditions import READY, find
from tests.support.kube_cluster import ControlPlane, _die_with_parent, wait_until
from tests.support.kubelet_stand_in import KubeletStandIn, RunningPod
from tests.support.minio import MinioServer
from tests.support.stack import REPO_ROOT, base_env

CHART = REPO_ROOT / "charts" / "nsight-lab"
API_KEY = "nsight-lab-test-api-key-0123456789"
CRDS = REPO_ROOT / "operator" / "crds"


def install_crds(kube: Kube) -> None:
    """Apply every CRD and wait until the apiserver serves it."""
    names = []
    for path in sorted(CRDS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        kube.apply(doc, field_manager="nsight-lab-tests")
        names.append(doc["metadata"]["name"])

    def established() -> bool:
        for name in names:
            crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name) or {}
            conditions = (crd.get("status") or {}).get("conditions") or []
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return False
        return True

    wait_until(established, 60, "the CRDs to be Established")


def create_namespace(kube: Kube, name: str, labels: Mapping[str, str] | None = None) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels or {})},
        }
    )
    wait_until(
        lambda: kube.get("v1", "ServiceAccount", "default", name) is not None,
        60,
        f"the default ServiceAccount of {name}",
    )


def s3_secret(kube: Kube, namespace: str, name: str, minio: MinioServer, bucket: str) -> None:
    """A Secret whose ``storage-config.yaml`` points at the test MinIO on 127.0.0.1."""
    import base64

    config = (
        f"storage_type: s3\nbucket_name: {bucket}\naws_access_key_id: {minio.access_key}\n"
        f"aws_secret_access_key: {minio.secret_key}\nendpoint_url: {minio.endpoint_url}\n"
    )
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"storage-config.yaml": base64.b64encode(config.encode()).decode()},
        }
    )


def condition(
    kube: Kube, kind: Kind, name: str, namespace: str, type_: str = READY
) -> Mapping[str, Any] | None:
    found = kube.get(kind.api_version, kind.kind, name, namespace)
    if found is None:
        return None
    return find((found.get("status") or {}).get("conditions") or [], type_)


def wait_condition(
    kube: Kube,
    kind: Kind,
    name: str,
    namespace: str,
    *,
    status: str = "True",
    reason: str | None = None,
    type_: str = READY,
    timeout: float = 60,
) -> Mapping[str, Any]:
    def probe() -> Mapping[str, Any] | None:
        cond = condition(kube, kind, name, namespace, type_)
        if (
            cond
            and cond.get("status") == status
            and (reason is None or cond.get("reason") == reason)
        ):
            return cond
        return None

    try:
        return wait_until(
            probe, timeout, f"{kind.kind} {namespace}/{name} {type_}={status} {reason or ''}"
        )
    except TimeoutError as exc:
        raise TimeoutError(
            f"{exc}; last: {condition(kube, kind, name, namespace, type_)}"
        ) from None


def describe_namespace(kube: Kube, namespace: str) -> str:
    """Pods and recent events of ``namespace``, for a failure message."""
    lines = []
    for pod in kube.list("v1", "Pod", namespace):
        status = pod.get("status") or {}
        lines.append(
            f"pod {pod['metadata']['name']}: {status.get('phase')} on {pod['spec'].get('nodeName')}"
        )
    events = sorted(
        kube.list("v1", "Event", namespace),
        key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "",
    )
    for event in events[-12:]:
        involved = event.get("involvedObject") or {}
        lines.append(
            f"event {involved.get('kind')}/{involved.get('name')}: {event.get('reason')}: "
            f"{event.get('message')}"
        )
    return "\n".join(lines)


class OperatorProcess:
    """``python -m nsight_operator`` as a local process with admin credentials (envtest-style)."""

    def __init__(
        self, plane: ControlPlane, log_dir: Path, env: Mapping[str, str], name: str = "operator"
    ) -> None:
        self.plane = plane
        self.log_path = log_dir / f"{name}.log"
        self.env = {
            **base_env(),
            "KUBECONFIG": str(plane.kubeconfig),
            "NSIGHT_LAB_OPERATOR_RESYNC_S": "2",
            "NSIGHT_LAB_OPERATOR_LEASE_DURATION_S": "4",
            "NSIGHT_LAB_OPERATOR_RENEW_DEADLINE_S": "3",
            "NSIGHT_LAB_OPERATOR_RETRY_PERIOD_S": "0.5",
            "NSIGHT_LAB_OPERATOR_LISTEN_ADDRESS": "127.0.0.1",
            "NSIGHT_LAB_OPERATOR_WEBHOOK_HOST": "127.0.0.1",
            "NSIGHT_LAB_OPERATOR_IDENTITY": name,
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nsight_operator", "--log-level", "info"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_webhook(self, port: int, ca_pem: Callable[[], bytes], timeout: float = 60) -> None:
        def healthy() -> bool:
            if not self.alive():
                raise RuntimeError(f"the operator exited:\n{self.log()}")
            context = ssl.create_default_context(cadata=ca_pem().decode())
            with urllib.request.urlopen(
                f"https://127.0.0.1:{port}/healthz", timeout=2, context=context
            ) as r:
                return r.status == 200

        wait_until(healthy, timeout, "the operator's webhook /healthz over TLS")

    def kill(self) -> None:
        """SIGKILL: no Lease release, as when a node dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Helm:
    """The helm binary against the test cluster (its own config and cache folders)."""

    def __init__(self, binary: Path, kubeconfig: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KUBECONFIG": str(kubeconfig),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_DATA_HOME": str(home / "data"),
            "HOME": str(home),
        }

    def run(
        self, *args: str, timeout: float = 180, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.binary), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def template(
        self, namespace: str, values: Mapping[str, Any], release: str = "nsight-operator"
    ) -> list[dict[str, Any]]:
        values_file = Path(self.env["HOME"]) / f"values-{time.monotonic_ns()}.yaml"
        values_file.write_text(yaml.safe_dump(dict(values)))
        out = self.run(
            "template", release, str(CHART), "-n", namespace, "-f", str(values_file)
        ).stdout
        return [d for d in yaml.safe_load_all(out) if d]


def apply_all(
    kube: Kube, docs: Sequence[Mapping[str, Any]], namespace: str, *, dry_run: bool
) -> list[str]:
    """Server-side apply every document; returns the refusals (empty when all were accepted)."""
    from nsight_lab.cluster.api import KINDS

    refused = []
    for doc in docs:
        doc = dict(doc)
        info = KINDS.get((doc["apiVersion"], doc["kind"]))
        if info is None:
            refused.append(f"{doc['apiVersion']} {doc['kind']}: unknown to the test client")
            continue
        if info.namespaced:
            doc["metadata"] = {
                **doc["metadata"],
                "namespace": doc["metadata"].get("namespace", namespace),
            }
        try:
            kube.apply(doc, field_manager="nsight-lab-tests", dry_run=dry_run)
        except KubeError as exc:
            refused.append(f"{doc['kind']} {doc['metadata']['name']}: {exc}")
    return refused


def operator_pods(kube: Kube, namespace: str, release: str) -> list[dict[str, Any]]:
    return kube.list(
        "v1",
        "Pod",
        namespace,
        label_selector=f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator",
    )


@dataclass
class Release:
    name: str
    namespace: str
    webhook_port: int
    operators: list[RunningPod]

    def operator_log(self) -> str:
        return "\n".join(p.logs() for p in self.operators)


def install(
    helm: Helm,
    kube: Kube,
    stand_in: KubeletStandIn,
    name: str,
    namespace: str,
    values: dict[str, Any],
    tmp: Path,
    *,
    run_operators: bool = True,
) -> Release:
    """``helm install --wait`` the chart, then run its operator Pod(s) with the stand-in."""
    import yaml

    values_file = tmp / f"{name}-values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    helm.run(
        "install", name, str(CHART),
        "-n", namespace, "--create-namespace", "-f", str(values_file),
        "--wait", "--timeout", "120s",
    )  # fmt: skip
    port = int(
        values.get("nsight-injector", {})
        .get("url", "https://127.0.0.1:0/")
        .rsplit(":", 1)[1]
        .split("/")[0]
    )
    release = Release(name, namespace, port, [])
    if run_operators:
        pods = wait_until(lambda: operator_pods(kube, namespace, name), 30, "the operator Pods")
        release.operators = [stand_in.run(pod) for pod in pods]
    return release


def base_values(webhook_port: int, namespaces: list[str]) -> dict[str, Any]:
    """What the tests install: the operator told to bind loopback and watch only its namespaces."""
    return {
        "operator": {
            "resyncSeconds": 2,
            "listenAddress": "127.0.0.1",
            "watchNamespaces": namespaces,
            "logLevel": "info",
        },
        "nsight-injector": {"url": f"https://127.0.0.1:{webhook_port}/mutate"},
        "nsight-gateway": {"adminPort": 0},
    }
