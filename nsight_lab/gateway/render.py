"""From a :class:`~nsight_lab.gateway.spec.GatewaySpec` to an Envoy bootstrap.

Pure: the same inputs give the same dict, nothing is read or fetched. Secrets stay
what the spec made them: inline values are written inline, ``*File`` values become
Envoy ``filename`` data sources that Envoy reads itself (so a rotated mounted
Secret needs no re-render for TLS, JWKS and OAuth2 secrets). API keys are the one
exception: Envoy's ``api_key_auth`` takes them inline only, so their files must be
read first (:func:`nsight_lab.gateway.secrets.resolve_files`).

The filter chain, in order, and why:
1. ``header_mutation`` removes the identity, tags and secret headers from every
   request, so no client can claim an identity or the gateway's secret.
2. ``oauth2`` (browsers: code flow, HMAC-signed cookies; requests already carrying a
   Bearer token pass through to 3).
3. ``jwt_authn`` (JWT and OAuth2 modes) checks the Bearer token, copies the identity
   and tenant claims into headers, and removes the token; on the UI's route, when its
   upstream says ``forward_token``, a forwarding copy of each provider keeps the
   verified token, so JupyterLab's server extension can call the API as the signed-in
   user. The services' routes never use those copies.
4. ``api_key_auth`` (API key mode) checks the key, forwards the key's client name in
   the identity header, and removes the key.
5. ``router``: each route adds the per-deployment secret header.
Presigned storage routes (``.../storage/o/...``) and ``/healthz`` skip 2-4: a
presigned URL's signature is its authorization, checked by the service.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from nsight_lab.gateway.identity import encode_client
from nsight_lab.gateway.spec import GatewaySpec

#: Where a service's presigned local-storage objects live, below its API root.
STORAGE_PATH = "api/v1/storage/o/"
#: Envoy's own endpoints on the listener.
OAUTH2_CALLBACK = "/oauth2/callback"
OAUTH2_SIGNOUT = "/oauth2/signout"
HEALTH_PATH = "/healthz"
#: Per-connection buffer, downstream and upstream.
BUFFER_BYTES = 4 * 1024 * 1024

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_HEADER_MUTATION = (
    "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"
)
_JWT = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
_APIKEY = "type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth"
_OAUTH2 = "type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2"
_TLS_DOWN = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
_TLS_UP = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
_FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
_JWT_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig"
#: jwt_authn's requirement for the UI route when its upstream takes the token.
UI_REQUIREMENT = "ui"
_CONNECTIONS = "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig"
_FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"

#: Where jwt_authn puts a verified token's claims (Envoy's dynamic metadata, never a
#: header), so the access log can name the token without holding it.
JWT_PAYLOAD_METADATA = "jwt_payload"

#: Access log line: no query string (presigned signatures), no credentials, only the
#: caller's identity as the gateway established it, the verified token's ``jti`` (which
#: login a request came with, for audits and revocation, without logging the token),
#: and Envoy's reason for its answer (``jwt_authn_access_denied{Jwt_is_expired}``...).
ACCESS_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %PATH(NQ)% %PROTOCOL%" %RESPONSE_CODE% '
    "%RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%ms "
    'caller="%REQ({identity})%" upstream=%UPSTREAM_CLUSTER% '
    f"token=%DYNAMIC_METADATA(envoy.filters.http.jwt_authn:{JWT_PAYLOAD_METADATA}:jti)% "
    "details=%RESPONSE_CODE_DETAILS%\n"
)


class RenderError(ValueError):
    """The spec cannot become a working gateway; the message says what to change."""


@dataclass(frozen=True)
class Upstream:
    """A service Envoy forwards to. ``path_prefix`` is where the service expects the
    requests routed to it: ``/`` for a service of its own (the gateway's prefix is
    stripped), or the gateway's own prefix when one server mounts several services
    (``nsight-lab up``)."""

    host: str
    port: int
    path_prefix: str = "/"
    #: Pass the caller's verified bearer token on (JWT and OAuth2 modes). Only for the
    #: UI, and only a JupyterLab whose server extension has ``forward_user_token`` on:
    #: it then calls the API as each signed-in user instead of as itself. The services
    #: never get a token, only the identity headers and the secret.
    forward_token: bool = False


@dataclass(frozen=True)
class Upstreams:
    coordinator: Upstream
    analysis: Upstream
    #: What ``/`` serves (JupyterLab in a cluster, the services' index in ``up``).
    ui: Upstream | None = None


@dataclass(frozen=True)
class OidcEndpoints:
    """What an issuer's ``.well-known/openid-configuration`` says (see discovery)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None = None


