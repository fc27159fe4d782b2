"""Load generator: N concurrent SIP calls with RTP both ways, measured where the caller is.

Run ``python -m bench.loadgen --target 127.0.0.1:5060 --calls 100 --json -``.

SIP goes over one UDP socket (INVITE with a PCMU offer, ACK, BYE, with
RFC 3261 retransmissions); each call has its own RTP socket, connected to the
answerer's RTP address once the 200 OK names it. One shared ticker with
absolute deadlines sends every call's packet each 20 ms from preallocated
buffers (only sequence number and timestamp are packed in). The audio is a tone, silence,
tone bursts (``--talk``), or a loop read from a raw μ-law file (``--audio-file``, e.g. noisy
speech from :mod:`bench.caller_audio`), each call from its own point of it: a 160-octet copy
into the packet a tick.

What comes back is measured per packet, in the socket's read callback:
kernel receive timestamps (``SO_TIMESTAMPNS``) give the arrival time, so the
inter-arrival figures describe the sender's pacing and not how late this
process got round to reading; sequence numbers give gaps, duplicates and
reordering, and loss is ``1 - received / expected`` with ``expected`` taken
from the first and last sequence number seen per call. Inter-arrival
deviations from 20 ms (consecutive sequence numbers only) go into one shared
10 µs histogram. The generator's own ticker lateness and CPU time are
reported too, so a struggling load generator is not blamed on the gateway.

Phases (reported as ``loadgen-event {json}`` lines on stderr, wall clock):
``ramp`` places the calls at ``--rate``; ``all_up`` once every first call has
an outcome; the measurement window lasts ``--duration`` seconds (``--hold``
without ``--churn``), with pacing and lateness counted only inside it; then
every call gets a BYE and the JSON report is printed. With ``--churn`` each
call lasts ``--hold`` × U(0.5, 1.5) seconds and is replaced by a new one.

It parses SIP with a parser of its own (:func:`parse_sip`: the first line, headers
as strings, the body), not with ``sipgw.sip.message``, on purpose: it is the load
generator, which places 50 calls/s and hangs up hundreds at 200 BYEs/s on the same
core as its 20 ms ticker, and this parser takes about 7 µs per 200 OK against 52 µs
for the core parser (which builds every header's object); and it must not depend
on the product it measures, since the same generator drives SIPp and pyVoIP in
``bench.capacity --compare``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import resource
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from bench._harness import hist_percentile, machine_info, summarize, write_json
from sipgw.app.evaluation.audio import tone_frame

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not export it
TIMESPEC = struct.Struct("@qq")
ANC_SPACE = socket.CMSG_SPACE(TIMESPEC.size)
SEQ_TS = struct.Struct("!HI")
FRAME_NS = 20_000_000
BUCKET_NS = 10_000  # histogram buckets of 10 µs ...
NBUCKETS = 10_000  # ... up to 100 ms; one more bucket holds everything beyond
T1 = 0.5  # RFC 3261 retransmission base (s)

INVITING, UP, BYEING, DONE, FAILED = range(5)


def _event(name: str, **fields: Any) -> None:
    fields = {"event": name, "t": time.time(), **fields}
    print("loadgen-event " + json.dumps(fields), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- SIP text


_COMPACT = {
    "i": "call-id", "v": "via", "f": "from", "t": "to", "m": "contact", "l": "content-length",
    "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding",
}  # fmt: skip
_TAG = re.compile(r";\s*tag=([^;>\s,]+)", re.IGNORECASE)


@dataclass(slots=True)
class SipMsg:
    """A parsed SIP message: enough for a UAC."""

    status: int  # 0 for requests
    method: str  # the request's method, or the CSeq method of a response
    first: str
    headers: dict[str, list[str]]
    body: bytes

    def h(self, name: str) -> str:
        """The first value of a header (lower-case full name), or ``""``."""
        values = self.headers.get(name)
        return values[0] if values else ""


def parse_sip(data: bytes) -> SipMsg | None:
    """Parse a datagram; None when it does not look like SIP."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = data.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    first = lines[0].strip()
    headers: dict[str, list[str]] = {}
    last = ""
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and last:
            headers[last][-1] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.strip().lower()
        key = _COMPACT.get(key, key)
        headers.setdefault(key, []).append(value.strip())
        last = key
    cseq = (headers.get("cseq") or [""])[0].split()
    if first.startswith("SIP/2.0 "):
        try:
            status = int(first.split()[1])
        except (IndexError, ValueError):
            return None
        return SipMsg(status, cseq[1] if len(cseq) > 1 else "", first, headers, body)
    parts = first.split()
    if len(parts) != 3 or parts[2] != "SIP/2.0":
        return None
    return SipMsg(0, parts[0], first, headers, body)


def _tag(value: str) -> str | None:
    found = _TAG.search(value)
    return found.group(1) if found else None


def _contact_uri(value: str) -> str | None:
    if "<" in value:
        return value[value.index("<") + 1 : value.index(">")] if ">" in value else None
    return value.split(";")[0].strip() or None


