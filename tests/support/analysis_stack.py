"""The coordinator and the analysis service as ``nsight-lab up`` serves them, in a subprocess.

Tests drive it as a real client would: reports enter through the coordinator's upload API (a
probe agent registers, starts a collection, uploads), jobs through the analysis API.
The process can be killed and restarted on the same data to test persistence.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from nsight_lab.agent.transfer import sha256_file, upload_parts
from tests.support.stack import UpServer


class AnalysisStack(UpServer):
    """``nsight-lab up`` with the analysis workers tuned for a test."""

    def __init__(
        self,
        data_dir: Path,
        *,
        storage_config: Path | None = None,
        workers: int = 2,
        warm: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        tuned = {
            "NSIGHT_LAB_ANALYSIS_WORKERS": str(workers),
            "NSIGHT_LAB_ANALYSIS_WARM_KERNEL": "true" if warm else "false",
            # Probe agents upload and leave; keep them ONLINE for the whole test.
            "NSIGHT_LAB_COORDINATOR_AGENT_EXPIRY_S": "60",
            "NSIGHT_LAB_COORDINATOR_HEARTBEAT_INTERVAL_S": "5",
            **(env or {}),
        }
        super().__init__(data_dir, storage_config=storage_config, env=tuned)
        self.workers = workers
        self.warm = warm

    def start(self, timeout: float = 60.0) -> AnalysisStack:
        super().start(timeout)
        return self


@dataclass(frozen=True)
class Uploaded:
    session_id: str
    collection_id: str
    keys: list[str]


def upload_reports(
    coordinator_url: str,
    files: Sequence[Path],
    *,
    tag: str = "default",
    instance: str = "probe",
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> Uploaded:
    """Put ``files`` into one new collection through the coordinator's real upload API.

    A probe agent registers, a collection starts on its tag, each file goes up by
    its presigned plan, and the collection stops: what an agent does, minus profiling.
    ``headers`` go with every API call (a credential, through a gateway); the presigned
    uploads carry only their plan's own.
    """
    with httpx.Client(timeout=timeout) as http:

        def call(method: str, path: str, **kwargs: Any) -> Any:
            response = http.request(
                method, urljoin(coordinator_url, path), headers=headers, **kwargs
            )
            if response.status_code >= 400:
                raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
            return response.json() if response.content else None

        agent = call(
            "POST",
            "agents",
            json={
                "tag": tag,
                "process_name": "probe",
                "instance": instance,
                "pid": os.getpid(),
                "collector": "torch",
            },
        )
        collection = call("POST", "profiler/start", json={"tag": tag})
        keys = []
        for path in files:
            digest, size = sha256_file(path)
            plan = call(
                "POST",
                "uploads",
                json={
                    "agent_id": agent["agent_id"],
                    "collection_id": collection["collection_id"],
                    "filename": path.name,
                    "size": size,
                    "sha256": digest,
                    "kind": "sqlite" if path.name.endswith(".sqlite") else "report",
                },
            )
            parts: list[dict[str, Any]] = []
            if plan["method"] == "single":
                with path.open("rb") as body:
                    put = http.put(
                        urljoin(coordinator_url, plan["url"]),
                        content=body,
                        headers=plan.get("headers"),
                    )
                assert put.status_code < 300, put.text
            else:  # big reports go up in presigned parts, as the agent sends them
                urls = [
                    (p["part_number"], urljoin(coordinator_url, p["url"])) for p in plan["parts"]
                ]
                etags = upload_parts(urls, path, plan["part_size"])
                parts = [{"part_number": n, "etag": etag} for n, etag in etags]
            # Completion assembles and checksums the object: minutes for gigabytes.
            info = call(
                "POST",
                f"uploads/{plan['upload_id']}/complete",
                json={"parts": parts},
                timeout=max(30.0, size / 20e6),
            )
            keys.append(info["key"])
        # The collection completes by itself once its only participant uploaded;
        # stop it only if it still runs (e.g. nothing was uploaded).
        if call("GET", f"collections/{collection['collection_id']}")["state"] == "RUNNING":
            call("POST", "profiler/stop", json={"tag": tag})
        return Uploaded(collection["session_id"], collection["collection_id"], keys)


#: Two ranks of a real 128-rank PyTorch job (HolisticTraceAnalysis's test data).
KINETO_RANKS = (
    "kineto/trace_filter__sampled_rank-0.json.gz",
    "kineto/trace_filter__sampled_rank-1.json.gz",
)


def wait_converted(
    coordinator_url: str,
    collection_id: str,
    *,
    settled: tuple[str, ...] = ("converted",),
    timeout: float = 120.0,
) -> list[dict[str, Any]]:
    """The collection's files once the analysis side's conversion of each is ``settled``."""
    from tests.support.stack import wait_until

    def done() -> list[dict[str, Any]] | None:
        files: list[dict[str, Any]] = httpx.get(
            urljoin(coordinator_url, "files"), params={"collection_id": collection_id}, timeout=10
        ).json()
        return files if files and all(f["conversion"]["state"] in settled for f in files) else None

    found: list[dict[str, Any]] = wait_until(done, timeout, "the reports to be converted", 0.3)
    return found


def upload_ranks(stack: UpServer, fixtures_dir: Path, tag: str) -> Uploaded:
    """The two Kineto ranks as one collection, once the analysis side converted both."""
    uploaded = upload_reports(
        stack.coordinator_url, [fixtures_dir / r for r in KINETO_RANKS], tag=tag
    )
    wait_converted(stack.coordinator_url, uploaded.collection_id)
    return uploaded
