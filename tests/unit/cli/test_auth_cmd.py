"""``configure``, ``login`` and ``logout`` as the guide spells them, and their refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nsight_lab.auth.tokens import TokenSet, TokenStore
from nsight_lab.cli.main import cli


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(tmp_path / ".nsight-cloud.conf"))
    for name in ("NSIGHT_LAB_GW", "NSIGHT_API_KEY", "NSIGHT_LAB_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def saved(tmp_path: Path) -> dict:
    return dict(json.loads((tmp_path / ".nsight-cloud.conf").read_text()))


@pytest.mark.parametrize("command", [["login"], ["logout"]])
def test_login_and_logout_have_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_configure_takes_the_guides_oauth2_spellings(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli,
        ["--output", "json", "configure", "--gw", "https://gw:8888", "--issuer",
         "https://login.example.com/", "--clientid", "cli", "--oauth-flow-type", "device",
         "--authorization-endpoint", "https://login.example.com/a", "--token-endpoint",
         "https://login.example.com/t"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["auth"] == "oauth2"
    auth = saved(tmp_path)["auth"]
    assert auth == {
        "issuer": "https://login.example.com",
        "clientid": "cli",
        "oauth_flow_type": "device",
        "authorization_endpoint": "https://login.example.com/a",
        "token_endpoint": "https://login.example.com/t",
    }


@pytest.mark.parametrize(
    ("given", "stored"), [("authorization_code", "code"), ("device_code", "device")]
)
def test_the_older_flow_names_still_work(
    runner: CliRunner, tmp_path: Path, given: str, stored: str
) -> None:
    result = runner.invoke(
        cli, ["configure", "--gw", "http://x", "--issuer", "https://i", "--clientid", "c",
              "--oauth-flow-type", given],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert saved(tmp_path)["auth"]["oauth_flow_type"] == stored


@pytest.mark.parametrize(
    "extra",
    [
        ["--issuer", "https://i", "--clientid", "c"],
        ["--oauth-flow-type", "device"],
        ["--token-endpoint", "https://i/t"],
    ],
)
def test_apikey_and_oauth2_options_exclude_each_other(runner: CliRunner, extra: list[str]) -> None:
    result = runner.invoke(cli, ["configure", "--gw", "http://x", "--apikey", "k", *extra])
    assert result.exit_code == 2
    assert "--apikey cannot be combined with the OAuth2 options" in result.output


def test_oauth2_details_need_an_issuer(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["configure", "--gw", "http://x", "--oauth-flow-type", "device"])
    assert result.exit_code == 2 and "needs --issuer and --clientid" in result.output


def test_the_api_key_from_the_environment_is_not_written_down(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NSIGHT_API_KEY", "from-env")
    result = runner.invoke(cli, ["configure", "--gw", "http://x"])
    assert result.exit_code == 0 and "auth: apikey (from $NSIGHT_API_KEY)" in result.output
    assert "from-env" not in (tmp_path / ".nsight-cloud.conf").read_text()


def test_ca_file_is_kept_and_ca_cert_is_an_alias(runner: CliRunner, tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("not read at configure time")
    for option in ("--ca-file", "--ca-cert"):
        assert (
            runner.invoke(cli, ["configure", "--gw", "https://x", option, str(ca)]).exit_code == 0
        )
        assert saved(tmp_path)["ca_cert"] == str(ca)
    missing = runner.invoke(cli, ["configure", "--gw", "https://x", "--ca-file", "/nonexistent"])
    assert missing.exit_code == 2


def test_login_without_oauth2_says_how_to_configure_it(runner: CliRunner) -> None:
    runner.invoke(cli, ["configure", "--gw", "http://x", "--apikey", "k"])
    result = runner.invoke(cli, ["login"])
    assert result.exit_code == 2
    assert "uses an API key" in result.output and "--issuer URL --clientid ID" in result.output


def test_reconfiguring_another_issuer_drops_the_old_login(
    runner: CliRunner, tmp_path: Path
) -> None:
    runner.invoke(
        cli, ["configure", "--gw", "http://x", "--issuer", "https://a", "--clientid", "c"]
    )
    store = TokenStore(tmp_path / ".nsight-cloud.tokens.json")
    store.save(
        TokenSet(issuer="https://a", client_id="c", access_token="t", token_endpoint="https://a/t")
    )
    same = runner.invoke(
        cli, ["configure", "--gw", "http://y", "--issuer", "https://a", "--clientid", "c"]
    )
    assert same.exit_code == 0 and store.load() is not None
    other = runner.invoke(
        cli, ["configure", "--gw", "http://y", "--issuer", "https://b", "--clientid", "c"]
    )
    assert other.exit_code == 0 and "Removed the login" in other.output
    assert store.load() is None


def test_commands_without_a_login_say_to_log_in(runner: CliRunner) -> None:
    runner.invoke(cli, ["configure", "--gw", "http://127.0.0.1:9", "--issuer", "https://a",
                        "--clientid", "c"])  # fmt: skip
    result = runner.invoke(cli, ["sessions"])
    assert result.exit_code == 5
    assert "not logged in to https://a: run `nsight-lab login`" in result.output
