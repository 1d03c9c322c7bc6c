"""Jobs over real reports uploaded through the coordinator, run by real worker processes."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from tests.integration.analysis.conftest import wait_job
from tests.support.analysis_stack import AnalysisStack, Uploaded, upload_reports

pytestmark = pytest.mark.integration


def test_a_job_over_the_current_session_stores_tables_notebook_html_record_and_log(
    api: httpx.Client, session: Uploaded
) -> None:
    created = api.post("jobs", json={"recipe": "kernel_count", "args": {"top": "3"}})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["state"] == "queued"
    assert job["session_id"] == session.session_id
    assert job["args"] == {"top": 3, "unit": "kernels"}

    done = wait_job(api, job["job_id"])
    assert done["state"] == "succeeded", done
    assert done["progress"] == {"done": 1, "total": 1, "phase": "finished"}
    outputs = {o["name"]: o for o in api.get(f"jobs/{job['job_id']}/outputs").json()}
    assert set(outputs) == {
        "counts.parquet",
        "files.parquet",
        "counts.ipynb",
        "counts.html",
        "kernel_count.nsys-analysis",
        "job.log",
    }
    assert all(o["key"] == f"analysis/{job['job_id']}/{name}" for name, o in outputs.items())
    # Presigned URLs work as given, under the /analysis mount.
    table = pq.read_table(io.BytesIO(httpx.get(outputs["counts.parquet"]["url"]).content))
    assert table.column("Kernels").to_pylist() == [1312]  # kernels in the cloverleaf export
    html = httpx.get(outputs["counts.html"]["url"])
    assert html.status_code == 200 and "data:image/png;base64" in html.text
    record = httpx.get(outputs["kernel_count.nsys-analysis"]["url"]).json()
    assert record["RecipeName"] == "kernel_count" and record["Outputs"]["counts.html"] == "HTML"
    log = api.get(f"jobs/{job['job_id']}/logs").text
    assert "mapped 1/1" in log and "succeeded" in log
    assert (
        api.get(f"jobs/{job['job_id']}/logs", params={"tail": 1}).text.strip().endswith("succeeded")
    )


def test_bad_recipe_arguments_are_refused_with_422_naming_the_field(
    api: httpx.Client, session: Uploaded
) -> None:
    below_minimum = api.post("jobs", json={"recipe": "kernel_count", "args": {"top": 0}})
    assert below_minimum.status_code == 422
    assert below_minimum.json()["detail"].startswith("args.top:")
    not_a_choice = api.post("jobs", json={"recipe": "kernel_count", "args": {"unit": "bytes"}})
    assert not_a_choice.status_code == 422 and "args.unit" in not_a_choice.json()["detail"]
    unknown = api.post("jobs", json={"recipe": "kernel_count", "args": {"tpo": 3}})
    assert unknown.status_code == 422 and "args.tpo" in unknown.json()["detail"]
    scope_owned = api.post("jobs", json={"recipe": "kernel_count", "args": {"input": ["x"]}})
    assert scope_owned.status_code == 422 and "args.input" in scope_owned.json()["detail"]
    bad_filter = api.post("jobs", json={"recipe": "kernel_count", "filter_time": "soon"})
    assert bad_filter.status_code == 422 and bad_filter.json()["detail"].startswith("filter_time:")
    assert api.get("jobs").status_code == 200
    assert not any(
        j["state"] == "queued" and j["args"].get("top") == 0 for j in api.get("jobs").json()
    )


def test_an_unknown_recipe_is_refused_with_close_matches(api: httpx.Client) -> None:
    create = api.post("jobs", json={"recipe": "kernel_cont"})
    assert create.status_code == 422
    assert "kernel_count" in create.json()["detail"]
    info = api.get("recipes/kernel_cont")
    assert info.status_code == 404 and "kernel_count" in info.json()["detail"]


def test_the_catalogue_lists_recipes_with_their_argument_schema(api: httpx.Client) -> None:
    names = [r["name"] for r in api.get("recipes").json()["recipes"]]
    assert {"kernel_count", "slow_map"} <= set(names)
    detail = api.get("recipes/kernel_count").json()
    props = detail["schema"]["properties"]
    assert props["top"] == {
        "title": "top",
        "description": "Rows to show.",
        "type": "integer",
        "minimum": 1,
        "default": 5,
    }
    assert props["unit"]["enum"] == ["kernels", "launches"]


def test_an_unknown_session_or_an_empty_tag_is_a_clear_404(api: httpx.Client) -> None:
    missing = api.post("jobs", json={"recipe": "kernel_count", "session_id": "nope"})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    empty_tag = api.post("jobs", json={"recipe": "kernel_count", "tag": "never-used"})
    assert empty_tag.status_code == 404 and "never-used" in empty_tag.json()["detail"]


def test_a_corrupt_report_is_named_in_warnings_while_the_others_are_analysed(
    api: httpx.Client, stack: AnalysisStack, cloverleaf: Path, broken_report: Path
) -> None:
    uploaded = upload_reports(stack.coordinator_url, [cloverleaf, broken_report], tag="corrupt")
    broken_key = next(k for k in uploaded.keys if k != uploaded.keys[0])
    job = api.post(
        "jobs",
        json={"recipe": "kernel_count", "collection_id": uploaded.collection_id, "notebook": False},
    ).json()
    assert job["collection_id"] == uploaded.collection_id
    done = wait_job(api, job["job_id"])
    assert done["state"] == "succeeded", done
    assert [w["file"] for w in done["warnings"]] == [broken_key]
    assert done["warnings"][0]["problem"]
    outputs = {o["name"]: o for o in api.get(f"jobs/{job['job_id']}/outputs").json()}
    table = pq.read_table(io.BytesIO(httpx.get(outputs["counts.parquet"]["url"]).content))
    assert table.num_rows == 1


def test_a_job_whose_reports_are_all_unusable_fails_and_says_why(
    api: httpx.Client, stack: AnalysisStack, broken_report: Path
) -> None:
    uploaded = upload_reports(stack.coordinator_url, [broken_report], tag="all-broken")
    job = api.post("jobs", json={"recipe": "kernel_count", "tag": "all-broken"}).json()
    done = wait_job(api, job["job_id"])
    assert done["state"] == "failed"
    assert "no usable report" in done["error"]
    assert uploaded.keys[0] in done["error"]  # named by its storage key, not a scratch path
    assert "analysis-work" not in done["error"]


def test_logs_follow_streams_until_the_job_ends(api: httpx.Client, session: Uploaded) -> None:
    job = api.post(
        "jobs", json={"recipe": "slow_map", "args": {"seconds": 1.5}, "notebook": False}
    ).json()
    with api.stream("GET", f"jobs/{job['job_id']}/logs", params={"follow": "true"}) as response:
        text = "".join(response.iter_text())
    assert "slow_map: sleeping 1.5 s" in text
    assert text.rstrip().endswith("succeeded")
    assert api.get(f"jobs/{job['job_id']}").json()["state"] == "succeeded"


def test_delete_removes_the_job_and_its_outputs_from_storage(
    api: httpx.Client, stack: AnalysisStack, session: Uploaded
) -> None:
    job = api.post("jobs", json={"recipe": "kernel_count", "notebook": False}).json()
    assert wait_job(api, job["job_id"])["state"] == "succeeded"
    stored = stack.data_dir / "storage" / "analysis" / job["job_id"]
    assert (stored / "counts.parquet").is_file()
    assert api.delete(f"jobs/{job['job_id']}").status_code == 204
    assert api.get(f"jobs/{job['job_id']}").status_code == 404
    assert not any(p.is_file() for p in stored.rglob("*")) if stored.exists() else True
    assert api.delete(f"jobs/{job['job_id']}").status_code == 404
