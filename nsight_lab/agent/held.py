"""Reports kept in the Pod (``NSIGHT_LAB_REPORT_STORAGE=pod``) and streamed on request.

Instead of uploading, the agent moves each finished report into its report folder,
registers it with the coordinator (name, size, SHA-256), and remembers it under the
file id the coordinator answered. A ``relay`` command names a file id and a relay
request; the agent looks the id up here and PUTs that file to the coordinator. A
command never carries a path, so no command can make the agent read anything but
a report it registered itself.

Standard library only, like the rest of the agent.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("nsight_lab.agent")

#: Streams one agent sends at once; more relay requests are answered ``busy``.
MAX_STREAMS = 4
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class HeldFile:
    file_id: str
    path: Path
    size: int
    sha256: str

    def problem(self) -> tuple[str, str] | None:
        """``(reason, message)`` when the file can no longer be sent as registered."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return "missing", f"{self.path} does not exist any more"
        except OSError as exc:
            return "unreadable", f"{self.path}: {exc}"
        if size != self.size:
            return "changed", f"{self.path} has {size} bytes, registered with {self.size}"
        return None


def held_name(key: str, fallback: str) -> str:
    """The file name for a report the coordinator named ``key``, made safe here.

    The coordinator's names are safe already; the agent does not rely on it, so a
    key can never place a file outside the report folder.
    """
    name = _UNSAFE.sub("_", key.rsplit("/", 1)[-1]).lstrip(".")
    return name or _UNSAFE.sub("_", fallback).lstrip(".") or "report"


class HeldFiles:
    """The reports this agent registered as held, by file id. Thread-safe."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._by_id: dict[str, HeldFile] = {}
        self._lock = threading.Lock()
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)

    def place(self, source: Path, key: str, fallback: str) -> Path:
        """Put the spooled ``source`` into the report folder under the coordinator's name.

        A hard link when possible (the spool entry stays until registration is done,
        so a crash in between loses nothing), else a copy. Idempotent for retries.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / held_name(key, fallback)
        if target.exists() and target.stat().st_size == source.stat().st_size:
            return target
        staging = target.with_name(target.name + ".tmp")
        staging.unlink(missing_ok=True)
        try:
            os.link(source, staging)
        except OSError:
            shutil.copyfile(source, staging)
        os.replace(staging, target)
        return target

    def add(self, held: HeldFile) -> None:
        with self._lock:
            self._by_id[held.file_id] = held
        log.info("holding %s as file %s (%d bytes)", held.path, held.file_id, held.size)

    def get(self, file_id: str) -> HeldFile | None:
        with self._lock:
            return self._by_id.get(file_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_id)
