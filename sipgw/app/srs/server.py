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
  (:class:`~sipgw.app.srs.streams.RecordedMedia`) and, when the line records
  (``SIPGW_RECORD_DIR``), to a WAV with a channel per stream: the first left, the second
  right, a third the third channel...;
- a session whose INVITE named nobody (no metadata, or none that says who is on the call)
  asks its SRC for a metadata snapshot once its ACK came (:meth:`confirmed`, RFC 7866 §9.3),
  and so does metadata that cannot be read; the SIP core bounds how often;
- a re-INVITE's or UPDATE's new offer is applied to the streams (:meth:`streams_updated`: a
  pause, a resume, a new address, codec or key; a stream removed, port 0, ends its
  speech-to-text session and gives its port back), its new metadata renames the speakers
  (:meth:`metadata_received`); a stream it adds (:meth:`streams_offered`, RFC 7866 §8.1)
  gets a port and a speech-to-text session of its own before the answer, and is refused
  (port 0) when neither can be had;
- the SRC's BYE ends it, or ``SIPGW_RTP_TIMEOUT`` without RTP (or RTCP) on any of its
  streams; whatever ends the call closes the streams' ports
  (:meth:`RecordingServer.release`, at the call's :class:`~sipgw.sip.events.CallEnded` and
  when the gateway stops).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sipgw.agent.base import AgentFactory
from sipgw.agent.capabilities import plugin_factory
from sipgw.agent.srs.transcriber import RecordedStreams
from sipgw.app.calls.callhandle import CallHandle, stream_params
from sipgw.app.calls.callpath import CallPath
from sipgw.app.lines.routing import CallRoute
from sipgw.app.srs.streams import RecordedMedia, StreamFeed, label_of
from sipgw.media.aio.callmedia import CallMedia
from sipgw.media.session import MediaSession
from sipgw.sip.call import CallInfo, CallKey
from sipgw.sip.errors import InvalidState, SdpError, SipError
from sipgw.sip.offeranswer import NegotiatedAudio
from sipgw.sip.rsmetadata import RsMetadata, parse_metadata
from sipgw.sip.srs import MAX_RECORDED_STREAMS

