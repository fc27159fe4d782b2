"""When a vendor fails: the fallback lines, the failure policy's timings, the breakers.

:class:`FallbackSection`, read by every AI agent (``--agent assistant``,
``voice-agent``, ``realtime``): the words of the two fallback lines that are no other
setting's (the apology is ``SIPGW_FALLBACK_PHRASE``, the goodbye ``SIPGW_GOODBYE_LINE``,
the transfer notice ``SIPGW_TRANSFER_LINE``), where their audio is kept across restarts,
and when the failure policy speaks up and moves the call on (agent/resilience/policy.py;
docs/assistant.md, "When a vendor fails"); the assistant's settings take them in
(:func:`sipgw.agent.conversation.sections.with_fallback`). :class:`BreakerSection`, read by
the gateway: when a vendor down for everyone turns new calls away, and the recorded
message they may hear instead of a 503 (:mod:`sipgw.app.operations.breakers`).
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

from sipgw.agent.resilience.breaker import BreakerSettings
from sipgw.agent.resilience.lines import DEFAULT_ONE_MOMENT_LINE, DEFAULT_STT_DOWN_LINE
from sipgw.agent.resilience.policy import LINE_START, MAX_SILENCE, FailurePolicySettings
from sipgw.foundation.settings import InvalidSettings, section, setting
from sipgw.foundation.settings.parsers import int_at_least, int_range, on_off, positive, text
from sipgw.media import g711

__all__ = ["BreakerSection", "FallbackSection", "load_message"]

_LONGEST_WAIT_MS = int((MAX_SILENCE - LINE_START) * 1000)
"""The longest wait the policy may leave unexplained: a line must start within 2 s."""


@section(
    "fallback",
    title="When a vendor fails",
    intro="Read by the AI agents (`--agent assistant`, `voice-agent`, `realtime`): what the "
    "caller hears when speech-to-text, the LLM, text-to-speech or the speech-to-speech service "
    "fails (docs/assistant.md, When a vendor fails).",
)
@dataclass(frozen=True)
class FallbackSection:
    """The fallback lines and the failure policy."""

    one_moment_line: str = setting(
        DEFAULT_ONE_MOMENT_LINE, env="SIPGW_ONE_MOMENT_LINE", parse=text,
        help="Said when the caller has waited SIPGW_HOLD_LINE_AFTER_MS for a reply's first "
        "audio from the vendors (a reply ready but paused over speech is not waited for), and "
        "as a reminder while the wait goes on.",
    )  # fmt: skip
    stt_down_line: str = setting(
        DEFAULT_STT_DOWN_LINE, env="SIPGW_STT_DOWN_LINE", parse=text,
        help="Said when speech recognition (or the speech-to-speech session) has been down for "
        "SIPGW_STT_NOTICE_AFTER_MS.",
    )  # fmt: skip
    fallback_cache_dir: str = setting(
        "fallback-lines", env="SIPGW_FALLBACK_CACHE_DIR", parse=text, state=True,
        help="Directory where the fallback lines' audio (the agent's voice) is kept across "
        "restarts, owner-only (relative: under the state directory); empty = synthesized at "
        "every start.",
    )  # fmt: skip
    fallback_synthesize: bool = setting(
        True, env="SIPGW_FALLBACK_SYNTHESIZE", parse=on_off, default_text="on",
        help="on: at start-up the fallback lines are synthesized once per voice (or loaded from "
        "SIPGW_FALLBACK_CACHE_DIR); off: the recordings shipped with sipgw are played "
        "(another voice, the default words).",
    )  # fmt: skip
    hold_line_after_ms: int = setting(
        1500, env="SIPGW_HOLD_LINE_AFTER_MS", parse=int_range(1, _LONGEST_WAIT_MS),
        help=f"How long (ms) after their last speech the caller may wait for a reply's first "
        f"audio before the one-moment line; at "
        f"most {_LONGEST_WAIT_MS}, so no caller is left 2 s in unexplained silence.",
    )  # fmt: skip
    hold_reminder_ms: int = setting(
        8000, env="SIPGW_HOLD_REMINDER_MS", parse=int_at_least(1),
        help="How often (ms) the line is said again while the wait goes on.",
    )  # fmt: skip
    stt_notice_after_ms: int = setting(
        2000, env="SIPGW_STT_NOTICE_AFTER_MS", parse=int_at_least(1),
        help="How long (ms) speech recognition may be down before the STT-down line; the "
        "caller's audio is kept meanwhile and sent when it is back.",
    )  # fmt: skip
    stt_give_up_after_ms: int = setting(
        20000, env="SIPGW_STT_GIVE_UP_AFTER_MS", parse=int_at_least(1),
        help="How long (ms) speech recognition may be down before the call moves on: a "
        "transfer to SIPGW_TRANSFER_TARGET, else the goodbye and the hang-up.",
    )  # fmt: skip
    tts_max_failures: int = setting(
        2, env="SIPGW_TTS_MAX_FAILURES", parse=int_range(1, 100),
        help="Text-to-speech failures in a row (each answered with the apology from memory) "
        "before the call moves on.",
    )  # fmt: skip
    llm_max_failures: int = setting(
        3, env="SIPGW_LLM_MAX_FAILURES", parse=int_range(1, 100),
        help="LLM failures in a row, after its retries (each answered with the apology from "
        "memory), before the call moves on.",
    )  # fmt: skip
    s2s_reply_timeout_ms: int = setting(
        5000, env="SIPGW_S2S_REPLY_TIMEOUT_MS", parse=int_range(100, 600_000),
        help="Speech-to-speech agents: how long (ms) after the caller stopped speaking the "
        "model may take to be heard (a tool's run not counted) before the reply is given up: "
        "the apology, counted as an LLM failure.",
    )  # fmt: skip

    def check(self) -> None:
        """The STT give-up is not before its notice.

        Raises:
            InvalidSettings: it is.
        """
        if self.stt_give_up_after_ms < self.stt_notice_after_ms:
            raise InvalidSettings("{stt_give_up_after_ms} must not be shorter than "
                                  "{stt_notice_after_ms}")  # fmt: skip

    def policy(self) -> FailurePolicySettings:
        """The failure policy's settings."""
        return FailurePolicySettings(
            hold_line_after=self.hold_line_after_ms / 1000,
            hold_reminder_every=self.hold_reminder_ms / 1000,
            stt_notice_after=self.stt_notice_after_ms / 1000,
            stt_give_up_after=self.stt_give_up_after_ms / 1000,
            tts_max_failures=self.tts_max_failures,
            llm_max_failures=self.llm_max_failures,
        )


