"""Calls to the Jupyter server under test, with errors returned as values."""

from __future__ import annotations

import json
from typing import Any


async def fetch_json(jp_fetch: Any, *parts: str, **kwargs: Any) -> tuple[int, Any]:
    """One call to the Jupyter server; errors come back as values, not exceptions."""
    if "body" in kwargs and not isinstance(kwargs["body"], (str, bytes)):
        kwargs["body"] = json.dumps(kwargs["body"])
    if "body" in kwargs:
        kwargs.setdefault("headers", {"Content-Type": "application/json"})
    response = await jp_fetch(*parts, raise_error=False, **kwargs)
    body = response.body.decode()
    return response.code, (json.loads(body) if body else None)


async def fetch_raw_json(
    client: Any, base_url: str, auth: dict[str, str], path: str
) -> tuple[int, Any]:
    """A GET of ``path`` exactly as written (``jp_fetch`` would escape a ``%``)."""
    response = await client.fetch(f"{base_url}{path}", headers=auth, raise_error=False)
    body = response.body.decode()
    return response.code, (json.loads(body) if body else None)
