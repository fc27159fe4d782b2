"""The transfers section: blind or warm, the hold music, and how a warm transfer goes.

:class:`TransferSection` is read when ``--agent assistant``, ``voice-agent`` or ``realtime``
answers; :func:`transfer_settings` turns it into the agent's :class:`TransferSettings` (the
hold music read once, here). What a warm transfer does is in ``docs/assistant.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias, cast

from sipgw.agent.transfer.holdmusic import load_hold_music
from sipgw.foundation.settings import SettingError, section, setting
from sipgw.foundation.settings.parsers import choice, float_range, verbatim

__all__ = [
    "DEFAULT_CONSULT_INTRO",
    "DEFAULT_CONSULT_PROMPT",
    "JoinHow",
    "TransferSection",
    "TransferSettings",
    "hold_music_file",
    "transfer_settings",
]

JoinHow: TypeAlias = Literal["auto", "refer", "bridge"]
"""How the caller and the person are joined: REFER with Replaces when both phones can
and else a bridge (``auto``), only REFER, or always the gateway's bridge."""

DEFAULT_CONSULT_INTRO = "Hello, this is the virtual assistant, with a caller for you."
DEFAULT_CONSULT_PROMPT = (
    "Press 1 or say yes to take the call. Press 2 or say no if you cannot take it."
)


@dataclass(frozen=True, slots=True)
class TransferSettings:
    """How ``transfer_to_human`` transfers.

    Attributes:
        mode: ``blind`` (a REFER, the caller's phone calls the target) or ``warm``
            (hold, consult, join: the module docstring).
        hold_music: μ-law audio the caller hears on hold; empty = the built-in pattern.
        ring_timeout: seconds the consultation call may ring.
        answer_timeout: seconds the person has to answer once the prompt was said.
        join: how the calls are joined (:data:`JoinHow`).
        intro: the first words the person hears.
        prompt: how they accept or decline.
    """

    mode: Literal["blind", "warm"] = "blind"
    hold_music: bytes = b""
    ring_timeout: float = 25.0
    answer_timeout: float = 20.0
    join: JoinHow = "auto"
    intro: str = DEFAULT_CONSULT_INTRO
    prompt: str = DEFAULT_CONSULT_PROMPT


def hold_music_file(value: str) -> str:
    """A hold-music file that can be played (8 kHz mono μ-law or 16-bit PCM), or ""."""
    path = value.strip()
    if path:
        load_hold_music(Path(path))
    return path


@section(
    "transfers",
    title="Transfers",
    intro="Read when `--agent assistant`, `voice-agent` or `realtime`: how "
    '`transfer_to_human` hands a caller over (docs/assistant.md, "Warm transfer"; '
    "docs/speech-to-speech.md).",
)
@dataclass(frozen=True)
class TransferSection:
    """Blind or warm, and what a warm transfer plays and says."""

    mode: str = setting(
        "blind", env="SIPGW_TRANSFER_MODE", parse=choice("blind", "warm"),
        help="blind: the caller's phone is sent to the target (REFER); warm: the caller "
        "waits with hold music while the agent calls the target, tells them about the call, "
        "and joins them once they accept (or comes back if they do not).",
    )  # fmt: skip
    hold_music: str = setting(
        "", env="SIPGW_HOLD_MUSIC", parse=hold_music_file,
        help="What a caller on hold hears: a WAV file (8 kHz mono, mu-law or 16-bit PCM) or "
        "raw mu-law (.ul); empty = a built-in tone pattern.",
    )  # fmt: skip
    join: str = setting(
        "auto", env="SIPGW_TRANSFER_JOIN", parse=choice("auto", "refer", "bridge"),
        help="How a warm transfer joins the calls: auto (REFER with Replaces where both phones "
        "can, else the gateway bridges the audio), refer, or bridge.",
    )  # fmt: skip
    consult_ring_timeout: float = setting(
        25.0, env="SIPGW_CONSULT_RING_TIMEOUT", parse=float_range(5.0, 120.0, " s"),
        help="Seconds a warm transfer's call to the target may ring.",
    )  # fmt: skip
    consult_answer_timeout: float = setting(
        20.0, env="SIPGW_CONSULT_ANSWER_TIMEOUT", parse=float_range(3.0, 120.0, " s"),
        help="Seconds the target has to accept (a key or yes/no) once asked.",
    )  # fmt: skip
    consult_intro: str = setting(
        DEFAULT_CONSULT_INTRO, env="SIPGW_CONSULT_INTRO", parse=verbatim,
        help="The first words the target hears, before the call's summary.",
    )  # fmt: skip
    consult_prompt: str = setting(
        DEFAULT_CONSULT_PROMPT, env="SIPGW_CONSULT_PROMPT", parse=verbatim,
        help="How the target is asked to accept (1 or yes) or decline (2 or no).",
    )  # fmt: skip


def transfer_settings(transfers: TransferSection) -> TransferSettings:
    """The agent's transfer settings, the hold music read.

    Raises:
        SettingError: the hold-music file went away or changed since it was checked.
    """
    music = b""
    if transfers.hold_music:
        try:
            music = load_hold_music(Path(transfers.hold_music))
        except ValueError as exc:
            raise SettingError("{hold_music}: {why}", TransferSection, why=exc) from None
    return TransferSettings(
        mode="warm" if transfers.mode == "warm" else "blind",
        hold_music=music,
        ring_timeout=transfers.consult_ring_timeout,
        answer_timeout=transfers.consult_answer_timeout,
        join=cast(JoinHow, transfers.join),
        intro=transfers.consult_intro.strip(),
        prompt=transfers.consult_prompt.strip(),
    )
