"""The Helm chart on a real apiserver: lint, every rendered manifest accepted, install --wait."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

import pytest

from nsight_lab.cluster.api import Kube
from nsight_lab.cluster.resources import Kinds, all_kinds
from tests.integration.kube.conftest import Release, operator_pods
from tests.support.kube_operator import CHART, Helm, apply_all

pytestmark = pytest.mark.kube

JWKS = '{"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "kid": "k1", "alg": "ES256"}]}'

#: Every value the chart's main switches take.
DIMENSIONS: dict[str, Sequence[str]] = {
    "service": ("ClusterIP", "NodePort", "LoadBalancer"),
    "tls": ("off", "on"),
    "auth": (
        "none",
        "apikey-inline",
        "apikey-ref",
        "jwt-inline",
        "jwt-ref",
        "oauth2-chart",
        "oauth2-ref",
        "jwt+oauth2",
    ),
    "storage": ("minio", "minio-persistent", "external", "local"),
    "ui": ("on", "off"),
    "gateway": ("on", "off"),
    "leader": ("on", "off"),
    "machine": ("sysctl", "null"),
    "injector": ("service", "url", "off"),
    "executor": ("kubernetes", "local"),
    "persistence": ("off", "on"),
}


def allowed(case: dict[str, str]) -> bool:
    """oauth2 needs TLS (the chart refuses it otherwise; tested on its own below)."""
    return not ("oauth2" in case.get("auth", "") and case.get("tls") == "off")


def _pair(names: list[str], a: tuple[str, str], b: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((a, b), key=lambda item: names.index(item[0])))


def pairwise(dimensions: dict[str, Sequence[str]], seed: int = 8) -> list[dict[str, str]]:
    """A small set of cases in which every pair of values of two switches appears."""
    rng = random.Random(seed)
    names = list(dimensions)
    todo = {
        ((a, va), (b, vb))
        for a, b in itertools.combinations(names, 2)
        for va in dimensions[a]
        for vb in dimensions[b]
        if allowed({a: va, b: vb})
    }

    def new_pairs(case: dict[str, str], name: str, value: str) -> int:
        if not allowed({**case, name: value}):
            return -1
        return sum(_pair(names, (name, value), (o, v)) in todo for o, v in case.items())

    cases = []
    while todo:
        best: dict[str, str] = {}
        best_gain = -1
        for _ in range(60):
            case: dict[str, str] = {}
            for name in rng.sample(names, len(names)):
                options = list(dimensions[name])
                rng.shuffle(options)
                case[name] = max(options, key=lambda v, c=case, n=name: new_pairs(c, n, v))
            gain = sum(
                ((a, case[a]), (b, case[b])) in todo for a, b in itertools.combinations(names, 2)
            )
            if gain > best_gain and allowed(case):
                best, best_gain = case, gain
        cases.append(best)
        for a, b in itertools.combinations(names, 2):
            todo.discard(((a, best[a]), (b, best[b])))
    return cases


def values_for(case: dict[str, str]) -> dict[str, Any]:
    auth: dict[str, Any] = {}
    kind = case["auth"]
    if kind == "apikey-inline":
        auth = {"apikey": {"enabled": True, "key": "k" * 32}}
    elif kind == "apikey-ref":
        auth = {"apikey": {"enabled": True, "keySecretRef": {"name": "my-key", "key": "api-key"}}}
    if kind in ("jwt-inline", "jwt+oauth2"):
        auth["jwt"] = {
            "enabled": True,
            "issuer": "https://idp.example",
            "audiences": ["nsight"],
            "verificationJwks": JWKS,
        }
    if kind == "jwt-ref":
        auth["jwt"] = {
            "enabled": True,
            "issuer": "https://idp.example",
            "audiences": ["nsight"],
            "jwksSecretRef": {"name": "my-jwks"},
        }
    if kind in ("oauth2-chart", "jwt+oauth2"):
        auth["oauth2"] = {
            "enabled": True,
            "issuer": "https://idp.example",
            "clientId": "nsight",
            "clientSecret": "s" * 24,
            "hmac": "h" * 32,
        }
    if kind == "oauth2-ref":
        auth["oauth2"] = {
            "enabled": True,
            "issuer": "https://idp.example",
            "clientId": "nsight",
            "clientSecretRef": {"name": "my-oauth2"},
        }
    storage: dict[str, Any] = {"minio": {"enabled": True, "persistence": {"enabled": False}}}
    if case["storage"] == "minio-persistent":
        storage["minio"]["persistence"] = {
            "enabled": True,
            "storageClassName": "fast",
            "size": "50Gi",
        }
    elif case["storage"] == "external":
        storage = {"minio": {"enabled": False}, "secretRef": {"name": "my-s3"}}
    elif case["storage"] == "local":
        storage = {"storageType": "local", "minio": {"enabled": False}}
    persistence = {"enabled": case["persistence"] == "on", "size": "2Gi"}
    values: dict[str, Any] = {
        "nsight-gateway": {
            "enabled": case["gateway"] == "on",
            "service": {"type": case["service"]},
            "authentication": auth,
            **({"tlsSecretRef": {"name": "gateway-tls"}} if case["tls"] == "on" else {}),
        },
        "cloudStorage": storage,
        "nsight-cloud-ui": {"enabled": case["ui"] == "on", "persistence": persistence},
        "nsight-coordinator": {"persistence": persistence},
        "nsight-analysis": {"executor": case["executor"], "persistence": persistence},
        "leaderElection": {"enabled": case["leader"] == "on"},
        "machineConfig": {"perfEventParanoid": 2} if case["machine"] == "sysctl" else None,
        "nsight-injector": {
            "enabled": case["injector"] != "off",
            **({"url": "https://127.0.0.1:9443/mutate"} if case["injector"] == "url" else {}),
        },
    }
    return values


CASES = pairwise(DIMENSIONS)


def test_the_cases_cover_every_pair_of_switches() -> None:
    names = list(DIMENSIONS)
    for a, b in itertools.combinations(names, 2):
        for va in DIMENSIONS[a]:
            for vb in DIMENSIONS[b]:
                if allowed({a: va, b: vb}):
                    assert any(c[a] == va and c[b] == vb for c in CASES), (a, va, b, vb)
    assert len(CASES) < 60


def test_helm_lint_is_clean(helm: Helm) -> None:
    done = helm.run("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in done.stdout
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout


def test_every_rendered_manifest_is_accepted_by_the_apiserver(
    helm: Helm, kube: Kube, namespace: str
) -> None:
    """Server-side dry run of each manifest, for cases covering every pair of values."""
    models = {k.kind: k.spec for k in all_kinds()}
    problems = []
    for case in CASES:
        docs = helm.template(namespace, values_for(case), release="dry")
        kinds = {d["kind"] for d in docs}
        assert "Deployment" in kinds and "NsightOperatorProfileConfig" in kinds
        assert ("MutatingWebhookConfiguration" in kinds) == (case["injector"] != "off")
        assert ("NsightGateway" in kinds) == (case["gateway"] == "on")
        for doc in docs:
            if doc["kind"] in models:
                # What the operator will read must also validate with its own model.
                models[doc["kind"]].model_validate(doc.get("spec") or {})
        problems += [f"{case}: {p}" for p in apply_all(kube, docs, namespace, dry_run=True)]
    assert problems == []


def test_each_rendered_case_names_its_secrets_and_webhook_target(
    helm: Helm, namespace: str
) -> None:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    values = values_for(
        {**CASES[0], "auth": "oauth2-chart", "tls": "on", "gateway": "on", "injector": "url"}
    )
    for doc in helm.template(namespace, values, release="nsight-operator"):
        by_kind.setdefault(doc["kind"], []).append(doc)
    secrets = {s["metadata"]["name"]: s for s in by_kind["Secret"]}
    oauth2 = secrets["nsight-operator-gateway-oauth2"]
    assert set(oauth2["stringData"]) == {"client_secret.key", "hmac.key"}
    (gateway,) = by_kind["NsightGateway"]
    assert gateway["metadata"]["name"] == "nsight-operator-gateway"
    assert gateway["spec"]["authentication"]["oauth2"]["clientSecretRef"] == {
        "name": "nsight-operator-gateway-oauth2"
    }
    (hook,) = by_kind["MutatingWebhookConfiguration"]
    for webhook in hook["webhooks"]:
        assert webhook["clientConfig"] == {"url": "https://127.0.0.1:9443/mutate"}
        assert webhook["failurePolicy"] == "Ignore" and webhook["timeoutSeconds"] == 5
    (operator,) = [d for d in by_kind["Deployment"] if d["metadata"]["name"].endswith("-operator")]
    env = {
        e["name"]: e.get("value")
        for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    # The certificate must name the address the apiserver dials.
    assert env["NSIGHT_LAB_OPERATOR_WEBHOOK_IP_ADDRESSES"] == "127.0.0.1"
    assert env["NSIGHT_LAB_OPERATOR_WEBHOOK_PORT"] == "9443"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {
                "nsight-gateway": {
                    "authentication": {
                        "oauth2": {"enabled": True, "issuer": "https://i", "clientId": "c"}
                    }
                }
            },
            "oauth2 needs TLS",
        ),
        ({"nsight-gateway": {"authentication": {"apikey": {"enabled": True}}}}, "needs apikey.key"),
        (
            {
                "nsight-gateway": {
                    "authentication": {
                        "apikey": {"enabled": True, "key": "k" * 20},
                        "jwt": {"enabled": True},
                    }
                }
            },
            "cannot be combined",
        ),
        ({"nsight-gateway": {"service": {"type": "Ingress"}}}, "/nsight-gateway/service/type"),
        (
            {"nsight-gateway": {"authentication": {"apikey": {"enabled": True, "key": "short"}}}},
            "/nsight-gateway/authentication/apikey/key",
        ),
        ({"cloudStorage": {"storageType": "ftp"}}, "/cloudStorage/storageType"),
        (
            {
                "nsight-gateway": {
                    "authentication": {"jwt": {"enabled": True, "issuer": "https://i"}}
                }
            },
            "jwt needs audiences",
        ),
        ({"nsight-injector": {"url": "http://127.0.0.1/mutate"}}, "/nsight-injector/url"),
        ({"operatr": {}}, "operatr"),
    ],
)
def test_wrong_values_are_refused_with_the_setting_named(
    helm: Helm, namespace: str, values: dict[str, Any], message: str
) -> None:
    import yaml

    path = helm.env["HOME"] + "/bad-values.yaml"
    with open(path, "w") as handle:
        yaml.safe_dump(values, handle)
    done = helm.run("template", "x", str(CHART), "-n", namespace, "-f", path, check=False)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_helm_install_waits_until_the_pods_are_ready_on_kwok_nodes(
    release: Release, kube: Kube
) -> None:
    pods = operator_pods(kube, release.namespace, release.name)
    assert pods and all(p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)
    assert all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
        for p in pods
    )
    daemonset = kube.get("apps/v1", "DaemonSet", f"{release.name}-node-settings", release.namespace)
    assert daemonset["status"]["numberReady"] == 2
    assert kube.get(
        Kinds.GATEWAY.api_version, Kinds.GATEWAY.kind, f"{release.name}-gateway", release.namespace
    )