def _sdp_audio(body: bytes) -> tuple[str, int] | None:
    host, port = None, None
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("c=IN IP4 ") or line.startswith("c=IN IP6 "):
            host = line.split()[2].split("/")[0]
        elif line.startswith("m=audio "):
            port = int(line.split()[1])
    if host is None or port is None:
        return None
    return host, port


def _branch() -> str:
    return f"z9hG4bK{random.getrandbits(64):016x}"


# ---------------------------------------------------------------------- one call


class Call:
    """One call: SIP dialog state, the RTP socket, and per-packet receive counters."""

    __slots__ = (
        "audio", "branch", "bye", "call_id", "contact", "cycles", "deadline", "dev_max",
        "dups", "fd", "first_seq", "from_tag", "gap_pkts", "gaps", "hist", "invite",
        "last_t", "last_ts", "max_seq", "phase", "recvmsg", "remote", "timer",
        "reordered", "retrans", "rx", "rx_bad", "rx_errors", "send", "send_errors", "sent",
        "seq", "silence_buf", "slot", "sock", "state", "t_answer", "t_invite", "target",
        "to_tag", "tone_buf", "ts", "ts_jumps", "tx_buf", "use_kernel_ts", "generation",
        "outcome", "closed",
    )  # fmt: skip

    def __init__(self, slot: int, generation: int, sock: socket.socket, hist: list[int]) -> None:
        self.slot = slot
        self.generation = generation
        self.sock = sock
        self.fd = sock.fileno()
        self.recvmsg = sock.recvmsg
        self.send = sock.send
        self.hist = hist
        self.call_id = f"lg-{os.getpid()}-{slot}-{generation}-{random.getrandbits(32):08x}"
        self.from_tag = f"{random.getrandbits(48):012x}"
        self.to_tag: str | None = None
        self.branch = _branch()
        self.state = INVITING
        self.invite = b""
        self.bye = b""
        self.contact: str | None = None
        self.target = ""
        self.remote: tuple[str, int] | None = None
        self.t_invite = 0.0
        self.t_answer = 0.0
        self.retrans = 0
        self.timer: asyncio.TimerHandle | None = None  # the next retransmission
        self.deadline: asyncio.TimerHandle | None = None  # the transaction's timeout
        self.phase = 0
        self.outcome = ""  # how it ended: failed:REASON, bye:RESULT, remote-bye, unfinished
        self.closed = False
        # tx
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.sent = 0
        self.send_errors = 0
        self.tone_buf = bytearray()
        self.silence_buf = bytearray()
        self.tx_buf = bytearray()
        # rx
        self.use_kernel_ts = True
        self.rx = 0
        self.first_seq = 0
        self.max_seq = 0
        self.cycles = 0
        self.last_t = 0
        self.last_ts = 0
        self.dups = 0
        self.reordered = 0
        self.gaps = 0
        self.gap_pkts = 0
        self.ts_jumps = 0
        self.audio = 0
        self.rx_errors = 0
        self.rx_bad = 0
        self.dev_max = 0

    def prepare_packets(self, tone: bytes, silence: bytes, audio: str) -> None:
        """Build this call's two packet buffers (the header fields that never change)."""
        ssrc = random.getrandbits(32)
        header = struct.pack("!BBHII", 0x80, 0, 0, 0, ssrc)
        self.tone_buf = bytearray(header + tone)
        self.silence_buf = bytearray(header + silence)
        self.tx_buf = self.tone_buf if audio == "tone" else self.silence_buf

    def on_readable(self) -> None:
        """Read one packet (the loop calls again while more wait) and account for it."""
        try:
            data, anc, _flags, _addr = self.recvmsg(2048, ANC_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # e.g. ICMP port unreachable reported on a connected socket
            self.rx_errors += 1
            return
        if len(data) < 13:
            self.rx_bad += 1
            return
        if anc:
            sec, nsec = TIMESPEC.unpack(anc[0][2])
            now = sec * 1_000_000_000 + nsec
        else:
            now = time.time_ns()
        seq, ts = SEQ_TS.unpack_from(data, 2)
        if data[12] != 0xFF:
            self.audio += 1
        n = self.rx
        self.rx = n + 1
        if n == 0:
            self.first_seq = self.max_seq = seq
            self.last_t = now
            self.last_ts = ts
            return
        delta = (seq - self.max_seq) & 0xFFFF
        if delta == 1:
            dev = now - self.last_t - FRAME_NS
            if dev < 0:
                dev = -dev
            bucket = dev // BUCKET_NS
            self.hist[bucket if bucket < NBUCKETS else NBUCKETS] += 1
            if dev > self.dev_max:
                self.dev_max = dev
            if (ts - self.last_ts) & 0xFFFFFFFF != 160:
                self.ts_jumps += 1
        elif delta == 0:
            self.dups += 1
            return
        elif delta < 0x8000:
            self.gaps += 1
            self.gap_pkts += delta - 1
            if (ts - self.last_ts) & 0xFFFFFFFF != 160 * delta:
                self.ts_jumps += 1
        else:
            self.reordered += 1
            return
        if seq < self.max_seq:
            self.cycles += 1
        self.max_seq = seq
        self.last_t = now
        self.last_ts = ts

    def expected(self) -> int:
        """Packets the peer sent between the first and the last one we saw."""
        if self.rx == 0:
            return 0
        return self.cycles * 65536 + self.max_seq - self.first_seq + 1


@dataclass
class Totals:
    """Receive and send counters of calls that have ended, summed."""

    calls: int = 0
    calls_without_rtp: int = 0
    received: int = 0
    expected: int = 0
    duplicates: int = 0
    reordered: int = 0
    gaps: int = 0
    gap_packets: int = 0
    ts_jumps: int = 0
    audio_packets: int = 0
    rx_errors: int = 0
    rx_bad: int = 0
    sent: int = 0
    send_errors: int = 0

    def add(self, c: Call) -> None:
        """Fold one call in."""
        self.calls += 1
        self.calls_without_rtp += c.rx == 0
        self.received += c.rx
        self.expected += c.expected()
        self.duplicates += c.dups
        self.reordered += c.reordered
        self.gaps += c.gaps
        self.gap_packets += c.gap_pkts
        self.ts_jumps += c.ts_jumps
        self.audio_packets += c.audio
        self.rx_errors += c.rx_errors
        self.rx_bad += c.rx_bad
        self.sent += c.sent
        self.send_errors += c.send_errors


@dataclass
class Options:
    """Command-line options."""

    target: tuple[str, int]
    calls: int = 1
    rate: float = 50.0
    hold: float = 10.0
    duration: float | None = None
    churn: bool = False
    audio: str = "tone"
    talk: tuple[float, float] | None = None
    audio_file: str | None = None
    bind: str = "127.0.0.1"
    sip_port: int = 0
    user: str = "echo"
    setup_timeout: float = 8.0
    bye_rate: float = 200.0
    clock: str = "kernel"
    spin_us: float = 0.0
    seed: int | None = None
    cpu: int | None = None
    calls_log: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _SipProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass


class LoadGenerator:
    """Places, carries and measures the calls; see the module docstring."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.loop = asyncio.get_running_loop()
        self.hist = [0] * (NBUCKETS + 1)
        self.late_hist = [0] * (NBUCKETS + 1)
        self.late_max = 0
        self.early = 0
        self.ticks = 0
        self.ticks_skipped = 0
        self.calls: dict[str, Call] = {}
        self.media: dict[int, Call] = {}
        self._media_snapshot: tuple[Call, ...] = ()
        self.totals = Totals()
        self.setup_ms: list[float] = []
        self.setup_log: list[tuple[float, float, int]] = []  # (ms, s since start, concurrent)
        self.t0 = time.monotonic()
        self.wall_offset = time.time() - self.t0  # monotonic + this = wall clock
        self.calls_log: TextIO | None = None
        if opts.calls_log:  # closed at the end of run()
            self.calls_log = open(opts.calls_log, "w", encoding="utf-8")  # noqa: SIM115
        self.failures: dict[str, int] = {}
        self.attempted = 0
        self.answered = 0
        self.remote_byes = 0
        self.bye_failures: dict[str, int] = {}
        self.invite_retrans = 0
        self.max_concurrent = 0
        self.initial_outcomes = 0
        self.all_up = asyncio.Event()
        self.stopping = False
        self.stop_requested = asyncio.Event()
        self.window_folded_dev_max = 0
        self.measuring = False
        self.tone = tone_frame(1000.0, -15.0, phase=math.pi / 2)  # a cosine: byte 0 is loud
        self.silence = b"\xff" * 160
        self.transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = (opts.bind, 0)
        self.generations: dict[int, int] = {}
        self.talk_every = 0
        self.talk_on = 0
        self.loop_frames: list[bytes] = []
        if opts.audio_file is not None:
            self.loop_frames = read_loop(opts.audio_file)
        elif opts.talk is not None:
            self.talk_on = max(1, round(opts.talk[0] / 0.02))
            self.talk_every = max(self.talk_on + 1, round(opts.talk[1] / 0.02))

    # ------------------------------------------------------------------ SIP plumbing

    async def open(self) -> None:
        """Bind the SIP socket."""
        transport, _ = await self.loop.create_datagram_endpoint(
            lambda: _SipProtocol(self.on_sip), local_addr=(self.opts.bind, self.opts.sip_port)
        )
        self.transport = transport
        self.local = transport.get_extra_info("sockname")[:2]

    def sip_send(self, data: bytes) -> None:
        """Send to the target."""
        assert self.transport is not None
        self.transport.sendto(data, self.opts.target)

    def _request(
        self, c: Call, method: str, cseq: int, branch: str, uri: str, body: str = ""
    ) -> bytes:
        host, port = self.local
        to = f"<sip:{self.opts.user}@{self.opts.target[0]}:{self.opts.target[1]}>"
        if c.to_tag and method != "INVITE":
            to += f";tag={c.to_tag}"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {host}:{port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:loadgen@{host}:{port}>;tag={c.from_tag}",
            f"To: {to}",
            f"Call-ID: {c.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:loadgen@{host}:{port}>",
            "User-Agent: sipgw-bench-loadgen",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def _sdp(self, c: Call) -> str:
        host = self.opts.bind
        port = c.sock.getsockname()[1]
        return (
            f"v=0\r\no=loadgen {c.slot} 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
        )

    def _reply(self, msg: SipMsg, status: int, reason: str) -> None:
        to = msg.h("to")
        if _tag(to) is None:
            to += f";tag={random.getrandbits(32):08x}"
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {v}" for v in msg.headers.get("via", [])]
        lines += [
            f"From: {msg.h('from')}",
            f"To: {to}",
            f"Call-ID: {msg.h('call-id')}",
            f"CSeq: {msg.h('cseq')}",
            "Content-Length: 0",
        ]
        self.sip_send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def _start_transaction(
        self, c: Call, data: bytes, timeout: float, on_timeout: Callable[[Call, str], None]
    ) -> None:
        """Send a request; retransmit it (T1, doubling) until answered or timed out."""
        self._cancel(c)
        self.sip_send(data)
        c.timer = self.loop.call_later(T1, self._retransmit, c, data, T1)
        c.deadline = self.loop.call_later(timeout, on_timeout, c, "timeout")

    def _retransmit(self, c: Call, data: bytes, interval: float) -> None:
        self.sip_send(data)
        if data.startswith(b"INVITE"):
            self.invite_retrans += 1
            interval *= 2  # Timer A doubles without a cap
        else:
            interval = min(2 * interval, 4.0)  # Timer E caps at T2
        c.timer = self.loop.call_later(interval, self._retransmit, c, data, interval)

    @staticmethod
    def _cancel(c: Call, deadline: bool = True) -> None:
        if c.timer is not None:
            c.timer.cancel()
            c.timer = None
        if deadline and c.deadline is not None:
            c.deadline.cancel()
            c.deadline = None

    # ------------------------------------------------------------------ call lifecycle

    def place(self, slot: int) -> None:
        """Start a call in ``slot`` (a fresh RTP socket and an INVITE)."""
        if self.stopping:
            return
        generation = self.generations.get(slot, -1) + 1
        self.generations[slot] = generation
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((self.opts.bind, 0))
        if self.opts.clock == "kernel":
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        c = Call(slot, generation, sock, self.hist)
        c.prepare_packets(self.tone, self.silence, self.opts.audio)
        if self.loop_frames:  # each call from its own point of the loop
            c.phase = (slot * len(self.loop_frames)) // max(1, self.opts.calls)
        elif self.talk_every:
            # stagger the talk bursts evenly over the calls
            c.phase = (slot * self.talk_every) // max(1, self.opts.calls)
        target = self.opts.target
        c.target = f"sip:{self.opts.user}@{target[0]}:{target[1]}"
        c.invite = self._request(c, "INVITE", 1, c.branch, c.target, self._sdp(c))
        self.calls[c.call_id] = c
        self.attempted += 1
        c.t_invite = time.monotonic()
        self._start_transaction(c, c.invite, self.opts.setup_timeout, self._invite_failed)

    def _invite_failed(self, c: Call, reason: str) -> None:
        if c.state != INVITING:
            return
        self._cancel(c)
        c.state = FAILED
        c.outcome = f"failed:{reason}"
        self.failures[reason] = self.failures.get(reason, 0) + 1
        self._outcome(c)
        self._close(c)
        if self.opts.churn and not self.stopping:
            self.loop.call_later(1.0, self.place, c.slot)

    def _outcome(self, c: Call) -> None:
        if c.generation == 0:
            self.initial_outcomes += 1
            if self.initial_outcomes >= self.opts.calls:
                self.all_up.set()

    def _answered(self, c: Call, msg: SipMsg) -> None:
        now = time.monotonic()
        self._cancel(c)
        c.to_tag = _tag(msg.h("to"))
        c.contact = _contact_uri(msg.h("contact")) or c.target
        self._send_ack(c)
        audio = _sdp_audio(msg.body)
        if audio is None:
            c.state = FAILED
            c.outcome = "failed:no-sdp"
            self.failures["no-sdp"] = self.failures.get("no-sdp", 0) + 1
            self._outcome(c)
            self._bye(c)
            return
        c.remote = audio
        try:
            c.sock.connect(audio)
        except OSError:
            self.failures["bad-sdp"] = self.failures.get("bad-sdp", 0) + 1
            c.state = FAILED
            c.outcome = "failed:bad-sdp"
            self._outcome(c)
            self._bye(c)
            return
        c.state = UP
        c.t_answer = now
        self.answered += 1
        setup = (now - c.t_invite) * 1000
        self.setup_ms.append(setup)
        self.setup_log.append((round(setup, 2), round(c.t_invite - self.t0, 3), len(self.media)))
        self.loop.add_reader(c.fd, c.on_readable)
        self.media[id(c)] = c
        self._media_snapshot = tuple(self.media.values())
        self.max_concurrent = max(self.max_concurrent, len(self.media))
        self._outcome(c)
        if self.opts.churn:
            hold = self.opts.hold * random.uniform(0.5, 1.5)
            c.deadline = self.loop.call_later(hold, self.hangup, c)

    def _send_ack(self, c: Call) -> None:
        uri = c.contact or c.target
        self.sip_send(self._request(c, "ACK", 1, _branch(), uri))

    def hangup(self, c: Call) -> None:
        """Send BYE for an established call."""
        if c.state == UP:
            self._bye(c)

    def _bye(self, c: Call) -> None:
        c.state = BYEING
        self._stop_media(c)
        c.bye = self._request(c, "BYE", 2, _branch(), c.contact or c.target)
        self._start_transaction(c, c.bye, 8.0, self._bye_done)

    def _bye_done(self, c: Call, result: str) -> None:
        if c.state != BYEING:
            return
        self._cancel(c)
        if result != "200":
            self.bye_failures[result] = self.bye_failures.get(result, 0) + 1
        c.outcome = c.outcome or f"bye:{result}"
        self._finish(c)

    def _stop_media(self, c: Call) -> None:
        if self.media.pop(id(c), None) is not None:
            self._media_snapshot = tuple(self.media.values())

    def _finish(self, c: Call) -> None:
        was_up = c.t_answer > 0
        c.state = DONE
        self._stop_media(c)
        if was_up:
            self.totals.add(c)
            if self.measuring:
                self.window_folded_dev_max = max(self.window_folded_dev_max, c.dev_max)
        self._close(c)
        if self.opts.churn and not self.stopping:
            self.loop.call_soon(self.place, c.slot)

    def _close(self, c: Call) -> None:
        if not c.closed:
            c.closed = True
            self._log_call(c)
        self._cancel(c)
        self.loop.remove_reader(c.fd)
        c.sock.close()
        # keep the Call-ID a little for late retransmissions of final responses
        self.loop.call_later(5.0, self.calls.pop, c.call_id, None)

    def _log_call(self, c: Call) -> None:
        """One ``--calls-log`` line for a call that ended: its Call-ID and outcome, and when
        it was placed, answered and ended (wall clock)."""
        if self.calls_log is None:
            return
        wall = self.wall_offset
        line = {
            "call_id": c.call_id,
            "user": self.opts.user,
            "answered": c.t_answer > 0,
            "outcome": c.outcome or "unfinished",
            "invited_at": round(c.t_invite + wall, 3),
            "answered_at": round(c.t_answer + wall, 3) if c.t_answer else None,
            "ended_at": round(time.time(), 3),
        }
        self.calls_log.write(json.dumps(line) + "\n")

    # ------------------------------------------------------------------ incoming SIP

    def on_sip(self, data: bytes, addr: tuple[str, int]) -> None:
        """Handle one SIP datagram."""
        msg = parse_sip(data)
        if msg is None:
            return
        c = self.calls.get(msg.h("call-id"))
        if msg.status:
            if c is None:
                return
            if msg.method == "INVITE":
                if msg.status < 200:
                    if c.state == INVITING:
                        self._cancel(c, deadline=False)  # a provisional stops Timer A
                elif msg.status < 300:
                    if c.state == INVITING:
                        self._answered(c, msg)
                    elif c.to_tag is not None:
                        self._send_ack(c)  # a retransmitted 200: ACK it again
                    else:  # answered after we gave up: ACK and end it at once
                        c.to_tag = _tag(msg.h("to"))
                        c.contact = _contact_uri(msg.h("contact")) or c.target
                        self._send_ack(c)
                        self.sip_send(self._request(c, "BYE", 2, _branch(), c.contact))
                elif c.state == INVITING:
                    c.to_tag = _tag(msg.h("to"))
                    self.sip_send(self._request(c, "ACK", 1, c.branch, c.target))
                    self._invite_failed(c, str(msg.status))
            elif msg.method == "BYE" and msg.status >= 200:
                self._bye_done(c, "200" if msg.status < 300 else str(msg.status))
            return
        method = msg.method
        if method == "ACK":
            return
        if method == "BYE":
            if c is None or c.state not in (UP, BYEING):
                self._reply(msg, 481, "Call/Transaction Does Not Exist")
                return
            self._reply(msg, 200, "OK")
            if c.state == UP:
                self.remote_byes += 1
                c.outcome = "remote-bye"
                self._finish(c)
            return
        if method in ("OPTIONS", "INFO", "NOTIFY", "UPDATE", "REGISTER"):
            self._reply(msg, 200, "OK")
        else:
            self._reply(msg, 501, "Not Implemented")

    # ------------------------------------------------------------------ media ticker

    async def ticker(self) -> None:
        """Send one packet per established call every 20 ms (absolute deadlines)."""
        pack_into = SEQ_TS.pack_into
        monotonic_ns = time.monotonic_ns
        late_hist = self.late_hist
        every, on = self.talk_every, self.talk_on
        frames = self.loop_frames
        nframes = len(frames)
        spin = int(self.opts.spin_us * 1000)
        t0 = monotonic_ns()
        n = 0
        tick = 0
        while True:
            n += 1
            deadline = t0 + n * FRAME_NS
            delay = deadline - monotonic_ns() - spin
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            if spin:  # the loop's timers have 1 ms resolution: busy-wait the rest
                while monotonic_ns() < deadline:
                    pass
            now = monotonic_ns()
            late = now - deadline
            if late < 0:
                self.early += 1
                late_hist[0] += 1
            else:
                bucket = late // BUCKET_NS
                late_hist[bucket if bucket < NBUCKETS else NBUCKETS] += 1
                if late > self.late_max:
                    self.late_max = late
            self.ticks += 1
            calls = self._media_snapshot
            if late > 3 * FRAME_NS:  # a stall: skip what is lost, keep timestamps on wall time
                skip = late // FRAME_NS
                n += skip
                self.ticks_skipped += skip
                for c in calls:
                    c.ts += 160 * skip
            tick += 1
            if frames:
                for c in calls:
                    buf = c.tx_buf
                    buf[12:] = frames[(tick + c.phase) % nframes]
                    pack_into(buf, 2, c.seq & 0xFFFF, c.ts & 0xFFFFFFFF)
                    c.seq += 1
                    c.ts += 160
                    try:
                        c.send(buf)
                        c.sent += 1
                    except OSError:
                        c.send_errors += 1
            elif every:
                for c in calls:
                    buf = c.tone_buf if (tick + c.phase) % every < on else c.silence_buf
                    pack_into(buf, 2, c.seq & 0xFFFF, c.ts & 0xFFFFFFFF)
                    c.seq += 1
                    c.ts += 160
                    try:
                        c.send(buf)
                        c.sent += 1
                    except OSError:
                        c.send_errors += 1
            else:
                for c in calls:
                    buf = c.tx_buf
                    pack_into(buf, 2, c.seq & 0xFFFF, c.ts & 0xFFFFFFFF)
                    c.seq += 1
                    c.ts += 160
                    try:
                        c.send(buf)
                        c.sent += 1
                    except OSError:
                        c.send_errors += 1

    # ------------------------------------------------------------------ phases

    def snapshot(self) -> dict[str, Any]:
        """Counters at this instant (window figures are end minus start)."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        live = [c for c in self.calls.values() if c.state in (UP, BYEING)]
        return {
            "t": time.time(),
            "mono": time.monotonic(),
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "hist": list(self.hist),
            "late_hist": list(self.late_hist),
            "early": self.early,
            "late_max": self.late_max,
            "ticks": self.ticks,
            "ticks_skipped": self.ticks_skipped,
            "received": self.totals.received + sum(c.rx for c in live),
            "sent": self.totals.sent + sum(c.sent for c in live),
            "concurrent": len(self.media),
        }

    async def run(self) -> dict[str, Any]:
        """The whole run; returns the report."""
        opts = self.opts
        await self.open()
        _event("ready", sip=list(self.local))
        ticker = self.loop.create_task(self.ticker(), name="loadgen-ticker")
        t_start = time.time()
        _event("ramp", calls=opts.calls, rate=opts.rate)
        ramp = self.loop.create_task(self._ramp(), name="ramp")
        stop = self.loop.create_task(self.stop_requested.wait())
        up = self.loop.create_task(self.all_up.wait())
        await asyncio.wait([up, stop], return_when=asyncio.FIRST_COMPLETED)
        up.cancel()
        _event("all_up", up=len(self.media), failed=sum(self.failures.values()))
        window = opts.duration if opts.duration is not None else opts.hold
        start = self.snapshot()
        ramp_late_max = self.late_max
        self.late_max = 0
        for c in self.media.values():
            c.dev_max = 0
        self.window_folded_dev_max = 0
        self.measuring = True
        _event("measure_start", concurrent=start["concurrent"])
        if not self.stop_requested.is_set():
            await asyncio.wait([stop], timeout=window)
        end = self.snapshot()
        self.measuring = False
        dev_max = max(
            [self.window_folded_dev_max, *(c.dev_max for c in self.media.values())], default=0
        )
        _event("measure_end", concurrent=end["concurrent"])
        # teardown: no new calls; wait for INVITEs in flight, then BYE everything
        self.stopping = True
        ramp.cancel()
        deadline = time.monotonic() + opts.setup_timeout + 1
        while any(c.state == INVITING for c in self.calls.values()):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        established = [c for c in self.calls.values() if c.state == UP]
        gap = 1.0 / opts.bye_rate if opts.bye_rate > 0 else 0.0
        for c in established:
            self.hangup(c)
            if gap:
                await asyncio.sleep(gap)
        deadline = time.monotonic() + 10
        while any(c.state == BYEING for c in self.calls.values()):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        for c in list(self.calls.values()):
            if c.state in (UP, BYEING):
                self._finish(c)
            elif c.state == INVITING:  # no final answer by now: given up
                self._invite_failed(c, "teardown")
        ticker.cancel()
        stop.cancel()
        if self.calls_log is not None:
            self.calls_log.close()
        t_end = time.time()
        _event("done")
        start["ramp_late_max"] = ramp_late_max
        return self.report(t_start, start, end, dev_max, t_end)

    async def _ramp(self) -> None:
        t0 = time.monotonic()
        for i in range(self.opts.calls):
            delay = t0 + i / self.opts.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.place(i)

    def report(
        self,
        t_start: float,
        start: dict[str, Any],
        end: dict[str, Any],
        dev_max_ns: int,
        t_end: float,
    ) -> dict[str, Any]:
        """The JSON summary."""
        opts = self.opts
        tot = self.totals
        span = max(end["mono"] - start["mono"], 1e-9)
        hist = [b - a for a, b in zip(start["hist"], end["hist"], strict=True)]
        late = [b - a for a, b in zip(start["late_hist"], end["late_hist"], strict=True)]
        width_ms = BUCKET_NS / 1e6
        samples = sum(hist)
        received_unique = tot.received - tot.duplicates
        lost = max(0, tot.expected - received_unique)

        def pct(h: list[int], q: float, cap_ns: int | None = None) -> float | None:
            value = hist_percentile(h, width_ms, q)
            if value is None:
                return None
            if cap_ns is not None:  # a bucket's upper edge may overshoot the exact maximum
                value = min(value, cap_ns / 1e6)
            return round(value, 3)

        failed = sum(self.failures.values())
        return {
            "tool": "loadgen",
            "params": {
                "target": f"{opts.target[0]}:{opts.target[1]}",
                "calls": opts.calls,
                "rate": opts.rate,
                "hold": opts.hold,
                "duration": opts.duration,
                "churn": opts.churn,
                "audio": opts.audio,
                "talk": list(opts.talk) if opts.talk else None,
                "audio_file": opts.audio_file,
                "audio_file_s": len(self.loop_frames) * 0.02 if self.loop_frames else None,
                "user": opts.user,
                "setup_timeout": opts.setup_timeout,
                "clock": opts.clock,
                "spin_us": opts.spin_us,
                "cpu": opts.cpu,
                "argv": sys.argv[1:],
            },
            "machine": machine_info(),
            "times": {
                "start": t_start,
                "measure_start": start["t"],
                "measure_end": end["t"],
                "end": t_end,
            },
            "calls": {
                "attempted": self.attempted,
                "answered": self.answered,
                "failed": failed,
                "failed_by_reason": dict(self.failures),
                "remote_byes": self.remote_byes,
                "bye_failed": sum(self.bye_failures.values()),
                "bye_failed_by_reason": dict(self.bye_failures),
                "invite_retransmissions": self.invite_retrans,
                "concurrent_at_measure_start": start["concurrent"],
                "concurrent_at_measure_end": end["concurrent"],
                "max_concurrent": self.max_concurrent,
                "calls_without_rtp": tot.calls_without_rtp,
            },
            "setup_ms": summarize(self.setup_ms),
            "setup_slowest": [
                {"ms": ms, "at_s": at, "concurrent": n}
                for ms, at, n in sorted(self.setup_log, reverse=True)[:10]
            ],
            "rtp_rx": {
                "received": tot.received,
                "expected": tot.expected,
                "lost": lost,
                "loss": round(lost / tot.expected, 6) if tot.expected else None,
                "duplicates": tot.duplicates,
                "reordered": tot.reordered,
                "gaps": tot.gaps,
                "gap_packets": tot.gap_packets,
                "ts_jumps": tot.ts_jumps,
                "audio_packets": tot.audio_packets,
                "rx_errors": tot.rx_errors,
                "rx_bad": tot.rx_bad,
                "window_packets_per_s": round((end["received"] - start["received"]) / span, 1),
            },
            "pacing_ms": {
                "clock": "kernel receive timestamp" if opts.clock == "kernel" else "user",
                "samples": samples,
                "p50": pct(hist, 50, dev_max_ns),
                "p90": pct(hist, 90, dev_max_ns),
                "p99": pct(hist, 99, dev_max_ns),
                "p999": pct(hist, 99.9, dev_max_ns),
                "max": round(dev_max_ns / 1e6, 3) if samples else None,
                "over_100ms": hist[-1],
                "bucket_ms": width_ms,
                "share_within_ms": _shares(hist, (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)),
            },
            "rtp_tx": {
                "sent": tot.sent,
                "send_errors": tot.send_errors,
                "window_packets_per_s": round((end["sent"] - start["sent"]) / span, 1),
            },
            "loadgen": {
                "cpu_percent": round((end["cpu_s"] - start["cpu_s"]) / span * 100, 1),
                "ticks": end["ticks"] - start["ticks"],
                "ticks_skipped": end["ticks_skipped"] - start["ticks_skipped"],
                "tick_early": end["early"] - start["early"],
                "tick_late_p50_ms": pct(late, 50, end["late_max"]),
                "tick_late_p99_ms": pct(late, 99, end["late_max"]),
                "tick_late_max_ms": round(end["late_max"] / 1e6, 3),
                "ramp_tick_late_max_ms": round(start["ramp_late_max"] / 1e6, 3),
            },
            "window_s": round(span, 3),
        }


def read_loop(path: str) -> list[bytes]:
    """The 20 ms μ-law frames of a raw file (a partial last frame dropped).

    Raises:
        ValueError: shorter than one frame.
    """
    with open(path, "rb") as f:
        data = f.read()
    frames = [data[i : i + 160] for i in range(0, len(data) - 159, 160)]
    if not frames:
        raise ValueError(f"{path}: not one 20 ms frame of μ-law")
    return frames


def _shares(hist: list[int], limits: tuple[float, ...]) -> dict[str, float | None]:
    """Share of deviations below each limit (ms), from the 10 µs histogram."""
    total = sum(hist)
    out: dict[str, float | None] = {}
    for limit in limits:
        below = sum(hist[: int(round(limit * 1e6 / BUCKET_NS))])
        out[f"{limit:g}"] = round(below / total, 6) if total else None
    return out


# ---------------------------------------------------------------------- CLI


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (one socket per call)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return wanted
        except (ValueError, OSError):
            pass
    return soft


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port))


