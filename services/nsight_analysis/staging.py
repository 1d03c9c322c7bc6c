"""Moving a job's bytes: reports from storage into a scratch folder, outputs back.

Workers see only local paths, so they need no storage credentials and a recipe reads
a report the same way whether it came from MinIO, S3 or a local folder. Reports are
staged one folder per collection: agents name files per process, so the same name
recurs across collections of a session, and the engine's folder rule (an ``.nsys-rep``
beside its ``.sqlite`` export counts once) applies within one collection.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nsight_analysis.db import output_prefix
from nsight_lab.naming import safe_component
from nsight_lab.storage.base import ObjectInfo, ObjectStore, StorageError

LOG_NAME = "job.log"


@dataclass(frozen=True)
class StagedInputs:
    folders: list[Path]
    #: staged path -> storage key, to name reports in warnings by where users find them.
    keys: dict[str, str]


def stage_reports(store: ObjectStore, keys: Sequence[str], target: Path) -> StagedInputs:
    """Copy each report object to ``target/<n>/<filename>``, one ``n`` per collection.

    Keys are ``sessions/<session>/<collection>/<filename>`` (docs/PROTOCOL.md); their
    folder is the collection, numbered in the order first seen.
    """
    folders: dict[str, Path] = {}
    staged: dict[str, str] = {}
    for key in keys:
        parent, _, name = key.rpartition("/")
        folder = folders.setdefault(parent, target / str(len(folders)))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / safe_component(name)
        with store.open_read(key) as source, path.open("wb") as sink:
            shutil.copyfileobj(source, sink, 1024 * 1024)
        staged[str(path.resolve())] = key
    return StagedInputs(list(folders.values()), staged)


def upload_outputs(store: ObjectStore, job_id: str, folder: Path) -> list[ObjectInfo]:
    """Every file under ``folder`` to ``analysis/<job-id>/<relative path>``."""
    prefix = output_prefix(job_id)
    stored: list[ObjectInfo] = []
    if not folder.is_dir():
        return stored
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stored.append(store.put_file(prefix + path.relative_to(folder).as_posix(), path))
    return stored


def upload_log(store: ObjectStore, job_id: str, log: Path) -> ObjectInfo | None:
    """The job's log beside its outputs; a missing log is not an error (nothing was written)."""
    if not log.is_file():
        return None
    return store.put_file(output_prefix(job_id) + LOG_NAME, log)


def delete_outputs(store: ObjectStore, job_id: str) -> int:
    """Remove every object of the job; returns how many went."""
    count = 0
    for info in list(store.list(output_prefix(job_id))):
        try:
            store.delete(info.key)
            count += 1
        except StorageError:
            continue
    return count


def storage_name(path: str, keys: dict[str, str]) -> str:
    """The storage key of a staged report, from its scratch path (its name if unknown)."""
    if path in keys:
        return keys[path]  # a storage key, or a converted trace's folder
    resolved = str(Path(path).resolve())
    return keys.get(resolved, keys.get(path, Path(path).name))


def scrub(text: str, keys: dict[str, str]) -> str:
    """Name reports by their storage key rather than the worker's scratch path."""
    for local, key in keys.items():
        text = text.replace(local, key)
    return text
