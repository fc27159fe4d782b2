"""A placed call's goal as given (agent/ivr/goal.py)."""

from __future__ import annotations

import pytest

from sipgw.agent.ivr.goal import MAX_GOAL, IvrCall, check_goal


def test_a_goal_is_text_with_its_blanks_tidied() -> None:
    assert check_goal("  reach billing\n and ask ") == "reach billing and ask"
    assert check_goal(None) == ""


@pytest.mark.parametrize("value", [42, ["billing"], "x" * (MAX_GOAL + 1)])
def test_anything_else_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(ValueError, match='"ivr_goal" must be text'):
        check_goal(value)


def test_a_call_with_a_goal_is_an_ivr_call() -> None:
    class Call:
        ivr_goal = "reach billing"

    assert isinstance(Call(), IvrCall) and not isinstance(object(), IvrCall)
