"""The NsightGateway custom resource's ``spec``, as one typed model.

Field names are the CR's own (camelCase, the user guide's spelling) through pydantic
aliases, so a CR's ``spec`` validates as it stands and the CRD schema can be
generated from :func:`GatewaySpec.model_json_schema` one field to one field. Python
code may use the snake_case names as well.

Secrets come three ways, and the model keeps them apart so a renderer never has to
guess: inline (``key``, ``clientSecret``, ``hmac``, ``verificationJwks``), a file the
gateway reads itself (``*File``: a mounted Kubernetes Secret, or a file on a laptop),
or a Kubernetes reference (``*SecretRef``) that only the operator can resolve, into
one of the other two, before rendering.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

#: Tags travel to the services comma-separated in one header, so a tenant's tag may
#: hold neither a comma nor white space (the coordinator accepts 1-128 characters).
_TAG = re.compile(r"^[^,\s;]{1,128}$")
_CLIENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
_HEADER = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class SecretKeyRef(_Model):
    """One key of a Kubernetes Secret (``{name, key}``), resolved by the operator."""

    name: str = Field(min_length=1)
    key: str | None = None


class SecretRef(_Model):
    name: str = Field(min_length=1)


class ServiceSpec(_Model):
    type: Literal["ClusterIP", "LoadBalancer", "NodePort"] = "ClusterIP"


class TLSFiles(_Model):
    """The listener's certificate and key as files (a mounted ``kubernetes.io/tls``
    Secret's ``tls.crt``/``tls.key``, or ``--tls-cert``/``--tls-key``)."""

    cert_file: str = Field(min_length=1)
    key_file: str = Field(min_length=1)


