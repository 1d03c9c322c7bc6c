"""load_trace: the format is found from the content, whatever the file is called."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from nsight_lab.trace import TraceFormatError, load_trace
from tests.unit.trace.conftest import KINETO_DIR, NSYS_FIXTURE


def test_renamed_files_are_detected_by_content(fixtures_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "report-without-extension"
    shutil.copyfile(fixtures_dir / NSYS_FIXTURE, db)
    assert load_trace(db).metadata.source == "nsys-sqlite"
    kt = tmp_path / "trace.bin"
    shutil.copyfile(fixtures_dir / KINETO_DIR / "triton_example__triton_example.json.gz", kt)
    assert load_trace(kt).metadata.source == "kineto"


def test_unknown_content_is_refused_with_the_file_name(tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("just some text")
    with pytest.raises(TraceFormatError, match=r"notes\.txt: unrecognised trace format"):
        load_trace(odd)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match=r"absent\.sqlite: no such file"):
        load_trace(tmp_path / "absent.sqlite")


def test_gzip_that_is_not_gzip_all_the_way(tmp_path: Path) -> None:
    bad = tmp_path / "t.json.gz"
    bad.write_bytes(gzip.compress(b'{"traceEvents": [')[:12])
    with pytest.raises(TraceFormatError, match=r"t\.json\.gz"):
        load_trace(bad)
