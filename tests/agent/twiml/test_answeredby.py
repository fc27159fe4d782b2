"""Twilio's ``AnsweredBy`` from sipgw's detector (sipgw/agent/twiml/answeredby.py): the
parameters read, and each decision's value, from a detector standing in for the real one
(the events it gives are the real detector's types) and from the real one on silence."""

from __future__ import annotations

import pytest

from sipgw.agent.amd import (
    AmdEvent,
    AnswerClassified,
    AnsweringMachineDetector,
    AnswerKind,
    Evidence,
    ReadyForMessage,
)
from sipgw.agent.twiml.answeredby import (
    ANSWERED_BY,
    AnsweredByDetector,
    MachineDetection,
    machine_detection,
)

SILENCE = b"\xff" * 160


class Scripted(AnsweringMachineDetector):
    """The detector, its events given by the test at the times it names."""

    def __init__(self, script: dict[float, tuple[AmdEvent, ...]], done_at: float = 99.0) -> None:
        super().__init__(0.0)
        self.script = script
        self.done_at = done_at
        self.now = 0.0

    @property
    def done(self) -> bool:
        return self.now >= self.done_at

    def receive_audio(self, frame: bytes | None, now: float) -> tuple[AmdEvent, ...]:
        self.now = now
        return self.script.pop(now, ())

    def handle_timer(self, now: float) -> tuple[AmdEvent, ...]:
        return self.receive_audio(None, now)


def decided(kind: AnswerKind, at: float) -> AnswerClassified:
    return AnswerClassified(kind, at, at, "test", Evidence.CADENCE, 0)


def ready(cause: str, at: float) -> ReadyForMessage:
    return ReadyForMessage(AnswerKind.VOICEMAIL, at, cause, None, None)


def run(mode: str, script: dict[float, tuple[AmdEvent, ...]], done_at: float = 99.0,
        timeout: float = 30.0) -> tuple[str | None, int]:  # fmt: skip
    amd = AnsweredByDetector(MachineDetection(mode, timeout), 0.0, Scripted(script, done_at))
    said = []
    for step in range(1, int(timeout * 10) + 2):
        answer = amd.receive_audio(SILENCE, step / 10)
        if answer is not None:
            said.append(answer)
    assert len(said) <= 1  # said once
    return (said[0] if said else None), amd.elapsed_ms


@pytest.mark.parametrize(
    ("mode", "script", "answer", "ms"),
    [
        ("Enable", {0.8: (decided(AnswerKind.HUMAN, 0.8),)}, "human", 2000),
        ("Enable", {0.8: (decided(AnswerKind.HUMAN, 0.8),),
                    1.5: (decided(AnswerKind.VOICEMAIL, 1.5),)}, "machine_start", 1500),
        ("Enable", {2.0: (decided(AnswerKind.VOICEMAIL, 2.0),)}, "machine_start", 2000),
        ("Enable", {1.5: (decided(AnswerKind.SCREENER, 1.5),)}, "machine_start", 1500),
        ("Enable", {4.0: (decided(AnswerKind.UNKNOWN, 4.0),)}, "unknown", 4000),
        ("DetectMessageEnd", {0.5: (decided(AnswerKind.HUMAN, 0.5),)}, "human", 1700),
        ("DetectMessageEnd", {2.0: (decided(AnswerKind.VOICEMAIL, 2.0),),
                              7.0: (ready("beep", 7.0),)}, "machine_end_beep", 7000),
        ("DetectMessageEnd", {2.0: (decided(AnswerKind.VOICEMAIL, 2.0),),
                              6.0: (ready("silence", 6.0),)}, "machine_end_silence", 6000),
        ("DetectMessageEnd", {2.0: (decided(AnswerKind.VOICEMAIL, 2.0),),
                              9.0: (ready("timeout", 9.0),)}, "machine_end_other", 9000),
    ],
)  # fmt: skip
def test_each_decision_is_twilios_value(
    mode: str, script: dict[float, tuple[AmdEvent, ...]], answer: str, ms: int
) -> None:
    assert run(mode, script) == (answer, ms)
    assert answer in ANSWERED_BY


def test_an_announcement_is_machine_end_other_when_the_detector_is_done() -> None:
    script: dict[float, tuple[AmdEvent, ...]] = {1.0: (decided(AnswerKind.ANNOUNCEMENT, 1.0),)}
    assert run("DetectMessageEnd", script, done_at=3.0) == ("machine_end_other", 3000)


def test_the_time_limit_says_unknown_or_machine_end_other() -> None:
    assert run("Enable", {}, timeout=5.0) == ("unknown", 5000)
    script: dict[float, tuple[AmdEvent, ...]] = {1.0: (decided(AnswerKind.VOICEMAIL, 1.0),)}
    assert run("DetectMessageEnd", script, timeout=4.0) == ("machine_end_other", 4000)


