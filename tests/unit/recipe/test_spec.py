"""Recipe arguments: declared once, validated with messages that name the field."""

from __future__ import annotations

import pytest

from nsight_lab.recipe import LIST_STR, Arg, RecipeArgError, RecipeSpec
from nsight_lab.recipe.spec import validate_args

SPEC = RecipeSpec(
    name="demo",
    display_name="Demo",
    description="d",
    args=(
        Arg("bins", type=int, default=30, minimum=1, maximum=100, help="bins"),
        Arg("ratio", type=float, default=0.5, minimum=0.0, maximum=1.0),
        Arg("base", type=bool, default=False),
        Arg("name", type=str, required=True),
        Arg("unit", type=str, choices=["ns", "us"], default="ns"),
        Arg("names", type=LIST_STR, default=["a"]),
    ),
)


def test_defaults_are_filled_and_strings_coerced() -> None:
    values = validate_args(SPEC, {"name": "k", "bins": "7", "base": "true", "names": "x,y"})
    assert values == {
        "bins": 7,
        "ratio": 0.5,
        "base": True,
        "name": "k",
        "unit": "ns",
        "names": ["x", "y"],
    }


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ({"name": "k", "bins": "0"}, "bins", ">= 1"),
        ({"name": "k", "bins": 101}, "bins", "<= 100"),
        ({"name": "k", "bins": "many"}, "bins", "integer"),
        ({"name": "k", "bins": 2.5}, "bins", "integer"),
        ({"name": "k", "ratio": "x"}, "ratio", "number"),
        ({"name": "k", "base": "maybe"}, "base", "true or false"),
        ({"name": "k", "unit": "ms"}, "unit", "ns, us"),
        ({}, "name", "required"),
        ({"name": "k", "bogus": 1}, "bogus", "unknown argument"),
    ],
)
def test_bad_values_name_the_field(raw: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(RecipeArgError) as info:
        validate_args(SPEC, raw)
    assert info.value.field == field
    assert field in str(info.value)
    assert fragment in str(info.value)


def test_json_schema_holds_common_and_recipe_args() -> None:
    schema = SPEC.json_schema()
    props = schema["properties"]
    assert {
        "input",
        "output",
        "mode",
        "csv",
        "force_overwrite",
        "filter_time",
        "filter_nvtx",
    } <= set(props)
    assert props["bins"] == {
        "title": "bins",
        "description": "bins",
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 30,
    }
    assert props["unit"]["enum"] == ["ns", "us"]
    assert props["names"]["type"] == "array"
    assert props["mode"]["enum"] == ["none", "concurrent", "dask-futures"]
    assert set(schema["required"]) == {"input", "name"}
    assert schema["additionalProperties"] is False


def test_spec_rejects_args_shadowing_common_ones() -> None:
    with pytest.raises(ValueError, match="output"):
        RecipeSpec(name="x", display_name="X", description="", args=(Arg("output"),))
