"""How the assistant opens a call: its first words and what its system prompt adds per call.

*Inbound* (someone called us): the greeting ``AssistantSettings.greeting``
("" = wait for the caller).

*Outbound* (the gateway placed the call): the agent always speaks first, and
only once the call is answered (its audio is held until then).

* A callback (the call has a :class:`~agent.base.CallPurpose`) opens with
  ``AssistantSettings.callback_greeting``, ``{reason}`` replaced by what the
  callback is about (or "your request"); when that setting is "", the LLM
  writes the opening line.
* Any other outbound call: the LLM writes the opening line.

Every call's system prompt gets the current date and time (so that the model
can turn "tomorrow at three" into a date for ``schedule_callback``); an
outbound call's also says that the agent placed the call, why, and whether it
has already greeted.

:func:`plan_opening` decides all three once per call (:class:`Opening`); the
assistant's :class:`agent.greeting.Greeter` carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.base import CallPurpose, Direction
from agent.settings import AssistantSettings
from agent.tools.callback_time import callback_zone, describe_now

__all__ = ["Opening", "fixed_opening", "llm_opens", "plan_opening", "system_prompt"]


@dataclass(frozen=True, slots=True)
class Opening:
    """How one call opens.

    Attributes:
        greeting: the fixed first words, said as soon as the call is answered
            (synthesized while it rings); "" = none.
        llm_writes: the LLM writes the first words once the call is answered.
        system_prompt: the call's system prompt.
    """

    greeting: str
    llm_writes: bool
    system_prompt: str


def plan_opening(
    settings: AssistantSettings, direction: Direction, purpose: CallPurpose | None, now: float
) -> Opening:
    """How a call opens (see the module docstring); ``now``: the time, as ``time.time()``."""
    return Opening(
        greeting=fixed_opening(settings, direction, purpose),
        llm_writes=llm_opens(settings, direction, purpose),
        system_prompt=system_prompt(settings, direction, purpose, now),
    )


NO_REASON = "your request"
"""What ``{reason}`` becomes for a callback without a reason."""


def fixed_opening(
    settings: AssistantSettings, direction: Direction, purpose: CallPurpose | None
) -> str:
    """The fixed first words of the call ("" = none: see :func:`llm_opens`)."""
    if direction == "inbound":
        return settings.greeting
    if purpose is None or not settings.callback_greeting:
        return ""
    return settings.callback_greeting.replace("{reason}", purpose.reason or NO_REASON)


def llm_opens(
    settings: AssistantSettings, direction: Direction, purpose: CallPurpose | None
) -> bool:
    """True when the LLM writes the first words, as soon as the call is answered."""
    return direction == "outbound" and not fixed_opening(settings, direction, purpose)


def system_prompt(
    settings: AssistantSettings, direction: Direction, purpose: CallPurpose | None, now: float
) -> str:
    """The call's system prompt: the configured one plus the per-call facts above."""
    try:
        zone = callback_zone(settings.builtin_tools.callback_timezone)
    except ValueError:
        zone = None  # the app layer rejects bad zones at start; never fail a call on it
    parts = [settings.system_prompt, f"The current date and time is {describe_now(now, zone)}."]
    if direction == "outbound":
        if purpose is None:
            parts.append("You placed this call; the person has just answered.")
        else:
            about = purpose.reason or "something they asked about"
            parts.append(
                f"You placed this call: it is the call back the person asked for, about {about}."
            )
            if purpose.requested_time:
                parts.append(f"They asked to be called: {purpose.requested_time}.")
            if purpose.notes:
                parts.append(f"Notes from their earlier call: {purpose.notes}")
        if fixed_opening(settings, direction, purpose):
            parts.append("You have greeted them already; go on from their answer.")
        else:
            parts.append(
                "Speak first: greet them, say why you are calling in one or two short "
                "sentences, and ask whether now is a good time."
            )
    return "\n\n".join(parts)
