"""The model that answers the navigator's questions, and the rules when it cannot.

:class:`MenuDecider` asks the call's chat model (the configured OpenAI-compatible
LLM) what to do about a menu's words, given the goal and the navigation so far, for
one JSON object: ``{"action": "press", "digits": "1", "reason": "..."}`` (``press``,
``say`` with ``words``, ``wait``, ``reached``, ``stuck``, ``voicemail``). An answer
that is no such object, a model error or a model slower than ``timeout`` gets the
rules' answer instead (:func:`sipgw.agent.ivr.menu.rule_decision`), and says so
(``by``: ``model`` or ``rules``). Without a model the rules decide alone.
"""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import aclosing
from typing import Any

from sipgw.agent.ivr.menu import rule_decision
from sipgw.agent.ivr.navigator import DecisionWanted
from sipgw.agent.ivr.steps import Decision, Press, Reached, Say, Stuck, Voicemail, Wait
from sipgw.agent.services.llm.base import ChatLLM, LlmError, LlmTextDelta

__all__ = ["INSTRUCTIONS", "MenuDecider", "parse_decision"]

INSTRUCTIONS = """You are placing a phone call for someone, and an automated phone menu (IVR) \
answered. Your goal: {goal}
Get through the menu to the goal. The user messages tell what the menu said and what you did. \
Answer with one JSON object and nothing else:
{{"action": "press", "digits": "1", "reason": "..."}} to press keys,
{{"action": "say", "words": "billing", "reason": "..."}} when the menu asks you to say something,
{{"action": "wait", "reason": "..."}} when the menu is not finished or asks you to hold,
{{"action": "reached", "reason": "..."}} when a person or the department of the goal answers,
{{"action": "stuck", "reason": "..."}} when the menu cannot lead to the goal,
{{"action": "voicemail", "reason": "..."}} when it asks you to leave a message."""

_DIGITS = re.compile(r"^[0-9*#]{1,20}$")
_OBJECT = re.compile(r"\{.*\}", re.S)


def parse_decision(text: str) -> Decision | None:
    """The decision in a model's answer, or None when it holds none that can be carried out."""
    found = _OBJECT.search(text)
    if found is None:
        return None
    try:
        data: Any = json.loads(found.group(0))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    action, reason = data.get("action"), str(data.get("reason") or "")[:200]
    if action == "press":
        digits = str(data.get("digits") or "").replace(" ", "")
        return Press(digits, reason) if _DIGITS.match(digits) else None
    if action == "say":
        words = str(data.get("words") or "").strip()
        return Say(words[:200], reason) if words else None
    kinds: dict[str, type[Wait | Reached | Stuck | Voicemail]] = {
        "wait": Wait, "reached": Reached, "stuck": Stuck, "voicemail": Voicemail,
    }  # fmt: skip
    kind = kinds.get(str(action))
    return kind(reason) if kind is not None else None


class MenuDecider:
    """Decides a navigator's questions for one goal (see the module docstring).

    Args:
        goal: what the call is for.
        llm: the chat model; None = the rules alone.
        timeout: seconds the model has per question.
    """

    def __init__(self, goal: str, llm: ChatLLM | None, timeout: float = 8.0) -> None:
        self.goal = goal
        self.llm = llm
        self.timeout = timeout

    def messages(self, wanted: DecisionWanted) -> list[dict[str, str]]:
        """What the model is sent: the instructions, then the navigation so far."""
        story = [
            f"The menu said: {step.text}" if step.kind == "heard"
            else f"You {step.kind}: {step.text}"
            for step in wanted.steps
        ]  # fmt: skip
        return [
            {"role": "system", "content": INSTRUCTIONS.format(goal=self.goal)},
            {"role": "user", "content": "\n".join(story) or f"The menu said: {wanted.heard}"},
        ]

    async def decide(self, wanted: DecisionWanted) -> tuple[Decision, str, str]:
        """The decision about ``wanted``, who made it (``model`` or ``rules``), and why the
        model's was not taken ("" when it was)."""
        if self.llm is None:
            return rule_decision(self.goal, wanted.heard), "rules", "no model"
        try:
            async with asyncio.timeout(self.timeout):
                text = await self._ask(self.llm, wanted)
        except (LlmError, TimeoutError) as exc:
            why = "timeout" if isinstance(exc, TimeoutError) else f"model error: {exc}"
            return rule_decision(self.goal, wanted.heard), "rules", why
        decision = parse_decision(text)
        if decision is None:
            return rule_decision(self.goal, wanted.heard), "rules", f"unusable answer {text!r}"
        return decision, "model", ""

    async def _ask(self, llm: ChatLLM, wanted: DecisionWanted) -> str:
        parts: list[str] = []
        async with aclosing(llm.stream(self.messages(wanted), [])) as stream:
            async for event in stream:
                if isinstance(event, LlmTextDelta):
                    parts.append(event.text)
        return "".join(parts)
