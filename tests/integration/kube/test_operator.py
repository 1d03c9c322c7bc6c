"""The operator on a real control plane: objects with Ready conditions, drift repaired,
cleanup on delete, and conditions that say exactly what is missing."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from nsight_lab.cluster.api import Kube
from nsight_lab.cluster.resources import Kinds
from nsight_lab.gateway.envoy import validate
from nsight_operator.certs import make_ca, make_serving_cert
from tests.integration.kube.conftest import Release
from tests.support.kube_cluster import wait_until
from tests.support.kube_operator import wait_condition

pytestmark = pytest.mark.kube


def cr(kind: Any, name: str, namespace: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec or {},
    }


def secret(name: str, namespace: str, data: dict[str, bytes | str]) -> dict[str, Any]:
    encoded = {
        k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
        for k, v in data.items()
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": encoded,
    }


def test_every_resource_of_the_release_becomes_ready(release: Release, kube: Kube) -> None:
    ns, name = release.namespace, release.name
    for kind, cr_name in (
        (Kinds.STORAGE, f"{name}-storage"),
        (Kinds.COORDINATOR, f"{name}-coordinator"),
        (Kinds.ANALYSIS, f"{name}-analysis"),
        (Kinds.CLOUD_UI, f"{name}-ui"),
        (Kinds.GATEWAY, f"{name}-gateway"),
        (Kinds.PROFILE_CONFIG, "default-profile-config"),
    ):
        try:
            wait_condition(kube, kind, cr_name, ns, timeout=90)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\noperator log:\n{release.operator_log()}") from None
    coordinator = kube.get("apps/v1", "Deployment", f"{name}-coordinator", ns)
    (owner,) = coordinator["metadata"]["ownerReferences"]
    assert owner["kind"] == "NsightCoordinator" and owner["controller"] is True
    args = coordinator["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--root-path=/coordinator" in args and "--host=127.0.0.1" in args
    status = kube.get(Kinds.GATEWAY.api_version, Kinds.GATEWAY.kind, f"{name}-gateway", ns)[
        "status"
    ]
    assert status["url"] == f"http://{name}-gateway.{ns}.svc:8888"


def test_the_gateway_bootstrap_is_the_renderers_and_envoy_accepts_it(
    release: Release, kube: Kube, tmp_path: Any
) -> None:
    ns, name = release.namespace, release.name
    wait_condition(kube, Kinds.GATEWAY, f"{name}-gateway", ns, timeout=90)
    data = kube.secret_data(f"{name}-gateway-envoy", ns)
    bootstrap = yaml.safe_load(data["envoy.yaml"])
    clusters = {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}
    endpoint = clusters["coordinator"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0][
        "endpoint"
    ]
    assert endpoint["address"]["socket_address"] == {
        "address": f"{name}-coordinator.{ns}.svc",
        "port_value": 8080,
    }
    assert "ui" in clusters
    path = tmp_path / "envoy.yaml"
    path.write_bytes(data["envoy.yaml"])
    validate(path)
    # The bootstrap holds the API key and the shared secret: it is a Secret, never a ConfigMap.
    assert (
        kube.list("v1", "ConfigMap", ns, label_selector="app.kubernetes.io/component=gateway") == []
    )


def test_a_deleted_service_comes_back(release: Release, kube: Kube) -> None:
    ns, name = release.namespace, f"{release.name}-coordinator"
    wait_condition(kube, Kinds.COORDINATOR, name, ns, timeout=90)
    before = kube.get("v1", "Service", name, ns)["metadata"]["uid"]
    assert kube.delete("v1", "Service", name, ns)
    again = wait_until(
        lambda: (s := kube.get("v1", "Service", name, ns)) and s["metadata"]["uid"] != before and s,
        20,
        "the operator to recreate the Service",
    )
    assert again["spec"]["ports"][0]["port"] == 8080


def test_edits_to_an_owned_deployment_are_undone(release: Release, kube: Kube) -> None:
    ns, name = release.namespace, f"{release.name}-analysis"
    wait_condition(kube, Kinds.ANALYSIS, name, ns, timeout=90)
    kube.merge_patch("apps/v1", "Deployment", name, {"spec": {"replicas": 3}}, ns)
    wait_until(
        lambda: kube.get("apps/v1", "Deployment", name, ns)["spec"]["replicas"] == 1,
        20,
        "the operator to put replicas back to 1",
    )


def test_deleting_a_resource_removes_everything_it_owns(
    release: Release, kube: Kube, namespace: str
) -> None:
    kube.create(cr(Kinds.STORAGE, "store", namespace))
    kube.create(cr(Kinds.COORDINATOR, "coord", namespace))
    wait_condition(kube, Kinds.COORDINATOR, "coord", namespace, timeout=90)
    owned = [
        ("apps/v1", "Deployment", "coord"),
        ("v1", "Service", "coord"),
        ("v1", "Secret", "coord-signing-key"),
    ]
    assert all(kube.get(v, k, n, namespace) for v, k, n in owned)
    kube.delete(Kinds.COORDINATOR.api_version, Kinds.COORDINATOR.kind, "coord", namespace)
    wait_until(
        lambda: not any(kube.get(v, k, n, namespace) for v, k, n in owned),
        60,
        "the garbage collector to delete what the coordinator owned",
    )
    # The storage it used is its own resource and stays.
    assert kube.get("apps/v1", "Deployment", "store-minio", namespace)


def test_external_storage_says_what_is_wrong_with_its_secret_until_it_is_right(
    release: Release, kube: Kube, namespace: str
) -> None:
    kind = Kinds.STORAGE
    kube.create(cr(kind, "s3", namespace, {"secretRef": {"name": "creds"}}))
    cond = wait_condition(kube, kind, "s3", namespace, status="False", reason="SecretNotFound")
    assert "Secret creds does not exist" in cond["message"]
    kube.create(secret("creds", namespace, {"wrong-key": "x"}))
    cond = wait_condition(kube, kind, "s3", namespace, status="False", reason="SecretKeyMissing")
    assert "storage-config.yaml" in cond["message"] and "wrong-key" in cond["message"]
    kube.apply(
        secret(
            "creds", namespace, {"storage-config.yaml": "storage_type: s3\nbucket_name: reports\n"}
        )
    )
    cond = wait_condition(
        kube, kind, "s3", namespace, status="False", reason="InvalidStorageConfig"
    )
    assert "aws_access_key_id" in cond["message"]
    good = (
        "storage_type: s3\nbucket_name: reports\naws_access_key_id: a\naws_secret_access_key: b\n"
    )
    kube.apply(secret("creds", namespace, {"storage-config.yaml": good}))
    wait_condition(kube, kind, "s3", namespace)
    assert kube.get(kind.api_version, kind.kind, "s3", namespace)["status"]["secretName"] == "creds"


def test_pod_storage_is_ready_without_objects_and_no_service_may_store_in_it(
    release: Release, kube: Kube, namespace: str
) -> None:
    kind = Kinds.STORAGE
    kube.create(cr(kind, "in-pod", namespace, {"storage_type": "pod"}))
    cond = wait_condition(kube, kind, "in-pod", namespace, type_="StorageReady", reason="InPod")
    assert "relays downloads" in cond["message"]
    assert not (kube.get(kind.api_version, kind.kind, "in-pod", namespace)["status"]).get(
        "secretName"
    )
    kube.create(cr(Kinds.COORDINATOR, "coord", namespace, {"cloudStorageRef": "in-pod"}))
    cond = wait_condition(
        kube, Kinds.COORDINATOR, "coord", namespace, status="False", type_="StorageReady",
        reason="NeedsObjectStorage",
    )  # fmt: skip
    assert "storage_type pod" in cond["message"] and "cloudStorageConfigRef" in cond["message"]


def test_a_reference_to_a_missing_storage_config_is_named(
    release: Release, kube: Kube, namespace: str
) -> None:
    kube.create(cr(Kinds.COORDINATOR, "coord", namespace, {"cloudStorageRef": "nowhere"}))
    cond = wait_condition(
        kube, Kinds.COORDINATOR, "coord", namespace, status="False", reason="ReferenceNotFound"
    )
    assert "nowhere" in cond["message"]


def _gateway_namespace(kube: Kube, namespace: str) -> None:
    kube.create(cr(Kinds.STORAGE, "store", namespace))
    kube.create(cr(Kinds.COORDINATOR, "coord", namespace))
    kube.create(cr(Kinds.ANALYSIS, "ana", namespace))


def test_a_tls_secret_without_a_certificate_is_named(
    release: Release, kube: Kube, namespace: str
) -> None:
    _gateway_namespace(kube, namespace)
    kube.create(secret("gw-tls", namespace, {"tls.key": "x"}))
    kube.create(cr(Kinds.GATEWAY, "gw", namespace, {"tlsSecretRef": {"name": "gw-tls"}}))
    cond = wait_condition(
        kube, Kinds.GATEWAY, "gw", namespace, status="False", reason="SecretKeyMissing"
    )
    assert "tlsSecretRef: Secret gw-tls has no tls.crt" in cond["message"]
    ca = make_ca("test")
    other = make_serving_cert(ca, dns_names=["gw"])
    mismatched = make_serving_cert(ca, dns_names=["gw"])
    kube.apply(
        secret("gw-tls", namespace, {"tls.crt": other.cert_pem, "tls.key": mismatched.key_pem})
    )
    cond = wait_condition(
        kube, Kinds.GATEWAY, "gw", namespace, status="False", reason="InvalidCertificate"
    )
    assert "does not belong" in cond["message"]
    kube.apply(secret("gw-tls", namespace, {"tls.crt": other.cert_pem, "tls.key": other.key_pem}))
    wait_condition(kube, Kinds.GATEWAY, "gw", namespace, type_="TLSReady")
    pod = kube.get("apps/v1", "Deployment", "gw", namespace)["spec"]["template"]["spec"]
    assert {"name": "tls", "secret": {"secretName": "gw-tls", "defaultMode": 0o440}} in pod[
        "volumes"
    ]
    assert kube.get(Kinds.GATEWAY.api_version, Kinds.GATEWAY.kind, "gw", namespace)["status"][
        "url"
    ].startswith("https://")


def test_an_invalid_jwks_is_named(release: Release, kube: Kube, namespace: str) -> None:
    _gateway_namespace(kube, namespace)
    kube.create(secret("jwks", namespace, {"jwks.json": '{"keys": [{"kty": "RSA", "n": "abc"}]}'}))
    kube.create(
        cr(
            Kinds.GATEWAY,
            "gw",
            namespace,
            {
                "authentication": {
                    "jwt": {
                        "enabled": True,
                        "issuer": "https://i",
                        "audiences": ["nsight"],
                        "jwksSecretRef": {"name": "jwks"},
                    }
                }
            },
        )
    )
    cond = wait_condition(
        kube, Kinds.GATEWAY, "gw", namespace, status="False", reason="InvalidJWKS"
    )
    assert "Secret jwks key jwks.json: keys[0]: an RSA key needs n and e" in cond["message"]


def test_a_missing_api_key_secret_is_named_and_an_unsupported_kind_says_so(
    release: Release, kube: Kube, namespace: str
) -> None:
    _gateway_namespace(kube, namespace)
    kube.create(
        cr(
            Kinds.GATEWAY,
            "gw",
            namespace,
            {"authentication": {"apikey": {"enabled": True, "keySecretRef": {"name": "k"}}}},
        )
    )
    cond = wait_condition(
        kube, Kinds.GATEWAY, "gw", namespace, status="False", reason="SecretNotFound"
    )
    assert "authentication.apikey.keySecretRef: Secret k does not exist" in cond["message"]
    kube.create(cr(Kinds.STREAMER, "s", namespace))
    cond = wait_condition(
        kube, Kinds.STREAMER, "s", namespace, status="False", reason="NotSupported"
    )
    assert "JupyterLab" in cond["message"]
