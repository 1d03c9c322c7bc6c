"""The tokens ``nsight-lab login`` obtained, kept beside the config file with mode 0600.

One file per config (``~/.nsight-cloud.conf`` → ``~/.nsight-cloud.tokens.json``), so a
second config (``NSIGHT_CLOUD_CONF``) has its own login. The file records which issuer
and client the tokens belong to: after ``configure`` points elsewhere, old tokens are
ignored instead of being sent to the wrong gateway.

Several processes share the file (the CLI, the Jupyter server extension, kernels), and
public clients get a new refresh token on every refresh (the old one is then dead, and
presenting it again makes many providers revoke the whole login). So a refresh runs
under an exclusive lock on ``<file>.lock`` and re-reads the file first: whoever comes
second finds fresh tokens and does not refresh at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

#: Refresh this long before the access token expires, so a request never leaves with a
#: token that dies on the way (clock skew, slow networks, long uploads); shorter-lived
#: tokens are renewed once half their life has passed.
REFRESH_MARGIN_S = 30.0


class TokenSet(BaseModel):
    model_config = ConfigDict(extra="ignore")

    issuer: str
    client_id: str
    access_token: str
    token_type: str = "Bearer"
    #: Unix time the access token expires; None when the provider did not say.
    expires_at: float | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str | None = None
    #: Where refreshes and revocations go (recorded at login, so no discovery is needed).
    token_endpoint: str
    revocation_endpoint: str | None = None
    obtained_at: float = 0.0

    @classmethod
    def from_response(
        cls,
        body: dict[str, object],
        *,
        issuer: str,
        client_id: str,
        token_endpoint: str,
        revocation_endpoint: str | None,
        previous: TokenSet | None = None,
        now: float | None = None,
    ) -> TokenSet:
        """From a token endpoint answer; a refresh that returns no new refresh token keeps
        the old one (providers that do not rotate them)."""
        now = time.time() if now is None else now
        expires_in = body.get("expires_in")
        refresh = body.get("refresh_token") or (previous.refresh_token if previous else None)
        id_token = body.get("id_token") or (previous.id_token if previous else None)
        return cls(
            issuer=issuer,
            client_id=client_id,
            access_token=str(body["access_token"]),
            token_type=str(body.get("token_type") or "Bearer"),
            expires_at=now + float(expires_in) if isinstance(expires_in, (int, float)) else None,
            refresh_token=str(refresh) if refresh else None,
            id_token=str(id_token) if id_token else None,
            scope=str(body["scope"]) if body.get("scope") else None,
            token_endpoint=token_endpoint,
            revocation_endpoint=revocation_endpoint,
            obtained_at=now,
        )

    def expires_in(self, now: float | None = None) -> float | None:
        if self.expires_at is None:
            return None
        return self.expires_at - (time.time() if now is None else now)

    def needs_refresh(self, now: float | None = None) -> bool:
        """Inside the margin: 30 s, or half the lifetime for tokens shorter than a minute
        (else a token would need renewing the moment it was issued)."""
        left = self.expires_in(now)
        if left is None or self.expires_at is None:
            return False
        lifetime = self.expires_at - self.obtained_at
        return left <= min(REFRESH_MARGIN_S, lifetime / 2)

    def belongs_to(self, issuer: str | None, client_id: str | None) -> bool:
        return (
            issuer is not None
            and self.issuer.rstrip("/") == issuer.rstrip("/")
            and self.client_id == client_id
        )


def tokens_path(config_file: Path) -> Path:
    """``~/.nsight-cloud.conf`` → ``~/.nsight-cloud.tokens.json`` (same folder, same stem)."""
    stem = config_file.name.removesuffix(".conf").removesuffix(".json")
    return config_file.with_name(stem + ".tokens.json")


class TokenStore:
    """Read, write and lock one token file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    def load(self) -> TokenSet | None:
        """The stored tokens, or None when there are none (or they are unreadable: a
        damaged file means "log in again", never a crash)."""
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return None
        except OSError:
            return None
        try:
            return TokenSet.model_validate(json.loads(raw))
        except (json.JSONDecodeError, ValidationError):
            return None

    def save(self, tokens: TokenSet) -> Path:
        """Atomically, mode 0600 from the first byte."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(tokens.model_dump_json(indent=2, exclude_none=True))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        return self.path

    def delete(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        with contextlib.suppress(OSError):
            self.lock_path.unlink()
        return True

    @contextlib.contextmanager
    def locked(self, timeout: float = 30.0) -> Iterator[None]:
        """Exclusive across processes; gives up after ``timeout`` rather than hang."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"another nsight-lab process holds {self.lock_path} for more than "
                            f"{timeout:.0f} s; remove the file if no login is running"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