def _talk(text: str) -> tuple[float, float]:
    on, _, every = text.partition("/")
    return float(on), float(every)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n")[0])
    p.add_argument("--target", type=_hostport, required=True, help="HOST:PORT of the SIP peer")
    p.add_argument("--calls", type=int, default=1, help="concurrent calls (default 1)")
    p.add_argument("--rate", type=float, default=50.0, help="new calls per second (default 50)")
    p.add_argument(
        "--hold",
        type=float,
        default=10.0,
        help="seconds all calls are held once up; with --churn, the mean call length",
    )
    p.add_argument("--duration", type=float, help="measurement window (s); default --hold")
    p.add_argument("--churn", action="store_true", help="replace each call when its hold ends")
    p.add_argument("--audio", choices=("tone", "silence"), default="tone")
    p.add_argument(
        "--talk",
        type=_talk,
        metavar="ON/EVERY",
        help="send the tone in bursts of ON s every EVERY s (staggered over calls), "
        "silence between; e.g. 0.8/6",
    )
    p.add_argument(
        "--audio-file",
        metavar="PATH",
        help="send this raw 8 kHz μ-law audio instead (whole 20 ms frames, looped; each call "
        "from its own point of the loop; --audio and --talk are ignored)",
    )
    p.add_argument("--bind", default="127.0.0.1", help="local address (default 127.0.0.1)")
    p.add_argument("--sip-port", type=int, default=0, help="local SIP port (default: any)")
    p.add_argument("--user", default="echo", help="Request-URI user (default echo)")
    p.add_argument("--setup-timeout", type=float, default=8.0, help="s until an INVITE fails")
    p.add_argument("--bye-rate", type=float, default=200.0, help="BYEs per second at the end")
    p.add_argument(
        "--clock",
        choices=("kernel", "user"),
        default="kernel",
        help="arrival time: kernel receive timestamps (default) or time at read",
    )
    p.add_argument(
        "--spin-us",
        type=float,
        default=0.0,
        help="busy-wait the last N µs before each tick, for exact send times (costs CPU)",
    )
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument(
        "--calls-log",
        metavar="PATH",
        help="write one JSON line per call that ended: Call-ID, outcome, times (wall clock)",
    )
    p.add_argument("--cpu", type=int, help="pin this process to CPU C")
    p.add_argument("--json", default="-", help="report path; '-' = stdout (default)")
    return p


