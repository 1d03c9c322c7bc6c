"""The generated CRDs on a real apiserver: accepted, defaulted, validated, with columns."""

from __future__ import annotations

import pytest

from nsight_lab.cluster.api import Kube, KubeError, path_of
from nsight_lab.cluster.resources import GROUP, Kinds, all_kinds

pytestmark = pytest.mark.kube


def test_every_kind_is_served_by_the_apiserver(kube: Kube) -> None:
    served = kube.request("GET", f"/apis/{GROUP}/v1alpha1")["resources"]
    names = {r["name"] for r in served}
    for kind in all_kinds():
        if "v1alpha1" in kind.versions:
            assert kind.plural in names and f"{kind.plural}/status" in names


def test_the_apiserver_fills_in_the_defaults_of_an_empty_spec(kube: Kube, namespace: str) -> None:
    kind = Kinds.COORDINATOR
    kube.create(
        {
            "apiVersion": kind.api_version,
            "kind": kind.kind,
            "metadata": {"name": "c", "namespace": namespace},
        }
    )
    spec = kube.get(kind.api_version, kind.kind, "c", namespace)["spec"]
    assert spec["port"] == 8080
    assert spec["persistence"] == {"enabled": False, "size": "10Gi"}
    assert spec["resources"] == {}
    storage = Kinds.STORAGE
    kube.create(
        {
            "apiVersion": storage.api_version,
            "kind": storage.kind,
            "metadata": {"name": "s", "namespace": namespace},
        }
    )
    spec = kube.get(storage.api_version, storage.kind, "s", namespace)["spec"]
    assert spec["storage_type"] == "s3" and spec["bucket_name"] == "nsight-reports"
    assert spec["minio"]["enabled"] is True and spec["minio"]["persistence"]["enabled"] is False


@pytest.mark.parametrize(
    ("kind", "spec", "field"),
    [
        (Kinds.COORDINATOR, {"port": 70000}, "spec.port"),
        (Kinds.STORAGE, {"storage_type": "ftp"}, "spec.storage_type"),
        (Kinds.STORAGE, {"bucket_name": "x"}, "spec.bucket_name"),
        (Kinds.ANALYSIS, {"executor": "slurm"}, "spec.executor"),
        (Kinds.GATEWAY, {"service": {"type": "Ingress"}}, "spec.service.type"),
        (
            Kinds.GATEWAY,
            {"authentication": {"apikey": {"enabled": True, "key": "short"}}},
            "spec.authentication.apikey.key",
        ),
        (Kinds.COORDINATOR, {"persistence": {"size": "lots"}}, "spec.persistence.size"),
    ],
)
def test_invalid_specs_are_refused_naming_the_field(
    kube: Kube, namespace: str, kind: object, spec: dict[str, object], field: str
) -> None:
    from nsight_lab.cluster.resources import Kind

    assert isinstance(kind, Kind)
    with pytest.raises(KubeError) as refused:
        kube.create(
            {
                "apiVersion": kind.api_version,
                "kind": kind.kind,
                "metadata": {"name": "bad", "namespace": namespace},
                "spec": spec,
            }
        )
    assert refused.value.status == 422
    assert field in refused.value.message


def test_kubectl_get_shows_ready_reason_and_url_columns(kube: Kube, namespace: str) -> None:
    kind = Kinds.ANALYSIS
    kube.create(
        {
            "apiVersion": kind.api_version,
            "kind": kind.kind,
            "metadata": {"name": "a", "namespace": namespace},
        }
    )
    answer = kube.api_client.call_api(
        *kube.api_client.param_serialize(
            method="GET",
            resource_path=path_of(kind.api_version, kind.kind, namespace),
            header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
            auth_settings=["BearerToken"],
        )
    )
    answer.read()
    import json

    table = json.loads(answer.data)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Ready",
        "Reason",
        "URL",
        "Age",
    ]


def test_the_profile_config_is_readable_in_both_versions(kube: Kube, namespace: str) -> None:
    kind = Kinds.PROFILE_CONFIG
    kube.create(
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": kind.kind,
            "metadata": {"name": "default-profile-config", "namespace": namespace},
            "spec": {"nsightToolConfigs": [{"name": "gpu", "nsightToolArgs": "-t cuda"}]},
        }
    )
    old = kube.get(f"{GROUP}/v1alpha1", kind.kind, "default-profile-config", namespace)
    assert old["spec"]["nsightToolConfigs"][0] == {
        "name": "gpu",
        "nsightToolArgs": "-t cuda",
        "collector": "auto",
    }
