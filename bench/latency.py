"""The latency the gateway adds to an AI phone call, measured at the caller's side of the wire.

Run from the repository root::

    .venv/bin/python -m bench.latency               # one configuration (defaults)
    .venv/bin/python -m bench.latency --matrix      # the knobs side by side

Set-up
------
* **The AI services** are the fakes of ``tests/fakes`` in threads of this process
  (so their ``time.monotonic()`` stamps share our clock) with fixed, known delays:
  the STT ends a turn after ``--min-turn-silence`` of silence and sends its final
  transcript ``--stt-final-latency`` later; the LLM answers every turn with ONE
  sentence in its first content chunk after ``--llm-first-token-ms`` (so the first
  token is the first sentence); the TTS sends the first audio byte of each sentence
  ``--tts-first-byte-ms`` after the request. Every reply speaks a tone of its own
  (the fake TTS's ``tone`` function keyed on the reply number), and the caller's
  transcripts carry a turn number, so each reply is identified on the wire.
* **The gateway** runs as a subprocess (``python -m sipgw serve --agent assistant``,
  pinned to ``--gateway-cpu``) pointed at the fakes.
* **The caller** is a scripted SIP UAC and RTP endpoint on this process's uvloop
  (pinned to ``--bench-cpu``). It sends RTP every 20 ms (absolute deadlines):
  a 300 Hz tone at -15 dBFS while "speaking", otherwise near-silent *marker*
  frames (-59 dBFS, below every VAD) that encode the call and packet number, so
  the audio can be found again in the chunks the fake STT receives. Every packet
  sent is stamped right after ``sendto``; every datagram received carries the
  kernel's receive time (``SO_TIMESTAMPNS``, converted to the monotonic clock),
  so the caller's own scheduling does not count.

A conversation call: greeting, then ``--turns`` turns. Each turn's reply is one
long sentence; after 0.5-0.9 s of it the caller talks over it for 0.75-0.95 s
(longer than ``SIPGW_BARGE_IN_COMMIT_MS``), which is a barge-in sample and the
next turn. Extra short calls (``--greeting-calls``) only wait for the greeting.

Figures (ms; p50/p95/p99/max and counts)
-----------------------------------------
* ``reply_path_ms``: fake TTS writes a reply's first audio byte -> the caller receives
  its first RTP packet.
* ``end_of_turn_overhead_ms``: caller's last speech packet -> first packet of the reply,
  minus the injected delays (min_turn_silence + STT final latency + LLM first token
  + TTS first byte). ``end_of_turn_gateway_ms`` is the part spent in the gateway
  alone (the fakes' actual delays, which overshoot their nominal ones by a little,
  taken out); the breakdown table splits it hop by hop.
* ``barge_in_ms``: caller's first speech packet sent while the agent speaks -> first
  silent packet received after it.
* ``greeting_overhead_ms``: 200 OK received -> first greeting packet received, minus
  the TTS first-byte delay.
* ``ingress_incl_fill_ms`` / ``ingress_excl_fill_ms``: a caller packet -> its audio
  arriving at the fake STT; all marker frames, or only the frames that completed a
  chunk (no wait for the chunk to fill).

Beside them, the gateway's own per-call records (``turn_metrics``, ``barge_in``,
``greeting_metrics``: its event-loop view, after the jitter buffer) are summarized.
``--matrix`` runs the same calls against ``ASSEMBLYAI_CHUNK_MS`` 100/50,
``--jitter-min-ms`` 40/20 and ``SIPGW_BARGE_IN_START_MS`` 60/40 (one at a time, and
all three together). Output: tables on stdout, JSON (``--json``, default
``bench/results/latency-<UTC>.json``) with machine info and parameters.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import bisect
import contextlib
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench._harness import (
    Gateway,
    GatewayOptions,
    fmt,
    format_table,
    log,
    machine_info,
    percentile,
    pin_self,
    write_json,
)
from media import g711
from sipgw.message import SipRequest, SipResponse, make_response, parse_message
from sipgw.testing.fakes.assemblyai import FakeAssemblyAI, FakeSession
from sipgw.testing.fakes.elevenlabs import FakeElevenLabs, Utterance, synth_tone, tone_duration_ms
from sipgw.testing.fakes.openai import FakeOpenAI, FakeResponse, RecordedRequest
from sipgw.testing.fakes.services import KEYS

__all__ = ["BenchConfig", "BenchParams", "build_parser", "main"]

FRAME_S = 0.020
FRAME_BYTES = 160
SO_TIMESTAMPNS = int(getattr(socket, "SO_TIMESTAMPNS", 35))  # the Linux value
_CMSG_SPACE = socket.CMSG_SPACE(16)
SPEECH_HZ = 300.0
SPEECH_DBFS = -15.0
LOUD_DBFS = -50.0
"""A received packet at or above this level is agent audio; below it, silence."""
GREETING = "Hi there."
GREETING_HZ = 500.0
REPLY_TONES = (700.0, 900.0, 1100.0, 1300.0, 1500.0, 1700.0, 1900.0, 2100.0)
ALL_TONES = (GREETING_HZ, *REPLY_TONES)
MARKER_MAGIC = bytes([0xF5, 0xFA, 0xF5, 0xFA])
_TURN_RE = re.compile(r"Turn (\d+) please")
_REPLY_RE = re.compile(r"Reply (\d+) ")

TARGETS: tuple[tuple[str, str, float], ...] = (
    ("reply_path_ms", "p50", 2.0),
    ("reply_path_ms", "p99", 20.0),
    ("end_of_turn_overhead_ms", "p50", 25.0),
    ("barge_in_ms", "p95", 100.0),
    ("greeting_overhead_ms", "p95", 20.0),
)
"""(figure, statistic, limit in ms) the lead asked for."""

FIGURES = (
    "reply_path_ms",
    "end_of_turn_raw_ms",
    "end_of_turn_overhead_ms",
    "end_of_turn_gateway_ms",
    "barge_in_ms",
    "greeting_raw_ms",
    "greeting_overhead_ms",
    "greeting_path_ms",
    "ingress_incl_fill_ms",
    "ingress_excl_fill_ms",
)
BREAKDOWN = (
    "caller_silence_ms",
    "gw_caller_to_stt_ms",
    "gw_chunk_fill_ms",
    "fake_stt_final_ms",
    "gw_stt_final_to_llm_request_ms",
    "fake_llm_first_token_ms",
    "gw_llm_token_to_tts_request_ms",
    "fake_tts_first_byte_ms",
    "gw_tts_byte_to_caller_ms",
    "fakes_excess_ms",
    "closure_error_ms",
)
GATEWAY_VIEW = (
    "stt_end_of_turn_ms",
    "llm_first_token_ms",
    "tts_first_byte_ms",
    "first_rtp_after_tts_ms",
    "first_rtp_after_turn_ms",
    "end_of_speech_to_first_rtp_ms",
    "barge_in_reaction_ms",
    "greeting_first_rtp_after_answer_ms",
    "greeting_tts_first_byte_ms",
    "wire_minus_gateway_end_of_turn_ms",
    "wire_minus_gateway_barge_in_ms",
)


STATS_KEYS = ("calls", "tick_late_p99_ms", "tick_late_max_ms", "jb_lost", "jb_late", "early_sends")
"""The fields of the gateway's stats lines kept in the JSON."""


def transcript_for(tid: int) -> str:
    """What the fake STT says the caller said in turn ``tid``."""
    return f"Turn {tid} please."


def reply_for(tid: int) -> str:
    """The LLM's reply to turn ``tid``: one sentence, always the same length."""
    return f"Reply {tid:06d} is a longer sentence for the caller to talk over."