async def _main(opts: Options) -> dict[str, Any]:
    gen = LoadGenerator(opts)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, gen.stop_requested.set)
    return await gen.run()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.talk and args.audio == "silence":
        parser.error("--talk: the bursts are the tone; --audio silence sends none")
    if args.cpu is not None:
        try:
            os.sched_setaffinity(0, {args.cpu})
        except OSError as exc:
            print(f"loadgen: cannot pin to CPU {args.cpu}: {exc}", file=sys.stderr)
    if args.seed is not None:
        random.seed(args.seed)
    nofile = raise_nofile()
    if nofile < args.calls + 64:
        print(f"loadgen: RLIMIT_NOFILE {nofile} is too low for {args.calls} calls", file=sys.stderr)
        return 2
    opts = Options(
        target=args.target, calls=args.calls, rate=args.rate, hold=args.hold,
        duration=args.duration, churn=args.churn, talk=args.talk,
        audio="file" if args.audio_file else args.audio, audio_file=args.audio_file,
        bind=args.bind, sip_port=args.sip_port, user=args.user,
        setup_timeout=args.setup_timeout, bye_rate=args.bye_rate, clock=args.clock,
        spin_us=args.spin_us, seed=args.seed, cpu=args.cpu, calls_log=args.calls_log,
    )  # fmt: skip
    try:
        import uvloop
    except ImportError:
        print("loadgen: uvloop missing, using the default loop (slower)", file=sys.stderr)
        report = asyncio.run(_main(opts))
    else:
        report = uvloop.run(_main(opts))
    report["params"]["rlimit_nofile"] = nofile
    write_json(report, args.json, "loadgen")
    return 0


if __name__ == "__main__":
    sys.exit(main())
