"""--input: files, folders, DIR:N, and clear errors for paths that do not exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsight_lab.recipe import RecipeInputError
from nsight_lab.recipe.inputs import report_name, resolve_inputs


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in (
        "c.sqlite",
        "a.json.gz",
        "b.nsys-rep",
        "b.sqlite",
        "notes.txt",
        "d.speedscope.json",
    ):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def test_folder_takes_reports_sorted_and_prefers_the_sqlite_export(folder: Path) -> None:
    names = [p.name for p in resolve_inputs([str(folder)])]
    assert names == ["a.json.gz", "b.sqlite", "c.sqlite", "d.speedscope.json"]


def test_dir_n_takes_the_first_n(folder: Path) -> None:
    assert [p.name for p in resolve_inputs([f"{folder}:2"])] == ["a.json.gz", "b.sqlite"]


def test_duplicates_are_dropped_and_order_kept(folder: Path) -> None:
    paths = resolve_inputs([str(folder / "c.sqlite"), str(folder), str(folder / "c.sqlite")])
    assert [p.name for p in paths][:2] == ["c.sqlite", "a.json.gz"]
    assert len(paths) == 4


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(RecipeInputError, match=r"nope\.sqlite' does not exist"):
        resolve_inputs([str(tmp_path / "nope.sqlite")])


def test_folder_without_reports_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(RecipeInputError, match="holds no reports"):
        resolve_inputs([str(tmp_path)])


def test_no_input_is_an_error() -> None:
    with pytest.raises(RecipeInputError, match="--input"):
        resolve_inputs([])


def test_report_name_drops_multi_part_suffixes() -> None:
    assert report_name(Path("/x/rank-0.json.gz")) == "rank-0"
    assert report_name(Path("/x/run.speedscope.json")) == "run"