def test_the_real_detector_on_silence_says_unknown_at_its_deadline() -> None:
    amd = AnsweredByDetector(MachineDetection("Enable"), 0.0)
    answer, now = None, 0.0
    while answer is None and now < 30:
        now = round(now + 0.02, 2)
        answer = amd.receive_audio(SILENCE, now)
    assert answer == "unknown" and 3000 <= amd.elapsed_ms < 30000


def test_the_parameters() -> None:
    assert machine_detection({}) is None
    assert machine_detection({"MachineDetection": "Enable"}) == MachineDetection("Enable", 30.0)
    asked = machine_detection({
        "MachineDetection": "DetectMessageEnd", "MachineDetectionTimeout": "12",
        "AsyncAmd": "true", "AsyncAmdStatusCallback": "https://app.example/amd",
    })  # fmt: skip
    assert asked == MachineDetection("DetectMessageEnd", 12.0, "https://app.example/amd", True)
    for bad, words in [
        ({"MachineDetection": "Yes"}, "Enable or DetectMessageEnd"),
        ({"AsyncAmd": "true"}, "needs MachineDetection"),
        ({"MachineDetection": "Enable", "MachineDetectionTimeout": "2"}, "3 to 59"),
        ({"MachineDetection": "Enable", "AsyncAmd": "maybe"}, "true or false"),
        ({"MachineDetection": "Enable", "AsyncAmdStatusCallback": "ftp://x"}, "http(s) URL"),
        ({"MachineDetection": "Enable", "AsyncAmdStatusCallbackMethod": "PUT"}, "GET or POST"),
        ({"MachineDetection": "Enable", "MachineDetectionSpeechThreshold": "999"}, "1000 to 6000"),
        (
            {"MachineDetection": "Enable", "MachineDetectionSpeechEndThreshold": "5001"},
            "500 to 5000",
        ),
        ({"MachineDetection": "Enable", "MachineDetectionSilenceTimeout": "1.5"}, "2000 to 10000"),
        ({"MachineDetectionSilenceTimeout": "3000"}, "needs MachineDetection"),
    ]:
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
            machine_detection(bad)


def test_the_tuning_parameters_go_to_the_detectors_settings() -> None:
    asked = machine_detection({
        "MachineDetection": "Enable", "MachineDetectionSpeechThreshold": "3000",
        "MachineDetectionSpeechEndThreshold": "500", "MachineDetectionSilenceTimeout": "8000",
        "AsyncAmdStatusCallbackMethod": "get",
    })  # fmt: skip
    assert asked is not None and asked.callback_method == "GET"
    config = asked.amd_config()
    assert (config.max_human_greeting, config.deadline) == (3.0, 8.0)
    assert config.settle >= 8.0
    untouched = MachineDetection("Enable").amd_config()
    assert (untouched.max_human_greeting, untouched.deadline) == (1.8, 4.0)
    # the speech end threshold: how long a person's decision stands before ``human``
    script: dict[float, tuple[AmdEvent, ...]] = {0.8: (decided(AnswerKind.HUMAN, 0.8),)}
    amd = AnsweredByDetector(asked, 0.0, Scripted(script))
    said = [a for step in range(1, 40) if (a := amd.receive_audio(SILENCE, step / 10))]
    assert said == ["human"] and amd.elapsed_ms == 1300


def test_silence_timeout_moves_the_real_detectors_unknown() -> None:
    for ms, low, high in [("2000", 2000, 2100), ("7000", 7000, 7100)]:
        asked = machine_detection(
            {"MachineDetection": "Enable", "MachineDetectionSilenceTimeout": ms}
        )
        assert asked is not None
        amd = AnsweredByDetector(asked, 0.0)
        answer, now = None, 0.0
        while answer is None and now < 30:
            now = round(now + 0.02, 2)
            answer = amd.receive_audio(SILENCE, now)
        assert answer == "unknown" and low <= amd.elapsed_ms <= high


def test_a_fax_answer_tone_is_fax() -> None:
    from tests.media.tones.test_faxtone import frames_of, silence
    from tests.toolkit.amdset.channel import tone

    amd = AnsweredByDetector(MachineDetection("DetectMessageEnd"), 0.0)
    said = []
    for n, frame in enumerate(frames_of(silence(1.8) + tone(2100.0, 3.0, -18.0))):
        answer = amd.receive_audio(frame, (n + 1) * 0.02)
        if answer is not None:
            said.append(answer)
    assert said == ["fax"]
    assert 2700 <= amd.elapsed_ms <= 2900
