"""The recipe catalogue: what can run, and the argument schema each recipe takes."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from nsight_analysis.service import NotFound
from nsight_lab.analysis_models import (
    RecipeCatalogue,
    RecipeDetail,
    RecipeSummary,
    RecipeUnavailable,
)
from nsight_lab.recipe.errors import RecipeLoadError, RecipeNotFoundError

router = APIRouter(tags=["recipes"])


def _summary(recipe: object) -> RecipeSummary:
    spec = recipe.spec  # type: ignore[attr-defined]
    return RecipeSummary(
        name=spec.name,
        display_name=spec.display_name,
        description=spec.description,
        tables=list(spec.tables),
        columns={t: list(c) for t, c in spec.columns.items()},
        min_reports=spec.min_reports,
        max_reports=spec.max_reports,
    )


def _catalogue() -> RecipeCatalogue:
    from nsight_lab.recipe.registry import list_recipes

    good, bad = list_recipes()
    return RecipeCatalogue(
        recipes=[_summary(r) for r in good],
        unavailable=[RecipeUnavailable(folder=e.folder, problem=e.problem) for e in bad],
    )


def _detail(name: str) -> RecipeDetail:
    from nsight_lab.recipe.registry import get_recipe

    try:
        recipe = get_recipe(name)
    except RecipeNotFoundError as exc:
        raise NotFound(str(exc)) from exc
    except RecipeLoadError as exc:
        raise NotFound(str(exc)) from exc
    summary = _summary(recipe)
    return RecipeDetail(
        **summary.model_dump(),
        notebook=recipe.spec.notebook,
        schema=recipe.spec.json_schema(),
        readme=recipe.readme,
    )


@router.get("/recipes", response_model=RecipeCatalogue)
async def list_all() -> RecipeCatalogue:
    return await run_in_threadpool(_catalogue)


@router.get("/recipes/{name}", response_model=RecipeDetail, response_model_by_alias=True)
async def info(name: str) -> RecipeDetail:
    return await run_in_threadpool(_detail, name)
