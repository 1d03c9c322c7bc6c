"""How the CLI connects: ``configure`` (where the gateway is, which credential), ``login``
and ``logout`` (OAuth2), with the option names of the product users come from."""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import time
from typing import Any

import click

from nsight_lab.auth.credentials import oauth_client, resolve_credential, token_store
from nsight_lab.auth.login import (
    DEFAULT_CALLBACK_PORT,
    LOGIN_TIMEOUT_S,
    login_with_browser,
    login_with_device,
)
from nsight_lab.auth.oidc import DeviceAuthorization, OAuthError, Revocation, discover, revoke
from nsight_lab.auth.tokens import TokenSet
from nsight_lab.cli.context import CliContext, common_options, pass_cli
from nsight_lab.cli.output import EXIT_USAGE, CliFailure, handle_errors
from nsight_lab.config import (
    API_KEY_ENV,
    OAUTH_FLOW_ALIASES,
    OAUTH_FLOWS,
    AuthSettings,
    CliConfig,
    load_config,
    save_config,
)

#: The options that only make sense with OAuth2; none may be combined with --apikey.
OAUTH_OPTIONS = ("issuer", "clientid", "oauth_flow_type", "authorization_endpoint",
                 "token_endpoint", "scope", "audience")  # fmt: skip


@click.command()
@click.option("--gw", required=True, help="Gateway URL, e.g. https://gw.example.com:8888")
@click.option(
    "--apikey",
    default=None,
    help=f"API key. Prefer leaving it in ${API_KEY_ENV}, which is read at every call and "
    "never written down. Not with the OAuth2 options.",
)
@click.option("--issuer", default=None, help="OIDC issuer URL, for OAuth2/JWT gateways.")
@click.option("--clientid", default=None, help="OAuth2 client id (with --issuer).")
@click.option(
    "--oauth-flow-type",
    type=click.Choice([*OAUTH_FLOWS, *OAUTH_FLOW_ALIASES]),
    default=None,
    help="How `login` signs in: code (a browser, the default) or device (a code to type "
    "on any device; for machines without a browser).",
)
@click.option(
    "--authorization-endpoint",
    default=None,
    help="Authorization endpoint, for providers without OIDC discovery.",
)
@click.option(
    "--token-endpoint", default=None, help="Token endpoint, for providers without OIDC discovery."
)
@click.option(
    "--scope",
    multiple=True,
    help="A scope to ask for at login (repeat; default: openid offline_access).",
)
@click.option(
    "--audience",
    default=None,
    help="The API's identifier at the IdP, if it needs one to issue tokens for the gateway.",
)
@click.option(
    "--ca-file",
    "--ca-cert",
    "ca_file",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="CA bundle that signed the gateway's (and IdP's) certificate, added to the system's.",
)
@common_options
@pass_cli
@handle_errors
def configure(
    cli: CliContext,
    gw: str,
    apikey: str | None,
    issuer: str | None,
    clientid: str | None,
    oauth_flow_type: str | None,
    authorization_endpoint: str | None,
    token_endpoint: str | None,
    scope: tuple[str, ...],
    audience: str | None,
    ca_file: str | None,
) -> None:
    """Store the gateway URL and credentials in ~/.nsight-cloud.conf (mode 0600).

    \b
    Examples:
      nsight-lab configure --gw http://localhost:8888
      export NSIGHT_API_KEY=...   # from your secret store; read at every call
      nsight-lab configure --gw https://gw.example:8888 --ca-file ca.crt
      nsight-lab configure --gw https://gw.example:8888 \\
          --issuer https://login.example.com --clientid nsight-cli
      nsight-lab login
    """
    if not gw.startswith(("http://", "https://")):
        raise CliFailure(f"--gw must be an http:// or https:// URL, got {gw!r}", EXIT_USAGE)
    given = {
        "issuer": issuer,
        "clientid": clientid,
        "oauth_flow_type": oauth_flow_type,
        "authorization_endpoint": authorization_endpoint,
        "token_endpoint": token_endpoint,
        "scope": scope or None,
        "audience": audience,
    }
    if apikey is not None and any(given[name] for name in OAUTH_OPTIONS):
        used = [f"--{name.replace('_', '-')}" for name in OAUTH_OPTIONS if given[name]]
        raise CliFailure(
            f"--apikey cannot be combined with the OAuth2 options ({', '.join(used)}): "
            "a gateway takes one or the other",
            EXIT_USAGE,
        )
    if (issuer is None) != (clientid is None):
        raise CliFailure("--issuer and --clientid must be given together", EXIT_USAGE)
    oauth_only = [n for n in OAUTH_OPTIONS[2:] if given[n]]
    if issuer is None and oauth_only:
        raise CliFailure(
            f"--{oauth_only[0].replace('_', '-')} needs --issuer and --clientid", EXIT_USAGE
        )
    for name, url in (("--issuer", issuer), ("--authorization-endpoint", authorization_endpoint),
                      ("--token-endpoint", token_endpoint)):  # fmt: skip
        if url is not None and not url.startswith(("http://", "https://")):
            raise CliFailure(f"{name} must be an http:// or https:// URL, got {url!r}", EXIT_USAGE)
    config = load_config()
    new = config.model_copy(
        update={
            "gw": gw.rstrip("/"),
            "tag": cli.tag or config.tag,
            "ca_cert": ca_file,
            "auth": AuthSettings(
                apikey=apikey,
                issuer=issuer.rstrip("/") if issuer else None,
                clientid=clientid,
                oauth_flow_type=oauth_flow_type,
                authorization_endpoint=authorization_endpoint,
                token_endpoint=token_endpoint,
                scopes=list(scope) or None,
                audience=audience,
            ),
        }
    )
    path = save_config(new)
    mode = _auth_mode(new)
    stale = _drop_foreign_login(new)

    def human() -> None:
        cli.printer.console.print(f"Saved {path} (gateway {new.gw}, tag {new.tag}, auth: {mode})")
        if stale:
            cli.printer.console.print("Removed the login of the previous identity provider.")
        if mode == "oauth2":
            cli.printer.console.print("Next: nsight-lab login")

    cli.printer.emit({"config": str(path), "gw": new.gw, "tag": new.tag, "auth": mode}, human)


