"""Turning user-supplied text into path components that cannot escape a folder.

Session titles, process and instance names reach storage keys and download paths.
They are free text from users and from profiled processes, so every path component
built from them goes through :func:`safe_component`, and every path written on a
user's disk goes through :func:`contained_path`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
MAX_COMPONENT = 80


class UnsafePathError(ValueError):
    """A path would land outside the folder it was meant for."""


def safe_component(text: str, *, fallback: str = "untitled", max_len: int = MAX_COMPONENT) -> str:
    """Reduce ``text`` to one harmless path component.

    Keeps letters, digits and ``._+-``; everything else (slashes, NUL, spaces,
    control characters) becomes ``-``. Leading dots are dropped so the result is never
    ``.``/``..`` or a hidden file.
    """
    normalized = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("-", normalized).lstrip(".-").rstrip("-")
    cleaned = cleaned[:max_len].rstrip("-.")
    return cleaned or fallback


def has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("C") for ch in text)


def session_folder(created_at: datetime, title: str | None, session_id: str) -> str:
    """``<YYYYMMDDHHMMSS>-<title>`` as the download tree names a session."""
    stamp = created_at.strftime("%Y%m%d%H%M%S")
    return f"{stamp}-{safe_component(title or '', fallback=session_id[:8])}"


def collection_folder(index: int) -> str:
    return f"collection-{index}"


def report_filename(process: str, tag: str, instance: str, stub: str, ext: str) -> str:
    """``<process>_<tag>_<instance>_<stub>.<ext>``; ``ext`` may hold several dots."""
    parts = [safe_component(p, fallback="x", max_len=48) for p in (process, tag, instance, stub)]
    ext_clean = ".".join(safe_component(e, fallback="bin", max_len=16) for e in ext.split(".") if e)
    return "_".join(parts) + "." + (ext_clean or "bin")


def split_extension(filename: str) -> tuple[str, str]:
    """Split known multi-part extensions (``.json.gz``, ``.nsys-rep``) from a stem."""
    name = Path(filename).name
    for multi in (
        ".speedscope.json",
        ".json.gz",
        ".ranges.jsonl",
        ".ranges.json",
        ".pt.trace.json",
    ):
        if name.endswith(multi):
            return name[: -len(multi)], multi[1:]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return name, "bin"
    return stem, ext


def contained_path(root: Path, *components: str) -> Path:
    """Join ``components`` under ``root`` and refuse any result outside it."""
    base = root.resolve()
    target = base.joinpath(*components).resolve()
    if target != base and base not in target.parents:
        raise UnsafePathError(f"refusing to write outside {base}: {'/'.join(components)!r}")
    return target
