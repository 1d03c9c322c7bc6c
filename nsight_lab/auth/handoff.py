"""Handing the CLI's credential to the agents it starts (``run``) or hosts (``attach``).

Agents speak the standard library only and never refresh tokens themselves. An API key
travels as ``NSIGHT_LAB_API_KEY``; an OAuth2 login travels as ``NSIGHT_LAB_TOKEN_FILE``,
a private file holding the current access token, which this process keeps fresh (the
agent re-reads the file when it changes) for as long as the workload runs, and deletes
afterwards. The refresh token never leaves the CLI's own token store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from nsight_lab.auth.credentials import (
    TOKEN_FILE_ENV,
    NotLoggedIn,
    OAuthSession,
    resolve_credential,
)
from nsight_lab.auth.tokens import REFRESH_MARGIN_S
from nsight_lab.config import CliConfig

log = logging.getLogger("nsight_lab.auth")
AGENT_API_KEY_ENV = "NSIGHT_LAB_API_KEY"


class TokenFileKeeper:
    """Writes the session's access token to ``path`` and renews it before it expires."""

    def __init__(self, session: OAuthSession, path: Path, *, check_every_s: float = 15.0) -> None:
        self.session = session
        self.path = path
        self.check_every_s = check_every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._written: str | None = None

    def write(self) -> float:
        """Write the current token if it changed; seconds until it is due for renewal."""
        tokens = self.session.fresh_tokens()
        due = self.check_every_s
        if tokens.expires_at is not None:
            margin = min(REFRESH_MARGIN_S, (tokens.expires_at - tokens.obtained_at) / 2)
            due = tokens.expires_at - margin - time.time()
        if tokens.access_token == self._written:
            return due
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(tokens.access_token + "\n")
        os.replace(tmp, self.path)
        self._written = tokens.access_token
        return due

    def _run(self, due: float) -> None:
        warned = False
        while not self._stop.wait(min(max(due, 0.2), self.check_every_s)):
            try:
                due = self.write()
                warned = False
            except (NotLoggedIn, OSError, TimeoutError) as exc:
                due = self.check_every_s
                if not warned:
                    log.warning("cannot renew the agents' token: %s", exc)
                    warned = True

    def start(self) -> TokenFileKeeper:
        due = self.write()
        self._thread = threading.Thread(
            target=self._run, args=(due,), name="nsight-token-keeper", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(OSError):
            self.path.unlink()


@contextlib.contextmanager
def agent_credentials(config: CliConfig) -> Iterator[dict[str, str]]:
    """The ``NSIGHT_LAB_*`` variables that give agents this CLI's credential, valid
    until the block ends."""
    credential = resolve_credential(config)
    if credential.kind == "apikey" and credential.api_key:
        yield {AGENT_API_KEY_ENV: credential.api_key}
    elif credential.kind == "token-file" and credential.token_file is not None:
        yield {TOKEN_FILE_ENV: str(credential.token_file)}
    elif credential.kind == "oauth" and credential.session is not None:
        folder = Path(tempfile.mkdtemp(prefix="nsight-agent-token-"))
        keeper = TokenFileKeeper(credential.session, folder / "token").start()
        try:
            yield {TOKEN_FILE_ENV: str(keeper.path)}
        finally:
            keeper.stop()
            with contextlib.suppress(OSError):
                folder.rmdir()
    else:
        yield {}
