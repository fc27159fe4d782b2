"""When a voicemail or a screener is ready for the message (sipgw/agent/amd/message_cue.py)."""

from __future__ import annotations

from sipgw.agent.amd.cadence import FRAME, Cadence
from sipgw.agent.amd.events import AnswerClassified, AnswerKind, Evidence
from sipgw.agent.amd.message_cue import MessageCue
from sipgw.agent.amd.settings import AmdConfig
from sipgw.agent.amd.transcripts import Transcripts
from sipgw.media.tones.beep import BeepDetected

CONFIG = AmdConfig()


def decided(kind: AnswerKind) -> AnswerClassified:
    return AnswerClassified(kind, 1.0, 1.0, "test", Evidence.LENGTH, 0)


def spoken(seconds: float) -> tuple[Cadence, Transcripts, float]:
    """A cadence after ``seconds`` of voice and the stretch's end; the time then."""
    cadence = Cadence(CONFIG)
    frames = round(seconds / FRAME)
    now = 0.0
    for _ in range(frames):
        now += FRAME
        cadence.voiced(now)
    while cadence.in_speech:
        now += FRAME
        cadence.unvoiced(now)
    return cadence, Transcripts(), now


def test_a_voicemail_is_ready_after_the_greetings_end_silence() -> None:
    cadence, words, now = spoken(2.0)
    cue = MessageCue(0.0, CONFIG, cadence, words)
    voicemail = decided(AnswerKind.VOICEMAIL)
    assert cadence.last_voice is not None
    end = cadence.last_voice + CONFIG.greeting_end_silence
    assert cue.check(voicemail, end - FRAME) == ()
    (ready,) = cue.check(voicemail, end)
    assert (ready.kind, ready.cause, ready.greeting_end) == (
        AnswerKind.VOICEMAIL, "silence", cadence.last_voice,
    )  # fmt: skip
    assert cue.ready is ready
    assert cue.check(voicemail, end + 1) == ()  # reported once


def test_a_promised_tone_is_waited_for_and_a_beep_is_the_cue() -> None:
    cadence, words, now = spoken(2.0)
    words.receive("leave a message after the tone", 0, True, 2.0)
    cue = MessageCue(0.0, CONFIG, cadence, words)
    voicemail = decided(AnswerKind.VOICEMAIL)
    assert cadence.last_voice is not None
    assert cue.check(voicemail, cadence.last_voice + CONFIG.greeting_end_silence) == ()
    cue.beep = BeepDetected(2.5, 3.0, 1000.0, -20.0)
    (ready,) = cue.check(voicemail, 3.1)
    assert (ready.cause, ready.beep) == ("beep", cue.beep)


def test_a_person_is_never_cued_and_a_screener_after_its_prompt() -> None:
    cadence, words, now = spoken(1.0)
    cue = MessageCue(0.0, CONFIG, cadence, words)
    assert cue.check(decided(AnswerKind.HUMAN), now + 10) == ()
    assert cue.check(None, now + 10) == ()
    assert cadence.last_voice is not None
    (ready,) = cue.check(
        decided(AnswerKind.SCREENER), cadence.last_voice + CONFIG.prompt_end_silence
    )
    assert (ready.kind, ready.cause) == (AnswerKind.SCREENER, "silence")
