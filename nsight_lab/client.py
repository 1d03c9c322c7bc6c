"""Typed HTTP client for the gateway's public API, shared by the CLI, magics and widgets.

Everything a user-facing surface does goes through here, so errors read the same
everywhere: an :class:`ApiError` carries the server's ``detail`` (which says what to
do) and a connection failure says which URL was unreachable and how to start one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, TypeAdapter

from nsight_lab.auth.credentials import gateway_auth, unauthorized_advice
from nsight_lab.config import CliConfig
from nsight_lab.models import (
    AgentInfo,
    CollectionInfo,
    CollectionState,
    DownloadLink,
    FileInfo,
    ProfilePreset,
    ProfilerStart,
    ProfilerStop,
    SessionBegin,
    SessionInfo,
    SessionState,
    TagStatus,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class ApiError(RuntimeError):
    """The server refused a request; ``detail`` is its explanation."""

    def __init__(self, status: int, detail: str, url: str) -> None:
        super().__init__(f"{detail} (HTTP {status} from {url})")
        self.status = status
        self.detail = detail
        self.url = url


class AuthRequired(ApiError):
    """The gateway answered 401; ``detail`` says which command logs in again."""


class ConnectionFailed(RuntimeError):
    pass


class DownloadCorrupted(RuntimeError):
    pass


def error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):  # FastAPI validation errors
            return "; ".join(
                f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
                for item in detail
                if isinstance(item, dict)
            )
        return str(detail)
    return str(body)[:500]


def gateway_http(
    config: CliConfig, *, timeout: float, agent: str = "nsight-lab-cli"
) -> httpx.Client:
    """An HTTP client for the gateway: the configured credential, its CA bundle."""
    return httpx.Client(
        headers={"User-Agent": agent},
        auth=gateway_auth(config),
        timeout=timeout,
        verify=config.tls_verify(),
        follow_redirects=True,
    )


def storage_http(config: CliConfig, *, timeout: float) -> httpx.Client:
    """For presigned storage URLs: they carry their own authorization, so no credential
    of ours ever travels to object storage."""
    return httpx.Client(timeout=timeout, verify=config.tls_verify())


def api_error(config: CliConfig, response: httpx.Response, url: str) -> ApiError:
    """The error for a refused request; a 401 also says how to log in again."""
    detail = error_detail(response)
    if response.status_code == 401:
        return AuthRequired(401, unauthorized_advice(config, detail), url)
    return ApiError(response.status_code, detail, url)


class CoordinatorClient:
    """The coordinator's REST API as methods returning the shared models."""

    def __init__(self, config: CliConfig, *, timeout: float = 30.0) -> None:
        self.config = config
        self.base_url = config.coordinator_url
        self._http = gateway_http(config, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CoordinatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = urljoin(self.base_url, path)
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"cannot reach the nsight-lab gateway at {self.config.gw} ({exc}). "
                "Start one with `nsight-lab up`, or point the CLI at yours with "
                "`nsight-lab configure --gw URL`."
            ) from exc
        if response.status_code >= 400:
            raise api_error(self.config, response, url)
        return response

    def _get(self, path: str, model: type[T] | Any, **params: Any) -> T:
        clean = {k: v for k, v in params.items() if v is not None}
        response = self._request("GET", path, params=clean)
        return TypeAdapter(model).validate_python(response.json())

    def _post(self, path: str, model: type[M], body: BaseModel | None = None) -> M:
        payload = body.model_dump(mode="json", exclude_none=True) if body else None
        response = self._request("POST", path, json=payload)
        return model.model_validate(response.json())

    # --- resources ------------------------------------------------------------------

    def status(self, tag: str) -> TagStatus:
        return self._get(f"tags/{tag}/status", TagStatus)

    def agents(self, tag: str | None = None) -> list[AgentInfo]:
        return self._get("agents", list[AgentInfo], tag=tag)

    def sessions(
        self, tag: str | None = None, state: SessionState | None = None
    ) -> list[SessionInfo]:
        return self._get(
            "sessions", list[SessionInfo], tag=tag, state=state.value if state else None
        )

    def session(self, session_id: str) -> SessionInfo:
        return self._get(f"sessions/{session_id}", SessionInfo)

    def begin_session(self, tag: str, title: str | None) -> SessionInfo:
        return self._post("sessions", SessionInfo, SessionBegin(tag=tag, title=title))

    def end_session(self, session_id: str) -> SessionInfo:
        return self._post(f"sessions/{session_id}/end", SessionInfo)

    def start(
        self,
        tag: str,
        session_id: str | None = None,
        duration_s: float | None = None,
        delay_s: float | None = None,
        **capture: Any,
    ) -> CollectionInfo:
        """Start collecting; ``capture`` holds ProfilerStart's capture fields
        (``options``, ``steps``, ``skip``, ``step_timeout_s``, ``max_overhead_pct``,
        ``preset``)."""
        body = ProfilerStart(
            tag=tag, session_id=session_id, duration_s=duration_s, delay_s=delay_s, **capture
        )
        return self._post("profiler/start", CollectionInfo, body)

    def presets(self) -> list[ProfilePreset]:
        return self._get("presets", list[ProfilePreset])

    def preset(self, name: str) -> ProfilePreset:
        return self._get(f"presets/{name}", ProfilePreset)

    def save_preset(self, preset: ProfilePreset) -> ProfilePreset:
        payload = preset.model_dump(mode="json", exclude_none=True, exclude={"updated_at"})
        response = self._request("PUT", f"presets/{preset.name}", json=payload)
        return ProfilePreset.model_validate(response.json())

    def delete_preset(self, name: str) -> None:
        self._request("DELETE", f"presets/{name}")

    def stop(self, tag: str, session_id: str | None = None) -> CollectionInfo:
        return self._post(
            "profiler/stop", CollectionInfo, ProfilerStop(tag=tag, session_id=session_id)
        )

    def collection(self, collection_id: str) -> CollectionInfo:
        return self._get(f"collections/{collection_id}", CollectionInfo)

    def wait_for_collection(
        self, collection: CollectionInfo, timeout: float, *, interval: float = 0.2
    ) -> CollectionInfo:
        """Poll until the collection settles (every agent uploaded, failed or lost).

        Returns the last state seen; still RUNNING/STOPPING means ``timeout`` passed.
        """
        deadline = time.monotonic() + timeout
        while collection.state in (CollectionState.STOPPING, CollectionState.RUNNING):
            if time.monotonic() > deadline:
                break
            time.sleep(interval)
            collection = self.collection(collection.collection_id)
        return collection

    def files(
        self, session_id: str | None = None, collection_id: str | None = None
    ) -> list[FileInfo]:
        return self._get(
            "files", list[FileInfo], session_id=session_id, collection_id=collection_id
        )

    def file(self, file_id: str) -> FileInfo:
        return self._get(f"files/{file_id}", FileInfo)

    def download_link(self, file_id: str) -> DownloadLink:
        return self._get(f"files/{file_id}/download", DownloadLink)

    def resolve_session(self, tag: str, session_id: str | None) -> SessionInfo:
        """The session a command means: the one named, else the tag's active or latest one."""
        if session_id:
            return self.session(session_id)
        sessions = self.sessions(tag=tag)
        if not sessions:
            raise ApiError(
                404,
                f"tag {tag!r} has no sessions yet; begin one with `nsight-lab session-begin`",
                self.base_url,
            )
        active = [s for s in sessions if s.state == SessionState.ACTIVE]
        return active[0] if active else sessions[0]

    def download_file(
        self,
        info: FileInfo,
        target: Path,
        *,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Path:
        """Fetch one file through its presigned URL, verifying size and sha256.

        The bytes go to a temporary name and are renamed only once verified, so an
        interrupted or corrupted transfer never leaves a plausible-looking report, nor
        a partial one. A file an agent keeps in its Pod comes the same way, relayed.
        """
        link = self.download_link(info.file_id)
        url = urljoin(self.base_url, link.url)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        digest = hashlib.sha256()
        size = 0
        try:
            with self._stream(url) as response, partial.open("wb") as out:
                try:
                    for chunk in response.iter_bytes(1024 * 1024):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if on_bytes:
                            on_bytes(len(chunk))
                except httpx.TransportError as exc:
                    raise DownloadCorrupted(
                        f"{info.filename}: the transfer broke off after {size} of {info.size} "
                        f"bytes ({type(exc).__name__}: {exc}); nothing was written, retry"
                    ) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if size != info.size or digest.hexdigest() != info.sha256:
            partial.unlink(missing_ok=True)
            raise DownloadCorrupted(
                f"{info.filename}: downloaded {size} bytes with sha256 {digest.hexdigest()[:12]}…, "
                f"expected {info.size} bytes with {info.sha256[:12]}…; nothing was written, retry"
            )
        partial.replace(target)
        return target

    def download_url(self, url: str, target: Path) -> int:
        """Stream a presigned URL (no credentials sent) into ``target``; its size."""
        size = 0
        with self._stream(urljoin(self.base_url, url)) as response, target.open("wb") as out:
            for chunk in response.iter_bytes(1024 * 1024):
                out.write(chunk)
                size += len(chunk)
        return size

    @contextmanager
    def _stream(self, url: str) -> Iterator[httpx.Response]:
        # Presigned URLs carry their own authorization; never forward our bearer token
        # to object storage.
        target, headers = self.config.storage_request(url)
        try:
            with (
                storage_http(self.config, timeout=60.0) as http,
                http.stream("GET", target, headers=headers) as response,
            ):
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(response.status_code, error_detail(response), url)
                yield response
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot download {url}: {exc}") from exc
