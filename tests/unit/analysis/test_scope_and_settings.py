"""Which coordinator files count as reports, and settings from the environment."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from nsight_analysis.scope import is_report_file, select_reports
from nsight_analysis.service import tail_lines
from nsight_analysis.settings import AnalysisSettings
from nsight_lab.models import FileInfo


def _file(filename: str, kind: str, agent: str = "a") -> FileInfo:
    return FileInfo(
        file_id="f",
        key=f"sessions/s/c/{filename}",
        session_id="s",
        collection_id="c",
        collection_index=1,
        agent_id=agent,
        tag="t",
        process_name="p",
        instance="i",
        filename=filename,
        kind=kind,
        collector="nsys",
        size=1,
        sha256="0" * 64,
        created_at=datetime.now(timezone.utc),
    )


def test_reports_are_files_recipes_can_read_including_annotation_logs() -> None:
    assert is_report_file(_file("p_t_i_ab.sqlite", "sqlite"))
    assert is_report_file(_file("p_t_i_ab.json.gz", "report"))
    assert is_report_file(_file("p_t_i_ab.ranges.jsonl", "ranges"))
    assert not is_report_file(_file("p_t_i_ab.txt", "report"))


def test_an_nsys_report_with_its_sqlite_export_counts_once() -> None:
    files = [
        _file("p_t_i_aa11.nsys-rep", "report"),
        _file("p_t_i_bb22.sqlite", "sqlite"),
        _file("p_t_i_cc33.ranges.jsonl", "ranges"),
        _file("p_t_j_dd44.nsys-rep", "report", agent="other"),  # no export: kept
    ]
    kept = [f.filename for f in select_reports(files)]
    assert kept == ["p_t_i_bb22.sqlite", "p_t_i_cc33.ranges.jsonl", "p_t_j_dd44.nsys-rep"]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSIGHT_LAB_ANALYSIS_WORKERS", "3")
    monkeypatch.setenv("NSIGHT_LAB_ANALYSIS_COORDINATOR_URL", "http://c:1/coordinator/api/v1/")
    settings = AnalysisSettings()
    assert settings.workers == 3 and settings.coordinator_url.startswith("http://c:1/")
    monkeypatch.setenv("NSIGHT_LAB_ANALYSIS_WORKERS", "0")
    with pytest.raises(ValueError, match="workers"):
        AnalysisSettings()


def test_tail_keeps_the_last_lines() -> None:
    assert tail_lines(b"a\nb\nc\n", 2) == b"b\nc\n"
    assert tail_lines(b"a\nb", 0) == b""
