"""How widgets and magics reach the gateway, and how they phrase its failures.

Every front end in the kernel goes through :class:`~nsight_lab.client.CoordinatorClient`
and :class:`~nsight_lab.analysis_client.AnalysisClient`, configured like the CLI
(``~/.nsight-cloud.conf``, ``NSIGHT_LAB_GW``), so a notebook behaves as the terminal
does and the browser never holds credentials.
"""

from __future__ import annotations

from nsight_lab.client import ApiError, ConnectionFailed
from nsight_lab.config import CliConfig, ConfigError, load_config

UNREACHABLE_HINT = (
    "start one with `nsight-lab up` in a terminal, or point this kernel at yours with "
    "`%nsight configure --gw URL`"
)


def resolve_config(config: CliConfig | None = None, gw: str | None = None) -> CliConfig:
    config = config or load_config()
    return config.model_copy(update={"gw": gw}) if gw else config


def explain(exc: BaseException, gw: str) -> str:
    """One line a user can act on, for the failures a gateway call can have."""
    if isinstance(exc, ConnectionFailed) and str(exc).startswith("cannot reach"):
        return f"cannot reach the nsight-lab gateway at {gw}: {UNREACHABLE_HINT}"
    if isinstance(exc, ApiError):
        return exc.detail
    if isinstance(exc, (ConnectionFailed, ConfigError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
