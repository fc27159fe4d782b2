"""The caller's audio on its way to a speech-to-speech session, and local turn-taking.

Each caller frame, at arrival, goes through noise suppression when it is on and the
turn-taking machine's voice detector (:class:`sipgw.agent.conversation.caller_audio.CallerAudio`,
in arrival order across the model detector's batch:
:class:`~sipgw.agent.conversation.caller_audio.HeardInOrder`), then to the session. On an
HD-voice call the detectors hear an 8 kHz μ-law copy while the session gets the audio as it
came. A frame that held only the agent's own voice returned by the line (the echo guard)
reaches both as the line's noise (on an HD-voice call, the session gets silence). While the
caller holds the call, or is held for a warm transfer, or while
answering-machine detection holds the input, the session hears silence instead.

With local turn-taking (a session without
:attr:`~sipgw.agent.services.s2s.base.SpeechToSpeech.server_turns`) the
:class:`~sipgw.agent.turns.endpointing.SilenceEndpointer` ends the caller's turn and the session
replies; with ``preemptive_ms`` the reply starts early, its audio held in the playout until
the end of turn and dropped if the caller goes on. The agent
(:class:`sipgw.agent.s2s.agent.SpeechToSpeechAgent`) owns this part; it never holds the
agent.
"""

from __future__ import annotations

from collections.abc import Callable

from sipgw.agent.conversation.caller_audio import CallerAudio, HeardInOrder
from sipgw.agent.playout import Playout
from sipgw.agent.resilience.policy import CallerStartedSpeaking, CallerStoppedSpeaking
from sipgw.agent.resilience.watch import FailureWatch
from sipgw.agent.s2s.actions import S2sActions
from sipgw.agent.s2s.answering import S2sAnswering
from sipgw.agent.s2s.declared_tools import DeclaredTools
from sipgw.agent.s2s.idle_watch import S2sIdleWatch
from sipgw.agent.s2s.scope import SessionScope
from sipgw.agent.s2s.voice import ModelVoice
from sipgw.agent.s2s.waiting import ReplyWait
from sipgw.agent.turns.endpointing import SilenceEndpointer
from sipgw.agent.turns.machine import TurnTaker
from sipgw.media.codecs.convert import Reformat

__all__ = ["CallerHearing"]


