"""The injector as the apiserver calls it: over TLS it verifies with the caBundle the
operator keeps, only for opted-in Pods, and never blocking admission."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from nsight_lab.cluster.api import Kube
from nsight_lab.cluster.resources import Kinds
from nsight_operator.certs import covers, make_ca, make_serving_cert, signed_by
from nsight_operator.settings import OperatorSettings
from nsight_operator.webhook.mutate import INIT_CONTAINER, INJECTED, PREFLIGHT
from nsight_operator.webhook.tls import ensure_cert
from tests.integration.kube.conftest import API_KEY, Release
from tests.support.kube_cluster import wait_until
from tests.support.kube_operator import create_namespace
from tests.support.kubelet_stand_in import KubeletStandIn

pytestmark = pytest.mark.kube


def pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "containers": [
                {"name": "main", "image": "python:3.12", "command": ["python", "-c", "print(1)"]}
            ],
            "restartPolicy": "Never",
        },
    }


def create(kube: Kube, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    body = {**body, "metadata": {**body["metadata"], "namespace": namespace}}
    return kube.create(body)  # type: ignore[no-any-return]


def injected(stored: dict[str, Any]) -> bool:
    names = [c["name"] for c in stored["spec"].get("initContainers") or []]
    return (
        INIT_CONTAINER in names
        and (stored["metadata"].get("annotations") or {}).get(INJECTED) == "true"
    )


@pytest.fixture(autouse=True)
def webhook_trusted(release: Release, kube: Kube) -> None:
    """The operator has put its CA into the configuration before the tests call it."""

    def ready() -> bool:
        config = kube.get(
            "admissionregistration.k8s.io/v1",
            "MutatingWebhookConfiguration",
            f"{release.name}-injector",
        )
        return all(h["clientConfig"].get("caBundle") for h in config["webhooks"])

    wait_until(ready, 60, "the operator to fill in the caBundle")
    # The apiserver reads webhook configurations through an informer: give it a moment
    # by admitting a labelled canary until it comes back injected.
    probe_ns = f"canary-{release.name}"
    if kube.get("v1", "Namespace", probe_ns) is None:
        create_namespace(kube, probe_ns)
    counter = iter(range(1000))
    wait_until(
        lambda: injected(
            create(
                kube, probe_ns, pod(f"canary-{next(counter)}", {"nvidia-nsight-profile": "enabled"})
            )
        ),
        30,
        "the apiserver to call the injector",
        interval=0.5,
    )


def test_a_labelled_pod_is_stored_with_the_injection(
    release: Release, kube: Kube, namespace: str
) -> None:
    stored = create(kube, namespace, pod("trainer", {"nvidia-nsight-profile": "enabled"}))
    assert injected(stored)
    init = stored["spec"]["initContainers"][0]
    assert init["command"] == ["python", "-m", "nsight_lab.agent.install", "/nsight-lab"]
    (main,) = stored["spec"]["containers"]
    env = {e["name"]: e for e in main["env"]}
    assert env["NSIGHT_LAB_COORDINATOR_URL"]["value"] == (
        f"http://{release.name}-gateway.{release.namespace}.svc:8888/coordinator/api/v1/"
    )
    assert env["NSIGHT_LAB_API_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "nsight-lab-agent-credentials", "key": "api-key"}
    }
    assert env["PYTHONPATH"]["value"] == "/nsight-lab/bootstrap"
    assert "SYS_PTRACE" in main["securityContext"]["capabilities"]["add"]
    assert PREFLIGHT in stored["metadata"]["annotations"]
    # The release's default profile config was applied (its nsys arguments).
    assert env["NSIGHT_LAB_NSYS_ARGS"]["value"].startswith("-t cuda,nvtx,osrt")
    # The agent's key was copied into the Pod's namespace, where the Pod can read it.
    copied = kube.secret_data("nsight-lab-agent-credentials", namespace)
    assert copied == {"api-key": API_KEY.encode()}


def test_pods_of_a_labelled_namespace_are_injected_unless_they_opt_out(
    release: Release, kube: Kube
) -> None:
    ns = f"profiled-{int(time.time() * 1000) % 100000}"
    create_namespace(kube, ns, {"nvidia-nsight-profile": "enabled"})
    try:
        assert injected(create(kube, ns, pod("plain")))
        out = create(kube, ns, pod("opted-out", {"nvidia-nsight-profile": "disabled"}))
        assert not injected(out)
    finally:
        kube.delete("v1", "Namespace", ns)


def test_unlabelled_pods_in_unlabelled_namespaces_are_unchanged(
    release: Release, kube: Kube, namespace: str
) -> None:
    sent = pod("plain")
    stored = create(kube, namespace, sent)
    assert not injected(stored)
    assert "initContainers" not in stored["spec"]
    (main,) = stored["spec"]["containers"]
    assert "env" not in main and main["command"] == ["python", "-c", "print(1)"]
    assert INJECTED not in (stored["metadata"].get("annotations") or {})


def test_pods_created_before_their_namespace_was_labelled_are_untouched(
    release: Release, kube: Kube, namespace: str
) -> None:
    create(kube, namespace, pod("early"))
    kube.merge_patch(
        "v1", "Namespace", namespace, {"metadata": {"labels": {"nvidia-nsight-profile": "enabled"}}}
    )
    time.sleep(1)
    assert not injected(kube.get("v1", "Pod", "early", namespace))
    # Labels on a running Pod do not re-admit it either.
    kube.merge_patch(
        "v1",
        "Pod",
        "early",
        {"metadata": {"labels": {"nvidia-nsight-profile": "enabled"}}},
        namespace,
    )
    assert not injected(kube.get("v1", "Pod", "early", namespace))


def test_a_dry_run_admission_is_injected_without_side_effects(
    release: Release, kube: Kube, namespace: str
) -> None:
    body = {**pod("dry", {"nvidia-nsight-profile": "enabled"})}
    body["metadata"]["namespace"] = namespace
    answer = kube.create(body, dry_run=True)
    assert injected(answer)
    assert kube.secret_data("nsight-lab-agent-credentials", namespace) is None
    assert kube.get("v1", "Pod", "dry", namespace) is None


def test_the_certificate_is_renewed_in_its_secret_before_it_expires(
    release: Release, kube: Kube
) -> None:
    """What every replica's periodic check does, against the release's real Secret."""
    settings = OperatorSettings(
        namespace=release.namespace,
        webhook_cert_secret=f"{release.name}-injector-tls",
        webhook_service=f"{release.name}-injector",
        webhook_ip_addresses="127.0.0.1",
    )
    current = ensure_cert(kube, settings)
    ca = type(current.serving)(
        current.ca_pem, kube.secret_data(settings.webhook_cert_secret, settings.namespace)["ca.key"]
    )
    import datetime as dt

    old = make_serving_cert(
        ca, dns_names=settings.webhook_dns_names, ip_addresses=["127.0.0.1"], days=3,
        now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2, hours=23),
    )  # fmt: skip
    found = kube.get("v1", "Secret", settings.webhook_cert_secret, settings.namespace)
    found["data"]["tls.crt"] = base64.b64encode(old.cert_pem).decode()
    found["data"]["tls.key"] = base64.b64encode(old.key_pem).decode()
    kube.replace(found)
    renewed = ensure_cert(kube, settings)
    assert renewed.serving.cert_pem != old.cert_pem
    assert renewed.ca_pem == current.ca_pem, "renewal keeps the CA, so caBundle stays valid"
    assert signed_by(renewed.serving.cert_pem, renewed.ca_pem)
    assert covers(
        renewed.serving.cert_pem, dns_names=settings.webhook_dns_names, ip_addresses=["127.0.0.1"]
    )
    stored = kube.secret_data(settings.webhook_cert_secret, settings.namespace)
    assert stored["tls.crt"] == renewed.serving.cert_pem
    assert not signed_by(renewed.serving.cert_pem, make_ca("stranger").cert_pem)


def test_with_the_webhook_down_pods_are_still_admitted(
    release: Release, kube: Kube, namespace: str, stand_in: KubeletStandIn
) -> None:
    for running in release.operators:
        running.stop()
    try:
        started = time.monotonic()
        stored = create(kube, namespace, pod("while-down", {"nvidia-nsight-profile": "enabled"}))
        assert not injected(stored)
        assert time.monotonic() - started < 10, "failurePolicy Ignore with a short timeout"
    finally:
        from tests.integration.kube.conftest import operator_pods

        release.operators = [
            stand_in.run(p) for p in operator_pods(kube, release.namespace, release.name)
        ]


def test_a_tool_config_naming_pod_storage_makes_agents_keep_reports_in_the_pod(
    release: Release, kube: Kube, namespace: str
) -> None:
    storage, profile = Kinds.STORAGE, Kinds.PROFILE_CONFIG
    kube.create({"apiVersion": storage.api_version, "kind": storage.kind,
                 "metadata": {"name": "in-pod", "namespace": namespace},
                 "spec": {"storage_type": "pod"}})  # fmt: skip
    kube.create({"apiVersion": profile.api_version, "kind": profile.kind,
                 "metadata": {"name": "keep-in-pod", "namespace": namespace},
                 "spec": {"nsightToolConfigs": [{"name": "local", "collector": "pyspy",
                                                 "cloudStorageConfigRef": "in-pod"}]}})  # fmt: skip
    body = pod("kept", {"nvidia-nsight-profile": "enabled"})
    body["metadata"]["annotations"] = {"nsight-lab.io/profile-config": "keep-in-pod"}
    stored = create(kube, namespace, body)
    assert injected(stored)
    env = {e["name"]: e.get("value") for e in stored["spec"]["containers"][0]["env"]}
    assert env["NSIGHT_LAB_REPORT_STORAGE"] == "pod"
    assert env["NSIGHT_LAB_REPORT_DIR"] == "/nsight-lab/reports"
    # Without the reference, reports are uploaded as before.
    plain = create(kube, namespace, pod("uploads", {"nvidia-nsight-profile": "enabled"}))
    assert "NSIGHT_LAB_REPORT_STORAGE" not in {
        e["name"] for e in plain["spec"]["containers"][0]["env"]
    }
