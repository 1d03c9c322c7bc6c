"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, and kwok for fake nodes, the way envtest runs one for operators.

The binaries come from ``scripts/install-kube.sh`` (``~/.cache/nsight-lab/kube.env``).
The test suite starts that build in the background (``scripts/test.sh``) and
:func:`wait_for_binaries` waits for it, so the build overlaps the other tests.

Addresses: everything listens on 127.0.0.1. kwok gives nodes the address 127.0.0.1
and Pods addresses from 127.1.0.0/16, but nothing here or in a test may connect to a
node, Pod or cluster IP (there is no kubelet and no kube-proxy): webhooks are called
through a ``clientConfig.url`` on 127.0.0.1, and Pods that must really run are run by
:mod:`tests.support.kubelet_stand_in`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml

from nsight_lab.agent.launcher import process_alive
from nsight_operator.certs import make_ca, make_serving_cert, make_signing_key
from tests.support.minio import free_port

CACHE = Path(os.environ.get("NSIGHT_LAB_CACHE") or Path.home() / ".cache" / "nsight-lab")
ENV_FILE = CACHE / "kube.env"
#: How long the tests wait for a background ``install-kube.sh`` that is still building.
BUILD_WAIT_S = float(os.environ.get("NSIGHT_LAB_KUBE_BUILD_WAIT_S", "3600"))
START_TIMEOUT_S = 90.0
#: The label kwok manages nodes by.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
ADMIN_USER = "nsight-lab-test-admin"
T = TypeVar("T")


@dataclass(frozen=True)
class KubeBinaries:
    etcd: Path
    apiserver: Path
    controller_manager: Path
    scheduler: Path
    kwok: Path
    kwok_stages: Path
    helm: Path

    @classmethod
    def from_env_file(cls, path: Path = ENV_FILE) -> KubeBinaries | None:
        if not path.is_file():
            return None
        values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        try:
            found = cls(
                etcd=Path(values["NSIGHT_LAB_ETCD"]),
                apiserver=Path(values["NSIGHT_LAB_KUBE_APISERVER"]),
                controller_manager=Path(values["NSIGHT_LAB_KUBE_CONTROLLER_MANAGER"]),
                scheduler=Path(values["NSIGHT_LAB_KUBE_SCHEDULER"]),
                kwok=Path(values["NSIGHT_LAB_KWOK"]),
                kwok_stages=Path(values["NSIGHT_LAB_KWOK_STAGES"]),
                helm=Path(values["NSIGHT_LAB_HELM"]),
            )
        except KeyError:
            return None
        paths = [found.etcd, found.apiserver, found.controller_manager, found.scheduler]
        if all(p.exists() for p in [*paths, found.kwok, found.helm, found.kwok_stages]):
            return found
        return None


def _build_running() -> bool:
    marker = CACHE / "kube.env.building"
    try:
        pid = int(marker.read_text().strip())
    except (OSError, ValueError):
        return False
    return process_alive(pid)


def wait_for_binaries(timeout: float = BUILD_WAIT_S) -> tuple[KubeBinaries | None, str]:
    """The binaries, waiting while a background build is still making them.

    Returns ``(binaries, "")`` or ``(None, why)``; the reason names the fix.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = KubeBinaries.from_env_file()
        if found is not None:
            return found, ""
        failed = CACHE / "kube.env.failed"
        if failed.exists() and not _build_running():
            return None, (
                f"scripts/install-kube.sh failed ({failed.read_text().strip()}); "
                f"see its log (scripts/test.sh writes {CACHE}/install-kube.log)"
            )
        if not _build_running():
            return None, (
                "the Kubernetes control plane is not built: run scripts/install-kube.sh "
                f"(writes {ENV_FILE})"
            )
        if time.monotonic() > deadline:
            return None, f"scripts/install-kube.sh still building after {timeout:.0f} s"
        time.sleep(5)


def _die_with_parent() -> None:
    """Children get SIGTERM when the test process dies, so none outlive a crashed run."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Process:
    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)


def wait_until(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except Exception as exc:  # the API may not be ready yet; keep the last reason
            last_error = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}: {last_error!r}")