__all__ = ["RecordingServer", "refusal"]

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
        if recording.over:
            handle.log.warning("%d streams recorded at most: lines %s rejected (port 0)",
                               MAX_RECORDED_STREAMS, _lines(recording.over))  # fmt: skip
        labels = dict(enumerate(recording.labels))
        media = RecordedMedia({index: labels.get(index, "") for index in recording.streams})
        self.sessions[call.key] = media
        for index in recording.streams:
            endpoint = await path.open_rtp()
            if endpoint is None or handle.ended:
                if endpoint is not None:
                    path.close_rtp(endpoint)
                low, high = path.config.rtp_ports
                handle.log.warning("no free RTP port in %d-%d: rejecting", low, high)
                handle.hangup(503, by="gateway")
                return
            media.endpoints[index] = endpoint
        agent = await path.prepare_agent(handle, factory)
        if agent is None or handle.ended:
            handle.hangup(503, by="gateway")
            return
        if not isinstance(agent, RecordedStreams):
            handle.log.error("the line's agent takes no recorded streams: rejecting")
            handle.hangup(500, by="gateway")
            return
        media.metadata = metadata
        parties = media.parties(recording.streams)
        try:
            await agent.open_streams(parties)
        except Exception as exc:
            handle.log.warning("the recording's streams could not be opened (%s): 503", exc)
            handle.hangup(503, by="gateway")
            return
        if handle.ended:
            return
        ports = {index: endpoint.port for index, endpoint in media.endpoints.items()}
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
        self._start(handle, media, agent, agreed)
        for index in [index for index in media.endpoints if index not in agreed]:
            self._end_stream(handle, media, agent, index)  # a line answered port 0
        path.agent_answered(handle, agent)

    def _start(
        self,
        handle: CallHandle,
        media: RecordedMedia,
        agent: RecordedStreams,
        agreed: dict[int, NegotiatedAudio],
    ) -> None:
        """Each answered stream's media session, fed to the agent by the ticker."""
        path = self.path
        now = asyncio.get_running_loop().time()
        media.channels = [None] * max(2, len(agreed))  # a WAV channel per stream answered
        for negotiated in agreed.values():
            self._add_step(media, agent, negotiated, now)
        if handle.record is not False:
            channels = len(media.channels)
            recorder = path.recordings.recorder(handle.log, channels=channels)
            media.recorder = handle.recorder = recorder
        path.ticker.add(media)
        if path.config.rtp_timeout > 0:
            self._watch(handle, media, path.config.rtp_timeout)

    def _add_step(
        self, media: RecordedMedia, agent: RecordedStreams, negotiated: NegotiatedAudio, now: float
    ) -> None:
        """An answered stream's media session (jitter buffer, latching, SRTP when agreed)."""
        path, index = self.path, negotiated.media_index
        endpoint = media.endpoints[index]
        session = MediaSession(stream_params(negotiated), now, jitter=path.jitter,
                               liveness=path.liveness, confirmed=False)  # fmt: skip
        endpoint.session = session
        media.add(index, CallMedia(session, StreamFeed(agent, label_of(media.labels, index)),
                                   endpoint))  # fmt: skip

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

    def confirmed(self, handle: CallHandle) -> None:
        """The answer's ACK came: a session whose metadata names nobody asks its SRC for a
        snapshot (RFC 7866 §9.3)."""
        media = self.sessions.get(handle.call.key)
        if media is not None and not media.metadata.participants:
            self._ask_metadata(handle, "SRS needs the recording metadata")

    def _ask_metadata(self, handle: CallHandle, reason: str) -> None:
        """Ask the SRC for a metadata snapshot; the core bounds how often."""
        sip, call = handle.sip, handle.call

        def ask(now: float) -> None:
            try:
                sent = sip.ua.request_recording_metadata(call, reason, now)
            except InvalidState:
                return  # ending, or not confirmed yet
            if sent:
                handle.log.info("asking the SRC for a metadata snapshot: %s", reason)
            else:
                handle.log.warning("not asking the SRC for metadata again (%s)", reason)

        sip.act(ask)

    def snapshot_answered(self, handle: CallHandle, status: int) -> None:
        """The SRC's answer to our metadata snapshot request (for the log)."""
        if 200 <= status < 300:
            handle.log.info("the SRC took the metadata snapshot request (%d)", status)
        else:
            handle.log.warning("the SRC refused the metadata snapshot request (%d)", status)

    def streams_offered(
        self, handle: CallHandle, indexes: Sequence[int], labels: Sequence[str]
    ) -> None:
        """A re-INVITE or UPDATE adds streams (RFC 7866 §8.1): each gets a port and a
        speech-to-text session, then the offer is answered (those that cannot, port 0)."""
        media = self.sessions.get(handle.call.key)
        agent = handle.agent
        if media is None or not isinstance(agent, RecordedStreams) or not media.steps:
            self._answer_offer(handle, {})
            return
        for index, label in zip(indexes, labels, strict=True):
            media.labels[index] = label
        self.path.spawn(self._add_streams(handle, media, agent, list(indexes)))

    async def _add_streams(
        self, handle: CallHandle, media: RecordedMedia, agent: RecordedStreams, indexes: list[int]
    ) -> None:
        path = self.path
        bound: list[int] = []
        for index in indexes:
            endpoint = await path.open_rtp()
            if endpoint is None:
                handle.log.warning("no free RTP port for recorded stream %s: refused",
                                   label_of(media.labels, index))  # fmt: skip
                break
            if handle.ended or self.sessions.get(handle.call.key) is not media:
                path.close_rtp(endpoint)
                return
            media.endpoints[index] = endpoint
            bound.append(index)
        opened = set(await agent.add_streams(media.parties(bound))) if bound else set()
        if handle.ended or self.sessions.get(handle.call.key) is not media:
            return  # its release closes the ports
        ports = {}
        for index in bound:
            endpoint, label = media.endpoints.get(index), label_of(media.labels, index)
            if endpoint is not None and label in opened:
                ports[index] = endpoint.port
            elif endpoint is not None or label in opened:  # half ready, or refused meanwhile
                self._end_stream(handle, media, agent, index, transcribed=label in opened)
        if not self._answer_offer(handle, ports):
            for index in ports:  # their wait ran out: answered without them
                self._end_stream(handle, media, agent, index)

    def _answer_offer(self, handle: CallHandle, ports: dict[int, int]) -> bool:
        """Answer the offer of new streams with ``ports``; False when it was answered
        already (their wait ran out) or the call ended."""
        sip, call = handle.sip, handle.call
        answered: list[bool] = []

        def answer(now: float) -> None:
            try:
                sip.ua.answer_recording_offer(call, ports, now)
                answered.append(True)
            except InvalidState:
                pass

        sip.act(answer)
        return bool(answered)

    def streams_updated(
        self,
        handle: CallHandle,
        streams: Sequence[NegotiatedAudio],
        removed: Sequence[int] = (),
        refused: Sequence[int] = (),
    ) -> None:
        """A re-INVITE's or UPDATE's new offer, answered: each stream's session takes what it
        agrees now (a pause: ``a=inactive``, whose silence is no sign of a gone SRC; a
        resume; a new address, codec or SRTP key), a stream added starts, a stream removed
        ends (its last words kept), a stream refused gives its port back."""
        media = self.sessions.get(handle.call.key)
        agent = handle.agent
        if media is None or not isinstance(agent, RecordedStreams):
            return
        now = asyncio.get_running_loop().time()
        for stream in streams:
            index = stream.media_index
            step = media.steps.get(index)
            if step is not None:
                self.path.media_io.update(step.session, step.sink, stream_params(stream), now)
                handle.log.info("recorded stream %d: %s", index, stream.direction)
            elif index in media.endpoints:
                self._add_step(media, agent, stream, now)
                (party,) = media.parties([index])
                who = party.name or party.aor or "unknown"
                port = media.endpoints[index].port
                handle.log.info("recorded stream %s added on RTP port %d: %s",
                                party.label, port, who)  # fmt: skip
        for index in removed:
            handle.log.info("recorded stream %s removed", label_of(media.labels, index))
            self._end_stream(handle, media, agent, index)
        running = {label_of(media.labels, index) for index in media.steps}
        for index in refused:
            if len(media.steps) >= MAX_RECORDED_STREAMS:
                handle.log.warning("stream on line %d refused (port 0): %d streams recorded at "
                                   "most", index, MAX_RECORDED_STREAMS)  # fmt: skip
            else:
                handle.log.warning("stream on line %d refused (port 0)", index)
            if index not in media.steps:  # bound meanwhile: its port and session go
                transcribed = label_of(media.labels, index) not in running
                self._end_stream(handle, media, agent, index, transcribed=transcribed)

    def _end_stream(
        self,
        handle: CallHandle,
        media: RecordedMedia,
        agent: RecordedStreams,
        index: int,
        transcribed: bool = True,
    ) -> None:
        """A stream is over: its port goes back, its speech-to-text session ends
        (``transcribed``: it has one of its own)."""
        label = label_of(media.labels, index)
        step, endpoint = media.remove(index)
        if step is not None:
            self.path.counted.media_ended(step.session)
        if endpoint is not None:
            endpoint.session = None
            self.path.close_rtp(endpoint)
        if transcribed:
            self.path.spawn(agent.close_stream(label))

    def metadata_received(self, handle: CallHandle, data: bytes) -> None:
        """New metadata of a recording session (a re-INVITE's or UPDATE's): its speakers,
        from now on (a document that does not parse is logged, not applied, and a snapshot
        asked for)."""
        media = self.sessions.get(handle.call.key)
        agent = handle.agent
        if media is None or not isinstance(agent, RecordedStreams):
            return
        try:
            update = parse_metadata(data)
        except SipError as exc:
            handle.log.warning("recording metadata not applied: %s", exc)
            self._ask_metadata(handle, "the recording metadata could not be read")
            return
        media.metadata = media.metadata.updated(update)
        parties = media.parties()
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
        for step in media.steps.values():
            self.path.counted.media_ended(step.session)
        for endpoint in media.endpoints.values():
            endpoint.session = None
            self.path.close_rtp(endpoint)
        media.steps.clear()
        media.endpoints.clear()


def _lines(indexes: Sequence[int]) -> str:
    return ", ".join(str(index) for index in indexes)
