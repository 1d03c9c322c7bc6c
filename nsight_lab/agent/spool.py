"""The spool: reports waiting for upload, kept on disk so they survive restarts.

Each entry is a folder ``<spool>/<entry id>/`` holding the report and
``entry.json`` (collection, kind, original file name, sha256, size, agent id). An
entry is assembled under ``<entry id>.tmp`` and renamed into place in one step, so a
crash leaves either a complete entry or a ``.tmp`` folder, never an entry whose
sidecar lies about its file. The sha256 is computed once, when spooling; the
coordinator dedupes on collection, agent, file name and sha256, so uploading an
entry twice (after a crash between upload and removal) never creates a duplicate.

The default spool is per process (``.../spool/<pid>``); a new agent adopts the
folders of processes that no longer exist, so a crashed run's reports still arrive.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nsight_lab.agent.transfer import sha256_file

log = logging.getLogger("nsight_lab.agent")

SIDECAR = "entry.json"
SPOOL_VERSION = 1
FAILED_DIR = "failed"
WORK_DIR = "work"


class SpoolError(RuntimeError):
    pass


@dataclass(frozen=True)
class SpoolEntry:
    entry_id: str
    collection_id: str
    kind: str
    filename: str
    sha256: str
    size: int
    agent_id: str
    created_at: float
    folder: Path
    #: How many files this agent produced for the collection, this one included. The
    #: coordinator counts a participant as uploaded only once all of them are stored,
    #: so a download that follows a completed collection never misses a late file.
    collection_files: int = 1
    #: What the agent knows about the report (clock anchor, steps, overhead); sent
    #: with the upload request so `ls` shows it without opening the file.
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.folder / self.filename

    def sidecar(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("folder")
        data["version"] = SPOOL_VERSION
        return data


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def work_dir(self, collection_id: str) -> Path:
        """Where collectors write, on the spool's file system so spooling is a rename."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in collection_id)[:80]
        folder = self.root / WORK_DIR / (safe or "collection")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def add(
        self,
        source: Path,
        *,
        collection_id: str,
        kind: str,
        agent_id: str,
        collection_files: int = 1,
        metadata: dict[str, Any] | None = None,
    ) -> SpoolEntry:
        """Move ``source`` into a new entry (copy when it lives on another file system)."""
        self.ensure()
        entry_id = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:12]}"
        staging = self.root / f"{entry_id}.tmp"
        staging.mkdir()
        target = staging / source.name
        try:
            os.replace(source, target)
        except OSError:
            shutil.copy2(source, target)
        digest, size = sha256_file(target)
        entry = SpoolEntry(
            entry_id=entry_id,
            collection_id=collection_id,
            kind=kind,
            filename=source.name,
            sha256=digest,
            size=size,
            agent_id=agent_id,
            created_at=time.time(),
            folder=self.root / entry_id,
            collection_files=collection_files,
            metadata=dict(metadata or {}),
        )
        (staging / SIDECAR).write_text(json.dumps(entry.sidecar()), encoding="utf-8")
        os.replace(staging, entry.folder)
        return entry

    def entries(self) -> list[SpoolEntry]:
        """Complete entries, oldest first; unreadable ones are moved to ``failed/``."""
        if not self.root.is_dir():
            return []
        found: list[SpoolEntry] = []
        for folder in sorted(self.root.iterdir()):
            if (
                not folder.is_dir()
                or folder.name in (FAILED_DIR, WORK_DIR)
                or folder.suffix == ".tmp"
            ):
                continue
            try:
                found.append(_read_entry(folder))
            except SpoolError as exc:
                log.warning("spool entry %s is unusable and set aside: %s", folder, exc)
                self._set_aside(folder, str(exc))
        return found

    def remove(self, entry: SpoolEntry) -> None:
        shutil.rmtree(entry.folder, ignore_errors=True)

    def fail(self, entry: SpoolEntry, reason: str) -> None:
        """Keep a report the coordinator refused for good, with the reason beside it."""
        self._set_aside(entry.folder, reason)

    def _set_aside(self, folder: Path, reason: str) -> None:
        failed = self.root / FAILED_DIR
        failed.mkdir(parents=True, exist_ok=True)
        target = failed / folder.name
        try:
            os.replace(folder, target)
            (target / "reason.txt").write_text(reason + "\n", encoding="utf-8")
        except OSError as exc:
            log.warning("cannot move %s to %s: %s", folder, failed, exc)

    def adopt_orphans(self) -> int:
        """Move entries of dead processes' spools (siblings named by pid) into ours."""
        parent = self.root.parent
        if not parent.is_dir():
            return 0
        adopted = 0
        for sibling in parent.iterdir():
            if sibling == self.root or not sibling.is_dir() or not sibling.name.isdigit():
                continue
            if _pid_alive(int(sibling.name)):
                continue
            for folder in sibling.iterdir():
                if (
                    not folder.is_dir()
                    or folder.name in (FAILED_DIR, WORK_DIR)
                    or folder.suffix == ".tmp"
                ):
                    continue
                if not (folder / SIDECAR).is_file():
                    continue
                self.ensure()
                try:
                    os.replace(folder, self.root / folder.name)
                    adopted += 1
                except OSError:
                    continue  # another new agent adopted it first
            _remove_if_empty(sibling)
        return adopted


def _read_entry(folder: Path) -> SpoolEntry:
    try:
        data = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpoolError(f"{folder / SIDECAR}: {exc}") from exc
    if not isinstance(data, dict):
        raise SpoolError(f"{folder / SIDECAR}: not a JSON object")
    try:
        entry = SpoolEntry(
            entry_id=str(data["entry_id"]),
            collection_id=str(data["collection_id"]),
            kind=str(data["kind"]),
            filename=str(data["filename"]),
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            agent_id=str(data["agent_id"]),
            created_at=float(data["created_at"]),
            folder=folder,
            collection_files=int(data.get("collection_files", 1)),
            metadata=data["metadata"] if isinstance(data.get("metadata"), dict) else {},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SpoolError(f"{folder / SIDECAR}: missing or bad field {exc}") from exc
    if Path(entry.filename).name != entry.filename or not entry.path.is_file():
        raise SpoolError(f"{folder}: report file {entry.filename!r} is missing")
    return entry


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_if_empty(folder: Path) -> None:
    for sub in (WORK_DIR, ""):
        target = folder / sub if sub else folder
        with contextlib.suppress(OSError):
            target.rmdir()
