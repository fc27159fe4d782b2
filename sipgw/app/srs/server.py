"""SIPREC recording sessions on the gateway's side: the gateway as Session Recording Server.

A Session Recording Client (an SBC, a PBX, another gateway's ``<Start><Siprec>``) forks a
call to us as a *recording session* (RFC 7866, :mod:`sipgw.sip.srs`). It comes in as any
call does (the flood guard, the access policy and the routes judge it first), and a line
whose agent declares ``recording_sessions`` (the ``srs`` agent,
:mod:`sipgw.agent.srs.plugin`) takes it here:

- :func:`refusal`: a recording session to another line is refused with 420 Bad Extension
  (``Unsupported: siprec``) when it requires ``siprec``, else 488; an ordinary call to a
  recording line with 421 Extension Required (``Require: siprec``), RFC 3261 §8.2.2.3 and
  §21.4.16;
- :meth:`RecordingServer.answer`: its metadata read (:mod:`sipgw.sip.rsmetadata`; a
  malformed one is refused with 400), one RTP port per recorded stream, the agent built
  and its streams opened (:class:`~sipgw.agent.srs.transcriber.RecordedStreams`: one
  speech-to-text session per stream) while the SRC waits, then the 200 OK: every stream
  ``recvonly``, our Contact ``+sip.srs``. A port range that is full or an agent that
  cannot open its streams gets the SRC a 503;
- each stream then has a media session of its own (jitter buffer, latching, SRTP when
  agreed) and the shared ticker hands its frames, one per tick, to the agent
  (:class:`RecordedMedia`) and, when the line records (``SIPGW_RECORD_DIR``), to a
  two-channel WAV: the first stream left, the second right;
- a re-INVITE's or UPDATE's new offer is applied to the streams (:meth:`streams_updated`: a
  pause, a resume, a new address, codec or key), its new metadata renames the speakers
  (:meth:`metadata_received`);
- the SRC's BYE ends it, or ``SIPGW_RTP_TIMEOUT`` without RTP (or RTCP) on any of its
  streams; whatever ends the call closes the streams' ports
  (:meth:`RecordingServer.release`, at the call's :class:`~sipgw.sip.events.CallEnded` and
  when the gateway stops).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sipgw.agent.base import AgentFactory
from sipgw.agent.capabilities import plugin_factory
from sipgw.agent.srs.transcriber import RecordedParty, RecordedStreams
from sipgw.app.calls.callhandle import CallHandle, stream_params
from sipgw.app.calls.callpath import CallPath
from sipgw.app.calls.recording import CallRecorder
from sipgw.app.lines.routing import CallRoute
from sipgw.media.aio.callmedia import CallMedia
from sipgw.media.aio.rtp_endpoint import RtpEndpoint
from sipgw.media.session import MediaSession
from sipgw.sip.call import CallInfo, CallKey
from sipgw.sip.errors import InvalidState, SdpError, SipError
from sipgw.sip.offeranswer import NegotiatedAudio
from sipgw.sip.rsmetadata import RsMetadata, parse_metadata
from sipgw.sip.srs import RecordingRequest

__all__ = ["RecordedMedia", "RecordingServer", "parties_of", "refusal"]

log = logging.getLogger("sipgw")


def refusal(call: CallInfo, route: CallRoute) -> CallRoute | None:
    """Whether ``call`` is refused by its route's line: a recording session to a line that
    takes none, an ordinary call to one that takes only those (see the module docstring);
    None when they go together (or the route has no agent)."""
    if route.factory is None:
        return None
    takes_recordings = plugin_factory(route.factory).capabilities.recording_sessions
    recording = call.recording
    why, status = "", 0
    headers: tuple[tuple[str, str], ...] = ()
    if takes_recordings and recording is None:
        why, status = "not a SIPREC recording session (the line records only)", 421
        headers = (("Require", "siprec"),)
    elif not takes_recordings and recording is not None:
        why, status = "a SIPREC recording session to a line that does not record", 488
        if recording.required:
            status, headers = 420, (("Unsupported", "siprec"),)
    if not status:
        return None
    return CallRoute(None, route.line, route.account, status, why, headers, "siprec")


def parties_of(recording: RecordingRequest, metadata: RsMetadata) -> list[RecordedParty]:
    """Each recorded stream's label and who sends it (a line without a label is named by
    its position, ``m3`` for the third)."""
    parties = []
    for index in recording.streams:
        label = recording.labels[index] if index < len(recording.labels) else ""
        label = label or f"m{index + 1}"
        sender = metadata.sender_of(label)
        if sender is None:
            parties.append(RecordedParty(label))
        else:
            parties.append(RecordedParty(label, sender.participant_id, sender.aor, sender.name))
    return parties


class _StreamFeed:
    """One stream's frames to the agent (the ``FrameAgent`` of its :class:`CallMedia`)."""

    __slots__ = ("agent", "label")

    def __init__(self, agent: RecordedStreams, label: str) -> None:
        self.agent = agent
        self.label = label

    def on_caller_frame(self, frame: bytes | None) -> None:
        self.agent.on_stream_frame(self.label, frame)

    def next_frame(self) -> bytes | None:
        return None


