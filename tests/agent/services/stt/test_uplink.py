"""The STT uplink (agent/services/stt/uplink.py): batching, backlog and pacing on a fake clock.

Two vendors' rules are exercised: AssemblyAI streaming v3 (μ-law 8 kHz, 50-1000 ms
per message) and Amazon Transcribe streaming (16-bit PCM, 50-200 ms chunks advised,
1 s at most, as close to real time as possible: "Transcribing streaming audio",
best practices, https://docs.aws.amazon.com/transcribe/latest/dg/streaming.html).
"""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipgw.agent.services.stt.uplink import (
    SILENCE_DBFS,
    AudioFormat,
    AudioUplink,
    ChunkQueue,
    RealTimePacer,
    frame_dbfs,
)
from sipgw.app.evaluation.audio import encode, tone_samples

FRAME = 160  # 20 ms of 8 kHz μ-law
SILENCE_FRAME = b"\xff" * FRAME
BURST = 0.2
MULAW = AudioFormat("pcm_mulaw", 8000)
S16LE = AudioFormat("pcm_s16le", 8000)


def tone(ms: int) -> bytes:
    """A μ-law sine burst at -13.5 dBFS (speech level)."""
    return encode(tone_samples(440.0, ms / 1000, -13.5))


def silence(ms: int) -> bytes:
    return b"\xff" * (ms * 8)


def split_frames(audio: bytes, size: int = FRAME) -> list[bytes]:
    return [audio[i : i + size] for i in range(0, len(audio), size)]


