"""SIPREC recording sessions on the gateway's side: the gateway as Session Recording Client.

A call's agent asks for one with :meth:`CallHandle.start_siprec
<sipgw.app.calls.callhandle.CallHandle.start_siprec>` (a TwiML ``<Start><Siprec>``:
:mod:`sipgw.agent.twiml.siprec`). :class:`SiprecClient` then:

1. binds two RTP ports from the gateway's range (one per stream; nothing is read from them),
2. places the recording session, a new INVITE to the Session Recording Server's URI
   (:attr:`~sipgw.sip.usages.outbound.OutboundCall.recording`: two labelled ``sendonly``
   streams and the RFC 7865 metadata naming the call's two parties,
   :mod:`sipgw.sip.siprec`), from the gateway's own address, with the ring timeout
   :data:`ANSWER_TIMEOUT`,
3. once the SRS answered, sends it each tick's two frames as RTP (:class:`SiprecFork`, one
   more taker of the call's frames beside its WAV recorder): the caller's to the stream
   labelled 1, what the call's agent sent (the agent's voice, or a bridged ``<Dial>``'s
   called party) to the stream labelled 2, each in the codec the SRS chose for it (G.711;
   silence frames when a side is quiet, so both stay in time), never DTMF,
4. ends it with a BYE at :meth:`CallHandle.stop_siprec
   <sipgw.app.calls.callhandle.CallHandle.stop_siprec>` or when the call ends; an SRS that
   hangs up ends it too. Its ports go back to the range.

The SIP core's events of a recording session come here (:meth:`SiprecClient.on_event`), not
to a call handle: it has no agent and no media session of its own.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol, cast

from sipgw.agent.base import Agent
from sipgw.agent.twiml.siprec import SiprecFailed
from sipgw.aio.endpoint import SipEndpoint
from sipgw.app.calls.recording import CallRecorder, formats_of
from sipgw.media.aio.callmedia import CallMedia, FrameRecorder
from sipgw.media.codecs import codec_named
from sipgw.media.codecs.base import ULAW_8K, AudioFormat, Codec
from sipgw.media.codecs.convert import ToWire
from sipgw.media.ports import PortAllocator
from sipgw.media.sender import RtpStreamSender
from sipgw.sip.addressing import Flow
from sipgw.sip.call import CallInfo, CallKey
from sipgw.sip.errors import SipError
from sipgw.sip.events import CallAnswered, CallEnded, SipEvent
from sipgw.sip.offeranswer import NegotiatedAudio
from sipgw.sip.siprec import LABELS, RecordingMetadata, RecordingOffer
from sipgw.sip.usages.outbound import OutboundCall

__all__ = [
    "ANSWER_TIMEOUT",
    "CallForks",
    "FrameTee",
    "RecordedCall",
    "SiprecClient",
    "SiprecFork",
    "SiprecRecordable",
    "TRACK_SIDES",
]

log = logging.getLogger("sipgw.siprec")

TRACK_SIDES: dict[str, tuple[int, ...]] = {
    "inbound_track": (0,), "outbound_track": (1,), "both_tracks": (0, 1),
}  # fmt: skip
"""Whose frames a ``track`` records (0 the caller's, 1 the agent's side), Twilio's names."""
ANSWER_TIMEOUT = 10.0
"""Seconds the SRS has to answer the recording session's INVITE (then CANCEL)."""
_BIND_ATTEMPTS = 8


class FrameTaker(Protocol):
    """Takes both sides' frames of each tick (the WAV recorder, a recording session)."""

    def tick(self, caller: bytes | None, agent: bytes | None) -> None: ...


class FrameTee:
    """Each tick's two frames to several takers, in order."""

    __slots__ = ("takers",)

    def __init__(self, takers: tuple[FrameTaker, ...]) -> None:
        self.takers = takers

    def tick(self, caller: bytes | None, agent: bytes | None) -> None:
        """The tick's frames to every taker."""
        for taker in self.takers:
            taker.tick(caller, agent)


@dataclass(eq=False)
class _Stream:
    """One stream to the SRS: its socket, where it goes, its RTP and codec."""

    transport: asyncio.DatagramTransport
    remote: tuple[str, int]
    sender: RtpStreamSender
    wire: ToWire