def reply_tone(tid: int) -> float:
    """The tone the fake TTS speaks reply ``tid`` in."""
    return REPLY_TONES[tid % len(REPLY_TONES)]


def tone_for_text(text: str) -> float | None:
    """The fake TTS's ``tone`` function: a reply's tone from its number, the greeting's."""
    match = _REPLY_RE.search(text)
    if match:
        return reply_tone(int(match.group(1)))
    if GREETING.rstrip(".") in text:
        return GREETING_HZ
    return None


# --------------------------------------------------------------------------- audio


def _speech_frame() -> bytes:
    """One 20 ms frame of the caller's voice: 300 Hz is 6 whole cycles, so frames repeat."""
    amplitude = 32768 * 10 ** (SPEECH_DBFS / 20) * math.sqrt(2)
    step = 2 * math.pi * SPEECH_HZ / 8000
    pcm = struct.pack("<160h", *(round(amplitude * math.sin(step * n)) for n in range(160)))
    return g711.linear_to_ulaw(pcm)


SPEECH_FRAME = _speech_frame()


def marker_frame(tag: int, index: int) -> bytes:
    """A near-silent μ-law frame (-59 dBFS) that names call ``tag``'s packet ``index``."""
    value = (tag & 0xFFFF) << 24 | (index & 0xFFFFFF)
    head = MARKER_MAGIC + bytes(0xF0 | (value >> (4 * i)) & 0xF for i in range(10))
    return head + head + b"\xff" * (FRAME_BYTES - 2 * len(head))


def read_marker(frame: bytes) -> tuple[int, int] | None:
    """``(tag, index)`` of a marker frame, or None."""
    if len(frame) != FRAME_BYTES or frame[:4] != MARKER_MAGIC or frame[14:28] != frame[:14]:
        return None
    value = sum((frame[4 + i] & 0xF) << (4 * i) for i in range(10))
    return value >> 24, value & 0xFFFFFF


def dominant_tone(payload: bytes, candidates: Sequence[float]) -> float | None:
    """The candidate frequency that carries most of the frame's energy (Goertzel), if any."""
    pcm = array.array("h", g711.ulaw_to_linear(payload))
    n = len(pcm)
    energy = sum(x * x for x in pcm) * n / 2
    if not energy:
        return None
    best, best_power = None, 0.0
    for hz in candidates:
        coefficient = 2 * math.cos(2 * math.pi * hz / 8000)
        s1 = s2 = 0.0
        for sample in pcm:
            s1, s2 = sample + coefficient * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coefficient * s1 * s2
        if power > best_power:
            best, best_power = hz, power
    return best if best_power / energy > 0.5 else None


# --------------------------------------------------------------------------- sockets


class TimestampedSocket:
    """A UDP socket on 127.0.0.1 whose datagrams come with the kernel's receive time.

    ``on_datagram(data, addr, kernel, user)``: ``kernel`` is the ``SO_TIMESTAMPNS``
    stamp converted to ``time.monotonic()``; ``user`` is when we read it.
    """

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
            for level, kind, cdata in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    seconds, nanoseconds = struct.unpack_from("@qq", cdata)
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


class SipCaller:
    """A minimal SIP UAC on its own timestamped socket: INVITE/ACK, BYE, 200 to requests."""

    def __init__(self, gateway: tuple[str, int], call_id: str) -> None:
        self.gateway = gateway
        self.call_id = call_id
        self.sock = TimestampedSocket(self._on_datagram)
        self.from_tag = f"{random.getrandbits(32):08x}"
        self.to_tag: str | None = None
        self.cseq = 1
        self.acked = False
        self.bye_received = False
        self._finals: deque[tuple[SipResponse, float]] = deque()
        self._wake = asyncio.Event()

    def request(self, method: str, body: str = "", cseq: int | None = None) -> bytes:
        """A request of this dialog."""
        port, (host, gw_port) = self.sock.port, self.gateway
        to = "<sip:bench@127.0.0.1>" + (f";tag={self.to_tag}" if self.to_tag else "")
        lines = [
            f"{method} sip:bench@{host}:{gw_port} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{random.getrandbits(48):x};rport",
            "Max-Forwards: 70",
            f"From: <sip:caller@127.0.0.1:{port}>;tag={self.from_tag}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq or self.cseq} {method}",
            f"Contact: <sip:caller@127.0.0.1:{port}>",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def _on_datagram(self, data: bytes, addr: Any, kernel: float, user: float) -> None:
        try:
            message = parse_message(data)
        except Exception:  # noqa: BLE001 - anything unparsable is simply not for us
            return
        if isinstance(message, SipRequest):
            if message.method == "BYE":
                self.bye_received = True
            if message.method != "ACK":
                self.sock.sendto(make_response(message, 200).serialize(), addr)
            return
        if message.status < 200:
            return
        if message.cseq.method == "INVITE" and message.status == 200 and self.acked:
            self.sock.sendto(self.request("ACK", cseq=1), self.gateway)  # a retransmitted 200
            return
        self._finals.append((message, kernel))
        self._wake.set()

    async def _final(self, method: str, within: float) -> tuple[SipResponse, float]:
        deadline = time.monotonic() + within
        while True:
            for item in list(self._finals):
                if item[0].cseq.method == method:
                    self._finals.remove(item)
                    return item
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no final response to {method}")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    async def invite(self, rtp_port: int) -> tuple[SipResponse, float, float]:
        """INVITE (and ACK a 200); returns the response, its receive time and the send time."""
        sdp = (
            "v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
            "a=sendrecv\r\n"
        )
        sent_at = self.sock.sendto(self.request("INVITE", sdp), self.gateway)
        response, received_at = await self._final("INVITE", within=15.0)
        if response.status == 200:
            self.to_tag = response.to.tag
            self.sock.sendto(self.request("ACK", cseq=1), self.gateway)
            self.acked = True
        return response, received_at, sent_at

    async def bye(self) -> None:
        """Hang up (unless the gateway already did); waits up to 5 s for the 200."""
        if self.bye_received or not self.acked:
            return
        self.cseq += 1
        self.sock.sendto(self.request("BYE"), self.gateway)
        with contextlib.suppress(TimeoutError):
            await self._final("BYE", within=5.0)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def sdp_audio_port(response: SipResponse) -> int:
    """The port of the ``m=audio`` line of a response's SDP."""
    for line in response.body.decode(errors="replace").splitlines():
        if line.startswith("m=audio"):
            return int(line.split()[1])
    raise ValueError("no m=audio line in the SDP answer")


class Phone:
    """The caller's RTP: a packet every 20 ms out, a timestamped log of what comes in."""

    def __init__(self, tag: int, rng: random.Random) -> None:
        self.tag = tag
        self.sock = TimestampedSocket(self._on_datagram)
        self.port = self.sock.port
        self.sent_times: array.array[float] = array.array("d")
        self.sent_tags: array.array[int] = array.array("q")
        self.rx_kernel: array.array[float] = array.array("d")
        self.rx_user: array.array[float] = array.array("d")
        self.rx_loud = bytearray()
        self.rx_payloads: list[bytes] = []
        self._queue: deque[tuple[bytes, int]] = deque()
        self._pending: Counter[int] = Counter()
        self._last_index: dict[int, int] = {}
        self._rx_event = asyncio.Event()
        self._tx_event = asyncio.Event()
        self._seq = rng.randrange(65536)
        self._ts = rng.randrange(2**32)
        self._ssrc = rng.randrange(1, 2**32)
        self._task: asyncio.Task[None] | None = None
        self._remote: tuple[str, int] = ("127.0.0.1", 9)

    def start(self, remote: tuple[str, int]) -> None:
        """Start sending to ``remote``."""
        self._remote = remote
        self._task = asyncio.get_running_loop().create_task(self._send_loop())

    async def stop_sending(self) -> None:
        """Stop the 20 ms sender."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def say(self, seconds: float, tag: int) -> None:
        """Queue ``seconds`` of speech, its packets tagged ``tag`` (a turn id)."""
        frames = max(1, round(seconds / FRAME_S))
        self._queue.extend((SPEECH_FRAME, tag) for _ in range(frames))
        self._pending[tag] += frames

    async def _send_loop(self) -> None:
        start = time.monotonic()
        n = 0
        while True:
            if self._queue:
                frame, tag = self._queue.popleft()
                self._pending[tag] -= 1
                self._last_index[tag] = n
            else:
                frame, tag = marker_frame(self.tag, n), -1
            header = struct.pack(
                "!BBHII",
                0x80,
                0x80 if n == 0 else 0,
                (self._seq + n) & 0xFFFF,
                (self._ts + 160 * n) & 0xFFFFFFFF,
                self._ssrc,
            )
            self.sent_times.append(self.sock.sendto(header + frame, self._remote))
            self.sent_tags.append(tag)
            n += 1
            self._tx_event.set()
            delay = start + n * FRAME_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def _on_datagram(self, data: bytes, addr: Any, kernel: float, user: float) -> None:
        if len(data) < 12 or data[0] >> 6 != 2 or data[1] & 0x7F != 0:
            return  # not PCMU audio (DTMF, RTCP, junk)
        header = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10 and len(data) >= header + 4:
            header += 4 + 4 * struct.unpack_from("!H", data, header + 2)[0]
        payload = data[header:]
        self.rx_kernel.append(kernel)
        self.rx_user.append(user)
        self.rx_loud.append(1 if g711.rms_dbfs(payload) >= LOUD_DBFS else 0)
        self.rx_payloads.append(payload)
        self._rx_event.set()

    def first_rx(self, after: float, loud: bool, limit: int | None = None) -> int | None:
        """Index of the first received packet after ``after`` (kernel time) that is (not) loud."""
        start = bisect.bisect_right(self.rx_kernel, after)
        end = len(self.rx_kernel) if limit is None else min(len(self.rx_kernel), start + limit)
        for i in range(start, end):
            if bool(self.rx_loud[i]) == loud:
                return i
        return None

    async def wait_rx(self, after: float, loud: bool, within: float) -> int:
        """Wait (up to ``within`` seconds) for :meth:`first_rx`."""
        deadline = time.monotonic() + within
        while True:
            found = self.first_rx(after, loud)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("expected audio did not arrive")
            self._rx_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rx_event.wait(), remaining)

    async def wait_said(self, tag: int, within: float) -> int:
        """Wait until every packet tagged ``tag`` is sent; returns the last one's index."""
        deadline = time.monotonic() + within
        while self._pending[tag] > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("speech was not sent")
            self._tx_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tx_event.wait(), remaining)
        return self._last_index[tag]

    async def wait_quiet(self, quiet: float, within: float) -> None:
        """Wait until no agent audio has arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            loud = [i for i in range(max(0, len(self.rx_loud) - 100), len(self.rx_loud))
                    if self.rx_loud[i]]  # fmt: skip
            if not loud or self.rx_kernel[loud[-1]] < time.monotonic() - quiet:
                return
            await asyncio.sleep(FRAME_S)
        raise TimeoutError("the agent did not stop talking")

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


# --------------------------------------------------------------------------- the fakes


@dataclass(frozen=True)
class BenchParams:
    """What every configuration shares: the load and the fakes' delays."""

    calls: int = 13
    turns: int = 5
    greeting_calls: int = 40
    warmup_calls: int = 1
    min_turn_silence_ms: int = 100
    stt_final_latency_ms: float = 50.0
    llm_first_token_ms: float = 100.0
    tts_first_byte_ms: float = 75.0
    llm_next_token_ms: float = 0.0
    tts_speed: float = 8.0
    ms_per_char: int = 40
    first_speech_s: tuple[float, float] = (0.4, 0.7)
    barge_after_s: tuple[float, float] = (0.5, 0.9)
    barge_speech_s: tuple[float, float] = (0.75, 0.95)
    seed: int = 1

    @property
    def nominal_delays_ms(self) -> float:
        """The delays the fakes inject on the way from end of speech to the reply."""
        return (
            self.min_turn_silence_ms
            + self.stt_final_latency_ms
            + self.llm_first_token_ms
            + self.tts_first_byte_ms
        )


