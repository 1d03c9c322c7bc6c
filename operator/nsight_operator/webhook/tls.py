"""The webhook's certificate: kept in a Secret, renewed before expiry, trusted via caBundle.

Every replica serves the webhook, so the certificate lives in one Secret
(``webhook_cert_secret``: ``ca.crt``, ``ca.key``, ``tls.crt``, ``tls.key``) that the
first replica creates and any replica renews; writes carry the resourceVersion they
read, so concurrent renewals cannot clobber each other. The CA lasts ten years and
goes into the MutatingWebhookConfiguration's ``caBundle``; the serving certificate
lasts ``webhook_cert_days`` and is replaced once two thirds of it have passed, without
a restart (new handshakes use the new certificate).
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nsight_lab.cluster.api import Kube, KubeError
from nsight_operator.certs import (
    KeyPair,
    covers,
    make_ca,
    make_serving_cert,
    needs_renewal,
    signed_by,
)
from nsight_operator.settings import OperatorSettings

log = logging.getLogger("nsight_operator.webhook")


@dataclass(frozen=True)
class WebhookCert:
    ca_pem: bytes
    serving: KeyPair


def _secret(
    settings: OperatorSettings, data: dict[str, bytes], version: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": settings.webhook_cert_secret,
        "namespace": settings.namespace,
        "labels": {
            "app.kubernetes.io/part-of": "nsight-lab",
            "app.kubernetes.io/component": "injector",
        },
    }
    if version:
        meta["resourceVersion"] = version
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "kubernetes.io/tls",
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def _decode(found: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (found.get("data") or {}).items()}


def ensure_cert(kube: Kube, settings: OperatorSettings) -> WebhookCert:
    """The current certificate from the Secret, made or renewed first when needed."""
    dns, ips = settings.webhook_dns_names, settings.ip_addresses
    for _attempt in range(5):
        found = kube.get("v1", "Secret", settings.webhook_cert_secret, settings.namespace)
        data = _decode(found) if found else {}
        ca = KeyPair(data.get("ca.crt", b""), data.get("ca.key", b""))
        if not ca.cert_pem or not ca.key_pem:
            ca = make_ca("nsight-lab-injector-ca")
        serving = KeyPair(data.get("tls.crt", b""), data.get("tls.key", b""))
        fresh = (
            serving.cert_pem
            and serving.key_pem
            and not needs_renewal(serving.cert_pem)
            and covers(serving.cert_pem, dns_names=dns, ip_addresses=ips)
            and signed_by(serving.cert_pem, ca.cert_pem)
        )
        if found and fresh:
            return WebhookCert(ca.cert_pem, serving)
        serving = make_serving_cert(
            ca, dns_names=dns, ip_addresses=ips, days=settings.webhook_cert_days
        )
        new = {
            "ca.crt": ca.cert_pem,
            "ca.key": ca.key_pem,
            "tls.crt": serving.cert_pem,
            "tls.key": serving.key_pem,
        }
        try:
            if found is None:
                kube.create(_secret(settings, new))
            else:
                kube.replace(_secret(settings, new, found["metadata"]["resourceVersion"]))
        except KubeError as exc:
            if exc.status == 409:  # another replica wrote first: use theirs
                continue
            raise
        log.info("webhook serving certificate %s", "created" if found is None else "renewed")
        return WebhookCert(ca.cert_pem, serving)
    raise RuntimeError(
        f"could not settle Secret {settings.webhook_cert_secret}: too many write conflicts"
    )


def patch_ca_bundle(kube: Kube, config_name: str, ca_pem: bytes) -> bool:
    """Put the CA into every webhook of the configuration; True when something changed."""
    bundle = base64.b64encode(ca_pem).decode()
    for _attempt in range(5):
        config = kube.get(
            "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", config_name
        )
        if config is None:
            log.warning(
                "MutatingWebhookConfiguration %s does not exist; the apiserver will not call the injector",
                config_name,
            )
            return False
        changed = False
        for hook in config.get("webhooks") or []:
            client = hook.setdefault("clientConfig", {})
            if client.get("caBundle") != bundle:
                client["caBundle"] = bundle
                changed = True
        if not changed:
            return False
        try:
            kube.replace(config)
        except KubeError as exc:
            if exc.status == 409:
                continue
            raise
        log.info("caBundle of %s updated", config_name)
        return True
    return False


class ServingContext:
    """An SSL context whose certificate can be swapped while the server runs."""

    def __init__(self) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._dir = Path(tempfile.mkdtemp(prefix="nsight-webhook-tls-"))
        os.chmod(self._dir, 0o700)
        self.current: bytes = b""

    def load(self, cert: WebhookCert) -> bool:
        """Use ``cert`` for new handshakes; False when it is the one in use already."""
        if cert.serving.cert_pem == self.current:
            return False
        crt, key = self._dir / "tls.crt", self._dir / "tls.key"
        for path, data in ((crt, cert.serving.cert_pem), (key, cert.serving.key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        self.context.load_cert_chain(crt, key)
        self.current = cert.serving.cert_pem
        return True
