"""The answer classifier's rules: voice frames, tones and transcripts in, decisions out.

A script is a timeline: audio as one character per 20 ms (``S`` voice, ``T`` a steady tone,
``.`` neither), and
transcripts and tones at given times, delivered before the frame that ends after them.
Frame ``n`` (from 0) ends at ``(n + 1) * 20 ms``; the call is answered at 0. The default
:class:`AmdConfig` applies unless a case says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipgw.agent.amd.classifier import (
    AmdEvent,
    AnswerClassified,
    AnswerClassifier,
    AnswerKind,
    Evidence,
    ReadyForMessage,
)
from sipgw.agent.amd.settings import AmdConfig
from sipgw.media.tones.beep import BeepDetected, BeepEvent, SpecialInfoToneDetected

FRAME = 0.02
H, V, A, S, U = (
    AnswerKind.HUMAN,
    AnswerKind.VOICEMAIL,
    AnswerKind.ANNOUNCEMENT,
    AnswerKind.SCREENER,
    AnswerKind.UNKNOWN,
)


def q(seconds: float) -> str:
    """Quiet audio."""
    return "." * round(seconds / FRAME)


def v(seconds: float) -> str:
    """Voice."""
    return "S" * round(seconds / FRAME)


def t(seconds: float) -> str:
    """A steady tone (no voice)."""
    return "T" * round(seconds / FRAME)


def beep(start: float, end: float, hz: float = 1000.0) -> BeepDetected:
    return BeepDetected(start, end, hz, -20.0)


SIT = SpecialInfoToneDetected(0.2, 1.2, (913.8, 1370.6, 1776.7))


@dataclass(frozen=True)
class Script:
    audio: str
    transcripts: tuple[tuple[float, str, bool], ...] = ()
    """(arrival, text, final); a final ends its turn."""
    tones: tuple[tuple[float, BeepEvent], ...] = ()
    config: AmdConfig = field(default_factory=AmdConfig)


def play(script: Script) -> list[AmdEvent]:
    classifier = AnswerClassifier(0.0, script.config)
    pending: list[tuple[float, int, str | BeepEvent, bool]] = [
        (at, 0, text, final) for at, text, final in script.transcripts
    ]
    pending += [(at, 1, tone, False) for at, tone in script.tones]
    pending.sort(key=lambda item: (item[0], item[1]))
    events: list[AmdEvent] = []
    turn = 0
    for n, ch in enumerate(script.audio):
        now = (n + 1) * FRAME
        while pending and pending[0][0] <= now + 1e-9:
            at, _, payload, final = pending.pop(0)
            if isinstance(payload, str):
                events += classifier.receive_transcript(payload, at, turn=turn, final=final)
                turn += final
            else:
                events += classifier.receive_tone(payload, at)
        events += classifier.receive_frame(now, ch == "S", ch == "T")
    return events


def summary(events: Sequence[AmdEvent]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for e in events:
        if isinstance(e, AnswerClassified):
            out.append((e.kind, round(e.at, 2), e.reason))
        else:
            out.append(("ready", round(e.at, 2), e.cause))
    return out


CASES: list[tuple[str, Script, list[tuple[object, ...]]]] = [
    (
        '"Hello?": a person, decided once the silence after it reaches human_silence',
        Script(q(0.5) + v(0.5) + q(3.5)),
        [(H, 1.24, "short greeting")],
    ),
    (
        'silence, then "hello" late',
        Script(q(2.5) + v(0.4) + q(1.5)),
        [(H, 3.14, "short greeting")],
    ),
    (
        '"Hello? ... Hello?" a person who waits, then asks again: still one decision',
        Script(q(0.5) + v(0.5) + q(1.5) + v(0.5) + q(2.0)),
        [(H, 1.24, "short greeting")],
    ),
    (
        "a greeting with more than max_human_greeting of speech: a machine's, once its "
        "voice has stopped for words_wait and no words named a person",
        Script(q(0.3) + v(2.5) + q(2.0)),
        [(V, 3.4, "long greeting"), ("ready", 4.8, "silence")],
    ),
    (
        "a long greeting whose words name a person: a person, never taken for a machine",
        Script(
            q(0.3) + v(3.0) + q(1.0),
            transcripts=((3.6, "Hello, this is Doctor Smith's office, how can I help you?", True),),
        ),
        [(H, 3.6, "phrase 'how can i help'")],
    ),
    (
        "a long greeting's finished sentence that names no person decides at once",
        Script(
            q(0.3) + v(2.5) + q(2.0),
            transcripts=((3.0, "Thanks for calling, our offices are now closed.", True),),
        ),
        [(V, 3.0, "long greeting"), ("ready", 4.8, "silence")],
    ),
    (
        "a partial that names no person does not decide: its sentence goes on; its pause "
        "is a person's who may have finished, the length still held until words_wait (its "
        "final words never come: the message waits announced_beep_wait, they might promise "
        "a tone)",
        Script(
            q(0.3) + v(2.5) + q(4.2),
            transcripts=((2.5, "hello this is doctor smith's office", False),),
        ),
        [
            (H, 3.04, "pause after a long greeting"),
            (V, 3.4, "long greeting"),
            ("ready", 6.8, "silence"),
        ],
    ),
    (
        "the hard case with the recognizer's usual delay: a person at their pause (240 ms), "
        "never taken for a machine; their words confirm it",
        Script(
            q(0.3) + v(3.0) + q(1.0),
            transcripts=(
                (1.5, "hello this is doctor smith's", False),
                (3.65, "Hello, this is Doctor Smith's office, how can I help you?", True),
            ),
        ),
        [(H, 3.54, "pause after a long greeting")],
    ),
    (
        "a recording's long first sentence whose words name no one: no person at its pause "
        "(a person's long pickup says who they are), a machine when its final names no person",
        Script(
            q(0.3) + v(2.5) + q(0.5) + v(1.5) + q(2.5),
            transcripts=(
                (1.5, "your call is", False),
                (3.2, "Your call is important to us, please hold.", True),
            ),
        ),
        [(V, 3.2, "long greeting"), ("ready", 6.8, "silence")],
    ),
    (
        "a long greeting whose partial named a person pauses: a person; a recording goes on "
        "after its name: a machine as soon as it does",
        Script(
            q(0.3) + v(2.5) + q(0.5) + v(1.5) + q(2.5),
            transcripts=(
                (1.5, "hi this is nina", False),
                (3.2, "Hi, this is Nina.", True),
            ),
        ),
        [
            (H, 3.04, "pause after a long greeting"),
            (V, 3.36, "long greeting"),
            ("ready", 6.8, "silence"),
        ],
    ),
    (
        "words a machine says, in a partial while the sentence goes on: a machine at once "
        "(a call forwarded, a number read digit by digit)",
        Script(
            q(0.3) + v(2.5) + q(0.5) + v(1.5) + q(2.5),
            transcripts=(
                (1.5, "your call has been forwarded to an automated", False),
                (3.2, "five five five zero one", False),
                (5.8, "Your call has been forwarded to an automated system. 55501.", True),
            ),
        ),
        [(V, 1.5, "phrase 'has been forwarded'"), ("ready", 6.8, "silence")],
    ),
    (
        "a person's short first words, then their one sentence goes on: the length does not "
        "revise them while words come and no sentence has ended",
        Script(
            q(0.3) + v(0.6) + q(0.4) + v(2.0) + q(1.0),
            transcripts=(
                (1.2, "hello", False),
                (3.7, "Hello, Riverside Dental, this is Kim speaking.", True),
            ),
        ),
        [(H, 1.14, "short greeting")],
    ),
    (
        "... but after a finished sentence that is no person's turn, a greeting that goes "
        "on is revised on length at once (a person waits for an answer after theirs)",
        Script(
            q(0.3) + v(0.6) + q(0.4) + v(1.5) + q(1.0),
            transcripts=((1.2, "Thanks for calling, we are closed for the day, sorry.", True),),
        ),
        [(H, 1.14, "short greeting"), (V, 1.2, "many words")],
    ),
    (
        "after a name, a greeting that goes on is revised on length at once (a person who "
        "said who they are waits: \"Hi, it's Nina! | I'm out surfing.\" is a recording)",
        Script(
            q(0.3) + v(0.6) + q(0.4) + v(1.5) + q(1.0),
            transcripts=((1.2, "Hi, it's Nina!", True), (3.0, "I'm out surfing.", True)),
        ),
        [(H, 1.14, "short greeting"), (V, 2.52, "long greeting")],
    ),
    (
        "after a question, a greeting that goes on longer than a pickup is revised on length",
        Script(
            q(0.3) + v(0.6) + q(0.4) + v(2.5) + q(1.0),
            transcripts=((1.2, "Hello?", True),),
        ),
        [(H, 1.14, "short greeting"), (V, 3.1, "long greeting")],
    ),
    (
        'a question, then the greeting goes on with another: a person ("Hello? | Is this a '
        'good time?"), never revised on length',
        Script(
            q(0.3) + v(0.6) + q(0.5) + v(1.4) + q(1.5),
            transcripts=((1.3, "Hello?", True), (3.1, "Is this a good time?", True)),
        ),
        [(H, 1.14, "short greeting")],
    ),
    (
        "a long question, then silence: a person at the pause, kept by its final (which "
        "names no phrase) rather than taken for a long greeting",
        Script(
            q(0.3) + v(2.4) + q(2.0),
            transcripts=(
                (1.6, "hi this is ana lopez from", False),
                (3.0, "Hi, this is Ana Lopez from the clinic, is this a good time?", True),
            ),
        ),
        [(H, 2.94, "pause after a long greeting")],
    ),
    (
        "a long greeting that names its speaker, then silence, its words only at the end: "
        "a person when they come, never a machine",
        Script(
            q(0.3) + v(2.2) + q(2.5),
            transcripts=(
                (2.9, "Good afternoon, this is Jennifer Morales, from accounting.", True),
            ),
        ),
        [(H, 2.9, "a name, then silence")],
    ),
    (
        "a long question whose final comes before the pause is over: a person at the pause",
        Script(
            q(0.3) + v(2.4) + q(2.0),
            transcripts=((2.9, "Hello, yes, sorry, who did you want to talk to?", True),),
        ),
        [(H, 2.94, "pause after a long greeting")],
    ),
    (
        '"leave a message" after a person was decided: a voicemail',
        Script(
            q(0.3) + v(0.6) + q(0.8) + v(1.0) + q(3.0),
            transcripts=((1.2, "Hi, it's Nina!", True), (2.9, "Leave a message.", True)),
        ),
        [
            (H, 1.14, "short greeting"),
            (V, 2.9, "phrase 'leave a message'"),
            ("ready", 4.7, "silence"),
        ],
    ),
    (
        "a held revision is made words_wait after the voice stops when no words name a person",
        Script(
            q(0.3) + v(0.6) + q(0.4) + v(1.5) + q(1.0),
            transcripts=((1.2, "hi it's nina", False),),
        ),
        [(H, 1.14, "short greeting"), (V, 3.4, "long greeting")],
    ),
    (
        "a long greeting still spoken at the deadline: decided when it pauses",
        Script(q(0.2) + v(4.6) + q(1.5)),
        [(V, 5.4, "long greeting")],
    ),
    (
        "a greeting still spoken at deadline + hold_past_deadline: decided then",
        Script(q(0.2) + v(7.5) + q(1.0)),
        [(V, 7.0, "long greeting")],
    ),
    (
        "words_wait 0: decided on length at once, while they speak",
        Script(q(0.3) + v(2.5) + q(2.0), config=AmdConfig(words_wait=0.0)),
        [(V, 2.12, "long greeting"), ("ready", 4.8, "silence")],
    ),
    (
        "a short first sentence, then the greeting goes on: a person at first, then a machine",
        Script(q(0.3) + v(0.6) + q(0.4) + v(1.5) + q(1.0)),
        [(H, 1.14, "short greeting"), (V, 2.52, "long greeting")],
    ),
    (
        "silence until the deadline: unknown; a hello afterwards makes it a person",
        Script(q(5.0) + v(0.4) + q(1.0)),
        [(U, 4.0, "silence"), (H, 5.64, "short greeting")],
    ),
    (
        "short speech still going at the deadline: a person",
        Script(q(3.9) + v(0.3) + q(1.0)),
        [(H, 4.0, "short speech at the deadline")],
    ),
    (
        "a click is no speech",
        Script(q(1.0) + v(0.04) + q(3.5)),
        [(U, 4.0, "silence")],
    ),
    (
        "three loud frames (a tone's onset) are no greeting",
        Script(q(1.0) + v(0.06) + q(3.5)),
        [(H, 4.0, "short speech at the deadline")],
    ),
    (
        "a voicemail phrase decides before any pause",
        Script(q(0.3) + v(1.6) + q(0.2), transcripts=((1.5, "hi you've reached", False),)),
        [(V, 1.5, "phrase 'you have reached'")],
    ),
    (
        "a beep after a short greeting: a voicemail, ready for the message at once",
        Script(q(0.3) + v(1.0) + q(3.0), tones=((2.0, beep(1.5, 1.88)),)),
        [(H, 1.54, "short greeting"), (V, 2.0, "beep"), ("ready", 2.0, "beep")],
    ),
    (
        "a voicemail without a beep is ready greeting_end_silence after its end",
        Script(q(0.3) + v(2.5) + q(3.0)),
        [(V, 3.4, "long greeting"), ("ready", 4.8, "silence")],
    ),
    (
        "a tone is no silence: a late beep is waited for",
        Script(q(0.3) + v(2.5) + q(1.5) + t(1.0) + q(1.0), tones=((5.42, beep(4.3, 5.3)),)),
        [(V, 3.4, "long greeting"), ("ready", 5.42, "beep")],
    ),
    (
        "a tone that is no beep: the greeting's silence counts from its end",
        Script(q(0.3) + v(2.5) + q(1.5) + t(1.0) + q(2.5)),
        [(V, 3.4, "long greeting"), ("ready", 7.3, "silence")],
    ),
    (
        "a greeting that promises a tone: the message waits for its beep, longer than "
        "greeting_end_silence (a stalled stream is no reason to start before the beep)",
        Script(
            q(0.3) + v(2.5) + q(2.5) + t(0.5) + q(1.0),
            transcripts=((1.5, "please leave your name and number after the tone", False),),
            tones=((6.2, beep(5.3, 5.8)),),
        ),
        [(V, 1.5, "phrase 'leave your name'"), ("ready", 6.2, "beep")],
    ),
    (
        "... and starts without it announced_beep_wait after the greeting: no beep came",
        Script(
            q(0.3) + v(2.5) + q(5.0),
            transcripts=((1.5, "please leave your name and number after the tone", False),),
        ),
        [(V, 1.5, "phrase 'leave your name'"), ("ready", 6.8, "silence")],
    ),
    (
        "a greeting's final words come late (2.1 s after its end, past greeting_end_silence) "
        "and promise a tone: the message waits for the beep, not for the silence that began "
        "before the words were known",
        Script(
            q(0.3) + v(2.5) + q(2.5) + t(0.5) + q(1.0),
            transcripts=(
                (1.5, "hi you've reached ana lopez", False),
                (4.9, "Hi, you've reached Ana Lopez. Leave a message after the tone.", True),
            ),
            tones=((6.2, beep(5.3, 5.8)),),
        ),
        [(V, 1.5, "phrase 'you have reached'"), ("ready", 6.2, "beep")],
    ),
    (
        "... and when they promise none, the silence starts the message as they come",
        Script(
            q(0.3) + v(2.5) + q(3.0),
            transcripts=(
                (1.5, "hi you've reached ana lopez", False),
                (4.9, "Hi, you've reached Ana Lopez. I can't take your call.", True),
            ),
        ),
        [(V, 1.5, "phrase 'you have reached'"), ("ready", 4.9, "silence")],
    ),
    (
        'a quiet "Hello?" the VAD never heard: its finished words make it a person',
        Script(q(5.0), transcripts=((1.3, "Hello?", True),)),
        [(H, 1.3, "a question, then silence")],
    ),
    (
        "a special information tone: an announcement",
        Script(q(3.0), tones=((1.26, SIT),)),
        [(A, 1.26, "special information tone")],
    ),
    (
        "a screener, ready prompt_end_silence after its question",
        Script(
            q(0.2) + v(1.5) + q(1.5),
            transcripts=((1.2, "hi i'm call assist by google", False),),
        ),
        [(S, 1.2, "phrase 'call assist'"), ("ready", 2.5, "silence")],
    ),
    (
        "a person's phrase overrides a length decision (the hard case, words late)",
        Script(
            q(0.3) + v(3.0) + q(1.0),
            transcripts=((4.0, "Hello, this is Doctor Smith's office, how can I help you?", True),),
        ),
        [(V, 3.9, "long greeting"), (H, 4.0, "phrase 'how can i help'")],
    ),
    (
        "a person's phrase is not overridden by a greeting's phrase of lower precedence",
        Script(
            q(0.3) + v(1.2) + q(3.0),
            transcripts=(
                (1.0, "how can i help", False),
                (1.8, "how can I help? You have reached", True),
            ),
        ),
        [(H, 1.0, "phrase 'how can i help'")],
    ),
    (
        "a voicemail turns out to be full: an announcement",
        Script(
            q(0.2) + v(3.0) + q(0.5),
            transcripts=(
                (1.0, "you have reached the voice mailbox", False),
                (2.9, "you have reached the voice mailbox the mailbox is full", False),
            ),
        ),
        [(V, 1.0, "phrase 'mailbox'"), (A, 2.9, "phrase 'mailbox is full'")],
    ),
    (
        "a phrase only machines say is a voicemail until words tell it is an announcement",
        Script(
            q(0.2) + v(1.0) + q(3.0),
            transcripts=(
                (1.0, "the person you are calling is not available", False),
                (3.0, "The person you are calling is not available. Please try again later.", True),
            ),
        ),
        [(V, 1.0, "phrase 'is not available'"), (A, 3.0, "phrase 'try again later'")],
    ),
    (
        "many words without a person's phrase, in a partial: a machine's greeting, held like "
        "a long one (here it outranks the short stretch that ends)",
        Script(
            q(0.2) + v(1.5) + q(3.0),
            transcripts=(
                (1.5, "hey there we are all out on the boat", False),
                (2.7, "Hey there, we are all out on the boat.", True),
            ),
        ),
        [(V, 1.94, "many words"), ("ready", 3.7, "silence")],
    ),
    (
        "many words in a finished sentence: decided at once",
        Script(
            q(0.2) + v(1.5) + q(3.0),
            transcripts=((1.5, "Hey there, we are all out on the boat.", True),),
        ),
        [(V, 1.5, "many words"), ("ready", 3.7, "silence")],
    ),
    (
        "no revision on length after settle",
        Script(q(0.5) + v(0.5) + q(9.5) + v(2.5) + q(1.0), config=AmdConfig(settle=10.0)),
        [(H, 1.24, "short greeting")],
    ),
    (
        "... but a beep revises a person until max_greeting",
        Script(
            q(0.5) + v(0.5) + q(11.0),
            tones=((11.0, beep(10.5, 10.9)),),
            config=AmdConfig(settle=10.0),
        ),
        [(H, 1.24, "short greeting"), (V, 11.0, "beep"), ("ready", 11.0, "beep")],
    ),
    (
        "nothing more once a voicemail is ready for the message",
        Script(
            q(0.3) + v(2.5) + q(4.0),
            tones=((3.2, beep(2.9, 3.1)),),
            transcripts=((6.0, "the mailbox is full", True),),
        ),
        [(V, 3.2, "beep"), ("ready", 3.2, "beep")],
    ),
    (
        "a greeting that never ends: ready at max_greeting",
        Script(q(0.2) + v(9.0), config=AmdConfig(max_greeting=8.0, settle=8.0)),
        [(V, 7.0, "long greeting"), ("ready", 8.0, "timeout")],
    ),
]


@pytest.mark.parametrize(("name", "script", "expected"), CASES, ids=[c[0] for c in CASES])
def test_decisions(name: str, script: Script, expected: list[tuple[object, ...]]) -> None:
    assert summary(play(script)) == expected


def test_revisions_are_numbered_and_carry_their_evidence() -> None:
    events = play(
        Script(q(0.3) + v(0.6) + q(0.4) + v(1.5) + q(0.5), tones=((3.2, beep(2.8, 3.1)),))
    )
    decisions = [e for e in events if isinstance(e, AnswerClassified)]
    assert [(d.revision, d.evidence) for d in decisions] == [
        (0, Evidence.CADENCE),
        (1, Evidence.LENGTH),
    ]
    assert all(d.elapsed == d.at for d in decisions)  # answered at 0
    (ready,) = [e for e in events if isinstance(e, ReadyForMessage)]
    assert ready.beep == beep(2.8, 3.1) and ready.greeting_end == pytest.approx(2.8)


def test_a_tone_never_lowers_a_stronger_decision() -> None:
    """A special information tone after a beep-decided voicemail: same strength, no change."""
    events = play(Script(q(3.0), tones=((1.0, beep(0.5, 0.9)), (2.0, SIT))))
    assert summary(events) == [(V, 1.0, "beep"), ("ready", 1.0, "beep")]


def test_the_timer_decides_when_no_frame_comes() -> None:
    classifier = AnswerClassifier(10.0)
    assert classifier.get_timer() == 14.0
    assert classifier.handle_timer(13.9) == ()
    (decision,) = classifier.handle_timer(14.0)
    assert isinstance(decision, AnswerClassified)
    assert (decision.kind, decision.elapsed, decision.evidence) == (U, 4.0, Evidence.DEADLINE)
    assert classifier.get_timer() is None  # nothing waits for a message


def test_a_tone_sounding_after_a_greeting_is_a_voicemail_before_it_ends() -> None:
    """``receive_tone_sounding``: a steady tone sounding tone_onset (0.2 s) once the callee's
    greeting has paused revises a person; before any greeting (a special information tone
    at the answer) or while they speak, it decides nothing."""
    classifier = AnswerClassifier(0.0)
    assert classifier.receive_tone_sounding(0.3, 0.5) == ()  # no greeting yet
    events: list[AmdEvent] = []
    for n, ch in enumerate(q(0.3) + v(0.6) + q(0.8)):
        events += classifier.receive_frame((n + 1) * FRAME, ch == "S")
    assert summary(events) == [(H, 1.14, "short greeting")]
    assert classifier.receive_tone_sounding(0.18, 1.7) == ()  # shorter than tone_onset
    (decision,) = classifier.receive_tone_sounding(0.2, 1.72)
    assert isinstance(decision, AnswerClassified)
    assert (decision.kind, decision.reason, decision.evidence) == (
        V, "a tone sounding", Evidence.LENGTH,
    )  # fmt: skip
    assert classifier.ready is None  # the message waits for the beep itself


def test_a_held_greeting_arms_its_timer() -> None:
    """A greeting only long is decided by the timer when no frame comes (a receiver that
    stops sending audio): words_wait after its voice stops."""
    classifier = AnswerClassifier(0.0)
    for n, ch in enumerate(q(0.3) + v(2.5) + q(0.3)):
        assert classifier.receive_frame((n + 1) * FRAME, ch == "S") == ()
    assert classifier.decision is None and classifier.get_timer() == pytest.approx(3.4)
    assert classifier.handle_timer(3.3) == ()
    (decision,) = classifier.handle_timer(3.4)
    assert isinstance(decision, AnswerClassified)
    assert (decision.kind, decision.reason) == (V, "long greeting")
    assert decision.evidence is Evidence.LENGTH


def test_a_greeting_spoken_past_the_deadline_is_held_until_the_limit() -> None:
    classifier = AnswerClassifier(0.0)
    for n, ch in enumerate(q(0.2) + v(4.0)):
        classifier.receive_frame((n + 1) * FRAME, ch == "S")
    assert classifier.decision is None and classifier.in_speech
    assert classifier.get_timer() == pytest.approx(7.0)  # deadline + hold_past_deadline
    (decision,) = classifier.handle_timer(7.0)
    assert isinstance(decision, AnswerClassified) and decision.kind is V


def test_a_voicemail_arms_the_greeting_limit() -> None:
    classifier = AnswerClassifier(0.0, AmdConfig(max_greeting=20.0))
    classifier.receive_tone(beep(0.0, 0.3), 0.4)
    assert classifier.ready is not None and classifier.get_timer() is None
    other = AnswerClassifier(0.0, AmdConfig(max_greeting=20.0))
    other.receive_transcript("leave a message", 1.0)
    assert other.get_timer() == 20.0
    (ready,) = other.handle_timer(20.0)
    assert isinstance(ready, ReadyForMessage) and ready.cause == "timeout"


def test_done() -> None:
    voicemail = AnswerClassifier(0.0)
    voicemail.receive_tone(beep(0.5, 0.9), 1.0)
    assert voicemail.done
    person = AnswerClassifier(0.0, AmdConfig(settle=5.0, max_greeting=8.0))
    for n, ch in enumerate(q(0.5) + v(0.5) + q(3.0)):
        person.receive_frame((n + 1) * FRAME, ch == "S")
    assert person.decision is not None and not person.done
    person.receive_frame(5.0, False)
    assert not person.done  # a machine's words or a beep may still come
    person.receive_frame(8.0, False)
    assert person.done


def test_once_greeted_only_a_machines_words_or_a_tone_revise() -> None:
    """After the conversation began and the greeting was over: the person's long answer
    is no long greeting, their "who is this" no revision; "leave a message" and a beep are."""
    classifier = AnswerClassifier(0.0)
    for n, ch in enumerate(q(0.3) + v(0.6) + q(1.5)):
        classifier.receive_frame((n + 1) * FRAME, ch == "S")
    assert classifier.decision is not None and classifier.decision.kind is H
    classifier.greeted()
    assert classifier.machines_only
    events: list[AmdEvent] = []
    for n, ch in enumerate(v(3.0) + q(0.5)):
        events += classifier.receive_frame(2.4 + (n + 1) * FRAME, ch == "S")
    events += classifier.receive_transcript("yes, the person you are calling", 6.0, final=True)
    assert events == []  # length and a weak machine phrase: nothing
    (late,) = classifier.receive_transcript("Please leave a message.", 6.5, turn=1, final=True)
    assert isinstance(late, AnswerClassified) and (late.kind, late.revision) == (V, 1)
    assert late.evidence is Evidence.WORDS
    other = AnswerClassifier(0.0)
    other.receive_frame(0.02, False)
    other.receive_transcript("Hello?", 1.0, final=True)
    for n, ch in enumerate(q(0.3) + v(0.6) + q(1.5)):
        other.receive_frame((n + 1) * FRAME, ch == "S")
    other.greeted()
    (after_beep, ready) = other.receive_tone(beep(7.0, 7.5), 7.62)
    assert isinstance(after_beep, AnswerClassified) and after_beep.kind is V
    assert isinstance(ready, ReadyForMessage) and ready.cause == "beep"


# --------------------------------------------------------------------------- properties

PHRASES = [
    "hello", "hi this is ana", "leave a message", "the mailbox is full", "call assist",
    "how can i help", "is not available", "please try again later", "one two three",
]  # fmt: skip


@st.composite
def scripts(draw: st.DrawFn) -> Script:
    runs = draw(
        st.lists(st.tuples(st.sampled_from("S.T"), st.integers(1, 120)), min_size=1, max_size=12)
    )
    audio = "".join(kind * frames for kind, frames in runs)
    # played past the deadline and a held greeting's hold (deadline + hold_past_deadline,
    # 7 s): a greeting spoken up to 5.6 s is still held at 6.2 s, its decision due at 7 s
    held_until = AmdConfig().deadline + AmdConfig().hold_past_deadline
    audio = audio.ljust(round((held_until + 0.2) / FRAME), ".")
    end = len(audio) * FRAME
    moments = st.floats(0.0, end)
    transcripts = draw(
        st.lists(st.tuples(moments, st.sampled_from(PHRASES), st.booleans()), max_size=4)
    )
    choices: list[BeepEvent] = [beep(0.0, 0.3), SIT]
    tones = draw(st.lists(st.tuples(moments, st.sampled_from(choices)), max_size=2))
    return Script(audio, tuple(sorted(transcripts)), tuple(sorted(tones, key=lambda t: t[0])))


@settings(max_examples=300)
@given(script=scripts())
def test_the_first_decision_never_comes_after_the_deadline(script: Script) -> None:
    """... but for a greeting only long, still spoken then: held for its words (a person's
    or a machine's), a tone or its pause, until deadline + hold_past_deadline at the latest."""
    events = play(script)
    decisions = [e for e in events if isinstance(e, AnswerClassified)]
    assert decisions, "no decision at all"
    config = script.config
    first = decisions[0]
    if first.at > config.deadline + 1e-9:
        assert first.evidence >= Evidence.LENGTH or first.reason == "pause after a long greeting"
        assert first.at <= config.deadline + config.hold_past_deadline + 1e-9
    assert [d.revision for d in decisions] == list(range(len(decisions)))
    assert all(a.kind is not b.kind for a, b in zip(decisions, decisions[1:], strict=False))
    assert all(a.evidence <= b.evidence for a, b in zip(decisions, decisions[1:], strict=False))
    readies = [e for e in events if isinstance(e, ReadyForMessage)]
    assert len(readies) <= 1
    if readies:
        assert readies[0].kind in (V, S)
        # nothing is decided after the message may start
        assert all(d.at <= readies[0].at for d in decisions)
