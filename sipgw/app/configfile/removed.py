"""Settings that are no longer settings: each became a constant (docs/changelog.md names them).

The settings file names a removed key as it names any unknown key; the environment and the
``.env`` file would set one without effect, so :func:`removed_settings` names each one set,
for ``sipgw config check`` (a mistake) and for every command (a warning at start).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from sipgw.agent.conversation.settings import MAX_REQUESTS_PER_TURN
from sipgw.agent.services.llm.retry import FIRST_RETRY_DELAY
from sipgw.media.voice import vad

__all__ = ["REMOVED", "removed_settings"]

_VAD = "sipgw/media/voice/vad.py"
REMOVED: Final[Mapping[str, str]] = {
    "SIPGW_VAD_MARGIN_DB": (
        f"the noise margin is {vad.NOISE_MARGIN_DB:g} dB (NOISE_MARGIN_DB, {_VAD})"
    ),
    "SIPGW_VAD_MODEL_THRESHOLD": (
        f"speech is a probability of {vad.SPEECH_PROBABILITY:g} (SPEECH_PROBABILITY, {_VAD})"
    ),
    "SIPGW_VAD_ROOM_MARGIN_DB": (
        f"the room margin is {vad.ROOM_MARGIN_DB:g} dB (ROOM_MARGIN_DB, {_VAD})"
    ),
    "SIPGW_VAD_CALLER_MARGIN_DB": (
        f"the caller margin is {vad.CALLER_MARGIN_DB:g} dB (CALLER_MARGIN_DB, {_VAD})"
    ),
    "SIPGW_VAD_LOW_BAND": (
        f"the low band's provisional start is {'on' if vad.LOW_BAND_START else 'off'} "
        f"(LOW_BAND_START, {_VAD})"
    ),
    "SIPGW_PREEMPTIVE_MAX_REQUESTS": (
        f"a turn sends at most {MAX_REQUESTS_PER_TURN} preemptive requests "
        "(MAX_REQUESTS_PER_TURN, sipgw/agent/conversation/settings.py)"
    ),
    "OPENAI_RETRY_FIRST_DELAY": (
        f"the first retry waits {FIRST_RETRY_DELAY:g} s "
        "(FIRST_RETRY_DELAY, sipgw/agent/services/llm/retry.py)"
    ),
}
"""Variable -> what holds now instead, with the constant's name and module."""


def removed_settings(environ: Mapping[str, str], env_lines: Mapping[str, str]) -> list[str]:
    """One message for each removed setting ``environ`` sets, naming where (``.env line N``
    or the environment) and what holds instead."""
    return [
        f"{name} ({env_lines.get(name, 'the environment')}): no longer a setting: {now}; remove it"
        for name, now in REMOVED.items()
        if name in environ
    ]
