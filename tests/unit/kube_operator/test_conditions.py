"""Conditions keep their transition time until their status really flips; Ready is derived."""

from __future__ import annotations

from nsight_operator.conditions import Check, merge, ready_of


def test_ready_is_false_with_the_first_failing_reason() -> None:
    ready = ready_of([Check("A", True, "Fine"), Check("B", False, "SecretNotFound", "no secret x")])
    assert (ready.ok, ready.reason, ready.message) == (False, "SecretNotFound", "no secret x")
    assert ready_of([Check("A", True, "Fine")]).ok


def test_transition_time_changes_only_when_the_status_flips() -> None:
    first = merge([], [Check("A", False, "Waiting")], generation=1, now="t1")
    assert {c["type"]: c["lastTransitionTime"] for c in first} == {"A": "t1", "Ready": "t1"}
    same = merge(first, [Check("A", False, "StillWaiting")], generation=2, now="t2")
    assert {c["type"]: c["lastTransitionTime"] for c in same} == {"A": "t1", "Ready": "t1"}
    assert all(c["observedGeneration"] == 2 for c in same)
    flipped = merge(same, [Check("A", True, "Done")], generation=2, now="t3")
    assert {c["type"]: (c["status"], c["lastTransitionTime"]) for c in flipped} == {
        "A": ("True", "t3"),
        "Ready": ("True", "t3"),
    }
