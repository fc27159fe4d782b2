"""The detector on real μ-law frames: its VAD and beep detector feed the classifier.

"Speech" here is a 300 Hz tone (loud to the VAD, below the beep band) or the labelled
set's espeak-ng speech; beeps and SITs are real sines. Frame ``n`` ends at ``(n + 1) * 20 ms``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from sipgw.agent.amd.detector import AnsweringMachineDetector
from sipgw.agent.amd.events import AmdEvent, AnswerClassified, AnswerKind, ReadyForMessage
from sipgw.agent.amd.settings import AmdConfig
from sipgw.agent.services.stt.base import SttPartialTranscript, SttSpeechStarted, SttTurnEnded
from sipgw.app.evaluation.audio import encode
from sipgw.media import g711
from sipgw.media.tones.beep import BeepDetected, SpecialInfoToneDetected
from tests.toolkit.amdset.channel import mix, noise, tone
from tests.toolkit.amdset.labelled import SIT_SEQUENCES

FRAME = 0.02
SILENCE = g711.silence_frame("PCMU")


def frames_of(samples: Sequence[float]) -> list[bytes]:
    data = encode([round(s) for s in samples] + [0] * (-len(samples) % 160))
    return [data[i : i + 160] for i in range(0, len(data), 160)]


def quiet(seconds: float) -> list[float]:
    return noise(round(seconds * 8000), -60.0, random.Random(round(seconds * 1000)))


def speech(seconds: float) -> list[float]:
    """Syllables: 160 ms of a 300 Hz tone, 40 ms of quiet (a steady sound would become the
    VAD's noise floor within its window)."""
    syllable = tone(300, 0.16, -20.0) + [0.0] * 320
    count = math.ceil(seconds / 0.2)
    return (syllable * count)[: round(seconds * 8000)]


def feed(detector: AnsweringMachineDetector, frames: Sequence[bytes | None]) -> list[AmdEvent]:
    return [e for n, f in enumerate(frames) for e in detector.receive_audio(f, (n + 1) * FRAME)]


def decisions(events: Sequence[AmdEvent]) -> list[tuple[AnswerKind, float, str]]:
    return [(e.kind, round(e.at, 2), e.reason) for e in events if isinstance(e, AnswerClassified)]


def test_hello_is_a_person_within_the_budget() -> None:
    detector = AnsweringMachineDetector(0.0)
    events = feed(detector, frames_of(quiet(0.6) + speech(0.5) + quiet(3.0)))
    ((kind, at, reason),) = decisions(events)
    assert (kind, reason) == (AnswerKind.HUMAN, "short greeting")
    assert 1.1 + 0.2 <= at <= 1.1 + 0.3  # human_silence after the speech, and a frame
    assert detector.decision is not None and detector.ready is None and not detector.done


def test_a_greeting_then_a_beep_is_a_voicemail_ready_after_the_beep() -> None:
    detector = AnsweringMachineDetector(0.0)
    audio = quiet(0.3) + speech(2.5) + quiet(0.5) + tone(1000, 0.4, -18.0) + quiet(2.0)
    events = feed(detector, frames_of(audio))
    ((kind, at, reason),) = decisions(events)
    assert (kind, reason) == (AnswerKind.VOICEMAIL, "long greeting")
    # more than 1.8 s of speech, and no words naming a person words_wait after it stopped
    wait = AmdConfig().words_wait
    assert 2.8 + wait - 2 * FRAME <= at <= 2.8 + wait + FRAME
    (ready,) = [e for e in events if isinstance(e, ReadyForMessage)]
    assert ready.cause == "beep" and ready.beep is not None
    assert abs(ready.beep.end - 3.7) <= FRAME and abs(ready.beep.frequency_hz - 1000) < 15
    assert 3.7 + 0.1 <= ready.at <= 3.7 + 0.16
    # the beep is no speech: the greeting ended before it
    assert ready.greeting_end is not None and abs(ready.greeting_end - 2.8) <= FRAME
    assert detector.tones == [ready.beep] and detector.done


def test_a_beep_sounding_after_a_short_greeting_is_a_voicemail_before_it_ends() -> None:
    """ "Hi, it's Jo." is a person's pickup, until a steady tone sounds in the silence after
    it: tone_onset (0.2 s) into the beep it is a voicemail, not at its end; the message
    still waits for the beep's end."""
    audio = quiet(0.3) + speech(0.8) + quiet(1.0) + tone(1000, 1.0, -18.0) + quiet(2.0)
    detector = AnsweringMachineDetector(0.0)
    events = feed(detector, frames_of(audio))
    (human, machine) = decisions(events)
    assert human[0] is AnswerKind.HUMAN and human[2] == "short greeting"
    assert machine[0] is AnswerKind.VOICEMAIL and machine[2] == "a tone sounding"
    assert 2.1 + 0.2 - FRAME <= machine[1] <= 2.1 + 0.2 + 3 * FRAME  # the beep sounds from 2.1 s
    (ready,) = [e for e in events if isinstance(e, ReadyForMessage)]
    assert ready.cause == "beep" and 3.1 + 0.1 <= ready.at <= 3.1 + 0.16
    # without it (a tone_onset longer than any beep) the beep decides only once it ended
    late = AnsweringMachineDetector(0.0, AmdConfig(tone_onset=5.0))
    assert decisions(feed(late, frames_of(audio)))[1][1] >= 3.1 + 0.1


def test_a_special_information_tone_is_an_announcement() -> None:
    audio = quiet(0.2)
    for hz, seconds in SIT_SEQUENCES[0]:
        audio += tone(hz, seconds, -22.0)
    audio += speech(2.0)
    detector = AnsweringMachineDetector(0.0)
    events = feed(detector, frames_of(audio))
    assert [d[0] for d in decisions(events)] == [AnswerKind.ANNOUNCEMENT]
    assert isinstance(detector.tones[0], SpecialInfoToneDetected)
    # the tones were not taken for a short greeting before the SIT was complete
    assert decisions(events)[0][2] == "special information tone"


def test_transcripts_come_from_stt_events() -> None:
    detector = AnsweringMachineDetector(0.0)
    feed(detector, frames_of(quiet(0.3) + speech(0.8)))
    assert detector.receive_stt(SttSpeechStarted(300, 1.0), 1.0) == ()
    partial = SttPartialTranscript("hi you've reached", 0, received_at=1.2)
    (decision,) = detector.receive_stt(partial, 1.2)
    assert isinstance(decision, AnswerClassified)
    assert (decision.kind, decision.reason) == (AnswerKind.VOICEMAIL, "phrase 'you have reached'")
    final = SttTurnEnded("Hi, you've reached Ana. The mailbox is full.", 0, (), 2.0, 1900)
    (revised,) = detector.receive_stt(final, 2.0)
    assert isinstance(revised, AnswerClassified) and revised.kind is AnswerKind.ANNOUNCEMENT


def test_timers_delegate() -> None:
    detector = AnsweringMachineDetector(100.0)
    assert detector.get_timer() == 104.0
    (decision,) = detector.handle_timer(104.0)
    assert isinstance(decision, AnswerClassified) and decision.kind is AnswerKind.UNKNOWN


def test_lost_frames_in_a_noisy_line_are_not_speech() -> None:
    """Bursts of frames that never arrived (None), in room noise: no greeting is made of
    the noise after them (the VAD's floor is not pinned at silence)."""
    rng = random.Random(3)
    frames: list[bytes | None] = [*frames_of(noise(8000 * 5, -32.0, rng, room=True))]
    for n in (30, 140):
        frames[n : n + 4] = [None] * 4
    detector = AnsweringMachineDetector(0.0)
    assert decisions(feed(detector, frames)) == [(AnswerKind.UNKNOWN, 4.0, "silence")]


def test_a_beep_alone_is_heard_by_a_listener_too() -> None:
    """The media-layer events reach the caller through ``tones`` (for agents)."""
    detector = AnsweringMachineDetector(0.0)
    feed(detector, frames_of(mix(quiet(1.5), [0.0] * 4000 + tone(850, 0.3, -20.0))))
    (tone_event,) = detector.tones
    assert isinstance(tone_event, BeepDetected) and abs(tone_event.start - 0.5) <= 2 * FRAME


def through_a_stall(
    frames: Sequence[bytes], stall: tuple[float, float] | None = None
) -> list[tuple[str, float, str]]:
    """What the detector decides on ``frames`` (frame ``n`` due at ``(n + 1) * 20 ms``) given
    as the gateway's loop gives them, its timers run when due, while the gateway is stopped
    for ``stall`` (from, seconds) at most once: the frames due meanwhile come together when
    it runs again, after the timers due meanwhile (asyncio runs a wake-up's timers before the
    ticker reads the sockets)."""
    detector = AnsweringMachineDetector(0.0)
    said: list[tuple[str, float, str]] = []

    def note(events: Sequence[AmdEvent]) -> None:
        for e in events:
            if isinstance(e, AnswerClassified):
                said.append((e.kind.value, round(e.at, 2), e.reason))
            elif isinstance(e, ReadyForMessage):
                said.append(("ready", round(e.at, 2), e.cause))

    def running(t: float) -> float:
        """When the loop runs something due at ``t``."""
        if stall is not None and stall[0] < t <= stall[0] + stall[1]:
            return stall[0] + stall[1]
        return t

    for n, frame in enumerate(frames):
        arrival = running((n + 1) * FRAME)
        while (due := detector.get_timer()) is not None and running(due) <= arrival:
            note(detector.handle_timer(running(due)))
            if detector.get_timer() == due:
                break  # nothing more due then
        note(detector.receive_audio(frame, arrival))
    return said


GREETINGS = {
    # "Hi, | this is Ana Lopez.": a pause of 140 ms between its words
    "a name": quiet(0.4) + speech(0.4) + quiet(0.1) + speech(1.0) + quiet(1.5),
    # "Hello?"
    "hello": quiet(0.6) + speech(0.5) + quiet(1.5),
    # longer than a person's pickup, held for its words; a pause of 340 ms, then more
    "a long greeting": quiet(0.4) + speech(2.2) + quiet(0.3) + speech(0.6) + quiet(2.5),
}


@pytest.mark.parametrize("greeting", GREETINGS)
def test_a_stall_of_the_gateway_changes_nothing_decided(greeting: str) -> None:
    """The gateway stopped for 0.2-0.6 s anywhere in the callee's greeting (its process
    kept from the CPU) hears the same greeting: the same decisions, at the same moments of
    the callee's audio. Timed at arrival, a stall in a pause between words was silence
    (a person decided over "Hi, | this is Ana", 0.8 s before their words ended), the
    silence heard in the frames that came after it counted for nothing (a "Hello?" decided
    a stall's length late), and a timer due in the stall decided before those frames (a
    long greeting made a voicemail while it went on)."""
    frames = frames_of(GREETINGS[greeting])
    calm = through_a_stall(frames)
    assert calm and calm[0][0] in ("human", "voicemail"), calm
    end = len(frames) * FRAME - 1.0
    for length in (0.2, 0.4, 0.6):
        for start in range(20, round(end / FRAME), 4):  # every 80 ms from 0.4 s
            stalled = through_a_stall(frames, (start * FRAME + 0.01, length))
            assert stalled == calm, (start * FRAME + 0.01, length)
