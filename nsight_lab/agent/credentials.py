"""The agent's credential for the gateway: a fixed API key, or a file it re-reads.

On a cluster an agent authenticates the way pods usually do: a key from a Secret in
``NSIGHT_LAB_API_KEY``, or ``NSIGHT_LAB_TOKEN_FILE`` naming a mounted file (a Secret
key, or a token some other process keeps fresh, such as a projected service-account
token or a sidecar's access token). Kubernetes updates mounted Secrets in place, so the
file is read again whenever it changes: a rotated key or a renewed token is picked up
by long-running processes without a restart. Standard library only, and it never
raises: an unreadable file means no credential this time (the gateway's 401 is logged
and retried by the runtime), not a crash in the host process.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("nsight_lab.agent")


class BearerSource:
    """``header()`` is the ``Authorization`` value to send now, or None."""

    def __init__(self, api_key: str | None = None, token_file: str | None = None) -> None:
        self._api_key = api_key or None
        self._path = Path(token_file).expanduser() if token_file else None
        self._seen: tuple[int, int] | None = None
        self._value: str | None = None
        self._complained = False

    @property
    def configured(self) -> bool:
        return self._api_key is not None or self._path is not None

    def describe(self) -> str:
        if self._path is not None:
            return f"the token in NSIGHT_LAB_TOKEN_FILE={self._path}"
        if self._api_key is not None:
            return "the key in NSIGHT_LAB_API_KEY"
        return "no credential (set NSIGHT_LAB_API_KEY or NSIGHT_LAB_TOKEN_FILE)"

    def _read(self) -> str | None:
        assert self._path is not None
        try:
            info = os.stat(self._path)
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp == self._seen:
                return self._value
            text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            if not self._complained:
                log.warning("cannot read NSIGHT_LAB_TOKEN_FILE=%s: %s", self._path, exc)
                self._complained = True
            return None
        value = next((line.strip() for line in text.splitlines() if line.strip()), None)
        if value is None and not self._complained:
            log.warning("NSIGHT_LAB_TOKEN_FILE=%s is empty", self._path)
        self._complained = value is None
        self._seen, self._value = stamp, value
        return value

    def header(self) -> str | None:
        value = self._read() if self._path is not None else self._api_key
        return f"Bearer {value}" if value else None
