"""Turning a store's presigned URL into one a client can call as given.

The local-folder backend signs URLs relative to the API root (``storage/o/...``).
Resolving them here, against the URL this request arrived on, spares every client
the resolution rule; S3/MinIO URLs are absolute already and pass through. The scope's
``root_path`` carries both a server's ``--root-path`` and the prefix of a Starlette
``Mount`` (``request.base_url`` alone would drop the mount, as it names the top app).
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from fastapi import Request

from nsight_lab.models import API_PREFIX


def api_root(request: Request) -> str:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return str(request.base_url.replace(path=f"{root}{API_PREFIX}/"))


def absolute_url(request: Request, url: str) -> str:
    if urlsplit(url).scheme:
        return url
    return urljoin(api_root(request), url.lstrip("/"))