@dataclass(frozen=True)
class BenchConfig:
    """One gateway configuration (the knobs under comparison)."""

    name: str
    chunk_ms: int = 100
    jitter_min_ms: int = 40
    barge_in_start_ms: int = 60


MATRIX = (
    BenchConfig("base"),
    BenchConfig("stt-chunk-50", chunk_ms=50),
    BenchConfig("jitter-min-20", jitter_min_ms=20),
    BenchConfig("barge-in-40", barge_in_start_ms=40),
    BenchConfig("all-three", chunk_ms=50, jitter_min_ms=20, barge_in_start_ms=40),
)


class BenchFakes:
    """The three fakes, each in a thread of its own, with the benchmark's behaviour."""

    def __init__(self, params: BenchParams) -> None:
        self.params = params
        for hz in REPLY_TONES:  # synthesize up front: the fake TTS must not spend time on it
            synth_tone(hz, tone_duration_ms(reply_for(1), params.ms_per_char))
        synth_tone(GREETING_HZ, tone_duration_ms(GREETING, params.ms_per_char))
        self.stt = FakeAssemblyAI(
            api_key=KEYS["ASSEMBLYAI_API_KEY"],
            min_turn_silence_ms=params.min_turn_silence_ms,
            final_latency=params.stt_final_latency_ms / 1000,
            default_transcript=transcript_for(0),
            keep_audio=True,
        ).start_in_thread()
        self.llm = FakeOpenAI(api_key=KEYS["OPENAI_API_KEY"])
        self.llm.responder = self._respond
        self.llm.start_in_thread()
        self.tts = FakeElevenLabs(
            api_key=KEYS["ELEVENLABS_API_KEY"],
            first_byte_latency=params.tts_first_byte_ms / 1000,
            speed=params.tts_speed if params.tts_speed > 0 else None,
            ms_per_char=params.ms_per_char,
            tone=tone_for_text,
        )
        self.tts.start_in_thread()

    def _respond(self, body: dict[str, Any]) -> FakeResponse:
        tid = _turn_of_request(body)
        text = reply_for(tid) if tid is not None else "Sorry, could you say that again?"
        first = self.params.llm_first_token_ms / 1000
        gap = self.params.llm_next_token_ms / 1000
        if gap <= 0:
            return FakeResponse(text_deltas=[text], first_chunk_delay=first)
        # The sentence still arrives ``first`` after the request, the next token ``gap`` later.
        return FakeResponse(
            text_deltas=[text, " Anything", " else?"],
            first_chunk_delay=max(0.0, first - gap),
            chunk_delay=gap,
        )

    def env(self) -> dict[str, str]:
        """The gateway's settings that point at the fakes."""
        return {
            **KEYS,
            "ASSEMBLYAI_STREAMING_URL": self.stt.url,
            "OPENAI_BASE_URL": self.llm.base_url,
            "ELEVENLABS_BASE_URL": self.tts.base_url,
            "ASSEMBLYAI_MIN_TURN_SILENCE": str(self.params.min_turn_silence_ms),
        }

    def stop(self) -> None:
        """Stop the three threads."""
        self.stt.stop()
        self.llm.stop()
        self.tts.stop()