@dataclass(eq=False)
class SiprecFork:
    """One recording session (see the module docstring); takes the call's frames each tick
    (``tick``, as the call's recorder does).

    Attributes:
        name: what the agent calls it.
        uri: the SRS's URI.
        ports: our RTP port of each stream.
        transports: their sockets.
        sides: whose frames each stream carries: 0 the caller's, 1 the agent's.
        formats: the formats of the caller's and the agent's frames.
        call: the recording session's SIP call, once its INVITE went out.
        answered: done once the SRS answered (an exception: it did not).
        streams: each stream's target once answered (None: the SRS did not take it).
        ticks: ticks whose frames were sent.
    """

    name: str
    uri: str
    ports: list[int]
    transports: list[asyncio.DatagramTransport]
    sides: tuple[int, ...] = (0, 1)
    formats: tuple[AudioFormat, AudioFormat] = (ULAW_8K, ULAW_8K)
    call: CallInfo | None = None
    answered: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    streams: list[_Stream | None] = field(default_factory=list)
    ticks: int = 0
    on_over: Callable[[SiprecFork], None] | None = None
    """Told once the session is over (the call handle lets go of it)."""
    over: bool = False

    def tick(self, caller: bytes | None, agent: bytes | None) -> None:
        """Both sides' frames of one tick, each to its stream (silence for None)."""
        if not self.streams:
            return
        self.ticks += 1
        frames = (caller, agent)
        for side, stream in zip(self.sides, self.streams, strict=False):
            if stream is None:
                continue
            frame = frames[side]
            if frame is not None and len(frame) != self.formats[side].frame_bytes:
                if not self._reformat(side, len(frame)):  # a bridged <Dial>'s wideband
                    frame = None  # no 20 ms frame of any format: silence this tick
            wire = stream.wire
            payload = frame if frame is None or wire.passthrough else wire.convert(frame)
            for packet in stream.sender.push_frame(payload):
                stream.transport.sendto(packet, stream.remote)

    def use_formats(self, caller: AudioFormat, agent: AudioFormat) -> None:
        """The call's frames come in these formats from the next tick on."""
        self.formats = (caller, agent)
        for stream, side in zip(self.streams, self.sides, strict=False):
            if stream is not None:
                stream.wire = ToWire(stream.sender.codec, self.formats[side])

    def _reformat(self, side: int, size: int) -> bool:
        """A side's frames are ``size`` octets from now on: μ-law at 8 kHz (160), else
        16-bit linear audio at the rate that size is 20 ms of; False when no rate is."""
        try:
            audio = ULAW_8K if size == ULAW_8K.frame_bytes else AudioFormat("pcm_s16le", size * 25)
        except ValueError:
            return False
        formats = list(self.formats)
        formats[side] = audio
        self.use_formats(formats[0], formats[1])
        return True

    def take_answer(self, recorded: tuple[NegotiatedAudio | None, ...]) -> bool:
        """The SRS's answer: each stream it takes is sent to; False when it takes none."""
        streams: list[_Stream | None] = []
        for agreed, transport, side in zip(recorded, self.transports, self.sides, strict=False):
            codec = _codec(agreed)
            if agreed is None or codec is None:
                streams.append(None)
                continue
            sender = RtpStreamSender(payload_type=agreed.payload_type, codec=codec)
            remote = (agreed.remote_address, agreed.remote_port)
            wire = ToWire(codec, self.formats[side])
            streams.append(_Stream(transport, remote, sender, wire))
        self.streams = streams
        return any(stream is not None for stream in streams)

    def close(self, ports: PortAllocator) -> None:
        """The session is over: its sockets closed, its ports back to ``ports``."""
        if self.over:
            return
        self.over = True
        self.streams = []
        for transport in self.transports:
            transport.close()
        for port in self.ports:
            ports.release(port)
        if self.on_over is not None:
            self.on_over(self)


class RecordedCall(Protocol):
    """What a call's recording sessions need of it (the gateway's ``CallHandle``)."""

    @property
    def caller(self) -> str: ...

    @property
    def called(self) -> str: ...

    call: CallInfo
    agent: Agent | None
    ended: bool
    rtp_step: CallMedia | None
    recorder: CallRecorder | None


