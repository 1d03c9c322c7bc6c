"""What the operator is told by its Deployment, read from ``NSIGHT_LAB_OPERATOR_*``.

The chart sets these from its values; tests set them to run the operator as a local
process against a loopback control plane (webhook on 127.0.0.1, short timers).
"""

from __future__ import annotations

import os
import socket

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nsight_operator.builders.common import DEFAULT_IMAGE


def _identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NSIGHT_LAB_OPERATOR_", extra="ignore")

    #: The namespace the operator runs in (its Lease and webhook Secret live there).
    namespace: str = Field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "default"))
    #: Namespaces whose resources it reconciles, comma-separated; empty means all.
    watch_namespaces: str = ""
    #: This replica's name in the Lease.
    identity: str = Field(default_factory=_identity)
    #: Image of the services and of the agent's init container.
    image: str = DEFAULT_IMAGE
    image_pull_policy: str | None = None
    #: The address services and the gateway bind inside their Pods ("::" on IPv6-only
    #: clusters; tests that run Pods as local processes use 127.0.0.1).
    listen_address: str = "0.0.0.0"
    #: How often every resource is reconciled again (drift is also fixed on events).
    resync_s: float = Field(30.0, gt=0)

    # --- leader election ---------------------------------------------------------------
    leader_election: bool = True
    lease_name: str = "nsight-lab-operator"
    lease_duration_s: float = Field(15.0, gt=0)
    renew_deadline_s: float = Field(10.0, gt=0)
    retry_period_s: float = Field(2.0, gt=0)

    # --- injector webhook --------------------------------------------------------------
    webhook_enabled: bool = True
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(9443, ge=1, le=65535)
    #: The MutatingWebhookConfiguration whose caBundle the operator keeps current.
    webhook_config_name: str = "nsight-lab-injector"
    #: Secret (in ``namespace``) holding the CA and the serving certificate.
    webhook_cert_secret: str = "nsight-lab-webhook-tls"
    #: The Service in front of the webhook; its DNS names go into the certificate.
    webhook_service: str = "nsight-lab-webhook"
    #: Extra IP addresses for the certificate (127.0.0.1 when the apiserver calls a URL).
    webhook_ip_addresses: str = ""
    webhook_cert_days: int = Field(90, ge=1)
    #: How often the certificate is checked for renewal.
    webhook_cert_check_s: float = Field(3600.0, gt=0)

    # --- what injected Pods get ----------------------------------------------------------
    #: The coordinator URL agents use; by default derived from the namespace's gateway.
    agent_coordinator_url: str | None = None
    #: Where the agent's files are mounted inside profiled containers.
    agent_mount_path: str = "/nsight-lab"
    #: The namespace of the NsightGateway agents go through (default: ``namespace``).
    gateway_namespace: str | None = None

    @field_validator("agent_mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"agent_mount_path must be absolute, got {value!r}")
        return value.rstrip("/") or "/"

    @property
    def namespaces(self) -> list[str]:
        return [n.strip() for n in self.watch_namespaces.split(",") if n.strip()]

    @property
    def ip_addresses(self) -> list[str]:
        return [a.strip() for a in self.webhook_ip_addresses.split(",") if a.strip()]

    @property
    def webhook_dns_names(self) -> list[str]:
        svc, ns = self.webhook_service, self.namespace
        return [svc, f"{svc}.{ns}", f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.cluster.local"]
