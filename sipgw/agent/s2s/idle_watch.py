"""The idle policy on a speech-to-speech call: check-ins and the hang-up, spoken by the model.

The policy is the assistant's (:class:`sipgw.agent.idle.policy.IdlePolicy`, with the line's
``idle`` section): silence counts while neither side makes a sound. :class:`S2sIdleWatch`
feeds it, every :data:`~sipgw.agent.assistant.idle_watch.LOOK_EVERY` of the 20 ms ticks,
what makes the caller wait (*speaking*: a reply of the model being generated or still
playing, a tool running, the caller's turn over and its reply due; *hold*; *transfer*: a
transfer or hang-up under way), and at each sound of the caller
(:meth:`S2sIdleWatch.caller_active`: the local voice-activity detector hearing speech, the
service hearing the caller start, a keypad digit).

What the policy decides is said by the model, asked through the vendor's own request for a
reply with one-off instructions (:meth:`sipgw.agent.s2s.base.SpeechToSpeech.request_reply`:
the Voice Agent API's ``reply.create {"instructions"}``, the Realtime API's ``response.create
{"response": {"instructions"}}``):

* a *check-in*: with a fixed ``check_line``, "say exactly this" with the line quoted (as the
  drain's goodbye is asked for); with none, the model is told how long the caller has been
  quiet and asked, in a few words, whether they are still there;
* the *goodbye*: ``goodbye_line``, said as the drain's goodbye is
  (:meth:`sipgw.agent.s2s.actions.S2sActions.say_goodbye`: waited for until it was heard,
  bounded by ``action_line_timeout``), then the hang-up (``hangup`` with ``reason: idle``).

The Realtime API's own idle timer (``turn_detection.idle_timeout_ms``, server VAD only,
answered by ``input_audio_buffer.timeout_triggered`` and a response of the model's choosing)
is not used: it has no count of check-ins and no goodbye, it does not exist with
``semantic_vad`` or local turn-taking, and the Voice Agent API has nothing like it; one
policy, worked the same way for both services, is what the line's ``idle`` settings say.

Each step is an ``idle`` record and counted (``sipgw_idle_total``), as the assistant's are.
"""

from __future__ import annotations

import asyncio
from typing import Final

from sipgw.agent.assistant.idle_watch import LOOK_EVERY
from sipgw.agent.idle.policy import CheckIn, GiveUp, IdlePolicy, IdleSettings
from sipgw.agent.s2s.actions import GOODBYE_INSTRUCTIONS, S2sActions
from sipgw.agent.s2s.replies import Speaking
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.s2s.tool_calls import ToolCalls
from sipgw.agent.s2s.waiting import ReplyWait

__all__ = ["CHECK_IN_INSTRUCTIONS", "S2sIdleWatch"]

CHECK_IN_INSTRUCTIONS: Final = (
    "The caller has said nothing for {seconds} seconds. In a few words, ask whether they are "
    "still there."
)
"""The one-off instructions of a check-in the model words itself (``check_line`` empty)."""


class S2sIdleWatch:
    """One speech-to-speech call's idle policy, carried out; see the module docstring.

    Args:
        scope: the call's record, observer, clock, tasks and session.
        settings: the line's idle policy.
        speaking: the live replies and the playout.
        actions: the call's transfers and hang-ups (and the goodbye).
        tools: the model's tool calls (one running makes the caller wait).
        wait: the caller's wait for a reply (their turn over, the reply due).
        line_timeout: seconds the goodbye may take to be heard before the hang-up.

    Attributes:
        hung_up: it ended the call (the record's ``hung_up_for``: ``idle``).
    """

    __slots__ = (
        "_actions", "_line_timeout", "_next_look", "_policy", "_scope", "_speaking", "_tools",
        "_wait", "hung_up", "settings",
    )  # fmt: skip

    def __init__(
        self,
        scope: SessionScope,
        settings: IdleSettings,
        speaking: Speaking,
        actions: S2sActions,
        tools: ToolCalls,
        wait: ReplyWait,
        line_timeout: float,
    ) -> None:
        self.settings = settings
        self._scope = scope
        self._speaking = speaking
        self._actions = actions
        self._tools = tools
        self._wait = wait
        self._line_timeout = line_timeout
        self._policy: IdlePolicy | None = None  # from the answer on
        self._next_look = 0.0
        self.hung_up = False

    def start(self, now: float) -> None:
        """The call was answered: silence counts from now (the greeting is speaking)."""
        if self._policy is None and self.settings.after is not None:
            self._policy = IdlePolicy(self.settings, now)

    def caller_active(self, now: float) -> None:
        """The caller made a sound (speech, a keypad digit)."""
        if self._policy is not None:
            self._policy.caller_active(now)

    def hold(self, held: bool, now: float) -> None:
        """The caller held the call, or resumed it: no silence counts while held (the ticks
        stop meanwhile, so this is told at once)."""
        if self._policy is not None:
            self._policy.busy("hold", held, now)

    def speaking(self) -> bool:
        """The agent has something to say: a reply being generated or still playing (or
        paused by the caller's voice), a tool running, a reply due."""
        speaking = self._speaking
        speaking.prune()
        live = bool(speaking.live) or speaking.playout.pending
        return live or self._tools.running or self._wait.waiting

    def tick(self, now: float, *, held: bool) -> None:
        """Every 20 ms: feed the policy the call's state, and do what it says."""
        policy = self._policy
        if policy is None or now < self._next_look or policy.finished:
            return
        self._next_look = now + LOOK_EVERY
        policy.busy("speaking", self.speaking(), now)
        policy.busy("hold", held, now)
        policy.busy("transfer", self._actions.acting, now)
        step = policy.poll(now)
        if isinstance(step, CheckIn):
            self._check_in(step)
        elif isinstance(step, GiveUp):
            self._give_up(step)

    def _check_in(self, step: CheckIn) -> None:
        scope = self._scope
        line = self.settings.check_line
        scope.write({"type": "idle", "step": "check_in", "number": step.number,
                     "silent_ms": round(step.silent_s * 1000),
                     "by": "line" if line else "model"})  # fmt: skip
        scope.observer.idle("check_in")
        if scope.closed:
            return
        if line:
            instructions = GOODBYE_INSTRUCTIONS.format(text=line)
        else:
            instructions = CHECK_IN_INSTRUCTIONS.format(seconds=round(step.silent_s))
        scope.session.request_reply(instructions)

    def _give_up(self, step: GiveUp) -> None:
        scope = self._scope
        scope.write({"type": "idle", "step": "hang_up", "silent_ms": round(step.silent_s * 1000)})
        scope.observer.idle("hang_up")
        scope.spawn(self._say_goodbye_and_hang_up())

    async def _say_goodbye_and_hang_up(self) -> None:
        """The goodbye, then the hang-up once it was heard (or cut off; at most
        ``line_timeout``)."""
        try:
            async with asyncio.timeout(self._line_timeout):
                await self._actions.say_goodbye(self.settings.goodbye_line)
        except TimeoutError:
            pass
        if self._scope.closed:
            return
        self.hung_up = True
        self._actions.hang_up("idle")
