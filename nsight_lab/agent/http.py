"""A small JSON-over-HTTP client on ``urllib``: the agent may import nothing else.

Every call has a timeout, and every failure becomes one of three exceptions so the
runtime can decide what to do without inspecting urllib's zoo of errors:
:class:`HttpStatusError` (the coordinator answered, with a status worth reading),
:class:`TransportError` (it could not be reached, or did not answer in time) and
:class:`ProtocolError` (it answered something that is not the JSON we expect).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from nsight_lab.agent.credentials import BearerSource

_BODY_LIMIT = 8 * 1024 * 1024
_AGENT_HEADER = "nsight-lab-agent"


class AgentHttpError(Exception):
    """Base of every error the client raises."""


class TransportError(AgentHttpError):
    """No answer: refused, reset, DNS failure or timeout. Retrying later may help."""


class ProtocolError(AgentHttpError):
    """An answer that is not the JSON the protocol promises."""


class HttpStatusError(AgentHttpError):
    """The coordinator answered with an error status; ``detail`` is its explanation."""

    def __init__(self, method: str, url: str, status: int, detail: str, hint: str = "") -> None:
        super().__init__(f"{method} {url} answered {status}: {detail}{hint}")
        self.status = status
        self.detail = detail


class JsonClient:
    """Calls paths relative to ``base_url`` (which ends with ``/``)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        credential: BearerSource | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self._headers = {"Accept": "application/json", "User-Agent": _AGENT_HEADER}
        self.credential = credential or BearerSource(api_key=api_key)
        # Proxies from the environment are honoured: clusters that need one set it
        # on purpose, and NO_PROXY exempts the hosts that must be reached directly.
        self._opener = urllib.request.build_opener()

    def url(self, path: str, query: Mapping[str, object] | None = None) -> str:
        url = urllib.parse.urljoin(self.base_url, path.lstrip("/"))
        if query:
            url += "?" + urllib.parse.urlencode({k: str(v) for k, v in query.items()})
        return url

    def request(
        self,
        method: str,
        path: str,
        body: object | None = None,
        *,
        query: Mapping[str, object] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send ``body`` as JSON and return the decoded answer (``None`` for 204).

        Raises :class:`HttpStatusError` for 4xx/5xx, :class:`TransportError` when
        nothing usable came back, :class:`ProtocolError` for a non-JSON answer.
        """
        url = self.url(path, query)
        data = None
        headers = dict(self._headers)
        if (authorization := self.credential.header()) is not None:
            headers["Authorization"] = authorization
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=timeout or self.timeout) as response:
                status = response.status
                raw = response.read(_BODY_LIMIT + 1)
        except urllib.error.HTTPError as exc:
            hint = ""
            if exc.code == 401:
                hint = f" (the gateway refused {self.credential.describe()})"
            raise HttpStatusError(method, url, exc.code, _detail(exc), hint) from None
        except (TimeoutError, urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransportError(f"{method} {url}: {reason}") from None
        except Exception as exc:  # http.client oddities (BadStatusLine, IncompleteRead)
            raise TransportError(f"{method} {url}: {exc!r}") from None
        if len(raw) > _BODY_LIMIT:
            raise ProtocolError(f"{method} {url}: answer larger than {_BODY_LIMIT} bytes")
        if status == 204 or not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(
                f"{method} {url}: answer is not JSON ({exc}): {raw[:200]!r}"
            ) from None


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read(64 * 1024)
    except Exception:
        return exc.reason if isinstance(exc.reason, str) else str(exc.reason)
    try:
        parsed = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return raw.decode("utf-8", "replace").strip()[:500] or str(exc.reason)
    if isinstance(parsed, dict) and "detail" in parsed:
        return str(parsed["detail"])[:2000]
    return str(parsed)[:500]
