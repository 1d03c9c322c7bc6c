"""Finding recipes: built-ins, NSIGHT_LAB_RECIPE_PATH, close matches, broken recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsight_lab.recipe import RecipeLoadError, RecipeNotFoundError, get_recipe, list_recipes

USER_RECIPE = """
from nsight_lab.recipe import RecipeSpec
SPEC = RecipeSpec(name="{name}", display_name="Mine", description="user recipe")
def map_report(ctx, args):
    return {{}}
def reduce(parts, args):
    return {{}}
"""


def make_recipe(root: Path, name: str, body: str | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "recipe.py").write_text(body if body is not None else USER_RECIPE.format(name=name))
    (folder / "stats.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    )
    return folder


SUMMARY_RECIPES = [
    "cuda_api_sum",
    "cuda_api_sync",
    "cuda_gpu_kern_hist",
    "cuda_gpu_kern_pace",
    "cuda_gpu_kern_sum",
    "cuda_gpu_mem_size_sum",
    "cuda_gpu_mem_time_sum",
    "cuda_memcpy_async",
    "cuda_memcpy_sync",
    "nvtx_sum",
    "osrt_sum",
]


def test_builtin_summary_recipes_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NSIGHT_LAB_RECIPE_PATH", raising=False)
    good, _ = list_recipes()
    names = {r.name for r in good}
    assert set(SUMMARY_RECIPES) <= names
    for name in SUMMARY_RECIPES:
        recipe = get_recipe(name)
        assert recipe.notebook_path.is_file()
        assert recipe.spec.display_name and recipe.spec.description


def test_user_folder_on_the_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_recipe(tmp_path, "my_sum")
    monkeypatch.setenv("NSIGHT_LAB_RECIPE_PATH", str(tmp_path))
    assert get_recipe("my_sum").folder == (tmp_path / "my_sum").resolve()
    assert "my_sum" in {r.name for r in list_recipes()[0]}


def test_a_single_recipe_folder_may_be_on_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_recipe(tmp_path, "solo")
    monkeypatch.setenv("NSIGHT_LAB_RECIPE_PATH", str(folder))
    assert get_recipe("solo").spec.display_name == "Mine"


def test_unknown_recipe_suggests_close_names() -> None:
    with pytest.raises(RecipeNotFoundError) as info:
        get_recipe("cuda_gpu_kern_summ")
    assert "cuda_gpu_kern_sum" in info.value.suggestions
    assert "Did you mean" in str(info.value)


def test_broken_recipe_is_named_and_others_still_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_recipe(tmp_path, "broken", "import no_such_module_anywhere\n")
    make_recipe(tmp_path, "wrong_name", USER_RECIPE.format(name="other"))
    make_recipe(tmp_path, "fine")
    monkeypatch.setenv("NSIGHT_LAB_RECIPE_PATH", str(tmp_path))
    good, bad = list_recipes()
    assert {"fine", "cuda_gpu_kern_sum"} <= {r.name for r in good}
    problems = {Path(e.folder).name: e.problem for e in bad}
    assert "no_such_module_anywhere" in problems["broken"]
    assert "folder is named 'wrong_name'" in problems["wrong_name"]
    with pytest.raises(RecipeLoadError, match=str(tmp_path / "broken")):
        get_recipe("broken")


def test_recipe_without_map_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_recipe(
        tmp_path,
        "half",
        'from nsight_lab.recipe import RecipeSpec\nSPEC = RecipeSpec(name="half", display_name="H", description="")\n',
    )
    monkeypatch.setenv("NSIGHT_LAB_RECIPE_PATH", str(tmp_path))
    with pytest.raises(RecipeLoadError, match="map_report"):
        get_recipe("half")
