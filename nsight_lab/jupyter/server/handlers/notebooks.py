"""Open a finished job's notebook in JupyterLab, and its HTML report in a browser tab.

The executed notebook is copied into the Jupyter root (``<workspace>/<recipe>-<job>/``)
rather than served from storage: JupyterLab's document manager opens, edits and re-runs
files of its contents manager, and a local copy keeps working after the presigned
links have expired.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from nsight_lab.jupyter.server.connection import GatewayConnection
from nsight_lab.jupyter.server.handlers.base import AUTH_RESOURCE, HandlerError, NsightHandler
from nsight_lab.naming import UnsafePathError, contained_path, safe_component


def checked_id(value: Any, field: str) -> str:
    """An id that is safe to put into a URL path and a folder name, or a 400."""
    if not isinstance(value, str) or not value:
        raise HandlerError(400, f"{field} is required and must be a non-empty string")
    if safe_component(value, fallback="") != value:
        raise HandlerError(400, f"{field} {value!r} is not a valid id (letters, digits, ._+- only)")
    return value


def pick_output(outputs: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The job's output of ``kind``; the shortest name wins (the report, not a sub-part)."""
    matches = [o for o in outputs if o.get("kind") == kind]
    return min(matches, key=lambda o: len(str(o.get("name", "")))) if matches else None


async def fetch_to(
    conn: GatewayConnection,
    url: str,
    target: Path,
    timeout: float,
    client: httpx.AsyncClient | None = None,
) -> int:
    """Download a presigned URL to ``target`` through a ``.part`` file; returns its size.

    ``client``: a storage client to reuse (many small objects), else one of its own."""
    if client is None:
        async with conn.storage_client(timeout) as own:
            return await fetch_to(conn, url, target, timeout, own)
    partial = target.with_name(target.name + ".part")
    size = 0
    try:
        async with client.stream("GET", url) as answer:
            if answer.status_code >= 400:
                await answer.aread()
                raise HandlerError(
                    502,
                    f"storage refused {target.name} (HTTP {answer.status_code}): "
                    f"{answer.text[:300]}",
                )
            with partial.open("wb") as out:
                async for chunk in answer.aiter_bytes(1 << 20):
                    out.write(chunk)
                    size += len(chunk)
    except httpx.TransportError as exc:
        partial.unlink(missing_ok=True)
        raise HandlerError(502, f"cannot download {target.name} from storage: {exc}") from exc
    partial.replace(target)
    return size


class OpenNotebookHandler(NsightHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        await self.post_json(self._open)

    async def _open(self) -> dict[str, Any]:
        job_id = checked_id(self.json_body('{"job_id": "..."}').get("job_id"), "job_id")
        conn = self.connection()
        job = await self.gateway_json(conn, "analysis", f"jobs/{job_id}")
        if job["state"] != "succeeded":
            reason = f": {job['error']}" if job.get("error") else ""
            raise HandlerError(
                409,
                f"job {job_id} is {job['state']}{reason}; only a succeeded job has a notebook to open",
            )
        outputs = await self.gateway_json(conn, "analysis", f"jobs/{job_id}/outputs")
        notebook = pick_output(outputs, "Notebook")
        if notebook is None:
            raise HandlerError(
                404, f"job {job_id} produced no notebook (it was run with notebook=false)"
            )
        html = pick_output(outputs, "HTML")
        workspace = str(self.nsight.workspace_dir)
        folder = safe_component(f"{job['recipe']}-{job_id}")
        root = Path(self.nsight.serverapp.root_dir)
        try:
            target_dir = contained_path(root, *PurePosixPath(workspace).parts, folder)
        except UnsafePathError as exc:
            raise HandlerError(500, f"workspace_dir {workspace!r} is not usable: {exc}") from exc
        target_dir.mkdir(parents=True, exist_ok=True)
        answer: dict[str, Any] = {"job_id": job_id, "folder": f"{workspace}/{folder}"}
        for key, output in (("path", notebook), ("html_path", html)):
            if output is None:
                answer[key] = None
                continue
            name = safe_component(PurePosixPath(str(output["name"])).name)
            await fetch_to(conn, str(output["url"]), target_dir / name, self.timeout())
            answer[key] = f"{workspace}/{folder}/{name}"
        answer["html_url"] = (
            self.base_url.rstrip("/")
            + f"/nsight-lab/html/{folder}/{PurePosixPath(answer['html_path']).name}"
            if answer["html_path"]
            else None
        )
        return answer


class HtmlReportHandler(ExtensionHandlerMixin, JupyterHandler):
    """Serves a fetched HTML report for a browser tab of its own.

    The report runs in a sandbox (no access to the Jupyter origin's cookies or API),
    the way Jupyter serves user files: its scripts still run, its origin is opaque.
    """

    auth_resource = AUTH_RESOURCE

    @property
    def content_security_policy(self) -> str:
        return super().content_security_policy + "; sandbox allow-scripts"

    @web.authenticated
    @authorized
    async def get(self, folder: str, name: str) -> None:
        if not name.endswith(".html") or safe_component(folder) != folder:
            raise web.HTTPError(404, "no such nsight-lab report")
        app: Any = self.extensionapp
        root = Path(app.serverapp.root_dir)
        try:
            path = contained_path(root, *PurePosixPath(app.workspace_dir).parts, folder, name)
        except UnsafePathError as exc:
            raise web.HTTPError(404, "no such nsight-lab report") from exc
        if not path.is_file():
            raise web.HTTPError(
                404, f"{folder}/{name} has not been fetched; open the job's notebook first"
            )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Length", str(os.path.getsize(path)))
        self.finish(path.read_bytes())
