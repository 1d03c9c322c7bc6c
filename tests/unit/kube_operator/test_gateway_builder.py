"""The gateway's objects: the renderer's bootstrap in a Secret, mounts for every file it names."""

from __future__ import annotations

from typing import Any

import yaml

from nsight_lab.cluster.resources import ProfileConfigSpec
from nsight_lab.gateway import GatewaySpec, Upstream, Upstreams
from nsight_operator.builders import gateway as gw
from nsight_operator.builders.common import Owner
from nsight_operator.builders.services import Images
from nsight_operator.certs import make_ca, make_serving_cert
from nsight_operator.reconcile import jwks_problem, profile_config_problems, tls_problem

OWNER = Owner("nvidia.com/v1alpha1", "NsightGateway", "gw", "lab", "uid-9")
UPSTREAMS = Upstreams(
    coordinator=Upstream("coord.lab.svc", 8080), analysis=Upstream("ana.lab.svc", 8080)
)
SECRET = "s" * 40


def build(spec: dict[str, Any], mounts: gw.Mounts = gw.Mounts()) -> dict[str, dict[str, Any]]:
    model = gw.with_files(GatewaySpec.model_validate(spec), mounts)
    objects = gw.gateway_objects(
        model,
        OWNER,
        upstreams=UPSTREAMS,
        shared_secret=SECRET,
        mounts=mounts,
        images=Images("img:1"),
    )
    return {o["kind"]: o for o in objects}


def test_the_bootstrap_is_a_secret_and_names_the_upstreams() -> None:
    objects = build({"authentication": {"apikey": {"enabled": True, "key": "k" * 20}}})
    bootstrap = yaml.safe_load(objects["Secret"]["stringData"]["envoy.yaml"])
    hosts = {
        c["name"]: c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
            "socket_address"
        ]["address"]
        for c in bootstrap["static_resources"]["clusters"]
    }
    assert hosts == {"coordinator": "coord.lab.svc", "analysis": "ana.lab.svc"}
    assert "k" * 20 in objects["Secret"]["stringData"]["envoy.yaml"]
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["envoy"] and container["args"][:2] == [
        "-c",
        "/etc/nsight-lab/envoy/envoy.yaml",
    ]
    assert objects["Service"]["spec"]["type"] == "ClusterIP"


def test_a_changed_spec_rolls_the_deployment() -> None:
    one = build({"port": 8888})["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    two = build({"port": 8889})["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert one[gw.CONFIG_HASH_ANNOTATION] != two[gw.CONFIG_HASH_ANNOTATION]


def test_secret_references_become_mounted_files_the_bootstrap_points_at() -> None:
    mounts = gw.Mounts(tls_secret="gw-tls", jwks_secret="jwks", oauth2_secret="oauth")
    spec = {
        "tlsSecretRef": {"name": "gw-tls"},
        "authentication": {
            "jwt": {
                "enabled": True,
                "issuer": "https://i",
                "audiences": ["nsight"],
                "jwksSecretRef": {"name": "jwks"},
            },
            "oauth2": {
                "enabled": True,
                "issuer": "https://i",
                "clientId": "c",
                "clientSecretRef": {"name": "oauth"},
                "authorizationEndpoint": "https://i/auth",
                "tokenEndpoint": "https://i/token",
                "jwksUri": "https://i/jwks",
            },
        },
    }
    objects = build(spec, mounts)
    text = objects["Secret"]["stringData"]["envoy.yaml"]
    for path in (
        "/etc/nsight-lab/tls/tls.crt",
        "/etc/nsight-lab/jwks/jwks.json",
        "/etc/nsight-lab/oauth2/hmac.key",
    ):
        assert path in text
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    mounted = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert {"/etc/nsight-lab/tls", "/etc/nsight-lab/jwks", "/etc/nsight-lab/oauth2"} <= mounted
    assert (
        gw.gateway_url(GatewaySpec.model_validate(spec), "gw", "lab") == "https://gw.lab.svc:8888"
    )


def test_certificates_and_key_sets_are_checked_before_envoy_sees_them() -> None:
    ca = make_ca("ca")
    a, b = make_serving_cert(ca, dns_names=["a"]), make_serving_cert(ca, dns_names=["b"])
    assert tls_problem(a.cert_pem, a.key_pem) is None
    assert "does not belong" in (tls_problem(a.cert_pem, b.key_pem) or "")
    assert "not a PEM certificate" in (tls_problem(b"junk", a.key_pem) or "")
    assert jwks_problem('{"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}') is None
    assert "not JSON" in (jwks_problem("{") or "")
    assert "at least one key" in (jwks_problem('{"keys": []}') or "")
    assert "needs n and e" in (jwks_problem('{"keys": [{"kty": "RSA"}]}') or "")


def test_profile_configs_with_bad_patterns_or_arguments_are_explained() -> None:
    spec = ProfileConfigSpec.model_validate(
        {
            "nsightToolConfigs": [
                {"name": "a", "injectionIncludePatterns": ["train(", "ok"]},
                {"name": "a", "nsightToolArgs": "-t 'cuda"},
            ]
        }
    )
    problems = profile_config_problems(spec)
    assert any("used twice" in p for p in problems)
    assert any("train(" in p for p in problems)
    assert any("nsightToolArgs" in p for p in problems)
