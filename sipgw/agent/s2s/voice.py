"""The model's replies on their way to the caller, barge-ins, and each reply's timing.

The service announces a reply (:class:`~sipgw.agent.services.s2s.base.ReplyStarted`), sends its
audio and text, and ends it (:class:`~sipgw.agent.services.s2s.base.ReplyDone`).
:class:`ModelVoice` turns that into :class:`sipgw.agent.s2s.replies.Reply` s in the
playout (audio re-cut into 20 ms frames of the session's format, unchanged), a reply's audio
that arrives without a start beginning it, and late audio of a reply that is
over dropped. It writes each reply's ``assistant`` line to the call record: its
text, or what the caller heard of it after a barge-in.

*Barge-in* (:meth:`ModelVoice.carry_out`, the turn-taking machine's actions): a
pause stops the audio where it is; a commit drops the queued audio of every live
reply, tells the session how much of each was heard
(:meth:`~sipgw.agent.services.s2s.base.SpeechToSpeech.cancel_reply`: the Realtime API
truncates its context to it), and records what was heard.

*Traced per reply* (when the call is): a ``turn`` span from the service's events
(:mod:`sipgw.agent.s2s.turn_spans`).

*Measured per reply* (event-loop time): the caller's end of speech (the local
VAD), the service's first audio, and the reply's first RTP frame
(``turn_metrics``; ``greeting_metrics`` for the greeting).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from sipgw.agent.callscope import ms_between
from sipgw.agent.s2s.actions import S2sActions
from sipgw.agent.s2s.replies import Reply, Speaking, heard_prefix
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.s2s.turn_spans import TurnSpans
from sipgw.agent.s2s.waiting import ReplyWait
from sipgw.agent.services.s2s.base import ReplyAudio, ReplyDone, ReplyText
from sipgw.agent.turns.machine import (
    Cause,
    CommitBargeIn,
    PauseAgent,
    ResumeAgent,
    TurnAction,
    TurnTaker,
)
from sipgw.foundation.redact import Redactor

__all__ = ["BARGE_IN_CAUSES", "ModelVoice"]

log = logging.getLogger("sipgw.agent")

BARGE_IN_CAUSES: Final = frozenset({Cause.SPEECH, Cause.TRANSCRIPT, Cause.TURN})
"""The cuts that end the caller's wait (:meth:`~sipgw.agent.s2s.waiting.ReplyWait.reply_cut`):
speech (the caller's, or the room's the service heard) cut the reply; a keypad digit's cut
is none (the reply to the digits follows), nor the agent's own (a notice, an answer to
something else: what comes next is its own)."""


class ModelVoice:
    """One call's model replies (see the module docstring).

    Args:
        scope: the call's record, observer, clock, tasks and session.
        speaking: the live replies and the playout.
        turns: the turn-taking machine (barge-ins).
        actions: told when a reply starts, when its audio comes, and when the caller cuts in.
        wait: the caller's wait for a reply (told when a reply is heard).
        redactor: masks the caller's data in log lines.
        greets: the call opens with a fixed greeting (its first reply is the greeting).

    Attributes:
        replies: replies started so far.
        first_audio: set once any reply's audio arrived.
    """

    __slots__ = (
        "_actions", "_answered_speech", "_cut", "_greets", "_redactor", "_scope", "_turns",
        "_wait", "first_audio", "replies", "speaking", "spans",
    )  # fmt: skip

    def __init__(
        self,
        scope: SessionScope,
        speaking: Speaking,
        turns: TurnTaker,
        actions: S2sActions,
        wait: ReplyWait,
        redactor: Redactor,
        *,
        greets: bool,
    ) -> None:
        self._scope = scope
        self.speaking = speaking
        self._turns = turns
        self._actions = actions
        self._wait = wait
        self._redactor = redactor
        self._greets = greets
        self.replies = 0
        self.first_audio = asyncio.Event()
        self._cut: dict[str, Reply] = {}
        """Replies a barge-in cut that the service has not ended yet."""
        self._answered_speech: float | None = None
        self.spans = TurnSpans(scope)

    # -- the service's replies

    def started(self, reply_id: str, now: float, *, filler: bool = False) -> Reply:
        """The model started a reply (``filler``: a filler line while a tool runs, which is
        no turn: :mod:`sipgw.agent.s2s.fillers`)."""
        if filler:
            reply = Reply(reply_id, self.replies, now, None, kind="filler",
                          finished=self._scope.loop.create_future())  # fmt: skip
            self.speaking.add(reply)
            return reply
        self.replies += 1
        first = self.replies == 1 and self._greets and self._turns.last_loud_at is None
        reply = Reply(reply_id, self.replies, now, self._turns.last_loud_at,
                      kind="greeting" if first else "reply",
                      finished=self._scope.loop.create_future())  # fmt: skip
        self.speaking.add(reply)
        self.spans.reply_started(reply)
        self._actions.reply_started(reply)
        return reply

    def _reply_of(self, reply_id: str, now: float) -> Reply | None:
        for reply in reversed(self.speaking.live):
            if reply.id == reply_id:
                return reply
        if self.speaking.gone(reply_id):
            return None  # cut off or over: late audio is dropped
        return self.started(reply_id, now)  # audio without a start: begin it now

    def audio(self, event: ReplyAudio) -> None:
        """Audio of a reply: queued in the playout."""
        reply = self._reply_of(event.reply_id, event.received_at)
        if reply is None:
            return
        playout = self.speaking.playout
        if reply.first_audio_at is None:
            reply.first_audio_at = event.received_at
            if reply.kind != "filler":
                self.spans.first_audio(reply)
                playout.when_first_played(reply.id, lambda at: self._first_played(reply, at))
                self._actions.answer_arrived()
                self._stop_fillers()
                if reply.kind == "reply":  # the model answered: the wait on it is over,
                    self._wait.reply_ready()  # even if the reply cannot play yet (paused)
        reply.received_ms += len(event.audio) // self._scope.session.audio_format.bytes_per_ms
        playout.push_audio(reply.id, event.audio)
        self.first_audio.set()

    def text(self, event: ReplyText) -> None:
        """Text a reply speaks (a piece of its transcript, or all of it)."""
        scope = self._scope
        reply = self._cut.get(event.reply_id) or self._reply_of(event.reply_id, scope.now())
        if reply is None:
            return
        if event.final:
            reply.text = event.text
        else:
            reply.text += event.text

    def done(self, event: ReplyDone) -> Reply | None:
        """The service ended a reply: its last frame queued, its line written. Returns
        it (None if it was over already)."""
        reply = self._cut.pop(event.reply_id, None)
        if reply is None:
            reply = next((r for r in self.speaking.live if r.id == event.reply_id), None)
        if reply is None or reply.done:
            return None
        reply.done = True
        reply.status = event.status
        self.speaking.playout.finish(reply.id)
        if reply.finished is not None and not reply.finished.done():
            reply.finished.set_result(None)
        if reply.played_ms is not None:  # cut off: its text may have come only now
            reply.heard = heard_prefix(reply.text, reply.played_ms, reply.received_ms)
        if reply.kind != "filler":
            self.spans.reply_done(reply, event.error)
        self._scope.write(
            {"type": "assistant", "text": self.said(reply), "turn": reply.turn,
             "kind": reply.kind, "status": event.status,
             "interrupted": self.interrupted(reply), "tool_calls": reply.tool_calls}
        )  # fmt: skip
        return reply

    @staticmethod
    def said(reply: Reply) -> str:
        """What the caller heard of an ended reply: all of it, or its share before a cut."""
        return reply.heard if reply.heard is not None else reply.text

    @staticmethod
    def interrupted(reply: Reply) -> bool:
        """The ended reply was cut off (by the caller, or the service says so)."""
        return reply.status in ("interrupted", "cancelled") or reply.heard is not None

    def _stop_fillers(self) -> None:
        """The answer's audio came: what is left of a filler line is dropped (whole frames),
        and the model's context is truncated to what was heard of it."""
        speaking, scope = self.speaking, self._scope
        playout = speaking.playout
        for reply in [r for r in speaking.live if r.kind == "filler"]:
            if playout.finished(reply.id):
                continue
            played_ms = playout.played_ms(reply.id)
            playout.drop(reply.id)
            reply.played_ms = played_ms
            reply.heard = heard_prefix(reply.text, played_ms, reply.received_ms)
            speaking.live.remove(reply)
            speaking.forget(reply.id)
            if not reply.done:
                self._cut[reply.id] = reply
            scope.session.cancel_reply(reply.id, played_ms)
            if reply.finished is not None and not reply.finished.done():
                reply.finished.set_result(None)
            scope.write({"type": "filler_stopped", "cut": True, "heard": reply.heard})

    def reply_of(self, reply_id: str) -> Reply | None:
        """The live reply ``reply_id`` (None once it is over)."""
        return next((r for r in self.speaking.live if r.id == reply_id), None)

    def caller_stopped(self, at: float) -> None:
        """The service heard the caller stop speaking (a turn span may start there)."""
        self.spans.caller_stopped(at)

    # -- barge-in

    def caller_started(self) -> None:
        """The service heard the caller start: a barge-in, if the agent is replying."""
        self.speaking.prune()
        if self.speaking.live:
            self.cut(Cause.SPEECH)

    def cut(self, cause: Cause) -> None:
        """Cut off every live reply (the agent is about to say something else)."""
        self.carry_out(self._turns.replace_reply(cause))

    def carry_out(self, actions: tuple[TurnAction, ...]) -> None:
        """Do what the turn-taking machine decided (the STT-shaping actions do not apply)."""
        playout = self.speaking.playout
        for action in actions:
            if isinstance(action, PauseAgent):
                playout.paused = True
            elif isinstance(action, ResumeAgent):
                playout.paused = False
                self._scope.write({"type": "barge_in_resumed", "paused_ms": action.paused_ms})
            elif isinstance(action, CommitBargeIn):
                self._interrupt(action)

    def _interrupt(self, action: CommitBargeIn) -> None:
        """The caller really interrupts: drop every live reply's audio, say what was heard."""
        speaking, scope = self.speaking, self._scope
        speaking.prune()
        live, speaking.live = speaking.live, []
        playout = speaking.playout
        if not live:
            playout.paused = False
            return
        heard_parts = []
        for reply in live:
            played_ms = playout.played_ms(reply.id)
            playout.cancel(reply.id)
            reply.played_ms = played_ms
            reply.heard = heard_prefix(reply.text, played_ms, reply.received_ms)
            speaking.forget(reply.id)
            if not reply.done:
                self._cut[reply.id] = reply  # its end (and maybe its text) is still to come
            if reply.line is None:
                scope.session.cancel_reply(reply.id, played_ms)
            if reply.finished is not None and not reply.finished.done():
                reply.finished.set_result(None)
            if reply.heard:
                heard_parts.append(reply.heard)
        heard = " ".join(heard_parts)
        self._actions.barged_in()
        if action.cause in BARGE_IN_CAUSES:  # nothing is coming: no "one moment" for it
            self._wait.reply_cut()
        last = live[-1]
        scope.write(
            {"type": "barge_in", "cause": action.cause.value, "turn": last.turn,
             "kind": last.kind, "reaction_ms": action.reaction_ms, "heard": heard,
             "at": round(scope.now(), 3)}
        )  # fmt: skip
        log.info("[%s] barge-in (%s) of reply %d after %r", scope.log_id, action.cause.value,
                 last.turn, self._redactor.redact(heard)[-40:])  # fmt: skip
        scope.observer.barge_in()

    def drop_early(self) -> None:
        """The reply started before the end of the caller's turn is dropped (they went on):
        its audio goes, unheard; nothing of it is recorded (the session takes it out of
        the model's context)."""
        speaking = self.speaking
        live, speaking.live = speaking.live, []
        for reply in live:
            speaking.playout.cancel(reply.id)
            speaking.forget(reply.id)
            if reply.finished is not None and not reply.finished.done():
                reply.finished.set_result(None)
            self.spans.reply_done(reply, "dropped: the caller went on")

    def drop_all(self) -> None:
        """The call ended: drop every reply's audio (which lets go of the callbacks on it)."""
        playout = self.speaking.playout
        replies = [*self.speaking.live, *self._cut.values()]
        for reply in replies:
            playout.drop(reply.id)
        self.spans.call_ended(replies)

    # -- timing

    def _first_played(self, reply: Reply, at: float | None) -> None:
        """From the tick that sent the reply's first frame: measure it (off the tick)."""
        if at is not None:
            self._wait.reply_audible()
            self._scope.loop.call_soon(self._write_metrics, reply, at)

    def _write_metrics(self, reply: Reply, first_rtp: float) -> None:
        scope = self._scope
        if reply.kind == "greeting":
            scope.write(
                {
                    "type": "greeting_metrics",
                    "first_rtp_after_answer_ms": ms_between(first_rtp, scope.answered_at or None),
                }
            )
            return
        speech_end = reply.speech_end_at
        if speech_end is not None and speech_end == self._answered_speech:
            speech_end = None  # that speech was answered by an earlier reply's audio
        self._answered_speech = reply.speech_end_at
        path = ms_between(first_rtp, reply.first_audio_at)
        scope.write(
            {
                "type": "turn_metrics",
                "turn": reply.turn,
                "first_audio_after_speech_ms": ms_between(reply.first_audio_at, speech_end),
                "first_rtp_after_tts_ms": path,
                "end_of_speech_to_first_rtp_ms": ms_between(first_rtp, speech_end),
            }
        )
        if path is not None:
            scope.observer.turn_measured({"gateway_reply_path": path / 1000})