def _turn_of_request(body: dict[str, Any]) -> int | None:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            match = _TURN_RE.search(str(message.get("content") or ""))
            return int(match.group(1)) if match else None
    return None


# --------------------------------------------------------------------------- calls


@dataclass
class CallTrace:
    """Everything one call left on the wire (the phone keeps the packet logs)."""

    kind: str
    tag: int
    call_id: str
    phone: Phone
    invite_at: float = 0.0
    ok_at: float | None = None
    tids: list[int] = field(default_factory=list)
    error: str | None = None


class CallRunner:
    """Places the calls of one configuration, one after another."""

    def __init__(
        self,
        gateway: tuple[str, int],
        fakes: BenchFakes,
        params: BenchParams,
        rng: random.Random,
        tags: Iterable[int],
        tids: Iterable[int],
    ) -> None:
        self.gateway = gateway
        self.fakes = fakes
        self.params = params
        self.rng = rng
        self._tags = iter(tags)
        self._tids = iter(tids)

    async def call(self, kind: str, turns: int) -> CallTrace:
        """One call: greeting, then ``turns`` turns (0: hang up after the greeting starts)."""
        tag = next(self._tags)
        phone = Phone(tag, self.rng)
        caller = SipCaller(self.gateway, f"latbench-{os.getpid()}-{tag}")
        trace = CallTrace(kind, tag, caller.call_id, phone)
        try:
            ok, trace.ok_at, trace.invite_at = await caller.invite(phone.port)
            if ok.status != 200:
                trace.error = f"INVITE answered {ok.status}"
                return trace
            phone.start(("127.0.0.1", sdp_audio_port(ok)))
            await phone.wait_rx(trace.ok_at, loud=True, within=5.0)
            if turns:
                await phone.wait_quiet(0.2, within=10.0)
                await self._converse(trace, turns)
            else:
                await asyncio.sleep(0.05)
        except (TimeoutError, ValueError) as exc:
            trace.error = f"{type(exc).__name__}: {exc}"
        finally:
            await phone.stop_sending()
            await caller.bye()
            caller.close()
            phone.close()
        return trace

    async def _converse(self, trace: CallTrace, turns: int) -> None:
        phone, rng, params = trace.phone, self.rng, self.params
        trace.tids = [next(self._tids) for _ in range(turns)]
        self.fakes.stt.default_transcript = transcript_for(trace.tids[0])
        phone.say(rng.uniform(*params.first_speech_s), trace.tids[0])
        for k, tid in enumerate(trace.tids):
            last = await phone.wait_said(tid, within=5.0)
            first_reply = await phone.wait_rx(phone.sent_times[last], loud=True, within=10.0)
            if k + 1 == len(trace.tids):
                await asyncio.sleep(0.6)  # the reply finishes: its turn_metrics get written
                return
            barge_at = phone.rx_user[first_reply] + rng.uniform(*params.barge_after_s)
            await asyncio.sleep(max(0.0, barge_at - time.monotonic()))
            self.fakes.stt.default_transcript = transcript_for(trace.tids[k + 1])
            phone.say(rng.uniform(*params.barge_speech_s), trace.tids[k + 1])


# --------------------------------------------------------------------------- analysis


class SttStream:
    """The audio one fake STT session received, mapped back to the caller's packets."""

    def __init__(self, session: FakeSession) -> None:
        data = b"".join(session.chunks)
        self.chunk_ends = list(itertools.accumulate(len(c) for c in session.chunks))
        self.arrivals = list(session.chunk_arrived_at)
        self.frames = [
            read_marker(data[o : o + FRAME_BYTES])
            for o in range(0, len(data) - FRAME_BYTES + 1, FRAME_BYTES)
        ]
        tags = Counter(m[0] for m in self.frames if m is not None)
        self.tag = tags.most_common(1)[0][0] if tags else None
        self.frame_of_packet = {
            m[1]: number for number, m in enumerate(self.frames) if m and m[0] == self.tag
        }
        self.finals: dict[str, float] = {}
        for message, at in zip(session.sent, session.sent_at, strict=False):
            if message.get("type") == "Turn" and message.get("end_of_turn"):
                self.finals.setdefault(str(message.get("transcript")), at)

    def _chunk_of_byte(self, offset: int) -> int | None:
        j = bisect.bisect_right(self.chunk_ends, offset)
        return j if j < len(self.arrivals) else None

    def arrival(self, frame: int) -> float | None:
        """When the frame's last byte reached the fake STT."""
        j = self._chunk_of_byte(frame * FRAME_BYTES + FRAME_BYTES - 1)
        return None if j is None else self.arrivals[j]

    def fill_ms(self, frame: int) -> float | None:
        """Frames that had to follow this one before its chunk went out, in ms."""
        end = frame * FRAME_BYTES + FRAME_BYTES
        j = self._chunk_of_byte(end - 1)
        if j is None:
            return None
        return math.ceil((self.chunk_ends[j] - end) / FRAME_BYTES) * FRAME_S * 1000

    def completing_frames(self) -> Iterable[tuple[int, float]]:
        """``(frame, arrival)`` of the frame whose pop completed each chunk."""
        for end, arrival in zip(self.chunk_ends, self.arrivals, strict=False):
            yield (end - 1) // FRAME_BYTES, arrival


@dataclass
class Samples:
    """Every measurement of one configuration, in ms."""

    figures: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    breakdown: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    gateway: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    diagnostics: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    anomalies: Counter[str] = field(default_factory=Counter)


def _ms(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier) * 1000


