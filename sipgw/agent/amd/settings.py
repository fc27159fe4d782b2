"""The settings of answering-machine detection, and what a call does with its result.

Times are seconds. The defaults, and the measurements behind them, are in
``docs/amd.md``; the references for the choices are cited field by field.

The answering-machine detection section (:class:`AmdSection`) sets the default ``amd``
of placed calls and what the assistant says to a voicemail or a call screener: it is read
by ``sipgw serve`` and ``sipgw call`` (the mode every placed call gets unless it asks for
another, ``SIPGW_AMD``) and by the assistant (its message, its screener line and the
detector's thresholds: :func:`answering_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, runtime_checkable

from sipgw.foundation.settings import InvalidSettings, section, setting
from sipgw.foundation.settings.parsers import float_range, int_range, positive, verbatim
from sipgw.media.tones.beep import BeepConfig
from sipgw.media.voice.vad import VadConfig

__all__ = [
    "AMD_VAD",
    "AmdCall",
    "AmdConfig",
    "AmdMode",
    "AmdRequest",
    "AmdSection",
    "AnsweringSettings",
    "answering_settings",
    "parse_mode",
]


class AmdMode(Enum):
    """What an outbound call does with the detector's answer (the ``amd`` setting)."""

    OFF = "off"
    """No detection: the agent starts as soon as the call is answered."""
    DETECT = "detect"
    """Detect and record the result; the agent goes on whoever answered."""
    LEAVE_MESSAGE = "leave_message"
    """Human: the agent starts. Voicemail: the configured message once the detector says
    :class:`~sipgw.agent.amd.classifier.ReadyForMessage`, then hang up. Screener: state name and
    reason, then go on if a person picks up. Announcement: hang up."""
    HANG_UP = "hang_up"
    """Human: the agent starts. Anything else: hang up, with the result recorded."""


def parse_mode(text: str) -> AmdMode:
    """``off``, ``detect``, ``leave_message`` or ``hang_up`` (case and ``-`` ignored).

    Raises:
        ValueError: anything else, naming the modes.
    """
    wanted = text.strip().lower().replace("-", "_")
    for mode in AmdMode:
        if mode.value == wanted:
            return mode
    modes = ", ".join(mode.value for mode in AmdMode)
    raise ValueError(f"must be one of {modes}, not {text!r}")


@dataclass(frozen=True, slots=True)
class AmdRequest:
    """What one outbound call asks of detection (``amd`` of ``POST /api/calls``).

    Attributes:
        mode: what the call does with the answer.
        message: the voicemail message of this call; None = the agent's configured one.
    """

    mode: AmdMode
    message: str | None = None


@runtime_checkable
class AmdCall(Protocol):
    """A call that may ask for detection: an outbound SIP call's
    :class:`~sipgw.agent.base.CallControl` has ``amd`` (None: no detection)."""

    @property
    def amd(self) -> AmdRequest | None:
        """What this call asks of detection; None = nothing (inbound, or ``off``)."""
        ...


AMD_VAD = VadConfig(min_level_dbfs=-45.0, margin_db=10.0, start_ms=60, calibration_ms=0)
"""The voice-activity thresholds detection uses: no calibration time, because a
recorded greeting may start with the first frame."""


