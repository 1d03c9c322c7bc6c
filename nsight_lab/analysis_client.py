"""Typed HTTP client for the analysis service (``<gw>/analysis/api/v1/``).

It fails the way :class:`nsight_lab.client.CoordinatorClient` does (the same
:class:`ApiError` with the server's ``detail``, the same :class:`ConnectionFailed`
naming the URL), so the CLI, magics and widgets handle both services alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urljoin

import httpx
from pydantic import TypeAdapter

from nsight_lab.analysis_models import (
    JobCreate,
    JobInfo,
    JobOutput,
    JobState,
    RecipeCatalogue,
    RecipeDetail,
    TraceLinks,
)
from nsight_lab.client import (
    ApiError,
    ConnectionFailed,
    api_error,
    error_detail,
    gateway_http,
    storage_http,
)
from nsight_lab.config import CliConfig

T = TypeVar("T")

__all__ = ["AnalysisClient", "ApiError", "ConnectionFailed"]


class AnalysisClient:
    def __init__(
        self, config: CliConfig, *, timeout: float = 30.0, base_url: str | None = None
    ) -> None:
        self.config = config
        self.base_url = base_url or config.analysis_url
        self._http = gateway_http(config, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AnalysisClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------

    def _unreachable(self, exc: Exception) -> ConnectionFailed:
        return ConnectionFailed(
            f"cannot reach the nsight-lab analysis service at {self.base_url} ({exc}). "
            "Start one with `nsight-lab up`, or point the CLI at your gateway with "
            "`nsight-lab configure --gw URL`."
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = urljoin(self.base_url, path)
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise api_error(self.config, response, url)
        return response

    def _get(self, path: str, model: Any, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return TypeAdapter(model).validate_python(self._request("GET", path, params=clean).json())

    # --- catalogue ------------------------------------------------------------------

    def trace_links(self, sha256: str) -> TraceLinks:
        """Presigned URLs of a report's converted trace (404 while it is not converted)."""
        return TraceLinks.model_validate(self._request("GET", f"traces/{sha256}").json())

    def recipes(self) -> RecipeCatalogue:
        return RecipeCatalogue.model_validate(self._request("GET", "recipes").json())

    def recipe(self, name: str) -> RecipeDetail:
        return RecipeDetail.model_validate(
            self._request("GET", f"recipes/{quote(name, safe='')}").json()
        )

    # --- jobs -----------------------------------------------------------------------

    def create_job(self, request: JobCreate) -> JobInfo:
        body = request.model_dump(mode="json", exclude_none=True)
        return JobInfo.model_validate(self._request("POST", "jobs", json=body).json())

    def jobs(
        self,
        *,
        state: JobState | None = None,
        tag: str | None = None,
        session_id: str | None = None,
    ) -> list[JobInfo]:
        return self._get(
            "jobs",
            list[JobInfo],
            state=state.value if state else None,
            tag=tag,
            session_id=session_id,
        )

    def job(self, job_id: str) -> JobInfo:
        return JobInfo.model_validate(self._request("GET", f"jobs/{quote(job_id, safe='')}").json())

    def cancel(self, job_id: str) -> JobInfo:
        return JobInfo.model_validate(
            self._request("POST", f"jobs/{quote(job_id, safe='')}/cancel").json()
        )

    def delete(self, job_id: str) -> None:
        self._request("DELETE", f"jobs/{quote(job_id, safe='')}")

    def outputs(self, job_id: str) -> list[JobOutput]:
        return self._get(f"jobs/{quote(job_id, safe='')}/outputs", list[JobOutput])

    def logs(self, job_id: str, *, tail: int | None = None) -> str:
        params = {"tail": tail} if tail is not None else {}
        return self._request("GET", f"jobs/{quote(job_id, safe='')}/logs", params=params).text

    def follow_logs(
        self, job_id: str, *, tail: int | None = None, timeout: float | None = None
    ) -> Iterator[str]:
        """Log text as it is written, until the job ends (the server bounds the stream)."""
        url = urljoin(self.base_url, f"jobs/{quote(job_id, safe='')}/logs")
        params: dict[str, Any] = {"follow": "true"}
        if tail is not None:
            params["tail"] = tail
        if timeout is not None:
            params["timeout"] = timeout
        try:
            with self._http.stream(
                "GET", url, params=params, timeout=httpx.Timeout(30.0, read=None)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise api_error(self.config, response, url)
                yield from response.iter_text()
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def download_output(
        self, output: JobOutput, target: Path, *, on_bytes: Callable[[int], None] | None = None
    ) -> Path:
        """Fetch one output by its presigned URL (no bearer token goes to storage)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        try:
            with (
                storage_http(self.config, timeout=60.0) as http,
                http.stream("GET", output.url) as response,
            ):
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(response.status_code, error_detail(response), output.url)
                size = 0
                with partial.open("wb") as sink:
                    for chunk in response.iter_bytes(1024 * 1024):
                        sink.write(chunk)
                        size += len(chunk)
                        if on_bytes:
                            on_bytes(len(chunk))
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ConnectionFailed(f"cannot download {output.name}: {exc}") from exc
        if size != output.size:
            partial.unlink(missing_ok=True)
            raise ApiError(
                502, f"{output.name}: got {size} bytes, expected {output.size}; retry", output.url
            )
        partial.replace(target)
        return target

    @property
    def docs_url(self) -> str:
        return urljoin(self.base_url, "docs")
