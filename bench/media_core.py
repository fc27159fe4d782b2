"""Microbenchmarks of the sans-IO media hot path, in µs per operation.

Run: ``.venv/bin/python -m bench.media_core`` from the repository root (add
``SIPGW_PURE_PYTHON=1`` for the pure-Python path). Each figure is the best of five
``timeit`` repeats (of three for the echo calls), divided by the loop count, in CPU time
(``time.process_time``: a busy shared machine preempts, it does not add). It prints a table,
then the same figures as one JSON object (with the media path and the CPU's model). What
each codec costs a call, Opus's included, is :mod:`bench.codec_cost`.

The echo calls carry speech (espeak-ng's, resampled by sox:
Debian ``espeak-ng`` and ``sox``), so that Opus, whose cost follows what it codes, costs
what speech costs (a synthetic harmonic tone was coded as CELT at complexity 10, speech as
SILK); G.711 and G.722 cost the same whatever they carry.
"""

from __future__ import annotations

import asyncio
import functools
import json
import platform
import random
import shutil
import socket
import struct
import subprocess
import time
import timeit
from collections.abc import Callable
from typing import Final, cast

from sipgw.agent.base import CallControl, CallDetails
from sipgw.agent.echo.agent import EchoAgent
from sipgw.media import _accel, g711
from sipgw.media.aio.callmedia import CallMedia
from sipgw.media.aio.rtp_endpoint import RtpEndpoint
from sipgw.media.codecs import G722, PCMU, Codec
from sipgw.media.demux import Demux, MediaPorts
from sipgw.media.ingress import IngressAudio
from sipgw.media.jitterbuffer import JitterBuffer
from sipgw.media.rtp import RtpPacket
from sipgw.media.sender import RtpStreamSender
from sipgw.media.session import MediaSession, StreamParams
from sipgw.media.srtp import SUITES, SrtpContext, SrtpKeying
from sipgw.media.voice.vad import VoiceActivityDetector


def _best_us(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5, timer=time.process_time)) / number * 1e6


def _per_packet_us(fn: Callable[[bytes], object], packets: list[bytes], number: int) -> float:
    """Best of five runs of ``fn`` over fresh packets (SRTP refuses a repeated index)."""
    feed = iter(packets)
    return (
        min(timeit.repeat(lambda: fn(next(feed)), number=number, repeat=5, timer=time.process_time))
        / number
        * 1e6
    )


def _srtp_results(frame: bytes) -> dict[str, float]:
    """SRTP protect and unprotect of one 172-byte packet, for each SDES suite."""
    number = 20_000
    packets = [
        RtpPacket(0, i & 0xFFFF, i * 160, 7, False, frame).serialize() for i in range(number * 5)
    ]
    ours, theirs = bytes(range(30)), bytes(range(1, 31))
    results: dict[str, float] = {}
    for suite in SUITES:
        sender = SrtpContext(SrtpKeying(suite, ours), SrtpKeying(suite, theirs))
        results[f"SrtpContext.protect ({suite})"] = _per_packet_us(sender.protect, packets, number)
        sender = SrtpContext(SrtpKeying(suite, ours), SrtpKeying(suite, theirs))
        receiver = SrtpContext(SrtpKeying(suite, theirs), SrtpKeying(suite, ours))
        protected = [sender.protect(p) or b"" for p in packets]
        results[f"SrtpContext.unprotect ({suite})"] = _per_packet_us(
            receiver.unprotect, protected, number
        )
    return results


class _EchoCall:
    """What the echo agent reads of its call: the details (HD voice or not)."""

    def __init__(self, details: CallDetails) -> None:
        self.details = details


class _NoSend:
    """Stands for sipgw.media.aio.rtp_batch.BatchedRtp: takes the sockets, sends nowhere."""

    rtp = 0
    rtcp = 0

    def attach(self, ports: MediaPorts, rtp: socket.socket, rtcp: socket.socket) -> int:
        return 0

    def detach(self, token: int) -> None:
        pass

    def sendto(self, fd: int, data: bytes, host: str, port: int) -> int:
        if port % 2:  # the calls' RTP ports are even: RTCP goes to the next one up
            self.rtcp += 1
        else:
            self.rtp += 1
        return 0