@dataclass(frozen=True, slots=True)
class AmdConfig:
    """When the detector decides, and on what.

    Attributes:
        deadline: the first decision comes at the latest this long after the
            answer (the issue's target: machines decided within 4 s).
        human_silence: silence that ends a short greeting ("Hello?"): the
            person waits for an answer. The issue's budget is 300 ms added
            before the agent speaks; a 20 ms frame of decision time comes on top.
        greeting_gap: a pause shorter than this does not end a greeting: a
            recorded one goes on after its sentences' pauses (0.3-0.7 s), while a
            person who said "Hello?" waits longer for an answer.
        max_human_greeting: the most speech a person's pickup has ("Good morning,
            Smith residence"); a greeting with more is a machine's. Asterisk's
            AMD() uses 1.5 s (``greeting``), Twilio's 2.4 s of continuous speech
            (``MachineDetectionSpeechThreshold``).
        words_wait: before anything is decided, a greeting that is only long (or
            wordy) is called a machine's this long after the callee's voice stops,
            not while they speak, unless its words come first: a person may answer
            with a long greeting whose last words name them ("..., how can I help
            you?"), and the recognizer sends those 0.2-0.4 s after the speech ends
            (Pipecat measured a P99 of 420 ms for AssemblyAI, ``docs/amd.md``); a
            finished sentence that names no person decides it at once. 0: decide on
            length at once, while they speak.
        hold_past_deadline: a greeting held that way and still being spoken at the
            deadline is decided when it pauses, at the latest this long after the
            deadline. A person's long pickup can last past it (the machines' target
            allows the trade: ``docs/amd.md``, "The figures").
        machine_words: words in the greeting that make it a machine's, unless a
            person's phrase is among them. jambonz's AMD uses 9 (``thresholdWordCount``).
        onset: loud audio in a row before it counts as speech (clicks do not).
        min_speech: a stretch shorter than this (a click, a tone's first frames
            before the beep detector knows it) is no greeting.
        tone_onset: a steady tone (one frequency, level and purity held, as a beep's)
            sounding this long once the callee's voice has paused is taken for the
            beep before it ends: a voicemail, on the strength of a greeting's length
            (the message still waits for the beep's end). The longest steady stretch
            of speech in the labelled set's tuning split is 0.1 s (``docs/amd.md``).
        greeting_end_silence: silence after a voicemail greeting without a beep
            before the message may start. jambonz waits 2 s
            (``greetingCompletionTimeoutMs``).
        announced_beep_wait: the same, when the greeting's words said a tone would
            come ("after the tone", "at the beep"): the message waits that long for
            it, and starts without it only then (a beep missed, or none after all).
            jambonz waits up to 20 s for a tone (``toneTimeoutMs``).
        prompt_end_silence: silence after a call screener's question before the
            agent answers it.
        max_greeting: the message starts at the latest this long after the answer,
            beep or not (jambonz: 20 s ``toneTimeoutMs``; Vapi: 30 s
            ``beepMaxAwaitSeconds``).
        settle: decisions may still be revised until this long after the answer
            (or until a voicemail is ready for the message); a person's, by a
            machine's words or a tone, until ``max_greeting``.
        vad: the voice-activity thresholds.
        beep: the beep detector's thresholds.
    """

    deadline: float = 4.0
    human_silence: float = 0.24
    greeting_gap: float = 1.0
    max_human_greeting: float = 1.8
    words_wait: float = 0.6
    hold_past_deadline: float = 3.0
    machine_words: int = 9
    onset: float = 0.06
    min_speech: float = 0.08
    tone_onset: float = 0.2
    greeting_end_silence: float = 2.0
    announced_beep_wait: float = 4.0
    prompt_end_silence: float = 0.8
    max_greeting: float = 30.0
    settle: float = 10.0
    vad: VadConfig = field(default_factory=lambda: AMD_VAD)
    beep: BeepConfig = field(default_factory=BeepConfig)

    def __post_init__(self) -> None:
        for name in (
            "deadline", "human_silence", "greeting_gap", "max_human_greeting", "onset",
            "tone_onset", "greeting_end_silence", "announced_beep_wait", "prompt_end_silence",
            "max_greeting", "settle",
        ):  # fmt: skip
            if not getattr(self, name) > 0:
                raise ValueError(f"AMD {name} must be positive, not {getattr(self, name)!r}")
        for name in ("words_wait", "hold_past_deadline"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"AMD {name} must not be negative, not {getattr(self, name)!r}")
        if self.machine_words < 1:
            raise ValueError(f"AMD machine_words must be at least 1, not {self.machine_words!r}")
        if self.human_silence >= self.greeting_gap:
            raise ValueError(
                f"AMD human_silence ({self.human_silence}) must be shorter than greeting_gap "
                f"({self.greeting_gap})"
            )
        if self.announced_beep_wait < self.greeting_end_silence:
            raise ValueError(
                f"AMD announced_beep_wait ({self.announced_beep_wait}) must not be shorter "
                f"than greeting_end_silence ({self.greeting_end_silence})"
            )
        if self.settle < self.deadline:
            raise ValueError(
                f"AMD settle ({self.settle}) must not be shorter than deadline ({self.deadline})"
            )


@dataclass(frozen=True, slots=True)
class AnsweringSettings:
    """What an agent says and listens for on outbound calls with detection on.

    Attributes:
        message: the voicemail message, said once the greeting is over (after its
            beep); "" = the LLM writes it from the call's prompt and purpose.
        screener_line: the answer to a call screener's question; "" = the LLM writes
            it (who is calling, for whom, why).
        detector: the detector's thresholds.
        max_screener_answers: a screener asking again after this many answers is
            hung up on.
        screener_wait: seconds a call waits after answering a screener for a person
            (or a voicemail) before the agent begins anyway.
    """

    message: str = ""
    screener_line: str = ""
    detector: AmdConfig = field(default_factory=AmdConfig)
    max_screener_answers: int = 2
    screener_wait: float = 30.0


