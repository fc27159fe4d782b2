"""IngressAudio: in-order audio at arrival, gaps waited for then concealed, real-time silence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.media import g711
from sipgw.media.codecs import PCMA
from sipgw.media.ingress import IngressAudio
from sipgw.media.rtp import RtpPacket

SILENCE = g711.silence_frame("PCMU")
WAIT = 0.040


def frame(n: int) -> bytes:
    """A recognisable non-silent 160-byte frame."""
    return bytes([(n * 7 + i) % 120 + 1 for i in range(160)])


def packet(n: int, ts0: int = 1000, ssrc: int = 1, payload: bytes | None = None) -> RtpPacket:
    return RtpPacket(
        payload_type=0, sequence_number=n & 0xFFFF, timestamp=(ts0 + 160 * n) % 2**32,
        ssrc=ssrc, payload=frame(n) if payload is None else payload,
    )  # fmt: skip


def test_in_order_audio_is_released_at_arrival() -> None:
    ingress = IngressAudio()
    assert ingress.push(packet(0), 0.0) == [frame(0)]
    assert ingress.push(packet(1), 0.02) == [frame(1)]
    assert ingress.poll(0.03, WAIT) == []


def test_reordered_packet_is_held_until_the_gap_fills() -> None:
    ingress = IngressAudio()
    ingress.push(packet(0), 0.0)
    assert ingress.push(packet(2), 0.04) == []  # ahead of a gap: held
    assert ingress.push(packet(1), 0.045) == [frame(1), frame(2)]


def faded_in(out: bytes, original: bytes) -> bool:
    """``out`` is ``original`` with (at most) its first 10 ms overlap-added after a loss."""
    return len(out) == 160 and out[80:] == original[80:] and out[:80] != original[:80]


def test_a_lost_packet_is_concealed_after_the_wait() -> None:
    ingress = IngressAudio()
    ingress.push(packet(0), 0.0)
    ingress.push(packet(2), 0.04)
    assert ingress.poll(0.02 + WAIT - 0.001, WAIT) == []
    concealed, after = ingress.poll(0.02 + WAIT, WAIT)
    assert len(concealed) == 160 and concealed not in (SILENCE, frame(0))  # sipgw.media.plc
    assert faded_in(after, frame(2))
    assert ingress.filled_frames == 1
    assert ingress.push(packet(1), 0.1) == [] and ingress.late_packets == 1  # too late now


def test_no_packets_means_silence_at_real_time_pace() -> None:
    """Silence suppression or hold: a turn detector still hears the pause."""
    ingress = IngressAudio()
    ingress.push(packet(0), 0.0)
    released = []
    for tick in range(1, 51):  # one second of ticks, no packets
        released += ingress.poll(tick * 0.02, WAIT)
    assert len(released) == 50 - 2  # minus the 40 ms wait
    # 60 ms of concealment fading out, then silence
    assert SILENCE not in released[:3] and set(released[3:]) == {SILENCE}
    # Speech resumes a second later, timestamps 1 s on: a pause (media/gaps.py), not a lost
    # packet, so the rest of it (frame 49, still within its wait) is silence at once and 50
    # is not held back (faded in after the concealment).
    silence, after = ingress.push(packet(50), 1.0)
    assert silence == SILENCE and faded_in(after, frame(50))
    assert ingress.poll(1.02, WAIT) == []


def test_ssrc_change_and_big_jumps_restart_the_timeline() -> None:
    ingress = IngressAudio()
    ingress.push(packet(0), 0.0)
    assert ingress.push(packet(0, ssrc=2, ts0=999_999), 0.02) == [frame(0)]
    assert ingress.push(packet(0, ts0=5_000_000, ssrc=2), 0.04) == [frame(0)]  # > 1 s jump


def after_the_music(forget: bool) -> list[bytes]:
    """Frames 0-4, then the next packet 37 ms after the last with its timestamp 24 ms on (a
    sender that re-anchored its timestamps on a new source: SIPp switching files), and the
    ticks for 100 ms; with ``forget``, the audio before it is forgotten first."""
    ingress = IngressAudio()
    for n in range(5):
        ingress.push(packet(n), 0.02 * n)
    if forget:
        ingress.forget()
    after = ingress.push(packet(5, ts0=1000 + 192, payload=SILENCE), 0.117)
    for tick in range(1, 6):
        after += ingress.poll(0.117 + 0.02 * tick, WAIT)
    return after


def test_audio_forgotten_is_not_concealed_into_a_gap_after_it() -> None:
    """The session forgets the audio when the stream's direction changes (media/
    session.py): a gap just after a resume is not filled from the hold's music."""
    after = after_the_music(forget=True)
    assert len(after) >= 2 and set(after) == {SILENCE}  # the gap filled, the packet, ...
    # Without it, the 24 ms are the music's concealment, loud where silence came.
    concealed = after_the_music(forget=False)
    assert concealed[0] != SILENCE and g711.rms_dbfs(concealed[0]) > -30


def test_timestamp_wrap() -> None:
    ingress = IngressAudio()
    out = []
    for n in range(6):
        out += ingress.push(packet(n, ts0=2**32 - 320), n * 0.02)
    assert out == [frame(n) for n in range(6)]


