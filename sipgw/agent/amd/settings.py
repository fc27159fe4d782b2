"""The answering-machine detection section: the default ``amd`` of placed calls, and what
the assistant says to a voicemail or a call screener (``docs/amd.md``).

:class:`AmdSection` is read by ``sipgw serve`` and ``sipgw call`` (the mode every placed
call gets unless it asks for another, ``SIPGW_AMD``) and by the assistant (its message,
its screener line and the detector's thresholds: :func:`answering_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipgw.agent.amd.config import AmdConfig, AmdMode, AnsweringSettings, parse_mode
from sipgw.agent.sections import InvalidSettings, section, setting
from sipgw.agent.sections.parsers import float_range, int_range, positive, verbatim

__all__ = ["AmdSection", "answering_settings"]


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