@section(
    "amd",
    title="Answering-machine detection",
    intro="On calls the gateway places (`sipgw call`, callbacks, the admin API): who "
    "answered (a person, a voicemail, an announcement, a call screener) and what the call "
    "does about it (docs/amd.md); environment variables (or `.env` lines) only.",
)
@dataclass(frozen=True)
class AmdSection:
    """The default mode, the assistant's lines, and the detector's main thresholds."""

    mode: AmdMode = setting(
        AmdMode.OFF, env="SIPGW_AMD", parse=parse_mode, default_text="off",
        help="What a placed call does with who answered, unless the call asks otherwise: "
        "off (no detection), detect (the agent talks to whoever answered; the result is "
        "recorded), leave_message (a voicemail gets the message after its beep, a screener "
        "an answer, an announcement is hung up on), hang_up (any machine is hung up on).",
    )  # fmt: skip
    message: str = setting(
        "", env="SIPGW_AMD_MESSAGE", parse=verbatim,
        help="The voicemail message the assistant leaves (leave_message); empty = the LLM "
        "writes one from the call's prompt.",
    )  # fmt: skip
    screener_line: str = setting(
        "", env="SIPGW_AMD_SCREENER_LINE", parse=verbatim,
        help="What the assistant answers a call screener asking who is calling and why; "
        "empty = the LLM writes it.",
    )  # fmt: skip
    deadline: float = setting(
        4.0, env="SIPGW_AMD_DEADLINE", parse=float_range(1.0, 30.0, " s"),
        help="Seconds after the answer by which detection decides.",
    )  # fmt: skip
    human_silence: float = setting(
        0.24, env="SIPGW_AMD_HUMAN_SILENCE", parse=float_range(0.1, 2.0, " s"),
        help="Silence (s) after a short greeting that makes it a person's \"Hello?\": the "
        "wait a person gets before the agent speaks.",
    )  # fmt: skip
    max_human_greeting: float = setting(
        1.8, env="SIPGW_AMD_MAX_HUMAN_GREETING", parse=float_range(0.5, 10.0, " s"),
        help="The most speech (s) a person's pickup has; a longer greeting is a machine's "
        "until its words say otherwise.",
    )  # fmt: skip
    words_wait: float = setting(
        0.6, env="SIPGW_AMD_WORDS_WAIT", parse=float_range(0.0, 3.0, " s"),
        help="Before anything is decided, a greeting that is only long is called a "
        "voicemail this long (s) after the callee stops, unless its words name a person "
        "first (\"..., how can I help you?\"); 0 = at once, while they speak.",
    )  # fmt: skip
    hold_past_deadline: float = setting(
        3.0, env="SIPGW_AMD_HOLD_PAST_DEADLINE", parse=float_range(0.0, 10.0, " s"),
        help="A greeting held that way and still spoken at the deadline is decided when it "
        "pauses, at the latest this long (s) after the deadline.",
    )  # fmt: skip
    greeting_end_silence: float = setting(
        2.0, env="SIPGW_AMD_GREETING_END_SILENCE", parse=float_range(0.3, 10.0, " s"),
        help="Silence (s) after a voicemail greeting without a beep before the message starts.",
    )  # fmt: skip
    announced_beep_wait: float = setting(
        4.0, env="SIPGW_AMD_ANNOUNCED_BEEP_WAIT", parse=float_range(0.3, 30.0, " s"),
        help="The same when the greeting's words announced a tone (\"after the tone\"): the "
        "message waits this long (s) for the beep, and starts without it only then. At least "
        "SIPGW_AMD_GREETING_END_SILENCE.",
    )  # fmt: skip
    max_greeting: float = setting(
        30.0, env="SIPGW_AMD_MAX_GREETING", parse=positive,
        help="Seconds after the answer when the message starts at the latest, beep or not.",
    )  # fmt: skip
    screener_answers: int = setting(
        2, env="SIPGW_AMD_SCREENER_ANSWERS", parse=int_range(1, 5),
        help="Questions of a call screener the assistant answers; one more is hung up on.",
    )  # fmt: skip
    screener_wait: float = setting(
        30.0, env="SIPGW_AMD_SCREENER_WAIT", parse=positive,
        help="Seconds the call waits after answering a screener for the person to pick up "
        "before the agent speaks anyway.",
    )  # fmt: skip

    def check(self) -> None:
        """The thresholds must make sense together.

        Raises:
            InvalidSettings: naming the settings.
        """
        if self.max_greeting < self.deadline:
            raise InvalidSettings("{max_greeting} must not be shorter than {deadline}")
        if self.max_human_greeting <= self.human_silence:
            raise InvalidSettings("{max_human_greeting} must be longer than {human_silence}")
        if self.announced_beep_wait < self.greeting_end_silence:
            raise InvalidSettings(
                "{announced_beep_wait} must not be shorter than {greeting_end_silence}"
            )
        self.detector()

    def detector(self) -> AmdConfig:
        """The detector's thresholds (the others keep their defaults).

        Raises:
            InvalidSettings: they do not fit together.
        """
        try:
            return AmdConfig(
                deadline=self.deadline,
                human_silence=self.human_silence,
                max_human_greeting=self.max_human_greeting,
                words_wait=self.words_wait,
                hold_past_deadline=self.hold_past_deadline,
                greeting_end_silence=self.greeting_end_silence,
                announced_beep_wait=self.announced_beep_wait,
                max_greeting=self.max_greeting,
                settle=max(AmdConfig().settle, self.deadline),
            )
        except ValueError as exc:
            raise InvalidSettings(str(exc)) from None


def answering_settings(amd: AmdSection) -> AnsweringSettings:
    """What the assistant says to a voicemail or a screener, and its detector."""
    return AnsweringSettings(
        message=amd.message.strip(),
        screener_line=amd.screener_line.strip(),
        detector=amd.detector(),
        max_screener_answers=amd.screener_answers,
        screener_wait=amd.screener_wait,
    )
