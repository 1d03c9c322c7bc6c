"""User text becomes path components that cannot escape their folder."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from nsight_lab.naming import (
    UnsafePathError,
    contained_path,
    has_control_chars,
    report_filename,
    safe_component,
    session_folder,
    split_extension,
)


@pytest.mark.parametrize(
    "text",
    ["../../etc/passwd", "/abs/path", "a/b\\c", "nul\x00byte", "..", ".", ".hidden", "x" * 10_000],
)
def test_safe_component_never_yields_a_path(text: str) -> None:
    component = safe_component(text)
    assert "/" not in component and "\\" not in component and "\x00" not in component
    assert component not in ("", ".", "..")
    assert not component.startswith(".")
    assert len(component) <= 80


def test_safe_component_keeps_ordinary_titles_readable() -> None:
    assert safe_component("baseline-attention heads v2") == "baseline-attention-heads-v2"


def test_session_folder_uses_timestamp_and_title() -> None:
    created = datetime(2026, 11, 27, 5, 45, 1)
    assert session_folder(created, "../escape", "abcdef123") == "20261127054501-escape"
    assert session_folder(created, None, "abcdef123") == "20261127054501-abcdef12"


def test_report_filename_follows_the_download_layout() -> None:
    name = report_filename("python", "default", "pod/../x", "1a2b", "nsys-rep")
    assert name == "python_default_pod-..-x_1a2b.nsys-rep"


def test_split_extension_knows_multi_part_extensions() -> None:
    assert split_extension("profile.speedscope.json") == ("profile", "speedscope.json")
    assert split_extension("trace.json.gz") == ("trace", "json.gz")
    assert split_extension("report.nsys-rep") == ("report", "nsys-rep")
    assert split_extension("annotations.ranges.jsonl") == ("annotations", "ranges.jsonl")
    assert split_extension("noext") == ("noext", "bin")


def test_control_characters_are_detected() -> None:
    assert has_control_chars("a\x00b") and has_control_chars("line\nbreak")
    assert not has_control_chars("plain title with unicode: café")


def test_contained_path_refuses_escapes(tmp_path: Path) -> None:
    assert contained_path(tmp_path, "a", "b.txt") == (tmp_path / "a" / "b.txt").resolve()
    with pytest.raises(UnsafePathError):
        contained_path(tmp_path, "..", "outside.txt")
    with pytest.raises(UnsafePathError):
        contained_path(tmp_path, "/etc/passwd")