def _auth_mode(config: CliConfig) -> str:
    if config.auth.apikey:
        return "apikey"
    if config.auth.issuer:
        return "oauth2"
    return (
        f"apikey (from ${API_KEY_ENV})" if resolve_credential(config).kind == "apikey" else "none"
    )


def _drop_foreign_login(config: CliConfig) -> bool:
    """Tokens of another issuer or client are useless now and must not linger."""
    store = token_store(config)
    tokens = store.load()
    if tokens is not None and not tokens.belongs_to(config.auth.issuer, config.auth.clientid):
        return store.delete()
    return False


def _claims(token: str | None) -> dict[str, Any]:
    """A JWT's payload, unverified: only to show the user who they are logged in as."""
    if not token or token.count(".") != 2:
        return {}
    part = token.split(".")[1]
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _summary(tokens: TokenSet, path: str) -> dict[str, Any]:
    id_claims = _claims(tokens.id_token)
    access = _claims(tokens.access_token)
    return {
        "issuer": tokens.issuer,
        "client_id": tokens.client_id,
        "subject": id_claims.get("sub") or access.get("sub"),
        "user": id_claims.get("preferred_username") or id_claims.get("email"),
        "expires_at": tokens.expires_at,
        "refreshable": bool(tokens.refresh_token),
        "tokens": path,
    }


def _require_oauth(cli: CliContext, command: str) -> CliConfig:
    config = cli.config
    if not config.auth.issuer or not config.auth.clientid:
        what = "an API key" if resolve_credential(config).kind == "apikey" else "no authentication"
        raise CliFailure(
            f"`nsight-lab {command}` is for gateways that use OAuth2; this configuration uses "
            f"{what}. Point it at an identity provider with "
            f"`nsight-lab configure --gw {config.gw} --issuer URL --clientid ID`",
            EXIT_USAGE,
        )
    return config


