"""The gateway: Envoy configured from one typed spec (NsightGateway's ``spec``).

Envoy does all the security work with its own filters (``api_key_auth``,
``jwt_authn``, ``oauth2``, TLS); this package only writes its bootstrap. The
operator and ``nsight-lab up --auth`` call the same functions.

How to call it (operator authors start here)::

    from nsight_lab.gateway import (
        GatewaySpec, Upstream, Upstreams, render_bootstrap, to_yaml,
        resolve_files, discover_oidc,
    )

    spec = GatewaySpec.model_validate(cr["spec"])      # camelCase, as in the CR
    # 1. Resolve Kubernetes references yourself: tlsSecretRef -> tls.certFile/keyFile
    #    (the mounted tls.crt/tls.key), apikey.keySecretRef -> apikey.key (inline),
    #    jwt.jwksSecretRef -> jwt.jwksFile, oauth2.clientSecretRef ->
    #    oauth2.clientSecretFile/hmacFile (mounted client_secret.key/hmac.key).
    #    Any *File API key must be read: spec = resolve_files(spec).
    # 2. Only for oauth2 without explicit endpoints, and only if you allow network:
    oidc = discover_oidc(spec.authentication.oauth2.issuer) if needs else None
    # 3. Render (pure: no I/O):
    bootstrap = render_bootstrap(
        spec,
        Upstreams(
            coordinator=Upstream("nsight-coordinator", 8000),  # path_prefix "/":
            analysis=Upstream("nsight-analysis", 8000),        #   gateway prefix stripped
            ui=Upstream("nsight-ui", 8888, forward_token=True),  # or None; see below
        ),
        shared_secret,      # >= 32 chars, per deployment; give the same value to the
                            # services as NSIGHT_LAB_GATEWAY_SECRET (or its _FILE)
        oidc=oidc,
    )
    configmap_data = {"envoy.yaml": to_yaml(bootstrap)}

Outputs: a dict (the Envoy v3 bootstrap) with one listener on ``spec.port``
(TLS when ``tls`` is set), Envoy's admin on ``adminAddress:adminPort`` (Prometheus
stats at ``/stats/prometheus``), one cluster per upstream and per IdP host. Errors:
:class:`RenderError`, whose message says which field to change. With a service of
its own behind ``Upstream(path_prefix="/")``, run that service with uvicorn's
``--root-path`` set to its gateway prefix (``/coordinator``) so the URLs it builds
carry the prefix. ``forward_token=True`` on the UI (JupyterLab) hands it each
caller's verified token, on its route only; run that JupyterLab with
``--NsightLabExtension.forward_user_token=True`` so its panel acts as each signed-in
user. The two go together: without the flag the panel would call with the server's
own credential (which may see every tenant); with the flag but without
``forward_token``, every panel request is refused. The services learn the header
names from :class:`~nsight_lab.gateway.spec.Headers` defaults (keep them) and the
secret from ``NSIGHT_LAB_GATEWAY_SECRET``.
"""

from nsight_lab.gateway.discovery import discover_oidc
from nsight_lab.gateway.identity import Caller, encode_client, parse_caller
from nsight_lab.gateway.render import (
    OidcEndpoints,
    RenderError,
    Upstream,
    Upstreams,
    render_bootstrap,
    to_yaml,
)
from nsight_lab.gateway.secrets import read_api_keys, read_secret_file, resolve_files
from nsight_lab.gateway.spec import GatewaySpec

__all__ = [
    "Caller",
    "GatewaySpec",
    "OidcEndpoints",
    "RenderError",
    "Upstream",
    "Upstreams",
    "discover_oidc",
    "encode_client",
    "parse_caller",
    "read_api_keys",
    "read_secret_file",
    "render_bootstrap",
    "resolve_files",
    "to_yaml",
]
