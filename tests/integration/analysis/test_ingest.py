"""Reports ingested once: converted when registered, read converted by every job after.

The stack runs as ``nsight-lab up`` (local-folder storage); reports enter through the
coordinator's real upload API and the analysis service learns of them by itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.analysis.conftest import wait_job
from tests.support.analysis_stack import AnalysisStack, upload_reports
from tests.support.reports import distinct_copy, fixture_reports
from tests.support.stack import Cli, wait_until

pytestmark = pytest.mark.integration


def _files(stack: AnalysisStack, collection_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.coordinator_url}files", params={"collection_id": collection_id})
    files: list[dict[str, Any]] = answer.json()
    return files


def _settled(stack: AnalysisStack, collection_id: str) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        files = _files(stack, collection_id)
        return files if all(f["conversion"]["state"] != "pending" for f in files) else None

    return wait_until(done, 120, f"conversion of collection {collection_id}")  # type: ignore[no-any-return]


def _ingest(api: httpx.Client) -> dict[str, Any]:
    status: dict[str, Any] = api.get("ingest").json()
    return status


def _record(api: httpx.Client, job_id: str) -> dict[str, Any]:
    outputs = {o["name"]: o for o in api.get(f"jobs/{job_id}/outputs").json()}
    record = next(o for name, o in outputs.items() if name.endswith(".nsys-analysis"))
    data: dict[str, Any] = httpx.get(record["url"]).json()
    return data


def test_the_second_job_over_the_same_reports_parses_nothing_again(
    api: httpx.Client, stack: AnalysisStack, fixtures_dir: Path, tmp_path: Path
) -> None:
    reports = [
        distinct_copy(source, tmp_path / f"once-{source.name}", 1000 + i)
        for i, source in enumerate(fixture_reports(fixtures_dir)[:3])
    ]
    before = _ingest(api)["parsed"]
    up = upload_reports(stack.coordinator_url, reports, tag="once")
    files = _settled(stack, up.collection_id)
    assert [f["conversion"]["state"] for f in files] == ["converted"] * 3
    assert all(f["conversion"]["trace_prefix"] == f"traces/{f['sha256']}/" for f in files)
    assert _ingest(api)["parsed"] == before + 3  # each report parsed once, on registration

    for _ in range(2):
        job = api.post(
            "jobs",
            json={"recipe": "kernel_count", "collection_id": up.collection_id, "notebook": False},
        ).json()
        assert wait_job(api, job["job_id"])["state"] == "succeeded"
        assert _record(api, job["job_id"])["Sources"] == {"raw": 0, "converted": 3}
    assert _ingest(api)["parsed"] == before + 3  # two jobs later: still once each

    # The raw reports are not even needed any more: remove them and run again.
    storage = stack.data_dir / "storage"
    for key in up.keys:
        (storage / key).unlink()
    job = api.post(
        "jobs",
        json={"recipe": "kernel_count", "collection_id": up.collection_id, "notebook": False},
    ).json()
    done = wait_job(api, job["job_id"])
    assert done["state"] == "succeeded" and done["warnings"] == [], done


def test_identical_reports_convert_once(
    api: httpx.Client, stack: AnalysisStack, fixtures_dir: Path, tmp_path: Path
) -> None:
    report = distinct_copy(fixture_reports(fixtures_dir)[1], tmp_path / "same.json.gz", 2000)
    before = _ingest(api)
    first = upload_reports(stack.coordinator_url, [report], tag="same-a")
    second = upload_reports(stack.coordinator_url, [report], tag="same-b")
    for up in (first, second):
        assert _settled(stack, up.collection_id)[0]["conversion"]["state"] == "converted"
    after = _ingest(api)
    assert after["parsed"] == before["parsed"] + 1
    assert after["reused"] >= before["reused"] + 1


def test_a_corrupt_report_gets_a_recorded_error_while_the_others_convert(
    api: httpx.Client,
    stack: AnalysisStack,
    fixtures_dir: Path,
    broken_report: Path,
    tmp_path: Path,
) -> None:
    good = distinct_copy(fixture_reports(fixtures_dir)[0], tmp_path / "good.sqlite", 3000)
    up = upload_reports(stack.coordinator_url, [good, broken_report], tag="corrupt-ingest")
    good_file, bad_file = _settled(stack, up.collection_id)
    assert good_file["conversion"]["state"] == "converted"
    assert bad_file["conversion"]["state"] == "failed"
    assert "SQLite" in bad_file["conversion"]["error"]
    assert str(tmp_path) not in bad_file["conversion"]["error"]  # no server paths leak

    # `ls --output json` carries the recorded conversion for scripts and the panel.
    cli = Cli(stack.url, tmp_path)
    listed = json.loads(cli.run("--tag", "corrupt-ingest", "--output", "json", "ls").stdout)
    by_key = {f["key"]: f["conversion"] for f in listed}
    assert by_key[bad_file["key"]]["state"] == "failed"
    assert by_key[good_file["key"]]["state"] == "converted"

    parsed = _ingest(api)["parsed"]
    job = api.post(
        "jobs",
        json={"recipe": "kernel_count", "collection_id": up.collection_id, "notebook": False},
    ).json()
    done = wait_job(api, job["job_id"])
    assert done["state"] == "succeeded", done
    assert [w["file"] for w in done["warnings"]] == [bad_file["key"]]
    assert done["warnings"][0]["problem"].startswith("could not be converted: ")
    assert _ingest(api)["parsed"] == parsed  # the verdict was stored: not parsed again


def test_converted_traces_are_reachable_by_presigned_urls(
    api: httpx.Client, stack: AnalysisStack, fixtures_dir: Path, tmp_path: Path
) -> None:
    from nsight_lab.storage.ranged import UrlFiles
    from nsight_lab.trace.converted import ConvertedTrace

    report = distinct_copy(fixture_reports(fixtures_dir)[2], tmp_path / "viewed.json.gz", 4000)
    up = upload_reports(stack.coordinator_url, [report], tag="links")
    sha = _settled(stack, up.collection_id)[0]["sha256"]
    links = api.get(f"traces/{sha}").json()
    assert links["manifest"]["sha256"] == sha
    trace = ConvertedTrace(UrlFiles(links["urls"]))
    kernels = trace.read("kernels", ["start", "end", "name"])
    assert kernels.num_rows == links["manifest"]["tables"]["kernels"]["rows"] > 0
    assert api.get(f"traces/{'0' * 64}").status_code == 404
    assert api.get("traces/not-a-sha").status_code == 422


def test_an_nsys_report_with_its_sqlite_export_is_skipped_for_the_export(
    api: httpx.Client, stack: AnalysisStack, fixtures_dir: Path, tmp_path: Path
) -> None:
    """The nsys collector uploads both files: only the export, which needs no nsys, converts."""
    export = distinct_copy(fixture_reports(fixtures_dir)[0], tmp_path / "report.sqlite", 5000)
    rep = tmp_path / "report.nsys-rep"
    rep.write_bytes(b"not really an nsys-rep, and never parsed" * 10)
    notes = tmp_path / "notes.txt"
    notes.write_text("a file recipes do not read\n")
    parsed = _ingest(api)["parsed"]
    up = upload_reports(stack.coordinator_url, [export, rep, notes], tag="nsys-pair")
    by_name = {
        Path(f["filename"]).suffix: f["conversion"] for f in _settled(stack, up.collection_id)
    }
    assert by_name[".sqlite"]["state"] == "converted"
    assert by_name[".nsys-rep"]["state"] == "skipped"
    assert "SQLite export" in by_name[".nsys-rep"]["error"]
    assert by_name[".txt"] == {
        **by_name[".txt"],
        "state": "skipped",
        "error": "not a report recipes read",
    }
    assert _ingest(api)["parsed"] == parsed + 1


def test_a_converted_report_is_laid_out_once_and_served_as_its_head_and_object_urls(
    api: httpx.Client, stack: AnalysisStack, fixtures_dir: Path, tmp_path: Path
) -> None:
    import hashlib

    from nsight_lab.jupyter.widgets.lanes import LAYERS
    from nsight_lab.jupyter.widgets.stored_layout import StoredHead
    from nsight_lab.jupyter.widgets.trace_view import layout_name

    report = distinct_copy(fixture_reports(fixtures_dir)[2], tmp_path / "laid.json.gz", 6000)
    before = _ingest(api)
    first = upload_reports(stack.coordinator_url, [report], tag="layout-a")
    sha = _settled(stack, first.collection_id)[0]["sha256"]
    route = f"traces/{sha}/layouts/{layout_name(LAYERS)}"
    # Laid out after the conversion was recorded, by the ingest's layout thread (which
    # may be laying out other tests' reports too: wait until it is idle).
    links = wait_until(lambda: (found := api.get(route)).status_code == 200 and found, 120,
                       "the layout of the report")  # fmt: skip
    after = wait_until(lambda: (status := _ingest(api))["layouts_pending"] == 0 and status, 120,
                       "the layout thread to be idle")  # fmt: skip
    assert after["laid_out"] >= before["laid_out"] + 1
    assert after["layout_failed"] == before["layout_failed"]
    body = links.json()
    head = StoredHead.parse(body["head"])
    assert head is not None and set(body["urls"]) == set(head.data["objects"])
    coarsest = head.files(head.first_levels()[0])[0]
    fetched = httpx.get(body["urls"][coarsest]).content
    assert hashlib.sha256(fetched).hexdigest() == head.data["objects"][coarsest]["sha256"]

    # The same content again (another tag): converted and laid out already, not again.
    second = upload_reports(stack.coordinator_url, [report], tag="layout-b")
    assert _settled(stack, second.collection_id)[0]["conversion"]["state"] == "converted"
    again = _ingest(api)
    assert again["laid_out"] == after["laid_out"] and again["layouts_pending"] == 0

    assert api.get(f"traces/{sha}/layouts/timeline-v999-kernels").status_code == 404
    assert api.get(f"traces/{'0' * 64}/layouts/{layout_name(LAYERS)}").status_code == 404
    for bad in ("..%2F..%2Fetc", "timeline-v1-KERNELS", "head.json"):
        assert api.get(f"traces/{sha}/layouts/{bad}").status_code in (404, 422), bad
