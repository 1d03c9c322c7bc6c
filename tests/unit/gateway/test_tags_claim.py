"""A token's tenant claim, as Envoy's ``claim_to_headers`` really forwards it."""

from __future__ import annotations

import base64
import json

import pytest

from nsight_lab.gateway.identity import parse_caller


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        # A list claim (what the test OIDC provider issues): base64 of its JSON.
        (base64.b64encode(json.dumps(["beta"]).encode()).decode(), {"beta"}),
        (
            base64.urlsafe_b64encode(json.dumps(["a", "b"]).encode()).decode().rstrip("="),
            {"a", "b"},
        ),
        ("team-a", {"team-a"}),  # a string claim
        ("a,b", {"a", "b"}),
        ('["x","y"]', {"x", "y"}),  # an IdP that put the list into a string
        (base64.b64encode(b'{"not": "a list"}').decode(), None),
    ],
)
def test_list_and_string_claims(header: str, tags: set[str] | None) -> None:
    caller = parse_caller("someone", header)
    if tags is None:
        assert caller.tags is not None and not caller.allows("not")
    else:
        assert caller.tags == frozenset(tags)