@dataclass(eq=False)
class RecordedMedia:
    """A recording session's streams, stepped once a tick (the ticker's participant).

    Attributes:
        endpoints: each stream's RTP ports.
        steps: each stream's media step (its frames to the agent).
        indexes: the ``m=`` line of each step's stream.
        recorder: the two-channel WAV (the first two streams), None when not recorded.
        metadata: what the SRC's metadata says now.
    """

    endpoints: list[RtpEndpoint]
    steps: list[CallMedia] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    recorder: CallRecorder | None = None
    metadata: RsMetadata = field(default_factory=RsMetadata)
    watchdog: asyncio.TimerHandle | None = None
    """When the streams' silence is next judged (``SIPGW_RTP_TIMEOUT``)."""

    def idle_for(self, now: float) -> float:
        """Seconds since any of its streams last showed the SRC alive (RTP or RTCP)."""
        return min((step.session.idle_for(now) for step in self.steps), default=0.0)

    def tick(self, now: float) -> None:
        """One 20 ms step of every stream, then both channels to the recorder."""
        for step in self.steps:
            step.tick(now)
        recorder = self.recorder
        if recorder is not None and self.steps:
            second = self.steps[1].caller_frame if len(self.steps) > 1 else None
            recorder.tick(self.steps[0].caller_frame, second)

    def skip(self, ticks: int) -> None:
        """Ticks dropped after a stall (nothing is sent: nothing to keep in time)."""
        for step in self.steps:
            step.skip(ticks)


