"""Fixtures every test layer shares: where the repository and the real fixtures are."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from nsight_lab.cluster.api import Kube
    from tests.support.kube_cluster import ControlPlane
    from tests.support.kube_operator import Helm
    from tests.support.kubelet_stand_in import KubeletStandIn
    from tests.support.minio import MinioServer
    from tests.support.oidc_provider import OidcProvider

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``../shared/fixtures``: real traces and reports from real GPUs."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(
            f"real fixtures not found at {SHARED_FIXTURES}; check out ../shared beside the repo"
        )
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def minio_server() -> Iterator[MinioServer]:
    """A real MinIO on loopback for the whole session, bucket ``nsight-reports``.

    Tests that stop or restart storage start their own ``MinioServer`` instead.
    """
    from tests.support.minio import MinioServer, minio_missing_reason

    if (message := minio_missing_reason()) is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI installs it, so its absence is a build failure)")
        pytest.skip(message)
    with MinioServer() as server:
        yield server


# --- Kubernetes ---------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests on the control plane run last: scripts/test.sh builds it in the background
    meanwhile, so the rest of the suite does not wait for the build."""
    items.sort(key=lambda item: item.get_closest_marker("kube") is not None)


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[ControlPlane]:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (two fake
    nodes) on loopback for the whole session; waits for a background build."""
    from tests.support.kube_cluster import ControlPlane, wait_for_binaries

    binaries, why = wait_for_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI builds it, so its absence is a build failure)")
        pytest.skip(why)
    with ControlPlane(binaries) as plane:
        plane.add_node("kwok-node-0")
        plane.add_node("kwok-node-1")
        yield plane


@pytest.fixture(scope="session")
def kube(kube_cluster: ControlPlane) -> Kube:
    """An admin client of the control plane, with nsight-lab's CRDs installed."""
    from nsight_lab.cluster.api import Kube
    from tests.support.kube_operator import install_crds

    client = Kube(kube_cluster.api())
    install_crds(client)
    return client


@pytest.fixture(scope="session")
def helm(kube_cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    from tests.support.kube_operator import Helm

    return Helm(
        kube_cluster.binaries.helm, kube_cluster.kubeconfig, tmp_path_factory.mktemp("helm")
    )


@pytest.fixture(scope="session")
def stand_in(
    kube: Kube, kube_cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeletStandIn]:
    """The kubelet stand-in: runs stored Pods as local processes (no kubelet exists here)."""
    from tests.support.kubelet_stand_in import KubeletStandIn

    runner = KubeletStandIn(
        kube,
        tmp_path_factory.mktemp("kubelet"),
        api_server=kube_cluster.server,
        ca_file=kube_cluster.pki / "ca.crt",
    )
    yield runner
    runner.stop_all()


def _host_python(find: str) -> Path:
    from tests.support import host_envs

    found, reason = getattr(host_envs, find)()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI installs it, so its absence is a build failure)")
        pytest.skip(reason)
    return Path(found)


@pytest.fixture(scope="session")
def torch_python() -> Path:
    """A real PyTorch (CPU) interpreter apart from nsight-lab (scripts/install-torch.sh)."""
    return _host_python("torch_python")


@pytest.fixture(scope="session")
def cupti_python() -> Path:
    """A real cupti-python interpreter, on a host without a GPU (scripts/install-torch.sh)."""
    return _host_python("cupti_python")


@pytest.fixture(scope="session")
def cupti_wheels() -> Path:
    """The cupti-python wheels scripts/gpu-check.sh installs offline (scripts/install-torch.sh)."""
    return _host_python("cupti_wheels")


def _require_oidc_provider() -> None:
    from tests.support.oidc_provider import oidc_provider_missing_reason

    if (message := oidc_provider_missing_reason()) is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI installs it, so its absence is a build failure)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """A real OpenID Connect provider (oidc-provider) on loopback for the whole session.

    Default clients and users (see ``tests/support/oidc_provider.py``). Tests that change
    lifetimes or keys start their own with ``oidc_provider_factory``.
    """
    from tests.support.oidc_provider import OidcProvider

    _require_oidc_provider()
    with OidcProvider() as provider:
        yield provider


@pytest.fixture
def oidc_provider_factory() -> Iterator[Callable[..., OidcProvider]]:
    """``oidc_provider_factory(ttl={...}, gateway_redirect_uris=[...], tls=...)``: a
    provider of the test's own, stopped when the test ends."""
    from tests.support.oidc_provider import OidcProvider

    _require_oidc_provider()
    started: list[OidcProvider] = []

    def make(**kwargs: Any) -> OidcProvider:
        provider = OidcProvider(**kwargs)
        started.append(provider)
        return provider.__enter__()

    yield make
    for provider in started:
        provider.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _own_spool_root(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every agent a test starts (in process or as a child) spools under a folder of its own.

    Agents adopt the spool folders that dead processes left beside theirs; with the
    machine-wide default, one test's leftovers would be uploaded by the next test's
    agents to a coordinator that never heard of them.
    """
    monkeypatch.setenv("NSIGHT_LAB_SPOOL_ROOT", str(tmp_path_factory.mktemp("spool-root")))
