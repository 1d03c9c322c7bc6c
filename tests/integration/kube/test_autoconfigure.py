"""``autoconfigure`` against a real apiserver: each Service type and auth mode.

The gateways here are plain objects (no operator runs for these namespaces): a
Service as the operator would make it and the NsightGateway it belongs to. For
ClusterIP the real `kubectl port-forward` is never run (it would dial a Pod): a
kubectl stand-in records the command and listens on the local port instead.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nsight_lab.cluster.api import Kube
from nsight_lab.cluster.resources import Kinds
from nsight_operator.certs import make_ca, make_serving_cert
from tests.support.kube_cluster import ControlPlane, wait_until
from tests.support.kube_operator import create_namespace
from tests.support.stack import base_env

pytestmark = pytest.mark.kube
_n = itertools.count()
KEY = "autoconfigure-test-key-0123456789"

KUBECTL_STAND_IN = textwrap.dedent(
    """\
    #!{python}
    # kubectl stand-in: records its arguments and listens where port-forward would.
    import json, os, socket, sys, time
    with open(os.environ["KUBECTL_STAND_IN_LOG"], "a") as log:
        log.write(json.dumps(sys.argv[1:]) + "\\n")
    local = int(next(a for a in sys.argv if ":" in a and a.split(":")[0].isdigit()).split(":")[0])
    server = socket.create_server(("127.0.0.1", local))
    server.settimeout(1)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            conn, _ = server.accept()
            conn.close()
        except OSError:
            pass
    """
)


@pytest.fixture
def ns(kube: Kube) -> Iterator[str]:
    name = f"ac-{next(_n)}"
    create_namespace(kube, name)
    yield name
    kube.delete("v1", "Namespace", name)


def gateway(
    kube: Kube,
    ns: str,
    spec: dict[str, Any],
    service_type: str = "ClusterIP",
    name: str = "nsight-operator-gateway",
) -> dict[str, Any]:
    kind = Kinds.GATEWAY
    gw = kube.create(
        {
            "apiVersion": kind.api_version,
            "kind": kind.kind,
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }
    )
    svc = kube.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": {"app.kubernetes.io/component": "gateway"},
                "ownerReferences": [
                    {
                        "apiVersion": kind.api_version,
                        "kind": kind.kind,
                        "name": name,
                        "uid": gw["metadata"]["uid"],
                    }
                ],
            },
            "spec": {
                "type": service_type,
                "selector": {"x": "y"},
                "ports": [{"name": "http", "port": spec.get("port", 8888)}],
            },
        }
    )
    return svc  # type: ignore[no-any-return]


def secret(kube: Kube, ns: str, name: str, data: dict[str, bytes]) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }
    )


def autoconfigure(
    kube_cluster: ControlPlane,
    home: Path,
    ns: str,
    *extra: str,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> Any:
    run_env = base_env(
        {
            "NSIGHT_CLOUD_CONF": str(home / "conf.json"),
            "KUBECONFIG": str(kube_cluster.kubeconfig),
            **(env or {}),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "nsight_lab", "autoconfigure", "-n", ns, "--output", "json", *extra],
        env=run_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if not check:
        return done
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def saved(home: Path) -> dict[str, Any]:
    path = home / "conf.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_load_balancer_with_an_api_key_from_its_secret(
    kube: Kube, kube_cluster: ControlPlane, ns: str, tmp_path: Path
) -> None:
    secret(kube, ns, "gw-key", {"api-key": KEY.encode()})
    gateway(
        kube,
        ns,
        {
            "port": 8888,
            "authentication": {"apikey": {"enabled": True, "keySecretRef": {"name": "gw-key"}}},
        },
        "LoadBalancer",
    )
    failed = autoconfigure(kube_cluster, tmp_path, ns, check=False)
    assert failed.returncode != 0 and "no load-balancer address yet" in failed.stderr
    kube.merge_patch(
        "v1",
        "Service",
        "nsight-operator-gateway",
        {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}},
        ns,
        subresource="status",
    )
    out = autoconfigure(kube_cluster, tmp_path, ns)
    assert (out["service_type"], out["auth"], out["gw"]) == (
        "LoadBalancer",
        "apikey",
        "http://203.0.113.7:8888",
    )
    assert out["port_forwards"] == []
    conf = saved(tmp_path)
    assert conf["auth"]["apikey"] == KEY and conf["gw"] == "http://203.0.113.7:8888"


def test_load_balancer_by_hostname(
    kube: Kube, kube_cluster: ControlPlane, ns: str, tmp_path: Path
) -> None:
    gateway(kube, ns, {"port": 9999}, "LoadBalancer")
    kube.merge_patch(
        "v1",
        "Service",
        "nsight-operator-gateway",
        {"status": {"loadBalancer": {"ingress": [{"hostname": "gw.example.com"}]}}},
        ns,
        subresource="status",
    )
    out = autoconfigure(kube_cluster, tmp_path, ns)
    assert out["gw"] == "http://gw.example.com:9999" and out["auth"] == "none"
    assert any("without authentication" in n for n in out["notes"])


def test_node_port_with_jwt(
    kube: Kube, kube_cluster: ControlPlane, ns: str, tmp_path: Path
) -> None:
    svc = gateway(
        kube,
        ns,
        {
            "authentication": {
                "jwt": {
                    "enabled": True,
                    "issuer": "https://idp.example",
                    "jwksUri": "https://idp.example/jwks",
                }
            }
        },
        "NodePort",
    )
    node_port = svc["spec"]["ports"][0]["nodePort"]
    out = autoconfigure(kube_cluster, tmp_path, ns)
    # kwok gives its nodes the address 127.0.0.1.
    assert out["gw"] == f"http://127.0.0.1:{node_port}"
    assert out["auth"] == "jwt" and saved(tmp_path)["auth"]["issuer"] == "https://idp.example"
    assert any("JWTs issued by https://idp.example" in n for n in out["notes"])


def _stand_in_kubectl(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(KUBECTL_STAND_IN.format(python=sys.executable))
    kubectl.chmod(0o755)
    return bin_dir, tmp_path / "kubectl.log"


def test_cluster_ip_with_oauth2_and_tls_keeps_a_port_forward(
    kube: Kube, kube_cluster: ControlPlane, ns: str, tmp_path: Path
) -> None:
    ca = make_ca("gw-ca")
    serving = make_serving_cert(ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    secret(
        kube,
        ns,
        "gw-tls",
        {"tls.crt": serving.cert_pem, "tls.key": serving.key_pem, "ca.crt": ca.cert_pem},
    )
    gateway(
        kube, ns,
        {"tlsSecretRef": {"name": "gw-tls"}, "authentication": {"oauth2": {"enabled": True, "issuer": "https://login.example", "clientId": "nsight-cli", "clientSecretRef": {"name": "x"}}}},
    )  # fmt: skip
    planned = autoconfigure(kube_cluster, tmp_path, ns, "--no-port-forward")
    (forward,) = planned["port_forwards"]
    assert forward["command"][0] == "kubectl" and forward["running"] is False
    assert forward["command"][-6:] == [
        "-n",
        ns,
        "svc/nsight-operator-gateway",
        f"{forward['local_port']}:8888",
        "--address",
        "127.0.0.1",
    ]
    assert "--kubeconfig" in forward["command"]
    assert planned["gw"] == f"https://127.0.0.1:{forward['local_port']}"
    conf = saved(tmp_path)
    assert (
        conf["auth"]["issuer"] == "https://login.example"
        and conf["auth"]["clientid"] == "nsight-cli"
    )
    assert Path(conf["ca_cert"]).read_bytes() == ca.cert_pem
    assert any("nsight-lab login" in n for n in planned["notes"])

    bin_dir, log = _stand_in_kubectl(tmp_path)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "KUBECTL_STAND_IN_LOG": str(log)}
    running = autoconfigure(kube_cluster, tmp_path, ns, env=env)
    (forward,) = running["port_forwards"]
    recorded = [json.loads(line) for line in log.read_text().splitlines()]
    assert recorded[-1] == forward["command"][1:]
    pid = forward["pid"]
    os.kill(pid, 0)
    # A later command finds the forward dead and starts it again.
    os.kill(pid, 9)
    wait_until(
        lambda: (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        ),
        10,
        "the forward to die",
    )
    subprocess.run(
        [sys.executable, "-m", "nsight_lab", "status", "--output", "json"],
        env=base_env({"NSIGHT_CLOUD_CONF": str(tmp_path / "conf.json"), **env}), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    again = saved(tmp_path)["port_forwards"][0]["pid"]
    assert again != pid and len(log.read_text().splitlines()) == len(recorded) + 1
    os.kill(again, 15)


def test_operator_minio_is_reached_through_a_second_port_forward(
    kube: Kube, kube_cluster: ControlPlane, ns: str, tmp_path: Path
) -> None:
    for kind, name, spec in (
        (Kinds.STORAGE, "store", {}),
        (Kinds.COORDINATOR, "coord", {"cloudStorageRef": "store"}),
    ):
        kube.create(
            {
                "apiVersion": kind.api_version,
                "kind": kind.kind,
                "metadata": {"name": name, "namespace": ns},
                "spec": spec,
            }
        )
    gateway(kube, ns, {})
    out = autoconfigure(kube_cluster, tmp_path, ns, "--no-port-forward")
    _gateway_forward, minio_forward = out["port_forwards"]
    assert minio_forward["command"][-4:-2] == [
        "svc/store-minio",
        f"{minio_forward['local_port']}:9000",
    ]
    assert out["storage_proxies"] == {
        f"store-minio.{ns}.svc:9000": f"http://127.0.0.1:{minio_forward['local_port']}"
    }


def test_missing_gateways_are_explained(
    kube: Kube, kube_cluster: ControlPlane, ns: str, tmp_path: Path
) -> None:
    gateway(kube, ns, {}, name="team-gateway")
    done = autoconfigure(kube_cluster, tmp_path, ns, check=False)
    assert done.returncode != 0
    assert "no Service 'nsight-operator-gateway'" in done.stderr and "team-gateway" in done.stderr
    out = autoconfigure(kube_cluster, tmp_path, ns, "-s", "team-gateway", "--no-port-forward")
    assert out["auth"] == "none"