class CallForks:
    """One call's recording sessions (its ``SiprecCall`` side), and what takes its frames.

    Attributes:
        client: places them (the call path sets it); None: this call cannot be recorded.
        up: the sessions the SRS answered, by name.
        starting: the sessions being placed, by name.
    """

    def __init__(self) -> None:
        self.client: SiprecClient | None = None
        self.up: dict[str, SiprecFork] = {}
        self.starting: dict[str, asyncio.Future[SiprecFork]] = {}
        self._call: RecordedCall | None = None

    async def start(
        self, call: RecordedCall, uri: str, name: str, track: str = "both_tracks"
    ) -> None:
        """Record ``call`` to the SIPREC server at ``uri``, the session named ``name``: once
        it answered, each tick's frames go to it as well as to the call's recorder: the
        caller's (``inbound_track``), the agent's side (``outbound_track``) or both.

        Raises:
            SiprecFailed: it could not be placed, or the server refused or did not answer.
        """
        client = self.client
        if client is None or call.ended:
            raise SiprecFailed("this call cannot be recorded by SIPREC")
        if name in self.up or name in self.starting:
            raise SiprecFailed(f"a recording session named {name!r} runs already")
        self._call = call
        caller = (call.caller, call.call.caller.display_name or "")
        callee = (call.called, call.call.called.display_name or "")
        sides = TRACK_SIDES.get(track, (0, 1))
        starting = asyncio.ensure_future(client.start(name, uri, caller, callee, call.agent, sides))
        self.starting[name] = starting
        try:
            fork = await starting
        finally:
            self.starting.pop(name, None)
        if call.ended:
            client.stop(fork)
            raise SiprecFailed("the call ended")
        fork.on_over = self._over
        self.up[name] = fork
        self._tee()

    def stop(self, name: str) -> bool:
        """End the session ``name`` (a BYE; a CANCEL while it rings); False: none by that
        name."""
        fork = self.up.pop(name, None)
        if fork is None:
            starting = self.starting.pop(name, None)
            if starting is not None:
                starting.cancel()
            return starting is not None
        self._tee()
        if self.client is not None:
            self.client.stop(fork)
        return True

    def stop_all(self) -> None:
        """The call ends: so do its sessions."""
        for name in [*self.up, *self.starting]:
            self.stop(name)

    def taker(self, recorder: CallRecorder | None) -> FrameRecorder | None:
        """What takes each tick's two frames: ``recorder`` and the sessions up."""
        takers: tuple[FrameRecorder, ...] = tuple(self.up.values())
        if recorder is not None:
            takers = (recorder, *takers)
        if len(takers) <= 1:
            return takers[0] if takers else None
        return FrameTee(takers)

    def _over(self, fork: SiprecFork) -> None:
        if self.up.get(fork.name) is fork:
            del self.up[fork.name]
            self._tee()

    def _tee(self) -> None:
        call = self._call
        if call is not None and call.rtp_step is not None:
            call.rtp_step.recorder = self.taker(call.recorder)


class SiprecRecordable:
    """The ``SiprecCall`` methods of the gateway's calls (``CallHandle``'s base): its
    recording sessions are its :attr:`forks`."""

    __slots__ = ()
    forks: CallForks

    async def start_siprec(self, uri: str, name: str, track: str = "both_tracks") -> None:
        """Record the call to the SIPREC server at ``uri`` (:meth:`CallForks.start`).

        Raises:
            SiprecFailed: it could not be placed, or the server refused or did not answer.
        """
        await self.forks.start(cast("RecordedCall", self), uri, name, track)

    def stop_siprec(self, name: str) -> bool:
        """End the recording session ``name`` (:meth:`CallForks.stop`)."""
        return self.forks.stop(name)


