"""The TwiML verbs' handlers of one call, and what the gateway's tick and the call's end
give them: :class:`Verbs` carries out a verb (each family in its own module of
:mod:`sipgw.agent.twiml.verbs`), routes the caller's audio and keys to the verb that takes
them, and picks the frame the caller hears."""

from __future__ import annotations

import asyncio
from typing import Final

from sipgw.agent.base import FRAME_BYTES
from sipgw.agent.twiml.machinedetection import MachineDetectionRun
from sipgw.agent.twiml.program import Run
from sipgw.agent.twiml.siprec import SiprecSessions
from sipgw.agent.twiml.verbs.conference import ConferenceVerb
from sipgw.agent.twiml.verbs.context import VerbContext, VerbHandler
from sipgw.agent.twiml.verbs.conversationrelay import ConversationRelayVerb
from sipgw.agent.twiml.verbs.dial import DialVerb
from sipgw.agent.twiml.verbs.dialrecording import DialRecording
from sipgw.agent.twiml.verbs.enqueue import EnqueueVerb
from sipgw.agent.twiml.verbs.gather import GatherVerb
from sipgw.agent.twiml.verbs.playback import Playback
from sipgw.agent.twiml.verbs.record import RecordVerb
from sipgw.agent.twiml.verbs.refer import ReferVerb
from sipgw.agent.twiml.verbs.stream import StreamVerbs
from sipgw.agent.twiml.verbs.transcription import TranscriptionVerbs
from sipgw.twilio.document import (
    Connect,
    DialConference,
    Gather,
    Play,
    PlayDigits,
    Record,
    Refer,
    Say,
    Start,
    StartSiprec,
    StopSiprec,
    StopStream,
)
from sipgw.twilio.queuetwiml import Enqueue, Leave
from sipgw.twilio.relaytwiml import ConnectRelay
from sipgw.twilio.transcriptiontwiml import StartTranscription, StopTranscription

_SILENT_FRAME: Final = b"\xff" * FRAME_BYTES
"""20 ms of μ-law silence: the outbound track's tick when nothing plays."""


