"""Finding recipe folders and loading them by path.

Recipes are loaded with importlib from their folder rather than imported as a
package, so a user's folder on ``NSIGHT_LAB_RECIPE_PATH`` works exactly like a
built-in one and a broken recipe breaks only itself: :func:`list_recipes` returns
the good ones and a :class:`RecipeLoadError` for each bad one.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa

from nsight_lab.recipe.errors import RecipeInputError, RecipeLoadError, RecipeNotFoundError
from nsight_lab.recipe.spec import RecipeSpec, ReportContext, ReportInfo

ENV_PATH = "NSIGHT_LAB_RECIPE_PATH"
RECIPE_FILE = "recipe.py"

MapFn = Callable[[ReportContext, Mapping[str, Any]], dict[str, pa.Table]]
ReduceFn = Callable[
    [Sequence[tuple[ReportInfo, dict[str, pa.Table]]], Mapping[str, Any]], dict[str, pa.Table]
]
SummaryFn = Callable[[Mapping[str, pa.Table], Mapping[str, Any]], str]
"""summarize(tables, args) -> a few sentences of Markdown: what the run found."""


def _unavailable(spec: RecipeSpec) -> Callable[..., Any]:
    def refuse(*_: Any) -> Any:
        raise RecipeInputError(unavailable_message(spec))

    return refuse


def unavailable_message(spec: RecipeSpec) -> str:
    return (
        f"recipe {spec.name} cannot run on the reports nsight-lab reads: "
        f"its input is recorded by {spec.unavailable}"
    )


@dataclass(frozen=True)
class Recipe:
    """A loaded recipe: its declaration, its folder, its two functions and an optional summary."""

    spec: RecipeSpec
    folder: Path
    map_report: MapFn
    reduce: ReduceFn
    summarize: SummaryFn | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def notebook_path(self) -> Path:
        return self.folder / self.spec.notebook

    @property
    def readme(self) -> str | None:
        path = self.folder / "README.md"
        return path.read_text(encoding="utf-8") if path.is_file() else None


def builtin_dir() -> Path:
    """The shipped recipes: the ``nsight_lab_recipes`` package when installed, else the repo's folder."""
    found = importlib.util.find_spec("nsight_lab_recipes")
    if found is not None and found.submodule_search_locations:
        return Path(next(iter(found.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "recipes"


def search_path() -> list[Path]:
    """User folders from ``NSIGHT_LAB_RECIPE_PATH`` first (they override built-ins), then built-ins."""
    extra = [
        Path(p).expanduser() for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p.strip()
    ]
    return [*extra, builtin_dir()]


def discover() -> dict[str, Path]:
    """Recipe name -> folder, over the whole search path. Earlier entries win.

    An entry may be a folder of recipe folders, or one recipe folder itself.
    """
    found: dict[str, Path] = {}
    for root in search_path():
        if not root.is_dir():
            continue
        candidates = [root] if (root / RECIPE_FILE).is_file() else sorted(root.iterdir())
        for folder in candidates:
            if (folder / RECIPE_FILE).is_file() and not folder.name.startswith((".", "_")):
                found.setdefault(folder.name, folder.resolve())
    return found


_CACHE: dict[Path, tuple[float, Recipe]] = {}


def load_folder(folder: Path, *, require_notebook: bool = True) -> Recipe:
    """Import ``folder/recipe.py`` and check it provides SPEC, map_report and reduce.

    ``require_notebook=False`` is for map workers that received the recipe's Python
    files only (they never run its notebook).
    """
    folder = folder.resolve()
    path = folder / RECIPE_FILE
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise RecipeLoadError(str(folder), f"no {RECIPE_FILE}: {exc}") from exc
    cached = _CACHE.get(folder)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    module_name = f"_nsight_lab_recipe_{folder.name}_{abs(hash(str(folder))):x}"
    try:
        module = _import(module_name, path)
    except Exception as exc:  # any error in user code is that recipe's problem only
        raise RecipeLoadError(str(folder), f"{type(exc).__name__}: {exc}") from exc
    recipe = _check(module, folder, require_notebook)
    _CACHE[folder] = (mtime, recipe)
    return recipe


def _import(module_name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _check(module: ModuleType, folder: Path, require_notebook: bool = True) -> Recipe:
    """A Recipe from the module, or why not.

    A recipe that declares ``unavailable`` is a catalogue entry only: it needs neither
    functions nor a notebook, and both of its functions refuse with the reason.
    """
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, RecipeSpec):
        raise RecipeLoadError(str(folder), "recipe.py must define SPEC = RecipeSpec(...)")
    if spec.name != folder.name:
        raise RecipeLoadError(
            str(folder), f"SPEC.name is {spec.name!r} but the folder is named {folder.name!r}"
        )
    if not spec.runnable:
        refuse = _unavailable(spec)
        return Recipe(spec=spec, folder=folder, map_report=refuse, reduce=refuse)
    for fn in ("map_report", "reduce"):
        if not callable(getattr(module, fn, None)):
            raise RecipeLoadError(str(folder), f"recipe.py must define a function {fn}()")
    summarize = getattr(module, "summarize", None)
    if summarize is not None and not callable(summarize):
        raise RecipeLoadError(str(folder), "summarize in recipe.py must be a function")
    if require_notebook and not (folder / spec.notebook).is_file():
        raise RecipeLoadError(str(folder), f"notebook template {spec.notebook} is missing")
    return Recipe(
        spec=spec,
        folder=folder,
        map_report=module.map_report,
        reduce=module.reduce,
        summarize=summarize,
    )


def get_recipe(name: str) -> Recipe:
    """Load one recipe by name or alias, or raise RecipeNotFoundError with close matches.

    Aliases (older nsys names such as ``gpukernsum``) are looked up only when no
    folder has the name, so the common path loads one module, not all of them.
    """
    found = discover()
    folder = found.get(name)
    if folder is None:
        for other in found.values():
            try:
                recipe = load_folder(other)
            except RecipeLoadError:
                continue
            if name in recipe.spec.aliases:
                return recipe
        close = difflib.get_close_matches(name, list(found), n=3, cutoff=0.5)
        if not close:
            close = sorted(n for n in found if name in n or n in name)[:3]
        raise RecipeNotFoundError(name, close, [str(p) for p in search_path()])
    return load_folder(folder)


def list_recipes() -> tuple[list[Recipe], list[RecipeLoadError]]:
    """Every loadable recipe, and the problem with each one that would not load."""
    good: list[Recipe] = []
    bad: list[RecipeLoadError] = []
    for _, folder in sorted(discover().items()):
        try:
            good.append(load_folder(folder))
        except RecipeLoadError as exc:
            bad.append(exc)
    return good, bad