def render_bootstrap(
    spec: GatewaySpec,
    upstreams: Upstreams,
    shared_secret: str,
    *,
    oidc: OidcEndpoints | None = None,
    listen_address: str = "0.0.0.0",
) -> dict[str, Any]:
    """The Envoy bootstrap for ``spec``, as a dict ready for ``yaml.safe_dump``."""
    if len(shared_secret) < 32:
        raise RenderError("the gateway's shared secret must be at least 32 characters")
    builder = _Builder(spec, upstreams, shared_secret, oidc)
    return builder.bootstrap(listen_address)


def to_yaml(bootstrap: dict[str, Any]) -> str:
    return yaml.safe_dump(bootstrap, sort_keys=False, width=100)


class _Builder:
    def __init__(
        self,
        spec: GatewaySpec,
        upstreams: Upstreams,
        secret: str,
        oidc: OidcEndpoints | None,
    ) -> None:
        self.spec = spec
        self.auth = spec.authentication
        self.upstreams = upstreams
        self.secret = secret
        self.clusters: dict[str, dict[str, Any]] = {}
        self.secrets: list[dict[str, Any]] = []
        self.oidc = self._endpoints(oidc) if self.auth.oauth2.enabled else None
        if self.auth.oauth2.enabled and spec.tls is None:
            raise RenderError(
                "oauth2 needs TLS on the gateway: its session cookies are Secure, and "
                "browsers do not send them over plain HTTP; set tls (tlsSecretRef in a cluster)"
            )
        for name in ("coordinator", "analysis"):
            if getattr(upstreams, name).forward_token:
                raise RenderError(
                    f"the {name} upstream cannot take the caller's token: services get the "
                    "identity headers and the gateway's secret, never a credential"
                )
        if spec.tls_secret_ref is not None and spec.tls is None:
            raise RenderError(
                f"tlsSecretRef {spec.tls_secret_ref.name!r} must be resolved to tls.certFile/"
                "tls.keyFile (the mounted tls.crt and tls.key) before rendering"
            )

    # -- top level ----------------------------------------------------------------

    def bootstrap(self, listen_address: str) -> dict[str, Any]:
        for name, upstream in (
            ("coordinator", self.upstreams.coordinator),
            ("analysis", self.upstreams.analysis),
            ("ui", self.upstreams.ui),
        ):
            if upstream is not None:
                self.clusters[name] = _cluster(name, upstream.host, upstream.port)
        filters = self._http_filters()
        hcm = {
            "@type": _HCM,
            "stat_prefix": "gateway",
            "codec_type": "AUTO",
            # Routing and every auth rule see the path as the service will: RFC 3986
            # normalised (., .., %-encoded unreserved characters), slashes merged, and
            # encoded slashes refused outright rather than guessed at.
            "normalize_path": True,
            "merge_slashes": True,
            "path_with_escaped_slashes_action": "REJECT_REQUEST",
            "use_remote_address": True,
            "max_request_headers_kb": self.spec.max_request_headers_kb,
            "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"},
            "stream_idle_timeout": f"{self.spec.upstream_timeout_seconds}s",
            "request_timeout": "0s",
            "upgrade_configs": [{"upgrade_type": "websocket"}],
            "access_log": [
                {
                    "name": "envoy.access_loggers.stdout",
                    "typed_config": {
                        "@type": _FILE_LOG,
                        "log_format": {
                            "text_format_source": {
                                "inline_string": ACCESS_LOG_FORMAT.replace(
                                    "{identity}", self.spec.headers.identity
                                )
                            }
                        },
                    },
                }
            ],
            "route_config": self._route_config(),
            "http_filters": filters,
        }
        chain: dict[str, Any] = {
            "filters": [
                {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
            ]
        }
        if self.spec.tls is not None:
            chain["transport_socket"] = {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": _TLS_DOWN,
                    "common_tls_context": {
                        "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                        "alpn_protocols": ["h2", "http/1.1"],
                        "tls_certificates": [
                            {
                                "certificate_chain": {"filename": self.spec.tls.cert_file},
                                "private_key": {"filename": self.spec.tls.key_file},
                            }
                        ],
                    },
                },
            }
        listener = {
            "name": "gateway",
            "address": _address(listen_address, self.spec.port),
            # Room for a few of a download's 1 MiB reads in flight each way, so a large
            # transfer streams instead of stalling on flow control.
            "per_connection_buffer_limit_bytes": BUFFER_BYTES,
            "filter_chains": [chain],
        }
        static: dict[str, Any] = {"listeners": [listener], "clusters": list(self.clusters.values())}
        if self.secrets:
            static["secrets"] = self.secrets
        out: dict[str, Any] = {"node": {"id": "nsight-gateway", "cluster": "nsight-gateway"}}
        if self.spec.admin_port:
            out["admin"] = {"address": _address(self.spec.admin_address, self.spec.admin_port)}
        out["static_resources"] = static
        out["overload_manager"] = {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": _CONNECTIONS,
                        "max_active_downstream_connections": 20000,
                    },
                }
            ]
        }
        return out

    # -- routes -------------------------------------------------------------------

    def _route_config(self) -> dict[str, Any]:
        routing = self.spec.routing
        routes: list[dict[str, Any]] = [
            # Envoy's own liveness: answered here, never forwarded, never authenticated.
            {"match": {"path": HEALTH_PATH}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}},
             "typed_per_filter_config": self._disabled()},
        ]  # fmt: skip
        for name, prefix, upstream in (
            ("coordinator", routing.coordinator_prefix, self.upstreams.coordinator),
            ("analysis", routing.analysis_prefix, self.upstreams.analysis),
        ):
            # Presigned objects first: their signature authorizes them, not the caller.
            routes.append(
                self._route({"prefix": prefix + STORAGE_PATH}, name, prefix, open_route=True,
                            upstream_prefix=upstream.path_prefix)
            )  # fmt: skip
            routes.append(
                self._route({"prefix": prefix}, name, prefix, upstream_prefix=upstream.path_prefix)
            )
        if self.upstreams.ui is not None:
            ui = self._route(
                {"prefix": "/"}, "ui", "/", upstream_prefix=self.upstreams.ui.path_prefix
            )
            if self._ui_takes_token:
                # Tied to the route, not to a path rule: whatever path a request ends up
                # on after normalisation, only this route's upstream gets the token.
                ui["typed_per_filter_config"] = {
                    "envoy.filters.http.jwt_authn": {
                        "@type": _JWT_PER_ROUTE,
                        "requirement_name": UI_REQUIREMENT,
                    }
                }
            routes.append(ui)
        return {
            "name": "gateway",
            "virtual_hosts": [{"name": "nsight", "domains": ["*"], "routes": routes}],
            # The secret is set here, at the router, after every filter: it reaches
            # the services only on requests the filters let through.
            "request_headers_to_add": [
                {
                    "header": {"key": self.spec.headers.secret, "value": self.secret},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ],
        }

    def _route(
        self,
        match: dict[str, Any],
        cluster: str,
        prefix: str,
        *,
        upstream_prefix: str,
        open_route: bool = False,
    ) -> dict[str, Any]:
        action: dict[str, Any] = {
            "cluster": cluster,
            # No total deadline (a 1 GiB download may take minutes); an upstream that
            # goes quiet for this long is cut off instead.
            "timeout": "0s",
            "idle_timeout": f"{self.spec.upstream_timeout_seconds}s",
        }
        if upstream_prefix != prefix:
            action["prefix_rewrite"] = upstream_prefix + match["prefix"][len(prefix) :]
        route: dict[str, Any] = {"match": match, "route": action}
        if prefix != "/":
            # Requests for the services never carry the browser's cookies onwards
            # (the OAuth2 filter's tokens live there); the UI keeps its own.
            route["request_headers_to_remove"] = ["cookie"]
        if open_route:
            route["typed_per_filter_config"] = self._disabled()
            # No filter consumed the caller's credential here, so drop it: a presigned
            # URL needs none, and the service must never see one.
            route["request_headers_to_remove"] = ["cookie", "authorization"]
        return route

    @property
    def _ui_takes_token(self) -> bool:
        ui = self.upstreams.ui
        tokens = self.auth.jwt.enabled or self.auth.oauth2.enabled
        return ui is not None and ui.forward_token and tokens

    def _disabled(self) -> dict[str, Any]:
        disabled = {"@type": _FILTER_CONFIG, "disabled": True}
        return {name: disabled for name in self._auth_filter_names()}

    # -- filters ------------------------------------------------------------------

    def _auth_filter_names(self) -> list[str]:
        names = []
        if self.auth.oauth2.enabled:
            names.append("envoy.filters.http.oauth2")
        if self.auth.jwt.enabled or self.auth.oauth2.enabled:
            names.append("envoy.filters.http.jwt_authn")
        if self.auth.apikey.enabled:
            names.append("envoy.filters.http.api_key_auth")
        return names

    def _http_filters(self) -> list[dict[str, Any]]:
        headers = self.spec.headers
        filters: list[dict[str, Any]] = [
            {
                "name": "envoy.filters.http.header_mutation",
                "typed_config": {
                    "@type": _HEADER_MUTATION,
                    "mutations": {
                        "request_mutations": [
                            {"remove": name}
                            for name in (headers.identity, headers.tags, headers.secret)
                        ]
                    },
                },
            }
        ]
        if self.auth.oauth2.enabled:
            filters.append(self._oauth2())
        if self.auth.jwt.enabled or self.auth.oauth2.enabled:
            filters.append(self._jwt())
        if self.auth.apikey.enabled:
            filters.append(self._apikey())
        filters.append({"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}})
        return filters

    def _apikey(self) -> dict[str, Any]:
        keys = self.auth.apikey.all_keys()
        if self.auth.apikey.key_secret_ref is not None and not keys:
            raise RenderError(
                "apikey.keySecretRef must be resolved to apikey.key (or keyFile read with "
                "resolve_files) before rendering"
            )
        if not keys:
            raise RenderError("apikey is enabled but no key is given: set key, keyFile or keys")
        credentials = []
        for key in keys:
            if key.key is None:
                raise RenderError(
                    f"API key {key.client!r} is still a file ({key.key_file}); read it with "
                    "nsight_lab.gateway.secrets.resolve_files before rendering"
                )
            credentials.append({"key": key.key, "client": encode_client(key.client, key.tags)})
        return {
            "name": "envoy.filters.http.api_key_auth",
            "typed_config": {
                "@type": _APIKEY,
                "credentials": credentials,
                "key_sources": [{"header": "authorization"}],
                "forwarding": {"header": self.spec.headers.identity, "hide_credentials": True},
            },
        }

    def _jwt(self) -> dict[str, Any]:
        tenancy = self.auth.tenancy
        claims = [
            {"header_name": self.spec.headers.identity, "claim_name": tenancy.identity_claim},
            {"header_name": self.spec.headers.tags, "claim_name": tenancy.tenant_claim},
        ]
        providers: dict[str, Any] = {}
        if self.auth.jwt.enabled:
            jwt = self.auth.jwt
            if not jwt.issuer:
                raise RenderError(
                    "jwt.issuer is required: tokens from any other issuer are refused"
                )
            if not jwt.audiences:
                raise RenderError("jwt.audiences needs at least one audience this API accepts")
            provider: dict[str, Any] = {"issuer": jwt.issuer, "audiences": list(jwt.audiences)}
            sources = [s for s in (jwt.verification_jwks, jwt.jwks_file, jwt.jwks_uri) if s]
            if len(sources) != 1:
                if jwt.jwks_secret_ref is not None and not sources:
                    raise RenderError(
                        "jwt.jwksSecretRef must be resolved to jwt.jwksFile (the mounted key) "
                        "before rendering"
                    )
                raise RenderError(
                    "jwt needs exactly one key set: verificationJwks, jwksFile or jwksUri"
                )
            if jwt.verification_jwks:
                _check_jwks(jwt.verification_jwks)
                provider["local_jwks"] = {"inline_string": jwt.verification_jwks}
            elif jwt.jwks_file:
                provider["local_jwks"] = {"filename": jwt.jwks_file}
            else:
                assert jwt.jwks_uri is not None
                provider["remote_jwks"] = self._remote_jwks(
                    jwt.jwks_uri, jwt.jwks_cache_duration_seconds
                )
            provider["clock_skew_seconds"] = jwt.clock_skew_seconds
            providers["jwt"] = provider
        if self.auth.oauth2.enabled:
            assert self.oidc is not None
            oauth2 = self.auth.oauth2
            providers["oidc"] = {
                "issuer": self.oidc.issuer,
                "audiences": list(oauth2.audiences or [oauth2.client_id or ""]),
                "remote_jwks": self._remote_jwks(
                    self.oidc.jwks_uri, oauth2.jwks_cache_duration_seconds
                ),
                "clock_skew_seconds": 30,
            }
        for provider in providers.values():
            provider["from_headers"] = [{"name": "authorization", "value_prefix": "Bearer "}]
            provider["forward"] = False
            provider["claim_to_headers"] = claims
            provider["payload_in_metadata"] = JWT_PAYLOAD_METADATA
        names = list(providers)
        # Open routes disable this filter outright (see _route); every other path needs
        # a token, and only the UI route (per-route config) may keep it.
        rules = [{"match": {"prefix": "/"}, "requires": _any_of(names)}]
        config: dict[str, Any] = {"@type": _JWT, "providers": providers, "rules": rules}
        if self._ui_takes_token:
            # Same issuer, audiences and keys; only ``forward`` differs. Envoy allows
            # providers to share an issuer when each requirement names its provider.
            for name in names:
                providers[f"{name}_forwarding"] = {
                    **copy.deepcopy(providers[name]),
                    "forward": True,
                }
            config["requirement_map"] = {
                UI_REQUIREMENT: _any_of([f"{name}_forwarding" for name in names])
            }
        return {"name": "envoy.filters.http.jwt_authn", "typed_config": config}

    def _remote_jwks(self, uri: str, cache_s: int) -> dict[str, Any]:
        return {
            "http_uri": {"uri": uri, "cluster": self._url_cluster(uri), "timeout": "5s"},
            "cache_duration": f"{cache_s}s",
            # Fetched at start-up and refreshed in the background before the cache
            # runs out, so a rotated key is picked up without a failed request.
            "async_fetch": {"failed_refetch_duration": "1s"},
            "retry_policy": {"num_retries": 3},
        }

    def _oauth2(self) -> dict[str, Any]:
        oauth2 = self.auth.oauth2
        assert self.oidc is not None
        if not oauth2.client_id:
            raise RenderError("oauth2.clientId is required")
        token_secret = self._generic_secret(
            "oauth2-client-secret", oauth2.client_secret, oauth2.client_secret_file, "clientSecret"
        )
        hmac_secret = self._generic_secret("oauth2-hmac", oauth2.hmac, oauth2.hmac_file, "hmac")  # fmt: skip
        routing = self.spec.routing
        return {
            "name": "envoy.filters.http.oauth2",
            "typed_config": {
                "@type": _OAUTH2,
                "config": {
                    "token_endpoint": {
                        "uri": self.oidc.token_endpoint,
                        "cluster": self._url_cluster(self.oidc.token_endpoint),
                        "timeout": "5s",
                    },
                    "authorization_endpoint": self.oidc.authorization_endpoint,
                    "redirect_uri": "https://%REQ(:authority)%" + OAUTH2_CALLBACK,
                    "redirect_path_matcher": {"path": {"exact": OAUTH2_CALLBACK}},
                    "signout_path": {"path": {"exact": OAUTH2_SIGNOUT}},
                    "credentials": {
                        "client_id": oauth2.client_id,
                        "token_secret": {"name": token_secret},
                        "hmac_secret": {"name": hmac_secret},
                    },
                    "auth_scopes": list(oauth2.scopes),
                    "forward_bearer_token": True,
                    "use_refresh_token": True,
                    # CLI and API clients bring their own Bearer token: jwt_authn checks it.
                    "pass_through_matcher": [
                        {"name": "authorization", "string_match": {"prefix": "Bearer "}}
                    ],
                    # Programs get a 401, not a login page they cannot follow.
                    "deny_redirect_matcher": [
                        {"name": ":path", "string_match": {"prefix": routing.coordinator_prefix}},
                        {"name": ":path", "string_match": {"prefix": routing.analysis_prefix}},
                    ],
                },
            },
        }

    def _generic_secret(
        self, name: str, inline: str | None, filename: str | None, what: str
    ) -> str:
        if (inline is None) == (filename is None):
            if self.auth.oauth2.client_secret_ref is not None:
                raise RenderError(
                    f"oauth2.clientSecretRef must be resolved to oauth2.{what}File (the mounted "
                    f"{'client_secret.key' if what == 'clientSecret' else 'hmac.key'}) before rendering"
                )
            raise RenderError(f"oauth2 needs exactly one of {what} or {what}File")
        source = {"inline_string": inline} if inline is not None else {"filename": filename}
        self.secrets.append({"name": name, "generic_secret": {"secret": source}})
        return name

    def _endpoints(self, oidc: OidcEndpoints | None) -> OidcEndpoints:
        oauth2 = self.auth.oauth2
        explicit = (oauth2.authorization_endpoint, oauth2.token_endpoint, oauth2.jwks_uri)
        if oauth2.issuer is None:
            raise RenderError("oauth2.issuer is required")
        if all(explicit):
            return OidcEndpoints(
                issuer=oauth2.issuer,
                authorization_endpoint=oauth2.authorization_endpoint or "",
                token_endpoint=oauth2.token_endpoint or "",
                jwks_uri=oauth2.jwks_uri or "",
                end_session_endpoint=oauth2.end_session_endpoint,
            )
        if oidc is None:
            raise RenderError(
                "oauth2 needs the IdP's endpoints: pass oidc=discover_oidc(issuer) or set "
                "authorizationEndpoint, tokenEndpoint and jwksUri"
            )
        return OidcEndpoints(
            issuer=oidc.issuer,
            authorization_endpoint=oauth2.authorization_endpoint or oidc.authorization_endpoint,
            token_endpoint=oauth2.token_endpoint or oidc.token_endpoint,
            jwks_uri=oauth2.jwks_uri or oidc.jwks_uri,
            end_session_endpoint=oauth2.end_session_endpoint or oidc.end_session_endpoint,
        )

    def _url_cluster(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RenderError(f"{url!r} is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        name = f"idp_{parts.scheme}_{parts.hostname}_{port}".replace(".", "_").replace(":", "_")
        if name not in self.clusters:
            cluster = _cluster(name, parts.hostname, port)
            if parts.scheme == "https":
                cluster["transport_socket"] = {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": {
                        "@type": _TLS_UP,
                        "sni": parts.hostname,
                        "common_tls_context": {
                            "validation_context": {
                                "trusted_ca": {"filename": self.auth.idp_ca_file},
                                "match_typed_subject_alt_names": [
                                    {"san_type": "DNS", "matcher": {"exact": parts.hostname}}
                                ],
                            }
                        },
                    },
                }
            self.clusters[name] = cluster
        return name


def _any_of(providers: list[str]) -> dict[str, Any]:
    if len(providers) == 1:
        return {"provider_name": providers[0]}
    return {"requires_any": {"requirements": [{"provider_name": n} for n in providers]}}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _cluster(name: str, host: str, port: int) -> dict[str, Any]:
    return {
        "name": name,
        "per_connection_buffer_limit_bytes": BUFFER_BYTES,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(host, port)}}]}],
        },
    }


def _check_jwks(text: str) -> None:
    try:
        keys = json.loads(text).get("keys")
    except (ValueError, AttributeError):
        keys = None
    if not isinstance(keys, list) or not keys:
        raise RenderError('jwt.verificationJwks must be a JWKS document: {"keys": [...]}')