@click.command()
@click.option(
    "--flow",
    type=click.Choice([*OAUTH_FLOWS, *OAUTH_FLOW_ALIASES]),
    default=None,
    help="Override the configured --oauth-flow-type for this login.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_CALLBACK_PORT,
    show_default=True,
    help="Local port of the browser callback http://localhost:PORT/callback (register it "
    "with the IdP).",
)
@click.option("--no-browser", is_flag=True, help="Print the login URL instead of opening it.")
@click.option(
    "--timeout",
    type=float,
    default=LOGIN_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the browser.",
)
@common_options
@pass_cli
@handle_errors
def login(cli: CliContext, flow: str | None, port: int, no_browser: bool, timeout: float) -> None:
    """Log in to the identity provider; the tokens are kept beside the config (0600).

    \b
    code (default): opens the IdP's login page in your browser and receives the answer
      on http://localhost:8400/callback, which must be registered with the IdP.
    device: prints a URL and a code to enter on any device; for SSH sessions and
      machines without a browser.
    Tokens are refreshed by themselves before they expire; `nsight-lab logout` ends
    the login.
    """
    config = _require_oauth(cli, "login")
    client = oauth_client(config)
    chosen = OAUTH_FLOW_ALIASES.get(flow, flow) if flow else config.auth.flow
    endpoints = discover(client)
    printer = cli.printer

    if chosen == "device":

        def show_code(device: DeviceAuthorization) -> None:
            if printer.json_mode:
                sys.stdout.write(
                    json.dumps(
                        {
                            "event": "device_authorization",
                            "verification_uri": device.verification_uri,
                            "verification_uri_complete": device.verification_uri_complete,
                            "user_code": device.user_code,
                            "expires_in": device.expires_in,
                        }
                    )
                    + "\n"
                )
                sys.stdout.flush()
                return
            printer.err.print(
                f"To log in, open [bold]{device.verification_uri}[/bold]\n"
                f"and enter the code [bold]{device.user_code}[/bold]"
                f" (valid {device.expires_in / 60:.0f} min)."
            )
            if device.verification_uri_complete:
                printer.err.print(f"Or open {device.verification_uri_complete}")
            printer.err.print("Waiting for approval...")

        tokens = login_with_device(client, endpoints, on_code=show_code)
    else:

        def show_url(url: str) -> None:
            if printer.json_mode:
                sys.stdout.write(json.dumps({"event": "authorization_url", "url": url}) + "\n")
                sys.stdout.flush()
            else:
                action = (
                    "Open" if no_browser else "Opening your browser; if it does not open, visit"
                )
                printer.err.print(f"{action}:\n{url}")

        tokens = login_with_browser(
            client,
            endpoints,
            port=port,
            open_browser=not no_browser,
            timeout=timeout,
            on_url=show_url,
        )
    store = token_store(config)
    path = store.save(tokens)
    summary = _summary(tokens, str(path))

    def human() -> None:
        who = summary["user"] or summary["subject"] or "you"
        left = tokens.expires_in()
        lasts = f", token valid {left / 60:.0f} min" if left is not None else ""
        renew = ", renewed automatically" if tokens.refresh_token else ""
        printer.console.print(f"Logged in to {tokens.issuer} as {who}{lasts}{renew}.")

    if printer.json_mode:
        printer.json({"event": "logged_in", **summary})
    else:
        human()


@click.command()
@common_options
@pass_cli
@handle_errors
def logout(cli: CliContext) -> None:
    """End the OAuth2 login: revoke it at the IdP when it supports that, delete the tokens."""
    config = _require_oauth(cli, "logout")
    store = token_store(config)
    tokens = store.load()
    revoked = Revocation(login=False, access_token=False)
    if tokens is not None:
        with contextlib.suppress(OAuthError):
            revoked = revoke(oauth_client(config), tokens)
    removed = store.delete()
    result = {
        "logged_out": removed,
        "revoked": revoked.login,
        "access_token_revoked": revoked.access_token,
        "tokens": str(store.path),
    }

    def human() -> None:
        if not removed or tokens is None:
            cli.printer.console.print("Not logged in; nothing to do.")
            return
        said = (
            f"Logged out of {config.auth.issuer} (login revoked)"
            if revoked.login
            else f"Logged out (tokens deleted; {config.auth.issuer} did not confirm a revocation)"
        )
        if not revoked.access_token:
            said += f"; the last access token stays valid until {_until(tokens)}"
        cli.printer.console.print(said + ".")

    cli.printer.emit(result, human)


def _until(tokens: TokenSet) -> str:
    left = tokens.expires_in()
    if left is None:
        return "unknown"
    return time.strftime("%H:%M:%S", time.localtime(time.time() + max(left, 0)))


COMMANDS = [configure, login, logout]
