"""A conformance runner: the RFC 4475 messages one after another from one source.

Each message goes byte-exact to the gateway, and an OPTIONS probe follows it, about two
messages a second (as a conformance runner or a provider's health check does); what came
back for each is an :class:`Outcome`. An INVITE the gateway answers 2xx is ACKed and hung
up (BYE), so calls do not pile up.

Over UDP a response goes where the request's top Via says (RFC 3261 §18.2.2): the
``received`` address (our source) and the Via's port, 5060 unless it names another
(5050, 5061 for a TLS Via, 5070), so the runner listens on those ports of its own
loopback address: run it where they are free (a private network namespace, as
tests/interop does). Over TCP each message and each probe has its own connection from
that address (a message that leaves the framing waiting for more octets would eat the
next one's), and a message's connection is read until its final response, its closing,
or :data:`QUIET` seconds of silence.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sipgw.sip.framing import FramingFailed, MessageFramed, StreamConnection
from sipgw.sip.message import SipResponse, parse_message

__all__ = ["QUIET", "VIA_PORTS", "Outcome", "Reply", "SequenceRunner"]

QUIET = 1.0
"""Seconds without an octet after which a TCP message is taken as unanswered."""

PACE = 0.5
"""Seconds from one message to the next (two a second)."""

VIA_PORTS = (5060, 5050, 5061, 5070)
"""The ports the messages' top Vias name (5060 by default, 5061 for a TLS Via)."""

_CALL_ID = re.compile(rb"^(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$", re.I | re.M)
_CSEQ = re.compile(rb"^CSeq[ \t]*:[ \t]*[0-9]+[ \t]+([^\s]+)", re.I | re.M)


@dataclass(frozen=True)
class Reply:
    """A response as far as the runner needs it (the gateway echoes malformed headers
    of a malformed request, so it is not parsed whole)."""

    status: int
    call_id: str | None
    method: str | None
    data: bytes

    @classmethod
    def of(cls, data: bytes) -> Reply | None:
        """None when ``data`` is no response."""
        if not data.startswith(b"SIP/2.0 "):
            return None
        try:
            status = int(data.split(b" ", 2)[1])
        except ValueError:
            return None
        head = data.split(b"\r\n\r\n", 1)[0]
        cseq = _CSEQ.search(head)
        method = cseq.group(1).decode(errors="replace") if cseq else None
        return cls(status, call_id_of(head), method, data)

    def whole(self) -> SipResponse:
        """Parsed (a 2xx to a valid INVITE, to be ACKed)."""
        message = parse_message(self.data)
        assert isinstance(message, SipResponse)
        return message


@dataclass
class Outcome:
    """What came back for one message."""

    name: str
    statuses: list[int] = field(default_factory=list)
    """Status codes of the responses to it (a 2xx's BYE excluded), in arrival order."""
    probe: int | None = None
    """The status of the OPTIONS probe after it (None: no answer)."""
    closed: bool = False
    """Over TCP: the gateway closed the message's connection."""
    request: bool = True
    """The message is a request (not one of the responses of the set)."""

    @property
    def final(self) -> int | None:
        """Its first final status, if any."""
        return next((s for s in self.statuses if s >= 200), None)


def call_id_of(data: bytes) -> str | None:
    """The Call-ID of a message's octets (None without one)."""
    m = _CALL_ID.search(data.split(b"\r\n\r\n", 1)[0])
    return m.group(1).decode(errors="replace") if m else None


