"""A conference's N-1 mix (media/conference.py): who hears whom, mute, join and leave, clipping."""

from __future__ import annotations

import math
import struct

import pytest

from sipgw.media import g711
from sipgw.media.bridge import room_rate
from sipgw.media.codecs.base import ULAW_8K, AudioFormat
from sipgw.media.conference import MAX_PARTICIPANTS, ConferenceMixer

PCM_8K = AudioFormat("pcm_s16le", 8000)
PCM_16K = AudioFormat("pcm_s16le", 16000)
TONES = {"a": 400.0, "b": 700.0, "c": 1100.0}


def tone(freq: float, rate: int = 8000, amplitude: int = 8000, start: int = 0) -> bytes:
    """20 ms of a sine, linear s16le."""
    n = rate // 50
    return struct.pack(
        f"<{n}h",
        *(round(amplitude * math.sin(2 * math.pi * freq * (start + i) / rate)) for i in range(n)),
    )


def ulaw_tone(freq: float, start: int = 0) -> bytes:
    return g711.linear_to_ulaw(tone(freq, start=start))


def level(pcm: bytes, freq: float, rate: int = 8000) -> float:
    """The amplitude of ``freq`` in ``pcm`` (a single-bin DFT)."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    re = sum(s * math.cos(2 * math.pi * freq * i / rate) for i, s in enumerate(samples))
    im = sum(s * math.sin(2 * math.pi * freq * i / rate) for i, s in enumerate(samples))
    return 2 * math.hypot(re, im) / len(samples)


def heard(frame: bytes | None) -> dict[str, bool]:
    """Which of the three tones a μ-law frame carries (above a tenth of their level)."""
    if frame is None:
        return {name: False for name in TONES}
    pcm = g711.ulaw_to_linear(frame)
    return {name: level(pcm, freq) > 800 for name, freq in TONES.items()}


def seat(mixer: ConferenceMixer, who: object, format: AudioFormat = PCM_8K) -> None:  # noqa: A002
    """``who`` joins and takes the silence of its first tick (no round run)."""
    mixer.join(who, format)
    assert mixer.pop(who) is None


def three() -> ConferenceMixer:
    mixer = ConferenceMixer()
    for name in TONES:
        seat(mixer, name, ULAW_8K)
    assert mixer.rounds == 0
    return mixer


def tick(mixer: ConferenceMixer, order: str = "abc", n: int = 0) -> dict[str, bytes | None]:
    """One tick: each participant in ``order`` pushes its tone then pops its frame."""
    out: dict[str, bytes | None] = {}
    for name in order:
        if name in mixer:
            mixer.push(name, ulaw_tone(TONES[name], n * 160))
            out[name] = mixer.pop(name)
    return out


def test_each_hears_the_other_two_and_never_itself() -> None:
    mixer = three()
    for n in range(3):
        out = tick(mixer, n=n)
    for name in TONES:
        assert heard(out[name]) == {other: other != name for other in TONES}, name
    assert mixer.rounds == 3 and mixer.dropped == 0


@pytest.mark.parametrize("order", ["abc", "cba", "bca"])
def test_one_round_a_tick_whoever_ticks_first(order: str) -> None:
    mixer = three()
    for n in range(10):
        tick(mixer, order, n)
    assert mixer.rounds == 10 and mixer.dropped == 0


def test_a_muted_participant_is_heard_by_nobody_and_still_hears() -> None:
    mixer = three()
    mixer.set_muted("b", True)
    tick(mixer)
    out = tick(mixer, n=1)
    assert heard(out["a"]) == {"a": False, "b": False, "c": True}
    assert heard(out["c"]) == {"a": True, "b": False, "c": False}
    assert heard(out["b"]) == {"a": True, "b": False, "c": True}
    assert mixer.muted("b")
    mixer.set_muted("b", False)
    tick(mixer, n=2)
    assert heard(tick(mixer, n=3)["a"])["b"]


def test_a_coach_is_heard_by_the_coached_participant_only_and_hears_everybody() -> None:
    mixer = ConferenceMixer()
    seat(mixer, "a", ULAW_8K)  # the agent, coached
    seat(mixer, "b", ULAW_8K)  # the customer
    mixer.join("c", ULAW_8K, coaching="a")  # the supervisor
    assert mixer.pop("c") is None
    tick(mixer)
    out = tick(mixer, n=1)
    assert heard(out["a"]) == {"a": False, "b": True, "c": True}
    assert heard(out["b"]) == {"a": True, "b": False, "c": False}
    assert heard(out["c"]) == {"a": True, "b": True, "c": False}
    taps: list[bytes | None] = []
    mixer.tap = taps.append
    tick(mixer, n=2)
    (tapped,) = taps  # the room's mix (a recording) holds no whisper
    assert tapped is not None and level(tapped, TONES["c"]) < 800 < level(tapped, TONES["b"])
    mixer.leave("a")  # whispering to nobody: heard by nobody
    tick(mixer, "bc", n=3)
    out = tick(mixer, "bc", n=4)
    assert heard(out["b"]) == {"a": False, "b": False, "c": False}
    assert heard(out["c"]) == {"a": False, "b": True, "c": False}


def test_alone_or_among_the_silent_hears_silence() -> None:
    mixer = ConferenceMixer()
    seat(mixer, "a", ULAW_8K)
    mixer.push("a", ulaw_tone(400))
    assert mixer.pop("a") is None
    seat(mixer, "b", ULAW_8K)
    mixer.push("b", None)  # nothing arrived
    mixer.push("a", None)
    assert mixer.pop("a") is None and mixer.pop("b") is None


def test_join_and_leave_mid_tick() -> None:
    mixer = three()
    tick(mixer)
    # c pushes, then leaves before the round: its frame is mixed for nobody
    mixer.push("c", ulaw_tone(TONES["c"]))
    mixer.leave("c")
    mixer.push("a", ulaw_tone(TONES["a"]))
    mixer.push("b", ulaw_tone(TONES["b"]))
    assert heard(mixer.pop("a")) == {"a": False, "b": True, "c": False}
    # d joins after this round ran: silence this tick, then the others from the next round
    mixer.join("d", ULAW_8K)
    assert mixer.pop("d") is None and mixer.rounds == 2  # no extra round: b's frame waits
    assert heard(mixer.pop("b")) == {"a": True, "b": False, "c": False}
    assert "c" not in mixer and len(mixer) == 3
    assert mixer.pop("c") is None  # gone: nothing, no error
    mixer.leave("c")  # twice: nothing


def test_a_loud_sum_clips_it_never_wraps() -> None:
    mixer = ConferenceMixer()
    full = struct.pack("<160h", *([32767] * 80 + [-32768] * 80))
    for who in range(3):
        seat(mixer, who)
        mixer.push(who, full)
    out = mixer.pop(0)
    assert out is not None
    samples = struct.unpack("<160h", out)
    assert set(samples[:80]) == {32767} and set(samples[80:]) == {-32768}


def test_every_seat_at_full_scale_does_not_overflow_the_sum() -> None:
    mixer = ConferenceMixer()
    full = struct.pack("<160h", *([32767] * 160))
    for who in range(MAX_PARTICIPANTS):
        seat(mixer, who)
        mixer.push(who, full)
    assert set(struct.unpack("<160h", mixer.pop(0) or b"")) == {32767}
    with pytest.raises(ValueError, match="at most"):
        mixer.join("one more", PCM_8K)


def test_quiet_voices_add_exactly() -> None:
    mixer = ConferenceMixer()
    for who, value in enumerate((100, -30, 7)):
        seat(mixer, who)
        mixer.push(who, struct.pack("<160h", *([value] * 160)))
    assert set(struct.unpack("<160h", mixer.pop(0) or b"")) == {-23}
    assert set(struct.unpack("<160h", mixer.pop(1) or b"")) == {107}


def test_participants_in_other_formats_hear_each_other() -> None:
    mixer = ConferenceMixer(rate=16000)
    seat(mixer, "wide", PCM_16K)
    seat(mixer, "narrow", ULAW_8K)
    for n in range(3):
        mixer.push("wide", tone(700, 16000, start=n * 320))
        mixer.push("narrow", ulaw_tone(400, n * 160))
        to_wide, to_narrow = mixer.pop("wide"), mixer.pop("narrow")
    assert to_wide is not None and len(to_wide) == 640
    assert to_narrow is not None and len(to_narrow) == 160
    assert level(to_wide, 400, 16000) > 4000 > level(to_wide, 700, 16000)
    narrow = g711.ulaw_to_linear(to_narrow)
    assert level(narrow, 700) > 4000 > level(narrow, 400)


def test_an_announcement_is_heard_by_everybody() -> None:
    mixer = three()
    mixer.announce([tone(1500)])
    out = {name: mixer.pop(name) for name in TONES}
    for frame in out.values():
        assert frame is not None and level(g711.ulaw_to_linear(frame), 1500) > 4000


def test_a_participant_that_stops_popping_stays_bounded() -> None:
    mixer = ConferenceMixer(depth=3)
    seat(mixer, "a", ULAW_8K)
    seat(mixer, "held", ULAW_8K)
    for n in range(10):
        mixer.push("a", ulaw_tone(400, n * 160))
        mixer.pop("a")
    assert mixer.dropped == 7 and mixer.rounds == 10


def test_joining_twice_is_refused() -> None:
    mixer = three()
    with pytest.raises(ValueError, match="already"):
        mixer.join("a", ULAW_8K)
    with pytest.raises(ValueError, match="at least one"):
        ConferenceMixer(depth=0)


def test_an_announcement_can_spare_one_participant() -> None:
    mixer = three()
    mixer.announce([tone(1500)], skip="a")
    out = {name: mixer.pop(name) for name in TONES}
    assert out["a"] is None
    for name in "bc":
        frame = out[name]
        assert frame is not None and level(g711.ulaw_to_linear(frame), 1500) > 4000


def test_a_tap_gets_the_whole_mix_each_round() -> None:
    mixer = three()
    got: list[bytes | None] = []
    mixer.tap = got.append
    tick(mixer)
    tick(mixer, n=1)  # its round has a's frame of this tick, b's and c's of the last
    whole = got[1]
    assert whole is not None and all(level(whole, hz) > 4000 for hz in TONES.values())
    mixer.mix()  # b's and c's of this tick
    mixer.mix()  # nobody pushed
    assert got[-1] is None and len(got) == 4


# -- a wideband room: 16 kHz mix, participants in their own formats


def test_a_6khz_tone_crosses_between_wideband_participants_and_is_not_folded_for_ulaw() -> None:
    mixer = ConferenceMixer(rate=room_rate([PCM_16K, PCM_16K, ULAW_8K]))
    assert mixer.rate == 16000
    for who, fmt in (("w1", PCM_16K), ("w2", PCM_16K), ("n", ULAW_8K)):
        seat(mixer, who, fmt)
    out: dict[str, bytes | None] = {}
    for n in range(6):
        mixer.push("w1", tone(6000, 16000, start=n * 320))
        mixer.push("w2", None)
        mixer.push("n", None)
        out = {who: mixer.pop(who) for who in ("w1", "w2", "n")}
    wide = out["w2"]
    assert wide is not None and len(wide) == 640
    assert level(wide, 6000, 16000) > 6000  # the tone, wideband, near its 8000
    assert out["w1"] is None  # never its own voice
    narrow = out["n"]
    assert narrow is not None and len(narrow) == 160
    pcm = g711.ulaw_to_linear(narrow)
    assert level(pcm, 2000) < 40  # not folded down to 8 - 6 kHz (ratecv alone: ~8000)
    assert max(level(pcm, f) for f in (500, 1000, 3000)) < 40


def test_a_narrowband_voice_reaches_a_wideband_participant_in_a_16khz_room() -> None:
    mixer = ConferenceMixer(rate=16000)
    seat(mixer, "w", PCM_16K)
    seat(mixer, "n", ULAW_8K)
    out: dict[str, bytes | None] = {}
    for n in range(4):
        mixer.push("n", ulaw_tone(700, n * 160))
        mixer.push("w", tone(300, 16000, start=n * 320))
        out = {who: mixer.pop(who) for who in ("w", "n")}
    wide, narrow = out["w"], out["n"]
    assert wide is not None and level(wide, 700, 16000) > 6000
    assert narrow is not None and level(g711.ulaw_to_linear(narrow), 300) > 6000


def test_the_rate_and_a_participants_format_change_between_rounds() -> None:
    mixer = three()
    assert mixer.rate == 8000
    tick(mixer, n=0)
    mixer.set_rate(16000)
    mixer.set_format("a", PCM_16K)
    assert mixer.formats() == [PCM_16K, ULAW_8K, ULAW_8K]
    out: dict[str, bytes | None] = {}
    for n in range(1, 5):
        mixer.push("a", tone(TONES["a"], 16000, start=n * 320))
        for name in "bc":
            mixer.push(name, ulaw_tone(TONES[name], n * 160))
        out = {who: mixer.pop(who) for who in "abc"}
    a = out["a"]
    assert a is not None and len(a) == 640
    assert level(a, TONES["b"], 16000) > 5000 and level(a, TONES["c"], 16000) > 5000
    assert heard(out["b"]) == {"a": True, "b": False, "c": True}
    mixer.set_format("a", ULAW_8K)  # it left the wideband room's format: back to μ-law
    mixer.set_rate(8000)
    for n in range(5, 8):
        out = tick(mixer, n=n)
    assert out["a"] is not None and len(out["a"]) == 160
    assert heard(out["a"]) == {"a": False, "b": True, "c": True}


def test_an_announcement_queued_before_the_rate_changes_is_resampled() -> None:
    mixer = ConferenceMixer()
    seat(mixer, "x", PCM_16K)
    mixer.announce([tone(1000)] * 3)
    mixer.set_rate(16000)
    out = []
    for _ in range(3):
        mixer.push("x", None)
        out.append(mixer.pop("x"))
    frame = out[-1]
    assert frame is not None and len(frame) == 640 and level(frame, 1000, 16000) > 6000


def test_what_is_told_one_participant_is_heard_by_it_alone_then_done() -> None:
    mixer = three()
    done: list[int] = []
    tick(mixer)  # b and c have pushed: a's next round has their voices
    mixer.tell("a", [tone(1500)] * 2, lambda: done.append(mixer.rounds))
    assert mixer.pending("a") == 2 and mixer.pending("b") == 0 and mixer.pending() == 0
    taps: list[bytes | None] = []
    mixer.tap = taps.append
    for n in range(1, 4):
        out = tick(mixer, n=n)
        a, b = out["a"], out["b"]
        assert a is not None and b is not None
        told = level(g711.ulaw_to_linear(a), 1500) > 4000
        assert told == (n < 3)  # over the room's talk: a still hears b and c
        assert heard(a)["b"] and heard(a)["c"]
        assert level(g711.ulaw_to_linear(b), 1500) < 400
    assert done == [3] and mixer.pending("a") == 0
    assert all(t is not None and level(t, 1500) < 400 for t in taps)  # not in the recording


def test_a_deaf_participant_hears_only_what_it_is_told() -> None:
    mixer = three()
    tick(mixer)
    assert heard(tick(mixer, n=1)["a"])["b"]
    mixer.set_deaf("a", True)
    assert tick(mixer, n=1)["a"] is None  # the others talk: not heard
    mixer.tell("a", [tone(1500)])
    a = tick(mixer, n=1)["a"]
    assert a is not None and level(g711.ulaw_to_linear(a), 1500) > 4000
    assert not any(heard(a).values())
    mixer.tell("a", [tone(1500)] * 5, lambda: pytest.fail("an untold telling is not done"))
    mixer.untell("a")
    assert mixer.pending("a") == 0 and tick(mixer, n=2)["a"] is None
    mixer.set_deaf("a", False)
    assert heard(tick(mixer, n=3)["a"])["b"]


def test_an_announcements_done_comes_after_its_last_frame_and_told_frames_are_resampled() -> None:
    mixer = three()
    done: list[int] = []
    mixer.announce([tone(1500)] * 3, done=lambda: done.append(mixer.rounds))
    mixer.announce([], done=lambda: done.append(-1))  # nothing to play: done at once
    assert done == [-1] and mixer.pending() == 3
    for n in range(4):
        tick(mixer, n=n)
    assert done == [-1, 3]
    mixer.tell("a", [tone(1000)] * 2)
    mixer.set_rate(16000)
    assert mixer.pending("a") == 2
    a = tick(mixer, n=5)["a"]
    assert a is not None and level(g711.ulaw_to_linear(a), 1000) > 4000
