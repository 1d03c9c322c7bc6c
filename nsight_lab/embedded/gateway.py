"""``nsight-lab up --auth``: Envoy in front of the in-process services.

The services move to a private loopback port and answer only requests carrying a
secret made for this run; Envoy listens where the user asked, authenticates, and
adds that secret. Envoy is a child process that dies with ``up`` (SIGTERM on exit,
and the kernel's parent-death signal if ``up`` is killed outright).
"""

from __future__ import annotations

import ctypes
import ipaddress
import secrets
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsight_lab.embedded.stack import (
    ANALYSIS_PREFIX,
    COORDINATOR_PREFIX,
    BackgroundServer,
    StackConfig,
    build_app,
    free_port,
)
from nsight_lab.gateway.discovery import discover_oidc
from nsight_lab.gateway.envoy import EnvoyProcess
from nsight_lab.gateway.render import (
    OidcEndpoints,
    RenderError,
    Upstream,
    Upstreams,
    render_bootstrap,
)
from nsight_lab.gateway.secrets import read_api_keys
from nsight_lab.gateway.spec import GatewaySpec
from nsight_lab.servicekit.trust import GatewaySettings

MODES = ("none", "apikey", "jwt", "oauth2")


@dataclass
class GatewayOptions:
    """What ``up``'s ``--auth`` and its companion flags said."""

    modes: tuple[str, ...] = ("none",)
    apikey_file: Path | None = None
    jwks_file: Path | None = None
    jwks_uri: str | None = None
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    client_id: str | None = None
    client_secret_file: Path | None = None
    hmac_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tenant_claim: str = "nsight_tags"
    identity_claim: str = "sub"
    jwks_cache_s: int = 300
    #: Where Envoy's admin (and Prometheus stats) listens; 0 picks a free port.
    admin_port: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_spec(options: GatewayOptions, port: int) -> GatewaySpec:
    """The gateway spec ``up`` renders; raises :class:`RenderError` naming the flag."""
    modes = set(options.modes)
    if "none" in modes and len(modes) > 1:
        raise RenderError("--auth none cannot be combined with another mode")
    if (options.tls_cert is None) != (options.tls_key is None):
        raise RenderError("--tls-cert and --tls-key go together")
    if "oauth2" in modes and options.tls_cert is None:
        raise RenderError(
            "--auth oauth2 needs TLS (--tls-cert and --tls-key): its session cookies are "
            "Secure, and browsers do not send them over plain HTTP"
        )
    auth: dict[str, Any] = {
        "tenancy": {"tenantClaim": options.tenant_claim, "identityClaim": options.identity_claim}
    }
    if "apikey" in modes:
        if options.apikey_file is None:
            raise RenderError(
                "--auth apikey needs --apikey-file: one key per line, 'CLIENT KEY [TAG,TAG]'"
            )
        keys = read_api_keys(options.apikey_file)
        auth["apikey"] = {
            "enabled": True,
            "keys": [k.model_dump(by_alias=True, exclude_none=True) for k in keys],
        }
    if "jwt" in modes:
        if not options.issuer or not options.audiences:
            raise RenderError("--auth jwt needs --issuer and at least one --audience")
        if (options.jwks_file is None) == (options.jwks_uri is None):
            raise RenderError("--auth jwt needs one of --jwks-file or --jwks-uri")
        auth["jwt"] = {
            "enabled": True,
            "issuer": options.issuer,
            "audiences": list(options.audiences),
            "jwksFile": str(options.jwks_file) if options.jwks_file else None,
            "jwksUri": options.jwks_uri,
            "jwksCacheDurationSeconds": options.jwks_cache_s,
        }
    if "oauth2" in modes:
        missing = [
            flag
            for flag, value in (
                ("--issuer", options.issuer),
                ("--client-id", options.client_id),
                ("--client-secret-file", options.client_secret_file),
                ("--hmac-file", options.hmac_file),
            )
            if not value
        ]
        if missing:
            raise RenderError(f"--auth oauth2 needs {', '.join(missing)}")
        auth["oauth2"] = {
            "enabled": True,
            "issuer": options.issuer,
            "clientId": options.client_id,
            "clientSecretFile": str(options.client_secret_file),
            "hmacFile": str(options.hmac_file),
            "audiences": list(options.audiences),
            "jwksCacheDurationSeconds": options.jwks_cache_s,
        }
    spec: dict[str, Any] = {
        "port": port,
        "authentication": auth,
        "adminPort": options.admin_port or free_port(),
        **options.extra,
    }
    if options.tls_cert is not None and options.tls_key is not None:
        spec["tls"] = {"certFile": str(options.tls_cert), "keyFile": str(options.tls_key)}
    try:
        return GatewaySpec.model_validate(spec)
    except ValueError as exc:
        raise RenderError(str(exc)) from exc


