"""Two operator replicas from the chart: one leader reconciles; when it dies the other takes over."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from nsight_lab.cluster.api import Kube
from nsight_lab.cluster.resources import Kinds
from tests.integration.kube.conftest import uninstall
from tests.support.kube_cluster import wait_until
from tests.support.kube_operator import Helm, Release, base_values, install, wait_condition
from tests.support.kubelet_stand_in import KubeletStandIn
from tests.support.minio import free_port

pytestmark = pytest.mark.kube
_n = itertools.count()


@pytest.fixture
def replicated(
    helm: Helm, kube: Kube, stand_in: KubeletStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    ns = f"leader-{next(_n)}"
    values = base_values(free_port(), [ns])
    values["operator"]["replicas"] = 2
    values["leaderElection"] = {
        "enabled": True,
        "leaseDurationSeconds": 4,
        "renewDeadlineSeconds": 3,
        "retryPeriodSeconds": 0.5,
    }
    # Both replicas run on this one machine: they would share the webhook port.
    values["nsight-injector"] = {"enabled": False}
    values["nsight-cloud-ui"] = {"enabled": False}
    rel = install(
        helm, kube, stand_in, f"le-{next(_n)}", ns, values, tmp_path_factory.mktemp("leader")
    )
    try:
        yield rel
    finally:
        for pod in rel.operators:
            pod.stop()
        uninstall(helm, rel.name, ns)
        kube.delete("v1", "Namespace", ns)


def holder(kube: Kube, release: Release) -> str | None:
    lease = kube.get(
        "coordination.k8s.io/v1", "Lease", f"{release.name}-operator", release.namespace
    )
    return ((lease or {}).get("spec") or {}).get("holderIdentity")


def test_one_replica_leads_and_the_other_takes_over_when_it_dies(
    replicated: Release, kube: Kube
) -> None:
    names = {p.name for p in replicated.operators}
    assert len(names) == 2
    leader = wait_until(lambda: (h := holder(kube, replicated)) in names and h, 30, "a leader")
    time.sleep(2)  # several renewal periods: the follower must not have taken the Lease
    assert holder(kube, replicated) == leader
    by_name = {p.name: p for p in replicated.operators}
    follower = by_name[next(iter(names - {leader}))]
    assert "became the leader" in by_name[leader].container("operator").log(400)
    assert "became the leader" not in follower.container("operator").log(400)
    assert "reconciling" not in follower.container("operator").log(400)
    coordinator = f"{replicated.name}-coordinator"
    wait_condition(kube, Kinds.COORDINATOR, coordinator, replicated.namespace, timeout=90)

    by_name[leader].kill()  # no chance to release the Lease: the follower must wait it out
    new_leader = wait_until(
        lambda: (h := holder(kube, replicated)) not in (None, leader) and h,
        20,
        "the follower to take over",
    )
    assert new_leader == follower.name
    lease = kube.get(
        "coordination.k8s.io/v1", "Lease", f"{replicated.name}-operator", replicated.namespace
    )
    assert lease["spec"]["leaseTransitions"] >= 1
    # The new leader reconciles: a deleted Service comes back.
    kube.delete("v1", "Service", coordinator, replicated.namespace)
    wait_until(
        lambda: kube.get("v1", "Service", coordinator, replicated.namespace),
        30,
        "the new leader to repair drift",
    )