class SequenceRunner:
    """Sends messages from ``source`` (a loopback address) to the gateway at ``port``."""

    def __init__(self, source: str, gateway: tuple[str, int], directory: Path) -> None:
        self.source = source
        self.gateway = gateway
        self.directory = directory
        self._n = itertools.count(1)
        self._udp: dict[int, socket.socket] = {}
        self._inbox: asyncio.Queue[Reply] = asyncio.Queue()

    # -- the probe, and what an answered INVITE needs

    def probe(self, transport: str, port: int) -> tuple[str, bytes]:
        n = next(self._n)
        call_id = f"probe-{n}"
        data = (
            f"OPTIONS sip:probe@{self.gateway[0]} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {self.source}:{port};branch=z9hG4bKprobe{n}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:runner@{self.source}>;tag=r{n}\r\n"
            f"To: <sip:probe@{self.gateway[0]}>\r\nCall-ID: {call_id}\r\n"
            f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        return call_id, data

    def _in_dialog(self, method: str, ok: SipResponse, transport: str, port: int) -> bytes:
        n = next(self._n)
        cseq = ok.cseq.number if method == "ACK" else ok.cseq.number + 1
        contact = ok.headers.get("Contact") or f"<sip:{self.gateway[0]}:{self.gateway[1]}>"
        target = contact.split("<", 1)[-1].split(">", 1)[0]
        return (
            f"{method} {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {self.source}:{port};branch=z9hG4bKdlg{n}\r\n"
            f"Max-Forwards: 70\r\nFrom: {ok.headers.get('From')}\r\nTo: {ok.headers.get('To')}\r\n"
            f"Call-ID: {ok.call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    # -- UDP

    def open_udp(self) -> None:
        """Bind the runner's sockets on the Vias' ports of its address."""
        loop = asyncio.get_running_loop()
        for port in VIA_PORTS:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((self.source, port))
            sock.setblocking(False)
            self._udp[port] = sock
            loop.add_reader(sock.fileno(), self._read_udp, sock)

    def _read_udp(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError:
            return
        reply = Reply.of(data)
        if reply is not None:
            self._inbox.put_nowait(reply)

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._udp.values():
            loop.remove_reader(sock.fileno())
            sock.close()
        self._udp.clear()

    async def _udp_wait(
        self, outcome: Outcome, call_id: str | None, probe_id: str, until: float
    ) -> None:
        """Take responses until ``until`` (loop time) or the probe's answer and, for an
        INVITE answered 1xx, its final one."""
        loop = asyncio.get_running_loop()
        while (left := until - loop.time()) > 0:
            if outcome.probe is not None and (outcome.final or not outcome.statuses):
                return
            try:
                response = await asyncio.wait_for(self._inbox.get(), left)
            except TimeoutError:
                return
            got = response.call_id
            if got == probe_id:
                outcome.probe = response.status
            elif got == call_id and response.method not in ("ACK", "BYE"):
                if response.status in outcome.statuses and response.status >= 200:
                    continue  # a retransmission
                outcome.statuses.append(response.status)
                if response.method == "INVITE" and 200 <= response.status < 300:
                    ok = response.whole()
                    self._udp_send(self._in_dialog("ACK", ok, "UDP", 5060))
                    self._udp_send(self._in_dialog("BYE", ok, "UDP", 5060))

    def _udp_send(self, data: bytes) -> None:
        self._udp[5060].sendto(data, self.gateway)

    async def udp(self, name: str) -> Outcome:
        """Send one message over UDP, then the probe; what came back."""
        loop = asyncio.get_running_loop()
        data = self.load(name)
        outcome = Outcome(name, request=not data.startswith(b"SIP/2.0 "))
        call_id = call_id_of(data)
        start = loop.time()
        self._udp_send(data)
        await self._udp_wait(outcome, call_id, "", start + PACE / 2)
        probe_id, probe = self.probe("UDP", 5060)
        self._udp_send(probe)
        await self._udp_wait(outcome, call_id, probe_id, start + PACE / 2 + 3.0)
        return outcome

    # -- TCP

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(*self.gateway, local_addr=(self.source, 0))

    async def _tcp_read(
        self, reader: asyncio.StreamReader, framing: StreamConnection, wait: float
    ) -> Reply | None:
        """The next response (None: closed); TimeoutError after ``wait`` s of silence."""
        while True:
            event = framing.next_event()
            if isinstance(event, MessageFramed):
                reply = Reply.of(event.data)
                if reply is not None:
                    return reply
                continue
            if isinstance(event, FramingFailed):
                return None
            try:
                data = await asyncio.wait_for(reader.read(65536), wait)
            except ConnectionResetError:
                return None
            if not data:
                return None
            framing.receive_data(data)

    async def tcp(self, name: str) -> Outcome:
        """Send one message on a new connection, then the probe on another."""
        loop = asyncio.get_running_loop()
        data = self.load(name)
        outcome = Outcome(name, request=not data.startswith(b"SIP/2.0 "))
        call_id = call_id_of(data)
        start = loop.time()
        reader, writer = await self._connect()
        port = int(writer.get_extra_info("sockname")[1])
        framing = StreamConnection()
        writer.write(data)
        try:
            while True:
                response = await self._tcp_read(reader, framing, QUIET)
                if response is None:
                    outcome.closed = True
                    break
                if response.call_id != call_id or response.method in ("ACK", "BYE"):
                    if response.method == "BYE":
                        break  # the hang-up of an answered call: done
                    continue
                outcome.statuses.append(response.status)
                if response.method == "INVITE" and 200 <= response.status < 300:
                    ok = response.whole()
                    writer.write(self._in_dialog("ACK", ok, "TCP", port))
                    writer.write(self._in_dialog("BYE", ok, "TCP", port))
                elif response.status >= 200:
                    break
        except TimeoutError:
            pass
        writer.close()
        probe_id, probe = self.probe("TCP", 5060)
        reader, writer = await self._connect()
        writer.write(probe)
        try:
            response = await self._tcp_read(reader, StreamConnection(), 3.0)
            outcome.probe = None if response is None else response.status
        except TimeoutError:
            pass
        writer.close()
        await asyncio.sleep(max(0.0, start + PACE - loop.time()))
        return outcome

    # -- the whole set

    def load(self, name: str) -> bytes:
        return (self.directory / f"{name}.dat").read_bytes()

    async def run(
        self,
        transport: str,
        names: Iterable[str],
        *,
        before: Callable[[str], Awaitable[None]] | None = None,
        answered: Callable[[str], None] | None = None,
    ) -> dict[str, Outcome]:
        """Every message in order over ``transport`` ("UDP" or "TCP"). ``before(name)`` is
        awaited before a message is sent, ``answered(name)`` called once its outcome is in
        (what the probe after it got, or its silence): another runner's pass can follow this
        one message by message."""
        outcomes: dict[str, Outcome] = {}
        if transport == "UDP":
            self.open_udp()
        try:
            for name in names:
                if before is not None:
                    await before(name)
                started = time.monotonic()
                if transport == "UDP":
                    outcomes[name] = await self.udp(name)
                    if answered is not None:
                        answered(name)
                    await asyncio.sleep(max(0.0, started + PACE - time.monotonic()))
                else:
                    outcomes[name] = await self.tcp(name)
                    if answered is not None:
                        answered(name)
        finally:
            self.close()
        return outcomes
