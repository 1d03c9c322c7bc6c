"""The agent reads its settings from NSIGHT_LAB_* variables or a file, variables first."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from nsight_lab.agent.config import ConfigError, derive_process_name, load_config

URL = "http://127.0.0.1:8888/coordinator/api/v1"


def test_no_coordinator_url_means_no_agent() -> None:
    assert load_config({}) is None


def test_defaults_from_a_bare_url() -> None:
    config = load_config({"NSIGHT_LAB_COORDINATOR_URL": URL})
    assert config is not None
    assert config.coordinator_url == URL + "/"
    assert config.tag == "default"
    assert config.collector == "auto"
    assert config.instance == f"{socket.gethostname()}-{os.getpid()}"
    assert config.spool_dir == Path("~/.cache/nsight-lab/spool").expanduser() / str(os.getpid())
    assert config.adopt_orphan_spools
    assert config.api_key is None
    assert config.target_pid == os.getpid()


def test_a_spool_root_moves_every_process_folder_and_keeps_adoption(tmp_path: Path) -> None:
    config = load_config(
        {"NSIGHT_LAB_COORDINATOR_URL": URL, "NSIGHT_LAB_SPOOL_ROOT": str(tmp_path)}
    )
    assert config is not None
    assert config.spool_dir == tmp_path / str(os.getpid())
    assert config.adopt_orphan_spools


def test_every_variable_is_read(tmp_path: Path) -> None:
    config = load_config(
        {
            "NSIGHT_LAB_COORDINATOR_URL": URL + "/",
            "NSIGHT_LAB_TAG": "train",
            "NSIGHT_LAB_INSTANCE": "pod-7",
            "NSIGHT_LAB_PROCESS_NAME": "trainer",
            "NSIGHT_LAB_COLLECTOR": "PySpy",
            "NSIGHT_LAB_SPOOL_DIR": str(tmp_path),
            "NSIGHT_LAB_API_KEY": "secret",
            "NSIGHT_LAB_AGENT_LOG": "stderr",
            "NSIGHT_LAB_RETRY_MAX_S": "2.5",
        }
    )
    assert config is not None
    assert (config.tag, config.instance, config.process_name) == ("train", "pod-7", "trainer")
    assert config.collector == "pyspy"
    assert config.spool_dir == tmp_path and not config.adopt_orphan_spools
    assert config.api_key == "secret" and config.log_file == "stderr"
    assert config.retry_max_s == 2.5


def test_ini_file_with_environment_override(tmp_path: Path) -> None:
    path = tmp_path / "agent.ini"
    path.write_text(f"[agent]\ncoordinator_url = {URL}\ntag = from-file\ncollector = annotations\n")
    config = load_config({"NSIGHT_LAB_AGENT_CONFIG": str(path), "NSIGHT_LAB_TAG": "from-env"})
    assert config is not None
    assert config.tag == "from-env"
    assert config.collector == "annotations"


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    path.write_text(json.dumps({"coordinator_url": URL, "tag": "j", "http_timeout_s": 3}))
    config = load_config({"NSIGHT_LAB_AGENT_CONFIG": str(path)})
    assert config is not None
    assert (config.tag, config.http_timeout_s) == ("j", 3.0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NSIGHT_LAB_COORDINATOR_URL": "ftp://x"}, "NSIGHT_LAB_COORDINATOR_URL"),
        (
            {"NSIGHT_LAB_COORDINATOR_URL": URL, "NSIGHT_LAB_COLLECTOR": "perf"},
            "NSIGHT_LAB_COLLECTOR",
        ),
        (
            {"NSIGHT_LAB_COORDINATOR_URL": URL, "NSIGHT_LAB_RETRY_MAX_S": "soon"},
            "NSIGHT_LAB_RETRY_MAX_S",
        ),
        (
            {"NSIGHT_LAB_COORDINATOR_URL": URL, "NSIGHT_LAB_HTTP_TIMEOUT_S": "-1"},
            "must be positive",
        ),
        ({"NSIGHT_LAB_COORDINATOR_URL": URL, "NSIGHT_LAB_TAG": "t" * 129}, "NSIGHT_LAB_TAG"),
        (
            {"NSIGHT_LAB_COORDINATOR_URL": URL, "NSIGHT_LAB_TARGET_PID": "x"},
            "NSIGHT_LAB_TARGET_PID",
        ),
    ],
)
def test_bad_variables_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be an object"),
        ("[other]\nx = 1\n", r"no \[agent\] section"),
        ('{"coordinator_url": "http://x", "colour": "red"}', "unknown setting 'colour'"),
        ('{"tag": ["a"]}', "must be a string or number"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "agent.cfg"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_config({"NSIGHT_LAB_AGENT_CONFIG": str(path)})
    assert str(path) in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config({"NSIGHT_LAB_AGENT_CONFIG": str(tmp_path / "absent.ini")})


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["/usr/bin/python3", "train.py", "--lr", "1"], "train"),
        (["python", "-u", "/src/jobs/eval.py"], "eval"),
        (["python", "-m", "torch.distributed.run", "x.py"], "torch.distributed.run"),
        (["python", "-mpkg.tool"], "pkg.tool"),
        (["python", "-X", "dev", "serve.py"], "serve"),
        (["python", "-c", "print(1)"], "python"),
        (["/opt/bin/my-tool", "--flag"], "my-tool"),
        ([], "python"),
    ],
)
def test_process_name_from_command_line(argv: list[str], name: str) -> None:
    assert derive_process_name(argv) == name
