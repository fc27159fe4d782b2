"""Filler lines: something to hear while a slow tool runs (masked tool latency).

A reply's tool round (its tool calls, from the first one started to the last
one answered) that is still running ``filler_after`` seconds after it started,
while no agent audio is queued, makes the agent say the next of
``filler_lines`` (in turn, across the call; at most one per reply at a time),
as a short reply of its own beside the reply it covers. The answer's first
audio drops the rest of the line (whole frames,
:meth:`sipgw.agent.playout.Playout.drop`); a barge-in or a TTS failure of the reply
stops it too. The failure policy's "one moment" while the caller waits for a
reply is said the same way, from memory (:meth:`Fillers.say_line`).

While the caller holds the call a filler is not due: its time stops and
goes on from where it was on resume (:meth:`Fillers.hold`): a line they could
not hear would be queued and played stale.

The decisions are sans-IO: :class:`ToolRound` (tool calls and the time in,
when a filler becomes due out) and :class:`FillerLines` (which line, or none).
:class:`Fillers` runs them for a call: it arms the timer, speaks the line and
stops it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from sipgw.agent.assistant.reply import FillerLine, Reply, SpeakingState
from sipgw.agent.callscope import CallScope, ms_between
from sipgw.agent.conversation.fillers import FillerLines, ToolRound
from sipgw.agent.resilience.line_cache import LineAudio
from sipgw.agent.resilience.recorded import RecordedReply
from sipgw.agent.services.tts.base import TextToSpeech, TtsError

__all__ = ["FillerWatch", "Fillers", "ToolRound"]

log = logging.getLogger("sipgw.agent")


class FillerWatch:
    """Watches one reply's tool calls and says a filler when its round is slow."""

    __slots__ = ("_fillers", "_held_since", "_own", "_reply", "_round", "_timer", "__weakref__")

    def __init__(self, fillers: Fillers, reply: Reply, filler_after: float | None) -> None:
        self._fillers = fillers
        self._reply = reply
        self._round = ToolRound(filler_after)
        self._timer: asyncio.TimerHandle | None = None
        self._held_since: float | None = None
        self._own = ""

    def tool_called(self, filler: str = "") -> None:
        """The reply's LLM asked for a tool call (it starts now); ``filler``: the tool's
        own line (the first such of the round is said when the round is slow)."""
        scope = self._fillers.scope
        opened = self._round.tool_called(scope.now())
        self._own = self._own or filler
        if opened and self._round.due_at is not None:
            self._arm()

    def tool_returned(self) -> None:
        """A tool call of the reply answered."""
        if self._round.tool_returned() and self._timer is not None:
            self._timer.cancel()  # the round is over
            self._timer = None
        if self._round.due_at is None:
            self._own = ""

    def hold(self, held: bool) -> None:
        """The caller holds the call (True): the filler's time stops; it goes on on resume."""
        now = self._fillers.scope.now()
        if held and self._held_since is None:
            self._held_since = now
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif not held and self._held_since is not None:
            self._round.shift(now - self._held_since)
            self._held_since = None
            if self._round.due_at is not None:
                self._arm()

    def close(self) -> None:
        """The reply's LLM part ended: no filler becomes due any more."""
        if self._timer is not None:
            self._timer.cancel()
        self._fillers.forget(self)

    def _arm(self) -> None:
        due = self._round.due_at
        if due is None or self._held_since is not None:
            return
        scope = self._fillers.scope
        self._timer = scope.loop.call_at(due, self._due)

    def _due(self) -> None:
        self._timer = None
        self._fillers.say(self._reply, self._own)


class Fillers:
    """One call's filler lines (see the module docstring).

    Args:
        scope: the call's record, clock and tasks.
        filler_after: seconds a tool round runs before a filler; None = never.
        lines: the filler lines, said in turn.
        state: the agent's current reply and playout.
        tts: where the lines are spoken.
    """

    __slots__ = ("_after", "_held", "_lines", "_state", "_tts", "_watches", "scope")

    def __init__(
        self,
        scope: CallScope,
        filler_after: float | None,
        lines: tuple[str, ...],
        state: SpeakingState,
        tts: TextToSpeech,
    ) -> None:
        self.scope = scope
        self._after = filler_after
        self._lines = FillerLines(lines)
        self._state = state
        self._tts = tts
        self._watches: weakref.WeakSet[FillerWatch] = weakref.WeakSet()
        self._held = False

    def watch(self, reply: Reply) -> FillerWatch:
        """Watch ``reply``'s tool rounds (close the watch when its LLM part ends)."""
        watch = FillerWatch(self, reply, self._after)
        self._watches.add(watch)
        if self._held:
            watch.hold(True)
        return watch

    def forget(self, watch: FillerWatch) -> None:
        """A watch was closed."""
        self._watches.discard(watch)

    def hold(self, held: bool) -> None:
        """The caller put the call on hold (True) or resumed it: the open watches' time
        stops meanwhile."""
        self._held = held
        for watch in list(self._watches):
            watch.hold(held)

    def say(self, reply: Reply, own: str = "") -> None:
        """The reply's tool round is slow: say the next line (or the slow tool's ``own``),
        unless agent audio is queued."""
        playout = self._state.playout
        waiting = self._state.reply is reply and reply.heard is None and reply.filler is None
        text = self._lines.pick(audio_queued=playout.pending, reply_waiting=waiting, own=own)
        if text is not None:
            self._start(reply, FillerLine(self._tts.start_reply(), text))

    def say_line(self, reply: Reply, audio: LineAudio) -> bool:
        """Say a fallback line from memory as ``reply``'s filler (the caller waits for it);
        False when the reply has audio queued or a filler already (nothing is said)."""
        waiting = self._state.reply is reply and reply.heard is None and reply.filler is None
        if not waiting or self._state.playout.pending:
            return False
        self._start(reply, FillerLine(RecordedReply(audio, audio.text), audio.text))
        return True

    def _start(self, reply: Reply, filler: FillerLine) -> None:
        reply.filler = filler
        playout = self._state.playout
        playout.begin(filler.tts.id)
        playout.add_text(filler.tts.id, filler.text)
        scope = self.scope
        filler.task = scope.spawn(self._speak(filler))
        scope.write({"type": "filler", "turn": reply.turn, "text": filler.text,
                     "after_ms": ms_between(scope.now(), reply.started_at)})  # fmt: skip

    def stop(self, reply: Reply) -> None:
        """Cut the reply's filler line (whole frames), if one is still queued or coming."""
        filler, reply.filler = reply.filler, None
        if filler is None:
            return
        playout = self._state.playout
        done = playout.finished(filler.tts.id)
        heard = playout.drop(filler.tts.id)
        if filler.task is not None and not filler.task.done():
            filler.task.cancel()
        if not filler.tts.done:
            self.scope.spawn(filler.tts.cancel())
        self.scope.write({"type": "filler_stopped", "turn": reply.turn, "cut": not done,
                          "heard": heard})  # fmt: skip

    async def _speak(self, filler: FillerLine) -> None:
        playout = self._state.playout
        reply_id = filler.tts.id
        try:
            await filler.tts.send_text(filler.text)
            await filler.tts.finish()
            async for chunk in filler.tts.audio():
                playout.push_audio(reply_id, chunk.audio, chunk.text, filler.tts.format)
        except TtsError as exc:
            log.warning("[%s] TTS failed on the filler line: %s", self.scope.log_id, exc)
        playout.finish(reply_id)
