"""The CLI's connection settings, kept in ``~/.nsight-cloud.conf``.

The file name follows the product users already know, so scripts that point at it
keep working. It may hold an API key or OAuth client settings, so it is written with
mode 0600 and refused (with advice) when other users can read it.
"""

from __future__ import annotations

import json
import os
import ssl
import stat
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from nsight_lab.models import DEFAULT_TAG

CONFIG_ENV = "NSIGHT_CLOUD_CONF"
GATEWAY_ENV = "NSIGHT_LAB_GW"
API_KEY_ENV = "NSIGHT_API_KEY"
DEFAULT_GATEWAY = "http://127.0.0.1:8888"


class ConfigError(RuntimeError):
    """The configuration file is missing, unreadable or unsafe; the message says what to do."""


#: The guide's names of the two OAuth2 logins, and the older spellings kept as aliases.
OAUTH_FLOWS = ("code", "device")
OAUTH_FLOW_ALIASES = {"authorization_code": "code", "device_code": "device"}


class AuthSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    apikey: str | None = None
    issuer: str | None = None
    clientid: str | None = None
    oauth_flow_type: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    #: Scopes asked for at login (default: openid offline_access).
    scopes: list[str] | None = None
    #: The API's identifier at the IdP, when it needs one to mint tokens for the gateway
    #: (sent as the ``resource`` and ``audience`` parameters).
    audience: str | None = None

    @field_validator("oauth_flow_type")
    @classmethod
    def _known_flow(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = OAUTH_FLOW_ALIASES.get(value, value)
        if value not in OAUTH_FLOWS:
            raise ValueError(f"oauth_flow_type must be one of {', '.join(OAUTH_FLOWS)}")
        return value

    @property
    def flow(self) -> str:
        return self.oauth_flow_type or "code"


class PortForwardSpec(BaseModel):
    """A ``kubectl port-forward`` that ``autoconfigure`` started and later commands keep up."""

    model_config = ConfigDict(extra="ignore")

    command: list[str]
    local_port: int
    pid: int | None = None


class CliConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    gw: str = DEFAULT_GATEWAY
    tag: str = DEFAULT_TAG
    auth: AuthSettings = Field(default_factory=AuthSettings)
    #: CA bundle for a gateway with a self-signed certificate.
    ca_cert: str | None = None
    #: Storage hosts reached through a local address (``host:port`` -> ``http://127.0.0.1:N``):
    #: presigned URLs keep naming the in-cluster host they are signed for, and the request
    #: goes to the forward with that Host header, so the signature still holds.
    storage_proxies: dict[str, str] = Field(default_factory=dict)
    #: Port-forwards ``autoconfigure`` set up for a ClusterIP gateway (and its MinIO).
    port_forwards: list[PortForwardSpec] = Field(default_factory=list)
    #: Where ``autoconfigure`` read this configuration (namespace/service (gateway)).
    autoconfigured_from: str | None = None
    #: The file this config was read from (tokens from ``login`` are kept beside it).
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path | None:
        return self._source

    def tls_verify(self) -> ssl.SSLContext | bool:
        """How to check server certificates: the system's CAs, plus ``ca_cert`` if set.

        Added to, not replacing, the system store: the gateway may use a private CA while
        the identity provider has a public certificate.
        """
        if not self.ca_cert:
            return True
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cafile=self.ca_cert)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot read the CA file {self.ca_cert} ({exc}); fix the path with "
                "`nsight-lab configure ... --ca-file FILE`"
            ) from exc
        return context

    @property
    def coordinator_url(self) -> str:
        """The coordinator's API root behind the gateway (trailing slash for urljoin)."""
        return self.gw.rstrip("/") + "/coordinator/api/v1/"

    @property
    def analysis_url(self) -> str:
        return self.gw.rstrip("/") + "/analysis/api/v1/"

    def storage_request(self, url: str) -> tuple[str, dict[str, str]]:
        """Where to send a presigned storage request, and the headers that keep it valid."""
        parts = urlsplit(url)
        proxy = self.storage_proxies.get(parts.netloc)
        if proxy is None:
            return url, {}
        target = urlsplit(proxy)
        return urlunsplit(parts._replace(scheme=target.scheme, netloc=target.netloc)), {
            "Host": parts.netloc
        }


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or Path.home() / ".nsight-cloud.conf")


def load_config(path: Path | None = None) -> CliConfig:
    """Read the config, or defaults when there is none; ``NSIGHT_LAB_GW`` overrides the URL."""
    path = path or config_path()
    config = CliConfig()
    if path.exists():
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{path} is readable by other users (mode {oct(mode & 0o777)}); "
                f"it may hold credentials. Fix it with: chmod 600 {path}"
            )
        try:
            config = CliConfig.model_validate(json.loads(path.read_text()))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ConfigError(
                f"{path} is not a valid nsight-lab config ({exc}). "
                "Rewrite it with: nsight-lab configure --gw URL"
            ) from exc
    if os.environ.get(GATEWAY_ENV):
        config = config.model_copy(update={"gw": os.environ[GATEWAY_ENV]})
    config._source = path
    return config


def save_config(config: CliConfig, path: Path | None = None) -> Path:
    """Write atomically with mode 0600 from the first byte (never briefly world-readable)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(config.model_dump_json(indent=2, exclude_none=True))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
