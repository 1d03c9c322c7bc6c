"""Recipe arguments typed after ``analysis run NAME`` reach the service as written."""

from __future__ import annotations

import pytest

from nsight_lab.cli.analysis_cmd import parse_recipe_args
from nsight_lab.cli.output import CliFailure


def test_values_flags_and_negated_flags() -> None:
    assert parse_recipe_args(
        ["--top", "3", "--base", "--no-plot", "--names=a,b", "--min-dur", "5"]
    ) == {
        "top": "3",
        "base": True,
        "plot": False,
        "names": "a,b",
        "min_dur": "5",
    }


def test_a_bare_value_is_a_usage_error() -> None:
    with pytest.raises(CliFailure, match="'3'"):
        parse_recipe_args(["3"])
