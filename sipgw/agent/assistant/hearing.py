"""The caller's audio of one assistant call, at arrival: to the detectors, the turn-taking
machine and speech-to-text.

:class:`Hearing` takes each 20 ms frame in order (:meth:`Hearing.arrive`): a 16 kHz
caller's frame goes to speech-to-text as it comes and to the detectors narrowed to 8 kHz
μ-law; noise suppression, when on, works at 8 kHz
(:mod:`sipgw.agent.conversation.caller_audio`), and a frame that held only the agent's own
voice returned by the line is heard as the line's noise (the echo guard; a 16 kHz caller's
speech-to-text gets silence then); answering-machine detection hears it if it runs; the
turn-taking machine then (its actions to
:meth:`sipgw.agent.assistant.decisions.Decisions.carry_out`), and the failure policy and idle
watch learn whether the caller speaks. While the caller holds the call silence goes
to speech-to-text instead (the stream stays continuous) and the machine only counts it.
With the model detector's steps batched across calls, frames wait for the batch in
arrival order (:class:`~sipgw.agent.conversation.caller_audio.HeardInOrder`).

:meth:`Hearing.receive` is the session's ``on_audio`` (the agent's ``on_caller_audio``): a
compiled call straight from the packet's way in, the time read from the loop's clock and
the hold kept here (:attr:`Hearing.held`), with no interpreted step between.

It holds the parts it feeds, never the agent (no reference cycle through it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from sipgw.agent.assistant.answering import Answering
from sipgw.agent.assistant.failures import ServiceFailures
from sipgw.agent.assistant.idle_watch import IdleWatch
from sipgw.agent.conversation.caller_audio import CallerAudio, HeardInOrder
from sipgw.agent.services.stt.base import SpeechToText
from sipgw.agent.turns.machine import TurnAction, TurnTaker
from sipgw.media.codecs.base import PCM16_16K, ULAW_8K
from sipgw.media.codecs.convert import Reformat

__all__ = ["SILENCE_FRAME", "Hearing"]

SILENCE_FRAME: Final = b"\xff" * 160
"""20 ms of μ-law silence (what speech-to-text hears while the caller holds the call)."""


class Hearing:
    """One call's caller audio, heard at arrival; see the module docstring.

    Args:
        wide: speech-to-text hears the caller at 16 kHz (an HD-voice call).
        clock: the time of a frame given to :meth:`receive` (the event loop's).

    Attributes:
        held: the caller holds the call (the agent's ``on_hold`` sets it): what
            :meth:`receive` takes is heard as held.
    """

    __slots__ = (
        "_carry_out", "_clock", "_failures", "_idle", "_in_order", "_narrow", "_stt",
        "_stt_silence", "answering", "caller_audio", "held", "turns",
    )  # fmt: skip

    def __init__(
        self,
        wide: bool,
        caller_audio: CallerAudio,
        turns: TurnTaker,
        stt: SpeechToText,
        failures: ServiceFailures,
        idle: IdleWatch,
        answering: Answering | None,
        carry_out: Callable[[tuple[TurnAction, ...]], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.caller_audio = caller_audio
        self.turns = turns
        self.answering = answering
        self._stt = stt
        self._failures = failures
        self._idle = idle
        self._carry_out = carry_out
        self._clock = clock
        self.held = False
        self._narrow = Reformat(PCM16_16K, ULAW_8K) if wide else None
        self._stt_silence = bytes(PCM16_16K.frame_bytes) if wide else SILENCE_FRAME
        # In arrival order across the model's batch (caller_audio.py).
        self._in_order = HeardInOrder(caller_audio)

    def receive(self, frame: bytes) -> None:
        """The caller's next frame, arrived now (the session's ``on_audio``)."""
        self.arrive(frame, self._clock(), self.held)

    def arrive(self, frame: bytes, now: float, held: bool) -> None:
        """The caller's next frame, at ``now`` (``held``: the caller holds the call)."""
        if held:
            self._in_order.arrive(None, self._stt_silence, now, False, self._hear)
        else:
            heard = frame
            if self._narrow is not None:  # a 16 kHz caller: STT gets it, the detectors 8 kHz
                frame = self._narrow.convert(heard)
            frame = self.caller_audio.process(frame)  # suppression, when on, works at 8 kHz
            if self.caller_audio.retracted:  # what it heard before was the agent's echo
                self.turns.echo_heard()
            if self._narrow is None:
                heard = frame  # the line's noise, when the frame was only the agent's echo
            elif self.caller_audio.echo:
                heard = self._stt_silence
            if self.answering is not None:
                self.answering.on_audio(frame, now)
            self._in_order.arrive(frame, heard, now, self.caller_audio.feed(frame, now), self._hear)

    def clear(self) -> None:
        """The call is over: frames still waiting for the model's batch are dropped."""
        self._in_order.clear()

    def _hear(self, frame: bytes | None, heard: bytes, now: float) -> None:
        """One frame through the turn-taking machine (None: the caller holds), then to STT."""
        if frame is None:
            self.turns.skip_audio()
            self._stt.send_audio(heard)
            return
        vad = self.turns.vad
        speaking = vad.speaking
        actions = self.turns.receive_audio(frame, now)
        if actions:
            self._carry_out(actions)
        if vad.speaking != speaking:
            self._failures.caller_speaking(vad.speaking, self.turns.last_loud_at)
        if vad.speaking:
            self._idle.caller_active(now)
        self._stt.send_audio(heard)
