"""Conference rooms (agent/multiparty/conferences.py): when a room starts and ends, who is full, the
beeps, mute, hold and its music, announcements, and the events numbered and reported once
per subscription."""

from __future__ import annotations

import math
import struct

import pytest

from sipgw.agent.multiparty.conferences import (
    Announcement,
    ConferenceRoom,
    Listener,
    RoomClosed,
    RoomEvent,
    RoomFull,
    RoomRecording,
    Seat,
    SeatRules,
)
from sipgw.media import g711
from sipgw.media.codecs.base import PCM16_16K, ULAW_8K
from tests.media.test_conference import level

NOW = 1_700_000_000.0


class Ears:
    """Every participant's listener: what each got, and what each was told to report."""

    def __init__(self) -> None:
        self.got: dict[str, list[RoomEvent]] = {}
        self.reported: list[tuple[str, RoomEvent]] = []

    def of(self, who: str) -> Listener:
        self.got.setdefault(who, [])

        def listener(event: RoomEvent, report: bool) -> None:
            self.got[who].append(event)
            if report:
                self.reported.append((who, event))

        return listener


def room() -> tuple[ConferenceRoom, Ears, list[ConferenceRoom]]:
    over: list[ConferenceRoom] = []
    return ConferenceRoom("r", "CF1", over.append), Ears(), over


def join(r: ConferenceRoom, ears: Ears, who: str, sub: object = "cb", **rules: object) -> Seat:
    return r.join(who, ULAW_8K, SeatRules(**rules), ears.of(who), NOW, sub)  # type: ignore[arg-type]


def test_a_room_starts_with_two_and_a_starter_and_ends_with_the_last() -> None:
    r, ears, over = room()
    a = join(r, ears, "a")
    assert not r.started and not a.started  # alone: waiting
    b = join(r, ears, "b")
    assert r.started and a.started and b.started
    a.leave("participant_hung_up", NOW + 1)
    assert r.started and not r.over and not b.over  # one left: still in progress
    b.leave("participant_hung_up", NOW + 2)
    assert r.over and r.end_reason == "last-participant-left" and over == [r]
    kinds = [e.kind for _, e in ears.reported]
    assert kinds == ["participant-join", "participant-join", "conference-start",
                     "participant-leave", "participant-leave", "conference-end"]  # fmt: skip
    assert [e.sequence for _, e in ears.reported] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(RoomClosed):
        join(r, ears, "c")


def test_without_a_starter_nobody_is_mixed_until_one_joins() -> None:
    r, ears, _ = room()
    a = join(r, ears, "a", start_on_enter=False)
    b = join(r, ears, "b", start_on_enter=False)
    assert not r.started
    a.push(g711.linear_to_ulaw(struct.pack("<160h", *([5000] * 160))), NOW)
    assert b.pop() is None and len(r.mixer) == 2 and r.mixer.rounds == 0
    join(r, ears, "c")
    assert r.started and a.started
    assert [e.kind for e in ears.got["a"]][-1] == "conference-start"  # wakes every waiter


def test_end_on_exit_ends_the_room_for_everybody() -> None:
    r, ears, over = room()
    a = join(r, ears, "a", end_on_exit=True)
    b = join(r, ears, "b")
    c = join(r, ears, "c")
    a.leave("participant_hung_up", NOW)
    assert r.over and b.over and c.over and over == [r]
    assert r.end_reason == "participant-with-end-conference-on-exit-left"
    (end,) = [e for _, e in ears.reported if e.kind == "conference-end"]
    assert end.ending == "a" and end.reason == r.end_reason
    assert b.pop() is None
    b.leave("conference_ended", NOW)  # the others give up their seats after: still reported
    assert [e.kind for _, e in ears.reported][-1] == "participant-leave"


