"""The idle section: when an AI agent checks on a caller who went quiet, and gives up.

:class:`IdleSection` is read when ``--agent assistant``, ``voice-agent`` or ``realtime``
answers (a line sets its own in ``[lines.NAME.settings]``); :func:`idle_settings` turns it
into the agent's :class:`~sipgw.agent.idle.policy.IdleSettings`. What the policy does is in
``docs/assistant.md`` ("Callers who go quiet") and, for the speech-to-speech agents,
``docs/speech-to-speech.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.agent.idle.policy import DEFAULT_IDLE_GOODBYE, DEFAULT_IDLE_LINE, IdleSettings
from sipgw.foundation.settings import section, setting
from sipgw.foundation.settings.parsers import float_range, int_range, text

__all__ = ["IdleSection", "idle_settings"]


@section(
    "idle",
    title="Callers who go quiet",
    intro="Read when `--agent assistant`, `voice-agent` or `realtime`: after a silence the "
    "agent asks if the caller is still there, then says goodbye and hangs up (docs/assistant.md, "
    '"Callers who go quiet"; docs/speech-to-speech.md). Silence while the agent speaks or runs '
    "a tool, on hold, or during a transfer does not count.",
)
@dataclass(frozen=True)
class IdleSection:
    """The idle policy."""

    idle_after: float = setting(
        15.0, env="SIPGW_IDLE_AFTER", parse=float_range(0.0, 3600.0, " s"),
        help="Seconds of caller silence before each check-in; 0 = never (the call stays "
        "open until SIPGW_MAX_CALL_SECONDS).",
    )  # fmt: skip
    idle_checks: int = setting(
        2, env="SIPGW_IDLE_CHECKS", parse=int_range(0, 10),
        help="Check-ins before the goodbye (0 = the goodbye after the first silence).",
    )  # fmt: skip
    idle_line: str = setting(
        DEFAULT_IDLE_LINE, env="SIPGW_IDLE_LINE", parse=text,
        help="Said at a check-in; empty = the model says it in its own words (it is told "
        "how long the caller has been quiet).",
    )  # fmt: skip
    idle_goodbye: str = setting(
        DEFAULT_IDLE_GOODBYE, env="SIPGW_IDLE_GOODBYE", parse=text,
        help="Said before the agent hangs up on a caller who stayed quiet.",
    )  # fmt: skip


def idle_settings(idle: IdleSection) -> IdleSettings:
    """The agent's idle policy (``idle_after`` 0 = off; an empty goodbye = the default)."""
    return IdleSettings(
        after=idle.idle_after or None,
        checks=idle.idle_checks,
        check_line=idle.idle_line.strip(),
        goodbye_line=idle.idle_goodbye.strip() or DEFAULT_IDLE_GOODBYE,
    )