class SiprecClient:
    """The gateway's recording sessions (see the module docstring).

    Args:
        sip: the SIP endpoint (``act``, ``ua``).
        ports: the RTP port range.
        bind: the address the RTP sockets bind.
        locate: where an INVITE may go (RFC 3263), as for placed calls; None: its URI's.
    """

    def __init__(
        self,
        sip: Callable[[], SipEndpoint],
        ports: PortAllocator,
        bind: str,
        locate: Callable[[OutboundCall], Awaitable[tuple[Flow, ...]]] | None = None,
    ) -> None:
        self._sip = sip
        self.ports = ports
        self.bind = bind
        self.locate = locate
        self.sessions: dict[CallKey, SiprecFork] = {}
        """The recording sessions up, by their SIP call's key."""
        self._rng = random.SystemRandom()

    async def start(
        self,
        name: str,
        uri: str,
        caller: tuple[str, str],
        callee: tuple[str, str],
        agent: Agent | None,
        sides: tuple[int, ...] = (0, 1),
    ) -> SiprecFork:
        """Place a recording session to ``uri`` for a call between ``caller`` and ``callee``
        (address of record, name), whose agent is ``agent``; returns once the SRS answered.

        Raises:
            SiprecFailed: no port was free, ``uri`` is no usable SIP URI, or the SRS refused
                or did not answer.
        """
        loop = asyncio.get_running_loop()
        ports: list[int] = []
        transports: list[asyncio.DatagramTransport] = []
        try:
            for _ in sides:
                port, transport = await self._bind(loop)
                ports.append(port)
                transports.append(transport)
        except SiprecFailed:
            for transport in transports:
                transport.close()
            for port in ports:
                self.ports.release(port)
            raise
        fork = SiprecFork(name, uri, ports, transports, sides, formats_of(agent))
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        recorded = (0 in sides, 1 in sides)
        metadata = RecordingMetadata.new(self._rng, started, _party(caller), _party(callee),
                                         recorded=recorded)  # fmt: skip
        labels = tuple(LABELS[side] for side in sides)
        spec = OutboundCall(
            target=uri, rtp_port=ports[0], ring_timeout=ANSWER_TIMEOUT,
            recording=RecordingOffer(tuple(ports), metadata.to_xml(), labels),
        )  # fmt: skip
        sip = self._sip()
        calls: list[CallInfo] = []
        try:
            if self.locate is not None:
                spec = replace(spec, targets=await self.locate(spec))
            sip.act(lambda now: calls.append(sip.ua.call(spec, now)))
        except (SipError, OSError, ValueError) as exc:
            fork.close(self.ports)
            raise SiprecFailed(f"cannot call {uri}: {exc}") from None
        fork.call = calls[0]
        self.sessions[fork.call.key] = fork
        log.info("recording session %s: calling %s (RTP ports %s)", name, uri,
                 ", ".join(map(str, ports)))  # fmt: skip
        try:
            await asyncio.shield(fork.answered)
        except asyncio.CancelledError:
            self.stop(fork)  # asked to stop while it rang: CANCEL
            raise
        return fork

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> tuple[int, asyncio.DatagramTransport]:
        for _ in range(_BIND_ATTEMPTS):
            port = self.ports.allocate()
            if port is None:
                break
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, local_addr=(self.bind, port)
                )
            except OSError:
                self.ports.quarantine(port)
                continue
            return port, transport
        raise SiprecFailed("no free RTP port")

    def stop(self, fork: SiprecFork) -> None:
        """End ``fork``: BYE once answered, CANCEL while its INVITE rings."""
        call = fork.call
        if call is None or fork.over:
            return
        sip = self._sip()
        try:
            sip.act(lambda now: sip.ua.hangup(call, now))
        except SipError as exc:
            log.warning("recording session %s: cannot hang up: %s", fork.name, exc)

    def on_event(self, event: SipEvent) -> bool:
        """A SIP event of one of the recording sessions (True), else False."""
        call = getattr(event, "call", None)
        fork = self.sessions.get(call.key) if isinstance(call, CallInfo) else None
        if fork is None:
            return False
        if isinstance(event, CallAnswered):
            if fork.take_answer(event.recorded):
                log.info("recording session %s: %s answered, %s", fork.name, fork.uri,
                         _describe(event.recorded))  # fmt: skip
                if not fork.answered.done():
                    fork.answered.set_result(None)
            else:
                log.warning("recording session %s: %s takes no stream", fork.name, fork.uri)
                if not fork.answered.done():
                    fork.answered.set_exception(SiprecFailed("the SRS takes no stream"))
                self.stop(fork)
        elif isinstance(event, CallEnded):
            del self.sessions[event.call.key]
            log.info("recording session %s ended: %s%s, %d ticks sent", fork.name,
                     event.reason.value, f" ({event.status})" if event.status else "",
                     fork.ticks)  # fmt: skip
            if not fork.answered.done():
                status = f" {event.status}" if event.status else ""
                fork.answered.set_exception(
                    SiprecFailed(f"the SRS did not answer:{status} {event.reason.value}")
                )
            fork.close(self.ports)
        return True


def _codec(agreed: NegotiatedAudio | None) -> Codec | None:
    """The codec of a stream the SRS took, when it is one we send one octet a sample (G.711,
    G.722); None otherwise."""
    if agreed is None:
        return None
    try:
        codec = codec_named(agreed.codec)
    except ValueError:
        return None
    return None if codec.opaque else codec


def _party(party: tuple[str, str]) -> tuple[str, str]:
    """A party's address of record as a URI (a bare number as ``tel:``), and its name."""
    aor, name = party
    return (aor if ":" in aor else f"tel:{aor}"), name


def _describe(recorded: tuple[NegotiatedAudio | None, ...]) -> str:
    return ", ".join(
        f"stream {n}: {s.codec} to {s.remote_address}:{s.remote_port}" if s else f"stream {n}: no"
        for n, s in enumerate(recorded, start=1)
    )
