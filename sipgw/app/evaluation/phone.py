"""One scripted SIP phone for tests and benchmarks: a UAC on one UDP socket, RTP on another.

Both sockets stamp every datagram with the kernel's receive time (``SO_TIMESTAMPNS``,
converted to the ``time.monotonic()`` clock), so a measurement does not include how late
the phone's own event loop got round to reading it. Every time here is on that clock,
which is also the default asyncio loop's ``loop.time()``.

SIP: :meth:`Phone.invite` (INVITE with a G.711 offer, then ACK), :meth:`Phone.bye`,
:meth:`Phone.answer_bye`, and :meth:`Phone.expect` for anything else. Every message
received is kept in :attr:`Phone.received`, in arrival order. A retransmitted 2xx to
the INVITE is ACKed again (RFC 3261 §13.2.2.4) and not handed to :meth:`Phone.expect`;
with ``answer_requests`` every request but ACK is answered 200 at once (a phone that
only cares about media).

RTP out: :meth:`Phone.start_audio` sends one packet every 20 ms (absolute deadlines)
until :meth:`Phone.stop_audio`: the frames :meth:`Phone.say` queued, else the idle frame
(silence, or what ``idle`` makes of the packet's index); :meth:`Phone.play` sends a given
list of frames and returns. Each packet's send time (right after ``sendto``) and tag are
kept in :attr:`Phone.sent_at` and :attr:`Phone.sent_tags`.

With an ``echo`` (:class:`LineEcho`), the phone returns part of what it hears, as a
speakerphone, a 2-wire hybrid or a loud handset does: each μ-law frame received is played to
it, and each frame sent goes through it (its microphone picks the echo up with the caller's
voice).

RTP in: every packet is kept as a :class:`Heard`; :meth:`Phone.first_heard`,
:meth:`Phone.tone_spans` and the ``wait_*`` methods answer when audio (or a tone) was
heard and when it stopped.
"""

from __future__ import annotations

import array
import asyncio
import bisect
import contextlib
import random
import socket
import struct
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar, Protocol, TypeVar

from sipgw.app.evaluation.audio import tone_share
from sipgw.foundation.stopping import cancel_and_wait
from sipgw.media import g711
from sipgw.media.rtp import RtpPacket, RtpParseError
from sipgw.sip.errors import MessageParseError
from sipgw.sip.message import (
    SipMessage,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)

__all__ = ["LOUD_DBFS", "Heard", "LineEcho", "Phone", "TimestampedSocket", "sdp_audio_port"]

FRAME_S = 0.020
LOUD_DBFS = -50.0
"""A received audio packet at or above this level is loud (speech, a tone); below, silence."""
AUDIO_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8, "G722": 9}
"""The codecs a phone may offer (G.722: its frames given by ``idle``; only G.711 is
judged loud or quiet)."""
SO_TIMESTAMPNS = int(getattr(socket, "SO_TIMESTAMPNS", 35))  # the Linux value
_CMSG_SPACE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("@qq")
_RTP_HEADER = struct.Struct("!BBHII")
_T = TypeVar("_T")


