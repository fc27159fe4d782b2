"""Who speaks in a room (agent/multiparty/conference_speech.py, and the room's speech events in
agent/multiparty/conferences.py): tone bursts and quiet frames, one tick of 20 ms at a time on an
injected clock; ``participant-speech-start`` and ``-stop`` once per talkspurt, none across
a word's gap, none when nobody asked, none for a muted or held participant."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

from sipgw.agent.multiparty.conference_speech import SPEAKER_VAD, SpeechWatch
from sipgw.agent.multiparty.conferences import ConferenceRoom, RoomEvent, Seat, SeatRules
from sipgw.media import g711
from sipgw.media.codecs.base import PCM16_16K, ULAW_8K, AudioFormat
from sipgw.media.voice.vad import VadEvent
from tests.agent.multiparty.test_conferences import Ears
from tests.media.test_conference import tone

NOW = 1_700_000_000.0
TICK = 0.020
SPEECH = ("participant-speech-start", "participant-speech-stop")


def _quiet(rate: int, seed: int) -> list[bytes]:
    """A line's hiss: 20 ms frames of noise about -60 dBFS, linear at ``rate``."""
    rng = random.Random(seed)
    n = rate // 50
    return [
        b"".join(rng.randint(-40, 40).to_bytes(2, "little", signed=True) for _ in range(n))
        for _ in range(10)
    ]


_HISS = {8000: _quiet(8000, 1), 16000: _quiet(16000, 2)}