class ApiKey(_Model):
    """One accepted key. ``client`` names the caller to the services (the identity
    header) and in Envoy's stats, never the key; ``tags`` limit it to those tags."""

    client: str
    key: str | None = Field(None, min_length=16, repr=False)
    key_file: str | None = None
    tags: list[str] | None = None

    @field_validator("client")
    @classmethod
    def _client(cls, value: str) -> str:
        if not _CLIENT.match(value):
            raise ValueError(
                f"client {value!r}: 1-128 letters, digits, '_', '.', '@', '-', starting with "
                "a letter or digit"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        return _check_tags(value)

    @model_validator(mode="after")
    def _one_source(self) -> ApiKey:
        if (self.key is None) == (self.key_file is None):
            raise ValueError(f"API key {self.client!r}: give exactly one of key or keyFile")
        return self


class ApiKeyAuth(_Model):
    """The guide's ``apikey`` block (one key: ``key``/``keySecretRef``) plus ``keys``
    for several named keys, so a key can be rotated without a moment of refusal."""

    enabled: bool = False
    key: str | None = Field(None, min_length=16, repr=False)
    key_secret_ref: SecretKeyRef | None = None
    key_file: str | None = None
    #: Client name the single ``key`` is known by.
    client: str = "apikey"
    keys: list[ApiKey] = Field(default_factory=list)

    def all_keys(self) -> list[ApiKey]:
        """Every accepted key; the single guide-style key first."""
        single = []
        if self.key is not None or self.key_file is not None:
            single = [ApiKey(client=self.client, key=self.key, key_file=self.key_file)]
        return single + list(self.keys)

    @model_validator(mode="after")
    def _keys(self) -> ApiKeyAuth:
        if self.key is not None and self.key_file is not None:
            raise ValueError("apikey: give key or keyFile, not both")
        clients = [k.client for k in self.all_keys()]
        if len(set(clients)) != len(clients):
            raise ValueError(f"apikey: client names repeat in {clients}; each key needs its own")
        return self


class JwtAuth(_Model):
    """Bearer JWTs checked against a key set: inline, a file, or a remote URI."""

    enabled: bool = False
    issuer: str | None = None
    audiences: list[str] = Field(default_factory=list)
    verification_jwks: str | None = Field(None, repr=False)
    jwks_secret_ref: SecretKeyRef | None = None
    jwks_file: str | None = None
    #: A JWKS URL fetched (and re-fetched every ``jwksCacheDurationSeconds``) by Envoy.
    jwks_uri: str | None = None
    jwks_cache_duration_seconds: int = Field(300, ge=1, le=86400)
    clock_skew_seconds: int = Field(30, ge=0, le=600)


class OAuth2Auth(_Model):
    """OIDC login for browsers (code flow, HMAC-signed cookies) and Bearer JWTs from
    the same IdP for CLI/API clients; needs TLS on the listener."""

    enabled: bool = False
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = Field(None, repr=False)
    client_secret_file: str | None = None
    hmac: str | None = Field(None, repr=False)
    hmac_file: str | None = None
    #: Holds ``client_secret.key`` and ``hmac.key``; resolved by the operator.
    client_secret_ref: SecretRef | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    #: Audiences a Bearer token must carry; default: the client id.
    audiences: list[str] = Field(default_factory=list)
    #: Discovered from ``<issuer>/.well-known/openid-configuration`` when left out.
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    jwks_uri: str | None = None
    end_session_endpoint: str | None = None
    jwks_cache_duration_seconds: int = Field(300, ge=1, le=86400)


class Tenancy(_Model):
    """Which token claims name the caller and limit it to tags."""

    #: Claim copied into the identity header (``sub``, ``email``, ``client_id``...).
    identity_claim: str = "sub"
    #: Claim holding the tags a caller may use (a list, or a comma-separated string);
    #: a token without it may use every tag.
    tenant_claim: str = "nsight_tags"

    @field_validator("identity_claim", "tenant_claim")
    @classmethod
    def _claim(cls, value: str) -> str:
        if not _CLAIM.match(value):
            raise ValueError(f"claim name {value!r} is not a plain JWT claim name")
        return value


class Authentication(_Model):
    apikey: ApiKeyAuth = Field(default_factory=ApiKeyAuth)
    jwt: JwtAuth = Field(default_factory=JwtAuth)
    oauth2: OAuth2Auth = Field(default_factory=OAuth2Auth)
    tenancy: Tenancy = Field(default_factory=Tenancy)
    #: CA bundle Envoy trusts when it calls an ``https`` IdP (token and JWKS endpoints).
    idp_ca_file: str = "/etc/ssl/certs/ca-certificates.crt"

    @property
    def modes(self) -> list[str]:
        return [
            name for name, block in (("apikey", self.apikey), ("jwt", self.jwt),
                                     ("oauth2", self.oauth2)) if block.enabled
        ]  # fmt: skip


class Routing(_Model):
    coordinator_prefix: str = "/coordinator/"
    analysis_prefix: str = "/analysis/"

    @field_validator("coordinator_prefix", "analysis_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"/[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*/", value):
            raise ValueError(
                f"routing prefix {value!r} must look like '/name/': slashes around plain "
                "path segments"
            )
        return value


class Headers(_Model):
    """The headers Envoy sets for the services (and removes from every client)."""

    identity: str = "x-nsight-identity"
    tags: str = "x-nsight-tags"
    secret: str = "x-nsight-gateway-secret"

    @field_validator("identity", "tags", "secret")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _HEADER.match(value):
            raise ValueError(f"header name {value!r}: lower-case letters, digits and '-'")
        return value


class GatewaySpec(_Model):
    """``NsightGateway.spec``."""

    port: int = Field(8888, ge=1, le=65535)
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    tls_secret_ref: SecretRef | None = None
    tls: TLSFiles | None = None
    authentication: Authentication = Field(default_factory=Authentication)
    routing: Routing = Field(default_factory=Routing)
    headers: Headers = Field(default_factory=Headers)
    #: Envoy's admin (stats in Prometheus format at ``/stats/prometheus``) listens
    #: here, on loopback unless ``adminAddress`` says otherwise; 0 picks none.
    admin_port: int = Field(9901, ge=0, le=65535)
    admin_address: str = "127.0.0.1"
    #: Largest request header block Envoy accepts, in KiB (bigger: 431).
    max_request_headers_kb: int = Field(32, ge=1, le=96)
    #: Longest an upstream may take to answer; long-polls and downloads fit under it.
    upstream_timeout_seconds: int = Field(300, ge=1, le=3600)

    @model_validator(mode="after")
    def _modes(self) -> GatewaySpec:
        modes = self.authentication.modes
        if "apikey" in modes and len(modes) > 1:
            raise ValueError(
                "authentication: apikey cannot be combined with jwt or oauth2 (a caller would "
                "need both); JWT and OAuth2 together accept either token"
            )
        headers = {self.headers.identity, self.headers.tags, self.headers.secret}
        if len(headers) != 3:
            raise ValueError("headers: identity, tags and secret need three different names")
        return self


def _check_tags(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value:
        raise ValueError("tags: an empty list would allow nothing; leave it out to allow all tags")
    for tag in value:
        if not _TAG.match(tag):
            raise ValueError(f"tag {tag!r} is not a valid tag name")
    return value