def _message_file(value: str) -> str:
    """ "" or a readable .wav (8 kHz mono 16-bit) or .ulaw (raw G.711 μ-law) file."""
    path = value.strip()
    if path:
        load_message(Path(path))
    return path


@section(
    "breakers",
    title="Circuit breakers",
    intro="When an AI vendor is down for everyone, new calls are turned away (a trunk fails "
    "over) instead of becoming dead calls (docs/operations.md, Circuit breakers).",
)
@dataclass(frozen=True)
class BreakerSection:
    """One breaker per AI service across calls."""

    breaker: bool = setting(
        True, env="SIPGW_BREAKER", parse=on_off, default_text="on",
        help="on: a breaker per AI service (speech-to-text, LLM, text-to-speech, "
        "speech-to-speech) turns new calls away while that service is down for everyone.",
    )  # fmt: skip
    breaker_failures: int = setting(
        5, env="SIPGW_BREAKER_FAILURES", parse=int_range(1, 1000),
        help="Failures of one service (over all calls) within SIPGW_BREAKER_WINDOW, with no "
        "success after them, that open its breaker.",
    )  # fmt: skip
    breaker_window: float = setting(
        30.0, env="SIPGW_BREAKER_WINDOW", parse=positive,
        help="Seconds those failures must fall within.",
    )  # fmt: skip
    breaker_open_for: float = setting(
        30.0, env="SIPGW_BREAKER_OPEN_FOR", parse=positive,
        help="Seconds an open breaker turns calls away before one call tries the service "
        "again; a failed try doubles it.",
    )  # fmt: skip
    breaker_max_open_for: float = setting(
        300.0, env="SIPGW_BREAKER_MAX_OPEN_FOR", parse=positive,
        help="The longest a breaker stays open at once, seconds.",
    )  # fmt: skip
    breaker_probe_timeout: float = setting(
        20.0, env="SIPGW_BREAKER_PROBE_TIMEOUT", parse=positive,
        help="Seconds the trying call may go without telling whether the service works, "
        "before another call may try.",
    )  # fmt: skip
    breaker_message: str = setting(
        "", env="SIPGW_BREAKER_MESSAGE", parse=_message_file,
        help="A recorded message (.wav 8 kHz mono 16-bit, or .ulaw raw G.711) that answers a "
        "turned-away call before the hang-up; empty = a 503 (the trunk fails over).",
    )  # fmt: skip

    def check(self) -> None:
        """The longest open time is not shorter than the first.

        Raises:
            InvalidSettings: it is.
        """
        if self.breaker_max_open_for < self.breaker_open_for:
            raise InvalidSettings("{breaker_max_open_for} must not be shorter than "
                                  "{breaker_open_for}")  # fmt: skip

    def settings(self) -> BreakerSettings:
        """The breakers' settings."""
        return BreakerSettings(
            failures=self.breaker_failures,
            window=self.breaker_window,
            open_for=self.breaker_open_for,
            max_open_for=self.breaker_max_open_for,
            probe_timeout=self.breaker_probe_timeout,
        )


def load_message(path: Path) -> tuple[bytes, ...]:
    """The recorded message at ``path`` as 160-byte μ-law frames.

    Raises:
        ValueError: unreadable, or not an 8 kHz mono 16-bit WAV or a .ulaw file.
    """
    try:
        if path.suffix.lower() == ".ulaw":
            audio = path.read_bytes()
        else:
            with wave.open(str(path), "rb") as wav:
                shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
                if shape != (8000, 1, 2):
                    raise ValueError("must be an 8 kHz mono 16-bit WAV (or a .ulaw file)")
                audio = g711.linear_to_ulaw(wav.readframes(wav.getnframes()))
    except (OSError, EOFError, wave.Error) as exc:
        raise ValueError(f"cannot read it ({exc})") from None
    if not audio:
        raise ValueError("it holds no audio")
    audio += b"\xff" * (-len(audio) % 160)
    return tuple(audio[i : i + 160] for i in range(0, len(audio), 160))
