"""The agent's credential: a key from the environment, or a file re-read when it changes."""

from __future__ import annotations

import os
from pathlib import Path

from nsight_lab.agent.config import load_config
from nsight_lab.agent.credentials import BearerSource


def test_a_fixed_key() -> None:
    assert BearerSource(api_key="k").header() == "Bearer k"
    assert BearerSource().header() is None and not BearerSource().configured


def test_the_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    source = BearerSource(token_file=str(path))
    assert source.header() == "Bearer first"
    path.write_text("\n  second-and-longer  \n")  # as a rotated Secret or renewed token
    os.utime(path, ns=(1, 2))
    assert source.header() == "Bearer second-and-longer"


def test_the_file_wins_over_the_key_and_a_missing_file_sends_nothing(tmp_path: Path) -> None:
    source = BearerSource(api_key="k", token_file=str(tmp_path / "absent"))
    assert source.header() is None
    assert "NSIGHT_LAB_TOKEN_FILE" in source.describe()


def test_read_from_the_environment() -> None:
    config = load_config(
        {"NSIGHT_LAB_COORDINATOR_URL": "http://127.0.0.1:1/", "NSIGHT_LAB_TOKEN_FILE": "/run/t"}
    )
    assert config is not None and config.token_file == "/run/t"


def test_the_client_sends_it_and_names_it_when_refused(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import pytest

    from nsight_lab.agent.http import HttpStatusError, JsonClient

    seen: list[str | None] = []

    class Refuse(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(401)
            self.send_header("Content-Length", "15")
            self.end_headers()
            self.wfile.write(b"Jwt is expired.")

    server = HTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.handle_request, daemon=True).start()
    path = tmp_path / "token"
    path.write_text("tok")
    client = JsonClient(
        f"http://127.0.0.1:{server.server_address[1]}/",
        credential=BearerSource(token_file=str(path)),
    )
    with pytest.raises(HttpStatusError, match="refused the token in NSIGHT_LAB_TOKEN_FILE") as err:
        client.request("GET", "tags")
    server.server_close()
    assert err.value.status == 401 and seen == ["Bearer tok"]