class ControlPlane:
    """``with ControlPlane(binaries) as cp:`` a cluster on loopback until the block ends.

    ``cp.kubeconfig`` is an admin kubeconfig (a static token in ``system:masters``),
    ``cp.api()`` a ``kubernetes`` ApiClient for it, ``cp.add_node()`` a kwok node.
    """

    def __init__(self, binaries: KubeBinaries, base_dir: Path | None = None) -> None:
        self.binaries = binaries
        self._own_dir = base_dir is None
        self.base_dir = base_dir or Path(tempfile.mkdtemp(prefix="nsight-kube-"))
        self.pki = self.base_dir / "pki"
        self.logs = self.base_dir / "logs"
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.port = free_port()
        self.kwok_port = free_port()
        self.token = os.urandom(16).hex()
        self.kubeconfig = self.base_dir / "kubeconfig"
        self._procs: list[_Process] = []
        self.ca_pem = b""

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # --- start ------------------------------------------------------------------------

    def _write_pki(self) -> None:
        self.pki.mkdir(parents=True, exist_ok=True)
        ca = make_ca("nsight-lab-test-cluster-ca")
        serving = make_serving_cert(
            ca,
            dns_names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
            ip_addresses=["127.0.0.1", "10.96.0.1"],
        )
        sa = make_signing_key()
        self.ca_pem = ca.cert_pem
        for name, data in {
            "ca.crt": ca.cert_pem,
            "ca.key": ca.key_pem,
            "apiserver.crt": serving.cert_pem,
            "apiserver.key": serving.key_pem,
            "sa.pub": sa.cert_pem,
            "sa.key": sa.key_pem,
        }.items():
            (self.pki / name).write_bytes(data)
            (self.pki / name).chmod(0o600)
        (self.pki / "tokens.csv").write_text(
            f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
        )
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {
                                "server": self.server,
                                "certificate-authority": str(self.pki / "ca.crt"),
                            },
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": self.token}}],
                    "contexts": [
                        {
                            "name": "test",
                            "context": {"cluster": "test", "user": "admin", "namespace": "default"},
                        }
                    ],
                    "current-context": "test",
                }
            )
        )
        self.kubeconfig.chmod(0o600)

    def _spawn(self, name: str, argv: list[str]) -> _Process:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
        proc = _Process(name, argv, self.logs, env)
        self._procs.append(proc)
        return proc

    def _get(self, path: str) -> tuple[int, bytes]:
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        request = urllib.request.Request(
            self.server + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _wait_ready(self, proc: _Process) -> None:
        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited during start-up:\n{proc.log_tail()}")
            return self._get("/readyz")[0] == 200

        try:
            wait_until(ready, START_TIMEOUT_S, "kube-apiserver /readyz", interval=0.3)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{exc}\n{proc.log_tail()}") from None

    def _kwok_config(self) -> Path:
        """The node and pod stages; kwok leaves Pods of analysis Jobs to the kubelet stand-in.

        Those Pods must end the way their command really ended (the stand-in runs it
        and reports its exit code), so kwok's ``pod-complete`` must not declare them
        Succeeded first.
        """
        docs: list[Any] = []
        for path in sorted(self.binaries.kwok_stages.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc:
                    continue
                if doc.get("metadata", {}).get("name") == "pod-complete":
                    doc["spec"]["selector"]["matchExpressions"].append(
                        {
                            "key": '.metadata.labels["nsight-lab.io/analysis-job"]',
                            "operator": "DoesNotExist",
                        }
                    )
                docs.append(doc)
        out = self.base_dir / "kwok-stages.yaml"
        out.write_text(yaml.safe_dump_all(docs))
        return out

    def start(self) -> ControlPlane:
        self.logs.mkdir(parents=True, exist_ok=True)
        self._write_pki()
        etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                "--data-dir",
                str(self.base_dir / "etcd"),
                "--listen-client-urls",
                etcd_url,
                "--advertise-client-urls",
                etcd_url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{self.etcd_peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{self.etcd_peer_port}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{self.etcd_peer_port}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
        )
        pki = self.pki
        apiserver = self._spawn(
            "kube-apiserver",
            [
                str(self.binaries.apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--service-node-port-range=30000-32767",
                "--allow-privileged=true",
                # Loopback cannot be the `kubernetes` Service's endpoint; nothing here uses it.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                # With Debian's etcd 3.4 (no watch progress notifications) the watch cache
                # delivers events seconds late; operators then react in tens of seconds.
                # Watches straight from etcd arrive within milliseconds.
                "--watch-cache=false",
                "--v=1",
            ],
        )
        self._wait_ready(apiserver)
        common = [
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
        ]
        self._spawn(
            "kube-controller-manager",
            [
                str(self.binaries.controller_manager),
                *common,
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=false",
                "--cluster-name=nsight-lab-test",
                "--v=1",
            ],
        )
        self._spawn("kube-scheduler", [str(self.binaries.scheduler), *common, "--v=1"])
        self._spawn(
            "kwok",
            [
                str(self.binaries.kwok),
                f"--kubeconfig={self.kubeconfig}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                "--node-ip=127.0.0.1",
                "--cidr=127.1.0.0/16",
                f"--server-address=127.0.0.1:{self.kwok_port}",
                f"--config={self._kwok_config()}",
            ],
        )
        # Without the controller-manager's service-account controller nothing could
        # create a Pod; its ``default`` ServiceAccount is the sign that it works.
        wait_until(
            lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
            START_TIMEOUT_S,
            "the default ServiceAccount (kube-controller-manager)",
        )
        return self

    # --- use --------------------------------------------------------------------------

    def api(self) -> Any:
        """A ``kubernetes.client.ApiClient`` with admin rights."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(str(self.kubeconfig), client_configuration=configuration)
        return client.ApiClient(configuration)

    def add_node(self, name: str = "kwok-node-0", labels: dict[str, str] | None = None) -> None:
        """A fake node kwok keeps Ready, with room for many Pods."""
        from kubernetes import client

        core = client.CoreV1Api(self.api())
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_NODE_ANNOTATION: "fake"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                    **(labels or {}),
                },
            },
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "250"},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "250"},
            },
        }
        core.create_node(body)

        def ready() -> bool:
            node = core.read_node(name)
            return any(
                c.type == "Ready" and c.status == "True" for c in (node.status.conditions or [])
            )

        wait_until(ready, START_TIMEOUT_S, f"node {name} Ready (kwok)")

    def check_alive(self) -> None:
        """Raise with the log of any control-plane process that died."""
        for proc in self._procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} died:\n{proc.log_tail()}")

    def get_json(self, path: str) -> Any:
        status, body = self._get(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)

    # --- stop -------------------------------------------------------------------------

    def stop(self) -> None:
        for proc in reversed(self._procs):
            proc.stop()
        self._procs.clear()

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