def test_the_first_participants_max_is_the_rooms() -> None:
    r, ears, _ = room()
    join(r, ears, "a", max_participants=2)
    with pytest.raises(ValueError, match="already"):
        join(r, ears, "a")
    join(r, ears, "b", max_participants=250)
    with pytest.raises(RoomFull):
        join(r, ears, "c", max_participants=250)
    assert r.max_participants == 2 and len(r.seats) == 2


def test_one_subscription_reports_each_event_once_every_listener_hears_it() -> None:
    r, ears, _ = room()
    join(r, ears, "a", sub="same")
    join(r, ears, "b", sub="same")
    join(r, ears, "c", sub="other")
    join(r, ears, "d", sub=None)  # no status callback: hears, reports nothing
    for who in "ab":  # every listener hears every event from its own join on
        assert [e.who for e in ears.got[who] if e.kind == "participant-join"][-2:] == ["c", "d"]
    assert [e.who for e in ears.got["d"]] == ["d"]
    reporters = [(who, e.kind, e.who) for who, e in ears.reported]
    assert reporters.count(("a", "participant-join", "c")) == 1
    assert ("b", "participant-join", "c") not in reporters  # a reports for "same"
    assert ("c", "participant-join", "c") in reporters and "d" not in {w for w, *_ in reporters}


def test_mute_is_an_event_and_silences_the_participant() -> None:
    r, ears, _ = room()
    a = join(r, ears, "a")
    b = join(r, ears, "b")
    a.set_muted(True, NOW)
    a.set_muted(True, NOW)  # no change: no event
    assert [e.kind for _, e in ears.reported][-1] == "participant-mute"
    assert r.mixer.muted("a") and ears.reported[-1][1].muted
    a.set_muted(False, NOW)
    assert [e.kind for _, e in ears.reported][-1] == "participant-unmute"
    assert b.muted is False


def test_the_room_hears_a_beep_when_one_joins_or_leaves_but_not_the_joiner() -> None:
    r, ears, _ = room()
    a = join(r, ears, "a")
    b = join(r, ears, "b")  # starts the room: a hears b's beep, b does not
    for seat in (a, b):
        seat.pop()  # the tick each joined on
    assert a.pop() is not None and b.pop() is None
    a_heard = g711.ulaw_to_linear(a.pop() or b"")
    assert level(a_heard, 1000) > 1000
    c = join(r, ears, "c", beep_on_enter=False, beep_on_exit=False)
    for _ in range(20):  # the rest of b's beep
        for seat in (a, b, c):
            seat.pop()
    assert all(seat.pop() is None for seat in (a, b, c))  # c came in without one
    c.leave("participant_hung_up", NOW)
    assert a.pop() is None  # nor went out with one
    b.leave("participant_hung_up", NOW)
    assert a.pop() is not None  # b's exit beep


def test_a_held_participant_is_not_heard_and_its_hold_is_an_event() -> None:
    r, ears, _ = room()
    a = join(r, ears, "a", muted=True)
    join(r, ears, "b")
    a.set_held(True, NOW)
    a.set_muted(False, NOW)  # unmuted, still held: still not heard
    assert r.mixer.muted("a")
    kinds = [e.kind for _, e in ears.reported][-2:]
    assert kinds == ["participant-hold", "participant-unmute"]
    assert ears.reported[-2][1].held and ears.reported[-1][1].held
    a.set_held(False, NOW)
    assert not r.mixer.muted("a") and ears.reported[-1][1].kind == "participant-unhold"


