"""A placed call's goal behind a phone menu, as the call and its agent carry it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["MAX_GOAL", "IvrCall", "check_goal"]

MAX_GOAL = 500
"""Characters a goal may have."""


@runtime_checkable
class IvrCall(Protocol):
    """A call that may have a goal to reach through a phone menu: an outbound SIP call's
    :class:`~sipgw.agent.base.CallControl` has ``ivr_goal`` ("" = none)."""

    @property
    def ivr_goal(self) -> str:
        """What to reach through the menu ("reach billing and ask for the balance"); ""
        = no navigation: the agent starts at the answer."""
        ...


def check_goal(value: object, name: str = "ivr_goal") -> str:
    """``value`` as a goal: text of at most :data:`MAX_GOAL` characters ("" = none).

    Raises:
        ValueError: anything else (naming ``name``).
    """
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_GOAL:
        raise ValueError(f'"{name}" must be text of at most {MAX_GOAL} characters')
    return " ".join(value.split())
