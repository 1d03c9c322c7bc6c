"""Which gateway the server extension talks to, and with what credentials.

The user's ``~/.nsight-cloud.conf`` (and its ``NSIGHT_*`` environment overrides) is
read on every request rather than once at start-up, so running ``nsight-lab configure``
in a terminal takes effect in an open JupyterLab without restarting the server.
Explicit server configuration (``c.NsightLabExtension.gateway_url``) wins over both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from nsight_lab.config import load_config

SERVICES = ("coordinator", "analysis")


@dataclass(frozen=True)
class GatewayConnection:
    gateway: str
    tag: str
    api_key: str | None
    ca_cert: str | None

    def api_root(self, service: str) -> str:
        """The service's API root behind the gateway, with a trailing slash."""
        if service not in SERVICES:
            raise ValueError(f"unknown nsight-lab service {service!r}; expected one of {SERVICES}")
        return f"{self.gateway.rstrip('/')}/{service}/api/v1/"

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": "nsight-lab-jupyter"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def client(self, timeout: float) -> httpx.AsyncClient:
        """A client for gateway calls only: it carries the bearer token.

        Presigned storage URLs must be fetched with :meth:`storage_client`, which
        carries none, so the key never travels to object storage.
        """
        return httpx.AsyncClient(
            headers=self.headers(), timeout=timeout, verify=self.ca_cert or True
        )

    def storage_client(self, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout, verify=self.ca_cert or True)


def resolve_connection(
    *,
    gateway_url: str | None = None,
    api_key: str | None = None,
    ca_cert: str | None = None,
    config_file: str | None = None,
) -> GatewayConnection:
    """The connection for one request: server config > environment > config file.

    Raises :class:`nsight_lab.config.ConfigError` when the config file is unsafe or
    invalid; its message says how to fix it.
    """
    config = load_config(Path(config_file) if config_file else None)
    return GatewayConnection(
        gateway=gateway_url or config.gw,
        tag=config.tag,
        api_key=api_key or config.api_key(),
        ca_cert=ca_cert or config.ca_cert,
    )


def unreachable_detail(url: str, exc: Exception) -> str:
    return (
        f"cannot reach the nsight-lab gateway at {url} ({exc.__class__.__name__}: {exc}). "
        "Start one with `nsight-lab up`, or point JupyterLab at yours with "
        "`nsight-lab configure --gw URL` (or NSIGHT_LAB_GW) and reload."
    )
