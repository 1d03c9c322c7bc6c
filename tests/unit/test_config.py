"""The CLI's config file: where it lives, how it is protected, what overrides it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nsight_lab.auth.credentials import resolve_credential
from nsight_lab.config import AuthSettings, CliConfig, ConfigError, load_config, save_config


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home" / ".nsight-cloud.conf"
    monkeypatch.setenv("NSIGHT_CLOUD_CONF", str(path))
    monkeypatch.delenv("NSIGHT_LAB_GW", raising=False)
    monkeypatch.delenv("NSIGHT_API_KEY", raising=False)
    return path


def test_defaults_without_a_file(conf: Path) -> None:
    config = load_config()
    assert config.gw == "http://127.0.0.1:8888"
    assert config.tag == "default"
    assert config.coordinator_url == "http://127.0.0.1:8888/coordinator/api/v1/"


def test_saved_file_is_private_and_round_trips(conf: Path) -> None:
    save_config(CliConfig(gw="https://gw:8888", auth=AuthSettings(apikey="s3cret")))
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    loaded = load_config()
    assert loaded.gw == "https://gw:8888" and loaded.auth.apikey == "s3cret"


def test_world_readable_file_is_refused_with_the_fix(conf: Path) -> None:
    save_config(CliConfig())
    os.chmod(conf, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config()


def test_corrupt_file_says_how_to_rewrite_it(conf: Path) -> None:
    save_config(CliConfig())
    conf.write_text("{not json")
    with pytest.raises(ConfigError, match="nsight-lab configure"):
        load_config()


def test_environment_overrides_url_and_key(conf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_config(CliConfig(gw="http://a:1", auth=AuthSettings(apikey="from-file")))
    monkeypatch.setenv("NSIGHT_LAB_GW", "http://b:2")
    monkeypatch.setenv("NSIGHT_API_KEY", "from-env")
    config = load_config()
    credential = resolve_credential(config)
    assert config.gw == "http://b:2" and credential.api_key == "from-env"
    assert credential.source == "NSIGHT_API_KEY"