def test_other_packet_sizes_come_out_as_20_ms_frames_in_the_streams_codec() -> None:
    ingress = IngressAudio(PCMA)  # the session converts them for the agent (test_session)
    ulaw = frame(3) + frame(4)
    alaw = g711.ulaw_to_alaw(ulaw)
    out = []
    for n in range(4):  # 10 ms packets
        out += ingress.push(
            RtpPacket(payload_type=8, sequence_number=n, timestamp=80 * n, ssrc=1,
                      payload=alaw[80 * n : 80 * n + 80]), n * 0.01)  # fmt: skip
    assert out == [alaw[:160], alaw[160:]]


@settings(max_examples=300, deadline=None)
@given(
    order=st.permutations(range(20)),
    drop=st.sets(st.integers(1, 19), max_size=5),
    dup=st.sets(st.integers(0, 19), max_size=5),
    start=st.integers(0, 2**32 - 1),
)
def test_property_reorder_within_the_wait_gives_the_exact_stream(
    order: list[int], drop: set[int], dup: set[int], start: int
) -> None:
    """Packets sent every 20 ms, delivered shuffled within one 20 ms slot of their send
    time (small jitter), some duplicated, some lost: the output is the sent audio in
    order, lost frames concealed (the frame after a loss faded in over its first 10 ms),
    one frame per 20 ms of timeline, never a repeat."""
    ingress = IngressAudio()
    first = packet(0, ts0=start)
    out = ingress.push(first, 0.0)
    arrivals: list[tuple[float, int]] = []
    for n in range(1, 20):
        if n in drop:
            continue
        jitter = 0.015 * (order.index(n) % 2)  # 0 or 15 ms late: swaps neighbours
        arrivals.append((n * 0.02 + jitter, n))
        if n in dup:
            arrivals.append((n * 0.02 + 0.018, n))
    arrivals.sort()
    now = 0.0
    for at, n in arrivals:
        while now + 0.02 <= at:
            now += 0.02
            out += ingress.poll(now, WAIT)
        out += ingress.push(packet(n, ts0=start), at)
    for _ in range(10):
        now += 0.02
        out += ingress.poll(now, WAIT)
    assert all(len(f) == 160 for f in out)
    for n in range(20):
        if n in drop:
            continue
        if n - 1 in drop:
            assert faded_in(out[n], frame(n))
        else:
            assert out[n] == frame(n)
    assert set(out[23:]) <= {SILENCE}  # at most 60 ms concealed after the stream stops


def test_the_wake_up_after_a_stall_of_our_own_releases_no_silence() -> None:
    """Polled every 20 ms, then not for 320 ms (the gateway kept from running): that wake-up's
    polls release nothing; the audio sent meanwhile, read after them, continues the timeline.
    Polled on time while nothing came, the same 320 ms are silence (the caller's pause)."""
    ingress = IngressAudio()
    released = [f for n in range(10) for f in ingress.push(packet(n), n * 0.02)]
    for n in range(10):
        released += ingress.poll(n * 0.02, WAIT)
    for _ in range(5):  # the catch-up ticks, at one time
        assert ingress.poll(0.5, WAIT) == []
    for n in range(10, 25):
        released += ingress.push(packet(n), 0.501)
    released += ingress.poll(0.52, WAIT)
    assert released == [frame(n) for n in range(25)] and ingress.filled_frames == 0

    on_time = IngressAudio()
    for n in range(10):
        on_time.push(packet(n), n * 0.02)
    for tick in range(10, 25):
        on_time.poll(tick * 0.02, WAIT)
    assert on_time.filled_frames > 5


def test_a_stream_whose_delay_grew_is_heard_again() -> None:
    """The caller's packets come 50 ms later than the first one said, at their pace: the
    timeline released their first frames as silence, so each came behind it, and all were
    dropped for the rest of the call (a placed call's echo, heard as 15 s of silence). The
    second one re-anchors the timeline: the rest is heard, in order, 20 ms late."""
    ingress = IngressAudio()
    released = ingress.push(packet(0), 0.0)
    for tick in range(1, 100):
        now = tick * 0.02
        for n in range(1, 100):
            if now - 0.02 < n * 0.02 + 0.05 <= now + 1e-9:
                released += ingress.push(packet(n), now)
        released += ingress.poll(now, WAIT)
    heard = [f for f in released if f in {frame(n) for n in range(100)}]
    assert heard[0] == frame(0) and ingress.reanchors == 1
    assert ingress.late_packets == 1  # the first late one: it might have led a burst
    assert heard[1:] == [frame(n) for n in range(3, len(heard) + 2)] and len(heard) > 90


def test_a_burst_of_late_packets_catches_up_without_a_reanchor() -> None:
    """Packets 1-3 held up in the network (less than a STALL) come in one burst with 4, on
    its time: 1 and 2 were released concealed by then (a 20 ms wait) and are dropped, and the
    timeline stays where it was: 3 and 4 are heard at once."""
    ingress = IngressAudio()
    released = ingress.push(packet(0), 0.0)
    for tick in range(1, 20):
        now = tick * 0.02
        sent = range(1, 5) if tick == 4 else [tick] if tick > 4 else []
        for n in sent:
            released += ingress.push(packet(n), now)
        released += ingress.poll(now, 0.02)
    assert ingress.reanchors == 0 and ingress.late_packets == 2
    assert released[0] == frame(0) and faded_in(released[3], frame(3))
    assert released[4:] == [frame(n) for n in range(4, 20)]
