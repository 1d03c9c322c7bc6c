""".nsys-rep reports: exported through nsys when present, a how-to error when not.

nsys cannot be installed here, so the export path runs a FAKE nsys written by the
test: a script that checks its arguments and copies the real SQLite fixture.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from nsight_lab.trace import TraceFormatError, load_trace
from nsight_lab.trace.importers.nsys_rep import NSYS_ENV
from tests.unit.trace.conftest import NSYS_FIXTURE

FAKE_NSYS = """#!{python}
# FAKE nsys for tests: supports only `export --type sqlite --force-overwrite true --output OUT REP`.
import shutil, sys
args = sys.argv[1:]
if {fail!r}:
    print("FAKE nsys: export failed on purpose", file=sys.stderr); sys.exit(3)
assert args[:5] == ["export", "--type", "sqlite", "--force-overwrite", "true"], args
assert args[5] == "--output" and args[7].endswith(".nsys-rep"), args
shutil.copyfile({sqlite!r}, args[6])
"""


def fake_nsys(folder: Path, sqlite: Path, *, fail: bool = False) -> Path:
    path = folder / "fake-nsys"
    path.write_text(FAKE_NSYS.format(python=sys.executable, sqlite=str(sqlite), fail=fail))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_nsys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(NSYS_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))


@pytest.mark.parametrize("name", ["pdl_2p2c.nsys-rep", "pdl_two_producers.nsys-rep"])
def test_without_nsys_the_error_says_how_to_export(
    fixtures_dir: Path, name: str, no_nsys: None
) -> None:
    rep = fixtures_dir / "nsys-rep" / name
    stem = name.removesuffix(".nsys-rep")
    with pytest.raises(TraceFormatError) as err:
        load_trace(rep)
    assert err.value.path == str(rep)
    assert f"nsys export --type sqlite --output {stem}.sqlite {name}" in str(err.value)


def test_export_through_nsys_gives_the_sqlite_tables(fixtures_dir: Path, tmp_path: Path) -> None:
    nsys = fake_nsys(tmp_path, fixtures_dir / NSYS_FIXTURE)
    rep = fixtures_dir / "nsys-rep" / "pdl_2p2c.nsys-rep"
    t = load_trace(rep, nsys_binary=str(nsys))
    direct = load_trace(fixtures_dir / NSYS_FIXTURE)
    assert t.table("kernels").to_pylist() == direct.table("kernels").to_pylist()
    assert t.metadata.path == str(rep) and t.metadata.extra["exported_from"] == "nsys-rep"


def test_nsys_found_through_the_environment(
    fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NSYS_ENV, str(fake_nsys(tmp_path, fixtures_dir / NSYS_FIXTURE)))
    t = load_trace(fixtures_dir / "nsys-rep" / "pdl_two_producers.nsys-rep")
    assert (
        t.table("kernels").num_rows
        == load_trace(fixtures_dir / NSYS_FIXTURE).table("kernels").num_rows
    )


def test_failing_export_reports_nsys_output(fixtures_dir: Path, tmp_path: Path) -> None:
    nsys = fake_nsys(tmp_path, fixtures_dir / NSYS_FIXTURE, fail=True)
    rep = fixtures_dir / "nsys-rep" / "pdl_2p2c.nsys-rep"
    with pytest.raises(
        TraceFormatError,
        match=r"pdl_2p2c\.nsys-rep: nsys export failed \(exit 3\): FAKE nsys: export failed",
    ):
        load_trace(rep, nsys_binary=str(nsys))
    assert os.path.exists(rep)