def test_a_recording_gets_the_whole_mix_from_the_start_and_goes_with_the_end() -> None:
    r, ears, _ = room()
    recording = RoomRecording("RE1")
    a = r.join("a", ULAW_8K, SeatRules(), ears.of("a"), NOW, None, recording)
    assert r.recording is recording and recording.started_at is None
    b = r.join("b", ULAW_8K, SeatRules(beep_on_enter=False), ears.of("b"), NOW + 1, None,
               RoomRecording("RE2"))  # fmt: skip
    assert r.recording is recording and recording.started_at == NOW + 1  # the first asked
    loud = g711.linear_to_ulaw(struct.pack("<160h", *([8000, -8000] * 80)))
    for seat in (a, b):
        seat.pop()  # the tick each joined on
    for _ in range(3):  # silence, then a speaks, then silence
        for seat in (a, b):
            seat.push(None, NOW)
            seat.pop()
    for _ in range(5):
        a.push(loud, NOW)
        b.push(None, NOW)
        a.pop()
        b.pop()
    for _ in range(4):
        for seat in (a, b):
            seat.push(None, NOW)
            seat.pop()
    assert len(recording.audio) == r.mixer.rounds * 160
    assert len(recording.ulaw()) == 5 * 160  # trimmed to a's words
    recording.trim = False
    assert len(recording.ulaw()) == len(recording.audio)
    a.leave("participant_hung_up", NOW)
    b.leave("participant_hung_up", NOW)
    (end,) = [e for e in ears.got["b"] if e.kind == "conference-end"]
    assert end.recording is recording


# -- a wideband room


def sine16(freq: float, start: int, amplitude: int = 8000) -> bytes:
    """20 ms of ``freq`` at 16 kHz, linear."""
    w = 2 * math.pi * freq / 16000
    return struct.pack("<320h", *(round(amplitude * math.sin(w * (start + n))) for n in range(320)))


def test_the_room_mixes_at_16khz_while_a_wideband_participant_is_in() -> None:
    r, ears, _ = room()
    a = join(r, ears, "a")
    assert r.rate == 8000
    w = r.join("w", PCM16_16K, SeatRules(), ears.of("w"), NOW)
    assert r.rate == 16000 and r.started
    for seat in (a, w):
        seat.pop()  # the tick each joined on
    out = [a.pop() for _ in range(3)]
    assert all(frame is not None and len(frame) == 160 for frame in out)  # w's beep, μ-law
    wide_beep = w.pop()
    assert wide_beep is None  # its own beep: not heard
    w.leave("participant_hung_up", NOW + 1)
    assert r.rate == 8000  # back to narrowband with the last wideband participant
    exit_beep = a.pop()
    assert exit_beep is not None and level(g711.ulaw_to_linear(exit_beep), 1000) > 1000


def test_a_16khz_rooms_recording_is_8khz_with_nothing_folded() -> None:
    r, ears, _ = room()
    recording = RoomRecording("RE1", trim=False)
    w1 = r.join("w1", PCM16_16K, SeatRules(beep_on_enter=False), ears.of("w1"), NOW, None,
                recording)  # fmt: skip
    w2 = r.join("w2", PCM16_16K, SeatRules(beep_on_enter=False), ears.of("w2"), NOW)
    for seat in (w1, w2):
        seat.pop()
    for n in range(8):  # w1 says 6 kHz and 1 kHz
        w1.push(audioop_add(sine16(6000, n * 320), sine16(1000, n * 320)), NOW)
        w2.push(None, NOW)
        w1.pop()
        heard = w2.pop()
    assert heard is not None and level(heard, 6000, 16000) > 6000
    assert len(recording.audio) == r.mixer.rounds * 160
    last = g711.ulaw_to_linear(bytes(recording.audio[-160:]))
    assert level(last, 1000) > 6000 and level(last, 2000) < 100  # 6 kHz not folded to 2


def audioop_add(a: bytes, b: bytes) -> bytes:
    x, y = struct.unpack("<320h", a), struct.unpack("<320h", b)
    return struct.pack("<320h", *(p + q for p, q in zip(x, y, strict=True)))


def tone(freq: float) -> bytes:
    return g711.linear_to_ulaw(
        struct.pack("<160h", *(round(8000 * math.sin(2 * math.pi * freq * i / 8000))
                               for i in range(160)))
    )  # fmt: skip


