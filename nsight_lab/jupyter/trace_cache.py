"""The local cache of reports opened for viewing, keyed by their sha256.

The JupyterLab server extension and notebook kernels both look at stored reports
through it. A report arrives once as the trace model's Parquet folder (today by
downloading and converting it here; the analysis side's converted copy replaces that
step where it exists) and is laid out for the Timeline once; every later open
memory-maps the saved layout, so a ten-million-event trace opens in well under a
second the second time and the cache, not the process, holds its bytes.

Layout on disk, one folder per report::

    <root>/<sha256>/trace/                   a converted trace (nsight_lab.trace.converted)
    <root>/<sha256>/timeline-v<N>-<layers>/  the saved ReportTimeline
    <root>/<sha256>/raw/<file>               only while a download is being converted

Everything is written under a temporary name and renamed into place, so a crash or a
second process never sees half an entry.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Collection, Sequence
from pathlib import Path

from nsight_lab.jupyter.widgets.lanes import LAYERS
from nsight_lab.jupyter.widgets.stored_layout import sha256_of
from nsight_lab.jupyter.widgets.trace_view import ReportTimeline, layout_name
from nsight_lab.models import FileInfo
from nsight_lab.naming import safe_component
from nsight_lab.trace import TraceFormatError, convert_trace
from nsight_lab.trace.converted import MANIFEST_FILE, ConvertedTrace, table_file
from nsight_lab.trace.model import METADATA_FILE

CACHE_ENV = "NSIGHT_LAB_TRACE_CACHE"
#: What the viewer copies of a converted trace: the tables it draws, then the manifest
#: (last: its presence means the copy is complete). Not the CUDA API calls, often the
#: biggest table, which no timeline row shows.
VIEWED_FILES = (METADATA_FILE, *(table_file(t) for t in LAYERS), MANIFEST_FILE)
#: Entries beyond this total size are evicted, least recently opened first.
DEFAULT_MAX_BYTES = 20 * 1024**3
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class ReportUnreadable(ValueError):
    """A stored report that cannot be shown; the message names it and says why."""


def default_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nsight-lab" / "traces"


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


class TraceCache:
    def __init__(self, root: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = (root or default_root()).expanduser()
        self.max_bytes = max_bytes

    def entry(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256

    def trace_folder(self, info: FileInfo) -> Path:
        return self.entry(info.sha256) / "trace"

    def has_trace(self, info: FileInfo) -> bool:
        return (self.trace_folder(info) / MANIFEST_FILE).is_file()

    def raw_path(self, info: FileInfo) -> Path:
        """Where a download of the report itself goes before it is converted."""
        name = safe_component(info.filename, fallback="report")
        path = self.entry(info.sha256) / "raw" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def partial(self, info: FileInfo) -> Path:
        """A fresh folder to fill with a converted trace's files, then :meth:`adopt`."""
        folder = self.entry(info.sha256) / f"trace.partial-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        return folder

    def adopt(self, info: FileInfo, partial: Path) -> ConvertedTrace:
        """Move a filled :meth:`partial` folder into place (a copy already there wins)."""
        with _lock(info.sha256):
            if self.has_trace(info):
                shutil.rmtree(partial, ignore_errors=True)
            else:
                if not (partial / MANIFEST_FILE).is_file():
                    shutil.rmtree(partial, ignore_errors=True)
                    raise ReportUnreadable(f"{info.filename}: the converted copy is incomplete")
                shutil.rmtree(self.trace_folder(info), ignore_errors=True)
                partial.rename(self.trace_folder(info))
        self.prune(keep={info.sha256})
        return ConvertedTrace.from_folder(self.trace_folder(info))

    def convert(self, info: FileInfo, raw: Path, *, verified: bool = False) -> Path:
        """Check ``raw`` against the registered size and sha256, convert it, drop it.

        ``verified``: the caller checked the bytes while downloading them.

        Raises :class:`ReportUnreadable` for a corrupt download or a report no
        importer reads (e.g. an ``.nsys-rep`` where nsys is not installed).
        """
        with _lock(info.sha256):
            target = self.trace_folder(info)
            if self.has_trace(info):
                raw.unlink(missing_ok=True)
                return target
            try:
                size = raw.stat().st_size
                digest = info.sha256 if verified else sha256_of(raw)
                if size != info.size or digest != info.sha256:
                    raise ReportUnreadable(
                        f"{info.filename}: the download has {size} bytes and sha256 "
                        f"{digest[:12]}…, the stored report {info.size} bytes and "
                        f"{info.sha256[:12]}…; open it again to retry"
                    )
                partial = target.with_name(f"trace.partial-{uuid.uuid4().hex[:8]}")
                try:
                    convert_trace(raw, partial)
                except TraceFormatError as exc:
                    raise ReportUnreadable(f"{info.filename}: {exc.problem}") from exc
                except Exception:
                    shutil.rmtree(partial, ignore_errors=True)
                    raise
                shutil.rmtree(target, ignore_errors=True)
                partial.rename(target)
            finally:
                raw.unlink(missing_ok=True)
                shutil.rmtree(raw.parent, ignore_errors=True)
        self.prune(keep={info.sha256})
        return target

    def _layout_folder(self, info: FileInfo, layers: Sequence[str]) -> Path:
        return self.entry(info.sha256) / layout_name(layers)

    def layout(self, info: FileInfo, layers: Sequence[str] = LAYERS) -> ReportTimeline | None:
        """The report's saved timeline layout (memory-mapped), or None before the first open."""
        found = ReportTimeline.load(self._layout_folder(info, layers))
        if found is not None:
            self._touch(info.sha256)
        return found

    def layout_partial(self, info: FileInfo, layers: Sequence[str] = LAYERS) -> Path:
        """A fresh folder to fetch a stored layout's objects into, then :meth:`adopt_layout`."""
        folder = self._layout_folder(info, layers)
        partial = folder.with_name(f"{folder.name}.partial-{uuid.uuid4().hex[:8]}")
        partial.mkdir(parents=True)
        return partial

    def adopt_layout(
        self, info: FileInfo, partial: Path, layers: Sequence[str] = LAYERS
    ) -> ReportTimeline:
        """Move a complete fetched layout into place (one saved meanwhile wins) and map it."""
        folder = self._layout_folder(info, layers)
        with _lock(f"{info.sha256}/{folder.name}"):
            if ReportTimeline.load(folder) is not None:
                shutil.rmtree(partial, ignore_errors=True)
            else:
                shutil.rmtree(folder, ignore_errors=True)
                partial.rename(folder)
        self.prune(keep={info.sha256})
        loaded = ReportTimeline.load(folder)
        if loaded is None:
            raise ReportUnreadable(f"{info.filename}: the fetched layout is gone or unreadable")
        return loaded

    def local(self, info: FileInfo) -> ConvertedTrace | None:
        """The report converted here (by :meth:`convert`), when it was."""
        return ConvertedTrace.from_folder(self.trace_folder(info)) if self.has_trace(info) else None

    def timeline(
        self,
        info: FileInfo,
        converted: ConvertedTrace | None = None,
        layers: Sequence[str] = LAYERS,
    ) -> ReportTimeline:
        """The report's timeline: the saved layout, else laid out from ``converted``
        (default: the local conversion) and saved for every later open."""
        folder = self._layout_folder(info, layers)
        self._touch(info.sha256)
        loaded = ReportTimeline.load(folder)
        if loaded is not None:
            return loaded
        with _lock(f"{info.sha256}/{folder.name}"):
            loaded = ReportTimeline.load(folder)
            if loaded is not None:
                return loaded
            source = converted or self.local(info)
            if source is None:
                raise ReportUnreadable(f"{info.filename} has not been converted yet")
            built = ReportTimeline.from_converted(source, layers)
            built.save(folder)
        self.prune(keep={info.sha256})
        return ReportTimeline.load(folder) or built

    def _touch(self, sha256: str) -> None:
        marker = self.entry(sha256) / ".opened"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()

    def size(self) -> int:
        return sum(_file_sizes(self.root).values())

    def prune(self, keep: Collection[str] = ()) -> list[str]:
        """Evict the least recently opened entries until the cache fits ``max_bytes``.

        Entries in ``keep`` (the ones being opened) stay; an entry opened by another
        process meanwhile merely gets rebuilt on its next open.
        """
        if not self.root.is_dir():
            return []
        entries = []
        for folder in self.root.iterdir():
            if not folder.is_dir() or not _SHA256.match(folder.name):
                continue
            sizes = _file_sizes(folder)
            marker = folder / ".opened"
            try:
                used = marker.stat().st_mtime
            except FileNotFoundError:
                used = time.time()
            entries.append((used, folder, sum(sizes.values())))
        total = sum(size for _, _, size in entries)
        evicted = []
        for _, folder, size in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            if folder.name in keep or any(".partial-" in p.name for p in folder.iterdir()):
                continue  # being opened, or being written by another thread
            shutil.rmtree(folder, ignore_errors=True)
            total -= size
            evicted.append(folder.name)
        return evicted


def _file_sizes(folder: Path) -> dict[Path, int]:
    """Sizes of the files under ``folder``; ones renamed or removed meanwhile (another
    thread finishing an entry) are skipped, not an error."""
    sizes = {}
    for parent, _dirs, names in os.walk(folder):  # os.walk skips folders that vanish
        for name in names:
            path = Path(parent) / name
            try:
                sizes[path] = path.stat().st_size
            except FileNotFoundError:
                continue
    return sizes