SPEECH: Final = (
    "Thank you for calling. Your order shipped on Tuesday and should arrive by Friday. "
    "Is there anything else I can help you with today?"
)


@functools.cache
def speech(rate: int) -> bytes:
    """:data:`SPEECH` spoken by espeak-ng (Debian ``espeak-ng``), s16le at ``rate`` (``sox``):
    7.4 s, deterministic."""
    for program, package in (("espeak-ng", "espeak-ng"), ("sox", "sox")):
        if shutil.which(program) is None:
            raise SystemExit(f"bench.media_core needs {program}: apt-get install {package}")
    wav = subprocess.run(
        ["espeak-ng", "-v", "en-us", "--stdout", SPEECH], capture_output=True, check=True
    ).stdout
    raw = ["-r", str(rate), "-b", "16", "-c", "1", "-e", "signed", "-t", "raw", "-"]
    return subprocess.run(
        ["sox", "-t", "wav", "-", *raw], input=wav, capture_output=True, check=True
    ).stdout


def _wire_frames(codec: Codec, count: int) -> list[bytes]:
    """``count`` consecutive 20 ms payloads of :func:`speech` in ``codec`` (looped)."""
    rate = codec.sample_rate
    size = rate // 50 * 2
    pcm = speech(rate)
    frames = [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]
    encoder = codec.encoder()
    return [encoder.encode(frames[i % len(frames)]) for i in range(count)]


def echo_call_us(
    calls: int = 300, ticks: int = 500, codec: Codec = PCMU, wideband: bool = True
) -> float:
    """One echo call's 20 ms on the native path's objects, in user space: a datagram through
    the demultiplexer into the session (latch, jitter buffer, RTCP counts), then the call's
    tick (caller frame, echo agent, packetize, the endpoint's send to a sender that sends
    nowhere), for ``calls`` calls in turn, µs per call per tick. No system call: the
    kernel's share is not counted. ``codec``: the calls' (G.722 and Opus are decoded to the
    echo's 16 kHz, or with ``wideband`` off to 8 kHz μ-law, and encoded back; Opus's echo is
    encoded at that rate)."""
    loop = asyncio.new_event_loop()
    nowhere = _NoSend()
    demux = Demux()
    steps: list[tuple[CallMedia, int, tuple[str, int]]] = []
    sockets: list[socket.socket] = []
    for k in range(calls):
        source = ("127.0.0.1", 40000 + 2 * k)
        call = _EchoCall(CallDetails(sample_rate=codec.sample_rate if wideband else 8000))
        agent = EchoAgent(cast(CallControl, call), 500)
        session = MediaSession(
            StreamParams(source, codec=codec, payload_type=codec.payload_type or 96),
            0.0,
            agent_format=agent.audio_format,
        )
        endpoint = RtpEndpoint(loop, 20000 + 2 * k)
        endpoint.session = session
        rtp, rtcp = socket.socket(type=socket.SOCK_DGRAM), socket.socket(type=socket.SOCK_DGRAM)
        sockets += (rtp, rtcp)
        endpoint.read_in_batches(nowhere, rtp, rtcp)  # type: ignore[arg-type]
        steps.append((CallMedia(session, agent, endpoint), demux.attach(endpoint.ports), source))
    payloads = _wire_frames(codec, min(ticks, 250))
    pt = codec.payload_type or 96
    ts_step = codec.clock_rate // 50
    header = struct.Struct("!BBHII")
    batches = [
        (
            [token for _, token, _ in steps],
            [
                header.pack(0x80, pt, t, t * ts_step, 1000 + k) + payloads[t % len(payloads)]
                for k in range(calls)
            ],
            [source for _, _, source in steps],
            [t * 0.02] * calls,
        )
        for t in range(ticks)
    ]
    start = time.process_time()
    for t, batch in enumerate(batches):
        now = t * 0.02 + 0.001
        demux.dispatch(*batch)
        for step, _, _ in steps:
            step.tick(now)
    elapsed = time.process_time() - start
    for sock in sockets:
        sock.close()
    loop.close()
    assert nowhere.rtp == calls * ticks  # every call sent its packet at every tick
    return elapsed / (calls * ticks) * 1e6


