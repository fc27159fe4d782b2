"""How many callbacks and messages callers may leave (:class:`CallbackQuota`), apart from
the tools' settings module so that the stores need nothing else of it
(:class:`~sipgw.agent.tools.settings.BuiltinToolSettings` holds one)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CallbackQuota"]


@dataclass(frozen=True, slots=True)
class CallbackQuota:
    """How many callbacks may be scheduled in any 24 hours (0 = no limit).

    Attributes:
        per_caller: by one caller (their proven number when the call has one, else the
            From's number; anonymous callers count together).
        per_number: to one number, whoever asked.
        per_day: in all.
    """

    per_caller: int = 3
    per_number: int = 3
    per_day: int = 100