class RecordingServer:
    """Answers and runs the recording sessions (see the module docstring).

    Args:
        path: the calls and their shared steps (ports, agent, ticker, release).
    """

    def __init__(self, path: CallPath) -> None:
        self.path = path
        self.sessions: dict[CallKey, RecordedMedia] = {}

    @staticmethod
    def refusal(call: CallInfo, route: CallRoute) -> CallRoute | None:
        """:func:`refusal`, for the incoming calls (:mod:`sipgw.app.calls.inbound`)."""
        return refusal(call, route)

    async def answer(self, handle: CallHandle, factory: AgentFactory) -> None:
        """Read the metadata, bind a port per stream, build the agent and open its streams,
        answer; the streams then run until the call ends."""
        path, call = self.path, handle.call
        recording = call.recording
        assert recording is not None
        if handle.ended:
            return
        try:
            metadata = parse_metadata(recording.metadata) if recording.metadata else RsMetadata()
        except SipError as exc:
            handle.log.warning("refusing the recording session: %s", exc)
            handle.hangup(400, by="gateway")
            return
        if not recording.streams:
            handle.log.warning("refusing the recording session: no stream it sends")
            handle.hangup(488, by="gateway")
            return
        media = RecordedMedia([])
        self.sessions[call.key] = media
        for _ in recording.streams:
            endpoint = await path.open_rtp()
            if endpoint is None or handle.ended:
                if endpoint is not None:
                    path.close_rtp(endpoint)
                low, high = path.config.rtp_ports
                handle.log.warning("no free RTP port in %d-%d: rejecting", low, high)
                handle.hangup(503, by="gateway")
                return
            media.endpoints.append(endpoint)
        agent = await path.prepare_agent(handle, factory)
        if agent is None or handle.ended:
            handle.hangup(503, by="gateway")
            return
        if not isinstance(agent, RecordedStreams):
            handle.log.error("the line's agent takes no recorded streams: rejecting")
            handle.hangup(500, by="gateway")
            return
        media.metadata = metadata
        parties = parties_of(recording, metadata)
        try:
            await agent.open_streams(parties)
        except Exception as exc:
            handle.log.warning("the recording's streams could not be opened (%s): 503", exc)
            handle.hangup(503, by="gateway")
            return
        if handle.ended:
            return
        ports = {index: ep.port for index, ep in zip(recording.streams, media.endpoints,
                                                      strict=True)}  # fmt: skip
        sip = handle.sip
        agreed: dict[int, NegotiatedAudio] = {}

        refused: list[SdpError] = []

        def answer(now: float) -> None:
            try:
                agreed.update(sip.ua.answer_recording(call, ports, now))
            except SdpError as exc:
                refused.append(exc)
            except InvalidState:
                pass  # ended meanwhile (its end comes as an event of its own)

        sip.act(answer)
        if refused:
            handle.log.warning("refusing the recording session: %s", refused[0])
            handle.hangup(refused[0].status_hint, by="gateway")
            return
        if not agreed:
            return
        handle.log.info(
            "recording session answered on RTP ports %s: %s",
            ", ".join(str(ports[index]) for index in agreed),
            ", ".join(f"{p.label} ({p.name or p.aor or 'unknown'})" for p in parties),
        )
        self._start(handle, media, agent, parties, agreed)
        path.agent_answered(handle, agent)

    def _start(
        self,
        handle: CallHandle,
        media: RecordedMedia,
        agent: RecordedStreams,
        parties: Sequence[RecordedParty],
        agreed: dict[int, NegotiatedAudio],
    ) -> None:
        """Each answered stream's media session, fed to the agent by the ticker."""
        path = self.path
        recording = handle.call.recording
        assert recording is not None
        now = asyncio.get_running_loop().time()
        by_index = dict(zip(recording.streams, zip(media.endpoints, parties, strict=True),
                            strict=True))  # fmt: skip
        for index, negotiated in agreed.items():
            endpoint, party = by_index[index]
            session = MediaSession(stream_params(negotiated), now, jitter=path.jitter,
                                   liveness=path.liveness, confirmed=False)  # fmt: skip
            endpoint.session = session
            media.steps.append(CallMedia(session, _StreamFeed(agent, party.label), endpoint))
            media.indexes.append(index)
        if handle.record is not False:
            media.recorder = handle.recorder = path.recordings.recorder(handle.log)
        path.ticker.add(media)
        if path.config.rtp_timeout > 0:
            self._watch(handle, media, path.config.rtp_timeout)

    def _watch(self, handle: CallHandle, media: RecordedMedia, timeout: float) -> None:
        """Hang up once no stream has shown the SRC alive for ``timeout`` seconds (an SRC
        gone without its BYE), as an ordinary call's RTP timeout does."""
        loop = asyncio.get_running_loop()

        def judge() -> None:
            media.watchdog = None
            if handle.ended or not media.steps:
                return
            idle = media.idle_for(loop.time())
            if idle < timeout:
                media.watchdog = loop.call_later(timeout - idle, judge)
                return
            handle.log.warning("no RTP on any recorded stream for %g s: hanging up", timeout)
            handle.hangup(by="gateway")

        media.watchdog = loop.call_later(timeout, judge)

    def streams_updated(self, handle: CallHandle, streams: Sequence[NegotiatedAudio]) -> None:
        """A re-INVITE's or UPDATE's new offer, answered: each stream's session takes what it
        agrees now (a pause: ``a=inactive``, whose silence is no sign of a gone SRC; a
        resume; a new address, codec or SRTP key)."""
        media = self.sessions.get(handle.call.key)
        if media is None:
            return
        now = asyncio.get_running_loop().time()
        steps = dict(zip(media.indexes, media.steps, strict=True))
        for stream in streams:
            step = steps.get(stream.media_index)
            if step is None:
                continue
            self.path.media_io.update(step.session, step.sink, stream_params(stream), now)
            handle.log.info("recorded stream %d: %s", stream.media_index, stream.direction)

    def metadata_received(self, handle: CallHandle, data: bytes) -> None:
        """New metadata of a recording session (a re-INVITE's or UPDATE's, answered):
        its speakers, from now on (a document that does not parse is logged, not applied)."""
        media = self.sessions.get(handle.call.key)
        recording = handle.call.recording
        agent = handle.agent
        if media is None or recording is None or not isinstance(agent, RecordedStreams):
            return
        try:
            update = parse_metadata(data)
        except SipError as exc:
            handle.log.warning("recording metadata not applied: %s", exc)
            return
        media.metadata = media.metadata.updated(update)
        parties = parties_of(recording, media.metadata)
        agent.update_parties(parties)
        handle.log.info(
            "recording metadata updated: %s",
            ", ".join(f"{p.label} ({p.name or p.aor or 'unknown'})" for p in parties),
        )

    def release(self, handle: CallHandle) -> None:
        """The call is over: its streams stop and their ports go back (idempotent)."""
        media = self.sessions.pop(handle.call.key, None)
        if media is None:
            return
        self.path.ticker.remove(media)
        if media.watchdog is not None:
            media.watchdog.cancel()
            media.watchdog = None
        for step in media.steps:
            self.path.counted.media_ended(step.session)
        for endpoint in media.endpoints:
            endpoint.session = None
            self.path.close_rtp(endpoint)
        media.steps.clear()
        media.endpoints.clear()
