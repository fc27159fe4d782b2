"""A placed call's way through a phone menu, before the assistant talks (``docs/ivr.md``).

:class:`Navigation` is the assistant's part for a call placed with a goal
(:class:`~sipgw.agent.ivr.goal.IvrCall`: ``ivr_goal``). From the answer on it feeds
the far end's finished transcripts, and that it speaks, to the navigator
(:class:`~sipgw.agent.ivr.navigator.MenuNavigator`), has the decider
(:class:`~sipgw.agent.ivr.decider.MenuDecider`: the call's model, else the rules)
answer its questions, and carries out the steps: digits as RFC 4733 events
(through the call's dial allow-list, like a tool's; a refusal ends it ``stuck``),
words through the speaker. Until it ends, the callee's turns are the menu's, not the
conversation's (:meth:`Navigation.screen`), and the opening stays held.

How it ends (the call record's ``ivr_result`` line, the webhook ``call.ivr``):

* ``reached``: the LLM is told in a note what the menu led to, and the line's agent
  takes over: the opening plays (:meth:`sipgw.agent.assistant.greeting.Greeter.open`).
* ``stuck`` or ``voicemail``: the call is hung up.
* ``hung_up``: the call ended first.

Every question and its answer is an ``ivr_step`` line (what was heard, the decision,
who made it: ``model`` or ``rules``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sipgw.agent.assistant.call_actions import CallActions
from sipgw.agent.assistant.greeting import Greeter
from sipgw.agent.assistant.speaker import Speaker
from sipgw.agent.callscope import CallScope, ms_between
from sipgw.agent.dialpolicy import DialRefused
from sipgw.agent.ivr.decider import MenuDecider
from sipgw.agent.ivr.navigator import (
    DecisionWanted,
    MenuNavigator,
    NavigationEnded,
    NavigatorAction,
    NavigatorConfig,
    SayWords,
    SendDigits,
)
from sipgw.agent.ivr.steps import Decision, Outcome, Press, Say
from sipgw.agent.services.llm.base import ChatLLM
from sipgw.agent.services.stt.base import (
    SttEvent,
    SttPartialTranscript,
    SttSpeechStarted,
    SttTurnEnded,
)
from sipgw.agent.turns.machine import Cause, TurnAction, without_speech

__all__ = ["Navigation"]

log = logging.getLogger("sipgw.agent")

_REACHED_NOTE = (
    "[You placed this call to: {goal}. An automated phone menu answered and you got "
    "through it (keys pressed: {digits}). Its last words: {heard} You are now connected: "
    "go on with the goal.]"
)


class Navigation:
    """The phone menu of one placed call (see the module docstring).

    Args:
        scope: the call's record, clock and tasks.
        goal: what the call is for.
        llm: the model that decides (None: the rules alone).
        greeter: plays the opening once the goal is reached.
        speaker: says the navigation's words; cuts what plays.
        actions: keys the digits, hangs up.
        history: the conversation's messages (the note on what was reached joins it).
        on_reached: called once the goal is reached (the agent's conversation starts).
        config: when the navigator gives up.

    Attributes:
        navigator: the navigator from the answer on; None before.
        outcome: how it ended; None while it runs.
    """

    def __init__(
        self,
        scope: CallScope,
        goal: str,
        llm: ChatLLM | None,
        greeter: Greeter,
        speaker: Speaker,
        actions: CallActions,
        history: list[dict[str, Any]],
        on_reached: Callable[[], None],
        config: NavigatorConfig | None = None,
    ) -> None:
        self._scope = scope
        self.goal = goal
        self._decider = MenuDecider(goal, llm)
        self._greeter = greeter
        self._speaker = speaker
        self._actions = actions
        self._history = history
        self._on_reached = on_reached
        self._config = config or NavigatorConfig()
        self._timer: asyncio.TimerHandle | None = None
        self._last_heard = ""
        self._early: list[tuple[str, float]] = []  # prompts finished before the answer's turn
        self.navigator: MenuNavigator | None = None
        self.outcome: Outcome | None = None

    @property
    def holds_turns(self) -> bool:
        """The callee's turns are the menu's (until the navigation ends)."""
        return self.outcome is None

    # -- the assistant's calls

    def answered(self) -> None:
        """The call is answered: the menu is listened to from now on (and what it said
        while the agent still prepared, heard from the answer on, is taken first)."""
        scope = self._scope
        navigator = self.navigator = MenuNavigator(self.goal, scope.now(), self._config)
        scope.write({"type": "ivr_start", "goal": self.goal})
        log.info("[%s] navigating a phone menu to: %s", scope.log_id, self.goal)
        early, self._early = self._early, []
        for text, at in early:
            self._heard(navigator, text, at)
        self._arm()

    def on_stt(self, event: SttEvent, now: float) -> None:
        """A speech-to-text event: speech (not silence), or a finished prompt."""
        navigator = self.navigator
        if navigator is None:
            if isinstance(event, SttTurnEnded) and event.text.strip():
                self._early.append((event.text, now))  # the agent still prepares
            return
        if navigator.ended:
            return
        if isinstance(event, SttSpeechStarted | SttPartialTranscript):
            navigator.receive_voice(now)
            self._arm()
        elif isinstance(event, SttTurnEnded) and event.text.strip():
            self._heard(navigator, event.text, now)

    def _heard(self, navigator: MenuNavigator, text: str, now: float) -> None:
        self._last_heard = text.strip()
        self._scope.write({"type": "ivr_heard", "text": self._last_heard})
        self._carry_out(navigator.receive_prompt(text, now))

    def screen(self, actions: tuple[TurnAction, ...]) -> tuple[TurnAction, ...]:
        """While navigating, nothing of the turn-taking machine's speaks or interrupts: the
        callee's turns are the menu's (the navigator has them from :meth:`on_stt`)."""
        return without_speech(actions) if self.holds_turns else actions

    def close(self) -> None:
        """The call ended: a navigation still running ends ``hung_up``."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        navigator = self.navigator
        if navigator is not None and not navigator.ended:
            self._carry_out(navigator.hung_up())

    # -- the navigator's actions

    def _carry_out(self, actions: tuple[NavigatorAction, ...]) -> None:
        navigator = self.navigator
        assert navigator is not None
        for action in actions:
            if isinstance(action, DecisionWanted):
                self._scope.spawn(self._decide(action))
            elif isinstance(action, SendDigits):
                try:
                    self._actions.send_dtmf(action.digits)
                except DialRefused as exc:
                    self._carry_out(navigator.refused(exc.reason))
                    return
            elif isinstance(action, SayWords):
                self._say(action.words)
            elif isinstance(action, NavigationEnded):
                self._ended(action)
        self._arm()

    async def _decide(self, wanted: DecisionWanted) -> None:
        decision, by, why = await self._decider.decide(wanted)
        navigator = self.navigator
        if self._scope.closed or navigator is None or navigator.ended:
            return
        fallback = {"fallback": why} if why and by == "rules" else {}
        step = {"type": "ivr_step", "heard": wanted.heard, **_fields(decision), "by": by}
        self._scope.write({**step, **fallback})
        self._carry_out(navigator.decided(decision, self._scope.now()))

    def _say(self, words: str) -> None:
        speaker = self._speaker
        speaker.say(words, "notice")  # cuts the held opening: it is said again once reached
        speaker.playout.release()

    def _ended(self, ended: NavigationEnded) -> None:
        navigator = self.navigator
        assert navigator is not None
        scope = self._scope
        self.outcome = ended.outcome
        scope.write(
            {"type": "ivr_result", "goal": self.goal, "outcome": ended.outcome.value,
             "reason": ended.reason, "digits": navigator.digits, "steps": navigator.presses,
             "elapsed_ms": ms_between(scope.now(), navigator.now)}
        )  # fmt: skip
        log.info("[%s] phone menu: %s (%s)", scope.log_id, ended.outcome.value, ended.reason)
        if ended.outcome is Outcome.REACHED:
            note = _REACHED_NOTE.format(
                goal=self.goal, digits=navigator.digits or "none", heard=self._last_heard
            )
            self._history.append({"role": "user", "content": note})
            self._greeter.open()
            self._on_reached()
        elif ended.outcome is not Outcome.HUNG_UP:
            self._speaker.cut_current(Cause.NOTICE)
            self._actions.hang_up(f"ivr_{ended.outcome.value}")

    # -- the timer

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        navigator = self.navigator
        due = navigator.get_timer() if navigator is not None else None
        if due is not None and not self._scope.closed:
            self._timer = self._scope.loop.call_at(due, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        navigator = self.navigator
        if navigator is None or self._scope.closed:
            return
        self._carry_out(navigator.handle_timer(self._scope.now()))


def _fields(decision: Decision) -> dict[str, str]:
    """A decision as record fields: ``decision`` (``press``, ``say``, ``wait``, ``reached``,
    ``stuck``, ``voicemail``), its ``digits`` or ``words``, and ``reason``."""
    fields = {"decision": type(decision).__name__.lower(), "reason": decision.reason}
    if isinstance(decision, Press):
        fields["digits"] = decision.digits
    elif isinstance(decision, Say):
        fields["words"] = decision.words
    return fields