class TimestampedSocket:
    """A UDP socket on 127.0.0.1, read by the running loop, with the kernel's receive times.

    ``on_datagram(data, addr, kernel, user)``: ``kernel`` is the ``SO_TIMESTAMPNS`` stamp on
    the ``time.monotonic()`` clock (``user`` when the kernel gives none); ``user`` is when
    we read the datagram.
    """

    kernel_stamps_used: ClassVar[bool] = True
    """False: ``kernel`` is ``user`` (a test's loop on a virtual clock, which the kernel's
    real-time stamps are not on)."""

    def __init__(self, on_datagram: Callable[[bytes, Any, float, float], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_datagram = on_datagram
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.kernel_stamps = True
        except OSError:
            self.kernel_stamps = False
        self.port = int(self.sock.getsockname()[1])
        self._loop.add_reader(self.sock.fileno(), self._readable)
        self.closed = False

    def _readable(self) -> None:
        offset = time.time() - time.monotonic()
        while True:
            try:
                data, ancillary, _flags, addr = self.sock.recvmsg(4096, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error of an earlier send: not a datagram
                continue
            user = time.monotonic()
            kernel = user
            for level, kind, cdata in ancillary if self.kernel_stamps_used else ():
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    seconds, nanoseconds = _TIMESPEC.unpack_from(cdata)
                    kernel = min(user, seconds + nanoseconds / 1e9 - offset)
            self._on_datagram(data, addr, kernel, user)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> float:
        """Send; returns ``time.monotonic()`` right after the datagram left."""
        with contextlib.suppress(OSError):
            self.sock.sendto(data, addr)
        return time.monotonic()

    def close(self) -> None:
        """Stop reading and close the socket."""
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()


class LineEcho(Protocol):
    """A phone's path from its speaker to its microphone (``tests/toolkit/echo_paths.py``)."""

    def played(self, frame: bytes) -> None:
        """A μ-law frame the phone received, played to its speaker."""

    def returned(self, frame: bytes) -> bytes:
        """The μ-law frame the phone sends, with the echo of what it played mixed in."""


@dataclass(frozen=True, slots=True)
class Heard:
    """One RTP packet the phone received."""

    at: float
    """Kernel receive time."""
    read_at: float
    """When the phone read it."""
    packet: RtpPacket
    loud: bool
    """G.711 audio at or above :data:`LOUD_DBFS`."""

    @property
    def silent(self) -> bool:
        return not self.loud

    @property
    def audio(self) -> bool:
        """G.711 audio (not a telephone-event)."""
        return self.packet.payload_type in (0, 8)


def sdp_audio_port(message: SipMessage) -> int:
    """The port of the ``m=audio`` line of a message's SDP body."""
    for line in message.body.decode(errors="replace").splitlines():
        if line.startswith("m=audio"):
            return int(line.split()[1])
    raise ValueError("no m=audio line in the SDP")


class Phone:
    """A scripted SIP phone: a UAC and an RTP endpoint on 127.0.0.1 (see the module docstring).

    Create it inside a running event loop; :meth:`close` it when done.
    """

    def __init__(
        self,
        gateway: tuple[str, int],
        *,
        user: str = "echo",
        call_id: str | None = None,
        codec: str = "PCMU",
        answer_requests: bool = False,
        idle: Callable[[int], bytes] | None = None,
        ssrc: int = 0x5EED,
        sequence: int = 1000,
        timestamp: int = 5000,
        sdp_address: tuple[str, int] | None = None,
        direction: str = "sendrecv",
        echo: LineEcho | None = None,
    ) -> None:
        self.gateway = gateway
        self.echo = echo
        """What the phone returns of what it hears (None: nothing)."""
        self.sdp_address = sdp_address
        """What the SDP offer names for our RTP (``c=`` and port) instead of our own
        socket: someone else's address, as an attacker aiming the gateway's RTP writes."""
        self.direction = direction
        """The offer's direction attribute."""
        self.user = user
        self.call_id = call_id or f"phone-{random.getrandbits(32):08x}"
        self.codec = codec
        self.payload_type = AUDIO_PAYLOAD_TYPES[codec]
        self.answer_requests = answer_requests
        self.from_tag = f"{random.getrandbits(32):08x}"
        self.to_tag: str | None = None
        self.cseq = 1
        self.contact_host = "127.0.0.1"
        self.sip = TimestampedSocket(self._on_sip)
        self.rtp = self._rtp_socket()
        # SIP state
        self.received: list[SipMessage] = []
        self.received_at: list[float] = []
        self.invite_sent_at: float | None = None
        self.answered_at: float | None = None
        """Receive time of the final response to the INVITE."""
        self.acked = False
        self.bye_received = False
        self._ack = b""
        self._acked_cseq = 0
        self._pending: deque[SipMessage | _Unparsable] = deque()
        self.stray_datagrams = 0
        """Unparsable datagrams from elsewhere than the gateway's SIP address (dropped)."""
        self._sip_event = asyncio.Event()
        # RTP out
        self.remote_rtp: tuple[str, int] | None = None
        self.ssrc = ssrc
        self._sequence = sequence
        self._timestamp = timestamp
        self._idle = idle or (lambda index: g711.silence_frame(codec))
        self.sent_at: array.array[float] = array.array("d")
        self.sent_tags: array.array[int] = array.array("q")
        self._queue: deque[tuple[bytes, int]] = deque()
        self._unsent: Counter[int] = Counter()
        self._last_of_tag: dict[int, int] = {}
        self._sender: asyncio.Task[None] | None = None
        self._sent_event = asyncio.Event()
        # RTP in
        self.heard: list[Heard] = []
        self.rtp_garbage = 0
        self._heard_event = asyncio.Event()
        self._presence: dict[tuple[float, float], list[bool | None]] = {}

    @property
    def sip_port(self) -> int:
        return self.sip.port

    def _rtp_socket(self) -> TimestampedSocket:
        """The RTP socket, on a port whose RTCP port (RTP + 1, RFC 3550 §11) is not the SIP
        socket's: the gateway's RTCP would land among our SIP and fail :meth:`expect`."""
        rtp = TimestampedSocket(self._on_rtp)
        while rtp.port + 1 == self.sip.port:
            other = TimestampedSocket(self._on_rtp)  # before closing: never the same port
            rtp.close()
            rtp = other
        return rtp

    @property
    def rtp_port(self) -> int:
        return self.rtp.port

    # ------------------------------------------------------------------ SIP

    def request(
        self,
        method: str,
        body: str = "",
        cseq: int | None = None,
        branch: str = "",
        extra: Sequence[str] = (),
    ) -> bytes:
        """A request of this dialog (``Content-Type: application/sdp`` when it has a body;
        ``extra``: more header lines, e.g. ``X-Ticket-Id: 42``)."""
        port, (host, gw_port) = self.sip.port, self.gateway
        to = f"<sip:{self.user}@127.0.0.1>" + (f";tag={self.to_tag}" if self.to_tag else "")
        branch = branch or f"z9hG4bK{random.getrandbits(48):x}"
        lines = [
            f"{method} sip:{self.user}@{host}:{gw_port} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:caller@127.0.0.1:{port}>;tag={self.from_tag}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq or self.cseq} {method}",
            f"Contact: <sip:caller@{self.contact_host}:{port}>",
            *extra,
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def sdp(self, formats: str | None = None) -> str:
        """An SDP offer for the RTP socket (or :attr:`sdp_address`): ``formats`` default to
        our codec and DTMF (101)."""
        formats = formats or f"{self.payload_type} 101"
        rtpmaps = "".join(
            f"a=rtpmap:{pt} {name}/8000\r\n"
            for name, pt in AUDIO_PAYLOAD_TYPES.items()
            if str(pt) in formats.split()
        )
        host, port = self.sdp_address or ("127.0.0.1", self.rtp.port)
        return (
            f"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP {formats}\r\n{rtpmaps}"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
            f"a={self.direction}\r\n"
        )

    def send(self, data: bytes) -> float:
        """Send to the gateway's SIP socket; returns the send time."""
        return self.sip.sendto(data, self.gateway)

    def _on_sip(self, data: bytes, addr: Any, kernel: float, user: float) -> None:
        try:
            message = parse_message(data)
        except MessageParseError:
            if tuple(addr[:2]) != tuple(self.gateway):
                # Not from the gateway's SIP socket: on a shared loopback, another
                # process's RTCP (RTP + 1) can hit our port. Counted, not our peer's fault.
                self.stray_datagrams += 1
                return
            self._pending.append(_Unparsable(data, addr))
            self._sip_event.set()
            return
        self.received.append(message)
        self.received_at.append(kernel)
        if isinstance(message, SipRequest):
            if message.method == "BYE":
                self.bye_received = True
            if self.answer_requests and message.method != "ACK":
                self.sip.sendto(make_response(message, 200).serialize(), addr)
                return
        elif self._retransmitted_2xx(message):
            return
        self._pending.append(message)
        self._sip_event.set()

    def _retransmitted_2xx(self, response: SipResponse) -> bool:
        """A 2xx to the INVITE we already ACKed: ACK it again (RFC 3261 §13.2.2.4).

        A 2xx to a later re-INVITE has another CSeq number and is not one.
        """
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            return False
        if self.acked and response.cseq.number == self._acked_cseq:
            self.send(self._ack)
            return True
        return False

    async def expect(
        self, predicate: Callable[[SipMessage], bool], within: float = 5.0
    ) -> SipMessage:
        """The next message that satisfies ``predicate``; those before it are passed over.

        Raises:
            TimeoutError: none within ``within`` seconds.
            ValueError: the gateway sent something that does not parse as SIP.
        """
        deadline = time.monotonic() + within
        while True:
            while self._pending:
                message = self._pending.popleft()
                if isinstance(message, _Unparsable):
                    raise ValueError(
                        f"unparsable SIP from {message.source} to our SIP port {self.sip.port} "
                        f"(RTP {self.rtp.port}): {message.data[:200]!r}"
                    )
                if predicate(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the expected SIP message did not arrive")
            self._sip_event.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._sip_event.wait()

    async def invite(
        self, formats: str | None = None, within: float = 5.0, extra: Sequence[str] = ()
    ) -> SipResponse:
        """INVITE with :meth:`sdp` (and the ``extra`` header lines); ACK a 2xx. Returns the
        final response.

        Sets :attr:`invite_sent_at`, :attr:`answered_at` and, for a 2xx, :attr:`remote_rtp`.
        """
        branch = f"z9hG4bK{random.getrandbits(48):x}"
        invite = self.request("INVITE", self.sdp(formats), branch=branch, extra=extra)
        self.invite_sent_at = self.send(invite)
        final = await self.expect(
            lambda m: isinstance(m, SipResponse) and m.status >= 200 and m.cseq.method == "INVITE",
            within,
        )
        assert isinstance(final, SipResponse)
        self.answered_at = self.received_at[_last_index(self.received, final)]
        self.to_tag = final.to.tag
        if final.status >= 300:  # the INVITE transaction's own ACK (RFC 3261 §17.1.1.3)
            self.send(self.request("ACK", cseq=1, branch=branch))
            return final
        self._ack = self.request("ACK", cseq=1)
        self.send(self._ack)
        self.acked = True
        self._acked_cseq = final.cseq.number
        self.remote_rtp = (self.gateway[0], sdp_audio_port(final))
        return final

    async def answer_bye(self, within: float = 5.0) -> SipRequest:
        """Wait for the gateway's BYE and answer it 200."""
        bye = await self.expect(lambda m: isinstance(m, SipRequest) and m.method == "BYE", within)
        assert isinstance(bye, SipRequest)
        self.send(make_response(bye, 200).serialize())
        return bye

    async def bye(self, within: float = 5.0) -> SipResponse:
        """Hang up: BYE, and the final response to it."""
        self.cseq += 1
        self.send(self.request("BYE"))
        final = await self.expect(
            lambda m: isinstance(m, SipResponse) and m.status >= 200 and m.cseq.method == "BYE",
            within,
        )
        assert isinstance(final, SipResponse)
        return final

    async def hang_up(self, within: float = 5.0) -> None:
        """BYE unless the call never came up or the gateway hung up; no answer is no error."""
        if self.acked and not self.bye_received:
            with contextlib.suppress(TimeoutError):
                await self.bye(within)

    # ------------------------------------------------------------------ RTP out

    def start_audio(self, remote: tuple[str, int] | None = None) -> Phone:
        """Send a packet every 20 ms to ``remote`` (default: the SDP answer's address)."""
        if remote is not None:
            self.remote_rtp = remote
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        return self

    async def stop_audio(self) -> None:
        """Stop the 20 ms sender."""
        await cancel_and_wait(self._sender)
        self._sender = None

    def say(self, frames: Sequence[bytes], tag: int = -1) -> float:
        """Queue ``frames`` (tagged ``tag``); returns when the last will have been sent."""
        self._queue.extend((frame, tag) for frame in frames)
        self._unsent[tag] += len(frames)
        return time.monotonic() + FRAME_S * len(self._queue)

    async def play(self, frames: Sequence[bytes], payload_type: int | None = None) -> None:
        """Send exactly ``frames``, one every 20 ms (absolute deadlines), then return."""
        start = time.monotonic()
        for n, frame in enumerate(frames):
            self._send(frame, -1, payload_type)
            await asyncio.sleep(max(0.0, start + (n + 1) * FRAME_S - time.monotonic()))

    async def wait_said(self, tag: int, within: float) -> int:
        """Wait until every frame tagged ``tag`` was sent; returns the last one's index."""
        await self._until(
            lambda: True if self._unsent[tag] <= 0 else None,
            within,
            self._sent_event,
            "speech was not sent",
        )
        return self._last_of_tag[tag]

    def _send(self, frame: bytes, tag: int, payload_type: int | None = None) -> None:
        remote = self.remote_rtp or ("127.0.0.1", 9)
        n = len(self.sent_at)
        echo = self.echo
        if echo is not None and payload_type in (None, 0) and self.payload_type == 0:
            frame = echo.returned(frame)
        header = _RTP_HEADER.pack(
            0x80,
            (0x80 if n == 0 else 0) | (self.payload_type if payload_type is None else payload_type),
            (self._sequence + n) & 0xFFFF,
            (self._timestamp + 160 * n) & 0xFFFFFFFF,
            self.ssrc,
        )
        self.sent_at.append(self.rtp.sendto(header + frame, remote))
        self.sent_tags.append(tag)
        self._sent_event.set()

    async def _send_loop(self) -> None:
        start = time.monotonic()
        n = 0
        while True:
            if self._queue:
                frame, tag = self._queue.popleft()
                self._unsent[tag] -= 1
                self._last_of_tag[tag] = len(self.sent_at)
            else:
                frame, tag = self._idle(len(self.sent_at)), -1
            self._send(frame, tag)
            n += 1
            delay = start + n * FRAME_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    # ------------------------------------------------------------------ RTP in

    def _on_rtp(self, data: bytes, addr: Any, kernel: float, user: float) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            self.rtp_garbage += 1
            return
        pt = packet.payload_type
        loud = pt in (0, 8) and g711.rms_dbfs(packet.payload, "PCMA" if pt else "PCMU") >= LOUD_DBFS
        if self.echo is not None and pt == 0:
            self.echo.played(packet.payload)
        self.heard.append(Heard(kernel, user, packet, loud))
        self._heard_event.set()

    def packets(self) -> list[RtpPacket]:
        """Every RTP packet received so far."""
        return [h.packet for h in self.heard]

    def first_heard(self, after: float, loud: bool = True) -> int | None:
        """Index of the first audio packet received after ``after`` that is (not) loud."""
        for i in range(
            bisect.bisect_right(self.heard, after, key=attrgetter("at")), len(self.heard)
        ):
            item = self.heard[i]
            if item.audio and item.loud == loud:
                return i
        return None

    async def wait_heard(self, after: float, loud: bool = True, within: float = 5.0) -> int:
        """Wait for :meth:`first_heard`."""
        return await self._until(
            lambda: self.first_heard(after, loud),
            within,
            self._heard_event,
            "expected audio did not arrive",
        )

    def _present(self, hz: float | None, threshold: float) -> list[bool | None]:
        """Per received packet: loud (with ``hz``: carrying it); None for non-audio packets.

        With ``hz`` each packet is analysed once, the first time it is asked about.
        """
        if hz is None:
            return [h.loud if h.audio else None for h in self.heard]
        done = self._presence.setdefault((hz, threshold), [])
        for item in self.heard[len(done) :]:
            present = item.loud and tone_share(item.packet.payload, hz) > threshold
            done.append(present if item.audio else None)
        return done

    def tone_spans(self, hz: float | None, threshold: float = 0.5) -> list[tuple[float, float]]:
        """``(first, last)`` receive times of each run of audio packets carrying ``hz``
        (None: loud audio); packets that are not audio neither end nor extend a run."""
        return [(first, last) for first, last, _ in self.tone_runs(hz, threshold)]

    def tone_runs(
        self, hz: float | None, threshold: float = 0.5
    ) -> list[tuple[float, float, float]]:
        """Each run of :meth:`tone_spans` with the seconds of audio its packets hold: what
        was heard, where the receive times can crowd a run together (a sender catching up
        after a stall sends a few frames back to back)."""
        runs: list[tuple[float, float, float]] = []
        start: float | None = None
        last = 0.0
        audio = 0.0
        for item, present in zip(self.heard, self._present(hz, threshold), strict=False):
            if present is None:
                continue
            if present and start is None:
                start, audio = item.at, 0.0
            elif not present and start is not None:
                runs.append((start, last, audio))
                start = None
            if present:
                audio += len(item.packet.payload) / 8000  # G.711: a byte a sample
            last = item.at
        if start is not None:
            runs.append((start, last, audio))
        return runs

    def heard_tone(self, hz: float, min_seconds: float = 0.1) -> bool:
        """Whether ``hz`` was heard for ``min_seconds`` in all (of its packets' audio)."""
        return sum(audio for _, _, audio in self.tone_runs(hz)) >= min_seconds

    async def wait_for_tone(
        self, hz: float, within: float = 5.0, min_seconds: float = 0.1
    ) -> float:
        """When ``hz`` began its first run of at least ``min_seconds`` of audio."""

        def started() -> float | None:
            return next((s for s, _, audio in self.tone_runs(hz) if audio >= min_seconds), None)

        return await self._until(started, within, self._heard_event, f"no {hz} Hz tone heard")

    async def wait_until_quiet(
        self, quiet: float, hz: float | None = None, within: float = 10.0
    ) -> None:
        """Wait until nothing loud (with ``hz``: that tone) was heard for ``quiet`` seconds."""

        def is_quiet() -> bool | None:
            present = self._present(hz, 0.5)
            last = next((i for i in range(len(present) - 1, -1, -1) if present[i]), None)
            if last is None or self.heard[last].at <= time.monotonic() - quiet:
                return True
            return None

        await self._until(is_quiet, within, self._heard_event, "the audio did not stop")

    async def _until(
        self, condition: Callable[[], _T | None], within: float, event: asyncio.Event, what: str
    ) -> _T:
        """Re-check ``condition`` on ``event`` (at least every 20 ms) until it gives a value."""
        deadline = time.monotonic() + within
        while True:
            result = condition()
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(what)
            event.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, FRAME_S)):
                    await event.wait()

    # ------------------------------------------------------------------ teardown

    def close(self) -> None:
        """Stop sending and close both sockets."""
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None
        self.sip.close()
        self.rtp.close()


@dataclass(frozen=True, slots=True)
class _Unparsable:
    data: bytes
    source: Any


def _last_index(items: Sequence[object], item: object) -> int:
    return next(i for i in range(len(items) - 1, -1, -1) if items[i] is item)
