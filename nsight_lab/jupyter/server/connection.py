"""Which gateway the server extension talks to, and with what credentials.

The user's ``~/.nsight-cloud.conf`` (and its ``NSIGHT_*`` environment overrides) is
read on every request rather than once at start-up, so running ``nsight-lab configure``
or ``nsight-lab login`` in a terminal takes effect in an open JupyterLab without
restarting the server. Explicit server configuration (``c.NsightLabExtension.gateway_url``)
wins over both. The credential (API key, or the OAuth2 login, refreshed as needed) is
attached here, on the server: the browser never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from nsight_lab.auth.credentials import (
    Credential,
    GatewayAuth,
    resolve_credential,
    unauthorized_advice,
)
from nsight_lab.client import error_detail
from nsight_lab.config import CliConfig, load_config

SERVICES = ("coordinator", "analysis")


#: What the panel shows for each kind of credential.
AUTH_LABELS = {
    "none": "none",
    "apikey": "api-key",
    "token-file": "token-file",
    "oauth": "oauth2",
    "forwarded": "oauth2 (your login)",
}


@dataclass(frozen=True)
class GatewayConnection:
    gateway: str
    tag: str
    credential: Credential
    config: CliConfig

    @property
    def auth_label(self) -> str:
        return AUTH_LABELS[self.credential.kind]

    def api_root(self, service: str) -> str:
        """The service's API root behind the gateway, with a trailing slash."""
        if service not in SERVICES:
            raise ValueError(f"unknown nsight-lab service {service!r}; expected one of {SERVICES}")
        return f"{self.gateway.rstrip('/')}/{service}/api/v1/"

    def client(self, timeout: float) -> httpx.AsyncClient:
        """A client for gateway calls only: it carries the credential.

        Presigned storage URLs must be fetched with :meth:`storage_client`, which
        carries none, so the key never travels to object storage.
        """
        return httpx.AsyncClient(
            headers={"User-Agent": "nsight-lab-jupyter"},
            auth=GatewayAuth(self.credential),
            timeout=timeout,
            verify=self.config.tls_verify(),
        )

    def storage_client(self, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout, verify=self.config.tls_verify())

    def refusal_detail(self, response: httpx.Response) -> str:
        """The gateway's explanation; for a 401, what to run to log in again."""
        detail = error_detail(response)
        if response.status_code != 401:
            return detail
        if self.credential.kind == "forwarded":
            return f"the gateway refused your login ({detail}); reload the page to sign in again"
        return unauthorized_advice(self.config, detail) + " (in a terminal), then reload"


def resolve_connection(
    *,
    gateway_url: str | None = None,
    api_key: str | None = None,
    ca_cert: str | None = None,
    config_file: str | None = None,
    user_token: str | None = None,
) -> GatewayConnection:
    """The connection for one request: server config > environment > config file.

    Raises :class:`nsight_lab.config.ConfigError` when the config file is unsafe or
    invalid; its message says how to fix it.
    """
    config = load_config(Path(config_file) if config_file else None)
    update: dict[str, str] = {}
    if gateway_url:
        update["gw"] = gateway_url
    if ca_cert:
        update["ca_cert"] = ca_cert
    if update:
        config = config.model_copy(update=update)
    if user_token:
        credential = Credential("forwarded", "the gateway's login", api_key=user_token)
    elif api_key:
        credential = Credential("apikey", "c.NsightLabExtension.api_key", api_key=api_key)
    else:
        credential = resolve_credential(config)
    return GatewayConnection(
        gateway=config.gw, tag=config.tag, credential=credential, config=config
    )


def unreachable_detail(url: str, exc: Exception) -> str:
    return (
        f"cannot reach the nsight-lab gateway at {url} ({exc.__class__.__name__}: {exc}). "
        "Start one with `nsight-lab up`, or point JupyterLab at yours with "
        "`nsight-lab configure --gw URL` (or NSIGHT_LAB_GW) and reload."
    )