def frames(script: Iterable[tuple[str, int]], format: AudioFormat = ULAW_8K) -> list[bytes]:  # noqa: A002
    """``("talk", ms)`` of a 400 Hz tone at -12 dBFS and ``("quiet", ms)`` of hiss, as 20 ms
    frames in ``format``."""
    rate = format.sample_rate
    out: list[bytes] = []
    for what, ms in script:
        for _ in range(ms // 20):
            n = len(out)
            pcm = tone(400.0, rate, start=n * rate // 50) if what == "talk" else _HISS[rate][n % 10]
            out.append(g711.linear_to_ulaw(pcm) if format == ULAW_8K else pcm)
    return out


class Room:
    """A started room of ``a`` and ``b`` (and more), ticked on a clock of its own."""

    def __init__(self, **rules: SeatRules) -> None:
        self.room = ConferenceRoom("r", "CF1", lambda r: None)
        self.ears = Ears()
        self.now = NOW
        self.seats: dict[str, Seat] = {}
        for who, seat_rules in rules.items():
            self.join(who, seat_rules)

    def join(self, who: str, rules: SeatRules, format: AudioFormat = ULAW_8K) -> Seat:  # noqa: A002
        seat = self.room.join(who, format, rules, self.ears.of(who), self.now, "cb")
        self.seats[who] = seat
        return seat

    def run(self, **talk: list[bytes]) -> None:
        """Each tick, every participant pushes its next frame (None once its script ran out)
        and pops; then the clock moves on 20 ms."""
        for n in range(max(len(f) for f in talk.values())):
            for who, seat in self.seats.items():
                script = talk.get(who, [])
                seat.push(script[n] if n < len(script) else None, self.now)
            for seat in self.seats.values():
                seat.pop()
            self.now += TICK

    def speech(self) -> list[RoomEvent]:
        """The speech events reported (once per subscription)."""
        return [e for _, e in self.ears.reported if e.kind in SPEECH]

    def kinds(self) -> list[tuple[str, str]]:
        return [(e.kind.removeprefix("participant-speech-"), e.who) for e in self.speech()]


def asking() -> SeatRules:
    return SeatRules(beep_on_enter=False, speech_events=True)


def plain() -> SeatRules:
    return SeatRules(beep_on_enter=False)


# -- the detector alone


def test_a_burst_starts_after_60_ms_and_stops_300_ms_after_it_ends() -> None:
    watch = SpeechWatch(ULAW_8K)
    got = [watch.push(f) for f in frames([("quiet", 400), ("talk", 600), ("quiet", 600)])]
    started = [n for n, e in enumerate(got) if e is VadEvent.STARTED]
    ended = [n for n, e in enumerate(got) if e is VadEvent.ENDED]
    assert started == [20 + SPEAKER_VAD.start_frames - 1]  # the third loud frame
    assert ended == [50 + SPEAKER_VAD.hangover_frames - 1]  # the fifteenth quiet one
    assert not watch.speaking


def test_a_click_is_not_speech_and_nothing_heard_is_quiet() -> None:
    watch = SpeechWatch(ULAW_8K)
    script = frames([("quiet", 400), ("talk", 40), ("quiet", 400)])
    assert {watch.push(f) for f in [*script, None, None, b""]} == {VadEvent.NONE}


def test_a_wideband_participant_is_measured_in_its_own_format() -> None:
    watch = SpeechWatch(PCM16_16K)
    got = [watch.push(f) for f in frames([("quiet", 400), ("talk", 400), ("quiet", 400)],
                                         PCM16_16K)]  # fmt: skip
    assert got.count(VadEvent.STARTED) == 1 and got.count(VadEvent.ENDED) == 1


# -- the room's events


def test_each_talkspurt_posts_one_start_and_one_stop_at_the_ticks_that_decided_them() -> None:
    r = Room(a=asking(), b=plain())
    r.run(b=frames([("quiet", 400), ("talk", 1000), ("quiet", 1000), ("talk", 600),
                    ("quiet", 1000)]))  # fmt: skip
    assert r.kinds() == [("start", "b"), ("stop", "b"), ("start", "b"), ("stop", "b")]
    times = [round((e.at - NOW) / TICK) for e in r.speech()]
    assert times == [20 + 2, 70 + 14, 120 + 2, 150 + 14]  # the 3rd loud, the 15th quiet
    start = r.speech()[0]
    assert (start.muted, start.held, start.coaching) == (False, False, False)
    sequences = [e.sequence for _, e in r.ears.reported]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    # every listener hears them; one per subscription reports them
    assert len([e for e in r.ears.got["b"] if e.kind in SPEECH]) == 4


def test_a_150_ms_gap_between_words_does_not_flap() -> None:
    r = Room(a=asking(), b=plain())
    r.run(b=frames([("quiet", 400), ("talk", 400), ("quiet", 160), ("talk", 300),
                    ("quiet", 140), ("talk", 300), ("quiet", 800)]))  # fmt: skip
    assert r.kinds() == [("start", "b"), ("stop", "b")]


def test_two_participants_talking_over_each_other_each_get_theirs() -> None:
    r = Room(a=asking(), b=plain())
    r.run(a=frames([("quiet", 400), ("talk", 600), ("quiet", 800)]),
          b=frames([("quiet", 800), ("talk", 600), ("quiet", 800)]))  # fmt: skip
    assert r.kinds() == [("start", "a"), ("start", "b"), ("stop", "a"), ("stop", "b")]


def test_nothing_is_detected_when_nobody_asked() -> None:
    r = Room(a=plain(), b=plain())
    r.run(b=frames([("quiet", 400), ("talk", 600), ("quiet", 600)]))
    assert r.speech() == [] and r.room.listeners == 0
    assert all(seat.speech is None for seat in r.seats.values())  # no detector ran


def test_nothing_is_detected_before_the_room_starts() -> None:
    r = Room(a=SeatRules(start_on_enter=False, speech_events=True),
             b=SeatRules(start_on_enter=False))  # fmt: skip
    r.run(b=frames([("quiet", 400), ("talk", 600), ("quiet", 600)]))
    assert not r.room.started and r.speech() == []


def test_a_muted_participant_is_not_detected_and_muting_it_mid_speech_stops_it() -> None:
    r = Room(a=asking(), b=plain(), c=SeatRules(beep_on_enter=False, muted=True))
    r.run(c=frames([("quiet", 400), ("talk", 600), ("quiet", 600)]))
    assert r.speech() == [] and r.seats["c"].speech is None
    r.run(b=frames([("quiet", 400), ("talk", 300)]))
    assert r.kinds() == [("start", "b")]
    r.seats["b"].set_muted(True, r.now)
    kinds = [e.kind for _, e in r.ears.reported[-2:]]
    assert kinds == ["participant-speech-stop", "participant-mute"]  # it stopped being heard
    assert r.ears.reported[-2][1].at == r.now and not r.ears.reported[-2][1].muted
    r.run(b=frames([("talk", 600), ("quiet", 600)]))  # muted: nothing
    assert r.kinds() == [("start", "b"), ("stop", "b")]
    r.seats["b"].set_muted(False, r.now)
    r.run(b=frames([("quiet", 400), ("talk", 400), ("quiet", 600)]))  # heard again
    assert r.kinds() == [("start", "b"), ("stop", "b")] * 2


def test_a_held_participant_is_not_detected() -> None:
    r = Room(a=asking(), b=plain())
    r.run(b=frames([("quiet", 400), ("talk", 300)]))
    r.seats["b"].set_held(True, r.now)
    kinds = [e.kind for _, e in r.ears.reported[-2:]]
    assert kinds == ["participant-speech-stop", "participant-hold"]
    r.run(b=frames([("talk", 1000)]))  # its phone's hold music
    assert r.kinds() == [("start", "b"), ("stop", "b")] and r.seats["b"].speech is None


def test_the_detectors_stop_when_the_last_participant_asking_leaves() -> None:
    r = Room(a=asking(), b=plain(), c=plain())
    r.run(b=frames([("quiet", 400), ("talk", 300)]))
    assert r.seats["b"].speech is not None and r.room.listeners == 1
    r.seats["a"].leave("participant_hung_up", r.now)
    assert r.room.listeners == 0 and r.seats["b"].speech is None
    before = len(r.ears.got["b"])
    r.run(b=frames([("quiet", 400), ("talk", 600), ("quiet", 600)]))
    assert len(r.ears.got["b"]) == before  # nothing more: nobody asked
    r.join("d", asking())  # one asks again: detectors anew
    r.run(b=frames([("quiet", 400), ("talk", 600), ("quiet", 600)]))
    assert [e.kind for e in r.ears.got["d"] if e.kind in SPEECH] == list(SPEECH)


@pytest.mark.parametrize("format", [ULAW_8K, PCM16_16K])
def test_a_participant_speaks_in_its_own_format(format: AudioFormat) -> None:  # noqa: A002
    r = Room(a=asking())
    r.join("b", plain(), format)
    r.run(b=frames([("quiet", 400), ("talk", 600), ("quiet", 600)], format))
    assert r.room.rate == format.sample_rate
    assert r.kinds() == [("start", "b"), ("stop", "b")]
