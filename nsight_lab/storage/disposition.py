"""``Content-Disposition`` values for downloads, shared by every backend.

Download names come from user-chosen titles and process names. A quote, a
backslash or a line break inside the header would let such a name end the header
early or inject another, so the ASCII fallback keeps only harmless characters and
the full name travels percent-encoded in ``filename*`` (RFC 6266 / RFC 5987).
"""

from __future__ import annotations

import re
from urllib.parse import quote

_NOT_HEADER_SAFE = re.compile(r"[^A-Za-z0-9._+\- ()\[\]]+")


def content_disposition(download_name: str) -> str:
    """``attachment`` header value naming ``download_name`` (its last path component)."""
    name = download_name.replace("\\", "/").rsplit("/", 1)[-1] or "download"
    ascii_name = _NOT_HEADER_SAFE.sub("_", name).strip() or "download"
    encoded = quote(name, safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"
