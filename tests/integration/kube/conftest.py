"""The chart installed with Helm on the real control plane, its operator run from its own Pod.

``release`` installs ``charts/nsight-lab`` (``helm install --wait``: the Deployments'
Pods reach Ready on kwok nodes), then runs the operator Pod the chart created with the
kubelet stand-in, so the operator works with the chart's ServiceAccount, RBAC and
environment, exactly as it would in a cluster. The webhook is reached through the
chart's ``nsight-injector.url`` override on 127.0.0.1.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from nsight_lab.cluster.api import Kube
from tests.support.kube_operator import (
    API_KEY,
    Helm,
    Release,
    base_values,
    create_namespace,
    install,
    operator_pods,
)
from tests.support.kubelet_stand_in import KubeletStandIn
from tests.support.minio import free_port

pytestmark = pytest.mark.kube
_names = itertools.count()


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"it-{next(_names)}"
    create_namespace(kube, name)
    yield name
    kube.delete("v1", "Namespace", name)


def uninstall(helm: Helm, name: str, namespace: str) -> None:
    done = helm.run(
        "uninstall", name, "-n", namespace, "--wait", "--timeout", "60s", "--debug", check=False
    )
    if done.returncode != 0:
        raise AssertionError(
            f"helm uninstall {name} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )


@pytest.fixture(scope="module")
def release(
    helm: Helm, kube: Kube, stand_in: KubeletStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    """The chart with API-key auth and operator-managed MinIO, in its own namespace."""
    ns = f"nsight-{next(_names)}"
    name = f"rel-{next(_names)}"
    port = free_port()
    values = base_values(port, [ns, "it-*"])
    values["nsight-gateway"]["authentication"] = {"apikey": {"enabled": True, "key": API_KEY}}
    rel = install(helm, kube, stand_in, name, ns, values, tmp_path_factory.mktemp("release"))
    try:
        yield rel
    finally:
        for pod in rel.operators:
            pod.stop()
        uninstall(helm, name, ns)
        kube.delete("v1", "Namespace", ns)


__all__ = ["API_KEY", "Release", "operator_pods"]
