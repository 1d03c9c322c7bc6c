"""``nsight-lab up --auth``: the whole local journey through Envoy, and its refusals.

Real parts: ``nsight-lab up --auth apikey`` (the services plus an Envoy child
process), workloads whose agents authenticate with a tenant's key, the CLI, and
presigned uploads and downloads through the gateway.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import start_workloads
from tests.support.stack import Cli, UpServer, base_env, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TEAM_KEY = "team-a-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    path = tmp_path / "keys.txt"
    path.write_text(f"# client key tags\nteam-a {TEAM_KEY} team-a\nadmin {ADMIN_KEY}\n")
    return path


@pytest.fixture
def gated(tmp_path: Path, keys: Path) -> UpServer:
    server = UpServer(tmp_path / "up", auth="apikey", auth_args=["--apikey-file", str(keys)])
    server.start()
    yield server  # type: ignore[misc]
    server.stop()


def keyed(cli: Cli, key: str | None) -> Cli:
    if key is None:
        cli.env.pop("NSIGHT_API_KEY", None)
    else:
        cli.env["NSIGHT_API_KEY"] = key
    return cli


def test_a_tenant_profiles_downloads_its_reports_and_sees_no_one_elses(
    gated: UpServer, tmp_path: Path
) -> None:
    admin = keyed(Cli(gated.url, tmp_path / "admin"), ADMIN_KEY)
    other = admin.json("--tag", "team-b", "session-begin", "--title", "not yours")
    team = keyed(Cli(gated.url, tmp_path / "team"), TEAM_KEY)
    # A spool of its own: other runs' leftover reports on this machine are not its business.
    env = {"NSIGHT_API_KEY": TEAM_KEY, "NSIGHT_LAB_SPOOL_DIR": str(tmp_path / "spool")}
    workloads = start_workloads(gated, team, "team-a", 1, env=env)
    try:
        session = team.json("--tag", "team-a", "session-begin", "--title", "gated")
        team.json("--tag", "team-a", "profiler-start")
        stopped = team.json("--tag", "team-a", "profiler-stop", "--timeout", "60")
        assert stopped["state"] == "COMPLETED", stopped["participants"]
    finally:
        for w in workloads:
            w.stop()
    files = team.json("--tag", "team-a", "ls", "--session", session["session_id"])
    assert files and all(f["tag"] == "team-a" for f in files)
    out = tmp_path / "downloads"
    team.run("--tag", "team-a", "download", "-o", str(out), "--session", session["session_id"])
    downloaded = {p.name: p for p in out.rglob("*") if p.is_file()}
    for info in files:
        assert (
            hashlib.sha256(downloaded[info["filename"]].read_bytes()).hexdigest() == info["sha256"]
        )
    # The other tenant's session exists (the admin sees both) but not for team-a.
    assert [s["session_id"] for s in admin.json("--tag", "team-b", "sessions")] == [
        other["session_id"]
    ]
    assert team.json("--tag", "team-b", "sessions") == []
    hidden = team.run(
        "--tag", "team-b", "--session", other["session_id"], "session-end", check=False
    )
    assert hidden.returncode != 0 and "no session" in hidden.stderr + hidden.stdout
    assert admin.json("--tag", "team-b", "sessions")[0]["state"] == "ACTIVE"


def test_no_key_or_a_wrong_key_gets_nothing_and_says_how_to_fix_it(
    gated: UpServer, tmp_path: Path
) -> None:
    for key in (None, "wrong-key-0123456789abcdef"):
        cli = keyed(Cli(gated.url, tmp_path / "anon"), key)
        answer = cli.run("sessions", check=False)
        assert answer.returncode != 0
        assert "401" in answer.stderr or "authentic" in answer.stderr.lower(), answer.stderr


def test_the_services_port_answers_nothing_without_the_gateway(gated: UpServer) -> None:
    services = gated.log_line("reachable only through").split()[-1]
    for path in ("/coordinator/api/v1/sessions", "/analysis/api/v1/jobs", "/"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(services + path, timeout=5)
        assert refused.value.code == 401
        assert "through its gateway" in json.loads(refused.value.read())["detail"]


def _parent_and_name(stat: Path) -> tuple[int, str] | None:
    try:
        text = stat.read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    return int(text[text.rindex(")") + 2 :].split()[1]), name


def test_stopping_up_stops_envoy(tmp_path: Path, keys: Path) -> None:
    server = UpServer(tmp_path / "up", auth="apikey", auth_args=["--apikey-file", str(keys)])
    server.start()
    assert server.proc is not None
    envoys = [
        stat.parent.name
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _parent_and_name(stat) == (server.proc.pid, "envoy")
    ]
    assert len(envoys) == 1, "up should have one Envoy child"
    server.stop()
    assert not Path(f"/proc/{envoys[0]}").exists()


def up(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nsight_lab", "up", "--port", str(free_port()), *args],
        env=env or base_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestRefusals:
    def test_an_open_api_on_the_network_needs_an_explicit_auth_none(self, tmp_path: Path) -> None:
        answer = up("--host", "0.0.0.0", "--data-dir", str(tmp_path))
        assert answer.returncode != 0
        assert "--auth none to accept that risk" in answer.stderr

    def test_auth_none_on_the_network_warns_loudly(self, tmp_path: Path) -> None:
        server = UpServer(tmp_path / "up", auth="none", host="0.0.0.0").start()
        try:
            server.log_line("WARNING: --auth none on 0.0.0.0: NO AUTHENTICATION")
        finally:
            server.stop()

    def test_oauth2_refuses_to_start_without_tls(self, tmp_path: Path) -> None:
        secret = tmp_path / "s"
        secret.write_text("x" * 32)
        answer = up(
            "--data-dir", str(tmp_path), "--auth", "oauth2", "--issuer", "http://127.0.0.1:9",
            "--client-id", "c", "--client-secret-file", str(secret), "--hmac-file", str(secret),
        )  # fmt: skip
        assert answer.returncode != 0 and "needs TLS" in answer.stderr

    def test_a_bad_key_file_line_is_named_without_the_key(self, tmp_path: Path) -> None:
        keys = tmp_path / "keys.txt"
        keys.write_text("ci short-secret\n")
        answer = up("--data-dir", str(tmp_path), "--auth", "apikey", "--apikey-file", str(keys))
        assert answer.returncode != 0 and "keys.txt:1" in answer.stderr
        assert "short-secret" not in answer.stderr

    def test_without_the_gateway_extra_auth_names_the_package(self, tmp_path: Path) -> None:
        hide = tmp_path / "no-envoy"
        hide.mkdir()
        (hide / "envoy.py").write_text("raise ImportError('not installed')\n")
        env = base_env({"PYTHONPATH": f"{hide}{os.pathsep}{base_env()['PYTHONPATH']}"})
        env["PATH"] = "/usr/bin:/bin"
        env.pop("NSIGHT_LAB_ENVOY", None)
        answer = up("--data-dir", str(tmp_path), "--auth", "none", env=env)
        assert answer.returncode != 0
        assert "pip install 'nsight-lab[gateway]'" in answer.stderr