def _die_with_parent() -> None:
    """In the Envoy child, before exec: SIGTERM it when ``up`` dies (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class GatewayStack:
    """The services on a private port and Envoy on the public one, started together."""

    url: str
    services_url: str
    admin_url: str
    spec: GatewaySpec
    server: BackgroundServer
    envoy: EnvoyProcess
    app: Any

    def stop(self) -> None:
        self.envoy.stop()
        self.server.stop()


def start_gateway_stack(
    config: StackConfig,
    spec: GatewaySpec,
    *,
    oidc: OidcEndpoints | None = None,
    secret: str | None = None,
    log_path: Path | None = None,
    ui: Upstream | None = None,
) -> GatewayStack:
    """The services on a private loopback port behind an Envoy serving ``spec`` on
    ``config.host:config.port``; on any failure nothing is left running. ``/`` serves
    the services' index unless ``ui`` names another upstream (a JupyterLab, say)."""
    secret = secret or secrets.token_urlsafe(32)
    services_port = free_port()
    inner = StackConfig(
        data_dir=config.data_dir,
        host="127.0.0.1",
        port=services_port,
        storage_config=config.storage_config,
        gateway=GatewaySettings(secret=secret, secret_file=None),
    )
    bootstrap = render_bootstrap(
        spec,
        Upstreams(
            coordinator=Upstream("127.0.0.1", services_port, COORDINATOR_PREFIX + "/"),
            analysis=Upstream("127.0.0.1", services_port, ANALYSIS_PREFIX + "/"),
            ui=ui or Upstream("127.0.0.1", services_port, "/"),
        ),
        secret,
        oidc=oidc,
        listen_address=config.host,
    )
    app = build_app(inner)
    server = BackgroundServer(app, "127.0.0.1", services_port).start()
    work = config.data_dir / "gateway"
    work.mkdir(parents=True, exist_ok=True)
    log = (log_path or work / "envoy.log").open("ab")
    envoy = EnvoyProcess(bootstrap, work, log=log, preexec=_die_with_parent)
    try:
        envoy.start()
    except Exception:
        server.stop()
        raise
    finally:
        log.close()
    scheme = "https" if spec.tls else "http"
    shown = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    return GatewayStack(
        url=f"{scheme}://{shown}:{config.port}",
        services_url=server.url,
        admin_url=envoy.admin_url,
        spec=spec,
        server=server,
        envoy=envoy,
        app=app,
    )


@contextmanager
def gateway_stack(config: StackConfig, options: GatewayOptions) -> Iterator[GatewayStack]:
    """``up --auth``: the spec from the flags, the IdP's endpoints read if oauth2."""
    spec = build_spec(options, config.port)
    oidc = None
    if spec.authentication.oauth2.enabled and options.issuer:
        oidc = discover_oidc(options.issuer)
    stack = start_gateway_stack(config, spec, oidc=oidc)
    try:
        yield stack
    finally:
        stack.stop()


def serve_with_gateway(config: StackConfig, options: GatewayOptions, announce: Any) -> None:
    """Run until SIGINT/SIGTERM, then stop Envoy and the services."""
    done = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        done.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with gateway_stack(config, options) as stack:
            announce(stack)
            while not done.is_set():
                if stack.envoy.proc is not None and stack.envoy.proc.poll() is not None:
                    raise RuntimeError(
                        f"Envoy exited with status {stack.envoy.proc.returncode}; "
                        f"see {config.data_dir / 'gateway' / 'envoy.log'}"
                    )
                done.wait(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
