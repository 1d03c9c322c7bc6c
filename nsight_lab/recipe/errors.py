"""Errors of the recipe engine, each one saying what to do next.

They are separate classes so the CLI can turn them into usage errors (exit 2) or run
failures (exit 1) and the analysis service into 400s or failed jobs, without parsing
messages.
"""

from __future__ import annotations


class RecipeError(Exception):
    """Base of every error the engine raises on purpose."""


class RecipeNotFoundError(RecipeError):
    """No recipe folder of that name on the search path."""

    def __init__(self, name: str, suggestions: list[str], searched: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        self.searched = searched
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        where = ", ".join(searched) or "(no recipe folders)"
        super().__init__(
            f"unknown recipe {name!r}.{hint} Searched: {where}. "
            "Run 'nsight-lab recipe list' to see them all."
        )


class RecipeLoadError(RecipeError):
    """A recipe folder exists but its module cannot be imported or lacks its parts."""

    def __init__(self, folder: str, problem: str) -> None:
        self.folder = folder
        self.problem = problem
        super().__init__(f"recipe in {folder} cannot be loaded: {problem}")


class RecipeArgError(RecipeError, ValueError):
    """A bad argument value; ``field`` names the argument."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class RecipeInputError(RecipeError):
    """The inputs cannot be resolved, or none of them could be read."""


class RecipeOutputError(RecipeError):
    """The output folder exists and is not empty (and --force-overwrite was not given)."""


class RecipeRunError(RecipeError):
    """The recipe's own code, or its notebook, failed."""


class MissingExtraError(RecipeError):
    """An optional dependency (e.g. dask) is needed and not installed."""
