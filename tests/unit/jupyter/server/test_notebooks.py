"""Opening a finished job's notebook and HTML, and downloading reports, through Jupyter."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.analysis_stack import AnalysisStack, upload_reports
from tests.support.stack import wait_until
from tests.unit.jupyter.server.fetching import fetch_json

REPORT = "kineto/triton_example__triton_example.json.gz"


@pytest.fixture(scope="module")
def finished_job(up_stack: AnalysisStack, fixtures_dir: Path) -> dict[str, Any]:
    """A real job of a real recipe over a real Kineto fixture, run to success."""
    uploaded = upload_reports(up_stack.coordinator_url, [fixtures_dir / REPORT], tag="nb")
    job = httpx.post(
        up_stack.analysis_url + "jobs",
        json={"recipe": "cuda_gpu_kern_sum", "tag": "nb", "session_id": uploaded.session_id},
        timeout=30,
    ).json()

    def done() -> dict[str, Any] | None:
        info = httpx.get(up_stack.analysis_url + f"jobs/{job['job_id']}", timeout=10).json()
        return info if info["state"] in ("succeeded", "failed", "cancelled") else None

    info = wait_until(done, 120, "the cuda_gpu_kern_sum job to finish", interval=0.5)
    assert info["state"] == "succeeded", info
    return {**info, "session_id": uploaded.session_id}


async def test_open_notebook_fetches_notebook_and_html_into_the_workspace(
    jp_fetch: Any, gateway: AnalysisStack, finished_job: dict[str, Any], jp_root_dir: Path
) -> None:
    job_id = finished_job["job_id"]
    code, opened = await fetch_json(
        jp_fetch, "nsight-lab", "open-notebook", method="POST", body={"job_id": job_id}
    )
    assert code == 200, opened
    folder = f"nsight-lab/cuda_gpu_kern_sum-{job_id}"
    assert opened["folder"] == folder
    assert opened["path"].startswith(folder + "/") and opened["path"].endswith(".ipynb")
    notebook = jp_root_dir / opened["path"]
    assert notebook.is_file()
    assert '"cells"' in notebook.read_text()
    # The contents API (what JupyterLab's docmanager uses) sees the same notebook.
    response = await jp_fetch("api", "contents", opened["path"])
    assert response.code == 200
    assert opened["html_path"].endswith(".html")
    assert (jp_root_dir / opened["html_path"]).stat().st_size > 0
    assert opened["html_url"].endswith(
        f"/nsight-lab/html/cuda_gpu_kern_sum-{job_id}/" + Path(opened["html_path"]).name
    )

    page = await jp_fetch(opened["html_url"].split("/nsight-lab/", 1)[1].join(["nsight-lab/", ""]))
    assert page.code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "sandbox" in page.headers["Content-Security-Policy"]
    assert b"<html" in page.body.lower()


async def test_a_report_downloads_through_jupyter_byte_for_byte(
    jp_fetch: Any, gateway: AnalysisStack, finished_job: dict[str, Any], fixtures_dir: Path
) -> None:
    code, files = await fetch_json(
        jp_fetch,
        "nsight-lab",
        "api",
        "coordinator",
        "files",
        params={"session_id": finished_job["session_id"]},
    )
    assert code == 200 and len(files) == 1
    response = await jp_fetch("nsight-lab", "download", "file", files[0]["file_id"])
    assert response.code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    expected = (fixtures_dir / REPORT).read_bytes()
    assert hashlib.sha256(response.body).hexdigest() == hashlib.sha256(expected).hexdigest()


async def test_a_job_output_downloads_by_name(
    jp_fetch: Any, gateway: AnalysisStack, finished_job: dict[str, Any]
) -> None:
    job_id = finished_job["job_id"]
    code, outputs = await fetch_json(
        jp_fetch, "nsight-lab", "api", "analysis", "jobs", job_id, "outputs"
    )
    assert code == 200
    parquet = next(o for o in outputs if o["kind"] == "Parquet")
    response = await jp_fetch("nsight-lab", "download", "job", job_id, parquet["name"])
    assert response.code == 200
    assert response.body[:4] == b"PAR1"
    code, body = await fetch_json(jp_fetch, "nsight-lab", "download", "job", job_id, "nope.csv")
    assert code == 404
    assert "nope.csv" in body["detail"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "job_id is required"),
        ({"job_id": 7}, 400, "job_id is required"),
        ({"job_id": "../etc"}, 400, "is not a valid id"),
        ([], 400, "must be an object"),
        ("{not json", 400, "request body is not JSON"),
        ({"job_id": "doesnotexist"}, 404, "doesnotexist"),
    ],
)
async def test_open_notebook_refuses_bad_requests_with_a_reason(
    jp_fetch: Any, gateway: AnalysisStack, body: Any, status: int, message: str
) -> None:
    code, answer = await fetch_json(
        jp_fetch, "nsight-lab", "open-notebook", method="POST", body=body
    )
    assert code == status
    assert message in answer["detail"]


async def test_html_of_a_job_never_fetched_is_404(jp_fetch: Any, gateway: AnalysisStack) -> None:
    response = await jp_fetch("nsight-lab", "html", "x-1", "report.html", raise_error=False)
    assert response.code == 404
    response = await jp_fetch("nsight-lab", "html", "x-1", "secret.ipynb", raise_error=False)
    assert response.code == 404