class CallerHearing:
    """One call's caller audio to its session, through the turn-taking machine.

    Attributes:
        held: the caller holds the call (the agent's :meth:`on_hold` sets it): the session
            hears silence.
        early: a reply was started before the end of the caller's turn; its audio waits.
    """

    def __init__(
        self,
        scope: SessionScope,
        caller_audio: CallerAudio,
        narrow: Reformat | None,
        silence: bytes,
        turns: TurnTaker,
        endpointer: SilenceEndpointer | None,
        playout: Playout,
        audio_ready: Callable[[], None],
        answering: S2sAnswering | None,
        *,
        voice: ModelVoice,
        actions: S2sActions,
        wait: ReplyWait,
        watch: FailureWatch,
        idle: S2sIdleWatch,
        declared: DeclaredTools,
    ) -> None:
        """The call's parts this one drives: ``narrow`` converts the caller's audio for the
        detectors on an HD-voice call (None: G.711); ``silence`` is a frame of silence in the
        session's format; ``audio_ready`` wakes the call's playout."""
        self.scope = scope
        self.caller_audio = caller_audio
        self.narrow = narrow
        """The caller as the detectors hear them (8 kHz μ-law), on an HD-voice call."""
        self.silence = silence
        self.turns = turns
        self.endpointer = endpointer
        self.voice = voice
        self.actions = actions
        self.wait = wait
        self.watch = watch
        self.idle = idle
        self.declared = declared
        self.playout = playout
        self.audio_ready = audio_ready
        self.answering = answering
        # (to the session, to the detectors, at), in arrival order across the model's
        # batch; None: silence to the session.
        self.in_order = HeardInOrder(caller_audio)
        self.held = False
        self.early = False

    def arrive(self, frame: bytes, now: float) -> None:
        """One caller frame at arrival (the agent's ``on_caller_audio``)."""
        if not (self.held or self.actions.transferring):
            narrow = self.narrow
            if narrow is None:  # G.711: the session and the detectors hear the same frame
                frame = heard = self.caller_audio.process(frame)
            else:  # HD voice: the session gets 24 kHz as it came, the detectors 8 kHz
                heard = self.caller_audio.process(narrow.convert(frame))
                if self.caller_audio.echo:  # only the agent's own voice: silence to the session
                    frame = self.silence
            if self.caller_audio.retracted:  # what it heard before was the agent's echo
                self.turns.echo_heard()
            answering = self.answering
            if answering is not None:
                answering.on_audio(heard, now)
            # Answering-machine detection holds the input: no reply to a greeting or voicemail.
            if answering is None or not answering.holds_input:
                waits = self.caller_audio.feed(heard, now)
                self.in_order.arrive(frame, heard, now, waits, self._hear)
                return
        self.in_order.arrive(None, b"", now, False, self._hear)

    def _hear(self, frame: bytes | None, heard: bytes, now: float) -> None:
        """One frame through the turn-taking machine (``heard``: as the detectors take it),
        then to the session (None: silence to the session, past the machine)."""
        if frame is None:
            self.turns.skip_audio()
            self.scope.session.send_audio(self.silence)
            return
        vad = self.turns.vad
        speaking = vad.speaking
        actions = self.turns.receive_audio(heard, now)
        if actions:
            self.voice.carry_out(actions)
        if vad.speaking:
            self.idle.caller_active(now)
        if vad.speaking != speaking:
            if vad.speaking:
                self.declared.refresh()  # before the turn's reply is made
                self.wait.stop()  # the caller goes on: no reply is due until their turn ends
                self.watch.report_and_carry_out(CallerStartedSpeaking())
            else:
                self.watch.report_and_carry_out(CallerStoppedSpeaking(self.turns.last_loud_at))
        self.scope.session.send_audio(frame)
        endpointer = self.endpointer
        if endpointer is not None:
            vad = self.turns.vad
            ended = endpointer.push(vad.speaking, vad.loud)
            if self.early and vad.loud:
                self._drop_early()  # the caller went on
            if ended:
                self._caller_turn_ended()
            elif endpointer.early:
                self._start_early()

    def _start_early(self) -> None:
        """Local turn-taking, ``preemptive_ms`` of silence: the reply starts now, its audio
        held until the end of turn (or dropped if the caller goes on)."""
        speaking = self.voice.speaking
        speaking.prune()
        if speaking.live or self.actions.acting or not self.scope.session.start_early_reply():
            return
        self.early = True
        self.playout.held = True
        self.scope.write({"type": "preemptive", "stage": "started"})

    def _drop_early(self) -> None:
        self.early = False
        self.scope.session.drop_early_reply()
        self.voice.drop_early()
        self.playout.held = False
        self.scope.write({"type": "preemptive", "stage": "dropped"})

    def _caller_turn_ended(self) -> None:
        """Local turn-taking: the caller finished; a short word over the agent is no turn."""
        if self.early:  # its reply is under way: it plays now
            self.early = False
            playout = self.playout
            playout.held = False
            if playout.pending:
                self.audio_ready()
            self.scope.write({"type": "preemptive", "stage": "used"})
            self.wait.turn_ended(self.turns.last_loud_at)
            return
        speaking = self.voice.speaking
        speaking.prune()
        if speaking.live:
            self.scope.write({"type": "backchannel", "text": None})
            return
        self.scope.session.end_turn()
        self.wait.turn_ended(self.turns.last_loud_at)

    def server_turn_ended(self) -> None:
        """The service took the caller's turn as over: they wait for its reply (unless the
        agent is talking on: the service did not cut it, so no reply is due)."""
        if self.scope.session.server_turns and not self.voice.speaking.playout.audible:
            self.wait.turn_ended(self.turns.last_loud_at)
