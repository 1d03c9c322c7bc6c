"""The renderer: one spec in, one Envoy bootstrap out, and Envoy accepts every one.

Each mode's bootstrap is compared with a reviewed snapshot (``snapshots/*.yaml``;
regenerate with ``NSIGHT_LAB_UPDATE_SNAPSHOTS=1`` and read the diff), then handed
to ``envoy --mode validate``: a renderer change that Envoy would refuse fails here,
not at a user's start-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from nsight_lab.gateway import (
    GatewaySpec,
    OidcEndpoints,
    RenderError,
    Upstream,
    Upstreams,
    render_bootstrap,
    to_yaml,
)
from nsight_lab.gateway.envoy import EnvoyError, envoy_binary, validate
from nsight_lab.gateway.identity import parse_caller
from tests.support.tls import TestCA

SNAPSHOTS = Path(__file__).parent / "snapshots"
JWKS = (SNAPSHOTS / "jwks.json").read_text().strip()
SECRET = "s" * 40
TLS = {"certFile": "/etc/nsight/tls/tls.crt", "keyFile": "/etc/nsight/tls/tls.key"}
OIDC = OidcEndpoints(
    issuer="https://login.example.com",
    authorization_endpoint="https://login.example.com/auth",
    token_endpoint="https://login.example.com/token",
    jwks_uri="https://login.example.com/jwks",
)
#: ``nsight-lab up``: one server mounts both services under the gateway's prefixes.
EMBEDDED = Upstreams(
    coordinator=Upstream("127.0.0.1", 18001, "/coordinator/"),
    analysis=Upstream("127.0.0.1", 18001, "/analysis/"),
    ui=Upstream("127.0.0.1", 18001, "/"),
)
#: A cluster: a service per Deployment, the gateway's prefix stripped; JupyterLab at
#: ``/`` acts as each signed-in user, so it takes the verified token.
CLUSTER = Upstreams(
    coordinator=Upstream("nsight-coordinator", 8000),
    analysis=Upstream("nsight-analysis", 8000),
    ui=Upstream("nsight-ui", 8888, forward_token=True),
)

JWT = {"enabled": True, "issuer": "https://example.com", "audiences": ["nsight-cloud"]}
OAUTH2 = {
    "enabled": True,
    "issuer": "https://login.example.com",
    "clientId": "nsight",
    "clientSecretFile": "/etc/nsight/oauth2/client_secret.key",
    "hmacFile": "/etc/nsight/oauth2/hmac.key",
    "scopes": ["openid", "profile", "email"],
}
CASES: dict[str, tuple[dict[str, Any], Upstreams]] = {
    "none": ({}, EMBEDDED),
    "apikey": (
        {
            "authentication": {
                "apikey": {
                    "enabled": True,
                    "key": "guide-style-single-key",
                    "keys": [
                        {"client": "team-a-ci", "key": "team-a-key-0123456789", "tags": ["team-a"]},
                        {"client": "admin", "key": "admin-key-0123456789"},
                    ],
                }
            }
        },
        EMBEDDED,
    ),
    "jwt_inline": ({"authentication": {"jwt": {**JWT, "verificationJwks": JWKS}}}, EMBEDDED),
    "jwt_remote": (
        {
            "authentication": {
                "jwt": {
                    **JWT,
                    "jwksUri": "https://example.com/jwks",
                    "jwksCacheDurationSeconds": 60,
                },
                "tenancy": {"identityClaim": "email", "tenantClaim": "groups"},
            }
        },
        CLUSTER,
    ),
    "oauth2": ({"tls": TLS, "authentication": {"oauth2": OAUTH2}}, CLUSTER),
    "jwt_and_oauth2": (
        {"tls": TLS, "authentication": {"oauth2": OAUTH2, "jwt": {**JWT, "jwksFile": "/etc/jwks"}}},
        CLUSTER,
    ),
    "tls_custom_prefixes": (
        {
            "port": 8443,
            "tls": TLS,
            "routing": {"coordinatorPrefix": "/coord/", "analysisPrefix": "/ana/"},
        },
        CLUSTER,
    ),
}


def render(name: str, **overrides: Any) -> dict[str, Any]:
    fields, upstreams = CASES[name]
    spec = GatewaySpec.model_validate({**fields, **overrides})
    return render_bootstrap(spec, upstreams, SECRET, oidc=OIDC)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_mode_renders_its_reviewed_snapshot(name: str) -> None:
    rendered = to_yaml(render(name))
    snapshot = SNAPSHOTS / f"{name}.yaml"
    if os.environ.get("NSIGHT_LAB_UPDATE_SNAPSHOTS"):
        snapshot.write_text(rendered)
    assert snapshot.exists(), f"no snapshot {snapshot.name}; run with NSIGHT_LAB_UPDATE_SNAPSHOTS=1"
    assert rendered == snapshot.read_text(), f"{name}: rendered config differs from {snapshot}"


@pytest.fixture(scope="module")
def real_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Files Envoy's validation opens: a certificate and key, a JWKS, OAuth2 secrets."""
    folder = tmp_path_factory.mktemp("gateway-files")
    issued = TestCA(folder).issue()
    cert, key = issued.cert, issued.key
    (folder / "jwks.json").write_text(JWKS)
    (folder / "client_secret.key").write_text("client-secret")
    (folder / "hmac.key").write_text("h" * 32)
    return {
        "/etc/nsight/tls/tls.crt": str(cert),
        "/etc/nsight/tls/tls.key": str(key),
        "/etc/jwks": str(folder / "jwks.json"),
        "/etc/nsight/oauth2/client_secret.key": str(folder / "client_secret.key"),
        "/etc/nsight/oauth2/hmac.key": str(folder / "hmac.key"),
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_envoy_accepts_every_rendered_config(
    name: str, real_files: dict[str, str], tmp_path: Path
) -> None:
    text = to_yaml(render(name))
    for placeholder, real in real_files.items():
        text = text.replace(placeholder, real)
    path = tmp_path / "envoy.yaml"
    path.write_text(text)
    validate(path)


def test_validation_reports_what_envoy_refuses(tmp_path: Path) -> None:
    bootstrap = render("apikey")
    hcm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    hcm["typed_config"]["http_filters"][1]["typed_config"]["forwarding"]["hide_creds"] = True
    with pytest.raises(EnvoyError, match="hide_creds"):
        validate(bootstrap)


def test_the_envoy_binary_is_the_wheels_and_runs() -> None:
    assert envoy_binary().is_file()


def filters_of(bootstrap: dict[str, Any]) -> list[str]:
    hcm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    return [f["name"] for f in hcm["typed_config"]["http_filters"]]


def routes_of(bootstrap: dict[str, Any]) -> list[dict[str, Any]]:
    hcm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes: list[dict[str, Any]] = hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    return routes


class TestFilterChain:
    def test_spoofed_identity_is_removed_before_any_auth_filter(self) -> None:
        for name in CASES:
            assert filters_of(render(name))[0] == "envoy.filters.http.header_mutation"
            assert filters_of(render(name))[-1] == "envoy.filters.http.router"

    def test_oauth2_comes_before_jwt_so_cookie_logins_are_checked_as_tokens(self) -> None:
        names = filters_of(render("jwt_and_oauth2"))
        assert names.index("envoy.filters.http.oauth2") < names.index(
            "envoy.filters.http.jwt_authn"
        )

    def test_jwt_and_oauth2_together_accept_either_provider(self) -> None:
        hcm = render("jwt_and_oauth2")["static_resources"]["listeners"][0]["filter_chains"][0]
        jwt = next(
            f for f in hcm["filters"][0]["typed_config"]["http_filters"] if "jwt" in f["name"]
        )["typed_config"]
        assert set(jwt["providers"]) == {"jwt", "oidc", "jwt_forwarding", "oidc_forwarding"}
        assert jwt["rules"][-1]["requires"] == {
            "requires_any": {"requirements": [{"provider_name": "jwt"}, {"provider_name": "oidc"}]}
        }
        assert required_providers(jwt["requirement_map"]["ui"]) == {
            "jwt_forwarding",
            "oidc_forwarding",
        }

    def test_tokens_and_keys_are_not_forwarded(self) -> None:
        text = to_yaml(render("jwt_and_oauth2"))
        assert "forward: false" in text
        assert "hide_credentials: true" in to_yaml(render("apikey"))


def jwt_config(bootstrap: dict[str, Any]) -> dict[str, Any]:
    hcm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    found: dict[str, Any] = next(
        f for f in hcm["typed_config"]["http_filters"] if f["name"].endswith("jwt_authn")
    )["typed_config"]
    return found


def required_providers(requirement: dict[str, Any]) -> set[str]:
    if "provider_name" in requirement:
        return {requirement["provider_name"]}
    return {r["provider_name"] for r in requirement["requires_any"]["requirements"]}


class TestTheUiTakesTheVerifiedToken:
    """JupyterLab behind the login acts as each user: only its route keeps the token."""

    @pytest.mark.parametrize("name", ["oauth2", "jwt_and_oauth2", "jwt_remote"])
    def test_only_the_ui_route_names_the_forwarding_providers(self, name: str) -> None:
        bootstrap = render(name)
        jwt = jwt_config(bootstrap)
        forwarding = {n for n, p in jwt["providers"].items() if p["forward"]}
        keeping = {n for n, p in jwt["providers"].items() if not p["forward"]}
        assert forwarding == {f"{n}_forwarding" for n in keeping}
        # Same checks either way: a forwarding copy differs only in ``forward``.
        for n in keeping:
            assert {**jwt["providers"][n], "forward": True} == jwt["providers"][f"{n}_forwarding"]
        assert required_providers(jwt["requirement_map"]["ui"]) == forwarding
        # Every path without a route of its own gets the providers that strip the token.
        assert [required_providers(r["requires"]) for r in jwt["rules"]] == [keeping]
        for route in routes_of(bootstrap):
            per_route = route.get("typed_per_filter_config", {}).get(
                "envoy.filters.http.jwt_authn", {}
            )
            if route.get("route", {}).get("cluster") == "ui":
                assert per_route == {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig",
                    "requirement_name": "ui",
                }
            else:
                assert "requirement_name" not in per_route, route["match"]

    def test_without_forward_token_nothing_forwards(self) -> None:
        """``nsight-lab up``: its ``/`` is the services' own index, which gets no token."""
        jwt = jwt_config(render("jwt_inline"))
        assert all(p["forward"] is False for p in jwt["providers"].values())
        assert "requirement_map" not in jwt
        assert all("typed_per_filter_config" not in r for r in routes_of(render("jwt_inline"))
                   if r.get("route", {}).get("cluster") == "ui")  # fmt: skip

    def test_api_keys_are_never_forwarded_even_to_a_token_taking_ui(self) -> None:
        bootstrap = render_bootstrap(
            GatewaySpec.model_validate(CASES["apikey"][0]), CLUSTER, SECRET
        )
        assert "forward: true" not in to_yaml(bootstrap)
        assert "hide_credentials: true" in to_yaml(bootstrap)

    @pytest.mark.parametrize("service", ["coordinator", "analysis"])
    def test_a_service_upstream_that_would_take_tokens_is_refused(self, service: str) -> None:
        upstreams = Upstreams(
            **{
                "coordinator": Upstream("nsight-coordinator", 8000),
                "analysis": Upstream("nsight-analysis", 8000),
                service: Upstream(f"nsight-{service}", 8000, forward_token=True),
            }
        )
        spec = GatewaySpec.model_validate(
            {"authentication": {"jwt": {**JWT, "jwksUri": "https://x/j"}}}
        )
        with pytest.raises(RenderError, match=f"the {service} upstream cannot take"):
            render_bootstrap(spec, upstreams, SECRET)

    def test_the_secret_reaches_only_the_router_and_every_open_route_skips_auth(self) -> None:
        bootstrap = render("apikey")
        for route in routes_of(bootstrap):
            match = route["match"].get("prefix") or route["match"].get("path")
            disabled = route.get("typed_per_filter_config", {})
            is_open = match == "/healthz" or "storage/o/" in match
            assert bool(disabled) == is_open, match


class TestRouting:
    def test_embedded_upstreams_keep_the_gateway_prefix(self) -> None:
        actions = [r["route"] for r in routes_of(render("none")) if "route" in r]
        assert all("prefix_rewrite" not in a for a in actions)

    def test_cluster_upstreams_get_the_prefix_stripped(self) -> None:
        by_match = {
            r["match"].get("prefix"): r["route"]
            for r in routes_of(render("tls_custom_prefixes"))
            if "route" in r
        }
        assert by_match["/coord/"]["prefix_rewrite"] == "/"
        assert by_match["/ana/api/v1/storage/o/"]["prefix_rewrite"] == "/api/v1/storage/o/"

    def test_service_routes_drop_browser_cookies_and_open_ones_credentials(self) -> None:
        for route in routes_of(render("oauth2")):
            prefix = route["match"].get("prefix")
            if prefix and prefix != "/":
                removed = route["request_headers_to_remove"]
                assert "cookie" in removed
                assert ("authorization" in removed) == ("storage/o/" in prefix), prefix


class TestRefusals:
    def test_oauth2_refuses_to_render_without_tls(self) -> None:
        with pytest.raises(RenderError, match="needs TLS"):
            render("oauth2", tls=None)

    def test_apikey_cannot_be_combined_with_tokens(self) -> None:
        with pytest.raises(ValueError, match="cannot be combined"):
            GatewaySpec.model_validate(
                {"authentication": {"apikey": {"enabled": True, "key": "k" * 20}, "jwt": JWT}}
            )

    def test_unresolved_secret_references_name_what_to_resolve(self) -> None:
        spec = GatewaySpec.model_validate(
            {
                "authentication": {
                    "apikey": {"enabled": True, "keySecretRef": {"name": "s", "key": "k"}}
                }
            }
        )
        with pytest.raises(RenderError, match="keySecretRef must be resolved"):
            render_bootstrap(spec, EMBEDDED, SECRET)
        spec = GatewaySpec.model_validate({"tlsSecretRef": {"name": "gateway-tls"}})
        with pytest.raises(RenderError, match="tlsSecretRef 'gateway-tls' must be resolved"):
            render_bootstrap(spec, EMBEDDED, SECRET)

    def test_a_short_shared_secret_is_refused(self) -> None:
        with pytest.raises(RenderError, match="at least 32"):
            render_bootstrap(GatewaySpec(), EMBEDDED, "short")

    def test_oauth2_without_endpoints_asks_for_discovery(self) -> None:
        spec = GatewaySpec.model_validate({"tls": TLS, "authentication": {"oauth2": OAUTH2}})
        with pytest.raises(RenderError, match="discover_oidc"):
            render_bootstrap(spec, CLUSTER, SECRET)

    def test_jwt_needs_exactly_one_key_set(self) -> None:
        with pytest.raises(RenderError, match="exactly one key set"):
            render(
                "jwt_inline",
                authentication={"jwt": {**JWT, "verificationJwks": JWKS, "jwksUri": "https://x/j"}},
            )
        with pytest.raises(RenderError, match="JWKS document"):
            render("jwt_inline", authentication={"jwt": {**JWT, "verificationJwks": "{}"}})

    def test_secrets_never_show_in_a_specs_repr(self) -> None:
        spec = GatewaySpec.model_validate(CASES["apikey"][0])
        assert "team-a-key" not in repr(spec) and "guide-style" not in repr(spec)


class TestSpecSpelling:
    """The guide's values files validate as they stand (camelCase, like the CRD)."""

    def test_guide_examples(self) -> None:
        examples = yaml.safe_load(
            """
            - port: 8888
              service: {type: LoadBalancer}
              tlsSecretRef: {name: gateway-tls}
            - authentication: {apikey: {enabled: true, keySecretRef: {name: my-apikey-secret, key: api-key}}}
            - authentication:
                oauth2: {enabled: true, issuer: "https://login.example.com", clientId: "id",
                         clientSecretRef: {name: gateway-oauth2}, scopes: [openid, profile, email]}
            - authentication: {jwt: {enabled: true, issuer: "https://example.com",
                                     audiences: [nsight-cloud], jwksSecretRef: {name: my-jwks-secret}}}
            - routing: {coordinatorPrefix: "/coordinator/", analysisPrefix: "/analysis/"}
            """
        )
        for example in examples:
            spec = GatewaySpec.model_validate(example)
            assert spec.model_dump(by_alias=True, exclude_unset=True) == example

    def test_unknown_fields_are_refused_not_ignored(self) -> None:
        with pytest.raises(ValueError, match="apiKey"):
            GatewaySpec.model_validate({"authentication": {"apiKey": {"enabled": True}}})

    def test_json_schema_uses_the_crd_names(self) -> None:
        schema = GatewaySpec.model_json_schema(by_alias=True)
        assert {"port", "service", "tlsSecretRef", "authentication", "routing"} <= set(
            schema["properties"]
        )


class TestIdentityHeader:
    def test_an_api_key_limited_to_tags_names_them_after_its_client(self) -> None:
        credentials = next(
            f
            for f in render("apikey")["static_resources"]["listeners"][0]["filter_chains"][0][
                "filters"
            ][0]["typed_config"]["http_filters"]
            if f["name"].endswith("api_key_auth")
        )["typed_config"]["credentials"]
        clients = {c["client"] for c in credentials}
        assert clients == {"apikey", "team-a-ci;tags=team-a", "admin"}
        caller = parse_caller("team-a-ci;tags=team-a", None)
        assert (caller.name, caller.tags) == ("team-a-ci", frozenset({"team-a"}))

    def test_limits_from_key_and_claim_intersect(self) -> None:
        caller = parse_caller("bob;tags=a,b", "b,c")
        assert caller.tags == frozenset({"b"})
        assert parse_caller("carol", None).tags is None
        assert parse_caller("dave", '["x", "y"]').tags == frozenset({"x", "y"})
        assert parse_caller(None, "").tags == frozenset()
