"""Collector options: one catalog, checked the same by coordinator and agent."""

from __future__ import annotations

import pytest

from nsight_lab.agent.collectors.options import CATALOG, OWNER, OptionError, check, check_known


def test_each_option_belongs_to_exactly_one_collector() -> None:
    names = [name for specs in CATALOG.values() for name in specs]
    assert len(names) == len(set(names)) == len(OWNER)


def test_values_are_typed_and_bounded() -> None:
    assert check("pyspy", {"rate": "250", "native": "true"}) == {"rate": 250, "native": True}
    assert check("torch", {"record_shapes": True}) == {"record_shapes": True}
    assert check("nsys", {"sample": "none", "sampling-frequency": "1000"}) == {
        "sample": "none",
        "sampling-frequency": 1000,
    }
    with pytest.raises(OptionError, match="pyspy option --rate is at most 10000"):
        check("pyspy", {"rate": 50_000})
    with pytest.raises(OptionError, match="--rate is a whole number"):
        check("pyspy", {"rate": 2.5})
    with pytest.raises(OptionError, match="--with-stack is true or false"):
        check("torch", {"with_stack": "maybe"})
    with pytest.raises(OptionError, match="--sample is one of process-tree, system-wide, none"):
        check("nsys", {"sample": "sometimes"})


def test_an_option_of_another_collector_names_both() -> None:
    with pytest.raises(OptionError) as err:
        check("torch", {"rate": 100})
    message = str(err.value)
    assert "the torch collector cannot apply --rate (a pyspy option)" in message
    assert "torch takes --record-shapes, --with-stack, --profile-memory, --with-flops" in message


def test_unknown_options_are_refused_with_what_exists() -> None:
    with pytest.raises(OptionError, match="unknown collector option --bogus; pyspy: --rate"):
        check_known({"bogus": 1})
    with pytest.raises(OptionError, match="annotations takes no options"):
        check("annotations", {"frobnicate": True})


def test_a_collector_outside_the_catalog_takes_no_options() -> None:
    assert check("my-plugin", {}) == {}
    with pytest.raises(OptionError, match="the my-plugin collector takes no options; got --rate"):
        check("my-plugin", {"rate": 1})