def main() -> None:
    """Print the figures."""
    frame = bytes(random.Random(1).randrange(256) for _ in range(160))
    packet = RtpPacket(0, 1000, 160000, 0x1234, False, frame)
    data = packet.serialize()
    results: dict[str, float] = {}
    n = 200_000
    results["RtpPacket.parse (172 B, no CSRC/ext)"] = _best_us(lambda: RtpPacket.parse(data), n)
    results["RtpPacket.serialize"] = _best_us(packet.serialize, n)

    # In-order 20 ms stream: push one packet and pop one frame per tick.
    jb = JitterBuffer()
    packets = [RtpPacket(0, i & 0xFFFF, (i * 160) & 0xFFFFFFFF, 7, False, frame) for i in range(n)]
    i = [0]

    def push_pop() -> None:
        k = i[0]
        now = k * 0.02
        jb.push(packets[k], now)
        jb.pop(now + 0.001)
        i[0] = k + 1

    # prime past the start delay
    for _ in range(5):
        push_pop()
    results["JitterBuffer.push + pop (in order, 20 ms)"] = (
        min(timeit.repeat(push_pop, number=30_000, repeat=5, timer=time.process_time))
        / 30_000
        * 1e6
    )

    # The listeners' tap (STT, VAD) on the same stream: push at arrival, poll per tick.
    ingress = IngressAudio()
    j = [0]

    def ingress_push_poll() -> None:
        k = j[0]
        now = k * 0.02
        ingress.push(packets[k], now)
        ingress.poll(now + 0.001, 0.04)
        j[0] = k + 1

    results["IngressAudio.push + poll (in order, 20 ms)"] = (
        min(timeit.repeat(ingress_push_poll, number=30_000, repeat=5, timer=time.process_time))
        / 30_000
        * 1e6
    )
    vad = VoiceActivityDetector()
    results["VoiceActivityDetector.push (160 B)"] = _best_us(lambda: vad.push(frame), n)

    sender = RtpStreamSender(payload_type=0, rng=random.Random(1))
    results["RtpStreamSender.push_frame (audio, ptime 20)"] = _best_us(
        lambda: sender.push_frame(frame), n
    )
    results["RtpStreamSender.push_frame (None = silence)"] = _best_us(
        lambda: sender.push_frame(None), n
    )
    sender30 = RtpStreamSender(payload_type=0, ptime_ms=30, rng=random.Random(1))
    results["RtpStreamSender.push_frame (ptime 30, per tick)"] = _best_us(
        lambda: sender30.push_frame(frame), n
    )
    results["g711.ulaw_to_alaw (160 B)"] = _best_us(lambda: g711.ulaw_to_alaw(frame), n)
    results["g711.attenuate (160 B)"] = _best_us(lambda: g711.attenuate(frame, "PCMU", 1), n)
    results.update(_srtp_results(frame))
    results["echo call, 20 ms: datagram in, tick, packet out (300 calls)"] = min(
        echo_call_us() for _ in range(3)
    )
    # Issue 43: the same call in G.722, its echo at 16 kHz, then at 8 kHz μ-law (resampled).
    results["echo call, 20 ms, G.722 to a 16 kHz echo (300 calls)"] = min(
        echo_call_us(codec=G722) for _ in range(3)
    )
    results["echo call, 20 ms, G.722 to an 8 kHz mu-law echo (300 calls)"] = min(
        echo_call_us(codec=G722, wideband=False) for _ in range(3)
    )
    width = max(map(len, results))
    for name, us in results.items():
        print(f"{name:<{width}}  {us:7.2f} µs")
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
        platform.processor(),
    )
    print(json.dumps({"path": _accel.PATH, "cpu": cpu, "us": results}))


def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            return info.read().splitlines()
    except OSError:
        return []


if __name__ == "__main__":
    main()
