"""Reports kept in the Pod: the agent serves only files it registered, by id."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsight_lab.agent.commands import parse_command
from nsight_lab.agent.config import load_config
from nsight_lab.agent.held import HeldFile, HeldFiles, held_name

RELAY = {"seq": 7, "kind": "relay", "session_id": "s", "collection_id": "c",
         "file_id": "f1", "request_id": "r-1_x"}  # fmt: skip


def test_a_relay_command_carries_ids_only() -> None:
    command = parse_command(RELAY)
    assert (command.kind, command.file_id, command.request_id) == ("relay", "f1", "r-1_x")


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "/etc/passwd", "a/b", "", "x" * 200, "f\x00", "f1\n", 7, None]
)
@pytest.mark.parametrize("field", ["file_id", "request_id"])
def test_a_relay_command_naming_anything_but_an_id_is_refused(field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=field):
        parse_command({**RELAY, field: bad})


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("sessions/s/c/train_t_i_ab12.nsys-rep", "train_t_i_ab12.nsys-rep"),
        ("sessions/s/c/../../../etc/passwd", "passwd"),
        ("sessions/s/c/..", "report.nsys-rep"),
        ("sessions/s/c/.bashrc", "bashrc"),
        ("sessions/s/c/a b;$(rm -rf x).txt", "a_b___rm_-rf_x_.txt"),
    ],
)
def test_held_names_never_leave_the_report_folder(key: str, expected: str) -> None:
    assert held_name(key, "report.nsys-rep") == expected


def test_placing_is_idempotent_and_unknown_ids_are_not_held(tmp_path: Path) -> None:
    source = tmp_path / "spool" / "report.nsys-rep"
    source.parent.mkdir()
    source.write_bytes(b"x" * 100)
    held = HeldFiles(tmp_path / "reports")
    first = held.place(source, "sessions/s/c/n.nsys-rep", source.name)
    assert held.place(source, "sessions/s/c/n.nsys-rep", source.name) == first
    assert first.parent == tmp_path / "reports" and first.read_bytes() == source.read_bytes()
    held.add(HeldFile("f1", first, 100, "0" * 64))
    assert held.get("f1") is not None and held.get("f2") is None and len(held) == 1


def test_a_held_file_that_changed_or_went_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "r.bin"
    path.write_bytes(b"abc")
    held = HeldFile("f1", path, 3, "0" * 64)
    assert held.problem() is None
    path.write_bytes(b"abcd")
    assert held.problem() == ("changed", f"{path} has 4 bytes, registered with 3")
    path.unlink()
    assert held.problem() is not None and held.problem()[0] == "missing"  # type: ignore[index]


def test_pod_storage_is_read_from_the_environment(tmp_path: Path) -> None:
    env = {"NSIGHT_LAB_COORDINATOR_URL": "http://127.0.0.1:1/", "NSIGHT_LAB_SPOOL_ROOT":
           str(tmp_path / "vol" / "spool"), "NSIGHT_LAB_REPORT_STORAGE": "pod"}  # fmt: skip
    config = load_config(env)
    assert config is not None and config.report_storage == "pod"
    assert config.report_dir == tmp_path / "vol" / "reports"
    config = load_config({**env, "NSIGHT_LAB_REPORT_DIR": str(tmp_path / "r")})
    assert config is not None and config.report_dir == tmp_path / "r"
    with pytest.raises(ValueError, match="NSIGHT_LAB_REPORT_STORAGE='s3'"):
        load_config({**env, "NSIGHT_LAB_REPORT_STORAGE": "s3"})