def test_a_participant_made_a_coach_is_heard_by_the_coached_one_only() -> None:
    r, ears, _ = room()
    a, b, c = (join(r, ears, who, beep_on_enter=False) for who in "abc")
    a.set_coaching("b", NOW)
    assert ears.reported[-1][1].kind == "participant-modify" and ears.reported[-1][1].coaching
    heard: dict[str, bytes] = {}
    for _ in range(6):
        a.push(tone(440.0), NOW)
        for seat in (b, c):
            seat.push(None, NOW)
        heard = {s.who: s.pop() or b"\xff" * 160 for s in (a, b, c)}
    assert level(g711.ulaw_to_linear(heard["b"]), 440.0) > 500
    assert level(g711.ulaw_to_linear(heard["c"]), 440.0) < 50
    a.set_coaching("", NOW)
    assert not ears.reported[-1][1].coaching
    for _ in range(6):
        a.push(tone(440.0), NOW)
        for seat in (b, c):
            seat.push(None, NOW)
        heard = {s.who: s.pop() or b"\xff" * 160 for s in (a, b, c)}
    assert level(g711.ulaw_to_linear(heard["c"]), 440.0) > 500


def test_the_app_removing_a_participant_or_ending_the_room_says_so() -> None:
    r, ears, over = room()
    a = join(r, ears, "a", end_on_exit=True)
    join(r, ears, "b")
    join(r, ears, "c")
    a.kick(NOW)
    leave = ears.got["a"][-2]
    assert (leave.kind, leave.reason) == ("participant-leave", "participant_updated_via_api")
    assert r.end_reason == "participant-with-end-conference-on-exit-kicked" and over == [r]
    r3, ears3, _ = room()  # the same reason, its own TwiML updated: it left, not kicked
    moderator = join(r3, ears3, "a", end_on_exit=True)
    join(r3, ears3, "b")
    moderator.leave("participant_updated_via_api", NOW)
    assert r3.end_reason == "participant-with-end-conference-on-exit-left"
    r2, ears2, over2 = room()
    join(r2, ears2, "a")
    r2.end(NOW)
    r2.end(NOW)  # once
    assert [e.kind for e in ears2.got["a"]] == ["participant-join", "conference-end"]
    assert r2.end_reason == "conference-ended-via-api" and over2 == [r2] and r2.over


class Player:
    """A seat's player as the agent is one: what the room asked of it."""

    def __init__(self) -> None:
        self.announcements: list[Announcement] = []
        self.music: list[tuple[str, str] | None] = []

    def announce(self, announcement: Announcement) -> None:
        self.announcements.append(announcement)

    def hold_music(self, music: tuple[str, str] | None) -> None:
        self.music.append(music)


def ulaw_tone(hz: float, seconds: float) -> bytes:
    n = round(8000 * seconds)
    pcm = struct.pack(f"<{n}h", *(round(8000 * math.sin(2 * math.pi * hz * i / 8000))
                                  for i in range(n)))  # fmt: skip
    return g711.linear_to_ulaw(pcm)


def hears(seat: Seat, hz: float) -> bool:
    frame = seat.pop()
    return frame is not None and level(g711.ulaw_to_linear(frame), hz) > 2000