class Analysis:
    """Turns the wire logs, the fakes' records and the gateway's records into samples."""

    def __init__(
        self,
        params: BenchParams,
        sessions: Sequence[FakeSession],
        requests: Sequence[RecordedRequest],
        utterances: Sequence[Utterance],
        records: dict[str, list[dict[str, Any]]],
    ) -> None:
        self.params = params
        self.streams: dict[int, SttStream] = {}
        self.samples = Samples()
        for session in sessions:
            stream = SttStream(session)
            if stream.tag is None:
                continue
            if stream.tag in self.streams:
                self.samples.anomalies["stt_sessions_after_the_first"] += 1
                continue
            self.streams[stream.tag] = stream
        self.requests: dict[int, RecordedRequest] = {}
        for request in requests:
            tid = _turn_of_request(request.body)
            if tid is not None:
                self.requests.setdefault(tid, request)
        self.utterances: dict[int, Utterance] = {}
        self.greetings: list[Utterance] = []
        for utterance in utterances:
            match = _REPLY_RE.search(utterance.text)
            if match:
                self.utterances.setdefault(int(match.group(1)), utterance)
            elif GREETING.rstrip(".") in utterance.text:
                self.greetings.append(utterance)
        self.records = records
        self.calls: list[dict[str, Any]] = []
        self._call: dict[str, Any] = {}

    def add(self, trace: CallTrace) -> None:
        """Measure one call."""
        s = self.samples
        self._call = {"call_id": trace.call_id, "kind": trace.kind, "error": trace.error}
        if trace.tids:
            self._call["turns"] = []
        self.calls.append(self._call)
        if trace.error:
            s.anomalies[f"call error: {trace.error}"] += 1
        phone = trace.phone
        times = phone.sent_times
        s.diagnostics["caller_send_interval_error_ms"].extend(
            abs((times[i] - times[i - 1] - FRAME_S) * 1000) for i in range(1, len(times))
        )
        s.diagnostics["caller_rx_wakeup_ms"].extend(
            (u - k) * 1000 for u, k in zip(phone.rx_user, phone.rx_kernel, strict=True)
        )
        records = self.records.get(trace.call_id, [])
        if trace.call_id not in self.records:
            s.anomalies["no gateway call record"] += 1
        self._greeting(trace, records)
        self._ingress(trace)
        for k, tid in enumerate(trace.tids):
            self._turn(trace, records, k, tid)

    def _greeting(self, trace: CallTrace, records: list[dict[str, Any]]) -> None:
        s, phone, p = self.samples, trace.phone, self.params
        if trace.ok_at is None:
            return
        first = phone.first_rx(trace.ok_at, loud=True)
        if first is None:
            s.anomalies["greeting not heard"] += 1
            return
        if dominant_tone(phone.rx_payloads[first], ALL_TONES) != GREETING_HZ:
            s.anomalies["greeting: first audio is not the greeting tone"] += 1
            return
        heard = phone.rx_kernel[first]
        raw = (heard - trace.ok_at) * 1000
        self._call["greeting_raw_ms"] = round(raw, 2)
        s.figures["greeting_raw_ms"].append(raw)
        s.figures["greeting_overhead_ms"].append(raw - p.tts_first_byte_ms)
        candidates = [
            u
            for u in self.greetings
            if u.requested_at is not None and trace.invite_at <= u.requested_at <= heard
        ]
        if candidates:
            utterance = max(candidates, key=lambda u: u.requested_at or 0.0)
            path = _ms(heard, utterance.first_audio_at)
            if path is not None:
                s.figures["greeting_path_ms"].append(path)
        for record in records:
            if record.get("type") == "greeting_metrics":
                self._gateway("greeting_first_rtp_after_answer_ms",
                              record.get("first_rtp_after_answer_ms"))  # fmt: skip
                self._gateway("greeting_tts_first_byte_ms", record.get("tts_first_byte_ms"))

    def _ingress(self, trace: CallTrace) -> None:
        stream = self.streams.get(trace.tag)
        if stream is None:
            if trace.ok_at is not None and trace.kind != "greeting":  # those stay silent
                self.samples.anomalies["no STT audio found for a call"] += 1
            return
        sent = trace.phone.sent_times
        incl = self.samples.figures["ingress_incl_fill_ms"]
        for packet, frame in stream.frame_of_packet.items():
            arrival = stream.arrival(frame)
            if arrival is not None and packet < len(sent):
                incl.append((arrival - sent[packet]) * 1000)
        excl: list[float] = []
        for frame, arrival in stream.completing_frames():
            marker = stream.frames[frame] if frame < len(stream.frames) else None
            if marker is not None and marker[0] == trace.tag and marker[1] < len(sent):
                excl.append((arrival - sent[marker[1]]) * 1000)
        self.samples.figures["ingress_excl_fill_ms"].extend(excl)
        per_call = percentile(excl, 50)
        if per_call is not None:  # the jitter-buffer delay this call got, tick phase included
            self.samples.diagnostics["caller_to_stt_no_fill_per_call_ms"].append(per_call)
            self._call["caller_to_stt_no_fill_ms"] = round(per_call, 2)

    def _gateway(self, name: str, value: object) -> None:
        if isinstance(value, int | float):
            self.samples.gateway[name].append(float(value))

    def _turn(self, trace: CallTrace, records: list[dict[str, Any]], k: int, tid: int) -> None:
        s, phone, p = self.samples, trace.phone, self.params
        spoken = [i for i, tag in enumerate(phone.sent_tags) if tag == tid]
        if not spoken:
            return
        last = spoken[-1]
        said = phone.sent_times[last]
        turn: dict[str, Any] = {"tid": tid}
        self._call["turns"].append(turn)
        reply = phone.first_rx(said, loud=True)
        if reply is None:
            s.anomalies["turn without a reply"] += 1
            return
        expected = reply_tone(tid)
        if dominant_tone(phone.rx_payloads[reply], ALL_TONES) != expected:
            s.anomalies["reply: first audio after the turn is not its tone"] += 1
            return
        heard = phone.rx_kernel[reply]
        raw = (heard - said) * 1000
        turn["end_of_turn_raw_ms"] = round(raw, 2)
        s.figures["end_of_turn_raw_ms"].append(raw)
        s.figures["end_of_turn_overhead_ms"].append(raw - p.nominal_delays_ms)
        utterance = self.utterances.get(tid)
        reply_path = _ms(heard, utterance.first_audio_at if utterance else None)
        if reply_path is not None:
            s.figures["reply_path_ms"].append(reply_path)
        else:
            s.anomalies["reply without a TTS record"] += 1
        self._hops(trace, tid, last, raw, reply_path, utterance, turn)
        gw_turn = next(
            (r for r in records if r.get("type") == "turn_metrics" and r.get("turn") == k + 1),
            None,
        )
        if gw_turn is not None:
            for name in GATEWAY_VIEW[:6]:
                self._gateway(name, gw_turn.get(name))
            turn["gateway_turn_metrics"] = {k: v for k, v in gw_turn.items() if k.endswith("_ms")}
            gw_eot = gw_turn.get("end_of_speech_to_first_rtp_ms")
            if isinstance(gw_eot, int | float):
                s.gateway["wire_minus_gateway_end_of_turn_ms"].append(raw - gw_eot)
        else:
            s.anomalies["turn without gateway turn_metrics"] += 1
        if k + 1 < len(trace.tids):
            self._barge_in(trace, records, k, expected, turn)

    def _hops(
        self,
        trace: CallTrace,
        tid: int,
        last: int,
        raw: float,
        reply_path: float | None,
        utterance: Utterance | None,
        turn: dict[str, Any],
    ) -> None:
        """Split the end of turn hop by hop, from the fakes' own timestamps."""
        s, phone, p = self.samples, trace.phone, self.params
        stream = self.streams.get(trace.tag)
        request = self.requests.get(tid)
        ending = last + math.ceil(p.min_turn_silence_ms / (FRAME_S * 1000))
        frame = stream.frame_of_packet.get(ending) if stream else None
        if stream is None or frame is None or request is None or utterance is None:
            s.anomalies["end of turn: a hop could not be timed"] += 1
            return
        chunk_at = stream.arrival(frame)
        final_at = stream.finals.get(transcript_for(tid))
        token_at = request.chunk_times[1] if len(request.chunk_times) > 1 else None
        hops = {
            "caller_silence_ms": _ms(phone.sent_times[ending], phone.sent_times[last]),
            "gw_caller_to_stt_ms": _ms(chunk_at, phone.sent_times[ending]),
            "gw_chunk_fill_ms": stream.fill_ms(frame),
            "fake_stt_final_ms": _ms(final_at, chunk_at),
            "gw_stt_final_to_llm_request_ms": _ms(request.received_at, final_at),
            "fake_llm_first_token_ms": _ms(token_at, request.received_at),
            "gw_llm_token_to_tts_request_ms": _ms(utterance.requested_at, token_at),
            "fake_tts_first_byte_ms": _ms(utterance.first_audio_at, utterance.requested_at),
            "gw_tts_byte_to_caller_ms": reply_path,
        }
        if any(v is None for v in hops.values()):
            s.anomalies["end of turn: a hop could not be timed"] += 1
            return
        v: dict[str, float] = {name: value for name, value in hops.items() if value is not None}
        for name, value in v.items():
            s.breakdown[name].append(value)
            turn[name] = round(value, 2)
        excess = (
            v["fake_stt_final_ms"] - p.stt_final_latency_ms
            + v["fake_llm_first_token_ms"] - p.llm_first_token_ms
            + v["fake_tts_first_byte_ms"] - p.tts_first_byte_ms
        )  # fmt: skip
        s.breakdown["fakes_excess_ms"].append(excess)
        gateway = (
            v["gw_caller_to_stt_ms"] + v["gw_stt_final_to_llm_request_ms"]
            + v["gw_llm_token_to_tts_request_ms"] + v["gw_tts_byte_to_caller_ms"]
        )  # fmt: skip
        s.figures["end_of_turn_gateway_ms"].append(gateway)
        total = sum(value for name, value in v.items() if name != "gw_chunk_fill_ms")
        s.breakdown["closure_error_ms"].append(raw - total)

    def _barge_in(
        self,
        trace: CallTrace,
        records: list[dict[str, Any]],
        k: int,
        tone: float,
        turn: dict[str, Any],
    ) -> None:
        s, phone = self.samples, trace.phone
        next_tid = trace.tids[k + 1]
        onset_index = next((i for i, t in enumerate(phone.sent_tags) if t == next_tid), None)
        if onset_index is None:
            return
        onset = phone.sent_times[onset_index]
        before = bisect.bisect_left(phone.rx_kernel, onset) - 1
        if before < 0 or not phone.rx_loud[before]:
            s.anomalies["barge-in: the agent was not speaking at the onset"] += 1
            return
        if dominant_tone(phone.rx_payloads[before], ALL_TONES) != tone:
            s.anomalies["barge-in: the agent was speaking another reply"] += 1
            return
        stop = phone.first_rx(onset, loud=False)
        if stop is None:
            s.anomalies["barge-in: the agent never stopped"] += 1
            return
        wire = (phone.rx_kernel[stop] - onset) * 1000
        turn["barge_in_ms"] = round(wire, 2)
        s.figures["barge_in_ms"].append(wire)
        barge = next(
            (r for r in records if r.get("type") == "barge_in" and r.get("turn") == k + 1), None
        )
        if barge is None:
            s.anomalies["barge-in without a gateway barge_in record"] += 1
            return
        reaction = barge.get("reaction_ms")
        turn["gateway_barge_in_reaction_ms"] = reaction
        self._gateway("barge_in_reaction_ms", reaction)
        if isinstance(reaction, int | float):
            s.gateway["wire_minus_gateway_barge_in_ms"].append(wire - reaction)