class Verbs(VerbHandler):
    """Every verb family's handler for one call (see the module docstring)."""

    def __init__(self, ctx: VerbContext) -> None:
        super().__init__(ctx)
        self.detection = MachineDetectionRun(ctx)
        self.playback = Playback(ctx)
        self.streams = StreamVerbs(ctx)
        self.relay = ConversationRelayVerb(ctx, self.streams)
        self.transcription = TranscriptionVerbs(ctx)
        self.gather = GatherVerb(ctx, self.playback)
        self.record = RecordVerb(ctx)
        self.enqueue = EnqueueVerb(ctx, self.playback, self.gather)
        self.dial = DialVerb(ctx, DialRecording(ctx, self.record), self.enqueue)
        self.refer = ReferVerb(ctx)
        self.conference = ConferenceVerb(ctx, self.playback)
        self.siprec = SiprecSessions(ctx.call, ctx.settings.siprec_connectors, ctx.spawn, ctx.note)

    async def run(self, step: Run) -> None:
        """Carry out ``step``'s verb."""
        verb = step.verb
        if isinstance(verb, Connect):
            await self.streams.connect(verb.stream)
        elif isinstance(verb, ConnectRelay):
            await self.relay.relay(verb)
        elif isinstance(verb, Start):
            self.streams.fork(verb.stream)
        elif isinstance(verb, StopStream):
            await self.streams.stop_forks(verb)
        elif isinstance(verb, StartTranscription):
            await self.transcription.start(verb.transcription)
        elif isinstance(verb, StopTranscription):
            await self.transcription.stop(verb.name)
        elif isinstance(verb, StartSiprec):
            self.siprec.start(verb.siprec)
        elif isinstance(verb, StopSiprec):
            self.siprec.stop(verb.name)
        elif isinstance(verb, Say):
            await self.playback.say(verb)
        elif isinstance(verb, Play):
            await self.playback.play(verb)
        elif isinstance(verb, PlayDigits):
            await self.playback.play_digits(verb)
        elif isinstance(verb, Gather):
            await self.gather.gather(verb)
        elif isinstance(verb, Record):
            await self.record.record(verb)
        elif isinstance(verb, DialConference):
            await self.conference.conference(verb)
        elif isinstance(verb, Enqueue):
            await self.enqueue.enqueue(verb)
        elif isinstance(verb, Refer):
            await self.refer.refer(verb)
        elif isinstance(verb, Leave):
            self.steps.append("refused <Leave>")
            self.ctx.note("refused", verb="Leave", why="not in a queue (only in a waitUrl)")
        else:
            await self.dial.dial(verb)

    # ------------------------------------------------------------------ the tick

    def on_caller_frame(self, frame: bytes | None) -> None:
        """The jitter buffer's playout: to a bridged ``<Dial>``'s called party (the streams
        get :meth:`on_caller_audio`)."""
        dialing = self.dial.dialing
        if dialing is not None:
            dialing[0].caller_frame(frame)
        if self.conference.conferencing is not None:
            self.conference.conferencing.caller_frame(frame)
        if self.enqueue.queued is not None:
            self.enqueue.queued.caller_frame(frame)

    def on_caller_audio(self, frame: bytes) -> None:
        """The caller's 20 ms as it arrives, to the stream and to the forks that take the
        inbound track (no playout delay: one jitter buffer's depth less than the tick's), and
        to the answering-machine detector while it listens."""
        self.detection.audio(frame)
        connected = self.streams.connected
        if connected is not None and connected.ready:
            connected.send(connected.side.media("inbound", frame))
        if self.gather.gathering is not None:
            self.gather.gathering.audio(frame)
        if self.record.recording is not None:
            recorder, _, over = self.record.recording
            if recorder.frame(frame):
                over.set()
        if self.relay.relayed is not None:
            self.relay.relayed.on_caller_audio(frame)
        for fork, _ in self.streams.forks:
            if fork.ready:
                fork.send(fork.side.media("inbound", frame))
        for transcription in self.transcription.transcriptions:
            transcription.audio("inbound_track", frame)

    def next_frame(self) -> bytes | None:
        """The app's audio (a stream's, or ``<Say>``/``<Play>``/the fallback's), paced."""
        frame: bytes | None = None
        connected = self.streams.connected
        if connected is not None:
            frame, echoes = connected.side.next_frame()
            for echo in echoes:
                connected.send(echo)
        elif self.relay.relayed is not None:
            frame = self.relay.relayed.next_frame()
        elif self.dial.dialing is not None:
            frame = self.dial.dialing[0].frame_for_caller()
        elif self.conference.conferencing is not None and self.conference.conferencing.mixing:
            frame = self.conference.conferencing.frame_for_caller()
        elif self.enqueue.queued is not None and self.enqueue.queued.talking:
            frame = self.enqueue.queued.frame_for_caller()
        elif self.ctx.out.frames:
            frame = self.ctx.out.next_frame()
        for fork, _ in self.streams.forks:
            if fork.ready:
                fork.send(fork.side.media("outbound", frame))
        for transcription in self.transcription.transcriptions:
            transcription.audio("outbound_track", frame or _SILENT_FRAME)
        return frame

    def on_dtmf(self, digit: str) -> None:
        """A key the caller pressed, to the bidirectional stream as ``dtmf`` (or to the
        ``<Gather>`` listening)."""
        connected = self.streams.connected
        if connected is not None and connected.ready:
            connected.send(connected.side.dtmf(digit))
        if self.gather.gathering is not None:
            self.gather.gathering.key(digit)
        if self.record.recording is not None:
            recorder, _, over = self.record.recording
            if recorder.key(digit):
                over.set()
        if self.relay.relayed is not None:
            self.relay.relayed.on_dtmf(digit)
        if self.dial.dialing is not None:
            self.dial.dialing[0].caller_key(digit)
        if self.conference.conferencing is not None:
            self.conference.conferencing.caller_key(digit)
        if self.enqueue.queued is not None:
            self.enqueue.queued.caller_key(digit)

    def on_hold(self, held: bool) -> None:
        """The caller held (or resumed) the call: in a conference, not heard meanwhile
        (what arrives is its phone's hold music) and a ``participant-hold`` event."""
        if self.conference.conferencing is not None:
            self.conference.conferencing.hold(held)

    # ------------------------------------------------------------------ the end

    def at_close(self, reason: str) -> None:
        """The call ended: each verb under way posts how it ended (a ``<Refer>``, a
        ``<Record>``, a ``<Dial>``, a conference, a queue; a relay's last prompt)."""
        self.refer.at_close(reason)
        if self.relay.relayed is not None:
            self.relay.relayed.at_hangup()  # partialPromptOnHangup, before the socket closes
        self.record.at_hangup()
        self.dial.at_hangup()
        self.conference.at_hangup()
        self.enqueue.at_hangup()

    async def stop(self) -> None:
        """``stop`` to every stream (each within 2 s), the relay and the transcriptions
        ended."""
        streams = [s for s, _ in self.streams.forks]
        if self.streams.connected is not None:
            streams.append(self.streams.connected)
        if self.relay.relayed is not None:
            await self.relay.relayed.stop()
        await asyncio.gather(*(stream.stop() for stream in streams),  # each within 2 s
                             *(t.stop() for t in self.transcription.transcriptions))  # fmt: skip
        for stream in streams:
            self.streams.stream_event(stream, "stream-stopped")