def test_held_with_music_the_participant_hears_its_music_not_the_room() -> None:
    r, ears, _ = room()
    a, b = join(r, ears, "a", beep_on_enter=False), join(r, ears, "b", beep_on_enter=False)
    a.player = player = Player()
    assert a.pop() is None and b.pop() is None  # the silence of their first tick
    b.push(ulaw_tone(700, 0.02), NOW)
    assert hears(a, 700)
    b.pop()
    a.set_held(True, NOW, ("https://app.example/hold", "GET"))
    assert player.music == [("https://app.example/hold", "GET")]
    assert r.mixer.muted("a") and ears.reported[-1][1].kind == "participant-hold"
    r.tell("a", ulaw_tone(1500, 0.1))
    assert r.told("a") == 5 and r.told("b") == 0
    b.push(ulaw_tone(700, 0.02), NOW)
    a.push(ulaw_tone(400, 0.02), NOW)
    b_heard = b.pop()
    assert hears(a, 1500)
    b.push(ulaw_tone(700, 0.02), NOW)
    assert not hears(a, 700)  # the room is not heard while held
    assert b_heard is None or level(g711.ulaw_to_linear(b_heard), 400) < 400
    sequence = ears.reported[-1][1].sequence
    a.set_held(True, NOW, ("https://app.example/other", "POST"))  # the music changes: no event
    assert player.music[-1] == ("https://app.example/other", "POST")
    assert ears.reported[-1][1].sequence == sequence and r.told("a") == 0
    a.set_held(False, NOW)
    assert player.music[-1] is None and ears.reported[-1][1].kind == "participant-unhold"
    b.push(ulaw_tone(700, 0.02), NOW)
    assert hears(a, 700)


def test_an_announcement_goes_to_a_player_and_ends_with_an_event_once_heard() -> None:
    r, ears, _ = room()
    a = join(r, ears, "a", beep_on_enter=False)
    lone = Announcement("https://app.example/say")
    a.player = player = Player()
    assert not r.announce(lone)  # not started: nobody to hear it
    b = join(r, ears, "b", beep_on_enter=False)
    assert r.announce(lone) and player.announcements == [lone]
    to_b = Announcement("https://app.example/b", "GET", to="b")
    assert not r.announce(to_b)  # b has no player
    b.player = b_player = Player()
    assert r.announce(to_b) and b_player.announcements == [to_b]
    assert a.pop() is None and b.pop() is None  # the silence of their first tick
    r.play(lone, ulaw_tone(1500, 0.04), lambda: r.announced(lone, NOW + 1))
    r.play(to_b, ulaw_tone(1000, 0.02), lambda: r.announced(to_b, NOW + 2))
    frames = [(a.pop(), b.pop()) for _ in range(3)]
    a_heard = [f is not None and level(g711.ulaw_to_linear(f), 1500) > 2000 for f, _ in frames]
    assert a_heard == [True, True, False]
    assert [f is not None and level(g711.ulaw_to_linear(f), 1000) > 2000 for f, _ in frames] == [
        False, False, False]  # fmt: skip
    assert [g is not None and level(g711.ulaw_to_linear(g), 1000) > 2000 for _, g in frames] == [
        True, False, False]  # fmt: skip
    ends = [e for _, e in ears.reported if e.kind.startswith("announcement")]
    assert [(e.kind, e.who, e.at) for e in ends] == [
        ("announcement-end", "b", NOW + 2), ("announcement-end", "", NOW + 1),
    ]  # fmt: skip
    r.announced(lone, NOW + 3, failed=True)
    assert ears.reported[-1][1].kind == "announcement-fail"
    b.leave("participant_hung_up", NOW)
    r.announced(to_b, NOW)  # b is gone: nobody to name
    assert ears.reported[-1][1].kind == "participant-leave"


def test_exit_rules_changed_are_a_modify_event_and_followed() -> None:
    r, ears, over = room()
    a, b = join(r, ears, "a", beep_on_enter=False), join(r, ears, "b", beep_on_enter=False)
    join(r, ears, "c", beep_on_enter=False)
    a.set_exit_rules(True, None, NOW)
    assert a.rules.end_on_exit and a.rules.beep_on_exit
    event = ears.reported[-1][1]
    assert event.kind == "participant-modify" and event.end_on_exit
    sequence = event.sequence
    a.set_exit_rules(True, None, NOW)  # no change: no event
    assert ears.reported[-1][1].sequence == sequence
    b.set_exit_rules(None, False, NOW)
    b.leave("participant_hung_up", NOW)
    assert r.mixer.pending() == 0  # b left without a beep
    a.leave("participant_hung_up", NOW)
    assert over == [r] and r.end_reason == "participant-with-end-conference-on-exit-left"
