"""The idle policy on a speech-to-speech call: check-ins and the hang-up, spoken by the model.

The policy is the assistant's (:class:`sipgw.agent.idle.policy.IdlePolicy`, with the line's
``idle`` section): silence counts while neither side makes a sound. :class:`S2sIdleWatch`
(on :class:`sipgw.agent.idle.watch.IdleWatchBase`, the assistant's watch's base too) feeds
it, every :data:`~sipgw.agent.idle.watch.LOOK_EVERY` of the 20 ms ticks,
what makes the caller wait (*speaking*: a reply of the model being generated or still
playing, a tool running, the caller's turn over and its reply due; *hold*; *transfer*: a
transfer or hang-up under way), and at each sound of the caller
(:meth:`S2sIdleWatch.caller_active`: the local voice-activity detector hearing speech, the
service hearing the caller start, a keypad digit).

What the policy decides is said by the model, asked through the vendor's own request for a
reply with one-off instructions (:meth:`sipgw.agent.services.s2s.base.SpeechToSpeech.request_reply`:
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

from typing import Final

from sipgw.agent.idle.policy import CheckIn, IdleSettings
from sipgw.agent.idle.watch import IdleWatchBase
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


class S2sIdleWatch(IdleWatchBase):
    """One speech-to-speech call's idle policy, carried out; see the module docstring.

    Args:
        scope: the call's record, observer, clock, tasks and session.
        settings: the line's idle policy.
        speaking: the live replies and the playout.
        actions: the call's transfers and hang-ups (and the goodbye).
        tools: the model's tool calls (one running makes the caller wait).
        wait: the caller's wait for a reply (their turn over, the reply due).
        line_timeout: seconds the goodbye may take to be heard before the hang-up.
    """

    __slots__ = ("_session_scope", "_speaking", "_tools", "_wait", "_s2s_actions")

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
        super().__init__(scope, settings, actions, line_timeout)
        self._session_scope = scope
        self._speaking = speaking
        self._s2s_actions = actions
        self._tools = tools
        self._wait = wait

    def tick(self, now: float, *, held: bool) -> None:
        """Every 20 ms: feed the policy the call's state, and do what it says."""
        self.look(now, held=held)

    def speaking(self) -> bool:
        """The agent has something to say: a reply being generated or still playing (or
        paused by the caller's voice), a tool running, a reply due."""
        speaking = self._speaking
        speaking.prune()
        live = bool(speaking.live) or speaking.playout.pending
        return live or self._tools.running or self._wait.waiting

    def busy(self) -> bool:
        return self.speaking()

    def check_in(self, step: CheckIn) -> None:
        scope = self._session_scope
        if scope.closed:
            return
        line = self.settings.check_line
        if line:
            instructions = GOODBYE_INSTRUCTIONS.format(text=line)
        else:
            instructions = CHECK_IN_INSTRUCTIONS.format(seconds=round(step.silent_s))
        scope.session.request_reply(instructions)

    def give_up(self) -> None:
        goodbye = self._s2s_actions.say_goodbye(self.settings.goodbye_line)
        self._scope.spawn(self.hang_up_after(goodbye))
