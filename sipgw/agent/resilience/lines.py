"""The fallback lines: what the agent can always say, whatever is down.

Each line has a name (:class:`FallbackLine`); its words come from the assistant's
settings (``AssistantSettings.fallback_texts()``): the apology is
``fallback_phrase``, the goodbye ``goodbye_line``, the transfer notice
``transfer_line``, plus the two below.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

__all__ = ["DEFAULT_ONE_MOMENT_LINE", "DEFAULT_STT_DOWN_LINE", "FallbackLine"]

DEFAULT_ONE_MOMENT_LINE: Final = "One moment, please."
"""Said when the caller has waited for a reply longer than the policy allows."""

DEFAULT_STT_DOWN_LINE: Final = (
    "Sorry, I can't hear you at the moment. Please stay on the line, I'll be right back."
)
"""Said when speech recognition has been down for a few seconds."""


class FallbackLine(Enum):
    """A line the agent can say without any vendor (cached or shipped audio)."""

    APOLOGY = "apology"
    ONE_MOMENT = "one_moment"
    GOODBYE = "goodbye"
    TRANSFER = "transfer"
    STT_DOWN = "stt_down"