def read_call_records(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """The gateway's JSONL call records, by SIP Call-ID."""
    calls: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.jsonl")):
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        call_id = next((r.get("call_id") for r in lines if r.get("type") == "call"), None)
        if isinstance(call_id, str):
            calls[call_id] = lines
    return calls


# --------------------------------------------------------------------------- statistics


def stats(values: Sequence[float]) -> dict[str, Any]:
    """n, p50, p95, p99, max, mean (ms, rounded to 0.01)."""

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 2)

    return {
        "n": len(values),
        "p50": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values)) if values else None,
        "mean": r(sum(values) / len(values)) if values else None,
    }


def check_targets(figures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it is met."""
    results = []
    for figure, statistic, limit in TARGETS:
        value = figures.get(figure, {}).get(statistic)
        results.append(
            {
                "figure": figure,
                "statistic": statistic,
                "limit_ms": limit,
                "value_ms": value,
                "met": None if value is None else value <= limit,
            }
        )
    return results


# --------------------------------------------------------------------------- the gateway


def rtp_range_start(rng: random.Random, size: int = 400) -> int:
    """An even port for a ``size``-port RTP range below the kernel's ephemeral ports.

    Our own sockets (the caller's SIP and RTP) get ephemeral ports: a range that
    overlapped them could find its ports taken. The capacity benchmark uses
    20000-29999 by default, so pick above that when there is room.
    """
    ephemeral_low = 32768
    with contextlib.suppress(OSError, ValueError):
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    top = max(ephemeral_low - size, 10002)
    bottom = 30000 if top > 30000 else 10000
    return rng.randrange(bottom, top, 2)


class LoggedGateway(Gateway):
    """The harness's gateway, with everything it prints also kept in a log file."""

    def __init__(self, options: GatewayOptions, log_path: Path) -> None:
        super().__init__(options)
        self.log_path = log_path
        self._log = log_path.open("a", encoding="utf-8")

    def _on_line(self, stream: str, t: float, line: str) -> None:
        with contextlib.suppress(ValueError):  # closed at the end
            self._log.write(f"{stream}: {line}\n")
        super()._on_line(stream, t, line)

    def tracebacks(self, limit: int = 5) -> list[str]:
        """The tracebacks the gateway logged (the first ``limit``), each as one text."""
        self._log.flush()
        found: list[str] = []
        current: list[str] | None = None
        for raw in self.log_path.read_text(encoding="utf-8").splitlines():
            line = raw.split(": ", 1)[-1]
            if line.startswith("Traceback"):
                current = [line]
                found.append("")
            elif current is not None:
                current.append(line)
                if not line.startswith((" ", "During", "The above")) and line:
                    found[-1] = "\n".join(current)
                    current = None
        return [t for t in found if t][:limit]

    def close_log(self) -> None:
        """Close the log file."""
        self._log.close()


# --------------------------------------------------------------------------- load


def cpu_jiffies() -> dict[str, tuple[int, int]]:
    """``{"cpu0": (busy, total), ...}`` from /proc/stat (empty where there is none)."""
    result: dict[str, tuple[int, int]] = {}
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            for line in handle:
                name, *values = line.split()
                if name.startswith("cpu") and name != "cpu":
                    numbers = [int(v) for v in values[:8]]
                    idle = numbers[3] + numbers[4]  # idle + iowait
                    result[name] = (sum(numbers) - idle, sum(numbers))
    except OSError:
        pass
    return result


class LoadWindow:
    """CPU use while a configuration ran: each core, the gateway, this process, the rest."""

    def __init__(self) -> None:
        self.wall = time.time()
        self.jiffies = cpu_jiffies()
        self.own = sum(os.times()[:2])
        self.loadavg = [round(x, 2) for x in os.getloadavg()]

    def close(self, gateway_cpu_pct: float | None) -> dict[str, Any]:
        """The figures, in % of one core."""
        jiffies = cpu_jiffies()
        elapsed = max(time.time() - self.wall, 1e-9)
        busy = {}
        for name, (busy_after, total_after) in jiffies.items():
            busy_before, total_before = self.jiffies.get(name, (0, 0))
            total = total_after - total_before
            busy[name] = round(100 * (busy_after - busy_before) / total, 1) if total else None
        own = (sum(os.times()[:2]) - self.own) / elapsed * 100
        all_cores = sum(v for v in busy.values() if v is not None)
        others = all_cores - own - (gateway_cpu_pct or 0.0)
        return {
            "loadavg_start": self.loadavg,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "core_busy_pct": busy,
            "gateway_cpu_pct": None if gateway_cpu_pct is None else round(gateway_cpu_pct, 1),
            "bench_cpu_pct": round(own, 1),
            "other_processes_cpu_pct": round(max(0.0, others), 1),
        }


# --------------------------------------------------------------------------- one configuration


async def run_config(
    config: BenchConfig,
    params: BenchParams,
    fakes: BenchFakes,
    rng: random.Random,
    counters: tuple[Iterable[int], Iterable[int]],
    gateway_cpu: int | None,
    keep_records: bool,
) -> dict[str, Any]:
    """Start a gateway with ``config``, place the calls, analyse; returns the JSON section."""
    records_dir = Path(tempfile.mkdtemp(prefix="sipgw-latency-records-"))
    low = rtp_range_start(rng)
    options = GatewayOptions(
        agent="assistant",
        cpu=gateway_cpu,
        rtp_ports=(low, low + 399),
        stats_interval=5.0,
        extra_args=["--jitter-min-ms", str(config.jitter_min_ms)],
        env={
            **fakes.env(),
            "SIPGW_GREETING": GREETING,
            "SIPGW_CALL_RECORD_DIR": str(records_dir),
            "ASSEMBLYAI_CHUNK_MS": str(config.chunk_ms),
            "SIPGW_BARGE_IN_START_MS": str(config.barge_in_start_ms),
        },
    )
    gateway = LoggedGateway(options, records_dir / "gateway.log")
    address = await asyncio.to_thread(gateway.start)
    started = time.monotonic()
    load = LoadWindow()
    runner = CallRunner(address, fakes, params, rng, *counters)
    traces: list[CallTrace] = []
    try:
        for _ in range(params.warmup_calls):
            await runner.call("warmup", min(2, params.turns))
        for n in range(params.calls):
            trace = await runner.call("conversation", params.turns)
            traces.append(trace)
            failed = f" ({trace.error})" if trace.error else ""
            log(f"{config.name}: call {n + 1}/{params.calls}{failed}")
            await asyncio.sleep(0.2)
        for _ in range(params.greeting_calls):
            traces.append(await runner.call("greeting", 0))
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the last call records are written after the BYE
    finally:
        sampler = gateway.sampler
        gateway_cpu_pct = None if sampler is None else sampler.cpu_percent(load.wall, time.time())
        load_figures = load.close(gateway_cpu_pct)
        await asyncio.to_thread(gateway.stop)
    elapsed = time.monotonic() - started
    sessions = [s for s in fakes.stt.sessions if s.started_at >= started - 1.0]
    analysis = Analysis(
        params, sessions, fakes.llm.requests, list(fakes.tts.utterances),
        read_call_records(records_dir),
    )  # fmt: skip
    for trace in traces:
        analysis.add(trace)
    tracebacks = gateway.tracebacks()
    gateway.close_log()
    if keep_records or gateway.errors:
        log(f"{config.name}: call records and the gateway log kept in {records_dir}")
    else:
        shutil.rmtree(records_dir, ignore_errors=True)
    s = analysis.samples
    figures = {name: stats(s.figures.get(name, [])) for name in FIGURES}
    stats_lines = [line.data for line in gateway.stats]
    return {
        "name": config.name,
        "settings": {
            "ASSEMBLYAI_CHUNK_MS": config.chunk_ms,
            "--jitter-min-ms": config.jitter_min_ms,
            "SIPGW_BARGE_IN_START_MS": config.barge_in_start_ms,
        },
        "duration_s": round(elapsed, 1),
        "load": load_figures,
        "calls": {
            "conversation": sum(t.kind == "conversation" for t in traces),
            "greeting_only": sum(t.kind == "greeting" for t in traces),
            "failed": sum(t.error is not None for t in traces),
        },
        "figures": figures,
        "targets": check_targets(figures),
        "breakdown": {name: stats(s.breakdown.get(name, [])) for name in BREAKDOWN},
        "gateway_view": {name: stats(s.gateway.get(name, [])) for name in GATEWAY_VIEW},
        "diagnostics": {
            **{name: stats(values) for name, values in s.diagnostics.items()},
            "kernel_rx_timestamps": all(t.phone.sock.kernel_stamps for t in traces),
            "gateway_tick_late_p99_ms_max": max(
                (d.get("tick_late_p99_ms", 0.0) for d in stats_lines), default=None
            ),
            "gateway_tick_late_max_ms": max(
                (d.get("tick_late_max_ms", 0.0) for d in stats_lines), default=None
            ),
            "gateway_last_stats": stats_lines[-1] if stats_lines else None,
            "gateway_errors": gateway.errors[-20:],
            "gateway_tracebacks": tracebacks,
            "gateway_log": str(gateway.log_path) if keep_records or gateway.errors else None,
        },
        "anomalies": dict(s.anomalies),
        "per_call": [c for c in analysis.calls if c["kind"] == "conversation"],
        "gateway_stats": [
            {"t": round(line.t - load.wall, 1), **{k: line.data.get(k) for k in STATS_KEYS}}
            for line in gateway.stats
        ],
        "samples": {
            name: [round(v, 3) for v in s.figures.get(name, [])]
            for name in FIGURES
            if not name.startswith("ingress")
        },
    }


# --------------------------------------------------------------------------- reporting


def _cell(value: Any) -> str:
    return fmt(value, ".1f")


def config_report(section: dict[str, Any], params: BenchParams) -> str:
    """The tables of one configuration."""
    settings = ", ".join(f"{k}={v}" for k, v in section["settings"].items())
    out = [f"== {section['name']} ({settings}); {section['duration_s']} s"]
    limits: dict[str, list[str]] = defaultdict(list)
    for target in section["targets"]:
        verdict = "-" if target["met"] is None else ("ok" if target["met"] else "MISSED")
        limits[target["figure"]].append(f"{target['statistic']}<={target['limit_ms']:g} {verdict}")
    rows = [
        [name, str(f["n"]), _cell(f["p50"]), _cell(f["p95"]), _cell(f["p99"]), _cell(f["max"]),
         "; ".join(limits.get(name, []))]
        for name, f in section["figures"].items()
    ]  # fmt: skip
    out.append("wire-side figures (ms, caller's clock)")
    out.append(format_table(["figure", "n", "p50", "p95", "p99", "max", "target"], rows))
    nominal = {
        "caller_silence_ms": params.min_turn_silence_ms,
        "fake_stt_final_ms": params.stt_final_latency_ms,
        "fake_llm_first_token_ms": params.llm_first_token_ms,
        "fake_tts_first_byte_ms": params.tts_first_byte_ms,
    }
    rows = [
        [name, _cell(nominal.get(name)), str(b["n"]), _cell(b["p50"]), _cell(b["p95"]),
         _cell(b["max"])]
        for name, b in section["breakdown"].items()
    ]  # fmt: skip
    out.append("end of turn, hop by hop (ms; gw_* = gateway, fake_* = injected delays)")
    out.append(format_table(["hop", "nominal", "n", "p50", "p95", "max"], rows))
    rows = [
        [name, str(g["n"]), _cell(g["p50"]), _cell(g["p95"]), _cell(g["p99"]), _cell(g["max"])]
        for name, g in section["gateway_view"].items()
    ]
    out.append("the gateway's own call records (ms, its event loop's clock)")
    out.append(format_table(["metric", "n", "p50", "p95", "p99", "max"], rows))
    diagnostics = section["diagnostics"]
    notes = [
        f"kernel rx timestamps: {diagnostics['kernel_rx_timestamps']}",
        f"gateway tick lateness p99 (worst 5 s window): "
        f"{_cell(diagnostics['gateway_tick_late_p99_ms_max'])} ms, "
        f"max {_cell(diagnostics['gateway_tick_late_max_ms'])} ms",
    ]
    load = section["load"]
    notes.append(
        f"CPU (% of a core): gateway {_cell(load['gateway_cpu_pct'])}, benchmark "
        f"{_cell(load['bench_cpu_pct'])}, other processes {_cell(load['other_processes_cpu_pct'])}"
        f"; cores busy {load['core_busy_pct']}; load average {load['loadavg_end']}"
    )
    for name in (
        "caller_send_interval_error_ms",
        "caller_rx_wakeup_ms",
        "caller_to_stt_no_fill_per_call_ms",
    ):
        if name in diagnostics:
            d = diagnostics[name]
            notes.append(f"{name}: p50 {_cell(d['p50'])}, p99 {_cell(d['p99'])}, "
                         f"max {_cell(d['max'])}")  # fmt: skip
    if section["anomalies"]:
        notes.append(f"anomalies: {section['anomalies']}")
    if diagnostics["gateway_errors"]:
        notes.append(f"gateway errors ({len(diagnostics['gateway_errors'])} lines), log: "
                     f"{diagnostics['gateway_log']}")  # fmt: skip
        for text in diagnostics["gateway_tracebacks"][:2]:
            notes.append(text)
    out.extend(notes)
    return "\n".join(out)


def matrix_report(sections: Sequence[dict[str, Any]]) -> str:
    """The key figures of every configuration side by side."""
    rows: list[list[str]] = []
    keys = [
        ("reply_path_ms", "p50"), ("reply_path_ms", "p99"),
        ("end_of_turn_overhead_ms", "p50"), ("end_of_turn_overhead_ms", "mean"),
        ("end_of_turn_overhead_ms", "p95"), ("end_of_turn_gateway_ms", "p50"),
        ("barge_in_ms", "p50"), ("barge_in_ms", "p95"),
        ("greeting_overhead_ms", "p50"), ("greeting_overhead_ms", "p95"),
        ("ingress_incl_fill_ms", "p50"), ("ingress_excl_fill_ms", "p50"),
    ]  # fmt: skip
    for figure, statistic in keys:
        rows.append(
            [f"{figure} {statistic}"] + [_cell(s["figures"][figure][statistic]) for s in sections]
        )
    for hop in ("gw_caller_to_stt_ms", "gw_chunk_fill_ms", "gw_stt_final_to_llm_request_ms",
                "gw_llm_token_to_tts_request_ms"):  # fmt: skip
        rows.append([f"{hop} p50"] + [_cell(s["breakdown"][hop]["p50"]) for s in sections])
    rows.append(
        ["gw_chunk_fill_ms mean"] + [_cell(s["breakdown"]["gw_chunk_fill_ms"]["mean"])
                                     for s in sections]
    )  # fmt: skip
    rows.append(
        ["caller_to_stt_no_fill_per_call_ms p50"]
        + [_cell(s["diagnostics"].get("caller_to_stt_no_fill_per_call_ms", {}).get("p50"))
           for s in sections]
    )  # fmt: skip
    for metric in ("end_of_speech_to_first_rtp_ms", "barge_in_reaction_ms"):
        rows.append(
            [f"gateway {metric} p50"] + [_cell(s["gateway_view"][metric]["p50"]) for s in sections]
        )
    headers = ["ms"] + [s["name"] for s in sections]
    return "matrix (same calls, same fakes)\n" + format_table(headers, rows)


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    d = BenchParams()
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency",
        description="Measure the latency the gateway adds, at the caller's side of the wire.",
    )
    add = parser.add_argument
    add("--calls", type=int, default=d.calls, help="conversation calls (default %(default)s)")
    add("--turns", type=int, default=d.turns, help="turns per call (default %(default)s)")
    add("--greeting-calls", type=int, default=d.greeting_calls,
        help="extra calls that only wait for the greeting (default %(default)s)")  # fmt: skip
    add("--warmup-calls", type=int, default=d.warmup_calls,
        help="calls placed first and not counted (default %(default)s)")  # fmt: skip
    add("--matrix", action="store_true",
        help="compare ASSEMBLYAI_CHUNK_MS 100/50, --jitter-min-ms 40/20, "
        "SIPGW_BARGE_IN_START_MS 60/40 (one at a time, then all three)")  # fmt: skip
    add("--chunk-ms", type=int, default=100, help="ASSEMBLYAI_CHUNK_MS without --matrix")
    add("--jitter-min-ms", type=int, default=40, help="--jitter-min-ms without --matrix")
    add("--barge-in-start-ms", type=int, default=60,
        help="SIPGW_BARGE_IN_START_MS without --matrix")  # fmt: skip
    add("--min-turn-silence", type=int, default=d.min_turn_silence_ms, metavar="MS",
        help="the fake STT's end-of-turn silence (default %(default)s)")  # fmt: skip
    add("--stt-final-latency", type=float, default=d.stt_final_latency_ms, metavar="MS",
        help="fake STT final transcript delay (default %(default)s)")  # fmt: skip
    add("--llm-first-token-ms", type=float, default=d.llm_first_token_ms, metavar="MS",
        help="fake LLM first-chunk delay (default %(default)s)")  # fmt: skip
    add("--tts-first-byte-ms", type=float, default=d.tts_first_byte_ms, metavar="MS",
        help="fake TTS first-byte delay (default %(default)s)")  # fmt: skip
    add("--llm-next-token-ms", type=float, default=d.llm_next_token_ms, metavar="MS",
        help="0: the reply is the LLM's only content chunk; else a second sentence starts "
        "this long after it, as with a real model (default %(default)s)")  # fmt: skip
    add("--tts-speed", type=float, default=d.tts_speed,
        help="fake TTS pace, multiples of real time (default %(default)s)")  # fmt: skip
    add("--gateway-cpu", type=int, default=0,
        help="pin the gateway to this CPU; -1 = no pinning (default %(default)s)")  # fmt: skip
    add("--bench-cpu", type=int, default=1,
        help="pin this process (caller, fakes) to this CPU; -1 = no pinning "
        "(default %(default)s)")  # fmt: skip
    add("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")
    add("--json", metavar="PATH",
        help="where to write the JSON (default bench/results/latency-<UTC>.json; "
        "- = stdout)")  # fmt: skip
    add("--keep-records", action="store_true", help="keep the gateway's call records")
    return parser


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    params = BenchParams(
        calls=args.calls,
        turns=args.turns,
        greeting_calls=args.greeting_calls,
        warmup_calls=args.warmup_calls,
        min_turn_silence_ms=args.min_turn_silence,
        stt_final_latency_ms=args.stt_final_latency,
        llm_first_token_ms=args.llm_first_token_ms,
        tts_first_byte_ms=args.tts_first_byte_ms,
        llm_next_token_ms=args.llm_next_token_ms,
        tts_speed=args.tts_speed,
        seed=args.seed,
    )
    configs = list(MATRIX) if args.matrix else [
        BenchConfig("custom" if (args.chunk_ms, args.jitter_min_ms, args.barge_in_start_ms)
                    != (100, 40, 60) else "base",
                    args.chunk_ms, args.jitter_min_ms, args.barge_in_start_ms)
    ]  # fmt: skip
    task = asyncio.current_task()
    if task is not None:  # SIGTERM/SIGINT: stop the gateway and the fakes, then exit
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    machine = machine_info()
    bench_pinned = pin_self(args.bench_cpu if args.bench_cpu >= 0 else None)
    gateway_cpu = args.gateway_cpu if args.gateway_cpu >= 0 else None
    rng = random.Random(params.seed)
    counters = (itertools.count(1), itertools.count(1))
    fakes = BenchFakes(params)
    sections = []
    try:
        for config in configs:
            log(f"configuration {config.name}: {config}")
            section = await run_config(
                config, params, fakes, rng, counters, gateway_cpu, args.keep_records
            )
            sections.append(section)
            print(config_report(section, params), flush=True)
            print(flush=True)
    finally:
        fakes.stop()
    if len(sections) > 1:
        print(matrix_report(sections), flush=True)
    return {
        "benchmark": "latency",
        "machine": {
            **machine,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "bench_cpu": args.bench_cpu if bench_pinned else None,
            "gateway_cpu": gateway_cpu,
        },
        "params": {**asdict(params), "nominal_delays_ms": params.nominal_delays_ms},
        "targets": [{"figure": f, "statistic": s, "limit_ms": v} for f, s, v in TARGETS],
        "configs": sections,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    sys.setswitchinterval(0.0002)  # the fakes' threads must not hold up the caller's loop
    try:
        import uvloop
    except ImportError:  # not on Linux
        runner: Callable[[Any], dict[str, Any]] = asyncio.run
    else:
        runner = uvloop.run
    try:
        result = runner(_run(args))
    except asyncio.CancelledError:
        log("interrupted: no JSON written")
        return 130
    where = write_json(result, args.json, "latency")
    log(f"JSON written to {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
