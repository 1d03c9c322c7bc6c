"""The authenticated proxy onto the coordinator and analysis APIs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.analysis_stack import AnalysisStack
from tests.unit.jupyter.server.fetching import fetch_json, fetch_raw_json


async def test_lists_tags_and_sessions_of_the_real_stack(
    jp_fetch: Any, gateway: AnalysisStack
) -> None:
    code, body = await fetch_json(jp_fetch, "nsight-lab", "api", "coordinator", "tags")
    assert code == 200
    assert isinstance(body, list)
    code, sessions = await fetch_json(
        jp_fetch, "nsight-lab", "api", "coordinator", "sessions", params={"tag": "proxy-list"}
    )
    assert (code, sessions) == (200, [])


async def test_post_begins_a_session_and_end_ends_it(jp_fetch: Any, gateway: AnalysisStack) -> None:
    code, session = await fetch_json(
        jp_fetch,
        "nsight-lab",
        "api",
        "coordinator",
        "sessions",
        method="POST",
        body={"tag": "proxy-begin", "title": "from jupyter"},
    )
    assert code == 201
    assert session["title"] == "from jupyter"
    assert session["state"] == "ACTIVE"
    code, ended = await fetch_json(
        jp_fetch,
        "nsight-lab",
        "api",
        "coordinator",
        "sessions",
        session["session_id"],
        "end",
        method="POST",
        body="",
    )
    assert (code, ended["state"]) == (200, "ENDED")


async def test_gateway_refusals_keep_their_status_and_detail(
    jp_fetch: Any, gateway: AnalysisStack
) -> None:
    code, body = await fetch_json(
        jp_fetch,
        "nsight-lab",
        "api",
        "coordinator",
        "profiler",
        "start",
        method="POST",
        body={"tag": "nobody-here"},
    )
    assert code == 409
    assert "agent" in body["detail"].lower()
    code, body = await fetch_json(
        jp_fetch, "nsight-lab", "api", "analysis", "recipes", "no_such_recipe"
    )
    assert code == 404
    assert "no_such_recipe" in body["detail"]


async def test_validation_errors_name_the_field(jp_fetch: Any, gateway: AnalysisStack) -> None:
    code, body = await fetch_json(
        jp_fetch,
        "nsight-lab",
        "api",
        "coordinator",
        "sessions",
        method="POST",
        body={"tag": "t", "title": "x" * 201},
    )
    assert code == 422
    assert "title" in body["detail"]


async def test_analysis_recipes_carry_their_argument_schema(
    jp_fetch: Any, gateway: AnalysisStack
) -> None:
    code, detail = await fetch_json(
        jp_fetch, "nsight-lab", "api", "analysis", "recipes", "nvtx_sum"
    )
    assert code == 200
    assert detail["schema"]["properties"]["sources"]["type"] == "array"


@pytest.mark.parametrize("path", ["../healthz", "sessions/../../analysis/api/v1/jobs", "%2e%2e/x"])
async def test_paths_that_climb_out_of_the_api_root_are_refused(
    http_server_client: Any,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    gateway: AnalysisStack,
    path: str,
) -> None:
    code, body = await fetch_raw_json(
        http_server_client, jp_base_url, jp_auth_header, f"nsight-lab/api/coordinator/{path}"
    )
    assert code == 400
    assert "inside the API root" in body["detail"]


async def test_an_unreachable_gateway_is_a_502_that_says_what_to_do(
    jp_fetch: Any, gateway: AnalysisStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NSIGHT_LAB_GW", "http://127.0.0.1:9")
    code, body = await fetch_json(jp_fetch, "nsight-lab", "api", "coordinator", "tags")
    assert code == 502
    assert "http://127.0.0.1:9" in body["detail"]
    assert "nsight-lab configure --gw" in body["detail"]


async def test_requests_without_a_token_are_refused(
    jp_fetch: Any, gateway: AnalysisStack, http_server_client: Any, jp_base_url: str
) -> None:
    response = await http_server_client.fetch(
        f"{jp_base_url}nsight-lab/api/coordinator/tags", raise_error=False
    )
    assert response.code == 403
    response = await http_server_client.fetch(f"{jp_base_url}nsight-lab/status", raise_error=False)
    assert response.code == 403
