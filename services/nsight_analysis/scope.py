"""From a job's scope (a session, or one collection) to the report files it covers.

The analysis service never imports the coordinator (DESIGN.md: services never import
each other); it asks the coordinator's REST API which files a session or collection
holds, then reads those objects from storage itself, since it runs beside storage
with its credentials.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from urllib.parse import quote, urljoin

import httpx
from pydantic import TypeAdapter

from nsight_lab.gateway.identity import ANONYMOUS, Caller
from nsight_lab.models import (
    CollectionInfo,
    ConversionState,
    ConversionUpdate,
    FileInfo,
    SessionInfo,
    SessionState,
)
from nsight_lab.recipe.inputs import REPORT_SUFFIXES
from nsight_lab.servicekit.trust import GatewaySettings

#: Who the ingest loop is to the coordinator: the service itself, for every tag,
#: since a report is converted whichever tenant uploaded it.
INGEST = Caller(name="nsight-analysis-ingest")


class ScopeError(Exception):
    """The scope cannot be resolved; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class ScopeFile:
    key: str
    filename: str
    collection_index: int
    size: int
    sha256: str = ""
    file_id: str = ""

    @classmethod
    def of(cls, info: FileInfo) -> ScopeFile:
        return cls(
            info.key, info.filename, info.collection_index, info.size, info.sha256, info.file_id
        )

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Scope:
    session_id: str
    collection_id: str | None
    files: list[ScopeFile]
    #: The session's tag: the job is filed under it, for tenant scoping.
    tag: str | None = None


def is_report_file(info: FileInfo) -> bool:
    """Anything a recipe can read. An agent's annotation log counts: it is the only
    record of a process profiled with annotations alone, and the phases recipes such as
    nvtx_sum summarise beside a py-spy profile."""
    return info.filename.lower().endswith(REPORT_SUFFIXES)


def select_reports(infos: list[FileInfo]) -> list[FileInfo]:
    """The report files of a scope, each recording once.

    The nsys collector uploads both the ``.nsys-rep`` and its ``.sqlite`` export; a
    recipe given both would count every kernel twice, so an agent's export in a
    collection supersedes its ``.nsys-rep`` there.
    """
    exported = {
        (i.collection_id, i.agent_id) for i in infos if i.filename.lower().endswith(".sqlite")
    }
    return [
        i
        for i in infos
        if is_report_file(i)
        and not (
            i.filename.lower().endswith(".nsys-rep") and (i.collection_id, i.agent_id) in exported
        )
    ]


class CoordinatorScopes:
    """Resolves scopes through the coordinator at ``base_url`` (its ``/api/v1/`` root).

    Behind a gateway, each call carries the deployment's secret and the identity of
    the caller the job is for, so the coordinator scopes the answer to that caller's
    tags exactly as it would for the caller itself.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 15.0,
        gateway: GatewaySettings | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.gateway = gateway or GatewaySettings()
        headers = {"User-Agent": "nsight-lab-analysis"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, caller: Caller, **params: str) -> httpx.Response:
        return self._call("GET", path, caller, params=params)

    def _call(
        self,
        method: str,
        path: str,
        caller: Caller,
        params: dict[str, str] | None = None,
        json: object = None,
    ) -> httpx.Response:
        url = urljoin(self.base_url, path)
        try:
            response = self._http.request(
                method,
                url,
                params=params,
                json=json,
                headers=self.gateway.outgoing_headers(caller),
            )
        except httpx.TransportError as exc:
            raise ScopeError(
                503,
                f"the analysis service cannot reach the coordinator at {self.base_url} ({exc}); "
                "check NSIGHT_LAB_ANALYSIS_COORDINATOR_URL",
            ) from exc
        if response.status_code == 404:
            try:
                detail = str(response.json().get("detail"))
            except ValueError:
                detail = response.text[:300]
            raise ScopeError(404, detail)
        if response.status_code >= 400:
            raise ScopeError(
                502,
                f"the coordinator answered {response.status_code} for {url}: {response.text[:300]}",
            )
        return response

    def resolve(
        self,
        *,
        tag: str,
        session_id: str | None,
        collection_id: str | None,
        caller: Caller = ANONYMOUS,
    ) -> Scope:
        """The scope a job request means; raises :class:`ScopeError` naming what is missing."""
        if collection_id:
            collection = CollectionInfo.model_validate(
                self._get(f"collections/{quote(collection_id, safe='')}", caller).json()
            )
            if session_id and session_id != collection.session_id:
                raise ScopeError(
                    422,
                    f"collection_id {collection_id!r} belongs to session {collection.session_id!r}, "
                    f"not to session_id {session_id!r}; pass one of them",
                )
            files = self._files(caller, collection_id=collection_id)
            owner = SessionInfo.model_validate(
                self._get(f"sessions/{quote(collection.session_id, safe='')}", caller).json()
            )
            return Scope(collection.session_id, collection_id, files, owner.tag)
        if session_id:
            session = SessionInfo.model_validate(
                self._get(f"sessions/{quote(session_id, safe='')}", caller).json()
            )
        else:
            session = self._current_session(tag, caller)
        files = self._files(caller, session_id=session.session_id)
        return Scope(session.session_id, None, files, session.tag)

    def _current_session(self, tag: str, caller: Caller) -> SessionInfo:
        sessions = TypeAdapter(list[SessionInfo]).validate_python(
            self._get("sessions", caller, tag=tag).json()
        )
        if not sessions:
            raise ScopeError(
                404,
                f"tag {tag!r} has no sessions yet; profile something first "
                "(nsight-lab session-begin, profiler-start, profiler-stop) or pass session_id",
            )
        active = [s for s in sessions if s.state == SessionState.ACTIVE]
        return active[0] if active else sessions[0]

    def _files(self, caller: Caller, **params: str) -> list[ScopeFile]:
        infos = TypeAdapter(list[FileInfo]).validate_python(
            self._get("files", caller, **params).json()
        )
        return [
            ScopeFile.of(i)
            for i in sorted(select_reports(infos), key=lambda i: (i.collection_index, i.filename))
        ]

    # --- ingest: how the analysis side learns of new reports -------------------------

    def pending_files(self, limit: int = 100) -> list[FileInfo]:
        """Registered files not converted yet, oldest first."""
        answer = self._get(
            "files", INGEST, conversion=ConversionState.PENDING.value, limit=str(limit)
        )
        return TypeAdapter(list[FileInfo]).validate_python(answer.json())

    def may_read(self, caller: Caller, sha256: str) -> bool:
        """Whether ``caller`` may see a report with this content: converted traces are
        keyed by sha256, so a tenant reads one only through a file of its own."""
        if not caller.limited:
            return True
        answer = self._get("files", caller, sha256=sha256, limit="1")
        return bool(answer.json())

    def files_of(self, collection_id: str) -> list[FileInfo]:
        answer = self._get("files", INGEST, collection_id=collection_id)
        return TypeAdapter(list[FileInfo]).validate_python(answer.json())

    def collection(self, collection_id: str) -> CollectionInfo:
        return CollectionInfo.model_validate(
            self._get(f"collections/{quote(collection_id, safe='')}", INGEST).json()
        )

    def set_conversion(self, file_id: str, update: ConversionUpdate) -> FileInfo:
        """Tell the coordinator what became of the file's conversion."""
        answer = self._call(
            "PUT",
            f"files/{quote(file_id, safe='')}/conversion",
            INGEST,
            json=update.model_dump(mode="json"),
        )
        return FileInfo.model_validate(answer.json())
