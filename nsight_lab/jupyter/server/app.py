"""``NsightLabExtension``: the server extension's settings and its routes.

Every setting is optional; an empty one falls back to the environment and then to
``~/.nsight-cloud.conf`` (see :mod:`nsight_lab.jupyter.server.connection`), e.g.::

    c.NsightLabExtension.gateway_url = "https://nsight.example.com"
    c.NsightLabExtension.api_key = "..."   # better left in ~/.nsight-cloud.conf
"""

from __future__ import annotations

from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Unicode

from nsight_lab.jupyter.server.connection import GatewayConnection, resolve_connection
from nsight_lab.jupyter.server.handlers import routes
from nsight_lab.jupyter.server.handlers.traces import TraceViews
from nsight_lab.jupyter.trace_cache import TraceCache


class NsightLabExtension(ExtensionApp):
    name = "nsight_lab"
    load_other_extensions = True

    gateway_url = Unicode(
        "",
        config=True,
        help="The nsight-lab gateway (or `nsight-lab up`) URL; empty: NSIGHT_LAB_GW, then ~/.nsight-cloud.conf.",
    )
    api_key = Unicode(
        "",
        config=True,
        help="API key sent to the gateway; empty: NSIGHT_API_KEY, then ~/.nsight-cloud.conf.",
    )
    ca_cert = Unicode(
        "", config=True, help="CA bundle for a gateway with a self-signed certificate."
    )
    config_file = Unicode(
        "",
        config=True,
        help="The nsight-lab client config to read; empty: NSIGHT_CLOUD_CONF, then ~/.nsight-cloud.conf.",
    )
    workspace_dir = Unicode(
        "nsight-lab",
        config=True,
        help="Folder under the Jupyter root where job notebooks and reports are fetched to.",
    )
    request_timeout = Float(30.0, config=True, help="Seconds to wait for one gateway answer.")
    #: Off for a personal JupyterLab (it uses its user's own `nsight-lab login`); on in
    #: every deployment that serves JupyterLab behind the gateway's login (the
    #: operator's UI). On, it never falls back to the server's own credential.
    forward_user_token = Bool(
        False,
        config=True,
        help="JupyterLab behind the nsight-lab gateway's OAuth2 login: call the API as the "
        "signed-in user, with the bearer token the gateway forwards on each request "
        "(its UI upstream needs forward_token). The server's own credential is then never "
        "used: a request without a forwarded token is refused.",
    )
    forwarded_token_header = Unicode(
        "Authorization",
        config=True,
        help="Where the gateway puts the user's token (Bearer scheme) for forward_user_token.",
    )

    trace_cache_dir = Unicode(
        "",
        config=True,
        help="Where reports opened with 'View trace' are kept, converted and laid out; "
        "empty: NSIGHT_LAB_TRACE_CACHE, then ~/.cache/nsight-lab/traces.",
    )
    trace_cache_gb = Float(
        20.0, config=True, help="Evict the least recently viewed reports beyond this size (GiB)."
    )
    stored_layouts = Bool(
        True,
        config=True,
        help="Open a report from the Timeline layout the analysis side stored at ingest "
        "(coarse levels first, the rest in the background); off: lay every report out here.",
    )

    _trace_views: TraceViews | None = None

    @property
    def trace_views(self) -> TraceViews:
        """Open trace views and the report cache behind them (made on first use)."""
        if self._trace_views is None:
            root = Path(self.trace_cache_dir).expanduser() if self.trace_cache_dir else None
            cache = TraceCache(root, max_bytes=int(self.trace_cache_gb * 1024**3))
            self._trace_views = TraceViews(cache)
        return self._trace_views

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes())

    def connection(self, user_token: str | None = None) -> GatewayConnection:
        """Resolved per request so a reconfigured client is picked up without a restart;
        ``user_token`` is the signed-in user's token when ``forward_user_token`` is on."""
        return resolve_connection(
            gateway_url=self.gateway_url or None,
            api_key=self.api_key or None,
            ca_cert=self.ca_cert or None,
            config_file=self.config_file or None,
            user_token=user_token,
        )
