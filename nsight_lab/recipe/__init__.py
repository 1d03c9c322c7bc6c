"""The recipe engine: nsys-style analyses as map over reports, reduce over maps.

Recipes import their building blocks from here (``RecipeSpec``, ``Arg``,
``ReportContext``, ``ReportInfo``); the CLI, the analysis service and notebooks call
:func:`run_recipe`, so every front end runs a recipe the same way. The engine itself
is imported lazily: a recipe module loaded in a worker process needs only the
declarations, not papermill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nsight_lab.recipe.errors import (
    MissingExtraError,
    RecipeArgError,
    RecipeError,
    RecipeInputError,
    RecipeLoadError,
    RecipeNotFoundError,
    RecipeOutputError,
    RecipeRunError,
)
from nsight_lab.recipe.spec import LIST_STR, Arg, RecipeSpec, ReportContext, ReportInfo

if TYPE_CHECKING:
    from nsight_lab.recipe.engine import RunResult, run_recipe
    from nsight_lab.recipe.registry import Recipe, get_recipe, list_recipes

__all__ = [
    "LIST_STR",
    "Arg",
    "MissingExtraError",
    "Recipe",
    "RecipeArgError",
    "RecipeError",
    "RecipeInputError",
    "RecipeLoadError",
    "RecipeNotFoundError",
    "RecipeOutputError",
    "RecipeRunError",
    "RecipeSpec",
    "ReportContext",
    "ReportInfo",
    "RunResult",
    "get_recipe",
    "list_recipes",
    "run_recipe",
]

_LAZY = {
    "RunResult": "nsight_lab.recipe.engine",
    "run_recipe": "nsight_lab.recipe.engine",
    "Recipe": "nsight_lab.recipe.registry",
    "get_recipe": "nsight_lab.recipe.registry",
    "list_recipes": "nsight_lab.recipe.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nsight_lab.recipe' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
