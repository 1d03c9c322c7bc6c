"""What every command receives: resolved settings, the printer and a lazy API client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from nsight_lab.cli.output import Printer
from nsight_lab.client import CoordinatorClient
from nsight_lab.config import CliConfig, load_config

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliContext:
    tag: str | None = None
    session: str | None = None
    output: str = "table"
    verbose: int = 0
    _config: CliConfig | None = None
    _client: CoordinatorClient | None = field(default=None, repr=False)

    @property
    def config(self) -> CliConfig:
        if self._config is None:
            self._config = load_config()
            if self._config.port_forwards:
                self._config = _keep_port_forwards(self._config)
        return self._config

    @property
    def effective_tag(self) -> str:
        return self.tag or self.config.tag

    @property
    def printer(self) -> Printer:
        return Printer(self.output, self.verbose)

    @property
    def client(self) -> CoordinatorClient:
        if self._client is None:
            self._client = CoordinatorClient(self.config)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _keep_port_forwards(config: CliConfig) -> CliConfig:
    """Restart the port-forwards ``autoconfigure`` set up, if they died since."""
    from nsight_lab.cli.output import CliFailure
    from nsight_lab.cluster.port_forward import PortForwardError, ensure
    from nsight_lab.config import save_config

    try:
        config, changed = ensure(config)
    except PortForwardError as exc:
        raise CliFailure(f"cannot reach the cluster's gateway: {exc}") from exc
    if changed:
        save_config(config)
    return config


def common_options(func: F) -> F:
    """``--tag``, ``--session`` and ``--output`` after the command name as well as before it.

    The product's users type ``--tag`` before the command and ``--session`` after it;
    accepting both positions means neither habit produces a usage error.
    """

    def store(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
        def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
            if value is not None:
                setattr(ctx.find_object(CliContext), name, value)
            return value

        return callback

    func = click.option(
        "--output",
        "output_format",
        type=click.Choice(["table", "json"]),
        default=None,
        expose_value=False,
        callback=store("output"),
        help="table for people (default), json for scripts.",
    )(func)
    func = click.option(
        "--session",
        default=None,
        expose_value=False,
        callback=store("session"),
        help="Session id (default: the tag's active session, else its latest).",
    )(func)
    func = click.option(
        "--tag", default=None, expose_value=False, callback=store("tag"), help="Tag to control."
    )(func)
    return func


pass_cli = click.make_pass_decorator(CliContext)