def pcm_tone(ms: int, level: int = 8000) -> bytes:
    """16-bit little-endian samples of a 400 Hz square wave (speech level)."""
    samples = [level if (i // 10) % 2 else -level for i in range(ms * 8)]
    return struct.pack(f"<{len(samples)}h", *samples)


def pcm_silence(ms: int) -> bytes:
    return b"\x00\x00" * (ms * 8)


def assemblyai(chunk_ms: int = 100, max_backlog_seconds: float = 10.0) -> AudioUplink:
    """The uplink as agent/services/assemblyai/stt.py sets it up (docs/cloud-apis.md)."""
    return AudioUplink(
        MULAW,
        chunk_ms=chunk_ms,
        min_chunk_ms=50,
        max_chunk_ms=1000,
        max_backlog_seconds=max_backlog_seconds,
        burst=BURST,
    )


def transcribe(chunk_ms: int = 100) -> AudioUplink:
    """The uplink set to Amazon Transcribe's streaming rules (16-bit PCM, 50-200 ms)."""
    return AudioUplink(
        S16LE, chunk_ms=chunk_ms, min_chunk_ms=50, max_chunk_ms=200, max_backlog_seconds=10.0
    )


def drain(uplink: AudioUplink) -> list[bytes]:
    chunks = []
    while (chunk := uplink.pop()) is not None:
        chunks.append(chunk)
    return chunks


def make_queue(max_bytes: int, chunk_bytes: int = 800) -> ChunkQueue:
    return ChunkQueue(
        chunk_bytes=chunk_bytes,
        bytes_per_second=8000,
        max_bytes=max_bytes,
        encoding="pcm_mulaw",
        min_chunk_bytes=400,
        max_chunk_bytes=8000,
    )


# --------------------------------------------------------------------------- formats, levels


def test_audio_formats_count_whole_samples() -> None:
    assert (MULAW.sample_bytes, MULAW.bytes_per_second, MULAW.bytes_for(100)) == (1, 8000, 800)
    assert (S16LE.sample_bytes, S16LE.bytes_per_second, S16LE.bytes_for(100)) == (2, 16000, 1600)
    assert AudioFormat("pcm_s16le", 11025).bytes_for(1) == 22  # 22.05 bytes: whole samples


@pytest.mark.parametrize(
    ("encoding", "rate", "message"),
    [("opus", 8000, "unsupported encoding 'opus'"), ("pcm_mulaw", 0, "sample_rate")],
)
def test_audio_format_rejects_what_cannot_be_cut(encoding: str, rate: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AudioFormat(encoding, rate)


def test_frame_levels_in_both_encodings() -> None:
    assert frame_dbfs(SILENCE_FRAME) == -math.inf
    assert frame_dbfs(pcm_silence(20), "pcm_s16le") == -math.inf
    assert frame_dbfs(tone(20)) > SILENCE_DBFS
    assert frame_dbfs(pcm_tone(20), "pcm_s16le") == pytest.approx(-12.3, abs=0.1)
    assert frame_dbfs(pcm_tone(20, level=50), "pcm_s16le") < SILENCE_DBFS


# --------------------------------------------------------------------------- the chunk queue


def test_audio_queue_batches_160_byte_frames_into_800_byte_chunks() -> None:
    queue = make_queue(80_000)
    completed = [queue.push(bytes([i]) * FRAME) for i in range(11)]
    assert completed == [False, False, False, False, True] * 2 + [False]
    first, second = queue.pop(), queue.pop()
    assert first == b"".join(bytes([i]) * FRAME for i in range(5))
    assert second is not None and second[0] == 5
    assert queue.pop() is None and queue.backlog_bytes == FRAME


def test_audio_queue_drops_oldest_beyond_cap() -> None:
    queue = make_queue(1600)
    for i in range(4):
        queue.push(bytes([i]) * 800)
    assert queue.overflow_bytes == 1600
    assert [c[0] for c in (queue.pop(), queue.pop()) if c] == [2, 3]


def test_audio_queue_skips_silence_but_keeps_a_tail_while_catching_up() -> None:
    queue = make_queue(80_000)
    queue.set_keep_silence_ms(200)
    queue.begin_outage()
    for frame in split_frames(silence(500) + tone(100) + silence(500)):
        queue.push(frame)
    # Leading silence skipped; the tone and 200 ms of the silence after it kept.
    assert queue.backlog_bytes == 800 + 1600
    assert queue.skipped_bytes == 4000 + 2400


@given(
    before=st.integers(min_value=0, max_value=30),
    chunk_ms=st.sampled_from([50, 100, 200, 1000]),
    silence_frames=st.integers(min_value=3, max_value=60),
)
def test_a_chunk_ends_exactly_where_the_turn_silence_completes(
    before: int, chunk_ms: int, silence_frames: int
) -> None:
    queue = make_queue(80_000, chunk_bytes=chunk_ms * 8)
    for _ in range(before):
        queue.push(b"\x01" * FRAME)
    queue.align_chunk_end(silence_frames * FRAME)
    for _ in range(silence_frames):
        queue.push(SILENCE_FRAME)
    sizes = []
    while (chunk := queue.pop()) is not None:
        sizes.append(len(chunk))
    # The frame that completes the silence went out in a chunk: nothing pending.
    assert queue.backlog_bytes == 0
    assert sum(sizes) == (before + silence_frames) * FRAME
    assert all(400 <= size <= 8000 for size in sizes), sizes
    # Normal chunking resumes afterwards.
    for _ in range(chunk_ms // 20 + 1):
        queue.push(SILENCE_FRAME)
    assert queue.pop() == SILENCE_FRAME[:1] * (chunk_ms * 8)


def test_speech_resuming_before_the_boundary_moves_it() -> None:
    queue = make_queue(80_000)
    queue.align_chunk_end(5 * FRAME)
    for _ in range(3):
        queue.push(SILENCE_FRAME)
    queue.align_chunk_end(5 * FRAME)  # spoke again, then quiet again
    for _ in range(5):
        queue.push(SILENCE_FRAME)
    sizes = []
    while (chunk := queue.pop()) is not None:
        sizes.append(len(chunk))
    assert sizes == [640, 640]  # what was pending once it could go, then the new boundary


# --------------------------------------------------------------------------- the pacer


@given(st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=200))
def test_pacer_never_runs_ahead_of_real_time(gaps: list[float]) -> None:
    """Whatever the request times, the audio sent never exceeds elapsed + burst."""
    chunk = 0.1
    pacer = RealTimePacer(0.0, BURST, chunk + BURST)
    now = sent = 0.0
    for gap in gaps:
        now += gap
        now += pacer.delay(chunk, now)
        pacer.consume(chunk, now)
        sent += chunk
        assert sent <= now + BURST + 1e-9


# --------------------------------------------------------------------------- the uplink


def test_live_audio_goes_as_each_chunk_completes() -> None:
    uplink = assemblyai()
    uplink.begin_session(10.0)
    now = 10.0
    assert uplink.wait_before_next(now) is None  # nothing queued yet
    for i, frame in enumerate(split_frames(tone(300))):
        now = 10.0 + (i + 1) * 0.020
        if uplink.push(frame):
            assert uplink.wait_before_next(now) == 0.0
            chunk = uplink.pop()
            assert chunk is not None and len(chunk) == 800
            uplink.sent(chunk, now)
    assert uplink.backlog_seconds == 0.0


def test_a_backlog_drains_at_real_time_after_the_burst() -> None:
    uplink = assemblyai()
    for frame in split_frames(tone(1000)):  # a second of audio queued at once
        uplink.push(frame)
    uplink.begin_session(0.0)
    now, sent = 0.0, 0.0
    while (wait := uplink.wait_before_next(now)) is not None:
        if wait > 0.0:
            now += max(wait, 1e-6)  # as the sender sleeps (time moves on)
        else:
            chunk = uplink.pop()
            assert chunk is not None
            uplink.sent(chunk, now)
            sent += len(chunk) / 8000
            assert sent <= now + BURST + 1e-9
    assert sent == pytest.approx(1.0)
    assert now == pytest.approx(1.0 - BURST, abs=1e-4)  # the last chunk waits for real time


def test_each_session_starts_with_a_fresh_burst() -> None:
    uplink = assemblyai()
    for frame in split_frames(tone(400)):
        uplink.push(frame)
    uplink.begin_session(0.0)
    for _ in range(2):  # the burst covers 0.2 s: two chunks now
        assert uplink.wait_before_next(0.0) == 0.0
        chunk = uplink.pop()
        assert chunk is not None
        uplink.sent(chunk, 0.0)
    assert uplink.wait_before_next(0.0) == pytest.approx(0.1)
    uplink.begin_session(0.0)  # reconnected: a new session may burst again
    assert uplink.wait_before_next(0.0) == 0.0


def test_a_chunk_the_socket_refused_goes_first_next_time() -> None:
    uplink = assemblyai()
    for frame in split_frames(tone(200)):
        uplink.push(frame)
    first = uplink.pop()
    assert first is not None
    uplink.put_back(first)
    assert drain(uplink)[0] == first


def test_an_outage_skips_silence_until_the_backlog_has_drained() -> None:
    uplink = assemblyai()
    uplink.set_keep_silence_ms(200)
    uplink.begin_outage()
    for frame in split_frames(silence(500) + tone(100) + silence(500)):
        uplink.push(frame)
    assert uplink.backlog_seconds == pytest.approx(0.3)  # the tone and a 200 ms tail
    assert uplink.skipped_seconds == pytest.approx(0.8)
    drain(uplink)
    assert uplink.wait_before_next(0.0) is None  # drained: live again
    for frame in split_frames(silence(500)):
        uplink.push(frame)
    assert uplink.backlog_seconds == pytest.approx(0.5)  # silence is kept now


def test_a_long_outage_keeps_only_the_newest_audio() -> None:
    uplink = assemblyai(max_backlog_seconds=1.0)
    uplink.begin_outage()
    for frame in split_frames(tone(3000)):
        uplink.push(frame)
    assert uplink.backlog_seconds == pytest.approx(1.0)
    assert uplink.dropped_seconds == pytest.approx(2.0)


def test_a_smaller_chunk_size_sends_what_is_batched_at_once() -> None:
    uplink = assemblyai(chunk_ms=100)
    for frame in split_frames(silence(60)):
        uplink.push(frame)
    assert uplink.set_chunk_ms(50)  # 60 ms batched: ready at once, whole
    assert [len(c) for c in drain(uplink)] == [480]
    uplink.set_chunk_ms(None)  # back to the configured 100 ms
    for frame in split_frames(silence(140)):
        uplink.push(frame)
    assert [len(c) for c in drain(uplink)] == [800]  # 40 ms wait for their chunk
    assert uplink.backlog_seconds == pytest.approx(0.04)


def test_a_second_batched_while_nobody_talked_leaves_in_one_message() -> None:
    uplink = assemblyai(chunk_ms=100)
    uplink.set_chunk_ms(1000)
    for frame in split_frames(silence(980)):
        uplink.push(frame)
    assert drain(uplink) == []
    assert uplink.set_chunk_ms(None)  # the caller's first loud frame: all of it goes now
    assert [len(c) for c in drain(uplink)] == [7840]  # one message, not nine and a rest
    for frame in split_frames(tone(100)):
        uplink.push(frame)
    assert [len(c) for c in drain(uplink)] == [800]


def test_a_smaller_chunk_size_keeps_less_than_a_chunk_batched() -> None:
    uplink = assemblyai(chunk_ms=100)
    for frame in split_frames(silence(40)):
        uplink.push(frame)
    assert not uplink.set_chunk_ms(50)  # 40 ms: under the new size, it waits
    assert drain(uplink) == []


@pytest.mark.parametrize("chunk_ms", [40, 1001])
def test_chunk_sizes_outside_the_services_limits_are_refused(chunk_ms: int) -> None:
    with pytest.raises(ValueError, match="between 50 and 1000"):
        assemblyai().set_chunk_ms(chunk_ms)
    with pytest.raises(ValueError, match="between 50 and 1000"):
        assemblyai(chunk_ms=chunk_ms)


# --------------------------------------------------------------------------- another vendor


def test_transcribe_rules_16_bit_chunks_within_50_to_200_ms() -> None:
    uplink = transcribe(chunk_ms=100)
    frames = split_frames(pcm_tone(1000), size=320)  # 20 ms of 16-bit PCM at 8 kHz
    assert sum(uplink.push(frame) for frame in frames) == 10
    assert {len(c) for c in drain(uplink)} == {1600}
    with pytest.raises(ValueError, match="between 50 and 200"):
        uplink.set_chunk_ms(250)  # larger than Transcribe advises


@given(
    speech_frames=st.integers(min_value=0, max_value=40),
    silence_ms=st.sampled_from([100, 150, 300, 500]),
    chunk_ms=st.sampled_from([50, 100, 200]),
)
def test_transcribe_turn_silence_boundary_keeps_samples_whole(
    speech_frames: int, silence_ms: int, chunk_ms: int
) -> None:
    """The end-of-turn boundary on 16-bit audio: every chunk within 50-200 ms and of
    whole samples, and the one that completes the silence leaves at once."""
    uplink = transcribe(chunk_ms=chunk_ms)
    for frame in split_frames(pcm_tone(speech_frames * 20), size=320):
        uplink.push(frame)
    uplink.mark_speech_end(silence_ms)
    for frame in split_frames(pcm_silence(silence_ms), size=320):
        uplink.push(frame)
    sizes = [len(c) for c in drain(uplink)]
    assert uplink.backlog_seconds == 0.0
    assert sum(sizes) == (speech_frames * 20 + silence_ms) * 16
    assert all(size % 2 == 0 and 1600 // 2 <= size <= 3200 for size in sizes), sizes


def test_transcribe_outage_tells_16_bit_silence_from_speech() -> None:
    uplink = transcribe()
    uplink.set_keep_silence_ms(100)
    uplink.begin_outage()
    audio = pcm_silence(400) + pcm_tone(200) + pcm_silence(400)
    for frame in split_frames(audio, size=320):
        uplink.push(frame)
    assert uplink.backlog_seconds == pytest.approx(0.3)  # the speech and a 100 ms tail
    assert uplink.skipped_seconds == pytest.approx(0.7)


@given(st.lists(st.floats(min_value=0.0, max_value=0.3), min_size=1, max_size=150))
def test_transcribe_pace_never_above_real_time(gaps: list[float]) -> None:
    """Audio arriving in bursts after stalls: what is sent never runs ahead of the clock
    by more than the burst (a session never gets audio faster than real time)."""
    uplink = transcribe(chunk_ms=200)
    uplink.begin_session(0.0)
    now = sent = 0.0
    frames = iter(split_frames(pcm_tone(len(gaps) * 20), size=320))
    for gap in gaps:
        now += gap
        uplink.push(next(frames))
        while (wait := uplink.wait_before_next(now)) is not None and wait == 0.0:
            chunk = uplink.pop()
            assert chunk is not None
            uplink.sent(chunk, now)
            sent += len(chunk) / 16000
        assert sent <= now + BURST + 1e-9


def test_a_rounding_crumb_is_no_wait() -> None:
    """Tokens summed from clock differences can fall 1e-17 s short of a chunk: that is no
    wait (a loop with a millisecond clock would spin on it until its clock moved)."""
    pacer = RealTimePacer(0.0, 0.0, 1.0)
    now = 0.0
    for _ in range(10):  # 0.1 s in ten steps of 0.01: the sum is 0.09999999999999999
        now += 0.01
    assert now < 0.1 and pacer.delay(0.1, now) == 0.0
    assert RealTimePacer(0.0, 0.0, 1.0).delay(0.1, 0.05) == pytest.approx(0.05)  # a wait
