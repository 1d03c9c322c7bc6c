"""Fetching a session's reports to a local folder in the download tree.

Shared by the CLI, the magics and the demo: one place decides the layout
(``<YYYYMMDDHHMMSS>-<title>/collection-<N>/<file>`` or flat), refuses paths outside
the output folder, skips files already present with the right checksum, and
verifies every byte it writes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from nsight_lab.client import CoordinatorClient
from nsight_lab.models import FileInfo, SessionInfo
from nsight_lab.naming import collection_folder, contained_path, safe_component, session_folder


def _already_there(path: Path, info: FileInfo) -> bool:
    if not path.is_file() or path.stat().st_size != info.size:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest() == info.sha256


def download_session(
    client: CoordinatorClient,
    session: SessionInfo,
    output_dir: Path,
    *,
    flat: bool = False,
    show_progress: bool = True,
    collection_id: str | None = None,
) -> list[Path]:
    """Download every report of ``session`` (or of one of its collections) under ``output_dir``.

    Never writes outside ``output_dir``.
    """
    files = client.files(session_id=session.session_id, collection_id=collection_id)
    root = (
        output_dir
        if flat
        else contained_path(
            output_dir, session_folder(session.created_at, session.title, session.session_id)
        )
    )
    plan: list[tuple[FileInfo, Path]] = []
    for info in files:
        name = safe_component(info.filename, fallback=info.file_id)
        parts = [name] if flat else [collection_folder(info.collection_index), name]
        plan.append((info, contained_path(output_dir if flat else root, *parts)))
    written: list[Path] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task("downloading", total=sum(i.size for i, _ in plan))
        for info, path in plan:
            if _already_there(path, info):
                progress.advance(task, info.size)
            else:
                client.download_file(info, path, on_bytes=lambda n: progress.advance(task, n))
            written.append(path)
    return written
